//! The one error type of every call: it names the call that failed and says whether trying again
//! may help (`Retryable`), cannot help (`Permanent`, with Atlassian's own message) or needs other
//! credentials (`Auth`).

use std::collections::BTreeMap;

use serde_json::Value;

/// How the caller should treat an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Rate limiting, 5xx or a dropped connection outlasted the retry budget: try later.
    Retryable,
    /// The site refused the request (4xx other than 401/403), or answered something unreadable.
    Permanent,
    /// 401 or 403: the credentials are wrong or lack the permission.
    Auth,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{call}: HTTP {status}, not authorised: {message}")]
    Auth {
        call: String,
        status: u16,
        message: String,
    },
    #[error("{call}: HTTP {status}: {message}")]
    Permanent {
        call: String,
        status: u16,
        /// Atlassian's messages (`errorMessages`, Confluence `errors[].title`/`message`), joined.
        message: String,
        /// Jira's per-field `errors` object.
        field_errors: BTreeMap<String, String>,
    },
    #[error("{call}: gave up after {attempts} attempt(s): {message}")]
    Retryable {
        call: String,
        /// The last HTTP status, or none when the connection failed.
        status: Option<u16>,
        attempts: u32,
        message: String,
    },
    #[error("{call}: unexpected response: {message}")]
    Protocol { call: String, message: String },
    #[error("invalid site URL {url:?}: {message}")]
    Config { url: String, message: String },
    /// The outbound guard refused the address (`crate::outbound`); nothing was sent.
    #[error("{call}: refused to connect to {message}")]
    Refused { call: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::outbound::Refused> for Error {
    fn from(why: crate::outbound::Refused) -> Error {
        Error::refused("site URL", why)
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Auth { .. } => ErrorKind::Auth,
            Error::Retryable { .. } => ErrorKind::Retryable,
            Error::Permanent { .. }
            | Error::Protocol { .. }
            | Error::Config { .. }
            | Error::Refused { .. } => ErrorKind::Permanent,
        }
    }
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }
    /// The outbound guard refused the address: no connection was made.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused { .. })
    }
    /// `METHOD /path` of the call that failed.
    pub fn call(&self) -> &str {
        match self {
            Error::Auth { call, .. }
            | Error::Permanent { call, .. }
            | Error::Retryable { call, .. }
            | Error::Protocol { call, .. }
            | Error::Refused { call, .. } => call,
            Error::Config { .. } => "",
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Auth { status, .. } | Error::Permanent { status, .. } => Some(*status),
            Error::Retryable { status, .. } => *status,
            _ => None,
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub(crate) fn protocol(call: &str, message: impl Into<String>) -> Error {
        Error::Protocol {
            call: call.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn refused(call: &str, why: crate::outbound::Refused) -> Error {
        Error::Refused {
            call: call.to_string(),
            message: why.to_string(),
        }
    }

    /// A final (non-retried) answer outside 2xx.
    pub(crate) fn from_status(call: &str, status: u16, body: &[u8]) -> Error {
        let (message, field_errors) = atlassian_message(body);
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        match status {
            401 | 403 => Error::Auth {
                call: call.to_string(),
                status,
                message,
            },
            _ => Error::Permanent {
                call: call.to_string(),
                status,
                message,
                field_errors,
            },
        }
    }
}

/// Reads the three error shapes: Jira `{errorMessages, errors}`, Confluence v2
/// `{errors: [{title, detail}]}`, Confluence v1 `{statusCode, message}`; else a short text.
fn atlassian_message(body: &[u8]) -> (String, BTreeMap<String, String>) {
    let mut fields = BTreeMap::new();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return (text.trim().chars().take(300).collect(), fields);
    };
    let mut parts: Vec<String> = vec![];
    if let Some(a) = v["errorMessages"].as_array() {
        parts.extend(a.iter().filter_map(|m| m.as_str().map(String::from)));
    }
    match &v["errors"] {
        Value::Object(m) => {
            for (k, e) in m {
                let text = e
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| e.to_string());
                parts.push(format!("{k}: {text}"));
                fields.insert(k.clone(), text);
            }
        }
        Value::Array(a) => {
            for e in a {
                let title = e["title"].as_str().unwrap_or_default();
                let detail = e["detail"].as_str().unwrap_or_default();
                parts.push(match (title.is_empty(), detail.is_empty()) {
                    (false, false) => format!("{title}: {detail}"),
                    (false, true) => title.to_string(),
                    _ => detail.to_string(),
                });
            }
        }
        _ => {}
    }
    if let Some(m) = v["message"].as_str() {
        parts.push(m.to_string());
    }
    (parts.join("; "), fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes_are_surfaced() {
        let e = Error::from_status(
            "POST /rest/api/3/issue",
            400,
            br#"{"errorMessages":["bad"],"errors":{"created":"Field 'created' cannot be set."}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Permanent);
        assert!(
            e.to_string()
                .contains("bad; created: Field 'created' cannot be set.")
        );
        let Error::Permanent { field_errors, .. } = &e else {
            panic!()
        };
        assert_eq!(field_errors.len(), 1);
        let e = Error::from_status(
            "GET /wiki/api/v2/pages/1",
            404,
            br#"{"errors":[{"status":404,"code":"NOT_FOUND","title":"Not Found","detail":"Page not found"}]}"#,
        );
        assert!(e.is_not_found() && e.to_string().contains("Not Found: Page not found"));
        let e = Error::from_status(
            "POST /wiki/rest/api/space",
            401,
            br#"{"statusCode":401,"message":"nope"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(e.to_string().contains("nope"));
        let e = Error::from_status("POST x", 403, b"XSRF check failed");
        assert!(e.to_string().contains("XSRF check failed"));
    }
}
