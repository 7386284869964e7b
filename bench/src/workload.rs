//! Realistic signed attestations from several vendors, generated up front.

use attestlog_proto::Hash;
use attestlog_proto::cose::SignedStatement;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value, template, uuid_v4};
use serde_json::json;

const COUNTRIES: [&str; 8] = ["CH", "DE", "IE", "NL", "FR", "SE", "FI", "AT"];
const CATEGORIES: [&str; 5] = [
    "threat_samples",
    "telemetry",
    "url_reputation",
    "crash_dumps",
    "diagnostic_logs",
];

/// A vendor: legal name and signing key.
#[derive(Debug, Clone)]
pub struct Vendor {
    /// Legal name.
    pub name: String,
    /// Signing key.
    pub key: SignerKey,
}

/// `n` vendors with deterministic keys (benchmark keys, never use them elsewhere).
///
/// # Errors
/// Key construction errors.
pub fn vendors(n: usize, run: u64) -> anyhow::Result<Vec<Vendor>> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&run.to_be_bytes());
            seed[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            Ok(Vendor {
                name: format!("Bench Vendor {i} AG"),
                key: SignerKey::from_seed(
                    &format!("vendor{i}.bench.example/attest"),
                    TYPE_ED25519,
                    &seed,
                )?,
            })
        })
        .collect()
}

/// The canonical statement bytes (JCS) and the attestation ID of attestation number `i` of
/// `vendor`.
///
/// # Errors
/// An invalid generated statement (a bug).
pub fn statement(vendor: &Vendor, run: u64, i: u64) -> anyhow::Result<(Vec<u8>, String)> {
    let mut v = template();
    let p = &mut v["predicate"];
    p["vendor"]["legal_name"] = json!(vendor.name);
    p["attestation_id"] = json!(attestation_id(&vendor.name, run, i));
    p["product"]["name"] = json!(format!("Product {}", i % 17));
    let flow = &mut p["data_flows"][0];
    let c = COUNTRIES[usize::try_from(i % 8)?];
    flow["category"] = json!(CATEGORIES[usize::try_from(i % 5)?]);
    flow["processing_locations"][0]["country"] = json!(c);
    flow["remote_access_jurisdictions"] = json!([c]);
    flow["processors"][0]["jurisdiction"] = json!(c);
    let st = statement_from_value(v).map_err(|e| anyhow::anyhow!("bad statement: {e:?}"))?;
    Ok((st.canonical_bytes(), st.attestation_id().to_owned()))
}

/// The canonical DSSE envelope bytes of attestation number `i` of `vendor` (`POST
/// /v1/entries`).
///
/// # Errors
/// An invalid generated statement (a bug).
pub fn envelope(vendor: &Vendor, run: u64, i: u64) -> anyhow::Result<Vec<u8>> {
    let (payload, _) = statement(vendor, run, i)?;
    Ok(Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, &[&vendor.key]).canonical_bytes())
}

/// The same attestation as a COSE_Sign1 signed statement (`POST /entries`, SCITT): `iss` the
/// key's name, `sub` the attestation ID.
///
/// # Errors
/// An invalid generated statement (a bug).
pub fn cose_statement(vendor: &Vendor, run: u64, i: u64) -> anyhow::Result<Vec<u8>> {
    let (payload, id) = statement(vendor, run, i)?;
    Ok(SignedStatement::sign(&payload, &vendor.key, &id).to_entry())
}

/// A version-4 UUID as vendors mint them: random-looking (so its index takes inserts at
/// random places, as in production), yet the same for the same (vendor, run, number).
#[must_use]
pub fn attestation_id(vendor: &str, run: u64, i: u64) -> String {
    let digest = Hash::sha256(format!("{vendor}\n{run}\n{i}").as_bytes()).0;
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid_v4(b)
}

/// Latency percentiles in milliseconds of a sorted sample.
#[must_use]
pub fn percentiles(sorted_us: &[u64]) -> [(&'static str, f64); 4] {
    let at = |q: f64| -> f64 {
        if sorted_us.is_empty() {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((sorted_us.len() - 1) as f64 * q).round() as usize;
        sorted_us[i] as f64 / 1000.0
    };
    [
        ("p50", at(0.5)),
        ("p90", at(0.9)),
        ("p99", at(0.99)),
        ("max", at(1.0)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestlog_proto::predicate::is_uuid;
    use std::collections::HashSet;

    #[test]
    fn attestation_ids_are_distinct_repeatable_v4_uuids() {
        let mut seen = HashSet::new();
        for vendor in ["Bench Vendor 0 AG", "Bench Vendor 1 AG"] {
            for run in [1, 2] {
                for i in 0..500 {
                    let id = attestation_id(vendor, run, i);
                    assert!(is_uuid(&id), "{id}");
                    assert_eq!(&id[14..15], "4", "version 4: {id}");
                    assert!("89ab".contains(&id[19..20]), "RFC 4122 variant: {id}");
                    assert_eq!(id, attestation_id(vendor, run, i));
                    assert!(seen.insert(id));
                }
            }
        }
    }
}
