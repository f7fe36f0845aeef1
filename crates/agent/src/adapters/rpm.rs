//! Installed packages from rpm's database, through `rpm -qa --qf` (rpm reads its own database
//! formats — BerkeleyDB, NDB, SQLite — better than any reimplementation would).

use std::path::{Path, PathBuf};
use std::process::Command;

use patchwarden_domain::inventory::{self, InstalledPackage, InventoryFormat, RPM_QUERY_FORMAT};

/// Which rpm database to read.
#[derive(Debug, Clone, Default)]
pub struct RpmDatabase {
    /// `--dbpath`: a database directory other than the system's.
    pub dbpath: Option<PathBuf>,
    /// Read the database as BerkeleyDB, read-only (`_db_backend bdb_ro`), for databases copied from
    /// RHEL/CentOS 7 and 8 hosts onto a newer rpm.
    pub berkeley_db: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    #[error("cannot run rpm: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("rpm -qa failed ({status}): {stderr}")]
    Failed {
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("rpm printed something that is not UTF-8: {0}")]
    Text(#[from] patchwarden_domain::text::NotUtf8),
    #[error("rpm -qa output, {0}")]
    Rows(#[from] inventory::InventoryError),
}

/// The rows `rpm -qa` prints in patchwarden's query format, as text.
pub fn query(database: &RpmDatabase) -> Result<String, RpmError> {
    let mut command = Command::new("rpm");
    command.arg("-qa").arg("--qf").arg(RPM_QUERY_FORMAT);
    if let Some(dbpath) = &database.dbpath {
        command.arg("--dbpath").arg(absolute(dbpath));
    }
    if database.berkeley_db {
        command.args(["--define", "_db_backend bdb_ro"]);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(RpmError::Failed {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    patchwarden_domain::text::decode(&output.stdout)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The installed packages in an rpm database.
pub fn installed(database: &RpmDatabase) -> Result<Vec<InstalledPackage>, RpmError> {
    Ok(inventory::parse(InventoryFormat::RpmQa, &query(database)?)?)
}

/// rpm resolves a relative `--dbpath` against its root, not the working directory.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
