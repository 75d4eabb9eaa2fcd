//! The one error type of the domain. Each variant corresponds to exactly one HTTP status in the api
//! crate's table, so a database outage can never come out as a client error.

use std::time::Duration;

use cairn_store::StoreError;
use thiserror::Error;

pub type ControlResult<T> = Result<T, ControlError>;

/// One field of a request that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Why a request could not be authenticated. The message is safe to show: it never says whether
/// the account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    pub message: &'static str,
    /// For metrics: a short, fixed label of the cause (never shown to the caller).
    pub reason: &'static str,
}

#[derive(Debug, Error)]
pub enum ControlError {
    /// 400: the request is malformed; `errors` names the fields.
    #[error("{message}")]
    Invalid {
        message: String,
        errors: Vec<FieldError>,
    },
    /// 401.
    #[error("{}", .0.message)]
    Unauthenticated(AuthFailure),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404: names what kind of thing was not found, never whether it exists elsewhere.
    #[error("{0}")]
    NotFound(String),
    /// 409: a rule forbids the action now; the message names the rule.
    #[error("{0}")]
    Conflict(String),
    /// 429 after too many failed authentications; `limit` is the failures allowed in the window.
    #[error("Too many failed attempts. Try again in {} seconds.", .retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration, limit: u32 },
    /// 429 when an account exceeds its request rate.
    #[error("Rate limit exceeded. Slow down and retry after the time in Retry-After.")]
    RateLimited {
        limit: u32,
        remaining: u32,
        reset_after: Duration,
    },
    /// 503: the metadata store is unreachable.
    #[error("The metadata store is unavailable. Try again shortly.")]
    Unavailable(String),
    /// 503: a backup's storage could not be read; the detail is logged, never shown.
    #[error("The backup storage is unavailable. Try again shortly.")]
    StorageUnavailable(String),
    /// 500: a bug or corrupted data; the detail is logged, never shown.
    #[error("Internal error.")]
    Internal(String),
}

impl ControlError {
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ControlError::Invalid {
            message: format!("Invalid {field}: {message}"),
            errors: vec![FieldError {
                field: field.to_string(),
                message,
            }],
        }
    }
}

impl From<StoreError> for ControlError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => ControlError::Unavailable(detail),
            StoreError::Conflict(what) => {
                ControlError::Conflict(format!("A record with the same {what} already exists."))
            }
            StoreError::Unstorable(detail) => {
                tracing::warn!(detail = %detail, "the metadata store refused a value of a request");
                ControlError::Invalid {
                    message: "The request holds a character that cannot be stored, such as NUL: \
                              remove control characters from its ids, names and filters."
                        .into(),
                    errors: Vec::new(),
                }
            }
            StoreError::Corrupt(detail) | StoreError::Setup(detail) => {
                ControlError::Internal(detail)
            }
        }
    }
}
