//! `/healthz` (the process answers), `/readyz` (the store answers), `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::HealthResponse;

/// `/metrics` is not an operation of the API, so the document leaves it out.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthResponse)))]
pub async fn healthz() -> axum::Json<HealthResponse> {
    axum::Json(HealthResponse { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = HealthResponse),
    (status = 503, body = crate::error::ErrorBody),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<HealthResponse>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(axum::Json(HealthResponse { status: "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::not_ready())
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
