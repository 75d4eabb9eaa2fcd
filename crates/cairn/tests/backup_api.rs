//! The Backup Management API end to end, driven with curl exactly as Atlassian's documentation
//! shows calls (`--user email:token`, `Content-Type: application/json`), against the real binary
//! and real stand-in sites (`cairn sim`), on SQLite and on PostgreSQL.
//!
//! Every response is checked field by field: against the spec's field lists (names, types, enum
//! literals, timestamp format) and against the schema of the OpenAPI document the server serves.
//!
//! The node under test runs no jobs, so runs stay where the rules put them; where a test needs a
//! finished backup, a second node with workers runs it with the real engine against the stand-in
//! (`support::complete_backup`), so restores and rule 5 meet real snapshots.

mod support;

use cairn_store::{RunStore, SqlStore};
use serde_json::{Value, json};
use support::{Install, Server, Sites, complete_backup, curl, database_url};

/// A caller of the API with curl, as Atlassian's documentation writes it.
struct Api {
    base: String,
    user: String,
    org: String,
    openapi: Value,
}

impl Api {
    fn new(server: &Server) -> Api {
        let first = server.first_start.clone().expect("first start");
        let (status, doc) = curl(
            &[],
            &server.url("/public/backup-management/v2/openapi.json"),
        );
        assert_eq!(status, 200);
        Api {
            base: server.base_url.clone(),
            user: format!("{}:{}", first.email, first.token),
            org: first.org_id,
            openapi: serde_json::from_str(&doc).unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/public/backup-management/v2/orgs/{}{path}",
            self.base, self.org
        )
    }

    /// Runs the queued backup to COMPLETED on a worker node of `install` (the real engine).
    fn complete(&self, install: &Install, backup_id: &str) -> Value {
        complete_backup(install, &self.user, &self.org, backup_id)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut args = vec![
            "--request".to_string(),
            method.to_string(),
            "--user".to_string(),
            self.user.clone(),
            "--header".to_string(),
            "Accept: application/json".to_string(),
        ];
        if let Some(body) = body {
            args.extend([
                "--header".to_string(),
                "Content-Type: application/json".to_string(),
                "--data".to_string(),
                body.to_string(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, text) = curl(&args, &self.url(path));
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, value)
    }

    /// Calls and asserts the status; checks the body against the named OpenAPI schema.
    fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
        schema: &str,
    ) -> Value {
        let (got, value) = self.call(method, path, body.as_ref());
        assert_eq!(got, status, "{method} {path} -> {got}: {value}");
        self.conforms(&value, schema);
        value
    }

    /// A 409 whose message names the rule.
    fn expect_conflict(&self, method: &str, path: &str, body: Option<Value>, rule: &str) -> Value {
        let value = self.expect(method, path, body, 409, "ErrorBody");
        let message = value["message"].as_str().unwrap();
        assert!(
            message.contains(rule),
            "409 message should name {rule:?}: {message}"
        );
        value
    }

    fn conforms(&self, value: &Value, schema: &str) {
        let errors = self.violations(value, schema);
        assert!(errors.is_empty(), "{schema} violated: {errors:?}\n{value}");
    }

    fn violations(&self, value: &Value, schema: &str) -> Vec<String> {
        let wrapper = json!({
            "$ref": format!("#/components/schemas/{schema}"),
            "components": self.openapi["components"],
        });
        let validator = jsonschema::validator_for(&wrapper).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        errors
    }
}

fn assert_timestamp(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    // RFC 3339 UTC with milliseconds: 2026-11-27T17:31:35.123Z
    assert!(
        s.len() == 24 && s.ends_with('Z') && &s[10..11] == "T" && &s[19..20] == ".",
        "{what} = {s:?}"
    );
}

fn assert_fields(v: &Value, fields: &[&str], what: &str) {
    for f in fields {
        assert!(v.get(f).is_some(), "{what} lacks {f}: {v}");
    }
}

/// The spec's fields of a backup (2.1), their types and literals.
fn assert_backup_shape(b: &Value) {
    assert_fields(
        b,
        &[
            "backupId",
            "name",
            "cloudId",
            "product",
            "status",
            "statusMessage",
            "accountId",
            "expiryTime",
            "selections",
            "backupSize",
            "createdAt",
            "lastUpdatedAt",
            "storageId",
            "encryptionType",
            "policyId",
            "progress",
            "stats",
        ],
        "backup",
    );
    assert_fields(
        &b["backupSize"],
        &[
            "usersSize",
            "dataSize",
            "attachmentsSize",
            "totalBackupSizeInGB",
        ],
        "backupSize",
    );
    assert!(["JIRA", "CONFLUENCE"].contains(&b["product"].as_str().unwrap()));
    assert!(
        [
            "CREATED",
            "IN_PROGRESS",
            "COMPLETED",
            "INCOMPLETE",
            "FAILED",
            "EXPIRED",
            "CANCELLED"
        ]
        .contains(&b["status"].as_str().unwrap())
    );
    assert!(
        ["SERVICE_MANAGED", "CUSTOMER_MANAGED"].contains(&b["encryptionType"].as_str().unwrap())
    );
    for t in ["expiryTime", "createdAt", "lastUpdatedAt"] {
        assert_timestamp(&b[t], t);
    }
    for s in b["selections"].as_array().unwrap() {
        assert!(["USERS", "ATTACHMENTS", "PERSONAL_SPACES"].contains(&s.as_str().unwrap()));
    }
}

/// The spec's fields of a policy (2.2).
fn assert_policy_shape(p: &Value) {
    assert_fields(
        p,
        &[
            "policyId",
            "policyName",
            "cloudInfo",
            "productType",
            "status",
            "includeAttachments",
            "includePersonalSpaces",
            "includeUsersAndGroups",
            "details",
            "createdAt",
            "createdBy",
            "retentionDays",
        ],
        "policy",
    );
    assert_fields(
        &p["cloudInfo"],
        &["cloudId", "cloudUrl", "cloudName", "encryptionType"],
        "cloudInfo",
    );
    assert!(["ACTIVE", "INACTIVE"].contains(&p["status"].as_str().unwrap()));
    assert!(p["includeAttachments"].is_boolean() && p["includeUsersAndGroups"].is_boolean());
    assert_timestamp(&p["createdAt"], "createdAt");
}

/// No workers on these nodes: the tests check the API's rules on runs that stay as they put them;
/// backups that must finish run on a worker node (`Api::complete`).
const CONFIG: &str = "[management]\nscheduler_tick_secs = 1\nworker_concurrency = 0\n";

fn register(api: &Api, sites: &Sites, name: &str) -> Value {
    let (url, cloud_id) = sites.site(name);
    let (email, token) = sites.account();
    let site = api.expect(
        "POST",
        "/sites",
        Some(json!({ "cloudUrl": url, "email": email, "apiToken": token })),
        201,
        "PublicApiSiteV2",
    );
    assert_eq!(site["cloudId"], cloud_id.as_str());
    site
}

/// The scripted flow of issue 5: register a site, create a policy, activate it, read it with
/// details, list backups with paging, create a restore.
async fn scripted_flow(install: Install) {
    let install = install.with_config(CONFIG);
    let sites = Sites::tiny();
    let server = install.serve(&[]);
    let api = Api::new(&server);
    // The shape check can fail: a wrong type, a missing field and a bad literal are caught.
    assert!(
        !api.violations(
            &json!({ "backups": [{ "backupId": 1 }], "totalItems": 1 }),
            "PublicApiBackupV2Response"
        )
        .is_empty()
    );
    assert!(
        !api.violations(&json!({ "backups": [] }), "PublicApiBackupV2Response")
            .is_empty()
    );
    assert!(!api.violations(&json!("JIRA_CLOUD"), "Product").is_empty());

    // Register the source and the (empty) target; the token is checked against the site.
    let (url, _) = sites.site("source");
    let (email, _) = sites.account();
    let bad = api.expect(
        "POST",
        "/sites",
        Some(json!({ "cloudUrl": url, "email": email, "apiToken": "wrong-token" })),
        400,
        "ErrorBody",
    );
    assert_eq!(bad["errors"][0]["field"], "apiToken");
    let source = register(&api, &sites, "source");
    let products: Vec<&str> = source["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["productType"].as_str().unwrap())
        .collect();
    assert_eq!(products, ["JIRA", "CONFLUENCE"]);
    assert!(source["products"][0]["isEmpty"] == false);
    let target = register(&api, &sites, "target");
    assert!(target["products"][0]["isEmpty"] == true);
    let cloud_id = source["cloudId"].as_str().unwrap();
    let (_, site_token) = sites.account();
    let listed = api.expect("GET", "/sites", None, 200, "PublicApiSiteListV2Response");
    assert_eq!(listed["totalItems"], 2);
    assert!(
        !listed.to_string().contains(&site_token),
        "a site's API token must never be returned"
    );

    // Create a policy with a daily schedule and read back what the spec says it holds.
    let created = api.expect(
        "POST",
        "/policies",
        Some(json!({
            "policyName": "Nightly Jira",
            "cloudId": cloud_id,
            "productType": "JIRA",
            "includeAttachments": true,
            "scheduleDetails": { "interval": "DAILY", "startDate": "2026-01-01" },
            "retentionDays": 14,
            "someFieldCairnDoesNotKnow": 1
        })),
        201,
        "PublicApiGetBackupPolicyV2Response",
    );
    assert_policy_shape(&created);
    assert_eq!(created["status"], "INACTIVE");
    assert_eq!(created["retentionDays"], 14);
    let slot = created["details"]["scheduleDetails"]["scheduleSlot"]
        .as_str()
        .unwrap();
    assert!(slot.len() == 5 && &slot[2..3] == ":", "{slot}");
    let policy_id = created["policyId"].as_str().unwrap().to_string();

    // A policy with no schedule: activation starts its backup at once.
    let on_demand = api.expect(
        "POST",
        "/policies",
        Some(
            json!({ "policyName": "On demand", "cloudId": cloud_id, "productType": "CONFLUENCE" }),
        ),
        201,
        "PublicApiGetBackupPolicyV2Response",
    );
    let on_demand_id = on_demand["policyId"].as_str().unwrap().to_string();
    let activated = api.expect(
        "PUT",
        &format!("/policies/{on_demand_id}/activate"),
        None,
        200,
        "PublicApiBackupV2Response",
    );
    assert_eq!(activated["totalItems"], 1);
    let first_backup = &activated["backups"][0];
    assert_backup_shape(first_backup);
    assert_eq!(first_backup["status"], "CREATED");
    assert_eq!(first_backup["product"], "CONFLUENCE");
    assert_eq!(first_backup["policyId"], on_demand_id.as_str());
    // The worker nodes below run only the backups this test finishes.
    let first_backup_id = first_backup["backupId"].as_str().unwrap();
    let cancelled = api.expect(
        "POST",
        &format!("/backups/{first_backup_id}/cancel"),
        None,
        200,
        "PublicApiBackupV2",
    );
    assert_eq!(cancelled["status"], "CANCELLED");

    // The daily policy's next run is not due yet (slot later today or tomorrow): activation
    // starts nothing unless the slot has just passed.
    let activated = api.expect(
        "PUT",
        &format!("/policies/{policy_id}/activate"),
        None,
        200,
        "PublicApiBackupV2Response",
    );
    assert!(activated["totalItems"].as_u64().unwrap() <= 1);
    let jira_backup = match activated["backups"].as_array().unwrap().first() {
        Some(b) => b.clone(),
        None => api.expect(
            "POST",
            &format!("/policies/{policy_id}/backups"),
            None,
            202,
            "PublicApiBackupV2",
        ),
    };
    assert_backup_shape(&jira_backup);
    let jira_backup_id = jira_backup["backupId"].as_str().unwrap().to_string();

    let detailed = api.expect(
        "GET",
        &format!("/policies/{policy_id}?storageDetails=true&backupDetails=true"),
        None,
        200,
        "PublicApiGetBackupPolicyV2Response",
    );
    assert_policy_shape(&detailed);
    assert_eq!(detailed["status"], "ACTIVE");
    assert!(detailed["details"]["storageId"].is_string());
    assert_eq!(
        detailed["details"]["backupDetails"]["totalAvailableBackups"],
        0
    );
    assert!(detailed["details"]["backupDetails"]["lastBackupTime"].is_null());
    let plain = api.expect(
        "GET",
        &format!("/policies/{policy_id}"),
        None,
        200,
        "PublicApiGetBackupPolicyV2Response",
    );
    assert!(plain["details"].get("storageId").is_none());
    assert!(plain["details"].get("backupDetails").is_none());

    // The engine runs the backup (on a worker node), then the details reflect a finished backup.
    api.complete(&install, &jira_backup_id);
    let done = api.expect(
        "GET",
        &format!("/backups/{jira_backup_id}"),
        None,
        200,
        "PublicApiBackupV2",
    );
    assert_eq!(done["status"], "COMPLETED");
    // The total is the sizes' sum in whole GB, rounded up.
    let size = &done["backupSize"];
    let sum: u64 = ["usersSize", "dataSize", "attachmentsSize"]
        .iter()
        .map(|k| size[k].as_u64().unwrap())
        .sum();
    assert!(
        size["dataSize"].as_u64().unwrap() > 0 && size["attachmentsSize"].as_u64().unwrap() > 0,
        "{done}"
    );
    assert_eq!(size["totalBackupSizeInGB"], sum.div_ceil(1_000_000_000));
    let detailed = api.expect(
        "GET",
        &format!("/policies/{policy_id}?backupDetails=true"),
        None,
        200,
        "PublicApiGetBackupPolicyV2Response",
    );
    assert_eq!(
        detailed["details"]["backupDetails"]["totalAvailableBackups"],
        1
    );
    assert_timestamp(
        &detailed["details"]["backupDetails"]["lastBackupTime"],
        "lastBackupTime",
    );

    // Three more backups of the daily policy, so paging has something to walk.
    let mut ids = vec![jira_backup_id.clone()];
    for _ in 0..3 {
        let b = api.expect(
            "POST",
            &format!("/policies/{policy_id}/backups"),
            None,
            202,
            "PublicApiBackupV2",
        );
        let id = b["backupId"].as_str().unwrap().to_string();
        api.complete(&install, &id);
        ids.push(id);
    }
    // start is the page index; every item once, in order, with the total of all.
    for (order, expected) in [
        ("ASC", ids.clone()),
        ("DESC", ids.iter().rev().cloned().collect()),
    ] {
        let mut seen = Vec::new();
        for start in 0..3 {
            let page = api.expect(
                "GET",
                &format!("/backups?cloudId={cloud_id}&product=JIRA&start={start}&pageSize=2&sortOrder={order}"),
                None,
                200,
                "PublicApiBackupV2Response",
            );
            assert_eq!(page["totalItems"], 4, "{order} {start}");
            for b in page["backups"].as_array().unwrap() {
                assert_backup_shape(b);
                seen.push(b["backupId"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(seen, expected, "{order}");
    }
    let bad = api.expect("GET", "/backups?pageSize=0", None, 400, "ErrorBody");
    assert_eq!(bad["errors"][0]["field"], "pageSize");
    let bad = api.expect("GET", "/backups?status=done", None, 400, "ErrorBody");
    assert_eq!(bad["errors"][0]["field"], "status");

    // A restore of the finished backup into the empty target.
    let restore = api.expect(
        "POST",
        "/restores",
        Some(json!({
            "backupId": jira_backup_id,
            "destinationCloudId": target["cloudId"],
            "includeAttachments": true
        })),
        202,
        "PublicApiRestoreV2",
    );
    assert_fields(
        &restore,
        &[
            "restoreId",
            "backupId",
            "sourceCloudId",
            "destinationCloudId",
            "product",
            "status",
            "statusMessage",
            "accountId",
            "selections",
            "createdAt",
            "lastUpdatedAt",
            "progress",
            "result",
        ],
        "restore",
    );
    assert_eq!(restore["status"], "CREATED");
    assert_eq!(restore["sourceCloudId"], cloud_id);
    let restore_id = restore["restoreId"].as_str().unwrap();
    let listed = api.expect(
        "GET",
        &format!(
            "/restores?destinationCloudId={}&status=CREATED",
            target["cloudId"].as_str().unwrap()
        ),
        None,
        200,
        "PublicApiRestoreListV2Response",
    );
    assert_eq!(listed["totalItems"], 1);
    assert_eq!(listed["restores"][0]["restoreId"], restore_id);

    // Every mutating call is in the audit log.
    let audit = api.expect(
        "GET",
        "/audit-events?pageSize=100",
        None,
        200,
        "AuditEventsResponse",
    );
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "site.register",
        "policy.create",
        "policy.activate",
        "backup.run",
        "restore.create",
    ] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }

    // v1 serves the same operations with deprecation headers.
    let v1 = server.url(&format!(
        "/public/backup-management/v1/orgs/{}/policies/{policy_id}",
        api.org
    ));
    let (status, with_headers) = curl(&["--user", &api.user, "--include"], &v1);
    assert_eq!(status, 200);
    let lower = with_headers.to_lowercase();
    assert!(lower.contains("deprecation: true"), "{with_headers}");
    assert!(
        lower.contains("rel=\"successor-version\""),
        "{with_headers}"
    );
    assert!(server.terminate());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_flow_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scripted_flow(Install::new(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_flow_on_postgres() {
    let Some(db) = cairn_store::testing::TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut install = Install::new(dir.path());
    install.database_url = Some(db.url.clone());
    scripted_flow(install).await;
}

/// Every rule of spec section 4 meets its 409 with a message naming the rule, and the action
/// succeeds once the rule no longer applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_answers_409_and_yields_once_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path()).with_config(CONFIG);
    let sites = Sites::tiny();
    let server = install.serve(&[]);
    let api = Api::new(&server);
    let db = database_url(&install);
    let source = register(&api, &sites, "source");
    let cloud_id = source["cloudId"].as_str().unwrap().to_string();
    let (_, target_cloud_id) = sites.site("target");
    let new_policy = |name: &str| {
        api.expect(
            "POST",
            "/policies",
            Some(json!({ "policyName": name, "cloudId": cloud_id, "productType": "JIRA" })),
            201,
            "PublicApiGetBackupPolicyV2Response",
        )["policyId"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Rule 2: one ACTIVE policy per site, product and storage.
    let first = new_policy("First");
    let second = new_policy("Second");
    let started = api.expect(
        "PUT",
        &format!("/policies/{first}/activate"),
        None,
        200,
        "PublicApiBackupV2Response",
    );
    let first_backup = started["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    api.expect_conflict(
        "PUT",
        &format!("/policies/{second}/activate"),
        None,
        "rule 2",
    );

    // Rule 9: an ACTIVE policy cannot be deleted; one with a backup in flight neither.
    api.expect_conflict("DELETE", &format!("/policies/{first}"), None, "rule 9");
    api.expect(
        "PUT",
        &format!("/policies/{first}/deactivate"),
        None,
        200,
        "PublicApiGetBackupPolicyV2Response",
    );
    api.expect_conflict("DELETE", &format!("/policies/{first}"), None, "rule 9");

    // Rule 3: one backup or restore in flight per site and product.
    api.expect_conflict(
        "POST",
        &format!("/policies/{second}/backups"),
        None,
        "rule 3",
    );
    let cancelled = api.expect(
        "POST",
        &format!("/backups/{first_backup}/cancel"),
        None,
        200,
        "PublicApiBackupV2",
    );
    assert_eq!(cancelled["status"], "CANCELLED");
    // Lifted: the site is free again, and the first policy has nothing in flight.
    let (status, _) = api.call("DELETE", &format!("/policies/{first}"), None);
    assert_eq!(status, 204);
    // ...and rule 2 is lifted too now that First is gone.
    let started = api.expect(
        "PUT",
        &format!("/policies/{second}/activate"),
        None,
        200,
        "PublicApiBackupV2Response",
    );
    let backup = started["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();

    // Only finished backups can be restored.
    api.expect_conflict(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup, "destinationCloudId": target_cloud_id })),
        "COMPLETED or INCOMPLETE",
    );
    api.complete(&install, &backup);

    // Rule 7: the destination must be a site of this org...
    api.expect_conflict(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup, "destinationCloudId": target_cloud_id })),
        "rule 7",
    );
    register(&api, &sites, "target");
    // ...and a Jira destination must be empty: the source itself has projects.
    api.expect_conflict(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup, "destinationCloudId": cloud_id })),
        "must be empty (rule 7)",
    );
    // Into the empty target it is accepted.
    let (status, body) = api.call(
        "POST",
        "/restores",
        Some(&json!({ "backupId": backup, "destinationCloudId": target_cloud_id })),
    );
    assert_eq!(status, 202, "{body}");
    let restore_id = body["restoreId"].as_str().unwrap().to_string();

    // Rule 3 again: the restore holds the target's Jira.
    api.expect_conflict(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup, "destinationCloudId": target_cloud_id })),
        "rule 3",
    );
    api.expect(
        "POST",
        &format!("/restores/{restore_id}/cancel"),
        None,
        200,
        "PublicApiRestoreV2",
    );

    // Rule 5: an expired backup cannot be restored. Let the scheduler expire it.
    {
        let store = SqlStore::connect(&db, 2).await.unwrap();
        let mut b = store.get_backup_by_id(&backup).await.unwrap().unwrap();
        b.expiry_at = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
        store.update_backup(&b).await.unwrap();
        store.close().await;
    }
    let mut status = String::new();
    for _ in 0..100 {
        let b = api.expect(
            "GET",
            &format!("/backups/{backup}"),
            None,
            200,
            "PublicApiBackupV2",
        );
        status = b["status"].as_str().unwrap().to_string();
        if status == "EXPIRED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "EXPIRED", "the scheduler should expire the backup");
    api.expect_conflict(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup, "destinationCloudId": target_cloud_id })),
        "rule 5",
    );
    // A backup that has not expired restores.
    let fresh = api.expect(
        "POST",
        &format!("/policies/{second}/backups"),
        None,
        202,
        "PublicApiBackupV2",
    );
    let fresh = fresh["backupId"].as_str().unwrap().to_string();
    api.complete(&install, &fresh);
    api.expect(
        "POST",
        "/restores",
        Some(json!({ "backupId": fresh, "destinationCloudId": target_cloud_id })),
        202,
        "PublicApiRestoreV2",
    );

    // A site with policies cannot be removed.
    api.expect_conflict(
        "DELETE",
        &format!("/sites/{cloud_id}"),
        None,
        "policy uses this site",
    );
    assert!(server.terminate());
}

/// Rule 4 (minimum interval between complete backups) is off by default; when set, a backup too
/// soon after a complete one is refused, and the same backup is accepted once the setting allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimum_interval_between_backups() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config(
            "[management]\nscheduler_tick_secs = 1\nmin_backup_interval_hours = 24\nworker_concurrency = 0\n",
        );
    let sites = Sites::tiny();
    let server = install.serve(&[]);
    let api = Api::new(&server);
    let source = register(&api, &sites, "source");
    let policy = api.expect(
        "POST",
        "/policies",
        Some(json!({ "policyName": "P", "cloudId": source["cloudId"], "productType": "JIRA" })),
        201,
        "PublicApiGetBackupPolicyV2Response",
    );
    let policy = policy["policyId"].as_str().unwrap().to_string();
    let b = api.expect(
        "POST",
        &format!("/policies/{policy}/backups"),
        None,
        202,
        "PublicApiBackupV2",
    );
    api.complete(&install, b["backupId"].as_str().unwrap());
    api.expect_conflict(
        "POST",
        &format!("/policies/{policy}/backups"),
        None,
        "rule 4",
    );
    assert!(server.terminate());

    // The operator lifts the rule: the same request succeeds.
    let install = install.with_config("[management]\nscheduler_tick_secs = 1\n");
    let server = install.serve(&[]);
    let api = Api {
        base: server.base_url.clone(),
        ..api
    };
    api.expect(
        "POST",
        &format!("/policies/{policy}/backups"),
        None,
        202,
        "PublicApiBackupV2",
    );
    assert!(server.terminate());
}

/// An external S3 storage is connected only after Cairn writes, reads and deletes a probe object
/// in it (here SeaweedFS); wrong keys are refused and nothing is saved. The secret never returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_storage_connects_only_after_the_probe_object_round_trip() {
    let (Ok(endpoint), Ok(bucket), Ok(key), Ok(secret)) = (
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
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path()).with_config(CONFIG);
    let server = install.serve(&[]);
    let api = Api::new(&server);
    let body = |secret: &str| {
        json!({
            "storageName": bucket, "storageRegion": "us-east-1", "storagePrefix": "api-test",
            "endpoint": endpoint, "accessKeyId": key, "secretAccessKey": secret,
        })
    };
    let refused = api.expect(
        "POST",
        "/storages",
        Some(body("not-the-secret")),
        400,
        "ErrorBody",
    );
    assert_eq!(refused["errors"][0]["field"], "storageName", "{refused}");
    let storage = api.expect(
        "POST",
        "/storages",
        Some(body(&secret)),
        201,
        "PublicApiStorageV2",
    );
    assert_eq!(storage["storageType"], "S3");
    assert_eq!(storage["status"], "CONNECTED");
    let listed = api.expect(
        "GET",
        "/storages",
        None,
        200,
        "PublicApiStorageListV2Response",
    );
    assert_eq!(
        listed["totalItems"], 2,
        "the built-in storage and the new one: {listed}"
    );
    assert!(
        !listed.to_string().contains(&secret),
        "the secret key is never returned"
    );
    assert!(
        !server.log().contains(&secret),
        "the secret key is never logged"
    );
    assert!(server.terminate());
}
