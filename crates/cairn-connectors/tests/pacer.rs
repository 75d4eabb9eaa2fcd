//! The pacer through the real transport, against a loopback server that answers with scripted
//! rate-limit headers (fault injection): the transport slows down when the headers warn and
//! speeds up again when they stop, honours `Retry-After` for the budget a 429 names while other
//! endpoints go on, and pauses the whole site for a 429 without a reason.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_connectors::{Credentials, Settings, Site};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MYSELF: &str = "/rest/api/3/myself";
const TENANT: &str = "/_edge/tenant_info";

/// What the server answers to the `n`th request (from 0) of a path: status and headers.
type Script = dyn Fn(&str, usize) -> (u16, Vec<(String, String)>) + Send + Sync;

struct Server {
    site: Site,
    /// `(path, status)` of every request, in the order they arrived.
    log: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Server {
    fn log(&self) -> Vec<(String, u16)> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(settings: Settings, script: Arc<Script>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (log, counts, script) = (l.clone(), counts.clone(), script.clone());
            tokio::spawn(async move {
                let head = read_head(&mut sock).await;
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_string();
                let n = {
                    let mut c = counts.lock().unwrap();
                    let n = c.entry(path.clone()).or_default();
                    *n += 1;
                    *n - 1
                };
                let (status, headers) = script(&path, n);
                log.lock().unwrap().push((path, status));
                let body = if status == 429 {
                    r#"{"errorMessages":["Rate limit exceeded."],"errors":{}}"#
                } else {
                    r#"{"cloudId":"x","accountId":"a"}"#
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    if status == 429 {
                        "Too Many Requests"
                    } else {
                        "OK"
                    },
                    body.len()
                );
                for (k, v) in headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(body);
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    let site = Site::new(
        &format!("http://{addr}"),
        Credentials::new("a@b.c", "t"),
        settings,
    )
    .unwrap();
    Server { site, log }
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

fn header(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// `X-RateLimit-Reset` as Atlassian writes it, `secs` from now.
fn reset_in(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Waits until `cond` holds; a test whose condition never comes fails instead of hanging.
async fn until(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition never held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_slows_down_when_headers_warn_and_speeds_up_when_they_stop() {
    // The first 12 answers say how much of the endpoint's budget of 10 is left (Remaining
    // falling to 1) and, from the third, that it is nearly spent; after them, no warning.
    let script: Arc<Script> = Arc::new(|_path, n| {
        if n >= 12 {
            return (200, vec![]);
        }
        let remaining = 9usize.saturating_sub(n).max(1);
        let mut h = vec![
            header("X-RateLimit-Limit", 10),
            header("X-RateLimit-Remaining", remaining),
            header("X-RateLimit-Reset", reset_in(2)),
        ];
        if n >= 2 {
            h.push(header("X-RateLimit-NearLimit", "true"));
        }
        (200, h)
    });
    let settings = Settings {
        max_concurrency: 4,
        ..support::quick()
    };
    let server = serve(settings, script).await;
    let site = &server.site;
    assert_eq!(site.stats().concurrency, 2, "starts low, under the ceiling");
    let calls = (0..12).map(|_| site.cloud_id());
    futures::future::try_join_all(calls).await.unwrap();
    let warned = site.stats();
    assert!(
        warned.budget_waited > Duration::ZERO,
        "requests waited on the budget: {warned:?}"
    );
    assert!(warned.concurrency < 4, "the bound came down: {warned:?}");
    assert_eq!(warned.rate_limited, 0, "{warned:?}");
    assert_eq!(warned.waiting, 0, "nothing waits once all are done");

    // The warnings stop (the first answer without one clears the budget; the request that
    // brought it may still have waited out the last spacing): the bound climbs back to the
    // ceiling, and no further, and requests wait only for the endpoint's steady pace (9 a
    // second of its limit of 10), not for the near spacing.
    site.cloud_id().await.unwrap();
    let cleared = site.stats();
    for _ in 0..39 {
        site.cloud_id().await.unwrap();
    }
    let clear = site.stats();
    assert_eq!(clear.concurrency, 4, "{clear:?}");
    let paced = clear.budget_waited - cleared.budget_waited;
    assert!(
        paced <= Duration::from_millis(112) * 39,
        "{paced:?} waited by 39 requests"
    );
    assert_eq!(server.log().len(), 52);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_back_the_endpoint_it_names_and_other_endpoints_go_on() {
    let script: Arc<Script> = Arc::new(|path, n| {
        if path == MYSELF && n == 0 {
            (
                429,
                vec![
                    header("Retry-After", 2),
                    header("RateLimit-Reason", "jira-burst-based"),
                    header("X-RateLimit-Reset", reset_in(2)),
                ],
            )
        } else {
            (200, vec![])
        }
    });
    let server = serve(support::quick(), script).await;
    let site = server.site.clone();
    let me = tokio::spawn({
        let site = site.clone();
        async move { site.jira().myself().await }
    });
    until(|| !server.log().is_empty()).await;
    // While /myself waits out its Retry-After, another endpoint is answered at once.
    site.cloud_id().await.unwrap();
    me.await.unwrap().unwrap();
    assert_eq!(
        server.log(),
        [
            (MYSELF.to_string(), 429),
            (TENANT.to_string(), 200),
            (MYSELF.to_string(), 200)
        ]
    );
    let stats = site.stats();
    assert_eq!(
        (stats.rate_limited, stats.limited_by.burst),
        (1, 1),
        "{stats:?}"
    );
    assert!(stats.waited >= Duration::from_secs(2), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_a_reason_holds_back_the_whole_site() {
    let script: Arc<Script> = Arc::new(|path, n| {
        if path == MYSELF && n == 0 {
            (429, vec![header("Retry-After", 2)])
        } else {
            (200, vec![])
        }
    });
    let server = serve(support::quick(), script).await;
    let site = server.site.clone();
    let me = tokio::spawn({
        let site = site.clone();
        async move { site.jira().myself().await }
    });
    // Until the client has read the 429 (the server logs it before answering), another
    // request could still be sent before the site's budget is set.
    until(|| site.stats().rate_limited == 1).await;
    let other = tokio::spawn({
        let site = site.clone();
        async move { site.cloud_id().await }
    });
    // The other endpoint's request waits on the site's budget instead of being sent.
    until(|| site.stats().waiting == 1).await;
    assert_eq!(server.log().len(), 1, "nothing else was sent meanwhile");
    other.await.unwrap().unwrap();
    me.await.unwrap().unwrap();
    let stats = site.stats();
    assert_eq!(stats.limited_by.unspecified, 1, "{stats:?}");
    assert_eq!(stats.waiting, 0);
    assert!(stats.budget_waited > Duration::ZERO, "{stats:?}");
    assert_eq!(server.log().len(), 3);
}
