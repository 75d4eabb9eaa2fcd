//! Who may see and do what on a site, as Jira decides it: permission schemes (grants of a
//! project permission to a holder), issue security schemes (levels whose members alone see an
//! issue set to that level), and each project's schemes and settings. The checks here are the
//! ones Jira makes: an account sees an issue when the project's permission scheme grants it
//! `BROWSE_PROJECTS` and, for an issue with a security level, when it is a member of that level.
//!
//! Kept beside the model (`Site::permissions`) rather than in `Project` and `Issue`, except an
//! issue's level (`Issue::security`), which is one of its fields.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::model::{Issue, Project, Site};

/// The id of the permission scheme every site has and every project uses unless set otherwise.
pub const DEFAULT_PERMISSION_SCHEME: u64 = 0;

/// The project permissions the stand-in knows (Jira's keys), in the order schemes list them.
pub const PERMISSION_KEYS: &[&str] = &[
    "ADMINISTER_PROJECTS",
    "BROWSE_PROJECTS",
    "VIEW_DEV_TOOLS",
    "VIEW_READONLY_WORKFLOW",
    "CREATE_ISSUES",
    "EDIT_ISSUES",
    "TRANSITION_ISSUES",
    "SCHEDULE_ISSUES",
    "MOVE_ISSUES",
    "ASSIGN_ISSUES",
    "ASSIGNABLE_USER",
    "RESOLVE_ISSUES",
    "CLOSE_ISSUES",
    "MODIFY_REPORTER",
    "DELETE_ISSUES",
    "LINK_ISSUES",
    "SET_ISSUE_SECURITY",
    "VIEW_VOTERS_AND_WATCHERS",
    "MANAGE_WATCHERS",
    "ADD_COMMENTS",
    "EDIT_ALL_COMMENTS",
    "DELETE_ALL_COMMENTS",
    "CREATE_ATTACHMENTS",
    "DELETE_ALL_ATTACHMENTS",
    "WORK_ON_ISSUES",
    "EDIT_ALL_WORKLOGS",
    "DELETE_ALL_WORKLOGS",
];

/// The group every read-write account of the simulation is put in: the schemes the stand-in
/// makes grant it every permission and every security level, so an administrator sees and does
/// everything (read-only accounts are ordinary users).
pub const ADMINS_GROUP: &str = "site-admins";

/// Whom a grant or a security level member names (Jira's `PermissionHolder`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    Anyone,
    /// Any account with access to Jira (`applicationRole` without a parameter).
    ApplicationRole,
    /// By group name.
    Group(String),
    /// By role id.
    ProjectRole(String),
    /// By account id.
    User(String),
    ProjectLead,
    Reporter,
    Assignee,
}

impl Holder {
    /// Jira's `PermissionHolder` JSON (`type`, `parameter`, `value`).
    pub fn to_json(&self, site: &Site) -> Value {
        match self {
            Holder::Anyone => json!({"type": "anyone"}),
            Holder::ApplicationRole => json!({"type": "applicationRole"}),
            Holder::Group(name) => {
                let id = site
                    .groups
                    .iter()
                    .find(|g| &g.name == name)
                    .map(|g| g.id.clone());
                json!({"type": "group", "parameter": name, "value": id, "expand": "group"})
            }
            Holder::ProjectRole(id) => {
                json!({"type": "projectRole", "parameter": id, "value": id, "expand": "projectRole"})
            }
            Holder::User(a) => {
                json!({"type": "user", "parameter": a, "value": a, "expand": "user"})
            }
            Holder::ProjectLead => json!({"type": "projectLead"}),
            Holder::Reporter => json!({"type": "reporter"}),
            Holder::Assignee => json!({"type": "assignee"}),
        }
    }

    /// A holder from a request (`type` with `parameter` or `value`): groups by name or id,
    /// roles by id, users by account id; `Err` says what is wrong.
    pub fn from_json(site: &Site, v: &Value) -> Result<Holder, String> {
        let param = v["parameter"]
            .as_str()
            .or(v["value"].as_str())
            .map(String::from)
            .or_else(|| v["parameter"].as_u64().map(|n| n.to_string()));
        let need = |what: &str| {
            param
                .clone()
                .ok_or(format!("A {what} holder needs a parameter."))
        };
        Ok(match v["type"].as_str().unwrap_or("") {
            "anyone" => Holder::Anyone,
            "applicationRole" => Holder::ApplicationRole,
            "group" => {
                let p = need("group")?;
                let g = site
                    .groups
                    .iter()
                    .find(|g| g.name == p || g.id == p)
                    .ok_or(format!("Group '{p}' does not exist."))?;
                Holder::Group(g.name.clone())
            }
            "projectRole" => {
                let p = need("projectRole")?;
                site.roles
                    .iter()
                    .find(|r| r.id == p)
                    .ok_or(format!("Project role '{p}' does not exist."))?;
                Holder::ProjectRole(p)
            }
            "user" => {
                let p = need("user")?;
                site.user(&p).ok_or(format!("User '{p}' does not exist."))?;
                Holder::User(p)
            }
            "projectLead" => Holder::ProjectLead,
            "reporter" => Holder::Reporter,
            "assignee" => Holder::Assignee,
            other => return Err(format!("The holder type '{other}' is not valid.")),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Grant {
    pub id: u64,
    pub permission: String,
    pub holder: Holder,
}

#[derive(Clone, Debug)]
pub struct PermissionScheme {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub grants: Vec<Grant>,
}

#[derive(Clone, Debug)]
pub struct SecurityLevel {
    pub id: u64,
    pub name: String,
    pub description: String,
    /// (member id, holder)
    pub members: Vec<(u64, Holder)>,
}

#[derive(Clone, Debug)]
pub struct SecurityScheme {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub default_level: Option<u64>,
    pub levels: Vec<SecurityLevel>,
}

/// A project's schemes and the settings `Project` does not hold.
#[derive(Clone, Debug)]
pub struct ProjectSettings {
    pub permission_scheme: u64,
    pub security_scheme: Option<u64>,
    /// `PROJECT_LEAD` or `UNASSIGNED`.
    pub assignee_type: String,
    pub url: String,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            permission_scheme: DEFAULT_PERMISSION_SCHEME,
            security_scheme: None,
            assignee_type: "UNASSIGNED".into(),
            url: String::new(),
        }
    }
}

/// Everything of a site's access configuration.
#[derive(Clone, Debug, Default)]
pub struct Permissions {
    pub schemes: Vec<PermissionScheme>,
    pub security_schemes: Vec<SecurityScheme>,
    /// By project id; a project without an entry has the defaults.
    pub projects: BTreeMap<u64, ProjectSettings>,
}

impl Permissions {
    pub fn scheme(&self, id: u64) -> Option<&PermissionScheme> {
        self.schemes.iter().find(|s| s.id == id)
    }
    pub fn security_scheme(&self, id: u64) -> Option<&SecurityScheme> {
        self.security_schemes.iter().find(|s| s.id == id)
    }
    pub fn settings(&self, project: u64) -> ProjectSettings {
        self.projects.get(&project).cloned().unwrap_or_default()
    }
    /// The level of this id in any scheme, with its scheme.
    pub fn level(&self, id: u64) -> Option<(&SecurityScheme, &SecurityLevel)> {
        self.security_schemes
            .iter()
            .find_map(|s| s.levels.iter().find(|l| l.id == id).map(|l| (s, l)))
    }
}

/// The Default Permission Scheme of a new Jira: every permission to any account with Jira
/// access, administration to the project's Administrators; and every permission to the site's
/// administrators' group.
pub fn default_scheme() -> PermissionScheme {
    let mut grants = vec![];
    let mut id = 10_000;
    for key in PERMISSION_KEYS {
        let holders = match *key {
            "ADMINISTER_PROJECTS" => vec![Holder::ProjectRole("10002".into())],
            _ => vec![Holder::ApplicationRole],
        };
        for holder in holders
            .into_iter()
            .chain([Holder::Group(ADMINS_GROUP.into())])
        {
            id += 1;
            grants.push(Grant {
                id,
                permission: key.to_string(),
                holder,
            });
        }
    }
    PermissionScheme {
        id: DEFAULT_PERMISSION_SCHEME,
        name: "Default Permission Scheme".into(),
        description: "This is the default Permission Scheme. Any new projects that are created will be assigned this scheme.".into(),
        grants,
    }
}

/// One account as the checks see it: its id and its groups.
pub struct Viewer<'a> {
    pub account: &'a str,
    groups: HashSet<&'a str>,
}

impl<'a> Viewer<'a> {
    pub fn new(site: &'a Site, account: &'a str) -> Viewer<'a> {
        let groups = site
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == account))
            .map(|g| g.name.as_str())
            .collect();
        Viewer { account, groups }
    }

    /// Whether `holder` names this account, for `project` and, when given, `issue`.
    fn is(&self, holder: &Holder, project: &Project, issue: Option<&Issue>) -> bool {
        match holder {
            Holder::Anyone | Holder::ApplicationRole => true,
            Holder::Group(g) => self.groups.contains(g.as_str()),
            Holder::ProjectRole(r) => r.parse::<u64>().is_ok_and(|r| {
                project
                    .role_actors
                    .get(&r)
                    .is_some_and(|a| a.iter().any(|a| a == self.account))
            }),
            Holder::User(a) => a == self.account,
            Holder::ProjectLead => project.lead == self.account,
            Holder::Reporter => issue.is_some_and(|i| i.reporter == self.account),
            Holder::Assignee => issue.is_some_and(|i| i.assignee.as_deref() == Some(self.account)),
        }
    }

    /// Whether the project's scheme grants `permission` (for `issue`, when given: reporter and
    /// assignee grants count only for an issue).
    pub fn may(
        &self,
        site: &Site,
        project: &Project,
        issue: Option<&Issue>,
        permission: &str,
    ) -> bool {
        let settings = site.permissions.settings(project.id);
        let Some(scheme) = site.permissions.scheme(settings.permission_scheme) else {
            return false;
        };
        scheme
            .grants
            .iter()
            .any(|g| g.permission == permission && self.is(&g.holder, project, issue))
    }

    /// Whether this account sees the issue: `BROWSE_PROJECTS`, and membership of its level.
    pub fn sees(&self, site: &Site, issue: &Issue) -> bool {
        let Some(project) = site.projects.get(&issue.project_id) else {
            return false;
        };
        if !self.may(site, project, Some(issue), "BROWSE_PROJECTS") {
            return false;
        }
        match issue.security.as_deref() {
            None => true,
            Some(level) => self.in_level(site, project, issue, level),
        }
    }

    /// Whether this account is a member of the security level `level` (its id) for `issue`:
    /// it sees the issues at that level, and only a member may put an issue at it.
    pub fn in_level(&self, site: &Site, project: &Project, issue: &Issue, level: &str) -> bool {
        match level.parse().ok().and_then(|l| site.permissions.level(l)) {
            None => true,
            Some((_, level)) => level
                .members
                .iter()
                .any(|(_, h)| self.is(h, project, Some(issue))),
        }
    }

    /// Whether this account may browse the project at all (some issue of it may be hidden):
    /// a project-wide grant, or a reporter or assignee grant and an issue of the project this
    /// account reports or is assigned.
    pub fn browses(&self, site: &Site, project: &Project) -> bool {
        if self.may(site, project, None, "BROWSE_PROJECTS") {
            return true;
        }
        let by_issue = site
            .permissions
            .scheme(site.permissions.settings(project.id).permission_scheme)
            .is_some_and(|s| {
                s.grants.iter().any(|g| {
                    g.permission == "BROWSE_PROJECTS"
                        && matches!(g.holder, Holder::Reporter | Holder::Assignee)
                })
            });
        by_issue
            && site
                .issues
                .values()
                .any(|i| i.project_id == project.id && self.sees(site, i))
    }
}

/// Puts an account in the site administrators' group (made if the site lacks it): the schemes
/// grant that group every permission and every security level.
pub fn enrol_admin(site: &mut Site, account: &str) {
    if !site.groups.iter().any(|g| g.name == ADMINS_GROUP) {
        site.groups.push(crate::model::Group {
            id: crate::model::uuid_like(&format!("{}:{ADMINS_GROUP}", site.seed)),
            name: ADMINS_GROUP.into(),
            members: vec![],
        });
    }
    let g = site
        .groups
        .iter_mut()
        .find(|g| g.name == ADMINS_GROUP)
        .unwrap();
    if !g.members.iter().any(|m| m == account) {
        g.members.push(account.to_string());
    }
}
