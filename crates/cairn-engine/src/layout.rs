//! Where each entity lives in a backup's vault snapshot, and how documents are encoded. The one
//! place both the backup and the restore take paths from.
//!
//! ```text
//! jira/site.json                                   serverInfo + what was selected
//! jira/config/{name}.json                          arrays as Atlassian returns them (CONFIG)
//! jira/projects/{KEY}/project.json                 project with components, versions, roles
//! jira/projects/{KEY}/issues/{issueId}.json        {issue, changelog, comments, worklogs, remoteLinks, watchers, properties}
//! jira/attachments/{attachmentId}                  stream
//! jira/boards/{boardId}.json                       board + sprints
//! jira/users/{accountId}.json, jira/groups/{groupId}.json (with members)   only with USERS
//! confluence/site.json                             what was selected
//! confluence/spaces/{KEY}/space.json              {space, permissions, labels, properties}
//! confluence/spaces/{KEY}/pages/{pageId}.json      {page, labels, properties, footerComments, inlineComments, attachments, restrictions}
//! confluence/spaces/{KEY}/blogposts/{id}.json      same shape with "blogpost"
//! confluence/attachments/{attachmentId}            stream
//! ```
//!
//! Every document is canonical JSON: object keys sorted, no insignificant whitespace, so an
//! unchanged entity gives the same bytes (and the vault stores it once).

use serde_json::Value;

pub const JIRA: &str = "jira";
pub const CONFLUENCE: &str = "confluence";

/// The Jira configuration documents under `jira/config/`.
pub const JIRA_CONFIG: &[&str] = &[
    "issuetypes",
    "fields",
    "statuses",
    "priorities",
    "resolutions",
    "issuelinktypes",
    "roles",
    "projectcategories",
    "workflows",
    "workflowschemes",
    "issuetypeschemes",
    "permissionschemes",
    "workflowstatuses",
    "issuetypeschememappings",
    "projectschemes",
];

/// Snapshot metadata keys.
pub mod meta {
    pub const BACKUP_ID: &str = "cairn.backupId";
    pub const POLICY_ID: &str = "cairn.policyId";
    pub const CLOUD_ID: &str = "cloudId";
    pub const PRODUCT: &str = "product";
    pub const STARTED_AT: &str = "startedAt";
    /// Items the backup wrote or took over (its final snapshot only).
    pub const ITEMS: &str = "items";
    /// `"true"` on a checkpoint snapshot.
    pub const CHECKPOINT: &str = "checkpoint";
}

/// The tag of a backup's final snapshot: a resumed attempt finds by it the snapshot of an
/// attempt that died before its record was updated.
pub fn backup_tag(backup_id: &str) -> String {
    format!("backup:{backup_id}")
}

/// The tag of a backup's checkpoint snapshots: a resumed attempt finds by it the checkpoints
/// the job checkpoint missed.
pub fn checkpoint_tag(backup_id: &str) -> String {
    format!("checkpoint:{backup_id}")
}

/// Entry attribute keys (the parent hint compares them).
pub mod attr {
    /// The item's own modification stamp (`fields.updated`, `version.createdAt`).
    pub const UPDATED: &str = "updated";
    /// A Jira issue's key when it was backed up: a restore of single issues finds them by it.
    pub const KEY: &str = "key";
    /// The id of the item's parent (issue or page), empty for none. A parent deleted on the
    /// site moves its children without changing their `updated` stamp, so an item is taken
    /// over unread only if its parent is the same too.
    pub const PARENT: &str = "parent";
    /// The ids of the item's attachments, comma-separated: taken over with the item.
    pub const ATTACHMENTS: &str = "attachments";
    /// A digest of a Confluence item's restrictions. Changing them leaves the item's version
    /// alone, so an item is taken over unread only if this is the same too.
    pub const RESTRICTIONS: &str = "restrictions";
}

pub fn jira_site() -> String {
    "jira/site.json".into()
}

pub fn jira_config(name: &str) -> String {
    format!("jira/config/{name}.json")
}

pub fn jira_projects_dir() -> String {
    "jira/projects".into()
}

pub fn jira_project(key: &str) -> String {
    format!("jira/projects/{key}/project.json")
}

pub fn jira_issues_dir(project_key: &str) -> String {
    format!("jira/projects/{project_key}/issues")
}

pub fn jira_issue(project_key: &str, issue_id: &str) -> String {
    format!("jira/projects/{project_key}/issues/{issue_id}.json")
}

pub fn jira_attachments_dir() -> String {
    "jira/attachments".into()
}

pub fn jira_attachment(attachment_id: &str) -> String {
    format!("jira/attachments/{attachment_id}")
}

pub fn jira_board(board_id: &str) -> String {
    format!("jira/boards/{board_id}.json")
}

pub fn jira_boards_dir() -> String {
    "jira/boards".into()
}

pub fn jira_user(account_id: &str) -> String {
    format!("jira/users/{account_id}.json")
}

pub fn jira_users_dir() -> String {
    "jira/users".into()
}

pub fn jira_group(group_id: &str) -> String {
    format!("jira/groups/{group_id}.json")
}

pub fn jira_groups_dir() -> String {
    "jira/groups".into()
}

pub fn confluence_site() -> String {
    "confluence/site.json".into()
}

pub fn confluence_spaces_dir() -> String {
    "confluence/spaces".into()
}

pub fn confluence_space(key: &str) -> String {
    format!("confluence/spaces/{key}/space.json")
}

/// `kind` is `pages` or `blogposts`.
pub fn confluence_contents_dir(space_key: &str, kind: &str) -> String {
    format!("confluence/spaces/{space_key}/{kind}")
}

pub fn confluence_page(space_key: &str, page_id: &str) -> String {
    format!("confluence/spaces/{space_key}/pages/{page_id}.json")
}

pub fn confluence_blogpost(space_key: &str, id: &str) -> String {
    format!("confluence/spaces/{space_key}/blogposts/{id}.json")
}

pub fn confluence_attachments_dir() -> String {
    "confluence/attachments".into()
}

pub fn confluence_attachment(attachment_id: &str) -> String {
    format!("confluence/attachments/{attachment_id}")
}

/// Whether `path` is an attachment's stream (of either product).
pub fn is_attachment(path: &str) -> bool {
    [jira_attachments_dir(), confluence_attachments_dir()]
        .iter()
        .any(|dir| {
            path.strip_prefix(dir.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// The last path component without `.json`: the id or key an entry is named by.
pub fn entry_id(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".json").unwrap_or(name)
}

/// Canonical JSON: object keys sorted at every level, compact.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(&sorted(value)).unwrap_or_default()
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn entry_ids_come_from_the_last_component() {
        assert_eq!(entry_id(&jira_issue("PROJ", "10001")), "10001");
        assert_eq!(entry_id(&jira_attachment("42")), "42");
    }

    #[test]
    fn attachments_are_told_by_their_directory() {
        assert!(is_attachment(&jira_attachment("42")));
        assert!(is_attachment(&confluence_attachment("att7")));
        assert!(!is_attachment(&jira_issue("PROJ", "10001")));
        assert!(!is_attachment(&confluence_page("attachments", "5")));
        assert!(!is_attachment(&jira_attachments_dir()));
    }
}
