//! The Confluence half of a generated site: spaces (and one personal space), page trees
//! several levels deep, blog posts, and each page's labels, properties, comments (footer with
//! replies, inline) and attachments.

use std::collections::{BTreeMap, HashSet};

use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{Ctx, EXT, hex_id, lognormal, poisson, ts_between};
use crate::adf;
use crate::model::*;

/// The spaces, then a homepage per space, the page trees, and the blog posts.
pub(super) fn generate(site: &mut Site, rng: &mut ChaCha8Rng, ctx: &Ctx) {
    let space_ids = spaces(site, rng, ctx);
    let nspaces = ctx.counts.spaces.max(1);
    let mut pages = Pages {
        ctx,
        titles: HashSet::new(),
    };
    // Page trees: a homepage per space, then each page's parent is a random earlier page of the
    // same space, biased to recent ones (which gives trees several levels deep).
    let mut by_space: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &sid in &space_ids {
        let home = pages.make(site, rng, PageKind::Page, sid, None, 0);
        site.spaces.get_mut(&sid).unwrap().homepage_id = Some(home);
        by_space.entry(sid).or_default().push(home);
    }
    let npages = ctx.counts.pages.saturating_sub(space_ids.len());
    for i in 0..npages {
        let sid = space_ids[if i % 10 == 9 {
            space_ids.len() - 1
        } else {
            i % nspaces
        }];
        let existing = by_space[&sid].clone();
        let lo = existing.len().saturating_sub(6);
        let parent = existing[rng.random_range(lo..existing.len())];
        let parent = if rng.random_bool(0.25) {
            existing[0]
        } else {
            parent
        };
        // Positions that are not in creation order, so a tree's order has to be restored on
        // purpose (no draw: the order of draws stays as it was).
        let pos = ((existing.len() * 7919) % 1000) as i64;
        let id = pages.make(site, rng, PageKind::Page, sid, Some(parent), pos);
        by_space.get_mut(&sid).unwrap().push(id);
        site.pages.get_mut(&id).unwrap().restrictions = page_restrictions(site, i, parent);
    }
    for i in 0..ctx.counts.blogposts {
        let sid = space_ids[i % space_ids.len()];
        let id = pages.make(site, rng, PageKind::BlogPost, sid, None, 0);
        if i % 4 == 1 {
            let author = site.pages[&id].author.clone();
            site.pages.get_mut(&id).unwrap().restrictions.read = staff_and(Some(author));
        }
    }
}

/// Restricted to the site's administrators and, when given, one more account.
fn staff_and(user: Option<String>) -> Restriction {
    Restriction {
        users: user.into_iter().collect(),
        groups: vec![crate::permission::ADMINS_GROUP.into()],
    }
}

/// The restrictions of the `i`-th generated page (no draw): one in six is read-restricted to the
/// administrators and its author, and so is one in two of the pages under a read-restricted
/// parent (nested restrictions); one in six others only restricts editing.
fn page_restrictions(site: &Site, i: usize, parent: u64) -> Restrictions {
    let page_author = |id: u64| site.pages.get(&id).map(|p| p.author.clone());
    let parent_restricted = site
        .pages
        .get(&parent)
        .is_some_and(|p| !p.restrictions.read.is_empty());
    let mut r = Restrictions::default();
    let me = site.pages.keys().next_back().copied().unwrap_or_default();
    if i % 6 == 2 || (parent_restricted && i.is_multiple_of(2)) {
        r.read = staff_and(page_author(me));
    }
    if i % 6 == 4 {
        r.update = staff_and(None);
    }
    r
}

/// `counts.spaces` team spaces and one personal space, last.
fn spaces(site: &mut Site, rng: &mut ChaCha8Rng, ctx: &Ctx) -> Vec<u64> {
    let nspaces = ctx.counts.spaces.max(1);
    let mut space_ids = vec![];
    for si in 0..nspaces + 1 {
        let personal = si == nspaces;
        let sid = site.alloc_id();
        let owner = ctx.pick(rng);
        let key = if personal {
            format!("~{owner}")
        } else {
            format!(
                "{}{}",
                ["ENG", "HR", "OPS", "KB", "DOC", "PM"][si % 6],
                if si >= 6 {
                    si.to_string()
                } else {
                    String::new()
                }
            )
        };
        site.spaces.insert(
            sid,
            Space {
                id: sid,
                key,
                name: if personal {
                    format!(
                        "{} (personal)",
                        site.user(&owner)
                            .map(|u| u.display_name.clone())
                            .unwrap_or_default()
                    )
                } else {
                    format!("{} space", adf::words(rng, 2))
                },
                personal,
                author: owner,
                created: ts_between(rng, ctx.start, ctx.start + Duration::days(30)),
                homepage_id: None,
                description: adf::sentence(rng),
                permissions: vec![],
                labels: vec![],
                properties: vec![],
                archived: false,
            },
        );
        let permissions = space_permissions(site, sid, si, personal);
        let space = site.spaces.get_mut(&sid).unwrap();
        space.permissions = permissions;
        // Labels, properties and archiving made from the space's index (no draw, so the rest of
        // the site stays as the seed made it before spaces had them).
        if !personal {
            space.labels = ["team", "docs", "archive-candidate"][..si % 4]
                .iter()
                .map(|l| l.to_string())
                .collect();
            space.properties = (0..(si + 1) % 3)
                .map(|n| CProperty {
                    id: sid * 1000 + 900 + n as u64,
                    key: format!("space-setting-{n}"),
                    value: serde_json::json!({"owner": space.key, "level": n}),
                    version: 1,
                })
                .collect();
            space.archived = si % 4 == 1;
        }
        space_ids.push(sid);
    }
    space_ids
}

/// The permissions of the `si`-th space (no draw; ids made from the space's): the site's
/// administrators may do everything; in a team space a group of the directory and the owner
/// read and write, and two spaces in three are open to anyone (the others leave out accounts
/// in none of those); a personal space is its owner's, read by the administrators.
fn space_permissions(site: &Site, sid: u64, si: usize, personal: bool) -> Vec<SpacePermission> {
    let owner = site.spaces[&sid].author.clone();
    let mut grants: Vec<(Principal, &str, &str)> = Vec::new();
    let admins = Principal::Group(crate::permission::ADMINS_GROUP.into());
    for (key, target) in WRITE_ALL {
        grants.push((admins.clone(), key, target));
    }
    if personal {
        for (key, target) in WRITE_ALL {
            grants.push((Principal::User(owner.clone()), key, target));
        }
    } else {
        if let Some(g) = site.groups.get(si % site.groups.len().max(1)) {
            let team = Principal::Group(g.name.clone());
            grants.push((team.clone(), "read", "space"));
            grants.push((team.clone(), "create", "page"));
            grants.push((team, "create", "comment"));
        }
        grants.push((Principal::User(owner), "read", "space"));
        if si % 3 != 1 {
            grants.push((Principal::Anonymous, "read", "space"));
        }
    }
    // Confluence holds a permission once ("Permission already exists"): the team group may be
    // the administrators' own.
    let mut unique: Vec<(Principal, &str, &str)> = Vec::new();
    for g in grants {
        if !unique.contains(&g) {
            unique.push(g);
        }
    }
    let grants = unique;
    grants
        .into_iter()
        .enumerate()
        .map(|(n, (principal, key, target))| SpacePermission {
            id: sid * 1000 + n as u64,
            principal,
            key: key.into(),
            target: target.into(),
        })
        .collect()
}

/// What the administrators of a space may do.
pub(crate) const WRITE_ALL: [(&str, &str); 7] = [
    ("read", "space"),
    ("create", "page"),
    ("create", "blogpost"),
    ("create", "comment"),
    ("create", "attachment"),
    ("delete", "page"),
    ("administer", "space"),
];

/// Makes pages, keeping their titles unique within a space (as Confluence does).
struct Pages<'a> {
    ctx: &'a Ctx<'a>,
    titles: HashSet<(u64, String)>,
}

impl Pages<'_> {
    /// A page or blog post with its labels, properties, comments and attachments.
    fn make(
        &mut self,
        site: &mut Site,
        rng: &mut ChaCha8Rng,
        kind: PageKind,
        space_id: u64,
        parent: Option<u64>,
        position: i64,
    ) -> u64 {
        let (ctx, titles) = (self.ctx, &mut self.titles);
        let id = site.alloc_id();
        let created = ts_between(rng, ctx.start, ctx.end - Duration::days(30));
        let nver = 1 + poisson(rng, 1.5) as u64;
        let mut title = adf::sentence(rng).trim_end_matches('.').to_string();
        while !titles.insert((space_id, title.clone())) {
            title.push_str(&format!(" {}", rng.random_range(0..1000)));
        }
        let adf_body = adf::doc(rng, 2..9, &ctx.mentionables);
        let author = ctx.pick(rng);
        let modified = ts_between(rng, created, created + Duration::days(25));
        let mut labels: Vec<String> = (0..poisson(rng, 1.0)).map(|_| adf::words(rng, 1)).collect();
        labels.sort();
        labels.dedup();
        let mut properties = vec![];
        if rng.random_bool(0.2) {
            let pid = site.alloc_id();
            properties.push(CProperty {
                id: pid,
                key: "cairn-sim-meta".into(),
                value: json!({"reviewed": rng.random_bool(0.5), "score": rng.random_range(0..10)}),
                version: 1,
            });
        }
        site.pages.insert(
            id,
            Page {
                id,
                kind,
                space_id,
                parent_id: parent,
                position,
                title,
                author: author.clone(),
                created,
                version: CVersion {
                    number: nver,
                    author: ctx.pick(rng),
                    created: if nver > 1 { modified } else { created },
                    message: String::new(),
                },
                storage: adf::to_storage(&adf_body),
                adf: adf_body,
                labels,
                properties,
                restrictions: Restrictions::default(),
            },
        );
        comments(site, rng, ctx, id, created);
        attachments(site, rng, ctx, id, created);
        id
    }
}

/// Footer comments (some replies to an earlier one) and inline comments (some resolved).
fn comments(site: &mut Site, rng: &mut ChaCha8Rng, ctx: &Ctx, id: u64, created: Ts) {
    for _ in 0..poisson(rng, 1.2) {
        let cid = site.alloc_id();
        let inline = rng.random_bool(0.3);
        let body = adf::doc(rng, 1..2, &ctx.mentionables);
        let t = ts_between(rng, created, created + Duration::days(20));
        let parent_comment = if !inline && rng.random_bool(0.3) {
            site.ccomments
                .values()
                .rev()
                .find(|c| {
                    c.container == id && c.kind == CommentKind::Footer && c.parent_comment.is_none()
                })
                .map(|c| c.id)
        } else {
            None
        };
        site.ccomments.insert(
            cid,
            CComment {
                id: cid,
                kind: if inline {
                    CommentKind::Inline
                } else {
                    CommentKind::Footer
                },
                container: id,
                parent_comment,
                author: ctx.pick(rng),
                created: t,
                version: 1,
                storage: adf::to_storage(&body),
                adf: body,
                resolved: inline && rng.random_bool(0.3),
                inline_ref: if inline {
                    hex_id(rng, 32)
                } else {
                    String::new()
                },
                inline_text: if inline {
                    adf::words(rng, 2)
                } else {
                    String::new()
                },
            },
        );
    }
}

/// The page's attachments, sizes log-normal, content generated from a per-attachment seed.
fn attachments(site: &mut Site, rng: &mut ChaCha8Rng, ctx: &Ctx, id: u64, created: Ts) {
    for _ in 0..poisson(rng, ctx.counts.attachment_percent as f64 / 100.0) {
        let aid = site.alloc_id();
        let (ext, mime) = EXT[rng.random_range(0..EXT.len())];
        let size = (lognormal(
            rng,
            ctx.counts.attachment_median as f64,
            ctx.counts.attachment_sigma,
        ) as u64)
            .clamp(1, ctx.counts.attachment_max);
        site.cattachments.insert(
            aid,
            CAttachment {
                id: aid,
                container: id,
                title: format!("{}-{}.{ext}", adf::words(rng, 1), aid % 1000),
                media_type: mime.into(),
                comment: String::new(),
                author: ctx.pick(rng),
                created: ts_between(rng, created, created + Duration::days(20)),
                version: 1,
                file_id: format!(
                    "{}-{}-{}-{}-{}",
                    hex_id(rng, 8),
                    hex_id(rng, 4),
                    hex_id(rng, 4),
                    hex_id(rng, 4),
                    hex_id(rng, 12)
                ),
                blob: Blob::Gen {
                    seed: ctx.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ aid,
                    size,
                },
            },
        );
    }
}
