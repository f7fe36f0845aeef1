//! Installing through apt and dpkg (§12): the fixed versions a job names, from the host's own
//! repositories. On a host the root is `/`; any other root is a sandbox (a prepared tree, as the
//! tests use), for which apt is pointed at the tree's own state, lists, cache and dpkg database.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What to install: a version from the host's repositories, or a package file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version { package: String, version: String },
    File(PathBuf),
}

/// What running the package manager came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `succeeded`, `failed` or `reboot_required`.
    pub status: &'static str,
    pub exit_status: Option<i32>,
    /// Everything apt and dpkg printed, both streams, in order of the steps.
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct Apt {
    root: PathBuf,
    downgrades: bool,
}

impl Apt {
    pub fn new(root: &Path) -> Apt {
        Apt {
            root: root.to_owned(),
            downgrades: false,
        }
    }

    /// Lets the install bring packages back to older versions (a rollback).
    pub fn allowing_downgrades(mut self, allow: bool) -> Apt {
        self.downgrades = allow;
        self
    }

    fn apt_get(&self) -> Command {
        let mut command = Command::new("apt-get");
        command.env("DEBIAN_FRONTEND", "noninteractive");
        if self.root != Path::new("/") {
            let root = self.root.display();
            for option in [
                format!("Dir={root}"),
                format!("Dir::State::status={root}/var/lib/dpkg/status"),
                format!("DPkg::Options::=--root={root}"),
                "DPkg::Options::=--force-not-root".to_owned(),
                format!("DPkg::Options::=--log={root}/var/log/dpkg.log"),
                "Debug::NoLocking=1".to_owned(),
                "APT::Sandbox::User=root".to_owned(),
            ] {
                command.arg("-o").arg(option);
            }
        }
        command
    }

    /// Refreshes the package lists, then installs each target. Nothing is removed: an install
    /// that would remove packages fails instead.
    pub fn install(&self, targets: &[Target]) -> Outcome {
        let mut output = String::new();
        let mut update = self.apt_get();
        update.arg("update");
        if let Err(outcome) = run(update, &mut output) {
            return outcome;
        }
        let mut install = self.apt_get();
        install.args(["install", "-y", "--no-remove"]);
        if self.downgrades {
            install.arg("--allow-downgrades");
        }
        install.args(["-o", "Dpkg::Options::=--force-confold"]);
        for target in targets {
            match target {
                Target::Version { package, version } => install.arg(format!("{package}={version}")),
                Target::File(path) => install.arg(path),
            };
        }
        if let Err(outcome) = run(install, &mut output) {
            return outcome;
        }
        let reboot =
            self.root.join("var/run/reboot-required").exists() || self.root.join("run/reboot-required").exists();
        Outcome {
            status: if reboot { "reboot_required" } else { "succeeded" },
            exit_status: Some(0),
            output,
        }
    }
}

/// Runs one step, appending what it printed; a failing step is the outcome.
pub(crate) fn run(mut command: Command, output: &mut String) -> Result<(), Outcome> {
    match command.output() {
        Ok(done) => {
            output.push_str(&String::from_utf8_lossy(&done.stdout));
            output.push_str(&String::from_utf8_lossy(&done.stderr));
            if done.status.success() {
                Ok(())
            } else {
                Err(Outcome {
                    status: "failed",
                    exit_status: done.status.code(),
                    output: std::mem::take(output),
                })
            }
        }
        Err(e) => Err(Outcome {
            status: "failed",
            exit_status: None,
            output: format!("{output}could not run apt-get: {e}\n"),
        }),
    }
}
