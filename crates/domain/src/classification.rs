//! §9: each patch's criticality per platform class. The system suggests a category with its
//! reasons (KEV listing, vendor severity, EPSS, the share of the fleet affected); Security confirms
//! or overrides it, and that decision is what deadlines and compliance use.

use std::fmt;

use crate::advisory::Severity;
use crate::policy::{Category, Suggestion};

/// §9.1's platforms: the kinds of machine a patch is classified for separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformClass {
    Server,
    Desktop,
    Laptop,
    Printer,
    Other,
}

impl PlatformClass {
    pub const ALL: [PlatformClass; 5] = [
        PlatformClass::Server,
        PlatformClass::Desktop,
        PlatformClass::Laptop,
        PlatformClass::Printer,
        PlatformClass::Other,
    ];

    /// A host's platform-class label; anything not one of the four named classes is `Other`.
    pub fn of_label(label: &str) -> PlatformClass {
        match label.trim().to_ascii_lowercase().as_str() {
            "server" => PlatformClass::Server,
            "desktop" => PlatformClass::Desktop,
            "laptop" => PlatformClass::Laptop,
            "printer" => PlatformClass::Printer,
            _ => PlatformClass::Other,
        }
    }

    /// The class a label must name exactly (API input): `None` for anything else.
    pub fn parse(name: &str) -> Option<PlatformClass> {
        PlatformClass::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            PlatformClass::Server => "server",
            PlatformClass::Desktop => "desktop",
            PlatformClass::Laptop => "laptop",
            PlatformClass::Printer => "printer",
            PlatformClass::Other => "other",
        }
    }
}

impl fmt::Display for PlatformClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is known of a patch when it is classified.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchFacts {
    pub severity: Option<Severity>,
    /// CVEs of the patch in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: Vec<String>,
    /// The highest EPSS probability among its CVEs.
    pub epss: Option<f64>,
    /// Hosts missing the patch ÷ hosts with an inventory, over the whole fleet (Appendix B's
    /// "PCs or devices affected").
    pub fleet_share: f64,
}

/// A suggested category and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggested {
    pub category: Category,
    pub reasons: Vec<String>,
}

/// The category the policy's thresholds suggest for one platform class. `class_has_package`:
/// whether any host of the class has one of the patch's packages installed (§9.1.4: a class that
/// does not run the software does not need the patch).
pub fn suggest(
    thresholds: &Suggestion,
    patch: &PatchFacts,
    class: PlatformClass,
    class_has_package: bool,
) -> Suggested {
    if !class_has_package {
        return Suggested {
            category: Category::NotApplicable,
            reasons: vec![format!("no {class} host has the package")],
        };
    }
    let mut reasons = Vec::new();
    let share = format!("{:.0}% of the fleet affected", patch.fleet_share * 100.0);
    if thresholds.kev_is_emergency && !patch.kev.is_empty() {
        reasons.push(format!(
            "{} in CISA's Known Exploited Vulnerabilities catalog",
            patch.kev.join(", ")
        ));
    }
    if let Some(epss) = patch.epss.filter(|e| *e >= thresholds.emergency_epss) {
        reasons.push(format!(
            "EPSS {epss:.2} ≥ {:.2}: exploitation likely",
            thresholds.emergency_epss
        ));
    }
    if !reasons.is_empty() {
        reasons.push(share);
        return Suggested {
            category: Category::Emergency,
            reasons,
        };
    }
    if let Some(severity) = patch.severity.filter(|s| *s >= thresholds.critical_severity) {
        reasons.push(format!(
            "vendor severity {} ≥ {}",
            severity.name(),
            thresholds.critical_severity.name()
        ));
    }
    if patch.fleet_share >= thresholds.critical_fleet_share {
        reasons.push(format!("{share} ≥ {:.0}%", thresholds.critical_fleet_share * 100.0));
    }
    if !reasons.is_empty() {
        if !reasons.iter().any(|r| r.contains("of the fleet")) {
            reasons.push(share);
        }
        return Suggested {
            category: Category::Critical,
            reasons,
        };
    }
    reasons.push(match patch.severity {
        Some(severity) => format!(
            "vendor severity {} below {}",
            severity.name(),
            thresholds.critical_severity.name()
        ),
        None => "no vendor severity given".to_owned(),
    });
    reasons.push(share);
    if patch.epss.is_some() {
        reasons.push("not in KEV; EPSS below the emergency threshold".to_owned());
    }
    Suggested {
        category: Category::NotCritical,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn patch(severity: Option<Severity>, kev: &[&str], epss: Option<f64>, share: f64) -> PatchFacts {
        PatchFacts {
            severity,
            kev: kev.iter().map(|s| (*s).to_owned()).collect(),
            epss,
            fleet_share: share,
        }
    }

    fn category(p: &PatchFacts, has: bool) -> Category {
        suggest(&Policy::default().suggestion, p, PlatformClass::Server, has).category
    }

    #[test]
    fn each_threshold_of_the_default_policy() {
        let low = Some(Severity::Low);
        assert_eq!(
            category(&patch(low, &["CVE-2024-0001"], None, 0.01), true),
            Category::Emergency
        );
        assert_eq!(category(&patch(low, &[], Some(0.5), 0.01), true), Category::Emergency);
        assert_eq!(
            category(&patch(low, &[], Some(0.49), 0.01), true),
            Category::NotCritical
        );
        assert_eq!(
            category(&patch(Some(Severity::Important), &[], None, 0.01), true),
            Category::Critical
        );
        assert_eq!(
            category(&patch(Some(Severity::Critical), &[], None, 0.01), true),
            Category::Critical
        );
        assert_eq!(
            category(&patch(Some(Severity::Moderate), &[], None, 0.69), true),
            Category::NotCritical
        );
        assert_eq!(
            category(&patch(Some(Severity::Moderate), &[], None, 0.7), true),
            Category::Critical
        );
        assert_eq!(category(&patch(None, &[], None, 0.1), true), Category::NotCritical);
        assert_eq!(
            category(&patch(Some(Severity::Critical), &["CVE-2024-0001"], None, 0.9), false),
            Category::NotApplicable
        );
    }

    #[test]
    fn reasons_name_what_decided() {
        let s = suggest(
            &Policy::default().suggestion,
            &patch(Some(Severity::Important), &[], Some(0.02), 0.25),
            PlatformClass::Desktop,
            true,
        );
        assert_eq!(
            s.reasons,
            ["vendor severity Important ≥ Important", "25% of the fleet affected"]
        );
        let na = suggest(
            &Policy::default().suggestion,
            &patch(None, &[], None, 0.0),
            PlatformClass::Printer,
            false,
        );
        assert_eq!(na.reasons, ["no printer host has the package"]);
    }

    #[test]
    fn labels_map_onto_classes() {
        assert_eq!(PlatformClass::of_label("Laptop"), PlatformClass::Laptop);
        assert_eq!(PlatformClass::of_label(""), PlatformClass::Other);
        assert_eq!(PlatformClass::parse("laptop"), Some(PlatformClass::Laptop));
        assert_eq!(PlatformClass::parse("Laptop"), None);
    }
}
