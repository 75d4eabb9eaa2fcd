//! The transport policy against a stand-in with injected faults: 429 with `Retry-After` waited
//! and retried, 5xx retried then surfaced, dropped connections retried (downloads resume with
//! `Range`), writes not repeated when the site may have acted, the concurrency bound, the
//! `User-Agent`, and no credential in logs, errors or `Debug`.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_connectors::{Credentials, ErrorKind, Settings, Site};
use cairn_sitesim::faults::{CloseMidBody, Trigger};
use cairn_sitesim::{Access, FaultSpec, SiteSpec};
use futures::TryStreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MYSELF: &str = "GET /rest/api/3/myself";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(&sim, "s", support::quick());
    sim.set_faults(
        "s",
        FaultSpec {
            rate_limit: support::rate_limits(3, 0, 1),
            ..support::faults_on("/myself")
        },
    );
    let me = site.jira().myself().await.unwrap();
    assert_eq!(me["emailAddress"], "admin@example.com");
    assert_eq!(support::statuses(&sim, "s", MYSELF), [429, 429, 429, 200]);
    let stats = site.stats();
    assert_eq!(stats.rate_limited, 3);
    // The waits the client chose: each at least the site's Retry-After of one second.
    assert!(stats.waited >= Duration::from_secs(3), "{stats:?}");

    // A storm of 429s with Retry-After: 0 on every other request slows a full listing down but
    // it still ends with every issue.
    sim.clear_log("s");
    sim.set_faults(
        "s",
        FaultSpec {
            rate_limit: support::rate_limits(0, 2, 0),
            ..Default::default()
        },
    );
    let jql = support::jql_all(&sim, "s");
    let site = support::site(
        &sim,
        "s",
        Settings {
            page_size: Some(10),
            ..support::quick()
        },
    );
    let n = site
        .jira()
        .issues(&jql)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    assert_eq!(n, sim.with_site("s", |s| s.issues.len()));
    assert!(site.stats().rate_limited >= 5, "{:?}", site.stats());
    // The storm was what it says: every other request a 429 with Retry-After: 0 and no other
    // fault, each seen by the client as a rate limit.
    let log = sim.request_log("s");
    let kinds: std::collections::BTreeSet<&str> =
        log.iter().filter_map(|e| e.fault.as_deref()).collect();
    assert_eq!(kinds, ["429 Retry-After 0"].into(), "{kinds:?}");
    let limited = log.iter().filter(|e| e.fault.is_some()).count();
    assert!(
        log.iter().all(|e| (e.status == 429) == e.fault.is_some()),
        "only the injected requests were 429s"
    );
    assert_eq!(limited, log.len() / 2, "every other request");
    assert_eq!(
        site.stats().rate_limited,
        limited as u64,
        "{:?}",
        site.stats()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_then_surfaced() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(
        &sim,
        "s",
        Settings {
            max_retries: 3,
            ..support::quick()
        },
    );
    sim.set_faults(
        "s",
        FaultSpec {
            error: support::server_errors(2, 0, 503),
            ..support::faults_on("/myself")
        },
    );
    site.jira().myself().await.unwrap();
    assert_eq!(support::statuses(&sim, "s", MYSELF), [503, 503, 200]);

    sim.clear_log("s");
    sim.set_faults(
        "s",
        FaultSpec {
            error: support::server_errors(0, 1, 500),
            ..support::faults_on("/myself")
        },
    );
    let e = site.jira().myself().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(e.status(), Some(500));
    assert_eq!(e.call(), "GET /rest/api/3/myself");
    assert!(e.to_string().contains("gave up after 4 attempt(s)"), "{e}");
    assert_eq!(
        support::statuses(&sim, "s", MYSELF),
        [500; 4],
        "one try and max_retries more"
    );

    // A create that got a 500 may have happened: it is surfaced (retryable), never repeated.
    sim.clear_log("s");
    sim.set_faults(
        "s",
        FaultSpec {
            error: support::server_errors(0, 1, 500),
            ..support::faults_on("/rest/api/3/version")
        },
    );
    let e = site
        .jira()
        .create_version(&json!({"project": "X", "name": "v"}))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(
        support::statuses(&sim, "s", "POST /rest/api/3/version"),
        [500]
    );
    // 4xx is permanent, with Atlassian's message.
    sim.clear_faults("s");
    let e = site.jira().issue("NOPE-1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent);
    assert!(
        e.is_not_found() && e.to_string().contains("Issue does not exist"),
        "{e}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_retried_and_downloads_resume_with_range() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(&sim, "s", support::quick());
    let jql = support::jql_all(&sim, "s");
    sim.set_faults(
        "s",
        FaultSpec {
            close_mid_body: Some(CloseMidBody {
                trigger: Trigger { burst: 2, every: 0 },
                after_bytes: 500,
            }),
            ..support::faults_on("/search/jql")
        },
    );
    let n = site
        .jira()
        .issues(&jql)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    assert_eq!(n, sim.with_site("s", |s| s.issues.len()));
    assert!(site.stats().dropped >= 2, "{:?}", site.stats());

    let (att, size) = support::largest_attachment(&sim, "s");
    let whole = support::bytes_of(site.jira().attachment_content(&att, 0).await.unwrap()).await;
    sim.clear_log("s");
    sim.set_faults(
        "s",
        FaultSpec {
            // Each download is a 303 then the bytes, and the trigger counts both: four cuts are two
            // drops mid-body (and two on empty redirect bodies, which lose nothing).
            close_mid_body: Some(CloseMidBody {
                trigger: Trigger { burst: 4, every: 0 },
                after_bytes: size / 4,
            }),
            ..support::faults_on("/attachment/content")
        },
    );
    let before = site.stats().dropped;
    let again = support::bytes_of(site.jira().attachment_content(&att, 0).await.unwrap()).await;
    assert_eq!(
        blake3::hash(&again),
        blake3::hash(&whole),
        "the same bytes after two drops"
    );
    assert_eq!(site.stats().dropped - before, 2);
    let st = support::statuses(&sim, "s", "GET /rest/api/3/attachment/content/{id}");
    assert!(
        st.iter().filter(|&&s| s == 206).count() >= 2,
        "resumed with Range: {st:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_whose_body_is_cut_is_read_again_with_its_reason() {
    // Callers tell errors apart by their body (a kanban board's "does not support sprints", a
    // missing issue): an error cut mid-body is a dropped connection, not an error without reason.
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(&sim, "s", support::quick());
    sim.set_faults(
        "s",
        FaultSpec {
            close_mid_body: Some(CloseMidBody {
                trigger: Trigger { burst: 1, every: 0 },
                after_bytes: 10,
            }),
            ..support::faults_on("/issue/NOPE-1")
        },
    );
    let e = site.jira().issue("NOPE-1").await.unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("Issue does not exist"),
        "{e}"
    );
    assert_eq!(site.stats().dropped, 1, "{:?}", site.stats());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_per_site() {
    // A server that counts the requests it holds at once sees the bound, and reaches it.
    let (addr, max_seen) = counting_server().await;
    let settings = Settings {
        max_concurrency: 3,
        ..support::quick()
    };
    let site = Site::new(
        &format!("http://{addr}"),
        Credentials::new("a@b.c", "t"),
        settings,
    )
    .unwrap();
    let calls = (0..12).map(|_| {
        let site = site.clone();
        async move { site.cloud_id().await }
    });
    futures::future::try_join_all(calls).await.unwrap();
    assert_eq!(
        max_seen.load(Ordering::SeqCst),
        3,
        "at most max_concurrency requests in flight"
    );
}

/// A loopback HTTP server answering `{"cloudId":"x"}` after 50 ms, one request per connection,
/// that records the most requests it held at once.
async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let max = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let m = max.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (m, open) = (m.clone(), open.clone());
            tokio::spawn(async move {
                let _ = read_head(&mut sock).await;
                let n = open.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                open.fetch_sub(1, Ordering::SeqCst);
                let body = r#"{"cloudId":"x"}"#;
                let _ = sock
                    .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    .await;
            });
        }
    });
    (addr, max)
}

async fn read_head(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = vec![];
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut b).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&b[..n]);
    }
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn user_agent_names_cairn_and_its_version() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let head = read_head(&mut sock).await;
        let body = r#"{"cloudId":"x"}"#;
        sock.write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        head
    });
    let site = Site::new(
        &format!("http://{addr}"),
        Credentials::new("a@b.c", "t"),
        support::quick(),
    )
    .unwrap();
    assert_eq!(site.cloud_id().await.unwrap(), "x");
    let head = server.await.unwrap().to_lowercase();
    let ua = format!("user-agent: cairn/{}", env!("CARGO_PKG_VERSION"));
    assert!(head.contains(&ua), "{head}");
}

/// Captures every log line (all targets, TRACE) written while a test runs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[test]
fn no_credential_in_logs_errors_or_debug() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .finish();
    // One thread, so every log line of the client and the stand-in reaches this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (secrets, texts) = rt.block_on(async {
        let sim = support::start(vec![SiteSpec::new("s")]).await;
        let account = sim.account(Access::ReadWrite).clone();
        let site = support::site(
            &sim,
            "s",
            Settings {
                max_retries: 1,
                ..support::quick()
            },
        );
        sim.set_faults(
            "s",
            FaultSpec {
                rate_limit: support::rate_limits(1, 0, 0),
                error: support::server_errors(0, 1, 502),
                path_contains: Some("/myself".into()),
                ..Default::default()
            },
        );
        let mut texts = vec![
            format!("{site:?}"),
            format!("{:?}", Credentials::new(&account.email, &account.api_token)),
        ];
        let e = site.jira().myself().await.unwrap_err();
        texts.extend([e.to_string(), format!("{e:?}")]);
        sim.clear_faults("s");
        // Wrong token: an auth error that names the call but not the token.
        let wrong = Site::new(
            &sim.base_url("s"),
            Credentials::new(&account.email, "ATATTwrong-token-123"),
            support::quick(),
        )
        .unwrap();
        let e = wrong.jira().myself().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        texts.extend([e.to_string(), format!("{e:?}"), format!("{wrong:?}")]);
        let e = site
            .confluence()
            .content(cairn_connectors::ContentKind::Page, "999999999", "storage")
            .await
            .unwrap_err();
        texts.extend([e.to_string(), format!("{e:?}")]);
        let _: Vec<Value> = site.jira().projects().try_collect().await.unwrap();
        sim.shutdown().await;
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.email, account.api_token));
        let wrong_basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:ATATTwrong-token-123", account.email));
        (
            vec![
                account.api_token,
                basic,
                "ATATTwrong-token-123".to_string(),
                wrong_basic,
            ],
            texts,
        )
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("rate limited") && logs.contains("giving up"),
        "the capture saw the client's logs"
    );
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a credential in the logs");
        for t in &texts {
            assert!(!t.contains(s.as_str()), "a credential in {t}");
        }
    }
}

/// Answers one request on `listener` with `response` and returns the request's head.
async fn answer_once(listener: tokio::net::TcpListener, response: String) -> String {
    let (mut sock, _) = listener.accept().await.unwrap();
    let head = read_head(&mut sock).await;
    sock.write_all(response.as_bytes()).await.unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_gets_no_credential() {
    // The site answers 303 to a "media host" on another port, as Jira does for attachments.
    let site_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_addr = site_l.local_addr().unwrap();
    let media_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let media = media_l.local_addr().unwrap();
    let site_task = tokio::spawn(answer_once(
        site_l,
        format!(
            "HTTP/1.1 303 See Other\r\nlocation: http://{media}/file?token=abc\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    ));
    let media_task = tokio::spawn(answer_once(
        media_l,
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nbytes".to_string(),
    ));
    let site = Site::new(
        &format!("http://{site_addr}"),
        Credentials::new("a@b.c", "s3cret"),
        support::quick(),
    )
    .unwrap();
    let d = site.jira().attachment_content("1", 0).await.unwrap();
    assert_eq!(support::bytes_of(d).await, b"bytes");
    let site_head = site_task.await.unwrap().to_lowercase();
    let media_head = media_task.await.unwrap().to_lowercase();
    assert!(
        site_head.starts_with("get /rest/api/3/attachment/content/1 "),
        "{site_head}"
    );
    assert!(site_head.contains("authorization: basic"), "{site_head}");
    assert!(
        media_head.starts_with("get /file?token=abc "),
        "{media_head}"
    );
    assert!(
        !media_head.contains("authorization"),
        "the credential stays with the site: {media_head}"
    );
}

/// Counts the connections a listener accepts (and drops them), for "nothing connected" checks.
async fn counting_listener() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_address_not_allowed_is_refused_without_connecting() {
    use cairn_connectors::{Allow, Outbound};
    let (internal, accepted) = counting_listener().await;
    // The site is allowed by its address and port only; the redirect targets are other loopback
    // ports, as an IP literal, in an odd spelling, and by a name that resolves to loopback.
    for target in [
        format!("http://{internal}/latest/meta-data/iam/security-credentials/prod"),
        format!("http://127.1:{}/latest/meta-data/", internal.port()),
        format!("http://localhost:{}/latest/meta-data/", internal.port()),
        format!("http://[::ffff:127.0.0.1]:{}/x", internal.port()),
    ] {
        let site_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site_addr = site_l.local_addr().unwrap();
        let site_task = tokio::spawn(answer_once(
            site_l,
            format!(
                "HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            ),
        ));
        let settings = cairn_connectors::Settings {
            outbound: Outbound::new([Allow::Addr(site_addr)]),
            ..support::quick()
        };
        let site = Site::new(
            &format!("http://{site_addr}"),
            Credentials::new("a@b.c", "s3cret"),
            settings,
        )
        .unwrap();
        let e = site.jira().attachment_content("1", 0).await.unwrap_err();
        assert!(e.is_refused(), "{target}: {e}");
        assert!(!e.is_retryable(), "{target}: a refusal is final: {e}");
        assert!(e.to_string().contains("not a public address"), "{e}");
        site_task.await.unwrap();
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no redirect reached the internal listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_site_urls_and_plain_http_are_refused_without_connecting() {
    use cairn_connectors::{Outbound, Settings};
    let (addr, accepted) = counting_listener().await;
    let port = addr.port();
    let strict = Settings {
        outbound: Outbound::default(),
        ..support::quick()
    };
    for url in [
        format!("https://127.0.0.1:{port}"),
        format!("https://127.1:{port}"),
        format!("https://2130706433:{port}"),
        format!("https://0.0.0.0:{port}"),
        format!("https://[::1]:{port}"),
        format!("https://localhost:{port}"),
        "https://169.254.169.254".to_string(),
        "https://10.1.2.3".to_string(),
        "http://acme.atlassian.net".to_string(),
    ] {
        let refused = match Site::new(&url, Credentials::new("a@b.c", "t"), strict.clone()) {
            Err(e) => e,
            Ok(site) => site.cloud_id().await.unwrap_err(),
        };
        assert!(refused.is_refused(), "{url}: {refused}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Allowed by name and port: plain http too.
    let named = Settings {
        outbound: Outbound::parse(&[format!("localhost:{port}")]).unwrap(),
        ..support::quick()
    };
    assert!(
        Site::new(
            &format!("http://localhost:{port}"),
            Credentials::new("a", "t"),
            named.clone()
        )
        .is_ok()
    );
    assert!(
        Site::new(
            &format!("http://localhost:{}", port + 1),
            Credentials::new("a", "t"),
            named
        )
        .is_err()
    );
}
