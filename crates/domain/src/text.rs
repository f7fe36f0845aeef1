//! Outside text: checked UTF-8 with a position for the first bad byte, and the deb822 stanza
//! format shared by dpkg's status file, Debian archive indexes and apk's installed database.

/// Where in a text a problem is: 1-based line and column (in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The position of byte `offset` in `bytes`.
pub fn position(bytes: &[u8], offset: usize) -> Position {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    Position { line, column }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: not valid UTF-8")]
pub struct NotUtf8 {
    pub at: Position,
}

/// Checks that outside bytes are UTF-8, naming where they are not.
pub fn decode(bytes: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(bytes).map_err(|e| NotUtf8 {
        at: position(bytes, e.valid_up_to()),
    })
}

/// One paragraph of `Key: value` fields; `line` is where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub line: usize,
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Stanza<'a> {
    /// The first value of a field, compared case-insensitively as deb822 says; continuation lines of
    /// multi-line fields are not kept, nothing patchwarden reads needs them.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected `Field: value`, a continuation line or a blank line, found {found:?}")]
pub struct StanzaError {
    pub line: usize,
    pub found: String,
}

/// Splits deb822 text into stanzas. A line that is neither a field, a continuation nor blank is
/// an error naming its line, so a truncated or corrupted file is never half-read silently.
pub fn stanzas(text: &str) -> Result<Vec<Stanza<'_>>, StanzaError> {
    let mut out = Vec::new();
    let mut current: Option<Stanza<'_>> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            out.extend(current.take());
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if current.is_some() {
                continue;
            }
            return Err(StanzaError {
                line: number,
                found: truncate(line),
            });
        }
        let Some((key, value)) = line.split_once(':').filter(|(k, _)| is_field_name(k)) else {
            return Err(StanzaError {
                line: number,
                found: truncate(line),
            });
        };
        current
            .get_or_insert_with(|| Stanza {
                line: number,
                fields: Vec::new(),
            })
            .fields
            .push((key, value.trim()));
    }
    out.extend(current);
    Ok(out)
}

fn is_field_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b':') && !key.starts_with('#')
}

fn truncate(line: &str) -> String {
    line.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_is_located() {
        let err = decode(b"Package: a\nVersion: 1\xff\n").unwrap_err();
        assert_eq!(err.at, Position { line: 2, column: 11 });
    }

    #[test]
    fn stanzas_keep_their_first_line() {
        let s = stanzas("A: 1\nB: two\n words\n\n\nA: 3\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].line, s[0].get("b")), (1, Some("two")));
        assert_eq!((s[1].line, s[1].get("A")), (6, Some("3")));
        assert_eq!(stanzas("A: 1\ngarbage\n").unwrap_err().line, 2);
    }

    proptest::proptest! {
        #[test]
        fn stanza_reader_never_panics(text in "\\PC{0,200}") {
            let _ = stanzas(&text);
        }

        #[test]
        fn decode_agrees_with_std(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(decode(&bytes).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }
    }
}
