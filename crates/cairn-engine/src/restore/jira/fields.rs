//! Custom fields' configuration, before the issues that carry their values.
//!
//! - [`fields`] (phase `fields`, before projects): each source custom field is matched with a
//!   destination field of the same name and type, or created (same type, the type's searcher).
//!   Where the destination has a field of that name but another type, a copy named with
//!   [`COPY_SUFFIX`] is used or created: the destination's own field is never changed. A field
//!   whose type the API cannot create (an app's) is skipped with the reason, and so are its
//!   values.
//! - [`contexts`] (phase `fieldContexts`, once the projects exist): each source context in its
//!   field, scoped to the restored projects and the destination's issue types of the same
//!   names; its options (parents, then cascading children under their parents) and its default
//!   value. On a field this restore created, the context Jira makes with a new field is deleted
//!   unless a source context has its name; on a field the destination had, contexts and
//!   options of the same name are reused and only the missing ones added, and a context of its
//!   own keeps its default value (the source's is skipped with the reason).
//!
//! Every source → destination id goes into the map (`field`, `fieldContext`, `fieldOption`), and
//! so does each create before it is made (`open`, saved), so a resumed restore finds what an
//! earlier attempt created by name instead of creating it again, and counts it once.

use std::collections::{BTreeMap, HashMap};

use cairn_connectors::Error;
use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::layout;
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

/// Appended to the name of a field created beside a destination field of the same name and
/// another type.
pub const COPY_SUFFIX: &str = " (restored)";

/// Jira's own custom field types, which `POST /field` creates.
const SYSTEM_TYPES: &str = "com.atlassian.jira.plugin.system.customfieldtypes:";

/// The searcher Jira gives a field of each of its own types.
fn searcher(type_key: &str) -> Option<String> {
    let short = type_key.strip_prefix(SYSTEM_TYPES)?;
    let s = match short {
        "float" | "importid" => "exactnumber",
        "select" | "multiselect" | "radiobuttons" | "multicheckboxes" | "multigrouppicker" => {
            "multiselectsearcher"
        }
        "cascadingselect" => "cascadingselectsearcher",
        "textarea" | "textfield" | "readonlyfield" => "textsearcher",
        "url" => "exacttextsearcher",
        "datepicker" => "daterange",
        "datetime" => "datetimerange",
        "userpicker" | "multiuserpicker" => "userpickergroupsearcher",
        "grouppicker" => "grouppickersearcher",
        "labels" => "labelsearcher",
        "version" | "multiversion" => "versionsearcher",
        "project" => "projectsearcher",
        _ => return None,
    };
    Some(format!("{SYSTEM_TYPES}{s}"))
}

/// The source's custom fields, as the backup stored them (with contexts).
async fn source_fields(run: &RestoreRun<'_>) -> Result<Vec<Value>, EngineError> {
    let all = run
        .doc(&layout::jira_config("fields"))
        .await?
        .unwrap_or_default();
    Ok(items(&all)
        .iter()
        .filter(|f| f["custom"].as_bool() == Some(true))
        .cloned()
        .collect())
}

fn type_of(f: &Value) -> &str {
    text(&f["schema"], "custom")
}

/// Matches or creates every source custom field (see the module's doc) and gives `dest.fields`
/// the destination id and schema of each.
pub(super) async fn fields(run: &mut RestoreRun<'_>, dest: &mut Dest) -> Result<(), EngineError> {
    // Only these matches: a field of the same name and another type is not one.
    dest.fields.clear();
    let source = source_fields(run).await?;
    let mut have: Vec<Value> = dest
        .jira
        .fields()
        .try_collect()
        .await
        .map_err(site_error(Destination))?;
    let done = run.map.phase_done("fields");
    for f in &source {
        let Some(sid) = id_str(&f["id"]) else {
            continue;
        };
        let (name, ty) = (text(f, "name"), type_of(f));
        if run.map.get("field", &sid).is_none() && !done {
            match_or_create(run, dest, &mut have, f, &sid, name, ty).await?;
        }
        if let Some(did) = run.map.get("field", &sid)
            && let Some(d) = have.iter().find(|d| text(d, "id") == did)
        {
            dest.fields
                .insert(sid.clone(), (did.to_string(), d["schema"].clone()));
        }
    }
    if !done {
        run.map.finish_phase("fields", run.ctx).await?;
    }
    Ok(())
}

async fn match_or_create(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    have: &mut Vec<Value>,
    f: &Value,
    sid: &str,
    name: &str,
    ty: &str,
) -> Result<(), EngineError> {
    let same = |have: &[Value], n: &str| {
        have.iter()
            .find(|d| text(d, "name") == n && type_of(d) == ty && d["custom"] == true)
            .and_then(|d| id_str(&d["id"]))
    };
    let taken = have
        .iter()
        .any(|d| text(d, "name") == name && type_of(d) != ty);
    let wanted = match same(have, name) {
        // The same name and type, or else the copy beside a field of another type.
        Some(id) => Some(id),
        None if taken => same(have, &format!("{name}{COPY_SUFFIX}")),
        None => None,
    };
    if let Some(id) = wanted {
        if run.map.is_open("field", sid) {
            // Created by an earlier attempt after its last save.
            run.map.created("field");
            run.map.insert("fieldOwn", sid, &id);
            run.map.close("field", sid);
        }
        run.map.insert("field", sid, &id);
        return Ok(());
    }
    let Some(searcher) = searcher(ty) else {
        run.map.skipped_because(
            "field",
            sid,
            format!(
                "custom field '{name}' has type {ty}, which the REST API cannot create (an app's \
                 field); its values are left out of the issues"
            ),
        );
        return Ok(());
    };
    let name = if taken {
        format!("{name}{COPY_SUFFIX}")
    } else {
        name.to_string()
    };
    run.map.open("field", sid);
    run.map.save(run.ctx).await?;
    let mut body = json!({"name": name, "type": ty, "searcherKey": searcher});
    if let Some(d) = f["description"].as_str() {
        body["description"] = json!(d);
    }
    run.tasks.check()?;
    match dest.jira.create_field(&body).await {
        Ok(created) => {
            let id = id_str(&created["id"]).unwrap_or_default();
            run.map.created("field");
            run.map.insert("field", sid, &id);
            run.map.insert("fieldOwn", sid, &id);
            run.map.close("field", sid);
            have.push(created);
            run.step().await
        }
        // It may have been created: the job is tried again and finds it by name.
        Err(e) if e.is_retryable() => Err(site_error(Destination)(e)),
        Err(e) => {
            run.map.close("field", sid);
            run.refused("field", sid, e)?;
            run.step().await
        }
    }
}

/// The destination's ids of the source's projects (those restored) and issue types (by name).
struct Scope {
    projects: HashMap<String, String>,
    issue_types: HashMap<String, String>,
    /// Source issue type id → name, for the reasons given.
    type_names: HashMap<String, String>,
}

async fn scope(
    run: &RestoreRun<'_>,
    dest: &Dest,
    restored: &[String],
) -> Result<Scope, EngineError> {
    let mut projects = HashMap::new();
    for key in restored {
        let Some(doc) = run.doc(&layout::jira_project(key)).await? else {
            continue;
        };
        let p = doc.get("project").unwrap_or(&doc);
        if let (Some(sid), Some(did)) = (id_str(&p["id"]), run.map.get("project", key)) {
            projects.insert(sid, did.to_string());
        }
    }
    let by_name: HashMap<String, String> = dest
        .jira
        .issue_types()
        .try_collect::<Vec<_>>()
        .await
        .map_err(site_error(Destination))?
        .iter()
        .filter_map(|t| Some((text(t, "name").to_string(), id_str(&t["id"])?)))
        .collect();
    let source = run
        .doc(&layout::jira_config("issuetypes"))
        .await?
        .unwrap_or_default();
    let mut issue_types = HashMap::new();
    let mut type_names = HashMap::new();
    for t in items(&source) {
        let Some(sid) = id_str(&t["id"]) else {
            continue;
        };
        type_names.insert(sid.clone(), text(t, "name").to_string());
        if let Some(did) = by_name.get(text(t, "name")) {
            issue_types.insert(sid, did.clone());
        }
    }
    Ok(Scope {
        projects,
        issue_types,
        type_names,
    })
}

/// The contexts of every matched or created field, with their options and default values
/// (see the module's doc). `restored`: the keys of the projects this restore wrote.
pub(super) async fn contexts(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    restored: &[String],
) -> Result<(), EngineError> {
    if run.map.phase_done("fieldContexts") {
        return Ok(());
    }
    let scope = scope(run, dest, restored).await?;
    for f in source_fields(run).await? {
        let Some(sid) = id_str(&f["id"]) else {
            continue;
        };
        let Some(did) = run.map.get("field", &sid).map(String::from) else {
            continue;
        };
        field_contexts(run, dest, &scope, &f, &sid, &did).await?;
    }
    run.map.finish_phase("fieldContexts", run.ctx).await
}

/// A destination context: id, name, global, the projects it applies to.
struct Have {
    id: String,
    name: String,
    global: bool,
    projects: Vec<String>,
}

async fn field_contexts(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    scope: &Scope,
    f: &Value,
    sid: &str,
    did: &str,
) -> Result<(), EngineError> {
    let own = run.map.get("fieldOwn", sid).is_some();
    let mut have: Vec<Have> = dest
        .jira
        .field_contexts(did)
        .try_collect::<Vec<_>>()
        .await
        .map_err(site_error(Destination))?
        .iter()
        .map(|c| Have {
            id: id_str(&c["id"]).unwrap_or_default(),
            name: text(c, "name").to_string(),
            global: c["isGlobalContext"].as_bool().unwrap_or(false),
            projects: vec![],
        })
        .collect();
    if !have.iter().all(|h| h.global) {
        let mappings: Vec<Value> = dest
            .jira
            .field_project_mappings(did)
            .try_collect()
            .await
            .map_err(site_error(Destination))?;
        for m in mappings {
            if let (Some(c), Some(p)) = (id_str(&m["contextId"]), id_str(&m["projectId"]))
                && let Some(h) = have.iter_mut().find(|h| h.id == c)
            {
                h.projects.push(p);
            }
        }
    }
    let source = items(&f["contexts"]);
    if own {
        // The context Jira made with the new field, unless the source has one of its name.
        for c in have
            .iter()
            .filter(|c| !source.iter().any(|s| text(s, "name") == c.name))
        {
            run.tasks.check()?;
            dest.jira
                .delete_field_context(did, &c.id)
                .await
                .map_err(site_error(Destination))?;
        }
        have.retain(|c| source.iter().any(|s| text(s, "name") == c.name));
    }
    let mut defaults = vec![];
    // The destination's default values, read when a context it had is met.
    let mut theirs: Option<Vec<Value>> = None;
    for c in source {
        let Some(csid) = id_str(&c["id"]) else {
            continue;
        };
        let Some(dctx) = context(run, dest, scope, &have, own, did, c, &csid).await? else {
            continue;
        };
        options(run, dest, did, c, &csid, &dctx).await?;
        if !own && run.map.get("fieldContextOwn", &csid).is_none() {
            // The destination's own context (or an earlier restore's): its default value stays
            // as it is; said so where it differs from the source's.
            if c["defaultValue"].is_object() {
                if theirs.is_none() {
                    theirs = Some(
                        dest.jira
                            .field_defaults(did)
                            .try_collect::<Vec<_>>()
                            .await
                            .map_err(site_error(Destination))?,
                    );
                }
                let wanted = default_value(run, dest, c, &csid, &dctx);
                let same = theirs.iter().flatten().any(|d| Some(d) == wanted.as_ref());
                if same || wanted.is_none() {
                    continue;
                }
                run.map.skipped_because(
                    "fieldDefault",
                    &csid,
                    format!(
                        "context '{}' is the destination's own: its default value is left as it is",
                        text(c, "name")
                    ),
                );
            }
            continue;
        }
        if let Some(d) = default_value(run, dest, c, &csid, &dctx) {
            defaults.push(d);
        }
    }
    if !defaults.is_empty() {
        run.tasks.check()?;
        let r = dest.jira.set_field_defaults(did, &defaults).await;
        if let Err(e) = r {
            run.refused("fieldDefault", sid, e)?;
        }
        run.step().await?;
    }
    Ok(())
}

/// The destination context for a source context: mapped, found by name (or, on a field the
/// destination had, its global context for a global one), or created. `None`: not restored
/// (none of its projects is, or the API refused it).
#[allow(clippy::too_many_arguments)]
async fn context(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    scope: &Scope,
    have: &[Have],
    own: bool,
    did: &str,
    c: &Value,
    csid: &str,
) -> Result<Option<String>, EngineError> {
    if let Some(d) = run.map.get("fieldContext", csid) {
        return Ok(Some(d.to_string()));
    }
    let name = text(c, "name");
    let source_projects = items(&c["projectIds"]);
    let projects: Vec<String> = source_projects
        .iter()
        .filter_map(|p| scope.projects.get(&id_str(p)?).cloned())
        .collect();
    if !source_projects.is_empty() && projects.is_empty() {
        // Its projects are not part of this restore.
        return Ok(None);
    }
    let mut issue_types = vec![];
    for t in items(&c["issueTypeIds"]).iter().filter_map(id_str) {
        match scope.issue_types.get(&t) {
            Some(d) => issue_types.push(d.clone()),
            None => run.map.skipped_because(
                "fieldContextIssueType",
                &format!("{csid}:{t}"),
                format!(
                    "context '{name}' applies to issue type '{}', which the destination lacks",
                    scope.type_names.get(&t).map_or(t.as_str(), String::as_str)
                ),
            ),
        }
    }
    if !items(&c["issueTypeIds"]).is_empty() && issue_types.is_empty() {
        run.map.skipped_because(
            "fieldContext",
            csid,
            format!("context '{name}': none of its issue types is in the destination"),
        );
        return Ok(None);
    }
    let by_name = have.iter().find(|h| h.name == name);
    if let Some(h) = by_name.filter(|h| !h.global && !source_projects.is_empty()) {
        // The context of that name (an earlier restore's, or the destination's own) gets the
        // projects this restore wrote that it lacks.
        let missing: Vec<String> = projects
            .iter()
            .filter(|p| !h.projects.contains(p))
            .cloned()
            .collect();
        if !missing.is_empty() {
            run.tasks.check()?;
            match dest
                .jira
                .add_field_context_projects(did, &h.id, &missing)
                .await
            {
                Ok(()) => run.step().await?,
                Err(e) if e.is_retryable() => return Err(site_error(Destination)(e)),
                Err(e) => run.map.skipped_because(
                    "fieldContextProject",
                    csid,
                    format!("context '{name}' could not take the restored projects: {e}"),
                ),
            }
        }
    }
    let found = by_name
        .or_else(|| {
            // A field the destination had keeps its own global context.
            (!own && source_projects.is_empty())
                .then(|| have.iter().find(|h| h.global))
                .flatten()
        })
        .map(|h| h.id.clone());
    if let Some(id) = found {
        if run.map.is_open("fieldContext", csid) {
            // Created by an earlier attempt after its last save.
            run.map.created("fieldContext");
            run.map.insert("fieldContextOwn", csid, &id);
            run.map.close("fieldContext", csid);
        }
        run.map.insert("fieldContext", csid, &id);
        return Ok(Some(id));
    }
    run.map.open("fieldContext", csid);
    run.map.save(run.ctx).await?;
    let body = json!({
        "name": name,
        "description": text(c, "description"),
        "projectIds": projects,
        "issueTypeIds": issue_types,
    });
    run.tasks.check()?;
    let r = dest.jira.create_field_context(did, &body).await;
    if let Err(e) = &r
        && e.is_retryable()
    {
        return Err(EngineError::Retryable(e.to_string()));
    }
    run.map.close("fieldContext", csid);
    let id = run.outcome("fieldContext", csid, r)?;
    if let Some(id) = &id {
        run.map.insert("fieldContext", csid, id);
        run.map.insert("fieldContextOwn", csid, id);
    }
    run.step().await?;
    Ok(id)
}

/// The context's options: those the destination context has (same value under the same
/// parent) are taken, the others created, parents before cascading children.
async fn options(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    did: &str,
    c: &Value,
    csid: &str,
    dctx: &str,
) -> Result<(), EngineError> {
    let source = items(&c["options"]);
    if source.is_empty() {
        return Ok(());
    }
    let existing: Vec<Value> = match dest.jira.field_options(did, dctx).try_collect().await {
        Ok(o) => o,
        Err(Error::Permanent { status: 400, .. }) => vec![],
        Err(e) => return Err(site_error(Destination)(e)),
    };
    // Found options an interrupted write of this context made are counted as created.
    let resumed = run.map.is_open("fieldOptions", csid);
    for children in [false, true] {
        let mut missing: Vec<(String, Value)> = vec![];
        for o in source
            .iter()
            .filter(|o| o["optionId"].is_null() != children)
        {
            let Some(osid) = id_str(&o["id"]) else {
                continue;
            };
            if run.map.get("fieldOption", &osid).is_some() {
                continue;
            }
            let parent = match id_str(&o["optionId"]) {
                None => None,
                Some(p) => match run.map.get("fieldOption", &p) {
                    Some(d) => Some(d.to_string()),
                    None => {
                        run.map.skipped_because(
                            "fieldOption",
                            &osid,
                            format!(
                                "option '{}': its parent option was not restored",
                                text(o, "value")
                            ),
                        );
                        continue;
                    }
                },
            };
            let same = existing
                .iter()
                .find(|e| text(e, "value") == text(o, "value") && id_str(&e["optionId"]) == parent);
            if let Some(e) = same {
                if resumed {
                    run.map.created("fieldOption");
                }
                run.map
                    .insert("fieldOption", &osid, &id_str(&e["id"]).unwrap_or_default());
                continue;
            }
            let mut body =
                json!({"value": o["value"], "disabled": o["disabled"].as_bool().unwrap_or(false)});
            if let Some(p) = parent {
                body["optionId"] = json!(p);
            }
            missing.push((osid, body));
        }
        if missing.is_empty() {
            continue;
        }
        run.map.open("fieldOptions", csid);
        run.map.save(run.ctx).await?;
        let bodies: Vec<Value> = missing.iter().map(|(_, b)| b.clone()).collect();
        run.tasks.check()?;
        match dest.jira.create_field_options(did, dctx, &bodies).await {
            Ok(made) => {
                for ((osid, _), m) in missing.iter().zip(&made) {
                    run.map.created("fieldOption");
                    run.map
                        .insert("fieldOption", osid, &id_str(&m["id"]).unwrap_or_default());
                }
            }
            Err(e) if e.is_retryable() => return Err(site_error(Destination)(e)),
            Err(e) => {
                for (osid, _) in &missing {
                    run.map.failed("fieldOption", osid, e.to_string());
                }
            }
        }
        run.step().await?;
    }
    run.map.close("fieldOptions", csid);
    Ok(())
}

/// A source context's default value for the destination context: options and users mapped.
/// `None` when it has none, or when what it names was not restored (skipped with the reason).
fn default_value(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    c: &Value,
    csid: &str,
    dctx: &str,
) -> Option<Value> {
    let Value::Object(source) = &c["defaultValue"] else {
        return None;
    };
    let mut d: BTreeMap<String, Value> = source.clone().into_iter().collect();
    d.insert("contextId".into(), json!(dctx));
    let mut lost = vec![];
    let option = |id: &Value, lost: &mut Vec<String>| {
        let id = id_str(id).unwrap_or_default();
        match run.map.get("fieldOption", &id) {
            Some(x) => json!(x),
            None => {
                lost.push(format!("option {id}"));
                Value::Null
            }
        }
    };
    let user = |id: &Value, lost: &mut Vec<String>| {
        let id = id_str(id).unwrap_or_default();
        match dest.account(&id) {
            Some(x) => json!(x),
            None => {
                lost.push(format!("user {id}"));
                Value::Null
            }
        }
    };
    for k in ["optionId", "cascadingOptionId"] {
        if let Some(v) = source.get(k) {
            d.insert(k.into(), option(v, &mut lost));
        }
    }
    if let Some(v) = source.get("optionIds") {
        let ids: Vec<Value> = items(v).iter().map(|x| option(x, &mut lost)).collect();
        d.insert("optionIds".into(), Value::Array(ids));
    }
    if let Some(v) = source.get("accountId") {
        d.insert("accountId".into(), user(v, &mut lost));
    }
    if let Some(v) = source.get("accountIds") {
        let ids: Vec<Value> = items(v).iter().map(|x| user(x, &mut lost)).collect();
        d.insert("accountIds".into(), Value::Array(ids));
    }
    if !lost.is_empty() {
        run.map.skipped_because(
            "fieldDefault",
            csid,
            format!(
                "the default value of context '{}' names what the destination lacks: {}",
                text(c, "name"),
                lost.join(", ")
            ),
        );
        return None;
    }
    Some(Value::Object(d.into_iter().collect()))
}

/// A create refused for custom field values (Jira names each field in `errors`): those fields
/// are taken out of `fields`, and each is returned with Jira's message, so the issue can be
/// created without them.
pub(super) fn without_refused_values(fields: &mut Value, e: &Error) -> Vec<(String, String)> {
    let Error::Permanent { field_errors, .. } = e else {
        return vec![];
    };
    let mut out = vec![];
    if let Value::Object(m) = fields {
        for (k, message) in field_errors {
            if k.starts_with("customfield_") && m.remove(k).is_some() {
                out.push((k.clone(), message.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jiras_own_types_get_their_searcher_and_an_apps_none() {
        assert_eq!(
            searcher("com.atlassian.jira.plugin.system.customfieldtypes:cascadingselect")
                .as_deref(),
            Some("com.atlassian.jira.plugin.system.customfieldtypes:cascadingselectsearcher")
        );
        assert_eq!(searcher("com.pyxis.greenhopper.jira:gh-sprint"), None);
    }
}
