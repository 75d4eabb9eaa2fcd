//! Jira Cloud platform REST v3 and Jira Software agile handlers, one file per seam:
//! `render` and `issue_bean` (the JSON shapes), `directory` (the site's configuration, read and
//! written), `project`, `search` (JQL), `read` and `write` (an issue and what hangs on it),
//! `edit` (how a `fields` object changes an issue) and `agile` (boards and sprints).

use axum::response::Response;

mod agile;
mod directory;
mod edit;
mod fields;
mod issue_bean;
mod project;
mod read;
mod render;
mod search;
mod write;

pub use agile::*;
pub use directory::*;
pub use fields::*;
pub use project::*;
pub use read::*;
pub use render::*;
pub use search::*;
pub use write::*;

type R = Result<Response, Response>;
