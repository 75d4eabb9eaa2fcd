//! The content digest and structured diff: a canonical view of a site's content that leaves
//! out what a restore cannot preserve (see README.md, "The digest").

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::*;
use crate::{adf, content};

fn obj(m: BTreeMap<String, Value>) -> Value {
    Value::Object(m.into_iter().collect::<Map<String, Value>>())
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by_key(|x| x.to_string());
    Value::Array(v)
}

/// Canonical content of a site: objects keyed by what a restore preserves (project keys, space
/// keys, page titles, issue order within a project), with site-assigned ids and keys, creation
/// timestamps, authors and `self` URLs left out.
pub fn canonical(site: &Site) -> Value {
    // Issue id -> "PROJ#ordinal" (ordinal = position in creation order within the project).
    let mut refs: HashMap<u64, String> = HashMap::new();
    let mut per_project: BTreeMap<u64, Vec<&Issue>> = BTreeMap::new();
    for i in site.issues.values() {
        per_project.entry(i.project_id).or_default().push(i);
    }
    for (pid, issues) in per_project.iter_mut() {
        issues.sort_by_key(|i| i.number);
        let key = site
            .projects
            .get(pid)
            .map(|p| p.key.as_str())
            .unwrap_or("?");
        for (n, i) in issues.iter().enumerate() {
            refs.insert(i.id, format!("{key}#{}", n + 1));
        }
    }
    let name_of =
        |list: &[Named], id: &str| list.iter().find(|x| x.id == id).map(|x| x.name.clone());
    let mut projects = BTreeMap::new();
    for p in site.projects.values() {
        let mut issues = BTreeMap::new();
        for i in per_project.get(&p.id).map(|v| v.as_slice()).unwrap_or(&[]) {
            let mut custom = BTreeMap::new();
            for (fid, v) in &i.custom {
                let name = site
                    .field(fid)
                    .map(|f| f.name.clone())
                    .unwrap_or_else(|| fid.clone());
                let v = match v {
                    // A cascading select's child by value too.
                    Value::Object(o) if o.contains_key("child") => {
                        json!([o["value"], o["child"]["value"]])
                    }
                    Value::Object(o) if o.contains_key("value") => o["value"].clone(),
                    Value::Array(a) => sorted(
                        a.iter()
                            .map(|x| x.get("value").cloned().unwrap_or_else(|| x.clone()))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                custom.insert(name, v);
            }
            let links: Vec<Value> = site
                .links
                .values()
                .filter(|l| l.outward == i.id)
                .map(|l| {
                    let t = site
                        .link_types
                        .iter()
                        .find(|t| t.id == l.type_id)
                        .map(|t| t.name.clone());
                    json!({"type": t, "to": refs.get(&l.inward)})
                })
                .collect();
            let attachments: Vec<Value> = site
                .attachments
                .values()
                .filter(|a| a.issue_id == i.id)
                .map(|a| json!({"filename": a.filename, "mimeType": a.mime, "size": a.blob.size(), "blake3": content::hash(&a.blob)}))
                .collect();
            let mut watchers = i.watchers.clone();
            watchers.sort();
            let components: Vec<Value> = p
                .components
                .iter()
                .filter(|c| i.components.contains(&c.id))
                .map(|c| json!(c.name))
                .collect();
            let versions: Vec<Value> = p
                .versions
                .iter()
                .filter(|v| i.fix_versions.contains(&v.id))
                .map(|v| json!(v.name))
                .collect();
            let mut labels = i.labels.clone();
            labels.sort();
            let mut m = BTreeMap::new();
            m.insert("summary".into(), json!(i.summary));
            m.insert(
                "description".into(),
                i.description.clone().unwrap_or(Value::Null),
            );
            m.insert(
                "issuetype".into(),
                json!(
                    site.issue_types
                        .iter()
                        .find(|t| t.id == i.issuetype)
                        .map(|t| t.name.clone())
                ),
            );
            m.insert(
                "status".into(),
                json!(
                    site.statuses
                        .iter()
                        .find(|s| s.id == i.status)
                        .map(|s| s.name.clone())
                ),
            );
            m.insert(
                "priority".into(),
                json!(name_of(&site.priorities, &i.priority)),
            );
            m.insert(
                "resolution".into(),
                json!(
                    i.resolution
                        .as_ref()
                        .and_then(|r| name_of(&site.resolutions, r))
                ),
            );
            m.insert("assignee".into(), json!(i.assignee));
            m.insert("reporter".into(), json!(i.reporter));
            m.insert("labels".into(), json!(labels));
            m.insert("components".into(), sorted(components));
            m.insert("fixVersions".into(), sorted(versions));
            m.insert("parent".into(), json!(i.parent.and_then(|x| refs.get(&x))));
            m.insert(
                "sprint".into(),
                json!(
                    i.sprint
                        .and_then(|s| site.sprints.get(&s))
                        .map(|s| s.name.clone())
                ),
            );
            m.insert("custom".into(), obj(custom));
            m.insert(
                "comments".into(),
                Value::Array(i.comments.iter().map(|c| c.body.clone()).collect()),
            );
            m.insert(
                "worklogs".into(),
                Value::Array(i.worklogs.iter().map(|w| json!({"started": jira_ts(&w.started), "timeSpentSeconds": w.time_spent_seconds, "comment": w.comment})).collect()),
            );
            m.insert("links".into(), sorted(links));
            m.insert("remoteLinks".into(), sorted(i.remote_links.iter().map(|r| json!({"globalId": r.global_id, "url": r.url, "title": r.title, "relationship": r.relationship})).collect()));
            m.insert("watchers".into(), json!(watchers));
            m.insert(
                "properties".into(),
                obj(i
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()),
            );
            m.insert("attachments".into(), sorted(attachments));
            issues.insert(refs[&i.id].clone(), obj(m));
        }
        let mut boards = BTreeMap::new();
        for b in site.boards.values().filter(|b| b.project_id == p.id) {
            let sprints: BTreeMap<String, Value> = site
                .sprints
                .values()
                .filter(|s| s.board_id == b.id)
                .map(|s| (s.name.clone(), json!({"state": s.state, "goal": s.goal, "start": s.start.map(|t| jira_ts(&t)), "end": s.end.map(|t| jira_ts(&t))})))
                .collect();
            boards.insert(
                b.name.clone(),
                json!({"type": b.kind, "sprints": obj(sprints)}),
            );
        }
        let components: BTreeMap<String, Value> = p
            .components
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    json!({"description": c.description, "lead": c.lead}),
                )
            })
            .collect();
        let versions: BTreeMap<String, Value> = p
            .versions
            .iter()
            .map(|v| (v.name.clone(), json!({"description": v.description, "released": v.released, "archived": v.archived, "releaseDate": v.release_date})))
            .collect();
        projects.insert(
            p.key.clone(),
            json!({"name": p.name, "description": p.description, "lead": p.lead, "projectTypeKey": p.type_key,
                   "components": obj(components), "versions": obj(versions), "boards": obj(boards), "issues": obj(issues)}),
        );
    }

    let mut spaces = BTreeMap::new();
    for s in site.spaces.values() {
        let title = |id: Option<u64>| id.and_then(|i| site.pages.get(&i)).map(|p| p.title.clone());
        let mut pages = BTreeMap::new();
        let mut blogs = BTreeMap::new();
        for p in site.pages.values().filter(|p| p.space_id == s.id) {
            let comments = |kind: CommentKind, parent: Option<u64>| -> Vec<&CComment> {
                site.ccomments
                    .values()
                    .filter(|c| {
                        c.container == p.id
                            && c.kind == kind
                            && (kind == CommentKind::Inline || c.parent_comment == parent)
                    })
                    .collect()
            };
            let footer: Vec<Value> = comments(CommentKind::Footer, None)
                .into_iter()
                .map(|c| json!({"body": c.storage, "adf": adf::normalize(&c.adf), "replies": comments(CommentKind::Footer, Some(c.id)).iter().map(|r| json!({"body": r.storage, "adf": adf::normalize(&r.adf)})).collect::<Vec<_>>()}))
                .collect();
            let inline: Vec<Value> = comments(CommentKind::Inline, None).into_iter().map(|c| json!({"body": c.storage, "adf": adf::normalize(&c.adf), "resolved": c.resolved, "selection": c.inline_text})).collect();
            let attachments: Vec<Value> = site
                .cattachments
                .values()
                .filter(|a| a.container == p.id)
                .map(|a| json!({"title": a.title, "mediaType": a.media_type, "size": a.blob.size(), "blake3": content::hash(&a.blob)}))
                .collect();
            let mut labels = p.labels.clone();
            labels.sort();
            let props: BTreeMap<String, Value> = p
                .properties
                .iter()
                .map(|x| (x.key.clone(), x.value.clone()))
                .collect();
            let mut m = BTreeMap::new();
            m.insert("body".into(), json!(p.storage));
            m.insert("adf".into(), adf::normalize(&p.adf));
            if p.kind == PageKind::Page {
                m.insert("parent".into(), json!(title(p.parent_id)));
            }
            m.insert("labels".into(), json!(labels));
            m.insert("properties".into(), obj(props));
            m.insert("attachments".into(), sorted(attachments));
            m.insert("footerComments".into(), Value::Array(footer));
            m.insert("inlineComments".into(), Value::Array(inline));
            match p.kind {
                PageKind::Page => pages.insert(p.title.clone(), obj(m)),
                PageKind::BlogPost => blogs.insert(p.title.clone(), obj(m)),
            };
        }
        let mut labels = s.labels.clone();
        labels.sort();
        let properties: BTreeMap<String, Value> = s
            .properties
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        spaces.insert(
            s.key.clone(),
            json!({"name": s.name, "type": if s.personal { "personal" } else { "global" }, "description": s.description,
                   "status": if s.archived { "archived" } else { "current" }, "labels": labels, "properties": obj(properties),
                   "homepage": title(s.homepage_id), "pages": obj(pages), "blogposts": obj(blogs)}),
        );
    }
    json!({"jira": {"projects": obj(projects)}, "confluence": {"spaces": obj(spaces)}})
}

/// blake3 of the canonical JSON.
pub fn digest(canonical: &Value) -> String {
    blake3::hash(&serde_json::to_vec(canonical).unwrap_or_default())
        .to_hex()
        .to_string()
}

pub fn summary(c: &Value) -> Value {
    let count = |v: &Value| v.as_object().map_or(0, |m| m.len());
    let projects = &c["jira"]["projects"];
    let issues: usize = projects
        .as_object()
        .map_or(0, |m| m.values().map(|p| count(&p["issues"])).sum());
    let spaces = &c["confluence"]["spaces"];
    let pages: usize = spaces.as_object().map_or(0, |m| {
        m.values()
            .map(|s| count(&s["pages"]) + count(&s["blogposts"]))
            .sum()
    });
    json!({"projects": count(projects), "issues": issues, "spaces": count(spaces), "pagesAndBlogposts": pages})
}

/// One difference between two sites' canonical content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// JSON-pointer-like path, e.g. `/jira/projects/PLAT/issues/PLAT#3/summary`.
    pub path: String,
    /// Value in the first site (absent: only in the second).
    pub a: Option<Value>,
    pub b: Option<Value>,
}

const MAX_DIFFS: usize = 1000;

/// What a comparison leaves out: what a restore is documented to change. Left out of the
/// content before comparing, so that what is ignored never uses up the differences reported.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    /// Item properties with these keys (a restore's own, such as Cairn's `cairn.origin`).
    pub properties: Vec<String>,
    /// Personal spaces: no API creates one.
    pub personal_spaces: bool,
}

/// The differences between two sites' [`canonical`] contents, without what `ignore` names.
pub fn compare(a: Value, b: Value, ignore: &Ignore) -> Vec<Difference> {
    diff(&without(a, ignore), &without(b, ignore))
}

/// [`canonical`] content without what `ignore` names.
pub fn without(mut content: Value, ignore: &Ignore) -> Value {
    if ignore.personal_spaces
        && let Some(spaces) = content["confluence"]["spaces"].as_object_mut()
    {
        spaces.retain(|_, s| s["type"] != "personal");
    }
    if !ignore.properties.is_empty() {
        strip_properties(&mut content, &ignore.properties);
    }
    content
}

fn strip_properties(v: &mut Value, keys: &[String]) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(p)) = m.get_mut("properties") {
                for k in keys {
                    p.remove(k);
                }
            }
            m.values_mut().for_each(|x| strip_properties(x, keys));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip_properties(x, keys)),
        _ => {}
    }
}

fn short(v: &Value) -> Value {
    let s = v.to_string();
    if s.len() > 300 {
        json!(format!("{}…", &s[..s.floor_char_boundary(300)]))
    } else {
        v.clone()
    }
}

pub fn diff(a: &Value, b: &Value) -> Vec<Difference> {
    let mut out = vec![];
    walk("", a, b, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    if out.len() >= MAX_DIFFS || a == b {
        return;
    }
    let esc = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}/{}", esc(k));
                match y.get(k) {
                    Some(w) => walk(&p, v, w, out),
                    None => out.push(Difference {
                        path: p,
                        a: Some(short(v)),
                        b: None,
                    }),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) && out.len() < MAX_DIFFS {
                    out.push(Difference {
                        path: format!("{path}/{}", esc(k)),
                        a: None,
                        b: Some(short(w)),
                    });
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = format!("{path}/{i}");
                match (x.get(i), y.get(i)) {
                    (Some(v), Some(w)) => walk(&p, v, w, out),
                    (v, w) => out.push(Difference {
                        path: p,
                        a: v.map(short),
                        b: w.map(short),
                    }),
                }
            }
        }
        _ => out.push(Difference {
            path: path.to_string(),
            a: Some(short(a)),
            b: Some(short(b)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is ignored is left out before comparing: it cannot use up the differences
    /// reported, and a real difference next to it is still found.
    #[test]
    fn ignored_properties_and_personal_spaces_never_crowd_out_a_difference() {
        let site = |summary: &str, n: usize| {
            let issues: serde_json::Map<String, Value> = (0..n)
                .map(|i| {
                    (
                        format!("P#{i:05}"),
                        json!({"summary": if i == n - 1 { summary } else { "same" },
                               "properties": {"mark": i, "kept": 1}}),
                    )
                })
                .collect();
            json!({"jira": {"projects": {"P": {"issues": issues}}},
                   "confluence": {"spaces": {"~me": {"type": "personal"}, "S": {"type": "global"}}}})
        };
        let (a, mut b) = (site("one", MAX_DIFFS + 5), site("two", MAX_DIFFS + 5));
        b["confluence"]["spaces"]
            .as_object_mut()
            .unwrap()
            .remove("~me");
        for i in b["jira"]["projects"]["P"]["issues"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            i["properties"]["mark"] = json!("restored");
        }
        // Without ignoring, the marks fill the report and the summary is not in it.
        let all = diff(&a, &b);
        assert_eq!(all.len(), MAX_DIFFS);
        assert!(!all.iter().any(|d| d.path.ends_with("/summary")));
        let ignore = Ignore {
            properties: vec!["mark".into()],
            personal_spaces: true,
        };
        let d = diff(&without(a, &ignore), &without(b, &ignore));
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [format!(
                "/jira/projects/P/issues/P#{:05}/summary",
                MAX_DIFFS + 4
            )]
        );
    }
}
