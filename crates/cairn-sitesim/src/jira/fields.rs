//! Custom fields' configuration: contexts (the projects and issue types a field applies to),
//! their options (cascading ones under a parent) and default values, read and written as Jira
//! Cloud's platform v3 API does; `POST /field`; and how an issue's value of a custom field is
//! checked against the context that applies to the issue.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http::*;
use crate::model::*;

use super::R;
use super::edit::by_id_or_name;
use super::render::{SPRINT_CONTEXT, SPRINT_FIELD, custom_field_json};

/// The Sprint field's one context (Jira Software's field, not the site's own).
fn sprint_context() -> FieldContext {
    FieldContext {
        id: SPRINT_CONTEXT.into(),
        name: "Default Configuration Scheme for Sprint".into(),
        description: String::new(),
        project_ids: vec![],
        issue_type_ids: vec![],
        options: vec![],
        default: None,
    }
}

/// The field's contexts (the Sprint field's too), or 404.
fn contexts_of(site: &Site, r: &Req) -> Result<Vec<FieldContext>, axum::response::Response> {
    if r.p("fieldId") == SPRINT_FIELD {
        return Ok(vec![sprint_context()]);
    }
    site.field(r.p("fieldId"))
        .map(|f| f.contexts.clone())
        .ok_or_else(|| r.not_found("The custom field was not found."))
}

/// Contexts filtered by the `contextId` query parameters (all when none is given).
fn wanted<'a>(r: &Req, contexts: &'a [FieldContext]) -> Vec<&'a FieldContext> {
    let ids = r.q_all("contextId");
    contexts
        .iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id.as_str()))
        .collect()
}

/// `GET /field/{fieldId}/context` (PageBean of `CustomFieldContext`).
pub fn field_contexts(site: &Site, r: &Req) -> R {
    let contexts = contexts_of(site, r)?;
    let flag = |name: &str| r.q(name).map(|v| v == "true");
    let (any_type, global) = (flag("isAnyIssueType"), flag("isGlobalContext"));
    let items = wanted(r, &contexts)
        .into_iter()
        .filter(|c| any_type.is_none_or(|a| a == c.issue_type_ids.is_empty()))
        .filter(|c| global.is_none_or(|g| g == c.is_global()))
        .map(|c| {
            json!({"id": c.id, "name": c.name, "description": c.description,
                   "isGlobalContext": c.is_global(), "isAnyIssueType": c.issue_type_ids.is_empty()})
        })
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

/// `GET /field/{fieldId}/context/projectmapping`: each scoped context's projects, and each
/// global context once with `isGlobalContext`.
pub fn field_context_projects(site: &Site, r: &Req) -> R {
    let contexts = contexts_of(site, r)?;
    let mut items = vec![];
    for c in wanted(r, &contexts) {
        if c.is_global() {
            items.push(json!({"contextId": c.id, "isGlobalContext": true}));
        }
        for p in &c.project_ids {
            items.push(json!({"contextId": c.id, "projectId": p.to_string()}));
        }
    }
    Ok(ok(page_bean(r, items, 50, 50)?))
}

/// `GET /field/{fieldId}/context/issuetypemapping`: each context's issue types, or
/// `isAnyIssueType`.
pub fn field_context_issue_types(site: &Site, r: &Req) -> R {
    let contexts = contexts_of(site, r)?;
    let mut items = vec![];
    for c in wanted(r, &contexts) {
        if c.issue_type_ids.is_empty() {
            items.push(json!({"contextId": c.id, "isAnyIssueType": true}));
        }
        for t in &c.issue_type_ids {
            items.push(json!({"contextId": c.id, "issueTypeId": t}));
        }
    }
    Ok(ok(page_bean(r, items, 50, 50)?))
}

/// `GET /field/{fieldId}/context/defaultValue`: the contexts that have a default value.
pub fn field_context_defaults(site: &Site, r: &Req) -> R {
    let contexts = contexts_of(site, r)?;
    let items = wanted(r, &contexts)
        .into_iter()
        .filter_map(|c| {
            let mut v = c.default.clone()?;
            v["contextId"] = json!(c.id);
            Some(v)
        })
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

fn option_json(o: &FieldOption) -> Value {
    let mut v = json!({"id": o.id, "value": o.value, "disabled": o.disabled});
    if let Some(p) = &o.parent {
        v["optionId"] = json!(p);
    }
    v
}

/// The field (a site's own custom field) and its context `contextId`, or 404.
fn field_and_context<'a>(
    site: &'a Site,
    r: &Req,
) -> Result<(&'a CustomField, &'a FieldContext), axum::response::Response> {
    let f = site
        .field(r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?;
    let c = f
        .context(r.p("contextId"))
        .ok_or_else(|| r.not_found("The context was not found."))?;
    Ok((f, c))
}

fn no_options(r: &Req) -> axum::response::Response {
    r.err(
        StatusCode::BAD_REQUEST,
        "The custom field doesn't support options.",
    )
}

/// `GET /field/{fieldId}/context/{contextId}/option` (PageBean of `CustomFieldContextOption`):
/// the parents, then the cascading children (as the reference's example has them); `optionId`
/// gives that one option,
/// `onlyOptions` leaves the children out.
pub fn field_options(site: &Site, r: &Req) -> R {
    if r.p("fieldId") == SPRINT_FIELD && r.p("contextId") == SPRINT_CONTEXT {
        return Err(no_options(r));
    }
    let (f, c) = field_and_context(site, r)?;
    if !f.kind.has_options() {
        return Err(no_options(r));
    }
    let only = r.q("optionId");
    let top = r.q_bool("onlyOptions");
    // As Jira lists them: the parents in their order, then the cascading children by parent.
    let parents: Vec<&FieldOption> = c.options.iter().filter(|o| o.parent.is_none()).collect();
    let children = parents.iter().flat_map(|p| {
        c.options
            .iter()
            .filter(|o| o.parent.as_deref() == Some(p.id.as_str()))
    });
    let items = parents
        .iter()
        .copied()
        .chain(children)
        .filter(|o| only.is_none_or(|id| id == o.id))
        .filter(|o| !top || o.parent.is_none())
        .map(option_json)
        .collect();
    Ok(ok(page_bean(r, items, 100, 100)?))
}

/// `POST /field/{fieldId}/context/{contextId}/option`: options added to the context; a
/// cascading select's child names its parent in `optionId`. A value already among its
/// siblings is refused.
pub fn field_options_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let asked = b["options"].as_array().cloned().unwrap_or_default();
    let ids: Vec<u64> = asked.iter().map(|_| site.alloc_id()).collect();
    let (f, c) = field_and_context(site, r)?;
    if !f.kind.has_options() {
        return Err(no_options(r));
    }
    let cascading = f.kind == CfKind::Cascading;
    let mut options = c.options.clone();
    let mut out = vec![];
    if asked.is_empty() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "Every option needs a non-empty value.",
        ));
    }
    for (o, id) in asked.iter().zip(ids) {
        let value = o["value"].as_str().unwrap_or("").trim().to_string();
        if value.is_empty() {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "Every option needs a non-empty value.",
            ));
        }
        let parent = o["optionId"].as_str().map(String::from);
        if let Some(p) = &parent {
            if !cascading {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    "Only cascading select fields can have options with a parent option.",
                ));
            }
            if !options.iter().any(|x| &x.id == p && x.parent.is_none()) {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("The parent option {p} was not found in this context."),
                ));
            }
        }
        if options
            .iter()
            .any(|x| x.parent == parent && x.value == value)
        {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("The option '{value}' already exists in this context."),
            ));
        }
        let option = FieldOption {
            id: id.to_string(),
            value,
            parent,
            disabled: o["disabled"].as_bool().unwrap_or(false),
        };
        out.push(option_json(&option));
        options.push(option);
    }
    let (fid, cid) = (r.p("fieldId").to_string(), r.p("contextId").to_string());
    context_mut(site, &fid, &cid).options = options;
    Ok(ok(json!({"options": out})))
}

fn context_mut<'a>(site: &'a mut Site, field: &str, context: &str) -> &'a mut FieldContext {
    site.custom_fields
        .iter_mut()
        .find(|f| f.id == field)
        .and_then(|f| f.contexts.iter_mut().find(|c| c.id == context))
        .expect("checked by the caller")
}

/// `POST /field/{fieldId}/context`: a context for the given projects (none: global) and issue
/// types (none: all). A project already in another context of the field is refused, as Jira
/// does (one context per project).
pub fn field_context_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    if r.p("fieldId") == SPRINT_FIELD {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The contexts of this field cannot be changed.",
        ));
    }
    let f = site
        .field(r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(jira_field_errors(
            json!({"name": "The context name is required."}),
        ));
    }
    let strings = |k: &str| -> Vec<String> {
        b[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| {
                x.as_str()
                    .map(String::from)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
            .collect()
    };
    let mut project_ids = vec![];
    for p in strings("projectIds") {
        match p
            .parse::<u64>()
            .ok()
            .filter(|id| site.projects.contains_key(id))
        {
            Some(id) => project_ids.push(id),
            None => {
                return Err(r.not_found(&format!("The project with ID {p} was not found.")));
            }
        }
    }
    let issue_type_ids = strings("issueTypeIds");
    if let Some(t) = issue_type_ids
        .iter()
        .find(|t| !site.issue_types.iter().any(|x| &x.id == *t))
    {
        return Err(r.not_found(&format!("The issue type with ID {t} was not found.")));
    }
    if let Some(p) = project_ids
        .iter()
        .find(|p| f.contexts.iter().any(|c| c.project_ids.contains(p)))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("The project with ID {p} is already in another context of this field."),
        ));
    }
    let id = site.alloc_id().to_string();
    let context = FieldContext {
        id: id.clone(),
        name,
        description: b["description"].as_str().unwrap_or("").to_string(),
        project_ids,
        issue_type_ids,
        options: vec![],
        default: None,
    };
    let v = json!({
        "id": id, "name": context.name, "description": context.description,
        "projectIds": context.project_ids.iter().map(u64::to_string).collect::<Vec<_>>(),
        "issueTypeIds": context.issue_type_ids,
    });
    let fid = r.p("fieldId").to_string();
    if let Some(f) = site.custom_fields.iter_mut().find(|f| f.id == fid) {
        f.contexts.push(context);
    }
    Ok(created(v))
}

/// `PUT /field/{fieldId}/context/{contextId}/project`: projects added to a (project-scoped)
/// context. A project already in a context of the field is refused, as Jira does.
pub fn field_context_projects_add(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let (f, c) = field_and_context(site, r)?;
    if c.is_global() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "Projects cannot be assigned to a global context.",
        ));
    }
    let mut add = vec![];
    for p in b["projectIds"].as_array().into_iter().flatten() {
        let text = p.as_str().map_or_else(|| p.to_string(), String::from);
        let Some(id) = text
            .parse::<u64>()
            .ok()
            .filter(|id| site.projects.contains_key(id))
        else {
            return Err(r.not_found(&format!("The project with ID {text} was not found.")));
        };
        if add.contains(&id) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "The projectIds must not contain duplicates.",
            ));
        }
        if f.contexts.iter().any(|x| x.project_ids.contains(&id)) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("The project with ID {id} is already in another context of this field."),
            ));
        }
        add.push(id);
    }
    let (fid, cid) = (r.p("fieldId").to_string(), r.p("contextId").to_string());
    context_mut(site, &fid, &cid).project_ids.extend(add);
    Ok(no_content())
}

/// `DELETE /field/{fieldId}/context/{contextId}`.
pub fn field_context_delete(site: &mut Site, r: &Req) -> R {
    field_and_context(site, r)?;
    let (fid, cid) = (r.p("fieldId").to_string(), r.p("contextId").to_string());
    if let Some(f) = site.custom_fields.iter_mut().find(|f| f.id == fid) {
        f.contexts.retain(|c| c.id != cid);
    }
    Ok(no_content())
}

/// The `type` of a default value for each kind of field (`CustomFieldContextDefaultValue`'s
/// discriminator).
fn default_type(kind: CfKind) -> &'static str {
    match kind {
        CfKind::Number => "float",
        CfKind::Select => "option.single",
        CfKind::MultiSelect => "option.multiple",
        CfKind::Cascading => "option.cascading",
        CfKind::TextArea => "textarea",
        CfKind::Text => "textfield",
        CfKind::Date => "datepicker",
        CfKind::User => "single.user.select",
        CfKind::MultiUser => "multi.user.select",
        CfKind::Labels => "labels",
    }
}

/// A default value checked against its context: options of that context, existing users.
fn checked_default(
    site: &Site,
    f: &CustomField,
    c: &FieldContext,
    v: &Value,
) -> Result<Value, String> {
    let ty = v["type"].as_str().unwrap_or("");
    if ty != default_type(f.kind) {
        return Err(format!(
            "The default value type '{ty}' does not match the custom field's type."
        ));
    }
    let option = |id: &Value, parent: Option<&str>| -> Result<String, String> {
        let id = id.as_str().unwrap_or("");
        c.options
            .iter()
            .find(|o| o.id == id && o.parent.as_deref() == parent)
            .map(|o| o.id.clone())
            .ok_or_else(|| format!("The option with ID {id} was not found in the context."))
    };
    let user = |id: &Value| -> Result<String, String> {
        let id = id.as_str().unwrap_or("");
        site.user(id)
            .map(|u| u.account_id.clone())
            .ok_or_else(|| format!("The user with account ID {id} was not found."))
    };
    Ok(match f.kind {
        CfKind::Select => json!({"type": ty, "optionId": option(&v["optionId"], None)?}),
        CfKind::MultiSelect => {
            let ids = v["optionIds"].as_array().cloned().unwrap_or_default();
            let ids: Result<Vec<String>, String> = ids.iter().map(|x| option(x, None)).collect();
            json!({"type": ty, "optionIds": ids?})
        }
        CfKind::Cascading => {
            let parent = option(&v["optionId"], None)?;
            let mut out = json!({"type": ty, "optionId": parent});
            if !v["cascadingOptionId"].is_null() {
                out["cascadingOptionId"] = json!(option(&v["cascadingOptionId"], Some(&parent))?);
            }
            out
        }
        CfKind::User => json!({"type": ty, "accountId": user(&v["accountId"])?,
                               "userFilter": if v["userFilter"].is_object() { v["userFilter"].clone() } else { json!({"enabled": false}) }}),
        CfKind::MultiUser => {
            let ids = v["accountIds"].as_array().cloned().unwrap_or_default();
            let ids: Result<Vec<String>, String> = ids.iter().map(user).collect();
            json!({"type": ty, "accountIds": ids?})
        }
        CfKind::Number => match v["number"].as_f64() {
            Some(n) => json!({"type": ty, "number": n}),
            None => return Err("The default number is not valid.".into()),
        },
        CfKind::Text | CfKind::TextArea => match v["text"].as_str() {
            Some(t) if f.kind == CfKind::TextArea || t.chars().count() <= 254 => {
                json!({"type": ty, "text": t})
            }
            _ => return Err("The default text is not valid.".into()),
        },
        CfKind::Date => {
            let use_current = v["useCurrent"].as_bool().unwrap_or(false);
            match v["date"].as_str() {
                Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
                    json!({"type": ty, "date": d, "useCurrent": use_current})
                }
                None if use_current => json!({"type": ty, "useCurrent": true}),
                _ => return Err("The default date is not valid.".into()),
            }
        }
        CfKind::Labels => match v["labels"].as_array() {
            Some(l)
                if l.iter()
                    .all(|x| x.as_str().is_some_and(|s| !s.contains(' '))) =>
            {
                json!({"type": ty, "labels": l})
            }
            _ => return Err("The label can't contain spaces.".into()),
        },
    })
}

/// `PUT /field/{fieldId}/context/defaultValue`: default values of some of the field's contexts,
/// all of one type.
pub fn field_context_defaults_set(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let f = site
        .field(r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?
        .clone();
    let values = b["defaultValues"].as_array().cloned().unwrap_or_default();
    let types: std::collections::BTreeSet<&str> = values
        .iter()
        .map(|v| v["type"].as_str().unwrap_or(""))
        .collect();
    if types.len() > 1 {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "All default values in the request must have the same type.",
        ));
    }
    let mut set = vec![];
    for v in &values {
        let cid = v["contextId"].as_str().unwrap_or("").to_string();
        let c = f
            .context(&cid)
            .ok_or_else(|| r.not_found("The context was not found."))?;
        let d = checked_default(site, &f, c, v).map_err(|m| r.err(StatusCode::BAD_REQUEST, &m))?;
        set.push((cid, d));
    }
    for (cid, d) in set {
        context_mut(site, &f.id, &cid).default = Some(d);
    }
    Ok(no_content())
}

/// The searcher Jira gives a field of each type, and the ones it accepts.
fn searchers(kind: CfKind) -> &'static [&'static str] {
    match kind {
        CfKind::Number => &["exactnumber", "numberrange"],
        CfKind::Select | CfKind::MultiSelect => &["multiselectsearcher"],
        CfKind::Cascading => &["cascadingselectsearcher"],
        CfKind::TextArea | CfKind::Text => &["textsearcher"],
        CfKind::Date => &["daterange"],
        CfKind::User | CfKind::MultiUser => &["userpickergroupsearcher"],
        CfKind::Labels => &["labelsearcher"],
    }
}

/// `POST /field`: a custom field of one of the supported types, with its default (global)
/// context, as Jira Cloud creates it. A `searcherKey` must suit the type.
pub fn field_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    let ty = b["type"].as_str().unwrap_or("");
    if name.is_empty() {
        return Err(jira_field_errors(
            json!({"name": "The custom field name is required."}),
        ));
    }
    let kind = CfKind::ALL
        .into_iter()
        .find(|k| k.type_key() == ty)
        .ok_or_else(|| {
            jira_field_errors(json!({"type": format!("The custom field type '{ty}' is not supported by this stand-in.")}))
        })?;
    if let Some(s) = b["searcherKey"].as_str() {
        let short = s.rsplit(':').next().unwrap_or(s);
        if !searchers(kind).contains(&short) {
            return Err(jira_field_errors(
                json!({"searcherKey": format!("The searcher '{s}' is not valid for the custom field type.")}),
            ));
        }
    }
    let n = site
        .custom_fields
        .iter()
        .map(|f| f.numeric_id)
        .max()
        .unwrap_or(10_000)
        + 1;
    let context = FieldContext {
        id: site.alloc_id().to_string(),
        name: format!("Default Configuration Scheme for {name}"),
        description: "Default configuration scheme generated by Jira".into(),
        project_ids: vec![],
        issue_type_ids: vec![],
        options: vec![],
        default: None,
    };
    let f = CustomField {
        id: format!("customfield_{n}"),
        numeric_id: n,
        name,
        kind,
        contexts: vec![context],
    };
    let v = custom_field_json(&f);
    site.custom_fields.push(f);
    Ok(created(v))
}

/// Why a custom field cannot be set on an issue: Jira's words, keyed by the field.
pub(super) fn not_settable(field: &str) -> String {
    format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown.")
}

/// An issue's new value of a custom field (in the model's shape), checked against the context
/// that applies to the issue's project and type: options of that context by id or value (a
/// cascading select's child under its parent), users the directory has. `Err`: Jira's message.
pub(super) fn custom_value(
    site: &Site,
    f: &CustomField,
    project: u64,
    issue_type: &str,
    v: &Value,
) -> Result<Value, String> {
    let Some(c) = f.context_for(project, issue_type) else {
        return Err(not_settable(&f.id));
    };
    let invalid = || format!("Specify a valid value for {}", f.name);
    let option = |x: &Value, parent: Option<&str>| -> Result<Value, String> {
        let siblings: Vec<&FieldOption> = c
            .options
            .iter()
            .filter(|o| o.parent.as_deref() == parent && !o.disabled)
            .collect();
        let by = json!({"id": x["id"], "name": x["value"]});
        match by_id_or_name(&siblings, &by, |o| &o.id, |o| &o.value) {
            Some(o) => Ok(json!({"id": o.id, "value": o.value})),
            None if x["id"].is_null() => Err(format!(
                "Option value '{}' is not valid",
                x["value"].as_str().unwrap_or_default()
            )),
            None => Err(format!(
                "Option id '{}' is not valid",
                x["id"]
                    .as_str()
                    .map_or_else(|| x["id"].to_string(), String::from)
            )),
        }
    };
    let user = |x: &Value| {
        x["accountId"]
            .as_str()
            .filter(|a| site.user(a).is_some())
            .map(|a| json!(a))
            .ok_or_else(invalid)
    };
    match f.kind {
        CfKind::Number => v.as_f64().map(|n| json!(n)).ok_or_else(invalid),
        CfKind::Text => v.as_str().map(|s| json!(s)).ok_or_else(invalid),
        CfKind::Date => v
            .as_str()
            .filter(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
            .map(|s| json!(s))
            .ok_or_else(invalid),
        CfKind::TextArea => (v["type"] == "doc").then(|| v.clone()).ok_or_else(invalid),
        CfKind::User => user(v),
        CfKind::MultiUser => {
            let users: Result<Vec<Value>, String> =
                v.as_array().ok_or_else(invalid)?.iter().map(user).collect();
            Ok(Value::Array(users?))
        }
        CfKind::Labels => match v.as_array() {
            Some(a)
                if a.iter()
                    .all(|l| l.as_str().is_some_and(|s| !s.contains(' '))) =>
            {
                Ok(Value::Array(a.clone()))
            }
            _ => Err("The label can't contain spaces.".into()),
        },
        CfKind::Select => option(v, None),
        CfKind::MultiSelect => {
            let picked: Result<Vec<Value>, String> = v
                .as_array()
                .ok_or_else(invalid)?
                .iter()
                .map(|x| option(x, None))
                .collect();
            Ok(Value::Array(picked?))
        }
        CfKind::Cascading => {
            let mut parent = option(v, None)?;
            if v["child"].is_object() {
                let pid = parent["id"].as_str().unwrap_or_default().to_string();
                parent["child"] = option(&v["child"], Some(&pid))?;
            }
            Ok(parent)
        }
    }
}

/// A custom field's value on an issue in REST shape: options with `self`, a cascading
/// select's `child`, users as `UserDetails`.
pub(super) fn value_json(site: &Site, base: &str, f: &CustomField, v: &Value) -> Value {
    let option = |v: &Value| {
        let mut o = json!({"self": format!("{base}/rest/api/3/customFieldOption/{}", v["id"].as_str().unwrap_or("")), "value": v["value"], "id": v["id"]});
        if v["child"].is_object() {
            o["child"] = json!({"self": format!("{base}/rest/api/3/customFieldOption/{}", v["child"]["id"].as_str().unwrap_or("")), "value": v["child"]["value"], "id": v["child"]["id"]});
        }
        o
    };
    let user = |a: &Value| super::render::user_details(site, base, a.as_str().unwrap_or(""));
    match (f.kind, v) {
        (CfKind::Select | CfKind::Cascading, v) => option(v),
        (CfKind::MultiSelect, Value::Array(a)) => Value::Array(a.iter().map(option).collect()),
        (CfKind::User, a @ Value::String(_)) => user(a),
        (CfKind::MultiUser, Value::Array(a)) => Value::Array(a.iter().map(user).collect()),
        (_, v) => v.clone(),
    }
}
