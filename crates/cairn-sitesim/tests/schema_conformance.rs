//! The stand-in's responses, for a generated medium site across every served operation,
//! validate against the response schemas of Atlassian's reference OpenAPI documents.
//! OpenAPI 3.0 `nullable` is turned into JSON Schema; `x-` extensions are dropped.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use cairn_sitesim::http::Api;
use cairn_sitesim::routes::routes;
use cairn_sitesim::{Scale, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

fn reference_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for up in here.ancestors() {
        for cand in [
            up.join("shared/reference/atlassian-openapi"),
            up.join("../shared/reference/atlassian-openapi"),
        ] {
            if cand.is_dir() {
                return cand;
            }
        }
    }
    panic!("reference documents not found");
}

/// OpenAPI 3.0 -> JSON Schema: `nullable: true` allows null; `x-*` keys are removed; a `oneOf`
/// with a `discriminator` mapping picks its schema by the discriminating property, as OpenAPI
/// says (JSON Schema's `oneOf` alone would find several of them matching), and the picked
/// schema decides which properties are allowed.
fn to_json_schema(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with("x-"));
            if let (Some(Value::Array(_)), Some(d)) = (m.get("oneOf"), m.get("discriminator")) {
                let property = d["propertyName"].as_str().unwrap_or_default().to_string();
                let mapping = d["mapping"].as_object().cloned().unwrap_or_default();
                let names: Vec<Value> = mapping.keys().map(|k| json!(k)).collect();
                let mut all: Vec<Value> = mapping
                    .iter()
                    .map(|(name, schema)| {
                        json!({"if": {"properties": {&property: {"const": name}}, "required": [&property]},
                               "then": {"$ref": schema}})
                    })
                    .collect();
                all.push(
                    json!({"required": [&property], "properties": {&property: {"enum": names}}}),
                );
                m.remove("oneOf");
                m.remove("discriminator");
                // The base lists no properties of its own: its `additionalProperties: false`
                // would refuse every property the picked schema defines.
                m.remove("additionalProperties");
                m.insert("allOf".into(), Value::Array(all));
            }
            for (_, x) in m.iter_mut() {
                to_json_schema(x);
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                m.remove("nullable");
                match m.get("type").cloned() {
                    Some(Value::String(t)) => {
                        m.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = m.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(m));
                        m.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(to_json_schema),
        _ => {}
    }
}

struct Docs {
    docs: HashMap<&'static str, Value>,
    cache: HashMap<String, jsonschema::Validator>,
}

impl Docs {
    fn load() -> Docs {
        let dir = reference_dir();
        let mut docs = HashMap::new();
        for f in [
            "jira-platform-v3.json",
            "jira-software-agile.json",
            "confluence-v2.json",
            "confluence-v1.json",
        ] {
            let mut d: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            to_json_schema(&mut d);
            docs.insert(f, d);
        }
        Docs {
            docs,
            cache: HashMap::new(),
        }
    }

    /// Validate `body` as the response of `method template` with `status`. Returns failures.
    fn check(
        &mut self,
        file: &'static str,
        method: &str,
        template: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let key = format!("{file} {method} {template} {status}");
        let op = format!("{method} {template} -> {status}");
        if !self.cache.contains_key(&key) {
            let doc = &self.docs[file];
            let resp = &doc["paths"][template][method.to_ascii_lowercase()]["responses"]
                [status.to_string()];
            let schema = resp["content"]["application/json"]["schema"].clone();
            if resp.is_null() {
                return vec![format!(
                    "{op}: status {status} is not documented for this operation"
                )];
            }
            if schema.is_null() {
                // The reference gives no schema for this response (e.g. agile sprints): nothing to check.
                return vec![];
            }
            let mut root = schema;
            if let Value::Object(m) = &mut root {
                m.insert("components".into(), doc["components"].clone());
            }
            let v = jsonschema::options()
                .build(&root)
                .unwrap_or_else(|e| panic!("{op}: schema does not compile: {e}"));
            self.cache.insert(key.clone(), v);
        }
        self.cache[&key]
            .iter_errors(body)
            .take(5)
            .map(|e| format!("{op}: at {} : {}", e.instance_path(), e))
            .collect()
    }
}

impl Docs {
    /// The 2xx responses of an operation that the reference gives a non-empty JSON schema.
    fn documented_json_schemas(&self, file: &str, method: &str, template: &str) -> Vec<String> {
        let op = &self.docs[file]["paths"][template][method.to_ascii_lowercase()];
        let Some(responses) = op["responses"].as_object() else {
            return vec![format!("{method} {template}: not in {file}")];
        };
        responses
            .iter()
            .filter(|(code, r)| {
                code.starts_with('2')
                    && r["content"]["application/json"]["schema"]
                        .as_object()
                        .is_some_and(|m| !m.is_empty())
            })
            .map(|(code, _)| {
                format!(
                    "{method} {template} -> {code}: documented with a JSON schema but not validated"
                )
            })
            .collect()
    }
}

struct Call {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
    /// A multipart upload (field `file`, with `X-Atlassian-Token: no-check`) of (filename, bytes).
    upload: Option<(&'static str, Vec<u8>)>,
    status: u16,
    /// The reference's schema describes one element of the array this call answers.
    each_item: bool,
}

fn call(method: Method, template: &'static str, path: String) -> Call {
    Call {
        method,
        template,
        path,
        body: None,
        upload: None,
        status: 200,
        each_item: false,
    }
}

/// Routes whose success response has no JSON body to validate (204, 201 without body, or bytes).
const NO_JSON_BODY: &[&str] = &[
    "DELETE /rest/api/3/field/{fieldId}/context/{contextId}",
    "PUT /rest/api/3/field/{fieldId}/context/defaultValue",
    "PUT /rest/api/3/field/{fieldId}/context/{contextId}/project",
    "PUT /rest/api/3/workflowscheme/project",
    "DELETE /rest/api/3/permissionscheme/{schemeId}",
    "PUT /rest/api/3/issuesecurityschemes/{schemeId}/level/{levelId}/member",
    "DELETE /rest/api/3/issuesecurityschemes/{schemeId}/level/{levelId}/member/{memberId}",
    "PUT /rest/api/3/issuetypescheme/project",
    "PUT /rest/api/3/issue/{issueIdOrKey}",
    "DELETE /rest/api/3/issue/{issueIdOrKey}",
    "POST /rest/api/3/issue/{issueIdOrKey}/transitions",
    "POST /rest/api/3/issue/{issueIdOrKey}/watchers",
    "PUT /rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}",
    "POST /rest/api/3/issueLink",
    "GET /rest/api/3/attachment/content/{id}",
    "DELETE /wiki/api/v2/pages/{id}",
    "DELETE /wiki/rest/api/space/{spaceKey}/permission/{id}",
    "GET /wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_validate_against_reference_schemas() {
    let t = support::start(Scale::Medium, vec![SiteSpec::new("s")]).await;
    let ids = t.sim.with_site("s", |s| {
        let issue = s.issues.values().max_by_key(|i| i.comments.len() + i.worklogs.len() + i.remote_links.len() * 3 + i.properties.len() * 5 + s.links.values().filter(|l| l.inward == i.id || l.outward == i.id).count() * 2).unwrap();
        let with_props = s.issues.values().find(|i| !i.properties.is_empty()).unwrap();
        let with_remote = s.issues.values().find(|i| !i.remote_links.is_empty()).unwrap();
        let att = s.attachments.values().next().unwrap();
        let link = s.links.values().next().unwrap();
        let project = s.projects.values().next().unwrap();
        let board = s.boards.values().find(|b| b.kind == "scrum").unwrap();
        let sprint = s.sprints.values().find(|x| x.board_id == board.id).unwrap();
        // A cascading select with a global and a project's context, each with options.
        let select = s.custom_fields.iter().find(|f| f.kind == cairn_sitesim::model::CfKind::Cascading && f.contexts.len() > 1).unwrap();
        let parent = &select.contexts[0].options.iter().find(|o| o.parent.is_none()).unwrap().id;
        let defaults: Vec<&str> = s.custom_fields.iter().filter(|f| f.contexts.iter().any(|c| c.default.is_some())).map(|f| f.id.as_str()).collect();
        let page = s.pages.values().filter(|p| p.kind == cairn_sitesim::model::PageKind::Page).max_by_key(|p| s.ccomments.values().filter(|c| c.container == p.id).count() + s.cattachments.values().filter(|a| a.container == p.id).count() + p.labels.len()).unwrap();
        let blog = s.pages.values().find(|p| p.kind == cairn_sitesim::model::PageKind::BlogPost).unwrap();
        let page_props = s.pages.values().find(|p| p.kind == cairn_sitesim::model::PageKind::Page && !p.properties.is_empty()).unwrap();
        let catt = s.cattachments.values().next().unwrap();
        let reply_parent = s.ccomments.values().find(|c| c.parent_comment.is_some()).and_then(|c| c.parent_comment).unwrap_or(0);
        let space = s.spaces.values().find(|x| !x.personal).unwrap();
        let group = s.groups[0].name.clone();
        let user = s.users[0].account_id.clone();
        json!({
            "issue": issue.key, "props": with_props.key, "propKey": with_props.properties.keys().next().unwrap(), "remote": with_remote.key,
            "att": att.id, "link": link.id, "project": project.key, "projectId": project.id, "board": board.id, "sprint": sprint.id,
            "field": select.id, "ctx": select.contexts[0].id, "parentOption": parent, "defaults": defaults, "page": page.id, "blog": blog.id, "pageProps": page_props.id,
            "catt": catt.id, "cattPage": catt.container, "reply": reply_parent, "space": space.id, "group": group, "user": user,
            "comment": issue.comments.first().map(|c| c.id).unwrap_or(0),
            "remoteGlobal": with_remote.remote_links.iter().find_map(|l| l.global_id.clone()).unwrap(),
            "pageVersion": page.version.number, "pageTitle": page.title, "pageSpace": page.space_id,
            "inline": s.ccomments.values().find(|c| c.kind == cairn_sitesim::model::CommentKind::Inline).map(|c| c.id).unwrap(),
            "restricted": s.pages.values().find(|p| !p.restrictions.read.is_empty()).unwrap().id,
            "restrictedHome": s.spaces[&s.pages.values().find(|p| !p.restrictions.read.is_empty()).unwrap().space_id].homepage_id.unwrap(),
            "groupId": s.groups[0].id.clone(),
            "restrictedSpaceKey": s.spaces[&s.pages.values().find(|p| !p.restrictions.read.is_empty()).unwrap().space_id].key.clone(),
        })
    });
    // The blog post carries more labels and properties than `include-*` returns, so its
    // single read below answers with the cut-off form (`meta.hasMore`, cursor, `_links.self`).
    let blog_id = ids["blog"].as_u64().unwrap();
    t.sim.with_site_mut("s", |s| {
        for n in 0..cairn_sitesim::confluence::INCLUDE_LIMIT + 5 {
            let id = s.alloc_id();
            let b = s.pages.get_mut(&blog_id).unwrap();
            b.labels.push(format!("cut-{n}"));
            b.properties.push(cairn_sitesim::model::CProperty {
                id,
                key: format!("cut.{n}"),
                value: json!({"n": n}),
                version: 1,
            });
        }
    });
    let s = |k: &str| match &ids[k] {
        Value::String(x) => x.clone(),
        v => v.to_string(),
    };
    use Method as M;
    let mut calls = vec![
        call(
            M::GET,
            "/rest/api/3/serverInfo",
            "/rest/api/3/serverInfo".into(),
        ),
        call(M::GET, "/rest/api/3/myself", "/rest/api/3/myself".into()),
        call(
            M::GET,
            "/rest/api/3/project/search",
            "/rest/api/3/project/search?expand=description,lead,issueTypes".into(),
        ),
        call(M::GET, "/rest/api/3/project", "/rest/api/3/project".into()),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}",
            format!("/rest/api/3/project/{}", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}/components",
            format!("/rest/api/3/project/{}/components", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}/version",
            format!("/rest/api/3/project/{}/version", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}/versions",
            format!("/rest/api/3/project/{}/versions", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}/role",
            format!("/rest/api/3/project/{}/role", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/project/{projectIdOrKey}/role/{id}",
            format!("/rest/api/3/project/{}/role/10002", s("project")),
        ),
        call(
            M::GET,
            "/rest/api/3/issuetype",
            "/rest/api/3/issuetype".into(),
        ),
        call(M::GET, "/rest/api/3/field", "/rest/api/3/field".into()),
        call(
            M::GET,
            "/rest/api/3/field/{fieldId}/context",
            format!("/rest/api/3/field/{}/context", s("field")),
        ),
        call(
            M::GET,
            "/rest/api/3/field/{fieldId}/context/{contextId}/option",
            format!(
                "/rest/api/3/field/{}/context/{}/option",
                s("field"),
                s("ctx")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/field/{fieldId}/context/projectmapping",
            format!("/rest/api/3/field/{}/context/projectmapping", s("field")),
        ),
        call(
            M::GET,
            "/rest/api/3/field/{fieldId}/context/issuetypemapping",
            format!("/rest/api/3/field/{}/context/issuetypemapping", s("field")),
        ),
        call(M::GET, "/rest/api/3/status", "/rest/api/3/status".into()),
        call(
            M::GET,
            "/rest/api/3/workflows/search",
            "/rest/api/3/workflows/search?expand=values.transitions".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/statuses/search",
            "/rest/api/3/statuses/search".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/workflowscheme/project",
            format!(
                "/rest/api/3/workflowscheme/project?projectId={}",
                s("projectId")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/issuetypescheme/project",
            format!(
                "/rest/api/3/issuetypescheme/project?projectId={}",
                s("projectId")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/issuetypescheme/mapping",
            "/rest/api/3/issuetypescheme/mapping".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/workflowscheme",
            "/rest/api/3/workflowscheme".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/issuetypescheme",
            "/rest/api/3/issuetypescheme".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/permissionscheme",
            "/rest/api/3/permissionscheme".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/priority",
            "/rest/api/3/priority".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/resolution",
            "/rest/api/3/resolution".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/resolution/search",
            "/rest/api/3/resolution/search?maxResults=2".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/projectCategory",
            "/rest/api/3/projectCategory".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/projectCategory/{id}",
            "/rest/api/3/projectCategory/10001".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/issueLinkType",
            "/rest/api/3/issueLinkType".into(),
        ),
        call(M::GET, "/rest/api/3/role", "/rest/api/3/role".into()),
        call(
            M::GET,
            "/rest/api/3/users/search",
            "/rest/api/3/users/search?maxResults=100".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/user",
            format!("/rest/api/3/user?accountId={}", s("user")),
        ),
        call(
            M::GET,
            "/rest/api/3/group/bulk",
            "/rest/api/3/group/bulk".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/group/member",
            format!("/rest/api/3/group/member?groupname={}", s("group")),
        ),
        call(
            M::GET,
            "/rest/api/3/search/jql",
            format!(
                "/rest/api/3/search/jql?jql=project%3D{}&fields=*all&expand=changelog,names&maxResults=100",
                s("project")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/search/jql",
            format!(
                "/rest/api/3/search/jql?jql=project%3D{}&maxResults=5000",
                s("project")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}",
            format!("/rest/api/3/issue/{}?expand=changelog,names", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/transitions",
            format!("/rest/api/3/issue/{}/transitions", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/changelog",
            format!("/rest/api/3/issue/{}/changelog", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/comment",
            format!("/rest/api/3/issue/{}/comment", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
            format!("/rest/api/3/issue/{}/comment/{}", s("issue"), s("comment")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/worklog",
            format!("/rest/api/3/issue/{}/worklog", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/watchers",
            format!("/rest/api/3/issue/{}/watchers", s("issue")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/properties",
            format!("/rest/api/3/issue/{}/properties", s("props")),
        ),
        call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}",
            format!(
                "/rest/api/3/issue/{}/properties/{}",
                s("props"),
                s("propKey")
            ),
        ),
        call(
            M::GET,
            "/rest/api/3/issueLink/{linkId}",
            format!("/rest/api/3/issueLink/{}", s("link")),
        ),
        call(
            M::GET,
            "/rest/api/3/attachment/meta",
            "/rest/api/3/attachment/meta".into(),
        ),
        call(
            M::GET,
            "/rest/api/3/attachment/{id}",
            format!("/rest/api/3/attachment/{}", s("att")),
        ),
        call(
            M::GET,
            "/rest/agile/1.0/board",
            "/rest/agile/1.0/board".into(),
        ),
        call(
            M::GET,
            "/rest/agile/1.0/board/{boardId}",
            format!("/rest/agile/1.0/board/{}", s("board")),
        ),
        call(
            M::GET,
            "/rest/agile/1.0/board/{boardId}/sprint",
            format!("/rest/agile/1.0/board/{}/sprint", s("board")),
        ),
        call(
            M::GET,
            "/rest/agile/1.0/sprint/{sprintId}",
            format!("/rest/agile/1.0/sprint/{}", s("sprint")),
        ),
        call(
            M::GET,
            "/spaces",
            "/wiki/api/v2/spaces?limit=250&description-format=plain".into(),
        ),
        call(
            M::GET,
            "/spaces/{id}",
            format!("/wiki/api/v2/spaces/{}", s("space")),
        ),
        call(
            M::GET,
            "/spaces/{id}/pages",
            format!(
                "/wiki/api/v2/spaces/{}/pages?body-format=storage",
                s("space")
            ),
        ),
        call(
            M::GET,
            "/spaces/{id}/blogposts",
            format!(
                "/wiki/api/v2/spaces/{}/blogposts?body-format=atlas_doc_format",
                s("space")
            ),
        ),
        call(
            M::GET,
            "/pages",
            "/wiki/api/v2/pages?limit=250&body-format=atlas_doc_format".into(),
        ),
        call(
            M::GET,
            "/pages/{id}",
            format!(
                "/wiki/api/v2/pages/{}?body-format=storage&include-labels=true&include-properties=true",
                s("page")
            ),
        ),
        call(
            M::GET,
            "/pages/{id}/children",
            format!("/wiki/api/v2/pages/{}/children", s("page")),
        ),
        call(
            M::GET,
            "/pages/{id}/footer-comments",
            format!(
                "/wiki/api/v2/pages/{}/footer-comments?body-format=storage",
                s("page")
            ),
        ),
        call(
            M::GET,
            "/pages/{id}/inline-comments",
            format!(
                "/wiki/api/v2/pages/{}/inline-comments?body-format=atlas_doc_format",
                s("page")
            ),
        ),
        call(
            M::GET,
            "/pages/{id}/attachments",
            format!("/wiki/api/v2/pages/{}/attachments", s("page")),
        ),
        call(
            M::GET,
            "/pages/{id}/labels",
            format!("/wiki/api/v2/pages/{}/labels", s("page")),
        ),
        call(
            M::GET,
            "/pages/{page-id}/properties",
            format!("/wiki/api/v2/pages/{}/properties", s("pageProps")),
        ),
        call(
            M::GET,
            "/blogposts",
            "/wiki/api/v2/blogposts?body-format=storage".into(),
        ),
        call(
            M::GET,
            "/blogposts/{id}",
            format!(
                "/wiki/api/v2/blogposts/{}?body-format=atlas_doc_format&include-labels=true&include-properties=true",
                s("blog")
            ),
        ),
        call(
            M::GET,
            "/blogposts/{id}/footer-comments",
            format!("/wiki/api/v2/blogposts/{}/footer-comments", s("blog")),
        ),
        call(
            M::GET,
            "/blogposts/{id}/inline-comments",
            format!("/wiki/api/v2/blogposts/{}/inline-comments", s("blog")),
        ),
        call(
            M::GET,
            "/blogposts/{id}/attachments",
            format!("/wiki/api/v2/blogposts/{}/attachments", s("blog")),
        ),
        call(
            M::GET,
            "/blogposts/{id}/labels",
            format!("/wiki/api/v2/blogposts/{}/labels", s("blog")),
        ),
        call(
            M::GET,
            "/blogposts/{blogpost-id}/properties",
            format!("/wiki/api/v2/blogposts/{}/properties", s("blog")),
        ),
        call(
            M::GET,
            "/attachments/{id}",
            format!("/wiki/api/v2/attachments/att{}", s("catt")),
        ),
        call(
            M::GET,
            "/wiki/rest/api/content/{id}/child/attachment",
            format!("/wiki/rest/api/content/{}/child/attachment", s("cattPage")),
        ),
        call(
            M::GET,
            "/wiki/rest/api/content/{id}/restriction",
            format!(
                "/wiki/rest/api/content/{}/restriction?expand=restrictions.user,restrictions.group",
                s("restricted")
            ),
        ),
        call(
            M::GET,
            "/wiki/rest/api/content",
            format!(
                "/wiki/rest/api/content?spaceKey={}&type=page&limit=5&expand=restrictions.read.restrictions.user,restrictions.read.restrictions.group,restrictions.update.restrictions.user,restrictions.update.restrictions.group",
                s("restrictedSpaceKey")
            ),
        ),
        call(
            M::GET,
            "/wiki/rest/api/user",
            format!("/wiki/rest/api/user?accountId={}", s("user")),
        ),
        call(
            M::GET,
            "/wiki/rest/api/user/current",
            "/wiki/rest/api/user/current".into(),
        ),
        call(
            M::GET,
            "/spaces/{id}/permissions",
            format!("/wiki/api/v2/spaces/{}/permissions", s("space")),
        ),
        call(
            M::GET,
            "/spaces/{id}/labels",
            format!("/wiki/api/v2/spaces/{}/labels", s("space")),
        ),
        call(
            M::GET,
            "/spaces/{space-id}/properties",
            format!("/wiki/api/v2/spaces/{}/properties", s("space")),
        ),
        call(
            M::GET,
            "/wiki/rest/api/group/by-id",
            format!("/wiki/rest/api/group/by-id?id={}", s("groupId")),
        ),
        call(
            M::GET,
            "/wiki/rest/api/group/by-name",
            format!("/wiki/rest/api/group/by-name?name={}", s("group")),
        ),
    ];
    // Without `globalId` Jira answers every remote link, an array (the reference's own example and
    // description say so, though its schema names one RemoteIssueLink); with it, that one link.
    calls.push(Call {
        each_item: true,
        ..call(
            M::GET,
            "/rest/api/3/issue/{issueIdOrKey}/remotelink",
            format!("/rest/api/3/issue/{}/remotelink", s("remote")),
        )
    });
    calls.push(call(
        M::GET,
        "/rest/api/3/issue/{issueIdOrKey}/remotelink",
        format!(
            "/rest/api/3/issue/{}/remotelink?globalId={}",
            s("remote"),
            cairn_sitesim::http::percent_encode(&s("remoteGlobal"))
        ),
    ));
    calls.push(Call {
        upload: Some(("schema.txt", b"uploaded by the schema test".to_vec())),
        ..call(
            M::POST,
            "/rest/api/3/issue/{issueIdOrKey}/attachments",
            format!("/rest/api/3/issue/{}/attachments", s("issue")),
        )
    });
    calls.push(Call {
        upload: Some(("schema.bin", vec![7u8; 70_000])),
        ..call(
            M::POST,
            "/wiki/rest/api/content/{id}/child/attachment",
            format!("/wiki/rest/api/content/{}/child/attachment", s("page")),
        )
    });
    if s("reply") != "0" {
        calls.push(call(
            M::GET,
            "/footer-comments/{id}/children",
            format!("/wiki/api/v2/footer-comments/{}/children", s("reply")),
        ));
    }
    // Each kind's default value (the discriminator picks the schema).
    let defaults = ids["defaults"].as_array().unwrap();
    assert!(defaults.len() >= 10, "defaults of every kind: {defaults:?}");
    for f in defaults {
        calls.push(call(
            M::GET,
            "/rest/api/3/field/{fieldId}/context/defaultValue",
            format!(
                "/rest/api/3/field/{}/context/defaultValue",
                f.as_str().unwrap()
            ),
        ));
    }
    let mut post =
        |method: Method, template: &'static str, path: String, body: Value, status: u16| {
            calls.push(Call {
                body: Some(body),
                status,
                ..call(method, template, path)
            })
        };
    post(
        M::POST,
        "/rest/api/3/search/jql",
        "/rest/api/3/search/jql".into(),
        json!({"jql": format!("project = {}", s("project")), "fields": ["*all"], "maxResults": 50}),
        200,
    );
    // The backup's bulk read (every field, the change log's first page) and its id listing.
    post(
        M::POST,
        "/rest/api/3/search/jql",
        "/rest/api/3/search/jql".into(),
        json!({"jql": format!("project = {}", s("project")), "fields": ["*all"], "expand": "changelog", "maxResults": 100}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/search/jql",
        "/rest/api/3/search/jql".into(),
        json!({"jql": format!("project = {}", s("project")), "fields": ["id"], "maxResults": 5000}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/search/approximate-count",
        "/rest/api/3/search/approximate-count".into(),
        json!({"jql": format!("project = {}", s("project"))}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/changelog/bulkfetch",
        "/rest/api/3/changelog/bulkfetch".into(),
        json!({"issueIdsOrKeys": [s("issue"), s("props")]}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/issue",
        "/rest/api/3/issue".into(),
        json!({"fields": {"project": {"key": s("project")}, "issuetype": {"name": "Task"}, "summary": "Created by the schema test", "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hello"}]}]}}}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/issue/{issueIdOrKey}/comment",
        format!("/rest/api/3/issue/{}/comment", s("issue")),
        json!({"body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/issue/{issueIdOrKey}/worklog",
        format!("/rest/api/3/issue/{}/worklog", s("issue")),
        json!({"timeSpentSeconds": 3600, "started": "2025-03-01T10:00:00.000+0000"}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/issue/{issueIdOrKey}/remotelink",
        format!("/rest/api/3/issue/{}/remotelink", s("issue")),
        json!({"object": {"url": "https://example.com/x", "title": "X"}}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/project",
        "/rest/api/3/project".into(),
        json!({"key": "SCHEMA", "name": "Schema test", "projectTypeKey": "software", "leadAccountId": s("user")}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/component",
        "/rest/api/3/component".into(),
        json!({"project": s("project"), "name": "schema-comp"}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/version",
        "/rest/api/3/version".into(),
        json!({"project": s("project"), "name": "9.9.9"}),
        201,
    );
    post(
        M::POST,
        "/pages",
        "/wiki/api/v2/pages".into(),
        json!({"spaceId": s("space"), "title": "Schema test page", "body": {"representation": "storage", "value": "<p>hi</p>"}}),
        200,
    );
    post(
        M::POST,
        "/blogposts",
        "/wiki/api/v2/blogposts".into(),
        json!({"spaceId": s("space"), "title": "Schema test post", "body": {"representation": "atlas_doc_format", "value": "{\"type\":\"doc\",\"version\":1,\"content\":[]}"}}),
        200,
    );
    post(
        M::POST,
        "/footer-comments",
        "/wiki/api/v2/footer-comments".into(),
        json!({"pageId": s("page"), "body": {"representation": "storage", "value": "<p>c</p>"}}),
        201,
    );
    post(
        M::POST,
        "/inline-comments",
        "/wiki/api/v2/inline-comments".into(),
        json!({"pageId": s("page"), "body": {"representation": "storage", "value": "<p>i</p>"}, "inlineCommentProperties": {"textSelection": "x", "textSelectionMatchCount": 1, "textSelectionMatchIndex": 0}}),
        201,
    );
    post(
        M::POST,
        "/rest/agile/1.0/board",
        "/rest/agile/1.0/board".into(),
        json!({"name": "Schema board", "type": "scrum", "location": {"type": "project", "projectKeyOrId": s("project")}}),
        201,
    );
    post(
        M::POST,
        "/rest/agile/1.0/sprint",
        "/rest/agile/1.0/sprint".into(),
        json!({"name": "Schema sprint", "originBoardId": ids["board"], "goal": "g"}),
        201,
    );
    post(
        M::PUT,
        "/inline-comments/{comment-id}",
        format!("/wiki/api/v2/inline-comments/{}", s("inline")),
        json!({"version": {"number": 2}, "resolved": true, "body": {"representation": "storage", "value": "<p>resolved</p>"}}),
        200,
    );
    post(
        M::POST,
        "/rest/agile/1.0/sprint/{sprintId}",
        format!("/rest/agile/1.0/sprint/{}", s("sprint")),
        json!({"state": "closed", "goal": "done"}),
        200,
    );
    post(
        M::POST,
        "/pages/{page-id}/properties",
        format!("/wiki/api/v2/pages/{}/properties", s("page")),
        json!({"key": "schema-test", "value": {"a": 1}}),
        200,
    );
    post(
        M::POST,
        "/wiki/rest/api/content/{id}/label",
        format!("/wiki/rest/api/content/{}/label", s("page")),
        json!([{"prefix": "global", "name": "schema"}]),
        200,
    );
    post(
        M::PUT,
        "/wiki/rest/api/content/{id}/restriction",
        format!("/wiki/rest/api/content/{}/restriction", s("restricted")),
        // The test's account stays in (through `site-admins`): later calls read the page.
        json!([{"operation": "read", "restrictions": {"user": [{"type": "known", "accountId": s("user")}], "group": [{"type": "group", "name": s("group")}, {"type": "group", "name": "site-admins"}]}},
               {"operation": "update", "restrictions": {"group": [{"type": "group", "name": "site-admins"}]}}]),
        200,
    );
    post(
        M::POST,
        "/wiki/rest/api/space",
        "/wiki/rest/api/space".into(),
        json!({"key": "SCHEMA", "name": "Schema space"}),
        200,
    );
    post(
        M::POST,
        "/wiki/rest/api/space/{spaceKey}/label",
        "/wiki/rest/api/space/SCHEMA/label".into(),
        json!([{"prefix": "global", "name": "schema"}]),
        200,
    );
    post(
        M::PUT,
        "/wiki/rest/api/space/{spaceKey}",
        "/wiki/rest/api/space/SCHEMA".into(),
        json!({"name": "Schema space", "status": "current"}),
        200,
    );
    post(
        M::POST,
        "/spaces/{space-id}/properties",
        format!("/wiki/api/v2/spaces/{}/properties", s("space")),
        json!({"key": "schema-test", "value": {"a": 1}}),
        201,
    );
    post(
        M::POST,
        "/wiki/rest/api/space/{spaceKey}/permission",
        "/wiki/rest/api/space/SCHEMA/permission".into(),
        json!({"subject": {"type": "group", "identifier": s("group")}, "operation": {"key": "read", "target": "space"}}),
        200,
    );
    post(
        M::PUT,
        "/wiki/rest/api/content/{pageId}/move/{position}/{targetId}",
        format!(
            "/wiki/rest/api/content/{}/move/append/{}",
            s("restricted"),
            s("restrictedHome")
        ),
        json!({}),
        200,
    );

    post(
        M::PUT,
        "/pages/{id}",
        format!("/wiki/api/v2/pages/{}", s("page")),
        json!({"id": s("page"), "status": "current", "title": s("pageTitle"), "spaceId": s("pageSpace"),
               "body": {"representation": "storage", "value": "<p>updated by the schema test</p>"},
               "version": {"number": ids["pageVersion"].as_u64().unwrap() + 1, "message": "schema"}}),
        200,
    );
    post(
        M::POST,
        "/blogposts/{blogpost-id}/properties",
        format!("/wiki/api/v2/blogposts/{}/properties", s("blog")),
        json!({"key": "schema-test", "value": {"b": [1, 2]}}),
        200,
    );

    // The directory writes a restore needs before its content.
    post(
        M::POST,
        "/rest/api/3/field",
        "/rest/api/3/field".into(),
        json!({"name": "Schema field", "type": "com.atlassian.jira.plugin.system.customfieldtypes:select", "searcherKey": "com.atlassian.jira.plugin.system.customfieldtypes:multiselectsearcher"}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/field/{fieldId}/context/{contextId}/option",
        format!(
            "/rest/api/3/field/{}/context/{}/option",
            s("field"),
            s("ctx")
        ),
        json!({"options": [{"value": "Schema option", "disabled": false}, {"value": "Schema child", "optionId": s("parentOption")}]}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/field/{fieldId}/context",
        "/rest/api/3/field/customfield_10030/context".into(),
        json!({"name": "Schema context", "description": "", "projectIds": [], "issueTypeIds": ["10003"]}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/group",
        "/rest/api/3/group".into(),
        json!({"name": "schema-group"}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/group/user",
        "/rest/api/3/group/user?groupname=schema-group".into(),
        json!({"accountId": s("user")}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/issueLinkType",
        "/rest/api/3/issueLinkType".into(),
        json!({"name": "Schema", "inward": "is schema of", "outward": "schemas"}),
        201,
    );

    // Who may see and do what: schemes, a project's schemes, settings and role actors.
    let (restricted, security) = t.sim.with_site("s", |site| {
        (
            site.permissions.schemes[1].id.to_string(),
            site.permissions.security_schemes[0].id.to_string(),
        )
    });
    let mut get = |template: &'static str, path: String| calls.push(call(M::GET, template, path));
    get(
        "/rest/api/3/permissionscheme",
        "/rest/api/3/permissionscheme?expand=all".into(),
    );
    get(
        "/rest/api/3/permissionscheme/{schemeId}",
        format!("/rest/api/3/permissionscheme/{restricted}?expand=permissions"),
    );
    get(
        "/rest/api/3/permissionscheme/{schemeId}/permission",
        format!("/rest/api/3/permissionscheme/{restricted}/permission?expand=all"),
    );
    get(
        "/rest/api/3/project/{projectKeyOrId}/permissionscheme",
        format!("/rest/api/3/project/{}/permissionscheme", s("project")),
    );
    get(
        "/rest/api/3/issuesecurityschemes",
        "/rest/api/3/issuesecurityschemes".into(),
    );
    get(
        "/rest/api/3/issuesecurityschemes/{id}",
        format!("/rest/api/3/issuesecurityschemes/{security}"),
    );
    get(
        "/rest/api/3/issuesecurityschemes/{issueSecuritySchemeId}/members",
        format!("/rest/api/3/issuesecurityschemes/{security}/members?expand=all"),
    );
    get(
        "/rest/api/3/project/{projectKeyOrId}/issuesecuritylevelscheme",
        format!(
            "/rest/api/3/project/{}/issuesecuritylevelscheme",
            s("project")
        ),
    );
    let mut post =
        |method: Method, template: &'static str, path: String, body: Value, status: u16| {
            calls.push(Call {
                body: Some(body),
                status,
                ..call(method, template, path)
            })
        };
    post(
        M::POST,
        "/rest/api/3/permissionscheme",
        "/rest/api/3/permissionscheme".into(),
        json!({"name": "Schema scheme", "permissions": [{"permission": "BROWSE_PROJECTS", "holder": {"type": "group", "parameter": s("group")}}, {"permission": "EDIT_ISSUES", "holder": {"type": "projectRole", "parameter": "10003"}}]}),
        201,
    );
    post(
        M::PUT,
        "/rest/api/3/project/{projectKeyOrId}/permissionscheme",
        format!("/rest/api/3/project/{}/permissionscheme", s("project")),
        json!({"id": restricted.parse::<u64>().unwrap()}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/issuesecurityschemes",
        "/rest/api/3/issuesecurityschemes".into(),
        json!({"name": "Schema security", "levels": [{"name": "Inner", "isDefault": true, "members": [{"type": "reporter"}, {"type": "user", "parameter": s("user")}]}]}),
        201,
    );
    post(
        M::PUT,
        "/rest/api/3/project/{projectIdOrKey}",
        format!("/rest/api/3/project/{}", s("project")),
        json!({"description": "Changed by the schema test", "url": "https://schema.example.com/", "assigneeType": "PROJECT_LEAD", "categoryId": 10002}),
        200,
    );
    post(
        M::PUT,
        "/rest/api/3/project/{projectIdOrKey}/role/{id}",
        format!("/rest/api/3/project/{}/role/10003", s("project")),
        json!({"categorisedActors": {"atlassian-user-role-actor": [s("user")]}}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/project/{projectIdOrKey}/role/{id}",
        format!("/rest/api/3/project/{}/role/10004", s("project")),
        json!({"user": [s("user")]}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/projectCategory",
        "/rest/api/3/projectCategory".into(),
        json!({"name": "Schema category", "description": "d"}),
        201,
    );

    // Statuses, workflows and schemes a restore writes before its projects.
    post(
        M::POST,
        "/rest/api/3/statuses",
        "/rest/api/3/statuses".into(),
        json!({"scope": {"type": "GLOBAL"}, "statuses": [{"name": "Schema status", "statusCategory": "IN_PROGRESS", "description": "d"}]}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/workflows/create",
        "/rest/api/3/workflows/create".into(),
        json!({"scope": {"type": "GLOBAL"},
            "statuses": [{"id": "10000", "name": "To Do", "statusCategory": "TODO", "statusReference": "a"},
                         {"name": "Schema waiting", "statusCategory": "IN_PROGRESS", "statusReference": "b"}],
            "workflows": [{"name": "Schema workflow", "description": "", "statuses": [{"statusReference": "a", "properties": {}}, {"statusReference": "b", "properties": {}}],
                "transitions": [{"id": "1", "name": "Create", "type": "INITIAL", "toStatusReference": "a", "links": []},
                                {"id": "11", "name": "Wait", "type": "DIRECTED", "toStatusReference": "b", "links": [{"fromStatusReference": "a"}],
                                 "validators": [{"ruleKey": "system:validate-field-value", "parameters": {"ruleType": "fieldRequired", "fieldsRequired": "assignee"}}],
                                 "transitionScreen": {"ruleKey": "system:transition-screen", "parameters": {"screenId": "1"}}},
                                {"id": "21", "name": "Back", "type": "GLOBAL", "toStatusReference": "a", "links": [],
                                 "conditions": {"operation": "ALL", "conditions": [{"ruleKey": "system:check-permission", "parameters": {"permissionKey": "TRANSITION_ISSUES"}}]}}]}]}),
        200,
    );
    post(
        M::POST,
        "/rest/api/3/workflowscheme",
        "/rest/api/3/workflowscheme".into(),
        json!({"name": "Schema scheme", "description": "d", "defaultWorkflow": "Schema workflow", "issueTypeMappings": {"10003": "Schema workflow"}}),
        201,
    );
    post(
        M::POST,
        "/rest/api/3/issuetypescheme",
        "/rest/api/3/issuetypescheme".into(),
        json!({"name": "Schema issue types", "description": "d", "defaultIssueTypeId": "10002", "issueTypeIds": ["10002", "10003"]}),
        201,
    );

    let mut docs = Docs::load();
    let table = routes();
    let mut failures = vec![];
    let mut checked = std::collections::BTreeSet::new();
    for c in &calls {
        let route = table
            .iter()
            .find(|r| r.method == c.method && r.reference_path() == c.template)
            .unwrap_or_else(|| {
                panic!(
                    "test names a route the stand-in does not serve: {} {}",
                    c.method, c.template
                )
            });
        let file = route.reference_file().unwrap();
        let (status, body) = match &c.upload {
            Some((name, bytes)) => t.upload("s", &c.path, name, bytes.clone(), true).await,
            None => t.send("s", c.method.clone(), &c.path, c.body.clone()).await,
        };
        if status != c.status {
            failures.push(format!(
                "{} {}: status {status}, expected {} (body {})",
                c.method,
                c.path,
                c.status,
                body.to_string().chars().take(300).collect::<String>()
            ));
            continue;
        }
        if c.each_item {
            match body.as_array() {
                Some(items) if !items.is_empty() => {
                    for item in items {
                        failures.extend(docs.check(
                            file,
                            c.method.as_str(),
                            c.template,
                            status,
                            item,
                        ));
                    }
                }
                _ => failures.push(format!(
                    "{} {}: expected a non-empty array, got {body}",
                    c.method, c.path
                )),
            }
        } else {
            failures.extend(docs.check(file, c.method.as_str(), c.template, status, &body));
        }
        checked.insert((route.method.clone(), route.path));
    }
    // Every JSON-returning route must be covered by this test.
    let uncovered: BTreeSet<String> = table
        .iter()
        .filter(|r| r.api != Api::Edge && !checked.contains(&(r.method.clone(), r.path)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    eprintln!("checked {} operations", checked.len());
    let no_json: BTreeSet<String> = NO_JSON_BODY.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        uncovered, no_json,
        "every route that answers JSON must be validated here"
    );
    for name in NO_JSON_BODY {
        let route = table
            .iter()
            .find(|r| format!("{} {}", r.method, r.path) == *name)
            .unwrap();
        let file = route.reference_file().unwrap();
        failures.extend(docs.documented_json_schemas(
            file,
            route.method.as_str(),
            route.reference_path(),
        ));
    }
    assert!(
        failures.is_empty(),
        "{} schema failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked.len() >= 70,
        "only {} operations checked",
        checked.len()
    );
    t.sim.shutdown().await;
}
