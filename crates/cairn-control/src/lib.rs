//! Cairn's domain: who may do what ([`identity`]), and the Backup Management API's sites,
//! storages, policies, backups, restores, schedules and job queue ([`management`], [`jobs`]), and the one owner of each run's status
//! ([`lifecycle`]).
//!
//! It decides; it never speaks HTTP to anyone and never touches the bytes of a backup. The api
//! crate turns [`ControlError`] into statuses; the store crate persists the records.

pub mod audit;
pub mod bootstrap;
pub mod clock;
mod error;
pub mod identity;
pub mod jobs;
pub mod lifecycle;
pub mod management;
pub mod schedule;
pub mod secret;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;

pub use error::{AuthFailure, ControlError, ControlResult, FieldError};
