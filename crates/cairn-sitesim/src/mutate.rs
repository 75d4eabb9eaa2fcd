//! `mutate`: change, add and delete about N% of a site's issues and pages, stamping `updated`
//! (and page versions) with the current time, as the real sites do.

use chrono::Utc;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::adf;
use crate::model::*;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutationReport {
    pub issues_changed: usize,
    pub issues_added: usize,
    pub issues_deleted: usize,
    pub pages_changed: usize,
    pub pages_added: usize,
    pub pages_deleted: usize,
}

/// Of the touched items, 70% are changed, 15% added and 15% deleted.
pub fn mutate(site: &mut Site, percent: f64) -> MutationReport {
    site.mutations += 1;
    let mut rng =
        ChaCha8Rng::seed_from_u64(site.seed ^ site.mutations.wrapping_mul(0xA24B_AED4_963E_E407));
    let mut rep = MutationReport::default();
    let now = Utc::now();
    let frac = (percent / 100.0).clamp(0.0, 1.0);
    let users: Vec<String> = site
        .users
        .iter()
        .filter(|u| u.active)
        .map(|u| u.account_id.clone())
        .collect();
    let mentionables: Vec<(String, String)> = vec![];
    let pick_user = |rng: &mut ChaCha8Rng| users[rng.random_range(0..users.len())].clone();

    // ---------------------------------------------------------------- issues
    let n = site.issues.len();
    let k = (n as f64 * frac).round() as usize;
    let (adds, dels) = (
        (k as f64 * 0.15).round() as usize,
        (k as f64 * 0.15).round() as usize,
    );
    let changes = k.saturating_sub(adds + dels);
    let mut ids: Vec<u64> = site.issues.keys().copied().collect();
    // choose distinct issues to change and delete
    for i in 0..ids.len() {
        let j = rng.random_range(i..ids.len());
        ids.swap(i, j);
    }
    for &id in ids.iter().take(changes) {
        let hid = site.alloc_id();
        let cid = site.alloc_id();
        let who = pick_user(&mut rng);
        let body = adf::doc(&mut rng, 1..2, &mentionables);
        let summary = adf::sentence(&mut rng);
        let issue = site.issues.get_mut(&id).unwrap();
        let old = std::mem::replace(&mut issue.summary, summary);
        issue.histories.push(History {
            id: hid,
            author: who.clone(),
            created: now,
            items: vec![ChangeItem {
                field: "summary".into(),
                field_id: "summary".into(),
                from: None,
                from_string: Some(old),
                to: None,
                to_string: Some(issue.summary.clone()),
            }],
        });
        if rng.random_bool(0.5) {
            issue.comments.push(Comment {
                id: cid,
                author: who,
                body,
                created: now,
                updated: now,
            });
        }
        issue.updated = now;
        rep.issues_changed += 1;
    }
    for &id in ids.iter().skip(changes).take(dels) {
        site.remove_issue(id);
        rep.issues_deleted += 1;
    }
    let pids: Vec<u64> = site.projects.keys().copied().collect();
    for _ in 0..adds {
        if pids.is_empty() {
            break;
        }
        let pid = pids[rng.random_range(0..pids.len())];
        let id = site.alloc_id();
        let who = pick_user(&mut rng);
        let status = site
            .flows
            .workflow_of(pid, "10002")
            .initial_status()
            .to_string();
        let p = site.projects.get_mut(&pid).unwrap();
        p.issue_counter += 1;
        let issue = Issue {
            id,
            key: format!("{}-{}", p.key, p.issue_counter),
            number: p.issue_counter,
            issuetype: "10002".into(),
            summary: adf::sentence(&mut rng),
            description: Some(adf::doc(&mut rng, 2..3, &mentionables)),
            status,
            watchers: vec![who.clone()],
            ..Issue::blank(pid, &who, now)
        };
        site.issue_keys.insert(issue.key.clone(), id);
        site.issues.insert(id, issue);
        rep.issues_added += 1;
    }

    // ----------------------------------------------------------------- pages
    let homepages: Vec<u64> = site.spaces.values().filter_map(|s| s.homepage_id).collect();
    let mut pids: Vec<u64> = site.pages.keys().copied().collect();
    let n = pids.len();
    let k = (n as f64 * frac).round() as usize;
    let (adds, dels) = (
        (k as f64 * 0.15).round() as usize,
        (k as f64 * 0.15).round() as usize,
    );
    let changes = k.saturating_sub(adds + dels);
    for i in 0..pids.len() {
        let j = rng.random_range(i..pids.len());
        pids.swap(i, j);
    }
    for &id in pids.iter().take(changes) {
        let body = adf::doc(&mut rng, 3..4, &mentionables);
        let who = pick_user(&mut rng);
        let p = site.pages.get_mut(&id).unwrap();
        p.storage = adf::to_storage(&body);
        p.adf = body;
        p.version = CVersion {
            number: p.version.number + 1,
            author: who,
            created: now,
            message: "mutated".into(),
        };
        rep.pages_changed += 1;
    }
    for &id in pids
        .iter()
        .skip(changes)
        .filter(|id| !homepages.contains(id))
        .take(dels)
    {
        site.remove_page(id);
        rep.pages_deleted += 1;
    }
    let remaining: Vec<(u64, u64, PageKind)> = site
        .pages
        .values()
        .map(|p| (p.id, p.space_id, p.kind))
        .collect();
    for _ in 0..adds {
        if remaining.is_empty() {
            break;
        }
        let (parent, space_id, kind) = remaining[rng.random_range(0..remaining.len())];
        let id = site.alloc_id();
        let body = adf::doc(&mut rng, 3..4, &mentionables);
        let who = pick_user(&mut rng);
        let title = format!("{} {id}", adf::sentence(&mut rng).trim_end_matches('.'));
        site.pages.insert(
            id,
            Page {
                id,
                kind,
                space_id,
                parent_id: (kind == PageKind::Page).then_some(parent),
                position: 1000,
                title,
                author: who.clone(),
                created: now,
                version: CVersion {
                    number: 1,
                    author: who,
                    created: now,
                    message: String::new(),
                },
                storage: adf::to_storage(&body),
                adf: body,
                labels: vec![],
                properties: vec![],
                restrictions: Restrictions::default(),
            },
        );
        rep.pages_added += 1;
    }
    add_option(site);
    // -------------------------------------------------------------- workflows
    crate::workflows::mutate(site);
    rep
}

/// Configuration changes too: each mutation adds an option to the first context of the first
/// select field with options (drawn from no RNG, so the content's mutations stay as they were).
fn add_option(site: &mut Site) {
    let id = site.alloc_id().to_string();
    let n = site.mutations;
    let context = site
        .custom_fields
        .iter_mut()
        .filter(|f| f.kind == CfKind::Select)
        .flat_map(|f| f.contexts.iter_mut())
        .find(|c| !c.options.is_empty());
    if let Some(c) = context {
        c.options.push(FieldOption {
            id,
            value: format!("Added in mutation {n}"),
            parent: None,
            disabled: false,
        });
    }
}
