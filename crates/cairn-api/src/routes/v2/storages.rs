//! `orgs/{orgId}/storages`: the built-in storage and external S3-compatible ones (v1 and v2).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_control::management::NewStorage;
use cairn_store::{Product, StorageFilter};

use crate::body::JsonBody;
use crate::error::{ApiResult, ErrorBody, RequestError};
use crate::extract::{ApiVersion, OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::management::{
    PublicApiCreateStorageV2Request, PublicApiStorageListV2Response,
    PublicApiStorageRegionsResponse, PublicApiStorageV2,
};

#[utoipa::path(
    post, path = "/orgs/{orgId}/storages/regions", tag = "storages",
    operation_id = "listStorageRegions",
    params(("orgId" = String, Path)),
    responses((status = 200, body = PublicApiStorageRegionsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn regions(
    State(state): State<AppState>,
    _admin: OrgAdmin,
) -> Json<PublicApiStorageRegionsResponse> {
    Json(PublicApiStorageRegionsResponse {
        regions: state.management.regions().to_vec(),
    })
}

#[utoipa::path(
    post, path = "/orgs/{orgId}/storages", tag = "storages",
    operation_id = "connectStorage",
    params(("orgId" = String, Path)),
    request_body = PublicApiCreateStorageV2Request,
    responses((status = 201, body = PublicApiStorageV2), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn connect(
    State(state): State<AppState>,
    admin: OrgAdmin,
    version: ApiVersion,
    JsonBody(body): JsonBody<PublicApiCreateStorageV2Request>,
) -> ApiResult<(StatusCode, Json<PublicApiStorageV2>)> {
    match body.storage_type.as_deref() {
        None | Some("S3") | Some("aws") => {}
        Some(other) => {
            return Err(RequestError::UnknownStorageType(other.to_string()).into());
        }
    }
    let storage = state
        .management
        .connect_storage(
            &admin.org_id,
            &admin.actor(),
            NewStorage {
                bucket: body.storage_name,
                region: body.storage_region,
                prefix: body.storage_prefix,
                endpoint: body.endpoint,
                access_key_id: body.access_key_id,
                secret_access_key: body.secret_access_key,
                role_identifier: body.role_identifier,
                principal_tag: body.principal_tag,
                cloud_id: body.cloud_id,
                product: body.product.map(|p| p.0),
                customer_managed_key: false,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PublicApiStorageV2::from_record(storage, version.v1)),
    ))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/storages", tag = "storages",
    operation_id = "listStorages",
    params(("orgId" = String, Path), ("cloudId" = Option<String>, Query), ("product" = Option<String>, Query),
           ("start" = Option<i64>, Query), ("pageSize" = Option<i64>, Query),
           ("sortOrder" = Option<String>, Query), ("sortBy" = Option<String>, Query)),
    responses((status = 200, body = PublicApiStorageListV2Response), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    version: ApiVersion,
    query: QueryParams,
) -> ApiResult<Json<PublicApiStorageListV2Response>> {
    let page = PageRequest::from_query(&query)?;
    let filter = StorageFilter {
        org_id: admin.org_id.clone(),
        cloud_id: query.get("cloudId").map(str::to_string),
        product: query.literal("product", Product::parse, Product::literals)?,
    };
    let found = state
        .management
        .list_storages(&filter, page.to_store())
        .await?;
    Ok(Json(PublicApiStorageListV2Response {
        storages: found
            .items
            .into_iter()
            .map(|s| PublicApiStorageV2::from_record(s, version.v1))
            .collect(),
        total_items: found.total,
    }))
}

#[utoipa::path(
    get, path = "/orgs/{orgId}/storages/{storageId}", tag = "storages",
    operation_id = "getStorage",
    params(("orgId" = String, Path), ("storageId" = String, Path)),
    responses((status = 200, body = PublicApiStorageV2), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    admin: OrgAdmin,
    version: ApiVersion,
    Path((_, storage_id)): Path<(String, String)>,
) -> ApiResult<Json<PublicApiStorageV2>> {
    let storage = state
        .management
        .get_storage(&admin.org_id, &storage_id)
        .await?;
    Ok(Json(PublicApiStorageV2::from_record(storage, version.v1)))
}

#[utoipa::path(
    delete, path = "/orgs/{orgId}/storages/{storageId}", tag = "storages",
    operation_id = "disconnectStorage",
    params(("orgId" = String, Path), ("storageId" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("basicAuth" = []))
)]
pub async fn disconnect(
    State(state): State<AppState>,
    admin: OrgAdmin,
    Path((_, storage_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .management
        .disconnect_storage(&admin.org_id, &admin.actor(), &storage_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
