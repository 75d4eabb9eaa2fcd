//! Backups through the real job queue (a worker on a SQLite store) from a stand-in site into the
//! built-in vault: what a snapshot holds, incremental backups, faults, unreadable attachments and
//! a backup killed mid-way. Each backup is then restored into an empty site and compared with
//! the source by the stand-in's digest.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cairn_engine::layout;
use cairn_sitesim::{Counts, FaultSpec};
use cairn_store::{JobKind, Product};
use serde_json::{Value, json};
use support::{World, differences, small, until, world, world_of};

/// How long a test waits for what it expects before it fails.
const MINUTE: Duration = Duration::from_secs(60);

/// Requests the source served on one route (`METHOD /template`).
fn requests(w: &World, route: &str) -> u64 {
    w.sim.counters("src").get(route).copied().unwrap_or(0)
}

/// Read once per issue read, in bulk or one by one (its property keys: no bulk read has them).
const ISSUE_PROPERTY_KEYS: &str = "GET /rest/api/3/issue/{issueIdOrKey}/properties";
/// Read once per page or blog post read, in bulk or one by one (no include form has comments).
const PAGE_COMMENTS: &str = "GET /wiki/api/v2/pages/{id}/footer-comments";
const BLOGPOST_COMMENTS: &str = "GET /wiki/api/v2/blogposts/{id}/footer-comments";

fn assert_no_differences(w: &World, a: &str, b: &str) {
    let d = differences(&w.sim, a, b);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

/// Restores `backup` into the empty `dst` and waits for it to complete.
async fn restore_into(w: &World, backup: &str, dst: &str) {
    let r = w.start_restore(backup, dst, None, None).await;
    w.drain().await;
    let rec = w.restore_record(&r.id).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_holds_every_item_of_the_site_and_reports_its_sizes() {
    let w = world(21, &[]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;

    // What the site holds, by the path the layout gives it.
    let (expected, attachment_bytes) = w.sim.with_site("src", |s| {
        let mut paths: BTreeMap<String, u64> = BTreeMap::new();
        let mut bytes = 0;
        for i in s.issues.values() {
            let key = &s.projects[&i.project_id].key;
            paths.insert(layout::jira_issue(key, &i.id.to_string()), 0);
        }
        for a in s.attachments.values() {
            paths.insert(layout::jira_attachment(&a.id.to_string()), a.blob.size());
            bytes += a.blob.size();
        }
        for p in s.projects.values() {
            paths.insert(layout::jira_project(&p.key), 0);
        }
        for b in s.boards.keys() {
            paths.insert(layout::jira_board(&b.to_string()), 0);
        }
        for u in s.users.iter().filter(|u| u.active) {
            paths.insert(layout::jira_user(&u.account_id), 0);
        }
        for sp in s.spaces.values() {
            paths.insert(layout::confluence_space(&sp.key), 0);
        }
        for p in s.pages.values() {
            let space = &s.spaces[&p.space_id].key;
            let path = match p.kind {
                cairn_sitesim::model::PageKind::Page => {
                    layout::confluence_page(space, &p.id.to_string())
                }
                cairn_sitesim::model::PageKind::BlogPost => {
                    layout::confluence_blogpost(space, &p.id.to_string())
                }
            };
            paths.insert(path, 0);
        }
        for a in s.cattachments.values() {
            paths.insert(
                layout::confluence_attachment(&format!("att{}", a.id)),
                a.blob.size(),
            );
        }
        (paths, bytes)
    });
    let mut files = w.files(&jira).await;
    files.extend(w.files(&wiki).await);
    for (path, size) in &expected {
        let Some(stored) = files.get(path) else {
            panic!(
                "{path} is not in the snapshot; it holds {:?}",
                files.keys().take(40).collect::<Vec<_>>()
            );
        };
        if *size > 0 {
            assert_eq!(stored, size, "{path}: the attachment's bytes, all of them");
        }
    }
    for name in [
        "issuetypes",
        "fields",
        "statuses",
        "priorities",
        "resolutions",
        "issuelinktypes",
        "roles",
        "workflows",
        "workflowschemes",
        "projectcategories",
    ] {
        assert!(files.contains_key(&layout::jira_config(name)), "{name}");
    }
    assert!(
        files
            .keys()
            .any(|p| p.starts_with(&layout::jira_groups_dir())),
        "groups are kept with USERS"
    );

    // An issue document holds the issue and what hangs off it.
    let issue_path = expected
        .keys()
        .find(|p| p.contains("/issues/"))
        .unwrap()
        .clone();
    let snap = w.snapshot(&jira).await;
    let doc: Value = serde_json::from_slice(&snap.get(&issue_path).await.unwrap()).unwrap();
    for part in [
        "issue",
        "changelog",
        "comments",
        "worklogs",
        "remoteLinks",
        "watchers",
        "properties",
    ] {
        assert!(doc.get(part).is_some(), "{issue_path} lacks {part}: {doc}");
    }
    // Project categories are kept, each as the site lists it.
    let stored: Value = serde_json::from_slice(
        &snap
            .get(&layout::jira_config("projectcategories"))
            .await
            .unwrap(),
    )
    .unwrap();
    let names: Vec<String> = w.sim.with_site("src", |s| {
        s.project_categories
            .iter()
            .map(|c| c.name.clone())
            .collect()
    });
    assert!(!names.is_empty());
    assert_eq!(
        stored.as_array().map(|a| a
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()),
        Some(names),
        "the backup keeps the site's project categories"
    );
    // A page carries both body formats.
    let page_path = expected
        .keys()
        .find(|p| p.contains("/pages/"))
        .unwrap()
        .clone();
    let snap = w.snapshot(&wiki).await;
    let doc: Value = serde_json::from_slice(&snap.get(&page_path).await.unwrap()).unwrap();
    for format in ["storage", "atlas_doc_format"] {
        assert!(
            doc["page"]["body"][format]["value"].is_string(),
            "{page_path} lacks the {format} body"
        );
    }

    // backupSize: attachments are their bytes; data and users their documents.
    let b = w.backup_record(&jira).await;
    assert_eq!(b.attachments_size, attachment_bytes);
    assert!(b.users_size > 0 && b.data_size > 0, "{b:?}");
    let stats = w.stats(&jira).await;
    let entries = w.files(&jira).await.len() as u64;
    assert_eq!(stats["itemsChanged"], json!(entries), "{stats}");
    assert_eq!(stats["itemsUnchanged"], json!(0), "{stats}");
    assert!(stats["newBytesStored"].as_u64().unwrap() > 0, "{stats}");
}

/// The stand-in's medium site (2,000 issues in 8 projects, 400 pages, 40 blog posts), with
/// attachments capped at 200 kB to keep the test's run short.
fn medium() -> Counts {
    Counts {
        attachment_max: 200_000,
        ..cairn_sitesim::Scale::Medium.counts()
    }
}

/// The round trip of a medium site (both products), through an incremental backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_reads_and_stores_only_what_changed() {
    let w = world_of(22, medium(), &["dst"]).await;
    let mut policies = Vec::new();
    for product in [Product::Jira, Product::Confluence] {
        let policy = w.policy(product).await;
        w.sim.clear_log("src");
        let full = w.run_backup(&policy).await;
        assert_eq!(full.status.to_string(), "COMPLETED");
        let requests = w.sim.request_log("src").len();
        policies.push((product, policy, full.id, requests));
    }
    let parents = |w: &World| {
        w.sim.with_site("src", |s| {
            let issues: BTreeMap<u64, Option<u64>> =
                s.issues.iter().map(|(id, i)| (*id, i.parent)).collect();
            let pages: BTreeMap<u64, Option<u64>> =
                s.pages.iter().map(|(id, p)| (*id, p.parent_id)).collect();
            (issues, pages)
        })
    };
    let before = parents(&w);
    let report = w.sim.mutate("src", 1.0);
    // Items a deleted parent moved: their parent changed, their stamp did not.
    let after = parents(&w);
    let moved = |a: &BTreeMap<u64, Option<u64>>, b: &BTreeMap<u64, Option<u64>>| {
        b.iter()
            .filter(|(id, parent)| a.get(id).is_some_and(|was| was != *parent))
            .count()
    };
    let (issues_moved, pages_moved) = (moved(&before.0, &after.0), moved(&before.1, &after.1));
    let mut incremental = Vec::new();
    for (product, policy, full, full_requests) in policies {
        let full_stats = w.stats(&full).await;
        w.sim.clear_log("src");
        let next = w.run_backup(&policy).await;
        assert_eq!(
            next.status.to_string(),
            "COMPLETED",
            "{}",
            next.status_message
        );
        let stats = w.stats(&next.id).await;
        let requests_now = w.sim.request_log("src").len();
        eprintln!(
            "{product}: {report:?}; full: {full_requests} requests, {full_stats}; incremental: {requests_now} requests, {stats}"
        );
        let (touched, items) = match product {
            Product::Jira => (
                report.issues_changed + report.issues_added + issues_moved,
                w.sim.with_site("src", |s| s.issues.len()),
            ),
            Product::Confluence => (
                report.pages_changed + report.pages_added + pages_moved,
                w.sim.with_site("src", |s| s.pages.len()),
            ),
        };
        assert!(touched > 0, "the mutation touched something: {report:?}");
        // Items read one by one: only the changed and the added ones.
        let per_item = match product {
            Product::Jira => requests(&w, ISSUE_PROPERTY_KEYS),
            Product::Confluence => requests(&w, PAGE_COMMENTS) + requests(&w, BLOGPOST_COMMENTS),
        };
        assert!(
            per_item as usize <= touched,
            "{product}: {per_item} items read one by one for {touched} changed of {items}"
        );
        assert!(
            requests_now * 10 < full_requests,
            "{product}: {requests_now} requests, against {full_requests} for the full backup"
        );
        // Stored: about 1% of what the full backup stored.
        let new_bytes = stats["newBytesStored"].as_u64().unwrap();
        let full_bytes = full_stats["newBytesStored"].as_u64().unwrap();
        assert!(
            new_bytes * 50 < full_bytes,
            "{product}: {new_bytes} new bytes, against {full_bytes} for the full backup"
        );
        assert!(stats["itemsUnchanged"].as_u64().unwrap() > 0, "{stats}");
        incremental.push(next.id);
    }
    // Each incremental backup restores on its own into the mutated site.
    for backup in &incremental {
        restore_into(&w, backup, "dst").await;
    }
    assert_no_differences(&w, "src", "dst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_errors_and_dropped_connections_slow_a_backup_without_failing_it() {
    let w = world(23, &["dst"]).await;
    let faults: FaultSpec = serde_json::from_value(json!({
        "rateLimit": {"burst": 4, "every": 40, "retryAfter": 1},
        "error": {"burst": 2, "every": 13, "status": 503},
        "closeMidBody": {"every": 17, "afterBytes": 10},
    }))
    .unwrap();
    w.sim.set_faults("src", faults);
    let jira = w.backup(Product::Jira).await;
    // Its progress says what the site's requests met: the stand-in's 429s name the burst limit.
    let traffic = w
        .backup_record(&jira)
        .await
        .progress
        .and_then(|p| p.site_traffic);
    let traffic = traffic.expect("progress.siteTraffic");
    assert!(
        traffic.requests > 0 && traffic.rate_limited.burst > 0,
        "{traffic:?}"
    );
    assert_eq!(traffic.requests_waiting, 0, "nothing waits once it is done");
    let wiki = w.backup(Product::Confluence).await;
    let log = w.sim.request_log("src");
    let injected: BTreeSet<&str> = log.iter().filter_map(|e| e.fault.as_deref()).collect();
    let count = log.iter().filter(|e| e.fault.is_some()).count();
    assert!(count > 20, "faults were injected: {count} ({injected:?})");
    // Each of the three kinds, as the sim names them.
    for kind in ["429 Retry-After 1", "503", "closed after 10 bytes"] {
        assert!(injected.contains(kind), "no {kind:?} among {injected:?}");
    }
    w.sim.clear_faults("src");
    restore_into(&w, &jira, "dst").await;
    restore_into(&w, &wiki, "dst").await;
    assert_no_differences(&w, "src", "dst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_attachments_make_a_backup_incomplete_and_are_named() {
    let w = world(24, &[]).await;
    let (jira_ids, wiki_ids) = w.sim.with_site("src", |s| {
        let j: Vec<String> = s
            .attachments
            .keys()
            .take(2)
            .map(|i| i.to_string())
            .collect();
        let c: Vec<String> = s
            .cattachments
            .keys()
            .take(1)
            .map(|i| format!("att{i}"))
            .collect();
        (j, c)
    });
    let mut ids = jira_ids.clone();
    ids.extend(wiki_ids.clone());
    let faults: FaultSpec = serde_json::from_value(json!({"attachment404": {"ids": ids}})).unwrap();
    w.sim.set_faults("src", faults.clone());
    for (product, missing) in [(Product::Jira, &jira_ids), (Product::Confluence, &wiki_ids)] {
        let policy = w.policy(product).await;
        let b = w.run_backup(&policy).await;
        assert_eq!(b.status.to_string(), "INCOMPLETE", "{}", b.status_message);
        let n = missing.len();
        let plural = if n == 1 { "" } else { "s" };
        assert!(
            b.status_message
                .starts_with(&format!("{n} attachment{plural} could not be read: ")),
            "{}",
            b.status_message
        );
        let files = w.files(&b.id).await;
        for id in missing {
            assert!(
                b.status_message.contains(&format!("attachment {id} ")),
                "{id} is named: {}",
                b.status_message
            );
            let path = match product {
                Product::Jira => layout::jira_attachment(id),
                Product::Confluence => layout::confluence_attachment(id),
            };
            assert!(!files.contains_key(&path), "{path} was not read");
        }
        // Everything else is there.
        let attachments = files.keys().filter(|p| layout::is_attachment(p)).count();
        let on_site = w.sim.with_site("src", |s| match product {
            Product::Jira => s.attachments.len(),
            Product::Confluence => s.cattachments.len(),
        });
        assert_eq!(attachments + n, on_site);

        // Once the site serves them again, the next backup (incremental: the issues and pages
        // are unchanged) fetches what its parent lacks, and is complete.
        w.sim.clear_faults("src");
        let next = w.run_backup(&policy).await;
        assert_eq!(
            next.status.to_string(),
            "COMPLETED",
            "{}",
            next.status_message
        );
        let files = w.files(&next.id).await;
        for id in missing {
            let path = match product {
                Product::Jira => layout::jira_attachment(id),
                Product::Confluence => layout::confluence_attachment(id),
            };
            assert!(files.contains_key(&path), "{path} is in the next backup");
        }
        let stats = w.stats(&next.id).await;
        assert!(stats["itemsUnchanged"].as_u64().unwrap() > 0, "{stats}");
        w.sim.set_faults("src", faults.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_mid_way_resumes_and_its_snapshot_is_whole() {
    let settings = cairn_engine::EngineSettings {
        checkpoint_items: 5,
        ..support::test_settings()
    };
    let w = support::world_with(25, small(), &["dst"], settings).await;
    for product in [Product::Jira, Product::Confluence] {
        let policy = w.policy(product).await;
        let route = match product {
            Product::Jira => ISSUE_PROPERTY_KEYS,
            Product::Confluence => PAGE_COMMENTS,
        };
        let total = match product {
            Product::Jira => w.sim.with_site("src", |s| s.issues.len()),
            Product::Confluence => w.sim.with_site("src", |s| {
                s.pages
                    .values()
                    .filter(|p| p.kind == cairn_sitesim::model::PageKind::Page)
                    .count()
            }),
        };
        w.sim.clear_log("src");
        let b = w.start_backup(&policy).await;
        w.kill_job_after(total / 2, |w| requests(w, route) as usize)
            .await;
        let mid = w.backup_record(&b.id).await;
        assert_eq!(
            mid.status.to_string(),
            "IN_PROGRESS",
            "killed mid-way: {}",
            mid.status_message
        );
        let before = requests(&w, route) as usize;
        w.drain().await;
        let done = w.backup_record(&b.id).await;
        assert_eq!(
            done.status.to_string(),
            "COMPLETED",
            "{}",
            done.status_message
        );
        assert_eq!(done.attempts, 0, "a lapsed lease is not a failed attempt");
        // The resumed attempt took over what the killed one had checkpointed (every 5 items)
        // instead of reading it again.
        let reread = requests(&w, route) as usize - before;
        assert!(
            reread < total,
            "{product}: {reread} of {total} items read again after {before} were read"
        );
        let stats = w.stats(&b.id).await;
        assert!(stats["itemsUnchanged"].as_u64().unwrap() > 0, "{stats}");
        // Its checkpoints are forgotten: the backup has one snapshot.
        assert_eq!(w.snapshots_of(&b.id).await, 1, "{product}");
        restore_into(&w, &b.id, "dst").await;
    }
    assert_no_differences(&w, "src", "dst");
}

/// A backup cancelled mid-way leaves nothing behind in the vault: its checkpoints go with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_backup_leaves_no_checkpoint_behind() {
    let base = support::test_settings();
    let settings = cairn_engine::EngineSettings {
        checkpoint_items: 5,
        // The site holds the backup back with 429s below for as long as the cancel takes.
        connector: cairn_connectors::Settings {
            max_rate_limited: 100_000,
            ..base.connector.clone()
        },
        ..base
    };
    let w = support::world_with(26, small(), &[], settings).await;
    let w = &w;
    let policy = w.policy(Product::Jira).await;
    // The users, read last, are answered 429 (Retry-After: 1 s) until the cancel has reached the
    // worker: the backup cannot end before it, whatever the machine's pace.
    let hold: FaultSpec = serde_json::from_value(json!({
        "pathContains": "/users/search",
        "rateLimit": {"burst": 1_000_000_000u64, "every": 0, "retryAfter": 1},
    }))
    .unwrap();
    w.sim.set_faults("src", hold);
    let b = w.start_backup(&policy).await;
    let worker = w.worker(Duration::from_secs(3));
    let run = tokio::spawn(async move {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        worker.run_one(&stop).await.unwrap()
    });
    until(
        MINUTE,
        "the backup did not reach the users",
        || async move { w.sim.request_log("src").iter().any(|e| e.fault.is_some()) },
    )
    .await;
    assert!(w.snapshots_of(&b.id).await > 0, "checkpoints were written");
    w.management
        .cancel_backup(&w.org, &cairn_control::identity::Actor::cli(), &b.id)
        .await
        .unwrap();
    // The worker sees a cancel when it renews its lease (every second with a 3 s lease), then
    // reads the job. Two renewals after the cancel: the read that followed the first saw it,
    // and the second comes after that read.
    let id = &b.id;
    let lease = || async move {
        w.store
            .get_job(JobKind::Backup, id)
            .await
            .unwrap()
            .expect("the backup's job")
            .available_at
    };
    let (last, renewals) = (
        &std::cell::Cell::new(lease().await),
        &std::cell::Cell::new(0),
    );
    until(
        MINUTE,
        "the worker did not renew its lease twice",
        || async move {
            let now = lease().await;
            if now != last.get() {
                last.set(now);
                renewals.set(renewals.get() + 1);
            }
            renewals.get() >= 2
        },
    )
    .await;
    // Served again, the backup stops at its next item.
    w.sim.clear_faults("src");
    let ran = tokio::time::timeout(MINUTE, run)
        .await
        .expect("the cancelled backup did not stop");
    assert!(ran.unwrap(), "the worker ran the job");
    let done = w.backup_record(&b.id).await;
    assert_eq!(
        done.status.to_string(),
        "CANCELLED",
        "{}",
        done.status_message
    );
    assert_eq!(w.snapshots_of(&b.id).await, 0);
}

/// A backup whose last attempt (rule 6) fails on a site outage ends FAILED, and like a
/// cancelled one leaves nothing behind in the vault: no later attempt would take its
/// checkpoints over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_failing_its_last_attempt_leaves_no_checkpoint_behind() {
    let base = support::test_settings();
    let settings = cairn_engine::EngineSettings {
        checkpoint_items: 5,
        connector: cairn_connectors::Settings {
            max_retries: 1,
            min_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(5),
            ..base.connector.clone()
        },
        ..base
    };
    let w = support::world_with(27, small(), &[], settings).await;
    let policy = w.policy(Product::Jira).await;
    let total = w.sim.with_site("src", |s| s.issues.len());
    let b = w.start_backup(&policy).await;
    // Two attempts have failed already: this one is the last.
    let mut record = w.backup_record(&b.id).await;
    record.attempts = 2;
    w.store.update_backup(&record).await.unwrap();
    let slow: FaultSpec = serde_json::from_value(json!({"latencyMs": 20})).unwrap();
    w.sim.set_faults("src", slow);
    let worker = w.worker(std::time::Duration::from_secs(3));
    let run = tokio::spawn(async move {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        worker.run_one(&stop).await.unwrap()
    });
    let at = &w;
    until(
        MINUTE,
        "the backup did not read half the issues",
        || async move { requests(at, ISSUE_PROPERTY_KEYS) as usize >= total / 2 },
    )
    .await;
    assert!(w.snapshots_of(&b.id).await > 0, "checkpoints were written");
    let down: FaultSpec =
        serde_json::from_value(json!({"error": {"burst": 1_000_000, "status": 503}})).unwrap();
    w.sim.set_faults("src", down);
    let ran = tokio::time::timeout(MINUTE, run)
        .await
        .expect("the failing backup did not stop");
    assert!(ran.unwrap(), "the worker ran the job");
    let done = w.backup_record(&b.id).await;
    assert_eq!(done.status.to_string(), "FAILED", "{}", done.status_message);
    assert_eq!(done.attempts, 3);
    assert_eq!(w.snapshots_of(&b.id).await, 0);
}

/// A site (a proxy in front of the stand-in) answers one attachment download with a redirect to
/// an internal address, and another with one byte more than its metadata says. The operator
/// allows the site's address and port only: the redirect is refused without any connection,
/// the wrong-sized bytes are not stored, and the backup is INCOMPLETE, naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_internal_address_and_a_wrong_size_fail_their_attachments() {
    use cairn_connectors::{Allow, Outbound};
    use support::proxy::{Proxy, Twist};
    let (internal, accepted) = support::proxy::internal_service().await;
    let proxy = Proxy::start().await;
    let mut settings = support::test_settings();
    settings.connector.outbound = Outbound::new([Allow::Addr(proxy.addr)]);
    let w = support::world_with(61, small(), &[], settings).await;
    let ids: Vec<String> = w.sim.with_site("src", |s| {
        s.attachments.keys().take(2).map(u64::to_string).collect()
    });
    assert_eq!(ids.len(), 2, "the site has attachments");
    proxy.forward_to(
        &w.sim.base_url("src"),
        BTreeMap::from([
            (
                ids[0].clone(),
                Twist::RedirectTo(format!(
                    "http://{internal}/latest/meta-data/iam/security-credentials/prod"
                )),
            ),
            (ids[1].clone(), Twist::OneByteMore),
        ]),
    );
    w.register_at("src", &proxy.base).await;
    let policy = w.policy(Product::Jira).await;
    let b = w.run_backup(&policy).await;
    assert_eq!(b.status.to_string(), "INCOMPLETE", "{}", b.status_message);
    for id in &ids {
        assert!(
            b.status_message.contains(&format!("attachment {id} ")),
            "{id} is named: {}",
            b.status_message
        );
    }
    assert!(
        b.status_message.contains("not a public address"),
        "{}",
        b.status_message
    );
    assert!(
        b.status_message.contains("metadata says"),
        "{}",
        b.status_message
    );
    let files = w.files(&b.id).await;
    for id in &ids {
        assert!(
            !files.contains_key(&layout::jira_attachment(id)),
            "attachment {id} is not stored"
        );
    }
    assert!(
        files.keys().any(|p| layout::is_attachment(p)),
        "the other attachments are stored through the allowed site"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the internal address was never connected to"
    );
}

/// Requests on the source by route (`METHOD /template`), from the counters.
fn on(counters: &BTreeMap<String, u64>, route: &str) -> u64 {
    counters.get(route).copied().unwrap_or(0)
}

/// The bulk read of issues (the search with their change logs; an issue's parts read on their
/// own only where the search cuts them off or lacks them) and the one-by-one read store the same
/// issue documents, on a site whose issues go past each of the search's cuts (40 histories, 20
/// comments, 20 worklogs), with remote links (one only visible in a change log past the cut),
/// an issue nobody watches and properties. The bulk read makes exactly the requests those cuts
/// and gaps call for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_read_and_the_one_by_one_read_store_the_same_issue_documents() {
    use cairn_sitesim::model::{ChangeItem, Comment, History, Worklog};
    let mut w = world(28, &[]).await;
    let picked: Vec<(u64, String)> = w.sim.with_site("src", |s| {
        s.issues
            .values()
            .take(8)
            .map(|i| (i.id, i.key.clone()))
            .collect()
    });
    let (long_log, linked, commented, logged, unwatched, with_props) = (
        &picked[0], &picked[1], &picked[2], &picked[3], &picked[4], &picked[5],
    );
    // Watched by an account the users listing does not have (a former user): its watchers are
    // read on their own. Watched by the backup's account: `isWatching` is true.
    let (watched_by_stranger, watched_by_me) = (&picked[6], &picked[7]);
    // Remote links added through the API: the site records each in the change log.
    let account = w.sim.account(cairn_sitesim::Access::ReadWrite).clone();
    let site = cairn_connectors::Site::new(
        &w.sim.base_url("src"),
        cairn_connectors::Credentials::new(account.email, account.api_token),
        support::loopback(),
    )
    .unwrap();
    let me = site.jira().myself().await.unwrap()["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    site.jira()
        .add_watcher(&watched_by_me.1, &me)
        .await
        .unwrap();
    for (issue, n) in [(long_log, 1), (linked, 2)] {
        let link = json!({"globalId": format!("cairn-test-{n}"), "object": {"url": format!("https://example.com/{n}"), "title": format!("Link {n}")}});
        site.jira()
            .create_remote_link(&issue.1, &link)
            .await
            .unwrap();
    }
    let adf = |text: &str| json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]});
    w.sim.with_site_mut("src", |s| {
        let now = chrono::Utc::now();
        let author = s.issues[&long_log.0].reporter.clone();
        // 45 changes after the link: the link's item falls past the search's 40.
        for n in 0..45 {
            let id = s.alloc_id();
            s.issues
                .get_mut(&long_log.0)
                .unwrap()
                .histories
                .push(History {
                    id,
                    author: author.clone(),
                    created: now + chrono::TimeDelta::seconds(n + 1),
                    items: vec![ChangeItem {
                        field: "labels".into(),
                        field_id: "labels".into(),
                        from: None,
                        from_string: None,
                        to: None,
                        to_string: Some(format!("label{n}")),
                    }],
                });
        }
        for n in 0..25 {
            let id = s.alloc_id();
            s.issues
                .get_mut(&commented.0)
                .unwrap()
                .comments
                .push(Comment {
                    id,
                    author: author.clone(),
                    body: adf(&format!("comment {n}")),
                    created: now,
                    updated: now,
                });
            let id = s.alloc_id();
            s.issues.get_mut(&logged.0).unwrap().worklogs.push(Worklog {
                id,
                author: author.clone(),
                comment: None,
                started: now,
                time_spent_seconds: 60 * (n + 1),
                created: now,
                updated: now,
            });
        }
        s.issues.get_mut(&unwatched.0).unwrap().watchers.clear();
        let stranger = "557058:00000000-0000-0000-0000-former000001".to_string();
        assert!(s.user(&stranger).is_none());
        s.issues
            .get_mut(&watched_by_stranger.0)
            .unwrap()
            .watchers
            .push(stranger);
        let props = &mut s.issues.get_mut(&with_props.0).unwrap().properties;
        props.insert("cairn.test.a".into(), json!({"a": 1}));
        props.insert("cairn.test.b".into(), json!([1, 2]));
    });
    let (issues, watched, linked_issues, properties, users) = w.sim.with_site("src", |s| {
        let has_link_item = |i: &cairn_sitesim::model::Issue| {
            i.histories
                .iter()
                .any(|h| h.items.iter().any(|x| x.field == "RemoteIssueLink"))
        };
        (
            s.issues.len() as u64,
            s.issues.values().filter(|i| !i.watchers.is_empty()).count() as u64,
            s.issues.values().filter(|i| has_link_item(i)).count() as u64,
            s.issues.values().map(|i| i.properties.len()).sum::<usize>() as u64,
            s.users.len() as u64,
        )
    });
    assert!(
        users < issues,
        "the site has fewer users than issues: read by user"
    );
    assert!(linked_issues >= 2, "the links added are in the change log");

    w.sim.clear_log("src");
    let bulk = w.backup(Product::Jira).await;
    let c = w.sim.counters("src");
    let issue_route = |r: &str| format!("GET /rest/api/3/issue/{{issueIdOrKey}}/{r}");
    // Only the cut-off parts and what the search lacks are read on their own.
    assert_eq!(on(&c, &issue_route("changelog")), 1, "{c:?}");
    assert_eq!(on(&c, &issue_route("comment")), 1, "{c:?}");
    assert_eq!(on(&c, &issue_route("worklog")), 1, "{c:?}");
    assert_eq!(on(&c, &issue_route("remotelink")), linked_issues, "{c:?}");
    // Watchers by user: one id-only search per user; `/watchers` read once to check the
    // documents built against the site's own, and for the issue with a watcher not listed.
    assert_eq!(on(&c, &issue_route("watchers")), 2, "{c:?}");
    assert_eq!(watched, issues - 1, "one issue has no watcher");
    let bulk_searches = on(&c, "POST /rest/api/3/search/jql");
    eprintln!(
        "{issues} issues, {watched} watched, {users} users: {bulk_searches} searches, {} /watchers reads in bulk",
        on(&c, &issue_route("watchers"))
    );
    assert_eq!(on(&c, &issue_route("properties")), issues, "{c:?}");
    assert_eq!(
        on(
            &c,
            "GET /rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}"
        ),
        properties,
        "{c:?}"
    );
    let per_issue = |c: &BTreeMap<String, u64>| {
        let n: u64 = c
            .iter()
            .filter(|(r, _)| r.contains("/issue/{issueIdOrKey}") || r.contains("/search/jql"))
            .map(|(_, n)| n)
            .sum();
        n as f64 / issues as f64
    };
    let bulk_per_issue = per_issue(&c);

    w.set_settings(cairn_engine::EngineSettings {
        bulk_reads: false,
        ..support::test_settings()
    });
    w.sim.clear_log("src");
    let one_by_one = w.backup(Product::Jira).await;
    let c = w.sim.counters("src");
    let one_by_one_per_issue = per_issue(&c);
    assert_eq!(on(&c, &issue_route("watchers")), issues, "{c:?}");
    assert_eq!(
        bulk_searches - on(&c, "POST /rest/api/3/search/jql"),
        users,
        "one watcher search per user: {c:?}"
    );
    eprintln!(
        "requests per issue: {bulk_per_issue:.2} in bulk, {one_by_one_per_issue:.2} one by one"
    );
    assert!(
        bulk_per_issue * 2.0 < one_by_one_per_issue,
        "{bulk_per_issue} against {one_by_one_per_issue}"
    );

    let (a, b) = (w.snapshot(&bulk).await, w.snapshot(&one_by_one).await);
    let docs = |entries: Vec<cairn_vault::Entry>| -> Vec<String> {
        entries
            .into_iter()
            .filter(|e| e.kind != cairn_vault::EntryKind::Dir)
            .map(|e| e.path)
            .filter(|p| p.contains("/issues/"))
            .collect()
    };
    let paths = docs(a.walk("").await.unwrap());
    assert_eq!(paths, docs(b.walk("").await.unwrap()));
    assert_eq!(paths.len() as u64, issues);
    for path in &paths {
        let (x, y) = (a.get(path).await.unwrap(), b.get(path).await.unwrap());
        assert!(
            x == y,
            "{path} differs:\n{}\n{}",
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y)
        );
    }
    // And they hold every entry past the cuts.
    let doc = |id: u64| {
        let path = paths
            .iter()
            .find(|p| p.ends_with(&format!("/{id}.json")))
            .unwrap_or_else(|| panic!("issue {id} in {paths:?}"));
        let a = &a;
        async move { serde_json::from_slice::<Value>(&a.get(path).await.unwrap()).unwrap() }
    };
    let links = |id: u64| w.sim.with_site("src", |s| s.issues[&id].remote_links.len());
    let d = doc(watched_by_me.0).await;
    assert_eq!(
        d["watchers"]["isWatching"],
        json!(true),
        "{}",
        d["watchers"]
    );
    let d = doc(watched_by_stranger.0).await;
    assert!(
        d["watchers"]["watchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["displayName"] == "Former user"),
        "{}",
        d["watchers"]
    );
    let d = doc(long_log.0).await;
    assert!(
        d["changelog"].as_array().unwrap().len() > 46,
        "{}",
        d["changelog"]
    );
    assert_eq!(
        d["remoteLinks"].as_array().unwrap().len(),
        links(long_log.0)
    );
    assert_eq!(
        doc(linked.0).await["remoteLinks"].as_array().unwrap().len(),
        links(linked.0)
    );
    assert!(doc(commented.0).await["comments"].as_array().unwrap().len() >= 25);
    assert!(doc(logged.0).await["worklogs"].as_array().unwrap().len() >= 25);
    assert_eq!(doc(unwatched.0).await["watchers"]["watchCount"], 0);
    let props = doc(with_props.0).await["properties"].clone();
    assert!(props.as_array().unwrap().len() >= 2, "{props}");
}

/// The bulk read of pages and blog posts (`storage` bodies from the listing; one read per item
/// for the ADF body with its labels and properties; a list read on its own only past the
/// `include-*` cut of 50) and the one-by-one read store the same documents, on a site with a
/// page past the labels' cut, one past the properties' cut and a blog post past both. The bulk
/// read makes exactly the requests those cuts call for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_read_and_the_one_by_one_read_store_the_same_confluence_documents() {
    use cairn_sitesim::confluence::INCLUDE_LIMIT;
    use cairn_sitesim::model::{CProperty, PageKind};
    let mut w = world(29, &[]).await;
    let past = INCLUDE_LIMIT + 7;
    let (labelled, propertied, blog) = w.sim.with_site_mut("src", |s| {
        let public = |s: &cairn_sitesim::model::Site, kind: PageKind| -> Vec<u64> {
            s.pages
                .values()
                .filter(|p| {
                    p.kind == kind && s.spaces.get(&p.space_id).is_some_and(|x| !x.personal)
                })
                .map(|p| p.id)
                .collect()
        };
        let pages = public(s, PageKind::Page);
        let blogs = public(s, PageKind::BlogPost);
        let (labelled, propertied, blog) = (pages[0], pages[1], blogs[0]);
        for n in 0..past {
            for (id, labels, props) in [
                (labelled, true, false),
                (propertied, false, true),
                (blog, true, true),
            ] {
                let pid = s.alloc_id();
                let p = s.pages.get_mut(&id).unwrap();
                if labels {
                    p.labels.push(format!("many-{n}"));
                }
                if props {
                    p.properties.push(CProperty {
                        id: pid,
                        key: format!("cairn.many.{n}"),
                        value: json!({"n": n}),
                        version: 1,
                    });
                }
            }
        }
        (labelled, propertied, blog)
    });

    w.sim.clear_log("src");
    let bulk = w.backup(Product::Confluence).await;
    let c = w.sim.counters("src");
    let a = w.snapshot(&bulk).await;
    let docs = |entries: Vec<cairn_vault::Entry>| -> Vec<String> {
        entries
            .into_iter()
            .filter(|e| e.kind != cairn_vault::EntryKind::Dir)
            .map(|e| e.path)
            .filter(|p| p.contains("/pages/") || p.contains("/blogposts/"))
            .collect()
    };
    let paths = docs(a.walk("").await.unwrap());
    let pages = paths.iter().filter(|p| p.contains("/pages/")).count() as u64;
    let blogs = paths.len() as u64 - pages;
    assert!(pages > 2 && blogs > 0, "{paths:?}");
    let v2 = |r: &str| format!("GET /wiki/api/v2/{r}");
    // One read per item, the lists past the cut on their own, the rest as one by one.
    assert_eq!(on(&c, &v2("pages/{id}")), pages, "{c:?}");
    assert_eq!(on(&c, &v2("blogposts/{id}")), blogs, "{c:?}");
    assert_eq!(on(&c, &v2("pages/{id}/labels")), 1, "{c:?}");
    assert_eq!(on(&c, &v2("pages/{page-id}/properties")), 1, "{c:?}");
    assert_eq!(on(&c, &v2("blogposts/{id}/labels")), 1, "{c:?}");
    assert_eq!(
        on(&c, &v2("blogposts/{blogpost-id}/properties")),
        1,
        "{c:?}"
    );
    for part in ["footer-comments", "inline-comments", "attachments"] {
        assert_eq!(on(&c, &v2(&format!("pages/{{id}}/{part}"))), pages, "{c:?}");
        assert_eq!(
            on(&c, &v2(&format!("blogposts/{{id}}/{part}"))),
            blogs,
            "{c:?}"
        );
    }
    let total = |c: &BTreeMap<String, u64>| -> u64 {
        c.iter()
            .filter(|(r, _)| {
                r.starts_with("GET /wiki/api/v2/pages/")
                    || r.starts_with("GET /wiki/api/v2/blogposts/")
                    || r.starts_with("GET /wiki/api/v2/footer-comments/")
                    || r.starts_with("GET /wiki/api/v2/spaces/{id}/")
            })
            .map(|(_, n)| n)
            .sum()
    };
    let per_item = |c: &BTreeMap<String, u64>| total(c) as f64 / (pages + blogs) as f64;
    let bulk_total = total(&c);
    let bulk_per_item = per_item(&c);

    w.set_settings(cairn_engine::EngineSettings {
        bulk_reads: false,
        ..support::test_settings()
    });
    w.sim.clear_log("src");
    let one_by_one = w.backup(Product::Confluence).await;
    let c = w.sim.counters("src");
    let one_by_one_per_item = per_item(&c);
    eprintln!(
        "requests per page or blog post: {bulk_per_item:.2} in bulk, {one_by_one_per_item:.2} one by one"
    );
    // Each item saves its `storage` read, its labels and its properties (3 requests), less the
    // four lists read past the cut. Comments (two routes and a read per footer comment for its
    // replies) and attachments have no `include-*` form and are read as one by one.
    assert_eq!(
        bulk_total + 3 * (pages + blogs) - 4,
        total(&c),
        "{bulk_per_item} against {one_by_one_per_item}: {c:?}"
    );

    let b = w.snapshot(&one_by_one).await;
    assert_eq!(paths, docs(b.walk("").await.unwrap()));
    for path in &paths {
        let (x, y) = (a.get(path).await.unwrap(), b.get(path).await.unwrap());
        assert!(
            x == y,
            "{path} differs:\n{}\n{}",
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y)
        );
    }
    // And they hold every entry past the cuts.
    let doc = |id: u64| {
        let path = paths
            .iter()
            .find(|p| p.ends_with(&format!("/{id}.json")))
            .unwrap_or_else(|| panic!("item {id} in {paths:?}"));
        let a = &a;
        async move { serde_json::from_slice::<Value>(&a.get(path).await.unwrap()).unwrap() }
    };
    let count = |d: &Value, part: &str| d[part].as_array().map_or(0, |x| x.len());
    let d = doc(labelled).await;
    assert!(count(&d, "labels") >= past, "{}", d["labels"]);
    assert!(d["page"].get("labels").is_none() && d["page"].get("properties").is_none());
    assert!(count(&doc(propertied).await, "properties") >= past);
    let d = doc(blog).await;
    assert!(count(&d, "labels") >= past && count(&d, "properties") >= past);
    assert!(
        d["blogpost"]["body"]["storage"]["value"].is_string(),
        "{}",
        d["blogpost"]
    );
    assert!(d["blogpost"]["body"]["atlas_doc_format"]["value"].is_string());
}
