//! Statuses, workflows, workflow schemes and issue type schemes: what a backup reads beyond
//! `workflows_and_schemes`, and what a restore writes (platform v3).

use reqwest::Method;
use serde_json::{Value, json};

use super::{API, Jira, id_string};
use crate::error::{Error, Result};
use crate::paging::{Docs, Style};
use crate::transport::Req;

/// Jira takes at most this many `projectId`s in one scheme-by-project read.
const PROJECTS_PER_READ: usize = 50;

impl Jira {
    /// Every status with its category and scope (`/statuses/search`, PageBean).
    pub fn workflow_statuses(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/statuses/search")),
            Style::PageBean { max: 200 },
        )
    }
    /// The issue types of every issue type scheme: `{issueTypeSchemeId, issueTypeId}` pairs.
    pub fn issue_type_scheme_mappings(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/issuetypescheme/mapping")),
            Style::PageBean { max: 50 },
        )
    }
    /// Which workflow scheme each of `project_ids` uses: `(project id, scheme document)`.
    pub async fn workflow_schemes_of(
        &self,
        project_ids: &[String],
    ) -> Result<Vec<(String, Value)>> {
        let mut out = vec![];
        for chunk in project_ids.chunks(PROJECTS_PER_READ) {
            let mut req = Req::get(format!("{API}/workflowscheme/project"));
            for p in chunk {
                req = req.q("projectId", p);
            }
            let v = self.t.json(req).await?;
            for a in v["values"].as_array().into_iter().flatten() {
                for p in a["projectIds"].as_array().into_iter().flatten() {
                    out.extend(id_string(p).map(|p| (p, a["workflowScheme"].clone())));
                }
            }
        }
        Ok(out)
    }
    /// Which issue type scheme each of `project_ids` uses: `(project id, scheme document)`.
    pub async fn issue_type_schemes_of(
        &self,
        project_ids: &[String],
    ) -> Result<Vec<(String, Value)>> {
        use futures::TryStreamExt;
        let mut out = vec![];
        for chunk in project_ids.chunks(PROJECTS_PER_READ) {
            let mut req = Req::get(format!("{API}/issuetypescheme/project"));
            for p in chunk {
                req = req.q("projectId", p);
            }
            let mut pages = self.list(req, Style::PageBean { max: 50 });
            while let Some(a) = pages.try_next().await? {
                for p in a["projectIds"].as_array().into_iter().flatten() {
                    out.extend(id_string(p).map(|p| (p, a["issueTypeScheme"].clone())));
                }
            }
        }
        Ok(out)
    }

    /// `POST /statuses`: global statuses `{name, statusCategory, description}`; the created ones.
    pub async fn create_statuses(&self, statuses: &[Value]) -> Result<Vec<Value>> {
        let body = json!({"scope": {"type": "GLOBAL"}, "statuses": statuses});
        let v = self
            .t
            .json(Req::send(Method::POST, format!("{API}/statuses"), body))
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }
    /// `POST /workflows/create` with Atlassian's body (`scope`, `statuses`, `workflows`); the
    /// created workflows.
    pub async fn create_workflows(&self, body: &Value) -> Result<Vec<Value>> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{API}/workflows/create"),
                body.clone(),
            ))
            .await?;
        Ok(v["workflows"].as_array().cloned().unwrap_or_default())
    }
    /// `POST /workflowscheme` (`name`, `description`, `defaultWorkflow`, `issueTypeMappings`).
    pub async fn create_workflow_scheme(&self, body: &Value) -> Result<String> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{API}/workflowscheme"),
                body.clone(),
            ))
            .await?;
        id_string(&v["id"]).ok_or_else(|| {
            Error::protocol("POST /rest/api/3/workflowscheme", "no id in the answer")
        })
    }
    /// `POST /issuetypescheme` (`name`, `description`, `defaultIssueTypeId`, `issueTypeIds`).
    pub async fn create_issue_type_scheme(&self, body: &Value) -> Result<String> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{API}/issuetypescheme"),
                body.clone(),
            ))
            .await?;
        id_string(&v["issueTypeSchemeId"]).ok_or_else(|| {
            Error::protocol("POST /rest/api/3/issuetypescheme", "no id in the answer")
        })
    }
    /// `PUT /workflowscheme/project`: only while the project has no issues.
    pub async fn assign_workflow_scheme(&self, project_id: &str, scheme_id: &str) -> Result<()> {
        let body = json!({"projectId": project_id, "workflowSchemeId": scheme_id});
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/workflowscheme/project"),
                body,
            ))
            .await?;
        Ok(())
    }
    /// `PUT /issuetypescheme/project`.
    pub async fn assign_issue_type_scheme(&self, project_id: &str, scheme_id: &str) -> Result<()> {
        let body = json!({"projectId": project_id, "issueTypeSchemeId": scheme_id});
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/issuetypescheme/project"),
                body,
            ))
            .await?;
        Ok(())
    }
}
