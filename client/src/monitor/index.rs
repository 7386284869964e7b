//! The monitor's index of current claims, so that checking one entry costs O(log n) in the
//! size of the log instead of a scan over every attestation seen so far.
//!
//! A contradiction (see [`super::Monitor`]) is between a new attestation and the current
//! version (the head of the chain) of another attestation id that has a version for the same
//! vendor and product: one's countries in the other's excluded list. The index keeps, per
//! (vendor, product) and country, the ids whose current version excludes that country and the
//! ids whose current version places data there. It is a filter: every id it returns is then
//! judged from the stored state exactly as before; an id it does not return cannot contradict.

use std::collections::{BTreeSet, HashMap, HashSet};

/// The countries of one id's current version.
#[derive(Debug)]
struct Head {
    index: u64,
    countries: BTreeSet<String>,
    excluded: BTreeSet<String>,
}

/// One id: the (vendor, product) pairs it has a version for, and its current version.
#[derive(Debug, Default)]
struct IdEntry {
    groups: HashSet<(String, String)>,
    head: Option<Head>,
}

/// Ids of one (vendor, product), by country.
#[derive(Debug, Default)]
struct ByCountry {
    /// Country → ids whose current version excludes it.
    excludes: HashMap<String, BTreeSet<String>>,
    /// Country → ids whose current version places data there.
    places: HashMap<String, BTreeSet<String>>,
}

impl ByCountry {
    fn add(&mut self, id: &str, h: &Head) {
        for c in &h.excluded {
            self.excludes
                .entry(c.clone())
                .or_default()
                .insert(id.to_owned());
        }
        for c in &h.countries {
            self.places
                .entry(c.clone())
                .or_default()
                .insert(id.to_owned());
        }
    }

    fn remove(&mut self, id: &str, h: &Head) {
        for (map, keys) in [
            (&mut self.excludes, &h.excluded),
            (&mut self.places, &h.countries),
        ] {
            for c in keys {
                if let Some(ids) = map.get_mut(c) {
                    ids.remove(id);
                    if ids.is_empty() {
                        map.remove(c);
                    }
                }
            }
        }
    }
}

/// The index (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct ClaimIndex {
    ids: HashMap<String, IdEntry>,
    /// Vendor → product → ids by country.
    groups: HashMap<String, HashMap<String, ByCountry>>,
}

impl ClaimIndex {
    /// Records that `id` has a version for (`vendor`, `product`) and that its current version
    /// is `head` (index, countries, excluded countries), `None` when the stored state has no
    /// record of it. Call after every attestation is recorded, with the head as it is then.
    pub(crate) fn record(
        &mut self,
        id: &str,
        vendor: &str,
        product: &str,
        head: Option<(u64, &BTreeSet<String>, &BTreeSet<String>)>,
    ) {
        let Self { ids, groups } = self;
        let entry = ids.entry(id.to_owned()).or_default();
        if entry.head.as_ref().map(|h| h.index) != head.map(|h| h.0) {
            let new = head.map(|(index, countries, excluded)| Head {
                index,
                countries: countries.clone(),
                excluded: excluded.clone(),
            });
            for (v, p) in &entry.groups {
                let g = groups
                    .entry(v.clone())
                    .or_default()
                    .entry(p.clone())
                    .or_default();
                if let Some(old) = &entry.head {
                    g.remove(id, old);
                }
                if let Some(new) = &new {
                    g.add(id, new);
                }
            }
            entry.head = new;
        }
        let key = (vendor.to_owned(), product.to_owned());
        if !entry.groups.contains(&key) {
            if let Some(h) = &entry.head {
                groups
                    .entry(key.0.clone())
                    .or_default()
                    .entry(key.1.clone())
                    .or_default()
                    .add(id, h);
            }
            entry.groups.insert(key);
        }
    }

    /// Ids other than `id` with a version for (`vendor`, `product`) whose current version
    /// excludes one of `countries` or places data in one of `excluded`, in id order.
    pub(crate) fn candidates<'a>(
        &'a self,
        vendor: &str,
        product: &str,
        id: &str,
        countries: &BTreeSet<String>,
        excluded: &BTreeSet<String>,
    ) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        let Some(g) = self.groups.get(vendor).and_then(|p| p.get(product)) else {
            return out;
        };
        for (map, keys) in [(&g.excludes, countries), (&g.places, excluded)] {
            for c in keys {
                if let Some(ids) = map.get(c) {
                    out.extend(ids.iter().map(String::as_str).filter(|o| *o != id));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{BTreeMap, BTreeSet};

    use attestlog_proto::Hash;
    use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
    use attestlog_proto::rules::Version;
    use proptest::prelude::*;

    use super::super::{Monitor, Rules, SeenAttestation, claim_index, conflicts, current};
    use crate::verifier::{Trust, Verifier};

    /// The same as [`Monitor::contradictions`] by a scan over every attestation seen: the
    /// reference the index is tested against.
    /// A claim's vendor, product, attestation id, countries and excluded countries.
    type Claim<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a BTreeSet<String>,
        &'a BTreeSet<String>,
    );

    fn contradictions_by_scan(
        m: &Monitor,
        (vendor, product, id, countries, excluded): Claim<'_>,
    ) -> Vec<(u64, String)> {
        // The current version of each other claim: the head of its chain, never the highest
        // index.
        let mut latest: BTreeMap<&str, (u64, &SeenAttestation)> = BTreeMap::new();
        for a in m.state.attestations.values() {
            if a.vendor == vendor
                && a.product == product
                && a.attestation_id != id
                && let Some(h) = current(&m.ledger, &m.state, &a.attestation_id)
            {
                latest.insert(a.attestation_id.as_str(), h);
            }
        }
        conflicts(latest, countries, excluded)
    }

    const COUNTRIES: [&str; 4] = ["CN", "DE", "RU", "US"];

    fn set(bits: u8) -> BTreeSet<String> {
        COUNTRIES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, c)| (*c).to_owned())
            .collect()
    }

    /// One logged attestation: id, vendor, product, countries, excluded, what it supersedes
    /// (0 nothing, 1 its chain's head, 2 some earlier index) and its day.
    type Step = (u8, u8, u8, u8, u8, u8, u8);

    fn monitor(dir: &std::path::Path) -> Monitor {
        let log = SignerKey::from_seed("log.example/attestlog", TYPE_ED25519, &[1; 32]).unwrap();
        let verifier = Verifier::new(
            crate::client::Client::new("http://127.0.0.1:9").unwrap(),
            Trust::log_key(log.verifier()),
        );
        Monitor::open(verifier, dir, Rules::default()).unwrap()
    }

    fn queries()
    -> impl Iterator<Item = (String, String, String, BTreeSet<String>, BTreeSet<String>)> {
        (0..2u8).flat_map(|v| {
            (0..2u8).flat_map(move |p| {
                (0..6u8).flat_map(move |id| {
                    [
                        (0b0001, 0b0100),
                        (0b1010, 0b0001),
                        (0b0100, 0b1010),
                        (0b1111, 0),
                    ]
                    .into_iter()
                    .map(move |(c, e)| {
                        (
                            format!("V{v}"),
                            format!("P{p}"),
                            format!("id{id}"),
                            set(c),
                            set(e),
                        )
                    })
                })
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// On random histories (ids changing vendor and product, heads that move, stale and
        /// foreign versions), the index finds exactly the contradictions a scan over every
        /// stored attestation finds, in the same order: entry by entry as the monitor checks
        /// them, and for a state reopened from disk.
        #[test]
        fn indexed_contradictions_equal_the_scan(
            steps in proptest::collection::vec(
                (0..5u8, 0..2u8, 0..2u8, 0..16u8, 0..16u8, 0..3u8, 1..28u8), 1..60)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut m = monitor(dir.path());
            for (index, step) in steps.iter().enumerate() {
                let (id, vendor, product, countries, excluded, sup, day): Step = *step;
                let index = u64::try_from(index).unwrap();
                let id = format!("id{id}");
                let a = SeenAttestation {
                    attestation_id: id.clone(),
                    vendor: format!("V{vendor}"),
                    product: format!("P{product}"),
                    countries: set(countries),
                    excluded: set(excluded),
                    supersedes: match sup {
                        0 => None,
                        1 => m.ledger.chain(&id).map(|c| c.head.index),
                        _ => Some(index / 2),
                    },
                    issued_at: format!("2026-01-{day:02}T00:00:00Z"),
                    statement: Some(Hash::leaf(&index.to_be_bytes())),
                    entry_hashes: None,
                    data_flows: None,
                };
                m.ledger.record_version(
                    &id,
                    Version {
                        index,
                        vendor: a.vendor.clone(),
                        supersedes: a.supersedes,
                        issued_at: a.issued_at.clone(),
                    },
                    Hash::leaf(&index.to_be_bytes()),
                );
                let args = (&a.vendor, &a.product, &id, &a.countries, &a.excluded);
                prop_assert_eq!(
                    m.contradictions(args.0, args.1, args.2, args.3, args.4),
                    contradictions_by_scan(&m, (args.0, args.1, args.2, args.3, args.4))
                );
                m.remember(index, a);
            }
            let reopened = claim_index(&m.state, &m.ledger);
            for (v, p, id, c, e) in queries() {
                let scan = contradictions_by_scan(&m, (&v, &p, &id, &c, &e));
                prop_assert_eq!(&m.contradictions(&v, &p, &id, &c, &e), &scan);
                let latest = reopened
                    .candidates(&v, &p, &id, &c, &e)
                    .into_iter()
                    .filter_map(|o| Some((o, current(&m.ledger, &m.state, o)?)));
                prop_assert_eq!(&conflicts(latest, &c, &e), &scan);
            }
        }
    }
}
