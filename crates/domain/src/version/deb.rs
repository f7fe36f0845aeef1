//! Debian and Ubuntu version ordering, as dpkg does it (`lib/dpkg/version.c`).
//!
//! A version is `[epoch:]upstream[-revision]`: the revision starts after the last hyphen, the epoch ends
//! at the first colon. Each part compares by alternating non-digit and digit runs; in non-digit runs
//! `~` sorts before everything, even the end of the string, letters before other characters.

use std::cmp::Ordering;
use std::hash::Hasher;

use super::{VersionError, strip_zeros};

/// The three parts of a Debian version, borrowed from the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub(crate) epoch: u32,
    pub(crate) upstream: &'a [u8],
    pub(crate) revision: &'a [u8],
}

/// Splits and checks a version the way dpkg's `parseversion` does; dpkg's warnings (a version not
/// starting with a digit, unusual characters) are accepted, as `dpkg --compare-versions` accepts them.
pub(crate) fn parse(text: &str) -> Result<Parts<'_>, VersionError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(VersionError::Empty);
    }
    if let Some(at) = bytes.iter().position(|b| b.is_ascii_whitespace()) {
        return Err(VersionError::Whitespace { at });
    }
    let (epoch, rest) = match bytes.iter().position(|&b| b == b':') {
        Some(colon) => {
            let digits = &bytes[..colon];
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(VersionError::BadEpoch);
            }
            let epoch = digits
                .iter()
                .try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')));
            // dpkg keeps epochs in an int and refuses larger ones.
            let epoch = epoch.filter(|&e| e <= i32::MAX as u32).ok_or(VersionError::BadEpoch)?;
            (epoch, &bytes[colon + 1..])
        }
        None => (0, bytes),
    };
    if rest.is_empty() {
        return Err(VersionError::NothingAfterColon);
    }
    let (upstream, revision) = match rest.iter().rposition(|&b| b == b'-') {
        Some(hyphen) => {
            let revision = &rest[hyphen + 1..];
            if revision.is_empty() {
                return Err(VersionError::EmptyRevision);
            }
            (&rest[..hyphen], revision)
        }
        None => (rest, &b""[..]),
    };
    if upstream.is_empty() {
        return Err(VersionError::EmptyUpstream);
    }
    Ok(Parts {
        epoch,
        upstream,
        revision,
    })
}

pub(crate) fn compare(a: &Parts<'_>, b: &Parts<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| compare_part(a.upstream, b.upstream))
        .then_with(|| compare_part(a.revision, b.revision))
}

/// The weight of one byte in a non-digit run; `None` is the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn compare_part(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let is_digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(at(a, i))) || (j < b.len() && !is_digit(at(b, j))) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == Some(b'0') {
            i += 1;
        }
        while at(b, j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(at(a, i)) && is_digit(at(b, j)) {
            if first_diff == Ordering::Equal {
                first_diff = at(a, i).cmp(&at(b, j));
            }
            i += 1;
            j += 1;
        }
        if is_digit(at(a, i)) {
            return Ordering::Greater;
        }
        if is_digit(at(b, j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Feeds the hasher exactly what `compare` looks at, so that equal versions hash alike:
/// digit runs without leading zeros, and a part made only of zeros the same as an absent one.
pub(crate) fn hash(parts: &Parts<'_>, state: &mut impl Hasher) {
    state.write_u32(parts.epoch);
    hash_part(parts.upstream, state);
    hash_part(parts.revision, state);
}

fn hash_part(part: &[u8], state: &mut impl Hasher) {
    if part.iter().all(|&b| b == b'0') {
        state.write_u8(0xff);
        return;
    }
    let mut rest = part;
    while !rest.is_empty() {
        let non_digits = rest.iter().take_while(|b| !b.is_ascii_digit()).count();
        state.write(&rest[..non_digits]);
        rest = &rest[non_digits..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let significant = strip_zeros(&rest[..digits]);
        state.write_u8(0xfe);
        state.write(significant);
        state.write_u8(0xfe);
        rest = &rest[digits..];
    }
    state.write_u8(0xff);
}
