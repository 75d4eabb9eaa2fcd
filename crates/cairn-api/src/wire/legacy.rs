//! The legacy site-export calls' shapes (`shared/spec/legacy-export-api.md`), letter for letter
//! what the old Jira and Confluence export scripts read. Serialized compactly, so each
//! `"key":"value"` stays on one line for the scripts that cut it out with sed.

use cairn_control::management::{LegacyProgress, LegacyStatus};
use serde::Serialize;

/// Jira's *Start*: `200 {"taskId": "<backup id>"}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraTaskStarted {
    pub task_id: String,
}

/// Jira's *Progress*. Every key is always there but `result`, which appears only once the
/// archive is ready (the scripts poll until it exists).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraProgress {
    /// `Enqueued`, `InProgress`, `Success` or `Failed`.
    pub status: &'static str,
    pub description: String,
    pub message: String,
    /// 0..=100.
    pub progress: u8,
    /// Always `CLOUD`.
    pub export_type: &'static str,
    /// `export/download/?fileId=<id>`, relative to `{base}/plugins/servlet/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

fn status_literal(status: LegacyStatus) -> &'static str {
    match status {
        LegacyStatus::Enqueued => "Enqueued",
        LegacyStatus::InProgress => "InProgress",
        LegacyStatus::Success => "Success",
        LegacyStatus::Failed => "Failed",
    }
}

/// The `result` of a ready Jira export.
pub fn jira_result(backup_id: &str) -> String {
    format!("export/download/?fileId={backup_id}")
}

impl From<&LegacyProgress> for JiraProgress {
    fn from(p: &LegacyProgress) -> Self {
        JiraProgress {
            status: status_literal(p.status),
            description: p.description.clone(),
            message: p.description.clone(),
            progress: p.percent,
            export_type: "CLOUD",
            result: p.ready().then(|| jira_result(&p.backup.id)),
        }
    }
}

/// Confluence's *Progress* (`getprogress` and `getprogress.json`): the latest backup of the
/// site's Confluence; `fileName` only once its archive is ready.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfluenceProgress {
    pub current_status: String,
    /// A string such as `"42%"`.
    pub alternative_percentage: String,
    pub concurrent_backup_in_progress: bool,
    /// Whether the latest archive is gone (the backup expired, or there is none yet).
    pub is_outdated: bool,
    /// Bytes the backup read from the site.
    pub size: u64,
    /// When the backup last changed, in milliseconds since 1970.
    pub time: i64,
    /// `download/` + this is the archive, relative to `{base}/wiki/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// The `fileName` of a ready Confluence export: the name its download is saved under.
pub fn confluence_file_name(backup_id: &str) -> String {
    format!("cairn-backup-{backup_id}.zip")
}

/// The backup id a `fileName` names.
pub fn backup_id_of_file_name(name: &str) -> Option<&str> {
    name.strip_prefix("cairn-backup-")?.strip_suffix(".zip")
}

impl From<&LegacyProgress> for ConfluenceProgress {
    fn from(p: &LegacyProgress) -> Self {
        let b = &p.backup;
        ConfluenceProgress {
            current_status: p.description.clone(),
            alternative_percentage: format!("{}%", p.percent),
            concurrent_backup_in_progress: p.in_flight(),
            is_outdated: b.status == cairn_store::BackupStatus::Expired,
            size: b.users_size + b.data_size + b.attachments_size,
            time: b.updated_at.timestamp_millis(),
            file_name: p.ready().then(|| confluence_file_name(&b.id)),
        }
    }
}

impl ConfluenceProgress {
    /// Before the site's Confluence has any backup.
    pub fn none_yet() -> Self {
        ConfluenceProgress {
            current_status: "No backup has been made yet.".into(),
            alternative_percentage: "0%".into(),
            concurrent_backup_in_progress: false,
            is_outdated: true,
            size: 0,
            time: 0,
            file_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{backup_id_of_file_name, confluence_file_name};

    #[test]
    fn a_file_name_names_its_backup() {
        let name = confluence_file_name("0b5c-77");
        assert_eq!(backup_id_of_file_name(&name), Some("0b5c-77"));
        assert_eq!(backup_id_of_file_name("other.zip"), None);
    }
}
