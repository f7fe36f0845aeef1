//! Requests for technical change (RTCs, §11) and their rollout (§10.3–10.5, §12): the life cycle
//! of a change, who may move it, the rings and waves it goes out in, when a wave may start or must
//! pause, maintenance windows, and how failed jobs are retried. Pure rules: the server stores
//! changes and jobs and asks these functions what to do.

use jiff::civil::{Time, Weekday};
use jiff::{Timestamp, ToSpan};

use crate::calendar::BusinessCalendar;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Draft,
    Submitted,
    Approved,
    Rejected,
    /// Jobs go to the test ring (non-production hosts).
    Testing,
    /// Signed off; production waves go out.
    Released,
    /// Every job has finished; waiting for inventories to show the fixed versions (§13.4).
    Verifying,
    Closed,
    Cancelled,
    RolledBack,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Draft,
        State::Submitted,
        State::Approved,
        State::Rejected,
        State::Testing,
        State::Released,
        State::Verifying,
        State::Closed,
        State::Cancelled,
        State::RolledBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Testing => "testing",
            State::Released => "released",
            State::Verifying => "verifying",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
            State::RolledBack => "rolled_back",
        }
    }

    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether agents receive this change's jobs.
    pub fn dispatches(self) -> bool {
        matches!(self, State::Testing | State::Released)
    }
}

/// The roles that act on a change (§6, §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Asked for the change (an operator or administrator).
    Requester,
    ChangeManager,
    Security,
    Operator,
}

/// What someone does to a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Submit,
    Approve,
    Reject,
    StartTesting,
    Release,
    Cancel,
    RollBack,
}

impl Action {
    pub fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "submit" => Action::Submit,
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "start_testing" => Action::StartTesting,
            "release" => Action::Release,
            "cancel" => Action::Cancel,
            "roll_back" => Action::RollBack,
            _ => return None,
        })
    }
}

/// The parts of a change its life cycle reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub state: State,
    /// §11.2, §12.3: an emergency change also needs Security and may be released before testing.
    pub emergency: bool,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub security_approved_by: Option<String>,
    /// Every platform class of the test ring has a passing test record (§10.4).
    pub signed_off: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("a change cannot be {action} when it is {state}")]
    WrongState { action: &'static str, state: &'static str },
    #[error("{who} requested this change and cannot approve it (§11.1, separation of duties)")]
    OwnChange { who: String },
    #[error("{0}")]
    NotAllowed(String),
    #[error("the test ring has not signed the change off: every platform class needs a passing test record (§10.4)")]
    NotSignedOff,
}

fn wrong(action: &'static str, state: State) -> ChangeError {
    ChangeError::WrongState {
        action,
        state: state.name(),
    }
}

impl Change {
    /// Applies `action` by `who` acting as `actor`; returns the new state.
    pub fn apply(&mut self, action: Action, actor: Actor, who: &str) -> Result<State, ChangeError> {
        let next = match (action, self.state) {
            (Action::Submit, State::Draft) if actor == Actor::Requester => State::Submitted,
            (Action::Submit, _) if actor != Actor::Requester => {
                return Err(ChangeError::NotAllowed("only the requester submits a change".into()));
            }
            (Action::Submit, state) => return Err(wrong("submitted", state)),
            (Action::Approve | Action::Reject, State::Submitted) => {
                if who == self.requested_by {
                    return Err(ChangeError::OwnChange { who: who.to_owned() });
                }
                match actor {
                    Actor::ChangeManager => {}
                    Actor::Security if self.emergency => {}
                    _ => {
                        return Err(ChangeError::NotAllowed(
                            "the change manager approves changes; Security also approves emergency ones (§11.1, §11.2)"
                                .into(),
                        ));
                    }
                }
                if action == Action::Reject {
                    State::Rejected
                } else {
                    if actor == Actor::ChangeManager {
                        self.approved_by = Some(who.to_owned());
                    } else {
                        self.security_approved_by = Some(who.to_owned());
                    }
                    let approved =
                        self.approved_by.is_some() && (!self.emergency || self.security_approved_by.is_some());
                    if approved { State::Approved } else { State::Submitted }
                }
            }
            (Action::Approve, state) => return Err(wrong("approved", state)),
            (Action::Reject, state) => return Err(wrong("rejected", state)),
            (Action::StartTesting, State::Approved) => State::Testing,
            (Action::StartTesting, state) => return Err(wrong("tested", state)),
            (Action::Release, State::Testing) if self.signed_off => State::Released,
            (Action::Release, State::Testing) => return Err(ChangeError::NotSignedOff),
            // §12.3: an emergency may go out before testing; the test is recorded afterwards (§12.5).
            (Action::Release, State::Approved) if self.emergency => State::Released,
            (Action::Release, state) => return Err(wrong("released", state)),
            (Action::Cancel, State::Draft | State::Submitted | State::Approved | State::Testing) => State::Cancelled,
            (Action::Cancel, state) => return Err(wrong("cancelled", state)),
            (Action::RollBack, State::Testing | State::Released | State::Verifying) => State::RolledBack,
            (Action::RollBack, state) => return Err(wrong("rolled back", state)),
        };
        if matches!(action, Action::StartTesting | Action::Release | Action::RollBack) && actor != Actor::Operator {
            return Err(ChangeError::NotAllowed(
                "operators test, release and roll back changes (§10, §12)".into(),
            ));
        }
        Ok(self.set(next))
    }

    fn set(&mut self, state: State) -> State {
        self.state = state;
        state
    }
}

/// How a change goes out to production (§10.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Cumulative shares of the production hosts, one per wave, ending at 1.0: `[0.1, 0.5, 1.0]`.
    pub waves: Vec<f64>,
    /// A wave starts only when the previous one succeeded on at least this share of its hosts.
    pub success_share: f64,
    /// The rollout pauses by itself when failed jobs pass this share of the finished ones.
    pub failure_share: f64,
    /// How many times a failed job is tried again (with backoff) before it is given up.
    pub retries: u32,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout {
            waves: vec![0.1, 0.5, 1.0],
            success_share: 0.9,
            failure_share: 0.1,
            retries: 2,
        }
    }
}

impl Rollout {
    pub fn validate(&self) -> Result<(), String> {
        if self.waves.is_empty() || self.waves.iter().any(|w| !(*w > 0.0 && *w <= 1.0)) {
            return Err("waves: each is a share of the production hosts, above 0 and at most 1".into());
        }
        if self.waves.windows(2).any(|w| w[0] >= w[1]) || self.waves.last() != Some(&1.0) {
            return Err("waves: shares grow and the last is 1 (every host)".into());
        }
        if !(0.0..=1.0).contains(&self.success_share) || !(0.0..=1.0).contains(&self.failure_share) {
            return Err("success_share and failure_share are fractions from 0 to 1".into());
        }
        if self.retries > 10 {
            return Err("retries: at most 10".into());
        }
        Ok(())
    }

    /// The wave (1-based) of the `index`-th of `count` production hosts, in a stable order.
    pub fn wave_of(&self, index: usize, count: usize) -> usize {
        for (i, share) in self.waves.iter().enumerate() {
            let end = (share * count as f64).ceil() as usize;
            if index < end.max(1) {
                return i + 1;
            }
        }
        self.waves.len()
    }
}

/// The outcome counts of one wave's jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaveTally {
    pub jobs: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// What the rollout should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Open the next wave.
    Open(usize),
    /// The current wave is still running.
    Wait,
    /// Stop dispatching: failures passed the threshold.
    Pause(String),
    /// Every wave is out and finished.
    Done,
}

/// Decides the rollout's next step from the open waves' tallies (index 0 = wave 1; `open` waves
/// are dispatching). Failed jobs that will still be retried count as unfinished.
pub fn gate(rollout: &Rollout, open: usize, waves: &[WaveTally]) -> Gate {
    let finished: usize = waves.iter().take(open).map(|w| w.succeeded + w.failed).sum();
    let failed: usize = waves.iter().take(open).map(|w| w.failed).sum();
    if finished > 0 && failed as f64 / finished as f64 > rollout.failure_share {
        return Gate::Pause(format!(
            "{failed} of {finished} finished jobs failed, more than {:.0}%",
            rollout.failure_share * 100.0
        ));
    }
    let Some(current) = open.checked_sub(1).and_then(|i| waves.get(i)) else {
        return if waves.is_empty() { Gate::Done } else { Gate::Open(1) };
    };
    if current.jobs > 0 && (current.succeeded as f64) < rollout.success_share * current.jobs as f64 {
        return if current.succeeded + current.failed == current.jobs {
            Gate::Pause(format!(
                "wave {open} succeeded on {} of {} hosts, below {:.0}%",
                current.succeeded,
                current.jobs,
                rollout.success_share * 100.0
            ))
        } else {
            Gate::Wait
        };
    }
    if open < waves.len() {
        Gate::Open(open + 1)
    } else if current.succeeded + current.failed == current.jobs {
        Gate::Done
    } else {
        Gate::Wait
    }
}

/// A weekly maintenance window in the organisation's time zone; it may run past midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Empty: every day.
    pub days: Vec<Weekday>,
    pub start: Time,
    pub end: Time,
}

impl Window {
    /// Parses `Sat 01:00-05:00`, `Mon,Tue 22:00-02:00` or `22:00-06:00` (every day).
    pub fn parse(text: &str) -> Result<Window, String> {
        let text = text.trim();
        let (days, times) = match text.rsplit_once(' ') {
            Some((days, times)) => (days, times),
            None => ("", text),
        };
        let days = days
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| match d.trim().to_ascii_lowercase().as_str() {
                "mon" => Ok(Weekday::Monday),
                "tue" => Ok(Weekday::Tuesday),
                "wed" => Ok(Weekday::Wednesday),
                "thu" => Ok(Weekday::Thursday),
                "fri" => Ok(Weekday::Friday),
                "sat" => Ok(Weekday::Saturday),
                "sun" => Ok(Weekday::Sunday),
                other => Err(format!("window {text:?}: {other:?} is not a day (Mon … Sun)")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bad = || format!("window {text:?}: write it as [Mon,Tue ]HH:MM-HH:MM");
        let (start, end) = times.split_once('-').ok_or_else(bad)?;
        let start: Time = start.trim().parse().map_err(|_| bad())?;
        let end: Time = end.trim().parse().map_err(|_| bad())?;
        if start == end {
            return Err(format!("window {text:?}: start and end are the same"));
        }
        Ok(Window { days, start, end })
    }

    /// Whether `at` falls inside the window. A window past midnight belongs to the day it starts.
    pub fn contains(&self, calendar: &BusinessCalendar, at: Timestamp) -> bool {
        let local = at.to_zoned(calendar.time_zone.clone());
        let (day, time) = (local.date(), local.time());
        let on = |d: jiff::civil::Date| self.days.is_empty() || self.days.contains(&d.weekday());
        if self.start < self.end {
            on(day) && time >= self.start && time < self.end
        } else {
            (on(day) && time >= self.start) || (time < self.end && day.yesterday().is_ok_and(on))
        }
    }
}

/// When a failed job is tried again: 5 minutes, doubling, at most 6 hours; `None` after `limit`
/// attempts.
pub fn retry_at(failed_at: Timestamp, attempts: u32, limit: u32) -> Option<Timestamp> {
    if attempts >= limit {
        return None;
    }
    let minutes = (5_i64 << attempts.saturating_sub(1).min(10)).min(360);
    failed_at.checked_add(minutes.minutes()).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::calendar::Holidays;

    fn change(emergency: bool) -> Change {
        Change {
            state: State::Draft,
            emergency,
            requested_by: "mike".into(),
            approved_by: None,
            security_approved_by: None,
            signed_off: false,
        }
    }

    #[test]
    fn normal_change_life_cycle() {
        let mut c = change(false);
        assert!(
            c.apply(Action::Approve, Actor::ChangeManager, "carol").is_err(),
            "a draft is not approved"
        );
        assert_eq!(c.apply(Action::Submit, Actor::Requester, "mike"), Ok(State::Submitted));
        assert_eq!(
            c.apply(Action::Approve, Actor::ChangeManager, "mike"),
            Err(ChangeError::OwnChange { who: "mike".into() })
        );
        assert!(c.apply(Action::Approve, Actor::Operator, "olga").is_err());
        assert_eq!(
            c.apply(Action::Approve, Actor::ChangeManager, "carol"),
            Ok(State::Approved)
        );
        assert_eq!(
            c.apply(Action::Release, Actor::Operator, "olga"),
            Err(wrong("released", State::Approved))
        );
        assert_eq!(
            c.apply(Action::StartTesting, Actor::Operator, "olga"),
            Ok(State::Testing)
        );
        assert_eq!(
            c.apply(Action::Release, Actor::Operator, "olga"),
            Err(ChangeError::NotSignedOff)
        );
        c.signed_off = true;
        assert_eq!(c.apply(Action::Release, Actor::Operator, "olga"), Ok(State::Released));
        assert!(c.apply(Action::Cancel, Actor::Requester, "mike").is_err());
    }

    #[test]
    fn emergency_needs_security_and_may_skip_testing() {
        let mut c = change(true);
        c.apply(Action::Submit, Actor::Requester, "mike").unwrap();
        assert_eq!(
            c.apply(Action::Approve, Actor::ChangeManager, "carol"),
            Ok(State::Submitted)
        );
        assert_eq!(c.apply(Action::Approve, Actor::Security, "sam"), Ok(State::Approved));
        assert_eq!(c.apply(Action::Release, Actor::Operator, "olga"), Ok(State::Released));
        let mut normal = change(false);
        normal.apply(Action::Submit, Actor::Requester, "mike").unwrap();
        assert!(
            normal.apply(Action::Approve, Actor::Security, "sam").is_err(),
            "not Security's to approve"
        );
    }

    #[test]
    fn waves_split_production_hosts() {
        let r = Rollout::default();
        let waves: Vec<usize> = (0..20).map(|i| r.wave_of(i, 20)).collect();
        assert_eq!(waves.iter().filter(|w| **w == 1).count(), 2);
        assert_eq!(waves.iter().filter(|w| **w == 2).count(), 8);
        assert_eq!(waves.iter().filter(|w| **w == 3).count(), 10);
        assert_eq!(r.wave_of(0, 1), 1);
        assert!(
            Rollout {
                waves: vec![0.5, 0.4, 1.0],
                ..Rollout::default()
            }
            .validate()
            .is_err()
        );
        assert!(Rollout { waves: vec![0.5], ..r }.validate().is_err());
    }

    #[test]
    fn gates() {
        let r = Rollout::default();
        let t = |jobs, succeeded, failed| WaveTally {
            jobs,
            succeeded,
            failed,
        };
        assert_eq!(gate(&r, 0, &[t(2, 0, 0), t(8, 0, 0)]), Gate::Open(1));
        assert_eq!(gate(&r, 1, &[t(2, 1, 0), t(8, 0, 0)]), Gate::Wait);
        assert_eq!(gate(&r, 1, &[t(2, 2, 0), t(8, 0, 0)]), Gate::Open(2));
        assert_eq!(gate(&r, 2, &[t(2, 2, 0), t(8, 8, 0)]), Gate::Done);
        assert!(matches!(gate(&r, 2, &[t(2, 2, 0), t(8, 5, 2)]), Gate::Pause(_)));
        // 1 of 10 finished failed: 10% is not more than 10%.
        assert_eq!(gate(&r, 2, &[t(2, 2, 0), t(10, 7, 1)]), Gate::Wait);
    }

    #[test]
    fn windows_in_london_time() {
        let calendar = BusinessCalendar::new("Europe/London", Holidays::None, BTreeSet::new()).unwrap();
        let w = Window::parse("Sat 01:00-05:00").unwrap();
        // 5 July 2026 is a Sunday; Saturday 4 July 01:30 BST is 00:30 UTC.
        assert!(w.contains(&calendar, "2026-07-04T00:30:00Z".parse().unwrap()));
        assert!(
            !w.contains(&calendar, "2026-07-04T04:30:00Z".parse().unwrap()),
            "05:30 BST"
        );
        let night = Window::parse("Fri 22:00-02:00").unwrap();
        assert!(
            night.contains(&calendar, "2026-12-05T01:00:00Z".parse().unwrap()),
            "Sat 01:00 GMT"
        );
        assert!(
            !night.contains(&calendar, "2026-12-06T01:00:00Z".parse().unwrap()),
            "Sun 01:00 GMT"
        );
        assert!(Window::parse("Sat 1am-5am").is_err());
        assert!(Window::parse("Xyz 01:00-02:00").unwrap_err().contains("not a day"));
    }

    proptest::proptest! {
        /// Any text given as a window is either a window or an error saying how to write one;
        /// it never panics.
        #[test]
        fn any_window_text_parses_or_is_refused(text in "\\PC{0,40}") {
            if let Err(message) = Window::parse(&text) {
                proptest::prop_assert!(message.starts_with("window "));
            }
        }

        /// A well-formed window contains its start and not its end (minute by minute, London).
        #[test]
        fn a_window_holds_its_own_start(day in 0usize..7, start in 0i8..24, end in 0i8..24) {
            proptest::prop_assume!(start != end);
            let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let w = Window::parse(&format!("{} {start:02}:00-{end:02}:00", days[day])).unwrap();
            let calendar = BusinessCalendar::new("Europe/London", Holidays::None, BTreeSet::new()).unwrap();
            // 7 December 2026 is a Monday; London is on GMT then.
            let date = jiff::civil::date(2026, 12, 7 + i8::try_from(day).unwrap());
            let at = |hour: i8| date.at(hour, 0, 0, 0).to_zoned(calendar.time_zone.clone()).unwrap().timestamp();
            proptest::prop_assert!(w.contains(&calendar, at(start)));
            if end > start {
                proptest::prop_assert!(!w.contains(&calendar, at(end)));
            }
        }
    }

    #[test]
    fn retries_back_off_to_a_limit() {
        let t: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        assert_eq!(retry_at(t, 1, 3), Some("2026-12-04T10:05:00Z".parse().unwrap()));
        assert_eq!(retry_at(t, 2, 3), Some("2026-12-04T10:10:00Z".parse().unwrap()));
        assert_eq!(retry_at(t, 3, 3), None);
    }
}
