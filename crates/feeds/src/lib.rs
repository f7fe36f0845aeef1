//! Advisory importers: outside data in, normalised [`Advisory`] values out (§8.1, §8.4).
//!
//! Each OSV record is parsed on its own: a bad record is rejected and named, records in ecosystems
//! patchwarden does not assess are counted and skipped, and a record seen twice keeps its newest
//! `modified`. Everything read from outside passes through [`input`] and its size limits.

mod debian_index;
pub mod input;
mod osv;
mod threat;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use patchwarden_domain::advisory::Advisory;

pub use debian_index::{IndexError, release_of as debian_index_release};
pub use input::{InputError, Limits};
pub use osv::RecordError;
pub use threat::{ThreatError, parse_epss, parse_kev};

/// An import that could not go on; nothing from it is kept.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{}: {error}", path.display())]
    Index { path: PathBuf, error: IndexError },
    #[error("{}: {error}", path.display())]
    Threat { path: PathBuf, error: ThreatError },
    #[error("{}: not an OSV record (.json), a directory or zip of them, or a Debian Packages index", .0.display())]
    Unrecognised(PathBuf),
}

/// One record refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The file, or `archive.zip!member`.
    pub source: String,
    pub reason: String,
}

/// What an import read, kept and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub records: usize,
    pub advisories: usize,
    /// Records whose id was already imported; the newer `modified` was kept.
    pub duplicates: usize,
    pub withdrawn: usize,
    /// Affected entries in ecosystems patchwarden does not assess, by ecosystem.
    pub unknown_ecosystems: BTreeMap<String, usize>,
    pub rejected: Vec<Rejected>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records read, {} advisories kept, {} duplicates, {} withdrawn, {} rejected",
            self.records,
            self.advisories,
            self.duplicates,
            self.withdrawn,
            self.rejected.len()
        )?;
        if !self.unknown_ecosystems.is_empty() {
            let unknown: Vec<String> = self
                .unknown_ecosystems
                .iter()
                .map(|(e, n)| format!("{e} ({n})"))
                .collect();
            write!(f, "; skipped entries in unknown ecosystems: {}", unknown.join(", "))?;
        }
        Ok(())
    }
}

/// Gathers advisories from any number of sources.
#[derive(Debug)]
pub struct Importer {
    limits: Limits,
    advisories: Vec<Advisory>,
    by_id: HashMap<String, usize>,
    report: ImportReport,
}

impl Importer {
    pub fn new(limits: Limits) -> Importer {
        Importer {
            limits,
            advisories: Vec::new(),
            by_id: HashMap::new(),
            report: ImportReport::default(),
        }
    }

    /// Imports a file or directory, telling its kind from what it is: a directory of OSV JSON, an
    /// OSV zip, one OSV record, or a Debian `Packages` index (plain or gzip).
    pub fn import_path(&mut self, path: &Path) -> Result<(), FeedError> {
        let metadata = std::fs::metadata(path).map_err(|e| InputError::new(path, e))?;
        if metadata.is_dir() {
            return self.import_directory(path);
        }
        let bytes = input::read_maybe_gzip(path, &self.limits)?;
        self.import_bytes(&path.display().to_string(), &bytes)
    }

    /// Imports one source held in memory, told apart by its content: an OSV zip, one OSV record, or
    /// a Debian `Packages` index (gzip already undone). `name` names it in errors and reports; for an
    /// index it must start with the release's codename.
    pub fn import_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), FeedError> {
        let path = Path::new(name);
        let bytes = input::gunzip_if_compressed(bytes, &self.limits).map_err(|p| InputError::new(path, p))?;
        if bytes.starts_with(b"PK\x03\x04") {
            return self.import_zip(path, bytes.into_owned());
        }
        let start = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if start == Some(&b'{') {
            self.add_record(name.to_owned(), &bytes);
            return Ok(());
        }
        if bytes.starts_with(b"Package:") {
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file_name = file_name.trim_end_matches(".gz");
            let text = patchwarden_domain::text::decode(&bytes).map_err(|e| InputError::new(path, e))?;
            let advisory = debian_index::parse(file_name, text).map_err(|error| FeedError::Index {
                path: path.to_owned(),
                error,
            })?;
            self.report.records += 1;
            self.keep(advisory);
            return Ok(());
        }
        Err(FeedError::Unrecognised(path.to_owned()))
    }

    fn import_directory(&mut self, dir: &Path) -> Result<(), FeedError> {
        let mut files = Vec::new();
        let mut pending = vec![dir.to_owned()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).map_err(|e| InputError::new(&next, e))? {
                let path = entry.map_err(|e| InputError::new(&next, e))?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path);
                }
            }
        }
        // Sorted, so that which of two equal records is kept never depends on the file system.
        files.sort();
        for file in files {
            let bytes = input::read_file(&file, self.limits.entry_bytes)?;
            self.add_record(file.display().to_string(), &bytes);
        }
        Ok(())
    }

    fn import_zip(&mut self, path: &Path, bytes: Vec<u8>) -> Result<(), FeedError> {
        let zip_error = |e: zip::result::ZipError| InputError::new(path, input::Problem::Zip(e.to_string()));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_error)?;
        if archive.len() > self.limits.archive_entries {
            return Err(InputError::new(
                path,
                input::Problem::TooManyMembers {
                    limit: self.limits.archive_entries,
                },
            )
            .into());
        }
        let mut total: u64 = 0;
        for index in 0..archive.len() {
            let member = archive.by_index(index).map_err(zip_error)?;
            let name = member.name().to_owned();
            if member.is_dir() || !name.ends_with(".json") {
                continue;
            }
            let in_member = |problem| InputError {
                path: path.to_owned(),
                member: Some(name.clone()),
                problem,
            };
            // The declared size can lie; the read is bounded whatever the header says.
            let limit = self.limits.entry_bytes;
            let bytes = input::read_to_limit(member.take(limit + 1), limit, input::Problem::Expands { limit })
                .map_err(in_member)?;
            total += bytes.len() as u64;
            if total > self.limits.archive_bytes {
                return Err(in_member(input::Problem::Expands {
                    limit: self.limits.archive_bytes,
                })
                .into());
            }
            self.add_record(format!("{}!{name}", path.display()), &bytes);
        }
        Ok(())
    }

    fn add_record(&mut self, source: String, bytes: &[u8]) {
        self.report.records += 1;
        let mut unknown = Vec::new();
        match osv::parse(bytes, &mut unknown) {
            Ok(osv::Outcome::Advisory(advisory)) => self.keep(advisory),
            Ok(osv::Outcome::Withdrawn) => self.report.withdrawn += 1,
            Ok(osv::Outcome::OnlyUnknown(ecosystems)) => unknown.extend(ecosystems),
            Err(error) => self.report.rejected.push(Rejected {
                source,
                reason: error.to_string(),
            }),
        }
        for ecosystem in unknown {
            *self.report.unknown_ecosystems.entry(ecosystem).or_default() += 1;
        }
    }

    fn keep(&mut self, advisory: Advisory) {
        match self.by_id.get(&advisory.id) {
            Some(&at) => {
                self.report.duplicates += 1;
                if newer(&advisory, &self.advisories[at]) {
                    self.advisories[at] = advisory;
                }
            }
            None => {
                self.by_id.insert(advisory.id.clone(), self.advisories.len());
                self.advisories.push(advisory);
            }
        }
    }

    pub fn finish(mut self) -> (Vec<Advisory>, ImportReport) {
        self.report.advisories = self.advisories.len();
        (self.advisories, self.report)
    }
}

/// Whether `a` was modified after `b`; a record with an unreadable time never replaces one.
fn newer(a: &Advisory, b: &Advisory) -> bool {
    let time = |adv: &Advisory| adv.modified.as_deref().and_then(|m| m.parse::<jiff::Timestamp>().ok());
    match (time(a), time(b)) {
        (Some(ta), Some(tb)) => ta > tb,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Reads a KEV catalog file.
pub fn read_kev(path: &Path, limits: &Limits) -> Result<std::collections::HashSet<String>, FeedError> {
    let bytes = input::read_file(path, limits.file_bytes)?;
    parse_kev(&bytes).map_err(|error| FeedError::Threat {
        path: path.to_owned(),
        error,
    })
}

/// Reads an EPSS CSV file, gzip-compressed or not.
pub fn read_epss(path: &Path, limits: &Limits) -> Result<HashMap<String, f64>, FeedError> {
    let bytes = input::read_maybe_gzip(path, limits)?;
    parse_epss(&bytes).map_err(|error| FeedError::Threat {
        path: path.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests;
