//! The transport policy, in one place: authentication, `User-Agent`, the pacer of the site
//! (`pacer.rs`: its rate-limit budgets and the adaptive concurrency bound), 429 with
//! `Retry-After` / `X-RateLimit-Reset`, retries of 5xx and dropped connections with exponential
//! backoff and jitter, redirects, and resumable byte streams.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::outbound::{Outbound, refused_in};
use crate::pacer::{Keys, Learned, Pacer, Signals, Slot};
use crate::stats::{Count, Counters, Stats};

/// A stream of bytes (attachment content, both ways).
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!(
    "Cairn/",
    env!("CARGO_PKG_VERSION"),
    " (cairn-connectors; self-hosted backup)"
);

/// An Atlassian account's email and API token. `Debug` never shows the token.
#[derive(Clone)]
pub struct Credentials {
    email: String,
    token: String,
}

impl Credentials {
    pub fn new(email: impl Into<String>, api_token: impl Into<String>) -> Self {
        Credentials {
            email: email.into(),
            token: api_token.into(),
        }
    }
    pub fn email(&self) -> &str {
        &self.email
    }
    fn header(&self) -> HeaderValue {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.email, self.token));
        let mut v = HeaderValue::from_str(&format!("Basic {b64}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        v.set_sensitive(true);
        v
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("api_token", &"[redacted]")
            .finish()
    }
}

/// Transport settings of one site.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The most requests in flight at once against this site (an open download holds one
    /// slot): the ceiling of the pacer's adaptive bound.
    pub max_concurrency: usize,
    /// Retries of a 5xx or a dropped connection before the error is surfaced.
    pub max_retries: usize,
    /// Retries after 429 before the error is surfaced (a rate-limit storm slows, not fails).
    pub max_rate_limited: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest single wait a `Retry-After` may impose.
    pub max_retry_after: Duration,
    pub connect_timeout: Duration,
    /// The longest silence while reading a response (not a limit on a whole download).
    pub read_timeout: Duration,
    /// Cap every page size below each API's maximum (tests walk pages of 1 and 7).
    pub page_size: Option<usize>,
    /// Which addresses may be connected to (public ones only by default).
    pub outbound: Outbound,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrency: 8,
            max_retries: 6,
            max_rate_limited: 30,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            page_size: None,
            outbound: Outbound::default(),
        }
    }
}

/// One multipart file to upload. `open` is called once per attempt, so a retried upload streams
/// from the start again without holding the bytes.
#[derive(Clone)]
pub struct Upload {
    pub filename: String,
    pub media_type: String,
    /// Sent as the part's length when known.
    pub length: Option<u64>,
    pub open: Arc<dyn Fn() -> ByteStream + Send + Sync>,
}

impl Upload {
    /// An upload of bytes already in memory (small files, tests).
    pub fn from_bytes(filename: &str, media_type: &str, data: Bytes) -> Upload {
        let len = data.len() as u64;
        Upload {
            filename: filename.into(),
            media_type: media_type.into(),
            length: Some(len),
            open: Arc::new(move || {
                futures::stream::once(futures::future::ready(Ok(data.clone()))).boxed()
            }),
        }
    }
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("filename", &self.filename)
            .field("media_type", &self.media_type)
            .field("length", &self.length)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) enum Body {
    Empty,
    Json(Value),
    File(Upload),
}

/// One logical call. `path` starts with `/` and may carry a query already (`_links.next`).
#[derive(Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub range_from: Option<u64>,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Req {
        Req {
            method: Method::GET,
            path: path.into(),
            query: vec![],
            body: Body::Empty,
            range_from: None,
        }
    }
    pub fn send(method: Method, path: impl Into<String>, body: Value) -> Req {
        Req {
            body: Body::Json(body),
            method,
            ..Req::get(path)
        }
    }
    pub fn q(mut self, k: &str, v: impl ToString) -> Req {
        self.query.push((k.to_string(), v.to_string()));
        self
    }
    fn idempotent(&self) -> bool {
        // A JQL search and a bulk changelog fetch are POSTs that only read.
        // Confluence's PUTs carry a version number: a repeat after a lost answer is a 409.
        self.method == Method::GET
            || (self.method == Method::PUT && !self.path.starts_with("/wiki/"))
            || self.path.ends_with("/search/jql")
            || self.path.ends_with("/changelog/bulkfetch")
            || self.path.ends_with("/search/approximate-count")
    }
    fn name(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }
}

/// A successful JSON answer.
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Value,
}

enum Attempt<T> {
    Done(T),
    Fail(Error),
    /// 429 (or 503 with `Retry-After`): wait as told, then try again.
    Limited {
        status: u16,
        wait: Option<Duration>,
    },
    /// 5xx or a connection problem; `write_safe` when the site cannot have acted on it.
    Transient {
        status: Option<u16>,
        message: String,
        write_safe: bool,
    },
}

pub(crate) struct Transport {
    base: String,
    origin: String,
    http: reqwest::Client,
    auth: HeaderValue,
    pacer: Arc<Pacer>,
    pub settings: Settings,
    counters: Arc<Counters>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(site_url: &str, creds: &Credentials, settings: Settings) -> Result<Transport> {
        let url = reqwest::Url::parse(site_url.trim()).map_err(|e| Error::Config {
            // Whatever stood before an `@` may be a credential: never echo it.
            url: site_url.rsplit('@').next().unwrap_or_default().to_string(),
            message: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config {
                url: site_url.to_string(),
                message: "expected http(s)://host".into(),
            });
        }
        settings.outbound.check_url(&url)?;
        if url.scheme() == "http" && !settings.outbound.allows(&url) {
            // The Basic credential must not cross the network in clear.
            return Err(Error::Refused {
                call: "site URL".into(),
                message: format!(
                    "{}: plain http is only for hosts the operator allows; use https",
                    url.host_str().unwrap_or_default()
                ),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials never travel in URLs (they would end up in logs and errors).
            return Err(Error::Config {
                url: format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
                message: "the URL must not carry credentials".into(),
            });
        }
        let origin = url.origin().ascii_serialization();
        let base = format!("{origin}{}", url.path().trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(settings.outbound.clone())
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .build()
            .map_err(|e| Error::Config {
                url: base.clone(),
                message: e.to_string(),
            })?;
        let site = base.split_once("://").map_or(base.as_str(), |(_, s)| s);
        let counters = Arc::new(Counters::for_site(site));
        Ok(Transport {
            pacer: Arc::new(Pacer::new(
                settings.max_concurrency,
                settings.max_retry_after,
                counters.clone(),
                Learned::for_site(site),
            )),
            base,
            origin,
            http,
            auth: creds.header(),
            settings,
            counters,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn stats(&self) -> Stats {
        self.counters.stats()
    }

    /// The page size to ask for, given the API's maximum.
    pub fn page(&self, max: usize) -> usize {
        self.settings.page_size.map_or(max, |p| p.clamp(1, max))
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.settings.min_backoff)
            .with_max_delay(self.settings.max_backoff)
            .with_max_times(self.settings.max_retries)
            .with_jitter()
            .build()
    }

    async fn pause(&self, wait: Duration) {
        self.counters.add(
            Count::WaitedMs,
            wait.as_millis().min(u64::MAX as u128) as u64,
        );
        tokio::time::sleep(wait).await;
    }

    /// Runs `attempt` until it is done, fails for good, or the retry budget is spent.
    async fn run<T, F, Fut>(&self, req: &Req, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let call = req.name();
        let idempotent = req.idempotent();
        let mut backoff = self.backoff();
        let mut attempts = 0u32;
        let mut limited = 0usize;
        loop {
            attempts += 1;
            match attempt().await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Limited { status, wait } => {
                    limited += 1;
                    if limited > self.settings.max_rate_limited {
                        return Err(Error::Retryable {
                            call,
                            status: Some(status),
                            attempts,
                            message: "still rate limited".into(),
                        });
                    }
                    let wait = match wait {
                        Some(w) => {
                            w.min(self.settings.max_retry_after)
                                + jitter(self.settings.min_backoff / 4)
                        }
                        None => backoff.next().unwrap_or(self.settings.max_backoff),
                    };
                    tracing::info!(call = %call, status, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
                    self.pause(wait).await;
                }
                Attempt::Transient {
                    status,
                    message,
                    write_safe,
                } => {
                    let next = if idempotent || write_safe {
                        backoff.next()
                    } else {
                        None
                    };
                    let Some(wait) = next else {
                        tracing::warn!(call = %call, status, attempts, "giving up: {message}");
                        return Err(Error::Retryable {
                            call,
                            status,
                            attempts,
                            message,
                        });
                    };
                    tracing::info!(call = %call, status, attempt = attempts, wait_ms = wait.as_millis() as u64, "retrying: {message}");
                    self.pause(wait).await;
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// One attempt: wait for the pacer, send (following redirects by hand, so the credential
    /// goes only to this site's origin), tell the pacer what the site's headers said, and
    /// classify the status.
    async fn attempt(&self, req: &Req) -> Attempt<(reqwest::Response, Slot)> {
        let keys = Keys::of(&req.method, &req.path);
        let slot = self.pacer.admit(&keys).await;
        let mut url = self.url(&req.path);
        let mut query = req.query.clone();
        for _hop in 0..5 {
            let same_origin =
                url.starts_with(&self.origin) && url[self.origin.len()..].starts_with(['/', '?']);
            let full = with_query(&url, &query);
            // Every hop: an IP-literal host skips the resolver, so it is checked here.
            let checked = reqwest::Url::parse(&full)
                .map_err(|e| Error::protocol(&req.name(), format!("bad URL: {e}")))
                .and_then(|u| {
                    self.settings
                        .outbound
                        .check_url(&u)
                        .map_err(|r| Error::refused(&req.name(), r))
                });
            if let Err(e) = checked {
                return Attempt::Fail(e);
            }
            let mut rb = self.http.request(req.method.clone(), &full);
            if same_origin {
                rb = rb.header(header::AUTHORIZATION, self.auth.clone());
            }
            if let Some(from) = req.range_from {
                rb = rb.header(header::RANGE, format!("bytes={from}-"));
            }
            rb = match &req.body {
                Body::Empty => rb,
                Body::Json(v) => rb.json(v),
                Body::File(u) => {
                    let body = reqwest::Body::wrap_stream((u.open)());
                    let part = match u.length {
                        Some(n) => reqwest::multipart::Part::stream_with_length(body, n),
                        None => reqwest::multipart::Part::stream(body),
                    };
                    let part = match part.file_name(u.filename.clone()).mime_str(&u.media_type) {
                        Ok(p) => p,
                        Err(e) => {
                            return Attempt::Fail(Error::protocol(
                                &req.name(),
                                format!("media type: {e}"),
                            ));
                        }
                    };
                    rb.header("X-Atlassian-Token", "no-check")
                        .multipart(reqwest::multipart::Form::new().part("file", part))
                }
            };
            self.counters.add(Count::Requests, 1);
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(r) = refused_in(&e) {
                        return Attempt::Fail(Error::refused(&req.name(), r));
                    }
                    self.counters.add(Count::Dropped, 1);
                    return Attempt::Transient {
                        status: None,
                        message: describe(&e),
                        write_safe: e.is_connect(),
                    };
                }
            };
            let status = resp.status();
            if same_origin {
                let signals = Signals::parse(resp.headers(), chrono::Utc::now());
                self.pacer.observe(
                    &keys,
                    status.as_u16(),
                    &signals,
                    slot.round,
                    tokio::time::Instant::now(),
                );
            }
            tracing::debug!(call = %req.name(), status = status.as_u16(), "atlassian call");
            if status.is_redirection() && req.method == Method::GET {
                let Some(loc) = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                else {
                    return Attempt::Fail(Error::protocol(
                        &req.name(),
                        "redirect without Location",
                    ));
                };
                url = match resp.url().join(loc) {
                    Ok(u) => u.to_string(),
                    Err(e) => {
                        return Attempt::Fail(Error::protocol(
                            &req.name(),
                            format!("bad Location: {e}"),
                        ));
                    }
                };
                query.clear();
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.counters.add(Count::RateLimited, 1);
                return Attempt::Limited {
                    status: 429,
                    wait: retry_after(resp.headers()),
                };
            }
            if status.is_server_error() {
                self.counters.add(Count::ServerErrors, 1);
                let wait = retry_after(resp.headers());
                if status == StatusCode::SERVICE_UNAVAILABLE && wait.is_some() {
                    return Attempt::Limited { status: 503, wait };
                }
                return Attempt::Transient {
                    status: Some(status.as_u16()),
                    message: format!("HTTP {}", status.as_u16()),
                    // A gateway answering 502/503/504 never handed the write to Jira.
                    write_safe: status != StatusCode::INTERNAL_SERVER_ERROR,
                };
            }
            if !status.is_success() {
                // The error's body says what went wrong (and callers tell some errors apart by
                // it): a connection dropped while reading it is a dropped connection, not the
                // error without its reason.
                let body = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        self.counters.add(Count::Dropped, 1);
                        return Attempt::Transient {
                            status: None,
                            message: describe(&e),
                            write_safe: false,
                        };
                    }
                };
                return Attempt::Fail(Error::from_status(&req.name(), status.as_u16(), &body));
            }
            return Attempt::Done((resp, slot));
        }
        Attempt::Fail(Error::protocol(&req.name(), "too many redirects"))
    }

    /// A call whose answer is JSON (or empty: `Value::Null`). Dropped bodies are retried.
    pub async fn call(&self, req: Req) -> Result<Reply> {
        let name = req.name();
        self.run(&req, || async {
            match self.attempt(&req).await {
                Attempt::Done((resp, slot)) => {
                    let headers = resp.headers().clone();
                    let bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            self.counters.add(Count::Dropped, 1);
                            return Attempt::Transient {
                                status: None,
                                message: describe(&e),
                                write_safe: false,
                            };
                        }
                    };
                    drop(slot);
                    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
                        Value::Null
                    } else {
                        match serde_json::from_slice(&bytes) {
                            Ok(v) => v,
                            Err(e) => {
                                return Attempt::Fail(Error::protocol(
                                    &name,
                                    format!("not JSON: {e}"),
                                ));
                            }
                        }
                    };
                    Attempt::Done(Reply { headers, body })
                }
                Attempt::Fail(e) => Attempt::Fail(e),
                Attempt::Limited { status, wait } => Attempt::Limited { status, wait },
                Attempt::Transient {
                    status,
                    message,
                    write_safe,
                } => Attempt::Transient {
                    status,
                    message,
                    write_safe,
                },
            }
        })
        .await
    }

    pub async fn json(&self, req: Req) -> Result<Value> {
        Ok(self.call(req).await?.body)
    }

    /// A download as a byte stream that resumes with `Range` where a connection dropped. Errors
    /// before the first byte (404, auth) come back here, not in the stream.
    pub async fn download(self: &Arc<Self>, path: String, from: u64) -> Result<Download> {
        let mut req = Req::get(path);
        req.range_from = (from > 0).then_some(from);
        let (resp, slot) = self.open(&req).await?;
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let total = total_length(&resp);
        if from > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(Error::protocol(&req.name(), "the site ignored Range"));
        }
        let state = DownloadState {
            t: self.clone(),
            req,
            offset: from,
            total,
            body: Some((resp.bytes_stream().boxed(), slot)),
            backoff: None,
        };
        Ok(Download {
            total_length: total,
            content_type,
            stream: futures::stream::unfold(state, DownloadState::next).boxed(),
        })
    }

    async fn open(&self, req: &Req) -> Result<(reqwest::Response, Slot)> {
        self.run(req, || self.attempt(req)).await
    }
}

/// An attachment's bytes.
pub struct Download {
    /// The full size of the content, when the site said it.
    pub total_length: Option<u64>,
    pub content_type: Option<String>,
    pub stream: ByteStream,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("total_length", &self.total_length)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

struct DownloadState {
    t: Arc<Transport>,
    req: Req,
    offset: u64,
    total: Option<u64>,
    body: Option<(BoxStream<'static, reqwest::Result<Bytes>>, Slot)>,
    backoff: Option<Box<dyn Iterator<Item = Duration> + Send>>,
}

impl DownloadState {
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Self)> {
        loop {
            if self.body.is_none() {
                if self.total.is_some_and(|t| self.offset >= t) {
                    return None;
                }
                self.req.range_from = Some(self.offset);
                match self.t.open(&self.req).await {
                    Ok((resp, slot)) if resp.status() == StatusCode::PARTIAL_CONTENT => {
                        self.body = Some((resp.bytes_stream().boxed(), slot));
                    }
                    Ok(_) => {
                        return Some((
                            Err(std::io::Error::other(format!(
                                "{}: the site ignored Range on resume",
                                self.req.name()
                            ))),
                            self,
                        ));
                    }
                    Err(e) => return Some((Err(std::io::Error::other(e)), self)),
                }
            }
            let (body, _) = self.body.as_mut()?;
            match body.next().await {
                Some(Ok(b)) => {
                    self.offset += b.len() as u64;
                    return Some((Ok(b), self));
                }
                None if self.total.is_none_or(|t| self.offset >= t) => {
                    self.body = None;
                    return None;
                }
                end => {
                    // Dropped mid-body (an error, or an end before the announced length).
                    self.body = None;
                    self.t.counters.add(Count::Dropped, 1);
                    let why = match end {
                        Some(Err(e)) => describe(&e),
                        _ => "connection ended early".into(),
                    };
                    let t = self.t.clone();
                    let wait = self
                        .backoff
                        .get_or_insert_with(|| Box::new(t.backoff()))
                        .next();
                    let Some(wait) = wait else {
                        return Some((
                            Err(std::io::Error::other(Error::Retryable {
                                call: self.req.name(),
                                status: None,
                                attempts: t.settings.max_retries as u32 + 1,
                                message: why,
                            })),
                            self,
                        ));
                    };
                    tracing::info!(call = %self.req.name(), offset = self.offset, "download dropped ({why}); resuming with Range");
                    t.pause(wait).await;
                }
            }
        }
    }
}

fn with_query(url: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return url.to_string();
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        q.append_pair(k, v);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", q.finish())
}

fn total_length(resp: &reqwest::Response) -> Option<u64> {
    if let Some(cr) = resp
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        // bytes a-b/total
        return cr.rsplit('/').next().and_then(|t| t.parse().ok());
    }
    resp.content_length()
}

/// `Retry-After`, else `X-RateLimit-Reset` (read as the pacer reads them).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let s = Signals::parse(h, chrono::Utc::now());
    s.retry_after.or(s.reset_in)
}

fn jitter(max: Duration) -> Duration {
    use rand::Rng;
    let ms = max.as_millis() as u64;
    Duration::from_millis(if ms == 0 {
        0
    } else {
        rand::rng().random_range(0..=ms)
    })
}

/// A reqwest error without its URL's query (it may hold JQL) and never with credentials (they
/// travel only in a sensitive header).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "response body interrupted"
    } else {
        "request failed"
    };
    let mut src = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_and_reset() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        let at = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
        h.insert("X-RateLimit-Reset", HeaderValue::from_str(&at).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(20) && d <= Duration::from_secs(30));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn which_calls_may_repeat() {
        let put = |p: &str| Req::send(Method::PUT, p, Value::Null);
        assert!(Req::get("/rest/api/3/myself").idempotent());
        assert!(Req::send(Method::POST, "/rest/api/3/search/jql", Value::Null).idempotent());
        assert!(put("/rest/api/3/issue/A-1/properties/k").idempotent());
        assert!(!put("/wiki/api/v2/pages/1").idempotent(), "versioned");
        assert!(!Req::send(Method::POST, "/rest/api/3/issue", Value::Null).idempotent());
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = Credentials::new("a@example.com", "ATATT-very-secret");
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret") && d.contains("[redacted]"));
        assert!(c.header().is_sensitive());
    }

    #[test]
    fn urls_with_userinfo_are_refused_without_echoing_it() {
        let e = Transport::new(
            "https://a:tok3n@x.atlassian.net",
            &Credentials::new("a", "b"),
            Settings::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("tok3n"));
        let e = Transport::new(
            "ht tp://a:tok3n@x",
            &Credentials::new("a", "b"),
            Settings::default(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("tok3n"), "{e}");
        assert!(
            Transport::new("ftp://x", &Credentials::new("a", "b"), Settings::default()).is_err()
        );
    }
}
