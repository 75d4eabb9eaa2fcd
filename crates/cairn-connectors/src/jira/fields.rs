//! Custom fields' configuration (contexts, their options and default values), split from
//! `jira.rs` along the seam between issue data and site configuration.

use super::*;

/// Custom fields' contexts (the projects and issue types each applies to), their options and
/// default values: read for a backup, written by a restore.
impl Jira {
    /// `contextId → [projectId]` and, separately, the global contexts (PageBean).
    pub fn field_project_mappings(&self, field_id: &str) -> Docs {
        self.list(
            Req::get(format!(
                "{API}/field/{}/context/projectmapping",
                seg(field_id)
            )),
            Style::PageBean { max: 50 },
        )
    }
    /// `contextId → issueTypeId`, or `isAnyIssueType` (PageBean).
    pub fn field_issue_type_mappings(&self, field_id: &str) -> Docs {
        self.list(
            Req::get(format!(
                "{API}/field/{}/context/issuetypemapping",
                seg(field_id)
            )),
            Style::PageBean { max: 50 },
        )
    }
    /// The default value of each context that has one (PageBean of `CustomFieldContextDefaultValue`).
    pub fn field_defaults(&self, field_id: &str) -> Docs {
        self.list(
            Req::get(format!(
                "{API}/field/{}/context/defaultValue",
                seg(field_id)
            )),
            Style::PageBean { max: 50 },
        )
    }
    /// Adds to each context (read by [`Jira::custom_fields`]) its `projectIds` and
    /// `issueTypeIds` (empty: global, any issue type) and its `defaultValue` (absent: none).
    /// A field whose contexts Jira does not let the API map (400 or 404) keeps them as listed.
    pub(super) async fn context_details(
        &self,
        field_id: &str,
        contexts: &mut [Value],
    ) -> Result<()> {
        let tolerant = |r: Result<Vec<Value>>| match r {
            Err(Error::Permanent {
                status: 400 | 404, ..
            }) => Ok(vec![]),
            other => other,
        };
        let (projects, types, defaults) = futures::join!(
            self.field_project_mappings(field_id)
                .try_collect::<Vec<_>>(),
            self.field_issue_type_mappings(field_id)
                .try_collect::<Vec<_>>(),
            self.field_defaults(field_id).try_collect::<Vec<_>>(),
        );
        let (projects, types, defaults) =
            (tolerant(projects)?, tolerant(types)?, tolerant(defaults)?);
        for c in contexts.iter_mut() {
            let id = id_string(&c["id"]).unwrap_or_default();
            let of = |list: &[Value], key: &str| -> Vec<Value> {
                list.iter()
                    .filter(|m| id_string(&m["contextId"]).as_deref() == Some(id.as_str()))
                    .filter_map(|m| id_string(&m[key]).map(Value::String))
                    .collect()
            };
            c["projectIds"] = Value::Array(of(&projects, "projectId"));
            c["issueTypeIds"] = Value::Array(of(&types, "issueTypeId"));
            if let Some(d) = defaults
                .iter()
                .find(|d| id_string(&d["contextId"]).as_deref() == Some(id.as_str()))
            {
                c["defaultValue"] = d.clone();
            }
        }
        Ok(())
    }

    /// `POST /field` (`name`, `type`, `searcherKey`, `description`): the new field's document.
    pub async fn create_field(&self, body: &Value) -> Result<Value> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/field"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/field")?;
        Ok(v)
    }
    /// `POST /field/{fieldId}/context` (`name`, `description`, `projectIds`, `issueTypeIds`).
    pub async fn create_field_context(&self, field_id: &str, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/field/{}/context", seg(field_id)),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/field/{fieldId}/context")
    }
    /// `PUT /field/{fieldId}/context/{contextId}/project`: projects added to a context.
    pub async fn add_field_context_projects(
        &self,
        field_id: &str,
        context_id: &str,
        project_ids: &[String],
    ) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!(
                    "{API}/field/{}/context/{}/project",
                    seg(field_id),
                    seg(context_id)
                ),
                json!({"projectIds": project_ids}),
            ))
            .await?;
        Ok(())
    }
    pub async fn delete_field_context(&self, field_id: &str, context_id: &str) -> Result<()> {
        self.t
            .json(Req {
                method: Method::DELETE,
                ..Req::get(format!(
                    "{API}/field/{}/context/{}",
                    seg(field_id),
                    seg(context_id)
                ))
            })
            .await?;
        Ok(())
    }
    /// `POST /field/{fieldId}/context/{contextId}/option` with `options` (`value`, `disabled`,
    /// a cascading child's parent in `optionId`), in batches of 1000 (Jira's limit): the
    /// created options, in order.
    pub async fn create_field_options(
        &self,
        field_id: &str,
        context_id: &str,
        options: &[Value],
    ) -> Result<Vec<Value>> {
        let mut out = vec![];
        for batch in options.chunks(1000) {
            let v = self
                .create(Req::send(
                    Method::POST,
                    format!(
                        "{API}/field/{}/context/{}/option",
                        seg(field_id),
                        seg(context_id)
                    ),
                    json!({"options": batch}),
                ))
                .await?;
            out.extend(v["options"].as_array().cloned().unwrap_or_default());
        }
        Ok(out)
    }
    /// `PUT /field/{fieldId}/context/defaultValue` with `defaultValues` (all of one type).
    pub async fn set_field_defaults(&self, field_id: &str, defaults: &[Value]) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/field/{}/context/defaultValue", seg(field_id)),
                json!({"defaultValues": defaults}),
            ))
            .await?;
        Ok(())
    }
}
