//! The DocSpace wire contract as Rust types: the success and error envelopes, request and
//! response DTOs, and enums that read a name or an integer and always write an integer.
//!
//! This crate depends on serde only. Nothing here knows about HTTP frameworks, SQL or the
//! domain: the server converts between these shapes and `dsbackup_core` types at its edge.

pub mod auth;
pub mod backup;
pub mod datetime;
pub mod enums;
pub mod envelope;
pub mod files;
pub mod keys;
pub mod people;
pub mod portal;
pub mod query;
pub mod settings;

pub use envelope::{ErrorBody, ErrorEnvelope, Link, SuccessEnvelope};
