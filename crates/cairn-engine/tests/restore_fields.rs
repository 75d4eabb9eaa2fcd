//! Custom fields restored with their configuration: contexts (projects and issue types),
//! options (cascading ones too) and default values, compared through the REST API by name;
//! every issue's every custom field value; a same-named field of another type in the
//! destination left alone beside a suffixed copy; a restore killed in the field phase resumed
//! with nothing created twice.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_connectors::{Credentials, Site};
use cairn_sitesim::Access;
use cairn_store::Product;
use futures::TryStreamExt;
use serde_json::{Value, json};
use support::{World, differences, world};

/// Fields the generator adds to a source site, beyond the defaults every site has.
const ADDED: &[&str] = &[
    "Severity Level",
    "Product Area",
    "Platforms",
    "Release Notes",
    "Ticket Code",
    "Estimate Hours",
    "Review Date",
    "Approver",
    "Reviewers",
    "Topics",
];

fn jira(w: &World, site: &str) -> cairn_connectors::Jira {
    let a = w.sim.account(Access::ReadWrite);
    Site::new(
        &w.sim.base_url(site),
        Credentials::new(&a.email, &a.api_token),
        support::loopback(),
    )
    .unwrap()
    .jira()
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every custom field's configuration as the site's REST API gives it, by name, with ids
/// replaced by what they name: projects by key, issue types by name, options by value (a
/// cascading child with its parent's), default values by the options and users they name.
async fn configuration(w: &World, site: &str) -> BTreeMap<String, Value> {
    let j = jira(w, site);
    let projects: HashMap<String, String> = j
        .projects()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|p| (s(&p["id"]), s(&p["key"])))
        .collect();
    let types: HashMap<String, String> = j
        .issue_types()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(|t| (s(&t["id"]), s(&t["name"])))
        .collect();
    let mut out = BTreeMap::new();
    for f in j.custom_fields().try_collect::<Vec<_>>().await.unwrap() {
        let mut contexts = vec![];
        for c in f["contexts"].as_array().unwrap() {
            let options = c["options"].as_array().unwrap();
            let value_of = |id: &Value| -> Value {
                options
                    .iter()
                    .find(|o| s(&o["id"]) == s(id))
                    .map(|o| o["value"].clone())
                    .unwrap_or(json!(format!("unknown option {id}")))
            };
            let listed = |k: &str, names: &HashMap<String, String>| -> Vec<String> {
                let mut v: Vec<String> = c[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| names.get(&s(x)).cloned().unwrap_or_else(|| s(x)))
                    .collect();
                v.sort();
                v
            };
            let mut default = c["defaultValue"].clone();
            if let Some(d) = default.as_object_mut() {
                d.remove("contextId");
                for k in ["optionId", "cascadingOptionId"] {
                    if let Some(id) = d.get(k).cloned() {
                        d.insert(k.into(), value_of(&id));
                    }
                }
                if let Some(ids) = d.get("optionIds").cloned() {
                    let values: Vec<Value> = ids.as_array().unwrap().iter().map(value_of).collect();
                    d.insert("optionIds".into(), json!(values));
                }
            }
            let options: Vec<Value> = options
                .iter()
                .map(|o| {
                    let parent = o.get("optionId").map(value_of);
                    json!([o["value"], parent, o["disabled"]])
                })
                .collect();
            contexts.push(json!({
                "name": c["name"], "description": c["description"],
                "projects": listed("projectIds", &projects),
                "issueTypes": listed("issueTypeIds", &types),
                "options": options, "default": default,
            }));
        }
        contexts.sort_by_key(|c| s(&c["name"]));
        let name = s(&f["name"]);
        let doc = json!({"type": f["schema"]["custom"], "contexts": contexts});
        assert!(
            out.insert(name.clone(), doc).is_none(),
            "two fields named {name}"
        );
    }
    out
}

/// Each issue's custom field values as the digest compares them (by field name, options by
/// value), by `PROJECT#n`.
fn custom_values(w: &World, site: &str) -> BTreeMap<String, Value> {
    let c = w.sim.content(site);
    let mut out = BTreeMap::new();
    for p in c["jira"]["projects"].as_object().unwrap().values() {
        for (r, i) in p["issues"].as_object().unwrap() {
            out.insert(r.clone(), i["custom"].clone());
        }
    }
    out
}

/// How many contexts and options the added fields have in a site.
fn added_configuration(w: &World, site: &str) -> (usize, usize) {
    w.sim.with_site(site, |s| {
        let contexts: Vec<_> = s
            .custom_fields
            .iter()
            .filter(|f| ADDED.iter().any(|n| f.name.starts_with(n)))
            .flat_map(|f| &f.contexts)
            .collect();
        (
            contexts.len(),
            contexts.iter().map(|c| c.options.len()).sum(),
        )
    })
}

/// The differences between the source and the destination in Jira (only Jira is restored here).
fn jira_differences(w: &World) -> Vec<cairn_sitesim::Difference> {
    differences(&w.sim, "src", "dst")
        .into_iter()
        .filter(|x| !x.path.starts_with("/confluence"))
        .collect()
}

async fn completed(w: &World, restore: &str) -> Value {
    let rec = w.restore_record(restore).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
    let result = w.result(restore).await;
    assert_eq!(result["failed"], json!([]), "{result}");
    result
}

/// A generated site's custom fields of every common kind, with contexts scoped to projects and
/// issue types, different options per context, cascading options and default values, come back
/// into an empty site equal through the REST API, and so does every issue's every value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_come_back_with_contexts_options_and_defaults() {
    let w = world(21, &["dst"]).await;
    let source = configuration(&w, "src").await;
    // What the generated site holds: each added field, scoped contexts, cascading options,
    // defaults of every kind.
    for name in ADDED {
        assert!(source.contains_key(*name), "{name} in {source:?}");
    }
    let contexts: Vec<&Value> = source
        .values()
        .flat_map(|f| f["contexts"].as_array().unwrap())
        .collect();
    assert!(
        contexts
            .iter()
            .any(|c| !c["projects"].as_array().unwrap().is_empty())
    );
    assert!(
        contexts
            .iter()
            .any(|c| !c["issueTypes"].as_array().unwrap().is_empty())
    );
    assert!(contexts.iter().any(|c| {
        c["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| !o[1].is_null())
    }));
    assert!(contexts.iter().filter(|c| c["default"].is_object()).count() >= ADDED.len());
    assert_ne!(source, configuration(&w, "dst").await);

    let backup = w.backup(Product::Jira).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;

    assert_eq!(configuration(&w, "dst").await, source);
    let (contexts, options) = added_configuration(&w, "src");
    assert_eq!(result["created"]["field"], json!(ADDED.len()), "{result}");
    assert_eq!(
        result["created"]["fieldContext"],
        json!(contexts),
        "{result}"
    );
    assert_eq!(result["created"]["fieldOption"], json!(options), "{result}");
    assert_eq!(skipped_beyond_app_rules(&result), 0, "{result}");

    // Every issue's every custom field value (options by value, a cascading child with its
    // parent), the added fields' among them.
    let values = custom_values(&w, "src");
    for name in ADDED {
        assert!(
            values.values().any(|v| !v[*name].is_null()),
            "some issue has a value of {name}"
        );
    }
    assert_eq!(custom_values(&w, "dst"), values);
    let d = jira_differences(&w);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

/// The destination has a field of the same name and another type: the restore writes the
/// source's field and values into a copy named with the documented suffix and leaves the
/// destination's own field as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_named_field_of_another_type_gets_a_suffixed_copy_and_stays_untouched() {
    let w = world(22, &["dst"]).await;
    let dj = jira(&w, "dst");
    let theirs = dj
        .create_field(&json!({"name": "Severity Level", "type": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}))
        .await
        .unwrap();
    let theirs_id = s(&theirs["id"]);
    let before = configuration(&w, "dst").await["Severity Level"].clone();
    let source = configuration(&w, "src").await;

    let backup = w.backup(Product::Jira).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    completed(&w, &r.id).await;

    let after = configuration(&w, "dst").await;
    assert_eq!(
        after["Severity Level"], before,
        "the destination's own field is untouched"
    );
    let still = w.sim.with_site("dst", |s| {
        s.field(&theirs_id).map(|f| (f.name.clone(), f.kind))
    });
    assert_eq!(
        still,
        Some((
            "Severity Level".to_string(),
            cairn_sitesim::model::CfKind::Text
        ))
    );
    assert_eq!(after["Severity Level (restored)"], source["Severity Level"]);

    // The values went into the copy; the destination's field holds none.
    let (src, dst) = (custom_values(&w, "src"), custom_values(&w, "dst"));
    assert_eq!(src.len(), dst.len());
    let mut carried = 0;
    for (issue, v) in &src {
        let copy = &dst[issue]["Severity Level (restored)"];
        assert_eq!(copy, &v["Severity Level"], "{issue}");
        assert!(dst[issue]["Severity Level"].is_null(), "{issue}");
        carried += usize::from(!copy.is_null());
    }
    assert!(carried > 0, "some issues have a severity");
    for x in jira_differences(&w) {
        assert!(
            x.path.ends_with("/custom/Severity Level")
                || x.path.ends_with("/custom/Severity Level (restored)"),
            "only the field's name differs: {x:?}"
        );
    }
}

/// Fields, contexts and options in the destination: (field names seen twice, contexts seen
/// twice in a field, options seen twice in a context).
fn duplicates(w: &World, site: &str) -> (usize, usize, usize) {
    w.sim.with_site(site, |s| {
        let mut names = HashSet::new();
        let fields = s
            .custom_fields
            .iter()
            .filter(|f| !names.insert(&f.name))
            .count();
        let mut contexts = 0;
        let mut options = 0;
        for f in &s.custom_fields {
            let mut seen = HashSet::new();
            contexts += f.contexts.iter().filter(|c| !seen.insert(&c.name)).count();
            for c in &f.contexts {
                let mut seen = HashSet::new();
                options += c
                    .options
                    .iter()
                    .filter(|o| !seen.insert((&o.parent, &o.value)))
                    .count();
            }
        }
        (fields, contexts, options)
    })
}

/// A restore killed while it creates the fields, and again while it writes their contexts and
/// options, resumes each time with nothing created twice, and counts what the destination holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_in_the_field_phase_resumes_with_nothing_created_twice() {
    let w = world(23, &["dst"]).await;
    let source = configuration(&w, "src").await;
    let backup = w.backup(Product::Jira).await;
    // Each request takes a while, so that each kill comes within the phase.
    let slow: cairn_sitesim::FaultSpec = serde_json::from_value(json!({"latencyMs": 25})).unwrap();
    w.sim.set_faults("dst", slow);
    let fields = |w: &World| w.sim.with_site("dst", |s| s.custom_fields.len());
    let options = |w: &World| {
        w.sim.with_site("dst", |s| {
            s.custom_fields
                .iter()
                .flat_map(|f| &f.contexts)
                .map(|c| c.options.len())
                .sum::<usize>()
        })
    };
    let (base_fields, base_options) = (fields(&w), options(&w));
    let (_, added_options) = added_configuration(&w, "src");

    let r = w.start_restore(&backup, "dst", None, None).await;
    w.kill_job_after(base_fields + 4, fields).await;
    let now = fields(&w);
    assert!(
        now < base_fields + ADDED.len(),
        "killed among the fields ({now})"
    );
    assert_eq!(w.sim.with_site("dst", |s| s.issues.len()), 0);
    assert_eq!(duplicates(&w, "dst"), (0, 0, 0));

    w.kill_job_after(base_options + 8, options).await;
    let now = options(&w);
    assert!(
        now < base_options + added_options,
        "killed among the options ({now})"
    );
    assert_eq!(duplicates(&w, "dst"), (0, 0, 0));

    w.drain().await;
    let result = completed(&w, &r.id).await;
    assert_eq!(duplicates(&w, "dst"), (0, 0, 0));
    assert_eq!(configuration(&w, "dst").await, source);
    let (contexts, options) = added_configuration(&w, "dst");
    assert_eq!(result["created"]["field"], json!(ADDED.len()), "{result}");
    assert_eq!(
        result["created"]["fieldContext"],
        json!(contexts),
        "{result}"
    );
    assert_eq!(result["created"]["fieldOption"], json!(options), "{result}");
    let d = jira_differences(&w);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

/// The destination already has the field, with a context of the source's name that applies to
/// other issue types: it is reused as it is, and each value it refuses is left out of its
/// issue, in `result.skippedItems` with Jira's message, while the issue is restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_destination_refuses_is_skipped_with_its_reason() {
    let w = world(24, &["dst"]).await;
    let dj = jira(&w, "dst");
    let theirs = dj
        .create_field(&json!({"name": "Platforms", "type": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect"}))
        .await
        .unwrap();
    let fid = s(&theirs["id"]);
    for c in dj
        .field_contexts(&fid)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
    {
        dj.delete_field_context(&fid, &s(&c["id"])).await.unwrap();
    }
    // Epics only (the source's context of that name is for stories and bugs).
    let body = json!({"name": "Platforms of stories and bugs", "projectIds": [], "issueTypeIds": ["10000"]});
    dj.create_field_context(&fid, &body).await.unwrap();

    let backup = w.backup(Product::Jira).await;
    let r = w.start_restore(&backup, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;

    let (src, dst) = (custom_values(&w, "src"), custom_values(&w, "dst"));
    assert_eq!(src.len(), dst.len(), "every issue is restored");
    let with_value = src.values().filter(|v| !v["Platforms"].is_null()).count();
    assert!(with_value > 0);
    let refused: Vec<&Value> = result["skippedItems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "fieldValue")
        .collect();
    assert_eq!(refused.len(), with_value, "{result}");
    let message =
        format!("Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown.");
    for x in &refused {
        assert_eq!(x["reason"], json!(message), "{x}");
    }
    // The rest of each issue is as it was.
    for (issue, v) in &src {
        let mut expected = v.clone();
        expected.as_object_mut().unwrap().remove("Platforms");
        assert_eq!(dst[issue], expected, "{issue}");
    }
    let after = configuration(&w, "dst").await;
    let contexts = after["Platforms"]["contexts"].as_array().unwrap();
    assert_eq!(contexts.len(), 1);
    assert_eq!(
        contexts[0]["issueTypes"],
        json!(["Epic"]),
        "its scope is its own"
    );
    assert_eq!(
        contexts[0]["default"],
        Value::Null,
        "its default is its own"
    );
}

/// Projects restored one at a time: a context of two projects gets the second when it comes,
/// and a context of a project not yet restored waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_restored_one_at_a_time_join_their_contexts() {
    let w = world(25, &["dst"]).await;
    let source = configuration(&w, "src").await;
    // "Platforms" is for the first two projects, "Ticket Code" for the second only.
    let platforms = &source["Platforms"]["contexts"][0]["projects"];
    assert_eq!(platforms, &json!(["PAY", "PLAT"]));
    assert_eq!(
        source["Ticket Code"]["contexts"][0]["projects"],
        json!(["PAY"])
    );
    let backup = w.backup(Product::Jira).await;
    for (key, platforms) in [("PLAT", json!(["PLAT"])), ("PAY", json!(["PAY", "PLAT"]))] {
        let r = w
            .start_restore(&backup, "dst", Some(vec![key.to_string()]), None)
            .await;
        w.drain().await;
        let result = completed(&w, &r.id).await;
        assert_eq!(skipped_beyond_app_rules(&result), 0, "{result}");
        let after = configuration(&w, "dst").await;
        assert_eq!(
            after["Platforms"]["contexts"][0]["projects"], platforms,
            "after {key}"
        );
    }
    let after = configuration(&w, "dst").await;
    for name in ["Platforms", "Ticket Code", "Severity Level"] {
        assert_eq!(after[name], source[name], "{name}");
    }
    // Every value of the two projects' issues.
    let (src, dst) = (custom_values(&w, "src"), custom_values(&w, "dst"));
    let restored: Vec<&String> = src
        .keys()
        .filter(|k| k.starts_with("PLAT#") || k.starts_with("PAY#"))
        .collect();
    assert!(!restored.is_empty());
    for k in restored {
        assert_eq!(dst[k], src[k], "{k}");
    }
}

/// Items the restore skipped other than the generated triage workflow's app rule, which every
/// destination without the app refuses (`restore_workflows.rs` asserts that one).
fn skipped_beyond_app_rules(result: &Value) -> usize {
    result["skippedItems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["kind"] != "workflowRule")
        .count()
}
