//! Reading the JSON documents Atlassian returns and the snapshot holds.

use serde_json::Value;

/// An id from a JSON string or number; `None` for anything else and for an empty string.
pub(crate) fn id_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string field, or `""`.
pub(crate) fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_default()
}

/// An array field, or nothing.
pub(crate) fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_come_from_strings_and_numbers() {
        assert_eq!(id_str(&json!("10001")), Some("10001".into()));
        assert_eq!(id_str(&json!(42)), Some("42".into()));
        assert_eq!(id_str(&json!("")), None);
        assert_eq!(id_str(&Value::Null), None);
    }
}
