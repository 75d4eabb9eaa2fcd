//! A full read of a generated stand-in site through the connectors, the way a backup reads it:
//! every issue with all fields and its details, every attachment's bytes, every page and blog
//! post with both bodies, comments and attachments. Prints wall time, items, requests and bytes.
//!
//! `cargo bench -p cairn-connectors --bench read -- [small|medium|large] [latency_ms] [concurrency]`
//! The stand-in runs in the same process (its CPU time is in the figures).

use std::time::Instant;

use cairn_connectors::{ContentKind, Credentials, Settings, Site};
use cairn_sitesim::{Access, FaultSpec, Scale, Sim, SimConfig, SiteSpec};
use futures::TryStreamExt;
use serde_json::Value;

fn id(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn drain(d: cairn_connectors::Download) -> u64 {
    d.stream
        .try_fold(0u64, |n, b| async move { Ok(n + b.len() as u64) })
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let scale = match args.first().map(String::as_str) {
        Some("medium") => Scale::Medium,
        Some("large") => Scale::Large,
        _ => Scale::Small,
    };
    let latency: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let width: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let sim = Sim::start(SimConfig {
        seed: 42,
        scale,
        sites: vec![SiteSpec::new("s")],
        ..Default::default()
    })
    .await
    .unwrap();
    sim.set_faults(
        "s",
        FaultSpec {
            latency_ms: latency,
            ..Default::default()
        },
    );
    let a = sim.account(Access::ReadOnly);
    let settings = Settings {
        max_concurrency: width,
        outbound: cairn_connectors::Outbound::loopback(),
        ..Settings::default()
    };
    let site = Site::new(
        &sim.base_url("s"),
        Credentials::new(&a.email, &a.api_token),
        settings,
    )
    .unwrap();
    let (j, c) = (site.jira(), site.confluence());
    let started = Instant::now();
    let cpu0 = cpu_seconds();

    let keys: Vec<String> = j
        .projects()
        .map_ok(|p| p["key"].as_str().unwrap().to_string())
        .try_collect()
        .await
        .unwrap();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let jql = cairn_connectors::jira::jql_for(&refs, None);
    let (mut items, mut bytes) = (0u64, 0u64);
    let per_issue: Vec<(u64, u64)> = j
        .issues(&jql)
        .map_ok(|issue| {
            let j = j.clone();
            async move {
                let key = issue["key"].as_str().unwrap().to_string();
                let d = j.issue_details(&key).await?;
                let mut n = 1
                    + (d.comments.len()
                        + d.worklogs.len()
                        + d.changelog.len()
                        + d.remote_links.len()) as u64;
                let mut b = serde_json::to_vec(&issue).unwrap().len() as u64;
                for att in issue["fields"]["attachment"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    b += drain(j.attachment_content(&id(att), 0).await?).await;
                    n += 1;
                }
                Ok::<_, cairn_connectors::Error>((n, b))
            }
        })
        .try_buffer_unordered(width)
        .try_collect()
        .await
        .unwrap();
    for (n, b) in per_issue {
        items += n;
        bytes += b;
    }
    let jira_done = started.elapsed();
    let spaces: Vec<Value> = c.spaces(false).try_collect().await.unwrap();
    for s in &spaces {
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            let per: Vec<(u64, u64)> = c
                .contents_with_bodies(kind, &id(s))
                .map_ok(|doc| {
                    let c = c.clone();
                    async move {
                        let cid = id(&doc);
                        let comments: Vec<Value> = c.comments(kind, &cid).try_collect().await?;
                        let mut n = 1 + comments.len() as u64;
                        let mut b = serde_json::to_vec(&doc).unwrap().len() as u64;
                        let atts: Vec<Value> = c.attachments(kind, &cid).try_collect().await?;
                        for a in &atts {
                            b += drain(c.attachment_content(&cid, &id(a), 0).await?).await;
                            n += 1;
                        }
                        Ok::<_, cairn_connectors::Error>((n, b))
                    }
                })
                .try_buffer_unordered(width)
                .try_collect()
                .await
                .unwrap();
            for (n, b) in per {
                items += n;
                bytes += b;
            }
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let st = site.stats();
    println!(
        "scale={scale:?} latency={latency}ms concurrency={width}: {items} items, {:.1} MB, {} requests in {:.2} s (Jira {:.2} s) = {:.0} items/s, {:.1} MB/s, {:.0} requests/s; process CPU {:.2} s ({:.0}% of wall, stand-in included); retries: {} rate-limited, {} 5xx, {} dropped",
        bytes as f64 / 1e6,
        st.requests,
        wall.as_secs_f64(),
        jira_done.as_secs_f64(),
        items as f64 / wall.as_secs_f64(),
        bytes as f64 / 1e6 / wall.as_secs_f64(),
        st.requests as f64 / wall.as_secs_f64(),
        cpu,
        100.0 * cpu / wall.as_secs_f64(),
        st.rate_limited,
        st.server_errors,
        st.dropped,
    );
    sim.shutdown().await;
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}
