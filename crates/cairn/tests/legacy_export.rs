//! The legacy site-export calls (`shared/spec/legacy-export-api.md`) played as the old export
//! scripts play them: curl over HTTPS (Cairn serving TLS itself), Basic `email:API token`, the
//! host string `127.0.0.1:PORT/sites/{cloudName}`. Backups run for real in `cairn serve` against
//! a `cairn sim` site; the downloaded zip is read with python3's `zipfile`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Install, Server, Sites, curl_bytes, header};

/// A self-signed certificate for 127.0.0.1 written as `name.crt` and `name.key` in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// An answer as a script sees it.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The check of the script that treats any answer holding "error" as a failure.
    fn mentions_error(&self) -> bool {
        self.text().to_ascii_lowercase().contains("error")
    }
}

/// A legacy script's view of Cairn: HTTPS trusting `ca`, one account, one site's base.
struct Script {
    ca: String,
    user: String,
    /// `https://127.0.0.1:PORT/sites/NAME`.
    base: String,
}

impl Script {
    fn call(&self, extra: &[&str], path: &str) -> Answer {
        let mut args = vec!["--cacert", &self.ca, "--user", &self.user];
        args.extend_from_slice(extra);
        let (status, headers, body) = curl_bytes(&args, &format!("{}{path}", self.base));
        Answer {
            status,
            headers,
            body,
        }
    }

    fn get(&self, path: &str) -> Answer {
        self.call(&[], path)
    }

    /// A POST with a JSON body, as the scripts send it.
    fn post(&self, path: &str, body: &str) -> Answer {
        self.call(
            &[
                "--request",
                "POST",
                "--header",
                "Content-Type: application/json",
                "--data",
                body,
            ],
            path,
        )
    }

    /// Polls `path` (every 250 ms; the scripts wait 10-15 s) until the answer holds `key`,
    /// checking on every answer what the scripts read; returns the last answer.
    fn poll_until(&self, path: &str, key: &str, read: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let answer = self.get(path);
            assert_eq!(answer.status, 200, "{path}: {}", answer.text());
            let v = answer.json();
            for k in read {
                assert!(v.get(*k).is_some(), "{k} missing in {v}");
            }
            if v.get(key).is_some() {
                assert!(!answer.mentions_error(), "a normal answer says error: {v}");
                return v;
            }
            assert!(
                !answer.mentions_error(),
                "a backup in flight says error: {v}"
            );
            assert!(Instant::now() < deadline, "no {key} after 4 minutes: {v}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Downloads `path` whole to `file` as the scripts do (`curl -L -o`), checking the length.
    fn download(&self, path: &str, file: &Path) -> Vec<u8> {
        let answer = self.call(&["--location"], path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        assert_eq!(
            header(&answer.headers, "content-type"),
            Some("application/zip")
        );
        let len: usize = header(&answer.headers, "content-length")
            .expect("Content-Length, for the scripts' progress")
            .parse()
            .unwrap();
        assert_eq!(answer.body.len(), len);
        assert_eq!(&answer.body[..4], b"PK\x03\x04", "a zip");
        std::fs::write(file, &answer.body).unwrap();
        answer.body
    }
}

/// The zip's members (name, size) and its manifest, read by python3's `zipfile`, which also
/// checks every member's CRC (`testzip`).
fn read_zip(file: &Path) -> (Vec<(String, u64)>, Value) {
    let script = r#"
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, "bad CRC: %s" % bad
print(json.dumps({"members": [[i.filename, i.file_size] for i in z.infolist()],
                  "manifest": json.loads(z.read("cairn-export.json"))}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m[0].as_str().unwrap().to_string(), m[1].as_u64().unwrap()))
        .collect();
    (members, v["manifest"].clone())
}

/// The attachment files of a zip's members (of either product).
fn attachment_files(members: &[(String, u64)]) -> Vec<(String, u64)> {
    members
        .iter()
        .filter(|(name, _)| {
            ["jira/attachments/", "confluence/attachments/"]
                .iter()
                .any(|dir| name.starts_with(dir) && name.len() > dir.len() && !name.ends_with('/'))
        })
        .cloned()
        .collect()
}

/// Every file member is in the manifest with its size, and the manifest names the backup.
fn manifest_matches(members: &[(String, u64)], manifest: &Value, backup_id: &str, product: &str) {
    assert_eq!(manifest["format"], "cairn-export", "{manifest}");
    assert_eq!(manifest["backupId"], backup_id);
    assert_eq!(manifest["product"], product);
    let files: Vec<(String, u64)> = members
        .iter()
        .filter(|(name, _)| !name.ends_with('/') && name != "cairn-export.json")
        .cloned()
        .collect();
    assert_eq!(manifest["files"], files.len(), "{manifest}");
    let listed: Vec<(String, u64)> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, files);
}

/// A TLS installation whose own node runs the jobs, the `source` site registered; returns the
/// server, the CA file, the admin's `email:token`, the org and the site's cloudName.
struct World {
    _dir: tempfile::TempDir,
    sites: Sites,
    install: Install,
    server: Server,
    ca: String,
    admin: String,
    org_id: String,
    cloud_name: String,
    cloud_id: String,
}

fn world(config: &str, env: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path()).with_config(&format!(
        "[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n{config}"
    ));
    let (cert, key) = certificate(dir.path(), "cairn");
    let sites = Sites::tiny();
    let mut all_env = vec![
        ("CAIRN_TLS_CERT", cert.to_str().unwrap()),
        ("CAIRN_TLS_KEY", key.to_str().unwrap()),
    ];
    all_env.extend_from_slice(env);
    let server = install.serve(&all_env);
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    let first = server.first_start.clone().unwrap();
    let admin = format!("{}:{}", first.email, first.token);
    let ca = cert.to_str().unwrap().to_string();
    let (url, cloud_id) = sites.site("source");
    let (email, token) = sites.account();
    let body = json!({ "cloudUrl": url, "email": email, "apiToken": token }).to_string();
    let (status, _, out) = curl_bytes(
        &[
            "--cacert",
            &ca,
            "--user",
            &admin,
            "--header",
            "Content-Type: application/json",
            "--data",
            &body,
        ],
        &server.url(&format!(
            "/public/backup-management/v2/orgs/{}/sites",
            first.org_id
        )),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&out));
    let site: Value = serde_json::from_slice(&out).unwrap();
    let cloud_name = site["cloudName"].as_str().unwrap().to_string();
    assert!(!cloud_name.is_empty(), "{site}");
    World {
        _dir: dir,
        sites,
        install,
        ca,
        admin,
        org_id: first.org_id,
        cloud_name,
        cloud_id,
        server,
    }
}

impl World {
    fn script(&self) -> Script {
        self.script_as(&self.admin, &self.cloud_name)
    }

    fn script_as(&self, user: &str, site: &str) -> Script {
        Script {
            ca: self.ca.clone(),
            user: user.to_string(),
            base: self.server.url(&format!("/sites/{site}")),
        }
    }

    /// A v2 call as the admin.
    fn v2(&self, path: &str) -> Value {
        let (status, _, out) = curl_bytes(
            &["--cacert", &self.ca, "--user", &self.admin],
            &self.server.url(&format!(
                "/public/backup-management/v2/orgs/{}{path}",
                self.org_id
            )),
        );
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out).unwrap()
    }
}

const JIRA: &str = "/rest/backup/1/export";
const JIRA_READS: &[&str] = &["status", "progress", "description", "message", "exportType"];

/// The `taskId` as the sed-based script cuts it out of the raw answer.
fn task_id_by_sed(raw: &str) -> String {
    assert!(!raw.contains('\n'), "one line: {raw}");
    let start = raw.find(r#""taskId":""#).expect("taskId") + r#""taskId":""#.len();
    raw[start..].split('"').next().unwrap().to_string()
}

#[test]
fn a_jira_export_runs_polls_and_downloads_as_the_scripts_do_it() {
    // The file asks for a cooldown; the environment, which overrides it, for none.
    let w = world(
        "[legacy]\nmin_interval_hours = 1\n",
        &[("CAIRN_LEGACY_MIN_INTERVAL_HOURS", "0")],
    );
    let script = w.script();
    let dir = tempfile::tempdir().unwrap();

    // Start, with the string values one script sends.
    let started = script.post(
        &format!("{JIRA}/runbackup"),
        r#"{"cbAttachments":"true","exportToCloud":"true"}"#,
    );
    assert_eq!(started.status, 200, "{}", started.text());
    assert!(!started.mentions_error(), "{}", started.text());
    let task_id = task_id_by_sed(&started.text());
    assert_eq!(started.json()["taskId"], task_id.as_str());

    // A second start while it runs: 412, short plain text; the script then asks for the last
    // task and polls that.
    let again = script.post(
        &format!("{JIRA}/runbackup"),
        r#"{"cbAttachments": true, "exportToCloud": true}"#,
    );
    assert_eq!(again.status, 412, "{}", again.text());
    assert!(
        header(&again.headers, "content-type").is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        again.headers
    );
    assert!(
        !again.text().contains("taskId") && !again.mentions_error() && again.text().len() < 200
    );
    let last = script.get(&format!("{JIRA}/lastTaskId"));
    assert_eq!(last.status, 200);
    assert_eq!(last.text(), task_id, "plain text, no quotes");

    let done = script.poll_until(
        &format!("{JIRA}/getProgress?taskId={task_id}"),
        "result",
        JIRA_READS,
    );
    assert_eq!(done["status"], "Success", "{done}");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["exportType"], "CLOUD");
    let result = done["result"].as_str().unwrap();
    assert_eq!(result, format!("export/download/?fileId={task_id}"));

    // The backup behind it is an ordinary one, under the policy kept for these calls, in the
    // org's default storage, and the start is in the audit log.
    let backup = w.v2(&format!("/backups/{task_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}");
    let policy = w.v2(&format!(
        "/policies/{}",
        backup["policyId"].as_str().unwrap()
    ));
    assert_eq!(
        policy["policyName"], "Legacy site export (Jira)",
        "{policy}"
    );
    let audit = w.v2("/audit-events?pageSize=100");
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "backup.run"
                && e["target"] == format!("backup:{task_id}").as_str()
                && e["details"]["via"] == "legacy-export"),
        "{audit}"
    );

    // The download, whole: a zip whose manifest lists every member, attachments included.
    let zip = dir.path().join("jira.zip");
    let whole = script.download(&format!("/plugins/servlet/{result}"), &zip);
    let (members, manifest) = read_zip(&zip);
    manifest_matches(&members, &manifest, &task_id, "JIRA");
    let attachments = attachment_files(&members);
    assert!(
        attachments.iter().any(|(_, size)| *size > 0),
        "attachment bytes: {members:?}"
    );

    // Cut half-way and resumed with a Range, as `curl -C -` does: 206, Content-Range, and the
    // same bytes.
    let half = whole.len() / 2;
    let rest = script.call(
        &["--header", &format!("Range: bytes={half}-")],
        &format!("/plugins/servlet/{result}"),
    );
    assert_eq!(rest.status, 206);
    assert_eq!(
        header(&rest.headers, "content-range"),
        Some(format!("bytes {half}-{}/{}", whole.len() - 1, whole.len()).as_str())
    );
    let resumed = dir.path().join("resumed.zip");
    std::fs::write(&resumed, &whole[..half]).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-f",
            "-C",
            "-",
            "--cacert",
            &script.ca,
            "--user",
            &script.user,
            "-o",
        ])
        .arg(&resumed)
        .arg(format!("{}/plugins/servlet/{result}", script.base))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&resumed).unwrap(), whole);

    // Without attachments (a JSON boolean this time): started at once (no cooldown), and the
    // archive holds no attachment bytes.
    let started = script.post(
        &format!("{JIRA}/runbackup"),
        r#"{"cbAttachments": false, "exportToCloud": true}"#,
    );
    assert_eq!(started.status, 200, "{}", started.text());
    let bare_id = task_id_by_sed(&started.text());
    assert_ne!(bare_id, task_id);
    let done = script.poll_until(
        &format!("{JIRA}/getProgress?taskId={bare_id}"),
        "result",
        JIRA_READS,
    );
    let bare = dir.path().join("bare.zip");
    script.download(
        &format!("/plugins/servlet/{}", done["result"].as_str().unwrap()),
        &bare,
    );
    let (members, manifest) = read_zip(&bare);
    manifest_matches(&members, &manifest, &bare_id, "JIRA");
    assert_eq!(attachment_files(&members), vec![], "{members:?}");
    let backup = w.v2(&format!("/backups/{bare_id}"));
    assert_eq!(backup["backupSize"]["attachmentsSize"], 0, "{backup}");
    assert!(
        !backup["selections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "ATTACHMENTS"),
        "{backup}"
    );
}

const CONFLUENCE: &str = "/wiki/rest/obm/1.0";
const CONFLUENCE_READS: &[&str] = &[
    "currentStatus",
    "alternativePercentage",
    "concurrentBackupInProgress",
    "isOutdated",
    "size",
    "time",
];

#[test]
fn a_confluence_export_runs_polls_and_downloads_and_the_cooldown_holds() {
    // A cooldown of an hour, from the settings file.
    let w = world("[legacy]\nmin_interval_hours = 1\n", &[]);
    let script = w.script_as(&w.admin, &w.cloud_id);
    let dir = tempfile::tempdir().unwrap();

    let started = script.post(
        &format!("{CONFLUENCE}/runbackup"),
        r#"{"cbAttachments":"true","exportToCloud":"true"}"#,
    );
    assert_eq!(started.status, 200, "{}", started.text());
    assert!(!started.mentions_error());
    let again = script.post(
        &format!("{CONFLUENCE}/runbackup"),
        r#"{"cbAttachments":true,"exportToCloud":true}"#,
    );
    assert_eq!(again.status, 406, "{}", again.text());
    assert!(!again.mentions_error(), "{}", again.text());

    let done = script.poll_until(
        &format!("{CONFLUENCE}/getprogress.json"),
        "fileName",
        CONFLUENCE_READS,
    );
    assert_eq!(done["alternativePercentage"], "100%", "{done}");
    assert_eq!(done["concurrentBackupInProgress"], false);
    assert!(done["size"].as_u64().unwrap() > 0, "{done}");
    // Both progress paths give the same answer.
    let plain = script.get(&format!("{CONFLUENCE}/getprogress"));
    assert_eq!(plain.json(), done);
    let file_name = done["fileName"].as_str().unwrap();
    let zip = dir.path().join("confluence.zip");
    script.download(&format!("/wiki/download/{file_name}"), &zip);
    let (members, manifest) = read_zip(&zip);
    let backup_id = manifest["backupId"].as_str().unwrap().to_string();
    manifest_matches(&members, &manifest, &backup_id, "CONFLUENCE");
    assert!(
        members
            .iter()
            .any(|(n, _)| n.starts_with("confluence/spaces/")),
        "{members:?}"
    );

    // Within the hour after it: 406 again, saying when the next may start.
    let cooled = script.post(&format!("{CONFLUENCE}/runbackup"), "{}");
    assert_eq!(cooled.status, 406, "{}", cooled.text());
    assert!(
        cooled.text().contains("frequency is limited"),
        "{}",
        cooled.text()
    );
    let progress = script.get(&format!("{CONFLUENCE}/getprogress"));
    assert_eq!(
        progress.json()["fileName"],
        file_name,
        "still the same backup"
    );
}

#[test]
fn a_failed_export_says_backup_error_and_strangers_are_refused_without_a_task() {
    let w = world("max_attempts = 1\n", &[]);
    let script = w.script();

    // Before any backup, no last task.
    assert_eq!(script.get(&format!("{JIRA}/lastTaskId")).status, 404);

    // The site refuses every request from now on: the backup fails.
    let (url, _) = w.sites.site("source");
    let (email, token) = w.sites.account();
    let faults = json!({ "error": { "burst": 1_000_000, "status": 401 } }).to_string();
    let (status, _, out) = curl_bytes(
        &[
            "--request",
            "PUT",
            "--user",
            &format!("{email}:{token}"),
            "--data",
            &faults,
        ],
        &format!("{url}/__sim/faults"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let started = script.post(&format!("{JIRA}/runbackup"), r#"{"cbAttachments":"false"}"#);
    assert_eq!(started.status, 200, "{}", started.text());
    let task_id = task_id_by_sed(&started.text());
    let deadline = Instant::now() + Duration::from_secs(240);
    let failed = loop {
        let answer = script.get(&format!("{JIRA}/getProgress?taskId={task_id}"));
        assert_eq!(answer.status, 200, "{}", answer.text());
        let v = answer.json();
        if v["status"] == "Failed" {
            assert!(answer.mentions_error());
            break v;
        }
        assert!(!answer.mentions_error(), "{v}");
        assert!(Instant::now() < deadline, "never failed: {v}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let description = failed["description"].as_str().unwrap();
    assert!(description.starts_with("Backup error: "), "{failed}");
    let backup = w.v2(&format!("/backups/{task_id}"));
    assert_eq!(backup["status"], "FAILED");
    assert!(
        description.ends_with(backup["statusMessage"].as_str().unwrap()),
        "{failed} / {backup}"
    );
    assert!(failed.get("result").is_none(), "{failed}");
    for key in JIRA_READS {
        assert!(failed.get(*key).is_some(), "{key}: {failed}");
    }

    // Refusals: never a 5xx, never a task id.
    let refused = |answer: Answer, want: u16| {
        assert_eq!(answer.status, want, "{}", answer.text());
        assert!(!answer.text().contains("taskId"), "{}", answer.text());
        answer
    };
    let first = w.server.first_start.as_ref().unwrap();
    let wrong = w.script_as(&format!("{}:not-the-token", first.email), &w.cloud_name);
    let answer = refused(wrong.post(&format!("{JIRA}/runbackup"), "{}"), 401);
    assert!(header(&answer.headers, "www-authenticate").is_some_and(|v| v.starts_with("Basic")));
    refused(
        wrong.get(&format!("{JIRA}/getProgress?taskId={task_id}")),
        401,
    );

    w.install.cli_json(&[
        "account",
        "create",
        "--email",
        "member@example.com",
        "--org",
        &w.org_id,
    ]);
    let member_token = w.install.cli_json(&[
        "token",
        "create",
        "--email",
        "member@example.com",
        "--label",
        "m",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let member = w.script_as(&format!("member@example.com:{member_token}"), &w.cloud_name);
    refused(member.post(&format!("{JIRA}/runbackup"), "{}"), 403);
    refused(member.get(&format!("{JIRA}/lastTaskId")), 403);
    refused(member.get(&format!("{CONFLUENCE}/getprogress")), 403);

    let nowhere = w.script_as(&w.admin, "no-such-site");
    refused(nowhere.post(&format!("{JIRA}/runbackup"), "{}"), 404);
    refused(nowhere.post(&format!("{CONFLUENCE}/runbackup"), "{}"), 404);
    refused(nowhere.get(&format!("{JIRA}/lastTaskId")), 404);
    // A task of the site asked for under a site that is not the caller's is not found either.
    refused(
        nowhere.get(&format!("{JIRA}/getProgress?taskId={task_id}")),
        404,
    );
}

/// The shape of the widely used cron scripts, in bash: start, take the id from `lastTaskId`,
/// poll (failing on any answer that says "error"), cut `result` / `fileName` out with sed,
/// download with `curl -L`. Only the host string points at Cairn.
const JIRA_SCRIPT: &str = r#"
set -eu
INSTANCE="$1"; AUTH="$2"; CA="$3"; OUT="$4"
BKPMSG=$(curl -s --cacert "$CA" -u "$AUTH" -H "Accept: application/json" -H "Content-Type: application/json" \
  --data-binary '{"cbAttachments":"true", "exportToCloud":"true"}' -X POST "https://${INSTANCE}/rest/backup/1/export/runbackup")
case "$BKPMSG" in *[Ee][Rr][Rr][Oo][Rr]*) echo "BACKUP FAILED: $BKPMSG"; exit 1;; esac
TASK_ID=$(curl -s --cacert "$CA" -u "$AUTH" "https://${INSTANCE}/rest/backup/1/export/lastTaskId")
for i in $(seq 1 960); do
  PROGRESS_JSON=$(curl -s --cacert "$CA" -u "$AUTH" "https://${INSTANCE}/rest/backup/1/export/getProgress?taskId=${TASK_ID}")
  case "$PROGRESS_JSON" in *[Ee][Rr][Rr][Oo][Rr]*) echo "BACKUP FAILED: $PROGRESS_JSON"; exit 1;; esac
  FILE_NAME=$(echo "$PROGRESS_JSON" | sed -n 's/.*"result"[ ]*:[ ]*"\([^"]*\).*/\1/p')
  if [ -n "$FILE_NAME" ]; then break; fi
  sleep 0.25
done
[ -n "$FILE_NAME" ] || { echo "no result"; exit 1; }
curl -s -f -L --cacert "$CA" -u "$AUTH" "https://${INSTANCE}/plugins/servlet/${FILE_NAME}" -o "$OUT"
echo "$TASK_ID"
"#;

const CONFLUENCE_SCRIPT: &str = r#"
set -eu
INSTANCE="$1"; AUTH="$2"; CA="$3"; OUT="$4"
BKPMSG=$(curl -s --cacert "$CA" -u "$AUTH" -H "X-Atlassian-Token: no-check" -H "X-Requested-With: XMLHttpRequest" \
  -H "Content-Type: application/json" -X POST "https://${INSTANCE}/wiki/rest/obm/1.0/runbackup" -d '{"cbAttachments":"true"}')
case "$BKPMSG" in *[Ee][Rr][Rr][Oo][Rr]*) echo "BACKUP FAILED: $BKPMSG"; exit 1;; esac
for i in $(seq 1 960); do
  PROGRESS_JSON=$(curl -s --cacert "$CA" -u "$AUTH" "https://${INSTANCE}/wiki/rest/obm/1.0/getprogress.json")
  case "$PROGRESS_JSON" in *[Ee][Rr][Rr][Oo][Rr]*) echo "BACKUP FAILED: $PROGRESS_JSON"; exit 1;; esac
  FILE_NAME=$(echo "$PROGRESS_JSON" | sed -n 's/.*"fileName"[ ]*:[ ]*"\([^"]*\).*/\1/p')
  if [ -n "$FILE_NAME" ]; then break; fi
  sleep 0.25
done
[ -n "$FILE_NAME" ] || { echo "no fileName"; exit 1; }
curl -s -f -L --cacert "$CA" -u "$AUTH" "https://${INSTANCE}/wiki/download/${FILE_NAME}" -o "$OUT"
echo "$FILE_NAME"
"#;

/// Runs one of the scripts with Cairn's host string; returns what it printed last.
fn run_script(script: &str, w: &World, out: &Path) -> String {
    let instance = w
        .server
        .url(&format!("/sites/{}", w.cloud_name))
        .trim_start_matches("https://")
        .to_string();
    let ran = Command::new("bash")
        .args(["-c", script, "script"])
        .args([instance.as_str(), &w.admin, &w.ca])
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ran.stdout).trim().to_string();
    assert!(
        ran.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    stdout
}

#[test]
fn the_cron_scripts_run_unchanged_but_for_the_host_string() {
    let w = world("", &[]);
    let dir = tempfile::tempdir().unwrap();

    let jira = dir.path().join("jira.zip");
    let task_id = run_script(JIRA_SCRIPT, &w, &jira);
    let (members, manifest) = read_zip(&jira);
    manifest_matches(&members, &manifest, &task_id, "JIRA");

    let confluence = dir.path().join("confluence.zip");
    let file_name = run_script(CONFLUENCE_SCRIPT, &w, &confluence);
    let (members, manifest) = read_zip(&confluence);
    let backup_id = manifest["backupId"].as_str().unwrap();
    assert_eq!(file_name, format!("cairn-backup-{backup_id}.zip"));
    manifest_matches(&members, &manifest, backup_id, "CONFLUENCE");
}
