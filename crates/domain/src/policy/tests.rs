//! Every SLA and matrix cell pinned, "stricter wins", and the policy's own checks.

use super::*;
use crate::calendar::london as local;

fn due(category: Category, severity: Option<Severity>, share: f64, released: &str) -> Deadline {
    let policy = Policy::default();
    deadline(
        &policy,
        &policy.calendar().unwrap(),
        category,
        severity,
        share,
        local(released),
    )
    .unwrap()
}

#[test]
fn sla_windows() {
    // §12.3: eight clock hours, weekend or not.
    assert_eq!(
        due(Category::Emergency, None, 0.0, "2026-11-20 16:00").due,
        local("2026-11-21 00:00")
    );
    // §12.1: three business days.
    assert_eq!(
        due(Category::Critical, None, 0.0, "2026-11-20 23:59").due,
        local("2026-11-25 23:59")
    );
    // §12.2: by the next monthly cycle (second Tuesday): 10 November 2026, due by its end.
    assert_eq!(
        due(Category::NotCritical, None, 0.0, "2026-11-05 09:00").due,
        local("2026-11-11 00:00")
    );
    // Released on the cycle day itself: the next month's cycle, 8 December 2026.
    assert_eq!(
        due(Category::NotCritical, None, 0.0, "2026-11-10 09:00").due,
        local("2026-12-09 00:00")
    );
    let policy = Policy::default();
    assert!(
        deadline(
            &policy,
            &policy.calendar().unwrap(),
            Category::NotApplicable,
            None,
            1.0,
            local("2026-11-05 09:00")
        )
        .is_none()
    );
}

/// Every cell of Appendix B, released Wednesday 11 November 2026 09:00, the day after the monthly
/// cycle, so that the next cycle (8 December) is later than every cell.
#[test]
fn every_matrix_cell() {
    let expected: [(Severity, [u32; 5]); 4] = [
        (Severity::Critical, [3, 3, 3, 10, 10]),
        (Severity::Important, [3, 10, 10, 10, 15]),
        (Severity::Moderate, [10, 10, 15, 15, 15]),
        (Severity::Low, [15, 15, 15, 15, 15]),
    ];
    let shares = [0.85, 0.6, 0.4, 0.2, 0.05];
    let policy = Policy::default();
    let calendar = policy.calendar().unwrap();
    for (severity, days) in expected {
        for (share, business_days) in shares.iter().zip(days) {
            let release = local("2026-11-11 09:00");
            let d = deadline(
                &policy,
                &calendar,
                Category::NotCritical,
                Some(severity),
                *share,
                release,
            )
            .unwrap();
            assert_eq!(
                d.due,
                calendar.add_business_days(release, business_days),
                "{severity:?} at {share}"
            );
            assert!(matches!(d.rule, Rule::Matrix { .. }), "{}", d.reason);
        }
    }
    // Worked by hand: ten business days after Wednesday 11 November is Wednesday 25 November.
    assert_eq!(
        due(
            Category::NotCritical,
            Some(Severity::Important),
            0.6,
            "2026-11-11 09:00"
        )
        .due,
        local("2026-11-25 09:00")
    );
}

#[test]
fn the_stricter_rule_wins_and_says_why() {
    // Critical SLA (3 days) beats a Low, rare cell (15 days).
    let d = due(Category::Critical, Some(Severity::Low), 0.05, "2026-11-02 09:00");
    assert_eq!(d.rule, Rule::Sla(Category::Critical));
    assert!(d.reason.starts_with("§12.1 Critical"), "{}", d.reason);
    // A widespread Critical-severity patch classified Not Critical is still due in 3 business days.
    let d = due(Category::NotCritical, Some(Severity::Critical), 0.9, "2026-11-02 09:00");
    assert_eq!(d.due, local("2026-11-05 09:00"));
    assert!(
        d.reason.contains("Appendix B: Critical severity on 90% of PCs (> 70%)"),
        "{}",
        d.reason
    );
}

#[test]
fn impact_bands_close_the_published_gaps() {
    assert_eq!(Impact::of_share(0.70), Impact::From70);
    assert_eq!(Impact::of_share(0.6999), Impact::From50);
    assert_eq!(Impact::of_share(0.50), Impact::From50);
    assert_eq!(Impact::of_share(0.30), Impact::From30);
    assert_eq!(Impact::of_share(0.10), Impact::From10);
    assert_eq!(Impact::of_share(0.0999), Impact::Under10);
}

#[test]
fn statuses() {
    let policy = Policy::default();
    let due = local("2026-11-20 12:00");
    assert_eq!(status(&policy, due, local("2026-11-18 12:00"), false), Status::OnTime);
    assert_eq!(status(&policy, due, local("2026-11-19 13:00"), false), Status::DueSoon);
    assert_eq!(status(&policy, due, local("2026-11-20 12:00"), false), Status::Overdue);
    assert_eq!(status(&policy, due, local("2026-11-25 12:00"), true), Status::Excepted);
}

#[test]
fn the_policy_checks_itself() {
    Policy::default().validate().unwrap();
    let short = Policy {
        retention_days: 300,
        ..Policy::default()
    };
    assert!(matches!(short.validate(), Err(PolicyError::Invalid { field, .. }) if field == "audit.retention_days"));
    let mut zero = Policy::default();
    zero.matrix.window_mut(Severity::Moderate, Impact::From30).business_days = 0;
    assert!(matches!(zero.validate(), Err(PolicyError::Invalid { field, .. }) if field.starts_with("matrix.Moderate")));
    let zone = Policy {
        time_zone: "Mars/Olympus".into(),
        ..Policy::default()
    };
    assert!(matches!(zone.validate(), Err(PolicyError::Calendar(_))));
}
