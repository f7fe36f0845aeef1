//! The endpoint agent's collectors.
//!
//! Architecture invariant: only the modules under [`adapters`] spawn package managers; everything they
//! print is parsed by the domain's readers, the same code that reads uploaded inventories.

pub mod adapters;
