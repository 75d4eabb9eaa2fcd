//! Jira Cloud: the platform REST API v3 and the Jira Software (agile) API 1.0.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::paging::{Docs, Style, post_req, walk};
use crate::transport::{Body, Download, Req, Transport, Upload};

mod access;
mod fields;
mod issues;
mod workflows;

pub use issues::Watching;

const API: &str = "/rest/api/3";
const AGILE: &str = "/rest/agile/1.0";

/// Fields of an issue that Jira sets itself: never sent on create (Jira answers "cannot be set").
pub const READ_ONLY_ISSUE_FIELDS: &[&str] = &[
    "created",
    "updated",
    "creator",
    "status",
    "statuscategorychangedate",
    "resolutiondate",
    "lastViewed",
    "votes",
    "watches",
    "worklog",
    "comment",
    "issuelinks",
    "attachment",
    "subtasks",
    "progress",
    "aggregateprogress",
    "timespent",
    "aggregatetimespent",
    "aggregatetimeestimate",
    "aggregatetimeoriginalestimate",
    "timeestimate",
    "workratio",
    "resolution",
    "thumbnail",
];

/// Keys of comments and worklogs the site assigns (id, author, times).
const READ_ONLY_ENTRY_KEYS: &[&str] = &[
    "id",
    "self",
    "author",
    "updateAuthor",
    "created",
    "updated",
    "issueId",
    "renderedBody",
    "jsdPublic",
];

/// An issue as a destination site created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedIssue {
    pub id: String,
    pub key: String,
}

/// A project as a destination site created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedProject {
    pub id: String,
    pub key: String,
}

/// Everything about one issue that its search document does not carry.
#[derive(Clone, Debug, Default)]
pub struct IssueDetails {
    pub changelog: Vec<Value>,
    pub comments: Vec<Value>,
    pub worklogs: Vec<Value>,
    pub remote_links: Vec<Value>,
    /// The `/watchers` document (`watchCount`, `watchers[]`).
    pub watchers: Value,
    /// `(key, value)` of every issue property.
    pub properties: Vec<(String, Value)>,
}

/// A Jira site. Cheap to clone; clones share the transport (and its concurrency bound).
#[derive(Clone, Debug)]
pub struct Jira {
    pub(crate) t: Arc<Transport>,
}

/// `"yyyy/MM/dd HH:mm"` as JQL wants it. Jira reads it in the account's time zone: give the
/// time in that zone, or subtract a margin that covers the offset.
pub fn jql_time(t: DateTime<Utc>) -> String {
    format!("\"{}\"", t.format("%Y/%m/%d %H:%M"))
}

/// JQL of the issues of `projects` updated at or after `since` (all of them when `None`),
/// in key order.
pub fn jql_for(projects: &[&str], since: Option<DateTime<Utc>>) -> String {
    let mut q = match projects {
        [one] => format!("project = {one}"),
        many => format!("project in ({})", many.join(", ")),
    };
    if let Some(s) = since {
        q.push_str(&format!(" AND updated >= {}", jql_time(s)));
    }
    q.push_str(" ORDER BY key ASC");
    q
}

/// JQL of the issues `account_id` watches, updated at or after `since` when given.
pub fn jql_watched_by(account_id: &str, since: Option<DateTime<Utc>>) -> String {
    let quoted = account_id.replace('\\', "\\\\").replace('"', "\\\"");
    let mut q = format!("watcher = \"{quoted}\"");
    if let Some(s) = since {
        q.push_str(&format!(" AND updated >= {}", jql_time(s)));
    }
    q
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn without(mut v: Value, keys: &[&str]) -> Value {
    if let Value::Object(m) = &mut v {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

fn need_id(v: &Value, call: &str) -> Result<String> {
    id_string(&v["id"]).ok_or_else(|| Error::protocol(call, "no id in the answer"))
}

/// `{issueIdOrKey}` etc. in a path: keys and ids are plain, but be safe with anything else.
fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Jira {
    fn list(&self, req: Req, style: Style) -> Docs {
        walk(&self.t, req, style)
    }
    /// A bare array in one answer.
    fn array(&self, path: String) -> Docs {
        self.list(Req::get(path), Style::Unpaged { key: None })
    }

    // ------------------------------------------------------------------ site
    pub async fn server_info(&self) -> Result<Value> {
        self.t.json(Req::get(format!("{API}/serverInfo"))).await
    }
    pub async fn myself(&self) -> Result<Value> {
        self.t.json(Req::get(format!("{API}/myself"))).await
    }

    // -------------------------------------------------------------- projects
    /// Every project (PageBean), with description, lead, issue types, URL and category.
    pub fn projects(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/project/search"))
                .q(
                    "expand",
                    "description,lead,issueTypes,url,projectKeys,insight",
                )
                .q("orderBy", "key"),
            Style::PageBean { max: 100 },
        )
    }
    pub async fn project(&self, key: &str) -> Result<Value> {
        self.t
            .json(
                Req::get(format!("{API}/project/{}", seg(key)))
                    .q("expand", "description,lead,issueTypes,url,projectKeys"),
            )
            .await
    }
    pub fn components(&self, project: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/project/{}/components", seg(project))),
            Style::Unpaged { key: None },
        )
    }
    pub fn versions(&self, project: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/project/{}/version", seg(project))),
            Style::PageBean { max: 50 },
        )
    }
    /// Each project role with its actors (`/project/{key}/role` names them, one call each).
    pub fn project_roles(&self, project: &str) -> Docs {
        let t = self.t.clone();
        let project = project.to_string();
        let path = format!("{API}/project/{}/role", seg(&project));
        futures::stream::once(async move { t.json(Req::get(path)).await.map(|v| (t, v)) })
            .map_ok(move |(t, roles)| {
                let project = project.clone();
                let ids: Vec<String> = roles
                    .as_object()
                    .into_iter()
                    .flat_map(Map::values)
                    .filter_map(|u| u.as_str()?.rsplit('/').next().map(String::from))
                    .collect();
                // The roles side by side (within the site's concurrency bound), in order.
                futures::stream::iter(ids)
                    .map(move |id| {
                        let t = t.clone();
                        let path = format!("{API}/project/{}/role/{id}", seg(&project));
                        async move { t.json(Req::get(path)).await }
                    })
                    .buffered(4)
            })
            .try_flatten()
            .boxed()
    }
    /// Project categories (a bare array).
    pub fn project_categories(&self) -> Docs {
        self.array(format!("{API}/projectCategory"))
    }

    // ---------------------------------------------------------- configuration
    pub fn issue_types(&self) -> Docs {
        self.array(format!("{API}/issuetype"))
    }
    /// Every field, system and custom (a bare array).
    pub fn fields(&self) -> Docs {
        self.array(format!("{API}/field"))
    }
    pub fn field_contexts(&self, field_id: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/field/{}/context", seg(field_id))),
            Style::PageBean { max: 50 },
        )
    }
    pub fn field_options(&self, field_id: &str, context_id: &str) -> Docs {
        self.list(
            Req::get(format!(
                "{API}/field/{}/context/{}/option",
                seg(field_id),
                seg(context_id)
            )),
            Style::PageBean { max: 100 },
        )
    }
    /// Every custom field, each with `contexts`, each context with its `options` (none for
    /// fields without options), `projectIds`, `issueTypeIds` and `defaultValue` (see
    /// `context_details`).
    pub fn custom_fields(&self) -> Docs {
        let this = self.clone();
        self.fields()
            .try_filter(|f| futures::future::ready(f["custom"].as_bool() == Some(true)))
            .and_then(move |mut f| {
                let this = this.clone();
                async move {
                    let id = f["id"].as_str().unwrap_or_default().to_string();
                    let mut contexts: Vec<Value> = this.field_contexts(&id).try_collect().await?;
                    for c in &mut contexts {
                        let cid = id_string(&c["id"]).unwrap_or_default();
                        let options =
                            match this.field_options(&id, &cid).try_collect::<Vec<_>>().await {
                                Ok(o) => o,
                                // "The custom field doesn't support options."
                                Err(Error::Permanent { status: 400, .. }) => vec![],
                                Err(e) => return Err(e),
                            };
                        c["options"] = Value::Array(options);
                    }
                    this.context_details(&id, &mut contexts).await?;
                    f["contexts"] = Value::Array(contexts);
                    Ok(f)
                }
            })
            .boxed()
    }
    pub fn statuses(&self) -> Docs {
        self.array(format!("{API}/status"))
    }
    pub fn priorities(&self) -> Docs {
        self.array(format!("{API}/priority"))
    }
    /// Resolutions through the current paged list (`/resolution` is deprecated).
    pub fn resolutions(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/resolution/search")),
            Style::PageBean { max: 50 },
        )
    }
    pub fn link_types(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/issueLinkType")),
            Style::Unpaged {
                key: Some("issueLinkTypes"),
            },
        )
    }
    pub fn roles(&self) -> Docs {
        self.array(format!("{API}/role"))
    }

    // ---------------------------------------------------- workflows, schemes
    /// Workflows with their statuses and transitions (`/workflows/search`, PageBean).
    pub fn workflows(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/workflows/search")).q("expand", "values.transitions"),
            Style::PageBean { max: 200 },
        )
    }
    pub fn workflow_schemes(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/workflowscheme")),
            Style::PageBean { max: 50 },
        )
    }
    pub fn issue_type_schemes(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/issuetypescheme")),
            Style::PageBean { max: 50 },
        )
    }
    pub fn permission_schemes(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/permissionscheme")),
            Style::Unpaged {
                key: Some("permissionSchemes"),
            },
        )
    }
    /// Workflows and schemes as `(kind, document)`, as a backup keeps them (a restore writes
    /// workflows and schemes through `jira/workflows.rs`). Kinds: `workflow`, `workflowScheme`, `issueTypeScheme`,
    /// `permissionScheme`.
    pub fn workflows_and_schemes(&self) -> BoxStream<'static, Result<(&'static str, Value)>> {
        let tag = |kind: &'static str, docs: Docs| docs.map_ok(move |d| (kind, d));
        tag("workflow", self.workflows())
            .chain(tag("workflowScheme", self.workflow_schemes()))
            .chain(tag("issueTypeScheme", self.issue_type_schemes()))
            .chain(tag("permissionScheme", self.permission_schemes()))
            .boxed()
    }

    // ------------------------------------------------------------- directory
    /// Every user (a bare array paged by startAt/maxResults).
    pub fn users(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/users/search")),
            Style::Slice { max: 1000 },
        )
    }
    pub fn groups(&self) -> Docs {
        self.list(
            Req::get(format!("{API}/group/bulk")),
            Style::PageBean { max: 50 },
        )
    }
    pub fn group_members(&self, group_id: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/group/member"))
                .q("groupId", group_id)
                .q("includeInactiveUsers", true),
            Style::PageBean { max: 50 },
        )
    }

    // ---------------------------------------------------------------- issues
    /// `{id}` of every issue `jql` matches: the cheap listing that finds deletions, in the
    /// largest pages the search gives (5000, for ids only).
    pub fn issue_ids(&self, jql: &str) -> Docs {
        self.list(
            post_req(
                &format!("{API}/search/jql"),
                json!({"jql": jql, "fields": ["id"]}),
            ),
            Style::TokenPost {
                key: "issues",
                max: 5000,
            },
        )
    }
    /// `{id}` of every issue `account_id` watches (JQL `watcher = "..."`), updated at or after
    /// `since` when given: the listing of ids, in its pages of 5000.
    pub fn watched_issue_ids(&self, account_id: &str, since: Option<DateTime<Utc>>) -> Docs {
        self.issue_ids(&jql_watched_by(account_id, since))
    }
    /// Every issue `jql` matches, with all fields (attachments and links are in `fields`).
    pub fn issues(&self, jql: &str) -> Docs {
        self.list(
            post_req(
                &format!("{API}/search/jql"),
                json!({"jql": jql, "fields": ["*all"]}),
            ),
            Style::TokenPost {
                key: "issues",
                max: 100,
            },
        )
    }
    /// Every issue `jql` matches, with all fields and the most recent page of its change log
    /// (`expand=changelog`): the bulk read that [`Jira::details_of`] completes.
    pub fn issues_with_changelog(&self, jql: &str) -> Docs {
        self.list(
            post_req(
                &format!("{API}/search/jql"),
                json!({"jql": jql, "fields": ["*all"], "expand": "changelog"}),
            ),
            Style::TokenPost {
                key: "issues",
                max: 100,
            },
        )
    }
    /// The same as [`Jira::issues`] through `GET /search/jql`.
    pub fn issues_get(&self, jql: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/search/jql"))
                .q("jql", jql)
                .q("fields", "*all"),
            Style::TokenGet {
                key: "issues",
                max: 100,
            },
        )
    }
    pub async fn approximate_count(&self, jql: &str) -> Result<u64> {
        let v = self
            .t
            .json(post_req(
                &format!("{API}/search/approximate-count"),
                json!({"jql": jql}),
            ))
            .await?;
        v["count"]
            .as_u64()
            .ok_or_else(|| Error::protocol("POST /rest/api/3/search/approximate-count", "no count"))
    }
    // ------------------------------------------------------------------ agile
    pub fn boards(&self) -> Docs {
        self.list(
            Req::get(format!("{AGILE}/board")),
            Style::PageBean { max: 50 },
        )
    }
    pub async fn board(&self, id: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{AGILE}/board/{}", seg(id))))
            .await
    }
    /// Sprints of a board; a board without sprints (kanban) has none.
    pub fn sprints(&self, board_id: &str) -> Docs {
        self.list(
            Req::get(format!("{AGILE}/board/{}/sprint", seg(board_id))),
            Style::PageBean { max: 50 },
        )
        .into_stream()
        .filter_map(|r| async move {
            match r {
                Err(Error::Permanent {
                    status: 400,
                    ref message,
                    ..
                }) if message.contains("does not support sprints") => None,
                other => Some(other),
            }
        })
        .boxed()
    }

    // ================================================================= write
    async fn create(&self, req: Req) -> Result<Value> {
        self.t.json(req).await
    }

    /// `POST /project` with Atlassian's body (`key`, `name`, `projectTypeKey`, `leadAccountId`, ...).
    pub async fn create_project(&self, body: &Value) -> Result<CreatedProject> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/project"),
                body.clone(),
            ))
            .await?;
        Ok(CreatedProject {
            id: need_id(&v, "POST /rest/api/3/project")?,
            key: v["key"].as_str().map(String::from).unwrap_or_default(),
        })
    }
    pub async fn create_component(&self, body: &Value) -> Result<String> {
        let body = without(body.clone(), &["id", "self"]);
        let v = self
            .create(Req::send(Method::POST, format!("{API}/component"), body))
            .await?;
        need_id(&v, "POST /rest/api/3/component")
    }
    pub async fn create_version(&self, body: &Value) -> Result<String> {
        let body = without(body.clone(), &["id", "self", "projectId"]);
        let v = self
            .create(Req::send(Method::POST, format!("{API}/version"), body))
            .await?;
        need_id(&v, "POST /rest/api/3/version")
    }
    /// `POST /issue` with `fields` (read-only ones are dropped); the site assigns id and key.
    pub async fn create_issue(&self, fields: &Value) -> Result<CreatedIssue> {
        let fields = without(fields.clone(), READ_ONLY_ISSUE_FIELDS);
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/issue"),
                json!({"fields": fields}),
            ))
            .await?;
        Ok(CreatedIssue {
            id: need_id(&v, "POST /rest/api/3/issue")?,
            key: v["key"].as_str().map(String::from).unwrap_or_default(),
        })
    }
    pub async fn edit_issue(&self, key: &str, body: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/issue/{}", seg(key)),
                body.clone(),
            ))
            .await?;
        Ok(())
    }
    pub async fn transitions(&self, key: &str) -> Result<Vec<Value>> {
        let v = self
            .t
            .json(Req::get(format!("{API}/issue/{}/transitions", seg(key))))
            .await?;
        Ok(v["transitions"].as_array().cloned().unwrap_or_default())
    }
    pub async fn transition(&self, key: &str, body: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::POST,
                format!("{API}/issue/{}/transitions", seg(key)),
                body.clone(),
            ))
            .await?;
        Ok(())
    }
    /// Adds a comment (its `body`, `visibility`, `properties`); returns the new id.
    pub async fn add_comment(&self, key: &str, comment: &Value) -> Result<String> {
        let body = without(comment.clone(), READ_ONLY_ENTRY_KEYS);
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/issue/{}/comment", seg(key)),
                body,
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/issue/{issueIdOrKey}/comment")
    }
    pub async fn add_worklog(&self, key: &str, worklog: &Value) -> Result<String> {
        let body = without(worklog.clone(), READ_ONLY_ENTRY_KEYS);
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/issue/{}/worklog", seg(key)),
                body,
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/issue/{issueIdOrKey}/worklog")
    }
    /// Links two issues; returns the link's id from `Location` when the site sends one.
    pub async fn create_issue_link(
        &self,
        link_type: &str,
        inward: &str,
        outward: &str,
    ) -> Result<Option<String>> {
        let reply = self
            .t
            .call(Req::send(
                Method::POST,
                format!("{API}/issueLink"),
                json!({"type": {"name": link_type}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward}}),
            ))
            .await?;
        Ok(reply
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.rsplit('/').next())
            .map(String::from))
    }
    pub async fn create_remote_link(&self, key: &str, link: &Value) -> Result<String> {
        let body = without(link.clone(), &["id", "self"]);
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{API}/issue/{}/remotelink", seg(key)),
                body,
            ))
            .await?;
        need_id(&v, "POST /rest/api/3/issue/{issueIdOrKey}/remotelink")
    }
    pub async fn add_watcher(&self, key: &str, account_id: &str) -> Result<()> {
        self.t
            .json(Req::send(
                Method::POST,
                format!("{API}/issue/{}/watchers", seg(key)),
                json!(account_id),
            ))
            .await?;
        Ok(())
    }
    pub async fn set_property(&self, key: &str, property: &str, value: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{API}/issue/{}/properties/{}", seg(key), seg(property)),
                value.clone(),
            ))
            .await?;
        Ok(())
    }
    /// Uploads one file (multipart, streamed); returns the attachment documents created.
    pub async fn upload_attachment(&self, key: &str, file: Upload) -> Result<Vec<Value>> {
        let req = Req {
            body: Body::File(file),
            method: Method::POST,
            ..Req::get(format!("{API}/issue/{}/attachments", seg(key)))
        };
        let v = self.t.json(req).await?;
        v.as_array().cloned().ok_or_else(|| {
            Error::protocol(
                "POST /rest/api/3/issue/{issueIdOrKey}/attachments",
                "expected an array",
            )
        })
    }
    /// `POST /board` (`name`, `type`, `location`; a filter is the site's business).
    pub async fn create_board(&self, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{AGILE}/board"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/agile/1.0/board")
    }
    pub async fn create_sprint(&self, body: &Value) -> Result<String> {
        let v = self
            .create(Req::send(
                Method::POST,
                format!("{AGILE}/sprint"),
                body.clone(),
            ))
            .await?;
        need_id(&v, "POST /rest/agile/1.0/sprint")
    }
    /// Partial update (`state`, dates, goal): a new sprint starts `future`.
    pub async fn update_sprint(&self, id: &str, body: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::POST,
                format!("{AGILE}/sprint/{}", seg(id)),
                body.clone(),
            ))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_strings() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            jql_for(&["PLAT"], Some(t)),
            "project = PLAT AND updated >= \"2026/03/04 05:06\" ORDER BY key ASC"
        );
        assert_eq!(
            jql_for(&["A", "B"], None),
            "project in (A, B) ORDER BY key ASC"
        );
        let f = without(
            json!({"summary": "s", "created": "x", "status": {}}),
            READ_ONLY_ISSUE_FIELDS,
        );
        assert_eq!(f, json!({"summary": "s"}));
    }
}
