//! Confluence storage format (XHTML with `ac:` and `ri:` elements) to ADF, structurally, as
//! Confluence converts a body written in one format and read in the other. The way back is
//! [`crate::adf::to_storage`]; README.md, "Body formats", lists what neither converts.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value, json};

use crate::adf::{MACRO_EXTENSION, PANELS};

/// One node of a parsed storage body.
#[derive(Debug)]
enum Node {
    El {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
    Text(String),
}

impl Node {
    fn attr(&self, key: &str) -> Option<&str> {
        match self {
            Node::El { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            Node::Text(_) => None,
        }
    }
    fn children(&self) -> &[Node] {
        match self {
            Node::El { children, .. } => children,
            Node::Text(_) => &[],
        }
    }
    fn named(&self, n: &str) -> bool {
        matches!(self, Node::El { name, .. } if name == n)
    }
    fn child(&self, n: &str) -> Option<&Node> {
        self.children().iter().find(|c| c.named(n))
    }
    fn text(&self) -> String {
        match self {
            Node::Text(t) => t.clone(),
            Node::El { children, .. } => children.iter().map(Node::text).collect(),
        }
    }
}

/// The entities of XHTML that storage bodies use besides XML's five.
fn entity(name: &str) -> Option<&'static str> {
    quick_xml::escape::resolve_predefined_entity(name).or(match name {
        "nbsp" => Some("\u{a0}"),
        "ndash" => Some("–"),
        "mdash" => Some("—"),
        "hellip" => Some("…"),
        "lsquo" => Some("‘"),
        "rsquo" => Some("’"),
        "ldquo" => Some("“"),
        "rdquo" => Some("”"),
        "laquo" => Some("«"),
        "raquo" => Some("»"),
        "copy" => Some("©"),
        "reg" => Some("®"),
        "trade" => Some("™"),
        "deg" => Some("°"),
        "times" => Some("×"),
        "middot" => Some("·"),
        "bull" => Some("•"),
        "euro" => Some("€"),
        _ => None,
    })
}

fn start_of(e: &BytesStart) -> Result<(String, Vec<(String, String)>), String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let raw = String::from_utf8_lossy(&a.value).into_owned();
        let value = quick_xml::escape::unescape_with(&raw, entity)
            .map_err(|x| x.to_string())?
            .into_owned();
        attrs.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value));
    }
    Ok((name, attrs))
}

/// An element being parsed: name, attributes, children so far.
type Open = (String, Vec<(String, String)>, Vec<Node>);

/// Parses a storage body (a sequence of XHTML fragments, no single root needed). An error
/// names what is malformed, as Confluence refuses such a body.
fn parse(s: &str) -> Result<Vec<Node>, String> {
    let mut reader = Reader::from_str(s);
    // (name, attrs, children) of each open element; the bottom one is the body itself.
    let mut stack: Vec<Open> = vec![(String::new(), vec![], vec![])];
    let push_text = |stack: &mut Vec<Open>, t: &str| {
        let children = &mut stack.last_mut().expect("the body is never popped").2;
        match children.last_mut() {
            Some(Node::Text(prev)) => prev.push_str(t),
            _ => children.push(Node::Text(t.to_string())),
        }
    };
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("{e} (at byte {})", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                let (name, attrs) = start_of(&e)?;
                stack.push((name, attrs, vec![]));
            }
            Event::Empty(e) => {
                let (name, attrs) = start_of(&e)?;
                stack
                    .last_mut()
                    .expect("the body is never popped")
                    .2
                    .push(Node::El {
                        name,
                        attrs,
                        children: vec![],
                    });
            }
            Event::End(_) => {
                if stack.len() < 2 {
                    return Err("an end tag closes no element".into());
                }
                let (name, attrs, children) = stack.pop().expect("checked above");
                stack
                    .last_mut()
                    .expect("the body is never popped")
                    .2
                    .push(Node::El {
                        name,
                        attrs,
                        children,
                    });
            }
            Event::Text(t) => {
                let t = t.xml10_content().map_err(|e| e.to_string())?;
                push_text(&mut stack, &t);
            }
            Event::CData(t) => {
                let t = t.xml10_content().map_err(|e| e.to_string())?;
                push_text(&mut stack, &t);
            }
            Event::GeneralRef(r) => {
                let c = r.resolve_char_ref().map_err(|e| e.to_string())?;
                let name = r.decode().map_err(|e| e.to_string())?;
                let t = match c {
                    Some(c) => c.to_string(),
                    None => entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?
                        .to_string(),
                };
                push_text(&mut stack, &t);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if stack.len() > 1 {
        return Err(format!("<{}> is not closed", stack[stack.len() - 1].0));
    }
    Ok(stack.pop().map(|(_, _, c)| c).unwrap_or_default())
}

/// How a mention's `text` is found: the account's display name in the site's directory.
pub type Names<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Storage to ADF, structurally. `Err` names what is malformed in the XHTML.
pub fn to_adf(storage: &str, names: Names) -> Result<Value, String> {
    let nodes = parse(storage)?;
    Ok(json!({"type": "doc", "version": 1, "content": blocks(&nodes, names)}))
}

fn is_block(n: &Node) -> bool {
    let Node::El { name, .. } = n else {
        return false;
    };
    matches!(
        name.as_str(),
        "p" | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "table"
            | "blockquote"
            | "hr"
            | "pre"
            | "div"
            | "ac:structured-macro"
            | "ac:layout"
            | "ac:layout-section"
            | "ac:layout-cell"
    )
}

fn node(ty: &str, attrs: Option<Value>, content: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(ty));
    if let Some(a) = attrs {
        m.insert("attrs".into(), a);
    }
    if !content.is_empty() {
        m.insert("content".into(), Value::Array(content));
    }
    Value::Object(m)
}

/// Block content: block elements in order, each run of inline content between them a paragraph
/// (whitespace between blocks is layout, not text).
fn blocks(nodes: &[Node], names: Names) -> Vec<Value> {
    let mut out = Vec::new();
    let mut run: Vec<&Node> = Vec::new();
    let flush = |run: &mut Vec<&Node>, out: &mut Vec<Value>| {
        if run
            .iter()
            .any(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()))
        {
            let mut content = Vec::new();
            for n in run.iter() {
                inline(n, &[], names, &mut content);
            }
            out.push(node("paragraph", None, content));
        }
        run.clear();
    };
    for n in nodes {
        if is_block(n) {
            flush(&mut run, &mut out);
            block(n, names, &mut out);
        } else {
            run.push(n);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn inline_content(nodes: &[Node], names: Names) -> Vec<Value> {
    let mut out = Vec::new();
    for n in nodes {
        inline(n, &[], names, &mut out);
    }
    out
}

fn block(n: &Node, names: Names, out: &mut Vec<Value>) {
    let Node::El { name, children, .. } = n else {
        return;
    };
    match name.as_str() {
        "p" => out.push(node("paragraph", None, inline_content(children, names))),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level: u64 = name[1..].parse().unwrap_or(1);
            out.push(node(
                "heading",
                Some(json!({"level": level})),
                inline_content(children, names),
            ));
        }
        "ul" | "ol" => {
            let items: Vec<Value> = children
                .iter()
                .filter(|c| c.named("li"))
                .map(|li| node("listItem", None, blocks(li.children(), names)))
                .collect();
            let attrs = (name == "ol")
                .then(|| n.attr("start").and_then(|s| s.parse::<u64>().ok()))
                .flatten()
                .map(|o| json!({"order": o}));
            let ty = if name == "ul" {
                "bulletList"
            } else {
                "orderedList"
            };
            out.push(node(ty, attrs, items));
        }
        "table" => {
            let mut rows = Vec::new();
            let mut add_row = |tr: &Node| {
                let cells = tr
                    .children()
                    .iter()
                    .filter(|c| c.named("th") || c.named("td"))
                    .map(|c| {
                        let mut content = blocks(c.children(), names);
                        if content.is_empty() {
                            content.push(node("paragraph", None, vec![]));
                        }
                        let mut attrs = Map::new();
                        for k in ["colspan", "rowspan"] {
                            if let Some(v) = c.attr(k).and_then(|s| s.parse::<u64>().ok()) {
                                attrs.insert(k.into(), json!(v));
                            }
                        }
                        let ty = if c.named("th") {
                            "tableHeader"
                        } else {
                            "tableCell"
                        };
                        node(
                            ty,
                            (!attrs.is_empty()).then_some(Value::Object(attrs)),
                            content,
                        )
                    })
                    .collect();
                rows.push(node("tableRow", None, cells));
            };
            for c in children {
                if c.named("tr") {
                    add_row(c);
                } else if c.named("tbody") || c.named("thead") || c.named("tfoot") {
                    c.children()
                        .iter()
                        .filter(|r| r.named("tr"))
                        .for_each(&mut add_row);
                }
            }
            let attrs = n.attr("data-layout").map(|l| json!({"layout": l}));
            out.push(node("table", attrs, rows));
        }
        "blockquote" => out.push(node("blockquote", None, blocks(children, names))),
        "hr" => out.push(node("rule", None, vec![])),
        "pre" => out.push(code_block(None, &n.text())),
        "ac:structured-macro" => out.push(block_macro(n, names)),
        // Containers without an ADF node of their own: their content.
        _ => out.extend(blocks(children, names)),
    }
}

fn code_block(language: Option<&str>, text: &str) -> Value {
    let content = if text.is_empty() {
        vec![]
    } else {
        vec![json!({"type": "text", "text": text})]
    };
    node(
        "codeBlock",
        language.map(|l| json!({"language": l})),
        content,
    )
}

/// The `ac:parameter`s of a macro, by name, in order.
fn parameters(n: &Node) -> Vec<(String, String)> {
    n.children()
        .iter()
        .filter(|c| c.named("ac:parameter"))
        .map(|c| (c.attr("ac:name").unwrap_or("").to_string(), c.text()))
        .collect()
}

fn block_macro(n: &Node, names: Names) -> Value {
    let name = n.attr("ac:name").unwrap_or("");
    let params = parameters(n);
    let param = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
    let rich = n.child("ac:rich-text-body");
    let body = |names| {
        rich.map(|b| blocks(b.children(), names))
            .unwrap_or_default()
    };
    if name == "code" {
        let text = n
            .child("ac:plain-text-body")
            .map(Node::text)
            .unwrap_or_default();
        return code_block(param("language"), &text);
    }
    if let Some((panel, _)) = PANELS.iter().find(|(p, m)| p == m && *m == name) {
        return node("panel", Some(json!({"panelType": panel})), body(names));
    }
    if name == "expand" {
        let attrs = param("title").map(|t| json!({"title": t}));
        return node("expand", attrs, body(names));
    }
    let ty = if rich.is_some() {
        "bodiedExtension"
    } else {
        "extension"
    };
    node(ty, Some(extension_attrs(n, &params)), body(names))
}

/// `attrs` of the extension of any other macro: its key and parameters as Confluence gives them
/// (`macroParams.{name}.value`, a plain-text body as `__bodyContent`, the macro id in
/// `macroMetadata`).
fn extension_attrs(n: &Node, params: &[(String, String)]) -> Value {
    let mut macro_params = Map::new();
    for (k, v) in params {
        macro_params.insert(k.clone(), json!({"value": v}));
    }
    if let Some(b) = n.child("ac:plain-text-body") {
        macro_params.insert("__bodyContent".into(), json!({"value": b.text()}));
    }
    let mut parameters = json!({"macroParams": macro_params});
    if let Some(id) = n.attr("ac:macro-id") {
        parameters["macroMetadata"] = json!({"macroId": {"value": id}});
    }
    json!({"extensionType": MACRO_EXTENSION, "extensionKey": n.attr("ac:name").unwrap_or(""), "parameters": parameters})
}

/// Adds inline content with the marks of the elements around it; a text run next to one with
/// the same marks joins it.
fn inline(n: &Node, marks: &[Value], names: Names, out: &mut Vec<Value>) {
    let el = match n {
        Node::Text(t) => {
            if t.is_empty() {
                return;
            }
            if let Some(prev) = out.last_mut()
                && prev["type"] == "text"
                && prev.get("marks").map_or(marks.is_empty(), |m| {
                    m.as_array().is_some_and(|m| m == marks)
                })
                && let Some(s) = prev["text"].as_str()
            {
                prev["text"] = json!(format!("{s}{t}"));
                return;
            }
            let mut v = json!({"type": "text", "text": t});
            if !marks.is_empty() {
                v["marks"] = json!(marks);
            }
            out.push(v);
            return;
        }
        Node::El { name, .. } => name.as_str(),
    };
    let mark = match el {
        "strong" | "b" => Some(json!({"type": "strong"})),
        "em" | "i" => Some(json!({"type": "em"})),
        "code" => Some(json!({"type": "code"})),
        "u" => Some(json!({"type": "underline"})),
        "s" | "del" | "strike" => Some(json!({"type": "strike"})),
        "sub" | "sup" => Some(json!({"type": "subsup", "attrs": {"type": el}})),
        "a" => Some(json!({"type": "link", "attrs": {"href": n.attr("href").unwrap_or("")}})),
        "span" => color(n.attr("style").unwrap_or(""))
            .map(|c| json!({"type": "textColor", "attrs": {"color": c}})),
        "ac:inline-comment-marker" => Some(
            json!({"type": "annotation", "attrs": {"id": n.attr("ac:ref").unwrap_or(""), "annotationType": "inlineComment"}}),
        ),
        _ => None,
    };
    if let Some(m) = mark {
        let mut inner = marks.to_vec();
        inner.push(m);
        for c in n.children() {
            inline(c, &inner, names, out);
        }
        return;
    }
    match el {
        "br" => out.push(node("hardBreak", None, vec![])),
        "ac:link" => match n.child("ri:user") {
            Some(u) => {
                let id = u.attr("ri:account-id").unwrap_or("");
                let text = names(id).map(|d| format!("@{d}")).unwrap_or_default();
                out.push(json!({"type": "mention", "attrs": {"id": id, "text": text, "accessLevel": ""}}));
            }
            // Links to pages, spaces, attachments: their text.
            None => {
                let body = n
                    .child("ac:plain-text-link-body")
                    .or_else(|| n.child("ac:link-body"));
                if let Some(b) = body {
                    for c in b.children() {
                        inline(c, marks, names, out);
                    }
                }
            }
        },
        "ac:emoticon" => out.push(emoji(n)),
        "ac:structured-macro" => {
            let params = parameters(n);
            out.push(node(
                "inlineExtension",
                Some(extension_attrs(n, &params)),
                vec![],
            ));
        }
        "ac:image" | "ac:placeholder" | "ac:parameter" => {}
        // Inline containers without an ADF node of their own: their content.
        _ => {
            for c in n.children() {
                inline(c, marks, names, out);
            }
        }
    }
}

/// The colour of a `style="color: ..."`.
fn color(style: &str) -> Option<String> {
    style.split(';').find_map(|d| {
        let (k, v) = d.split_once(':')?;
        (k.trim() == "color").then(|| v.trim().to_string())
    })
}

/// Confluence's named emoticons and the emoji they are in ADF: (name, shortName, id, text).
const EMOTICONS: &[(&str, &str, &str, &str)] = &[
    ("smile", ":slight_smile:", "1f642", "🙂"),
    ("sad", ":slight_frown:", "1f641", "🙁"),
    ("cheeky", ":stuck_out_tongue:", "1f61b", "😛"),
    ("laugh", ":smiley:", "1f603", "😃"),
    ("wink", ":wink:", "1f609", "😉"),
    ("thumbs-up", ":thumbsup:", "1f44d", "👍"),
    ("thumbs-down", ":thumbsdown:", "1f44e", "👎"),
    ("information", ":information_source:", "2139", "ℹ️"),
    ("tick", ":white_check_mark:", "2705", "✅"),
    ("cross", ":x:", "274c", "❌"),
    ("warning", ":warning:", "26a0", "⚠️"),
    ("plus", ":heavy_plus_sign:", "2795", "➕"),
    ("minus", ":heavy_minus_sign:", "2796", "➖"),
    ("question", ":question:", "2753", "❓"),
    ("light-on", ":bulb:", "1f4a1", "💡"),
    ("yellow-star", ":star:", "2b50", "⭐"),
    ("heart", ":heart:", "2764", "❤️"),
];

/// The `ac:name` of an emoji's `ac:emoticon`: Confluence's name for it, else `blue-star` (as
/// Confluence writes emoji that have no name of their own).
pub(crate) fn emoticon_name(short_name: &str) -> &'static str {
    EMOTICONS
        .iter()
        .find(|e| e.1 == short_name)
        .map_or("blue-star", |e| e.0)
}

fn emoji(n: &Node) -> Value {
    let named = EMOTICONS.iter().find(|e| Some(e.0) == n.attr("ac:name"));
    let short = n
        .attr("ac:emoji-shortname")
        .or(named.map(|e| e.1))
        .unwrap_or(":blue_star:");
    let mut attrs = json!({"shortName": short});
    if let Some(id) = n.attr("ac:emoji-id").or(named.map(|e| e.2)) {
        attrs["id"] = json!(id);
    }
    if let Some(t) = n.attr("ac:emoji-fallback").or(named.map(|e| e.3)) {
        attrs["text"] = json!(t);
    }
    node("emoji", Some(attrs), vec![])
}
