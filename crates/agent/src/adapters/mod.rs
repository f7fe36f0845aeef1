//! Adapters over the host's package managers (and its restart).

pub mod apt;
pub mod dnf;
pub mod reboot;
pub mod rpm;
