//! §7.7 policy exceptions and §10.8 declined patches: a scope (hosts by selector × patches), a
//! reason, a workaround or mitigation, and a date by which it ends. Exceptions are interim: they
//! are approved by Security, never by whoever asked, and lapse by themselves at their target date,
//! when the findings they covered come back (overdue if their deadline has passed). A decline
//! records the risk decision of the IT manager and the application owner (§10.8.1); it takes effect
//! when the application owner agrees, and Security is told (§10.8.2).

use jiff::{Timestamp, ToSpan};

use crate::policy::Policy;
use crate::selector::{Selector, SelectorError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// §7.7: more time to deploy.
    Exception,
    /// §10.8: the patch is not to be deployed while the incompatibility lasts.
    Decline,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exception => "exception",
            Kind::Decline => "decline",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Exception, Kind::Decline].into_iter().find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Requested,
    Approved,
    Rejected,
    /// Withdrawn before its target date.
    Revoked,
    /// Reached its target date.
    Expired,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Revoked => "revoked",
            State::Expired => "expired",
        }
    }

    pub fn parse(name: &str) -> Option<State> {
        [
            State::Requested,
            State::Approved,
            State::Rejected,
            State::Revoked,
            State::Expired,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// What a requester asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub kind: Kind,
    /// Which hosts, in the selector language.
    pub selector: String,
    /// Which patches (advisory ids).
    pub patches: Vec<String>,
    pub reason: String,
    /// The workaround or mitigation in place, if any (Appendix A: "mitigated through a workaround?").
    pub workaround: Option<String>,
    /// When it ends: the target date for deployment (exception) or for reviewing the decision
    /// (decline).
    pub target: Timestamp,
    /// A decline's application owner, who must agree to it (§10.8.1).
    pub application_owner: Option<String>,
}

/// A stored exception or decline.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    pub id: String,
    pub request: Request,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub state: State,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExceptionError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("selector: {0}")]
    Selector(#[from] SelectorError),
    #[error("{who} requested this {kind} and cannot also decide it (separation of duties, §6)")]
    OwnRequest { who: String, kind: &'static str },
    #[error("only the application owner named in the decline, {owner}, can agree to it (§10.8.1)")]
    NotTheOwner { owner: String },
    #[error("this {kind} is {state}; only a requested one can be decided")]
    NotRequested { kind: &'static str, state: &'static str },
    #[error("this {kind} is {state}; only an approved one can be revoked")]
    NotApproved { kind: &'static str, state: &'static str },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ExceptionError {
    ExceptionError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl Request {
    /// Checks a request against the policy at `now`; returns its parsed selector.
    pub fn validate(&self, policy: &Policy, now: Timestamp) -> Result<Selector, ExceptionError> {
        if self.reason.trim().is_empty() {
            return Err(invalid("reason", "say why the patch cannot be deployed in time"));
        }
        if self.patches.is_empty() || self.patches.iter().any(|p| p.trim().is_empty()) {
            return Err(invalid("patches", "name at least one patch (advisory id), none empty"));
        }
        if self.workaround.as_ref().is_some_and(|w| w.trim().is_empty()) {
            return Err(invalid(
                "workaround",
                "describe the workaround or mitigation, or say there is none",
            ));
        }
        if self.target <= now {
            return Err(invalid("target", format!("{} is not in the future", self.target)));
        }
        // Calendar days of 24 hours: the limit is a length, not a business-day deadline.
        let latest = now
            .checked_add((i64::from(policy.exception_max_days) * 24).hours())
            .unwrap_or(now);
        if self.target > latest {
            return Err(invalid(
                "target",
                format!(
                    "{} is more than {} days away; exceptions are interim (§7.7, exceptions.max_days)",
                    self.target, policy.exception_max_days
                ),
            ));
        }
        match (self.kind, &self.application_owner) {
            (Kind::Decline, None) => {
                return Err(invalid(
                    "application_owner",
                    "a decline needs the application owner who shares the risk decision (§10.8.1)",
                ));
            }
            (Kind::Decline, Some(owner)) if owner.trim().is_empty() => {
                return Err(invalid("application_owner", "must name a user"));
            }
            _ => {}
        }
        Ok(Selector::parse(&self.selector)?)
    }
}

impl Exception {
    /// Approves or rejects a requested exception or decline. Exceptions are decided by Security
    /// (the caller checks the role), declines by their application owner; never by the requester.
    pub fn decide(&mut self, decider: &str, approve: bool, at: Timestamp) -> Result<(), ExceptionError> {
        let kind = self.request.kind.name();
        if self.state != State::Requested {
            return Err(ExceptionError::NotRequested {
                kind,
                state: self.state.name(),
            });
        }
        if decider == self.requested_by {
            return Err(ExceptionError::OwnRequest {
                who: decider.to_owned(),
                kind,
            });
        }
        if let (Kind::Decline, Some(owner)) = (self.request.kind, &self.request.application_owner)
            && owner != decider
        {
            return Err(ExceptionError::NotTheOwner { owner: owner.clone() });
        }
        self.state = if approve { State::Approved } else { State::Rejected };
        self.decided_by = Some(decider.to_owned());
        self.decided_at = Some(at);
        Ok(())
    }

    /// Withdraws an approved exception early: its findings come back at once.
    pub fn revoke(&mut self, at: Timestamp) -> Result<(), ExceptionError> {
        if self.state != State::Approved {
            return Err(ExceptionError::NotApproved {
                kind: self.request.kind.name(),
                state: self.state.name(),
            });
        }
        self.state = State::Revoked;
        self.revoked_at = Some(at);
        Ok(())
    }

    /// Whether it covers its scope at `at`: approved by then, not yet at its target date, not
    /// revoked by then. Works for any past time, whatever happened after.
    pub fn in_force(&self, at: Timestamp) -> bool {
        matches!(self.state, State::Approved | State::Revoked | State::Expired)
            && self.decided_at.is_some_and(|d| d <= at)
            && at < self.request.target
            && self.revoked_at.is_none_or(|r| at < r)
    }

    /// Whether the sweep should mark it expired at `now` (the findings come back either way:
    /// `in_force` reads the target date).
    pub fn lapsed(&self, now: Timestamp) -> bool {
        self.state == State::Approved && now >= self.request.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn request(kind: Kind, target: &str) -> Request {
        Request {
            kind,
            selector: "department:Finance -name:fin-kiosk*".into(),
            patches: vec!["USN-6000-1".into()],
            reason: "vendor has not certified the ledger application".into(),
            workaround: Some("service disabled on the firewall".into()),
            target: t(target),
            application_owner: (kind == Kind::Decline).then(|| "olivia".to_owned()),
        }
    }

    fn stored(kind: Kind) -> Exception {
        Exception {
            id: "e1".into(),
            request: request(kind, "2026-11-16T00:00:00Z"),
            requested_by: "mike".into(),
            requested_at: t("2026-11-02T09:00:00Z"),
            state: State::Requested,
            decided_by: None,
            decided_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn target_must_be_within_the_maximum() {
        let policy = Policy::default();
        let now = t("2026-11-02T09:00:00Z");
        assert!(
            request(Kind::Exception, "2027-01-31T09:00:00Z")
                .validate(&policy, now)
                .is_ok()
        );
        let err = request(Kind::Exception, "2027-01-31T09:00:01Z")
            .validate(&policy, now)
            .unwrap_err();
        assert!(err.to_string().contains("more than 90 days"), "{err}");
        let err = request(Kind::Exception, "2026-11-02T09:00:00Z")
            .validate(&policy, now)
            .unwrap_err();
        assert!(err.to_string().starts_with("target:"), "{err}");
        let mut no_owner = request(Kind::Decline, "2026-12-01T00:00:00Z");
        no_owner.application_owner = None;
        assert!(
            no_owner
                .validate(&policy, now)
                .unwrap_err()
                .to_string()
                .starts_with("application_owner")
        );
        let mut bad = request(Kind::Exception, "2026-12-01T00:00:00Z");
        bad.selector = "department:Finance nme:x".into();
        assert!(
            bad.validate(&policy, now)
                .unwrap_err()
                .to_string()
                .contains("column 20")
        );
    }

    #[test]
    fn requester_never_decides() {
        let mut e = stored(Kind::Exception);
        let err = e.decide("mike", true, t("2026-11-03T00:00:00Z")).unwrap_err();
        assert!(matches!(err, ExceptionError::OwnRequest { .. }));
        e.decide("sam", true, t("2026-11-03T00:00:00Z")).unwrap();
        assert_eq!(e.state, State::Approved);
        assert!(matches!(
            e.decide("sam", false, t("2026-11-04T00:00:00Z")),
            Err(ExceptionError::NotRequested { .. })
        ));
        let mut d = stored(Kind::Decline);
        assert!(matches!(
            d.decide("sam", true, t("2026-11-03T00:00:00Z")),
            Err(ExceptionError::NotTheOwner { .. })
        ));
        d.decide("olivia", true, t("2026-11-03T00:00:00Z")).unwrap();
    }

    #[test]
    fn in_force_from_approval_to_target_or_revocation() {
        let mut e = stored(Kind::Exception);
        assert!(!e.in_force(t("2026-11-05T00:00:00Z")));
        e.decide("sam", true, t("2026-11-03T10:00:00Z")).unwrap();
        assert!(!e.in_force(t("2026-11-03T09:59:59Z")));
        assert!(e.in_force(t("2026-11-03T10:00:00Z")));
        assert!(e.in_force(t("2026-11-15T23:59:59Z")));
        assert!(!e.in_force(t("2026-11-16T00:00:00Z")));
        assert!(e.lapsed(t("2026-11-16T00:00:00Z")));
        e.revoke(t("2026-11-10T00:00:00Z")).unwrap();
        assert!(e.in_force(t("2026-11-09T23:59:59Z")));
        assert!(!e.in_force(t("2026-11-10T00:00:00Z")));
    }
}
