//! Every paging style of Atlassian's APIs, walked to the end as one stream of items.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::transport::{Req, Transport};

/// A stream of raw JSON documents, as Atlassian sent them.
pub type Docs = BoxStream<'static, Result<Value>>;

#[derive(Clone, Debug)]
pub(crate) enum Style {
    /// One answer: a bare array, or the array under `key`.
    Unpaged { key: Option<&'static str> },
    /// Jira PageBean: `startAt`, `maxResults`, `isLast`, `total`, `values`.
    PageBean { max: usize },
    /// Jira's older envelopes: `startAt`, `maxResults`, `total` and the array under `key`.
    Envelope { key: &'static str, max: usize },
    /// A bare array paged with `startAt`/`maxResults` (`/users/search`): ends on an empty page.
    Slice { max: usize },
    /// `nextPageToken` in the query (GET) and absent on the last page; items under `key`.
    TokenGet { key: &'static str, max: usize },
    /// `nextPageToken` in a POST body; items under `key`.
    TokenPost { key: &'static str, max: usize },
    /// Confluence v2: `limit`, opaque `cursor`, next page in `_links.next` (or `Link`).
    Cursor { max: usize },
    /// Confluence v1: `start`/`limit`, `results`, `_links.next` while more remain.
    V1 { max: usize },
}

struct Walk {
    t: Arc<Transport>,
    req: Req,
    style: Style,
    /// startAt / start of the next page, or the token / cursor path.
    at: usize,
    next: Option<String>,
    done: bool,
}

fn items(v: &mut Value, key: Option<&str>, call: &str) -> Result<Vec<Value>> {
    let slot = match key {
        Some(k) => v.get_mut(k),
        None => Some(v),
    };
    match slot.map(Value::take) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Null) | None if key.is_some() => Ok(vec![]),
        _ => Err(Error::protocol(
            call,
            format!(
                "expected an array{}",
                key.map(|k| format!(" under {k:?}")).unwrap_or_default()
            ),
        )),
    }
}

impl Walk {
    async fn page(mut self) -> Result<Option<(Vec<Value>, Walk)>> {
        if self.done {
            return Ok(None);
        }
        let call = format!("{} {}", self.req.method, self.req.path);
        let t = self.t.clone();
        let mut req = self.req.clone();
        let got = match self.style.clone() {
            Style::Unpaged { key } => {
                self.done = true;
                let mut v = t.json(req).await?;
                items(&mut v, key, &call)?
            }
            Style::PageBean { max } => {
                let max = t.page(max);
                req = req.q("startAt", self.at).q("maxResults", max);
                let mut v = t.json(req).await?;
                let got = items(&mut v, Some("values"), &call)?;
                self.at += got.len();
                let last = match v["isLast"].as_bool() {
                    Some(b) => b,
                    None => v["total"].as_u64().is_some_and(|n| self.at as u64 >= n),
                };
                self.done = last || got.is_empty();
                got
            }
            Style::Envelope { key, max } => {
                let max = t.page(max);
                req = req.q("startAt", self.at).q("maxResults", max);
                let mut v = t.json(req).await?;
                let got = items(&mut v, Some(key), &call)?;
                self.at += got.len();
                self.done =
                    got.is_empty() || v["total"].as_u64().is_none_or(|n| self.at as u64 >= n);
                got
            }
            Style::Slice { max } => {
                let max = t.page(max);
                req = req.q("startAt", self.at).q("maxResults", max);
                let mut v = t.json(req).await?;
                let got = items(&mut v, None, &call)?;
                self.at += got.len();
                self.done = got.is_empty();
                got
            }
            Style::TokenGet { key, max } => {
                req = req.q("maxResults", t.page(max));
                if let Some(tk) = &self.next {
                    req = req.q("nextPageToken", tk);
                }
                let mut v = t.json(req).await?;
                self.next = v["nextPageToken"].as_str().map(String::from);
                self.done = self.next.is_none();
                items(&mut v, Some(key), &call)?
            }
            Style::TokenPost { key, max } => {
                if let crate::transport::Body::Json(b) = &mut req.body {
                    b["maxResults"] = json!(t.page(max));
                    if let Some(tk) = &self.next {
                        b["nextPageToken"] = json!(tk);
                    }
                }
                let mut v = t.json(req).await?;
                self.next = v["nextPageToken"].as_str().map(String::from);
                self.done = self.next.is_none();
                items(&mut v, Some(key), &call)?
            }
            Style::Cursor { max } => {
                let req = match &self.next {
                    // `_links.next` is relative to the site and already carries the query.
                    Some(next) => Req::get(next.clone()),
                    None => req.q("limit", t.page(max)),
                };
                let reply = t.call(req).await?;
                let mut v = reply.body;
                self.next = v["_links"]["next"]
                    .as_str()
                    .map(String::from)
                    .or_else(|| link_next(&reply.headers));
                self.done = self.next.is_none();
                items(&mut v, Some("results"), &call)?
            }
            Style::V1 { max } => {
                let max = t.page(max);
                req = req.q("start", self.at).q("limit", max);
                let mut v = t.json(req).await?;
                let got = items(&mut v, Some("results"), &call)?;
                self.at += got.len();
                self.done = got.is_empty() || v["_links"]["next"].is_null();
                got
            }
        };
        Ok(Some((got, self)))
    }
}

/// `Link: <...>; rel="next"`.
fn link_next(h: &reqwest::header::HeaderMap) -> Option<String> {
    let l = h.get(reqwest::header::LINK)?.to_str().ok()?;
    l.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        rel.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// Walks `req` in `style` to the end, as a stream of items.
pub(crate) fn walk(t: &Arc<Transport>, req: Req, style: Style) -> Docs {
    let w = Walk {
        t: t.clone(),
        req,
        style,
        at: 0,
        next: None,
        done: false,
    };
    stream::try_unfold(w, Walk::page)
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

/// A POST whose body pages by `nextPageToken`.
pub(crate) fn post_req(path: &str, body: Value) -> Req {
    Req::send(Method::POST, path, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "</wiki/api/v2/pages?cursor=abc&limit=2>; rel=\"next\", <https://x/wiki>; rel=\"base\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            link_next(&h).as_deref(),
            Some("/wiki/api/v2/pages?cursor=abc&limit=2")
        );
    }
}
