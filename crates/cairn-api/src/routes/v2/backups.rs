//! `orgs/{orgId}/backups`: every backup of the org (spec 2.1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_control::management::ArchiveFormat;
use cairn_store::{BackupFilter, BackupStatus, Product};

use crate::download::{archive_response, attachment, streamed};
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

#[utoipa::path(
    get, path = "/orgs/{orgId}/backups/{backupId}/export", tag = "backups",
    operation_id = "exportBackup",
    description = "(extension) A COMPLETED or INCOMPLETE backup as a tar or zip archive, streamed: \
                   every directory and file of its snapshot at its path, then the manifest \
                   `cairn-export.json` with each file's SHA-256 (see docs/export-format.md). The \
                   length is known (`Content-Length`) and the same backup always gives the same \
                   bytes, so one `Range` resumes a cut download (206; 416 past the end; \
                   `If-Range` with the `ETag`).",
    params(("orgId" = String, Path), ("backupId" = String, Path),
           ("format" = Option<String>, Query, description = "`tar` (the default) or `zip`"),
           ("Range" = Option<String>, Header, description = "One range, `bytes=N-`, `bytes=N-M` or `bytes=-N`")),
    responses((status = 200, description = "The archive",
               content((Binary = "application/x-tar"), (Binary = "application/zip"))),
              (status = 206, description = "The asked range of the archive (`Content-Range` says which)",
               content((Binary = "application/x-tar"), (Binary = "application/zip"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 416, description = "The range lies past the archive's end", body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, backup_id)): Path<(String, String)>,
    query: QueryParams,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let format = query
        .literal("format", ArchiveFormat::parse, || "tar, zip".into())?
        .unwrap_or_default();
    let export = state
        .management
        .export_backup(&admin.org_id, &backup_id, format)
        .await?;
    Ok(archive_response(export, &headers))
}
