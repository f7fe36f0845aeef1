//! The organisation's patch policy as data: SLA windows (§12), the business calendar, the
//! deployment matrix (Appendix B), audit and exception limits (§7.7, §13), with the London
//! Ambulance Service policy's numbers as defaults. Changing the policy is editing its file, never
//! the code; this module holds the values and the rules that use them.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};

use crate::advisory::Severity;
use crate::calendar::{BusinessCalendar, CalendarError, Holidays};

/// §9.1: how urgent a patch is for one platform class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    NotApplicable,
    NotCritical,
    Critical,
    Emergency,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Emergency,
        Category::Critical,
        Category::NotCritical,
        Category::NotApplicable,
    ];

    /// The category with this name, exactly as [`Category::name`] writes it.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::Emergency => "Emergency",
            Category::Critical => "Critical",
            Category::NotCritical => "Not Critical",
            Category::NotApplicable => "Not applicable",
        }
    }
}

/// A day in each month: the monthly maintenance cycle (§12.2, §11.2 "regularly scheduled
/// preventive maintenance").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthlyCycle {
    /// 1 to 4, or -1 for the last.
    pub nth: i8,
    pub weekday: Weekday,
}

impl MonthlyCycle {
    /// The cycle day of a month.
    pub fn in_month(&self, year: i16, month: i8) -> Option<Date> {
        jiff::civil::date(year, month, 1)
            .nth_weekday_of_month(self.nth, self.weekday)
            .ok()
    }

    /// The first cycle day strictly after `day`.
    pub fn next_after(&self, day: Date) -> Option<Date> {
        let mut month = day.first_of_month();
        for _ in 0..3 {
            if let Some(cycle) = self.in_month(month.year(), month.month())
                && cycle > day
            {
                return Some(cycle);
            }
            month = month.checked_add(1.month()).ok()?;
        }
        None
    }
}

impl fmt::Display for MonthlyCycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nth = match self.nth {
            1 => "first",
            2 => "second",
            3 => "third",
            4 => "fourth",
            _ => "last",
        };
        write!(f, "{nth} {:?} of each month", self.weekday)
    }
}

/// §12: how long each category may wait, from the vendor's release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    /// §12.3: Emergency within eight hours (clock hours: an imminent threat does not wait for Monday).
    pub emergency_hours: u32,
    /// §12.1: Critical within three business days.
    pub critical_business_days: u32,
    /// §12.2: Not Critical by the next monthly maintenance cycle.
    pub monthly_cycle: MonthlyCycle,
}

/// Appendix B's columns: the share of PCs or devices a patch affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impact {
    /// 70% or more (the form's "> 70%").
    From70,
    /// 50% to under 70%.
    From50,
    /// 30% to under 50%.
    From30,
    /// 10% to under 30% (the form's "11 - 29%").
    From10,
    /// Under 10%.
    Under10,
}

impl Impact {
    pub const ALL: [Impact; 5] = [
        Impact::From70,
        Impact::From50,
        Impact::From30,
        Impact::From10,
        Impact::Under10,
    ];

    /// The column for a share of the fleet, from 0.0 to 1.0. The published bands leave gaps (69–70%,
    /// 10–11%); each gap belongs to the band below its upper edge.
    pub fn of_share(share: f64) -> Impact {
        match share {
            s if s >= 0.70 => Impact::From70,
            s if s >= 0.50 => Impact::From50,
            s if s >= 0.30 => Impact::From30,
            s if s >= 0.10 => Impact::From10,
            _ => Impact::Under10,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Impact::From70 => "> 70%",
            Impact::From50 => "50% - 69%",
            Impact::From30 => "30% - 49%",
            Impact::From10 => "11 - 29%",
            Impact::Under10 => "< 10%",
        }
    }

    fn index(self) -> usize {
        match self {
            Impact::From70 => 0,
            Impact::From50 => 1,
            Impact::From30 => 2,
            Impact::From10 => 3,
            Impact::Under10 => 4,
        }
    }
}

/// One cell of the matrix: a deployment window in business days, with the form's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub label: String,
    pub business_days: u32,
}

impl Window {
    /// A window of `business_days`, named in the form's words where it has them.
    pub fn of_business_days(business_days: u32) -> Window {
        let label = match business_days {
            3 => "2 - 3 days".to_owned(),
            10 => "1 - 2 weeks".to_owned(),
            15 => "2 - 3 weeks".to_owned(),
            n => format!("{n} business days"),
        };
        Window { label, business_days }
    }
}

/// Appendix B: vendor severity × share of PCs affected → deployment window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Rows Critical, Important, Moderate, Low; columns as [`Impact::ALL`].
    pub cells: [[Window; 5]; 4],
}

fn row(severity: Severity) -> usize {
    match severity {
        Severity::Critical => 0,
        Severity::Important => 1,
        Severity::Moderate => 2,
        Severity::Low => 3,
    }
}

impl Matrix {
    pub fn window(&self, severity: Severity, impact: Impact) -> &Window {
        &self.cells[row(severity)][impact.index()]
    }

    pub fn window_mut(&mut self, severity: Severity, impact: Impact) -> &mut Window {
        &mut self.cells[row(severity)][impact.index()]
    }
}

impl Default for Matrix {
    /// The published form lost its colours, so these cells are our reading of it: the more severe
    /// and the more widespread, the shorter the window; 2–3 days is held to its upper end (3
    /// business days), 1–2 weeks to 10 business days, 2–3 weeks to 15. Every cell is editable.
    fn default() -> Matrix {
        let table: [[u32; 5]; 4] = [[3, 3, 3, 10, 10], [3, 10, 10, 10, 15], [10, 10, 15, 15, 15], [15; 5]];
        Matrix {
            cells: table.map(|row| row.map(Window::of_business_days)),
        }
    }
}

/// When a patch is suggested as Emergency or Critical (§9; Security confirms or overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// A CVE in CISA's Known Exploited Vulnerabilities catalog makes a patch Emergency.
    pub kev_is_emergency: bool,
    /// An EPSS probability at or above this makes a security patch Emergency.
    pub emergency_epss: f64,
    /// A vendor severity at or above this makes a security patch Critical.
    pub critical_severity: Severity,
    /// A share of the fleet at or above this makes a security patch Critical whatever its severity.
    pub critical_fleet_share: f64,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub sla: Sla,
    pub time_zone: String,
    pub holidays: Holidays,
    pub extra_closures: BTreeSet<Date>,
    pub matrix: Matrix,
    /// §13.1: post-patch audit scan within a week of a critical release.
    pub post_patch_audit_days: u32,
    /// §13.3: network-wide audit scans at least monthly.
    pub audit_scan_days: u32,
    /// §13.2: audit reports kept at least a year.
    pub retention_days: u32,
    /// §6.2, §7.7: exceptions are interim; a formal exception covers at most this long.
    pub exception_max_days: u32,
    /// A finding is "due soon" this many hours before its deadline.
    pub due_soon_hours: u32,
    pub suggestion: Suggestion,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            sla: Sla {
                emergency_hours: 8,
                critical_business_days: 3,
                monthly_cycle: MonthlyCycle {
                    nth: 2,
                    weekday: Weekday::Tuesday,
                },
            },
            time_zone: "Europe/London".to_owned(),
            holidays: Holidays::EnglandAndWales,
            extra_closures: BTreeSet::new(),
            matrix: Matrix::default(),
            post_patch_audit_days: 7,
            audit_scan_days: 31,
            retention_days: 365,
            exception_max_days: 90,
            due_soon_hours: 24,
            suggestion: Suggestion {
                kev_is_emergency: true,
                emergency_epss: 0.5,
                critical_severity: Severity::Important,
                critical_fleet_share: 0.7,
            },
        }
    }
}

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    Calendar(#[from] CalendarError),
}

fn invalid(field: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl Policy {
    /// Checks the values against what the policy document requires of them.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.sla.emergency_hours == 0 || self.sla.emergency_hours > 72 {
            return Err(invalid(
                "sla.emergency_hours",
                "must be from 1 to 72 hours (§12.3 says 8)",
            ));
        }
        if self.sla.critical_business_days == 0 || self.sla.critical_business_days > 30 {
            return Err(invalid(
                "sla.critical_business_days",
                "must be from 1 to 30 (§12.1 says 3)",
            ));
        }
        if !(1..=4).contains(&self.sla.monthly_cycle.nth) && self.sla.monthly_cycle.nth != -1 {
            return Err(invalid(
                "sla.monthly_cycle",
                "must be the first, second, third, fourth or last weekday of the month",
            ));
        }
        if self.retention_days < 365 {
            return Err(invalid(
                "audit.retention_days",
                format!(
                    "{} is less than a year; §13.2 requires at least 365",
                    self.retention_days
                ),
            ));
        }
        if self.post_patch_audit_days == 0 || self.post_patch_audit_days > 7 {
            return Err(invalid(
                "audit.post_patch_scan_days",
                "must be from 1 to 7 (§13.1: within one week)",
            ));
        }
        if self.audit_scan_days == 0 || self.audit_scan_days > 31 {
            return Err(invalid(
                "audit.network_scan_days",
                "must be from 1 to 31 (§13.3: at least monthly)",
            ));
        }
        if self.exception_max_days == 0 || self.exception_max_days > 365 {
            return Err(invalid(
                "exceptions.max_days",
                "must be from 1 to 365: exceptions are interim (§7.7)",
            ));
        }
        for severity in [
            Severity::Critical,
            Severity::Important,
            Severity::Moderate,
            Severity::Low,
        ] {
            for impact in Impact::ALL {
                let window = self.matrix.window(severity, impact);
                if window.business_days == 0 {
                    return Err(invalid(
                        &format!("matrix.{}.{}", severity.name(), impact.label()),
                        "a window must be at least one business day",
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.suggestion.emergency_epss)
            || !(0.0..=1.0).contains(&self.suggestion.critical_fleet_share)
        {
            return Err(invalid("suggestion", "EPSS and fleet shares are fractions from 0 to 1"));
        }
        self.calendar().map(drop)
    }

    pub fn calendar(&self) -> Result<BusinessCalendar, PolicyError> {
        Ok(BusinessCalendar::new(
            &self.time_zone,
            self.holidays,
            self.extra_closures.clone(),
        )?)
    }
}

/// Which rule set a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Sla(Category),
    Matrix { severity: Severity, impact: Impact },
}

/// When a missing patch must be deployed by, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub due: Timestamp,
    pub rule: Rule,
    pub reason: String,
}

/// The deadline of one (host, patch) finding: the SLA of its category and the matrix cell of its
/// severity and fleet share, both from the vendor's release; the stricter (earlier) wins and says
/// why. `None` for a patch that is not applicable.
pub fn deadline(
    policy: &Policy,
    calendar: &BusinessCalendar,
    category: Category,
    severity: Option<Severity>,
    fleet_share: f64,
    released: Timestamp,
) -> Option<Deadline> {
    let sla = match category {
        Category::NotApplicable => return None,
        Category::Emergency => Deadline {
            due: released
                .checked_add(i64::from(policy.sla.emergency_hours).hours())
                .unwrap_or(released),
            rule: Rule::Sla(category),
            reason: format!(
                "§12.3 Emergency: within {} hours of the vendor's release",
                policy.sla.emergency_hours
            ),
        },
        Category::Critical => Deadline {
            due: calendar.add_business_days(released, policy.sla.critical_business_days),
            rule: Rule::Sla(category),
            reason: format!(
                "§12.1 Critical: within {} business days of the vendor's release",
                policy.sla.critical_business_days
            ),
        },
        Category::NotCritical => {
            let release_day = calendar.date_of(released);
            let cycle = policy.sla.monthly_cycle.next_after(release_day).unwrap_or(release_day);
            Deadline {
                due: calendar.start_of(cycle.tomorrow().unwrap_or(cycle)),
                rule: Rule::Sla(category),
                reason: format!(
                    "§12.2 Not Critical: by the monthly maintenance cycle on {cycle} ({})",
                    policy.sla.monthly_cycle
                ),
            }
        }
    };
    let Some(severity) = severity else {
        return Some(sla);
    };
    let impact = Impact::of_share(fleet_share);
    let window = policy.matrix.window(severity, impact);
    let matrix = Deadline {
        due: calendar.add_business_days(released, window.business_days),
        rule: Rule::Matrix { severity, impact },
        reason: format!(
            "Appendix B: {} severity on {:.0}% of PCs ({}) → within {} ({} business days)",
            severity.name(),
            fleet_share * 100.0,
            impact.label(),
            window.label,
            window.business_days
        ),
    };
    Some(if matrix.due < sla.due { matrix } else { sla })
}

/// Where a finding stands against its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    OnTime,
    DueSoon,
    Overdue,
    /// Covered by an approved, unexpired exception (§7.7).
    Excepted,
}

pub fn status(policy: &Policy, due: Timestamp, now: Timestamp, excepted: bool) -> Status {
    if excepted {
        Status::Excepted
    } else if now >= due {
        Status::Overdue
    } else if now
        .checked_add(i64::from(policy.due_soon_hours).hours())
        .is_ok_and(|soon| soon >= due)
    {
        Status::DueSoon
    } else {
        Status::OnTime
    }
}

#[cfg(test)]
mod tests;
