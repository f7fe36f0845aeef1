//! Where each (host, patch) obligation stands at a time, and compliance built from that: per host,
//! department, platform class and category, and the monthly form of Appendix A.
//!
//! The model: a *span* is the time a host was missing a patch's fixed version (opened by the
//! report or advisory that revealed it, closed by the report that showed the fix). Spans,
//! classifications as they stood and exceptions with their approval and revocation times are all
//! kept, so every figure here can be computed for any past time.
//!
//! An obligation counts for a period when its span overlaps the period. At the period's end it is
//! *deployed* (span closed by then), *pending* (open, not yet due), *excepted* (open, due, covered
//! by an exception or decline in force) or *overdue*. Compliance is the share of obligations
//! deployed or pending; "approved patches not deployed" (Appendix A) are the patches with an
//! excepted or overdue obligation. Only patches whose classification Security confirmed count
//! ("approved patches"); the others still get deadlines, shown with their findings.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use crate::advisory::Severity;
use crate::calendar::BusinessCalendar;
use crate::classification::PlatformClass;
use crate::exception::Exception;
use crate::policy::{self, Category, Deadline, Policy, Status};
use crate::selector::{HostFacts, Selector};

/// A host as compliance sees it.
#[derive(Debug, Clone)]
pub struct Host {
    pub id: String,
    pub department: String,
    pub class: PlatformClass,
    pub facts: HostFacts,
}

/// A time a host was missing a patch; `host` indexes the hosts handed in with it.
#[derive(Debug, Clone)]
pub struct Span {
    pub host: usize,
    pub patch: String,
    pub opened: Timestamp,
    pub closed: Option<Timestamp>,
}

/// A patch's classification for one platform class, as it stood at the time asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub category: Category,
    /// Confirmed (or overridden) by Security: an "approved patch" of Appendix A.
    pub approved: bool,
    pub severity: Option<Severity>,
    /// The share of the fleet affected when it was classified (Appendix B's impact column).
    pub fleet_share: f64,
    /// The vendor's release time, from which every deadline runs (§12).
    pub released: Timestamp,
}

/// An exception or decline with its parsed selector.
#[derive(Debug, Clone)]
pub struct Scope {
    pub exception: Exception,
    pub selector: Selector,
}

/// Everything an evaluation reads. `classified` maps (patch, class) to the classification in force
/// at the time of evaluation.
#[derive(Debug)]
pub struct Fleet<'a> {
    pub hosts: &'a [Host],
    pub spans: &'a [Span],
    pub classified: &'a HashMap<(String, PlatformClass), Classified>,
    pub exceptions: &'a [Scope],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Fixed by the end of the period; `late` if after its deadline.
    Deployed {
        late: bool,
    },
    /// Still missing, not yet due.
    Pending(Status),
    /// Still missing, due, covered by this exception or decline (index into `Fleet::exceptions`).
    Excepted(usize),
    Overdue,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Deployed { late: false } => "deployed",
            Standing::Deployed { late: true } => "deployed late",
            Standing::Pending(Status::DueSoon) => "due soon",
            Standing::Pending(_) => "on time",
            Standing::Excepted(_) => "excepted",
            Standing::Overdue => "overdue",
        }
    }

    /// Counts towards compliance: fixed, or not yet due.
    pub fn compliant(self) -> bool {
        matches!(self, Standing::Deployed { .. } | Standing::Pending(_))
    }
}

/// One host's obligation to deploy one patch.
#[derive(Debug, Clone)]
pub struct Obligation {
    pub host: usize,
    pub patch: String,
    pub category: Category,
    pub approved: bool,
    pub deadline: Deadline,
    pub standing: Standing,
}

/// Every obligation whose span overlaps `[from, at]`, standing as at `at`. Patches without a
/// classification for the host's class, or classified Not applicable, carry no deadline and are
/// left out.
pub fn obligations(
    policy: &Policy,
    calendar: &BusinessCalendar,
    fleet: &Fleet<'_>,
    from: Timestamp,
    at: Timestamp,
) -> Vec<Obligation> {
    // One (host, patch) may have several spans (several packages, or fixed and regressed): the
    // obligation is open while any of its overlapping spans is.
    let mut pairs: HashMap<(usize, &str), Option<Timestamp>> = HashMap::new();
    for span in fleet.spans {
        if span.opened > at || span.closed.is_some_and(|c| c < from) || span.host >= fleet.hosts.len() {
            continue;
        }
        let closed = span.closed.filter(|c| *c <= at);
        pairs
            .entry((span.host, span.patch.as_str()))
            .and_modify(|c| {
                *c = match (*c, closed) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                }
            })
            .or_insert(closed);
    }
    // Deadlines depend on the patch and the class only: computed once per pair of them.
    let mut deadlines: HashMap<(&str, PlatformClass), Option<(Deadline, &Classified)>> = HashMap::new();
    // Which hosts each exception covers, evaluated once per exception.
    let covered: Vec<Vec<bool>> = fleet
        .exceptions
        .iter()
        .map(|scope| {
            if scope.exception.in_force(at) {
                fleet.hosts.iter().map(|h| scope.selector.matches(&h.facts)).collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut out = Vec::with_capacity(pairs.len());
    for ((host, patch), closed) in pairs {
        let class = fleet.hosts[host].class;
        let entry = deadlines.entry((patch, class)).or_insert_with(|| {
            let classified = fleet.classified.get(&(patch.to_owned(), class))?;
            let deadline = policy::deadline(
                policy,
                calendar,
                classified.category,
                classified.severity,
                classified.fleet_share,
                classified.released,
            )?;
            Some((deadline, classified))
        });
        let Some((deadline, classified)) = entry else {
            continue;
        };
        let standing = match closed {
            Some(fixed) => Standing::Deployed {
                late: fixed > deadline.due,
            },
            None => {
                let exception = (0..fleet.exceptions.len()).find(|&i| {
                    covered[i].get(host).copied().unwrap_or(false)
                        && fleet.exceptions[i].exception.request.patches.iter().any(|p| p == patch)
                });
                match (policy::status(policy, deadline.due, at, false), exception) {
                    (Status::Overdue, Some(i)) => Standing::Excepted(i),
                    (Status::Overdue, None) => Standing::Overdue,
                    (status, _) => Standing::Pending(status),
                }
            }
        };
        out.push(Obligation {
            host,
            patch: patch.to_owned(),
            category: classified.category,
            approved: classified.approved,
            deadline: deadline.clone(),
            standing,
        });
    }
    out.sort_by(|a, b| (a.host, &a.patch).cmp(&(b.host, &b.patch)));
    out
}

/// Counts of obligations by standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub obligations: usize,
    pub deployed: usize,
    pub deployed_late: usize,
    pub pending: usize,
    pub excepted: usize,
    pub overdue: usize,
}

impl Tally {
    pub fn add(&mut self, standing: Standing) {
        self.obligations += 1;
        match standing {
            Standing::Deployed { late } => {
                self.deployed += 1;
                self.deployed_late += usize::from(late);
            }
            Standing::Pending(_) => self.pending += 1,
            Standing::Excepted(_) => self.excepted += 1,
            Standing::Overdue => self.overdue += 1,
        }
    }

    pub fn compliant(&self) -> usize {
        self.deployed + self.pending
    }

    /// Percent compliant; `None` when there was nothing to deploy.
    pub fn percent(&self) -> Option<f64> {
        (self.obligations > 0).then(|| self.compliant() as f64 * 100.0 / self.obligations as f64)
    }
}

/// What compliance is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Host,
    Department,
    PlatformClass,
    Category,
}

impl GroupBy {
    pub fn parse(name: &str) -> Option<GroupBy> {
        match name {
            "host" => Some(GroupBy::Host),
            "department" => Some(GroupBy::Department),
            "platform_class" => Some(GroupBy::PlatformClass),
            "category" => Some(GroupBy::Category),
            _ => None,
        }
    }
}

/// Compliance to approved patches, grouped.
pub fn tally(hosts: &[Host], obligations: &[Obligation], by: GroupBy) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for o in obligations.iter().filter(|o| o.approved) {
        let key = match by {
            GroupBy::Host => hosts[o.host].id.clone(),
            GroupBy::Department => hosts[o.host].department.clone(),
            GroupBy::PlatformClass => hosts[o.host].class.name().to_owned(),
            GroupBy::Category => o.category.name().to_owned(),
        };
        out.entry(key).or_default().add(o.standing);
    }
    out
}

/// One line of Appendix A's "why?": an approved patch not deployed on some of the department's
/// hosts, for one cause.
#[derive(Debug, Clone, PartialEq)]
pub struct NotDeployed {
    pub patch: String,
    pub category: Category,
    pub hosts: usize,
    pub due: Timestamp,
    pub why: String,
    /// The exception's target date; `None` when nothing covers it.
    pub target: Option<Timestamp>,
    /// The workaround or mitigation in place; `None`: none.
    pub workaround: Option<String>,
    /// The exception or decline behind it.
    pub exception: Option<String>,
}

/// Appendix A for one category.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryLine {
    pub category: Category,
    pub tally: Tally,
    /// Approved patches with at least one obligation excepted or overdue.
    pub patches_not_deployed: usize,
}

/// Appendix A, the monthly patch management compliance form of one department.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub department: String,
    pub from: Timestamp,
    pub at: Timestamp,
    /// Emergency, Critical, Not Critical.
    pub lines: Vec<CategoryLine>,
    pub not_deployed: Vec<NotDeployed>,
}

impl Form {
    /// Appendix A's yes/no: every patch not deployed has a workaround or mitigation.
    pub fn all_mitigated(&self) -> bool {
        self.not_deployed.iter().all(|n| n.workaround.is_some())
    }
}

/// Fills in Appendix A for `department` from obligations evaluated over the month.
pub fn form(fleet: &Fleet<'_>, obligations: &[Obligation], department: &str, from: Timestamp, at: Timestamp) -> Form {
    let mine: Vec<&Obligation> = obligations
        .iter()
        .filter(|o| o.approved && fleet.hosts[o.host].department == department)
        .collect();
    let lines = [Category::Emergency, Category::Critical, Category::NotCritical]
        .into_iter()
        .map(|category| {
            let mut tally = Tally::default();
            let mut not_deployed: Vec<&str> = Vec::new();
            for o in mine.iter().filter(|o| o.category == category) {
                tally.add(o.standing);
                if !o.standing.compliant() {
                    not_deployed.push(&o.patch);
                }
            }
            not_deployed.sort_unstable();
            not_deployed.dedup();
            CategoryLine {
                category,
                tally,
                patches_not_deployed: not_deployed.len(),
            }
        })
        .collect();
    let mut causes: BTreeMap<(String, Option<usize>), NotDeployed> = BTreeMap::new();
    for o in mine.iter().filter(|o| !o.standing.compliant()) {
        let exception = match o.standing {
            Standing::Excepted(i) => Some(i),
            _ => None,
        };
        causes
            .entry((o.patch.clone(), exception))
            .and_modify(|n| {
                n.hosts += 1;
                n.due = n.due.min(o.deadline.due);
            })
            .or_insert_with(|| {
                let scope = exception.and_then(|i| fleet.exceptions.get(i));
                NotDeployed {
                    patch: o.patch.clone(),
                    category: o.category,
                    hosts: 1,
                    due: o.deadline.due,
                    why: match scope {
                        Some(s) => format!("{}: {}", s.exception.request.kind.name(), s.exception.request.reason),
                        None => "overdue; no exception covers it".to_owned(),
                    },
                    target: scope.map(|s| s.exception.request.target),
                    workaround: scope.and_then(|s| s.exception.request.workaround.clone()),
                    exception: scope.map(|s| s.exception.id.clone()),
                }
            });
    }
    let mut not_deployed: Vec<NotDeployed> = causes.into_values().collect();
    not_deployed.sort_by(|a, b| (b.category, &a.patch).cmp(&(a.category, &b.patch)));
    Form {
        department: department.to_owned(),
        from,
        at,
        lines,
        not_deployed,
    }
}

#[cfg(test)]
mod tests;
