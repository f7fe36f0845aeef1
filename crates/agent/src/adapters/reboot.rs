//! Restarting the host after a job, as the change's reboot policy says (§11.3 tells staff first).
//! Only a host's real root is ever restarted; a sandbox root (tests, image builds) never is.

use std::path::Path;
use std::process::Command;

/// Whether to restart after a job: `always` after a successful one, `if_required` when the
/// package manager says so, `never` not at all; only on the real root.
pub fn wanted(policy: &str, status: &str, root: &Path) -> bool {
    if root != Path::new("/") {
        return false;
    }
    match policy {
        "always" => matches!(status, "succeeded" | "reboot_required"),
        "if_required" => status == "reboot_required",
        _ => false,
    }
}

/// Schedules a restart in two minutes, with a message to logged-in users.
pub fn schedule(change: &str) -> std::io::Result<()> {
    let status = Command::new("shutdown")
        .args(["-r", "+2"])
        .arg(format!("patchwarden: restarting to finish change {change}"))
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("shutdown exited with {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_real_root_restarts_and_only_as_the_policy_says() {
        let root = Path::new("/");
        assert!(wanted("always", "succeeded", root));
        assert!(!wanted("always", "failed", root));
        assert!(wanted("if_required", "reboot_required", root));
        assert!(!wanted("if_required", "succeeded", root));
        assert!(!wanted("never", "reboot_required", root));
        assert!(!wanted("always", "succeeded", Path::new("/tmp/sandbox")));
    }
}
