//! The HTTP servers: one listener per site, routes from [`crate::routes::routes`], plus the
//! sim-only control path under `/__sim/`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{RawPathParams, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any};
use base64::Engine;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::faults::FaultState;
use crate::http::{Api, Req, json_resp, ok, parse_query, unauthorized, xsrf_failed, xsrf_ok};
use crate::throttle::{self, Call, Product, SiteThrottle, ThrottleSpec};
use crate::upload::{self, UploadError};

/// Largest JSON request body read into memory (uploads are streamed to disk instead).
const JSON_BODY_LIMIT: usize = 64 << 20;
use crate::routes::{Handler, Route, routes};
use crate::{
    Access, Account, FaultSpec, LogEntry, SimConfig, SimError, SimHandle, SiteCell, SiteInfo,
    digest, generate, model, mutate,
};

pub(crate) async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    let counts = config
        .counts
        .clone()
        .unwrap_or_else(|| config.scale.counts());
    let accounts = if config.accounts.is_empty() {
        Account::generated(config.seed)
    } else {
        config.accounts.clone()
    };
    let accounts = Arc::new(accounts);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut cells = vec![];
    let mut tasks = vec![];
    for (i, spec) in config.sites.iter().enumerate() {
        // Every site's content derives from the one seed; sites differ by name.
        let site_seed = config.seed;
        let spec2 = spec.clone();
        let counts2 = counts.clone();
        let mut site = tokio::task::spawn_blocking(move || {
            generate::generate(&spec2.name, site_seed, &counts2, spec2.empty)
        })
        .await?;
        site.upload_limit = config.upload_limit;
        site.cloud_id = model::uuid_like(&format!("{}:{}", config.seed, spec.name));
        for a in accounts.iter() {
            let local = a.email.split('@').next().unwrap_or(&a.email).to_string();
            site.users.push(model::User {
                account_id: a.account_id(),
                display_name: local,
                email: a.email.clone(),
                active: true,
            });
            if a.access == Access::ReadWrite {
                crate::permission::enrol_admin(&mut site, &a.account_id());
            }
        }
        let mut addr = config.listen;
        if addr.port() != 0 {
            addr.set_port(addr.port() + i as u16);
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let mut faults = FaultState::default();
        faults.set(config.faults.clone());
        let cell = Arc::new(SiteCell {
            info: SiteInfo {
                name: spec.name.clone(),
                base_url: format!("http://{local}"),
                cloud_id: site.cloud_id.clone(),
                empty: spec.empty,
            },
            data: RwLock::new(site),
            faults: Mutex::new(faults),
            throttle: Mutex::new(SiteThrottle::new(config.throttle.clone())),
            log: Mutex::new(vec![]),
            counters: Mutex::new(BTreeMap::new()),
            seq: Default::default(),
            accounts: accounts.clone(),
            siblings: RwLock::new(vec![]),
            uploads: tempfile::Builder::new()
                .prefix(&format!("cairn-sitesim-{}-", spec.name))
                .tempdir()?,
        });
        let app = router(cell.clone());
        let mut rx = rx.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
        }));
        cells.push(cell);
    }
    let weak: Vec<_> = cells.iter().map(Arc::downgrade).collect();
    for c in &cells {
        *c.siblings.write().unwrap() = weak.clone();
    }
    Ok(SimHandle {
        cells,
        accounts: accounts.to_vec(),
        shutdown: tx,
        tasks,
    })
}

fn axum_path(template: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = vec![];
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        let j = rest[i..].find('}').map(|j| i + j).unwrap_or(rest.len() - 1);
        out.push_str(&rest[..i]);
        out.push_str(&format!("{{p{}}}", names.len()));
        names.push(rest[i + 1..j].to_string());
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    (out, names)
}

fn router(cell: Arc<SiteCell>) -> Router {
    let mut by_path: BTreeMap<String, MethodRouter> = BTreeMap::new();
    for route in routes() {
        let (p, names) = axum_path(route.path);
        let c = cell.clone();
        let names = Arc::new(names);
        let filter = MethodFilter::try_from(route.method.clone()).expect("method");
        let h = move |params: RawPathParams, req: Request| {
            let c = c.clone();
            let names = names.clone();
            let route = route.clone();
            async move { dispatch(c, route, &names, params, req).await }
        };
        let mr = by_path.remove(&p).unwrap_or_default();
        by_path.insert(p, mr.on(filter, h));
    }
    let mut app = Router::new();
    for (p, mr) in by_path {
        let c = cell.clone();
        app = app.route(
            &p,
            mr.fallback(move |req: Request| {
                let c = c.clone();
                async move { not_found(&c, req, StatusCode::METHOD_NOT_ALLOWED) }
            }),
        );
    }
    let c = cell.clone();
    let control = move |req: Request| {
        let c = c.clone();
        async move { control(c, req).await }
    };
    let c = cell.clone();
    app.route("/__sim/{*rest}", any(control))
        .fallback(move |req: Request| {
            let c = c.clone();
            async move { not_found(&c, req, StatusCode::NOT_FOUND) }
        })
}

fn api_of(path: &str) -> Api {
    if path.starts_with("/wiki/api/v2") {
        Api::ConfV2
    } else if path.starts_with("/wiki") {
        Api::ConfV1
    } else {
        Api::Jira
    }
}

fn not_found(cell: &SiteCell, req: Request, status: StatusCode) -> Response {
    let path = req.uri().path().to_string();
    let resp = api_of(&path).error(
        status,
        "No such operation on this site (cairn-sitesim serves a subset; see its README).",
    );
    cell.record(LogEntry {
        seq: 0,
        method: req.method().to_string(),
        path,
        query: req.uri().query().unwrap_or("").into(),
        route: String::new(),
        status: resp.status().as_u16(),
        account: None,
        fault: None,
        micros: 0,
    });
    resp
}

fn authenticate<'a>(accounts: &'a [Account], headers: &http::HeaderMap) -> Option<&'a Account> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (email, token) = raw.split_once(':')?;
    accounts
        .iter()
        .find(|a| a.email.eq_ignore_ascii_case(email) && a.api_token == token)
}

/// Send `after` bytes of the body and then fail the stream, which drops the connection.
fn cut_body(resp: Response, after: u64) -> Response {
    let (mut parts, body) = resp.into_parts();
    if let Some(n) = body.size_hint().exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    let prefix = body.into_data_stream().scan(0u64, move |sent, chunk| {
        let out = match chunk {
            Ok(b) => {
                let left = after.saturating_sub(*sent);
                if left == 0 {
                    None
                } else {
                    let n = (b.len() as u64).min(left);
                    *sent += n;
                    Some(Ok::<bytes::Bytes, std::io::Error>(b.slice(..n as usize)))
                }
            }
            Err(e) => Some(Err(std::io::Error::other(e))),
        };
        futures::future::ready(out)
    });
    // Give the head and the prefix time to leave, then fail the body: hyper closes the connection.
    let tail = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<bytes::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "cairn-sitesim: connection closed mid-body",
        ))
    });
    Response::from_parts(parts, Body::from_stream(prefix.chain(tail)))
}

async fn dispatch(
    cell: Arc<SiteCell>,
    route: Route,
    names: &[String],
    raw: RawPathParams,
    req: Request,
) -> Response {
    let t0 = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let params: std::collections::HashMap<String, String> = raw
        .iter()
        .filter_map(|(k, v)| {
            let i: usize = k.strip_prefix('p')?.parse().ok()?;
            Some((names.get(i)?.clone(), crate::http::percent_decode(v)))
        })
        .collect();
    let route_name = format!("{} {}", route.method, route.path);
    let mut entry = LogEntry {
        seq: 0,
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        route: route_name.clone(),
        status: 0,
        account: None,
        fault: None,
        micros: 0,
    };

    let decision = if route.api == Api::Edge {
        Default::default()
    } else {
        cell.faults.lock().unwrap().decide(&path)
    };
    // The site's budgets (a scripted 429 is counted, not checked) and its latency.
    let (verdict, latency) = match Product::of(route.api) {
        None => (None, Duration::ZERO),
        Some(product) if decision.rate_limit.is_some() => {
            let mut t = cell.throttle.lock().unwrap();
            t.model.record_injected(&route_name, product.burst_reason());
            (None, t.model.latency())
        }
        Some(product) => {
            // A write names its issue by id or key: the per-issue limit counts the issue.
            let issue = params
                .get("issueIdOrKey")
                .filter(|_| route.is_write())
                .map(|k| {
                    cell.data
                        .read()
                        .unwrap()
                        .issue_id(k)
                        .map_or_else(|| k.to_ascii_uppercase(), |id| id.to_string())
                });
            let v = cell.throttle.lock().unwrap().check(Call {
                product,
                endpoint: &route_name,
                issue: issue.as_deref(),
            });
            let l = v.latency;
            (Some(v), l)
        }
    };
    let latency = latency + Duration::from_millis(decision.latency_ms);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let finish = |cell: &SiteCell, mut entry: LogEntry, resp: Response| {
        entry.status = resp.status().as_u16();
        entry.micros = t0.elapsed().as_micros() as u64;
        cell.record(entry);
        resp
    };
    if let Some(ra) = decision.rate_limit {
        entry.fault = Some(format!("429 Retry-After {ra}"));
        return finish(&cell, entry, throttle::injected_429(route.api, ra));
    }
    let limit_headers = verdict.as_ref().map(|v| v.headers()).unwrap_or_default();
    if verdict.as_ref().is_some_and(|v| v.refused()) {
        return finish(
            &cell,
            entry,
            throttle::too_many_requests(route.api, &limit_headers),
        );
    }
    if let Some(st) = decision.error {
        entry.fault = Some(format!("{st}"));
        let status = StatusCode::from_u16(st).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return finish(
            &cell,
            entry,
            route.api.error(status, "Injected failure (cairn-sitesim)."),
        );
    }

    let account = if route.api == Api::Edge {
        None
    } else {
        match authenticate(&cell.accounts, &parts.headers) {
            Some(a) => Some(a.clone()),
            None => return finish(&cell, entry, unauthorized(route.api)),
        }
    };
    entry.account = account.as_ref().map(|a| a.email.clone());
    if route.is_write()
        && account
            .as_ref()
            .is_some_and(|a| a.access == Access::ReadOnly)
    {
        return finish(
            &cell,
            entry,
            route.api.error(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this operation (the account is read-only).",
            ),
        );
    }
    if path.contains("/attachment/content/") || path.ends_with("/download") {
        let id = params
            .get("attachmentId")
            .or(params.get("id"))
            .cloned()
            .unwrap_or_default();
        if cell.faults.lock().unwrap().attachment_missing(&id) {
            entry.fault = Some("attachment 404".into());
            return finish(
                &cell,
                entry,
                route.api.error(
                    StatusCode::NOT_FOUND,
                    "The attachment content could not be found.",
                ),
            );
        }
    }
    let (body, uploaded) = if let Handler::Upload(_) = route.handler {
        // Atlassian checks the XSRF header before it reads an upload.
        if !xsrf_ok(&parts.headers) {
            return finish(&cell, entry, xsrf_failed());
        }
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let received = match upload::boundary(ct) {
            Ok(b) => {
                let limit = cell.data.read().unwrap().upload_limit;
                upload::receive(cell.uploads.path(), body, b, limit).await
            }
            Err(e) => Err(e),
        };
        match received {
            Ok(p) => (bytes::Bytes::new(), p),
            Err(e) => {
                let resp = match e {
                    UploadError::TooLarge => {
                        let mut r = route.api.error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "The upload is larger than the attachment size limit.",
                        );
                        // The rest of the body is not read: the connection cannot be reused.
                        r.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        r
                    }
                    UploadError::Malformed(m) => route.api.error(StatusCode::BAD_REQUEST, &m),
                    UploadError::Io(e) => {
                        tracing::warn!(error = %e, "cairn-sitesim: could not store an upload");
                        route.api.error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "The upload could not be stored.",
                        )
                    }
                };
                return finish(&cell, entry, resp);
            }
        }
    } else {
        match axum::body::to_bytes(body, JSON_BODY_LIMIT).await {
            Ok(b) => (b, vec![]),
            Err(_) => {
                return finish(
                    &cell,
                    entry,
                    route
                        .api
                        .error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
                );
            }
        }
    };
    let account = account.unwrap_or(Account {
        email: String::new(),
        api_token: String::new(),
        access: Access::ReadOnly,
    });
    let r = Req {
        method: parts.method.clone(),
        path: path.clone(),
        base: cell.info.base_url.clone(),
        api: route.api,
        params,
        query: parse_query(Some(&query)),
        headers: parts.headers,
        me: account.account_id(),
        body,
        account,
        parts: uploaded,
    };
    let resp = match route.handler {
        Handler::Read(h) => {
            let site = cell.data.read().unwrap();
            crate::jira::gate(&site, &route, &r).and_then(|_| h(&site, &r))
        }
        Handler::Write(h) | Handler::Upload(h) => {
            let mut site = cell.write();
            crate::jira::gate(&site, &route, &r).and_then(|_| h(&mut site, &r))
        }
    }
    .unwrap_or_else(|e| e);
    let mut resp = resp;
    throttle::add_headers(&mut resp, &limit_headers);
    let resp = match decision.cut_after {
        Some(n) => {
            entry.fault = Some(format!("closed after {n} bytes"));
            cut_body(resp, n)
        }
        None => resp,
    };
    finish(&cell, entry, resp)
}

async fn control(cell: Arc<SiteCell>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path()
        .trim_start_matches("/__sim/")
        .trim_end_matches('/')
        .to_string();
    // The control path needs an account of the simulation: reads any account, changes (faults,
    // mutate, clearing the log) a read-write one.
    let denied = |status: StatusCode, m: &str| {
        let mut r = json_resp(status, &json!({"error": m}));
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn-sitesim\""),
            );
        }
        r
    };
    match authenticate(&cell.accounts, req.headers()) {
        None => {
            return denied(
                StatusCode::UNAUTHORIZED,
                "The control path needs Basic credentials of an account of the simulation.",
            );
        }
        Some(a) if method != Method::GET && a.access != Access::ReadWrite => {
            return denied(
                StatusCode::FORBIDDEN,
                "Changing the simulation needs a read-write account.",
            );
        }
        Some(_) => {}
    }
    let query = parse_query(req.uri().query());
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let body = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .unwrap_or_default();
    let bad = |m: String| json_resp(StatusCode::BAD_REQUEST, &json!({"error": m}));
    match (method, path.as_str()) {
        (Method::GET, "info") => ok(
            json!({"name": cell.info.name, "baseUrl": cell.info.base_url, "cloudId": cell.info.cloud_id, "empty": cell.info.empty, "seed": cell.data.read().unwrap().seed, "uploadDir": cell.uploads.path()}),
        ),
        (Method::GET, "faults") => {
            ok(serde_json::to_value(&cell.faults.lock().unwrap().spec).unwrap_or(Value::Null))
        }
        (Method::PUT | Method::POST, "faults") => {
            match serde_json::from_slice::<FaultSpec>(&body) {
                Ok(spec) => {
                    cell.faults.lock().unwrap().set(spec.clone());
                    ok(serde_json::to_value(spec).unwrap_or(Value::Null))
                }
                Err(e) => bad(format!("invalid fault spec: {e}")),
            }
        }
        (Method::DELETE, "faults") => {
            cell.faults.lock().unwrap().set(FaultSpec::default());
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "throttle") => ok(serde_json::to_value(
            cell.throttle.lock().unwrap().model.spec(),
        )
        .unwrap_or(Value::Null)),
        (Method::PUT | Method::POST, "throttle") => {
            match serde_json::from_slice::<ThrottleSpec>(&body)
                .map_err(|e| e.to_string())
                .and_then(|spec| spec.validate().map(|()| spec))
            {
                Ok(spec) => {
                    *cell.throttle.lock().unwrap() = SiteThrottle::new(spec.clone());
                    ok(serde_json::to_value(spec).unwrap_or(Value::Null))
                }
                Err(e) => bad(format!("invalid throttle spec: {e}")),
            }
        }
        (Method::DELETE, "throttle") => {
            *cell.throttle.lock().unwrap() = SiteThrottle::new(ThrottleSpec::default());
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "stats") => {
            ok(serde_json::to_value(cell.throttle.lock().unwrap().stats()).unwrap_or(Value::Null))
        }
        (Method::DELETE, "stats") => {
            cell.throttle.lock().unwrap().reset_stats();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "log") => {
            let since: u64 = q("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            let log: Vec<LogEntry> = cell
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.seq >= since)
                .cloned()
                .collect();
            ok(serde_json::to_value(log).unwrap_or(Value::Null))
        }
        (Method::DELETE, "log") => {
            cell.log.lock().unwrap().clear();
            cell.counters.lock().unwrap().clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, "counters") => {
            ok(serde_json::to_value(&*cell.counters.lock().unwrap()).unwrap_or(Value::Null))
        }
        (Method::GET, "content") => ok(digest::canonical(&cell.data.read().unwrap())),
        (Method::GET, "digest") => {
            let c = digest::canonical(&cell.data.read().unwrap());
            ok(json!({"digest": digest::digest(&c), "summary": digest::summary(&c)}))
        }
        (Method::GET, "diff") => {
            let Some(other) = q("other").and_then(|o| cell.sibling(&o)) else {
                return bad("?other=SITE names no site of this simulation".into());
            };
            let ignore = digest::Ignore {
                properties: query
                    .iter()
                    .filter(|(n, _)| n == "ignoreProperty")
                    .map(|(_, v)| v.clone())
                    .collect(),
                personal_spaces: q("ignorePersonalSpaces").as_deref() == Some("true"),
            };
            let a = digest::canonical(&cell.data.read().unwrap());
            let b = digest::canonical(&other.data.read().unwrap());
            let d = digest::compare(a, b, &ignore);
            ok(json!({"equal": d.is_empty(), "differences": d}))
        }
        (Method::POST, "mutate") => {
            let Some(p) = q("percent").and_then(|p| p.parse::<f64>().ok()) else {
                return bad("?percent=N is required".into());
            };
            let rep = mutate::mutate(&mut cell.write(), p);
            ok(serde_json::to_value(rep).unwrap_or(Value::Null))
        }
        _ => json_resp(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown control path", "paths": ["GET info", "GET|PUT|DELETE faults", "GET|PUT|DELETE throttle", "GET|DELETE stats", "GET|DELETE log", "GET counters", "GET content", "GET digest", "GET diff?other=SITE[&ignoreProperty=KEY...][&ignorePersonalSpaces=true]", "POST mutate?percent=N"]}),
        ),
    }
}
