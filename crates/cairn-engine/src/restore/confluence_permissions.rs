//! A space's permissions (users, groups, anonymous access), written once the space's content,
//! order and restrictions are, into a space this restore created (phase
//! `spacePermissions:{KEY}`):
//!
//! - Each backed-up permission is given (v1 `POST /space/{key}/permission`) unless the
//!   destination has it already: users by account id, groups by name (the backup keeps each
//!   group's name beside its id), everyone as the user `anonymous`. One naming an account or a
//!   group the destination does not have, a role, or a target v1 cannot write (a whiteboard's,
//!   a database's, ...) is left out and named in `result.skippedItems` (kind
//!   `spacePermission`, source `KEY/operation:target/principal`): never widened to someone else.
//! - Then the permissions the new space has that the backup does not (those Confluence gave the
//!   restoring account as the space's creator) are removed, the `read` ones last (removing
//!   `read` removes the rest of that principal's). So the space ends with the backed-up
//!   permissions only; until then it is narrower (only its creator had any).
//!
//! A refused write is a failed item (kind `spacePermission`). Giving and removing check what the
//! destination holds first, so a resumed restore does neither twice.

use std::collections::{BTreeSet, HashMap};

use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::Value;

use super::restrictions::Directory;
use crate::json::{id_str, items, text};
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

const KIND: &str = "spacePermission";

/// Targets v1 writes a permission on.
const V1_TARGETS: [&str; 5] = ["space", "page", "blogpost", "comment", "attachment"];

/// A permission as (subject type, identifier, operation, target): users by account id (or
/// `anonymous`), groups by name.
type Grant = (String, String, String, String);

pub(super) async fn write(
    run: &mut RestoreRun<'_>,
    dir: &mut Directory,
    key: &str,
    space_id: &str,
    doc: &Value,
) -> Result<(), EngineError> {
    let phase = format!("spacePermissions:{key}");
    if run.map.phase_done(&phase) || doc.get("permissions").is_none() {
        return Ok(());
    }
    let mut wanted: Vec<Grant> = Vec::new();
    for p in items(&doc["permissions"]) {
        let (op, target) = (
            text(&p["operation"], "key").to_string(),
            text(&p["operation"], "targetType").to_string(),
        );
        let principal = &p["principal"];
        let id = id_str(&principal["id"]).unwrap_or_default();
        let source = format!("{key}/{op}:{target}/{}:{id}", text(principal, "type"));
        if !V1_TARGETS.contains(&target.as_str()) {
            run.map.skipped_because(
                KIND,
                &source,
                format!("the API writes no space permission on {target}"),
            );
            continue;
        }
        let grant = match text(principal, "type") {
            "user" if id == "anonymous" => Some(("user", id.clone())),
            "user" if dir.has_user(&id).await? => Some(("user", id.clone())),
            "user" => {
                run.map.skipped_because(
                    KIND,
                    &source,
                    format!("the destination has no account {id}"),
                );
                None
            }
            "group" => {
                let name = text(principal, "name").to_string();
                if !name.is_empty() && dir.has_group(&name).await? {
                    Some(("group", name))
                } else {
                    run.map.skipped_because(
                        KIND,
                        &source,
                        format!("the destination has no group named {name:?}"),
                    );
                    None
                }
            }
            other => {
                run.map.skipped_because(
                    KIND,
                    &source,
                    format!("a permission of a {other:?} principal is not written"),
                );
                None
            }
        };
        if let Some((ty, ident)) = grant {
            let grant = (ty.to_string(), ident, op, target);
            // A site lists a permission once; a backup that holds one twice gives it once.
            if !wanted.contains(&grant) {
                wanted.push(grant);
            }
        }
    }
    let held = held(dir, space_id).await?;
    let have: BTreeSet<&Grant> = held.iter().map(|(g, _)| g).collect();
    for g in &wanted {
        if have.contains(g) {
            continue;
        }
        let (ty, ident, op, target) = g;
        let r = dir
            .wiki
            .add_space_permission(key, ty, ident, op, target)
            .await;
        run.outcome(KIND, &format!("{key}/{op}:{target}/{ty}:{ident}"), r)?;
    }
    let wanted: BTreeSet<&Grant> = wanted.iter().collect();
    let mut extra: Vec<&(Grant, String)> =
        held.iter().filter(|(g, _)| !wanted.contains(g)).collect();
    // `read` last: removing it removes the rest of that principal's permissions.
    extra.sort_by_key(|((_, _, op, target), _)| op == "read" && target == "space");
    for ((ty, ident, op, target), id) in extra {
        if let Err(e) = dir.wiki.remove_space_permission(key, id).await {
            if e.is_not_found() {
                continue; // Went with the principal's `read`.
            }
            run.refused(KIND, &format!("{key}/{op}:{target}/{ty}:{ident}"), e)?;
        }
    }
    run.map.finish_phase(&phase, run.ctx).await
}

/// The destination space's permissions as grants (groups by name), with their ids.
async fn held(dir: &mut Directory, space_id: &str) -> Result<Vec<(Grant, String)>, EngineError> {
    let listed: Vec<Value> = dir
        .wiki
        .space_permissions(space_id)
        .try_collect()
        .await
        .map_err(site_error(Destination))?;
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for p in listed {
        let principal = &p["principal"];
        let mut ident = id_str(&principal["id"]).unwrap_or_default();
        let ty = text(principal, "type").to_string();
        if ty == "group" {
            if !names.contains_key(&ident) {
                let name = dir
                    .wiki
                    .group_name(&ident)
                    .await
                    .map_err(site_error(Destination))?;
                names.insert(ident.clone(), name);
            }
            ident = names[&ident].clone().unwrap_or(ident);
        }
        let grant = (
            ty,
            ident,
            text(&p["operation"], "key").to_string(),
            text(&p["operation"], "targetType").to_string(),
        );
        out.push((grant, id_str(&p["id"]).unwrap_or_default()));
    }
    Ok(out)
}
