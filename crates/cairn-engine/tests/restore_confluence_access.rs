//! Who may see and edit Confluence content, and the order of page trees, backed up and restored
//! into an empty site, compared through the REST API as the administrator and as the
//! read-only account the source's restrictions leave out: the same pages and blog posts are
//! visible to each, with the same restrictions, and each page's children in the same order. A
//! restricted page is never visible to an account outside its restriction while the restore
//! runs; a restriction the destination refuses leaves the page private and is named; a
//! restriction naming someone the destination does not know is narrowed, never widened.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cairn_sitesim::model::PageKind;
use cairn_sitesim::{Access, Counts, FaultSpec};
use cairn_store::Product;
use serde_json::Value;
use support::{World, world_of};

/// Sites with enough pages for nested restrictions and reordered children.
fn counts() -> Counts {
    Counts {
        pages: 40,
        blogposts: 8,
        attachment_percent: 10,
        attachment_max: 10_000,
        ..support::small()
    }
}

/// A REST client of one site, as one of the simulation's accounts.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    email: String,
    token: String,
}

impl Api {
    fn of(w: &World, site: &str, access: Access) -> Api {
        let a = w.sim.account(access);
        Api {
            http: reqwest::Client::new(),
            base: w.sim.base_url(site),
            email: a.email.clone(),
            token: a.api_token.clone(),
        }
    }
    async fn call(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.email, Some(&self.token))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(path).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }
    /// Every item of a v2 cursor-paged list.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{sep}limit=250"));
        while let Some(p) = next {
            let v = self.get(&p).await;
            out.extend(v["results"].as_array().cloned().unwrap_or_default());
            next = v["_links"]["next"].as_str().map(String::from);
        }
        out
    }
}

fn title(v: &Value) -> String {
    v["title"].as_str().unwrap().to_string()
}

/// What one account sees of a site's team spaces, by space key and title (ids differ between
/// sites): the pages with their children in order, the blog posts, and each one's restrictions
/// (operation, users, groups).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// Each visible team space's permissions, as `type:user-or-group-name operation:target`.
    spaces: BTreeMap<String, Vec<String>>,
    pages: BTreeMap<(String, String), Vec<String>>,
    blogposts: BTreeSet<(String, String)>,
    restrictions: BTreeMap<(String, String), Vec<String>>,
}

async fn seen(api: &Api) -> Seen {
    let mut s = Seen {
        spaces: BTreeMap::new(),
        pages: BTreeMap::new(),
        blogposts: BTreeSet::new(),
        restrictions: BTreeMap::new(),
    };
    for space in api.all("/wiki/api/v2/spaces").await {
        if space["type"] == "personal" {
            continue;
        }
        let key = space["key"].as_str().unwrap().to_string();
        let id = space["id"].as_str().unwrap();
        let mut permissions = Vec::new();
        for p in api
            .all(&format!("/wiki/api/v2/spaces/{id}/permissions"))
            .await
        {
            let mut who = p["principal"]["id"].as_str().unwrap().to_string();
            if p["principal"]["type"] == "group" {
                who = api
                    .get(&format!("/wiki/rest/api/group/by-id?id={who}"))
                    .await["name"]
                    .as_str()
                    .unwrap()
                    .to_string();
            }
            permissions.push(format!(
                "{}:{who} {}:{}",
                p["principal"]["type"].as_str().unwrap(),
                p["operation"]["key"].as_str().unwrap(),
                p["operation"]["targetType"].as_str().unwrap()
            ));
        }
        permissions.sort();
        s.spaces.insert(key.clone(), permissions);
        let mut items = Vec::new();
        for p in api.all(&format!("/wiki/api/v2/spaces/{id}/pages")).await {
            let children = api
                .all(&format!(
                    "/wiki/api/v2/pages/{}/children",
                    p["id"].as_str().unwrap()
                ))
                .await
                .iter()
                .map(title)
                .collect();
            s.pages.insert((key.clone(), title(&p)), children);
            items.push(p);
        }
        for b in api
            .all(&format!("/wiki/api/v2/spaces/{id}/blogposts"))
            .await
        {
            s.blogposts.insert((key.clone(), title(&b)));
            items.push(b);
        }
        for item in items {
            let r = api
                .get(&format!(
                    "/wiki/rest/api/content/{}/restriction?expand=restrictions.user,restrictions.group",
                    item["id"].as_str().unwrap()
                ))
                .await;
            let mut entries = Vec::new();
            for e in r["results"].as_array().unwrap() {
                let names = |k: &str, f: &str| -> Vec<String> {
                    e["restrictions"][k]["results"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x[f].as_str().unwrap().to_string())
                        .collect()
                };
                let (users, groups) = (names("user", "accountId"), names("group", "name"));
                if !users.is_empty() || !groups.is_empty() {
                    entries.push(format!(
                        "{} users={users:?} groups={groups:?}",
                        e["operation"]
                    ));
                }
            }
            s.restrictions.insert((key.clone(), title(&item)), entries);
        }
    }
    s
}

/// Titles of the source's team-space pages and blog posts the read-only account may not read.
fn hidden_from_reader(w: &World) -> BTreeSet<String> {
    let reader = w.sim.account(Access::ReadOnly).account_id();
    w.sim.with_site("src", |s| {
        s.pages
            .values()
            .filter(|p| s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal))
            .filter(|p| !s.may_read_page(&reader, p.id))
            .map(|p| p.title.clone())
            .collect()
    })
}

async fn completed(w: &World, restore: &str) -> Value {
    let rec = w.restore_record(restore).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
    w.result(restore).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_sees_the_same_pages_restrictions_and_order_after_a_round_trip() {
    let w = world_of(31, counts(), &["dst"]).await;
    let (admin, reader) = (
        Api::of(&w, "src", Access::ReadWrite),
        Api::of(&w, "src", Access::ReadOnly),
    );
    let (src_admin, src_reader) = (seen(&admin).await, seen(&reader).await);
    // The source is what this test is about: restrictions hide pages (nested ones too) and
    // blog posts from the reader, and some children are listed out of creation order.
    assert!(
        src_reader.spaces.len() < src_admin.spaces.len(),
        "a space the reader may not see"
    );
    assert!(src_reader.pages.len() < src_admin.pages.len());
    let anonymous = src_admin
        .spaces
        .values()
        .flatten()
        .any(|p| p == "user:anonymous read:space");
    assert!(anonymous, "a space open to anyone");
    assert!(src_reader.blogposts.len() < src_admin.blogposts.len());
    let nested = w.sim.with_site("src", |s| {
        s.pages.values().any(|p| {
            !p.restrictions.read.is_empty()
                && p.parent_id
                    .and_then(|x| s.pages.get(&x))
                    .is_some_and(|x| !x.restrictions.read.is_empty())
        })
    });
    assert!(nested, "a restricted page under a restricted page");
    let reordered = w.sim.with_site("src", |s| {
        s.pages.values().any(|parent| {
            let mut kids: Vec<_> = s
                .pages
                .values()
                .filter(|c| c.parent_id == Some(parent.id))
                .collect();
            let by_id: Vec<u64> = kids.iter().map(|c| c.id).collect();
            kids.sort_by_key(|c| (c.position, c.id));
            kids.iter().map(|c| c.id).collect::<Vec<_>>() != by_id
        })
    });
    assert!(reordered, "children listed out of creation order");

    let backup = w.backup(Product::Confluence).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;
    assert_eq!(result["failed"], serde_json::json!([]), "{result}");
    let restricted = w.sim.with_site("src", |s| {
        s.pages
            .values()
            .filter(|p| s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal))
            .filter(|p| p.restrictions != Default::default())
            .count() as u64
    });
    assert_eq!(
        result["created"]["contentRestriction"].as_u64(),
        Some(restricted),
        "{result}"
    );

    let dst_admin = seen(&Api::of(&w, "dst", Access::ReadWrite)).await;
    let dst_reader = seen(&Api::of(&w, "dst", Access::ReadOnly)).await;
    assert_eq!(dst_admin, src_admin);
    assert_eq!(dst_reader, src_reader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_excluded_account_never_sees_a_restricted_page_while_the_restore_runs() {
    let w = world_of(32, counts(), &["dst"]).await;
    let hidden = hidden_from_reader(&w);
    assert!(!hidden.is_empty());
    let backup = w.backup(Product::Confluence).await;
    // Each request takes a little while, so the poller sees the restore at many stages.
    w.sim.set_faults(
        "dst",
        FaultSpec {
            latency_ms: 3,
            ..Default::default()
        },
    );
    let reader = Api::of(&w, "dst", Access::ReadOnly);
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let poller = {
        let (stop, polls, hidden) = (stop.clone(), polls.clone(), hidden.clone());
        tokio::spawn(async move {
            let mut seen_titles = BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                for list in ["/wiki/api/v2/pages", "/wiki/api/v2/blogposts"] {
                    for item in reader.all(list).await {
                        let t = title(&item);
                        assert!(
                            !hidden.contains(&t),
                            "the reader saw {t:?} during the restore"
                        );
                        // Read one by one too: a listing and a single read are checked alike.
                        let (status, v) = reader
                            .call(&format!("{list}/{}", item["id"].as_str().unwrap()))
                            .await;
                        assert!(status == 200 || status == 404, "{status} {v}");
                        seen_titles.insert(t);
                    }
                }
                polls.fetch_add(1, Ordering::SeqCst);
            }
            seen_titles
        })
    };
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    completed(&w, &r.id).await;
    // Then a restricted page alone (`pageIds`), into a space the reader sees, which it now
    // lacks: it is written while the poller looks at that space.
    let admin = Api::of(&w, "dst", Access::ReadWrite);
    let (source_page, title_of) = w.sim.with_site("src", |s| {
        let p = s
            .pages
            .values()
            .find(|p| {
                p.kind == PageKind::Page
                    && hidden.contains(&p.title)
                    && !p.restrictions.read.is_empty()
                    // Deleting it must not uncover children its restriction hid.
                    && !s.pages.values().any(|c| c.parent_id == Some(p.id))
                    && s.spaces[&p.space_id]
                        .permissions
                        .iter()
                        .any(|x| x.principal == cairn_sitesim::model::Principal::Anonymous)
            })
            .unwrap();
        (p.id.to_string(), p.title.clone())
    });
    let dest = w.sim.with_site("dst", |s| {
        s.pages.values().find(|p| p.title == title_of).unwrap().id
    });
    let (status, _) = admin
        .http
        .delete(format!("{}/wiki/api/v2/pages/{dest}", admin.base))
        .basic_auth(&admin.email, Some(&admin.token))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 204);
    let single = w
        .start_item_restore(&backup, "dst", vec![source_page.clone()])
        .await;
    w.drain().await;
    stop.store(true, Ordering::SeqCst);
    let seen_titles = poller.await.expect("the poller found no restricted page");
    let result = completed(&w, &single.id).await;
    assert_eq!(result["created"]["page"], 1, "{result}");
    assert_eq!(result["created"]["contentRestriction"], 1, "{result}");
    let (src_restrictions, dst_restrictions) = (
        w.sim.with_site("src", |s| {
            s.pages[&source_page.parse::<u64>().unwrap()]
                .restrictions
                .clone()
        }),
        w.sim.with_site("dst", |s| {
            s.pages
                .values()
                .find(|p| p.title == title_of)
                .unwrap()
                .restrictions
                .clone()
        }),
    );
    assert_eq!(dst_restrictions, src_restrictions);
    assert!(
        polls.load(Ordering::SeqCst) >= 3,
        "polled {} times",
        polls.load(Ordering::SeqCst)
    );
    // The poller did see content appear: it was looking at the restore, not at nothing.
    assert!(!seen_titles.is_empty());
    // And afterwards the hidden pages exist, for the administrator.
    let admin_sees = w.sim.with_site("dst", |s| {
        s.pages
            .values()
            .filter(|p| hidden.contains(&p.title))
            .count()
    });
    assert_eq!(admin_sees, hidden.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_restriction_leaves_the_page_private_and_is_named() {
    let w = world_of(33, counts(), &["dst"]).await;
    let hidden = hidden_from_reader(&w);
    let backup = w.backup(Product::Confluence).await;
    w.sim.set_faults(
        "dst",
        FaultSpec {
            path_contains: Some("/restriction".into()),
            error: Some(cairn_sitesim::faults::ServerError {
                trigger: cairn_sitesim::faults::Trigger {
                    burst: 100_000,
                    every: 0,
                },
                status: 400,
            }),
            ..Default::default()
        },
    );
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    w.sim.set_faults("dst", FaultSpec::default());
    let result = w.result(&r.id).await;
    let named: BTreeSet<String> = result["failed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "contentRestriction")
        .map(|f| f["sourceId"].as_str().unwrap().to_string())
        .collect();
    let restricted: BTreeSet<String> = w.sim.with_site("src", |s| {
        s.pages
            .values()
            .filter(|p| s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal))
            .filter(|p| p.restrictions != Default::default())
            .map(|p| p.id.to_string())
            .collect()
    });
    assert_eq!(named, restricted, "{result}");
    // Each of them is in the destination, readable and editable by the restoring account
    // only; the reader sees none of what the source hid from it.
    let admin = w.sim.account(Access::ReadWrite).account_id();
    let reader_id = w.sim.account(Access::ReadOnly).account_id();
    let reader = Api::of(&w, "dst", Access::ReadOnly);
    let titles: BTreeSet<String> = w.sim.with_site("src", |s| {
        restricted
            .iter()
            .map(|id| s.pages[&id.parse::<u64>().unwrap()].title.clone())
            .collect()
    });
    w.sim.with_site("dst", |s| {
        for p in s.pages.values().filter(|p| titles.contains(&p.title)) {
            assert_eq!(
                p.restrictions.read.users,
                vec![admin.clone()],
                "{}",
                p.title
            );
            assert!(p.restrictions.read.groups.is_empty());
            assert!(!s.may_read_page(&reader_id, p.id), "{}", p.title);
        }
        assert_eq!(
            s.pages
                .values()
                .filter(|p| titles.contains(&p.title))
                .count(),
            titles.len()
        );
    });
    for list in ["/wiki/api/v2/pages", "/wiki/api/v2/blogposts"] {
        for item in reader.all(list).await {
            assert!(!hidden.contains(&title(&item)), "{}", title(&item));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_naming_an_unknown_account_is_narrowed_and_said_why() {
    let w = world_of(34, counts(), &["dst"]).await;
    // One account of the source's restrictions is unknown to the destination.
    let (page, gone) = w.sim.with_site("src", |s| {
        let p = s
            .pages
            .values()
            .find(|p| {
                s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal)
                    && !p.restrictions.read.users.is_empty()
            })
            .unwrap();
        (p.id, p.restrictions.read.users[0].clone())
    });
    w.sim
        .with_site_mut("dst", |s| s.users.retain(|u| u.account_id != gone));
    let backup = w.backup(Product::Confluence).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;
    assert_eq!(result["failed"], serde_json::json!([]), "{result}");
    let skipped = result["skippedItems"].as_array().unwrap();
    let item = skipped
        .iter()
        .find(|s| s["sourceId"] == format!("{page}/read/user:{gone}"))
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(item["kind"], "contentRestriction");
    assert!(item["reason"].as_str().unwrap().contains(&gone));
    // The page's read restriction keeps the rest (never wider than the source's).
    let (src, title) = w.sim.with_site("src", |s| {
        (
            s.pages[&page].restrictions.clone(),
            s.pages[&page].title.clone(),
        )
    });
    w.sim.with_site("dst", |s| {
        let p = s.pages.values().find(|p| p.title == title).unwrap();
        let mut want = src.read.clone();
        want.users.retain(|u| u != &gone);
        assert_eq!(p.restrictions.read, want);
        assert!(!p.restrictions.read.is_empty());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_while_restricting_resumes_with_no_duplicate() {
    let w = world_of(35, counts(), &["dst"]).await;
    let backup = w.backup(Product::Confluence).await;
    let reader = Api::of(&w, "src", Access::ReadOnly);
    let src_reader = seen(&reader).await;
    let src_admin = seen(&Api::of(&w, "src", Access::ReadWrite)).await;
    // Restriction writes are slow, so the kill lands among them.
    w.sim.set_faults(
        "dst",
        FaultSpec {
            path_contains: Some("/restriction".into()),
            latency_ms: 150,
            ..Default::default()
        },
    );
    let r = w.start_restore(&backup, "dst", None, None).await;
    // Killed once a few restricted pages have their own restrictions (not the private one).
    let admin = w.sim.account(Access::ReadWrite).account_id();
    let finished = move |w: &World| {
        w.sim.with_site("dst", |s| {
            s.pages
                .values()
                .filter(|p| {
                    !p.restrictions.read.groups.is_empty()
                        && p.restrictions.read.users != vec![admin.clone()]
                })
                .count()
        })
    };
    w.kill_job_after(2, finished).await;
    w.sim.set_faults("dst", FaultSpec::default());
    w.drain().await;
    let result = completed(&w, &r.id).await;
    assert_eq!(result["failed"], serde_json::json!([]), "{result}");
    let dups = w.sim.with_site("dst", |s| {
        let mut titles = BTreeMap::new();
        for p in s.pages.values() {
            *titles
                .entry((p.space_id, p.kind == PageKind::Page, p.title.clone()))
                .or_insert(0) += 1;
        }
        titles.values().filter(|n| **n > 1).count()
    });
    assert_eq!(dups, 0, "no page twice");
    let restricted = w.sim.with_site("src", |s| {
        s.pages
            .values()
            .filter(|p| s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal))
            .filter(|p| p.restrictions != Default::default())
            .count() as u64
    });
    assert_eq!(
        result["created"]["contentRestriction"].as_u64(),
        Some(restricted),
        "each restriction counted once: {result}"
    );
    assert_eq!(
        seen(&Api::of(&w, "dst", Access::ReadWrite)).await,
        src_admin
    );
    assert_eq!(
        seen(&Api::of(&w, "dst", Access::ReadOnly)).await,
        src_reader
    );
}

/// Changing who may read a page leaves its version alone, so the listing alone cannot tell an
/// incremental backup it changed; taking it over unread would keep the old restriction and a
/// restore would show the page to accounts the site now hides it from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restriction_changed_since_the_last_backup_is_in_the_next_one() {
    let w = world_of(34, counts(), &[]).await;
    let policy = w.policy(Product::Confluence).await;
    let first = w.run_backup(&policy).await;
    let admin = w.sim.account(Access::ReadWrite).account_id();
    // An unrestricted page of a shared space is restricted to the administrator, and a
    // restricted one opened to everyone; neither page's version changes.
    let (closed, opened) = w.sim.with_site_mut("src", |s| {
        let shared = |s: &cairn_sitesim::model::Site, p: &cairn_sitesim::model::Page| {
            p.kind == PageKind::Page && s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal)
        };
        let closed = s
            .pages
            .values()
            .find(|p| shared(s, p) && p.restrictions == Default::default())
            .map(|p| p.id)
            .unwrap();
        let opened = s
            .pages
            .values()
            .find(|p| shared(s, p) && !p.restrictions.read.is_empty())
            .map(|p| p.id)
            .unwrap();
        s.pages.get_mut(&closed).unwrap().restrictions.read.users = vec![admin.clone()];
        s.pages.get_mut(&opened).unwrap().restrictions = Default::default();
        (closed, opened)
    });
    let second = w.run_backup(&policy).await;
    assert_ne!(first.id, second.id);
    let stats = w.stats(&second.id).await;
    assert!(
        stats["itemsUnchanged"].as_u64().unwrap() > 0,
        "the other pages are taken over: {stats}"
    );
    let snap = w.snapshot(&second.id).await;
    let files = w.files(&second.id).await;
    let doc_of = |id: u64| {
        files
            .keys()
            .find(|p| p.ends_with(&format!("/pages/{id}.json")))
            .unwrap()
            .clone()
    };
    let restricted_to = |doc: &Value| -> Vec<String> {
        doc["restrictions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["operation"] == "read")
            .flat_map(|e| {
                e["restrictions"]["user"]["results"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .map(|u| u["accountId"].as_str().unwrap().to_string())
            .collect()
    };
    let closed_doc: Value =
        serde_json::from_slice(&snap.get(&doc_of(closed)).await.unwrap()).unwrap();
    assert_eq!(restricted_to(&closed_doc), vec![admin], "{closed_doc}");
    let opened_doc: Value =
        serde_json::from_slice(&snap.get(&doc_of(opened)).await.unwrap()).unwrap();
    assert_eq!(
        restricted_to(&opened_doc),
        Vec::<String>::new(),
        "{opened_doc}"
    );
}

/// A space's own labels and properties, and its status, come back with it: an archived space is
/// archived again, once its content is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_comes_back_with_its_labels_properties_and_archived_status() {
    let w = world_of(35, counts(), &["dst"]).await;
    let details = |site: &str| {
        w.sim.with_site(site, |s| {
            s.spaces
                .values()
                .filter(|sp| !sp.personal)
                .map(|sp| {
                    let mut labels = sp.labels.clone();
                    labels.sort();
                    let props: BTreeMap<String, Value> = sp
                        .properties
                        .iter()
                        .map(|p| (p.key.clone(), p.value.clone()))
                        .collect();
                    (sp.key.clone(), (labels, props, sp.archived))
                })
                .collect::<BTreeMap<_, _>>()
        })
    };
    let source = details("src");
    assert!(
        source.values().any(|d| d.2),
        "an archived space: {source:?}"
    );
    assert!(source.values().any(|d| !d.0.is_empty()), "a labelled space");
    assert!(
        source.values().any(|d| !d.1.is_empty()),
        "a space with properties"
    );

    let backup = w.backup(Product::Confluence).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;
    assert_eq!(result["failed"], serde_json::json!([]), "{result}");
    assert_eq!(details("dst"), source);
    // The archived status is what the destination's API says too.
    let admin = Api::of(&w, "dst", Access::ReadWrite);
    let archived = admin.all("/wiki/api/v2/spaces?status=archived").await;
    let keys: BTreeSet<String> = archived
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = source
        .iter()
        .filter(|(_, d)| d.2)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(keys, expected);
}
