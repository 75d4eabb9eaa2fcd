//! Bodies convert structurally between Confluence storage format and ADF, through the HTTP API
//! as a client sees it: written in one format, read in the other, written back, read again.

mod support;

use cairn_sitesim::{Scale, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

/// A storage body with every construct the stand-in converts, written as Confluence writes
/// storage (so that it comes back byte for byte). `ACCOUNT` is replaced by a real account id.
const STORAGE: &str = concat!(
    "<h1>Title <em>here</em></h1>",
    "<p>Plain <strong>bold</strong> <em>it</em> <code>code</code> <u>under</u> <s>struck</s> ",
    "H<sub>2</sub>O x<sup>2</sup> <span style=\"color: #ff5630;\">red</span> ",
    "<a href=\"https://example.com/a?b=1&amp;c=2\">link</a> <strong><em>both</em></strong> ",
    "&amp; &lt;tag&gt;<br />next line</p>",
    "<p>Hi <ac:link><ri:user ri:account-id=\"ACCOUNT\" /></ac:link> ",
    "<ac:emoticon ac:name=\"smile\" ac:emoji-shortname=\":slight_smile:\" ac:emoji-id=\"1f642\" ac:emoji-fallback=\"🙂\" /> ",
    "<ac:emoticon ac:name=\"blue-star\" ac:emoji-shortname=\":rocket:\" ac:emoji-id=\"1f680\" ac:emoji-fallback=\"🚀\" /></p>",
    "<ul><li><p>one</p><ul><li><p>nested</p><ol><li><p>deep</p></li></ol></li></ul></li><li><p>two</p></li></ul>",
    "<ol start=\"3\"><li><p>three</p></li></ol>",
    "<table data-layout=\"default\"><tbody><tr><th><p>H1</p></th><th colspan=\"2\"><p>H2</p></th></tr>",
    "<tr><td><p>a</p></td><td><p>b</p></td><td><ul><li><p>c</p></li></ul></td></tr></tbody></table>",
    "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">rust</ac:parameter>",
    "<ac:plain-text-body><![CDATA[fn main() {\n    if a < b && c > d { println!(\"]]]]><![CDATA[>\"); }\n}]]></ac:plain-text-body></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"info\"><ac:rich-text-body><p>info text</p></ac:rich-text-body></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"note\"><ac:rich-text-body><p>note text</p></ac:rich-text-body></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"warning\"><ac:rich-text-body><p>warning text</p></ac:rich-text-body></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"toc\" ac:macro-id=\"m-1\"><ac:parameter ac:name=\"maxLevel\">3</ac:parameter></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"details\"><ac:parameter ac:name=\"id\">x</ac:parameter>",
    "<ac:rich-text-body><p>inside</p></ac:rich-text-body></ac:structured-macro>",
    "<ac:structured-macro ac:name=\"noformat\"><ac:plain-text-body><![CDATA[raw <text>]]></ac:plain-text-body></ac:structured-macro>",
    "<p>Status: <ac:structured-macro ac:name=\"status\"><ac:parameter ac:name=\"colour\">Green</ac:parameter>",
    "<ac:parameter ac:name=\"title\">OK</ac:parameter></ac:structured-macro></p>",
    "<hr />",
    "<blockquote><p>quoted</p></blockquote>",
    "<ac:structured-macro ac:name=\"expand\"><ac:parameter ac:name=\"title\">More</ac:parameter>",
    "<ac:rich-text-body><p>hidden</p></ac:rich-text-body></ac:structured-macro>",
    "<p><ac:inline-comment-marker ac:ref=\"c0ffee\">marked</ac:inline-comment-marker> text</p>",
);

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}
fn marked(t: &str, marks: Value) -> Value {
    json!({"type": "text", "text": t, "marks": marks})
}
fn para(content: Value) -> Value {
    json!({"type": "paragraph", "content": content})
}
fn item(content: Value) -> Value {
    json!({"type": "listItem", "content": content})
}
fn ext(ty: &str, key: &str, params: Value) -> Value {
    json!({"type": ty, "attrs": {"extensionType": "com.atlassian.confluence.macro.core", "extensionKey": key, "parameters": params}})
}

/// The same document in ADF, as Confluence gives it.
fn expected_adf(account: &str, name: &str) -> Value {
    let mut details = ext(
        "bodiedExtension",
        "details",
        json!({"macroParams": {"id": {"value": "x"}}}),
    );
    details["content"] = json!([para(json!([text("inside")]))]);
    let panel = |ty: &str, t: &str| json!({"type": "panel", "attrs": {"panelType": ty}, "content": [para(json!([text(t)]))]});
    json!({"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [text("Title "), marked("here", json!([{"type": "em"}]))]},
        para(json!([
            text("Plain "), marked("bold", json!([{"type": "strong"}])), text(" "),
            marked("it", json!([{"type": "em"}])), text(" "), marked("code", json!([{"type": "code"}])), text(" "),
            marked("under", json!([{"type": "underline"}])), text(" "), marked("struck", json!([{"type": "strike"}])),
            text(" H"), marked("2", json!([{"type": "subsup", "attrs": {"type": "sub"}}])), text("O x"),
            marked("2", json!([{"type": "subsup", "attrs": {"type": "sup"}}])), text(" "),
            marked("red", json!([{"type": "textColor", "attrs": {"color": "#ff5630"}}])), text(" "),
            marked("link", json!([{"type": "link", "attrs": {"href": "https://example.com/a?b=1&c=2"}}])), text(" "),
            marked("both", json!([{"type": "strong"}, {"type": "em"}])),
            text(" & <tag>"), {"type": "hardBreak"}, text("next line"),
        ])),
        para(json!([
            text("Hi "),
            {"type": "mention", "attrs": {"id": account, "text": format!("@{name}"), "accessLevel": ""}},
            text(" "),
            {"type": "emoji", "attrs": {"shortName": ":slight_smile:", "id": "1f642", "text": "🙂"}},
            text(" "),
            {"type": "emoji", "attrs": {"shortName": ":rocket:", "id": "1f680", "text": "🚀"}},
        ])),
        {"type": "bulletList", "content": [
            item(json!([para(json!([text("one")])), {"type": "bulletList", "content": [
                item(json!([para(json!([text("nested")])), {"type": "orderedList", "content": [item(json!([para(json!([text("deep")]))]))]}])),
            ]}])),
            item(json!([para(json!([text("two")]))])),
        ]},
        {"type": "orderedList", "attrs": {"order": 3}, "content": [item(json!([para(json!([text("three")]))]))]},
        {"type": "table", "attrs": {"layout": "default"}, "content": [
            {"type": "tableRow", "content": [
                {"type": "tableHeader", "content": [para(json!([text("H1")]))]},
                {"type": "tableHeader", "attrs": {"colspan": 2}, "content": [para(json!([text("H2")]))]},
            ]},
            {"type": "tableRow", "content": [
                {"type": "tableCell", "content": [para(json!([text("a")]))]},
                {"type": "tableCell", "content": [para(json!([text("b")]))]},
                {"type": "tableCell", "content": [{"type": "bulletList", "content": [item(json!([para(json!([text("c")]))]))]}]},
            ]},
        ]},
        {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [text("fn main() {\n    if a < b && c > d { println!(\"]]>\"); }\n}")]},
        panel("info", "info text"),
        panel("note", "note text"),
        panel("warning", "warning text"),
        ext("extension", "toc", json!({"macroParams": {"maxLevel": {"value": "3"}}, "macroMetadata": {"macroId": {"value": "m-1"}}})),
        details,
        ext("extension", "noformat", json!({"macroParams": {"__bodyContent": {"value": "raw <text>"}}})),
        para(json!([text("Status: "), ext("inlineExtension", "status", json!({"macroParams": {"colour": {"value": "Green"}, "title": {"value": "OK"}}}))])),
        {"type": "rule"},
        {"type": "blockquote", "content": [para(json!([text("quoted")]))]},
        {"type": "expand", "attrs": {"title": "More"}, "content": [para(json!([text("hidden")]))]},
        para(json!([marked("marked", json!([{"type": "annotation", "attrs": {"id": "c0ffee", "annotationType": "inlineComment"}}])), text(" text")])),
    ]})
}

struct Wiki {
    t: support::T,
    space: String,
    n: std::cell::Cell<u32>,
}

impl Wiki {
    /// Creates a page with a body in `representation`; its id.
    async fn create(&self, representation: &str, value: &str) -> String {
        self.n.set(self.n.get() + 1);
        let (st, v) = self
            .t
            .send(
                "s",
                Method::POST,
                "/wiki/api/v2/pages",
                Some(json!({"spaceId": self.space, "status": "current", "title": format!("Round trip {}", self.n.get()),
                            "body": {"representation": representation, "value": value}})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
    /// The page's body in `format`, as the API gives it (ADF's value is a JSON string).
    async fn read(&self, id: &str, format: &str) -> String {
        let (st, _, v) = self
            .t
            .get(
                "s",
                &format!("/wiki/api/v2/pages/{id}?body-format={format}"),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        v["body"][format]["value"].as_str().unwrap().to_string()
    }
    async fn read_adf(&self, id: &str) -> Value {
        serde_json::from_str(&self.read(id, "atlas_doc_format").await).unwrap()
    }
}

async fn wiki() -> (Wiki, String, String) {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (_, _, spaces) = t.get("s", "/wiki/api/v2/spaces?type=global").await;
    let space = spaces["results"][0]["id"].as_str().unwrap().to_string();
    let (_, _, me) = t.get("s", "/rest/api/3/myself").await;
    let account = me["accountId"].as_str().unwrap().to_string();
    let name = me["displayName"].as_str().unwrap().to_string();
    let w = Wiki {
        t,
        space,
        n: std::cell::Cell::new(0),
    };
    (w, account, name)
}

#[tokio::test]
async fn storage_and_adf_convert_structurally_both_ways() {
    let (w, account, name) = wiki().await;
    let storage = STORAGE.replace("ACCOUNT", &account);
    let expected = expected_adf(&account, &name);

    // Storage → ADF: every construct, structurally.
    let from_storage = w.create("storage", &storage).await;
    assert_eq!(w.read(&from_storage, "storage").await, storage);
    let adf = w.read_adf(&from_storage).await;
    for (i, (got, want)) in adf["content"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["content"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(got, want, "block {i}");
    }
    assert_eq!(adf, expected);

    // ADF → storage: the same storage again (storage → ADF → storage).
    let from_adf = w.create("atlas_doc_format", &adf.to_string()).await;
    assert_eq!(w.read(&from_adf, "storage").await, storage);
    assert_eq!(w.read_adf(&from_adf).await, expected);

    // ADF → storage → ADF: the storage of a page written as ADF, written as storage, reads as
    // the same ADF.
    let again = w
        .create("storage", &w.read(&from_adf, "storage").await)
        .await;
    assert_eq!(w.read_adf(&again).await, expected);

    // A footer comment converts the same way.
    let (st, c) = w
        .t
        .send(
            "s",
            Method::POST,
            "/wiki/api/v2/footer-comments",
            Some(json!({"pageId": from_storage, "body": {"representation": "storage", "value": storage}})),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let (_, _, list) =
        w.t.get(
            "s",
            &format!(
                "/wiki/api/v2/pages/{from_storage}/footer-comments?body-format=atlas_doc_format"
            ),
        )
        .await;
    let c = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == c["id"])
        .unwrap();
    let cadf: Value =
        serde_json::from_str(c["body"]["atlas_doc_format"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(cadf, expected);

    // Storage that is not well-formed XHTML is refused, as Confluence refuses it.
    for bad in ["<p>open", "<p><strong>x</p></strong>", "<p>&bogus;</p>"] {
        let (st, v) =
            w.t.send(
                "s",
                Method::POST,
                "/wiki/api/v2/pages",
                Some(
                    json!({"spaceId": w.space, "status": "current", "title": format!("Bad {bad}"),
                            "body": {"representation": "storage", "value": bad}}),
                ),
            )
            .await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(
            v["errors"][0]["title"]
                .as_str()
                .unwrap_or("")
                .contains("Error parsing xhtml"),
            "{v}"
        );
    }
    w.t.sim.shutdown().await;
}

/// The digest compares ADF too: two pages whose storage is the same but whose ADF differs (an
/// ADF panel type that storage writes as the closest macro) are a difference.
#[tokio::test]
async fn the_digest_compares_adf_bodies() {
    let t = support::start(
        Scale::Small,
        vec![SiteSpec::empty("a"), SiteSpec::empty("b")],
    )
    .await;
    let doc = |panel: &str| json!({"type": "doc", "version": 1, "content": [{"type": "panel", "attrs": {"panelType": panel}, "content": [para(json!([text("careful")]))]}]});
    for (site, panel) in [("a", "tip"), ("b", "success")] {
        let (st, v) = t
            .send(
                site,
                Method::POST,
                "/wiki/rest/api/space",
                Some(json!({"key": "DOC", "name": "Docs"})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let space = v["id"].to_string();
        let (st, v) = t
            .send(
                site,
                Method::POST,
                "/wiki/api/v2/pages",
                Some(json!({"spaceId": space, "status": "current", "title": "Careful",
                            "body": {"representation": "atlas_doc_format", "value": doc(panel).to_string()}})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let d = t.sim.diff("a", "b");
    let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/confluence/spaces/DOC/pages/Careful/adf/content/0/attrs/panelType"],
        "{d:#?}"
    );
    t.sim.shutdown().await;
}
