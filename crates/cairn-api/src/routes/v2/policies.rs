//! `orgs/{orgId}/policies`: what to back up, where and when (spec 2.2, rules 2 and 9).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_control::management::{NewPolicy, PolicyPatch};
use cairn_store::{BackupFilter, BackupStatus, PolicyFilter, PolicyStatus, Product};

use crate::body::JsonBody;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{
    PublicApiBackupPolicyListV2Response, PublicApiBackupV2, PublicApiBackupV2Response,
    PublicApiCreateBackupPolicyV2Request, PublicApiGetBackupPolicyV2Response,
    PublicApiUpdateBackupPolicyV2Request,
};

type PolicyPath = Path<(String, String)>;

#[utoipa::path(
    post, path = "/orgs/{orgId}/policies", tag = "policies",
    operation_id = "createPolicy",
    params(("orgId" = String, Path)),
    request_body = PublicApiCreateBackupPolicyV2Request,
    responses((status = 201, body = PublicApiGetBackupPolicyV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<PublicApiCreateBackupPolicyV2Request>,
) -> ApiResult<(StatusCode, Json<PublicApiGetBackupPolicyV2Response>)> {
    let view = state
        .management
        .create_policy(
            &admin.org_id,
            &admin.actor(),
            NewPolicy {
                name: body.policy_name,
                cloud_id: body.cloud_id,
                product: body.product_type.0,
                include_attachments: body.include_attachments,
                include_users: body.include_users_and_groups,
                include_personal_spaces: body.include_personal_spaces,
                storage_id: body.storage_id,
                schedule: body.schedule_details.map(Into::into),
                retention_days: body.retention_days,
                activate: body.activate.unwrap_or(false),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PublicApiGetBackupPolicyV2Response::from_view(view, true)),
    ))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/policies", tag = "policies",
    operation_id = "listPolicies",
    params(("orgId" = String, Path), ("cloudId" = Option<String>, Query), ("productType" = Option<String>, Query),
           ("status" = Option<String>, Query), ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiBackupPolicyListV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    query: QueryParams,
) -> ApiResult<Json<PublicApiBackupPolicyListV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let filter = PolicyFilter {
        org_id: admin.org_id.clone(),
        cloud_id: query.get("cloudId").map(str::to_string),
        product: query.literal("productType", Product::parse, Product::literals)?,
        status: query.literal("status", PolicyStatus::parse, PolicyStatus::literals)?,
    };
    let found = state
        .management
        .list_policies(&filter, page.to_store())
        .await?;
    Ok(Json(PublicApiBackupPolicyListV2Response {
        policies: found
            .items
            .into_iter()
            .map(|v| PublicApiGetBackupPolicyV2Response::from_view(v, false))
            .collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/policies/{policyId}", tag = "policies",
    operation_id = "getPolicy",
    params(("orgId" = String, Path), ("policyId" = String, Path),
           ("storageDetails" = Option<bool>, Query, description = "Include details.storageId"),
           ("backupDetails" = Option<bool>, Query, description = "Include details.backupDetails")),
    responses((status = 200, body = PublicApiGetBackupPolicyV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
    query: QueryParams,
) -> ApiResult<Json<PublicApiGetBackupPolicyV2Response>> {
    let storage_details = query.flag("storageDetails")?;
    let backup_details = query.flag("backupDetails")?;
    let view = state
        .management
        .get_policy(&admin.org_id, &policy_id, backup_details)
        .await?;
    Ok(Json(PublicApiGetBackupPolicyV2Response::from_view(
        view,
        storage_details,
    )))
}

#[utoipa::path(
    put, path = "/orgs/{orgId}/policies/{policyId}", tag = "policies",
    operation_id = "updatePolicy",
    params(("orgId" = String, Path), ("policyId" = String, Path)),
    request_body = PublicApiUpdateBackupPolicyV2Request,
    responses((status = 200, body = PublicApiGetBackupPolicyV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
    JsonBody(body): JsonBody<PublicApiUpdateBackupPolicyV2Request>,
) -> ApiResult<Json<PublicApiGetBackupPolicyV2Response>> {
    let view = state
        .management
        .update_policy(
            &admin.org_id,
            &admin.actor(),
            &policy_id,
            PolicyPatch {
                name: body.policy_name,
                include_attachments: body.include_attachments,
                include_users: body.include_users_and_groups,
                include_personal_spaces: body.include_personal_spaces,
                storage_id: body.storage_id,
                schedule: body.schedule_details.map(|s| s.map(Into::into)),
                retention_days: body.retention_days,
            },
        )
        .await?;
    Ok(Json(PublicApiGetBackupPolicyV2Response::from_view(
        view, true,
    )))
}

#[utoipa::path(
    put, path = "/orgs/{orgId}/policies/{policyId}/activate", tag = "policies",
    operation_id = "activatePolicy",
    params(("orgId" = String, Path), ("policyId" = String, Path)),
    responses((status = 200, description = "The backups the activation started: one when a run is due now, else none",
               body = PublicApiBackupV2Response),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn activate(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
) -> ApiResult<Json<PublicApiBackupV2Response>> {
    let started = state
        .management
        .activate_policy(&admin.org_id, &admin.actor(), &policy_id)
        .await?;
    Ok(Json(PublicApiBackupV2Response {
        total_items: started.len() as u64,
        backups: started.into_iter().map(PublicApiBackupV2::from).collect(),
    }))
}

#[utoipa::path(
    put, path = "/orgs/{orgId}/policies/{policyId}/deactivate", tag = "policies",
    operation_id = "deactivatePolicy",
    params(("orgId" = String, Path), ("policyId" = String, Path)),
    responses((status = 200, body = PublicApiGetBackupPolicyV2Response), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn deactivate(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
) -> ApiResult<Json<PublicApiGetBackupPolicyV2Response>> {
    let view = state
        .management
        .deactivate_policy(&admin.org_id, &admin.actor(), &policy_id)
        .await?;
    Ok(Json(PublicApiGetBackupPolicyV2Response::from_view(
        view, true,
    )))
}

#[utoipa::path(
    delete, path = "/orgs/{orgId}/policies/{policyId}", tag = "policies",
    operation_id = "deletePolicy",
    params(("orgId" = String, Path), ("policyId" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
) -> ApiResult<StatusCode> {
    state
        .management
        .delete_policy(&admin.org_id, &admin.actor(), &policy_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/orgs/{orgId}/policies/{policyId}/backups", tag = "backups",
    operation_id = "runBackup",
    params(("orgId" = String, Path), ("policyId" = String, Path)),
    responses((status = 202, body = PublicApiBackupV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn run_backup(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
) -> ApiResult<(StatusCode, Json<PublicApiBackupV2>)> {
    let backup = state
        .management
        .run_backup_now(&admin.org_id, &admin.actor(), &policy_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(backup.into())))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/policies/{policyId}/backups", tag = "backups",
    operation_id = "listPolicyBackups",
    params(("orgId" = String, Path), ("policyId" = String, Path), ("status" = Option<String>, Query),
           ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiBackupV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list_backups(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, policy_id)): PolicyPath,
    query: QueryParams,
) -> ApiResult<Json<PublicApiBackupV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let filter = BackupFilter {
        org_id: admin.org_id.clone(),
        policy_id: Some(policy_id),
        status: query.literal("status", BackupStatus::parse, BackupStatus::literals)?,
        ..BackupFilter::default()
    };
    super::backups::page_of(&state, &filter, page).await
}
