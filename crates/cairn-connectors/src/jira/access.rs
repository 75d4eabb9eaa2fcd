//! Who may see and do what (permission schemes, issue security schemes, project settings, role
//! actors, categories), split from `jira.rs` along the seam between issue data and site
//! configuration.

use super::*;

/// Who may see and do what: permission schemes with their grants, issue security schemes with
/// their levels and members, each project's schemes and settings, role actors, categories.
impl Jira {
    /// Every permission scheme with its grants (`expand=permissions`).
    pub fn permission_schemes_with_grants(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/permissionscheme")).q("expand", "permissions"),
            Style::Unpaged {
                key: Some("permissionSchemes"),
            },
        )
    }
    /// Every issue security scheme with its levels (not their members: [`Jira::security_level_members`]).
    pub fn issue_security_schemes(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/issuesecurityschemes")),
            Style::Unpaged {
                key: Some("issueSecuritySchemes"),
            },
        )
    }
    pub async fn issue_security_scheme(&self, id: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/issuesecurityschemes/{}", seg(id))))
            .await
    }
    /// The members of every level of a security scheme (PageBean of `{id, issueSecurityLevelId, holder}`).
    pub fn security_level_members(&self, scheme_id: &str) -> Docs {
        self.list(
            Req::get(format!(
                "{API}/issuesecurityschemes/{}/members",
                seg(scheme_id)
            )),
            Style::PageBean { max: 50 },
        )
    }
    /// The permission scheme a project uses.
    pub async fn project_permission_scheme(&self, project: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!(
                "{API}/project/{}/permissionscheme",
                seg(project)
            )))
            .await
    }
    /// The issue security scheme a project uses, or `None` (Jira answers 404 for a project
    /// without one).
    pub async fn project_security_scheme(&self, project: &str) -> Result<Option<Value>> {
        match self
            .t
            .json(Req::get(format!(
                "{API}/project/{}/issuesecuritylevelscheme",
                seg(project)
            )))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// `POST /permissionscheme` (`name`, `description`, `permissions` with holders); the new id.
    pub async fn create_permission_scheme(&self, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/permissionscheme"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/permissionscheme")
    }
    /// `POST /issuesecurityschemes` (`name`, `description`, `levels` with members); the new id.
    pub async fn create_issue_security_scheme(&self, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/issuesecurityschemes"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/issuesecurityschemes")
    }
    /// `PUT /issuesecurityschemes/{scheme}/level/{level}/member`: adds `members` (`type` and
    /// `parameter`) to a level.
    pub async fn add_security_level_members(
        &self,
        scheme: &str,
        level: &str,
        members: &[Value],
    ) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!(
                    "{API}/issuesecurityschemes/{}/level/{}/member",
                    seg(scheme),
                    seg(level)
                ),
                json!({ "members": members }),
            ))
            .await?;
        Ok(())
    }
    /// `DELETE /issuesecurityschemes/{scheme}/level/{level}/member/{member}`.
    pub async fn remove_security_level_member(
        &self,
        scheme: &str,
        level: &str,
        member: &str,
    ) -> Result<()> {
        self.t
            .json(Req {
                method: Method::DELETE,
                ..Req::get(format!(
                    "{API}/issuesecurityschemes/{}/level/{}/member/{}",
                    seg(scheme),
                    seg(level),
                    seg(member)
                ))
            })
            .await?;
        Ok(())
    }
    /// `POST /projectCategory`; the new id.
    pub async fn create_project_category(&self, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/projectCategory"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/projectCategory")
    }
    /// `PUT /project/{key}/role/{id}`: the role's user actors become `account_ids`.
    pub async fn set_role_actors(
        &self,
        project: &str,
        role_id: &str,
        account_ids: &[String],
    ) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/project/{}/role/{}", seg(project), seg(role_id)),
                json!({"categorisedActors": {"atlassian-user-role-actor": account_ids}}),
            ))
            .await?;
        Ok(())
    }
    /// `PUT /project/{key}` (`UpdateProjectDetails`).
    /// `DELETE /permissionscheme/{id}` (its projects fall back to the default scheme).
    pub async fn delete_permission_scheme(&self, id: &str) -> Result<()> {
        self.t
            .json(Req {
                method: Method::DELETE,
                ..Req::get(format!("{API}/permissionscheme/{}", seg(id)))
            })
            .await?;
        Ok(())
    }
    pub async fn update_project(&self, project: &str, body: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/project/{}", seg(project)),
                body.clone(),
            ))
            .await?;
        Ok(())
    }
}
