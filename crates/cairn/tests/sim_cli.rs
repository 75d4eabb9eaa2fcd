//! `cairn sim` prints the JSON line, serves its sites, and `cairn sim mutate` changes one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn http(base: &str, method: &str, path: &str) -> (u16, String) {
    let hostport = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(hostport).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
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
        let (st, body) = http(base, "GET", "/_edge/tenant_info");
        assert_eq!(st, 200);
        let t: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(t["cloudId"], s["cloudId"]);
    }
    let source = sites[0]["baseUrl"].as_str().unwrap();
    let before = http(source, "GET", "/__sim/digest").1;
    let out = Command::new(exe)
        .args(["sim", "mutate", "--url", source, "--percent", "10"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rep["issuesChanged"].as_u64().unwrap() > 0);
    let after = http(source, "GET", "/__sim/digest").1;
    assert_ne!(before, after);
}
