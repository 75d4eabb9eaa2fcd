//! What a restore needs to rebuild workflows beyond the documents `config` keeps (workflows
//! with their transitions and rules, workflow schemes with their mappings, issue type
//! schemes): every status with its category and scope (`workflowstatuses`), the issue types
//! of each issue type scheme (`issuetypeschememappings`), and which workflow scheme and issue
//! type scheme each project uses (`projectschemes`). A few requests for the whole site: the
//! by-project reads take 50 projects at a time.

use std::collections::{BTreeMap, HashMap};

use cairn_control::jobs::EngineError;
use serde_json::{Value, json};

use super::read_all;
use super::run::{BackupRun, Category};
use crate::json::{id_str, text};
use crate::layout;
use crate::site::{SiteRole::Source, site_error};

pub(super) async fn config(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    projects: &[Value],
) -> Result<(), EngineError> {
    let ids: Vec<String> = projects.iter().filter_map(|p| id_str(&p["id"])).collect();
    let (statuses, mappings, workflow_schemes, issue_type_schemes) = futures::try_join!(
        read_all(j.workflow_statuses()),
        read_all(j.issue_type_scheme_mappings()),
        async {
            j.workflow_schemes_of(&ids)
                .await
                .map_err(site_error(Source))
        },
        async {
            j.issue_type_schemes_of(&ids)
                .await
                .map_err(site_error(Source))
        },
    )?;
    let workflow_schemes: HashMap<String, Value> = workflow_schemes.into_iter().collect();
    let issue_type_schemes: HashMap<String, Value> = issue_type_schemes.into_iter().collect();
    let by_project: Vec<Value> = projects
        .iter()
        .filter_map(|p| {
            let id = id_str(&p["id"])?;
            Some(json!({
                "projectId": id, "projectKey": text(p, "key"),
                "workflowScheme": workflow_schemes.get(&id),
                "issueTypeScheme": issue_type_schemes.get(&id),
            }))
        })
        .collect();
    for (name, docs) in [
        ("workflowstatuses", statuses),
        ("issuetypeschememappings", mappings),
        ("projectschemes", by_project),
    ] {
        run.put(
            &layout::jira_config(name),
            &Value::Array(docs),
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
    }
    Ok(())
}
