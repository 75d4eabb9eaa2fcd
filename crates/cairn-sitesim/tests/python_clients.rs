//! Independent clients: the PyPI packages `jira` (rest_api_version 3) and `atlassian-python-api`
//! (Cloud, v2 + v1 attachment upload) run tests/clients/clients.py against a stand-in on
//! 127.0.0.1. Skipped (with a message) when the packages are missing, unless
//! CAIRN_TEST_REQUIRE_SERVICES=1, which makes their absence a failure.

use std::process::Command;

use cairn_sitesim::{Access, Scale, Sim, SimConfig, SiteSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_work_against_the_stand_in() {
    let have = Command::new("python3")
        .args(["-c", "import jira, atlassian"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have {
        if std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!(
                "python3 with the packages jira and atlassian-python-api is required (pip install jira atlassian-python-api)"
            );
        }
        eprintln!("skipping: pip install jira atlassian-python-api");
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
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/clients.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &base, &acct.email, &acct.api_token])
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
    println!("{stdout}");
    assert!(
        out.status.success(),
        "client script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all client checks passed"));
    // the clients really went through the stand-in
    let counters = sim.counters("s");
    for route in [
        "GET /rest/api/3/serverInfo",
        "GET /rest/api/3/search/jql",
        "POST /rest/api/3/issue",
        "POST /rest/api/3/issue/{issueIdOrKey}/attachments",
        "GET /wiki/api/v2/spaces",
        "POST /wiki/api/v2/pages",
        "POST /wiki/rest/api/content/{id}/child/attachment",
    ] {
        assert!(
            counters.get(route).copied().unwrap_or(0) > 0,
            "{route} not called: {counters:?}"
        );
    }
    sim.shutdown().await;
}
