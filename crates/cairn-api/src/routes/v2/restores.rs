//! `orgs/{orgId}/restores` (spec 2.3, rules 3, 5, 7, 8).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_control::management::NewRestore;
use cairn_store::{RestoreFilter, RestoreStatus};

use crate::body::JsonBody;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{
    PublicApiCreateRestoreV2Request, PublicApiRestoreListV2Response, PublicApiRestoreV2,
};

#[utoipa::path(
    post, path = "/orgs/{orgId}/restores", tag = "restores",
    operation_id = "createRestore",
    params(("orgId" = String, Path)),
    request_body = PublicApiCreateRestoreV2Request,
    responses((status = 202, body = PublicApiRestoreV2), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<PublicApiCreateRestoreV2Request>,
) -> ApiResult<(StatusCode, Json<PublicApiRestoreV2>)> {
    let restore = state
        .management
        .create_restore(
            &admin.org_id,
            &admin.actor(),
            NewRestore {
                backup_id: body.backup_id,
                destination_cloud_id: body.destination_cloud_id,
                include_attachments: body.include_attachments,
                include_users: body.include_users_and_groups,
                include_personal_spaces: body.include_personal_spaces,
                project_keys: body.project_keys,
                space_keys: body.space_keys,
                issue_keys: body.issue_keys,
                page_ids: body.page_ids,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(restore.into())))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/restores", tag = "restores",
    operation_id = "listRestores",
    params(("orgId" = String, Path), ("destinationCloudId" = Option<String>, Query), ("status" = Option<String>, Query),
           ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiRestoreListV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    query: QueryParams,
) -> ApiResult<Json<PublicApiRestoreListV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let filter = RestoreFilter {
        org_id: admin.org_id.clone(),
        destination_cloud_id: query.get("destinationCloudId").map(str::to_string),
        status: query.literal("status", RestoreStatus::parse, RestoreStatus::literals)?,
    };
    let found = state
        .management
        .list_restores(&filter, page.to_store())
        .await?;
    Ok(Json(PublicApiRestoreListV2Response {
        restores: found
            .items
            .into_iter()
            .map(PublicApiRestoreV2::from)
            .collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/restores/{restoreId}", tag = "restores",
    operation_id = "getRestore",
    params(("orgId" = String, Path), ("restoreId" = String, Path)),
    responses((status = 200, body = PublicApiRestoreV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, restore_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiRestoreV2>> {
    let restore = state
        .management
        .get_restore(&admin.org_id, &restore_id)
        .await?;
    Ok(Json(restore.into()))
}

#[utoipa::path(
    post, path = "/orgs/{orgId}/restores/{restoreId}/cancel", tag = "restores",
    operation_id = "cancelRestore",
    params(("orgId" = String, Path), ("restoreId" = String, Path)),
    responses((status = 200, body = PublicApiRestoreV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, restore_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiRestoreV2>> {
    let restore = state
        .management
        .cancel_restore(&admin.org_id, &admin.actor(), &restore_id)
        .await?;
    Ok(Json(restore.into()))
}
