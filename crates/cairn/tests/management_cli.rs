//! `cairn site|policy|backup|restore`: the real binary against a running server's data directory
//! and `cairn sim` stand-ins for the sites. Their `--json` is compared with what the server's HTTP
//! API answers for the same records, so the two shapes cannot drift apart.
//!
//! The server under test runs no jobs, so runs stay as the commands leave them; where a restore
//! needs a COMPLETED backup, a second node with workers runs it with the real engine
//! (`support::complete_backup`).

mod support;

use std::process::Output;

use serde_json::Value;
use support::{FirstStart, Install, Server, Sites, complete_backup, curl};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the command failed with one line on stderr, nothing on stdout, and returns the line.
fn one_line_error(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure; stdout: {}",
        stdout(out)
    );
    assert!(
        out.stdout.is_empty(),
        "a failure printed to stdout: {}",
        stdout(out)
    );
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err.trim_end().to_string()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", stderr(out));
    stdout(out)
}

/// `GET` on the server's v2 API with the first start's token, parsed.
fn api_get(server: &Server, first: &FirstStart, path: &str) -> Value {
    let url = server.url(&format!(
        "/public/backup-management/v2/orgs/{}/{path}",
        first.org_id
    ));
    let (status, body) = curl(
        &["--user", &format!("{}:{}", first.email, first.token)],
        &url,
    );
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_flow_against_a_running_server_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    cli_flow(Install::new(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_flow_against_a_running_server_on_postgres() {
    let Some(db) = cairn_store::testing::TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut install = Install::new(dir.path());
    install.database_url = Some(db.url.clone());
    cli_flow(install).await;
}

/// Sites, policies, backups and restores through the CLI, beside a running server on the same
/// store; every `--json` compared with the server's answer for the same record.
async fn cli_flow(install: Install) {
    // This node runs no jobs: runs stay as the commands leave them until a worker node runs one.
    let install = install.with_config("[management]\nworker_concurrency = 0\n");
    let dir = install.data_dir.parent().unwrap().to_path_buf();
    let sites = Sites::tiny();
    let (email, token) = sites.account();
    let (source_url, source_id) = sites.site("source");
    let (target_url, target_id) = sites.site("target");
    let server = install.serve(&[]);
    let first = server.first_start.clone().expect("first start block");

    // A wrong token is refused by the site, in one line, and nothing is saved.
    let out = install.cli_with(
        &["site", "add", "--url", &source_url, "--email", &email],
        &[("CAIRN_SITE_API_TOKEN", "ATATT3xNotTheToken")],
        None,
    );
    let err = one_line_error(&out);
    assert!(err.contains("refused this email and API token"), "{err}");
    assert_eq!(install.cli_json(&["site", "list"])["totalItems"], 0);

    // The token from a file, from the environment, and from standard input.
    let token_file = dir.join("site-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let added = ok(&install.cli(&[
        "site",
        "add",
        "--url",
        &source_url,
        "--email",
        &email,
        "--name",
        "source",
        "--api-token-file",
        token_file.to_str().unwrap(),
    ]));
    assert!(added.contains(&source_id), "{added}");
    let out = install.cli_with(
        &[
            "site",
            "add",
            "--url",
            &target_url,
            "--email",
            &email,
            "--name",
            "target",
            "--json",
        ],
        &[],
        Some(format!("{token}\n").as_bytes()),
    );
    let target_json: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(target_json["cloudId"], target_id);
    assert!(
        target_json["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["isEmpty"] == true),
        "{target_json}"
    );
    // Registering the same site again names the conflict.
    let out = install.cli_with(
        &["site", "add", "--url", &source_url, "--email", &email],
        &[("CAIRN_SITE_API_TOKEN", &token)],
        None,
    );
    assert!(one_line_error(&out).contains("already registered"));

    // `site list --json` is the API's PublicApiSiteListV2Response, field for field.
    let sites = install.cli_json(&["site", "list"]);
    assert_eq!(sites["totalItems"], 2);
    for site in sites["sites"].as_array().unwrap() {
        for field in [
            "cloudId",
            "cloudUrl",
            "cloudName",
            "encryptionType",
            "products",
            "email",
            "createdAt",
        ] {
            assert!(site.get(field).is_some(), "{field} missing: {site}");
        }
        for product in site["products"].as_array().unwrap() {
            assert!(product["productType"].is_string() && product["isEmpty"].is_boolean());
        }
    }
    assert_eq!(sites, api_get(&server, &first, "sites"));
    // The site's API token is never printed back.
    for args in [
        vec!["site", "list"],
        vec!["site", "list", "--json"],
        vec!["site", "show", &source_id],
        vec!["site", "show", &source_id, "--json"],
    ] {
        let shown = ok(&install.cli(&args));
        assert!(!shown.contains(&token), "{args:?} printed the token");
        assert!(shown.contains(&source_id), "{args:?}: {shown}");
    }
    assert!(!added.contains(&token), "site add printed the token");
    let table = ok(&install.cli(&["site", "list"]));
    assert!(
        table.contains("JIRA (empty), CONFLUENCE (empty)") && table.contains("source"),
        "{table}"
    );

    // A policy, created INACTIVE; list and show agree with the API.
    let policy = install.cli_json(&[
        "policy",
        "create",
        "--name",
        "jira nightly",
        "--site",
        &source_id,
        "--product",
        "jira",
    ]);
    let policy_id = policy["policyId"].as_str().unwrap().to_string();
    assert_eq!(policy["status"], "INACTIVE");
    assert_eq!(policy["productType"], "JIRA");
    assert!(policy["details"]["storageId"].is_string(), "{policy}");
    // The policy went to the organization's built-in storage, as `storage list` shows.
    let storages = install.cli_json(&["storage", "list"]);
    assert_eq!(storages, api_get(&server, &first, "storages"));
    assert_eq!(storages["storages"][0]["storageType"], "BUILTIN");
    assert_eq!(
        storages["storages"][0]["storageId"],
        policy["details"]["storageId"]
    );
    let policies = install.cli_json(&["policy", "list"]);
    assert_eq!(policies["totalItems"], 1);
    assert_eq!(policies, api_get(&server, &first, "policies"));
    let shown = install.cli_json(&[
        "policy",
        "show",
        &policy_id,
        "--storage-details",
        "--backup-details",
    ]);
    assert_eq!(
        shown,
        api_get(
            &server,
            &first,
            &format!("policies/{policy_id}?storageDetails=true&backupDetails=true")
        )
    );
    assert_eq!(
        shown["details"]["backupDetails"]["totalAvailableBackups"],
        0
    );
    let text = ok(&install.cli(&["policy", "show", &policy_id]));
    assert!(
        text.contains("jira nightly") && text.contains("on demand"),
        "{text}"
    );

    // Activating a policy without a schedule starts a backup: CREATED, and listed.
    let activated = install.cli_json(&["policy", "activate", &policy_id]);
    assert_eq!(activated["totalItems"], 1, "{activated}");
    let backup_id = activated["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(activated["backups"][0]["status"], "CREATED");
    assert_eq!(activated["backups"][0]["policyId"], policy_id.as_str());
    let backups = install.cli_json(&["backup", "list"]);
    assert_eq!(backups["totalItems"], 1);
    assert_eq!(backups["backups"][0]["backupId"], backup_id.as_str());
    assert_eq!(backups["backups"][0]["status"], "CREATED");
    assert_eq!(backups, api_get(&server, &first, "backups"));
    let table = ok(&install.cli(&["backup", "list"]));
    assert!(table.starts_with("BACKUP ID"), "{table}");
    assert!(
        table.contains(&backup_id) && table.contains("CREATED"),
        "{table}"
    );
    let filtered = install.cli_json(&[
        "backup", "list", "--policy", &policy_id, "--status", "CREATED",
    ]);
    assert_eq!(filtered["totalItems"], 1);
    assert_eq!(
        install.cli_json(&["backup", "list", "--status", "COMPLETED"])["totalItems"],
        0
    );

    // Rule 2: a second ACTIVE policy for the same site, product and storage is refused.
    let second = install.cli_json(&[
        "policy",
        "create",
        "--name",
        "jira weekly",
        "--site",
        &source_id,
        "--product",
        "JIRA",
        "--interval",
        "WEEKLY",
    ]);
    let second_id = second["policyId"].as_str().unwrap().to_string();
    assert_eq!(
        second["details"]["scheduleDetails"]["interval"], "WEEKLY",
        "{second}"
    );
    let err = one_line_error(&install.cli(&["policy", "activate", &second_id]));
    assert!(
        err.contains("Only one policy per site, product and storage may be ACTIVE (rule 2)"),
        "{err}"
    );

    // A backup that has not completed cannot be restored (409 in the API).
    let err = one_line_error(&install.cli(&[
        "restore",
        "create",
        "--backup",
        &backup_id,
        "--destination",
        &target_id,
    ]));
    assert!(
        err.contains("Only a COMPLETED or INCOMPLETE backup can be restored; this one is CREATED"),
        "{err}"
    );
    assert_eq!(install.cli_json(&["restore", "list"])["totalItems"], 0);

    // Cancelling the CREATED backup ends it at once.
    let cancelled = install.cli_json(&["backup", "cancel", &backup_id]);
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(
        install.cli_json(&["backup", "show", &backup_id]),
        api_get(&server, &first, &format!("backups/{backup_id}"))
    );
    assert!(one_line_error(&install.cli(&["backup", "cancel", &backup_id])).contains("CANCELLED"));

    // With a backup finished (by the real engine on a worker node), a restore into the empty
    // target site is created; list, show and cancel agree with the API.
    let run = install.cli_json(&["backup", "run", "--policy", &policy_id]);
    assert_eq!(run["status"], "CREATED");
    let done_id = run["backupId"].as_str().unwrap().to_string();
    complete_backup(
        &install,
        &format!("{}:{}", first.email, first.token),
        &first.org_id,
        &done_id,
    );
    assert_eq!(
        install.cli_json(&["backup", "show", &done_id])["status"],
        "COMPLETED"
    );
    let restore = install.cli_json(&[
        "restore",
        "create",
        "--backup",
        &done_id,
        "--destination",
        &target_id,
    ]);
    assert_eq!(restore["status"], "CREATED", "{restore}");
    assert_eq!(restore["destinationCloudId"], target_id.as_str());
    assert_eq!(restore["sourceCloudId"], source_id.as_str());
    let restore_id = restore["restoreId"].as_str().unwrap().to_string();
    let restores = install.cli_json(&["restore", "list", "--destination", &target_id]);
    assert_eq!(restores["totalItems"], 1);
    assert_eq!(restores, api_get(&server, &first, "restores"));
    assert_eq!(
        install.cli_json(&["restore", "show", &restore_id]),
        api_get(&server, &first, &format!("restores/{restore_id}"))
    );
    let text = ok(&install.cli(&["restore", "show", &restore_id]));
    assert!(
        text.contains(&target_id) && text.contains("CREATED"),
        "{text}"
    );
    assert_eq!(
        install.cli_json(&["restore", "cancel", &restore_id])["status"],
        "CANCELLED"
    );

    // Once the first policy is inactive, rule 2 no longer stands in the way.
    assert_eq!(
        install.cli_json(&["policy", "deactivate", &policy_id])["status"],
        "INACTIVE"
    );
    let activated = install.cli_json(&["policy", "activate", &second_id]);
    assert_eq!(
        activated["totalItems"].as_u64().unwrap(),
        activated["backups"].as_array().unwrap().len() as u64
    );
    assert_eq!(
        install.cli_json(&["policy", "show", &second_id])["status"],
        "ACTIVE"
    );

    // Removal: refused while a policy uses the site; a site without policies goes, and a
    // deleted policy is gone. Both print nothing with --json, as the API's 204.
    assert!(
        one_line_error(&install.cli(&["site", "remove", &source_id]))
            .contains("delete its policies")
    );
    let removed = ok(&install.cli(&["site", "remove", &target_id, "--json"]));
    assert!(removed.is_empty(), "{removed}");
    assert_eq!(install.cli_json(&["site", "list"])["totalItems"], 1);
    let deleted = ok(&install.cli(&["policy", "delete", &policy_id]));
    assert!(deleted.contains("Deleted policy"), "{deleted}");
    assert!(one_line_error(&install.cli(&["policy", "show", &policy_id])).contains("No policy"));

    // The retention lock: raised through the API, refused a lowering there, lowered on the
    // server by the CLI, and every step in the audit log.
    let put_lock = |days: u32| {
        curl(
            &[
                "--user",
                &format!("{}:{}", first.email, first.token),
                "-X",
                "PUT",
                "-H",
                "content-type: application/json",
                "-d",
                &format!(r#"{{"retentionLockDays":{days}}}"#),
            ],
            &server.url(&format!(
                "/public/backup-management/v2/orgs/{}/settings",
                first.org_id
            )),
        )
    };
    assert_eq!(put_lock(40).0, 200);
    let (status, body) = put_lock(10);
    assert_eq!(status, 409, "{body}");
    let lowered = install.cli_json(&["org", "retention-lock", "--days", "10"]);
    assert_eq!(lowered["previousRetentionLockDays"], 40);
    assert_eq!(lowered["retentionLockDays"], 10);
    assert_eq!(
        api_get(&server, &first, "settings")["retentionLockDays"],
        10
    );
    let text = ok(&install.cli(&["org", "retention-lock", "--days", "0"]));
    assert!(text.contains("Removed the retention lock"), "{text}");
    let changes = api_get(&server, &first, "audit-events?action=retention_lock.change");
    assert_eq!(changes["totalItems"], 3, "{changes}");
    let refusals = api_get(
        &server,
        &first,
        "audit-events?action=retention_lock.refused",
    );
    assert_eq!(refusals["totalItems"], 1, "{refusals}");
    assert!(server.terminate(), "the server did not stop cleanly");
}

#[test]
fn the_organization_is_the_only_one_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let err = one_line_error(&install.cli(&["site", "list"]));
    assert!(err.contains("no organization yet"), "{err}");

    let org = |name: &str| {
        install.cli_json(&["org", "create", "--name", name])["orgId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = org("first");
    assert_eq!(install.cli_json(&["policy", "list"])["totalItems"], 0);
    org("second");
    let err = one_line_error(&install.cli(&["backup", "list"]));
    assert!(
        err.contains("several organizations") && err.contains("--org"),
        "{err}"
    );
    assert_eq!(
        install.cli_json(&["restore", "list", "--org", &first])["totalItems"],
        0
    );
    let err = one_line_error(&install.cli(&["restore", "list", "--org", "no-such-org"]));
    assert!(err.contains("no organization \"no-such-org\""), "{err}");
    let err = one_line_error(&install.cli(&["backup", "show", "nope", "--org", &first]));
    assert!(err.contains("No backup with this backupId"), "{err}");
}

#[test]
fn site_add_never_takes_the_token_as_a_flag_and_says_where_it_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    // No file, no environment variable, empty standard input.
    let err = one_line_error(&install.cli(&[
        "site",
        "add",
        "--url",
        "http://127.0.0.1:9",
        "--email",
        "a@example.com",
    ]));
    assert!(
        err.contains("--api-token-file") && err.contains("CAIRN_SITE_API_TOKEN"),
        "{err}"
    );
    let out = install.cli(&[
        "site",
        "add",
        "--url",
        "http://127.0.0.1:9",
        "--email",
        "a@example.com",
        "--api-token",
        "secret",
    ]);
    assert!(!out.status.success());
    let help = ok(&install.cli(&["site", "add", "--help"]));
    assert!(
        help.contains("history")
            && help.contains("--api-token-file")
            && help.contains("CAIRN_SITE_API_TOKEN"),
        "{help}"
    );
}

#[test]
fn help_of_every_management_command_renders() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let commands: &[(&str, &[&str])] = &[
        ("site", &["add", "list", "show", "remove"]),
        (
            "policy",
            &[
                "create",
                "list",
                "show",
                "update",
                "activate",
                "deactivate",
                "delete",
            ],
        ),
        ("storage", &["list", "show"]),
        ("backup", &["run", "list", "show", "cancel"]),
        ("restore", &["create", "list", "show", "cancel"]),
    ];
    let top = ok(&std::process::Command::new(support::BIN)
        .arg("--help")
        .output()
        .unwrap());
    for (command, subcommands) in commands {
        assert!(
            top.contains(&format!("  {command} ")),
            "cairn --help lacks {command}"
        );
        let help = ok(&install.cli(&[command, "--help"]));
        assert!(help.contains(&format!("Usage: cairn {command}")), "{help}");
        assert!(help.contains("--json") && help.contains("--org"), "{help}");
        for sub in *subcommands {
            assert!(
                help.contains(&format!("  {sub} ")),
                "{command} --help lacks {sub}"
            );
            let help = ok(&install.cli(&[command, sub, "--help"]));
            assert!(
                help.contains(&format!("Usage: cairn {command} {sub}")),
                "{help}"
            );
        }
    }
}
