//! `GET orgs/{orgId}/audit-events` (extension): who did what, when, from which address.

use axum::Json;
use axum::extract::State;
use cairn_store::AuditFilter;
use chrono::{DateTime, Utc};

use crate::error::{ApiResult, ErrorBody, RequestError};
use crate::extract::{OrgAdmin, QueryParams};
use crate::pagination::PageRequest;
use crate::state::AppState;
use crate::wire::{AuditEvent, AuditEventsResponse};

fn time_param(q: &QueryParams, name: &'static str) -> ApiResult<Option<DateTime<Utc>>> {
    q.get(name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| RequestError::NotATime(name).into())
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/orgs/{orgId}/audit-events",
    tag = "audit",
    operation_id = "listAuditEvents",
    params(
        ("orgId" = String, Path, description = "The organization"),
        ("accountId" = Option<String>, Query, description = "Only events by this account"),
        ("action" = Option<String>, Query, description = "Only this action, e.g. token.create"),
        ("from" = Option<String>, Query, description = "Only events at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, description = "Only events at or before this RFC 3339 time"),
        ("start" = Option<i64>, Query, description = "Page index, 0-based"),
        ("pageSize" = Option<i64>, Query, description = "1..100, default 20"),
        ("sortOrder" = Option<String>, Query, description = "ASC or DESC (default)"),
        ("sortBy" = Option<String>, Query, description = "Only createdAt"),
    ),
    responses(
        (status = 200, body = AuditEventsResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("basicAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    admin: OrgAdmin,
    query: QueryParams,
) -> ApiResult<Json<AuditEventsResponse>> {
    let page = PageRequest::from_query(&query)?;
    let filter = AuditFilter {
        org_id: Some(admin.org_id),
        account_id: query.get("accountId").map(str::to_string),
        action: query.get("action").map(str::to_string),
        from: time_param(&query, "from")?,
        to: time_param(&query, "to")?,
    };
    let found = state
        .identity
        .audit()
        .list(&filter, page.to_store())
        .await?;
    Ok(Json(AuditEventsResponse {
        events: found.items.into_iter().map(AuditEvent::from).collect(),
        total_items: found.total,
    }))
}
