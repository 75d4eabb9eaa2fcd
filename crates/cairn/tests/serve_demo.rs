//! `cairn serve --demo`: the API and two stand-in sites in one process.

mod support;

use support::Install;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_source_and_an_empty_target_site_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Install::new(dir.path()).serve(&[("CAIRN_DEMO", "true"), ("CAIRN_OUTBOUND_ALLOW", "")]);
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

/// The script the demo prints, pasted into `sh` as it stands: it backs the source up, restores
/// the backup into the empty target, and the target's Jira then equals the source's.
#[test]
fn the_printed_demo_script_backs_up_and_restores_when_pasted_into_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Install::new(dir.path()).serve(&[("CAIRN_DEMO", "true"), ("CAIRN_OUTBOUND_ALLOW", "")]);
    let script: String = server
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("# ---- 8< ----"))
        .take_while(|l| !l.starts_with("# ---- >8 ----"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(script.contains("curl"), "no script in:\n{}", server.stdout);
    assert!(
        !script.contains("API_TOKEN"),
        "the first start's script is complete: {script}"
    );
    let out = std::process::Command::new("timeout")
        .args(["300", "sh", "-e", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    // It printed the finished backup, then the finished restore.
    let ended: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(ended.len(), 2, "{stdout}");
    assert_eq!(ended[0]["status"], "COMPLETED", "{}", ended[0]);
    assert!(ended[0]["backupId"].is_string());
    assert_eq!(ended[1]["status"], "COMPLETED", "{}", ended[1]);
    assert_eq!(ended[1]["backupId"], ended[0]["backupId"]);

    // The stand-in compares the two sites itself.
    let source = server
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("source ") && l.contains("cloudId="))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let account = server
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("site account (read-write): "))
        .unwrap()
        .replace(" / ", ":");
    let jira = support::jira_differences(&source, &account, "target");
    assert!(jira.is_empty(), "{:#?}", &jira[..jira.len().min(8)]);
    assert!(server.terminate());
}
