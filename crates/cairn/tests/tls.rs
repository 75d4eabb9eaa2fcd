//! HTTPS served by Cairn itself (`serve --tls-cert/--tls-key`, `serve --tls`), checked with curl
//! as the old export scripts connect: the certificate is verified against a CA file, a renewed
//! certificate is taken on SIGHUP without a restart, and the session cookie is `Secure`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

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

/// `/healthz` over HTTPS, trusting only `ca`: the status, or 0 when the handshake fails.
fn healthz_trusting(server: &Server, ca: &Path) -> u16 {
    curl(&["--cacert", ca.to_str().unwrap()], &server.url("/healthz")).0
}

fn sighup(server: &Server) {
    let ok = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

/// Waits until `cond` holds, failing after 20 s instead of hanging.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_renewed_certificate_is_served_after_sighup_and_a_broken_one_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install::new(tmp.path());
    let (old_cert, old_key) = certificate(tmp.path(), "old");
    let (new_cert, new_key) = certificate(tmp.path(), "new");
    // The files the server reads: the old certificate now, the renewal copied over them later.
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::copy(&old_cert, &cert).unwrap();
    std::fs::copy(&old_key, &key).unwrap();
    let server = install.serve(&[
        ("CAIRN_TLS_CERT", cert.to_str().unwrap()),
        ("CAIRN_TLS_KEY", key.to_str().unwrap()),
    ]);
    assert!(
        server.url("/").starts_with("https://"),
        "{}",
        server.url("/")
    );
    assert_eq!(healthz_trusting(&server, &old_cert), 200);
    assert_eq!(
        healthz_trusting(&server, &new_cert),
        0,
        "not the renewal yet"
    );
    let (plain, _) = curl(&[], &server.url("/healthz").replacen("https", "http", 1));
    assert_ne!(plain, 200, "no plain HTTP on the TLS port");

    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    sighup(&server);
    eventually("the renewed certificate is served", || {
        healthz_trusting(&server, &new_cert) == 200
    });
    assert_eq!(
        healthz_trusting(&server, &old_cert),
        0,
        "the old one is gone"
    );

    // A renewal half written (a key that is no key): the server keeps the certificate it has.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\ntruncated").unwrap();
    sighup(&server);
    eventually("the failed reload is logged", || {
        server.log().contains("TLS certificate not reloaded")
    });
    assert_eq!(healthz_trusting(&server, &new_cert), 200);
    assert!(
        !server.log().contains("truncated"),
        "the key file's contents are never logged"
    );
}

#[test]
fn under_tls_the_session_cookies_are_secure_without_further_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install::new(tmp.path());
    let (cert, key) = certificate(tmp.path(), "site");
    let server = install.serve(&[
        ("CAIRN_TLS_CERT", cert.to_str().unwrap()),
        ("CAIRN_TLS_KEY", key.to_str().unwrap()),
    ]);
    let (status, headers, _) =
        curl_bytes(&["--cacert", cert.to_str().unwrap()], &server.url("/login"));
    assert_eq!(status, 200);
    let cookie = header(&headers, "set-cookie").expect("the login form sets its CSRF cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[test]
fn serve_tls_makes_a_self_signed_certificate_once_and_says_how_to_trust_it() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install::new(tmp.path());
    let server = install.serve(&[("CAIRN_TLS", "true")]);
    let made = install.data_dir.join("tls/self-signed.crt");
    assert!(
        server
            .stdout
            .contains(&format!("curl --cacert {}", made.display())),
        "{}",
        server.stdout
    );
    assert_eq!(healthz_trusting(&server, &made), 200);
    let key = install.data_dir.join("tls/self-signed.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    let first = std::fs::read(&made).unwrap();
    assert!(server.terminate());
    // A later start keeps the certificate its clients were told to trust.
    let again = install.serve(&[("CAIRN_TLS", "true")]);
    assert_eq!(std::fs::read(&made).unwrap(), first);
    assert_eq!(healthz_trusting(&again, &made), 200);
}

/// Over HTTP/2 an answer sent before the request's body is read resets the stream, and curl
/// then reports no status: every refusal (a wrong token's 401, a 415) must still reach a client
/// that is sending a large body.
#[test]
fn refusals_of_requests_with_large_bodies_reach_the_client_over_http2() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install::new(tmp.path());
    let (cert, key) = certificate(tmp.path(), "site");
    let server = install.serve(&[
        ("CAIRN_TLS_CERT", cert.to_str().unwrap()),
        ("CAIRN_TLS_KEY", key.to_str().unwrap()),
    ]);
    let first = server.first_start.clone().unwrap();
    let policies = server.url(&format!(
        "/public/backup-management/v2/orgs/{}/policies",
        first.org_id
    ));
    // Just under the 1 MiB limit: many HTTP/2 frames, still in flight when an early answer goes.
    let body = tmp.path().join("body.json");
    std::fs::write(
        &body,
        format!("{{\"policyName\": \"{}\"}}", "x".repeat(1000 * 1000)),
    )
    .unwrap();
    let data = format!("@{}", body.display());
    let wrong = format!("{}:cairn_wrong", first.email);
    let right = format!("{}:{}", first.email, first.token);
    for attempt in 0..10 {
        for (user, content_type, want) in [
            (&wrong, "application/json", 401),
            (&right, "text/plain", 415),
        ] {
            let (status, _, answer) = curl_bytes(
                &[
                    "--http2",
                    "--cacert",
                    cert.to_str().unwrap(),
                    "--user",
                    user,
                    "-H",
                    &format!("Content-Type: {content_type}"),
                    "--data-binary",
                    &data,
                ],
                &policies,
            );
            assert_eq!(
                status,
                want,
                "attempt {attempt}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
}
