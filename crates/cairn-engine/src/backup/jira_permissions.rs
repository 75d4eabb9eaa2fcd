//! Who may see and do what, backed up as one configuration document (`jira/config/access`):
//! permission schemes with their grants, issue security schemes with their levels and each
//! level's members, and each project's permission and issue security scheme, default assignee
//! and URL. A project's lead, description, category and role actors are in its own document;
//! an issue's security level is in its `security` field.

use std::collections::BTreeMap;

use cairn_connectors::Jira;
use cairn_control::jobs::EngineError;
use futures::StreamExt;
use serde_json::{Value, json};

use super::run::{BackupRun, Category};
use super::{read_all, read_all_or_empty};
use crate::json::id_str;
use crate::layout;
use crate::site::{SiteRole::Source, site_error};

/// Reads and stores the access configuration of the site and of `projects` (the listing).
pub(super) async fn backup(
    run: &mut BackupRun<'_>,
    j: &Jira,
    projects: &[Value],
) -> Result<(), EngineError> {
    let (permission_schemes, mut security_schemes) = futures::try_join!(
        read_all_or_empty(j.permission_schemes_with_grants()),
        read_all_or_empty(j.issue_security_schemes()),
    )?;
    // Each scheme's members, side by side, put on their levels.
    let members = futures::future::try_join_all(security_schemes.iter().map(|s| {
        let id = id_str(&s["id"]).unwrap_or_default();
        async move { read_all(j.security_level_members(&id)).await }
    }))
    .await?;
    for (scheme, members) in security_schemes.iter_mut().zip(members) {
        if let Some(levels) = scheme["levels"].as_array_mut() {
            for level in levels {
                let id = id_str(&level["id"]);
                level["members"] = members
                    .iter()
                    .filter(|m| id_str(&m["issueSecurityLevelId"]) == id)
                    .cloned()
                    .collect();
            }
        }
    }
    // A few projects side by side (owned futures: the stream must be `Send` for any lifetime).
    let keys: Vec<String> = projects
        .iter()
        .filter_map(|p| p["key"].as_str().map(String::from))
        .collect();
    let settings: Vec<Result<Value, EngineError>> = futures::stream::iter(keys)
        .map(|key| {
            let j = j.clone();
            async move { project_settings(&j, &key).await }
        })
        .buffered(4)
        .collect()
        .await;
    let mut by_key = BTreeMap::new();
    for s in settings {
        let s = s?;
        by_key.insert(s["key"].as_str().unwrap_or_default().to_string(), s);
    }
    let doc = json!({
        "permissionSchemes": permission_schemes,
        "issueSecuritySchemes": security_schemes,
        "projects": by_key,
    });
    run.put(
        &layout::jira_config("access"),
        &doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await
}

/// One project's schemes (by id and name) and the settings its listing lacks.
async fn project_settings(j: &Jira, key: &str) -> Result<Value, EngineError> {
    let (full, permission, security) = futures::try_join!(
        j.project(key),
        j.project_permission_scheme(key),
        j.project_security_scheme(key),
    )
    .map_err(site_error(Source))?;
    let named = |s: &Value| json!({"id": s["id"], "name": s["name"]});
    Ok(json!({
        "key": key,
        "permissionScheme": named(&permission),
        "issueSecurityScheme": security.as_ref().map(named),
        "assigneeType": full["assigneeType"],
        "url": full["url"],
    }))
}
