//! The directory every site has, even an empty one: users, groups, issue types, statuses,
//! priorities, resolutions, link types, roles and custom fields.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::{Counts, hex_id};
use crate::model::*;

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
    site.project_categories = vec![
        named("10000", "Engineering"),
        named("10001", "Operations"),
        named("10002", "Customer"),
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
    let opts = |base: u64, vals: &[&str]| -> Vec<FieldOption> {
        vals.iter()
            .enumerate()
            .map(|(i, v)| FieldOption {
                id: (base + i as u64).to_string(),
                value: v.to_string(),
                parent: None,
                disabled: false,
            })
            .collect()
    };
    // Each with the one global context Jira gives a new field.
    let cf = |n: u64, name: &str, kind: CfKind, options: Vec<FieldOption>| CustomField {
        id: format!("customfield_{n}"),
        numeric_id: n,
        name: name.into(),
        kind,
        contexts: vec![FieldContext {
            id: (n + 10_000).to_string(),
            name: format!("Default Configuration Scheme for {name}"),
            description: String::new(),
            project_ids: vec![],
            issue_type_ids: vec![],
            options,
            default: None,
        }],
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
    site.flows = crate::workflows::Flows::defaults(&site);
    site
}
