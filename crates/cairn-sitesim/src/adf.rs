//! Atlassian Document Format: generation of realistic documents, rendering to storage XHTML.

use rand::Rng;
use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "backup",
    "restore",
    "cluster",
    "latency",
    "customer",
    "release",
    "deploy",
    "pipeline",
    "timeout",
    "database",
    "index",
    "migration",
    "schema",
    "quota",
    "token",
    "session",
    "dashboard",
    "workflow",
    "sprint",
    "review",
    "incident",
    "metric",
    "alert",
    "storage",
    "network",
    "proxy",
    "cache",
    "queue",
    "worker",
    "retry",
    "config",
    "feature",
    "rollback",
    "audit",
    "export",
    "import",
    "search",
    "report",
    "page",
    "service",
    "module",
    "client",
    "the",
    "a",
    "is",
    "when",
    "after",
    "before",
    "with",
    "fails",
    "works",
    "should",
    "must",
    "and",
    "or",
    "not",
    "on",
    "in",
    "for",
    "from",
    "to",
    "every",
    "some",
    "new",
    "old",
];

pub fn words<R: Rng>(rng: &mut R, n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

pub fn sentence<R: Rng>(rng: &mut R) -> String {
    let n = rng.random_range(4..14);
    let mut s = words(rng, n);
    if let Some(f) = s.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    s.push('.');
    s
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn paragraph_content<R: Rng>(rng: &mut R, users: &[(String, String)]) -> Vec<Value> {
    let mut content = vec![text(&sentence(rng))];
    match rng.random_range(0..6) {
        0 if !users.is_empty() => {
            let (id, name) = &users[rng.random_range(0..users.len())];
            content.push(text(" cc "));
            content.push(json!({"type": "mention", "attrs": {"id": id, "text": format!("@{name}"), "accessLevel": ""}}));
        }
        1 => {
            let n: u32 = rng.random_range(1..999);
            content.push(text(" See "));
            content.push(json!({"type": "text", "text": "the runbook", "marks": [{"type": "link", "attrs": {"href": format!("https://example.com/runbook/{n}")}}]}));
            content.push(text("."));
        }
        2 => {
            content.push(text(" "));
            content.push(
                json!({"type": "text", "text": words(rng, 2), "marks": [{"type": "strong"}]}),
            );
        }
        3 => {
            content.push(text(" "));
            content
                .push(json!({"type": "text", "text": "config.toml", "marks": [{"type": "code"}]}));
        }
        _ => {}
    }
    content
}

/// A document of `blocks` top-level blocks: paragraphs, lists, code blocks, headings.
pub fn doc<R: Rng>(
    rng: &mut R,
    blocks: std::ops::Range<usize>,
    users: &[(String, String)],
) -> Value {
    let mut content = Vec::new();
    let n = if blocks.len() > 1 {
        rng.random_range(blocks)
    } else {
        blocks.start
    };
    for _ in 0..n.max(1) {
        let b = match rng.random_range(0..10) {
            0 => {
                json!({"type": "heading", "attrs": {"level": rng.random_range(1..4)}, "content": [text(&words(rng, 3))]})
            }
            1 | 2 => {
                let kind = if rng.random_bool(0.5) {
                    "bulletList"
                } else {
                    "orderedList"
                };
                let items: Vec<Value> = (0..rng.random_range(2..5))
                    .map(|_| json!({"type": "listItem", "content": [{"type": "paragraph", "content": [text(&sentence(rng))]}]}))
                    .collect();
                json!({"type": kind, "content": items})
            }
            3 => {
                let lang = ["rust", "python", "bash", "json"][rng.random_range(0..4)];
                let n: u32 = rng.random_range(1..100);
                json!({"type": "codeBlock", "attrs": {"language": lang}, "content": [text(&format!("let retries = {n};\nrun(retries)?;"))]})
            }
            _ => json!({"type": "paragraph", "content": paragraph_content(rng, users)}),
        };
        content.push(b);
    }
    json!({"type": "doc", "version": 1, "content": content})
}

/// A one-paragraph document with the given text.
pub fn plain_doc(t: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [text(t)]}]})
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Render ADF to Confluence storage format (XHTML). Deterministic.
pub fn to_storage(v: &Value) -> String {
    let mut out = String::new();
    render(v, &mut out);
    out
}

fn children(v: &Value, out: &mut String) {
    if let Some(c) = v.get("content").and_then(Value::as_array) {
        for x in c {
            render(x, out);
        }
    }
}

fn render(v: &Value, out: &mut String) {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "doc" => children(v, out),
        "paragraph" => {
            out.push_str("<p>");
            children(v, out);
            out.push_str("</p>");
        }
        "heading" => {
            let l = v
                .pointer("/attrs/level")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            out.push_str(&format!("<h{l}>"));
            children(v, out);
            out.push_str(&format!("</h{l}>"));
        }
        "bulletList" | "orderedList" => {
            let tag = if ty == "bulletList" { "ul" } else { "ol" };
            out.push_str(&format!("<{tag}>"));
            children(v, out);
            out.push_str(&format!("</{tag}>"));
        }
        "listItem" => {
            out.push_str("<li>");
            children(v, out);
            out.push_str("</li>");
        }
        "codeBlock" => {
            let lang = v
                .pointer("/attrs/language")
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push_str(&format!("<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">{}</ac:parameter><ac:plain-text-body><![CDATA[", esc(lang)));
            let mut t = String::new();
            plain(v, &mut t);
            out.push_str(&t);
            out.push_str("]]></ac:plain-text-body></ac:structured-macro>");
        }
        "mention" => {
            let id = v.pointer("/attrs/id").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!(
                "<ac:link><ri:user ri:account-id=\"{}\" /></ac:link>",
                esc(id)
            ));
        }
        "hardBreak" => out.push_str("<br />"),
        "text" => {
            let t = esc(v.get("text").and_then(Value::as_str).unwrap_or(""));
            let mut s = t;
            if let Some(marks) = v.get("marks").and_then(Value::as_array) {
                for m in marks {
                    s = match m.get("type").and_then(Value::as_str).unwrap_or("") {
                        "strong" => format!("<strong>{s}</strong>"),
                        "em" => format!("<em>{s}</em>"),
                        "code" => format!("<code>{s}</code>"),
                        "link" => format!(
                            "<a href=\"{}\">{s}</a>",
                            esc(m
                                .pointer("/attrs/href")
                                .and_then(Value::as_str)
                                .unwrap_or(""))
                        ),
                        _ => s,
                    };
                }
            }
            out.push_str(&s);
        }
        _ => children(v, out),
    }
}

/// Concatenated text of a document.
pub fn plain(v: &Value, out: &mut String) {
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        out.push_str(t);
    }
    if let Some(c) = v.get("content").and_then(Value::as_array) {
        for x in c {
            plain(x, out);
        }
    }
}

/// Crude storage -> ADF: one paragraph holding the text with tags removed.
pub fn from_storage(s: &str) -> Value {
    let mut t = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => t.push(c),
            _ => {}
        }
    }
    plain_doc(&t)
}
