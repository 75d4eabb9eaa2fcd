//! Fuzzing the contract: schemathesis (PyPI) runs against the OpenAPI document a real server
//! serves, with valid credentials and real identifiers (an org, a registered stand-in site, a
//! policy, a backup), and must find no 5xx and no response that breaks the document.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::{Install, curl};

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn schemathesis_available() -> bool {
    let found = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "schemathesis is not installed but CAIRN_TEST_REQUIRE_SERVICES=1 (scripts/install-test-deps.sh installs it)"
        );
        eprintln!("skipping: schemathesis is not installed (pip install schemathesis)");
    }
    found
}

fn post(user: &str, url: &str, body: Value) -> Value {
    let (status, text) = curl(
        &[
            "--user",
            user,
            "--header",
            "Content-Type: application/json",
            "--data",
            &body.to_string(),
        ],
        url,
    );
    assert!((200..300).contains(&status), "{url} -> {status}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    if !schemathesis_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Kill(
        Command::new(support::BIN)
            .args([
                "sim",
                "--seed",
                "3",
                "--scale",
                "small",
                "--sites",
                "source",
                "--listen",
                "127.0.0.1:0",
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(sim.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sites: Value = serde_json::from_str(&line).unwrap();
    let account = sites["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["access"] == "read-write")
        .unwrap()
        .clone();

    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let user = format!("{}:{}", first.email, first.token);
    let api = server.url(&format!(
        "/public/backup-management/v2/orgs/{}",
        first.org_id
    ));
    let site = post(
        &user,
        &format!("{api}/sites"),
        json!({
            "cloudUrl": sites["sites"][0]["baseUrl"],
            "email": account["email"],
            "apiToken": account["apiToken"],
        }),
    );
    let policy = post(
        &user,
        &format!("{api}/policies"),
        json!({ "policyName": "Fuzzed", "cloudId": site["cloudId"], "productType": "JIRA" }),
    );
    let backup = post(
        &user,
        &format!(
            "{api}/policies/{}/backups",
            policy["policyId"].as_str().unwrap()
        ),
        json!({}),
    );
    let (_, storages) = curl(&["--user", &user], &format!("{api}/storages"));
    let storages: Value = serde_json::from_str(&storages).unwrap();

    // Real identifiers, so the run reaches the operations' logic instead of stopping at 404.
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.orgId\" = \"{}\"\n\"path.cloudId\" = \"{}\"\n\
             \"path.policyId\" = \"{}\"\n\"path.backupId\" = \"{}\"\n\"path.storageId\" = \"{}\"\n",
            first.org_id,
            site["cloudId"].as_str().unwrap(),
            policy["policyId"].as_str().unwrap(),
            backup["backupId"].as_str().unwrap(),
            storages["storages"][0]["storageId"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let report = dir.path().join("report");
    let out = Command::new("schemathesis")
        // Its example cache goes in the working directory: keep it out of the source tree.
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &server.url("/public/backup-management/v2/openapi.json"),
            "--auth",
            &user,
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261127",
            "--no-color",
            "--rate-limit",
            "150/s",
            "--report-dir",
        ])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains("passed"), "{stdout}");
    // Nothing the server logged is a panic or a secret.
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains(account["apiToken"].as_str().unwrap()),
        "site token in the log"
    );
    assert!(!log.contains(&first.token), "API token in the log");
}
