//! Alpine (apk) version ordering.
//!
//! The format is `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}` (apk-package(5)).
//! Suffixes sort `alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p`. Text that does not
//! fit the format makes the version invalid; two invalid versions compare as plain strings, as
//! apk 2.x does. The golden files in `shared/data/versions/alpine-*` pin every rule here.

use std::cmp::Ordering;
use std::hash::Hasher;

use super::strip_zeros;

/// Suffix names in sort order; a version with no suffix sorts between `rc` and `cvs`.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
/// Where "no suffix" sits in that order, as a weight.
const NO_SUFFIX_WEIGHT: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    original: &'a [u8],
    components: Vec<&'a [u8]>,
    letter: Option<u8>,
    suffixes: Vec<(u8, &'a [u8])>,
    build: &'a [u8],
    remainder_empty: bool,
    invalid: bool,
}

pub(crate) fn parse(text: &str) -> Parts<'_> {
    let original = text.as_bytes();
    let mut rest = original;

    // Numbers: digits, each optionally followed by one dot.
    let mut components = Vec::new();
    loop {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            break;
        }
        components.push(&rest[..digits]);
        rest = &rest[digits..];
        match rest.first() {
            Some(b'.') => {
                rest = &rest[1..];
                if !rest.first().is_some_and(u8::is_ascii_digit) {
                    // A trailing dot leaves an empty component, which counts as zero.
                    components.push(&rest[..0]);
                    break;
                }
            }
            _ => break,
        }
    }

    let letter = rest.first().copied().filter(u8::is_ascii_lowercase);
    if letter.is_some() {
        rest = &rest[1..];
    }

    // Suffixes are found anywhere in what is left but only consumed while they lead it, as the
    // reference implementation the golden files come from does.
    let found = find_suffixes(rest);
    let mut suffixes = Vec::with_capacity(found.len());
    for (weight, number, matched) in found {
        suffixes.push((weight, number));
        if rest.starts_with(matched) {
            rest = &rest[matched.len()..];
        }
    }

    if rest.first() == Some(&b'~') {
        let hex = rest[1..]
            .iter()
            .take_while(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            .count();
        if hex > 0 {
            rest = &rest[1 + hex..];
        }
    }

    let mut build = &rest[..0];
    let mut invalid = false;
    if !rest.is_empty() {
        if rest.starts_with(b"-r") {
            let digits = rest[2..].iter().take_while(|b| b.is_ascii_digit()).count();
            build = &rest[2..2 + digits];
            rest = &rest[2 + digits..];
        } else {
            invalid = true;
        }
    }

    Parts {
        original,
        components,
        letter,
        suffixes,
        build,
        remainder_empty: rest.is_empty(),
        invalid,
    }
}

/// Non-overlapping `_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*` matches, left to right:
/// (weight, number, the whole match).
fn find_suffixes(text: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        if text[at] == b'_'
            && let Some((index, name)) = SUFFIXES
                .iter()
                .enumerate()
                .find(|(_, name)| text[at + 1..].starts_with(name.as_bytes()))
        {
            let start = at + 1 + name.len();
            let digits = text[start..].iter().take_while(|b| b.is_ascii_digit()).count();
            let weight = u8::try_from(index).unwrap_or(u8::MAX);
            // "No suffix" takes weight 4 and shares 5 with `cvs`, as in the reference ordering.
            let weight = if weight >= 4 { weight + 1 } else { weight };
            found.push((weight, &text[start..start + digits], &text[at..start + digits]));
            at = start + digits;
            continue;
        }
        at += 1;
    }
    found
}

fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (strip_zeros(a), strip_zeros(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

pub(crate) fn compare(a: &Parts<'_>, b: &Parts<'_>) -> Ordering {
    if a.invalid && b.invalid {
        return a.original.cmp(b.original);
    }
    let components = a.components.len().max(b.components.len());
    for i in 0..components {
        let (ca, cb) = (a.components.get(i), b.components.get(i));
        let ord = match (ca, cb) {
            // After the first number, a leading zero makes the number a fraction: compare as text.
            (Some(ca), Some(cb)) if i > 0 && (ca.first() == Some(&b'0') || cb.first() == Some(&b'0')) => ca.cmp(cb),
            _ => compare_numbers(ca.copied().unwrap_or(b"0"), cb.copied().unwrap_or(b"0")),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    let ord = a.letter.cmp(&b.letter);
    if ord != Ordering::Equal {
        return ord;
    }
    let suffixes = a.suffixes.len().max(b.suffixes.len());
    let none = (NO_SUFFIX_WEIGHT, &b"0"[..]);
    for i in 0..suffixes {
        let (wa, na) = a.suffixes.get(i).copied().unwrap_or(none);
        let (wb, nb) = b.suffixes.get(i).copied().unwrap_or(none);
        let ord = wa.cmp(&wb).then_with(|| compare_numbers(na, nb));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    compare_numbers(a.build, b.build).then_with(|| a.remainder_empty.cmp(&b.remainder_empty))
}

/// Hashes what every equality `compare` can find looks at, numerically, so that versions it calls
/// equal always hash alike (apk's equality is not transitive, so this is deliberately coarse).
pub(crate) fn hash(parts: &Parts<'_>, state: &mut impl Hasher) {
    let is_zero = |n: &&[u8]| strip_zeros(n).is_empty();
    let components = parts.components.iter().rposition(|c| !is_zero(c)).map_or(0, |p| p + 1);
    for c in &parts.components[..components] {
        state.write_u8(0xfe);
        state.write(strip_zeros(c));
    }
    state.write_u8(0xff);
    state.write_u8(parts.letter.unwrap_or(0));
    let suffixes = parts
        .suffixes
        .iter()
        .rposition(|(w, n)| *w != NO_SUFFIX_WEIGHT || !is_zero(n))
        .map_or(0, |p| p + 1);
    for (weight, number) in &parts.suffixes[..suffixes] {
        state.write_u8(*weight);
        state.write(strip_zeros(number));
    }
    state.write_u8(0xff);
    state.write(strip_zeros(parts.build));
    state.write_u8(u8::from(parts.remainder_empty));
}
