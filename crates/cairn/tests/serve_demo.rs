//! `cairn serve --demo`: the API and two stand-in sites in one process.

mod support;

use support::Install;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_source_and_an_empty_target_site_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[("CAIRN_DEMO", "true")]);
    let site_line = |name: &str| {
        server
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("cloudId="))
            .unwrap_or_else(|| panic!("no {name} line in:\n{}", server.stdout))
            .to_string()
    };
    let account = server
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("site account (read-write): "))
        .unwrap()
        .to_string();
    let (email, token) = account.split_once(" / ").unwrap();
    let client = reqwest::Client::new();
    for (name, expect_projects) in [("source", true), ("target", false)] {
        let line = site_line(name);
        let url = line.split_whitespace().nth(1).unwrap();
        let cloud_id = line
            .split("cloudId=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let tenant: serde_json::Value = client
            .get(format!("{url}/_edge/tenant_info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(tenant["cloudId"], cloud_id);
        let projects: serde_json::Value = client
            .get(format!("{url}/rest/api/3/project/search"))
            .basic_auth(email, Some(token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            projects["total"].as_u64().unwrap() > 0,
            expect_projects,
            "{name}: {projects}"
        );
    }
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
