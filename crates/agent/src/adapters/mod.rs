//! Adapters over the host's package managers.

pub mod apt;
pub mod dnf;
pub mod rpm;
