//! Authentication over real HTTP on loopback, against the real binary: the behaviour of
//! `shared/spec/authentication.md`, as a user of curl sees it.

mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use support::{Install, curl, sh};

const NO_CACHE: &str = "[auth]\nauth_cache_ms = 0\n";

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_token_works_with_curl_user_and_with_a_hand_built_header() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server
        .first_start
        .clone()
        .expect("first start prints credentials");
    use std::os::unix::fs::PermissionsExt;
    let secret_mode = std::fs::metadata(install.data_dir.join("secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(secret_mode & 0o777, 0o600, "the server secret is private");
    let created = install.cli_json(&[
        "token",
        "create",
        "--email",
        &first.email,
        "--label",
        "ci script",
    ]);
    let token = created["token"].as_str().unwrap();
    assert_eq!(created["label"], "ci script");
    assert!(created["tokenId"].is_string() && created["expiresAt"].is_string());
    let url = server.audit_url(&first.org_id);

    let (status, body) = curl(&["--user", &format!("{}:{token}", first.email)], &url);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["totalItems"].as_u64().unwrap() >= 3);

    // Atlassian's recipe: echo -n email:token | base64 (GNU base64 wraps long lines: -w0).
    let header = sh(&format!("echo -n '{}:{token}' | base64 -w0", first.email));
    let (status, _) = curl(&["-H", &format!("Authorization: Basic {header}")], &url);
    assert_eq!(status, 200);

    // The same without -n: a trailing newline, and a message that says so.
    let header = sh(&format!("echo '{}:{token}' | base64 -w0", first.email));
    let (status, body) = curl(&["-H", &format!("Authorization: Basic {header}")], &url);
    assert_eq!(status, 401);
    assert!(body.contains("trailing newline"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credential_failure_is_a_uniform_401_and_roles_give_403() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path()).with_config(NO_CACHE);
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let url = server.audit_url(&first.org_id);
    let client = reqwest::Client::new();
    let get = |user: String, pass: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            client
                .get(&url)
                .basic_auth(user, Some(pass))
                .send()
                .await
                .unwrap()
        }
    };

    let tok = |label: &str| {
        install.cli_json(&["token", "create", "--email", &first.email, "--label", label])["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let good = tok("good");
    let other = tok("to revoke");

    // A well-formed token that is not this account's, and a good token under an unknown email.
    let wrong = get(first.email.clone(), other.replace(&other[6..10], "AAAA")).await;
    let wrong_status = wrong.status();
    let www = wrong.headers().get("www-authenticate").cloned();
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(www.unwrap(), r#"Basic realm="cairn", charset="UTF-8""#);

    let unknown = get("nobody@example.com".into(), good.clone()).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let known_wrong_tok = get(first.email.clone(), support_fake_token()).await;
    let unknown_wrong_tok = get("nobody@example.com".into(), support_fake_token()).await;
    assert_eq!(known_wrong_tok.status(), 401);
    assert_eq!(
        known_wrong_tok.text().await.unwrap(),
        unknown_wrong_tok.text().await.unwrap(),
        "no hint whether the email exists"
    );

    // Revoked.
    let listed = install.cli_json(&["token", "list", "--email", &first.email]);
    let revoke_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "to revoke")
        .unwrap()["tokenId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(first.email.clone(), other.clone()).await.status(), 200);
    let out = install.cli(&["token", "revoke", "--email", &first.email, &revoke_id]);
    assert!(out.status.success());
    assert_eq!(get(first.email.clone(), other.clone()).await.status(), 401);

    // Bearer.
    let bearer = client.get(&url).bearer_auth(&good).send().await.unwrap();
    assert_eq!(bearer.status(), 401);
    assert!(bearer.text().await.unwrap().contains("only HTTP Basic"));

    // X-Atl-Account-Id naming someone else.
    let mismatch = client
        .get(&url)
        .basic_auth(&first.email, Some(&good))
        .header("X-Atl-Account-Id", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 403);

    // A member who is not an org admin.
    install.cli_json(&[
        "account",
        "create",
        "--email",
        "member@example.com",
        "--org",
        &first.org_id,
    ]);
    let member_token = install.cli_json(&[
        "token",
        "create",
        "--email",
        "member@example.com",
        "--label",
        "m",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get("member@example.com".into(), member_token.clone())
            .await
            .status(),
        403
    );
    // An org that is not theirs looks like no org at all.
    let elsewhere = client
        .get(server.audit_url("00000000-0000-0000-0000-000000000000"))
        .basic_auth(&first.email, Some(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);

    // A deactivated account's tokens stop working.
    install.cli_json(&["account", "deactivate", "--email", "member@example.com"]);
    assert_eq!(
        get("member@example.com".into(), member_token)
            .await
            .status(),
        401
    );

    // The web password is not an API credential.
    let pw = get(first.email.clone(), first.password.clone()).await;
    assert_eq!(pw.status(), 401);
    assert!(pw.text().await.unwrap().contains("API token"));

    assert_eq!(
        get(first.email.clone(), good).await.status(),
        200,
        "the good token still works"
    );
}

/// A well-formed token (prefix, length, checksum) that nobody issued.
fn support_fake_token() -> String {
    cairn_control::identity::token::NewTokenSecret::generate()
        .unwrap()
        .expose()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_get_documented_statuses_never_500() {
    let dir = tempfile::tempdir().unwrap();
    // A high failure limit: this test is about parsing, not throttling.
    let install = Install::new(dir.path()).with_config("[auth]\nfailure_limit = 1000\n");
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let url = server.audit_url(&first.org_id);
    let good = format!("{}:{}", first.email, first.token);
    let client = reqwest::Client::new();

    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("none", vec![], 401),
        ("empty", vec![b"".to_vec()], 401),
        ("only the scheme", vec![b"Basic".to_vec()], 401),
        (
            "many colons",
            vec![format!("Basic {}", b64(b"a@b.c:x:y:z")).into_bytes()],
            401,
        ),
        ("invalid base64", vec![b"Basic %%%%".to_vec()], 401),
        (
            "invalid utf-8",
            vec![format!("Basic {}", b64(&[0xC3, 0x28, b':', b'x'])).into_bytes()],
            401,
        ),
        (
            "64 KiB",
            vec![[b"Basic ".to_vec(), vec![b'A'; 64 * 1024]].concat()],
            401,
        ),
        (
            "binary bytes in the header",
            vec![vec![b'B', b'a', 0x80, 0xFF]],
            401,
        ),
        (
            "repeated header",
            vec![
                format!("Basic {}", b64(good.as_bytes())).into_bytes(),
                format!("Basic {}", b64(good.as_bytes())).into_bytes(),
            ],
            401,
        ),
        (
            "lower-case scheme",
            vec![format!("basic {}", b64(good.as_bytes())).into_bytes()],
            200,
        ),
        (
            "missing padding",
            vec![format!("Basic {}", b64(good.as_bytes()).trim_end_matches('=')).into_bytes()],
            200,
        ),
        (
            "no colon",
            vec![format!("Basic {}", b64(first.email.as_bytes())).into_bytes()],
            401,
        ),
    ];
    for (name, values, expected) in cases {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(&v).unwrap());
        }
        let response = client.get(&url).headers(headers).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body = response.text().await.unwrap();
        assert_eq!(status, expected, "case {name}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json; charset=utf-8"),
            "case {name}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("case {name}: not JSON: {body}"));
        if expected == 401 {
            assert_eq!(json["code"], 401, "case {name}");
            assert!(json["message"].as_str().unwrap().len() > 10, "case {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_failure_is_throttled_with_retry_after_and_lifts_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    // A 3-second window keeps the test short; the default is 60 seconds.
    let install = Install::new(dir.path()).with_config("[auth]\nfailure_window_secs = 3\n");
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let url = server.audit_url(&first.org_id);
    let client = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..10 {
        let r = client
            .get(&url)
            .basic_auth("someone@example.com", Some(support_fake_token()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "failure {i}");
    }
    let throttled = client
        .get(&url)
        .basic_auth(&first.email, Some(support_fake_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["x-ratelimit-limit"], "10");
    assert_eq!(throttled.headers()["x-ratelimit-remaining"], "0");
    // A valid token is checked before the lock, which never refuses it.
    let valid = client
        .get(&url)
        .basic_auth(&first.email, Some(&first.token))
        .send()
        .await
        .unwrap();
    assert_eq!(valid.status(), 200);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["code"], 429);

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("cairn_auth_failures_total{reason=\"throttled\"} 1"),
        "{metrics}"
    );

    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(started.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let lifted = client
        .get(&url)
        .basic_auth("someone@example.com", Some(support_fake_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 401, "the lock lifts by itself");
}

async fn persistence_across_restart(install: Install) {
    let server = install.serve(&[]);
    let first = server.first_start.clone().expect("first start");
    let token = install.cli_json(&[
        "token",
        "create",
        "--email",
        &first.email,
        "--label",
        "survives",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(server.terminate(), "SIGTERM stops the server cleanly");

    let server = install.serve(&[]);
    assert!(
        server.first_start.is_none(),
        "a second start prints no credentials: {}",
        server.stdout
    );
    assert!(!server.stdout.contains("Web password"));
    let client = reqwest::Client::new();
    let r = client
        .get(server.audit_url(&first.org_id))
        .basic_auth(&first.email, Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events: serde_json::Value = r.json().await.unwrap();
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"token.create") && actions.contains(&"account.create"),
        "{actions:?}"
    );
    let accounts = install.cli_json(&["account", "list"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(
        install.cli_json(&["org", "list"]).as_array().unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    persistence_across_restart(Install::new(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart_on_postgres() {
    let Some(db) = cairn_store::testing::TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let install = Install {
        database_url: Some(db.url.clone()),
        ..Install::new(dir.path())
    };
    persistence_across_restart(install).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[("CAIRN_LOG", "trace")]);
    let first = server.first_start.clone().unwrap();
    let url = server.audit_url(&first.org_id);
    let created = install.cli_json(&["token", "create", "--email", &first.email, "--label", "x"]);
    let token = created["token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let good_header = format!(
        "Basic {}",
        b64(format!("{}:{token}", first.email).as_bytes())
    );
    assert_eq!(
        client
            .get(&url)
            .header("authorization", &good_header)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(&url)
            .basic_auth(&first.email, Some(&first.password))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client
            .get(&url)
            .basic_auth(&first.email, Some(format!("{token}\n")))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let id = created["tokenId"].as_str().unwrap();
    install.cli(&["token", "revoke", "--email", &first.email, id]);
    let log_path = server.log_path.clone();
    drop(server);

    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(
        log.contains("request_id"),
        "the log is captured and carries request ids"
    );
    for secret in [
        token.as_str(),
        first.token.as_str(),
        first.password.as_str(),
        &good_header[6..],
    ] {
        assert!(!log.contains(secret), "a secret leaked into the log");
    }
    assert!(
        !log.to_lowercase().contains("authorization: basic"),
        "no Authorization value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Half a request: the server is now reading it when the signal comes.
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: cairn\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = server.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.write_all(b"Connection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(server.terminate(), "and then the server exits cleanly");
}
