//! Installing through dnf and rpm (§12) on the RHEL family: the versions a job names from the
//! host's repositories, or patch store files. A root other than `/` is a sandbox: dnf installs into
//! it (`--installroot`) with its own repository definitions.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{Outcome, Target, run};

#[derive(Debug, Clone)]
pub struct Dnf {
    root: PathBuf,
}

impl Dnf {
    pub fn new(root: &Path) -> Dnf {
        Dnf { root: root.to_owned() }
    }

    /// The release version dnf needs for an install root: the major `VERSION_ID` of its os-release.
    fn release_version(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("etc/os-release")).ok()?;
        let value = text.lines().find_map(|l| l.strip_prefix("VERSION_ID="))?;
        Some(value.trim_matches('"').split('.').next()?.to_owned())
    }

    /// Installs each target; nothing is removed (`--setopt=clean_requirements_on_remove`, no
    /// `--allowerasing`): a transaction that would remove packages fails instead.
    pub fn install(&self, targets: &[Target]) -> Outcome {
        let mut command = Command::new("dnf");
        command.args(["-y", "--setopt=install_weak_deps=False"]);
        if self.root != Path::new("/") {
            command.arg("--installroot").arg(&self.root).arg(format!(
                "--setopt=reposdir={}",
                self.root.join("etc/yum.repos.d").display()
            ));
            if let Some(release) = self.release_version() {
                command.arg(format!("--releasever={release}"));
            }
        }
        command.arg("install");
        for target in targets {
            match target {
                Target::Version { package, version } => command.arg(format!("{package}-{version}")),
                Target::File(path) => command.arg(path),
            };
        }
        let mut output = String::new();
        if let Err(outcome) = run(command, &mut output) {
            return outcome;
        }
        // dnf says a reboot is needed through `needs-restarting -r`; the kernel or glibc changing
        // is what makes it so.
        let reboot = targets.iter().any(|t| {
            matches!(t, Target::Version { package, .. } if package == "kernel" || package == "kernel-core" || package == "glibc")
        });
        Outcome {
            status: if reboot { "reboot_required" } else { "succeeded" },
            exit_status: Some(0),
            output,
        }
    }
}
