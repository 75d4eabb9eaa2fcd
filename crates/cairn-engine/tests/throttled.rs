//! A site that throttles as Jira Cloud and Confluence Cloud do (a burst limit per endpoint and
//! method, a per-issue write limit): a full backup and a full restore complete, hold and write
//! the same as without limits, and meet 429s on under 1% of their requests, because the
//! connectors' pacer keeps each budget under its limit instead of running into it.

mod support;

use cairn_sitesim::ThrottleSpec;
use cairn_store::Product;
use serde_json::json;
use support::{World, differences, world};

/// Limits low enough that the busy endpoints of a backup and of a restore reach them: a burst
/// limit per endpoint and method, and per-issue write windows shaped as Jira documents them
/// (20 per 2 s and 100 per 30 s) but lower, so that the most written issues of the small
/// generated site reach them too.
const ISSUE_WRITES_PER_2S: u64 = 6;

fn limits() -> ThrottleSpec {
    serde_json::from_value(json!({
        "burst": {"perSecond": 10},
        "perIssueWrite": [
            {"limit": ISSUE_WRITES_PER_2S, "windowSecs": 2},
            {"limit": 30, "windowSecs": 30},
        ],
    }))
    .unwrap()
}

/// The share of a site's requests since its counters were reset that were refused, after
/// checking that the limits were reached at all (a test of a pace nobody hit proves nothing).
fn refused_share(w: &World, site: &str, what: &str) -> f64 {
    let stats = w.sim.throttle_stats(site);
    let busiest = stats
        .endpoints
        .values()
        .map(|e| e.peak_per_second)
        .max()
        .unwrap_or(0);
    eprintln!(
        "{what}: {} requests, {} refused ({:?}), busiest endpoint's peak {busiest}/s, most writes to one issue {}",
        stats.requests, stats.throttled, stats.throttled_by_reason, stats.max_writes_per_issue
    );
    assert!(stats.requests > 200, "{what}: {stats:?}");
    assert!(
        busiest >= 8,
        "{what}: no endpoint came near its limit of 10/s: {stats:?}"
    );
    stats.throttled as f64 / stats.requests as f64
}

/// Every file of a backup's snapshot, with its bytes.
async fn documents(w: &World, backup: &str) -> Vec<(String, Vec<u8>)> {
    let snap = w.snapshot(backup).await;
    let mut out = vec![];
    for e in snap.walk("").await.unwrap() {
        if e.kind != cairn_vault::EntryKind::Dir {
            let bytes = snap.get(&e.path).await.unwrap();
            out.push((e.path, bytes.to_vec()));
        }
    }
    out
}

/// A document without the site's clock reading (`site.json` records the server time at the
/// backup), the one thing two backups of an unchanged site may differ in.
fn without_server_time(doc: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(doc) {
        Ok(mut v) => {
            if let Some(info) = v.get_mut("serverInfo").and_then(|i| i.as_object_mut()) {
                info.remove("serverTime");
            }
            serde_json::to_vec(&v).unwrap()
        }
        Err(_) => doc.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_sites_rate_limits_a_full_backup_and_restore_equal_the_unlimited_ones() {
    let w = world(31, &["dst"]).await;
    let products = [Product::Jira, Product::Confluence];
    let mut unlimited = vec![];
    for p in products {
        unlimited.push(w.backup(p).await);
    }

    w.sim.set_throttle("src", limits());
    let mut limited = vec![];
    for p in products {
        limited.push(w.backup(p).await);
    }
    let share = refused_share(&w, "src", "the backups");
    assert!(
        share < 0.01,
        "{:.2}% of the backups' requests were 429s",
        share * 100.0
    );
    for (a, b) in unlimited.iter().zip(&limited) {
        let (a, b) = (documents(&w, a).await, documents(&w, b).await);
        let paths = |d: &[(String, Vec<u8>)]| d.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&a), paths(&b));
        for ((path, x), (_, y)) in a.iter().zip(&b) {
            let (x, y) = (&without_server_time(x), &without_server_time(y));
            assert!(
                x == y,
                "{path} differs:\n{}\n{}",
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y)
            );
        }
    }

    // The restore of the limited backups into a site with the same limits.
    w.sim.set_throttle("dst", limits());
    for backup in &limited {
        let r = w.start_restore(backup, "dst", None, None).await;
        w.drain().await;
        let rec = w.restore_record(&r.id).await;
        assert_eq!(
            rec.status.to_string(),
            "COMPLETED",
            "{}",
            rec.status_message
        );
        let result = w.result(&r.id).await;
        assert_eq!(result["failed"], json!([]), "{result}");
    }
    let share = refused_share(&w, "dst", "the restores");
    let written = w.sim.throttle_stats("dst").max_writes_per_issue;
    assert!(
        written > ISSUE_WRITES_PER_2S,
        "no issue was written more than the per-issue window allows ({written})"
    );
    assert!(
        share < 0.01,
        "{:.2}% of the restores' requests were 429s",
        share * 100.0
    );
    // What an unlimited restore writes (a_full_restore_into_an_empty_site_equals_the_source):
    // the source, item for item.
    let d = differences(&w.sim, "src", "dst");
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}
