//! Cross-cutting middleware: request ids, logs, metrics, the error shape of responses the
//! framework makes by itself, panics, body limit, v1 deprecation headers.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, OriginalUri, RawPathParams, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cairn_control::text::has_control;

use crate::error::{ApiError, JSON_UTF8, PlainRefusal, RequestError};
use crate::extract::QueryParams;
use crate::state::AppState;

/// The request id header: kept from the client when safe, made otherwise, echoed on the answer.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route template of the request, carried on the response for the metrics layer.
#[derive(Clone)]
struct RouteTemplate(String);

/// Inner layer (after routing): notes which route matched.
pub async fn note_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteTemplate(route));
    }
    response
}

/// Outer layer: counts and times every request by route template and status.
pub async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map(|r| r.0.as_str())
        .unwrap_or("unmatched");
    state.metrics.observe_request(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Gives every error the framework produced by itself (404, 405, 413, 415, timeouts, ...) the
/// JSON error body of the spec, keeping its headers (`Allow`, `Retry-After`).
/// Also states the charset of every JSON body, as the spec's media type says.
/// Under the web pages' paths, errors are HTML pages instead (the pages make their own; this
/// covers the framework's).
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let web_page = crate::web::is_web_path(request.uri().path());
    let mut response = next.run(request).await;
    if response.extensions().get::<PlainRefusal>().is_some() {
        return response;
    }
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let is_error = status.is_client_error() || status.is_server_error();
    if content_type.is_some_and(|v| v.starts_with("text/html")) {
        return response;
    }
    if web_page && is_error {
        let (parts, _) = response.into_parts();
        return crate::web::framework_error_page(status, &parts.headers);
    }
    let is_json = content_type.is_some_and(|v| v.starts_with("application/json"));
    if content_type == Some("application/json") {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    }
    if is_json || !is_error {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut shaped = ApiError::for_status(status).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

/// A client's `X-Request-Id` is kept only when it is `[A-Za-z0-9._-]{1,64}`: it goes on every log
/// line of the request, so quotes, spaces or kilobytes of it could forge fields there. Another is
/// dropped here, before the request-id layer, which then makes a new one.
pub async fn drop_unsafe_request_id(mut request: Request, next: Next) -> Response {
    let safe = |v: &HeaderValue| {
        (1..=64).contains(&v.len())
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let headers = request.headers_mut();
    if headers.get_all(X_REQUEST_ID).iter().count() > 1
        || headers.get(X_REQUEST_ID).is_some_and(|v| !safe(v))
    {
        headers.remove(X_REQUEST_ID);
    }
    next.run(request).await
}

/// Ids in the path and filters in the query string: one holding a control character is a 400
/// naming the parameter, before any handler (or the store: PostgreSQL cannot hold NUL) sees it.
/// A route layer, so the path's parameters have their names. Bodies: `body.rs`.
pub async fn refuse_control_characters(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut offending = None;
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await {
        offending = params
            .iter()
            .find(|(_, value)| has_control(value))
            .map(|(name, _)| name.to_string());
    }
    if offending.is_none() {
        offending = QueryParams::parse(parts.uri.query().unwrap_or(""))
            .first(|_, value| has_control(value))
            .map(str::to_string);
    }
    match offending {
        Some(field) => ApiError::from(RequestError::ControlCharacter(field)).into_response(),
        None => next.run(Request::from_parts(parts, body)).await,
    }
}

/// Reads the whole request body (at most [`crate::routes::MAX_BODY_BYTES`]; the limit layer
/// outside has already refused a larger declared length) before anything answers. Over HTTP/2,
/// an answer sent while the client is still sending its body resets the stream, and curl then
/// reports no status at all: a script's wrong token, or a 415, would look like a network failure
/// instead of a 401.
pub async fn read_body_first(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, crate::routes::MAX_BODY_BYTES).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::from(RequestError::BodyTooLarge).into_response(),
    }
}

/// A request body under the API's paths must be JSON (spec section 1): any other declared type,
/// or none, is 415 before routing, so every operation gets the same rule.
pub async fn require_json_body(request: Request, next: Next) -> Response {
    let under_api = request
        .uri()
        .path()
        .starts_with("/public/backup-management/");
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if under_api && has_body && !is_json {
        return ApiError::from(RequestError::BodyNotJson).into_response();
    }
    next.run(request).await
}

/// Every v1 response says it is deprecated and links to v2 (spec section 1).
pub async fn deprecation_headers(request: Request, next: Next) -> Response {
    // Nested routers see the path without their prefix; the original URI has it all.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.path().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let v2_path = path.replacen(
        "/public/backup-management/v1",
        "/public/backup-management/v2",
        1,
    );
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("deprecation", HeaderValue::from_static("true"));
    if let Ok(link) = HeaderValue::from_str(&format!("<{v2_path}>; rel=\"successor-version\"")) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// A panic becomes a plain 500 in the error shape; the panic message goes to the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = %detail, "a request handler panicked");
    ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}
