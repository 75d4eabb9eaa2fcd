//! The error body of spec section 1.2 and the one table from errors to statuses and messages.
//!
//! Every error response is made here: from a [`ControlError`] (the domain's), from a
//! [`RequestError`] (a request the HTTP layer refuses before or instead of calling `control`),
//! or for a status the framework produced by itself. An [`ApiError`] cannot be built anywhere
//! else, so no other file decides a 4xx or its message. Anything unexpected is a 500 whose detail
//! goes to the log (under the request id), never to the body.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_control::ControlError;
use cairn_control::management::LegacyRefusal;
use cairn_store::Product;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every JSON body.
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// `WWW-Authenticate` of every 401.
pub const WWW_AUTHENTICATE: &str = r#"Basic realm="cairn", charset="UTF-8""#;

/// The status of a request that outlived the server's timeout.
pub const TIMED_OUT: StatusCode = StatusCode::REQUEST_TIMEOUT;

/// The statuses hyper answers by itself, before the router (a bad request line or header, a
/// URL too long, a head too large); `conn.rs` gives them this file's bodies.
pub const HYPER_STATUSES: [StatusCode; 3] = [
    StatusCode::BAD_REQUEST,
    StatusCode::URI_TOO_LONG,
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
];

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
    /// Private: only this file makes an `ApiError` (see the module's comment).
    _made_here: MadeHere,
}

#[derive(Debug)]
struct MadeHere;

/// A request the HTTP layer refuses by itself, named for what is wrong with it; `From` below gives
/// each its status and message.
#[derive(Debug)]
pub enum RequestError {
    /// No operation at this path (or a route without `{orgId}` asked for an org admin).
    NoSuchPath,
    /// The body could not be read (in practice: it is over the size limit).
    BodyTooLarge,
    /// A body under the API's paths that is not declared as JSON.
    BodyNotJson,
    /// More than one `Authorization` header.
    RepeatedAuthorization,
    /// `X-Atl-Account-Id` names another account than the credentials do.
    OtherAccountId,
    /// The pages' user administers no organization (or not the one asked for).
    NotAnOrgAdmin,
    /// The body is empty or only whitespace.
    EmptyBody,
    /// The body is a JSON value followed by more characters.
    TrailingCharacters,
    /// The body is not JSON.
    MalformedJson { line: usize, column: usize },
    /// A field of the body is missing or of the wrong type or literal; `message` is serde's.
    BadField { field: String, message: String },
    /// An enum query parameter is not one of its literals.
    UnknownLiteral {
        name: &'static str,
        value: String,
        literals: String,
    },
    /// A boolean query parameter is neither `true` nor `false`.
    NotABoolean(&'static str),
    /// A time query parameter is not RFC 3339.
    NotATime(&'static str),
    /// `start` (the page index) is negative.
    NegativeStart,
    /// `start` is not a whole number.
    StartNotANumber,
    /// `pageSize` is 0 or negative.
    PageSizeOutOfRange,
    /// `pageSize` is not a whole number.
    PageSizeNotANumber,
    /// `sortOrder` is neither `ASC` nor `DESC`.
    UnknownSortOrder,
    /// `sortBy` names something other than `createdAt`.
    UnknownSortBy,
    /// A backup's contents were asked for by both `path` and `kind`.
    PathAndKind,
    /// A file of a backup was asked for without its `path`.
    NoFilePath,
    /// A `storageType` Cairn cannot connect.
    UnknownStorageType(String),
    /// The token page's days field is not a whole number.
    DaysNotANumber,
    /// A path parameter, query parameter or body field (named) holds a control character.
    ControlCharacter(String),
    /// The legacy *Last task* of a site's product that has no backup yet.
    NoLegacyBackup,
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        use RequestError as R;
        let (field, message): (String, String) = match err {
            R::NoSuchPath => return ApiError::for_status(StatusCode::NOT_FOUND),
            R::BodyTooLarge => return ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            R::BodyNotJson => return ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            R::RepeatedAuthorization => {
                return ApiError::unauthorized("Send exactly one Authorization header.");
            }
            R::OtherAccountId => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "The X-Atl-Account-Id header names another account than the one whose credentials were sent.",
                );
            }
            R::NotAnOrgAdmin => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Only organization admins may open the admin pages.",
                );
            }
            R::NoLegacyBackup => {
                return ControlError::NotFound(
                    "This site's product has no backup yet: start one first.".into(),
                )
                .into();
            }
            R::ControlCharacter(field) => {
                return cairn_control::text::control_character(&field).into();
            }
            R::EmptyBody => (
                "body".into(),
                "a JSON object is required; the body is empty".into(),
            ),
            R::TrailingCharacters => (
                "body".into(),
                "has trailing characters after the JSON value".into(),
            ),
            R::MalformedJson { line, column } => (
                "body".into(),
                format!("is not valid JSON (line {line}, column {column})"),
            ),
            R::BadField { field, message } => (field, message),
            R::UnknownLiteral {
                name,
                value,
                literals,
            } => (name.into(), format!("{value:?} is not one of {literals}")),
            R::NotABoolean(name) => (name.into(), "must be true or false".into()),
            R::NotATime(name) => (
                name.into(),
                "must be an RFC 3339 time, e.g. 2026-11-27T17:31:35.123Z".into(),
            ),
            R::NegativeStart => ("start".into(), "must be 0 or more (the page index)".into()),
            R::StartNotANumber => (
                "start".into(),
                "must be a whole number (the page index)".into(),
            ),
            R::PageSizeOutOfRange => ("pageSize".into(), "must be between 1 and 100".into()),
            R::PageSizeNotANumber => (
                "pageSize".into(),
                "must be a whole number between 1 and 100".into(),
            ),
            R::UnknownSortOrder => ("sortOrder".into(), "must be ASC or DESC".into()),
            R::UnknownSortBy => ("sortBy".into(), "only createdAt is supported".into()),
            R::PathAndKind => (
                "kind".into(),
                "give either path or kind (with key), not both".into(),
            ),
            R::NoFilePath => ("path".into(), "is required: the file to read".into()),
            R::UnknownStorageType(value) => (
                "storageType".into(),
                format!("{value:?} is not a storage type Cairn can connect: use S3 (or aws)"),
            ),
            R::DaysNotANumber => (
                "expiresInDays".into(),
                "Enter a whole number of days, from 1 to 365.".into(),
            ),
        };
        ControlError::invalid_field(&field, message).into()
    }
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: status.as_u16(),
                message: message.into(),
                errors: None,
            },
            headers: Box::default(),
            _made_here: MadeHere,
        }
    }

    /// 401, always with the `WWW-Authenticate` challenge.
    fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
            .with_header(header::WWW_AUTHENTICATE, WWW_AUTHENTICATE.into())
    }

    fn with_header(mut self, name: HeaderName, value: String) -> Self {
        if let Ok(value) = HeaderValue::from_str(&value) {
            self.headers.insert(name, value);
        }
        self
    }

    /// 416 for a download's `Range` that starts past the end of its `len` bytes; `Content-Range`
    /// gives the length, so the client can ask again (RFC 9110 §15.5.17).
    pub fn range_not_satisfiable(len: u64) -> Self {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("The requested range starts past the end of the file ({len} bytes)."),
        )
        .with_header(header::CONTENT_RANGE, format!("bytes */{len}"))
    }

    /// 503 from `/readyz`: the store does not answer.
    pub fn not_ready() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The metadata store is unavailable.",
        )
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
            StatusCode::URI_TOO_LONG => "The request's URL is too long.",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                "The request's headers are too large (or too many)."
            }
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

/// The web pages' words for a status the framework produced by itself (a person reads them).
pub fn page_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "There is no such page.",
        StatusCode::METHOD_NOT_ALLOWED => "This page does not accept that kind of request.",
        StatusCode::PAYLOAD_TOO_LARGE => "The form sent too much data.",
        StatusCode::URI_TOO_LONG => "The address is too long.",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The browser sent too much in its headers.",
        s if s.is_server_error() => {
            "Something went wrong on the server. The server log has the detail under this response's X-Request-Id."
        }
        _ => "The request could not be served.",
    }
}

/// A 429 with the spec's headers (section 6): `Retry-After` and `X-RateLimit-*`, for a failure
/// lock (its limit is the failures allowed in the window, none remaining) as for the rate limit.
fn too_many(message: String, limit: u32, remaining: u32, reset_after: Duration) -> ApiError {
    let reset = chrono::Utc::now() + chrono::TimeDelta::from_std(reset_after).unwrap_or_default();
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
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

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        match err {
            ControlError::Invalid { message, errors } => {
                let mut e = ApiError::new(StatusCode::BAD_REQUEST, message);
                e.body.errors = (!errors.is_empty()).then(|| {
                    errors
                        .into_iter()
                        .map(|f| FieldErrorBody {
                            field: f.field,
                            message: f.message,
                        })
                        .collect()
                });
                e
            }
            ControlError::Unauthenticated(failure) => ApiError::unauthorized(failure.message),
            ControlError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            ControlError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            ControlError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            ref e @ ControlError::Throttled { retry_after, limit } => {
                too_many(e.to_string(), limit, 0, retry_after)
            }
            ref e @ ControlError::RateLimited {
                limit,
                remaining,
                reset_after,
            } => too_many(e.to_string(), limit, remaining, reset_after),
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

/// Marks a plain-text refusal made here, which `layers::shape_errors` leaves as it is.
#[derive(Debug, Clone, Copy)]
pub struct PlainRefusal;

/// A legacy export start that started nothing (`shared/spec/legacy-export-api.md`): Jira's 412
/// and Confluence's 406, as a short plain text, because that is what the old scripts read. They
/// act on the status alone (and then ask for the backup there is); the text never names
/// `taskId`, which one of them cuts out of the raw answer with sed, nor the word "error".
pub fn legacy_refusal(product: Product, refusal: &LegacyRefusal) -> Response {
    let status = match product {
        Product::Jira => StatusCode::PRECONDITION_FAILED,
        Product::Confluence => StatusCode::NOT_ACCEPTABLE,
    };
    let text = match refusal {
        LegacyRefusal::Running => {
            "A backup or restore of this site is already in progress.".to_string()
        }
        LegacyRefusal::TooRecent { next_allowed } => format!(
            "Backup frequency is limited. You cannot make another backup right now; the next \
             one is allowed from {}.",
            next_allowed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_UTF8))],
        text,
    )
        .into_response();
    response.extensions_mut().insert(PlainRefusal);
    response
}

/// The media type of the legacy calls' plain-text answers.
pub const TEXT_UTF8: &str = "text/plain; charset=utf-8";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The detail goes to the log only; the body is the generic 500.
    #[test]
    fn an_unknown_error_is_a_500_that_says_nothing_internal() {
        let detail = "connection to 10.0.0.7:5432 refused (user cairn_admin)";
        let err = ApiError::from(ControlError::Internal(detail.into()));
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            err.body.message,
            ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
                .body
                .message
        );
        let body = serde_json::to_string(&err.body).unwrap();
        assert!(
            !body.contains("10.0.0.7") && !body.contains("cairn_admin"),
            "{body}"
        );
    }

    /// `StatusCode`'s 4xx constants: naming one is deciding a 4xx.
    const CLIENT_ERRORS: &[&str] = &[
        "BAD_REQUEST",
        "UNAUTHORIZED",
        "PAYMENT_REQUIRED",
        "FORBIDDEN",
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "NOT_ACCEPTABLE",
        "PROXY_AUTHENTICATION_REQUIRED",
        "REQUEST_TIMEOUT",
        "CONFLICT",
        "GONE",
        "LENGTH_REQUIRED",
        "PRECONDITION_FAILED",
        "PAYLOAD_TOO_LARGE",
        "URI_TOO_LONG",
        "UNSUPPORTED_MEDIA_TYPE",
        "RANGE_NOT_SATISFIABLE",
        "EXPECTATION_FAILED",
        "IM_A_TEAPOT",
        "MISDIRECTED_REQUEST",
        "UNPROCESSABLE_ENTITY",
        "LOCKED",
        "FAILED_DEPENDENCY",
        "TOO_EARLY",
        "UPGRADE_REQUIRED",
        "PRECONDITION_REQUIRED",
        "TOO_MANY_REQUESTS",
        "REQUEST_HEADER_FIELDS_TOO_LARGE",
        "UNAVAILABLE_FOR_LEGAL_REASONS",
    ];

    fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// The compiler keeps `ApiError` from being built outside this file; this keeps the other
    /// files from choosing a 4xx status by name or number (the pages' re-shown forms included).
    #[test]
    fn no_other_file_decides_a_4xx() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.len() > 10, "found the crate's sources");
        let mut offences = Vec::new();
        for file in files.iter().filter(|f| !f.ends_with("src/error.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let named = CLIENT_ERRORS
                    .iter()
                    .any(|c| line.contains(&format!("StatusCode::{c}")));
                if named || line.contains("from_u16(4") {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            offences.is_empty(),
            "4xx decided outside error.rs:\n{}",
            offences.join("\n")
        );
    }
}
