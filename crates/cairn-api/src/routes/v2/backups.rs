//! `orgs/{orgId}/backups`: every backup of the org (spec 2.1).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_store::{BackupFilter, BackupStatus, Product};
use futures::TryStreamExt;

use crate::error::{ApiResult, ErrorBody, JSON_UTF8, RequestError};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{
    BackupContentItem, BackupContentsResponse, Binary, PublicApiBackupV2, PublicApiBackupV2Response,
};

pub(super) async fn page_of(
    state: &AppState,
    filter: &BackupFilter,
    page: PageRequest,
) -> ApiResult<Json<PublicApiBackupV2Response>> {
    let found = state
        .management
        .list_backups(filter, page.to_store())
        .await?;
    Ok(Json(PublicApiBackupV2Response {
        backups: found
            .items
            .into_iter()
            .map(PublicApiBackupV2::from)
            .collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups", tag = "backups",
    operation_id = "listBackups",
    params(("orgId" = String, Path), ("cloudId" = Option<String>, Query), ("product" = Option<String>, Query),
           ("status" = Option<String>, Query), ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiBackupV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    query: QueryParams,
) -> ApiResult<Json<PublicApiBackupV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let filter = BackupFilter {
        org_id: admin.org_id.clone(),
        policy_id: None,
        cloud_id: query.get("cloudId").map(str::to_string),
        product: query.literal("product", Product::parse, Product::literals)?,
        status: query.literal("status", BackupStatus::parse, BackupStatus::literals)?,
    };
    page_of(&state, &filter, page).await
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups/{backupId}", tag = "backups",
    operation_id = "getBackup",
    params(("orgId" = String, Path), ("backupId" = String, Path)),
    responses((status = 200, body = PublicApiBackupV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiBackupV2>> {
    let backup = state
        .management
        .get_backup(&admin.org_id, &backup_id)
        .await?;
    Ok(Json(backup.into()))
}

#[utoipa::path(
    post, path = "/orgs/{orgId}/backups/{backupId}/cancel", tag = "backups",
    operation_id = "cancelBackup",
    params(("orgId" = String, Path), ("backupId" = String, Path)),
    responses((status = 200, body = PublicApiBackupV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiBackupV2>> {
    let backup = state
        .management
        .cancel_backup(&admin.org_id, &admin.actor(), &backup_id)
        .await?;
    Ok(Json(backup.into()))
}

/// The query parameter naming an entry of the snapshot.
const PATH_PARAM: &str = "path";

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups/{backupId}/contents", tag = "backups",
    operation_id = "listBackupContents",
    description = "(extension) The entries directly inside one directory of a COMPLETED or INCOMPLETE \
                   backup's snapshot, in name order (`sortOrder=DESC` reverses it), paginated. The \
                   directory is named by `path`, or by `kind` (with `key` where it needs one).",
    params(("orgId" = String, Path), ("backupId" = String, Path),
           ("path" = Option<String>, Query, description = "A directory, relative to the snapshot's root (e.g. `jira/projects`); the root when neither it nor `kind` is given."),
           ("kind" = Option<String>, Query, description = "What to list instead of a path: `project`, `issue` (of the project `key`), `board`, `user`, `group`, `attachment` in a JIRA backup; `space`, `page` and `blogpost` (of the space `key`), `attachment` in a CONFLUENCE backup."),
           ("key" = Option<String>, Query, description = "The project or space key `kind=issue`, `page` and `blogpost` need."),
           ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query), ("sortOrder" = Option<String>, Query)),
    responses((status = 200, body = BackupContentsResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn contents(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<Json<BackupContentsResponse>> {
    let mut page = PageRequest::from_query(&query)?.to_store();
    // Entries have no creation time: they come in name order unless DESC is asked for.
    page.descending = query.get("sortOrder") == Some("DESC");
    let (dir, found) = match (query.get("kind"), query.get(PATH_PARAM)) {
        (Some(_), Some(_)) => {
            return Err(RequestError::PathAndKind.into());
        }
        (Some(kind), None) => {
            state
                .management
                .list_backup_contents_of_kind(
                    &admin.org_id,
                    &backup_id,
                    kind,
                    query.get("key"),
                    page,
                )
                .await?
        }
        (None, path) => {
            let dir = path.unwrap_or("").trim_end_matches('/').to_string();
            let found = state
                .management
                .list_backup_contents(&admin.org_id, &backup_id, &dir, page)
                .await?;
            (dir, found)
        }
    };
    Ok(Json(BackupContentsResponse {
        path: dir,
        items: found
            .items
            .into_iter()
            .map(BackupContentItem::from)
            .collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups/{backupId}/contents/raw", tag = "backups",
    operation_id = "readBackupContent",
    description = "(extension) The bytes of one file of a backup's snapshot, streamed: \
                   `application/json` for a `.json` document, `application/octet-stream` otherwise.",
    params(("orgId" = String, Path), ("backupId" = String, Path),
           ("path" = String, Query, description = "A file, relative to the snapshot's root (e.g. `jira/site.json`).")),
    responses((status = 200, description = "The file's bytes", content(
                  (serde_json::Value = "application/json"),
                  (Binary = "application/octet-stream"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn read_content(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
    query: QueryParams,
) -> ApiResult<Response> {
    let path = query.get(PATH_PARAM).ok_or(RequestError::NoFilePath)?;
    let opened = state
        .management
        .read_backup_entry(&admin.org_id, &backup_id, path)
        .await?;
    let content_type = if opened.entry.path.ends_with(".json") {
        JSON_UTF8
    } else {
        "application/octet-stream"
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_LENGTH, HeaderValue::from(opened.entry.size)),
        (header::CONTENT_DISPOSITION, attachment(opened.entry.name())),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok((headers, streamed(opened.bytes)).into_response())
}

/// `Content-Disposition` of a download: a browser saves the bytes (a backed-up attachment may
/// be HTML or script) under `name`, kept to `[A-Za-z0-9._-]` in `filename` (quotes, slashes or
/// control characters could break the header or pick the folder) and given whole, UTF-8 and
/// percent-encoded, in `filename*` (RFC 6266).
fn attachment(name: &str) -> HeaderValue {
    let plain: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    let plain = match plain.trim_start_matches('.') {
        "" => "download".to_string(),
        rest => rest.to_string(),
    };
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups/{backupId}/export", tag = "backups",
    operation_id = "exportBackup",
    description = "(extension) A COMPLETED or INCOMPLETE backup as a tar archive, streamed: every \
                   directory and file of its snapshot at its path, then the manifest \
                   `cairn-export.json` (see docs/export-format.md).",
    params(("orgId" = String, Path), ("backupId" = String, Path)),
    responses((status = 200, description = "The archive", content_type = "application/x-tar", body = Binary),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let export = state
        .management
        .export_backup(&admin.org_id, &backup_id)
        .await?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-tar"),
        ),
        (
            header::CONTENT_DISPOSITION,
            attachment(&format!("cairn-backup-{}.tar", export.backup.id)),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    Ok((headers, streamed(export.bytes)).into_response())
}

/// A body read from the vault piece by piece. A failure once the status is sent can only cut
/// the response short (the client sees a truncated body); it is logged here.
fn streamed(bytes: cairn_control::management::ByteStream) -> Body {
    Body::from_stream(bytes.inspect_err(|e| {
        tracing::error!(detail = %e, "reading a backup's snapshot failed while streaming it");
    }))
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn a_download_is_an_attachment_under_a_safe_name() {
        assert_eq!(
            attachment("10001.json"),
            "attachment; filename=\"10001.json\"; filename*=UTF-8''10001.json"
        );
        assert_eq!(
            attachment("a\"b\\..\r\nX: y;ü.html"),
            "attachment; filename=\"a_b_..__X__y__.html\"; \
             filename*=UTF-8''a%22b%5C..%0D%0AX%3A%20y%3B%C3%BC.html"
        );
        assert_eq!(
            attachment(".."),
            "attachment; filename=\"download\"; filename*=UTF-8''.."
        );
    }
}
