//! apt in a sandbox root: the host's own packages untouched, a given dpkg status file as the
//! installed set and a given `Packages` index as the only repository.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A sandbox, kept until dropped.
#[derive(Debug)]
pub struct AptSandbox {
    root: PathBuf,
    options: Vec<String>,
}

impl AptSandbox {
    /// Lays out `root` and runs `apt-get update` once, so later commands only compute.
    pub fn new(root: &Path, status: &Path, index: &Path) -> io::Result<AptSandbox> {
        let repo = root.join("repo");
        for dir in [
            "repo",
            "var/lib/dpkg/updates",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "etc/apt/sources.list.d",
        ] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        std::fs::copy(index, repo.join("Packages"))?;
        std::fs::copy(status, root.join("var/lib/dpkg/status"))?;
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!("deb [trusted=yes] file:{} ./\n", repo.display()),
        )?;
        let r = root.display();
        let options = [
            format!("Dir={r}"),
            format!("Dir::State::status={r}/var/lib/dpkg/status"),
            format!("Dir::Etc={r}/etc/apt"),
            format!("Dir::Etc::SourceList={r}/etc/apt/sources.list"),
            format!("Dir::Etc::SourceParts={r}/etc/apt/sources.list.d"),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
            "APT::Architecture=amd64".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_owned(), o])
        .collect();
        let sandbox = AptSandbox {
            root: root.to_owned(),
            options,
        };
        let update = sandbox.apt_get(&["-qq", "update"])?;
        if !update.status.success() {
            return Err(io::Error::other(format!(
                "apt-get update: {}",
                String::from_utf8_lossy(&update.stderr)
            )));
        }
        Ok(sandbox)
    }

    pub fn apt_get(&self, args: &[&str]) -> io::Result<std::process::Output> {
        Command::new("apt-get").args(&self.options).args(args).output()
    }

    /// The packages `apt-get -s upgrade` would upgrade.
    pub fn simulated_upgrades(&self) -> io::Result<Vec<String>> {
        let out = self.apt_get(&["-s", "upgrade"])?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "apt-get -s upgrade: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect())
    }
}

impl Drop for AptSandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
