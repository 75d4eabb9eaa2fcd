//! The Jira side of a backup: serverInfo, configuration, projects with components, versions and
//! roles, every issue with what hangs off it (read ahead, or taken over unread when unchanged),
//! attachments, boards with sprints, and users and groups.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use cairn_connectors::{Site, Watching};
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};

use super::run::{AttachmentSource, BackupRun, Category, Want};
use super::{ITEMS_READ_AHEAD, read_all, read_all_or_empty, selection_names};
use crate::json::id_str;
use crate::layout::{self, attr};
use crate::site::{SiteRole::Source, site_error};
use crate::storage::vault_error;

/// Backs up a Jira site: its serverInfo, configuration, projects with their issues, boards and
/// (with `USERS`) users and groups.
pub(super) async fn backup(
    run: &mut BackupRun<'_>,
    site: &Site,
    selections: &[Selection],
    since: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    let j = site.jira();
    let info = j.server_info().await.map_err(site_error(Source))?;
    let site_doc = json!({"serverInfo": info, "selections": selection_names(selections)});
    run.put(
        &layout::jira_site(),
        &site_doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;
    config(run, &j).await?;

    let projects = read_all(j.projects()).await?;
    super::jira_permissions::backup(run, &j, &projects).await?;
    super::jira_workflows::config(run, &j, &projects).await?;
    let boards = read_all(j.boards()).await?;
    // What is known now: what was written, the projects, their issues (Jira's approximate
    // count) and the boards; attachments are added as their issues are read.
    run.known = run.done() + projects.len() as u64 + boards.len() as u64;
    let issues = count_issues(run, &j, &projects).await;
    let (watching, users) = match run.bulk_reads {
        true => watching(&j, &projects, issues, since).await?,
        false => (None, None),
    };
    for project in projects {
        self::project(run, &j, project, since, watching.clone()).await?;
    }
    self::boards(run, &j, boards).await?;
    if selections.contains(&Selection::Users) {
        users_and_groups(run, &j, users).await?;
    }
    Ok(())
}

/// In bulk, who watches which issue, read by user when the site has fewer users than issues to
/// read, with the users listing when it was read whole.
///
/// Each watched issue's `/watchers` is one request; reading them by user is one id-only search
/// (or one per 5000 issues) per user, plus the users listing (1000 a page), the caller and one
/// check. Jira has every reporter watch their issue, so nearly every issue is watched: fewer
/// users than issues to read (`issues`: the projects' count, or in an incremental those
/// updated since its parent) means fewer requests. The listing stops as soon as it reaches that
/// count, so a site with many users costs a few pages at most.
async fn watching(
    j: &cairn_connectors::Jira,
    projects: &[Value],
    issues: u64,
    since: Option<DateTime<Utc>>,
) -> Result<(Option<Arc<Watching>>, Option<Vec<Value>>), EngineError> {
    let to_read = match since {
        None => issues,
        Some(_) if projects.is_empty() => 0,
        Some(_) => {
            let keys: Vec<&str> = projects.iter().filter_map(|p| p["key"].as_str()).collect();
            // Without a count, no way to tell: the issues are read as before.
            j.approximate_count(&cairn_connectors::jira::jql_for(&keys, since))
                .await
                .unwrap_or(0)
        }
    };
    if to_read == 0 {
        return Ok((None, None));
    }
    let mut listing = j.users();
    let mut users = vec![];
    while let Some(user) = listing.next().await {
        users.push(user.map_err(site_error(Source))?);
        if users.len() as u64 >= to_read {
            return Ok((None, None));
        }
    }
    let me = j.myself().await.map_err(site_error(Source))?;
    let me = me["accountId"].as_str().unwrap_or_default();
    let mut watching = Watching::read(j, &users, me, since)
        .await
        .map_err(site_error(Source))?;
    if !watching.check(j).await.map_err(site_error(Source))? {
        tracing::info!("watchers listed by user differ from the site's own: read one by one");
    }
    Ok((Some(Arc::new(watching)), Some(users)))
}

/// The configuration documents (`jira/config/`).
async fn config(run: &mut BackupRun<'_>, j: &cairn_connectors::Jira) -> Result<(), EngineError> {
    // Configuration: small documents, read whole every time (the vault dedups them), side by
    // side (each is a request or a few, and at a real site's pace they would add up).
    let (
        (all_fields, custom_fields, issue_types, statuses),
        (priorities, resolutions, link_types, roles, categories),
    ) = futures::try_join!(
        async {
            futures::try_join!(
                read_all(j.fields()),
                read_all(j.custom_fields()),
                read_all(j.issue_types()),
                read_all(j.statuses()),
            )
        },
        async {
            futures::try_join!(
                read_all(j.priorities()),
                read_all(j.resolutions()),
                read_all(j.link_types()),
                read_all(j.roles()),
                read_all_or_empty(j.project_categories()),
            )
        },
    )?;
    let mut fields: Vec<Value> = all_fields
        .into_iter()
        .filter(|f| f["custom"].as_bool() != Some(true))
        .collect();
    fields.extend(custom_fields);
    let mut config: Vec<(&str, Vec<Value>)> = vec![
        ("issuetypes", issue_types),
        ("fields", fields),
        ("statuses", statuses),
        ("priorities", priorities),
        ("resolutions", resolutions),
        ("issuelinktypes", link_types),
        ("roles", roles),
        ("projectcategories", categories),
    ];
    let mut schemes: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut stream = j.workflows_and_schemes();
    while let Some(item) = stream.next().await {
        let (kind, doc) = item.map_err(site_error(Source))?;
        let name = match kind {
            "workflow" => "workflows",
            "workflowScheme" => "workflowschemes",
            "issueTypeScheme" => "issuetypeschemes",
            _ => "permissionschemes",
        };
        schemes.entry(name).or_default().push(doc);
    }
    for name in [
        "workflows",
        "workflowschemes",
        "issuetypeschemes",
        "permissionschemes",
    ] {
        config.push((name, schemes.remove(name).unwrap_or_default()));
    }
    for (name, docs) in config {
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

/// Adds the projects' issues to the items known, by Jira's approximate count: only an estimate
/// for the progress, so a site without the count goes on without it. Returns the count added.
async fn count_issues(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    projects: &[Value],
) -> u64 {
    let counts = futures::future::join_all(projects.iter().map(|p| async move {
        let key = p["key"].as_str().unwrap_or_default();
        j.approximate_count(&cairn_connectors::jira::jql_for(&[key], None))
            .await
    }))
    .await;
    let mut total = 0;
    for count in counts {
        match count {
            Ok(n) => total += n,
            Err(e) => tracing::debug!(error = %e, "no issue count"),
        }
    }
    run.known += total;
    total
}

/// A project with its components, versions and roles, then its issues.
async fn project(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    mut project: Value,
    since: Option<DateTime<Utc>>,
    watching: Option<Arc<Watching>>,
) -> Result<(), EngineError> {
    let key = project["key"].as_str().unwrap_or_default().to_string();
    let (components, versions, roles) = futures::try_join!(
        read_all(j.components(&key)),
        read_all(j.versions(&key)),
        read_all(j.project_roles(&key)),
    )?;
    project["components"] = Value::Array(components);
    project["versions"] = Value::Array(versions);
    project["roles"] = Value::Array(roles);
    run.put(
        &layout::jira_project(&key),
        &project,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;
    issues(run, j, &key, since, watching).await
}

/// The boards with their sprints (each board's read side by side).
async fn boards(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    boards: Vec<Value>,
) -> Result<(), EngineError> {
    let sprints = futures::future::try_join_all(boards.iter().map(|b| {
        let id = id_str(&b["id"]).unwrap_or_default();
        async move { read_all(j.sprints(&id)).await }
    }))
    .await?;
    for (mut board, sprints) in boards.into_iter().zip(sprints) {
        let id = id_str(&board["id"]).unwrap_or_default();
        board["sprints"] = Value::Array(sprints);
        run.put(
            &layout::jira_board(&id),
            &board,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
    }
    Ok(())
}

/// Users (`listed`: already read whole), and groups with their members (each group's read side
/// by side).
async fn users_and_groups(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    listed: Option<Vec<Value>>,
) -> Result<(), EngineError> {
    let users = match listed {
        Some(users) => users,
        None => read_all(j.users()).await?,
    };
    run.known += users.len() as u64;
    for user in users {
        let id = user["accountId"].as_str().unwrap_or_default().to_string();
        run.put(
            &layout::jira_user(&id),
            &user,
            BTreeMap::new(),
            Category::Users,
        )
        .await?;
    }
    let groups = read_all(j.groups()).await?;
    run.known += groups.len() as u64;
    let members = futures::future::try_join_all(groups.iter().map(|g| {
        let id = g["groupId"].as_str().unwrap_or_default().to_string();
        async move { read_all(j.group_members(&id)).await }
    }))
    .await?;
    for (mut group, members) in groups.into_iter().zip(members) {
        let id = group["groupId"].as_str().unwrap_or_default().to_string();
        group["members"] = Value::Array(members);
        run.put(
            &layout::jira_group(&id),
            &group,
            BTreeMap::new(),
            Category::Users,
        )
        .await?;
    }
    Ok(())
}

/// The issues of one project: all of them, or (incremental) those updated since `since` plus the
/// rest taken over from the parent.
async fn issues(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    since: Option<DateTime<Utc>>,
    watching: Option<Arc<Watching>>,
) -> Result<(), EngineError> {
    use cairn_connectors::jira::jql_for;
    let include_attachments = run.attachments;
    // Ids the site has now (cheap: 5000 a page), to reuse the unchanged and leave out the
    // deleted.
    let mut rest: BTreeSet<String> = match since {
        Some(_) => read_all(j.issue_ids(&jql_for(&[project], None)))
            .await?
            .iter()
            .map(|i| id_str(&i["id"]).unwrap_or_default())
            .collect(),
        None => BTreeSet::new(),
    };
    // Issues an earlier attempt's checkpoints hold, with the attributes they had then.
    let mut earlier: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for r in &run.earlier {
        let entries = match r.list(&layout::jira_issues_dir(project)).await {
            Ok(entries) => entries,
            // The attempt had not reached this project.
            Err(cairn_vault::Error::EntryNotFound { .. }) => continue,
            Err(e) => return Err(vault_error(e)),
        };
        for e in entries {
            earlier.insert(layout::entry_id(&e.path).to_string(), e.attrs);
        }
    }
    let earlier = Arc::new(earlier);
    // The details of the next few issues are read while this one is written: each read is a
    // task of its own, so it runs (and releases its connection permits) even while the writer
    // waits on an attachment download, which needs a permit too. Issues an earlier attempt
    // stored unchanged are not read again.
    // In bulk, the search carries most of each issue (fields, comments, worklogs, the change
    // log's first page) and `details_of` reads only what it cuts off or lacks; otherwise every
    // part of each issue is read on its own.
    let bulk = run.bulk_reads;
    let jql = jql_for(&[project], since);
    let listing = match bulk {
        true => j.issues_with_changelog(&jql),
        false => j.issues(&jql),
    };
    let mut issues = listing
        .map(|issue| {
            let j = j.clone();
            let earlier = earlier.clone();
            let watching = watching.clone();
            tokio::spawn(async move {
                let mut issue = issue?;
                if earlier.get(&id_str(&issue["id"]).unwrap_or_default())
                    == Some(&issue_attrs(&issue))
                {
                    // Taken over: the bulk read's change log page is not kept.
                    if let Some(m) = issue.as_object_mut() {
                        m.remove("changelog");
                    }
                    return Ok((issue, None));
                }
                let details = match bulk {
                    true => j.details_of(&mut issue, watching.as_deref()).await?,
                    false => {
                        let key = issue["key"].as_str().unwrap_or_default().to_string();
                        j.issue_details(&key).await?
                    }
                };
                Ok::<_, cairn_connectors::Error>((issue, Some(details)))
            })
        })
        .buffered(ITEMS_READ_AHEAD);
    let mut seen = HashSet::new();
    while let Some(read) = issues.next().await {
        let (issue, details) = read
            .map_err(|e| EngineError::Retryable(format!("reading an issue: {e}")))?
            .map_err(site_error(Source))?;
        let id = id_str(&issue["id"]).unwrap_or_default();
        rest.remove(&id);
        // A listing that shows an issue twice (it changed while being paged) stores it once.
        if !seen.insert(id.clone()) {
            continue;
        }
        let path = layout::jira_issue(project, &id);
        if details.is_none() {
            let attrs = issue_attrs(&issue);
            if let Some((from, _)) = run.take_over(&path, Want::Attrs(&attrs), false).await? {
                AttachmentSource::Jira(j)
                    .taken_over(run, from, &path, &attrs)
                    .await?;
                continue;
            }
        }
        let details = match details {
            Some(d) => d,
            None => j
                .issue_details(issue["key"].as_str().unwrap_or_default())
                .await
                .map_err(site_error(Source))?,
        };
        write_issue(run, j, project, issue, details, include_attachments).await?;
    }
    drop(issues);
    // Unchanged since the parent (or stored by an earlier attempt): taken over unread,
    // attachments with them.
    for id in rest {
        if !seen.insert(id.clone()) {
            continue;
        }
        let path = layout::jira_issue(project, &id);
        match run.take_over(&path, Want::Any, true).await? {
            Some((from, attrs)) => {
                AttachmentSource::Jira(j)
                    .taken_over(run, from, &path, &attrs)
                    .await?;
            }
            None => {
                // Not in the parent (or not reusable): read it now.
                let issue = j.issue(&id).await.map_err(site_error(Source))?;
                let key = issue["key"].as_str().unwrap_or_default().to_string();
                let details = j.issue_details(&key).await.map_err(site_error(Source))?;
                write_issue(run, j, project, issue, details, include_attachments).await?;
            }
        }
    }
    Ok(())
}

/// The attributes an issue's document is stored with: its `updated` stamp and attachment ids.
fn issue_attrs(issue: &Value) -> BTreeMap<String, String> {
    let ids: Vec<String> = issue["fields"]["attachment"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| id_str(&a["id"]).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    BTreeMap::from([
        (
            attr::UPDATED.to_string(),
            issue["fields"]["updated"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        (attr::ATTACHMENTS.to_string(), ids.join(",")),
        (
            attr::KEY.to_string(),
            issue["key"].as_str().unwrap_or_default().to_string(),
        ),
        (
            attr::PARENT.to_string(),
            id_str(&issue["fields"]["parent"]["id"]).unwrap_or_default(),
        ),
    ])
}

/// Writes an issue that was read, then streams its attachments.
async fn write_issue(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    issue: Value,
    details: cairn_connectors::IssueDetails,
    include_attachments: bool,
) -> Result<(), EngineError> {
    let id = id_str(&issue["id"]).unwrap_or_default();
    let attachments: Vec<Value> = issue["fields"]["attachment"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let attrs = issue_attrs(&issue);
    let properties: Vec<Value> = details
        .properties
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let doc = json!({
        "issue": issue,
        "changelog": details.changelog,
        "comments": details.comments,
        "worklogs": details.worklogs,
        "remoteLinks": details.remote_links,
        "watchers": details.watchers,
        "properties": properties,
    });
    run.put(
        &layout::jira_issue(project, &id),
        &doc,
        attrs,
        Category::Data,
    )
    .await?;
    if include_attachments {
        run.known += attachments.len() as u64;
        for a in &attachments {
            AttachmentSource::Jira(j)
                .store(run, &doc, &id_str(&a["id"]).unwrap_or_default())
                .await?;
        }
    }
    Ok(())
}
