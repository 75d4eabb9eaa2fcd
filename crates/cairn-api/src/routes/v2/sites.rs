//! (extension) `orgs/{orgId}/sites`: the sites an org backs up and restores into.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_control::management::NewSite;

use crate::body::JsonBody;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{
    PublicApiRegisterSiteV2Request, PublicApiSiteListV2Response, PublicApiSiteV2,
};

#[utoipa::path(
    get, path = "/orgs/{orgId}/sites", tag = "sites",
    operation_id = "listSites",
    params(("orgId" = String, Path), ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiSiteListV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    query: QueryParams,
) -> ApiResult<Json<PublicApiSiteListV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let found = state
        .management
        .list_sites(&admin.org_id, page.to_store())
        .await?;
    Ok(Json(PublicApiSiteListV2Response {
        sites: found.items.into_iter().map(PublicApiSiteV2::from).collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    post, path = "/orgs/{orgId}/sites", tag = "sites",
    operation_id = "registerSite",
    params(("orgId" = String, Path)),
    request_body = PublicApiRegisterSiteV2Request,
    responses((status = 201, body = PublicApiSiteV2), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn register(
    State(state): State<AppState>,
    admin: OrgAdmin,
    JsonBody(body): JsonBody<PublicApiRegisterSiteV2Request>,
) -> ApiResult<(StatusCode, Json<PublicApiSiteV2>)> {
    let site = state
        .management
        .register_site(
            &admin.org_id,
            &admin.actor(),
            NewSite {
                cloud_url: body.cloud_url,
                email: body.email,
                api_token: body.api_token,
                cloud_name: body.cloud_name,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(site.into())))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/sites/{cloudId}", tag = "sites",
    operation_id = "getSite",
    params(("orgId" = String, Path), ("cloudId" = String, Path)),
    responses((status = 200, body = PublicApiSiteV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, cloud_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiSiteV2>> {
    let site = state.management.get_site(&admin.org_id, &cloud_id).await?;
    Ok(Json(site.into()))
}

#[utoipa::path(
    delete, path = "/orgs/{orgId}/sites/{cloudId}", tag = "sites",
    operation_id = "removeSite",
    params(("orgId" = String, Path), ("cloudId" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, cloud_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .management
        .remove_site(&admin.org_id, &admin.actor(), &cloud_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
