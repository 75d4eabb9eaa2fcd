//! The deterministic site generator: the directory (`directory`), then Jira (`jira`), then
//! Confluence (`confluence`), all drawn from one seeded RNG stream in that order, so the same seed
//! and counts give the same site, byte for byte.

use chrono::{Duration, TimeZone, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::model::*;

pub(crate) mod confluence;
mod directory;
mod fields;
mod jira;
mod permissions;

pub use directory::directory;

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

pub(crate) fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
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

fn ts_between<R: Rng>(rng: &mut R, from: Ts, to: Ts) -> Ts {
    let span = (to - from).num_seconds().max(1);
    from + Duration::seconds(rng.random_range(0..span))
}

/// What both products' generators draw from besides the RNG: the seed, the sizes, the
/// directory's users, and the time span of the content.
struct Ctx<'a> {
    seed: u64,
    counts: &'a Counts,
    users: Vec<User>,
    /// Account ids of the active users: authors, assignees, leads are drawn from these.
    active: Vec<String>,
    /// (accountId, display name) of every user, for mentions in ADF bodies.
    mentionables: Vec<(String, String)>,
    start: Ts,
    end: Ts,
}

impl Ctx<'_> {
    /// An active user's account id (one draw).
    fn pick(&self, rng: &mut ChaCha8Rng) -> String {
        self.active[rng.random_range(0..self.active.len())].clone()
    }
}

/// Generate a whole site. `empty` sites get only the directory.
pub fn generate(name: &str, seed: u64, counts: &Counts, empty: bool) -> Site {
    let mut site = directory(name, seed, counts);
    permissions::defaults(&mut site);
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
    let ctx = Ctx {
        seed,
        counts,
        users,
        active,
        mentionables,
        start: epoch() - Duration::days(730),
        end: epoch(),
    };
    // One stream: Jira draws first, then Confluence (the order keeps sites byte for byte).
    jira::generate(&mut site, &mut rng, &ctx);
    confluence::generate(&mut site, &mut rng, &ctx);
    permissions::generate(&mut site);
    // Custom fields with their own configuration, from an RNG of their own.
    fields::generate(&mut site, &ctx);
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
            // Every issue is in a status of its workflow.
            for i in s.issues.values() {
                let flow = s.flows.workflow_of(i.project_id, &i.issuetype);
                assert!(
                    flow.statuses.contains(&i.status),
                    "round {round}: {} is in {}, not in {}",
                    i.key,
                    i.status,
                    flow.name
                );
            }
            crate::mutate::mutate(&mut s, 5.0);
        }
        assert!(s.flows.workflows.len() >= 3, "several workflows");
    }
}
