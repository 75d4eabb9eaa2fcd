//! A proxy in front of a stand-in site that twists some attachment downloads: a redirect to an
//! internal address, or one byte more than the site's metadata says.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

#[derive(Clone, Debug)]
pub enum Twist {
    /// Answer the download with `302 Location: <url>`.
    RedirectTo(String),
    /// Serve the bytes with one byte appended.
    OneByteMore,
}

struct Shared {
    /// The site's URL and the twists, set once the site runs.
    target: std::sync::OnceLock<(String, BTreeMap<String, Twist>)>,
    base: String,
    http: reqwest::Client,
}

pub struct Proxy {
    pub base: String,
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on loopback; it forwards once [`Proxy::forward_to`] names the site.
    pub async fn start() -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target: std::sync::OnceLock::new(),
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            base: shared.base.clone(),
            addr,
            shared,
        }
    }

    pub fn forward_to(&self, upstream: &str, twists: BTreeMap<String, Twist>) {
        let _ = self
            .shared
            .target
            .set((upstream.trim_end_matches('/').to_string(), twists));
    }
}

async fn forward(State(p): State<Arc<Shared>>, req: Request) -> Response {
    let (upstream, twists) = p.target.get().expect("forward_to before any request");
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let final_bytes = query
        .as_deref()
        .is_some_and(|q| q.contains("redirect=false"));
    let twist = path
        .strip_prefix("/rest/api/3/attachment/content/")
        .and_then(|id| twists.get(id))
        .cloned();
    if let Some(Twist::RedirectTo(url)) = &twist
        && !final_bytes
    {
        return Response::builder()
            .status(302)
            .header("location", url)
            .body(Body::empty())
            .unwrap();
    }
    let url = format!(
        "{}{path}{}",
        upstream,
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut out = p.http.request(method, &url);
    for (name, value) in req.headers() {
        if name != "host" && name != "content-length" {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer = out.body(body).send().await.unwrap();
    let mut resp = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).replace(upstream.as_str(), &p.base);
        resp = resp.header(name.as_str(), value);
    }
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    if matches!(twist, Some(Twist::OneByteMore)) && final_bytes {
        bytes.push(b'!');
    } else if twist.is_none() {
        bytes = String::from_utf8(bytes.clone())
            .map(|t| t.replace(upstream.as_str(), &p.base).into_bytes())
            .unwrap_or(bytes);
    }
    resp.body(Body::from(bytes)).unwrap()
}

/// A listener that counts the connections it accepts and answers each with a secret, as an
/// internal service (the cloud metadata service) would.
pub async fn internal_service() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let body = "INTERNAL-SECRET-CREDENTIALS";
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    (addr, accepted)
}
