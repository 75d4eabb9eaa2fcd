//! Restrictions of pages and blog posts (who may read, who may edit), written so that a restore
//! never makes content more visible than it was:
//!
//! 1. An item that had any restriction is created private (v2 `private=true`): from its first
//!    moment only the restoring account reads or edits it. Its body, labels, properties,
//!    attachments and comments are written while it is private, and so are the pages under it
//!    (a read restriction is inherited, so they are hidden too). A restricted homepage (which
//!    the new space comes with, unrestricted but empty) is restricted to the restoring account
//!    before its title and body are written.
//! 2. Once every page and blog post of the space is written, each restricted item's own
//!    restrictions replace the private one (v1 `PUT /content/{id}/restriction`), with its users
//!    and groups mapped into the destination: an account the destination does not have, or a
//!    group it lacks, is left out and named in `result.skippedItems` (kind
//!    `contentRestriction`, source `pageId/operation/user:accountId` or `.../group:name`). When
//!    nobody of an operation's restriction is left, the item stays restricted to the restoring
//!    account for that operation: a restriction is never widened.
//! 3. A restriction the destination refuses leaves the item private (restricted to the
//!    restoring account) and is a failed item (kind `contentRestriction`, the item's id).
//!
//! Replacing restrictions is idempotent: a resumed restore writes those it had not recorded as
//! written (the map's kind `contentRestriction`) again, and creates nothing twice.

use std::collections::HashMap;

use cairn_connectors::Confluence;
use cairn_control::jobs::EngineError;
use serde_json::{Value, json};

use crate::json::{ContentRestriction, content_restrictions, items};
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

/// The map's kind of a written restriction and of a restriction left out or refused.
pub(super) const KIND: &str = "contentRestriction";

/// The restrictions in a backed-up page or blog post document: the operations that name
/// anyone (an empty entry is no restriction).
pub(super) fn of_doc(doc: &Value) -> Vec<ContentRestriction> {
    content_restrictions(items(&doc["restrictions"]))
}

/// Whether the backed-up item had any restriction (it is then created private).
pub(super) fn is_restricted(doc: &Value) -> bool {
    !of_doc(doc).is_empty()
}

/// The body that restricts reading and editing to one account.
pub(super) fn only(account: &str) -> Value {
    let me = json!([{"type": "known", "accountId": account}]);
    json!([
        {"operation": "read", "restrictions": {"user": me}},
        {"operation": "update", "restrictions": {"user": me}},
    ])
}

/// What the destination's directory has, asked once per account and group.
pub(super) struct Directory {
    pub(super) wiki: Confluence,
    users: HashMap<String, bool>,
    groups: HashMap<String, bool>,
    me: Option<String>,
}

impl Directory {
    pub(super) fn new(wiki: &Confluence) -> Directory {
        Directory {
            wiki: wiki.clone(),
            users: HashMap::new(),
            groups: HashMap::new(),
            me: None,
        }
    }

    pub(super) async fn has_user(&mut self, account: &str) -> Result<bool, EngineError> {
        if let Some(&known) = self.users.get(account) {
            return Ok(known);
        }
        let known = self
            .wiki
            .has_user(account)
            .await
            .map_err(site_error(Destination))?;
        self.users.insert(account.to_string(), known);
        Ok(known)
    }

    pub(super) async fn has_group(&mut self, name: &str) -> Result<bool, EngineError> {
        if let Some(&known) = self.groups.get(name) {
            return Ok(known);
        }
        let known = self
            .wiki
            .has_group(name)
            .await
            .map_err(site_error(Destination))?;
        self.groups.insert(name.to_string(), known);
        Ok(known)
    }

    /// The restoring account's id.
    pub(super) async fn me(&mut self) -> Result<String, EngineError> {
        if let Some(me) = &self.me {
            return Ok(me.clone());
        }
        let me = self
            .wiki
            .current_account_id()
            .await
            .map_err(site_error(Destination))?;
        self.me = Some(me.clone());
        Ok(me)
    }
}

/// Writes the backed-up restrictions of one item, created private as `dest` (see the module's
/// documentation); `source` is its id in the backup. Does nothing when they were written
/// already.
pub(super) async fn write(
    run: &mut RestoreRun<'_>,
    dir: &mut Directory,
    source: &str,
    dest: &str,
    doc: &Value,
) -> Result<(), EngineError> {
    if run.map.get(KIND, source).is_some() || run.map.has_failed(KIND, source) {
        return Ok(());
    }
    let mut body = Vec::new();
    for r in of_doc(doc) {
        let mut users = Vec::new();
        for u in &r.users {
            if dir.has_user(u).await? {
                users.push(json!({"type": "known", "accountId": u}));
            } else {
                run.map.skipped_because(
                    KIND,
                    &format!("{source}/{}/user:{u}", r.operation),
                    format!("the destination has no account {u}"),
                );
            }
        }
        let mut groups = Vec::new();
        for g in &r.groups {
            if dir.has_group(g).await? {
                groups.push(json!({"type": "group", "name": g}));
            } else {
                run.map.skipped_because(
                    KIND,
                    &format!("{source}/{}/group:{g}", r.operation),
                    format!("the destination has no group named {g:?}"),
                );
            }
        }
        if users.is_empty() && groups.is_empty() {
            // Nobody left: dropping the restriction would widen it.
            users.push(json!({"type": "known", "accountId": dir.me().await?}));
        }
        let mut restrictions = json!({"user": users});
        if !groups.is_empty() {
            restrictions["group"] = json!(groups);
        }
        body.push(json!({"operation": r.operation, "restrictions": restrictions}));
    }
    let r = dir.wiki.set_restrictions(dest, &json!(body)).await;
    if run.outcome(KIND, source, r)?.is_some() {
        run.map.insert(KIND, source, dest);
    }
    Ok(())
}
