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

/// One operation's restriction of a Confluence page or blog post: account ids and group names.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ContentRestriction {
    pub operation: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

/// The restrictions in v1's entries (`[{operation, restrictions: {user: {results}, group:
/// {results}}}]`): the operations that name anyone (an empty entry is no restriction).
pub(crate) fn content_restrictions(entries: &[Value]) -> Vec<ContentRestriction> {
    let mut out = Vec::new();
    for e in entries {
        let users: Vec<String> = items(&e["restrictions"]["user"]["results"])
            .iter()
            .filter_map(|u| id_str(&u["accountId"]))
            .collect();
        let groups: Vec<String> = items(&e["restrictions"]["group"]["results"])
            .iter()
            .map(|g| text(g, "name").to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if users.is_empty() && groups.is_empty() {
            continue;
        }
        out.push(ContentRestriction {
            operation: text(e, "operation").to_string(),
            users,
            groups,
        });
    }
    out
}
