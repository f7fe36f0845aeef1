//! Adapters over the host's package managers.

pub mod rpm;
