//! `cairn sim` prints the JSON line, serves its sites, `cairn sim mutate` changes one, and
//! SIGTERM or SIGINT stops it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// `user` is `EMAIL:TOKEN` for Basic authentication, or empty for none.
fn http(base: &str, method: &str, path: &str, user: &str) -> (u16, String) {
    use base64::Engine;
    let hostport = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(hostport).unwrap();
    let auth = if user.is_empty() {
        String::new()
    } else {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(user)
        )
    };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sim_prints_json_serves_and_mutates() {
    let exe = env!("CARGO_BIN_EXE_cairn");
    let mut child = Kill(
        Command::new(exe)
            .args([
                "sim",
                "--seed",
                "5",
                "--scale",
                "small",
                "--sites",
                "source,target:empty",
                "--listen",
                "127.0.0.1:0",
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    let sites = v["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[0]["name"], "source");
    assert_eq!(sites[0]["empty"], false);
    assert_eq!(sites[1]["empty"], true);
    let accounts = v["accounts"].as_array().unwrap();
    assert!(
        accounts.iter().any(|a| a["access"] == "read-write")
            && accounts.iter().any(|a| a["access"] == "read-only")
    );
    assert!(accounts[0]["apiToken"].is_string() && accounts[0]["email"].is_string());
    for s in sites {
        let base = s["baseUrl"].as_str().unwrap();
        assert!(base.starts_with("http://127.0.0.1:"));
        let (st, body) = http(base, "GET", "/_edge/tenant_info", "");
        assert_eq!(st, 200);
        let t: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(t["cloudId"], s["cloudId"]);
    }
    let source = sites[0]["baseUrl"].as_str().unwrap();
    let admin = accounts
        .iter()
        .find(|a| a["access"] == "read-write")
        .unwrap();
    let user = format!(
        "{}:{}",
        admin["email"].as_str().unwrap(),
        admin["apiToken"].as_str().unwrap()
    );
    assert_eq!(http(source, "GET", "/__sim/digest", "").0, 401);
    let before = http(source, "GET", "/__sim/digest", &user).1;
    let out = Command::new(exe)
        .args([
            "sim",
            "mutate",
            "--url",
            source,
            "--percent",
            "10",
            "--user",
            &user,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rep["issuesChanged"].as_u64().unwrap() > 0);
    let after = http(source, "GET", "/__sim/digest", &user).1;
    assert_ne!(before, after);
}

/// Start `cairn sim`, stop it with `signal`: it exits 0 and removes its upload directory.
fn stops_cleanly_on(signal: &str) {
    let exe = env!("CARGO_BIN_EXE_cairn");
    let mut child = Kill(
        Command::new(exe)
            .args(["sim", "--seed", "5", "--sites", "s:empty", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = v["sites"][0]["baseUrl"].as_str().unwrap();
    let a = &v["accounts"][0];
    let user = format!(
        "{}:{}",
        a["email"].as_str().unwrap(),
        a["apiToken"].as_str().unwrap()
    );
    let (st, info) = http(base, "GET", "/__sim/info", &user);
    assert_eq!(st, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let dir = std::path::PathBuf::from(info["uploadDir"].as_str().unwrap());
    assert!(dir.is_dir());
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
    assert!(
        !dir.exists(),
        "{signal}: the upload directory is left behind"
    );
    assert!(
        TcpStream::connect(base.trim_start_matches("http://")).is_err(),
        "{signal}: still listening"
    );
}

#[test]
fn sim_stops_cleanly_on_sigterm() {
    stops_cleanly_on("-TERM");
}

#[test]
fn sim_stops_cleanly_on_sigint() {
    stops_cleanly_on("-INT");
}

#[test]
fn sim_takes_rate_limits_and_a_latency_distribution() {
    let exe = env!("CARGO_BIN_EXE_cairn");
    let mut child = Kill(
        Command::new(exe)
            .args([
                "sim",
                "--scale",
                "small",
                "--issues",
                "5",
                "--pages",
                "2",
                "--rate-limit",
                "burst=5,burst-capacity=10,issue-writes=20/2s,issue-writes=100/30s,hourly=1000",
                "--latency-median-ms",
                "1",
                "--latency-p99-ms",
                "3",
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = v["sites"][0]["baseUrl"].as_str().unwrap();
    let a = &v["accounts"][0];
    let user = format!(
        "{}:{}",
        a["email"].as_str().unwrap(),
        a["apiToken"].as_str().unwrap()
    );
    let (st, body) = http(base, "GET", "/__sim/throttle", &user);
    assert_eq!(st, 200);
    let spec: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        spec,
        serde_json::json!({
            "burst": {"perSecond": 5.0, "capacity": 10},
            "perIssueWrite": [{"limit": 20, "windowSecs": 2}, {"limit": 100, "windowSecs": 30}],
            "tenantQuota": {"perHour": 1000},
            "latency": {"medianMs": 1.0, "p99Ms": 3.0, "seed": 42},
        })
    );
    let (st, body) = http(base, "GET", "/__sim/stats", &user);
    assert_eq!(st, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["throttle"], spec);

    // A limit it does not know, or a p99 below the median, is a usage error.
    for bad in [
        &["--rate-limit", "speed=3"][..],
        &["--latency-median-ms", "50", "--latency-p99-ms", "10"][..],
        &["--latency-median-ms", "50"][..],
    ] {
        let out = Command::new(exe)
            .arg("sim")
            .args(bad)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?}");
    }
}
