//! `orgs/{orgId}/backups`: every backup of the org (spec 2.1).

use axum::Json;
use axum::extract::{Path, State};
use cairn_store::{BackupFilter, BackupStatus, Product};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{PublicApiBackupV2, PublicApiBackupV2Response};

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
    get, path = "/public/backup-management/v2/orgs/{orgId}/backups", tag = "backups",
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
    get, path = "/public/backup-management/v2/orgs/{orgId}/backups/{backupId}", tag = "backups",
    operation_id = "getBackup",
    params(("orgId" = String, Path), ("backupId" = String, Path)),
    responses((status = 200, body = PublicApiBackupV2), (status = 401, body = ErrorBody),
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
    post, path = "/public/backup-management/v2/orgs/{orgId}/backups/{backupId}/cancel", tag = "backups",
    operation_id = "cancelBackup",
    params(("orgId" = String, Path), ("backupId" = String, Path)),
    responses((status = 200, body = PublicApiBackupV2), (status = 401, body = ErrorBody),
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
