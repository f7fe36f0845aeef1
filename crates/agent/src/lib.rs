//! The endpoint agent: collectors, the durable outbox, and the pinned-TLS client.
//!
//! Architecture invariant: only the modules under [`adapters`] spawn package managers; everything they
//! print is parsed by the domain's readers, the same code that reads uploaded inventories.

pub mod adapters;
pub mod client;
pub mod collect;
pub mod outbox;
