//! Bounded reading of outside files: every byte patchwarden reads from a feed or an inventory goes
//! through here, so a 1 GB file or a zip bomb is refused with a clear error instead of filling memory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How much outside data one import may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file read whole (an inventory, a JSON record, an index, a compressed archive).
    pub file_bytes: u64,
    /// The largest decompressed member of an archive or gzip stream.
    pub entry_bytes: u64,
    /// The most bytes decompressed from one archive in all.
    pub archive_bytes: u64,
    /// The most members one archive may have.
    pub archive_entries: usize,
}

impl Default for Limits {
    /// Sized for the real feeds with room to grow: AlmaLinux's all.zip is 6 MB holding 70 MB of
    /// JSON, the largest OSV record a few MB, the EPSS CSV 20 MB unpacked.
    fn default() -> Limits {
        Limits {
            file_bytes: 512 << 20,
            entry_bytes: 64 << 20,
            archive_bytes: 4 << 30,
            archive_entries: 1_000_000,
        }
    }
}

/// A problem reading outside data, naming the file (and archive member) it is in.
#[derive(Debug, thiserror::Error)]
pub struct InputError {
    pub path: PathBuf,
    pub member: Option<String>,
    pub problem: Problem,
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("decompresses to more than the limit of {limit} bytes (a zip bomb, or raise the limit)")]
    Expands { limit: u64 },
    #[error("has more than {limit} members")]
    TooManyMembers { limit: usize },
    #[error("not a readable zip archive: {0}")]
    Zip(String),
    #[error("{0}")]
    Text(#[from] patchwarden_domain::text::NotUtf8),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(member) = &self.member {
            write!(f, " (member {member})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl InputError {
    pub fn new(path: &Path, problem: impl Into<Problem>) -> InputError {
        InputError {
            path: path.to_owned(),
            member: None,
            problem: problem.into(),
        }
    }
}

/// Reads a whole file, refusing one larger than `limit` before reading it.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let file = std::fs::File::open(path).map_err(|e| InputError::new(path, e))?;
    let size = file.metadata().map_err(|e| InputError::new(path, e))?.len();
    if size > limit {
        return Err(InputError::new(path, Problem::TooLarge { size, limit }));
    }
    read_to_limit(file, limit, Problem::TooLarge { size, limit }).map_err(|p| InputError::new(path, p))
}

/// Reads a stream to its end, failing with `over` once it passes `limit` bytes.
pub fn read_to_limit(reader: impl Read, limit: u64, over: Problem) -> Result<Vec<u8>, Problem> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(over);
    }
    Ok(bytes)
}

/// Reads a file that may be gzip-compressed (told by its magic bytes), bounded both ways.
pub fn read_maybe_gzip(path: &Path, limits: &Limits) -> Result<Vec<u8>, InputError> {
    let raw = read_file(path, limits.file_bytes)?;
    gunzip_if_compressed(&raw, limits)
        .map(std::borrow::Cow::into_owned)
        .map_err(|p| InputError::new(path, p))
}

/// Undoes gzip if the bytes start with its magic number, decompressing at most `entry_bytes`.
pub fn gunzip_if_compressed<'a>(bytes: &'a [u8], limits: &Limits) -> Result<std::borrow::Cow<'a, [u8]>, Problem> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::GzDecoder::new(bytes);
        let limit = limits.entry_bytes;
        read_to_limit(decoder, limit, Problem::Expands { limit }).map(Into::into)
    } else {
        Ok(bytes.into())
    }
}

/// Reads a text file, checking it is UTF-8 and naming the line where it is not.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    let bytes = read_file(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = patchwarden_domain::text::position(e.as_bytes(), e.utf8_error().valid_up_to());
        InputError::new(path, patchwarden_domain::text::NotUtf8 { at })
    })
}
