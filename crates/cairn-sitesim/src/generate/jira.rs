//! The Jira half of a generated site: projects (components, versions, role actors), a board
//! and sprints per project, issues with their comments, worklogs, change logs, remote links,
//! watchers, properties and attachments, and links between issues.

use std::collections::{BTreeMap, HashSet};

use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{Ctx, EXT, lognormal, poisson, ts_between};
use crate::adf;
use crate::model::*;

const PKEYS: &[&str] = &[
    "PLAT", "PAY", "MOB", "GROW", "OPS", "WEB", "DATA", "SEC", "API", "DOCS", "INFRA", "QA",
];

/// Every project in turn: the project, its board and sprints, its issues, their links.
pub(super) fn generate(site: &mut Site, rng: &mut ChaCha8Rng, ctx: &Ctx) {
    let nproj = ctx.counts.projects.max(1);
    // Skewed issues per project (Zipf-like, s = 1.1).
    let weights: Vec<f64> = (0..nproj)
        .map(|i| 1.0 / ((i + 1) as f64).powf(1.1))
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut per_project: Vec<usize> = weights
        .iter()
        .map(|w| ((w / wsum) * ctx.counts.issues as f64).floor() as usize)
        .collect();
    let assigned: usize = per_project.iter().sum();
    per_project[0] += ctx.counts.issues.saturating_sub(assigned);
    // Jira keeps project names unique, as keys.
    let mut project_names = HashSet::new();
    crate::workflows::generated(site);
    for (pi, &n_issues) in per_project.iter().enumerate() {
        let mut project = project(site, rng, ctx, pi, &mut project_names);
        crate::workflows::assign(site, project.id, pi);
        let sprint_ids = board(site, rng, ctx, pi, &project);
        issues(site, rng, ctx, &mut project, n_issues, &sprint_ids);
        site.projects.insert(project.id, project);
    }
}

/// A project with its components, versions and role actors (not yet in `site.projects`).
fn project(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    pi: usize,
    project_names: &mut HashSet<String>,
) -> Project {
    let key = if pi < PKEYS.len() {
        PKEYS[pi].to_string()
    } else {
        format!("P{pi}")
    };
    let pid = site.alloc_id();
    let mut name = format!(
        "{} {}",
        adf::words(rng, 1).to_uppercase(),
        ["Platform", "Service", "Portal", "Core"][pi % 4]
    );
    if !project_names.insert(name.clone()) {
        name = format!("{name} {key}");
        project_names.insert(name.clone());
    }
    let mut project = Project {
        id: pid,
        key: key.clone(),
        name,
        description: adf::sentence(rng),
        lead: ctx.pick(rng),
        type_key: "software".into(),
        components: vec![],
        versions: vec![],
        issue_counter: 0,
        role_actors: BTreeMap::new(),
        // Drawn from no RNG: every third project has none.
        category: [Some("10000"), Some("10001"), None][pi % 3].map(String::from),
    };
    for c in 0..rng.random_range(1..5) {
        let cid = site.alloc_id();
        project.components.push(Component {
            id: cid.to_string(),
            name: format!("{}-{c}", adf::words(rng, 1)),
            description: adf::sentence(rng),
            lead: if rng.random_bool(0.5) {
                Some(ctx.pick(rng))
            } else {
                None
            },
        });
    }
    for v in 0..rng.random_range(1..5) {
        let vid = site.alloc_id();
        let released = v < 2;
        project.versions.push(Version {
            id: vid.to_string(),
            name: format!("{}.{}.0", 1 + pi, v),
            description: adf::sentence(rng),
            released,
            archived: false,
            release_date: released.then(|| format!("2025-{:02}-15", 1 + v * 3)),
        });
    }
    for r in &site.roles {
        let id: u64 = r.id.parse().unwrap();
        let mut actors: Vec<String> = (0..rng.random_range(1..4)).map(|_| ctx.pick(rng)).collect();
        // A role's actors are a set in Jira: the same user drawn twice is one actor.
        let mut seen = std::collections::HashSet::new();
        actors.retain(|a| seen.insert(a.clone()));
        project.role_actors.insert(id, actors);
    }
    project
}

/// A board for the project (two in three scrum) and, on a scrum board, its sprints.
fn board(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    pi: usize,
    project: &Project,
) -> Vec<u64> {
    let (key, pid) = (&project.key, project.id);
    let board_id = site.alloc_id();
    let scrum = pi % 3 != 2;
    site.boards.insert(
        board_id,
        Board {
            id: board_id,
            name: format!("{key} board"),
            kind: if scrum { "scrum" } else { "kanban" }.into(),
            project_id: pid,
        },
    );
    let mut sprint_ids = vec![];
    if scrum {
        for s in 0..rng.random_range(2..5) {
            let sid = site.alloc_id();
            let st = ctx.start + Duration::days(14 * (s as i64 + 30));
            let state = match s {
                0 | 1 => "closed",
                2 => "active",
                _ => "future",
            };
            site.sprints.insert(
                sid,
                Sprint {
                    id: sid,
                    board_id,
                    name: format!("{key} Sprint {}", s + 1),
                    state: state.into(),
                    goal: adf::sentence(rng),
                    start: (state != "future").then_some(st),
                    end: (state != "future").then_some(st + Duration::days(14)),
                },
            );
            sprint_ids.push(sid);
        }
    }
    sprint_ids
}

/// Where a new issue goes: its number in the project, its type and parent, its creation time.
struct Slot {
    id: u64,
    number: u64,
    issuetype: &'static str,
    parent: Option<u64>,
    created: Ts,
}

/// The project's issues, created in key order over the time span, then the links between them.
fn issues(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    project: &mut Project,
    n_issues: usize,
    sprint_ids: &[u64],
) {
    let mut project_issue_ids: Vec<u64> = Vec::new();
    let mut epics: Vec<u64> = Vec::new();
    let mut non_epics: Vec<u64> = Vec::new();
    let mut created = ts_between(rng, ctx.start, ctx.start + Duration::days(60));
    let step = (ctx.end - created).num_seconds().max(1) / (n_issues.max(1) as i64 + 1);
    for _ in 0..n_issues {
        created += Duration::seconds(rng.random_range(1..(2 * step).max(2)));
        let id = site.alloc_id();
        project.issue_counter += 1;
        let number = project.issue_counter;
        let roll = rng.random_range(0..100);
        // Non-epic issues of the project so far (kept incrementally: O(1) per issue).
        let nonsub = &non_epics;
        let (issuetype, parent) = if roll < 8 || project_issue_ids.is_empty() {
            ("10000", None)
        } else if roll < 22 && !nonsub.is_empty() {
            let p = nonsub[rng.random_range(0..nonsub.len())];
            if site
                .issues
                .get(&p)
                .is_some_and(|i| i.issuetype == SUBTASK_TYPE)
            {
                ("10002", None)
            } else {
                (SUBTASK_TYPE, Some(p))
            }
        } else {
            let t = ["10001", "10002", "10003"][rng.random_range(0..3)];
            let parent = (!epics.is_empty() && rng.random_bool(0.4))
                .then(|| epics[rng.random_range(0..epics.len())]);
            (t, parent)
        };
        let slot = Slot {
            id,
            number,
            issuetype,
            parent,
            created,
        };
        let issue = issue(site, rng, ctx, project, &slot, sprint_ids);
        if issuetype == "10000" {
            epics.push(id);
        } else {
            non_epics.push(id);
        }
        project_issue_ids.push(id);
        site.issue_keys.insert(issue.key.clone(), id);
        site.issues.insert(id, issue);
    }
    // Links: about 0.37 per issue, at most one per type and pair of issues (as Jira keeps
    // them: creating one again is a no-op).
    let mut linked = HashSet::new();
    for &from in &project_issue_ids {
        for _ in 0..poisson(rng, 0.37) {
            let to = project_issue_ids[rng.random_range(0..project_issue_ids.len())];
            let type_id = site.link_types[rng.random_range(0..4)].id.clone();
            if to == from || !linked.insert((to, from, type_id.clone())) {
                continue;
            }
            let lid = site.alloc_id();
            site.links.insert(
                lid,
                IssueLink {
                    id: lid,
                    type_id,
                    inward: to,
                    outward: from,
                },
            );
        }
    }
}

/// One issue with everything that hangs on it (its attachments go straight into the site).
fn issue(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    project: &Project,
    slot: &Slot,
    sprint_ids: &[u64],
) -> Issue {
    let &Slot {
        id,
        number,
        issuetype,
        parent,
        created,
    } = slot;
    let (key, pid) = (&project.key, project.id);
    // A status of the issue's workflow.
    let statuses = &site.flows.workflow_of(pid, issuetype).statuses;
    let status_id = &statuses[rng.random_range(0..statuses.len())];
    let status = site.statuses.iter().find(|s| &s.id == status_id).unwrap();
    let done = status.category == 3;
    let reporter = ctx.pick(rng);
    let mut issue = Issue {
        id,
        key: format!("{key}-{number}"),
        number,
        issuetype: issuetype.into(),
        summary: adf::sentence(rng),
        description: rng
            .random_bool(0.85)
            .then(|| adf::doc(rng, 1..6, &ctx.mentionables)),
        status: status.id.clone(),
        priority: site.priorities[rng.random_range(0..5)].id.clone(),
        resolution: done.then(|| site.resolutions[rng.random_range(0..3)].id.clone()),
        assignee: rng.random_bool(0.8).then(|| ctx.pick(rng)),
        labels: {
            let mut l: Vec<String> = (0..poisson(rng, 0.8)).map(|_| adf::words(rng, 1)).collect();
            l.sort();
            l.dedup();
            l
        },
        components: if rng.random_bool(0.5) {
            vec![
                project.components[rng.random_range(0..project.components.len())]
                    .id
                    .clone(),
            ]
        } else {
            vec![]
        },
        fix_versions: if rng.random_bool(0.4) {
            vec![
                project.versions[rng.random_range(0..project.versions.len())]
                    .id
                    .clone(),
            ]
        } else {
            vec![]
        },
        parent,
        sprint: (!sprint_ids.is_empty() && rng.random_bool(0.5))
            .then(|| sprint_ids[rng.random_range(0..sprint_ids.len())]),
        ..Issue::blank(pid, &reporter, created)
    };
    for f in &site.custom_fields {
        if let Some(v) = custom_value(rng, f, &ctx.users, &ctx.mentionables) {
            issue.custom.insert(f.id.clone(), v);
        }
    }
    let mut last = created;
    let horizon = |t: Ts| (t + Duration::days(90)).min(ctx.end);
    for _ in 0..poisson(rng, 3.3) {
        let cid = site.alloc_id();
        let t = ts_between(rng, created, horizon(created));
        last = last.max(t);
        issue.comments.push(Comment {
            id: cid,
            author: ctx.pick(rng),
            body: adf::doc(rng, 1..3, &ctx.mentionables),
            created: t,
            updated: t,
        });
    }
    issue.comments.sort_by_key(|c| (c.created, c.id));
    for _ in 0..poisson(rng, 0.8) {
        let wid = site.alloc_id();
        let t = ts_between(rng, created, horizon(created));
        last = last.max(t);
        issue.worklogs.push(Worklog {
            id: wid,
            author: ctx.pick(rng),
            comment: rng
                .random_bool(0.6)
                .then(|| adf::plain_doc(&adf::sentence(rng))),
            started: t - Duration::hours(2),
            time_spent_seconds: 900 * rng.random_range(1..33),
            created: t,
            updated: t,
        });
    }
    histories(site, rng, ctx, &mut issue, created, &mut last);
    for _ in 0..poisson(rng, 0.12) {
        let rid = site.alloc_id();
        let n: u32 = rng.random_range(1..10_000);
        issue.remote_links.push(RemoteLink {
            id: rid,
            global_id: Some(format!("system=https://example.com/tickets&id={n}")),
            url: format!("https://example.com/tickets/{n}"),
            title: format!("Ticket {n}"),
            relationship: Some("mentioned in".into()),
        });
    }
    // Each link's addition is in the change log, as Jira records it. The history takes the
    // link's id (ids of different kinds may meet, as on Jira) and the issue's creation time, so
    // the seeded id sequence and random stream, and so every other generated value, stay as
    // they were.
    for l in &issue.remote_links {
        issue.histories.push(History {
            id: l.id,
            author: issue.reporter.clone(),
            created,
            items: vec![l.added()],
        });
    }
    issue.histories.sort_by_key(|h| (h.created, h.id));
    let mut w: Vec<String> = (0..rng.random_range(0..4)).map(|_| ctx.pick(rng)).collect();
    w.push(issue.reporter.clone());
    w.sort();
    w.dedup();
    issue.watchers = w;
    if rng.random_bool(0.1) {
        issue.properties.insert(
            "cairn.sim.triage".into(),
            json!({"score": rng.random_range(0..100), "reviewed": rng.random_bool(0.5)}),
        );
    }
    attachments(site, rng, ctx, id, created, &mut last);
    issue.updated = last;
    issue
}

/// The change log: about 11.9 change items per issue (Poisson 5.95 histories of 1-3 items).
fn histories(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    issue: &mut Issue,
    created: Ts,
    last: &mut Ts,
) {
    let horizon = |t: Ts| (t + Duration::days(90)).min(ctx.end);
    let flow = site
        .flows
        .workflow_of(issue.project_id, &issue.issuetype)
        .clone();
    let mut st = flow.initial_status().to_string();
    for _ in 0..poisson(rng, 5.95) {
        let hid = site.alloc_id();
        let t = ts_between(rng, created, horizon(created));
        *last = (*last).max(t);
        let mut items = vec![];
        for _ in 0..rng.random_range(1..4) {
            items.push(match rng.random_range(0..4) {
                0 => {
                    let to = &flow.statuses[rng.random_range(0..flow.statuses.len())];
                    let to = site.statuses.iter().find(|s| &s.id == to).unwrap().clone();
                    let from = site
                        .statuses
                        .iter()
                        .find(|s| s.id == st)
                        .map(|s| s.name.clone());
                    let item = ChangeItem {
                        field: "status".into(),
                        field_id: "status".into(),
                        from: Some(st.clone()),
                        from_string: from,
                        to: Some(to.id.clone()),
                        to_string: Some(to.name.clone()),
                    };
                    st = to.id;
                    item
                }
                1 => {
                    let u = &ctx.users[rng.random_range(0..ctx.users.len())];
                    ChangeItem {
                        field: "assignee".into(),
                        field_id: "assignee".into(),
                        from: None,
                        from_string: None,
                        to: Some(u.account_id.clone()),
                        to_string: Some(u.display_name.clone()),
                    }
                }
                2 => ChangeItem {
                    field: "summary".into(),
                    field_id: "summary".into(),
                    from: None,
                    from_string: Some(adf::sentence(rng)),
                    to: None,
                    to_string: Some(adf::sentence(rng)),
                },
                _ => {
                    let p = &site.priorities[rng.random_range(0..5)];
                    ChangeItem {
                        field: "priority".into(),
                        field_id: "priority".into(),
                        from: Some("3".into()),
                        from_string: Some("Medium".into()),
                        to: Some(p.id.clone()),
                        to_string: Some(p.name.clone()),
                    }
                }
            });
        }
        issue.histories.push(History {
            id: hid,
            author: ctx.pick(rng),
            created: t,
            items,
        });
    }
    issue.histories.sort_by_key(|h| (h.created, h.id));
}

/// The issue's attachments, sizes log-normal, content generated from a per-attachment seed.
fn attachments(
    site: &mut Site,
    rng: &mut ChaCha8Rng,
    ctx: &Ctx,
    id: u64,
    created: Ts,
    last: &mut Ts,
) {
    let horizon = |t: Ts| (t + Duration::days(90)).min(ctx.end);
    let natt = poisson(rng, ctx.counts.attachment_percent as f64 / 100.0);
    for _ in 0..natt {
        let aid = site.alloc_id();
        let (ext, mime) = EXT[rng.random_range(0..EXT.len())];
        let size = (lognormal(
            rng,
            ctx.counts.attachment_median as f64,
            ctx.counts.attachment_sigma,
        ) as u64)
            .clamp(1, ctx.counts.attachment_max);
        let t = ts_between(rng, created, horizon(created));
        *last = (*last).max(t);
        site.attachments.insert(
            aid,
            Attachment {
                id: aid,
                issue_id: id,
                filename: format!("{}-{}.{ext}", adf::words(rng, 1), aid % 1000),
                mime: mime.into(),
                author: ctx.pick(rng),
                created: t,
                blob: Blob::Gen {
                    seed: ctx.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ aid,
                    size,
                },
            },
        );
    }
}

fn custom_value<R: Rng>(
    rng: &mut R,
    f: &CustomField,
    users: &[User],
    mentionables: &[(String, String)],
) -> Option<Value> {
    // The site's default fields have one global context.
    let options = &f.contexts.first()?.options;
    super::fields::value(rng, f.kind, options, users, mentionables)
}
