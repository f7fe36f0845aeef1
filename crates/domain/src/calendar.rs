//! Business days (§12.1: critical patches within three business days): weekends, England and Wales
//! bank holidays with their substitute days, and the organisation's extra closure days, counted in
//! the organisation's time zone (Europe/London by default, so the clock changes in March and
//! October are handled by the calendar, not by arithmetic on seconds).

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday, date};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// Which public holidays close the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holidays {
    /// England and Wales bank holidays (the Banking and Financial Dealings Act 1971 and royal
    /// proclamations), with substitute days.
    EnglandAndWales,
    /// No public holidays; only weekends and extra closure days.
    None,
}

/// Days the organisation is open for business.
#[derive(Debug, Clone)]
pub struct BusinessCalendar {
    pub time_zone: TimeZone,
    pub holidays: Holidays,
    pub extra_closures: BTreeSet<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
}

impl BusinessCalendar {
    pub fn new(
        time_zone: &str,
        holidays: Holidays,
        extra_closures: BTreeSet<Date>,
    ) -> Result<BusinessCalendar, CalendarError> {
        let time_zone = jiff::tz::db()
            .get(time_zone)
            .map_err(|_| CalendarError::TimeZone(time_zone.to_owned()))?;
        Ok(BusinessCalendar {
            time_zone,
            holidays,
            extra_closures,
        })
    }

    pub fn is_business_day(&self, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.extra_closures.contains(&day)
            && match self.holidays {
                Holidays::EnglandAndWales => !england_and_wales_bank_holidays(day.year())
                    .iter()
                    .any(|(d, _)| *d == day),
                Holidays::None => true,
            }
    }

    /// The moment `days` business days after `from`: the clock runs only through business days
    /// (midnight to midnight, local time). Released at 23:59 on a Friday with three business days
    /// to go, a patch is due at 23:59 on the Wednesday (one minute of Friday, then Monday, Tuesday
    /// and all but a minute of Wednesday). Released on a closed day, the count starts at the next
    /// business day's midnight and ends at a midnight.
    pub fn add_business_days(&self, from: Timestamp, days: u32) -> Timestamp {
        if days == 0 {
            return from;
        }
        let local = from.to_zoned(self.time_zone.clone());
        let midnight = jiff::civil::Time::midnight();
        let (mut day, time) = if self.is_business_day(local.date()) {
            (local.date(), local.time())
        } else {
            (self.next_business_day(local.date()), midnight)
        };
        if time == midnight {
            // Whole business days from a midnight: due at the end of the last of them.
            for _ in 1..days {
                day = self.next_business_day(day);
            }
            return self.start_of(day.tomorrow().unwrap_or(day));
        }
        for _ in 0..days {
            day = self.next_business_day(day);
        }
        self.at(day, time)
    }

    fn next_business_day(&self, day: Date) -> Date {
        let mut next = day.tomorrow().unwrap_or(day);
        while !self.is_business_day(next) {
            next = next.tomorrow().unwrap_or(next);
        }
        next
    }

    /// A local date and time as an instant; in a gap (the spring clock change) the later reading.
    fn at(&self, day: Date, time: jiff::civil::Time) -> Timestamp {
        day.to_datetime(time)
            .to_zoned(self.time_zone.clone())
            .map_or_else(|_| Timestamp::UNIX_EPOCH, |z: Zoned| z.timestamp())
    }

    /// The local date of an instant.
    pub fn date_of(&self, at: Timestamp) -> Date {
        at.to_zoned(self.time_zone.clone()).date()
    }

    /// Midnight at the start of a local date.
    pub fn start_of(&self, day: Date) -> Timestamp {
        self.at(day, jiff::civil::Time::midnight())
    }
}

/// Easter Sunday (the Gregorian computus, Meeus/Jones/Butcher).
pub fn easter_sunday(year: i16) -> Date {
    let y = i32::from(year);
    let (a, b, c) = (y % 19, y / 100, y % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(year, i8::try_from(month).unwrap_or(4), i8::try_from(day).unwrap_or(1))
}

fn nth_weekday(year: i16, month: i8, weekday: Weekday, n: i8) -> Date {
    date(year, month, 1)
        .nth_weekday_of_month(n, weekday)
        .unwrap_or_else(|_| date(year, month, 1))
}

fn shift(day: Date, days: i64) -> Date {
    day.checked_add(days.days()).unwrap_or(day)
}

/// England and Wales bank holidays of a year, with the one-off changes made by proclamation since
/// 2000 (jubilees, a royal wedding and funeral, a coronation, a moved May holiday).
pub fn england_and_wales_bank_holidays(year: i16) -> Vec<(Date, &'static str)> {
    let easter = easter_sunday(year);
    let mut days: Vec<(Date, &'static str)> = vec![
        (shift(easter, -2), "Good Friday"),
        (shift(easter, 1), "Easter Monday"),
        (nth_weekday(year, 8, Weekday::Monday, -1), "Summer bank holiday"),
    ];
    // Early May: the first Monday, moved to Friday 8 May in 2020 for the 75th anniversary of VE Day.
    days.push(match year {
        2020 => (date(2020, 5, 8), "Early May bank holiday (VE day)"),
        _ => (nth_weekday(year, 5, Weekday::Monday, 1), "Early May bank holiday"),
    });
    // Spring: the last Monday of May, moved for the Golden, Diamond and Platinum Jubilees.
    days.push(match year {
        2002 | 2012 => (date(year, 6, 4), "Spring bank holiday"),
        2022 => (date(2022, 6, 2), "Spring bank holiday"),
        _ => (nth_weekday(year, 5, Weekday::Monday, -1), "Spring bank holiday"),
    });
    let one_off: &[(Date, &'static str)] = match year {
        2002 => &[(date(2002, 6, 3), "Golden Jubilee bank holiday")],
        2011 => &[(date(2011, 4, 29), "Royal wedding")],
        2012 => &[(date(2012, 6, 5), "Diamond Jubilee bank holiday")],
        2022 => &[
            (date(2022, 6, 3), "Platinum Jubilee bank holiday"),
            (date(2022, 9, 19), "State Funeral of Queen Elizabeth II"),
        ],
        2023 => &[(date(2023, 5, 8), "Bank holiday for the coronation of King Charles III")],
        _ => &[],
    };
    days.extend_from_slice(one_off);
    // New Year's Day, Christmas Day and Boxing Day fall on a weekend some years: each then moves to
    // the next weekday that is not already a holiday.
    let weekend = |d: Date| matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday);
    for (fixed, name) in [
        (date(year, 1, 1), "New Year's Day"),
        (date(year, 12, 25), "Christmas Day"),
        (date(year, 12, 26), "Boxing Day"),
    ] {
        let mut day = fixed;
        while weekend(day) || days.iter().any(|(d, _)| *d == day) {
            day = day.tomorrow().unwrap_or(day);
        }
        days.push((day, name));
    }
    days.sort();
    days
}

/// A local Europe/London time (`YYYY-MM-DD HH:MM`) as an instant, for tests that read like the
/// policy does.
#[cfg(test)]
pub(crate) fn london(text: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", text)
        .and_then(|t| t.to_zoned(jiff::tz::db().get("Europe/London")?))
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
