//! Jira Software agile: boards and sprints, read and written.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::*;
use crate::model::*;

use super::R;

fn board_json(site: &Site, base: &str, b: &Board) -> Value {
    let p = site.projects.get(&b.project_id);
    json!({
        "id": b.id, "self": format!("{base}/rest/agile/1.0/board/{}", b.id), "name": b.name, "type": b.kind,
        "location": {"projectId": b.project_id, "projectKey": p.map(|p| p.key.clone()), "projectName": p.map(|p| p.name.clone()),
                     "displayName": p.map(|p| format!("{} ({})", p.name, p.key)), "projectTypeKey": "software", "name": p.map(|p| format!("{} ({})", p.name, p.key))},
    })
}

fn sprint_json(base: &str, s: &Sprint) -> Value {
    let mut v = json!({"id": s.id, "self": format!("{base}/rest/agile/1.0/sprint/{}", s.id), "state": s.state, "name": s.name, "originBoardId": s.board_id, "goal": s.goal});
    if let (Some(a), Some(b)) = (s.start, s.end) {
        v["startDate"] = json!(conf_ts(&a));
        v["endDate"] = json!(conf_ts(&b));
        if s.state == "closed" {
            v["completeDate"] = json!(conf_ts(&b));
        }
    }
    v
}

pub fn boards(site: &Site, r: &Req) -> R {
    let pk = r.q("projectKeyOrId");
    let items: Vec<Value> = site
        .boards
        .values()
        .filter(|b| {
            pk.is_none_or(|k| {
                site.projects
                    .get(&b.project_id)
                    .is_some_and(|p| p.key.eq_ignore_ascii_case(k) || p.id.to_string() == k)
            })
        })
        .filter(|b| r.q("type").is_none_or(|t| t == b.kind))
        .map(|b| board_json(site, &r.base, b))
        .collect();
    let mut v = page_bean(r, items, 50, 50)?;
    if let Value::Object(m) = &mut v {
        m.remove("self");
        m.remove("nextPage");
    }
    Ok(ok(v))
}

pub fn board_get(site: &Site, r: &Req) -> R {
    let b = r
        .p("boardId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.boards.get(&id))
        .ok_or_else(|| {
            r.not_found("Board does not exist or you do not have permission to see it.")
        })?;
    Ok(ok(board_json(site, &r.base, b)))
}

pub fn board_sprints(site: &Site, r: &Req) -> R {
    let b = r
        .p("boardId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.boards.get(&id))
        .ok_or_else(|| {
            r.not_found("Board does not exist or you do not have permission to see it.")
        })?;
    if b.kind != "scrum" {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The board does not support sprints",
        ));
    }
    let states = r.q_all("state");
    let items: Vec<Value> = site
        .sprints
        .values()
        .filter(|s| s.board_id == b.id && (states.is_empty() || states.contains(&s.state.as_str())))
        .map(|s| sprint_json(&r.base, s))
        .collect();
    let mut v = page_bean(r, items, 50, 50)?;
    if let Value::Object(m) = &mut v {
        m.remove("self");
        m.remove("nextPage");
    }
    Ok(ok(v))
}

pub fn sprint_get(site: &Site, r: &Req) -> R {
    let s = r
        .p("sprintId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.sprints.get(&id))
        .ok_or_else(|| r.not_found("Sprint does not exist."))?;
    Ok(ok(sprint_json(&r.base, s)))
}
pub fn board_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "name is required"))?
        .to_string();
    let kind = b["type"]
        .as_str()
        .filter(|t| *t == "scrum" || *t == "kanban")
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "type must be scrum or kanban"))?
        .to_string();
    let pref = b["location"]["projectKeyOrId"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            b["location"]["projectKeyOrId"]
                .as_u64()
                .map(|n| n.to_string())
        })
        .unwrap_or_default();
    let pid = site.project_by_ref(&pref).map(|p| p.id).ok_or_else(|| {
        r.err(
            StatusCode::BAD_REQUEST,
            "location.projectKeyOrId must name a project (location.type = project)",
        )
    })?;
    let id = site.alloc_id();
    let board = Board {
        id,
        name,
        kind,
        project_id: pid,
    };
    let v = board_json(site, &r.base, &board);
    site.boards.insert(id, board);
    Ok(created(v))
}

pub fn sprint_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let board = b["originBoardId"]
        .as_u64()
        .filter(|id| site.boards.get(id).is_some_and(|b| b.kind == "scrum"))
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "originBoardId must name a scrum board",
            )
        })?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "name is required"))?
        .to_string();
    let ts = |k: &str| {
        b[k].as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let id = site.alloc_id();
    let s = Sprint {
        id,
        board_id: board,
        name,
        state: "future".into(),
        goal: b["goal"].as_str().unwrap_or("").into(),
        start: ts("startDate"),
        end: ts("endDate"),
    };
    let v = sprint_json(&r.base, &s);
    site.sprints.insert(id, s);
    Ok(created(v))
}

/// Partial update: name, goal, state (`future` -> `active` -> `closed`), startDate, endDate.
pub fn sprint_update(site: &mut Site, r: &Req) -> R {
    let id = r
        .p("sprintId")
        .parse::<u64>()
        .ok()
        .filter(|id| site.sprints.contains_key(id))
        .ok_or_else(|| r.not_found("Sprint does not exist."))?;
    let b = r.json()?;
    let ts = |k: &str| {
        b[k].as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let s = site.sprints.get_mut(&id).unwrap();
    if let Some(st) = b["state"].as_str() {
        if !["future", "active", "closed"].contains(&st) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "state must be future, active or closed",
            ));
        }
        s.state = st.to_string();
    }
    if let Some(n) = b["name"].as_str() {
        s.name = n.to_string();
    }
    if let Some(g) = b["goal"].as_str() {
        s.goal = g.to_string();
    }
    if let Some(t) = ts("startDate") {
        s.start = Some(t);
    }
    if let Some(t) = ts("endDate") {
        s.end = Some(t);
    }
    Ok(ok(sprint_json(&r.base, s)))
}
