//! Business-day arithmetic: bank holidays as gov.uk published them, deadlines across weekends,
//! holidays and the clock changes, and properties over arbitrary release times.

use super::*;
use crate::calendar::london as local;

fn london() -> BusinessCalendar {
    BusinessCalendar::new("Europe/London", Holidays::EnglandAndWales, BTreeSet::new()).unwrap()
}

/// England and Wales bank holidays as gov.uk lists them.
#[test]
fn bank_holidays_match_the_published_lists() {
    let published: &[(i16, &[(i8, i8)])] = &[
        (
            2020,
            &[(1, 1), (4, 10), (4, 13), (5, 8), (5, 25), (8, 31), (12, 25), (12, 28)],
        ),
        (
            2021,
            &[(1, 1), (4, 2), (4, 5), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28)],
        ),
        (
            2022,
            &[
                (1, 3),
                (4, 15),
                (4, 18),
                (5, 2),
                (6, 2),
                (6, 3),
                (8, 29),
                (9, 19),
                (12, 26),
                (12, 27),
            ],
        ),
        (
            2023,
            &[
                (1, 2),
                (4, 7),
                (4, 10),
                (5, 1),
                (5, 8),
                (5, 29),
                (8, 28),
                (12, 25),
                (12, 26),
            ],
        ),
        (
            2024,
            &[(1, 1), (3, 29), (4, 1), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26)],
        ),
        (
            2025,
            &[(1, 1), (4, 18), (4, 21), (5, 5), (5, 26), (8, 25), (12, 25), (12, 26)],
        ),
        (
            2026,
            &[(1, 1), (4, 3), (4, 6), (5, 4), (5, 25), (8, 31), (12, 25), (12, 28)],
        ),
        (
            2027,
            &[(1, 1), (3, 26), (3, 29), (5, 3), (5, 31), (8, 30), (12, 27), (12, 28)],
        ),
    ];
    for (year, days) in published {
        let ours: Vec<Date> = england_and_wales_bank_holidays(*year)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let expected: Vec<Date> = days.iter().map(|(m, d)| date(*year, *m, *d)).collect();
        assert_eq!(ours, expected, "{year}");
    }
}

#[test]
fn three_business_days_from_friday_night() {
    let cal = london();
    // Released Friday 23:59: one minute of Friday, Monday, Tuesday, then Wednesday until 23:59.
    assert_eq!(
        cal.add_business_days(local("2026-11-20 23:59"), 3),
        local("2026-11-25 23:59")
    );
    // Released on a Saturday: Monday, Tuesday and Wednesday, due at midnight after Wednesday.
    assert_eq!(
        cal.add_business_days(local("2026-11-21 10:00"), 3),
        local("2026-11-26 00:00")
    );
}

#[test]
fn holidays_and_clock_changes() {
    let cal = london();
    // Easter 2026: Good Friday 3 April and Easter Monday 6 April are closed.
    assert_eq!(
        cal.add_business_days(local("2026-04-02 10:00"), 3),
        local("2026-04-09 10:00")
    );
    // Clocks go forward on Sunday 29 March 2026: due at 12:00 local (BST), 11:00 UTC.
    let due = cal.add_business_days(local("2026-03-27 12:00"), 3);
    assert_eq!(due, local("2026-04-01 12:00"));
    assert_eq!(due.to_string(), "2026-04-01T11:00:00Z");
    // Clocks go back on Sunday 25 October 2026: 12:00 GMT is 12:00 UTC.
    assert_eq!(
        cal.add_business_days(local("2026-10-23 12:00"), 1).to_string(),
        "2026-10-26T12:00:00Z"
    );
    // Christmas 2026: 25 and 28 December closed; an extra closure day on the 29th too.
    let mut closures = BTreeSet::new();
    closures.insert(date(2026, 12, 29));
    let cal = BusinessCalendar::new("Europe/London", Holidays::EnglandAndWales, closures).unwrap();
    assert_eq!(
        cal.add_business_days(local("2026-12-24 09:00"), 2),
        local("2026-12-31 09:00")
    );
}

#[test]
fn unknown_time_zones_are_refused() {
    assert!(BusinessCalendar::new("Europe/Atlantis", Holidays::None, BTreeSet::new()).is_err());
}

proptest::proptest! {
    /// Deadlines move forward, later counts are later, and counts compose.
    #[test]
    fn business_days_compose(seconds in 1_577_836_800i64..1_893_456_000, a in 0u32..15, b in 0u32..15) {
        let cal = london();
        let from = Timestamp::from_second(seconds).unwrap();
        let after_a = cal.add_business_days(from, a);
        proptest::prop_assert!(after_a >= from);
        proptest::prop_assert!(cal.add_business_days(from, a + 1) > after_a);
        proptest::prop_assert_eq!(cal.add_business_days(after_a, b), cal.add_business_days(from, a + b));
    }

    /// A deadline lands on a business day, or at the midnight that ends one.
    #[test]
    fn deadlines_land_in_business_time(seconds in 1_577_836_800i64..1_893_456_000, n in 1u32..20) {
        let cal = london();
        let due = cal.add_business_days(Timestamp::from_second(seconds).unwrap(), n);
        let local = due.to_zoned(cal.time_zone.clone());
        let ends_one = local.time() == jiff::civil::Time::midnight()
            && cal.is_business_day(local.date().yesterday().unwrap());
        proptest::prop_assert!(cal.is_business_day(local.date()) || ends_one, "{local}");
    }
}
