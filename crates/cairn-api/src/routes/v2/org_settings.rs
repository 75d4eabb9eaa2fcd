//! (extension) `orgs/{orgId}/settings`: the organization's settings, for now its retention lock
//! (issue 16), which the API can only raise.

use axum::Json;
use axum::extract::State;
use cairn_control::management::LockAuthority;

use crate::body::JsonBody;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::OrgAdmin;
use crate::state::AppState;
use crate::wire::management::{OrgSettingsV2, UpdateOrgSettingsV2Request};

#[utoipa::path(
    get, path = "/orgs/{orgId}/settings", tag = "orgs",
    operation_id = "getOrgSettings",
    params(("orgId" = String, Path)),
    responses((status = 200, body = OrgSettingsV2), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(State(state): State<AppState>, admin: OrgAdmin) -> ApiResult<Json<OrgSettingsV2>> {
    let settings = state.management.org_settings(&admin.org_id).await?;
    Ok(Json(settings.into()))
}

#[utoipa::path(
    put, path = "/orgs/{orgId}/settings", tag = "orgs",
    operation_id = "updateOrgSettings",
    description = "Raises the retention lock. A lower value is refused (409) and audited: lowering \
                   or removing the lock needs `cairn org retention-lock` on the server.",
    params(("orgId" = String, Path)),
    request_body = UpdateOrgSettingsV2Request,
    responses((status = 200, body = OrgSettingsV2), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<UpdateOrgSettingsV2Request>,
) -> ApiResult<Json<OrgSettingsV2>> {
    let changed = state
        .management
        .change_retention_lock(
            &admin.org_id,
            &admin.actor(),
            body.retention_lock_days,
            LockAuthority::Api,
        )
        .await?;
    Ok(Json(changed.settings.into()))
}
