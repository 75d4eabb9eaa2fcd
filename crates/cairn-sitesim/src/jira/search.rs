//! JQL search (`/search/jql`, `nextPageToken` paging) and the approximate count.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::http::*;
use crate::jql;
use crate::model::*;

use super::R;
use super::issue_bean::{Caps, issue_bean};

/// jql, nextPageToken, maxResults, fields, expand
type SearchParams = (
    String,
    Option<String>,
    Option<usize>,
    Vec<String>,
    Vec<String>,
);

fn search_params(r: &Req) -> Result<SearchParams, Response> {
    if r.method == http::Method::POST {
        let b = r.json()?;
        let fields: Vec<String> = b["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let expand: Vec<String> = match &b["expand"] {
            Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        Ok((
            b["jql"].as_str().unwrap_or("").to_string(),
            b["nextPageToken"].as_str().map(String::from),
            b["maxResults"].as_u64().map(|m| m as usize),
            fields,
            expand,
        ))
    } else {
        Ok((
            r.q("jql").unwrap_or("").to_string(),
            r.q("nextPageToken").map(String::from),
            r.q("maxResults")
                .map(|_| r.q_num("maxResults", 50))
                .transpose()?,
            r.q_all("fields").into_iter().map(String::from).collect(),
            r.q_all("expand").into_iter().map(String::from).collect(),
        ))
    }
}

/// Parse `jql_text` and check it as Jira does (bounded; projects and keys exist), as the caller
/// asks it; with the key its result is cached under (the caller's too when the query names
/// them).
fn parse_jql(site: &Site, r: &Req, jql_text: &str) -> Result<(jql::Query, String), Response> {
    let q = jql::parse(jql_text).map_err(|e| r.err(StatusCode::BAD_REQUEST, &e))?;
    // Per caller: what an account sees depends on the permission schemes and security levels.
    let cache_key = format!("{}\n{jql_text}", r.me);
    let q = q.asked_by(&r.me);
    if !q.bounded() {
        return Err(r.err(StatusCode::BAD_REQUEST, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."));
    }
    if let Some(e) = q.unknown_value(site) {
        return Err(r.err(StatusCode::BAD_REQUEST, &e));
    }
    Ok((q, cache_key))
}

/// The `nextPageToken` of a search: the query's hash and the last sort key served, so the next
/// page starts right after it (search-after, not a position: changes between pages neither
/// repeat nor skip the issues that stay).
#[derive(serde::Serialize, serde::Deserialize)]
struct PageToken {
    q: String,
    after: jql::SortKey,
}

fn jql_hash(s: &str) -> String {
    blake3::hash(s.as_bytes()).to_hex()[..12].to_string()
}

pub fn search_jql(site: &Site, r: &Req) -> R {
    let (jql_text, token, max, fields, expand) = search_params(r)?;
    let (q, cache_key) = parse_jql(site, r, &jql_text)?;
    let hits = site
        .search_cache
        .get_or_run(&cache_key, || visible(site, r, q.run(site)));
    let start = match token {
        None => 0,
        Some(t) => {
            let after = unb64(&t)
                .and_then(|s| serde_json::from_str::<PageToken>(&s).ok())
                .filter(|t| t.q == jql_hash(&jql_text))
                .ok_or_else(|| {
                    r.err(
                        StatusCode::BAD_REQUEST,
                        "The provided next page token is invalid or expired.",
                    )
                })?
                .after;
            hits.partition_point(|(k, _)| q.cmp_keys(k, &after) != std::cmp::Ordering::Greater)
        }
    };
    let only_ids = fields.iter().all(|f| f == "id" || f == "key");
    let cap = if only_ids { 5000 } else { 100 };
    let max = max.unwrap_or(50).clamp(1, cap);
    let expand: Vec<&str> = expand.iter().map(String::as_str).collect();
    let page = &hits[start.min(hits.len())..(start + max).min(hits.len())];
    let issues: Vec<Value> = page
        .iter()
        .filter_map(|(_, id)| site.issues.get(id))
        .map(|i| issue_bean(site, &r.base, i, &fields, &expand, Caps::SEARCH))
        .collect();
    let is_last = start + page.len() >= hits.len();
    let mut v = json!({"issues": issues, "isLast": is_last});
    if let (false, Some((last, _))) = (is_last, page.last()) {
        use base64::Engine;
        let t = PageToken {
            q: jql_hash(&jql_text),
            after: last.clone(),
        };
        v["nextPageToken"] = json!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_string(&t).unwrap_or_default())
        );
    }
    Ok(ok(v))
}

/// The hits the calling account may see.
fn visible(site: &Site, r: &Req, hits: Hits) -> Hits {
    let viewer = crate::permission::Viewer::new(site, &r.me);
    hits.into_iter()
        .filter(|(_, id)| site.issues.get(id).is_some_and(|i| viewer.sees(site, i)))
        .collect()
}

pub fn approximate_count(site: &Site, r: &Req) -> R {
    let b = r.json()?;
    let jql_text = b["jql"].as_str().unwrap_or("");
    let (q, cache_key) = parse_jql(site, r, jql_text)?;
    let n = site
        .search_cache
        .get_or_run(&cache_key, || visible(site, r, q.run(site)))
        .len();
    Ok(ok(json!({"count": n})))
}
