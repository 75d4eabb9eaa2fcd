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

/// Escapes text and attribute values for storage XHTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `extensionType` of Confluence macros in ADF.
pub const MACRO_EXTENSION: &str = "com.atlassian.confluence.macro.core";

/// Panel types and the storage macros they are written as. The first four are the same in both;
/// ADF's `success`, `error` and `custom` have no macro of their own, and are written as the
/// closest one (so they read back as `tip`, `warning` and `info`).
pub(crate) const PANELS: &[(&str, &str)] = &[
    ("info", "info"),
    ("note", "note"),
    ("tip", "tip"),
    ("warning", "warning"),
    ("success", "tip"),
    ("error", "warning"),
    ("custom", "info"),
];

/// Render ADF to Confluence storage format (XHTML). Deterministic; the inverse of
/// [`crate::storage::to_adf`] for what both convert (see README, "Body formats").
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

fn attr<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get("attrs")
        .and_then(|a| a.get(name))
        .filter(|x| !x.is_null())
}

fn attr_str<'a>(v: &'a Value, name: &str) -> &'a str {
    attr(v, name).and_then(Value::as_str).unwrap_or("")
}

/// `<tag ...>children</tag>`, or `<tag ... />` without children.
fn element(tag: &str, attrs: &str, v: &Value, out: &mut String) {
    let mut inner = String::new();
    children(v, &mut inner);
    if inner.is_empty() {
        out.push_str(&format!("<{tag}{attrs} />"));
    } else {
        out.push_str(&format!("<{tag}{attrs}>{inner}</{tag}>"));
    }
}

fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

fn parameter(name: &str, value: &str) -> String {
    format!(
        "<ac:parameter ac:name=\"{}\">{}</ac:parameter>",
        esc(name),
        esc(value)
    )
}

fn render(v: &Value, out: &mut String) {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "doc" => children(v, out),
        "paragraph" => element("p", "", v, out),
        "heading" => {
            let l = attr(v, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            element(&format!("h{l}"), "", v, out);
        }
        "bulletList" => element("ul", "", v, out),
        "orderedList" => {
            let start = match attr(v, "order").and_then(Value::as_u64) {
                Some(n) if n != 1 => format!(" start=\"{n}\""),
                _ => String::new(),
            };
            element("ol", &start, v, out);
        }
        "listItem" => element("li", "", v, out),
        "blockquote" => element("blockquote", "", v, out),
        "rule" => out.push_str("<hr />"),
        "hardBreak" => out.push_str("<br />"),
        "table" => {
            let layout = match attr_str(v, "layout") {
                "" => String::new(),
                l => format!(" data-layout=\"{}\"", esc(l)),
            };
            let mut rows = String::new();
            children(v, &mut rows);
            out.push_str(&format!("<table{layout}><tbody>{rows}</tbody></table>"));
        }
        "tableRow" => element("tr", "", v, out),
        "tableHeader" | "tableCell" => {
            let mut a = String::new();
            for k in ["colspan", "rowspan"] {
                if let Some(n) = attr(v, k).and_then(Value::as_u64).filter(|n| *n != 1) {
                    a.push_str(&format!(" {k}=\"{n}\""));
                }
            }
            element(if ty == "tableHeader" { "th" } else { "td" }, &a, v, out);
        }
        "codeBlock" => {
            out.push_str("<ac:structured-macro ac:name=\"code\">");
            if let Some(lang) = attr(v, "language").and_then(Value::as_str) {
                out.push_str(&parameter("language", lang));
            }
            let mut t = String::new();
            plain(v, &mut t);
            out.push_str(&format!(
                "<ac:plain-text-body>{}</ac:plain-text-body></ac:structured-macro>",
                cdata(&t)
            ));
        }
        "panel" => {
            let ty = attr_str(v, "panelType");
            let name = PANELS
                .iter()
                .find(|(p, _)| *p == ty)
                .map_or("info", |(_, m)| m);
            let mut body = String::new();
            children(v, &mut body);
            out.push_str(&format!("<ac:structured-macro ac:name=\"{name}\"><ac:rich-text-body>{body}</ac:rich-text-body></ac:structured-macro>"));
        }
        "expand" | "nestedExpand" => {
            let mut body = String::new();
            children(v, &mut body);
            let title = match attr_str(v, "title") {
                "" => String::new(),
                t => parameter("title", t),
            };
            out.push_str(&format!("<ac:structured-macro ac:name=\"expand\">{title}<ac:rich-text-body>{body}</ac:rich-text-body></ac:structured-macro>"));
        }
        "extension" | "bodiedExtension" | "inlineExtension" => {
            if attr_str(v, "extensionType") == MACRO_EXTENSION {
                macro_of(v, ty == "bodiedExtension", out);
            }
        }
        "mention" => {
            out.push_str(&format!(
                "<ac:link><ri:user ri:account-id=\"{}\" /></ac:link>",
                esc(attr_str(v, "id"))
            ));
        }
        "emoji" => {
            let short = attr_str(v, "shortName");
            let name = crate::storage::emoticon_name(short);
            out.push_str(&format!("<ac:emoticon ac:name=\"{}\"", esc(name)));
            for (k, a) in [
                ("ac:emoji-shortname", "shortName"),
                ("ac:emoji-id", "id"),
                ("ac:emoji-fallback", "text"),
            ] {
                if let Some(x) = attr(v, a).and_then(Value::as_str) {
                    out.push_str(&format!(" {k}=\"{}\"", esc(x)));
                }
            }
            out.push_str(" />");
        }
        "text" => {
            let mut s = esc(v.get("text").and_then(Value::as_str).unwrap_or(""));
            // The first mark outermost, so that reading the storage back gives the same order.
            if let Some(marks) = v.get("marks").and_then(Value::as_array) {
                for m in marks.iter().rev() {
                    s = wrap_mark(m, s);
                }
            }
            out.push_str(&s);
        }
        _ => children(v, out),
    }
}

fn wrap_mark(m: &Value, s: String) -> String {
    let tag = |t: &str| format!("<{t}>{s}</{t}>");
    match m.get("type").and_then(Value::as_str).unwrap_or("") {
        "strong" => tag("strong"),
        "em" => tag("em"),
        "code" => tag("code"),
        "underline" => tag("u"),
        "strike" => tag("s"),
        "subsup" if attr_str(m, "type") == "sub" => tag("sub"),
        "subsup" => tag("sup"),
        "textColor" => format!(
            "<span style=\"color: {};\">{s}</span>",
            esc(attr_str(m, "color"))
        ),
        "link" => format!("<a href=\"{}\">{s}</a>", esc(attr_str(m, "href"))),
        "annotation" => format!(
            "<ac:inline-comment-marker ac:ref=\"{}\">{s}</ac:inline-comment-marker>",
            esc(attr_str(m, "id"))
        ),
        _ => s,
    }
}

/// An extension of a Confluence macro as `ac:structured-macro`: `macroParams` as parameters,
/// `__bodyContent` as its plain-text body, a bodied extension's content as its rich-text body.
fn macro_of(v: &Value, bodied: bool, out: &mut String) {
    let key = attr_str(v, "extensionKey");
    let params = attr(v, "parameters");
    let id = params
        .and_then(|p| p.pointer("/macroMetadata/macroId/value"))
        .and_then(Value::as_str);
    out.push_str(&format!("<ac:structured-macro ac:name=\"{}\"", esc(key)));
    if let Some(id) = id {
        out.push_str(&format!(" ac:macro-id=\"{}\"", esc(id)));
    }
    out.push('>');
    let mut body = None;
    if let Some(m) = params
        .and_then(|p| p.get("macroParams"))
        .and_then(Value::as_object)
    {
        for (k, x) in m {
            let value = x.get("value").and_then(Value::as_str).unwrap_or("");
            if k == "__bodyContent" {
                body = Some(value);
            } else {
                out.push_str(&parameter(k, value));
            }
        }
    }
    if bodied {
        let mut inner = String::new();
        children(v, &mut inner);
        out.push_str(&format!("<ac:rich-text-body>{inner}</ac:rich-text-body>"));
    } else if let Some(b) = body {
        out.push_str(&format!(
            "<ac:plain-text-body>{}</ac:plain-text-body>",
            cdata(b)
        ));
    }
    out.push_str("</ac:structured-macro>");
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

/// An ADF document in a canonical form, for comparing two: adjacent text with the same marks
/// joined, empty text and empty `content` left out, marks in order of type. Editors split and
/// order these freely; the document they show is the same.
pub fn normalize(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, x) in m {
        match (k.as_str(), x) {
            ("content", Value::Array(items)) => {
                let mut content: Vec<Value> = Vec::new();
                for item in items.iter().map(normalize) {
                    if item["type"] == "text" && item["text"].as_str().is_some_and(str::is_empty) {
                        continue;
                    }
                    if let Some(prev) = content.last_mut()
                        && prev["type"] == "text"
                        && item["type"] == "text"
                        && prev.get("marks") == item.get("marks")
                    {
                        let joined = format!(
                            "{}{}",
                            prev["text"].as_str().unwrap_or(""),
                            item["text"].as_str().unwrap_or("")
                        );
                        prev["text"] = Value::String(joined);
                        continue;
                    }
                    content.push(item);
                }
                if !content.is_empty() {
                    out.insert(k.clone(), Value::Array(content));
                }
            }
            ("marks", Value::Array(marks)) => {
                let mut marks = marks.clone();
                marks.sort_by_key(|x| x["type"].as_str().unwrap_or("").to_string());
                if !marks.is_empty() {
                    out.insert(k.clone(), Value::Array(marks));
                }
            }
            _ => {
                out.insert(k.clone(), x.clone());
            }
        }
    }
    Value::Object(out)
}
