//! What a restore records of the original item (on by default; `[engine] record_origin`).
//!
//! The REST APIs stamp every created item with the restoring account and the time of the
//! restore: creation times, creators, reporters and the authors of comments, worklogs and
//! attachments cannot be set. So each restored Jira issue gets the issue property
//! [`PROPERTY`], and each restored page or blog post the content property of the same key,
//! holding the source item's id (and key), its creation time and author, and the author and time
//! of each comment, worklog and attachment under it, in the backup's order. Every restore does
//! this the same way; nothing else in the item is changed (bodies are written as they were).
//!
//! Atlassian caps a property value at 32 KB: each list keeps its first [`MAX_LISTED`] entries and
//! says how many more there were.

use serde_json::{Map, Value, json};

use crate::json::items;

/// The key of the property a restore writes.
pub const PROPERTY: &str = "cairn.origin";

/// Entries kept per list (comments, worklogs, attachments) within the 32 KB cap.
pub const MAX_LISTED: usize = 60;

/// `{accountId, displayName}` of a Jira user object, or null.
fn jira_user(u: &Value) -> Value {
    if u.is_null() {
        return Value::Null;
    }
    json!({"accountId": u["accountId"], "displayName": u["displayName"]})
}

/// The first [`MAX_LISTED`] of `list`, each made by `f`, under `name`; `more.<name>` counts the
/// rest.
fn listed(out: &mut Map<String, Value>, name: &str, list: &[Value], f: impl Fn(&Value) -> Value) {
    if list.is_empty() {
        return;
    }
    out.insert(
        name.into(),
        Value::Array(list.iter().take(MAX_LISTED).map(f).collect()),
    );
    if list.len() > MAX_LISTED {
        let more = out
            .entry("more")
            .or_insert_with(|| Value::Object(Map::new()));
        more[name] = json!(list.len() - MAX_LISTED);
    }
}

/// The origin of a backed-up Jira issue document (`{"issue", "comments", "worklogs", ...}`).
pub fn jira_issue(doc: &Value) -> Value {
    let issue = &doc["issue"];
    let f = &issue["fields"];
    let mut out = Map::new();
    out.insert(
        "source".into(),
        json!({"id": issue["id"], "key": issue["key"]}),
    );
    out.insert("created".into(), f["created"].clone());
    out.insert("creator".into(), jira_user(&f["creator"]));
    out.insert("reporter".into(), jira_user(&f["reporter"]));
    listed(
        &mut out,
        "comments",
        items(&doc["comments"]),
        |c| json!({"id": c["id"], "author": jira_user(&c["author"]), "created": c["created"]}),
    );
    listed(
        &mut out,
        "worklogs",
        items(&doc["worklogs"]),
        |w| json!({"id": w["id"], "author": jira_user(&w["author"]), "created": w["created"]}),
    );
    listed(
        &mut out,
        "attachments",
        items(&f["attachment"]),
        |a| json!({"id": a["id"], "filename": a["filename"], "author": jira_user(&a["author"]), "created": a["created"]}),
    );
    Value::Object(out)
}

/// The origin of a backed-up page or blog post document (`{"page" | "blogpost", ...}`).
pub fn confluence_content(doc: &Value) -> Value {
    let item = if doc["page"].is_object() {
        &doc["page"]
    } else {
        &doc["blogpost"]
    };
    let by = |v: &Value| json!({"authorId": v["version"]["authorId"], "createdAt": v["version"]["createdAt"]});
    let mut out = Map::new();
    out.insert(
        "source".into(),
        json!({"id": item["id"], "spaceId": item["spaceId"]}),
    );
    out.insert("createdAt".into(), item["createdAt"].clone());
    out.insert("authorId".into(), item["authorId"].clone());
    out.insert(
        "version".into(),
        json!({"number": item["version"]["number"], "authorId": item["version"]["authorId"], "createdAt": item["version"]["createdAt"]}),
    );
    let comment = |c: &Value| {
        let mut v = by(c);
        v["id"] = c["id"].clone();
        v
    };
    listed(
        &mut out,
        "footerComments",
        items(&doc["footerComments"]),
        comment,
    );
    listed(
        &mut out,
        "inlineComments",
        items(&doc["inlineComments"]),
        comment,
    );
    listed(&mut out, "attachments", items(&doc["attachments"]), |a| {
        let mut v = by(a);
        v["id"] = a["id"].clone();
        v["title"] = a["title"].clone();
        v
    });
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jira_issue_keeps_who_and_when_and_stays_under_the_cap() {
        let comments: Vec<Value> = (0..500)
            .map(|i| json!({"id": i.to_string(), "created": "2025-01-01T00:00:00.000+0000", "author": {"accountId": "a".repeat(40), "displayName": "Someone With A Long Name"}}))
            .collect();
        let doc = json!({
            "issue": {"id": "10001", "key": "PLAT-1", "fields": {
                "created": "2024-05-01T10:00:00.000+0000",
                "creator": {"accountId": "u1", "displayName": "Ann", "emailAddress": "x"},
                "reporter": {"accountId": "u2", "displayName": "Bob"},
                "attachment": [{"id": "7", "filename": "a.png", "created": "2024-05-02T00:00:00.000+0000", "author": {"accountId": "u1"}}],
            }},
            "comments": comments,
            "worklogs": [],
        });
        let o = jira_issue(&doc);
        assert_eq!(o["source"], json!({"id": "10001", "key": "PLAT-1"}));
        assert_eq!(o["created"], "2024-05-01T10:00:00.000+0000");
        assert_eq!(
            o["creator"],
            json!({"accountId": "u1", "displayName": "Ann"})
        );
        assert_eq!(o["comments"].as_array().unwrap().len(), MAX_LISTED);
        assert_eq!(o["more"]["comments"], json!(500 - MAX_LISTED));
        assert_eq!(o["attachments"][0]["filename"], "a.png");
        assert!(o.get("worklogs").is_none());
        assert!(
            serde_json::to_vec(&o).unwrap().len() < 32 * 1024,
            "Atlassian's property size cap"
        );
    }

    #[test]
    fn a_page_keeps_its_author_version_and_comment_authors() {
        let doc = json!({
            "page": {"id": "65", "spaceId": "9", "authorId": "u1", "createdAt": "2024-01-01T00:00:00.000Z",
                     "version": {"number": 4, "authorId": "u2", "createdAt": "2024-02-01T00:00:00.000Z"}},
            "footerComments": [{"id": "70", "version": {"authorId": "u3", "createdAt": "2024-03-01T00:00:00.000Z"}}],
            "inlineComments": [],
            "attachments": [{"id": "att5", "title": "f.txt", "version": {"authorId": "u1", "createdAt": "2024-01-02T00:00:00.000Z"}}],
        });
        let o = confluence_content(&doc);
        assert_eq!(o["source"]["id"], "65");
        assert_eq!(o["authorId"], "u1");
        assert_eq!(o["version"]["number"], 4);
        assert_eq!(o["footerComments"][0]["authorId"], "u3");
        assert_eq!(o["attachments"][0]["title"], "f.txt");
    }
}
