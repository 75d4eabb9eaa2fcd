//! Cairn's whole job over its real parts: `cairn serve` with its workers and engine, a stand-in
//! source site and an empty stand-in target (`cairn sim`), the built-in vault or S3 (SeaweedFS),
//! SQLite or PostgreSQL.
//! - A Jira backup runs to COMPLETED through the API, then a restore of it into the empty site.
//! - `cairn serve` killed with SIGKILL mid-backup and mid-restore, then started again: both finish
//!   and the target equals the source.
//! - Two nodes over one PostgreSQL and one S3 bucket: the node running a backup is killed and the
//!   other finishes it.

mod support;

use std::time::{Duration, Instant};

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
    let backup_id = start_policy_backup(
        &api,
        &api,
        json!({ "policyName": "E2E", "cloudId": cloud_ids[0], "productType": "JIRA" }),
    );

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

/// Calls a stand-in site's control path (`/__sim/...`).
fn sim(sites: &Sites, site: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (url, _) = sites.site(site);
    let (email, token) = sites.account();
    let user = format!("{email}:{token}");
    let mut args = vec!["--request", method, "--user", &user];
    let text;
    if let Some(b) = &body {
        text = b.to_string();
        args.extend(["--data", &text]);
    }
    let (status, out) = curl(&args, &format!("{url}/__sim/{path}"));
    assert_eq!(status, 200, "{method} /__sim/{path}: {out}");
    serde_json::from_str(&out).unwrap_or(Value::Null)
}

/// How the target's Jira differs from the source's (Confluence, which these tests do not
/// restore, apart).
fn jira_differences(sites: &Sites) -> Vec<Value> {
    support::jira_differences(&sites.site("source").0, &site_user(sites), "target")
}

/// Creates a policy from `body` with `creator`, activates it with `activator` (another node, or
/// the same), and returns the id of the backup the activation started.
fn start_policy_backup(creator: &Caller, activator: &Caller, body: serde_json::Value) -> String {
    let (status, policy) = creator.call("POST", "/policies", Some(body));
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["policyId"].as_str().unwrap();
    let (status, started) = activator.call("PUT", &format!("/policies/{policy_id}/activate"), None);
    assert_eq!(status, 200, "{started}");
    started["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Registers the source and the target; returns their cloud ids.
fn register_sites(api: &Caller, sites: &Sites) -> (String, String) {
    let (email, token) = sites.account();
    let mut ids = Vec::new();
    for name in ["source", "target"] {
        let (url, _) = sites.site(name);
        let (status, site) = api.call(
            "POST",
            "/sites",
            Some(json!({ "cloudUrl": url, "email": email, "apiToken": token })),
        );
        assert_eq!(status, 201, "{site}");
        ids.push(site["cloudId"].as_str().unwrap().to_string());
    }
    (ids[0].clone(), ids[1].clone())
}

/// Polls `path` until the run is IN_PROGRESS with at least `items` items done.
fn wait_for_progress(api: &Caller, path: &str, items: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, v) = api.call("GET", path, None);
        assert_eq!(status, 200, "{v}");
        let done = v["progress"]["itemsDone"].as_u64().unwrap_or(0);
        if v["status"] == "IN_PROGRESS" && done >= items {
            return v;
        }
        assert!(
            v["status"] == "CREATED" || v["status"] == "IN_PROGRESS",
            "it ended before it could be killed: {v}"
        );
        assert!(Instant::now() < deadline, "no progress: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every request to the sites waits this long, so a run lasts long enough to be killed mid-way.
fn slow_down(sites: &Sites, ms: u64) {
    for site in ["source", "target"] {
        sim(
            sites,
            site,
            "PUT",
            "faults",
            Some(json!({ "latencyMs": ms })),
        );
    }
}

#[test]
fn serve_killed_mid_backup_and_mid_restore_finishes_both_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 3\n");
    let sites = Sites::start();
    slow_down(&sites, 10);
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let api = Caller::new(&server, &first);
    let (source, target) = register_sites(&api, &sites);
    let backup_id = start_policy_backup(
        &api,
        &api,
        json!({ "policyName": "Killed", "cloudId": source, "productType": "JIRA" }),
    );
    let backup_path = format!("/backups/{backup_id}");

    let mid = wait_for_progress(&api, &backup_path, 40);
    server.kill();
    // While it ran, the progress knew how many items there were to do.
    let (done, known) = (
        mid["progress"]["itemsDone"].as_u64().unwrap(),
        mid["progress"]["itemsTotal"].as_u64().unwrap_or(0),
    );
    let issues: u64 = projects_and_issue_counts(&sites.site("source").0, &site_user(&sites))
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert!(known > done && known >= issues, "{mid} ({issues} issues)");
    let server = install.serve(&[]);
    let api = Caller::new(&server, &first);
    let backup = api.wait_until_done(&backup_path);
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());
    assert!(
        backup["stats"]["itemsChanged"].as_u64().unwrap()
            > mid["progress"]["itemsDone"].as_u64().unwrap(),
        "the resumed run went on past where it was killed: {mid} then {backup}"
    );

    let (status, restore) = api.call(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup_id, "destinationCloudId": target })),
    );
    assert_eq!(status, 202, "{restore}");
    let restore_path = format!("/restores/{}", restore["restoreId"].as_str().unwrap());
    wait_for_progress(&api, &restore_path, 30);
    server.kill();
    let half = projects_and_issue_counts(&sites.site("target").0, &site_user(&sites));
    let server = install.serve(&[]);
    let api = Caller::new(&server, &first);
    let restore = api.wait_until_done(&restore_path);
    assert_eq!(
        restore["status"],
        "COMPLETED",
        "{restore}\n{}",
        server.log()
    );
    let full = projects_and_issue_counts(&sites.site("target").0, &site_user(&sites));
    assert_ne!(half, full, "the restore was killed before its end");

    // Nothing twice, nothing missing: the target's Jira equals the source's.
    let d = jira_differences(&sites);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
    assert!(server.terminate());
}

fn site_user(sites: &Sites) -> String {
    let (email, token) = sites.account();
    format!("{email}:{token}")
}

/// The ids of the jobs a node claimed, from its log.
fn claimed(server: &support::Server, subject: &str) -> bool {
    server
        .log()
        .lines()
        .any(|l| l.contains("job claimed") && l.contains(subject))
}

#[test]
fn two_nodes_over_postgres_and_s3_share_the_jobs_and_one_finishes_what_the_other_started() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(cairn_store::testing::TestDb::postgres()) else {
        return;
    };
    let (Ok(endpoint), Ok(bucket), Ok(key), Ok(secret_key)) = (
        std::env::var("CAIRN_TEST_S3_ENDPOINT"),
        std::env::var("CAIRN_TEST_S3_BUCKET"),
        std::env::var("CAIRN_TEST_S3_ACCESS_KEY_ID"),
        std::env::var("CAIRN_TEST_S3_SECRET_ACCESS_KEY"),
    ) else {
        assert!(
            std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "CAIRN_TEST_S3_* not set but CAIRN_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("skipping: no S3 test server (scripts/test-services.sh start)");
        return;
    };
    // Every node holds the same server secret (it seals site tokens and keys the vault).
    let secret = {
        use std::io::Read;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut bytes)
            .unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let env = [("CAIRN_SECRET", secret.as_str())];
    let config = "[management]\nscheduler_tick_secs = 1\njob_lease_secs = 3\n";
    let dir = tempfile::tempdir().unwrap();
    let node = |name: &str| {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let mut install = Install::new(&home).with_config(config);
        install.database_url = Some(db.url.clone());
        install
    };
    let (a, b) = (node("a"), node("b"));
    let sites = Sites::start();
    slow_down(&sites, 10);
    let server_a = a.serve(&env);
    let first = server_a.first_start.clone().unwrap();
    let server_b = b.serve(&env);
    assert!(
        server_b.first_start.is_none(),
        "one installation, two nodes"
    );
    let api_a = Caller::new(&server_a, &first);
    let api_b = Caller::new(&server_b, &first);

    let prefix = format!("two-nodes-{}", &secret[..12]);
    let (status, storage) = api_a.call(
        "POST",
        "/storages",
        Some(json!({
            "storageName": bucket, "storageRegion": "us-east-1", "storagePrefix": prefix,
            "endpoint": endpoint, "accessKeyId": key, "secretAccessKey": secret_key,
        })),
    );
    assert_eq!(status, 201, "{storage}");
    let (source, target) = register_sites(&api_b, &sites);
    let backup_id = start_policy_backup(
        &api_b,
        &api_a,
        json!({
            "policyName": "Two nodes", "cloudId": source, "productType": "JIRA",
            "storageId": storage["storageId"],
        }),
    );
    let backup_path = format!("/backups/{backup_id}");

    wait_for_progress(&api_a, &backup_path, 40);
    // Kill whichever node runs the backup; the other takes it over once the lease lapses.
    let (runner, survivor, api) = if claimed(&server_a, &backup_id) {
        (server_a, server_b, api_b)
    } else {
        (server_b, server_a, api_a)
    };
    assert!(claimed(&runner, &backup_id), "one node claimed the backup");
    runner.kill();
    let backup = api.wait_until_done(&backup_path);
    assert_eq!(
        backup["status"],
        "COMPLETED",
        "{backup}\n{}",
        survivor.log()
    );
    assert!(
        claimed(&survivor, &backup_id),
        "the surviving node finished the job the other had started"
    );
    assert_eq!(backup["storageId"], storage["storageId"], "{backup}");

    // The backup in S3 restores into the empty site.
    let (status, restore) = api.call(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup_id, "destinationCloudId": target })),
    );
    assert_eq!(status, 202, "{restore}");
    let restore_path = format!("/restores/{}", restore["restoreId"].as_str().unwrap());
    let restore = api.wait_until_done(&restore_path);
    assert_eq!(
        restore["status"],
        "COMPLETED",
        "{restore}\n{}",
        survivor.log()
    );
    let d = jira_differences(&sites);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
    assert!(survivor.terminate());
}

/// `cairn backup run --wait` and `cairn restore create --wait` follow the run (beside a live
/// server whose workers run it) and print its final state: the API's JSON with `--json`.
#[test]
fn the_cli_waits_for_a_backup_and_a_restore_and_prints_how_they_ended() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let api = Caller::new(&server, &first);
    let (source, target) = register_sites(&api, &sites);
    let (status, policy) = api.call(
        "POST",
        "/policies",
        Some(json!({ "policyName": "CLI", "cloudId": source, "productType": "JIRA" })),
    );
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["policyId"].as_str().unwrap();

    let backup = install.cli_json(&["backup", "run", "--policy", policy_id, "--wait"]);
    assert_eq!(backup["status"], "COMPLETED", "{backup}");
    assert_eq!(backup["progress"]["phase"], "DONE", "{backup}");
    let backup_id = backup["backupId"].as_str().unwrap();
    let restore = install.cli_json(&[
        "restore",
        "create",
        "--backup",
        backup_id,
        "--destination",
        &target,
        "--wait",
    ]);
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    assert!(
        restore["result"]["created"]["issue"].as_u64().unwrap() > 0,
        "{restore}"
    );
    let d = jira_differences(&sites);
    assert!(d.is_empty(), "{} differences", d.len());
    assert!(server.terminate());
}

/// The ids of the snapshots in the built-in vault of `org_id`'s storage `storage_id`, read with
/// `cairn vault snapshots` and the key the engine derives from the server secret.
fn vault_snapshot_ids(install: &Install, secret: &str, org_id: &str, storage_id: &str) -> String {
    let secret = cairn_control::secret::ServerSecret::from_hex(secret).unwrap();
    let cairn_vault::KeySource::Raw(key) = cairn_engine::storage::vault_key(&secret, storage_id)
    else {
        panic!("the engine's vault key is a raw key");
    };
    let key_file = install.data_dir.with_file_name("vault-key");
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&key_file, hex).unwrap();
    let repo = install.data_dir.join("vaults").join(org_id);
    let out = std::process::Command::new(support::BIN)
        .args(["vault", "snapshots", "--json", "--repo"])
        .arg(&repo)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cairn vault snapshots: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// ARCHITECTURE.md (cairn-engine): a collect forgets an expired backup's snapshot. A real backup
/// of a stand-in, expired by the scheduler, then collected by a worker: its snapshot is gone from
/// the vault.
#[test]
fn an_expired_backups_snapshot_is_collected_by_the_engine() {
    const SECRET: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let sites = Sites::tiny();
    let server = install.serve(&[("CAIRN_SECRET", SECRET)]);
    let first = server.first_start.clone().unwrap();
    let api = Caller::new(&server, &first);
    let (source, _) = register_sites(&api, &sites);
    let backup_id = start_policy_backup(
        &api,
        &api,
        json!({ "policyName": "Expiring", "cloudId": source, "productType": "JIRA" }),
    );
    let backup = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());
    let storage_id = backup["storageId"].as_str().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = support::database_url(&install);
    let snapshot = rt.block_on(async {
        use cairn_store::RunStore;
        let store = cairn_store::SqlStore::connect(&db, 2).await.unwrap();
        let b = store.get_backup_by_id(&backup_id).await.unwrap().unwrap();
        store.close().await;
        b.snapshot_id.expect("a completed backup has a snapshot")
    });
    let listed = vault_snapshot_ids(&install, SECRET, &first.org_id, &storage_id);
    assert!(
        listed.contains(&snapshot),
        "{snapshot} not in the vault: {listed}"
    );

    // Its retention ends now (through the store: a policy's retention is whole days).
    rt.block_on(async {
        use cairn_store::RunStore;
        let store = cairn_store::SqlStore::connect(&db, 2).await.unwrap();
        let mut b = store.get_backup_by_id(&backup_id).await.unwrap().unwrap();
        b.expiry_at = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
        store.update_backup(&b).await.unwrap();
        store.close().await;
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, b) = api.call("GET", &format!("/backups/{backup_id}"), None);
        assert_eq!(status, 200, "{b}");
        let listed = vault_snapshot_ids(&install, SECRET, &first.org_id, &storage_id);
        if b["status"] == "EXPIRED" && !listed.contains(&snapshot) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot of an expired backup is still in the vault ({}): {listed}\n{}",
            b["status"],
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(server.terminate());
}
