//! The web pages over plain HTTP against the real binary, as a browser without JavaScript (or an
//! attacker) would use them: forms post and redirect, and the attacks of the issue are refused.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use support::{Install, Server, Sites, member_with_password, source_site_with_a_policy};

const TOKENS: &str = "/manage-profile/security/api-tokens";

/// A cookie jar we can copy, replay and inspect; redirects are not followed, to see them.
#[derive(Clone)]
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
    forwarded_https: bool,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    content_type: String,
    csp: Option<String>,
    body: String,
}

impl Visitor {
    fn new(server: &Server) -> Self {
        Visitor {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base_url.clone(),
            cookies: BTreeMap::new(),
            forwarded_https: false,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = request.header(COOKIE, cookie);
        if self.forwarded_https {
            request = request.header("x-forwarded-proto", "https");
        }
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for set in &set_cookies {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.into(), value.into());
            }
        }
        let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
        Answer {
            status: response.status(),
            location: text(LOCATION.as_str()),
            set_cookies,
            content_type: text(CONTENT_TYPE.as_str()).unwrap_or_default(),
            csp: text("content-security-policy"),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    /// Logs in through the form and asserts it worked: a session cookie and a redirect onwards.
    async fn logged_in(&mut self, email: &str, password: &str) {
        let done = self.log_in(email, password).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some(TOKENS));
        assert!(
            self.cookies.contains_key("cairn_session"),
            "{:?}",
            done.set_cookies
        );
    }

    async fn log_in(&mut self, email: &str, password: &str) -> Answer {
        let form = self.get("/login").await;
        let csrf = csrf_of(&form.body);
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// The CSRF token of the session, read from the token page.
    async fn csrf(&mut self) -> String {
        let page = self.get(TOKENS).await;
        assert_eq!(page.status, 200, "{}", page.body);
        csrf_of(&page.body)
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

fn live_tokens(install: &Install, email: &str) -> usize {
    install
        .cli_json(&["token", "list", "--email", email])
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] != "REVOKED")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_a_token_is_created_shown_once_listed_and_revoked_and_all_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let mut web = Visitor::new(&server);

    let login = web.get(TOKENS).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(
        login.location.as_deref(),
        Some("/login?next=%2Fmanage-profile%2Fsecurity%2Fapi-tokens")
    );
    let done = web.log_in(&first.email, &first.password).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location.as_deref(), Some(TOKENS));
    let csrf = web.csrf().await;

    // Logged in already, the login page sends us on; never to another site.
    for (next, to) in [
        ("%2Fadmin", "/admin"),
        ("%2F%2Fevil.example%2F", TOKENS),
        ("https%3A%2F%2Fevil.example%2F", TOKENS),
        ("%2F%5Cevil.example", TOKENS),
    ] {
        let answer = web.get(&format!("/login?next={next}")).await;
        assert_eq!(answer.location.as_deref(), Some(to), "next={next}");
    }

    // Validation errors come back beside their fields, with what was typed.
    let invalid = web
        .post(
            TOKENS,
            &[("csrf", &csrf), ("label", "   "), ("expiresInDays", "0")],
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert!(
        invalid
            .body
            .contains(r#"<p class="field-error" id="label-error">"#)
    );
    assert!(invalid.body.contains(r#"aria-invalid="true""#));
    let invalid = web
        .post(
            TOKENS,
            &[("csrf", &csrf), ("label", "ok"), ("expiresInDays", "400")],
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert!(
        invalid.body.contains(r#"id="expires-error""#),
        "{}",
        invalid.body
    );
    assert!(invalid.body.contains(r#"value="400""#));

    let created = web
        .post(
            TOKENS,
            &[
                ("csrf", &csrf),
                ("label", "<script>alert(1)</script>"),
                ("expiresInDays", "7"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    assert_eq!(created.location.as_deref(), Some(TOKENS));
    let sealed = web.cookies["cairn_new_token"].clone();
    let shown = web.get(TOKENS).await;
    let at = shown.body.find("cairn_").unwrap();
    let token = shown.body[at..at + 55].to_string();
    assert!(shown.body.contains("will not be shown again"));
    assert!(shown.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!shown.body.contains("<script>alert"));
    assert!(shown.body.contains("Expires soon"), "7 days is within 14");
    assert!(
        shown
            .set_cookies
            .iter()
            .any(|c| c.starts_with("cairn_new_token=;")),
        "the page that shows the token deletes its cookie"
    );
    assert!(!web.get(TOKENS).await.body.contains(&token), "shown once");
    // The sealed cookie sent again within its two minutes, in the same session: nothing.
    web.cookies.insert("cairn_new_token".into(), sealed);
    let replayed = web.get(TOKENS).await;
    assert_eq!(replayed.status, 200);
    assert!(
        !replayed.body.contains(&token),
        "a replayed seal shows nothing"
    );
    assert!(!replayed.body.contains("will not be shown again"));

    let api = |token: String| {
        let url = server.audit_url(&first.org_id);
        let email = first.email.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .basic_auth(email, Some(token))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(api(token.clone()).await.status(), 200);

    let token_id = install.cli_json(&["token", "list", "--email", &first.email])[0]["tokenId"]
        .as_str()
        .unwrap()
        .to_string();
    let confirm = web.get(&format!("{TOKENS}?revoke={token_id}")).await;
    assert!(confirm.body.contains(r#"id="revoke-dialog""#));
    let revoked = web
        .post(&format!("{TOKENS}/{token_id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("/manage-profile/security/api-tokens?done=revoked")
    );
    assert_eq!(api(token.clone()).await.status(), 401);
    assert_eq!(
        web.post("/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );

    let events: serde_json::Value = api(first.token.clone()).await.json().await.unwrap();
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["clientAddress"] == "127.0.0.1")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["logout", "token.revoke", "token.create", "login"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let mut alice = Visitor::new(&server);
    let mut other = Visitor::new(&server);
    alice.logged_in(&first.email, &first.password).await;
    other.logged_in(&first.email, &first.password).await;
    let other_csrf = other.csrf().await;
    let before = live_tokens(&install, &first.email);

    for form in [
        vec![("label", "no token")],
        vec![("label", "empty token"), ("csrf", "")],
        vec![
            ("label", "another session's"),
            ("csrf", other_csrf.as_str()),
        ],
    ] {
        let refused = alice.post(TOKENS, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(refused.content_type.starts_with("text/html"));
        assert!(refused.body.contains("did not come from this site"));
    }
    assert_eq!(
        live_tokens(&install, &first.email),
        before,
        "nothing was created"
    );
    let logout = alice.post("/logout", &[("csrf", &other_csrf)]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);

    // The login form too: without the nonce cookie's token, no login (and no session cookie).
    let mut stranger = Visitor::new(&server);
    let refused = stranger
        .post(
            "/login",
            &[("email", &first.email), ("password", &first.password)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!stranger.cookies.contains_key("cairn_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_replayed_after_logout_is_refused_and_one_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let mut web = Visitor::new(&server);
    web.logged_in(&first.email, &first.password).await;
    let csrf = web.csrf().await;

    // A restart keeps the session (it lives in the store).
    assert!(server.terminate());
    let server = install.serve(&[]);
    web.base = server.base_url.clone();
    assert_eq!(web.get(TOKENS).await.status, 200);

    let stolen = web.clone();
    let out = web.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("cairn_session=;"))
    );

    let before = live_tokens(&install, &first.email);
    let mut replay = stolen.clone();
    assert_eq!(replay.get(TOKENS).await.status, StatusCode::SEE_OTHER);
    let post = replay
        .post(TOKENS, &[("csrf", &csrf), ("label", "replayed")])
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert_eq!(post.location.as_deref(), Some("/login"));
    assert_eq!(live_tokens(&install, &first.email), before);
}

/// ARCHITECTURE.md (identity): a revocation clears the revoking node's cache at once, and other
/// nodes see it within `auth_cache_ms`. Two `cairn serve` on one store: the token is revoked on
/// the first node's page just after the second verified (and cached) it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_node_reaches_another_within_auth_cache_ms() {
    const CACHE_MS: u64 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let install =
        Install::new(dir.path()).with_config(&format!("[auth]\nauth_cache_ms = {CACHE_MS}\n"));
    let a = install.serve(&[]);
    let b = install.serve(&[]);
    let first = a.first_start.clone().unwrap();
    assert!(b.first_start.is_none());
    let created = install.cli_json(&[
        "token",
        "create",
        "--email",
        &first.email,
        "--label",
        "two nodes",
    ]);
    let token = created["token"].as_str().unwrap().to_string();
    let token_id = created["tokenId"].as_str().unwrap().to_string();
    let mut web = Visitor::new(&a);
    web.logged_in(&first.email, &first.password).await;
    let csrf = web.csrf().await;
    let http = reqwest::Client::new();
    let status = |server: &Server| {
        http.get(server.audit_url(&first.org_id))
            .basic_auth(&first.email, Some(&token))
            .send()
    };
    assert_eq!(status(&a).await.unwrap().status(), 200);
    assert_eq!(status(&b).await.unwrap().status(), 200);

    let revoked = web
        .post(&format!("{TOKENS}/{token_id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        revoked.location.as_deref(),
        Some("/manage-profile/security/api-tokens?done=revoked")
    );
    let at = Instant::now();
    assert_eq!(
        status(&a).await.unwrap().status(),
        401,
        "the revoking node at once"
    );
    // The setting, and a second for the requests themselves on a busy machine.
    let bound = Duration::from_millis(CACHE_MS + 1000);
    while status(&b).await.unwrap().status() != 401 {
        assert!(
            at.elapsed() < bound,
            "the other node still accepts the revoked token after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(at.elapsed() < bound, "{:?}", at.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_throttled_after_ten_failures() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let mut web = Visitor::new(&server);
    for _ in 0..10 {
        let wrong = web.log_in(&first.email, "not the password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("The email or password is wrong."));
        assert!(
            wrong.body.contains(&format!(r#"value="{}""#, first.email)),
            "kept"
        );
    }
    let locked = web.log_in(&first.email, &first.password).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.content_type.starts_with("text/html"));
    assert!(locked.body.contains("Too many failed attempts"));
    assert!(!web.cookies.contains_key("cairn_session"));

    // Passwords and API tokens are counted apart: the address's valid token still works.
    let api = reqwest::Client::new()
        .get(server.audit_url(&first.org_id))
        .basic_auth(&first.email, Some(&first.token))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let metrics = web.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"cairn_auth_failures_total{reason="wrong_login"} 10"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"cairn_auth_failures_total{reason="login_throttled"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_http_only_strict_and_secure_behind_a_trusted_tls_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[web]\nsession_hours = 2\ntrust_forwarded_proto = true\n");
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();

    let mut plain = Visitor::new(&server);
    let done = plain.log_in(&first.email, &first.password).await;
    let session = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cairn_session="))
        .unwrap();
    assert!(
        session.ends_with("; Path=/; Max-Age=7200; HttpOnly; SameSite=Strict"),
        "{session}"
    );

    let mut proxied = Visitor::new(&server);
    proxied.forwarded_https = true;
    let done = proxied.log_in(&first.email, &first.password).await;
    assert!(
        done.set_cookies
            .iter()
            .all(|c| c.contains("HttpOnly; SameSite=Strict; Secure")),
        "{:?}",
        done.set_cookies
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_a_strict_csp_and_html_errors_while_the_api_keeps_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let mut web = Visitor::new(&server);
    for path in ["/login", "/admin/nothing-here", "/static/cairn.js"] {
        let answer = web.get(path).await;
        let csp = answer.csp.unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
    }
    let missing = web.get("/manage-profile/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.content_type.starts_with("text/html"),
        "{}",
        missing.content_type
    );
    assert!(missing.body.contains("There is no such page."));
    let wrong_method = web.post("/admin", &[("a", "b")]).await;
    assert_eq!(wrong_method.status, 405);
    assert!(wrong_method.content_type.starts_with("text/html"));

    // A form body is fine for the pages, and still 415 for the API.
    assert_ne!(web.post("/login", &[("email", "x")]).await.status, 415);
    let api = web
        .post(
            "/public/backup-management/v2/orgs/x/audit-events",
            &[("a", "b")],
        )
        .await;
    assert_eq!(api.status, 415);
    assert!(api.content_type.starts_with("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_the_orgs_backups_and_runs_one_now_once_per_rule_3() {
    let dir = tempfile::tempdir().unwrap();
    // No workers on this node: the backup must stay CREATED while the page is read (a running
    // engine would move it on).
    let install = Install::new(dir.path()).with_config("[management]\nworker_concurrency = 0\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let policy_id = source_site_with_a_policy(&server, &sites, "Nightly <Jira>");
    let mut web = Visitor::new(&server);
    web.logged_in(&first.email, &first.password).await;

    let page = web.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"<table id="sites""#), "{}", page.body);
    assert!(page.body.contains("JIRA, CONFLUENCE"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!(r#"data-policy-id="{policy_id}""#))
    );
    // maud escapes the policy's name.
    assert!(page.body.contains("Nightly &lt;Jira&gt;"));
    assert!(!page.body.contains("Nightly <Jira>"));
    assert!(page.body.contains("INACTIVE") && page.body.contains("DAILY at "));
    assert!(page.body.contains(r#"id="no-backups""#));
    let csrf = csrf_of(&page.body);
    let org = first.org_id.as_str();

    // Without the session's CSRF token: refused, and no backup.
    let refused = web
        .post(
            "/admin/run-backup",
            &[("org", org), ("policyId", &policy_id)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(web.get("/admin").await.body.contains(r#"id="no-backups""#));

    // With it: a backup, CREATED, and a flash on the page we are sent back to.
    let form = [
        ("csrf", csrf.as_str()),
        ("org", org),
        ("policyId", &policy_id),
    ];
    let run = web.post("/admin/run-backup", &form).await;
    assert_eq!(run.status, StatusCode::SEE_OTHER, "{}", run.body);
    let back = run.location.unwrap();
    assert_eq!(back, format!("/admin?org={org}&done=started"));
    let page = web.get(&back).await;
    assert!(page.body.contains("The backup was queued."));
    assert!(
        page.body.contains(r#"<table id="backups""#),
        "{}",
        page.body
    );
    let backups = page.body.split(r#"<table id="backups""#).nth(1).unwrap();
    assert!(backups.contains("CREATED"), "{backups}");
    assert!(
        backups.contains("<progress"),
        "a backup in flight has a bar"
    );
    let feed = web.get(&format!("/admin/activity.json?org={org}")).await;
    assert_eq!(feed.status, StatusCode::OK);
    assert!(feed.content_type.starts_with("application/json"));
    let feed: serde_json::Value = serde_json::from_str(&feed.body).unwrap();
    assert_eq!(feed["runs"][0]["status"], "CREATED");
    assert_eq!(feed["runs"][0]["phase"], "Waiting to start");

    // A second press while the first is in flight: rule 3's message, on the page, as an error.
    let again = web.post("/admin/run-backup", &form).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.content_type.starts_with("text/html"));
    assert!(again.body.contains(r#"id="run-error""#), "{}", again.body);
    assert!(again.body.contains("(rule 3)"), "{}", again.body);

    // A member who administers no org: no dashboard, no feed, no run.
    member_with_password(&install, "member@example.com", "member password 1");
    let mut member = Visitor::new(&server);
    member
        .logged_in("member@example.com", "member password 1")
        .await;
    let member_csrf = member.csrf().await;
    for answer in [
        member.get("/admin").await,
        member.get(&format!("/admin/activity.json?org={org}")).await,
        member
            .post(
                "/admin/run-backup",
                &[
                    ("csrf", &member_csrf),
                    ("org", org),
                    ("policyId", &policy_id),
                ],
            )
            .await,
    ] {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert!(!answer.body.contains("Nightly"));
    }
    // Logged out: to the login page.
    let mut stranger = Visitor::new(&server);
    let to_login = stranger.get("/admin").await;
    assert_eq!(to_login.status, StatusCode::SEE_OTHER);
}
