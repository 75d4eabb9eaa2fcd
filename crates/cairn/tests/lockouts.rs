//! Failure locks through the real HTTP stack (spec section 6; issue 12 items 10 to 12): API
//! tokens and web passwords are counted apart, nobody elsewhere can lock an account's owner out,
//! a valid token is never refused by a lock, a trusted proxy's `X-Forwarded-For` names the
//! client, and every 429 carries `Retry-After` and the `X-RateLimit-*` headers.
//!
//! Distinct client addresses come from binding the test's connections to other loopback
//! addresses (all of 127.0.0.0/8 is loopback on Linux), or through a trusted proxy's header.

mod support;

use std::net::IpAddr;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use support::{FirstStart, Install, Server};

fn fake_token() -> String {
    cairn_control::identity::token::NewTokenSecret::generate()
        .unwrap()
        .expose()
        .to_string()
}

/// A client whose connections leave from `from` (a loopback address), redirects not followed.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One Basic request to the audit log, optionally with an `X-Forwarded-For`.
async fn api(
    client: &reqwest::Client,
    server: &Server,
    first: &FirstStart,
    email: &str,
    token: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .get(server.audit_url(&first.org_id))
        .basic_auth(email, Some(token));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

/// Logs in through the form (fetching it first for its CSRF pair); returns the answer.
async fn log_in(
    client: &reqwest::Client,
    server: &Server,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let with_xff = |r: reqwest::RequestBuilder| match forwarded_for {
        Some(xff) => r.header("x-forwarded-for", xff),
        None => r,
    };
    let form = with_xff(client.get(server.url("/login")))
        .send()
        .await
        .unwrap();
    let nonce = form
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("cairn_login="))
        .unwrap();
    let nonce = nonce.split(';').next().unwrap().to_string();
    let html = form.text().await.unwrap();
    let at = html.find(r#"name="csrf" value=""#).unwrap() + 19;
    let csrf = &html[at..at + 64];
    with_xff(client.post(server.url("/login")))
        .header(COOKIE, nonce)
        .form(&[("csrf", csrf), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

fn logged_in(answer: &reqwest::Response) -> bool {
    answer.status() == StatusCode::SEE_OTHER
        && answer.headers().get(LOCATION).is_some()
        && answer
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("cairn_session="))
}

/// A 429 as the spec's table gives it: `Retry-After` and the `X-RateLimit-*` headers.
fn assert_spec_429(answer: &reqwest::Response, what: &str) {
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let retry_after: u64 = header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{what}: {retry_after}");
    assert_eq!(header("x-ratelimit-limit"), "10", "{what}");
    assert_eq!(header("x-ratelimit-remaining"), "0", "{what}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&header("x-ratelimit-reset")).is_ok(),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_tokens_from_eleven_addresses_do_not_lock_the_web_login() {
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let first = server.first_start.clone().unwrap();
    for i in 2..12 {
        let attacker = client_from(&format!("127.0.0.{i}"));
        let refused = api(
            &attacker,
            &server,
            &first,
            &first.email,
            &fake_token(),
            None,
        )
        .await;
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "attempt from .{i}"
        );
    }
    // The email is now locked for failing tokens: the eleventh wrong one is a 429 ...
    let attacker = client_from("127.0.0.13");
    let locked = api(
        &attacker,
        &server,
        &first,
        &first.email,
        &fake_token(),
        None,
    )
    .await;
    assert_spec_429(&locked, "a wrong token against a locked email");
    // ... but the owner's web password still logs in, and their token still works.
    let owner = client_from("127.0.0.1");
    let login = log_in(&owner, &server, &first.email, &first.password, None).await;
    assert!(logged_in(&login), "{}", login.status());
    let ok = api(&owner, &server, &first, &first.email, &first.token, None).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_eleven_addresses_do_not_lock_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let first = server.first_start.clone().unwrap();
    for i in 2..13 {
        let attacker = client_from(&format!("127.0.0.{i}"));
        let refused = log_in(&attacker, &server, &first.email, "a wrong guess", None).await;
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "attempt from .{i}"
        );
    }
    // Eleven failures against the email slow its logins down; they do not lock it.
    let owner = client_from("127.0.0.1");
    let login = log_in(&owner, &server, &first.email, &first.password, None).await;
    assert!(logged_in(&login), "{}", login.status());

    // Ten failures from one address (here against another email) lock that address, for the
    // right password too, with the spec's 429 as an HTML page; nobody else.
    let guesser = client_from("127.0.0.20");
    for _ in 0..10 {
        let refused = log_in(&guesser, &server, "nobody@example.com", "guess", None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = log_in(&guesser, &server, &first.email, &first.password, None).await;
    assert_spec_429(&locked, "the web login from a locked address");
    assert!(
        locked.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let login = log_in(&owner, &server, &first.email, &first.password, None).await;
    assert!(logged_in(&login), "{}", login.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_lock_and_a_valid_token_always_passes() {
    let dir = tempfile::tempdir().unwrap();
    // The proxy is 127.0.0.1; a client connecting from 127.0.0.2 is no proxy.
    let install =
        Install::new(dir.path()).with_config("[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n");
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let proxy = client_from("127.0.0.1");
    let attacker = Some("198.51.100.66");
    for i in 0..10 {
        let email = format!("nobody{i}@example.com");
        let refused = api(&proxy, &server, &first, &email, &fake_token(), attacker).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let locked = api(
        &proxy,
        &server,
        &first,
        "x@example.com",
        &fake_token(),
        attacker,
    )
    .await;
    assert_spec_429(&locked, "a wrong token from a locked client address");
    // A valid token is checked first, so the lock never refuses it, even from that client.
    let ok = api(
        &proxy,
        &server,
        &first,
        &first.email,
        &first.token,
        attacker,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // Another client behind the same proxy is not locked; a hop the client wrote itself, left
    // of the one the proxy appended, is not believed.
    let other = Some("203.0.113.5, 198.51.100.7");
    let refused = api(
        &proxy,
        &server,
        &first,
        "y@example.com",
        &fake_token(),
        other,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let spoofed = Some("198.51.100.66, 198.51.100.7");
    let refused = api(
        &proxy,
        &server,
        &first,
        "z@example.com",
        &fake_token(),
        spoofed,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The web login sees the client too, and the audit log records its address.
    let login = log_in(
        &proxy,
        &server,
        &first.email,
        &first.password,
        Some("203.0.113.5"),
    )
    .await;
    assert!(logged_in(&login), "{}", login.status());
    let events: serde_json::Value = api(&proxy, &server, &first, &first.email, &first.token, None)
        .await
        .json()
        .await
        .unwrap();
    let login_event = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "login")
        .unwrap();
    assert_eq!(login_event["clientAddress"], "203.0.113.5");

    // From a peer that is not a trusted proxy the header is ignored: its address is the peer's.
    let direct = client_from("127.0.0.2");
    for i in 0..10 {
        let xff = format!("192.0.2.{i}");
        let email = format!("direct{i}@example.com");
        let refused = api(&direct, &server, &first, &email, &fake_token(), Some(&xff)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let locked = api(
        &direct,
        &server,
        &first,
        "d@example.com",
        &fake_token(),
        Some("192.0.2.99"),
    )
    .await;
    assert_spec_429(&locked, "X-Forwarded-For from an untrusted peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_come_from_the_environment_too_and_a_bad_range_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let (_, stderr, status) =
        install.serve_refused(&[("CAIRN_TRUSTED_PROXIES", "10.0.0.0/8,proxy")]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("trusted_proxies") && stderr.contains("proxy"),
        "{stderr}"
    );

    let server = install.serve(&[("CAIRN_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32")]);
    let first = server.first_start.clone().unwrap();
    let proxy = client_from("127.0.0.1");
    for i in 0..10 {
        let xff = Some("198.51.100.1");
        let email = format!("n{i}@example.com");
        api(&proxy, &server, &first, &email, &fake_token(), xff).await;
    }
    let other = api(
        &proxy,
        &server,
        &first,
        "m@example.com",
        &fake_token(),
        Some("198.51.100.2"),
    )
    .await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "another client is not locked"
    );
}
