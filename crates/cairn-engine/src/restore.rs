//! Restores a backup's snapshot into a destination site (issue 6, section 4).

use cairn_control::jobs::{EngineError, JobContext, RestoreResult, RestoreTask};

use crate::AtlassianEngine;

pub(crate) async fn restore(
    _engine: &AtlassianEngine,
    _task: RestoreTask,
    _ctx: &JobContext,
) -> Result<RestoreResult, EngineError> {
    Err(EngineError::Permanent("restore is not built yet".into()))
}
