//! The audit trail (§13.2: audit records kept and provable): every state change is an event, each
//! event's hash covers the one before it, so an edited, deleted or reordered event breaks the chain
//! at the first place it was touched.

use sha2::{Digest, Sha256};

/// One state change: who did what to which thing, when, and the thing before and after (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// 1, 2, 3…: the position in the chain.
    pub sequence: i64,
    /// Unix seconds.
    pub at: i64,
    /// `user:NAME`, `host:ID`, `system`.
    pub actor: String,
    /// e.g. `user.create`, `host.enroll`, `report.store`.
    pub action: String,
    /// What was changed, e.g. `host:ID`.
    pub subject: String,
    pub before: String,
    pub after: String,
}

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an event chained to the hash before it. Every field is length-prefixed, so no two
/// different events hash the same bytes.
pub fn hash(previous: &str, event: &Event) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(previous.as_bytes());
    field(&event.sequence.to_be_bytes());
    field(&event.at.to_be_bytes());
    field(event.actor.as_bytes());
    field(event.action.as_bytes());
    field(event.subject.as_bytes());
    field(event.before.as_bytes());
    field(event.after.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("event {sequence}: its content does not match its hash (edited)")]
    Edited { sequence: i64 },
    #[error("event {sequence}: expected event {expected} here (deleted or reordered)")]
    Sequence { sequence: i64, expected: i64 },
    #[error("event {sequence}: it does not follow the event before it (deleted, inserted or reordered)")]
    Link { sequence: i64 },
}

/// A stored event with the hashes it was stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub event: Event,
    pub previous_hash: String,
    pub hash: String,
}

/// Checks a chain in storage order, starting after `anchor` (sequence, hash) — the last event
/// purged past the retention period, or (0, GENESIS). Returns how many events it checked.
pub fn verify<'a>(anchor: (i64, &str), events: impl IntoIterator<Item = &'a Stored>) -> Result<usize, Break> {
    let (mut last_sequence, mut last_hash) = (anchor.0, anchor.1.to_owned());
    let mut checked = 0;
    for stored in events {
        let sequence = stored.event.sequence;
        if sequence != last_sequence + 1 {
            return Err(Break::Sequence {
                sequence,
                expected: last_sequence + 1,
            });
        }
        if stored.previous_hash != last_hash {
            return Err(Break::Link { sequence });
        }
        if hash(&stored.previous_hash, &stored.event) != stored.hash {
            return Err(Break::Edited { sequence });
        }
        last_sequence = sequence;
        last_hash.clone_from(&stored.hash);
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Stored> {
        let mut previous = GENESIS.to_owned();
        (1..=n)
            .map(|sequence| {
                let event = Event {
                    sequence,
                    at: 1_800_000_000 + sequence,
                    actor: "user:alice".into(),
                    action: "host.revoke".into(),
                    subject: format!("host:{sequence}"),
                    before: "{\"revoked\":false}".into(),
                    after: "{\"revoked\":true}".into(),
                };
                let h = hash(&previous, &event);
                let stored = Stored {
                    event,
                    previous_hash: previous.clone(),
                    hash: h.clone(),
                };
                previous = h;
                stored
            })
            .collect()
    }

    #[test]
    fn tampering_is_found_where_it_happened() {
        let good = chain(5);
        assert_eq!(verify((0, GENESIS), &good), Ok(5));
        let mut edited = good.clone();
        edited[2].event.after = "{\"revoked\":false}".into();
        assert_eq!(verify((0, GENESIS), &edited), Err(Break::Edited { sequence: 3 }));
        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(
            verify((0, GENESIS), &deleted),
            Err(Break::Sequence {
                sequence: 3,
                expected: 2
            })
        );
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(
            verify((0, GENESIS), &swapped),
            Err(Break::Sequence {
                sequence: 3,
                expected: 2
            })
        );
        // Renumbered after a swap, the links give it away.
        let (a, b) = (swapped[1].event.sequence, swapped[2].event.sequence);
        swapped[1].event.sequence = b;
        swapped[2].event.sequence = a;
        assert!(verify((0, GENESIS), &swapped).is_err());
        // A chain continues from a purge anchor.
        assert_eq!(verify((2, &good[1].hash), &good[2..]), Ok(3));
    }

    proptest::proptest! {
        /// Changing any byte of any field of any event is detected.
        #[test]
        fn any_edit_is_detected(index in 0usize..6, field in 0usize..5, extra in "[a-z]{1,3}") {
            let mut events = chain(6);
            let event = &mut events[index].event;
            match field {
                0 => event.actor.push_str(&extra),
                1 => event.action.push_str(&extra),
                2 => event.subject.push_str(&extra),
                3 => event.before.push_str(&extra),
                _ => event.after.push_str(&extra),
            }
            proptest::prop_assert!(verify((0, GENESIS), &events).is_err());
        }
    }
}
