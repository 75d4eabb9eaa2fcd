//! Custom fields beyond the site's defaults, with non-default configuration: contexts scoped
//! to projects and issue types, different options per context, cascading options, default
//! values; and their values on the issues they apply to.
//!
//! Drawn last, from an RNG of their own, so that everything generated before them (and so every
//! site generated before they existed) stays as it was.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};

use super::Ctx;
use crate::adf;
use crate::model::*;

const LABELS: &[&str] = &["triage", "customer", "regression", "security", "ux", "perf"];

/// A value of a field of `kind` drawn from `options` (the context's), or none (35%).
pub(super) fn value<R: Rng>(
    rng: &mut R,
    kind: CfKind,
    options: &[FieldOption],
    users: &[User],
    mentionables: &[(String, String)],
) -> Option<Value> {
    if rng.random_bool(0.35) {
        return None;
    }
    let top: Vec<&FieldOption> = options
        .iter()
        .filter(|o| o.parent.is_none() && !o.disabled)
        .collect();
    let option = |o: &FieldOption| json!({"id": o.id, "value": o.value});
    Some(match kind {
        CfKind::Number => json!(rng.random_range(1..14) as f64),
        CfKind::Select => option(top[rng.random_range(0..top.len())]),
        CfKind::MultiSelect => {
            let n = rng.random_range(1..3);
            let mut picked: Vec<&FieldOption> = Vec::new();
            for _ in 0..n {
                let o = top[rng.random_range(0..top.len())];
                if !picked.iter().any(|p| p.id == o.id) {
                    picked.push(o);
                }
            }
            picked.sort_by(|a, b| (&a.id, &a.value).cmp(&(&b.id, &b.value)));
            Value::Array(picked.into_iter().map(option).collect())
        }
        CfKind::TextArea => adf::doc(rng, 1..3, mentionables),
        CfKind::Text => json!(format!("CUST-{}", rng.random_range(1000..99999))),
        CfKind::Date => json!(format!(
            "2025-{:02}-{:02}",
            rng.random_range(1..13),
            rng.random_range(1..29)
        )),
        CfKind::User => json!(users[rng.random_range(0..users.len())].account_id),
        CfKind::Cascading => {
            let parent = top[rng.random_range(0..top.len())];
            let children: Vec<&FieldOption> = options
                .iter()
                .filter(|o| o.parent.as_deref() == Some(&parent.id) && !o.disabled)
                .collect();
            let mut v = option(parent);
            if !children.is_empty() && rng.random_bool(0.7) {
                v["child"] = option(children[rng.random_range(0..children.len())]);
            }
            v
        }
        CfKind::MultiUser => {
            let mut picked: Vec<String> = (0..rng.random_range(1..4))
                .map(|_| users[rng.random_range(0..users.len())].account_id.clone())
                .collect();
            picked.sort();
            picked.dedup();
            json!(picked)
        }
        CfKind::Labels => {
            let mut picked: Vec<&str> = (0..rng.random_range(1..3))
                .map(|_| LABELS[rng.random_range(0..LABELS.len())])
                .collect();
            picked.sort();
            picked.dedup();
            json!(picked)
        }
    })
}

/// Options with ids from the site's counter; `(value, children)`.
fn options(site: &mut Site, tree: &[(&str, &[&str])]) -> Vec<FieldOption> {
    let mut out = vec![];
    for (value, children) in tree {
        let id = site.alloc_id().to_string();
        out.push(FieldOption {
            id: id.clone(),
            value: value.to_string(),
            parent: None,
            disabled: false,
        });
        for c in *children {
            out.push(FieldOption {
                id: site.alloc_id().to_string(),
                value: c.to_string(),
                parent: Some(id.clone()),
                disabled: false,
            });
        }
    }
    out
}

fn flat<'a>(values: &[&'a str]) -> Vec<(&'a str, &'a [&'a str])> {
    values.iter().map(|v| (*v, &[][..])).collect()
}

/// A field without options: name, kind, projects and issue types of its one context, default.
type Plain = (&'static str, CfKind, Vec<u64>, Vec<&'static str>, Value);

/// A context; `default` is built from its options once they have ids.
struct Spec {
    name: String,
    projects: Vec<u64>,
    issue_types: Vec<&'static str>,
    options: Vec<FieldOption>,
    default: Option<Value>,
}

fn context(site: &mut Site, s: Spec) -> FieldContext {
    FieldContext {
        id: site.alloc_id().to_string(),
        name: s.name,
        description: String::new(),
        project_ids: s.projects,
        issue_type_ids: s.issue_types.into_iter().map(String::from).collect(),
        options: s.options,
        default: s.default,
    }
}

/// The fields with their contexts, then their values on the issues they apply to.
pub(super) fn generate(site: &mut Site, ctx: &Ctx) {
    let projects: Vec<(u64, String)> = site
        .projects
        .values()
        .map(|p| (p.id, p.key.clone()))
        .collect();
    if projects.is_empty() {
        return;
    }
    let (first, second, last) = (
        &projects[0],
        &projects[1 % projects.len()],
        &projects[projects.len() - 1],
    );
    let users: Vec<String> = ctx.users.iter().map(|u| u.account_id.clone()).collect();
    let mut fields: Vec<(&str, CfKind, Vec<FieldContext>)> = vec![];

    // A select with different options in one project than everywhere else.
    let all = options(site, &flat(&["Sev 1", "Sev 2", "Sev 3", "Sev 4"]));
    let default = json!({"type": "option.single", "optionId": all[2].id});
    let global = Spec {
        name: "Severity for all projects".into(),
        projects: vec![],
        issue_types: vec![],
        options: all,
        default: Some(default),
    };
    let own = options(site, &flat(&["Blocker", "Major", "Minor"]));
    let default = json!({"type": "option.single", "optionId": own[1].id});
    let scoped = Spec {
        name: format!("Severity for {}", first.1),
        projects: vec![first.0],
        issue_types: vec![],
        options: own,
        default: Some(default),
    };
    let contexts = vec![context(site, global), context(site, scoped)];
    fields.push(("Severity Level", CfKind::Select, contexts));

    // A cascading select: a tree everywhere, another one in the last project.
    let tree = options(
        site,
        &[
            ("Hardware", &["Laptop", "Phone", "Server"][..]),
            ("Software", &["Backend", "Frontend"][..]),
            ("Services", &[][..]),
        ],
    );
    let default = json!({"type": "option.cascading", "optionId": tree[4].id, "cascadingOptionId": tree[5].id});
    let mut contexts = vec![context(
        site,
        Spec {
            name: "Product areas".into(),
            projects: vec![],
            issue_types: vec![],
            options: tree,
            default: Some(default),
        },
    )];
    if last.0 != first.0 {
        let regions = options(
            site,
            &[("EMEA", &["UK", "Germany"][..]), ("APAC", &["Japan"][..])],
        );
        contexts.push(context(
            site,
            Spec {
                name: format!("Regions of {}", last.1),
                projects: vec![last.0],
                issue_types: vec![],
                options: regions,
                default: None,
            },
        ));
    }
    fields.push(("Product Area", CfKind::Cascading, contexts));

    // A multi-select for stories and bugs of the first two projects only.
    let platforms = options(
        site,
        &flat(&["Linux", "macOS", "Windows", "iOS", "Android"]),
    );
    let default =
        json!({"type": "option.multiple", "optionIds": [platforms[0].id, platforms[1].id]});
    let mut scope = vec![first.0];
    if second.0 != first.0 {
        scope.push(second.0);
    }
    let c = context(
        site,
        Spec {
            name: "Platforms of stories and bugs".into(),
            projects: scope,
            issue_types: vec!["10001", "10003"],
            options: platforms,
            default: Some(default),
        },
    );
    fields.push(("Platforms", CfKind::MultiSelect, vec![c]));

    // The other kinds, each with a default; one only in the second project, one not on
    // sub-tasks.
    let simple: Vec<Plain> = vec![
        (
            "Release Notes",
            CfKind::TextArea,
            vec![],
            vec![],
            json!({"type": "textarea", "text": "Describe the change."}),
        ),
        (
            "Ticket Code",
            CfKind::Text,
            vec![second.0],
            vec![],
            json!({"type": "textfield", "text": "TC-0000"}),
        ),
        (
            "Estimate Hours",
            CfKind::Number,
            vec![],
            vec![],
            json!({"type": "float", "number": 4.0}),
        ),
        (
            "Review Date",
            CfKind::Date,
            vec![],
            vec![],
            json!({"type": "datepicker", "date": "2026-01-15", "useCurrent": false}),
        ),
        (
            "Approver",
            CfKind::User,
            vec![],
            vec![],
            json!({"type": "single.user.select", "accountId": users[0], "userFilter": {"enabled": false}}),
        ),
        (
            "Reviewers",
            CfKind::MultiUser,
            vec![],
            vec![],
            json!({"type": "multi.user.select", "accountIds": [users[1 % users.len()]]}),
        ),
        (
            "Topics",
            CfKind::Labels,
            vec![],
            vec!["10000", "10001", "10002", "10003"],
            json!({"type": "labels", "labels": ["triage"]}),
        ),
    ];
    for (name, kind, projects, issue_types, default) in simple {
        let c = context(
            site,
            Spec {
                name: format!("{name} context"),
                projects,
                issue_types,
                options: vec![],
                default: Some(default),
            },
        );
        fields.push((name, kind, vec![c]));
    }

    let mut n = site
        .custom_fields
        .iter()
        .map(|f| f.numeric_id)
        .max()
        .unwrap_or(10_000)
        .max(10_039);
    for (name, kind, contexts) in fields {
        n += 1;
        site.custom_fields.push(CustomField {
            id: format!("customfield_{n}"),
            numeric_id: n,
            name: name.into(),
            kind,
            contexts,
        });
    }
    values(site, ctx);
}

/// Each issue's values of the added fields, where a context applies.
fn values(site: &mut Site, ctx: &Ctx) {
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed ^ 0xC0F1_E1D5);
    let added: Vec<CustomField> = site
        .custom_fields
        .iter()
        .filter(|f| f.numeric_id >= 10_040)
        .cloned()
        .collect();
    for issue in site.issues.values_mut() {
        for f in &added {
            let Some(c) = f.context_for(issue.project_id, &issue.issuetype) else {
                continue;
            };
            if let Some(v) = value(&mut rng, f.kind, &c.options, &ctx.users, &ctx.mentionables) {
                issue.custom.insert(f.id.clone(), v);
            }
        }
    }
}
