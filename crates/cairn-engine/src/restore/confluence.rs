//! Confluence: spaces (existing keys skipped), page trees parents first (the homepage's content
//! into the homepage the new space comes with), blog posts, and for each labels, properties,
//! attachments, footer comments with their replies and inline comments. The pages and blog
//! posts of a space are written side by side (a page after its parent), each one's own writes
//! one after another. Restricted items are created private and get their own restrictions once
//! the space's content is written (see [`restrictions`]); then each page's children are put in
//! their backed-up order, and last the space gets its permissions (see [`permissions`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use cairn_connectors::{Confluence, ContentKind, Site, parents_first};
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::{Ledger, RestoreRun, Tasks, Window};
use crate::json::{id_str, items, text};
use crate::site::{SiteRole::Destination, site_error};
use crate::{layout, origin};

#[path = "confluence_permissions.rs"]
mod permissions;
#[path = "confluence_restrictions.rs"]
mod restrictions;

pub(super) async fn restore(
    run: &mut RestoreRun<'_>,
    site: &Site,
    only: Option<&[String]>,
) -> Result<(), EngineError> {
    let wiki = site.confluence();
    let mut directory = restrictions::Directory::new(&wiki);
    for dir in run.list(&layout::confluence_spaces_dir()).await? {
        let key = layout::entry_id(&dir).to_string();
        if only.is_some_and(|keys| !keys.contains(&key)) {
            continue;
        }
        let Some(doc) = run.doc(&layout::confluence_space(&key)).await? else {
            continue;
        };
        let space = doc.get("space").unwrap_or(&doc).clone();
        if text(&space, "type") == "personal" {
            // No API creates a personal space (it belongs to its user).
            if run.selected(Selection::PersonalSpaces) {
                run.map.skipped("personalSpace");
            }
            continue;
        }
        let Some((space_id, home)) = space_target(run, &wiki, &key, &space).await? else {
            continue;
        };
        if !run.map.is_open("space", &key) {
            continue;
        }
        let source_home = id_str(&space["homepageId"]);
        if let (Some(s), Some(d)) = (&source_home, &home) {
            run.map.insert("page", s, d);
        }
        let mut restricted = Vec::new();
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            restricted.extend(
                contents(
                    run,
                    &wiki,
                    &mut directory,
                    &key,
                    &space_id,
                    kind,
                    source_home.as_deref(),
                    home.as_deref(),
                )
                .await?,
            );
        }
        // Every item is written: the page trees get their order, then restricted items their
        // own restrictions (a move needs edit permission, which a restriction may take away).
        order(run, &wiki, &key).await?;
        for (mkind, source, path) in restricted {
            let Some(dest) = run.map.get(mkind, &source).map(String::from) else {
                continue;
            };
            let Some(doc) = run.doc(&path).await? else {
                continue;
            };
            restrictions::write(run, &mut directory, &source, &dest, &doc).await?;
            run.map.save(run.ctx).await?;
        }
        // Its labels, properties and status need the space's `administer`, which the
        // permissions below may take from the restoring account.
        space_details(run, &wiki, &key, &space_id, &doc).await?;
        // Last, so that until then only the space's creator may see anything in it.
        permissions::write(run, &mut directory, &key, &space_id, &doc).await?;
        run.map.close("space", &key);
        run.map.save(run.ctx).await?;
    }
    Ok(())
}

/// A restored space's own labels (kind `spaceLabel`), properties (kind `spaceProperty`) and
/// status (an archived space is archived again, kind `spaceStatus`), once its content is written
/// (phase `spaceDetails:{KEY}`). Labels are added all at once (adding one the space has keeps it
/// once); a property the space has already (from an earlier attempt) is not written again. A
/// refused write is a failed item.
async fn space_details(
    run: &mut RestoreRun<'_>,
    wiki: &Confluence,
    key: &str,
    space_id: &str,
    doc: &Value,
) -> Result<(), EngineError> {
    let phase = format!("spaceDetails:{key}");
    if run.map.phase_done(&phase) {
        return Ok(());
    }
    let labels: Vec<&str> = items(&doc["labels"])
        .iter()
        .map(|l| text(l, "name"))
        .filter(|n| !n.is_empty())
        .collect();
    if !labels.is_empty() {
        let r = wiki.add_space_labels(key, &labels).await;
        if run.outcome("spaceLabel", key, r)?.is_some() {
            // One write for all; counted one by one.
            for _ in 1..labels.len() {
                run.map.created("spaceLabel");
            }
        }
    }
    let properties = items(&doc["properties"]);
    if !properties.is_empty() {
        let held: Vec<Value> = wiki
            .space_properties(space_id)
            .try_collect()
            .await
            .map_err(site_error(Destination))?;
        for p in properties {
            let name = text(p, "key");
            if name.is_empty() || held.iter().any(|h| text(h, "key") == name) {
                continue;
            }
            let r = wiki
                .create_space_property(space_id, name, &p["value"])
                .await;
            run.outcome("spaceProperty", &format!("{key}/{name}"), r)?;
        }
    }
    let space = doc.get("space").unwrap_or(doc);
    if text(space, "status") == "archived" {
        let r = wiki
            .set_space_status(key, text(space, "name"), "archived")
            .await;
        run.outcome("spaceStatus", key, r)?;
    }
    run.map.finish_phase(&phase, run.ctx).await
}

/// Single pages and blog posts (`pageIds`), into the spaces of the same keys, which must exist
/// in the destination, with their labels, properties, attachments and comments.
///
/// - A title is unique in a space: an item whose title the destination space has is skipped
///   (rule 8), unless this restore created it before it was stopped.
/// - A page goes under the destination page that has its parent's title (one restored before it
///   by the same restore included), else at the top of the space. Its child pages are not
///   restored with it.
pub(super) async fn restore_pages(
    run: &mut RestoreRun<'_>,
    site: &Site,
    ids: &[String],
) -> Result<(), EngineError> {
    let wiki = site.confluence();
    let mut directory = restrictions::Directory::new(&wiki);
    let mut spaces = Vec::new();
    for dir in run.list(&layout::confluence_spaces_dir()).await? {
        spaces.push(layout::entry_id(&dir).to_string());
    }
    // Per destination space: its id and its items' titles (page or blog post, title) → id.
    let mut targets: HashMap<String, Option<SpaceTarget>> = HashMap::new();
    for id in ids {
        let mut at = None;
        'find: for key in &spaces {
            for kind in [ContentKind::Page, ContentKind::BlogPost] {
                let path = match kind {
                    ContentKind::Page => layout::confluence_page(key, id),
                    ContentKind::BlogPost => layout::confluence_blogpost(key, id),
                };
                if run.has(&path).await? {
                    at = Some((key.clone(), kind, path));
                    break 'find;
                }
            }
        }
        let Some((key, kind, path)) = at else {
            run.map.failed("page", id, "not in this backup");
            continue;
        };
        let (wrapper, mkind) = match kind {
            ContentKind::Page => ("page", "page"),
            ContentKind::BlogPost => ("blogpost", "blogpost"),
        };
        if run.map.get(mkind, id).is_some() && !run.map.is_open(mkind, id) {
            continue;
        }
        if run.map.has_failed(mkind, id) {
            continue;
        }
        if !targets.contains_key(&key) {
            let target = space_and_titles(&wiki, &key).await?;
            targets.insert(key.clone(), target);
        }
        let Some((space_id, titles)) = targets.get(&key).and_then(Option::as_ref) else {
            run.map.failed(
                mkind,
                id,
                format!("the destination has no space {key}: restore the space with spaceKeys"),
            );
            continue;
        };
        let space_id = space_id.clone();
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let c = &doc[wrapper];
        let title = text(c, "title");
        let is_page = kind == ContentKind::Page;
        let (dest, reconcile) = match titles.get(&(is_page, title.to_string())) {
            Some(d) if run.map.is_open(mkind, id) => (d.clone(), true),
            Some(_) => {
                run.map.skipped(mkind);
                continue;
            }
            None => {
                let mut parent = None;
                if let Some(p) = id_str(&c["parentId"]).filter(|_| is_page)
                    && let Some(pdoc) = run.doc(&layout::confluence_page(&key, &p)).await?
                {
                    parent = titles
                        .get(&(true, text(&pdoc["page"], "title").to_string()))
                        .cloned();
                }
                // Opened first: a resumed attempt finds what this one created by its title.
                run.map.open(mkind, id);
                run.map.save(run.ctx).await?;
                let res = match restrictions::is_restricted(&doc) {
                    true => {
                        wiki.create_private_content(
                            kind,
                            &space_id,
                            parent.as_deref(),
                            title,
                            &body_of(c),
                        )
                        .await
                    }
                    false => {
                        wiki.create_content(kind, &space_id, parent.as_deref(), title, &body_of(c))
                            .await
                    }
                };
                let Some(d) = run.outcome(mkind, id, res)? else {
                    run.map.close(mkind, id);
                    run.step().await?;
                    continue;
                };
                run.map.insert(mkind, id, &d);
                (d, false)
            }
        };
        // A page named after this one may go under it.
        if let Some(Some((_, titles))) = targets.get_mut(&key) {
            titles.insert((is_page, title.to_string()), dest.clone());
        }
        run.map.children_of(mkind, id, reconcile);
        let mut ledger = Ledger::default();
        let tasks = run.tasks.clone();
        // On an error the page stays open with none of its children counted (see `idmap`).
        content_children(&tasks, &mut ledger, &wiki, kind, &dest, &doc, reconcile).await?;
        run.apply(ledger);
        if is_page {
            place_among_siblings(run, &wiki, &key, id, &dest).await?;
        }
        if restrictions::is_restricted(&doc) {
            restrictions::write(run, &mut directory, id, &dest, &doc).await?;
        }
        run.map.close(mkind, id);
        run.map.save(run.ctx).await?;
        run.step().await?;
    }
    Ok(())
}

/// Puts a page restored alone at its backed-up place among its siblings: after the nearest
/// sibling before it in the backup that its destination parent has (by title), else before the
/// nearest one after it. A move refused is a failed item (kind `pagePosition`).
async fn place_among_siblings(
    run: &mut RestoreRun<'_>,
    wiki: &Confluence,
    key: &str,
    source: &str,
    dest: &str,
) -> Result<(), EngineError> {
    let Some(doc) = run.doc(&layout::confluence_page(key, source)).await? else {
        return Ok(());
    };
    let Some(parent) = id_str(&doc["page"]["parentId"]) else {
        return Ok(());
    };
    let here = wiki
        .content(ContentKind::Page, dest, "storage")
        .await
        .map_err(site_error(Destination))?;
    let Some(dest_parent) = id_str(&here["parentId"]) else {
        return Ok(());
    };
    // The backed-up siblings in order, this page among them: (position, id, title).
    let mut siblings = Vec::new();
    for path in run
        .list(&layout::confluence_contents_dir(key, "pages"))
        .await?
    {
        let Some(d) = run.doc(&path).await? else {
            continue;
        };
        let p = &d["page"];
        if id_str(&p["parentId"]).as_deref() == Some(parent.as_str()) {
            let id = id_str(&p["id"]).unwrap_or_default();
            siblings.push((
                p["position"].as_i64().unwrap_or(i64::MAX),
                id.parse::<u64>().unwrap_or(u64::MAX),
                id,
                text(p, "title").to_string(),
            ));
        }
    }
    siblings.sort();
    let Some(at) = siblings.iter().position(|s| s.2 == source) else {
        return Ok(());
    };
    let listed: Vec<Value> = wiki
        .children(&dest_parent)
        .try_collect()
        .await
        .map_err(site_error(Destination))?;
    let there: HashMap<String, String> = listed
        .iter()
        .filter(|c| id_str(&c["id"]).as_deref() != Some(dest))
        .map(|c| {
            (
                text(c, "title").to_string(),
                id_str(&c["id"]).unwrap_or_default(),
            )
        })
        .collect();
    let before = siblings[..at].iter().rev().find_map(|s| there.get(&s.3));
    let after = siblings[at + 1..].iter().find_map(|s| there.get(&s.3));
    let r = match (before, after) {
        (Some(b), _) => wiki.move_page(dest, "after", b).await,
        (None, Some(a)) => wiki.move_page(dest, "before", a).await,
        (None, None) => return Ok(()),
    };
    if let Err(e) = r {
        run.refused("pagePosition", source, e)?;
    }
    Ok(())
}

/// A destination space's id, and its pages' and blog posts' ids by (is a page, title).
type SpaceTarget = (String, HashMap<(bool, String), String>);

/// A destination space's id and the titles of its pages and blog posts, or `None` when the
/// destination has no space with this key.
async fn space_and_titles(
    wiki: &Confluence,
    key: &str,
) -> Result<Option<SpaceTarget>, EngineError> {
    let Some(space) = space_by_key(wiki, key).await? else {
        return Ok(None);
    };
    let id = id_str(&space["id"]).unwrap_or_default();
    let mut titles = HashMap::new();
    for (kind, is_page) in [(ContentKind::Page, true), (ContentKind::BlogPost, false)] {
        for (title, item) in titles_of(wiki, kind, &id).await? {
            titles.insert((is_page, title), item);
        }
    }
    Ok(Some((id, titles)))
}

/// The destination space with this key, if any.
async fn space_by_key(wiki: &Confluence, key: &str) -> Result<Option<Value>, EngineError> {
    let found: Vec<Value> = wiki
        .spaces_by_key(&[key])
        .try_collect()
        .await
        .map_err(site_error(Destination))?;
    Ok(found.into_iter().find(|s| text(s, "key") == key))
}

/// The ids of a destination space's pages (or blog posts) by title: titles are unique there.
async fn titles_of(
    wiki: &Confluence,
    kind: ContentKind,
    space_id: &str,
) -> Result<HashMap<String, String>, EngineError> {
    let mut titles = HashMap::new();
    let mut s = wiki.content_ids(kind, space_id);
    while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
        titles.insert(
            text(&c, "title").to_string(),
            id_str(&c["id"]).unwrap_or_default(),
        );
    }
    Ok(titles)
}

/// The destination space (id, homepage id) for a backed-up space: created, or found as an
/// earlier attempt created it. `None` when the key exists and is not this restore's (skipped,
/// rule 7) or the space could not be created.
async fn space_target(
    run: &mut RestoreRun<'_>,
    wiki: &Confluence,
    key: &str,
    space: &Value,
) -> Result<Option<(String, Option<String>)>, EngineError> {
    if let Some(id) = run.map.get("space", key) {
        return Ok(Some((
            id.to_string(),
            run.map.get("homepage", key).map(String::from),
        )));
    }
    if run.map.has_failed("space", key) {
        return Ok(None);
    }
    if let Some(s) = space_by_key(wiki, key).await? {
        if !run.map.is_open("space", key) {
            run.map.skipped("space");
            return Ok(None);
        }
        // Created by an earlier attempt just before it stopped (not counted yet).
        run.map.created("space");
        let id = id_str(&s["id"]).unwrap_or_default();
        let home = id_str(&s["homepageId"]);
        remember_space(run, key, &id, home.as_deref());
        return Ok(Some((id, home)));
    }
    run.map.open("space", key);
    run.map.save(run.ctx).await?;
    let description = space["description"]["plain"]["value"]
        .as_str()
        .or_else(|| space["description"].as_str())
        .unwrap_or_default();
    let r = wiki
        .create_space(key, text(space, "name"), description)
        .await;
    let Some(c) = run.outcome("space", key, r)? else {
        run.map.close("space", key);
        return Ok(None);
    };
    remember_space(run, key, &c.id, c.homepage_id.as_deref());
    run.map.save(run.ctx).await?;
    Ok(Some((c.id, c.homepage_id)))
}

fn remember_space(run: &mut RestoreRun<'_>, key: &str, id: &str, home: Option<&str>) {
    run.map.insert("space", key, id);
    if let Some(h) = home {
        run.map.insert("homepage", key, h);
    }
}

/// Each page's children in their backed-up order (`position`): where the destination lists a
/// parent's restored children in another order, each is moved after the one before it (v1
/// move, idempotent, so a resumed restore just moves again). Pages at the top of the space keep
/// the order they were created in. A move refused is a failed item (kind `pagePosition`).
async fn order(run: &mut RestoreRun<'_>, wiki: &Confluence, key: &str) -> Result<(), EngineError> {
    let phase = format!("order:{key}");
    if run.map.phase_done(&phase) {
        return Ok(());
    }
    // Source parent → its children as (position, id).
    let mut by_parent: BTreeMap<String, Vec<(i64, u64, String)>> = BTreeMap::new();
    for path in run
        .list(&layout::confluence_contents_dir(key, "pages"))
        .await?
    {
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let page = &doc["page"];
        let (Some(id), Some(parent)) = (id_str(&page["id"]), id_str(&page["parentId"])) else {
            continue;
        };
        let position = page["position"].as_i64().unwrap_or(i64::MAX);
        let n = id.parse::<u64>().unwrap_or(u64::MAX);
        by_parent.entry(parent).or_default().push((position, n, id));
    }
    for (parent, mut kids) in by_parent {
        let Some(dest_parent) = run.map.get("page", &parent).map(String::from) else {
            continue;
        };
        kids.sort();
        let wanted: Vec<(String, String)> = kids
            .into_iter()
            .filter_map(|(_, _, id)| run.map.get("page", &id).map(|d| (id, d.to_string())))
            .collect();
        if wanted.len() < 2 {
            continue;
        }
        let listed: Vec<Value> = wiki
            .children(&dest_parent)
            .try_collect()
            .await
            .map_err(site_error(Destination))?;
        let ours: HashSet<&str> = wanted.iter().map(|(_, d)| d.as_str()).collect();
        let current: Vec<String> = listed
            .iter()
            .filter_map(|c| id_str(&c["id"]))
            .filter(|d| ours.contains(d.as_str()))
            .collect();
        if current.iter().eq(wanted.iter().map(|(_, d)| d)) {
            continue;
        }
        for pair in wanted.windows(2) {
            let ((_, before), (source, page)) = (&pair[0], &pair[1]);
            if let Err(e) = wiki.move_page(page, "after", before).await {
                run.refused("pagePosition", source, e)?;
            }
        }
    }
    run.map.finish_phase(&phase, run.ctx).await
}

/// The body to write: storage when the backup has it, else ADF.
fn body_of(c: &Value) -> Value {
    match c["body"]["storage"]["value"].as_str() {
        Some(s) => json!({"representation": "storage", "value": s}),
        None => {
            let adf = &c["body"]["atlas_doc_format"]["value"];
            let value = adf
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| adf.to_string());
            json!({"representation": "atlas_doc_format", "value": value})
        }
    }
}

struct ContentRef {
    id: String,
    parent: Option<String>,
    path: String,
}

/// The items of one space still to write, parents first: an item whose parent is not written
/// yet (its task runs, or it waits for its own parent) waits for it.
struct Tree {
    queue: VecDeque<ContentRef>,
    /// Items not written yet (nor found done).
    unfinished: HashSet<String>,
    /// Items waiting for their parent, by parent.
    waiting: HashMap<String, Vec<ContentRef>>,
    /// Parents in a cycle (not possible in Confluence) were found: nothing waits any more.
    stuck: bool,
}

impl Tree {
    fn new(refs: Vec<ContentRef>) -> Tree {
        Tree {
            unfinished: refs.iter().map(|r| r.id.clone()).collect(),
            queue: refs.into(),
            waiting: HashMap::new(),
            stuck: false,
        }
    }

    /// The item, unless it has to wait for its parent.
    fn wait_for_parent(&mut self, r: ContentRef) -> Option<ContentRef> {
        match &r.parent {
            Some(p) if !self.stuck && p != &r.id && self.unfinished.contains(p) => {
                self.waiting.entry(p.clone()).or_default().push(r);
                None
            }
            _ => Some(r),
        }
    }

    /// The item is written (or needs nothing): what waits for it comes next.
    fn finished(&mut self, id: &str) {
        self.unfinished.remove(id);
        for w in self
            .waiting
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .rev()
        {
            self.queue.push_front(w);
        }
    }

    /// Nothing runs and nothing is queued: true when items still wait (their parents are in
    /// a cycle); they are queued, to be written without waiting.
    fn stuck(&mut self) -> bool {
        if self.waiting.is_empty() {
            return false;
        }
        self.stuck = true;
        let mut rest: Vec<ContentRef> = self.waiting.drain().flat_map(|(_, w)| w).collect();
        rest.sort_by_key(|r| r.id.parse::<u64>().unwrap_or(u64::MAX));
        self.queue.extend(rest);
        true
    }
}

/// How the task of one page or blog post begins.
enum Start {
    /// Create it in the space, under this destination page; private when it is restricted.
    Create {
        space_id: String,
        parent: Option<String>,
        private: bool,
    },
    /// It is in the destination already (an earlier attempt created it).
    Known { dest: String, reconcile: bool },
    /// The new space's homepage: the backed-up homepage's content goes into it (first
    /// restricted to this account when the backed-up homepage is restricted).
    Home {
        dest: String,
        lock_to: Option<String>,
    },
}

/// What the task of one page or blog post wrote.
struct Written {
    source: String,
    ledger: Ledger,
}

/// The pages (parents first) or blog posts of one space, each created and given its children
/// in a task of its own, side by side: a page whose parent is still being written waits for it
/// (its task starts once the parent's ends), the others go on. Returns the restricted items
/// (kind, source id, path), whose restrictions are written once the space's content is.
#[allow(clippy::too_many_arguments)]
async fn contents(
    run: &mut RestoreRun<'_>,
    wiki: &Confluence,
    directory: &mut restrictions::Directory,
    key: &str,
    space_id: &str,
    kind: ContentKind,
    source_home: Option<&str>,
    home: Option<&str>,
) -> Result<Vec<(&'static str, String, String)>, EngineError> {
    let (dir, wrapper, mkind) = match kind {
        ContentKind::Page => ("pages", "page", "page"),
        ContentKind::BlogPost => ("blogposts", "blogpost", "blogpost"),
    };
    let mut refs = Vec::new();
    let mut restricted = Vec::new();
    for path in run.list(&layout::confluence_contents_dir(key, dir)).await? {
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let c = &doc[wrapper];
        if restrictions::is_restricted(&doc) {
            let id = id_str(&c["id"]).unwrap_or_else(|| layout::entry_id(&path).to_string());
            restricted.push((mkind, id, path.clone()));
        }
        refs.push(ContentRef {
            id: id_str(&c["id"]).unwrap_or_else(|| layout::entry_id(&path).to_string()),
            parent: id_str(&c["parentId"]),
            path,
        });
    }
    refs.sort_by_key(|r| r.id.parse::<u64>().unwrap_or(u64::MAX));
    let refs = parents_first(refs, |r| Some(r.id.clone()), |r| r.parent.clone());

    // Titles are unique in a space: what an earlier attempt created is found by title.
    let titles = if run.map.resumed() {
        titles_of(wiki, kind, space_id).await?
    } else {
        HashMap::new()
    };
    let home_phase = format!("home:{key}");
    let mut tree = Tree::new(refs);
    let mut window: Window<Written> = Window::new(run.width);
    loop {
        let next = if window.is_full() {
            None
        } else {
            tree.queue.pop_front()
        };
        let Some(r) = next else {
            let Some(done) = window.next().await else {
                if tree.stuck() {
                    continue;
                }
                break;
            };
            let Written { source, ledger } = done?;
            run.apply(ledger);
            run.map.close(mkind, &source);
            if Some(source.as_str()) == source_home {
                run.map.finish_phase(&home_phase, run.ctx).await?;
            }
            tree.finished(&source);
            run.step().await?;
            continue;
        };
        let Some(r) = tree.wait_for_parent(r) else {
            continue;
        };
        let known = run.map.get(mkind, &r.id).map(String::from);
        let is_home = Some(r.id.as_str()) == source_home;
        let done = (known.is_some() && !run.map.is_open(mkind, &r.id) && !is_home)
            || run.map.has_failed(mkind, &r.id)
            || (is_home && run.map.phase_done(&home_phase));
        let doc = if done { None } else { run.doc(&r.path).await? };
        let Some(doc) = doc else {
            tree.finished(&r.id);
            continue;
        };
        let title = text(&doc[wrapper], "title");
        let private = restrictions::is_restricted(&doc);
        let start = if let (true, Some(h)) = (is_home, home) {
            run.map.open(mkind, &r.id);
            let lock_to = match private {
                true => Some(directory.me().await?),
                false => None,
            };
            Start::Home {
                dest: h.to_string(),
                lock_to,
            }
        } else if let Some(d) = known {
            Start::Known {
                dest: d,
                reconcile: true,
            }
        } else if let Some(d) = titles.get(title) {
            // Created by an earlier attempt after its last save: not counted yet.
            run.map.created(mkind);
            run.map.insert(mkind, &r.id, d);
            run.map.open(mkind, &r.id);
            Start::Known {
                dest: d.clone(),
                reconcile: true,
            }
        } else {
            let parent = r
                .parent
                .as_deref()
                .and_then(|p| run.map.get("page", p))
                .map(String::from);
            Start::Create {
                space_id: space_id.to_string(),
                parent,
                private,
            }
        };
        if let Start::Known { reconcile, .. } = &start {
            run.map.children_of(mkind, &r.id, *reconcile);
        }
        let (tasks, wiki) = (run.tasks.clone(), wiki.clone());
        window.spawn(content_task(tasks, wiki, kind, r.id, doc, start));
    }
    Ok(restricted)
}

/// Creates one page or blog post (or takes the one given), then writes its children.
async fn content_task(
    tasks: Tasks,
    wiki: Confluence,
    kind: ContentKind,
    source: String,
    doc: Value,
    start: Start,
) -> Result<Written, EngineError> {
    let mut ledger = Ledger::default();
    let l = &mut ledger;
    let mkind = kind_name(kind);
    let c = &doc[mkind];
    let title = text(c, "title");
    let (dest, reconcile) = match start {
        Start::Known { dest, reconcile } => (dest, reconcile),
        Start::Home { dest, lock_to } => {
            if let Some(me) = lock_to {
                // Restricted before its restricted content is written.
                tasks.check()?;
                // Not counted: the homepage's own restrictions replace this one.
                if let Err(e) = wiki.set_restrictions(&dest, &restrictions::only(&me)).await {
                    tasks.refused(l, restrictions::KIND, &source, e)?;
                    return Ok(Written { source, ledger });
                }
            }
            let current = wiki
                .content(kind, &dest, "storage")
                .await
                .map_err(site_error(Destination))?;
            let reconcile = text(&current, "title") == title;
            if !reconcile {
                let version = current["version"]["number"].as_u64().unwrap_or(1) + 1;
                tasks.check()?;
                let r = wiki.update_page(&dest, title, &body_of(c), version).await;
                if tasks.outcome(l, "homepage", &source, r)?.is_none() {
                    return Ok(Written { source, ledger });
                }
            }
            (dest, reconcile)
        }
        Start::Create {
            space_id,
            parent,
            private,
        } => {
            tasks.check()?;
            let res = match private {
                true => {
                    wiki.create_private_content(
                        kind,
                        &space_id,
                        parent.as_deref(),
                        title,
                        &body_of(c),
                    )
                    .await
                }
                false => {
                    wiki.create_content(kind, &space_id, parent.as_deref(), title, &body_of(c))
                        .await
                }
            };
            let Some(d) = tasks.outcome(l, mkind, &source, res)? else {
                return Ok(Written { source, ledger });
            };
            l.insert(mkind, &source, &d);
            (d, false)
        }
    };
    content_children(&tasks, l, &wiki, kind, &dest, &doc, reconcile).await?;
    Ok(Written { source, ledger })
}

/// Labels, properties, attachments and comments of one page or blog post. With `reconcile`,
/// what the destination already holds is skipped.
async fn content_children(
    tasks: &Tasks,
    l: &mut Ledger,
    wiki: &Confluence,
    kind: ContentKind,
    dest: &str,
    doc: &Value,
    reconcile: bool,
) -> Result<(), EngineError> {
    let sid = id_str(&doc["page"]["id"])
        .or_else(|| id_str(&doc["blogpost"]["id"]))
        .unwrap_or_default();
    let labels: Vec<&str> = items(&doc["labels"])
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    if !labels.is_empty() {
        // Adding a label twice changes nothing: no look-up needed.
        tasks.check()?;
        let r = wiki.add_labels(dest, &labels).await;
        if tasks.outcome(l, "label", &sid, r)?.is_some() {
            for _ in 1..labels.len() {
                l.created("label");
            }
        }
    }
    let mut have_props = Vec::new();
    if reconcile {
        let mut s = wiki.properties(kind, dest);
        while let Some(p) = s.try_next().await.map_err(site_error(Destination))? {
            have_props.push(text(&p, "key").to_string());
        }
    }
    for p in items(&doc["properties"]) {
        let k = text(p, "key");
        if have_props.iter().any(|h| h == k) {
            l.created("contentProperty");
            continue;
        }
        tasks.check()?;
        let r = wiki.create_property(kind, dest, k, &p["value"]).await;
        tasks.outcome(l, "contentProperty", &format!("{sid}/{k}"), r)?;
    }
    if tasks.record_origin() && have_props.iter().any(|h| h == origin::PROPERTY) {
        l.created("origin");
    } else if tasks.record_origin() {
        let value = origin::confluence_content(doc);
        tasks.check()?;
        let r = wiki
            .create_property(kind, dest, origin::PROPERTY, &value)
            .await;
        tasks.outcome(l, "origin", &sid, r)?;
    }
    if tasks.attachments() {
        let mut have = Vec::new();
        if reconcile {
            let mut s = wiki.attachments_v1(dest);
            while let Some(a) = s.try_next().await.map_err(site_error(Destination))? {
                have.push(text(&a, "title").to_string());
            }
        }
        for a in items(&doc["attachments"]) {
            let aid = id_str(&a["id"]).unwrap_or_default();
            let title = text(a, "title");
            if have.iter().any(|h| h == title) {
                l.created("attachment");
                continue;
            }
            let media = a["mediaType"]
                .as_str()
                .or_else(|| a["extensions"]["mediaType"].as_str())
                .unwrap_or_default();
            match tasks
                .upload(l, &layout::confluence_attachment(&aid), title, media)
                .await?
            {
                Some(up) => {
                    tasks.check()?;
                    let r = wiki.upload_attachment(dest, up).await;
                    tasks.outcome(l, "attachment", &aid, r)?;
                }
                None => l.failed(
                    "attachment",
                    &aid,
                    "not in the backup (it could not be read when the backup ran)",
                ),
            }
        }
    }
    comments(tasks, l, wiki, kind, dest, doc, reconcile).await
}

async fn comments(
    tasks: &Tasks,
    l: &mut Ledger,
    wiki: &Confluence,
    kind: ContentKind,
    dest: &str,
    doc: &Value,
    reconcile: bool,
) -> Result<(), EngineError> {
    // What an earlier attempt wrote: the destination lists comments in the order they were
    // written (replies after their parent), which is this order.
    let (mut footer_have, mut inline_have) = (Vec::new(), Vec::new());
    if reconcile {
        let mut s = wiki.comments(kind, dest);
        while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
            if c.get("resolutionStatus").is_some() {
                inline_have.push((
                    id_str(&c["id"]).unwrap_or_default(),
                    text(&c, "resolutionStatus").to_string(),
                ));
            } else {
                footer_have.push(id_str(&c["id"]).unwrap_or_default());
            }
        }
    }
    let footer = parents_first(
        items(&doc["footerComments"]).to_vec(),
        |c| id_str(&c["id"]),
        |c| id_str(&c["parentCommentId"]),
    );
    let mut ids: HashMap<String, String> = HashMap::new();
    for (n, c) in footer.iter().enumerate() {
        let sid = id_str(&c["id"]).unwrap_or_default();
        if let Some(d) = footer_have.get(n) {
            l.created("comment");
            ids.insert(sid, d.clone());
            continue;
        }
        let parent = id_str(&c["parentCommentId"]).and_then(|p| ids.get(&p).cloned());
        if id_str(&c["parentCommentId"]).is_some() && parent.is_none() {
            l.failed("comment", &sid, "its parent comment could not be restored");
            continue;
        }
        tasks.check()?;
        let r = wiki
            .create_footer_comment(kind, dest, parent.as_deref(), &body_of(c))
            .await;
        if let Some(d) = tasks.outcome(l, "comment", &sid, r)? {
            ids.insert(sid, d);
        }
    }
    // Written by an earlier attempt, which may have stopped before resolving one.
    for (c, (d, status)) in items(&doc["inlineComments"]).iter().zip(&inline_have) {
        l.created("inlineComment");
        if text(c, "resolutionStatus") == "resolved"
            && status != "resolved"
            && let Err(e) = wiki.resolve_inline_comment(d, 2).await
        {
            let sid = id_str(&c["id"]).unwrap_or_default();
            tasks.refused(l, "inlineCommentResolution", &sid, e)?;
        }
    }
    for c in items(&doc["inlineComments"]).iter().skip(inline_have.len()) {
        let sid = id_str(&c["id"]).unwrap_or_default();
        let selection = c["properties"]["inlineOriginalSelection"]
            .as_str()
            .or_else(|| c["properties"]["inline-original-selection"].as_str())
            .unwrap_or_default();
        tasks.check()?;
        let r = wiki
            .create_inline_comment(kind, dest, selection, &body_of(c))
            .await;
        if let Some(d) = tasks.outcome(l, "inlineComment", &sid, r)?
            && text(c, "resolutionStatus") == "resolved"
            && let Err(e) = wiki.resolve_inline_comment(&d, 2).await
        {
            tasks.refused(l, "inlineCommentResolution", &sid, e)?;
        }
    }
    Ok(())
}

/// The map's kind of a page or blog post.
fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Page => "page",
        ContentKind::BlogPost => "blogpost",
    }
}
