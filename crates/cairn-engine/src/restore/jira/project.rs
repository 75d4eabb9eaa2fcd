//! A project with its components and versions, and the boards of the restored projects with
//! their sprints.

use std::collections::{HashMap, HashSet};

use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::layout;
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

/// Creates one project with its components and versions; false when it is not restored (its
/// key exists in the destination and is not this restore's, or it could not be created).
pub(super) async fn project(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    key: &str,
) -> Result<bool, EngineError> {
    let Some(doc) = run.doc(&layout::jira_project(key)).await? else {
        return Ok(false);
    };
    let p = doc.get("project").unwrap_or(&doc).clone();
    if run.map.get("project", key).is_none() {
        if run.map.has_failed("project", key) {
            return Ok(false);
        }
        match dest.jira.project(key).await {
            Ok(found) if run.map.is_open("project", key) => {
                // Created by an earlier attempt just before it stopped (not counted yet).
                run.map.created("project");
                run.map
                    .insert("project", key, &id_str(&found["id"]).unwrap_or_default());
            }
            Ok(_) => {
                // Rule 8: never write into what exists.
                run.map.skipped("project");
                return Ok(false);
            }
            Err(e) if e.is_not_found() => {
                run.map.open("project", key);
                run.map.save(run.ctx).await?;
                let lead = id_str(&p["lead"]["accountId"])
                    .or_else(|| id_str(&p["leadAccountId"]))
                    .and_then(|a| dest.account(&a))
                    .unwrap_or_else(|| dest.me.clone());
                let mut body = json!({
                    "key": key,
                    "name": p["name"],
                    "description": p["description"].as_str().unwrap_or_default(),
                    "projectTypeKey": p["projectTypeKey"].as_str().unwrap_or("software"),
                    "leadAccountId": lead,
                });
                super::security::project_body(run, key, &p, &mut body).await?;
                let created = dest.jira.create_project(&body).await;
                match run.outcome("project", key, created)? {
                    Some(c) => run.map.insert("project", key, &c.id),
                    None => return Ok(false),
                }
                run.map.save(run.ctx).await?;
            }
            Err(e) => return Err(site_error(Destination)(e)),
        }
    }
    if !run.map.is_open("project", key) {
        return Ok(true);
    }
    super::security::role_actors(run, dest, key, &p).await?;
    // Components and versions: by name, any already there were created by this restore.
    let resumed = run.map.resumed();
    let mut have = HashSet::new();
    if resumed {
        let mut s = dest.jira.components(key);
        while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
            have.insert(format!("component:{}", text(&c, "name")));
        }
        let mut s = dest.jira.versions(key);
        while let Some(v) = s.try_next().await.map_err(site_error(Destination))? {
            have.insert(format!("version:{}", text(&v, "name")));
        }
    }
    for c in items(&p["components"]) {
        let sid = id_str(&c["id"]).unwrap_or_default();
        if run.map.get("component", &sid).is_some() {
            continue;
        }
        if have.contains(&format!("component:{}", text(c, "name"))) {
            run.map.created("component");
            continue;
        }
        let mut body = json!({"project": key, "name": c["name"], "description": c["description"].as_str().unwrap_or_default()});
        if let Some(lead) = id_str(&c["lead"]["accountId"])
            .or_else(|| id_str(&c["leadAccountId"]))
            .and_then(|a| dest.account(&a))
        {
            body["leadAccountId"] = json!(lead);
        }
        if let Some(t) = c["assigneeType"].as_str() {
            body["assigneeType"] = json!(t);
        }
        let r = dest.jira.create_component(&body).await;
        if let Some(id) = run.outcome("component", &sid, r)? {
            run.map.insert("component", &sid, &id);
        }
        run.step().await?;
    }
    for v in items(&p["versions"]) {
        let sid = id_str(&v["id"]).unwrap_or_default();
        if run.map.get("version", &sid).is_some() {
            continue;
        }
        if have.contains(&format!("version:{}", text(v, "name"))) {
            run.map.created("version");
            continue;
        }
        let mut body = json!({"project": key, "name": v["name"]});
        for k in [
            "description",
            "released",
            "archived",
            "releaseDate",
            "startDate",
        ] {
            if !v[k].is_null() {
                body[k] = v[k].clone();
            }
        }
        let r = dest.jira.create_version(&body).await;
        if let Some(id) = run.outcome("version", &sid, r)? {
            run.map.insert("version", &sid, &id);
        }
        run.step().await?;
    }
    run.map.close("project", key);
    run.map.save(run.ctx).await?;
    Ok(true)
}

/// Boards of the restored projects, with their sprints (state and dates set after creation).
pub(super) async fn boards(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    projects: &[String],
) -> Result<(), EngineError> {
    if run.map.phase_done("boards") {
        return Ok(());
    }
    // Boards and sprints an earlier attempt made, by project and name.
    let mut found: HashMap<String, String> = HashMap::new();
    if run.map.resumed() {
        let mut s = dest.jira.boards();
        while let Some(b) = s.try_next().await.map_err(site_error(Destination))? {
            let k = format!(
                "{}/{}",
                text(&b["location"], "projectKey"),
                text(&b, "name")
            );
            found.insert(k, id_str(&b["id"]).unwrap_or_default());
        }
    }
    for path in run.list(&layout::jira_boards_dir()).await? {
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let b = doc.get("board").unwrap_or(&doc);
        let project = text(&b["location"], "projectKey").to_string();
        if !projects.contains(&project) {
            continue;
        }
        let sid = id_str(&b["id"]).unwrap_or_default();
        let board = match run.map.get("board", &sid) {
            Some(d) => d.to_string(),
            None => {
                if let Some(d) = found.get(&format!("{project}/{}", text(b, "name"))) {
                    run.map.created("board");
                    run.map.insert("board", &sid, d);
                    d.clone()
                } else {
                    let body = json!({"name": b["name"], "type": b["type"], "location": {"type": "project", "projectKeyOrId": project}});
                    let r = dest.jira.create_board(&body).await;
                    let Some(d) = run.outcome("board", &sid, r)? else {
                        continue;
                    };
                    run.map.insert("board", &sid, &d);
                    d
                }
            }
        };
        // Sprints an earlier attempt made, by name, with their state: one killed between its
        // create and its state's update is still `future` and gets its state now.
        let mut have: HashMap<String, (String, String)> = HashMap::new();
        if run.map.resumed() {
            let mut s = dest.jira.sprints(&board);
            while let Some(sp) = s.try_next().await.map_err(site_error(Destination))? {
                have.insert(
                    text(&sp, "name").to_string(),
                    (
                        id_str(&sp["id"]).unwrap_or_default(),
                        text(&sp, "state").to_string(),
                    ),
                );
            }
        }
        for s in items(&doc["sprints"]) {
            let ssid = id_str(&s["id"]).unwrap_or_default();
            let earlier = have.get(text(s, "name"));
            let (d, current) = if let Some(d) = run.map.get("sprint", &ssid) {
                (d.to_string(), earlier.map(|(_, state)| state.as_str()))
            } else if let Some((d, state)) = earlier {
                run.map.created("sprint");
                run.map.insert("sprint", &ssid, d);
                (d.clone(), Some(state.as_str()))
            } else {
                let origin = board
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or(json!(board));
                let mut body = json!({"name": s["name"], "originBoardId": origin});
                if !s["goal"].is_null() {
                    body["goal"] = s["goal"].clone();
                }
                let r = dest.jira.create_sprint(&body).await;
                let Some(d) = run.outcome("sprint", &ssid, r)? else {
                    continue;
                };
                run.map.insert("sprint", &ssid, &d);
                (d, Some("future"))
            };
            let state = text(s, "state");
            if state != "future" && !state.is_empty() && current == Some("future") {
                let mut update = json!({"state": state});
                for k in ["startDate", "endDate"] {
                    if !s[k].is_null() {
                        update[k] = s[k].clone();
                    }
                }
                if let Err(e) = dest.jira.update_sprint(&d, &update).await {
                    run.refused("sprintState", &ssid, e)?;
                }
            }
            run.step().await?;
        }
        run.step().await?;
    }
    run.map.finish_phase("boards", run.ctx).await
}
