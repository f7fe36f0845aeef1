//! The durable outbox: every report is written to disk before it is sent, and leaves only when the
//! server says it stored it. Reports survive agent restarts and server outages and are delivered in
//! order, each exactly once (the server stores each sequence once). When the outbox is full the oldest
//! report is dropped, counted, and the count travels with the next report.

use std::io::Write;
use std::path::{Path, PathBuf};

use patchwarden_proto::Report;
use serde::{Deserialize, Serialize};

/// The most reports kept waiting; at one check-in an hour that is six weeks offline.
pub const CAPACITY: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The agent's counters, kept beside the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub next_sequence: u64,
    /// Reports dropped since the last one delivered.
    pub dropped: u64,
    /// The inventory hash last put into a report together with its inventory.
    pub sent_inventory_hash: String,
    /// The server asked for the inventory again.
    pub inventory_requested: bool,
}

#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
}

/// Writes a file so that a crash leaves either the old content or the new, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

impl Outbox {
    pub fn open(state_dir: &Path) -> Result<Outbox, OutboxError> {
        let dir = state_dir.join("outbox");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Outbox { dir })
    }

    fn counters_path(&self) -> PathBuf {
        self.dir.join("counters.state")
    }

    pub fn counters(&self) -> Result<Counters, OutboxError> {
        let path = self.counters_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OutboxError::Corrupt {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Counters {
                next_sequence: 1,
                ..Counters::default()
            }),
            Err(e) => Err(OutboxError::Io { path, source: e }),
        }
    }

    pub fn save_counters(&self, counters: &Counters) -> Result<(), OutboxError> {
        write_atomically(&self.counters_path(), &serde_json::to_vec(counters).unwrap_or_default())
    }

    fn path_of(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.json"))
    }

    /// The waiting reports' sequences, oldest first.
    pub fn pending(&self) -> Result<Vec<u64>, OutboxError> {
        let mut sequences: Vec<u64> = std::fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
            .collect();
        sequences.sort_unstable();
        Ok(sequences)
    }

    /// Makes a report with the next sequence and writes it to disk before anything is sent.
    /// `make` is given the sequence and the dropped count to carry.
    pub fn push(&self, make: impl FnOnce(u64, u64) -> Report) -> Result<Report, OutboxError> {
        let mut counters = self.counters()?;
        let mut pending = self.pending()?;
        while pending.len() >= CAPACITY {
            let oldest = pending.remove(0);
            // The dropped report's own count of earlier drops is carried on, not lost with it.
            let carried = self.read(oldest).map_or(0, |r| r.dropped);
            let path = self.path_of(oldest);
            std::fs::remove_file(&path).map_err(io(&path))?;
            counters.dropped += 1 + carried;
        }
        let report = make(counters.next_sequence, counters.dropped);
        let path = self.path_of(report.sequence);
        write_atomically(&path, &serde_json::to_vec(&report).unwrap_or_default())?;
        counters.next_sequence = report.sequence + 1;
        counters.dropped = 0;
        self.save_counters(&counters)?;
        Ok(report)
    }

    pub fn read(&self, sequence: u64) -> Result<Report, OutboxError> {
        let path = self.path_of(sequence);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| OutboxError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Removes every report up to and including `sequence`: the server has stored them.
    pub fn acknowledge(&self, through: u64) -> Result<(), OutboxError> {
        for sequence in self.pending()?.into_iter().filter(|s| *s <= through) {
            let path = self.path_of(sequence);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OutboxError::Io { path, source: e }),
            }
        }
        Ok(())
    }

    /// Removes one report the server refused as invalid (it would block the queue forever).
    pub fn discard(&self, sequence: u64) -> Result<(), OutboxError> {
        let path = self.path_of(sequence);
        std::fs::remove_file(&path).map_err(io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sequence: u64, dropped: u64) -> Report {
        Report {
            sequence,
            created_at: "2026-12-04T00:00:00Z".into(),
            facts: patchwarden_proto::Facts::default(),
            inventory_hash: String::new(),
            inventory: None,
            dropped,
        }
    }

    #[test]
    fn reports_survive_reopening_and_leave_when_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for _ in 0..3 {
            outbox.push(report).unwrap();
        }
        let reopened = Outbox::open(dir.path()).unwrap();
        assert_eq!(reopened.pending().unwrap(), [1, 2, 3]);
        assert_eq!(reopened.read(2).unwrap().sequence, 2);
        reopened.acknowledge(2).unwrap();
        assert_eq!(reopened.pending().unwrap(), [3]);
        assert_eq!(reopened.push(report).unwrap().sequence, 4);
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for _ in 0..CAPACITY {
            outbox.push(report).unwrap();
        }
        let next = outbox.push(report).unwrap();
        assert_eq!(next.dropped, 1);
        assert_eq!(outbox.pending().unwrap().first(), Some(&2));
        assert_eq!(outbox.pending().unwrap().len(), CAPACITY);
    }
}
