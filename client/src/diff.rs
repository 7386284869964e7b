//! What changed between two versions of an attestation: countries, processors, retention,
//! categories, destinations, status and validity.

use std::collections::BTreeSet;

use attestlog_proto::predicate::{Role, Statement};
use serde::Serialize;

/// One changed aspect: the values only in the old version and only in the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The aspect (`countries.storage`, `processors`, `retention`, …).
    pub aspect: String,
    /// Values in the new version only.
    pub added: Vec<String>,
    /// Values in the old version only.
    pub removed: Vec<String>,
}

/// The differences between two statements (old → new); empty when nothing compared changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementDiff {
    /// Changed aspects, in a fixed order.
    pub changes: Vec<Change>,
}

impl StatementDiff {
    /// Whether nothing compared changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Human-readable lines (`+ added`, `- removed` per aspect).
    #[must_use]
    pub fn render_text(&self) -> String {
        if self.changes.is_empty() {
            return "no differences in countries, processors, retention, categories, destinations, status or validity\n".into();
        }
        let mut s = String::new();
        for c in &self.changes {
            s.push_str(&format!("{}:\n", c.aspect));
            for a in &c.added {
                s.push_str(&format!("  + {a}\n"));
            }
            for r in &c.removed {
                s.push_str(&format!("  - {r}\n"));
            }
        }
        s
    }
}

/// The comparable aspects of a statement, as `(aspect, values)`.
fn aspects(s: &Statement) -> Vec<(&'static str, BTreeSet<String>)> {
    let p = &s.predicate;
    let mut storage = BTreeSet::new();
    let mut processing = BTreeSet::new();
    let mut analysis = BTreeSet::new();
    let mut remote = BTreeSet::new();
    let mut onward = BTreeSet::new();
    let mut processors = BTreeSet::new();
    let mut retention = BTreeSet::new();
    let mut categories = BTreeSet::new();
    let mut destinations = BTreeSet::new();
    let mut regions = BTreeSet::new();
    for f in &p.data_flows {
        let cat = f.category.to_string();
        categories.insert(cat.clone());
        retention.insert(format!("{cat}: {}", f.retention));
        for r in &f.user_regions {
            regions.insert(format!("{cat}: {r}"));
        }
        for l in &f.processing_locations {
            let set = match l.role {
                Role::Storage => &mut storage,
                Role::Processing => &mut processing,
                Role::Analysis => &mut analysis,
            };
            set.insert(l.country.clone());
        }
        remote.extend(f.remote_access_jurisdictions.iter().cloned());
        for t in f.onward_transfers.iter().flatten() {
            onward.insert(format!("{} ({})", t.to_country, t.mechanism));
        }
        for pr in &f.processors {
            processors.insert(format!(
                "{} ({}, {}: {})",
                pr.legal_name, pr.jurisdiction, pr.role, pr.service
            ));
        }
        for d in &f.destinations {
            for h in d.hostnames.iter().flatten() {
                destinations.insert(format!("{cat}: {h}"));
            }
            for r in d.ip_ranges.iter().flatten() {
                destinations.insert(format!("{cat}: {r}"));
            }
        }
    }
    let status = BTreeSet::from([format!("{:?}", p.status).to_lowercase()]);
    let validity = BTreeSet::from([format!("{} .. {}", p.valid_from, p.valid_until)]);
    let excluded: BTreeSet<String> = p.excluded_jurisdictions.iter().flatten().cloned().collect();
    vec![
        ("status", status),
        ("validity", validity),
        ("countries.storage", storage),
        ("countries.processing", processing),
        ("countries.analysis", analysis),
        ("countries.remote_access", remote),
        ("countries.onward_transfers", onward),
        ("excluded_jurisdictions", excluded),
        ("categories", categories),
        ("user_regions", regions),
        ("processors", processors),
        ("retention", retention),
        ("destinations", destinations),
    ]
}

/// Compares two versions of a claim (`old` → `new`).
#[must_use]
pub fn diff(old: &Statement, new: &Statement) -> StatementDiff {
    let mut changes = Vec::new();
    for ((aspect, a), (_, b)) in aspects(old).into_iter().zip(aspects(new)) {
        let added: Vec<String> = b.difference(&a).cloned().collect();
        let removed: Vec<String> = a.difference(&b).cloned().collect();
        if !added.is_empty() || !removed.is_empty() {
            changes.push(Change {
                aspect: aspect.to_owned(),
                added,
                removed,
            });
        }
    }
    StatementDiff { changes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestlog_proto::predicate::{statement_from_value, template};
    use serde_json::json;

    #[test]
    fn reports_added_and_removed_countries_and_retention() {
        let old = statement_from_value(template()).unwrap();
        let mut v = template();
        v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("DE");
        v["predicate"]["data_flows"][0]["retention"] = json!("P2Y");
        let new = statement_from_value(v).unwrap();
        let d = diff(&old, &new);
        let storage = d
            .changes
            .iter()
            .find(|c| c.aspect == "countries.storage")
            .unwrap();
        assert_eq!(storage.added, vec!["DE"]);
        assert_eq!(storage.removed, vec!["CH"]);
        let retention = d.changes.iter().find(|c| c.aspect == "retention").unwrap();
        assert_eq!(retention.added, vec!["threat_samples: P2Y"]);
        assert_eq!(d.changes.len(), 2, "{d:?}");
        assert!(diff(&old, &old).is_empty());
    }
}
