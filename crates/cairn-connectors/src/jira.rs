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
mod workflows;

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
    pub async fn issue(&self, key: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/issue/{}", seg(key))).q("fields", "*all"))
            .await
    }
    pub fn changelog(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/changelog", seg(key))),
            Style::PageBean { max: 100 },
        )
    }
    /// Change logs of many issues at once (`nextPageToken`): `{issueId, changeHistories}` each.
    pub fn changelogs(&self, issue_ids_or_keys: &[String]) -> Docs {
        self.list(
            post_req(
                &format!("{API}/changelog/bulkfetch"),
                json!({"issueIdsOrKeys": issue_ids_or_keys}),
            ),
            Style::TokenPost {
                key: "issueChangeLogs",
                max: 1000,
            },
        )
    }
    pub fn comments(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/comment", seg(key))),
            Style::Envelope {
                key: "comments",
                max: 5000,
            },
        )
    }
    pub fn worklogs(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/worklog", seg(key))),
            Style::Envelope {
                key: "worklogs",
                max: 5000,
            },
        )
    }
    pub fn remote_links(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/remotelink", seg(key))),
            Style::Unpaged { key: None },
        )
    }
    pub async fn watchers(&self, key: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/issue/{}/watchers", seg(key))))
            .await
    }
    pub async fn properties(&self, key: &str) -> Result<Vec<(String, Value)>> {
        let keys = self
            .t
            .json(Req::get(format!("{API}/issue/{}/properties", seg(key))))
            .await?;
        let mut out = vec![];
        for k in keys["keys"].as_array().into_iter().flatten() {
            let Some(k) = k["key"].as_str() else { continue };
            let v = self
                .t
                .json(Req::get(format!(
                    "{API}/issue/{}/properties/{}",
                    seg(key),
                    seg(k)
                )))
                .await?;
            out.push((k.to_string(), v["value"].clone()));
        }
        Ok(out)
    }
    /// Change log, comments, worklogs, remote links, watchers and properties of one issue,
    /// fetched side by side.
    pub async fn issue_details(&self, key: &str) -> Result<IssueDetails> {
        let (changelog, comments, worklogs, remote_links, watchers, properties) = futures::try_join!(
            self.changelog(key).try_collect(),
            self.comments(key).try_collect(),
            self.worklogs(key).try_collect(),
            self.remote_links(key).try_collect(),
            self.watchers(key),
            self.properties(key),
        )?;
        Ok(IssueDetails {
            changelog,
            comments,
            worklogs,
            remote_links,
            watchers,
            properties,
        })
    }

    /// The details of an issue read by [`Jira::issues_with_changelog`], with as few requests
    /// as its answer allows; `issue` is left as [`Jira::issues`] gives it (its `changelog`
    /// taken out). The answer's parts are used where they are whole, and read separately where
    /// they are cut off or absent:
    /// - change log: the `changelog` expand when its `total` says it holds every history
    ///   (put in the list endpoint's order, oldest first), otherwise the issue's change log;
    /// - comments, worklogs: the `comment` and `worklog` fields when their `total` says they
    ///   hold every entry, otherwise the lists' endpoints;
    /// - remote links: no bulk read exists, but Jira records each one added as a change-log
    ///   item of field `RemoteIssueLink`: read only for issues whose (whole) change log has one;
    /// - watchers: read only when `watches.watchCount` is above 0 (the empty list is the
    ///   document `/watchers` answers for an unwatched issue);
    /// - properties: no read gives their keys in bulk (the search's `properties` takes up to 5
    ///   keys the caller must already know), so each issue's key list is read (one request),
    ///   then each value.
    ///
    /// With `watching` (watchers read by user), a watched issue whose watchers it accounts for
    /// takes its `/watchers` document from there, without a request.
    pub async fn details_of(
        &self,
        issue: &mut Value,
        watching: Option<&Watching>,
    ) -> Result<IssueDetails> {
        let key = issue["key"]
            .as_str()
            .or_else(|| issue["id"].as_str())
            .unwrap_or_default()
            .to_string();
        let expanded = match issue.as_object_mut() {
            Some(m) => m.remove("changelog"),
            None => None,
        };
        let issue = &*issue;
        let fields = &issue["fields"];
        let changelog = async {
            match expanded.as_ref().and_then(|c| whole(c, "histories")) {
                Some(mut histories) => {
                    oldest_first(&mut histories);
                    Ok(histories)
                }
                None => self.changelog(&key).try_collect().await,
            }
        };
        let comments = async {
            match whole(&fields["comment"], "comments") {
                Some(c) => Ok(c),
                None => self.comments(&key).try_collect().await,
            }
        };
        let worklogs = async {
            match whole(&fields["worklog"], "worklogs") {
                Some(w) => Ok(w),
                None => self.worklogs(&key).try_collect().await,
            }
        };
        let watchers = async {
            match &fields["watches"] {
                w if w["watchCount"].as_u64() == Some(0) => Ok(json!({
                    "self": w["self"],
                    "isWatching": w["isWatching"].as_bool().unwrap_or(false),
                    "watchCount": 0,
                    "watchers": [],
                })),
                w => {
                    match watching.and_then(|known| known.document(&id_string(&issue["id"])?, w)) {
                        Some(document) => Ok(document),
                        None => self.watchers(&key).await,
                    }
                }
            }
        };
        let (changelog, comments, worklogs, watchers, properties) = futures::try_join!(
            changelog,
            comments,
            worklogs,
            watchers,
            self.properties(&key),
        )?;
        let remote_links = if changelog.iter().any(adds_remote_link) {
            self.remote_links(&key).try_collect().await?
        } else {
            vec![]
        };
        Ok(IssueDetails {
            changelog,
            comments,
            worklogs,
            remote_links,
            watchers,
            properties,
        })
    }

    // ------------------------------------------------------------ attachments
    pub async fn attachment_meta(&self, id: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/attachment/{}", seg(id))))
            .await
    }
    /// The attachment's bytes, streamed (following Jira's 303 to the media host), from `from`.
    pub async fn attachment_content(&self, id: &str, from: u64) -> Result<Download> {
        self.t
            .download(format!("{API}/attachment/content/{}", seg(id)), from)
            .await
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

/// Who watches which issue, read by user (one id-only search `watcher = "<accountId>"` for each
/// listed user): the `/watchers` documents of the issues whose `watches.watchCount` it accounts
/// for, built from the users listing, without a request each.
#[derive(Debug, Default)]
pub struct Watching {
    /// `UserDetails` of each listed user, by account id.
    users: HashMap<String, Value>,
    /// Account ids watching each issue (by issue id), in account id order.
    watchers: HashMap<String, Vec<String>>,
    /// The caller's account id (for `isWatching`).
    me: String,
}

/// The keys of a `UserDetails` (a watcher), in the order `/watchers` gives them.
const USER_DETAILS_KEYS: &[&str] = &[
    "self",
    "accountId",
    "emailAddress",
    "avatarUrls",
    "displayName",
    "active",
    "timeZone",
    "accountType",
];

impl Watching {
    /// Reads, for each of `users` (documents of `/users/search`), the ids of the issues they
    /// watch (updated at or after `since` when given). `me` is the caller's account id.
    pub async fn read(
        jira: &Jira,
        users: &[Value],
        me: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Watching> {
        let ids: Vec<String> = users
            .iter()
            .filter_map(|u| u["accountId"].as_str().map(String::from))
            .collect();
        let watched: Vec<(String, Vec<Value>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let issues = jira.watched_issue_ids(&id, since).try_collect().await?;
                Ok::<_, Error>((id, issues))
            })
            .buffered(4)
            .try_collect()
            .await?;
        let mut watching = Watching {
            users: users
                .iter()
                .filter_map(|u| Some((u["accountId"].as_str()?.to_string(), user_details(u))))
                .collect(),
            watchers: HashMap::new(),
            me: me.to_string(),
        };
        for (account, issues) in watched {
            for issue in issues {
                if let Some(id) = id_string(&issue["id"]) {
                    watching
                        .watchers
                        .entry(id)
                        .or_default()
                        .push(account.clone());
                }
            }
        }
        for accounts in watching.watchers.values_mut() {
            accounts.sort();
            accounts.dedup();
        }
        Ok(watching)
    }

    /// Checks the documents built here against the site's own: reads `/watchers` of the most
    /// watched issues (most watchers first, so that their order is shown too) until one can be
    /// built (at most [`Watching::CHECKS`] reads). Unless the first built equals the site's
    /// answer, nothing is built from here on (every watched issue is read on its own): the
    /// users listing and `/watchers` differ on this site, or the order of watchers does.
    pub async fn check(&mut self, jira: &Jira) -> Result<bool> {
        let mut candidates: Vec<(&String, usize)> =
            self.watchers.iter().map(|(id, a)| (id, a.len())).collect();
        candidates.sort_by(|(a, x), (b, y)| y.cmp(x).then(a.cmp(b)));
        let candidates: Vec<String> = candidates
            .into_iter()
            .take(Self::CHECKS)
            .map(|(id, _)| id.clone())
            .collect();
        for id in candidates {
            let answer = jira.watchers(&id).await?;
            if let Some(built) = self.document(&id, &answer) {
                // As stored: key order counts (`Value`'s own equality ignores it).
                if serde_json::to_vec(&built).ok() == serde_json::to_vec(&answer).ok() {
                    return Ok(true);
                }
                break;
            }
        }
        self.watchers.clear();
        Ok(false)
    }

    /// The most `/watchers` reads [`Watching::check`] makes.
    pub const CHECKS: usize = 3;

    /// Issues whose watchers were found.
    pub fn issues(&self) -> usize {
        self.watchers.len()
    }

    /// The `/watchers` document of issue `issue_id` whose search document has `watches`, when
    /// the watchers found are all of them (as many as its `watchCount`): `None` otherwise (a
    /// watcher not among the listed users, an app, one hidden from the caller), and the issue's
    /// own read is needed.
    pub fn document(&self, issue_id: &str, watches: &Value) -> Option<Value> {
        let accounts = self.watchers.get(issue_id)?;
        if watches["watchCount"].as_u64() != Some(accounts.len() as u64) {
            return None;
        }
        let watchers: Vec<Value> = accounts
            .iter()
            .map(|a| self.users.get(a).cloned())
            .collect::<Option<_>>()?;
        Some(json!({
            "self": watches["self"],
            "isWatching": accounts.contains(&self.me),
            "watchCount": accounts.len(),
            "watchers": watchers,
        }))
    }
}

/// A watcher's `UserDetails` from a user's `/users/search` document: its keys, in the order
/// `/watchers` gives them (those the listing leaves out, such as a hidden email, stay out).
fn user_details(user: &Value) -> Value {
    let mut details = Map::new();
    for key in USER_DETAILS_KEYS {
        if let Some(v) = user.get(*key) {
            details.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(details)
}

/// The entries of an envelope (`{startAt, maxResults, total, <key>: [...]}`) when it holds all
/// of them: `None` when it is absent, or cut off (`total` above what it carries).
fn whole(envelope: &Value, key: &str) -> Option<Vec<Value>> {
    let entries = envelope[key].as_array()?;
    let total = envelope["total"].as_u64()?;
    let start = envelope["startAt"].as_u64().unwrap_or(0);
    (start == 0 && total == entries.len() as u64).then(|| entries.clone())
}

/// Histories in the order `/issue/{key}/changelog` gives them: oldest first (by `created`, then
/// id). The `changelog` expand lists the most recent first.
fn oldest_first(histories: &mut [Value]) {
    let at = |h: &Value| {
        let created = h["created"]
            .as_str()
            .and_then(|c| DateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S%.f%z").ok());
        let id = id_string(&h["id"]).and_then(|i| i.parse::<u64>().ok());
        (created, id)
    };
    histories.sort_by_key(at);
}

/// A history that adds a remote link (Jira's `RemoteIssueLink` change-log field).
fn adds_remote_link(history: &Value) -> bool {
    history["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["field"] == "RemoteIssueLink"))
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

    #[test]
    fn watchers_built_from_the_users_listing() {
        assert_eq!(
            jql_watched_by("557058:a\"b", None),
            "watcher = \"557058:a\\\"b\""
        );
        // A `/users/search` document: keys in another order, and some a watcher has not.
        let user = |id: &str| {
            json!({"self": format!("https://x/rest/api/3/user?accountId={id}"), "accountId": id,
                "accountType": "atlassian", "avatarUrls": {"16x16": "a"}, "displayName": id,
                "active": true, "timeZone": "UTC", "locale": "en_US"})
        };
        let watching = Watching {
            users: ["a", "b"]
                .iter()
                .map(|id| (id.to_string(), user_details(&user(id))))
                .collect(),
            watchers: HashMap::from([
                ("10".to_string(), vec!["a".to_string(), "b".to_string()]),
                ("11".to_string(), vec!["a".to_string(), "z".to_string()]),
            ]),
            me: "b".into(),
        };
        let watches = |n: u64| json!({"self": "https://x/rest/api/3/issue/K-1/watchers", "watchCount": n, "isWatching": false});
        let built = watching.document("10", &watches(2)).unwrap();
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            r#"{"self":"https://x/rest/api/3/issue/K-1/watchers","isWatching":true,"watchCount":2,"watchers":[{"self":"https://x/rest/api/3/user?accountId=a","accountId":"a","avatarUrls":{"16x16":"a"},"displayName":"a","active":true,"timeZone":"UTC","accountType":"atlassian"},{"self":"https://x/rest/api/3/user?accountId=b","accountId":"b","avatarUrls":{"16x16":"a"},"displayName":"b","active":true,"timeZone":"UTC","accountType":"atlassian"}]}"#
        );
        // More watchers than found, a watcher not listed, an issue nobody listed watches.
        assert!(watching.document("10", &watches(3)).is_none());
        assert!(watching.document("11", &watches(2)).is_none());
        assert!(watching.document("12", &watches(1)).is_none());
    }
}
