//! RPM version ordering, as rpm 4.18 does it (`rpmio/rpmvercmp.c`, `lib/rpmver.c`).
//!
//! An EVR is `[epoch:]version[-release]`. Each of version and release compares by alphanumeric
//! segments; other characters only separate segments. `~` sorts before everything (pre-releases),
//! `^` after the base version but before anything that continues it (snapshots).

use std::cmp::Ordering;
use std::hash::Hasher;

use super::{VersionError, strip_zeros};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// The epoch's text; an absent epoch compares as `0`.
    pub(crate) epoch: &'a [u8],
    pub(crate) version: &'a [u8],
    /// An absent release sorts before any release, even an empty one, as `rpm.vercmp` does.
    pub(crate) release: Option<&'a [u8]>,
}

/// Splits like rpm's `parseEVR`: leading digits followed by `:` are the epoch, the last `-` starts the
/// release.
pub(crate) fn parse(text: &str) -> Result<Parts<'_>, VersionError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(VersionError::Empty);
    }
    if let Some(at) = bytes.iter().position(|b| b.is_ascii_whitespace()) {
        return Err(VersionError::Whitespace { at });
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let (epoch, rest) = if bytes.get(digits) == Some(&b':') {
        let epoch = &bytes[..digits];
        (if epoch.is_empty() { &b"0"[..] } else { epoch }, &bytes[digits + 1..])
    } else {
        (&b"0"[..], bytes)
    };
    let (version, release) = match rest.iter().rposition(|&b| b == b'-') {
        Some(hyphen) => (&rest[..hyphen], Some(&rest[hyphen + 1..])),
        None => (rest, None),
    };
    if version.is_empty() {
        return Err(VersionError::EmptyUpstream);
    }
    Ok(Parts {
        epoch,
        version,
        release,
    })
}

pub(crate) fn compare(a: &Parts<'_>, b: &Parts<'_>) -> Ordering {
    vercmp(a.epoch, b.epoch)
        .then_with(|| vercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) => vercmp(ra, rb),
            (ra, rb) => ra.is_some().cmp(&rb.is_some()),
        })
}

fn is_separator(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// rpm's `rpmvercmp` over one field.
pub(crate) fn vercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while i < a.len() && is_separator(a[i]) {
            i += 1;
        }
        while j < b.len() && is_separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        if end_b == j {
            // A numeric segment is newer than an alphabetic one.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (mut seg_a, mut seg_b) = (&a[i..end_a], &b[j..end_b]);
        if numeric {
            seg_a = strip_zeros(seg_a);
            seg_b = strip_zeros(seg_b);
            let by_length = seg_a.len().cmp(&seg_b.len());
            if by_length != Ordering::Equal {
                return by_length;
            }
        }
        let ord = seg_a.cmp(seg_b);
        if ord != Ordering::Equal {
            return ord;
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Hashes the segments `vercmp` compares: separators dropped, numbers without leading zeros.
pub(crate) fn hash(parts: &Parts<'_>, state: &mut impl Hasher) {
    hash_field(parts.epoch, state);
    hash_field(parts.version, state);
    match parts.release {
        Some(release) => hash_field(release, state),
        None => state.write_u8(0xfd),
    }
}

fn hash_field(field: &[u8], state: &mut impl Hasher) {
    let mut rest = field;
    loop {
        let separators = rest.iter().take_while(|&&c| is_separator(c)).count();
        rest = &rest[separators..];
        let Some(&first) = rest.first() else { break };
        let len = match first {
            b'~' | b'^' => 1,
            c if c.is_ascii_digit() => rest.iter().take_while(|c| c.is_ascii_digit()).count(),
            _ => rest.iter().take_while(|c| c.is_ascii_alphabetic()).count(),
        };
        let segment = &rest[..len];
        state.write_u8(0xfe);
        state.write(if first.is_ascii_digit() {
            strip_zeros(segment)
        } else {
            segment
        });
        rest = &rest[len..];
    }
    state.write_u8(0xff);
}
