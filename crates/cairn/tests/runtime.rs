//! ARCHITECTURE.md's "Runtime" paragraph, each behaviour shown with real `cairn serve` processes:
//! a node whose server secret differs refuses to start; nodes starting together on an empty
//! store make one first start; a client's `X-Request-Id` is kept; cookies and query strings
//! never reach the log.

mod support;

use serde_json::Value;
use support::{Install, Server, curl_bytes, header};

const SECRET_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const SECRET_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

/// The status of the audit log's listing for the first start's admin, with `token`.
fn audit_status(server: &Server, org_id: &str, email: &str, token: &str) -> u16 {
    let user = format!("{email}:{token}");
    curl_bytes(&["--user", &user], &server.audit_url(org_id)).0
}

#[test]
fn a_node_with_another_server_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[("CAIRN_SECRET", SECRET_A)]);
    let first = server.first_start.clone().expect("first start");
    assert_eq!(
        audit_status(&server, &first.org_id, &first.email, &first.token),
        200
    );
    assert!(server.terminate());

    let (stdout, stderr, status) = install.serve_refused(&[("CAIRN_SECRET", SECRET_B)]);
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("Cairn is serving"), "{stdout}");
    assert!(
        stderr.contains("server secret is not the one the database was initialised with"),
        "{stderr}"
    );

    // The right secret still starts, and the first start's token still works.
    let server = install.serve(&[("CAIRN_SECRET", SECRET_A)]);
    assert!(server.first_start.is_none());
    assert_eq!(
        audit_status(&server, &first.org_id, &first.email, &first.token),
        200
    );
    assert!(server.terminate());
}

/// Starts two nodes at the same moment and checks the store got exactly one first start.
fn two_nodes_start_together(a: &Install, b: &Install, env: &[(&str, &str)]) {
    let (node_a, node_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.serve(env));
        let tb = s.spawn(|| b.serve(env));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let printed: Vec<_> = [&node_a, &node_b]
        .iter()
        .filter_map(|n| n.first_start.clone())
        .collect();
    assert_eq!(
        printed.len(),
        1,
        "one node prints the first start:\n{}\n---\n{}",
        node_a.stdout,
        node_b.stdout
    );
    let first = &printed[0];
    let json = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = a.cli_with(&all, env, None);
        assert!(
            out.status.success(),
            "cairn {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let orgs = json(&["org", "list"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert_eq!(orgs[0]["orgId"], first.org_id.as_str());
    let accounts = json(&["account", "list"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(accounts[0]["email"], first.email.as_str());
    let tokens = json(&["token", "list", "--email", &first.email]);
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    // The one printed token works on both nodes.
    for node in [&node_a, &node_b] {
        assert_eq!(
            audit_status(node, &first.org_id, &first.email, &first.token),
            200
        );
    }
    assert!(node_a.terminate() && node_b.terminate());
}

#[test]
fn two_nodes_starting_together_on_an_empty_sqlite_store_make_one_first_start() {
    let dir = tempfile::tempdir().unwrap();
    // One data directory (the database and the secret file) for both, made by neither yet: the
    // two also race to make the schema, which one of them does while the other waits.
    let install = Install::new(dir.path());
    assert!(!install.data_dir.exists(), "a fresh store");
    two_nodes_start_together(&install, &install, &[]);
}

#[test]
fn two_nodes_starting_together_on_an_empty_postgres_make_one_first_start() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(cairn_store::testing::TestDb::postgres()) else {
        return;
    };
    // A cluster: a data directory each, one database, one secret.
    let dir = tempfile::tempdir().unwrap();
    let node = |name: &str| {
        let mut install = Install::new(&dir.path().join(name));
        install.database_url = Some(db.url.clone());
        install
    };
    two_nodes_start_together(&node("a"), &node("b"), &[("CAIRN_SECRET", SECRET_A)]);
}

#[test]
fn a_clients_request_id_is_kept_and_logged_and_one_is_made_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[("CAIRN_LOG", "debug")]);
    let first = server.first_start.clone().unwrap();
    let user = format!("{}:{}", first.email, first.token);
    let url = server.audit_url(&first.org_id);
    let mine = "client-chosen-id-7f3e";
    let (status, headers, _) = curl_bytes(
        &[
            "--user",
            &user,
            "--header",
            &format!("X-Request-Id: {mine}"),
        ],
        &url,
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-request-id"), Some(mine));
    // An error answer keeps it too.
    let (status, headers, _) = curl_bytes(
        &["--header", &format!("X-Request-Id: {mine}-2")],
        &server.url("/no/such/path"),
    );
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "x-request-id"),
        Some(format!("{mine}-2").as_str())
    );
    // A forged one (quotes, spaces, a line break's worth of fields, or just too long) is not
    // kept: the server makes its own, and the forged text reaches no log line.
    let forged = [
        r#"x" level="ERROR" message="forged"#.to_string(),
        "a b".to_string(),
        "x".repeat(65),
        "ü".to_string(),
    ];
    for id in &forged {
        let (status, headers, _) = curl_bytes(
            &["--user", &user, "--header", &format!("X-Request-Id: {id}")],
            &url,
        );
        assert_eq!(status, 200);
        let given = header(&headers, "x-request-id").unwrap();
        assert_ne!(given, id.as_str());
        assert!(given.len() >= 16, "{given}");
    }
    // Without one, the server makes one, different each time.
    let made: Vec<String> = (0..2)
        .map(|_| {
            let (_, headers, _) = curl_bytes(&["--user", &user], &url);
            header(&headers, "x-request-id").unwrap().to_string()
        })
        .collect();
    assert!(made.iter().all(|id| id.len() >= 16), "{made:?}");
    assert_ne!(made[0], made[1]);

    let log_path = server.log_path.clone();
    assert!(server.terminate());
    let log = std::fs::read_to_string(log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |id: &str| {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .count()
    };
    assert!(
        of(mine) > 0,
        "the log carries the client's request id:\n{log}"
    );
    assert!(of(&made[0]) > 0, "and the one the server made:\n{log}");
    assert!(
        !log.contains("forged") && !log.contains(&"x".repeat(65)),
        "{log}"
    );
}

#[test]
fn cookies_and_query_strings_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[("CAIRN_LOG", "trace")]);
    let first = server.first_start.clone().unwrap();
    let user = format!("{}:{}", first.email, first.token);
    let cookie_secret = "CookieSecret0f9b6c2e4d1a7";
    let query_secret = "QuerySecret3c8e1f5a9b2d6";
    let cookie = format!("Cookie: cairn_session={cookie_secret}; cairn_login={cookie_secret}x");
    // The API (authenticated and not), a web page and a form post, each with both.
    let api = format!(
        "{}?start=0&pageSize=10&secret={query_secret}",
        server.audit_url(&first.org_id)
    );
    for (args, url) in [
        (vec!["--user", user.as_str()], api.clone()),
        (vec![], api.clone()),
        (vec![], server.url(&format!("/admin?org={query_secret}"))),
        (
            vec!["--data", "email=a%40b.c&password=x&csrf=y"],
            server.url(&format!("/login?next={query_secret}")),
        ),
    ] {
        let mut args = args;
        args.extend(["--header", cookie.as_str()]);
        let (status, _, _) = curl_bytes(&args, &url);
        assert!(status > 0, "{url}");
    }
    let log_path = server.log_path.clone();
    assert!(server.terminate());
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(
        log.contains("/audit-events") && log.contains("\"path\":\"/admin"),
        "the requests were logged (by path):\n{log}"
    );
    assert!(
        !log.contains(cookie_secret),
        "a cookie's value reached the log"
    );
    assert!(
        !log.contains(query_secret),
        "a query string reached the log"
    );
    assert!(
        !log.contains("pageSize=10"),
        "a query string reached the log"
    );
}
