//! The one table of every Atlassian route the stand-in serves. The router is built from it and
//! the route-conformance test checks each entry against Atlassian's OpenAPI documents.

use axum::http::Method;
use axum::response::Response;

use crate::confluence as c;
use crate::http::{Api, Req};
use crate::jira as j;
use crate::model::Site;
use crate::schemes as sc;

pub type ReadFn = fn(&Site, &Req) -> Result<Response, Response>;
pub type WriteFn = fn(&mut Site, &Req) -> Result<Response, Response>;

#[derive(Clone, Copy)]
pub enum Handler {
    Read(ReadFn),
    Write(WriteFn),
    /// A multipart upload: the body is streamed to the site's upload directory first and the
    /// handler gets its parts ([`Req::parts`]).
    Upload(WriteFn),
}

#[derive(Clone)]
pub struct Route {
    pub api: Api,
    pub method: Method,
    /// Full path template as served, in OpenAPI `{param}` syntax.
    pub path: &'static str,
    pub handler: Handler,
}

impl Route {
    /// The path template as written in the reference document for this API.
    pub fn reference_path(&self) -> &'static str {
        match self.api {
            Api::ConfV2 => self.path.strip_prefix("/wiki/api/v2").unwrap_or(self.path),
            _ => self.path,
        }
    }
    pub fn reference_file(&self) -> Option<&'static str> {
        match self.api {
            Api::Jira => Some("jira-platform-v3.json"),
            Api::Agile => Some("jira-software-agile.json"),
            Api::ConfV2 => Some("confluence-v2.json"),
            Api::ConfV1 => Some("confluence-v1.json"),
            Api::Edge => None,
        }
    }
    pub fn is_write(&self) -> bool {
        matches!(self.handler, Handler::Write(_) | Handler::Upload(_))
    }
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

macro_rules! r {
    ($api:ident, $m:expr, $p:literal, read $h:path) => {
        Route {
            api: Api::$api,
            method: $m,
            path: $p,
            handler: Handler::Read($h),
        }
    };
    ($api:ident, $m:expr, $p:literal, write $h:path) => {
        Route {
            api: Api::$api,
            method: $m,
            path: $p,
            handler: Handler::Write($h),
        }
    };
    ($api:ident, $m:expr, $p:literal, upload $h:path) => {
        Route {
            api: Api::$api,
            method: $m,
            path: $p,
            handler: Handler::Upload($h),
        }
    };
}

pub fn routes() -> Vec<Route> {
    vec![
        r!(Edge, GET, "/_edge/tenant_info", read j::tenant_info),
        // ----------------------------------------------------------- Jira platform v3
        r!(Jira, GET, "/rest/api/3/serverInfo", read j::server_info),
        r!(Jira, GET, "/rest/api/3/myself", read j::myself),
        r!(Jira, GET, "/rest/api/3/project/search", read j::project_search),
        r!(Jira, GET, "/rest/api/3/project", read j::project_all),
        r!(Jira, POST, "/rest/api/3/project", write j::project_create),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}", read j::project_get),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}/components", read j::project_components),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}/version", read j::project_version_page),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}/versions", read j::project_versions),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}/role", read j::project_roles),
        r!(Jira, GET, "/rest/api/3/project/{projectIdOrKey}/role/{id}", read j::project_role),
        r!(Jira, POST, "/rest/api/3/component", write j::component_create),
        r!(Jira, POST, "/rest/api/3/version", write j::version_create),
        r!(Jira, GET, "/rest/api/3/issuetype", read j::issuetypes),
        r!(Jira, GET, "/rest/api/3/field", read j::fields),
        r!(Jira, POST, "/rest/api/3/field", write j::field_create),
        r!(Jira, GET, "/rest/api/3/field/{fieldId}/context", read j::field_contexts),
        r!(Jira, POST, "/rest/api/3/field/{fieldId}/context", write j::field_context_create),
        r!(Jira, DELETE, "/rest/api/3/field/{fieldId}/context/{contextId}", write j::field_context_delete),
        r!(Jira, GET, "/rest/api/3/field/{fieldId}/context/projectmapping", read j::field_context_projects),
        r!(Jira, GET, "/rest/api/3/field/{fieldId}/context/issuetypemapping", read j::field_context_issue_types),
        r!(Jira, GET, "/rest/api/3/field/{fieldId}/context/defaultValue", read j::field_context_defaults),
        r!(Jira, PUT, "/rest/api/3/field/{fieldId}/context/defaultValue", write j::field_context_defaults_set),
        r!(Jira, PUT, "/rest/api/3/field/{fieldId}/context/{contextId}/project", write j::field_context_projects_add),
        r!(Jira, GET, "/rest/api/3/field/{fieldId}/context/{contextId}/option", read j::field_options),
        r!(Jira, POST, "/rest/api/3/field/{fieldId}/context/{contextId}/option", write j::field_options_create),
        r!(Jira, GET, "/rest/api/3/status", read j::statuses),
        r!(Jira, GET, "/rest/api/3/priority", read j::priorities),
        r!(Jira, GET, "/rest/api/3/resolution", read j::resolutions),
        r!(Jira, GET, "/rest/api/3/resolution/search", read j::resolution_search),
        r!(Jira, GET, "/rest/api/3/projectCategory", read j::project_categories),
        r!(Jira, GET, "/rest/api/3/projectCategory/{id}", read j::project_category),
        r!(Jira, GET, "/rest/api/3/issueLinkType", read j::link_types),
        r!(Jira, POST, "/rest/api/3/issueLinkType", write j::link_type_create),
        r!(Jira, GET, "/rest/api/3/role", read j::roles),
        r!(Jira, GET, "/rest/api/3/statuses/search", read sc::statuses_search),
        r!(Jira, POST, "/rest/api/3/statuses", write sc::statuses_create),
        r!(Jira, GET, "/rest/api/3/workflows/search", read sc::workflows_search),
        r!(Jira, POST, "/rest/api/3/workflows/create", write sc::workflows_create),
        r!(Jira, GET, "/rest/api/3/workflowscheme", read sc::workflow_schemes),
        r!(Jira, POST, "/rest/api/3/workflowscheme", write sc::workflow_scheme_create),
        r!(Jira, GET, "/rest/api/3/workflowscheme/project", read sc::workflow_scheme_projects),
        r!(Jira, PUT, "/rest/api/3/workflowscheme/project", write sc::workflow_scheme_assign),
        r!(Jira, GET, "/rest/api/3/issuetypescheme", read sc::issue_type_schemes),
        r!(Jira, GET, "/rest/api/3/permissionscheme", read j::permission_schemes),
        r!(Jira, POST, "/rest/api/3/permissionscheme", write j::permission_scheme_create),
        r!(Jira, GET, "/rest/api/3/permissionscheme/{schemeId}", read j::permission_scheme_get),
        r!(Jira, DELETE, "/rest/api/3/permissionscheme/{schemeId}", write j::permission_scheme_delete),
        r!(Jira, GET, "/rest/api/3/permissionscheme/{schemeId}/permission", read j::permission_scheme_grants),
        r!(Jira, GET, "/rest/api/3/project/{projectKeyOrId}/permissionscheme", read j::project_permission_scheme),
        r!(Jira, PUT, "/rest/api/3/project/{projectKeyOrId}/permissionscheme", write j::project_permission_scheme_assign),
        r!(Jira, GET, "/rest/api/3/issuesecurityschemes", read j::security_schemes),
        r!(Jira, POST, "/rest/api/3/issuesecurityschemes", write j::security_scheme_create),
        r!(Jira, GET, "/rest/api/3/issuesecurityschemes/{id}", read j::security_scheme_get),
        r!(Jira, GET, "/rest/api/3/issuesecurityschemes/{issueSecuritySchemeId}/members", read j::security_scheme_members),
        r!(Jira, PUT, "/rest/api/3/issuesecurityschemes/{schemeId}/level/{levelId}/member", write j::security_level_members_add),
        r!(Jira, DELETE, "/rest/api/3/issuesecurityschemes/{schemeId}/level/{levelId}/member/{memberId}", write j::security_level_member_remove),
        r!(Jira, GET, "/rest/api/3/project/{projectKeyOrId}/issuesecuritylevelscheme", read j::project_security_scheme),
        r!(Jira, PUT, "/rest/api/3/project/{projectIdOrKey}", write j::project_update),
        r!(Jira, PUT, "/rest/api/3/project/{projectIdOrKey}/role/{id}", write j::project_role_set),
        r!(Jira, POST, "/rest/api/3/project/{projectIdOrKey}/role/{id}", write j::project_role_add),
        r!(Jira, POST, "/rest/api/3/projectCategory", write j::project_category_create),
        r!(Jira, POST, "/rest/api/3/issuetypescheme", write sc::issue_type_scheme_create),
        r!(Jira, GET, "/rest/api/3/issuetypescheme/mapping", read sc::issue_type_scheme_mapping),
        r!(Jira, GET, "/rest/api/3/issuetypescheme/project", read sc::issue_type_scheme_projects),
        r!(Jira, PUT, "/rest/api/3/issuetypescheme/project", write sc::issue_type_scheme_assign),
        r!(Jira, GET, "/rest/api/3/users/search", read j::users_search),
        r!(Jira, GET, "/rest/api/3/user", read j::user_get),
        r!(Jira, GET, "/rest/api/3/group/bulk", read j::group_bulk),
        r!(Jira, GET, "/rest/api/3/group/member", read j::group_member),
        r!(Jira, POST, "/rest/api/3/group", write j::group_create),
        r!(Jira, POST, "/rest/api/3/group/user", write j::group_user_add),
        r!(Jira, GET, "/rest/api/3/search/jql", read j::search_jql),
        r!(Jira, POST, "/rest/api/3/search/jql", read j::search_jql),
        r!(Jira, POST, "/rest/api/3/search/approximate-count", read j::approximate_count),
        r!(Jira, POST, "/rest/api/3/issue", write j::issue_create),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}", read j::issue_get),
        r!(Jira, PUT, "/rest/api/3/issue/{issueIdOrKey}", write j::issue_edit),
        r!(Jira, DELETE, "/rest/api/3/issue/{issueIdOrKey}", write j::issue_delete),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/transitions", read j::transitions),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/transitions", write j::transition_do),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/changelog", read j::changelog),
        r!(Jira, POST, "/rest/api/3/changelog/bulkfetch", read j::changelog_bulk),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/comment", read j::comments),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/comment", write j::comment_add),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/comment/{id}", read j::comment_get),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/worklog", read j::worklogs),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/worklog", write j::worklog_add),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/remotelink", read j::remote_links),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/remotelink", write j::remote_link_create),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/watchers", read j::watchers),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/watchers", write j::watcher_add),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/properties", read j::property_keys),
        r!(Jira, GET, "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}", read j::property_get),
        r!(Jira, PUT, "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}", write j::property_set),
        r!(Jira, POST, "/rest/api/3/issue/{issueIdOrKey}/attachments", upload j::attachment_upload),
        r!(Jira, POST, "/rest/api/3/issueLink", write j::issue_link_create),
        r!(Jira, GET, "/rest/api/3/issueLink/{linkId}", read j::issue_link_get),
        r!(Jira, GET, "/rest/api/3/attachment/meta", read j::attachment_settings),
        r!(Jira, GET, "/rest/api/3/attachment/{id}", read j::attachment_meta),
        r!(Jira, GET, "/rest/api/3/attachment/content/{id}", read j::attachment_content),
        // ------------------------------------------------------------ Jira Software agile
        r!(Agile, GET, "/rest/agile/1.0/board", read j::boards),
        r!(Agile, POST, "/rest/agile/1.0/board", write j::board_create),
        r!(Agile, POST, "/rest/agile/1.0/sprint", write j::sprint_create),
        r!(Agile, GET, "/rest/agile/1.0/board/{boardId}", read j::board_get),
        r!(Agile, GET, "/rest/agile/1.0/board/{boardId}/sprint", read j::board_sprints),
        r!(Agile, GET, "/rest/agile/1.0/sprint/{sprintId}", read j::sprint_get),
        r!(Agile, POST, "/rest/agile/1.0/sprint/{sprintId}", write j::sprint_update),
        // ----------------------------------------------------------------- Confluence v2
        r!(ConfV2, GET, "/wiki/api/v2/spaces", read c::spaces),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{id}", read c::space_get),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{id}/pages", read c::space_pages),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{id}/blogposts", read c::space_blogposts),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{id}/permissions", read c::space_permissions),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{id}/labels", read c::space_labels),
        r!(ConfV2, GET, "/wiki/api/v2/spaces/{space-id}/properties", read c::space_properties),
        r!(ConfV2, POST, "/wiki/api/v2/spaces/{space-id}/properties", write c::space_property_create),
        r!(ConfV2, GET, "/wiki/api/v2/pages", read c::pages),
        r!(ConfV2, POST, "/wiki/api/v2/pages", write c::page_create),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}", read c::page_get),
        r!(ConfV2, PUT, "/wiki/api/v2/pages/{id}", write c::page_update),
        r!(ConfV2, DELETE, "/wiki/api/v2/pages/{id}", write c::page_delete),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}/children", read c::page_children),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}/footer-comments", read c::page_footer_comments),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}/inline-comments", read c::page_inline_comments),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}/attachments", read c::page_attachments),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{id}/labels", read c::page_labels),
        r!(ConfV2, GET, "/wiki/api/v2/pages/{page-id}/properties", read c::page_properties),
        r!(ConfV2, POST, "/wiki/api/v2/pages/{page-id}/properties", write c::page_property_create),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts", read c::blogposts),
        r!(ConfV2, POST, "/wiki/api/v2/blogposts", write c::blogpost_create),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{id}", read c::blogpost_get),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{id}/footer-comments", read c::blog_footer_comments),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{id}/inline-comments", read c::blog_inline_comments),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{id}/attachments", read c::blog_attachments),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{id}/labels", read c::blog_labels),
        r!(ConfV2, GET, "/wiki/api/v2/blogposts/{blogpost-id}/properties", read c::blog_properties),
        r!(ConfV2, POST, "/wiki/api/v2/blogposts/{blogpost-id}/properties", write c::blog_property_create),
        r!(ConfV2, POST, "/wiki/api/v2/footer-comments", write c::footer_comment_create),
        r!(ConfV2, POST, "/wiki/api/v2/inline-comments", write c::inline_comment_create),
        r!(ConfV2, PUT, "/wiki/api/v2/inline-comments/{comment-id}", write c::inline_comment_update),
        r!(ConfV2, GET, "/wiki/api/v2/footer-comments/{id}/children", read c::footer_comment_children),
        r!(ConfV2, GET, "/wiki/api/v2/attachments/{id}", read c::attachment_get),
        // ----------------------------------------------------------------- Confluence v1
        r!(ConfV1, GET, "/wiki/rest/api/content/{id}/child/attachment", read c::v1_attachments),
        r!(ConfV1, POST, "/wiki/rest/api/content/{id}/child/attachment", upload c::v1_attachment_upload),
        r!(ConfV1, GET, "/wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download", read c::v1_attachment_download),
        r!(ConfV1, POST, "/wiki/rest/api/content/{id}/label", write c::v1_labels_add),
        r!(ConfV1, POST, "/wiki/rest/api/space", write c::v1_space_create),
        r!(ConfV1, PUT, "/wiki/rest/api/space/{spaceKey}", write c::v1_space_update),
        r!(ConfV1, POST, "/wiki/rest/api/space/{spaceKey}/label", write c::v1_space_labels_add),
        r!(ConfV1, GET, "/wiki/rest/api/content", read c::v1_contents),
        r!(ConfV1, GET, "/wiki/rest/api/content/{id}/restriction", read c::v1_restrictions),
        r!(ConfV1, PUT, "/wiki/rest/api/content/{id}/restriction", write c::v1_restrictions_update),
        r!(ConfV1, GET, "/wiki/rest/api/user", read c::v1_user_get),
        r!(ConfV1, GET, "/wiki/rest/api/user/current", read c::v1_user_current),
        r!(ConfV1, GET, "/wiki/rest/api/group/by-name", read c::v1_group_by_name),
        r!(ConfV1, GET, "/wiki/rest/api/group/by-id", read c::v1_group_by_id),
        r!(ConfV1, POST, "/wiki/rest/api/space/{spaceKey}/permission", write c::v1_space_permission_add),
        r!(ConfV1, DELETE, "/wiki/rest/api/space/{spaceKey}/permission/{id}", write c::v1_space_permission_remove),
        r!(ConfV1, PUT, "/wiki/rest/api/content/{pageId}/move/{position}/{targetId}", write c::v1_page_move),
    ]
}
