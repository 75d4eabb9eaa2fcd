//! Confluence Cloud REST v2 (reads, page/blog post/comment/property writes) and the v1
//! operations v2 lacks (attachment upload and download, adding labels, creating a space), one
//! file per seam: `render` (the JSON shapes), `read`, `write` and `v1`.

use axum::response::Response;

mod read;
mod render;
mod v1;
mod write;

pub use read::*;
pub use render::INCLUDE_LIMIT;
pub use v1::*;
pub use write::*;

type R = Result<Response, Response>;
