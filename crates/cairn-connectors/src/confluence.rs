//! Confluence Cloud: the REST API v2, and v1 where v2 lacks the operation (attachment upload and
//! download, adding labels, creating a space, restrictions, moving a page, directory look-ups).

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
    /// The v1 name of the kind (`type=page` / `type=blogpost`).
    fn v1_type(self) -> &'static str {
        match self {
            ContentKind::Page => "page",
            ContentKind::BlogPost => "blogpost",
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

    /// A space's permissions (v2): each `{id, principal: {type, id}, operation: {key,
    /// targetType}}`; a group by its id, everyone as the user `anonymous`.
    pub fn space_permissions(&self, space_id: &str) -> Docs {
        self.list(Req::get(format!(
            "{V2}/spaces/{}/permissions",
            seg(space_id)
        )))
    }
    /// A space's own labels (v2).
    pub fn space_labels(&self, space_id: &str) -> Docs {
        self.list(Req::get(format!("{V2}/spaces/{}/labels", seg(space_id))))
    }
    /// A space's properties (v2): each `{id, key, value, version}`.
    pub fn space_properties(&self, space_id: &str) -> Docs {
        self.list(Req::get(format!(
            "{V2}/spaces/{}/properties",
            seg(space_id)
        )))
    }
    /// Adds labels to a space itself (v1 `POST /space/{key}/label`; one it has is kept once).
    pub async fn add_space_labels(&self, space_key: &str, labels: &[&str]) -> Result<()> {
        let body: Vec<Value> = labels
            .iter()
            .map(|l| json!({"prefix": "global", "name": l}))
            .collect();
        self.t
            .json(Req::send(
                Method::POST,
                format!("{V1}/space/{}/label", seg(space_key)),
                json!(body),
            ))
            .await?;
        Ok(())
    }
    /// Creates a space property (v2); a key the space has is a 409.
    pub async fn create_space_property(
        &self,
        space_id: &str,
        key: &str,
        value: &Value,
    ) -> Result<()> {
        self.t
            .json(Req::send(
                Method::POST,
                format!("{V2}/spaces/{}/properties", seg(space_id)),
                json!({"key": key, "value": value}),
            ))
            .await?;
        Ok(())
    }
    /// Sets a space's status, `current` or `archived` (v1 `PUT /space/{key}`, which wants the
    /// name too).
    pub async fn set_space_status(&self, space_key: &str, name: &str, status: &str) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{V1}/space/{}", seg(space_key)),
                json!({"name": name, "status": status}),
            ))
            .await?;
        Ok(())
    }
    /// The name of the group with this id, if the site has it (v1 `GET /group/by-id`).
    pub async fn group_name(&self, group_id: &str) -> Result<Option<String>> {
        match self
            .t
            .json(Req::get(format!("{V1}/group/by-id")).q("id", group_id))
            .await
        {
            Ok(v) => Ok(v["name"].as_str().map(String::from)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
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

    /// The restrictions of a page or blog post (v1, users and groups expanded): `results`, one
    /// entry per operation with `restrictions.user.results` and `restrictions.group.results`.
    pub async fn restrictions(&self, content_id: &str) -> Result<Value> {
        self.t
            .json(
                Req::get(format!("{V1}/content/{}/restriction", seg(content_id)))
                    .q("expand", "restrictions.user,restrictions.group"),
            )
            .await
    }
    /// The pages (or blog posts) of a space through v1 (`GET /content?spaceKey=`), each with
    /// `restrictions.read` and `restrictions.update` and their users and groups: a space's
    /// restrictions in one request per hundred items, where [`Confluence::restrictions`] takes
    /// one per item.
    pub fn restrictions_in_space(&self, kind: ContentKind, space_key: &str) -> Docs {
        walk(
            &self.t,
            Req::get(format!("{V1}/content"))
                .q("spaceKey", space_key)
                .q("type", kind.v1_type())
                .q(
                    "expand",
                    "restrictions.read.restrictions.user,restrictions.read.restrictions.group,\
                     restrictions.update.restrictions.user,restrictions.update.restrictions.group",
                ),
            Style::V1 { max: 100 },
        )
    }
    /// Whether the site's directory has this account (v1 `GET /user`).
    pub async fn has_user(&self, account_id: &str) -> Result<bool> {
        match self
            .t
            .json(Req::get(format!("{V1}/user")).q("accountId", account_id))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Whether the site has a group of this name (v1 `GET /group/by-name`).
    pub async fn has_group(&self, name: &str) -> Result<bool> {
        match self
            .t
            .json(Req::get(format!("{V1}/group/by-name")).q("name", name))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// The account id of the caller (v1 `GET /user/current`).
    pub async fn current_account_id(&self) -> Result<String> {
        let v = self.t.json(Req::get(format!("{V1}/user/current"))).await?;
        v["accountId"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Error::protocol("GET /wiki/rest/api/user/current", "no accountId"))
    }

    // ================================================================= write
    /// Gives a space permission (v1): `subject_type` `user` (an account id, or `anonymous`) or
    /// `group` (a name); `key` and `target` as the reference's table allows.
    pub async fn add_space_permission(
        &self,
        space_key: &str,
        subject_type: &str,
        identifier: &str,
        key: &str,
        target: &str,
    ) -> Result<String> {
        let v = self
            .t
            .json(Req::send(
                Method::POST,
                format!("{V1}/space/{}/permission", seg(space_key)),
                json!({"subject": {"type": subject_type, "identifier": identifier}, "operation": {"key": key, "target": target}}),
            ))
            .await?;
        id_of(&v, "POST /wiki/rest/api/space/{spaceKey}/permission")
    }
    /// Removes a space permission (v1; removing a `read` permission removes every permission
    /// of that user or group in the space).
    pub async fn remove_space_permission(&self, space_key: &str, id: &str) -> Result<()> {
        self.t
            .json(Req {
                method: Method::DELETE,
                ..Req::get(format!(
                    "{V1}/space/{}/permission/{}",
                    seg(space_key),
                    seg(id)
                ))
            })
            .await?;
        Ok(())
    }
    /// Replaces every restriction of a page or blog post (v1): `restrictions` is a list of
    /// `{"operation", "restrictions": {"user": [{"accountId"}], "group": [{"name"}]}}`; an
    /// operation left out is unrestricted afterwards.
    pub async fn set_restrictions(&self, content_id: &str, restrictions: &Value) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!("{V1}/content/{}/restriction", seg(content_id)),
                restrictions.clone(),
            ))
            .await?;
        Ok(())
    }
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
        self.create(kind, space_id, parent_id, title, body, false)
            .await
    }
    /// As [`Confluence::create_content`], created private (v2 `private=true`): only the caller
    /// may read or edit it, from its first moment, until its restrictions are replaced.
    pub async fn create_private_content(
        &self,
        kind: ContentKind,
        space_id: &str,
        parent_id: Option<&str>,
        title: &str,
        body: &Value,
    ) -> Result<String> {
        self.create(kind, space_id, parent_id, title, body, true)
            .await
    }
    async fn create(
        &self,
        kind: ContentKind,
        space_id: &str,
        parent_id: Option<&str>,
        title: &str,
        body: &Value,
        private: bool,
    ) -> Result<String> {
        let mut req =
            json!({"spaceId": space_id, "status": "current", "title": title, "body": body});
        if let (ContentKind::Page, Some(p)) = (kind, parent_id) {
            req["parentId"] = json!(p);
        }
        let mut call = Req::send(Method::POST, format!("{V2}/{}", kind.path()), req);
        if private {
            call = call.q("private", "true");
        }
        let v = self.t.json(call).await?;
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
    /// Moves a page (v1): `position` is `before` or `after` (beside `target_id`, under its
    /// parent) or `append` (the last child of `target_id`).
    pub async fn move_page(&self, page_id: &str, position: &str, target_id: &str) -> Result<()> {
        self.t
            .json(Req::send(
                Method::PUT,
                format!(
                    "{V1}/content/{}/move/{}/{}",
                    seg(page_id),
                    seg(position),
                    seg(target_id)
                ),
                json!({}),
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
