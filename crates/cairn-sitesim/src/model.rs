//! The in-memory model of one site (Jira and Confluence content plus the site's directory).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::jql::SortKey;

pub type Ts = DateTime<Utc>;

/// The id of the sub-task issue type (the stand-in's issue types are fixed).
pub const SUBTASK_TYPE: &str = "10004";
#[derive(Clone, Debug)]
pub struct User {
    pub account_id: String,
    pub display_name: String,
    pub email: String,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct IssueType {
    pub id: String,
    pub name: String,
    pub description: String,
    pub subtask: bool,
    pub hierarchy_level: i32,
}

#[derive(Clone, Debug)]
pub struct Status {
    pub id: String,
    pub name: String,
    /// 2 = new (To Do), 4 = indeterminate (In Progress), 3 = done.
    pub category: u32,
}

#[derive(Clone, Debug)]
pub struct Named {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct LinkType {
    pub id: String,
    pub name: String,
    pub inward: String,
    pub outward: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CfKind {
    Number,
    Select,
    MultiSelect,
    TextArea,
    Text,
    Date,
    User,
    Cascading,
    MultiUser,
    Labels,
}

impl CfKind {
    /// Every kind the stand-in serves (and `POST /field` creates).
    pub const ALL: [CfKind; 10] = [
        CfKind::Number,
        CfKind::Select,
        CfKind::MultiSelect,
        CfKind::TextArea,
        CfKind::Text,
        CfKind::Date,
        CfKind::User,
        CfKind::Cascading,
        CfKind::MultiUser,
        CfKind::Labels,
    ];
    pub fn type_key(self) -> &'static str {
        match self {
            CfKind::Number => "com.atlassian.jira.plugin.system.customfieldtypes:float",
            CfKind::Select => "com.atlassian.jira.plugin.system.customfieldtypes:select",
            CfKind::MultiSelect => "com.atlassian.jira.plugin.system.customfieldtypes:multiselect",
            CfKind::TextArea => "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
            CfKind::Text => "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
            CfKind::Date => "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
            CfKind::User => "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
            CfKind::Cascading => {
                "com.atlassian.jira.plugin.system.customfieldtypes:cascadingselect"
            }
            CfKind::MultiUser => {
                "com.atlassian.jira.plugin.system.customfieldtypes:multiuserpicker"
            }
            CfKind::Labels => "com.atlassian.jira.plugin.system.customfieldtypes:labels",
        }
    }
    pub fn schema_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            CfKind::Number => ("number", None),
            CfKind::Select => ("option", None),
            CfKind::MultiSelect => ("array", Some("option")),
            CfKind::TextArea | CfKind::Text => ("string", None),
            CfKind::Date => ("date", None),
            CfKind::User => ("user", None),
            CfKind::Cascading => ("option-with-child", None),
            CfKind::MultiUser => ("array", Some("user")),
            CfKind::Labels => ("array", Some("string")),
        }
    }
    /// Whether its values are options of the field's contexts.
    pub fn has_options(self) -> bool {
        matches!(
            self,
            CfKind::Select | CfKind::MultiSelect | CfKind::Cascading
        )
    }
}

/// An option of a custom field's context; a cascading select's child options name their parent.
#[derive(Clone, Debug)]
pub struct FieldOption {
    pub id: String,
    pub value: String,
    /// For a cascading select's child option, the id of its parent option.
    pub parent: Option<String>,
    pub disabled: bool,
}

/// A custom field context: the projects and issue types a field applies to (none: all), with
/// its own options and default value.
#[derive(Clone, Debug)]
pub struct FieldContext {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Empty: a global context.
    pub project_ids: Vec<u64>,
    /// Empty: any issue type.
    pub issue_type_ids: Vec<String>,
    pub options: Vec<FieldOption>,
    /// The default value as `GET .../context/defaultValue` gives it, without `contextId`.
    pub default: Option<Value>,
}

impl FieldContext {
    pub fn is_global(&self) -> bool {
        self.project_ids.is_empty()
    }
    fn covers_type(&self, issue_type: &str) -> bool {
        self.issue_type_ids.is_empty() || self.issue_type_ids.iter().any(|t| t == issue_type)
    }
}

#[derive(Clone, Debug)]
pub struct CustomField {
    pub id: String,
    pub numeric_id: u64,
    pub name: String,
    pub kind: CfKind,
    pub contexts: Vec<FieldContext>,
}

impl CustomField {
    pub fn context(&self, id: &str) -> Option<&FieldContext> {
        self.contexts.iter().find(|c| c.id == id)
    }
    /// The context that applies to an issue of this project and type, as Jira picks it: one
    /// scoped to the project before a global one. `None`: the field cannot be set there.
    pub fn context_for(&self, project: u64, issue_type: &str) -> Option<&FieldContext> {
        let scoped = self
            .contexts
            .iter()
            .find(|c| c.project_ids.contains(&project) && c.covers_type(issue_type));
        scoped.or_else(|| {
            self.contexts
                .iter()
                .find(|c| c.is_global() && c.covers_type(issue_type))
        })
    }
}

#[derive(Clone, Debug)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub description: String,
    pub lead: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Version {
    pub id: String,
    pub name: String,
    pub description: String,
    pub released: bool,
    pub archived: bool,
    pub release_date: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Project {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub lead: String,
    pub type_key: String,
    pub components: Vec<Component>,
    pub versions: Vec<Version>,
    /// Last issue number handed out (keys are assigned by the site).
    pub issue_counter: u64,
    /// role id -> account ids
    pub role_actors: BTreeMap<u64, Vec<String>>,
    /// Id of its project category, if any.
    pub category: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub body: Value,
    pub created: Ts,
    pub updated: Ts,
}

#[derive(Clone, Debug)]
pub struct Worklog {
    pub id: u64,
    pub author: String,
    pub comment: Option<Value>,
    pub started: Ts,
    pub time_spent_seconds: u64,
    pub created: Ts,
    pub updated: Ts,
}

#[derive(Clone, Debug)]
pub struct ChangeItem {
    pub field: String,
    pub field_id: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

#[derive(Clone, Debug)]
pub struct History {
    pub id: u64,
    pub author: String,
    pub created: Ts,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone, Debug)]
pub struct RemoteLink {
    pub id: u64,
    pub global_id: Option<String>,
    pub url: String,
    pub title: String,
    pub relationship: Option<String>,
}

/// The change-log field under which Jira records a remote link added to an issue.
pub const REMOTE_LINK_FIELD: &str = "RemoteIssueLink";

impl RemoteLink {
    /// The change-log item Jira writes when this link is added: field `RemoteIssueLink`, `to` the
    /// link's id. Clients that read issues in bulk (no bulk read of remote links exists) take it
    /// as the sign that an issue has or had remote links.
    pub fn added(&self) -> ChangeItem {
        ChangeItem {
            field: REMOTE_LINK_FIELD.into(),
            field_id: REMOTE_LINK_FIELD.into(),
            from: None,
            from_string: None,
            to: Some(self.id.to_string()),
            to_string: Some(format!("This issue links to \"{}\"", self.title)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub project_id: u64,
    pub number: u64,
    pub issuetype: String,
    pub summary: String,
    pub description: Option<Value>,
    pub status: String,
    pub priority: String,
    pub resolution: Option<String>,
    pub assignee: Option<String>,
    pub reporter: String,
    pub creator: String,
    pub created: Ts,
    pub updated: Ts,
    pub labels: Vec<String>,
    pub components: Vec<String>,
    pub fix_versions: Vec<String>,
    pub parent: Option<u64>,
    pub sprint: Option<u64>,
    /// customfield id -> stored value (already in REST shape)
    pub custom: BTreeMap<String, Value>,
    pub comments: Vec<Comment>,
    pub worklogs: Vec<Worklog>,
    pub histories: Vec<History>,
    pub remote_links: Vec<RemoteLink>,
    pub watchers: Vec<String>,
    pub properties: BTreeMap<String, Value>,
    /// Id of its issue security level, if any (only the level's members see the issue).
    pub security: Option<String>,
}

impl Issue {
    /// An issue of `project_id` with no content yet, reported and created by `author` at `at`:
    /// no id or key (the caller assigns them), priority 3 (Medium), every list empty.
    pub fn blank(project_id: u64, author: &str, at: Ts) -> Issue {
        Issue {
            id: 0,
            key: String::new(),
            project_id,
            number: 0,
            issuetype: String::new(),
            summary: String::new(),
            description: None,
            status: String::new(),
            priority: "3".into(),
            resolution: None,
            assignee: None,
            reporter: author.to_string(),
            creator: author.to_string(),
            created: at,
            updated: at,
            labels: vec![],
            components: vec![],
            fix_versions: vec![],
            parent: None,
            sprint: None,
            custom: BTreeMap::new(),
            comments: vec![],
            worklogs: vec![],
            histories: vec![],
            remote_links: vec![],
            watchers: vec![],
            properties: BTreeMap::new(),
            security: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct IssueLink {
    pub id: u64,
    pub type_id: String,
    pub inward: u64,
    pub outward: u64,
}

/// Attachment content: generated on the fly from a seed, or a range of an uploaded body's file
/// in the site's upload directory (deleted when the last attachment using it goes).
#[derive(Clone, Debug)]
pub enum Blob {
    Gen {
        seed: u64,
        size: u64,
    },
    File {
        file: Arc<tempfile::TempPath>,
        offset: u64,
        size: u64,
    },
}

impl Blob {
    pub fn size(&self) -> u64 {
        match self {
            Blob::Gen { size, .. } | Blob::File { size, .. } => *size,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: u64,
    pub issue_id: u64,
    pub filename: String,
    pub mime: String,
    pub author: String,
    pub created: Ts,
    pub blob: Blob,
}

#[derive(Clone, Debug)]
pub struct Board {
    pub id: u64,
    pub name: String,
    pub kind: String,
    pub project_id: u64,
}

#[derive(Clone, Debug)]
pub struct Sprint {
    pub id: u64,
    pub board_id: u64,
    pub name: String,
    pub state: String,
    pub goal: String,
    pub start: Option<Ts>,
    pub end: Option<Ts>,
}

// ---------------------------------------------------------------- Confluence

#[derive(Clone, Debug)]
pub struct Space {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub personal: bool,
    pub author: String,
    pub created: Ts,
    pub homepage_id: Option<u64>,
    pub description: String,
    /// Who may do what in the space: reading it needs a `read`/`space` permission that lets
    /// the account through.
    pub permissions: Vec<SpacePermission>,
    /// The space's own labels (not its pages').
    pub labels: Vec<String>,
    /// Space properties (v2 `/spaces/{id}/properties`).
    pub properties: Vec<CProperty>,
    /// Archived (`status: archived`): still readable and editable, left out of what lists
    /// current spaces only.
    pub archived: bool,
}

/// Whom a space permission is given to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An account id.
    User(String),
    /// A group, by name.
    Group(String),
    /// Everyone, signed in or not.
    Anonymous,
}

/// One space permission: an operation (`read`, `create`, `administer`, ...) on a target
/// (`space`, `page`, `blogpost`, `comment`, `attachment`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpacePermission {
    pub id: u64,
    pub principal: Principal,
    pub key: String,
    pub target: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    Page,
    BlogPost,
}

#[derive(Clone, Debug)]
pub struct CVersion {
    pub number: u64,
    pub author: String,
    pub created: Ts,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct CProperty {
    pub id: u64,
    pub key: String,
    pub value: Value,
    pub version: u64,
}

#[derive(Clone, Debug)]
pub struct Page {
    pub id: u64,
    pub kind: PageKind,
    pub space_id: u64,
    pub parent_id: Option<u64>,
    pub position: i64,
    pub title: String,
    pub author: String,
    pub created: Ts,
    pub version: CVersion,
    /// storage format (XHTML); the canonical body.
    pub storage: String,
    /// ADF, kept when the page was written as ADF (or generated).
    pub adf: Value,
    pub labels: Vec<String>,
    pub properties: Vec<CProperty>,
    /// Who may read and who may edit it (empty: no restriction).
    pub restrictions: Restrictions,
}

/// The accounts and groups one restriction lets through; empty: the operation is not
/// restricted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restriction {
    /// Account ids.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

impl Restriction {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// A page's or blog post's restrictions. A read restriction applies to the page's descendants
/// too (Confluence inherits read restrictions down the tree); an update restriction only to
/// the page itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restrictions {
    pub read: Restriction,
    pub update: Restriction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    Footer,
    Inline,
}

#[derive(Clone, Debug)]
pub struct CComment {
    pub id: u64,
    pub kind: CommentKind,
    pub container: u64,
    pub parent_comment: Option<u64>,
    pub author: String,
    pub created: Ts,
    pub version: u64,
    pub storage: String,
    pub adf: Value,
    pub resolved: bool,
    pub inline_ref: String,
    pub inline_text: String,
}

#[derive(Clone, Debug)]
pub struct CAttachment {
    pub id: u64,
    pub container: u64,
    pub title: String,
    pub media_type: String,
    pub comment: String,
    pub author: String,
    pub created: Ts,
    pub version: u64,
    pub file_id: String,
    pub blob: Blob,
}

/// Sorted results of recent JQL searches (by query text), so that each further page of a search
/// costs O(page). Emptied by every write to the site; a clone starts empty.
#[derive(Debug, Default)]
pub struct SearchCache(Mutex<HashMap<String, Arc<Hits>>>);

/// A search's matching issues in order: (sort key, issue id).
pub type Hits = Vec<(SortKey, u64)>;

impl Clone for SearchCache {
    fn clone(&self) -> Self {
        SearchCache::default()
    }
}

impl SearchCache {
    /// The cached result of `jql`, or `run`'s (then cached; at most 32 queries are kept).
    pub fn get_or_run(&self, jql: &str, run: impl FnOnce() -> Hits) -> Arc<Hits> {
        if let Some(hit) = self.0.lock().unwrap().get(jql) {
            return hit.clone();
        }
        let hits = Arc::new(run());
        let mut cache = self.0.lock().unwrap();
        if cache.len() >= 32 {
            cache.clear();
        }
        cache.insert(jql.to_string(), hits.clone());
        hits
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// One whole site: the Jira and Confluence halves and their shared user directory.
#[derive(Clone, Debug, Default)]
pub struct Site {
    pub name: String,
    pub cloud_id: String,
    pub seed: u64,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub issue_types: Vec<IssueType>,
    pub statuses: Vec<Status>,
    pub priorities: Vec<Named>,
    pub resolutions: Vec<Named>,
    pub project_categories: Vec<Named>,
    pub link_types: Vec<LinkType>,
    pub roles: Vec<Named>,
    pub custom_fields: Vec<CustomField>,
    pub projects: BTreeMap<u64, Project>,
    pub issues: BTreeMap<u64, Issue>,
    pub issue_keys: HashMap<String, u64>,
    pub links: BTreeMap<u64, IssueLink>,
    pub attachments: BTreeMap<u64, Attachment>,
    pub boards: BTreeMap<u64, Board>,
    pub sprints: BTreeMap<u64, Sprint>,
    pub spaces: BTreeMap<u64, Space>,
    pub pages: BTreeMap<u64, Page>,
    pub ccomments: BTreeMap<u64, CComment>,
    pub cattachments: BTreeMap<u64, CAttachment>,
    /// Next id for every kind of object (one counter keeps ids unique site-wide).
    pub next_id: u64,
    pub mutations: u64,
    /// Largest upload body accepted, in bytes.
    pub upload_limit: u64,
    pub search_cache: SearchCache,
    /// Permission and issue security schemes, each project's schemes and settings.
    pub permissions: crate::permission::Permissions,
    /// Workflows, workflow schemes, issue type schemes and which of them each project uses.
    pub flows: crate::workflows::Flows,
}

impl Site {
    pub fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    pub fn user(&self, account_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.account_id == account_id)
    }
    pub fn issue_by_ref(&self, id_or_key: &str) -> Option<&Issue> {
        let id = match id_or_key.parse::<u64>() {
            Ok(id) => id,
            Err(_) => *self.issue_keys.get(&id_or_key.to_ascii_uppercase())?,
        };
        self.issues.get(&id)
    }
    pub fn issue_id(&self, id_or_key: &str) -> Option<u64> {
        self.issue_by_ref(id_or_key).map(|i| i.id)
    }
    pub fn project_by_ref(&self, id_or_key: &str) -> Option<&Project> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.projects.get(&id);
        }
        self.projects
            .values()
            .find(|p| p.key.eq_ignore_ascii_case(id_or_key))
    }
    pub fn field(&self, id: &str) -> Option<&CustomField> {
        self.custom_fields.iter().find(|f| f.id == id)
    }
    /// Removes an issue with what hangs off it.
    pub fn remove_issue(&mut self, id: u64) {
        if let Some(issue) = self.issues.remove(&id) {
            self.issue_keys.remove(&issue.key);
            self.links.retain(|_, l| l.inward != id && l.outward != id);
            self.attachments.retain(|_, a| a.issue_id != id);
            // As Jira does: the sub-tasks go with their parent (a sub-task cannot be without
            // one); other children (an epic's) lose their parent.
            let children: Vec<(u64, bool)> = self
                .issues
                .values()
                .filter(|i| i.parent == Some(id))
                .map(|i| (i.id, i.issuetype == SUBTASK_TYPE))
                .collect();
            for (child, subtask) in children {
                if subtask {
                    self.remove_issue(child);
                } else if let Some(i) = self.issues.get_mut(&child) {
                    i.parent = None;
                }
            }
        }
    }
    /// Whether `account` is one of the accounts or in one of the groups `r` names.
    fn lets_through(&self, r: &Restriction, account: &str) -> bool {
        r.users.iter().any(|u| u == account)
            || self
                .groups
                .iter()
                .any(|g| r.groups.contains(&g.name) && g.members.iter().any(|m| m == account))
    }
    /// Whether the space gives `account` the permission `key` on `target`.
    pub fn space_allows(&self, account: &str, space_id: u64, key: &str, target: &str) -> bool {
        let Some(space) = self.spaces.get(&space_id) else {
            return false;
        };
        space.permissions.iter().any(|p| {
            p.key == key
                && p.target == target
                && match &p.principal {
                    Principal::Anonymous => true,
                    Principal::User(u) => u == account,
                    Principal::Group(g) => self
                        .groups
                        .iter()
                        .any(|x| &x.name == g && x.members.iter().any(|m| m == account)),
                }
        })
    }
    /// Whether `account` may see the space (its `read` permission).
    pub fn may_read_space(&self, account: &str, space_id: u64) -> bool {
        self.space_allows(account, space_id, "read", "space")
    }
    /// Whether `account` may read the page or blog post: it may read the space, and neither
    /// the page nor any ancestor has a read restriction that leaves the account out. A page
    /// that does not exist is not readable.
    pub fn may_read_page(&self, account: &str, id: u64) -> bool {
        let mut at = self.pages.get(&id);
        match at {
            Some(p) if self.may_read_space(account, p.space_id) => {}
            _ => return false,
        }
        let mut seen = 0;
        while let Some(p) = at {
            let r = &p.restrictions.read;
            if !r.is_empty() && !self.lets_through(r, account) {
                return false;
            }
            seen += 1;
            if seen > self.pages.len() {
                break;
            }
            at = p.parent_id.and_then(|pid| self.pages.get(&pid));
        }
        true
    }
    /// Whether `account` may edit the page or blog post: it reads it, and the page's own update
    /// restriction (not inherited) lets it through.
    pub fn may_update_page(&self, account: &str, id: u64) -> bool {
        self.may_read_page(account, id)
            && self.pages.get(&id).is_some_and(|p| {
                p.restrictions.update.is_empty()
                    || self.lets_through(&p.restrictions.update, account)
            })
    }
    pub fn remove_page(&mut self, id: u64) {
        if let Some(p) = self.pages.remove(&id) {
            for c in self.pages.values_mut() {
                if c.parent_id == Some(id) {
                    c.parent_id = p.parent_id;
                }
            }
            self.ccomments.retain(|_, c| c.container != id);
            self.cattachments.retain(|_, a| a.container != id);
            for s in self.spaces.values_mut() {
                if s.homepage_id == Some(id) {
                    s.homepage_id = None;
                }
            }
        }
    }
}

/// A UUID-shaped id derived from `seed` (cloud ids, group ids, accountIds).
pub fn uuid_like(seed: &str) -> String {
    let h = blake3::hash(seed.as_bytes()).to_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn jira_ts(t: &Ts) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

pub fn conf_ts(t: &Ts) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
