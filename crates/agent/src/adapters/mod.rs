//! Adapters over the host's package managers.

pub mod apt;
pub mod rpm;
