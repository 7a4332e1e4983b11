//! The typed evidence of a contract: its states and answers, its events, and time. The ground
//! floor of certd: it imports nothing from the crate, and every other module reads these types.
//!
//! Strings appear only at the serialization edge (the store's columns, JSON output).

pub mod event;
pub mod instant;
pub mod terms;

pub use event::{Applied, EventData};
pub use instant::Instant;
pub use terms::{ClarificationReason, Decision, JobKind, Standing, State};
