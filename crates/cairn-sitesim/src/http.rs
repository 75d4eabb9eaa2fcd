//! Request plumbing shared by the Jira and Confluence handlers: the request type, responses,
//! error bodies in each API's own shape, and the paging styles.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Account;

/// Which of Atlassian's APIs a route belongs to (decides error shapes and reference document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Jira,
    Agile,
    ConfV2,
    ConfV1,
    Edge,
}

impl Api {
    pub fn error(self, status: StatusCode, msg: &str) -> Response {
        match self {
            Api::Jira | Api::Agile | Api::Edge => jira_error(status, msg),
            Api::ConfV2 => conf2_error(status, msg),
            Api::ConfV1 => conf1_error(status, msg),
        }
    }
}

pub struct Req {
    pub method: Method,
    pub path: String,
    pub base: String,
    pub api: Api,
    pub params: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub account: Account,
    /// accountId of the caller in the site's directory.
    pub me: String,
    /// The parts of a multipart upload (upload routes only; the body is then empty).
    pub parts: Vec<crate::upload::Part>,
}

impl Req {
    pub fn p(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn q_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
    pub fn q_num(&self, name: &str, default: usize) -> Result<usize, Response> {
        match self.q(name) {
            None | Some("") => Ok(default),
            Some(v) => v.parse::<i64>().map(|n| n.max(0) as usize).map_err(|_| {
                self.api.error(
                    StatusCode::BAD_REQUEST,
                    &format!("The '{name}' parameter must be a number."),
                )
            }),
        }
    }
    pub fn q_bool(&self, name: &str) -> bool {
        self.q(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    pub fn json(&self) -> Result<Value, Response> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            self.api.error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid request payload: {e}"),
            )
        })
    }
    pub fn err(&self, status: StatusCode, msg: &str) -> Response {
        self.api.error(status, msg)
    }
    pub fn not_found(&self, what: &str) -> Response {
        self.api.error(StatusCode::NOT_FOUND, what)
    }
}

pub fn json_resp(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}

pub fn ok(v: Value) -> Response {
    json_resp(StatusCode::OK, &v)
}

pub fn created(v: Value) -> Response {
    json_resp(StatusCode::CREATED, &v)
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

pub fn jira_error(status: StatusCode, msg: &str) -> Response {
    json_resp(status, &json!({"errorMessages": [msg], "errors": {}}))
}

pub fn jira_field_errors(errors: Value) -> Response {
    json_resp(
        StatusCode::BAD_REQUEST,
        &json!({"errorMessages": [], "errors": errors}),
    )
}

pub fn conf2_error(status: StatusCode, msg: &str) -> Response {
    let code = status
        .canonical_reason()
        .unwrap_or("ERROR")
        .to_ascii_uppercase()
        .replace(' ', "_");
    json_resp(
        status,
        &json!({"errors": [{"status": status.as_u16(), "code": code, "title": msg, "detail": null}]}),
    )
}

pub fn conf1_error(status: StatusCode, msg: &str) -> Response {
    json_resp(
        status,
        &json!({"statusCode": status.as_u16(), "data": {"authorized": status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN, "valid": status != StatusCode::BAD_REQUEST, "errors": [], "successful": false}, "message": msg}),
    )
}

/// The 401 bodies Atlassian sends for missing or wrong credentials.
pub fn unauthorized(api: Api) -> Response {
    let mut r = match api {
        Api::Jira | Api::Agile | Api::Edge => jira_error(
            StatusCode::UNAUTHORIZED,
            "You are not authenticated. Authentication required to perform this operation.",
        ),
        Api::ConfV2 => json_resp(
            StatusCode::UNAUTHORIZED,
            &json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized", "detail": null}]}),
        ),
        Api::ConfV1 => conf1_error(
            StatusCode::UNAUTHORIZED,
            "This request requires authentication.",
        ),
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"protected-area\""),
    );
    r
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

// ----------------------------------------------------------------------- paging

/// Jira's `startAt` and `maxResults` (default `default_max`, clamped to 1..=`cap`).
fn start_at(req: &Req, default_max: usize, cap: usize) -> Result<(usize, usize), Response> {
    let start = req.q_num("startAt", 0)?;
    let max = req.q_num("maxResults", default_max)?.clamp(1, cap);
    Ok((start, max))
}

/// Jira PageBean (`startAt, maxResults, total, isLast, values`).
pub fn page_bean(
    req: &Req,
    items: Vec<Value>,
    default_max: usize,
    cap: usize,
) -> Result<Value, Response> {
    let (start, max) = start_at(req, default_max, cap)?;
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let is_last = start + values.len() >= total;
    let url = |at: usize| {
        // Keep the caller's other parameters (`groupname`, `query`, ...): `nextPage` must name
        // the same list.
        let mut q: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "startAt" && k != "maxResults")
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        q.push(format!("startAt={at}&maxResults={max}"));
        format!("{}{}?{}", req.base, req.path, q.join("&"))
    };
    let mut v = json!({
        "self": url(start),
        "maxResults": max,
        "startAt": start,
        "total": total,
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        v["nextPage"] = json!(url(start + max));
    }
    Ok(v)
}

/// Jira's older envelopes (`comments[]`, `worklogs[]`, `histories[]`): startAt/maxResults/total.
pub fn envelope(
    req: &Req,
    name: &str,
    items: Vec<Value>,
    default_max: usize,
    cap: usize,
) -> Result<Value, Response> {
    let (start, max) = start_at(req, default_max, cap)?;
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    let mut v = json!({"startAt": start, "maxResults": max, "total": total});
    v[name] = Value::Array(values);
    Ok(v)
}

/// Plain startAt/maxResults slicing for bare arrays.
pub fn slice(
    req: &Req,
    items: Vec<Value>,
    default_max: usize,
    cap: usize,
) -> Result<Value, Response> {
    let (start, max) = start_at(req, default_max, cap)?;
    Ok(Value::Array(
        items.into_iter().skip(start).take(max).collect(),
    ))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

pub fn unb64(s: &str) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

pub fn encode_cursor(offset: usize) -> String {
    b64(&format!("sim:{offset}"))
}

pub fn decode_cursor(c: &str) -> Option<usize> {
    unb64(c)?.strip_prefix("sim:")?.parse().ok()
}

/// Confluence v2 cursor paging: `results`, `_links.next` and the `Link` header.
pub fn v2_page(req: &Req, items: Vec<Value>) -> Response {
    v2_page_of(req, items, |v| v)
}

/// [`v2_page`] over any items: only those of the requested page are turned into JSON.
pub fn v2_page_of<T>(req: &Req, items: Vec<T>, to_json: impl FnMut(T) -> Value) -> Response {
    let limit = match req.q_num("limit", 25) {
        Ok(l) => l.clamp(1, 250),
        Err(e) => return e,
    };
    let start = match req.q("cursor") {
        None | Some("") => 0,
        Some(c) => match decode_cursor(c) {
            Some(o) => o,
            None => return req.err(StatusCode::BAD_REQUEST, "Invalid cursor"),
        },
    };
    let total = items.len();
    let results: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(limit)
        .map(to_json)
        .collect();
    let mut links = json!({"base": format!("{}/wiki", req.base)});
    let mut next_link = None;
    if start + results.len() < total {
        let mut q: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "limit")
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        q.push(format!("limit={limit}"));
        q.push(format!("cursor={}", encode_cursor(start + limit)));
        let next = format!("{}?{}", req.path, q.join("&"));
        links["next"] = json!(next);
        next_link = Some(next);
    }
    let mut r = ok(json!({"results": results, "_links": links}));
    if let Some(n) = next_link
        && let Ok(h) = HeaderValue::from_str(&format!(
            "<{n}>; rel=\"next\", <{}/wiki>; rel=\"base\"",
            req.base
        ))
    {
        r.headers_mut().insert(header::LINK, h);
    }
    r
}

/// Confluence v1 start/limit paging.
pub fn v1_page(
    req: &Req,
    items: Vec<Value>,
    default_limit: usize,
    cap: usize,
) -> Result<Value, Response> {
    let start = req.q_num("start", 0)?;
    let limit = req.q_num("limit", default_limit)?.clamp(1, cap);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let size = results.len();
    let mut links = json!({"base": format!("{}/wiki", req.base), "context": "/wiki", "self": format!("{}{}", req.base, req.path)});
    if start + size < total {
        // The next page's link keeps the other query parameters, as Confluence's does.
        let mut next: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "start" && k != "limit")
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect();
        next.push(format!("start={}", start + limit));
        next.push(format!("limit={limit}"));
        links["next"] = json!(format!("{}?{}", req.path, next.join("&")));
    }
    Ok(json!({"results": results, "start": start, "limit": limit, "size": size, "_links": links}))
}

pub fn body_response(
    status: StatusCode,
    headers: Vec<(http::HeaderName, String)>,
    body: Body,
) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// An upload's `X-Atlassian-Token: no-check` (Atlassian's XSRF rule for multipart uploads).
pub fn xsrf_ok(headers: &HeaderMap) -> bool {
    headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("no-check") || v.eq_ignore_ascii_case("nocheck"))
}

/// What Atlassian answers an upload without the XSRF header.
pub fn xsrf_failed() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        "XSRF check failed",
    )
        .into_response()
}
