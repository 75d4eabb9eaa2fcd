//! `cairn restore-archive`: a downloaded export restored into a site from the file alone, with
//! no server, database or vault. A Jira backup of a `cairn sim` site runs in `cairn serve`, is
//! restored through the API into one empty site and downloaded as a zip; the zip is then
//! restored with the command into another empty site, and the two restores are compared through
//! the stand-in's digest.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, Caller, Install, LOOPBACK_ALLOWED, Server, Sites, curl, curl_bytes};

/// The sites: the source, an empty one for the API's restore and one for the archive's.
const SITES: &str = "source,viaapi:empty,viaarchive:empty";

/// A completed Jira backup (with attachments) of the source, its restore through the API into
/// `viaapi`, and its zip export in `dir/export.zip`.
struct Downloaded {
    sites: Sites,
    /// Kept running for the length of the test (it holds the installation).
    _server: Server,
    zip: PathBuf,
    token_file: PathBuf,
    /// The API restore as the API shows it.
    api_restore: Value,
}

fn downloaded(dir: &Path) -> Downloaded {
    let sites = Sites::start_named(
        SITES,
        &["--projects", "2", "--issues", "16", "--pages", "6"],
    );
    let install = Install::new(dir)
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let server = install.serve(&[]);
    let api = Caller::new(&server, server.first_start.as_ref().unwrap());
    let (email, token) = sites.account();
    let mut cloud_ids = Vec::new();
    for name in ["source", "viaapi"] {
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
        Some(
            json!({ "policyName": "Archive", "cloudId": cloud_ids[0], "productType": "JIRA",
                     "includeAttachments": true }),
        ),
    );
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["policyId"].as_str().unwrap();
    let (status, started) = api.call("PUT", &format!("/policies/{policy_id}/activate"), None);
    assert_eq!(status, 200, "{started}");
    let backup_id = started["backups"][0]["backupId"].as_str().unwrap();
    let backup = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());

    let (status, restore) = api.call(
        "POST",
        "/restores",
        Some(json!({ "backupId": backup_id, "destinationCloudId": cloud_ids[1] })),
    );
    assert_eq!(status, 202, "{restore}");
    let api_restore = api.wait_until_done(&format!(
        "/restores/{}",
        restore["restoreId"].as_str().unwrap()
    ));
    assert_eq!(api_restore["status"], "COMPLETED", "{api_restore}");

    let (status, _, zip) = curl_bytes(
        &["--user", &api.user],
        &format!("{}/backups/{backup_id}/export?format=zip", api.base),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));
    let path = dir.join("export.zip");
    std::fs::write(&path, zip).unwrap();
    let token_file = dir.join("site-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    Downloaded {
        sites,
        _server: server,
        zip: path,
        token_file,
        api_restore,
    }
}

impl Downloaded {
    /// `cairn restore-archive` of `archive` into `viaarchive`, keeping its state in `work`.
    fn command(&self, archive: &Path, work: &Path) -> Command {
        let (url, _) = self.sites.site("viaarchive");
        let (email, _) = self.sites.account();
        let mut cmd = Command::new(BIN);
        cmd.arg("restore-archive")
            .arg(archive)
            .args(["--site-url", &url, "--email", &email, "--json"])
            .arg("--api-token-file")
            .arg(&self.token_file)
            .arg("--work-dir")
            .arg(work)
            .env(LOOPBACK_ALLOWED.0, LOOPBACK_ALLOWED.1)
            .env_remove("CAIRN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn restore_archive(&self, archive: &Path, work: &Path) -> Output {
        self.command(archive, work).output().unwrap()
    }

    fn site_user(&self) -> String {
        let (email, token) = self.sites.account();
        format!("{email}:{token}")
    }

    /// How `site`'s Jira differs from the source's.
    fn differences(&self, site: &str) -> Vec<Value> {
        support::jira_differences(&self.sites.site("source").0, &self.site_user(), site)
    }

    /// The requests `viaarchive` has served (the stand-in's request log).
    fn requests_to_viaarchive(&self) -> Vec<Value> {
        let (url, _) = self.sites.site("viaarchive");
        let (status, text) = curl(&["--user", &self.site_user()], &format!("{url}/__sim/log"));
        assert_eq!(status, 200, "{text}");
        let log: Value = serde_json::from_str(&text).unwrap();
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["path"].as_str().unwrap_or_default().starts_with("/__sim"))
            .cloned()
            .collect()
    }
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The restore's counts, without the ones that name where it ran.
fn counts(restore: &Value) -> (Value, Value, usize) {
    let result = &restore["result"];
    (
        result["created"].clone(),
        result["skipped"].clone(),
        result["failed"].as_array().map_or(0, Vec::len),
    )
}

#[test]
fn a_downloaded_zip_restores_from_the_file_alone_as_a_restore_through_the_api_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = downloaded(dir.path());
    let work = dir.path().join("work");

    let out = d.restore_archive(&d.zip, &work);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = report(&out);
    assert_eq!(got["archive"]["verified"], true, "{got}");
    assert_eq!(got["archive"]["format"], "zip", "{got}");
    let restore = &got["restore"];
    assert_eq!(restore["status"], "COMPLETED", "{got}");
    assert_eq!(
        restore["backupId"], d.api_restore["backupId"],
        "the restore names the backup the archive was made from"
    );
    assert_eq!(counts(restore), counts(&d.api_restore), "{got}");

    // The same site comes back either way: each restore differs from the source in the same
    // ways (none, apart from what the REST API cannot set, which the digest leaves out).
    let via_api = d.differences("viaapi");
    let via_archive = d.differences("viaarchive");
    assert_eq!(via_archive, via_api);
    assert!(via_archive.is_empty(), "{via_archive:#?}");
    // Ended well: the work directory is gone.
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

#[test]
fn a_damaged_or_hostile_archive_is_refused_with_the_entry_named_before_the_site_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let d = downloaded(dir.path());
    let work = dir.path().join("work");
    let listed = {
        let out = Command::new(BIN)
            .args(["archive", "verify", "--json"])
            .arg(&d.zip)
            .output()
            .unwrap();
        assert!(out.status.success());
        report(&out)
    };
    assert_eq!(listed["verified"], true);
    // An attachment's bytes are the ones altered.
    let manifest = python_manifest(&d.zip);
    let attachment = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["path"].as_str().unwrap().starts_with("jira/attachments/")
                && e["size"].as_u64() > Some(0)
        })
        .expect("the backup holds an attachment")["path"]
        .as_str()
        .unwrap()
        .to_string();

    for (how, named) in [
        ("truncate", None),
        ("flip", Some(attachment.as_str())),
        ("escape", Some("../escape.txt")),
    ] {
        let damaged = dir.path().join(format!("{how}.zip"));
        support::damage_archive(&d.zip, &damaged, how, &attachment);
        let out = d.restore_archive(&damaged, &work);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{how} was restored: {stderr}");
        assert!(stderr.contains("is refused"), "{how}: {stderr}");
        match named {
            Some(entry) => assert!(stderr.contains(entry), "{how}: {stderr}"),
            None => assert!(stderr.contains("truncated"), "{how}: {stderr}"),
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Not one request reached the destination, and nothing is left to resume.
    assert_eq!(d.requests_to_viaarchive(), Vec::<Value>::new());
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

#[test]
fn restore_archive_killed_mid_restore_resumes_when_run_again_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = downloaded(dir.path());
    let work = dir.path().join("work");
    // Slow enough to be killed mid-way.
    let (url, _) = d.sites.site("viaarchive");
    let (status, text) = curl(
        &[
            "--request",
            "PUT",
            "--user",
            &d.site_user(),
            "--data",
            r#"{"latencyMs": 20}"#,
        ],
        &format!("{url}/__sim/faults"),
    );
    assert_eq!(status, 200, "{text}");

    let mut first: Child = d.command(&d.zip, &work).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let created = d
            .requests_to_viaarchive()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"] == "/rest/api/3/issue")
            .count();
        if created >= 5 {
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "it ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no issue was created");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        std::fs::read_dir(&work).unwrap().count() > 0,
        "the killed run left its state"
    );

    let out = d.restore_archive(&d.zip, &work);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Resuming"), "{stderr}");
    let got = report(&out);
    assert_eq!(got["restore"]["status"], "COMPLETED", "{got}");
    // Nothing lost, nothing twice: the site is the one the API's restore gave.
    assert_eq!(d.differences("viaarchive"), d.differences("viaapi"));
    assert!(d.differences("viaarchive").is_empty());
}

/// The archive's manifest, read by Python's `zipfile`.
fn python_manifest(zip: &Path) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('cairn-export.json').decode())",
        ])
        .arg(zip)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}
