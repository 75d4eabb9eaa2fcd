//! Cairn's whole job over its real parts: `cairn serve` with its workers and engine, a stand-in
//! source site and an empty stand-in target (`cairn sim`), the built-in vault. A Jira backup
//! runs to COMPLETED through the API, then a restore of it into the empty site runs to
//! COMPLETED, and the target then holds the source's projects with as many issues each.

mod support;

use serde_json::{Value, json};
use support::{Caller, Install, Sites, curl};

/// Project keys of a stand-in site, with the issue count of each (Jira's own search).
fn projects_and_issue_counts(site_url: &str, user: &str) -> Vec<(String, u64)> {
    let (status, text) = curl(
        &["--user", user],
        &format!("{site_url}/rest/api/3/project/search?maxResults=100"),
    );
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for p in page["values"].as_array().unwrap() {
        let key = p["key"].as_str().unwrap().to_string();
        let (status, text) = curl(
            &[
                "--user",
                user,
                "--header",
                "Content-Type: application/json",
                "--data",
                &json!({ "jql": format!("project = {key}") }).to_string(),
            ],
            &format!("{site_url}/rest/api/3/search/approximate-count"),
        );
        assert_eq!(status, 200, "{text}");
        let n = serde_json::from_str::<Value>(&text).unwrap()["count"]
            .as_u64()
            .unwrap();
        out.push((key, n));
    }
    out.sort();
    out
}

#[test]
fn a_jira_backup_completes_and_restores_into_an_empty_site() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let api = Caller {
        user: format!("{}:{}", first.email, first.token),
        base: server.url(&format!(
            "/public/backup-management/v2/orgs/{}",
            first.org_id
        )),
    };
    let (email, token) = sites.account();
    let site_user = format!("{email}:{token}");
    let mut cloud_ids = Vec::new();
    for name in ["source", "target"] {
        let (url, _) = sites.site(name);
        let (status, site) = api.call(
            "POST",
            "/sites",
            Some(json!({ "cloudUrl": url, "email": email, "apiToken": token })),
        );
        assert_eq!(status, 201, "{site}");
        cloud_ids.push(site["cloudId"].as_str().unwrap().to_string());
    }
    let (status, policy) = api.call(
        "POST",
        "/policies",
        Some(json!({ "policyName": "E2E", "cloudId": cloud_ids[0], "productType": "JIRA" })),
    );
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["policyId"].as_str().unwrap();
    let (status, started) = api.call("PUT", &format!("/policies/{policy_id}/activate"), None);
    assert_eq!(status, 200, "{started}");
    let backup_id = started["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();

    let backup = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());
    assert!(
        backup["backupSize"]["dataSize"].as_u64().unwrap() > 0,
        "{backup}"
    );
    assert!(
        backup["stats"]["newBytesStored"].as_u64().unwrap() > 0,
        "{backup}"
    );
    // The last progress report is the DONE phase, not a stale earlier one.
    assert_eq!(backup["progress"]["phase"], "DONE", "{backup}");

    let (status, restore) = api.call(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup_id, "destinationCloudId": cloud_ids[1] })),
    );
    assert_eq!(status, 202, "{restore}");
    let restore_id = restore["restoreId"].as_str().unwrap();
    let restore = api.wait_until_done(&format!("/restores/{restore_id}"));
    assert_eq!(
        restore["status"],
        "COMPLETED",
        "{restore}\n{}",
        server.log()
    );
    assert_eq!(restore["progress"]["phase"], "DONE", "{restore}");

    let (source_url, _) = sites.site("source");
    let (target_url, _) = sites.site("target");
    let source = projects_and_issue_counts(&source_url, &site_user);
    assert!(
        !source.is_empty() && source.iter().any(|(_, n)| *n > 0),
        "{source:?}"
    );
    assert_eq!(projects_and_issue_counts(&target_url, &site_user), source);
    assert!(server.terminate());
}
