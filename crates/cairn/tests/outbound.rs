//! Outbound requests (server-side request forgery): Cairn connects on an org admin's behalf only
//! to public addresses unless the operator allows others, tells the caller nothing of what an
//! address answered, audits failed probes, and needs keys for S3 storages.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::{Caller, Install};

/// A loopback listener that counts the connections it accepts and answers each with `answer`.
fn listener(answer: &'static str) -> (u16, Arc<AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for mut sock in l.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (port, accepted)
}

fn register(api: &Caller, url: &str) -> (u16, Value) {
    api.call(
        "POST",
        "/sites",
        Some(json!({ "cloudUrl": url, "email": "a@example.com", "apiToken": "t0ken" })),
    )
}

fn audit_actions(api: &Caller) -> Vec<Value> {
    let (status, audit) = api.call("GET", "/audit-events?pageSize=100", None);
    assert_eq!(status, 200, "{audit}");
    audit["events"].as_array().unwrap().clone()
}

/// With the allow-list off, loopback, private, link-local and unspecified addresses, in odd
/// spellings too, are refused with a 400 naming cloudUrl, and no connection is made.
#[test]
fn registering_private_addresses_is_refused_without_connecting() {
    let (port, accepted) = listener("{\"cloudId\":\"x\"}");
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[("CAIRN_OUTBOUND_ALLOW", "")]);
    let api = Caller::new(&server, server.first_start.as_ref().unwrap());
    let urls = [
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("https://127.1:{port}"),
        format!("https://2130706433:{port}"),
        format!("https://0.0.0.0:{port}"),
        format!("https://[::1]:{port}"),
        format!("https://[::ffff:127.0.0.1]:{port}"),
        format!("https://localhost:{port}"),
        "https://169.254.169.254".to_string(),
        "https://10.1.2.3".to_string(),
        "https://192.168.0.1".to_string(),
        "https://[fd00::1]".to_string(),
    ];
    for url in &urls {
        let (status, body) = register(&api, url);
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "cloudUrl", "{url}: {body}");
        assert!(
            body.to_string()
                .contains("does not connect to this address"),
            "{url}: {body}"
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no refused registration connected"
    );
    let failed = audit_actions(&api)
        .iter()
        .filter(|e| e["action"] == "site.register_failed")
        .count();
    assert_eq!(failed, urls.len(), "every failed probe is audited");
    assert!(server.terminate());
}

/// A service that is not a site, and a closed port, read the same to the caller: one generic
/// message, nothing of the answer; the detail is in the log under the request id.
#[test]
fn a_failed_registration_says_nothing_of_what_answered() {
    let (port, accepted) = listener("<html>INTERNAL-ADMIN-PANEL secret=42</html>");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    // The harness allows loopback (the stand-ins' addresses), so these are reached.
    let server = Install::new(dir.path()).serve(&[]);
    let api = Caller::new(&server, server.first_start.as_ref().unwrap());
    let (s1, open) = register(&api, &format!("http://127.0.0.1:{port}"));
    let (s2, shut) = register(&api, &format!("http://127.0.0.1:{closed}"));
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the open port was asked"
    );
    assert_eq!((s1, s2), (400, 400), "{open} {shut}");
    assert_eq!(open, shut, "open and closed ports read the same");
    let message = open["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("did not answer as a Jira or Confluence Cloud site"),
        "{open}"
    );
    assert!(!open.to_string().contains("INTERNAL"), "{open}");
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("site registration refused") && l.contains(&port.to_string()))
        .unwrap_or_else(|| panic!("the detail is logged: {log}"));
    assert!(line.contains("request_id"), "{line}");
    let outcomes: Vec<Value> = audit_actions(&api)
        .into_iter()
        .filter(|e| e["action"] == "site.register_failed")
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(!Value::from(outcomes).to_string().contains("INTERNAL"));
    assert!(server.terminate());
}

/// An S3 storage needs keys (the server's ambient cloud credentials are not lent unless the
/// operator allows it); a refused endpoint is refused without connecting; a failed probe says
/// nothing of what the store answered.
#[test]
fn s3_storages_need_keys_allowed_endpoints_and_fail_generically() {
    let (Ok(endpoint), Ok(bucket), Ok(key)) = (
        std::env::var("CAIRN_TEST_S3_ENDPOINT"),
        std::env::var("CAIRN_TEST_S3_BUCKET"),
        std::env::var("CAIRN_TEST_S3_ACCESS_KEY_ID"),
    ) else {
        assert!(
            std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "CAIRN_TEST_S3_* not set but CAIRN_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("skipping: no S3 test server");
        return;
    };
    let body = |endpoint: &str, keys: Option<(&str, &str)>| {
        let mut b = json!({
            "storageName": bucket, "storageRegion": "us-east-1", "storagePrefix": "outbound-test",
            "endpoint": endpoint,
        });
        if let Some((k, s)) = keys {
            b["accessKeyId"] = json!(k);
            b["secretAccessKey"] = json!(s);
        }
        Some(b)
    };
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let api = Caller::new(&server, &first);
    let (status, no_keys) = api.call("POST", "/storages", body(&endpoint, None));
    assert_eq!(status, 400, "{no_keys}");
    assert_eq!(no_keys["errors"][0]["field"], "accessKeyId", "{no_keys}");
    let (status, wrong) = api.call(
        "POST",
        "/storages",
        body(&endpoint, Some((&key, "not-the-secret"))),
    );
    assert_eq!(status, 400, "{wrong}");
    let text = wrong.to_string();
    assert!(
        text.contains("check the bucket, region, endpoint and keys"),
        "{text}"
    );
    for leak in ["Signature", "status", "403", "AccessDenied", "XML", "<"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert!(server.terminate());

    // The allow-list off: the loopback endpoint is refused, as an address and by a name.
    let server = install.serve(&[("CAIRN_OUTBOUND_ALLOW", "")]);
    let api = Caller::new(&server, &first);
    let port = endpoint.rsplit(':').next().unwrap().trim_end_matches('/');
    for e in [endpoint.clone(), format!("http://localhost:{port}")] {
        let (status, refused) = api.call("POST", "/storages", body(&e, Some((&key, "x"))));
        assert_eq!(status, 400, "{e}: {refused}");
        assert_eq!(refused["errors"][0]["field"], "endpoint", "{e}: {refused}");
        assert!(
            refused
                .to_string()
                .contains("does not connect to this address"),
            "{e}: {refused}"
        );
    }
    let failed = audit_actions(&api)
        .iter()
        .filter(|e| e["action"] == "storage.connect_failed")
        .count();
    assert_eq!(
        failed, 3,
        "the failed probes are audited (the keyless one made none)"
    );
    assert!(server.terminate());
}
