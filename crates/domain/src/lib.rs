//! The pure model and rules of patchwarden.
//!
//! Versions, inventories, advisories and the matching engine that turns them into findings; the
//! policy's rules: classification, deadlines, exceptions, compliance, the audit chain.
//! Architecture invariant: nothing here does I/O, reads a clock or spawns a process; callers hand
//! in text and time.

pub mod advisory;
pub mod audit;
pub mod calendar;
pub mod change;
pub mod classification;
pub mod compliance;
pub mod ecosystem;
pub mod exception;
pub mod inventory;
pub mod matching;
pub mod policy;
pub mod selector;
pub mod text;
pub mod version;
