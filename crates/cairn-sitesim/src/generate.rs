//! The deterministic site generator.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::adf;
use crate::model::*;

/// Explicit sizes of a generated site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub users: usize,
    pub groups: usize,
    pub projects: usize,
    pub issues: usize,
    pub spaces: usize,
    pub pages: usize,
    pub blogposts: usize,
    /// Mean attachments per issue/page, in percent (30 = 0.3 per issue).
    pub attachment_percent: u32,
    /// Log-normal attachment size parameters: median bytes and sigma.
    pub attachment_median: u64,
    pub attachment_sigma: f64,
    pub attachment_max: u64,
}

/// A named scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Small,
    Medium,
    Large,
}

impl std::str::FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "small" => Ok(Scale::Small),
            "medium" => Ok(Scale::Medium),
            "large" => Ok(Scale::Large),
            _ => Err(format!("unknown scale {s:?} (small, medium, large)")),
        }
    }
}

impl Scale {
    pub fn counts(self) -> Counts {
        match self {
            Scale::Small => Counts {
                users: 12,
                groups: 4,
                projects: 3,
                issues: 120,
                spaces: 2,
                pages: 30,
                blogposts: 6,
                attachment_percent: 25,
                attachment_median: 30_000,
                attachment_sigma: 1.2,
                attachment_max: 2_000_000,
            },
            Scale::Medium => Counts {
                users: 60,
                groups: 8,
                projects: 8,
                issues: 2_000,
                spaces: 5,
                pages: 400,
                blogposts: 40,
                attachment_percent: 25,
                attachment_median: 40_000,
                attachment_sigma: 1.5,
                attachment_max: 20_000_000,
            },
            Scale::Large => Counts {
                users: 400,
                groups: 30,
                projects: 25,
                issues: 40_000,
                spaces: 20,
                pages: 6_000,
                blogposts: 600,
                attachment_percent: 30,
                attachment_median: 60_000,
                attachment_sigma: 2.0,
                attachment_max: 60_000_000,
            },
        }
    }
}

fn poisson<R: Rng>(rng: &mut R, mean: f64) -> usize {
    // Knuth; fine for the small means used here.
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median * (sigma * z).exp()
}

fn hex_id<R: Rng>(rng: &mut R, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Niklaus",
    "Hedy",
    "Donald",
    "Katherine",
    "John",
    "Sophie",
    "Tim",
    "Anita",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Wirth", "Lamarr", "Knuth", "Johnson", "McCarthy", "Wilson",
    "Berners", "Borg", "Rossum",
];
const EXT: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    ("zip", "application/zip"),
    ("json", "application/json"),
    ("jpg", "image/jpeg"),
];

/// Base of generated timestamps: content spans the two years before it.
fn epoch() -> Ts {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Site-level configuration every site has, even an empty one: users, groups, issue types,
/// statuses, priorities, resolutions, link types, roles, custom fields. Deterministic in `seed`.
pub fn directory(name: &str, seed: u64, counts: &Counts) -> Site {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_d1ec);
    let mut site = Site {
        name: name.to_string(),
        seed,
        next_id: 10_000,
        ..Default::default()
    };
    for i in 0..counts.users.max(2) {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len() + i * 7) % LAST.len()];
        let account_id = format!("5b10{}", hex_id(&mut rng, 20));
        site.users.push(User {
            display_name: format!("{first} {last}"),
            email: format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase(),
                i
            ),
            active: i % 17 != 16,
            account_id,
        });
    }
    let group_names = [
        "jira-software-users",
        "confluence-users",
        "site-admins",
        "developers",
        "support",
        "qa",
        "design",
        "ops",
    ];
    for g in 0..counts.groups.max(2) {
        let name = if g < group_names.len() {
            group_names[g].to_string()
        } else {
            format!("team-{g}")
        };
        let members: Vec<String> = site
            .users
            .iter()
            .enumerate()
            .filter(|(i, _)| g < 2 || (i + g) % 3 == 0)
            .map(|(_, u)| u.account_id.clone())
            .collect();
        site.groups.push(Group {
            id: format!(
                "{}-{}-{}-{}-{}",
                hex_id(&mut rng, 8),
                hex_id(&mut rng, 4),
                hex_id(&mut rng, 4),
                hex_id(&mut rng, 4),
                hex_id(&mut rng, 12)
            ),
            name,
            members,
        });
    }
    let it = |id: &str, name: &str, subtask: bool, level: i32| IssueType {
        id: id.into(),
        name: name.into(),
        description: format!("A {name}."),
        subtask,
        hierarchy_level: level,
    };
    site.issue_types = vec![
        it("10000", "Epic", false, 1),
        it("10001", "Story", false, 0),
        it("10002", "Task", false, 0),
        it("10003", "Bug", false, 0),
        it("10004", "Subtask", true, -1),
    ];
    site.statuses = vec![
        Status {
            id: "10000".into(),
            name: "To Do".into(),
            category: 2,
        },
        Status {
            id: "3".into(),
            name: "In Progress".into(),
            category: 4,
        },
        Status {
            id: "10001".into(),
            name: "In Review".into(),
            category: 4,
        },
        Status {
            id: "10002".into(),
            name: "Done".into(),
            category: 3,
        },
    ];
    let named = |id: &str, name: &str| Named {
        id: id.into(),
        name: name.into(),
        description: format!("{name}."),
    };
    site.priorities = vec![
        named("1", "Highest"),
        named("2", "High"),
        named("3", "Medium"),
        named("4", "Low"),
        named("5", "Lowest"),
    ];
    site.resolutions = vec![
        named("10000", "Done"),
        named("10001", "Won't Do"),
        named("10002", "Duplicate"),
    ];
    site.link_types = vec![
        LinkType {
            id: "10000".into(),
            name: "Blocks".into(),
            inward: "is blocked by".into(),
            outward: "blocks".into(),
        },
        LinkType {
            id: "10001".into(),
            name: "Cloners".into(),
            inward: "is cloned by".into(),
            outward: "clones".into(),
        },
        LinkType {
            id: "10002".into(),
            name: "Duplicate".into(),
            inward: "is duplicated by".into(),
            outward: "duplicates".into(),
        },
        LinkType {
            id: "10003".into(),
            name: "Relates".into(),
            inward: "relates to".into(),
            outward: "relates to".into(),
        },
    ];
    site.roles = vec![
        named("10002", "Administrators"),
        named("10003", "Developers"),
        named("10004", "Viewers"),
    ];
    let opts = |base: u64, vals: &[&str]| -> Vec<(String, String)> {
        vals.iter()
            .enumerate()
            .map(|(i, v)| ((base + i as u64).to_string(), v.to_string()))
            .collect()
    };
    let cf = |n: u64, name: &str, kind: CfKind, options: Vec<(String, String)>| CustomField {
        id: format!("customfield_{n}"),
        numeric_id: n,
        name: name.into(),
        kind,
        context_id: (n + 10_000).to_string(),
        options,
    };
    site.custom_fields = vec![
        cf(10016, "Story Points", CfKind::Number, vec![]),
        cf(
            10030,
            "Team",
            CfKind::Select,
            opts(10100, &["Platform", "Payments", "Mobile", "Growth"]),
        ),
        cf(
            10031,
            "Affected Areas",
            CfKind::MultiSelect,
            opts(10200, &["API", "UI", "Storage", "Auth", "Billing"]),
        ),
        cf(10032, "Environment Notes", CfKind::TextArea, vec![]),
        cf(10033, "Customer Reference", CfKind::Text, vec![]),
        cf(10034, "Target Review", CfKind::Date, vec![]),
        cf(10035, "Reviewer", CfKind::User, vec![]),
    ];
    site
}

fn ts_between<R: Rng>(rng: &mut R, from: Ts, to: Ts) -> Ts {
    let span = (to - from).num_seconds().max(1);
    from + Duration::seconds(rng.random_range(0..span))
}

fn custom_value<R: Rng>(
    rng: &mut R,
    f: &CustomField,
    users: &[User],
    mentionables: &[(String, String)],
) -> Option<Value> {
    if rng.random_bool(0.35) {
        return None;
    }
    Some(match f.kind {
        CfKind::Number => json!(rng.random_range(1..14) as f64),
        CfKind::Select => {
            let (id, v) = &f.options[rng.random_range(0..f.options.len())];
            json!({"id": id, "value": v})
        }
        CfKind::MultiSelect => {
            let n = rng.random_range(1..3);
            let mut picked: Vec<&(String, String)> = Vec::new();
            for _ in 0..n {
                let o = &f.options[rng.random_range(0..f.options.len())];
                if !picked.contains(&o) {
                    picked.push(o);
                }
            }
            picked.sort();
            Value::Array(
                picked
                    .iter()
                    .map(|(id, v)| json!({"id": id, "value": v}))
                    .collect(),
            )
        }
        CfKind::TextArea => adf::doc(rng, 1..3, mentionables),
        CfKind::Text => json!(format!("CUST-{}", rng.random_range(1000..99999))),
        CfKind::Date => json!(format!(
            "2025-{:02}-{:02}",
            rng.random_range(1..13),
            rng.random_range(1..29)
        )),
        CfKind::User => json!(users[rng.random_range(0..users.len())].account_id),
    })
}

/// Generate a whole site. `empty` sites get only the directory.
pub fn generate(name: &str, seed: u64, counts: &Counts, empty: bool) -> Site {
    let mut site = directory(name, seed, counts);
    if empty {
        return site;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let users: Vec<User> = site.users.clone();
    let active: Vec<String> = users
        .iter()
        .filter(|u| u.active)
        .map(|u| u.account_id.clone())
        .collect();
    let mentionables: Vec<(String, String)> = users
        .iter()
        .map(|u| (u.account_id.clone(), u.display_name.clone()))
        .collect();
    let pick = |rng: &mut ChaCha8Rng| active[rng.random_range(0..active.len())].clone();
    let start = epoch() - Duration::days(730);
    let end = epoch();

    // ------------------------------------------------------------------ Jira
    let nproj = counts.projects.max(1);
    // Skewed issues per project (Zipf-like, s = 1.1).
    let weights: Vec<f64> = (0..nproj)
        .map(|i| 1.0 / ((i + 1) as f64).powf(1.1))
        .collect();
    let wsum: f64 = weights.iter().sum();
    let mut per_project: Vec<usize> = weights
        .iter()
        .map(|w| ((w / wsum) * counts.issues as f64).floor() as usize)
        .collect();
    let assigned: usize = per_project.iter().sum();
    per_project[0] += counts.issues.saturating_sub(assigned);

    const PKEYS: &[&str] = &[
        "PLAT", "PAY", "MOB", "GROW", "OPS", "WEB", "DATA", "SEC", "API", "DOCS", "INFRA", "QA",
    ];
    // Jira keeps project names unique, as keys.
    let mut project_names = std::collections::HashSet::new();
    for (pi, &n_issues) in per_project.iter().enumerate() {
        let key = if pi < PKEYS.len() {
            PKEYS[pi].to_string()
        } else {
            format!("P{pi}")
        };
        let pid = site.alloc_id();
        let mut name = format!(
            "{} {}",
            adf::words(&mut rng, 1).to_uppercase(),
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
            description: adf::sentence(&mut rng),
            lead: pick(&mut rng),
            type_key: "software".into(),
            components: vec![],
            versions: vec![],
            issue_counter: 0,
            role_actors: BTreeMap::new(),
        };
        for c in 0..rng.random_range(1..5) {
            let cid = site.alloc_id();
            project.components.push(Component {
                id: cid.to_string(),
                name: format!("{}-{c}", adf::words(&mut rng, 1)),
                description: adf::sentence(&mut rng),
                lead: if rng.random_bool(0.5) {
                    Some(pick(&mut rng))
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
                description: adf::sentence(&mut rng),
                released,
                archived: false,
                release_date: released.then(|| format!("2025-{:02}-15", 1 + v * 3)),
            });
        }
        for r in &site.roles {
            let id: u64 = r.id.parse().unwrap();
            let actors: Vec<String> = (0..rng.random_range(1..4))
                .map(|_| pick(&mut rng))
                .collect();
            project.role_actors.insert(id, actors);
        }
        // A board and some sprints per project.
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
                let st = start + Duration::days(14 * (s as i64 + 30));
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
                        goal: adf::sentence(&mut rng),
                        start: (state != "future").then_some(st),
                        end: (state != "future").then_some(st + Duration::days(14)),
                    },
                );
                sprint_ids.push(sid);
            }
        }

        let mut project_issue_ids: Vec<u64> = Vec::new();
        let mut epics: Vec<u64> = Vec::new();
        let mut non_epics: Vec<u64> = Vec::new();
        let mut created = ts_between(&mut rng, start, start + Duration::days(60));
        let step = (end - created).num_seconds().max(1) / (n_issues.max(1) as i64 + 1);
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
            let status = &site.statuses[rng.random_range(0..site.statuses.len())];
            let done = status.category == 3;
            let reporter = pick(&mut rng);
            let mut issue = Issue {
                id,
                key: format!("{key}-{number}"),
                number,
                issuetype: issuetype.into(),
                summary: adf::sentence(&mut rng),
                description: rng
                    .random_bool(0.85)
                    .then(|| adf::doc(&mut rng, 1..6, &mentionables)),
                status: status.id.clone(),
                priority: site.priorities[rng.random_range(0..5)].id.clone(),
                resolution: done.then(|| site.resolutions[rng.random_range(0..3)].id.clone()),
                assignee: rng.random_bool(0.8).then(|| pick(&mut rng)),
                labels: {
                    let mut l: Vec<String> = (0..poisson(&mut rng, 0.8))
                        .map(|_| adf::words(&mut rng, 1))
                        .collect();
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
                if let Some(v) = custom_value(&mut rng, f, &users, &mentionables) {
                    issue.custom.insert(f.id.clone(), v);
                }
            }
            let mut last = created;
            let horizon = |t: Ts| (t + Duration::days(90)).min(end);
            for _ in 0..poisson(&mut rng, 3.3) {
                let cid = site.alloc_id();
                let t = ts_between(&mut rng, created, horizon(created));
                last = last.max(t);
                issue.comments.push(Comment {
                    id: cid,
                    author: pick(&mut rng),
                    body: adf::doc(&mut rng, 1..3, &mentionables),
                    created: t,
                    updated: t,
                });
            }
            issue.comments.sort_by_key(|c| (c.created, c.id));
            for _ in 0..poisson(&mut rng, 0.8) {
                let wid = site.alloc_id();
                let t = ts_between(&mut rng, created, horizon(created));
                last = last.max(t);
                issue.worklogs.push(Worklog {
                    id: wid,
                    author: pick(&mut rng),
                    comment: rng
                        .random_bool(0.6)
                        .then(|| adf::plain_doc(&adf::sentence(&mut rng))),
                    started: t - Duration::hours(2),
                    time_spent_seconds: 900 * rng.random_range(1..33),
                    created: t,
                    updated: t,
                });
            }
            // Change history: about 11.9 change items per issue.
            let mut st = "10000".to_string();
            for _ in 0..poisson(&mut rng, 5.95) {
                let hid = site.alloc_id();
                let t = ts_between(&mut rng, created, horizon(created));
                last = last.max(t);
                let mut items = vec![];
                for _ in 0..rng.random_range(1..4) {
                    items.push(match rng.random_range(0..4) {
                        0 => {
                            let to =
                                site.statuses[rng.random_range(0..site.statuses.len())].clone();
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
                            let u = &users[rng.random_range(0..users.len())];
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
                            from_string: Some(adf::sentence(&mut rng)),
                            to: None,
                            to_string: Some(adf::sentence(&mut rng)),
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
                    author: pick(&mut rng),
                    created: t,
                    items,
                });
            }
            issue.histories.sort_by_key(|h| (h.created, h.id));
            for _ in 0..poisson(&mut rng, 0.12) {
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
            let mut w: Vec<String> = (0..rng.random_range(0..4))
                .map(|_| pick(&mut rng))
                .collect();
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
            // Attachments.
            let natt = poisson(&mut rng, counts.attachment_percent as f64 / 100.0);
            for _ in 0..natt {
                let aid = site.alloc_id();
                let (ext, mime) = EXT[rng.random_range(0..EXT.len())];
                let size = (lognormal(
                    &mut rng,
                    counts.attachment_median as f64,
                    counts.attachment_sigma,
                ) as u64)
                    .clamp(1, counts.attachment_max);
                let t = ts_between(&mut rng, created, horizon(created));
                last = last.max(t);
                site.attachments.insert(
                    aid,
                    Attachment {
                        id: aid,
                        issue_id: id,
                        filename: format!("{}-{}.{ext}", adf::words(&mut rng, 1), aid % 1000),
                        mime: mime.into(),
                        author: pick(&mut rng),
                        created: t,
                        blob: Blob::Gen {
                            seed: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ aid,
                            size,
                        },
                    },
                );
            }
            issue.updated = last;
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
        let mut linked = std::collections::HashSet::new();
        for &from in &project_issue_ids {
            for _ in 0..poisson(&mut rng, 0.37) {
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
        site.projects.insert(pid, project);
    }

    // ------------------------------------------------------------ Confluence
    let nspaces = counts.spaces.max(1);
    let mut space_ids = vec![];
    for si in 0..nspaces + 1 {
        let personal = si == nspaces;
        let sid = site.alloc_id();
        let owner = pick(&mut rng);
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
                    format!("{} space", adf::words(&mut rng, 2))
                },
                personal,
                author: owner,
                created: ts_between(&mut rng, start, start + Duration::days(30)),
                homepage_id: None,
                description: adf::sentence(&mut rng),
            },
        );
        space_ids.push(sid);
    }
    let mut titles = std::collections::HashSet::new();
    let mut make_page = |site: &mut Site,
                         rng: &mut ChaCha8Rng,
                         kind: PageKind,
                         space_id: u64,
                         parent: Option<u64>,
                         position: i64|
     -> u64 {
        let id = site.alloc_id();
        let created = ts_between(rng, start, end - Duration::days(30));
        let nver = 1 + poisson(rng, 1.5) as u64;
        let mut title = adf::sentence(rng).trim_end_matches('.').to_string();
        while !titles.insert((space_id, title.clone())) {
            title.push_str(&format!(" {}", rng.random_range(0..1000)));
        }
        let adf_body = adf::doc(rng, 2..9, &mentionables);
        let author = pick(rng);
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
                    author: pick(rng),
                    created: if nver > 1 { modified } else { created },
                    message: String::new(),
                },
                storage: adf::to_storage(&adf_body),
                adf: adf_body,
                labels,
                properties,
            },
        );
        // Comments.
        for _ in 0..poisson(rng, 1.2) {
            let cid = site.alloc_id();
            let inline = rng.random_bool(0.3);
            let body = adf::doc(rng, 1..2, &mentionables);
            let t = ts_between(rng, created, created + Duration::days(20));
            let parent_comment = if !inline && rng.random_bool(0.3) {
                site.ccomments
                    .values()
                    .rev()
                    .find(|c| {
                        c.container == id
                            && c.kind == CommentKind::Footer
                            && c.parent_comment.is_none()
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
                    author: pick(rng),
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
        for _ in 0..poisson(rng, counts.attachment_percent as f64 / 100.0) {
            let aid = site.alloc_id();
            let (ext, mime) = EXT[rng.random_range(0..EXT.len())];
            let size = (lognormal(
                rng,
                counts.attachment_median as f64,
                counts.attachment_sigma,
            ) as u64)
                .clamp(1, counts.attachment_max);
            site.cattachments.insert(
                aid,
                CAttachment {
                    id: aid,
                    container: id,
                    title: format!("{}-{}.{ext}", adf::words(rng, 1), aid % 1000),
                    media_type: mime.into(),
                    comment: String::new(),
                    author: pick(rng),
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
                        seed: seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ aid,
                        size,
                    },
                },
            );
        }
        id
    };
    // Page trees: a homepage per space, then each page's parent is a random earlier page of the
    // same space, biased to recent ones (which gives trees several levels deep).
    let mut by_space: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &sid in &space_ids {
        let home = make_page(&mut site, &mut rng, PageKind::Page, sid, None, 0);
        site.spaces.get_mut(&sid).unwrap().homepage_id = Some(home);
        by_space.entry(sid).or_default().push(home);
    }
    let npages = counts.pages.saturating_sub(space_ids.len());
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
        let pos = existing.len() as i64;
        let id = make_page(&mut site, &mut rng, PageKind::Page, sid, Some(parent), pos);
        by_space.get_mut(&sid).unwrap().push(id);
    }
    for i in 0..counts.blogposts {
        let sid = space_ids[i % space_ids.len()];
        make_page(&mut site, &mut rng, PageKind::BlogPost, sid, None, 0);
    }
    site
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_are_realistic() {
        let c = Scale::Medium.counts();
        let s = generate("s", 1, &c, false);
        let n = s.issues.len() as f64;
        assert_eq!(s.issues.len(), c.issues);
        let comments: usize = s.issues.values().map(|i| i.comments.len()).sum();
        let items: usize = s
            .issues
            .values()
            .flat_map(|i| &i.histories)
            .map(|h| h.items.len())
            .sum();
        let per = comments as f64 / n;
        assert!((2.9..3.7).contains(&per), "comments/issue {per}");
        let per = items as f64 / n;
        assert!((10.0..14.0).contains(&per), "change items/issue {per}");
        let per = s.links.len() as f64 / n;
        assert!((0.28..0.46).contains(&per), "links/issue {per}");
        // skew: first project much bigger than last
        let counts: Vec<usize> = s
            .projects
            .values()
            .map(|p| s.issues.values().filter(|i| i.project_id == p.id).count())
            .collect();
        assert!(counts[0] > 3 * counts[counts.len() - 1], "{counts:?}");
        // page trees deeper than 3
        let depth = |mut id: u64| {
            let mut d = 0;
            while let Some(p) = s.pages[&id].parent_id {
                id = p;
                d += 1;
            }
            d
        };
        let max = s.pages.keys().map(|&id| depth(id)).max().unwrap();
        assert!(max >= 3, "max depth {max}");
        assert!(s.spaces.values().any(|s| s.personal));
        assert!(
            s.issues
                .values()
                .any(|i| i.issuetype == SUBTASK_TYPE && i.parent.is_some())
        );
    }

    /// What Jira enforces holds of a generated site, and after any number of mutations: project
    /// names unique, one link per type and pair, every sub-task with a parent.
    #[test]
    fn generated_and_mutated_sites_keep_jiras_invariants() {
        let c = Counts {
            projects: 16,
            issues: 3_000,
            ..Scale::Medium.counts()
        };
        let mut s = generate("s", 9, &c, false);
        for round in 0..4 {
            let names: std::collections::HashSet<&str> =
                s.projects.values().map(|p| p.name.as_str()).collect();
            assert_eq!(names.len(), s.projects.len(), "round {round}");
            let links: std::collections::HashSet<(u64, u64, &str)> = s
                .links
                .values()
                .map(|l| (l.inward, l.outward, l.type_id.as_str()))
                .collect();
            assert_eq!(links.len(), s.links.len(), "round {round}");
            for i in s.issues.values().filter(|i| i.issuetype == SUBTASK_TYPE) {
                let parent = i.parent.and_then(|p| s.issues.get(&p));
                assert!(
                    parent.is_some(),
                    "round {round}: sub-task {} lost its parent",
                    i.key
                );
            }
            crate::mutate::mutate(&mut s, 5.0);
        }
    }
}
