//! Browsing and exporting a backup (extensions): a Jira backup of a `cairn sim` site runs to
//! COMPLETED in `cairn serve`, then its snapshot is listed, read and exported over HTTP with curl,
//! the archive is unpacked by the system's `tar`, and every answer is checked against the site
//! itself and against the listing.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{Caller, Install, Sites, curl, curl_bytes, header};

/// Registers the `source` site and activates a Jira policy with attachments; returns the
/// backup the activation started.
fn start_backup(api: &Caller, sites: &Sites) -> String {
    let (url, _) = sites.site("source");
    let (email, token) = sites.account();
    let (status, site) = api.call(
        "POST",
        "/sites",
        Some(json!({ "cloudUrl": url, "email": email, "apiToken": token })),
    );
    assert_eq!(status, 201, "{site}");
    let (status, policy) = api.call(
        "POST",
        "/policies",
        Some(
            json!({ "policyName": "Browse", "cloudId": site["cloudId"], "productType": "JIRA",
                     "includeAttachments": true }),
        ),
    );
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["policyId"].as_str().unwrap();
    let (status, started) = api.call("PUT", &format!("/policies/{policy_id}/activate"), None);
    assert_eq!(status, 200, "{started}");
    started["backups"][0]["backupId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn caller(server: &support::Server) -> Caller {
    Caller::new(server, server.first_start.as_ref().unwrap())
}

/// Every entry of the snapshot through the listing (all pages of every directory): path to
/// (kind, size).
fn walk(api: &Caller, backup: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let mut start = 0;
        loop {
            let (status, page) = api.call(
                "GET",
                &format!("/backups/{backup}/contents?path={dir}&pageSize=100&start={start}"),
                None,
            );
            assert_eq!(status, 200, "{dir}: {page}");
            let items = page["items"].as_array().unwrap();
            for item in items {
                let path = item["path"].as_str().unwrap().to_string();
                let kind = item["kind"].as_str().unwrap().to_string();
                assert_eq!(item["name"], path.rsplit('/').next().unwrap(), "{item}");
                if kind == "DIRECTORY" {
                    dirs.push(path.clone());
                }
                out.insert(path, (kind, item["size"].as_u64().unwrap()));
            }
            start += 1;
            if items.is_empty() || start * 100 >= page["totalItems"].as_u64().unwrap() {
                break;
            }
        }
    }
    out
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_completed_jira_backup_is_listed_read_and_exported_as_the_site_served_it() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let api = caller(&server);
    let backup_id = start_backup(&api, &sites);
    let backup = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());
    let contents = format!("/backups/{backup_id}/contents");

    // The root holds jira/.
    let (status, root) = api.call("GET", &contents, None);
    assert_eq!(status, 200, "{root}");
    assert_eq!(root["path"], "");
    let jira = root["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "jira")
        .unwrap_or_else(|| panic!("{root}"));
    assert_eq!(jira["kind"], "DIRECTORY");
    assert_eq!(jira["path"], "jira");

    // jira/projects holds the site's projects.
    let (site_url, _) = sites.site("source");
    let (email, token) = sites.account();
    let site_user = format!("{email}:{token}");
    let (status, text) = curl(
        &["--user", &site_user],
        &format!("{site_url}/rest/api/3/project/search?maxResults=100"),
    );
    assert_eq!(status, 200, "{text}");
    let mut keys: Vec<String> = serde_json::from_str::<Value>(&text).unwrap()["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert!(keys.len() >= 2, "{keys:?}");
    let (status, projects) = api.call("GET", &format!("{contents}?path=jira/projects"), None);
    assert_eq!(status, 200, "{projects}");
    assert_eq!(names(&projects), keys);
    assert_eq!(projects["totalItems"], keys.len());
    // The spec's filters name the same directories: kind=project, kind=issue of a key.
    let (status, by_kind) = api.call("GET", &format!("{contents}?kind=project"), None);
    assert_eq!(status, 200, "{by_kind}");
    assert_eq!(by_kind["path"], "jira/projects");
    assert_eq!(names(&by_kind), keys);
    let (_, issues) = api.call(
        "GET",
        &format!(
            "{contents}?path=jira/projects/{}/issues&pageSize=100",
            keys[0]
        ),
        None,
    );
    let (status, by_key) = api.call(
        "GET",
        &format!("{contents}?kind=issue&key={}&pageSize=100", keys[0]),
        None,
    );
    assert_eq!(status, 200, "{by_key}");
    assert!(issues["totalItems"].as_u64().unwrap() > 0, "{issues}");
    assert_eq!(by_key["items"], issues["items"]);
    for (query, field) in [
        ("kind=space", "kind"),
        ("kind=issue", "kind"),
        ("kind=project&path=jira", "kind"),
        ("kind=issue&key=A/B", "key"),
    ] {
        let (status, err) = api.call("GET", &format!("{contents}?{query}"), None);
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["errors"][0]["field"], field, "{query}: {err}");
    }
    // Pages of the listing, as every list of the API pages.
    let (status, second) = api.call(
        "GET",
        &format!("{contents}?path=jira/projects/&pageSize=1&start=1"),
        None,
    );
    assert_eq!(status, 200, "{second}");
    assert_eq!(names(&second), [keys[1].clone()]);
    assert_eq!(second["totalItems"], keys.len());
    assert_eq!(second["path"], "jira/projects");
    let (_, reversed) = api.call(
        "GET",
        &format!("{contents}?path=jira/projects&sortOrder=DESC"),
        None,
    );
    let mut desc = keys.clone();
    desc.reverse();
    assert_eq!(names(&reversed), desc);

    // Every entry, through the listing.
    let entries = walk(&api, &backup_id);
    let files: Vec<&String> = entries
        .iter()
        .filter(|(_, (k, _))| k == "FILE")
        .map(|(p, _)| p)
        .collect();

    // An issue document reads back as JSON whose id is its file name.
    let issue_path = files
        .iter()
        .find(|p| p.contains("/issues/") && p.ends_with(".json"))
        .expect("an issue document");
    let raw = server.url(&format!(
        "/public/backup-management/v2/orgs/{}/backups/{backup_id}/contents/raw",
        server.first_start.as_ref().unwrap().org_id
    ));
    let (status, headers, body) =
        curl_bytes(&["--user", &api.user], &format!("{raw}?path={issue_path}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("application/json"),
        "{headers:?}"
    );
    assert_eq!(
        header(&headers, "content-length").unwrap(),
        entries[*issue_path].1.to_string()
    );
    // A download, never rendered by a browser: it may hold a site's HTML or script.
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let issue_file = issue_path.rsplit('/').next().unwrap();
    assert_eq!(
        header(&headers, "content-disposition"),
        Some(
            format!("attachment; filename=\"{issue_file}\"; filename*=UTF-8''{issue_file}")
                .as_str()
        )
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let id = issue_path
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".json")
        .unwrap();
    assert_eq!(doc["issue"]["id"], id, "{doc}");

    // An attachment reads back with exactly the bytes the site serves.
    let attachment = files
        .iter()
        .find(|p| p.starts_with("jira/attachments/"))
        .expect("an attachment");
    let attachment_id = attachment.rsplit('/').next().unwrap();
    let (status, _, from_site) = curl_bytes(
        &["--user", &site_user, "--location"],
        &format!("{site_url}/rest/api/3/attachment/content/{attachment_id}"),
    );
    assert_eq!(status, 200);
    let (status, headers, from_backup) =
        curl_bytes(&["--user", &api.user], &format!("{raw}?path={attachment}"));
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        header(&headers, "content-length").unwrap(),
        from_site.len().to_string()
    );
    assert!(!from_site.is_empty());
    assert!(from_backup == from_site, "the attachment's bytes differ");

    // The export, unpacked by the system's tar: every entry of the listing with its bytes, and
    // the manifest.
    let export_url = server.url(&format!(
        "/public/backup-management/v2/orgs/{}/backups/{backup_id}/export",
        server.first_start.as_ref().unwrap().org_id
    ));
    let (status, headers, archive) = curl_bytes(&["--user", &api.user], &export_url);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&archive));
    assert_eq!(header(&headers, "content-type"), Some("application/x-tar"));
    let tar_file = dir.path().join("export.tar");
    std::fs::write(&tar_file, &archive).unwrap();
    let listed = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar_file)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let mut in_tar: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    in_tar.sort();
    let mut expected: Vec<String> = entries.keys().cloned().collect();
    expected.push("cairn-export.json".into());
    expected.sort();
    assert_eq!(in_tar, expected);
    let out = dir.path().join("unpacked");
    std::fs::create_dir(&out).unwrap();
    let unpacked = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar_file)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(unpacked.success());
    for path in &files {
        let (status, _, bytes) = curl_bytes(&["--user", &api.user], &format!("{raw}?path={path}"));
        assert_eq!(status, 200, "{path}");
        assert_eq!(bytes.len() as u64, entries[*path].1, "{path}");
        assert!(
            std::fs::read(out.join(path)).unwrap() == bytes,
            "{path} differs in the export"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("cairn-export.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "cairn-export");
    assert_eq!(manifest["formatVersion"], 1);
    assert_eq!(manifest["backupId"], backup_id.as_str());
    assert_eq!(manifest["product"], "JIRA");
    assert_eq!(manifest["cloudId"], backup["cloudId"]);
    assert_eq!(manifest["files"], files.len());
    assert_eq!(manifest["directories"], entries.len() - files.len());
    assert_eq!(manifest["snapshotId"].as_str().unwrap().len(), 64);
    assert!(manifest["startedAt"].is_string(), "{manifest}");

    // The CLI gives the same listing and the same archive.
    let cli = install.cli_json(&["backup", "contents", &backup_id, "jira/projects"]);
    let (_, http) = api.call(
        "GET",
        &format!("{contents}?path=jira/projects&pageSize=100"),
        None,
    );
    assert_eq!(cli, http);
    let cli_tar = dir.path().join("cli.tar");
    let exported = install.cli(&[
        "backup",
        "export",
        &backup_id,
        "--output",
        cli_tar.to_str().unwrap(),
    ]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(
        std::fs::read(&cli_tar).unwrap() == archive,
        "the CLI's archive differs"
    );

    // Paths: relative and plain, or 400; unknown, 404; a file is read, a directory listed.
    for bad in ["../etc", "/jira", "jira/../jira", "jira//projects"] {
        let (status, err) = api.call("GET", &format!("{contents}?path={bad}"), None);
        assert_eq!(status, 400, "{bad}: {err}");
        assert_eq!(err["errors"][0]["field"], "path", "{err}");
        let (status, _, _) = curl_bytes(&["--user", &api.user], &format!("{raw}?path={bad}"));
        assert_eq!(status, 400, "{bad}");
    }
    for (url, want) in [
        (format!("{contents}?path=jira/no-such-dir"), 404),
        (format!("{contents}?path={issue_path}"), 400),
        (format!("{contents}?pageSize=0"), 400),
    ] {
        let (status, err) = api.call("GET", &url, None);
        assert_eq!(status, want, "{url}: {err}");
        assert_eq!(err["code"], want, "{err}");
    }
    for (query, want) in [
        ("?path=jira/no-such-file.json", 404),
        ("?path=jira", 400),
        ("", 400),
    ] {
        let (status, _, body) = curl_bytes(&["--user", &api.user], &format!("{raw}{query}"));
        assert_eq!(status, want, "{query}");
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["code"], want);
    }
    let (status, _) = api.call("GET", "/backups/no-such-backup/contents", None);
    assert_eq!(status, 404);

    // Another org's admin sees no such backup; a wrong token is 401.
    let other = install.cli_json(&["org", "create", "--name", "Other"])["orgId"]
        .as_str()
        .unwrap()
        .to_string();
    let created = install.cli(&[
        "account",
        "create",
        "--email",
        "other@example.com",
        "--org",
        &other,
        "--org-admin",
    ]);
    assert!(created.status.success(), "{created:?}");
    let other_token = install.cli_json(&[
        "token",
        "create",
        "--email",
        "other@example.com",
        "--label",
        "t",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let outsider = Caller {
        user: format!("other@example.com:{other_token}"),
        base: server.url(&format!("/public/backup-management/v2/orgs/{other}")),
    };
    for path in [
        format!("/backups/{backup_id}/contents"),
        format!("/backups/{backup_id}/contents/raw?path=jira/site.json"),
        format!("/backups/{backup_id}/export"),
    ] {
        let (status, err) = outsider.call("GET", &path, None);
        assert_eq!(status, 404, "{path}: {err}");
    }
    let first = server.first_start.clone().unwrap();
    let wrong = Caller {
        user: format!("{}:cairn_wrong", first.email),
        base: api.base.clone(),
    };
    for path in [
        format!("/backups/{backup_id}/contents"),
        format!("/backups/{backup_id}/export"),
    ] {
        let (status, _) = wrong.call("GET", &path, None);
        assert_eq!(status, 401, "{path}");
    }
    assert!(server.terminate());
}

#[test]
fn a_backup_without_a_snapshot_yet_is_409() {
    let dir = tempfile::tempdir().unwrap();
    // No workers: the backup stays CREATED.
    let install = Install::new(dir.path()).with_config("[management]\nworker_concurrency = 0\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let api = caller(&server);
    let backup_id = start_backup(&api, &sites);
    let (_, backup) = api.call("GET", &format!("/backups/{backup_id}"), None);
    assert_eq!(backup["status"], "CREATED");
    for path in [
        format!("/backups/{backup_id}/contents"),
        format!("/backups/{backup_id}/contents/raw?path=jira/site.json"),
        format!("/backups/{backup_id}/export"),
    ] {
        let (status, err) = api.call("GET", &path, None);
        assert_eq!(status, 409, "{path}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("CREATED"),
            "{err}"
        );
    }
    assert!(server.terminate());
}

/// `cairn archive verify FILE --json` (no installation: the file alone): whether it passed, and
/// its report.
fn verify_archive(file: &std::path::Path) -> (bool, Value) {
    let out = std::process::Command::new(support::BIN)
        .args(["archive", "verify", "--json"])
        .arg(file)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

/// Every file of an archive with its size and SHA-256, read by Python's `tarfile` or `zipfile`
/// (which also checks each zip entry's CRC): `{path: [size, sha256]}`, directories as `null`.
fn python_lists(archive: &std::path::Path) -> BTreeMap<String, Value> {
    let script = r#"
import hashlib, json, sys, tarfile, zipfile
out = {}
path = sys.argv[1]
if zipfile.is_zipfile(path):
    z = zipfile.ZipFile(path)
    assert z.testzip() is None
    for i in z.infolist():
        name = i.filename.rstrip("/")
        out[name] = None if i.is_dir() else [i.file_size, hashlib.sha256(z.read(i)).hexdigest()]
else:
    with tarfile.open(path) as t:
        for m in t.getmembers():
            out[m.name] = None if m.isdir() else [m.size, hashlib.sha256(t.extractfile(m).read()).hexdigest()]
print(json.dumps(out))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_export_comes_as_tar_or_zip_with_each_files_checksum_and_a_cut_download_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path())
        .with_config("[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let api = caller(&server);
    let backup_id = start_backup(&api, &sites);
    let backup = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(backup["status"], "COMPLETED", "{backup}\n{}", server.log());
    let export_url = server.url(&format!(
        "/public/backup-management/v2/orgs/{}/backups/{backup_id}/export",
        server.first_start.as_ref().unwrap().org_id
    ));
    let user = ["--user", api.user.as_str()];

    // Both formats hold the same files with the same bytes, and the manifest gives each file's
    // size and SHA-256 in archive order.
    let mut listed = BTreeMap::new();
    for (format, media_type) in [("tar", "application/x-tar"), ("zip", "application/zip")] {
        let (status, headers, archive) =
            curl_bytes(&user, &format!("{export_url}?format={format}"));
        assert_eq!(
            status,
            200,
            "{format}: {}",
            String::from_utf8_lossy(&archive)
        );
        assert_eq!(header(&headers, "content-type"), Some(media_type));
        assert_eq!(
            header(&headers, "content-length"),
            Some(archive.len().to_string().as_str()),
            "{format}: the length is known before the first byte"
        );
        assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
        assert!(
            header(&headers, "content-disposition")
                .unwrap()
                .contains(&format!("cairn-backup-{backup_id}.{format}")),
            "{headers:?}"
        );
        let file = dir.path().join(format!("export.{format}"));
        std::fs::write(&file, &archive).unwrap();
        let files = python_lists(&file);
        let manifest: Value = {
            let out = std::process::Command::new("python3")
                .args(["-c", if format == "zip" {
                    "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('cairn-export.json'))"
                } else {
                    "import sys, tarfile; sys.stdout.buffer.write(tarfile.open(sys.argv[1]).extractfile('cairn-export.json').read())"
                }])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let entries = manifest["entries"].as_array().unwrap();
        assert_eq!(entries.len() as u64, manifest["files"].as_u64().unwrap());
        assert!(entries.len() > 10, "{manifest}");
        for entry in entries {
            let path = entry["path"].as_str().unwrap();
            assert_eq!(
                files[path],
                json!([entry["size"], entry["sha256"]]),
                "{format}: {path}"
            );
        }
        let in_archive = files.values().filter(|v| !v.is_null()).count();
        assert_eq!(in_archive, entries.len() + 1, "every file and the manifest");
        listed.insert(format, (files, archive));
    }
    assert_eq!(listed["tar"].0, listed["zip"].0, "the same files in both");

    // A download cut half-way resumes with `Range` (curl -C -) and gives the same bytes; a
    // range of another version (If-Range) gets the whole archive; past the end is 416.
    for format in ["tar", "zip"] {
        let whole = &listed[format].1;
        let url = format!("{export_url}?format={format}");
        let half = whole.len() / 2;
        let part = dir.path().join(format!("part.{format}"));
        std::fs::write(&part, &whole[..half]).unwrap();
        let resumed = std::process::Command::new("curl")
            .args(["-s", "-f", "-C", "-", "-o"])
            .arg(&part)
            .args(user)
            .arg(&url)
            .status()
            .unwrap();
        assert!(resumed.success(), "{format}: curl -C - failed");
        assert!(
            &std::fs::read(&part).unwrap() == whole,
            "{format}: resumed bytes differ"
        );

        let range = format!("Range: bytes={half}-");
        let (status, headers, rest) = curl_bytes(&[user[0], user[1], "-H", &range], &url);
        assert_eq!(status, 206, "{format}");
        assert_eq!(
            header(&headers, "content-range"),
            Some(format!("bytes {half}-{}/{}", whole.len() - 1, whole.len()).as_str())
        );
        assert!(rest == whole[half..], "{format}: the range's bytes");
        let etag = header(&headers, "etag").unwrap().to_string();
        let same = format!("If-Range: {etag}");
        let (status, _, rest) = curl_bytes(&[user[0], user[1], "-H", &range, "-H", &same], &url);
        assert_eq!((status, rest.len()), (206, whole.len() - half), "{format}");
        let (status, _, all) = curl_bytes(
            &[
                user[0],
                user[1],
                "-H",
                &range,
                "-H",
                "If-Range: \"another\"",
            ],
            &url,
        );
        assert_eq!(status, 200, "{format}");
        assert!(
            &all == whole,
            "{format}: another version gets the whole archive"
        );
        let past = format!("Range: bytes={}-", whole.len());
        let (status, headers, body) = curl_bytes(&[user[0], user[1], "-H", &past], &url);
        assert_eq!(status, 416, "{format}");
        assert_eq!(
            header(&headers, "content-range"),
            Some(format!("bytes */{}", whole.len()).as_str())
        );
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["code"], 416, "{err}");
    }

    // Each archive checks out on its own (no server, store or vault)...
    for format in ["tar", "zip"] {
        let file = dir.path().join(format!("export.{format}"));
        let (ok, report) = verify_archive(&file);
        assert!(ok, "{format}: {report}");
        assert_eq!(report["verified"], true);
        assert_eq!(report["backupId"], backup_id.as_str());
        assert_eq!(report["format"], format);
        assert_eq!(
            report["files"].as_u64().unwrap() as usize,
            listed[format].0.values().filter(|v| !v.is_null()).count() - 1
        );
    }
    // ...and a damaged or hostile copy is refused with the entry named: cut short, one byte of an
    // attachment changed, a name that climbs out of the folder.
    let attachment = listed["zip"]
        .0
        .keys()
        .find(|p| {
            p.starts_with("jira/attachments/") && listed["zip"].0[p.as_str()][0].as_u64() > Some(0)
        })
        .expect("the backup has an attachment")
        .clone();
    for (format, how, named) in [
        ("zip", "truncate", None),
        ("tar", "truncate", None),
        ("zip", "flip", Some(attachment.as_str())),
        ("tar", "flip", Some(attachment.as_str())),
        ("zip", "escape", Some("../escape.txt")),
    ] {
        let damaged = dir.path().join(format!("{how}.{format}"));
        support::damage_archive(
            &dir.path().join(format!("export.{format}")),
            &damaged,
            how,
            &attachment,
        );
        let (ok, report) = verify_archive(&damaged);
        assert!(!ok, "{how}.{format} passed: {report}");
        assert_eq!(report["verified"], false, "{report}");
        let problem = report["problem"].as_str().unwrap();
        match named {
            Some(entry) => assert_eq!(report["entry"], entry, "{how}.{format}: {report}"),
            None => assert!(problem.contains("truncated"), "{how}.{format}: {report}"),
        }
    }

    // An unknown format is a 400 naming the parameter; the CLI writes the same zip.
    let (status, err) = api.call(
        "GET",
        &format!("/backups/{backup_id}/export?format=rar"),
        None,
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["errors"][0]["field"], "format", "{err}");
    let cli_zip = dir.path().join("cli.zip");
    let exported = install.cli(&[
        "backup",
        "export",
        &backup_id,
        "--output",
        cli_zip.to_str().unwrap(),
    ]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    assert!(
        std::fs::read(&cli_zip).unwrap() == listed["zip"].1,
        "the CLI's zip (chosen by the file's extension) differs"
    );
    assert!(server.terminate());
}
