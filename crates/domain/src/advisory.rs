//! Advisories: what a vendor says is vulnerable and which version fixes it (§8.1, §8.4).
//!
//! Feeds of every kind (OSV, Debian archive indexes) are normalised into these types; the matcher
//! reads nothing else.

use crate::ecosystem::Ecosystem;
use crate::version::Version;

/// Vendor severity in the words of Appendix B; other vendors' words map onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Moderate,
    Important,
    Critical,
}

impl Severity {
    /// Reads a vendor's word: Red Hat/AlmaLinux (`Important`), Ubuntu (`high`, `medium`,
    /// `negligible`), CVSS qualitative ratings (`HIGH`).
    pub fn from_vendor(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "important" | "high" => Some(Severity::Important),
            "moderate" | "medium" => Some(Severity::Moderate),
            "low" | "negligible" => Some(Severity::Low),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Moderate => "Moderate",
            Severity::Important => "Important",
            Severity::Critical => "Critical",
        }
    }
}

/// Which package names an advisory speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// Source packages (Debian and Ubuntu security notices, Alpine origins).
    Source,
    /// Binary packages as installed (RHEL-family errata, Debian archive indexes).
    Binary,
}

/// The upper end of an affected range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeEnd {
    /// Versions from this one on are fixed.
    Fixed(Version),
    /// This version is the last affected one; no fix is named.
    LastAffected(Version),
    /// Everything from `introduced` on is affected.
    Open,
}

/// A half-open range of affected versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// `None` is OSV's `"0"`: every version before the end.
    pub introduced: Option<Version>,
    pub end: RangeEnd,
}

/// One OSV range event, as read from a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Introduced(Option<Version>),
    Fixed(Version),
    LastAffected(Version),
}

impl Range {
    /// Turns one OSV range's events into ranges, in version order as the OSV schema says to
    /// evaluate them (an `introduced` opens, the next `fixed` or `last_affected` closes).
    pub fn from_events(mut events: Vec<Event>) -> Vec<Range> {
        fn key(event: &Event) -> (Option<&Version>, u8) {
            match event {
                Event::Introduced(v) => (v.as_ref(), 1),
                Event::Fixed(v) => (Some(v), 0),
                Event::LastAffected(v) => (Some(v), 2),
            }
        }
        events.sort_by(|a, b| key(a).cmp(&key(b)));
        let mut ranges = Vec::new();
        let mut open: Option<Option<Version>> = None;
        for event in events {
            match event {
                Event::Introduced(v) => {
                    if open.is_none() {
                        open = Some(v);
                    }
                }
                Event::Fixed(v) => {
                    if let Some(introduced) = open.take() {
                        ranges.push(Range {
                            introduced,
                            end: RangeEnd::Fixed(v),
                        });
                    }
                }
                Event::LastAffected(v) => {
                    if let Some(introduced) = open.take() {
                        ranges.push(Range {
                            introduced,
                            end: RangeEnd::LastAffected(v),
                        });
                    }
                }
            }
        }
        if let Some(introduced) = open {
            ranges.push(Range {
                introduced,
                end: RangeEnd::Open,
            });
        }
        ranges
    }
}

/// One package an advisory affects in one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    pub ecosystem: Ecosystem,
    pub package: String,
    pub names: NameKind,
    pub ranges: Vec<Range>,
    /// Versions listed one by one as affected (OSV `versions`).
    pub versions: Vec<Version>,
    /// The fix was built for an RPM module stream (its release says `.module_`); such an entry only
    /// applies to packages installed from a module, and the others only to packages that were not.
    pub module_build: bool,
}

/// A vendor advisory (or, for an archive index, the index itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    pub id: String,
    pub summary: String,
    /// RFC 3339 text as the feed gives it; of two records with one id the later one wins.
    pub modified: Option<String>,
    pub published: Option<String>,
    pub cves: Vec<String>,
    pub severity: Option<Severity>,
    /// RPM module streams the advisory names (`nodejs:12`); empty when it names none.
    pub modules: Vec<String>,
    pub affected: Vec<Affected>,
}
