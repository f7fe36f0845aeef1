//! The policy engine's server side: keeping classification suggestions current (§9), lapsing
//! exceptions at their target date (§7.7), and loading what the domain's compliance rules read
//! from the store for a time.

use std::collections::HashMap;

use jiff::Timestamp;
use patchwarden_domain::advisory::Severity;
use patchwarden_domain::calendar::BusinessCalendar;
use patchwarden_domain::classification::{self, PatchFacts, PlatformClass};
use patchwarden_domain::compliance::{Classified, Fleet, Host, Obligation, Scope, Span, obligations};
use patchwarden_domain::policy::{Category, Impact, Policy};
use patchwarden_domain::selector::Selector;
use patchwarden_store::{Audit, ClassificationRow, HostRow, Store, StoreError};

use crate::advisories::Advisories;
use crate::api::host_facts;

/// Suggests a category per platform class for every patch with open findings that has none yet,
/// and revises a suggestion Security has not decided when the thresholds now say otherwise (the
/// fleet share moved to another column of Appendix B, a CVE joined KEV). Decided classifications
/// are left alone. Returns how many suggestions were written.
pub async fn refresh_classifications(
    store: &Store,
    advisories: &Advisories,
    policy: &Policy,
    audit: &Audit,
) -> Result<usize, StoreError> {
    let (reach, fleet) = store.patch_reach().await?;
    if reach.is_empty() {
        return Ok(0);
    }
    let current: HashMap<(String, String), ClassificationRow> = store
        .classifications(None)
        .await?
        .into_iter()
        .map(|c| ((c.advisory.clone(), c.platform_class.clone()), c))
        .collect();
    let mut names: Vec<String> = reach
        .iter()
        .filter_map(|(id, _)| advisories.index.get(id))
        .flat_map(|a| a.affected.iter().map(|p| p.package.clone()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let class_packages = store.class_packages(&names).await?;
    let mut rows = Vec::new();
    for (id, hosts) in &reach {
        let advisory = advisories.index.get(id);
        let cves: Vec<String> = advisory.map(|a| a.cves.clone()).unwrap_or_default();
        let facts = PatchFacts {
            severity: advisory.and_then(|a| a.severity),
            kev: cves
                .iter()
                .filter(|c| advisories.intel.kev.contains(*c))
                .cloned()
                .collect(),
            epss: cves
                .iter()
                .filter_map(|c| advisories.intel.epss.get(c).copied())
                .reduce(f64::max),
            fleet_share: if fleet > 0 { *hosts as f64 / fleet as f64 } else { 0.0 },
        };
        // §12: deadlines run from the vendor's release; without a published time, from when the
        // patch was first seen here.
        let released = advisory
            .and_then(|a| a.published.as_deref())
            .and_then(|p| p.parse::<Timestamp>().ok())
            .map_or(audit.at, Timestamp::as_second);
        for class in PlatformClass::ALL {
            let has_package = advisory.is_some_and(|a| {
                class_packages
                    .get(class.name())
                    .is_some_and(|names| a.affected.iter().any(|p| names.contains(&p.package)))
            });
            let suggested = classification::suggest(&policy.suggestion, &facts, class, has_package);
            let key = (id.clone(), class.name().to_owned());
            let revision = match current.get(&key) {
                None => 1,
                Some(c) if c.approved => continue,
                Some(c)
                    if c.suggested == suggested.category.name()
                        && Impact::of_share(c.fleet_share) == Impact::of_share(facts.fleet_share) =>
                {
                    continue;
                }
                Some(c) => c.revision + 1,
            };
            rows.push(ClassificationRow {
                advisory: id.clone(),
                platform_class: class.name().to_owned(),
                revision,
                at: audit.at,
                actor: audit.actor.clone(),
                category: suggested.category.name().to_owned(),
                approved: false,
                suggested: suggested.category.name().to_owned(),
                reasons: suggested.reasons,
                note: String::new(),
                severity: facts.severity.map(|s| s.name().to_owned()),
                fleet_share: facts.fleet_share,
                released_at: released,
            });
        }
    }
    store.suggest_classifications(audit, &rows).await
}

/// Marks approved exceptions whose target date has passed as expired (the findings they covered
/// are back either way: being in force is a matter of time, not of this sweep).
pub async fn sweep_exceptions(store: &Store, now: i64) -> Result<usize, StoreError> {
    let at = crate::clock::timestamp(now);
    let audit = Audit {
        actor: "system".into(),
        at: now,
    };
    let mut expired = 0;
    for before in store.exceptions().await? {
        if before.lapsed(at) {
            let mut after = before.clone();
            after.state = patchwarden_domain::exception::State::Expired;
            if store.update_exception(&audit, &before, &after, None).await? {
                expired += 1;
            }
        }
    }
    Ok(expired)
}

/// The store's records, as the compliance rules read them for a period.
#[derive(Debug)]
pub struct Snapshot {
    pub hosts: Vec<Host>,
    pub spans: Vec<Span>,
    pub classified: HashMap<(String, PlatformClass), Classified>,
    pub exceptions: Vec<Scope>,
}

impl Snapshot {
    /// Loads the fleet, the spans overlapping `[from, at]`, the classifications in force at `at`
    /// and every exception.
    pub async fn load(store: &Store, from: i64, at: i64) -> Result<Snapshot, StoreError> {
        let rows = store.hosts().await?;
        let position: HashMap<&str, usize> = rows.iter().enumerate().map(|(i, h)| (h.id.as_str(), i)).collect();
        let spans = store
            .finding_spans(from, at)
            .await?
            .into_iter()
            .filter_map(|s| {
                Some(Span {
                    host: *position.get(s.host_id.as_str())?,
                    patch: s.advisory,
                    opened: Timestamp::from_second(s.opened_at).ok()?,
                    closed: s.closed_at.and_then(|c| Timestamp::from_second(c).ok()),
                })
            })
            .collect();
        let classified = store
            .classifications(Some(at))
            .await?
            .into_iter()
            .filter_map(|c| {
                Some((
                    (c.advisory.clone(), PlatformClass::parse(&c.platform_class)?),
                    Classified {
                        category: Category::parse(&c.category)?,
                        approved: c.approved,
                        severity: c.severity.as_deref().and_then(Severity::from_vendor),
                        fleet_share: c.fleet_share,
                        released: Timestamp::from_second(c.released_at).ok()?,
                    },
                ))
            })
            .collect();
        let exceptions = store
            .exceptions()
            .await?
            .into_iter()
            // A stored selector was checked when it was requested; one that no longer parses
            // (the language changed) covers nothing rather than everything.
            .filter_map(|e| {
                Some(Scope {
                    selector: Selector::parse(&e.request.selector).ok()?,
                    exception: e,
                })
            })
            .collect();
        Ok(Snapshot {
            hosts: rows.iter().map(host).collect(),
            spans,
            classified,
            exceptions,
        })
    }

    pub fn fleet(&self) -> Fleet<'_> {
        Fleet {
            hosts: &self.hosts,
            spans: &self.spans,
            classified: &self.classified,
            exceptions: &self.exceptions,
        }
    }

    pub fn obligations(&self, policy: &Policy, calendar: &BusinessCalendar, from: i64, at: i64) -> Vec<Obligation> {
        obligations(
            policy,
            calendar,
            &self.fleet(),
            crate::clock::timestamp(from),
            crate::clock::timestamp(at),
        )
    }
}

/// A stored host as compliance sees it.
pub fn host(h: &HostRow) -> Host {
    Host {
        id: h.id.clone(),
        department: h.labels.department.clone(),
        class: PlatformClass::of_label(&h.labels.platform_class),
        facts: host_facts(h),
    }
}
