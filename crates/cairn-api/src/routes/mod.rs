//! The router: every path the service answers, and the layers around them.

pub(crate) mod health;
pub(crate) mod legacy;
pub(crate) mod v2;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{self, ApiError, RequestError};
use crate::layers::{self, X_REQUEST_ID};
use crate::openapi::{self, ApiDoc};
use crate::state::AppState;

/// Request bodies over this size get 413 (spec section 1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub const V2_BASE: &str = "/public/backup-management/v2";
pub const V1_BASE: &str = "/public/backup-management/v1";

async fn not_found() -> ApiError {
    RequestError::NoSuchPath.into()
}

/// The operations of the OpenAPI document (health and v2), each mounted at the path its
/// annotation names, with the document of what is mounted.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .nest(V2_BASE, v2::routes())
}

/// The whole HTTP surface of one node.
pub fn router(state: AppState) -> Router {
    let (documented, doc) = documented().split_for_parts();
    // v1 is the same handlers under its own base; the document describes v2 only.
    let (shared, _) = v2::shared_routes().split_for_parts();
    let v1 = shared
        .fallback(not_found)
        .layer(middleware::from_fn(layers::deprecation_headers));
    Router::new()
        .merge(documented)
        .route(
            &format!("{V2_BASE}/openapi.json"),
            openapi::serve(openapi::finish(doc)),
        )
        .merge(crate::web::routes())
        .merge(legacy::routes())
        .nest(V1_BASE, v1)
        .fallback(not_found)
        .route_layer(middleware::from_fn(layers::refuse_control_characters))
        .route_layer(middleware::from_fn(layers::note_route))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::COOKIE,
                ]))
                .layer(middleware::from_fn(layers::drop_unsafe_request_id))
                .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(X_REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // Path only: a query string is the caller's to keep out of our logs.
                        tracing::info_span!(
                            "request",
                            request_id = %request_id,
                            method = %request.method(),
                            path = %request.uri().path(),
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    layers::record_metrics,
                ))
                .layer(middleware::from_fn(layers::shape_errors))
                .layer(CatchPanicLayer::custom(layers::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    error::TIMED_OUT,
                    REQUEST_TIMEOUT,
                ))
                // Inside the timeout: a body is read whole (up to the limit) before anything,
                // the 415 below included, answers.
                .layer(middleware::from_fn(layers::read_body_first))
                .layer(middleware::from_fn(layers::require_json_body))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state)
}
