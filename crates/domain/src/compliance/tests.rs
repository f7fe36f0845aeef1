//! Compliance worked out by hand: a small month with deployed, late, excepted and overdue obligations.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

use super::*;
use crate::calendar::{BusinessCalendar, Holidays};
use crate::exception::{Exception, Kind, Request, State};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn host(id: &str, department: &str, class: PlatformClass) -> Host {
    Host {
        id: id.into(),
        department: department.into(),
        class,
        facts: HostFacts {
            name: id.into(),
            department: department.into(),
            platform_class: class.name().into(),
            ..HostFacts::default()
        },
    }
}

fn span(host: usize, patch: &str, opened: &str, closed: Option<&str>) -> Span {
    Span {
        host,
        patch: patch.into(),
        opened: t(opened),
        closed: closed.map(t),
    }
}

fn critical(released: &str) -> Classified {
    Classified {
        category: Category::Critical,
        approved: true,
        severity: None,
        fleet_share: 0.0,
        released: t(released),
    }
}

/// November 2026 in London (GMT all month). Patch P1, Critical, released Monday 2 November 09:00:
/// due three business days later, Thursday 5 November 09:00. Patch P2, Critical, released
/// Friday 27 November 09:00: due Wednesday 2 December 09:00, after the month ends.
#[test]
fn a_month_by_hand() {
    let calendar = BusinessCalendar::new("Europe/London", Holidays::EnglandAndWales, BTreeSet::new()).unwrap();
    let policy = Policy::default();
    let hosts = [
        host("a1", "Ops", PlatformClass::Desktop),
        host("a2", "Ops", PlatformClass::Desktop),
        host("a3", "Ops", PlatformClass::Server),
        host("b1", "Finance", PlatformClass::Desktop),
    ];
    let spans = [
        // a1 fixed P1 in time; a2 late; a3 never, but excepted until 20 November, then overdue.
        span(0, "P1", "2026-11-02T10:00:00Z", Some("2026-11-04T12:00:00Z")),
        span(1, "P1", "2026-11-02T10:00:00Z", Some("2026-11-09T12:00:00Z")),
        span(2, "P1", "2026-11-02T10:00:00Z", None),
        span(3, "P1", "2026-11-02T10:00:00Z", None),
        // P2 is pending everywhere at month end; two packages of one patch make one obligation.
        span(0, "P2", "2026-11-27T10:00:00Z", None),
        span(0, "P2", "2026-11-27T10:00:00Z", None),
        // Fixed before the month: not this month's obligation.
        span(3, "P2", "2026-10-01T10:00:00Z", Some("2026-10-02T10:00:00Z")),
    ];
    let mut classified = HashMap::new();
    for class in [PlatformClass::Desktop, PlatformClass::Server] {
        classified.insert(("P1".to_owned(), class), critical("2026-11-02T09:00:00Z"));
        classified.insert(("P2".to_owned(), class), critical("2026-11-27T09:00:00Z"));
    }
    let exception = Exception {
        id: "x1".into(),
        request: Request {
            kind: Kind::Exception,
            selector: "class:server".into(),
            patches: vec!["P1".into()],
            reason: "reboot window agreed for 20 November".into(),
            workaround: Some("port closed".into()),
            target: t("2026-11-20T00:00:00Z"),
            application_owner: None,
        },
        requested_by: "mike".into(),
        requested_at: t("2026-11-03T09:00:00Z"),
        state: State::Approved,
        decided_by: Some("sam".into()),
        decided_at: Some(t("2026-11-03T10:00:00Z")),
        revoked_at: None,
    };
    let exceptions = [Scope {
        selector: Selector::parse(&exception.request.selector).unwrap(),
        exception,
    }];
    let fleet = Fleet {
        hosts: &hosts,
        spans: &spans,
        classified: &classified,
        exceptions: &exceptions,
    };
    let from = t("2026-11-01T00:00:00Z");

    // Mid-month (10 November): a3's P1 is excepted, b1's is overdue.
    let mid = obligations(&policy, &calendar, &fleet, from, t("2026-11-10T00:00:00Z"));
    let standing = |o: &[Obligation], host: usize, patch: &str| {
        o.iter()
            .find(|o| o.host == host && o.patch == patch)
            .map(|o| o.standing)
    };
    assert_eq!(mid[0].deadline.due, t("2026-11-05T09:00:00Z"));
    assert_eq!(standing(&mid, 2, "P1"), Some(Standing::Excepted(0)));
    assert_eq!(standing(&mid, 3, "P1"), Some(Standing::Overdue));
    assert_eq!(standing(&mid, 0, "P2"), None, "P2 not yet found on 10 November");

    // Month end (1 December 00:00): the exception lapsed on 20 November, so a3 is overdue too.
    let end = t("2026-12-01T00:00:00Z");
    let all = obligations(&policy, &calendar, &fleet, from, end);
    assert_eq!(standing(&all, 0, "P1"), Some(Standing::Deployed { late: false }));
    assert_eq!(standing(&all, 1, "P1"), Some(Standing::Deployed { late: true }));
    assert_eq!(standing(&all, 2, "P1"), Some(Standing::Overdue));
    assert_eq!(standing(&all, 0, "P2"), Some(Standing::Pending(Status::OnTime)));
    assert_eq!(standing(&all, 3, "P2"), None);
    assert_eq!(all.len(), 5);

    // Ops: Critical obligations a1/P1, a2/P1, a3/P1, a1/P2 → 3 compliant of 4 = 75%; one patch
    // (P1) not deployed, overdue, no workaround.
    let ops = form(&fleet, &all, "Ops", from, end);
    let critical_line = &ops.lines[1];
    assert_eq!(critical_line.tally.obligations, 4);
    assert_eq!(critical_line.tally.percent(), Some(75.0));
    assert_eq!(critical_line.patches_not_deployed, 1);
    assert_eq!(ops.lines[0].tally.percent(), None);
    assert_eq!(ops.not_deployed.len(), 1);
    assert_eq!(ops.not_deployed[0].why, "overdue; no exception covers it");
    assert!(!ops.all_mitigated());

    // On 10 November the same form shows a3 excepted with its target date and workaround.
    let mid_form = form(&fleet, &mid, "Ops", from, t("2026-11-10T00:00:00Z"));
    assert_eq!(mid_form.not_deployed.len(), 1);
    assert_eq!(mid_form.not_deployed[0].target, Some(t("2026-11-20T00:00:00Z")));
    assert_eq!(mid_form.not_deployed[0].workaround.as_deref(), Some("port closed"));

    let by_department = tally(&hosts, &all, GroupBy::Department);
    assert_eq!(by_department["Finance"].overdue, 1);
    assert_eq!(by_department["Finance"].percent(), Some(0.0));
    let by_host = tally(&hosts, &all, GroupBy::Host);
    assert_eq!(by_host["a1"].obligations, 2);
}

#[test]
fn unapproved_and_unclassified_patches_are_not_counted() {
    let calendar = BusinessCalendar::new("Europe/London", Holidays::None, BTreeSet::new()).unwrap();
    let hosts = [host("a1", "Ops", PlatformClass::Laptop)];
    let spans = [
        span(0, "P1", "2026-11-02T10:00:00Z", None),
        span(0, "P9", "2026-11-02T10:00:00Z", None),
    ];
    let mut classified = HashMap::new();
    let mut suggested = critical("2026-11-02T09:00:00Z");
    suggested.approved = false;
    classified.insert(("P1".to_owned(), PlatformClass::Laptop), suggested);
    let fleet = Fleet {
        hosts: &hosts,
        spans: &spans,
        classified: &classified,
        exceptions: &[],
    };
    let all = obligations(
        &Policy::default(),
        &calendar,
        &fleet,
        t("2026-11-01T00:00:00Z"),
        t("2026-12-01T00:00:00Z"),
    );
    assert_eq!(all.len(), 1, "P9 has no classification");
    assert!(tally(&hosts, &all, GroupBy::Department).is_empty());
}
