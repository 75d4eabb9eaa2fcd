//! Running the real `cairn` binary in tests: a server on a loopback port, and CLI commands
//! against the same data directory or database.

#![allow(
    dead_code,
    reason = "each test file uses a different part of this helper"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cairn");

/// The outbound allow-list of every installation these tests run: the stand-in sites and the S3
/// test server are on loopback, which Cairn refuses by default. A test that wants the guard's
/// default passes `("CAIRN_OUTBOUND_ALLOW", "")` in its environment.
pub const LOOPBACK_ALLOWED: (&str, &str) = ("CAIRN_OUTBOUND_ALLOW", "127.0.0.0/8,::1");

/// The first-start block the server prints once.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub org_id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

pub struct Server {
    child: Child,
    pub base_url: String,
    pub first_start: Option<FirstStart>,
    pub stdout: String,
    pub log_path: PathBuf,
}

/// Where a test's installation lives.
#[derive(Clone)]
pub struct Install {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub config: Option<PathBuf>,
}

impl Install {
    pub fn new(dir: &Path) -> Self {
        Install {
            data_dir: dir.join("data"),
            database_url: None,
            config: None,
        }
    }

    /// Writes a settings file with `toml` and uses it from now on.
    pub fn with_config(self, toml: &str) -> Self {
        self.with_config_file("cairn.toml", toml)
    }

    /// Like [`Install::with_config`], in a settings file of this name beside the data directory
    /// (so two nodes of one installation can have different settings).
    pub fn with_config_file(mut self, name: &str, toml: &str) -> Self {
        let path = self.data_dir.with_file_name(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, toml).unwrap();
        self.config = Some(path);
        self
    }

    /// Starts another node of this installation (same store and data directory) that runs
    /// jobs: the real engine, for tests whose own node runs none (`worker_concurrency = 0`).
    pub fn worker_node(&self) -> Server {
        self.clone()
            .with_config_file(
                "worker.toml",
                "[management]\nscheduler_tick_secs = 1\njob_lease_secs = 10\n",
            )
            .serve(&[])
    }

    fn store_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.data_dir.display().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_string(), url.clone()]);
        }
        if let Some(config) = &self.config {
            args.extend(["--config".to_string(), config.display().to_string()]);
        }
        args
    }

    /// Runs `cairn <args> <store args>` to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[], None)
    }

    /// Like [`Install::cli`], with extra environment variables and, when given, `stdin` as
    /// standard input (otherwise standard input is empty).
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(self.store_args())
            .env_remove("CAIRN_SECRET")
            .env_remove("CAIRN_SITE_API_TOKEN")
            .env(LOOPBACK_ALLOWED.0, LOOPBACK_ALLOWED.1)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run cairn");
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            use std::io::Write;
            // The command may fail before it reads; a closed pipe is then no error of the test.
            let _ = input.write_all(bytes);
        }
        drop(input);
        child.wait_with_output().expect("wait for cairn")
    }

    /// Like [`Install::cli`], asserting success and returning stdout parsed as JSON.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "cairn {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs `cairn serve` (with `env`) expecting it to refuse to start: waits for it to exit
    /// and returns its stdout, stderr and exit status; a node that starts serving instead fails
    /// the test at once.
    pub fn serve_refused(
        &self,
        env: &[(&str, &str)],
    ) -> (String, String, std::process::ExitStatus) {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(self.store_args())
            .env_remove("CAIRN_SECRET")
            .env(LOOPBACK_ALLOWED.0, LOOPBACK_ALLOWED.1)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cairn serve");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut out = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            out.push_str(&line);
            out.push('\n');
            if line.starts_with("Cairn is serving on ") {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cairn serve did not refuse to start; stdout:\n{out}");
            }
        }
        // Its stdout closed: it is exiting.
        let status = child.wait().unwrap();
        (out, err.join().unwrap(), status)
    }

    /// Starts `cairn serve` on a free loopback port and waits until it answers.
    pub fn serve(&self, extra_env: &[(&str, &str)]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::Relaxed);
        let log_path = self.data_dir.with_file_name(format!("serve-{n}.log"));
        std::fs::create_dir_all(self.data_dir.parent().unwrap()).unwrap();
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(self.store_args())
            .env_remove("CAIRN_SECRET")
            .env(LOOPBACK_ALLOWED.0, LOOPBACK_ALLOWED.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn cairn serve");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base_url = loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap();
            if n == 0 || Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "cairn serve exited before serving; stdout:\n{stdout}\nlog:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            stdout.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("Cairn is serving on ") {
                break url.to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let first_start = parse_first_start(&stdout);
        Server {
            child,
            base_url,
            first_start,
            stdout,
            log_path,
        }
    }
}

fn field(stdout: &str, label: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
}

fn parse_first_start(stdout: &str) -> Option<FirstStart> {
    Some(FirstStart {
        org_id: field(stdout, "Organization id:")?,
        email: field(stdout, "Admin email:")?,
        password: field(stdout, "Web password:")?,
        token: field(stdout, "API token:")?,
    })
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn audit_url(&self, org_id: &str) -> String {
        self.url(&format!(
            "/public/backup-management/v2/orgs/{org_id}/audit-events"
        ))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: the process dies at once, as in a crash or a power cut.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sh -c script` and returns stdout (trimmed) — for the shell one-liners of the docs.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "sh -c {script:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `curl -s -o BODY -w '%{http_code}' ARGS... URL`, returning (status, body).
pub fn curl(args: &[&str], url: &str) -> (u16, String) {
    let (status, _, body) = curl_bytes(args, url);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Calls the Backup Management API as one account, under one org's base path.
pub struct Caller {
    pub user: String,
    pub base: String,
}

impl Caller {
    /// The first start's admin, in its org.
    pub fn new(server: &Server, first: &FirstStart) -> Caller {
        Caller {
            user: format!("{}:{}", first.email, first.token),
            base: server.url(&format!(
                "/public/backup-management/v2/orgs/{}",
                first.org_id
            )),
        }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut args = vec!["--request", method, "--user", &self.user];
        let text;
        if let Some(b) = &body {
            text = b.to_string();
            args.extend([
                "--header",
                "Content-Type: application/json",
                "--data",
                &text,
            ]);
        }
        let (status, out) = curl(&args, &format!("{}{path}", self.base));
        (
            status,
            serde_json::from_str(&out).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls `path` until its `status` is no longer CREATED or IN_PROGRESS.
    pub fn wait_until_done(&self, path: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let (status, v) = self.call("GET", path, None);
            assert_eq!(status, 200, "{v}");
            let s = v["status"].as_str().unwrap_or_default().to_string();
            if s != "CREATED" && s != "IN_PROGRESS" {
                return v;
            }
            assert!(Instant::now() < deadline, "still {s} after 4 minutes: {v}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `curl -s -D HEADERS -o BODY ARGS... URL`: (status, response headers in lower case, body bytes).
pub fn curl_bytes(args: &[&str], url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let headers = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(body.path())
        .arg("-D")
        .arg(headers.path())
        .args(["-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let headers = std::fs::read_to_string(headers.path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, std::fs::read(body.path()).unwrap())
}

/// The value of a header in [`curl_bytes`]'s list.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Stand-in sites (`source`, and `target` without content) served by `cairn sim` for the length
/// of a test.
pub struct Sites {
    child: Child,
    /// The JSON line it printed: `{"sites": [...], "accounts": [...]}`.
    pub json: serde_json::Value,
}

impl Drop for Sites {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sites {
    pub fn start() -> Sites {
        Sites::start_with(&[])
    }

    /// Fewer issues and pages than the small scale: for tests that need real backups of a site,
    /// not its size.
    pub fn tiny() -> Sites {
        Sites::start_with(&["--projects", "2", "--issues", "16", "--pages", "6"])
    }

    /// `cairn sim` (seed 11, small scale) with `extra` arguments.
    pub fn start_with(extra: &[&str]) -> Sites {
        Sites::start_named("source,target:empty", extra)
    }

    /// `cairn sim` (seed 11, small scale) serving `sites` (its `--sites`), with `extra` arguments.
    pub fn start_named(sites: &str, extra: &[&str]) -> Sites {
        let mut child = Command::new(BIN)
            .args([
                "sim",
                "--seed",
                "11",
                "--scale",
                "small",
                "--sites",
                sites,
                "--listen",
                "127.0.0.1:0",
                "--json",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start cairn sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let json = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        Sites { child, json }
    }

    /// (baseUrl, cloudId) of the site with this name.
    pub fn site(&self, name: &str) -> (String, String) {
        let s = self.json["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap();
        (
            s["baseUrl"].as_str().unwrap().to_string(),
            s["cloudId"].as_str().unwrap().to_string(),
        )
    }

    /// Every request to the sites waits `ms` milliseconds from now on (the stand-in's faults).
    pub fn set_latency(&self, ms: u64) {
        let (email, token) = self.account();
        let user = format!("{email}:{token}");
        for site in ["source", "target"] {
            let (url, _) = self.site(site);
            let body = serde_json::json!({ "latencyMs": ms }).to_string();
            let (status, out) = curl(
                &["--request", "PUT", "--user", &user, "--data", &body],
                &format!("{url}/__sim/faults"),
            );
            assert_eq!(status, 200, "PUT /__sim/faults: {out}");
        }
    }

    /// The read-write account of the stand-in: (email, apiToken).
    pub fn account(&self) -> (String, String) {
        let a = self.json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["access"] == "read-write")
            .unwrap();
        (
            a["email"].as_str().unwrap().to_string(),
            a["apiToken"].as_str().unwrap().to_string(),
        )
    }
}

/// The database of an installation, as `cairn` resolves it.
pub fn database_url(install: &Install) -> String {
    install.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            install.data_dir.join("cairn.db").display()
        )
    })
}

/// Registers the stand-in's `source` site in the first org through the API and creates a Jira
/// policy on it (INACTIVE, daily); returns the policy's id.
pub fn source_site_with_a_policy(server: &Server, sites: &Sites, policy_name: &str) -> String {
    let first = server.first_start.as_ref().expect("first start");
    let user = format!("{}:{}", first.email, first.token);
    let post = |path: &str, body: serde_json::Value| {
        let url = server.url(&format!(
            "/public/backup-management/v2/orgs/{}{path}",
            first.org_id
        ));
        let body = body.to_string();
        let (status, text) = curl(
            &[
                "--user",
                &user,
                "--header",
                "Content-Type: application/json",
                "--data",
                &body,
            ],
            &url,
        );
        assert_eq!(status, 201, "POST {path}: {text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let (url, cloud_id) = sites.site("source");
    let (email, token) = sites.account();
    post(
        "/sites",
        serde_json::json!({ "cloudUrl": url, "email": email, "apiToken": token }),
    );
    let policy = post(
        "/policies",
        serde_json::json!({
            "policyName": policy_name,
            "cloudId": cloud_id,
            "productType": "JIRA",
            "scheduleDetails": { "interval": "DAILY", "startDate": "2026-01-01" },
        }),
    );
    policy["policyId"].as_str().unwrap().to_string()
}

/// An account with a web password and no org membership.
pub fn member_with_password(install: &Install, email: &str, password: &str) {
    let mut args = vec!["account", "create", "--email", email, "--password-stdin"];
    let data_dir = install.data_dir.display().to_string();
    args.extend(["--data-dir", &data_dir]);
    let mut child = Command::new(BIN)
        .args(&args)
        .env_remove("CAIRN_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// Runs the queued backup `backup_id` to its end on a worker node of `install` (the real engine
/// against the stand-in site), asserts it COMPLETED and stops the node; returns the backup as the
/// API shows it. `user` is `email:token` of an admin of `org_id`.
pub fn complete_backup(
    install: &Install,
    user: &str,
    org_id: &str,
    backup_id: &str,
) -> serde_json::Value {
    let worker = install.worker_node();
    let api = Caller {
        user: user.to_string(),
        base: worker.url(&format!("/public/backup-management/v2/orgs/{org_id}")),
    };
    let done = api.wait_until_done(&format!("/backups/{backup_id}"));
    assert_eq!(done["status"], "COMPLETED", "{done}\n{}", worker.log());
    // What the backup's requests to the site met: in its progress, and in the node's metrics.
    let traffic = &done["progress"]["siteTraffic"];
    assert!(traffic["requests"].as_u64() > Some(0), "{done}");
    assert_eq!(traffic["requestsWaiting"], 0, "{done}");
    let (status, metrics) = curl(&[], &worker.url("/metrics"));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("cairn_site_requests_total{site=")
            && metrics.contains("cairn_site_rate_limited_total{site="),
        "{metrics}"
    );
    assert!(worker.terminate(), "the worker node did not stop cleanly");
    done
}

/// How a stand-in site's Jira differs from another site's of the same simulation, by the
/// stand-in's digest (`/__sim/diff`), apart from the `cairn.origin` property each restored item
/// carries (documented in `cairn_engine::origin`).
pub fn jira_differences(site_url: &str, site_user: &str, other: &str) -> Vec<serde_json::Value> {
    let (status, text) = curl(
        &["--user", site_user],
        &format!("{site_url}/__sim/diff?other={other}&ignoreProperty=cairn.origin"),
    );
    assert_eq!(status, 200, "{text}");
    let diff: serde_json::Value = serde_json::from_str(&text).unwrap();
    diff["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"].as_str().unwrap_or_default().starts_with("/jira/"))
        .cloned()
        .collect()
}

/// Writes a damaged or hostile copy of the export archive `src` (`.zip` or `.tar`) to `dst`:
/// `how` is `truncate` (cut to two thirds), `flip` (one bit of `entry`'s bytes changed) or
/// `escape` (a zip with an extra member named `../escape.txt`).
pub fn damage_archive(src: &Path, dst: &Path, how: &str, entry: &str) {
    let script = r#"
import sys, tarfile, zipfile
src, dst, how, entry = sys.argv[1:5]
data = bytearray(open(src, "rb").read())
if how == "truncate":
    data = data[: len(data) * 2 // 3]
elif how == "flip" and src.endswith(".zip"):
    info = zipfile.ZipFile(src).getinfo(entry)
    local = data[info.header_offset:]
    at = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    data[at] ^= 0x01
elif how == "flip":
    with tarfile.open(src) as t:
        data[t.getmember(entry).offset_data] ^= 0x01
elif how == "escape":
    out = zipfile.ZipFile(dst, "w")
    for i in zipfile.ZipFile(src).infolist():
        out.writestr(i, zipfile.ZipFile(src).read(i))
    out.writestr(zipfile.ZipInfo("../escape.txt"), b"outside")
    out.close()
    sys.exit(0)
open(dst, "wb").write(data)
"#;
    let made = Command::new("python3")
        .args(["-c", script])
        .arg(src)
        .arg(dst)
        .args([how, entry])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}
