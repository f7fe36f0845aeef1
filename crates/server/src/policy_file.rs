//! The policy file (TOML): every value optional, the policy document's numbers as defaults, unknown
//! keys refused. A file that cannot be used is refused with its line and the reason, and the
//! server does not start on it.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use patchwarden_domain::advisory::Severity;
use patchwarden_domain::calendar::Holidays;
use patchwarden_domain::policy::{Impact, MonthlyCycle, Policy, PolicyError, Window};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}:{line}: {reason}")]
    Invalid { path: String, line: usize, reason: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sla: SlaFile,
    #[serde(default)]
    calendar: CalendarFile,
    #[serde(default)]
    matrix: MatrixFile,
    #[serde(default)]
    audit: AuditFile,
    #[serde(default)]
    exceptions: ExceptionsFile,
    #[serde(default)]
    findings: FindingsFile,
    #[serde(default)]
    suggestion: SuggestionFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaFile {
    emergency_hours: Option<u32>,
    critical_business_days: Option<u32>,
    monthly_cycle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    time_zone: Option<String>,
    holidays: Option<String>,
    extra_closure_days: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    critical: Option<[u32; 5]>,
    important: Option<[u32; 5]>,
    moderate: Option<[u32; 5]>,
    low: Option<[u32; 5]>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFile {
    post_patch_scan_days: Option<u32>,
    network_scan_days: Option<u32>,
    retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsFile {
    max_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsFile {
    due_soon_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuggestionFile {
    kev_is_emergency: Option<bool>,
    emergency_epss: Option<f64>,
    critical_severity: Option<String>,
    critical_fleet_share: Option<f64>,
}

fn parse_cycle(text: &str) -> Option<MonthlyCycle> {
    let mut words = text.split_whitespace();
    let nth = match words.next()?.to_ascii_lowercase().as_str() {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "last" => -1,
        _ => return None,
    };
    let weekday = match words.next()?.to_ascii_lowercase().as_str() {
        "monday" => jiff::civil::Weekday::Monday,
        "tuesday" => jiff::civil::Weekday::Tuesday,
        "wednesday" => jiff::civil::Weekday::Wednesday,
        "thursday" => jiff::civil::Weekday::Thursday,
        "friday" => jiff::civil::Weekday::Friday,
        "saturday" => jiff::civil::Weekday::Saturday,
        "sunday" => jiff::civil::Weekday::Sunday,
        _ => return None,
    };
    words.next().is_none().then_some(MonthlyCycle { nth, weekday })
}

/// The line of `section.key` in the file's text, for errors; 1 if it cannot be found.
fn line_of(text: &str, field: &str) -> usize {
    let (section, key) = field.split_once('.').unwrap_or(("", field));
    let key = key.split('.').next().unwrap_or(key).to_ascii_lowercase();
    let mut in_section = section.is_empty();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed.trim_matches(|c| c == '[' || c == ']').trim() == section;
        } else if in_section
            && trimmed
                .split('=')
                .next()
                .is_some_and(|k| k.trim().to_ascii_lowercase() == key)
        {
            return index + 1;
        }
    }
    text.lines()
        .position(|l| l.trim() == format!("[{section}]"))
        .map_or(1, |i| i + 1)
}

/// Reads a policy from TOML text; `path` names it in errors.
pub fn parse(path: &str, text: &str) -> Result<Policy, PolicyFileError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        PolicyFileError::Syntax {
            path: path.to_owned(),
            message: format!("line {line}: {}", e.message()),
        }
    })?;
    let invalid = |field: &str, reason: String| PolicyFileError::Invalid {
        path: path.to_owned(),
        line: line_of(text, field),
        reason,
    };
    let mut policy = Policy::default();
    if let Some(v) = file.sla.emergency_hours {
        policy.sla.emergency_hours = v;
    }
    if let Some(v) = file.sla.critical_business_days {
        policy.sla.critical_business_days = v;
    }
    if let Some(v) = &file.sla.monthly_cycle {
        policy.sla.monthly_cycle = parse_cycle(v).ok_or_else(|| {
            invalid(
                "sla.monthly_cycle",
                format!("sla.monthly_cycle {v:?} is not like \"second Tuesday\" or \"last Friday\""),
            )
        })?;
    }
    if let Some(v) = file.calendar.time_zone {
        policy.time_zone = v;
    }
    if let Some(v) = &file.calendar.holidays {
        policy.holidays = match v.as_str() {
            "england-and-wales" => Holidays::EnglandAndWales,
            "none" => Holidays::None,
            other => {
                return Err(invalid(
                    "calendar.holidays",
                    format!("calendar.holidays {other:?} is not \"england-and-wales\" or \"none\""),
                ));
            }
        };
    }
    if let Some(days) = &file.calendar.extra_closure_days {
        let mut closures = BTreeSet::new();
        for day in days {
            let parsed = day.parse::<jiff::civil::Date>().map_err(|_| {
                invalid(
                    "calendar.extra_closure_days",
                    format!("calendar.extra_closure_days: {day:?} is not a date (YYYY-MM-DD)"),
                )
            })?;
            closures.insert(parsed);
        }
        policy.extra_closures = closures;
    }
    for (severity, row) in [
        (Severity::Critical, file.matrix.critical),
        (Severity::Important, file.matrix.important),
        (Severity::Moderate, file.matrix.moderate),
        (Severity::Low, file.matrix.low),
    ] {
        if let Some(row) = row {
            for (impact, business_days) in Impact::ALL.into_iter().zip(row) {
                *policy.matrix.window_mut(severity, impact) = Window::of_business_days(business_days);
            }
        }
    }
    if let Some(v) = file.audit.post_patch_scan_days {
        policy.post_patch_audit_days = v;
    }
    if let Some(v) = file.audit.network_scan_days {
        policy.audit_scan_days = v;
    }
    if let Some(v) = file.audit.retention_days {
        policy.retention_days = v;
    }
    if let Some(v) = file.exceptions.max_days {
        policy.exception_max_days = v;
    }
    if let Some(v) = file.findings.due_soon_hours {
        policy.due_soon_hours = v;
    }
    if let Some(v) = file.suggestion.kev_is_emergency {
        policy.suggestion.kev_is_emergency = v;
    }
    if let Some(v) = file.suggestion.emergency_epss {
        policy.suggestion.emergency_epss = v;
    }
    if let Some(v) = &file.suggestion.critical_severity {
        policy.suggestion.critical_severity = Severity::from_vendor(v).ok_or_else(|| {
            invalid(
                "suggestion.critical_severity",
                format!("suggestion.critical_severity {v:?} is not Critical, Important, Moderate or Low"),
            )
        })?;
    }
    if let Some(v) = file.suggestion.critical_fleet_share {
        policy.suggestion.critical_fleet_share = v;
    }
    policy.validate().map_err(|e| match e {
        PolicyError::Invalid { field, reason } => invalid(&field, format!("{field}: {reason}")),
        other => invalid("calendar.time_zone", other.to_string()),
    })?;
    Ok(policy)
}

/// Reads and checks a policy file.
pub fn load(path: &Path) -> Result<Policy, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// The effective policy as a commented TOML file: every value with the clause it comes from.
/// `policy show` prints it; it reads back as the same policy.
pub fn show(policy: &Policy) -> String {
    let mut out = String::new();
    let holidays = match policy.holidays {
        Holidays::EnglandAndWales => "england-and-wales",
        Holidays::None => "none",
    };
    let nth = match policy.sla.monthly_cycle.nth {
        1 => "first",
        2 => "second",
        3 => "third",
        4 => "fourth",
        _ => "last",
    };
    let closures: Vec<String> = policy.extra_closures.iter().map(|d| format!("\"{d}\"")).collect();
    let _ = writeln!(
        out,
        "# patchwarden patch management policy: the effective values, each with its clause.\n"
    );
    let _ = writeln!(out, "[sla]");
    let _ = writeln!(
        out,
        "emergency_hours = {}  # §12.3: Emergency patches within eight hours of availability",
        policy.sla.emergency_hours
    );
    let _ = writeln!(
        out,
        "critical_business_days = {}  # §12.1: Critical security patches within three business days of vendor release",
        policy.sla.critical_business_days
    );
    let _ = writeln!(
        out,
        "monthly_cycle = \"{nth} {:?}\"  # §12.2, §11.2: Not Critical patches monthly, in scheduled preventive maintenance",
        policy.sla.monthly_cycle.weekday
    );
    let _ = writeln!(out, "\n[calendar]  # §12.1 business days");
    let _ = writeln!(out, "time_zone = \"{}\"", policy.time_zone);
    let _ = writeln!(
        out,
        "holidays = \"{holidays}\"  # England and Wales bank holidays with substitute days"
    );
    let _ = writeln!(out, "extra_closure_days = [{}]", closures.join(", "));
    let _ = writeln!(
        out,
        "\n[matrix]  # Appendix B: business days by vendor severity; columns > 70%, 50-69%, 30-49%, 11-29%, < 10% of PCs affected"
    );
    for (name, severity) in [
        ("critical", Severity::Critical),
        ("important", Severity::Important),
        ("moderate", Severity::Moderate),
        ("low", Severity::Low),
    ] {
        let row: Vec<String> = Impact::ALL
            .iter()
            .map(|i| policy.matrix.window(severity, *i).business_days.to_string())
            .collect();
        let labels: Vec<&str> = Impact::ALL
            .iter()
            .map(|i| policy.matrix.window(severity, *i).label.as_str())
            .collect();
        let _ = writeln!(out, "{name} = [{}]  # {}", row.join(", "), labels.join(" | "));
    }
    let _ = writeln!(out, "\n[audit]");
    let _ = writeln!(
        out,
        "post_patch_scan_days = {}  # §13.1: post-patch audit scans within one week of a critical release",
        policy.post_patch_audit_days
    );
    let _ = writeln!(
        out,
        "network_scan_days = {}  # §13.3: network-wide audit scans at least monthly",
        policy.audit_scan_days
    );
    let _ = writeln!(
        out,
        "retention_days = {}  # §13.2: audit reports kept at least one year",
        policy.retention_days
    );
    let _ = writeln!(out, "\n[exceptions]");
    let _ = writeln!(
        out,
        "max_days = {}  # §6.2, §7.7: exceptions are interim; non-compliance past 90 days needs a formal exception",
        policy.exception_max_days
    );
    let _ = writeln!(out, "\n[findings]");
    let _ = writeln!(
        out,
        "due_soon_hours = {}  # a finding is due soon this long before its deadline",
        policy.due_soon_hours
    );
    let _ = writeln!(
        out,
        "\n[suggestion]  # §9: suggested categories, confirmed or overridden by Security (ISWG)"
    );
    let _ = writeln!(
        out,
        "kev_is_emergency = {}  # §9.1.1: a known exploited vulnerability is an imminent threat",
        policy.suggestion.kev_is_emergency
    );
    let _ = writeln!(out, "emergency_epss = {}", policy.suggestion.emergency_epss);
    let _ = writeln!(
        out,
        "critical_severity = \"{}\"  # §9.1.2: targets a security vulnerability",
        policy.suggestion.critical_severity.name()
    );
    let _ = writeln!(out, "critical_fleet_share = {}", policy.suggestion.critical_fleet_share);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_defaults_read_back_as_the_defaults() {
        let shown = show(&Policy::default());
        assert_eq!(parse("shown.toml", &shown).unwrap(), Policy::default());
        assert!(shown.contains("critical_business_days = 3  # §12.1"));
    }

    #[test]
    fn overrides_apply_and_mistakes_are_located() {
        let text = "[sla]\ncritical_business_days = 2\nmonthly_cycle = \"last friday\"\n\n[calendar]\nextra_closure_days = [\"2026-12-29\"]\n\n[matrix]\nlow = [5, 5, 10, 10, 20]\n";
        let policy = parse("p.toml", text).unwrap();
        assert_eq!(policy.sla.critical_business_days, 2);
        assert_eq!(policy.sla.monthly_cycle.nth, -1);
        assert_eq!(policy.matrix.window(Severity::Low, Impact::Under10).business_days, 20);
        assert_eq!(policy.extra_closures.len(), 1);

        let short = "[audit]\n# a year is too long, said nobody\nretention_days = 200\n";
        let err = parse("p.toml", short).unwrap_err().to_string();
        assert_eq!(
            err,
            "p.toml:3: audit.retention_days: 200 is less than a year; §13.2 requires at least 365"
        );
        let unknown = "[sla]\nemergency_hours = 8\ncritical_days = 3\n";
        let err = parse("p.toml", unknown).unwrap_err().to_string();
        assert!(
            err.starts_with("p.toml: line 3: unknown field `critical_days`"),
            "{err}"
        );
        let typed = "[sla]\nemergency_hours = \"eight\"\n";
        assert!(
            parse("p.toml", typed)
                .unwrap_err()
                .to_string()
                .starts_with("p.toml: line 2:")
        );
        let cycle = "[sla]\n\nmonthly_cycle = \"every other tuesday\"\n";
        assert!(parse("p.toml", cycle).unwrap_err().to_string().starts_with("p.toml:3:"));
        let zone = "[calendar]\ntime_zone = \"Mars/Olympus\"\n";
        assert_eq!(
            parse("p.toml", zone).unwrap_err().to_string(),
            "p.toml:2: unknown time zone \"Mars/Olympus\""
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse("p.toml", &text);
        }
    }
}
