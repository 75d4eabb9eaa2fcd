//! The API over real HTTP on loopback, served in-process on a real SQLite store: the OpenAPI
//! snapshot, the error shape of everything the framework answers by itself, and pagination.

use std::sync::Arc;

use cairn_api::{AppState, metrics::Metrics};
use cairn_control::ControlError;
use cairn_control::identity::{Actor, Identity};
use cairn_control::management::Management;
use cairn_control::testing::TestInstallation;
use cairn_store::dual_test;
use cairn_store::testing::TestDb;

/// The admin's web password.
const PASSWORD: &str = "correct horse battery";

/// These tests do not reach sites or storages (the binary's tests do, against the site stand-in
/// and SeaweedFS): the test installation's probes find nothing anywhere.
struct TestServer {
    base: String,
    org_id: String,
    email: String,
    token: String,
    identity: Arc<Identity>,
    management: Arc<Management>,
    _install: TestInstallation,
}

async fn start() -> TestServer {
    start_on(TestDb::sqlite().await).await
}

async fn start_on(db: TestDb) -> TestServer {
    let install = TestInstallation::builder(db)
        .admin_password(PASSWORD)
        .build()
        .await;
    let state = AppState {
        identity: install.identity.clone(),
        management: install.management.clone(),
        store: install.store.clone(),
        metrics: Arc::new(Metrics::default()),
        web: Default::default(),
        trusted_proxies: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cairn_api::serve(
        listener,
        None,
        cairn_api::router(state),
        std::future::pending(),
    ));
    TestServer {
        base,
        org_id: install.org.id.clone(),
        email: install.admin.email.clone(),
        token: install.token.clone(),
        identity: install.identity.clone(),
        management: install.management.clone(),
        _install: install,
    }
}

#[tokio::test]
async fn openapi_document_matches_the_snapshot() {
    let server = start().await;
    let response = reqwest::get(format!(
        "{}/public/backup-management/v2/openapi.json",
        server.base
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "served without authentication");
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", doc);
}

/// The served document is valid OpenAPI 3.1 by an independent validator (openapi-spec-validator,
/// which `scripts/install-test-deps.sh` installs).
#[tokio::test]
async fn openapi_document_is_valid_by_an_independent_validator() {
    let server = start().await;
    let url = format!("{}/public/backup-management/v2/openapi.json", server.base);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, text).unwrap();
    let script = "import json, sys\n\
        from openapi_spec_validator import OpenAPIV31SpecValidator\n\
        errors = list(OpenAPIV31SpecValidator(json.load(open(sys.argv[1]))).iter_errors())\n\
        for e in errors[:20]: print(e.message[:300])\n\
        sys.exit(1 if errors else 0)\n";
    let out = match std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "python3: {e}"
            );
            eprintln!("skipping: no python3 ({e})");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'openapi_spec_validator'") {
        assert!(
            std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "openapi-spec-validator is not installed (scripts/install-test-deps.sh)"
        );
        eprintln!("skipping: openapi-spec-validator is not installed");
        return;
    }
    assert!(
        out.status.success(),
        "{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn error_of(
    response: reqwest::Response,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"], "application/json; charset=utf-8",
        "status {status}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], status, "the body repeats the status");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    (status, headers, body)
}

#[tokio::test]
async fn the_framework_answers_in_the_error_shape() {
    let server = start().await;
    let client = reqwest::Client::new();
    let audit = format!(
        "{}/public/backup-management/v2/orgs/{}/audit-events",
        server.base, server.org_id
    );

    let (status, _, _) = error_of(
        client
            .get(format!("{}/no/such/path", server.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let (status, headers, _) = error_of(
        client
            .delete(&audit)
            .basic_auth(&server.email, Some(&server.token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    assert!(headers["allow"].to_str().unwrap().contains("GET"));

    let big = vec![b'x'; 2 * 1024 * 1024];
    let (status, _, _) = error_of(
        client
            .post(&audit)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);

    let (status, _, _) = error_of(
        client
            .post(&audit)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415, "a body that is not JSON");
    let (status, _, _) = error_of(client.post(&audit).body("{}").send().await.unwrap()).await;
    assert_eq!(status, 415, "a body with no content type");
    let (status, _, _) = error_of(
        client
            .post(&audit)
            .header("content-type", "application/json; charset=utf-8")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status, 405,
        "JSON passes the media-type check and meets the method check"
    );

    let (status, headers, _) = error_of(client.get(&audit).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="cairn", charset="UTF-8""#
    );

    let (status, _, body) = error_of(
        client
            .get(format!("{audit}?pageSize=0"))
            .basic_auth(&server.email, Some(&server.token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "pageSize");

    let (status, _, body) = error_of(
        client
            .get(format!("{audit}?from=yesterday"))
            .basic_auth(&server.email, Some(&server.token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "from");

    let v1 = client
        .get(format!(
            "{}/public/backup-management/v1/orgs/{}/policies",
            server.base, server.org_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.headers()["deprecation"], "true");
    assert!(
        v1.headers()["link"]
            .to_str()
            .unwrap()
            .contains("/public/backup-management/v2/orgs/")
    );
    assert!(v1.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn audit_events_page_through_every_item_once_with_filters() {
    let server = start().await;
    let admin = server
        .identity
        .account_by_email(&server.email)
        .await
        .unwrap();
    for i in 0..23 {
        server
            .identity
            .create_token(&admin.id, &format!("t{i}"), None, &Actor::cli())
            .await
            .unwrap();
    }
    let client = reqwest::Client::new();
    let audit = format!(
        "{}/public/backup-management/v2/orgs/{}/audit-events",
        server.base, server.org_id
    );
    let get = |query: String| {
        let client = client.clone();
        let url = format!("{audit}?{query}");
        let (email, token) = (server.email.clone(), server.token.clone());
        async move {
            let r = client
                .get(url)
                .basic_auth(email, Some(token))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let all = get("action=token.create&pageSize=100&sortOrder=ASC".into()).await;
    let total = all["totalItems"].as_u64().unwrap();
    assert_eq!(total, 24, "the first token and 23 more");
    for page_size in [1u64, 7, 100] {
        let mut seen = Vec::new();
        for start in 0.. {
            let page = get(format!(
                "action=token.create&start={start}&pageSize={page_size}&sortOrder=ASC"
            ))
            .await;
            assert_eq!(page["totalItems"], total);
            let events = page["events"].as_array().unwrap();
            if events.is_empty() {
                break;
            }
            assert!(events.len() as u64 <= page_size);
            seen.extend(
                events
                    .iter()
                    .map(|e| e["eventId"].as_str().unwrap().to_string()),
            );
        }
        let expected: Vec<String> = all["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(seen, expected, "page size {page_size}");
    }
    let desc = get("action=token.create&pageSize=1".into()).await;
    assert_eq!(
        desc["events"][0]["eventId"], all["events"][23]["eventId"],
        "DESC is the default"
    );
    let none = get("accountId=nobody".into()).await;
    assert_eq!(none["totalItems"], 0);
    let event = &all["events"][0];
    for field in ["eventId", "action", "target", "clientAddress", "createdAt"] {
        assert!(event[field].is_string(), "{field}");
    }
    assert!(event["createdAt"].as_str().unwrap().ends_with('Z'));
}

/// Logs in through the web form with `email` and `password`: the refused form's status, or the
/// redirect of a session.
async fn web_login(server: &TestServer, email: &str, password: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("the form's CSRF token")
        + 19;
    let csrf = &html[at..at + html[at..].find('"').unwrap()];
    client
        .post(format!("{}/login", server.base))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("email", email), ("password", password), ("csrf", csrf)])
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

dual_test!(
    control_characters_are_refused_before_the_store_naming_the_field,
    |db: TestDb| async move {
        let server = start_on(db).await;
        let client = reqwest::Client::new();
        let api = format!(
            "{}/public/backup-management/v2/orgs/{}",
            server.base, server.org_id
        );
        let authed = |request: reqwest::RequestBuilder| {
            request.basic_auth(&server.email, Some(&server.token))
        };
        // Ids in the path, filters in the query: named, with or without credentials.
        for (url, field) in [
            (format!("{api}/backups/a%00b"), "backupId"),
            (format!("{api}/policies/a%1Bb"), "policyId"),
            (format!("{api}/restores/%C2%85"), "restoreId"),
            (format!("{api}/sites/x%00"), "cloudId"),
            (format!("{api}/backups?cloudId=%00"), "cloudId"),
            (format!("{api}/policies?cloudId=a%0Ab"), "cloudId"),
            (
                format!(
                    "{}/public/backup-management/v1/orgs/a%00/backups",
                    server.base
                ),
                "orgId",
            ),
        ] {
            for with_credentials in [true, false] {
                let mut request = client.get(&url);
                if with_credentials {
                    request = authed(request);
                }
                let (status, _, body) = error_of(request.send().await.unwrap()).await;
                assert_eq!(status, 400, "{url}: {body}");
                assert_eq!(body["errors"][0]["field"], field, "{url}");
            }
        }
        // Any string of a JSON body.
        for (body, field) in [
            (
                serde_json::json!({"policyName": "a\u{0}b", "cloudId": "c", "productType": "JIRA"}),
                "policyName",
            ),
            (
                serde_json::json!({"policyName": "p", "cloudId": "\u{0}", "productType": "JIRA"}),
                "cloudId",
            ),
            (
                serde_json::json!({"backupId": "b", "destinationCloudId": "d",
                                   "projectKeys": ["A", "B\u{0}"]}),
                "projectKeys[1]",
            ),
        ] {
            let path = if body.get("policyName").is_some() {
                "policies"
            } else {
                "restores"
            };
            let (status, _, answer) = error_of(
                authed(client.post(format!("{api}/{path}")))
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 400, "{body}: {answer}");
            assert_eq!(answer["errors"][0]["field"], field, "{body}");
        }
        // An email with a NUL is a wrong credential (401, counted), not a store outage.
        let (status, headers, _) = error_of(
            client
                .get(format!("{api}/backups"))
                .basic_auth("admin\u{0}@example.com", Some(&server.token))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 401);
        assert!(headers.contains_key("www-authenticate"));
        // The web login: refused like a wrong password.
        let wrong = web_login(&server, &server.email, "not the password").await;
        assert_eq!(wrong, 401);
        assert_eq!(
            web_login(&server, "admin\u{0}@example.com", PASSWORD).await,
            wrong
        );
        assert_eq!(web_login(&server, &server.email, PASSWORD).await, 303);
        // What gets past the API's checks (the command line calls the domain directly) is a
        // client error on either database, never an outage.
        match server.management.get_backup(&server.org_id, "a\0b").await {
            Err(ControlError::NotFound(_) | ControlError::Invalid { .. }) => {}
            other => panic!("a NUL id: {other:?}"),
        }
        let ready = client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
);

dual_test!(
    names_refuse_terminal_escapes_and_bidirectional_overrides,
    |db: TestDb| async move {
        let server = start_on(db).await;
        let client = reqwest::Client::new();
        let policies = format!(
            "{}/public/backup-management/v2/orgs/{}/policies",
            server.base, server.org_id
        );
        for name in [
            "\u{1b}]0;owned\u{7}x",
            "\u{9b}31mred",
            "evil\u{202e}txt.exe",
            "\u{2067}x",
        ] {
            let (status, _, body) = error_of(
                client
                    .post(&policies)
                    .basic_auth(&server.email, Some(&server.token))
                    .json(&serde_json::json!({"policyName": name, "cloudId": "c", "productType": "JIRA"}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 400, "{name:?}: {body}");
            assert_eq!(body["errors"][0]["field"], "policyName", "{name:?}");
        }
        let admin = server
            .identity
            .account_by_email(&server.email)
            .await
            .unwrap();
        for label in ["\u{1b}[2J", "a\u{202d}b"] {
            let err = server
                .identity
                .create_token(&admin.id, label, None, &Actor::cli())
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ControlError::Invalid { errors, .. } if errors[0].field == "label"),
                "{label:?}: {err:?}"
            );
        }
    }
);

#[tokio::test]
async fn start_dates_are_exactly_yyyy_mm_dd() {
    let server = start().await;
    let client = reqwest::Client::new();
    let policies = format!(
        "{}/public/backup-management/v2/orgs/{}/policies",
        server.base, server.org_id
    );
    for date in [
        "+99999-01-01",
        "+2026-01-01",
        "20260-01-01",
        "2026-1-1",
        "2026-02-30",
    ] {
        let (status, _, body) = error_of(
            client
                .post(&policies)
                .basic_auth(&server.email, Some(&server.token))
                .json(&serde_json::json!({
                    "policyName": "p", "cloudId": "c", "productType": "JIRA",
                    "scheduleDetails": {"interval": "DAILY", "startDate": date},
                }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{date}: {body}");
        assert_eq!(
            body["errors"][0]["field"], "scheduleDetails.startDate",
            "{date}"
        );
    }
}

/// Sends `request` as raw bytes and reads the answer until the server closes.
async fn raw_exchange(base: &str, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    );
    assert!(
        read.await.is_ok(),
        "the server closes after its answer: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn what_hyper_refuses_by_itself_has_the_error_body_too() {
    let server = start().await;
    let api = "/public/backup-management/v2/orgs/x/backups";
    let long_url = format!(
        "GET {api}?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let big_header = format!("GET {api} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{many}\r\n");
    let binary =
        format!("GET {api} HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-bin: a\u{1}b\r\n\r\n");
    for (name, request, status) in [
        ("a long URL", long_url, 414),
        ("too many headers", big_header, 431),
        ("a binary header", binary, 400),
    ] {
        let (got, head, body) = raw_exchange(&server.base, request.as_bytes()).await;
        assert_eq!(got, status, "{name}: {head}");
        assert!(
            head.contains("content-type: application/json; charset=utf-8"),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["code"], status);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Under the pages' paths, a page.
    let page = format!(
        "GET /login?next={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let (got, head, body) = raw_exchange(&server.base, page.as_bytes()).await;
    assert_eq!(got, 414);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(body.contains("</html>"), "{body}");
    // And the server goes on answering.
    let ok = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_retention_lock_is_shown_and_only_raised_through_the_api() {
    let server = start().await;
    let client = reqwest::Client::new();
    let settings = format!(
        "{}/public/backup-management/v2/orgs/{}/settings",
        server.base, server.org_id
    );
    let put = |days: serde_json::Value| {
        client
            .put(&settings)
            .basic_auth(&server.email, Some(&server.token))
            .json(&serde_json::json!({ "retentionLockDays": days }))
            .send()
    };
    let shown: serde_json::Value = client
        .get(&settings)
        .basic_auth(&server.email, Some(&server.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown, serde_json::json!({ "retentionLockDays": 0 }));

    let raised = put(30.into()).await.unwrap();
    assert_eq!(raised.status(), 200);
    let raised: serde_json::Value = raised.json().await.unwrap();
    assert_eq!(raised["retentionLockDays"], 30);

    let (status, _, body) = error_of(put(7.into()).await.unwrap()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cairn org retention-lock"),
        "{body}"
    );
    for bad in [
        serde_json::json!(3651),
        serde_json::json!(-1),
        serde_json::json!("30"),
    ] {
        let (status, _, body) = error_of(put(bad.clone()).await.unwrap()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let unauthenticated = client.get(&settings).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        server
            .management
            .org_settings(&server.org_id)
            .await
            .unwrap()
            .retention_lock_days,
        30
    );
}
