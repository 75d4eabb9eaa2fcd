//! Confluence Cloud: the REST API v2, and v1 where v2 lacks the operation (attachment upload and
//! download, adding labels, creating a space).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::paging::{Docs, Style, walk};
use crate::transport::{Body, Download, Req, Transport, Upload};

const V2: &str = "/wiki/api/v2";
const V1: &str = "/wiki/rest/api";

/// Pages or blog posts: the two kinds of content that hold bodies, comments, labels, properties
/// and attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    Page,
    BlogPost,
}

impl ContentKind {
    fn path(self) -> &'static str {
        match self {
            ContentKind::Page => "pages",
            ContentKind::BlogPost => "blogposts",
        }
    }
    /// The field naming the container in a comment (`pageId` / `blogPostId`).
    pub fn comment_field(self) -> &'static str {
        match self {
            ContentKind::Page => "pageId",
            ContentKind::BlogPost => "blogPostId",
        }
    }
}

/// Body representations a backup keeps.
pub const BODY_FORMATS: [&str; 2] = ["storage", "atlas_doc_format"];

/// A space as a destination site created it (with the homepage Confluence makes for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedSpace {
    pub id: String,
    pub key: String,
    pub homepage_id: Option<String>,
}

/// A Confluence site. Cheap to clone; clones share the transport.
#[derive(Clone, Debug)]
pub struct Confluence {
    pub(crate) t: Arc<Transport>,
}

fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn id_of(v: &Value, call: &str) -> Result<String> {
    match &v["id"] {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(Error::protocol(call, "no id in the answer")),
    }
}

impl Confluence {
    fn list(&self, req: Req) -> Docs {
        walk(&self.t, req, Style::Cursor { max: 250 })
    }

    // ---------------------------------------------------------------- spaces
    /// Every space; personal spaces (`type: personal`) only when asked.
    pub fn spaces(&self, include_personal: bool) -> Docs {
        self.list(Req::get(format!("{V2}/spaces")).q("description-format", "plain"))
            .try_filter(move |s| {
                futures::future::ready(include_personal || s["type"] != "personal")
            })
            .boxed()
    }
    pub fn spaces_by_key(&self, keys: &[&str]) -> Docs {
        self.list(
            Req::get(format!("{V2}/spaces"))
                .q("keys", keys.join(","))
                .q("description-format", "plain"),
        )
    }
    pub async fn space(&self, id: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{V2}/spaces/{}", seg(id))).q("description-format", "plain"))
            .await
    }

    // ----------------------------------------------------- pages, blog posts
    /// Pages (or blog posts) of a space with their `storage` body, in id order (a parent before
    /// its children when the site assigned ids in creation order; use `parentId` to be sure).
    pub fn contents(&self, kind: ContentKind, space_id: &str) -> Docs {
        self.list(
            Req::get(format!("{V2}/spaces/{}/{}", seg(space_id), kind.path()))
                .q("body-format", "storage")
                .q("sort", "id"),
        )
    }
    /// As [`Confluence::contents`], each document also carrying `body.atlas_doc_format` (one
    /// more request per item, a few at once).
    pub fn contents_with_bodies(&self, kind: ContentKind, space_id: &str) -> Docs {
        let this = self.clone();
        let width = self.t.settings.max_concurrency.max(1);
        self.contents(kind, space_id)
            .map_ok(move |mut doc| {
                let this = this.clone();
                async move {
                    let id = id_of(&doc, "GET /wiki/api/v2/pages")?;
                    let adf = this.content(kind, &id, "atlas_doc_format").await?;
                    doc["body"]["atlas_doc_format"] = adf["body"]["atlas_doc_format"].clone();
                    Ok(doc)
                }
            })
            .try_buffered(width)
            .boxed()
    }
    /// Cheap listing (no bodies) of the ids, parents and versions in a space: finds deletions.
    pub fn content_ids(&self, kind: ContentKind, space_id: &str) -> Docs {
        self.list(
            Req::get(format!("{V2}/spaces/{}/{}", seg(space_id), kind.path())).q("sort", "id"),
        )
    }
    /// Pages (or blog posts) of a space modified at or after `since`, newest first, with their
    /// `storage` body. Stops at the first older one.
    pub fn contents_modified_since(
        &self,
        kind: ContentKind,
        space_id: &str,
        since: DateTime<Utc>,
    ) -> Docs {
        self.list(
            Req::get(format!("{V2}/spaces/{}/{}", seg(space_id), kind.path()))
                .q("body-format", "storage")
                .q("sort", "-modified-date"),
        )
        .try_take_while(move |doc| {
            let modified = doc["version"]["createdAt"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc));
            futures::future::ready(Ok(modified.is_none_or(|m| m >= since)))
        })
        .boxed()
    }
    /// One page or blog post with its body in `format` (`storage` or `atlas_doc_format`; an ADF
    /// `value` is a JSON string).
    pub async fn content(&self, kind: ContentKind, id: &str, format: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{V2}/{}/{}", kind.path(), seg(id))).q("body-format", format))
            .await
    }
    /// As [`Confluence::content`], with the item's labels and properties in the same answer
    /// (`include-labels`, `include-properties`): each an object with `results` (at most 50, in
    /// the list routes' order) and `meta.hasMore` when more remain (then read the whole list
    /// with [`Confluence::labels`] / [`Confluence::properties`]).
    pub async fn content_with_parts(
        &self,
        kind: ContentKind,
        id: &str,
        format: &str,
    ) -> Result<Value> {
        self.t
            .json(
                Req::get(format!("{V2}/{}/{}", kind.path(), seg(id)))
                    .q("body-format", format)
                    .q("include-labels", "true")
                    .q("include-properties", "true"),
            )
            .await
    }
    /// Direct children of a page (id, title, position).
    pub fn children(&self, page_id: &str) -> Docs {
        self.list(Req::get(format!("{V2}/pages/{}/children", seg(page_id))))
    }

    // --------------------------------------------------- comments and the rest
    /// Footer comments of a page or blog post with their replies (each reply after its parent,
    /// depth first), then inline comments; bodies in `storage`.
    pub fn comments(&self, kind: ContentKind, id: &str) -> Docs {
        let footer = self.list(
            Req::get(format!("{V2}/{}/{}/footer-comments", kind.path(), seg(id)))
                .q("body-format", "storage"),
        );
        let this = self.clone();
        let with_replies = footer
            .and_then(move |c| {
                let this = this.clone();
                async move {
                    let id = id_of(&c, "GET /wiki/api/v2/footer-comments")?;
                    let replies = this.replies(id);
                    Ok(futures::stream::once(futures::future::ready(Ok(c))).chain(replies))
                }
            })
            .try_flatten();
        let inline = self.list(
            Req::get(format!("{V2}/{}/{}/inline-comments", kind.path(), seg(id)))
                .q("body-format", "storage"),
        );
        with_replies.chain(inline).boxed()
    }
    /// Replies to a footer comment, and their replies.
    fn replies(&self, comment_id: String) -> Docs {
        let this = self.clone();
        self.list(
            Req::get(format!(
                "{V2}/footer-comments/{}/children",
                seg(&comment_id)
            ))
            .q("body-format", "storage"),
        )
        .and_then(move |c| {
            let this = this.clone();
            async move {
                let id = id_of(&c, "GET /wiki/api/v2/footer-comments/{id}/children")?;
                Ok(futures::stream::once(futures::future::ready(Ok(c))).chain(this.replies(id)))
            }
        })
        .try_flatten()
        .boxed()
    }
    pub fn labels(&self, kind: ContentKind, id: &str) -> Docs {
        self.list(Req::get(format!("{V2}/{}/{}/labels", kind.path(), seg(id))))
    }
    pub fn properties(&self, kind: ContentKind, id: &str) -> Docs {
        self.list(Req::get(format!(
            "{V2}/{}/{}/properties",
            kind.path(),
            seg(id)
        )))
    }
    /// Attachment metadata of a page or blog post (v2).
    pub fn attachments(&self, kind: ContentKind, id: &str) -> Docs {
        self.list(Req::get(format!(
            "{V2}/{}/{}/attachments",
            kind.path(),
            seg(id)
        )))
    }
    /// Attachment metadata through v1 (`start`/`limit` paging).
    pub fn attachments_v1(&self, content_id: &str) -> Docs {
        walk(
            &self.t,
            Req::get(format!("{V1}/content/{}/child/attachment", seg(content_id))),
            Style::V1 { max: 200 },
        )
    }
    /// An attachment's bytes (v1 download, redirects followed), streamed from `from`.
    pub async fn attachment_content(
        &self,
        content_id: &str,
        attachment_id: &str,
        from: u64,
    ) -> Result<Download> {
        self.t
            .download(
                format!(
                    "{V1}/content/{}/child/attachment/{}/download",
                    seg(content_id),
                    seg(attachment_id)
                ),
                from,
            )
            .await
    }

    // ================================================================= write
    /// Creates a space (v1; Confluence gives it a homepage).
    pub async fn create_space(
        &self,
        key: &str,
        name: &str,
        description: &str,
    ) -> Result<CreatedSpace> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V1}/space"),
                json!({"key": key, "name": name, "description": {"plain": {"value": description, "representation": "plain"}}}),
            ))
            .await?;
        Ok(CreatedSpace {
            id: id_of(&v, "POST /wiki/rest/api/space")?,
            key: v["key"].as_str().unwrap_or(key).to_string(),
            homepage_id: match &v["homepage"]["id"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            },
        })
    }
    /// Creates a page (`parent_id` places it in the tree; none: under the space's homepage) or a
    /// blog post. `body` is `{"representation": "storage"|"atlas_doc_format", "value": ...}`.
    pub async fn create_content(
        &self,
        kind: ContentKind,
        space_id: &str,
        parent_id: Option<&str>,
        title: &str,
        body: &Value,
    ) -> Result<String> {
        let mut req =
            json!({"spaceId": space_id, "status": "current", "title": title, "body": body});
        if let (ContentKind::Page, Some(p)) = (kind, parent_id) {
            req["parentId"] = json!(p);
        }
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V2}/{}", kind.path()),
                req,
            ))
            .await?;
        id_of(&v, "POST /wiki/api/v2/pages")
    }
    /// Replaces a page's title and body (a restore fills the homepage this way); `version` is
    /// the page's current version + 1.
    pub async fn update_page(
        &self,
        id: &str,
        title: &str,
        body: &Value,
        version: u64,
    ) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{V2}/pages/{}", seg(id)),
                json!({"id": id, "status": "current", "title": title, "body": body, "version": {"number": version}}),
            ))
            .await?;
        Ok(())
    }
    /// A footer comment on a page or blog post, or a reply when `parent_comment_id` is given.
    pub async fn create_footer_comment(
        &self,
        kind: ContentKind,
        content_id: &str,
        parent_comment_id: Option<&str>,
        body: &Value,
    ) -> Result<String> {
        let mut req = json!({"body": body});
        match parent_comment_id {
            Some(p) => req["parentCommentId"] = json!(p),
            None => req[kind.comment_field()] = json!(content_id),
        }
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V2}/footer-comments"),
                req,
            ))
            .await?;
        id_of(&v, "POST /wiki/api/v2/footer-comments")
    }
    /// An inline comment on the text `selection`.
    pub async fn create_inline_comment(
        &self,
        kind: ContentKind,
        content_id: &str,
        selection: &str,
        body: &Value,
    ) -> Result<String> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V2}/inline-comments"),
                json!({kind.comment_field(): content_id, "body": body, "inlineCommentProperties": {"textSelection": selection, "textSelectionMatchCount": 1, "textSelectionMatchIndex": 0}}),
            ))
            .await?;
        id_of(&v, "POST /wiki/api/v2/inline-comments")
    }
    /// Marks an inline comment resolved (`version` is its current version + 1).
    pub async fn resolve_inline_comment(&self, id: &str, version: u64) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{V2}/inline-comments/{}", seg(id)),
                json!({"version": {"number": version}, "resolved": true}),
            ))
            .await?;
        Ok(())
    }
    /// Adds global labels to a page or blog post (v1).
    pub async fn add_labels(&self, content_id: &str, labels: &[&str]) -> Result<()> {
        let body: Vec<Value> = labels
            .iter()
            .map(|l| json!({"prefix": "global", "name": l}))
            .collect();
        self.t
            .json(Req::send(
                Method::POST,
                format!("{V1}/content/{}/label", seg(content_id)),
                json!(body),
            ))
            .await?;
        Ok(())
    }
    pub async fn create_property(
        &self,
        kind: ContentKind,
        content_id: &str,
        key: &str,
        value: &Value,
    ) -> Result<String> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V2}/{}/{}/properties", kind.path(), seg(content_id)),
                json!({"key": key, "value": value}),
            ))
            .await?;
        id_of(&v, "POST /wiki/api/v2/pages/{page-id}/properties")
    }
    /// Uploads one attachment to a page or blog post (v1 multipart, streamed); returns the
    /// attachment documents (`results`).
    pub async fn upload_attachment(&self, content_id: &str, file: Upload) -> Result<Vec<Value>> {
        let req = Req {
            body: Body::File(file),
            method: Method::POST,
            ..Req::get(format!("{V1}/content/{}/child/attachment", seg(content_id)))
        };
        let v = self.t.json(req).await?;
        v["results"].as_array().cloned().ok_or_else(|| {
            Error::protocol(
                "POST /wiki/rest/api/content/{id}/child/attachment",
                "no results",
            )
        })
    }
}
