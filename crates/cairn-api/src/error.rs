//! The error body of spec section 1.2 and the one table from domain errors to statuses.
//!
//! A 4xx only comes from a [`ControlError`] variant that names the client's mistake; anything
//! unexpected is a 500 whose detail goes to the log (under the request id), never to the body.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_control::ControlError;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every JSON body.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// `WWW-Authenticate` of every 401.
pub const WWW_AUTHENTICATE: &str = r#"Basic realm="cairn", charset="UTF-8""#;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub code: u16,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// Present only for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

/// An error on its way out: status, body, and any headers the status calls for.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Boxed: errors travel in `Result`s everywhere and should stay small.
    pub headers: Box<HeaderMap>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: status.as_u16(),
                message: message.into(),
                errors: None,
            },
            headers: Box::default(),
        }
    }

    /// 401, always with the `WWW-Authenticate` challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
            .with_header(header::WWW_AUTHENTICATE, WWW_AUTHENTICATE.into())
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ControlError::invalid_field(field, message).into()
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.headers.insert(name, value);
        }
        self
    }

    /// The generic message for a status the framework produced by itself.
    pub fn for_status(status: StatusCode) -> Self {
        let message = match status {
            StatusCode::NOT_FOUND => {
                "No such resource. Check the path: operations live under /public/backup-management/v2/orgs/{orgId}/."
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                "This path does not accept that method; the Allow header lists the ones it does."
            }
            StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than 1 MiB.",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "Send the body as JSON with Content-Type: application/json."
            }
            StatusCode::BAD_REQUEST => "The request is malformed.",
            StatusCode::REQUEST_TIMEOUT => "The request took too long.",
            StatusCode::SERVICE_UNAVAILABLE => "The service is unavailable. Try again shortly.",
            s if s.is_server_error() => {
                "Internal error. The server log has the detail under this response's X-Request-Id."
            }
            _ => "The request could not be served.",
        };
        if status == StatusCode::UNAUTHORIZED {
            return ApiError::unauthorized("Authentication required.");
        }
        ApiError::new(status, message)
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        match err {
            ControlError::Invalid { message, errors } => {
                let mut e = ApiError::new(StatusCode::BAD_REQUEST, message);
                e.body.errors = Some(
                    errors
                        .into_iter()
                        .map(|f| FieldErrorBody {
                            field: f.field,
                            message: f.message,
                        })
                        .collect(),
                );
                e
            }
            ControlError::Unauthenticated(failure) => ApiError::unauthorized(failure.message),
            ControlError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            ControlError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            ControlError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            ref e @ ControlError::Throttled { retry_after } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()).with_header(
                    header::RETRY_AFTER,
                    retry_after.as_secs().max(1).to_string(),
                )
            }
            ref e @ ControlError::RateLimited {
                limit,
                remaining,
                reset_after,
            } => {
                let reset = chrono::Utc::now()
                    + chrono::TimeDelta::from_std(reset_after).unwrap_or_default();
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
                    .with_header(
                        header::RETRY_AFTER,
                        reset_after.as_secs().max(1).to_string(),
                    )
                    .with_header(
                        HeaderName::from_static("x-ratelimit-limit"),
                        limit.to_string(),
                    )
                    .with_header(
                        HeaderName::from_static("x-ratelimit-remaining"),
                        remaining.to_string(),
                    )
                    .with_header(
                        HeaderName::from_static("x-ratelimit-reset"),
                        reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
            }
            ControlError::Unavailable(detail) => {
                tracing::error!(detail = %detail, "metadata store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The metadata store is unavailable. Try again shortly.",
                )
            }
            ref e @ ControlError::StorageUnavailable(ref detail) => {
                tracing::error!(detail = %detail, "backup storage unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            ControlError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        response.headers_mut().extend(*self.headers);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
