//! [`JsonBody`]: a request body parsed into a typed request, with the spec's 400 for every way it
//! can be wrong (section 1): malformed JSON, a wrong type, a missing field, a bad enum literal —
//! each naming the field. Unknown fields are ignored (tolerant reader).

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ApiResult, RequestError};
use crate::state::AppState;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| RequestError::BodyTooLarge)?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RequestError::EmptyBody.into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_json::Value::deserialize(&mut de).map_err(|e| RequestError::MalformedJson {
            line: e.line(),
            column: e.column(),
        })?;
    if de.end().is_err() {
        return Err(RequestError::TrailingCharacters.into());
    }
    if let Some(field) = control_character_in(&value, &mut String::new()) {
        return Err(RequestError::ControlCharacter(field).into());
    }
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Ok(v),
        Err(err) => {
            let inner = err.inner();
            let message = without_position(&inner.to_string());
            let path = err.path().to_string();
            let field = if path == "." || path.is_empty() {
                missing_field(&message).unwrap_or("body").to_string()
            } else {
                path
            };
            Err(RequestError::BadField { field, message }.into())
        }
    }
}

/// The path (as serde_path_to_error writes it: `a.b[2]`) of the first string in `value` that
/// holds a control character: no id, name or filter may (PostgreSQL cannot store NUL, and a
/// terminal obeys escapes), so none is accepted anywhere in a body.
fn control_character_in(value: &serde_json::Value, path: &mut String) -> Option<String> {
    let len = path.len();
    let found = match value {
        serde_json::Value::String(s) if cairn_control::text::has_control(s) => {
            Some(if path.is_empty() {
                "body".into()
            } else {
                path.clone()
            })
        }
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.truncate(len);
            path.push_str(&format!("[{i}]"));
            control_character_in(item, path)
        }),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            path.truncate(len);
            if len > 0 {
                path.push('.');
            }
            path.push_str(name);
            control_character_in(item, path)
        }),
        _ => None,
    };
    path.truncate(len);
    found
}

/// serde's messages end with " at line 1 column 42", which is noise beside a field name.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// For partial updates: an absent field is `None`, `null` is `Some(None)`, a value is
/// `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Req {
        policy_name: String,
        include_attachments: Option<bool>,
        #[serde(default, deserialize_with = "nullable")]
        schedule_details: Option<Option<Inner>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        interval: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        #[serde(rename = "DAILY")]
        Daily,
    }

    fn field_of(body: &str) -> String {
        let err = parse::<Req>(body.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        err.body.errors.unwrap()[0].field.clone()
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of("{"), "body");
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of("[]"), "body");
        assert_eq!(field_of("{}"), "policyName");
        assert_eq!(
            field_of(r#"{"policyName": "p", "includeAttachments": "yes"}"#),
            "includeAttachments"
        );
        assert_eq!(
            field_of(r#"{"policyName": "p", "scheduleDetails": {"interval": "daily"}}"#),
            "scheduleDetails.interval"
        );
        assert_eq!(field_of(r#"{"policyName": "p"} trailing"#), "body");
    }

    #[test]
    fn a_control_character_in_any_string_names_its_field() {
        assert_eq!(field_of(r#"{"policyName": "a\u0000b"}"#), "policyName");
        assert_eq!(
            field_of(r#"{"policyName": "p", "scheduleDetails": {"interval": "\u001b[31m"}}"#),
            "scheduleDetails.interval"
        );
        assert_eq!(
            field_of(r#"{"policyName": "p", "keys": ["A", "B\u0085"]}"#),
            "keys[1]"
        );
        assert_eq!(field_of("\"\\u0000\""), "body");
    }

    #[test]
    fn unknown_fields_are_ignored_and_null_differs_from_absent() {
        let r: Req = parse(br#"{"policyName": "p", "surprise": 1}"#).unwrap();
        assert!(r.schedule_details.is_none());
        let r: Req = parse(br#"{"policyName": "p", "scheduleDetails": null}"#).unwrap();
        assert!(matches!(r.schedule_details, Some(None)));
    }
}
