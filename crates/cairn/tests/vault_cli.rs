//! `cairn vault` as a real process: SIGKILL at commit points, concurrent writers with prune.
//! Each scenario runs on a local directory and, when `CAIRN_TEST_S3_ENDPOINT` is set, on S3.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Vault {
    repo: String,
    s3: Option<(String, String, String, String)>,
    _dir: tempfile::TempDir,
    work: PathBuf,
}

fn local_vault() -> Vault {
    let dir = tempfile::tempdir().unwrap();
    Vault {
        repo: dir.path().join("repo").display().to_string(),
        s3: None,
        work: dir.path().to_path_buf(),
        _dir: dir,
    }
}

fn s3_vault(test: &str) -> Option<Vault> {
    let Ok(endpoint) = std::env::var("CAIRN_TEST_S3_ENDPOINT") else {
        if std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("CAIRN_TEST_REQUIRE_SERVICES=1 but CAIRN_TEST_S3_ENDPOINT is not set");
        }
        eprintln!("skipping S3: CAIRN_TEST_S3_ENDPOINT not set");
        return None;
    };
    let v = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} must be set"));
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(Vault {
        repo: format!(
            "s3://{}/vault-cli-tests/{test}-{}-{nanos:x}",
            v("CAIRN_TEST_S3_BUCKET"),
            std::process::id()
        ),
        s3: Some((
            endpoint,
            v("CAIRN_TEST_S3_REGION"),
            v("CAIRN_TEST_S3_ACCESS_KEY_ID"),
            v("CAIRN_TEST_S3_SECRET_ACCESS_KEY"),
        )),
        work: dir.path().to_path_buf(),
        _dir: dir,
    })
}

impl Vault {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.arg("vault");
        c.args(args);
        c.arg("--repo").arg(&self.repo);
        c.env("CAIRN_VAULT_PASSPHRASE", "test passphrase")
            .env_remove("CAIRN_VAULT_CRASH_AT")
            .env_remove("CAIRN_VAULT_PAUSE_AT");
        if let Some((endpoint, region, id, secret)) = &self.s3 {
            c.arg("--s3-endpoint")
                .arg(endpoint)
                .arg("--s3-region")
                .arg(region);
            c.env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn vault {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn init(&self) {
        self.ok(&[
            "init",
            "--insecure-fast-kdf",
            "--small-chunks",
            "--pack-size-mib",
            "1",
        ]);
    }

    fn verify_clean(&self) -> serde_json::Value {
        let r = self.json(&["verify", "--read-data"]);
        assert_eq!(r["damage"].as_array().unwrap().len(), 0, "{r:#}");
        r
    }
}

/// A directory of documents and binary files; `variant` changes a share of it.
fn make_source(dir: &Path, variant: u64, files: u64) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for i in 0..files {
        let body = format!(
            r#"{{"key":"P-{i}","v":{},"text":"{}"}}"#,
            if i % 10 == 0 { variant } else { 0 },
            "x".repeat(200)
        );
        std::fs::write(dir.join(format!("docs/P-{i}.json")), body).unwrap();
    }
    for f in 0..3u64 {
        let mut x = (f + 1) * 0x9E37_79B9 + variant * 7919 * u64::from(f == 0);
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(dir.join(format!("bin/{f}.bin")), data).unwrap();
    }
}

fn crash_at(v: &Vault, point: &str) {
    v.init();
    let src = v.work.join("src");
    make_source(&src, 0, 50);
    v.ok(&["backup-dir", src.to_str().unwrap()]);
    make_source(&src, 1, 50);
    // Fresh data so the killed writer leaves new packs behind.
    std::fs::write(
        src.join("bin/new.bin"),
        (0..400_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut child = v
        .cmd(&["backup-dir", src.to_str().unwrap()])
        .env("CAIRN_VAULT_CRASH_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let reached = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains(&format!("reached commit point {point}")));
    assert!(reached, "the writer never reached {point}");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    // One snapshot, and the repository verifies clean with the leftovers in it.
    assert_eq!(v.json(&["snapshots"]).as_array().unwrap().len(), 1);
    let before = v.verify_clean();
    let packs_before =
        before["packs"].as_u64().unwrap() + before["unindexed_packs"].as_u64().unwrap();
    if point == "after-packs" {
        assert!(
            before["unindexed_packs"].as_u64().unwrap() > 0,
            "{before:#}"
        );
    }
    // Prune (zero grace) reclaims the leftovers.
    let report = v.json(&["prune", "--grace", "0s"]);
    assert!(report["packs_deleted"].as_u64().unwrap() > 0, "{report:#}");
    let after = v.verify_clean();
    assert_eq!(after["unindexed_packs"].as_u64().unwrap(), 0, "{after:#}");
    assert!(
        after["packs"].as_u64().unwrap() < packs_before,
        "{before:#} {after:#}"
    );
    // The surviving snapshot still restores.
    let out = v.work.join("restored");
    v.ok(&["restore-dir", "latest", out.to_str().unwrap()]);
    assert!(out.join("docs/P-7.json").exists());
}

#[test]
fn sigkill_after_packs_local() {
    crash_at(&local_vault(), "after-packs");
}

#[test]
fn sigkill_after_index_local() {
    crash_at(&local_vault(), "after-index");
}

#[test]
fn sigkill_after_packs_s3() {
    if let Some(v) = s3_vault("crash-packs") {
        crash_at(&v, "after-packs");
    }
}

#[test]
fn sigkill_after_index_s3() {
    if let Some(v) = s3_vault("crash-index") {
        crash_at(&v, "after-index");
    }
}

/// The outcome of a `backup-dir --json`: its JSON, or its standard error if it failed.
fn backup_result(out: &Output) -> Result<serde_json::Value, String> {
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A `backup-dir --json` of `dir` held at its commit point `after-index` (`CAIRN_VAULT_PAUSE_AT`: its
/// packs and index are stored, its snapshot not yet) while `meanwhile` runs, then let go.
fn backup_held(v: &Vault, dir: &Path, meanwhile: impl FnOnce()) -> Output {
    let mut child = v
        .cmd(&["backup-dir", dir.to_str().unwrap(), "--json"])
        .env("CAIRN_VAULT_PAUSE_AT", "after-index")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("paused at commit point after-index") {
        let n = err.read_line(&mut seen).unwrap();
        assert!(n > 0, "the writer ended before its commit point:\n{seen}");
    }
    meanwhile();
    // A line lets it go on (and closing standard input would too).
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    err.read_to_string(&mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        stderr: seen.into_bytes(),
        ..out
    }
}

/// The files below `dir` by relative path, with their bytes.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Writers racing prune on data of a forgotten snapshot that they reuse while prune marks it: the
/// repository never loses a committed snapshot's data. Both outcomes of a race are first staged, a writer
/// held between storing its index and its snapshot while a prune runs: a mark still pending (and younger
/// than half its grace) lets the writer commit, and the mark's deletion keeps the packs the snapshot uses;
/// a mark already carried out (its packs deleted) makes the commit fail, and the backup run again succeeds.
/// Then two writer processes and prune run freely, each writer running a backup again when it fails that
/// way. Every snapshot is restored at the end.
fn concurrent(v: &Vault) {
    v.init();
    let old = v.work.join("old");
    make_source(&old, 5, 40);
    v.ok(&["backup-dir", old.to_str().unwrap(), "--tag", "old"]);
    v.ok(&["forget", "--keep-tag", "nothing", "--tag", "old"]);
    let (a, b) = (v.work.join("a"), v.work.join("b"));
    make_source(&a, 5, 60); // shares data with the forgotten snapshot
    make_source(&b, 6, 60);
    // Every snapshot taken: (id, source, how many round documents it holds).
    let mut taken: Vec<(String, PathBuf, u64)> = Vec::new();

    // Pending mark: `a` reuses the forgotten snapshot's packs, a prune condemns them while `a` is held.
    let mut marked = serde_json::Value::Null;
    let out = backup_held(v, &a, || {
        marked = v.json(&["prune", "--grace", "10m"]);
    });
    assert!(
        marked["packs_condemned"].as_u64().unwrap() > 0,
        "{marked:#}"
    );
    let done = backup_result(&out).expect("a writer commits while the prune mark is pending");
    assert!(
        done["stats"]["blobs_reused"].as_u64().unwrap() > 0,
        "{done:#}"
    );
    taken.push((done["snapshot"].as_str().unwrap().into(), a.clone(), 0));

    // Carried-out mark: `b` is held while a prune with no grace marks and deletes its packs (its snapshot
    // is not stored yet). The same prune carries out the mark above and keeps the packs `a` uses.
    let mut swept = serde_json::Value::Null;
    let out = backup_held(v, &b, || {
        swept = v.json(&["prune", "--grace", "0s"]);
    });
    assert!(
        swept["packs_rescued"].as_u64().unwrap() > 0
            && swept["packs_deleted"].as_u64().unwrap() > 0,
        "{swept:#}"
    );
    let err =
        backup_result(&out).expect_err("a writer whose packs a prune deleted must not commit");
    assert!(err.contains("concurrent prune"), "{err}");
    let done = backup_result(&v.run(&["backup-dir", b.to_str().unwrap(), "--json"]))
        .expect("the backup run again succeeds");
    taken.push((done["snapshot"].as_str().unwrap().into(), b.clone(), 0));
    v.verify_clean();

    // Free running: each writer adds a round document and backs up, three times.
    let writer = |dir: &Path| {
        let mut made = Vec::new();
        let mut raced = 0;
        for r in 0..3u64 {
            std::fs::write(
                dir.join(format!("docs/round-{r}.json")),
                format!("{{\"round\":{r}}}"),
            )
            .unwrap();
            loop {
                match backup_result(&v.run(&["backup-dir", dir.to_str().unwrap(), "--json"])) {
                    Ok(done) => {
                        let id = done["snapshot"].as_str().unwrap().to_owned();
                        made.push((id, dir.to_path_buf(), r + 1));
                        break;
                    }
                    Err(err) => {
                        assert!(err.contains("concurrent prune"), "writer failed: {err}");
                        raced += 1;
                    }
                }
            }
        }
        (made, raced)
    };
    let done = std::sync::atomic::AtomicUsize::new(0);
    let (ra, rb, prunes, rescued) = std::thread::scope(|s| {
        let ha = s.spawn(|| {
            let r = writer(&a);
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r
        });
        let hb = s.spawn(|| {
            let r = writer(&b);
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            r
        });
        let (mut n, mut rescued) = (0, 0);
        while n < 4 || done.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            let report = v.json(&["prune", "--grace", "2s", "--repack-threshold", "0.01"]);
            rescued += report["packs_rescued"].as_u64().unwrap();
            n += 1;
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        (ha.join().unwrap(), hb.join().unwrap(), n, rescued)
    });
    eprintln!(
        "free running: runs again a={} b={}, prunes {prunes}, packs rescued {rescued}",
        ra.1, rb.1
    );
    taken.extend(ra.0);
    taken.extend(rb.0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    v.ok(&["prune", "--grace", "2s"]);
    v.verify_clean();
    let snaps = v.json(&["snapshots"]);
    let mut listed: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut ids: Vec<&str> = taken.iter().map(|t| t.0.as_str()).collect();
    listed.sort_unstable();
    ids.sort_unstable();
    assert_eq!(listed, ids, "{snaps:#}");
    assert_eq!(listed.len(), 8, "{snaps:#}");
    // Every snapshot restores byte for byte what its source held when it was taken: the source's files
    // at the end, less the round documents written after it.
    for (i, (id, src, rounds)) in taken.iter().enumerate() {
        let out = v.work.join(format!("restore-{i}"));
        v.ok(&["restore-dir", id, out.to_str().unwrap()]);
        let mut want = files_of(src);
        for r in *rounds..3 {
            want.remove(&format!("docs/round-{r}.json"));
        }
        let got = files_of(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "snapshot {id}"
        );
        for (path, bytes) in &want {
            assert!(got[path] == *bytes, "snapshot {id}: {path} differs");
        }
    }
}

#[test]
fn two_writers_and_prune_lose_nothing_local() {
    concurrent(&local_vault());
}

#[test]
fn two_writers_and_prune_lose_nothing_s3() {
    if let Some(v) = s3_vault("concurrent") {
        concurrent(&v);
    }
}

#[test]
fn cli_keys_forget_and_errors() {
    let v = local_vault();
    v.init();
    let src = v.work.join("src");
    make_source(&src, 0, 5);
    for tag in ["t1", "t2", "t3"] {
        v.ok(&[
            "backup-dir",
            src.to_str().unwrap(),
            "--tag",
            tag,
            "--meta",
            "site=acme",
        ]);
    }
    let subset = v.json(&["verify", "--read-data-subset", "100%"]);
    assert!(
        subset["packs_read"].as_u64().unwrap() > 0
            && subset["damage"].as_array().unwrap().is_empty(),
        "{subset:#}"
    );
    let stats = v.json(&["stats"]);
    assert_eq!(stats["snapshots"], 3);
    let snaps = v.json(&["snapshots"]);
    let first = &snaps[0];
    assert!(
        first["id"].is_string() && first["time"].is_string() && first["meta"]["site"] == "acme",
        "{first:#}"
    );
    assert_eq!(
        v.ok(&["cat", "latest", "docs/P-1.json"]),
        std::fs::read_to_string(src.join("docs/P-1.json")).unwrap()
    );
    // Wrong key: a clear error.
    let out = v
        .cmd(&["snapshots"])
        .env("CAIRN_VAULT_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Add a raw key from a file, use it, remove the passphrase slot.
    let keyfile = v.work.join("key");
    std::fs::write(&keyfile, "11".repeat(32)).unwrap();
    v.ok(&[
        "key",
        "add",
        "--new-key-file",
        keyfile.to_str().unwrap(),
        "--insecure-fast-kdf",
    ]);
    let keys = v.json(&["key", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let pass_slot = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = |args: &[&str]| {
        let mut c = v.cmd(args);
        c.env_remove("CAIRN_VAULT_PASSPHRASE")
            .arg("--key-file")
            .arg(&keyfile);
        c.output().unwrap()
    };
    assert!(by_key(&["key", "remove", &pass_slot]).status.success());
    assert!(!v.run(&["snapshots"]).status.success());
    // Forget by policy: keep the newest and anything tagged t1.
    let out = by_key(&["forget", "--keep-last", "1", "--keep-tag", "t1", "--json"]);
    assert!(out.status.success());
    let decisions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        decisions
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["keep"] == false)
            .count(),
        1
    );
    let out = by_key(&["snapshots", "--json"]);
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags: Vec<_> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tags"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["t1", "t3"]);
}

/// A flipped byte in a pack: `verify --read-data` fails naming the blob, its pack and the entries; `cat` of the
/// entry fails with the same blob, never printing wrong bytes.
#[test]
fn cli_verify_names_damage() {
    let v = local_vault();
    v.init();
    let src = v.work.join("src");
    make_source(&src, 0, 3);
    v.ok(&["backup-dir", src.to_str().unwrap()]);
    // The biggest pack holds the binary chunks; flip a byte in its middle.
    let mut packs: Vec<PathBuf> = Vec::new();
    for d in std::fs::read_dir(Path::new(&v.repo).join("packs")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            packs.push(f.unwrap().path());
        }
    }
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let pack = packs.last().unwrap();
    let mut data = std::fs::read(pack).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    std::fs::write(pack, data).unwrap();
    let out = v.run(&["verify", "--read-data"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("DAMAGE damaged-blob: blob "), "{text}");
    assert!(
        text.contains("affects snapshot ") && text.contains("bin/"),
        "{text}"
    );
    let damaged_path = text
        .lines()
        .find(|l| l.contains("affects snapshot"))
        .unwrap()
        .split(": ")
        .nth(1)
        .unwrap()
        .split(", ")
        .next()
        .unwrap()
        .to_owned();
    let out = v.run(&["cat", "latest", &damaged_path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is damaged") && err.contains(&damaged_path),
        "{err}"
    );
}

/// A damaged snapshot file: `snapshots` still lists the others and names it on stderr; backup-dir finds its
/// parent among the readable snapshots; restore-dir of a missing path fails instead of restoring everything.
#[test]
fn cli_damaged_snapshot_and_restore_errors() {
    let v = local_vault();
    v.init();
    let src = v.work.join("src");
    make_source(&src, 0, 4);
    let first = v.json(&["backup-dir", src.to_str().unwrap()]);
    let second = v.json(&["backup-dir", src.to_str().unwrap()]);
    assert_eq!(second["parent"], first["snapshot"], "{second:#}");
    assert!(second["stats"]["entries_from_parent"].as_u64().unwrap() > 0);
    let damaged = second["snapshot"].as_str().unwrap();
    std::fs::write(
        Path::new(&v.repo).join("snapshots").join(damaged),
        b"garbage",
    )
    .unwrap();
    let out = v.run(&["snapshots", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], first["snapshot"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(damaged) && err.contains("cannot be read"),
        "{err}"
    );
    // The next backup's parent is the newest readable snapshot of the directory.
    let third = v.json(&["backup-dir", src.to_str().unwrap()]);
    assert_eq!(third["parent"], first["snapshot"], "{third:#}");
    let target = v.work.join("restored");
    let out = v.run(&[
        "restore-dir",
        "latest",
        target.to_str().unwrap(),
        "--path",
        "docs/nope.json",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no entry \"docs/nope.json\""), "{err}");
    v.ok(&["restore-dir", "latest", target.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(target.join("docs/P-1.json")).unwrap(),
        std::fs::read(src.join("docs/P-1.json")).unwrap()
    );
}
