//! Text rendering of verified claims for the CLI: what `attestlog verify` (and `get`) print
//! for a receipt that verified. The protocol crate verifies; this module only presents.
//!
//! Text taken from an entry is shown with control characters escaped, so that a claim cannot
//! drive the reader's terminal.

use std::fmt::Write as _;

use attestlog_proto::enrolment::Action;
use attestlog_proto::predicate::{
    Consent, DataFlow, EvidenceType, Role, Statement, Status, Versions,
};
use attestlog_proto::receipt::{Claim, VerifiedReceipt};
use attestlog_proto::registration::RegistrationPolicy;
use attestlog_proto::verification::{FindingResult, VerificationStatement};

/// A readable multi-line summary of the verified claim (what `attestlog verify` prints).
/// Text from the entry is shown with control characters escaped.
#[must_use]
pub fn verified_receipt(r: &VerifiedReceipt) -> String {
    let mut out = String::new();
    let cp = r.checkpoint();
    let kind = r.claim().kind();
    line(
        &mut out,
        0,
        &format!(
            "Verified {kind} at index {} of log {} (tree size {}, root {})",
            r.index(),
            clean(&cp.origin),
            cp.size,
            cp.root.to_base64()
        ),
    );
    let witnesses = if r.witnesses().is_empty() {
        "none".to_owned()
    } else {
        list(r.witnesses().iter())
    };
    line(&mut out, 0, &format!("Verified witnesses: {witnesses}"));
    match r.claim() {
        Claim::Enrolment(e) => {
            let action = match e.action {
                Action::Enrol => "enrols",
                Action::Revoke => "revokes",
            };
            line(
                &mut out,
                0,
                &format!(
                    "The log {action} key {} for vendor {} (issued {})",
                    clean(&e.key.to_string()),
                    clean(&e.vendor),
                    clean(&e.issued_at)
                ),
            );
        }
        Claim::Attestation(s) => statement(&mut out, r, s),
        Claim::Verification(v) => verification(&mut out, r, v),
        Claim::Policy(p) => registration_policy(&mut out, p),
    }
    out
}

/// The enrolled key that signed the entry (verified entries other than policies have one).
fn signer(r: &VerifiedReceipt) -> String {
    r.vendor_key()
        .map(|k| clean(&k.to_string()))
        .unwrap_or_default()
}

fn enrolment_index(r: &VerifiedReceipt) -> String {
    r.enrolment_index()
        .map(|i| i.to_string())
        .unwrap_or_default()
}

fn registration_policy(out: &mut String, p: &RegistrationPolicy) {
    line(
        out,
        0,
        &format!(
            "The log states registration policy {} (signed by the log key)",
            p.sequence
        ),
    );
    line(
        out,
        2,
        &format!("algorithms: {}", list(p.algorithms.iter())),
    );
    line(
        out,
        2,
        &format!("content types: {}", list(p.content_types.iter())),
    );
    line(
        out,
        2,
        &format!("predicate types: {}", list(p.predicate_types.iter())),
    );
    line(
        out,
        2,
        &format!("CWT claims: {}", list(p.cwt_claims.iter())),
    );
    line(out, 2, &format!("payload: {}", clean(&p.payload)));
    line(
        out,
        2,
        &format!("largest signed statement: {} bytes", p.max_entry_bytes),
    );
}

fn verification(out: &mut String, r: &VerifiedReceipt, v: &VerificationStatement) {
    let p = &v.predicate;
    line(
        out,
        0,
        &format!(
            "Signed by verifier key {} (enrolled at index {})",
            signer(r),
            enrolment_index(r)
        ),
    );
    let accreditation = p
        .verifier
        .accreditation
        .as_deref()
        .map(|a| format!(", {}", clean(a)))
        .unwrap_or_default();
    line(
        out,
        0,
        &format!(
            "Verifier: {} ({}{accreditation})",
            clean(&p.verifier.legal_name),
            clean(&p.verifier.jurisdiction)
        ),
    );
    line(
        out,
        0,
        &format!(
            "Verifies attestation {} at index {} (leaf hash {})",
            clean(&p.subject_entry.attestation_id),
            p.subject_entry.log_index,
            clean(&p.subject_entry.leaf_hash)
        ),
    );
    if let Some(sup) = &p.supersedes {
        line(out, 2, &format!("supersedes index {}", sup.log_index));
    }
    line(
        out,
        0,
        &format!(
            "Verdict: {} (method {}, performed {} to {}, issued {})",
            p.verdict.as_str(),
            clean(&p.method),
            clean(&p.performed.from),
            clean(&p.performed.to),
            clean(&p.issued_at)
        ),
    );
    for f in &p.findings {
        line(
            out,
            2,
            &format!(
                "data flow {}: {} — {}",
                f.data_flow,
                match f.result {
                    FindingResult::Consistent => "consistent",
                    FindingResult::Contradicted => "contradicted",
                    FindingResult::NotTested => "not tested",
                },
                clean(&f.note)
            ),
        );
    }
    for u in &p.undeclared {
        let host = u.hostname.as_deref().map(clean).unwrap_or_default();
        let country = u.country.as_deref().map(clean).unwrap_or_default();
        line(
            out,
            2,
            &format!(
                "undeclared: {host} {}:{} {country} ({} bytes)",
                clean(&u.ip),
                u.port,
                u.bytes.unwrap_or_default()
            ),
        );
    }
}

fn statement(out: &mut String, r: &VerifiedReceipt, s: &Statement) {
    let p = &s.predicate;
    line(
        out,
        0,
        &format!(
            "Signed by key {} (enrolled at index {})",
            signer(r),
            enrolment_index(r)
        ),
    );
    line(
        out,
        0,
        &format!(
            "Vendor: {} ({})",
            clean(&p.vendor.legal_name),
            clean(&p.vendor.jurisdiction)
        ),
    );
    for o in &p.vendor.ownership_chain {
        line(
            out,
            2,
            &format!(
                "{}: {} ({})",
                clean(&o.relationship),
                clean(&o.legal_name),
                clean(&o.jurisdiction)
            ),
        );
    }
    let status = match p.status {
        Status::Active => "active",
        Status::Revoked => "revoked",
        Status::Withdrawn => "withdrawn",
    };
    line(
        out,
        0,
        &format!("Attestation {} ({status})", clean(&p.attestation_id)),
    );
    if let Some(sup) = &p.supersedes {
        line(
            out,
            2,
            &format!(
                "supersedes {} at index {}",
                clean(&sup.attestation_id),
                sup.log_index
            ),
        );
    }
    line(
        out,
        0,
        &format!(
            "Valid from {} until {} (issued {})",
            clean(&p.valid_from),
            clean(&p.valid_until),
            clean(&p.issued_at)
        ),
    );
    let versions = match &p.product.versions {
        Versions::Range { min, max } => format!("{} to {}", clean(min), clean(max)),
        Versions::List(v) => list(v.iter()),
    };
    line(
        out,
        0,
        &format!("Product: {}, versions {versions}", clean(&p.product.name)),
    );
    line(
        out,
        2,
        &format!("platforms: {}", list(p.product.platforms.iter())),
    );
    if let Some(ch) = &p.product.update_channels {
        line(out, 2, &format!("update channels: {}", list(ch.iter())));
    }
    for a in &p.product.artifacts {
        line(
            out,
            2,
            &format!("artifact {} sha256 {}", clean(&a.name), clean(&a.sha256)),
        );
    }
    line(out, 0, "Data flows:");
    for f in &p.data_flows {
        data_flow(out, f);
    }
    let excluded = p
        .excluded_jurisdictions
        .as_ref()
        .filter(|v| !v.is_empty())
        .map_or_else(|| "none".to_owned(), |v| list(v.iter()));
    line(out, 0, &format!("Excluded jurisdictions: {excluded}"));
    match p.evidence.as_ref().filter(|v| !v.is_empty()) {
        None => line(out, 0, "Evidence: none"),
        Some(ev) => {
            line(out, 0, "Evidence:");
            for e in ev {
                line(
                    out,
                    2,
                    &format!(
                        "{} by {}, {} to {}, scope: {}",
                        evidence_type(e.kind),
                        clean(&e.issuer),
                        clean(&e.period_start),
                        clean(&e.period_end),
                        clean(&e.scope)
                    ),
                );
                line(
                    out,
                    4,
                    &format!("{} (sha256 {})", clean(&e.uri), clean(&e.sha256)),
                );
            }
        }
    }
}

fn data_flow(out: &mut String, f: &DataFlow) {
    let items = f
        .items
        .as_ref()
        .filter(|v| !v.is_empty())
        .map(|v| format!(" ({})", list(v.iter())))
        .unwrap_or_default();
    let consent = match f.consent {
        Consent::OptIn => "opt-in",
        Consent::OptOut => "opt-out",
        Consent::Required => "required",
    };
    line(
        out,
        2,
        &format!(
            "- {}{items} from users in {}, consent {consent}",
            clean(&f.category.as_string()),
            list(f.user_regions.iter())
        ),
    );
    line(out, 4, &format!("purpose: {}", list(f.purpose.iter())));
    let mut dests = Vec::new();
    for d in &f.destinations {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(d.hostnames.iter().flatten().map(|h| clean(h)));
        parts.extend(d.ip_ranges.iter().flatten().map(|r| clean(r)));
        let mut s = parts.join(", ");
        if let Some(ports) = d.ports.as_ref().filter(|p| !p.is_empty()) {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            let _ = write!(s, " port {}", ports.join(", "));
        }
        dests.push(s);
    }
    line(
        out,
        4,
        &format!(
            "-> {}",
            if dests.is_empty() {
                "no destinations".to_owned()
            } else {
                dests.join("; ")
            }
        ),
    );
    for (role, label) in [
        (Role::Storage, "stored in"),
        (Role::Processing, "processed in"),
        (Role::Analysis, "analysed in"),
    ] {
        let places: Vec<String> = f
            .processing_locations
            .iter()
            .filter(|l| l.role == role)
            .map(|l| {
                format!(
                    "{} ({}, {})",
                    clean(&l.country),
                    clean(&l.city),
                    clean(&l.facility_operator)
                )
            })
            .collect();
        if !places.is_empty() {
            line(out, 4, &format!("{label}: {}", places.join("; ")));
        }
    }
    let remote = if f.remote_access_jurisdictions.is_empty() {
        "nowhere".to_owned()
    } else {
        list(f.remote_access_jurisdictions.iter())
    };
    line(out, 4, &format!("remote access from: {remote}"));
    let processors: Vec<String> = f
        .processors
        .iter()
        .map(|p| {
            format!(
                "{} ({}, {}, {})",
                clean(&p.legal_name),
                clean(&p.jurisdiction),
                clean(&p.role),
                clean(&p.service)
            )
        })
        .collect();
    line(
        out,
        4,
        &format!(
            "processors: {}",
            if processors.is_empty() {
                "none".to_owned()
            } else {
                processors.join("; ")
            }
        ),
    );
    if let Some(t) = f.onward_transfers.as_ref().filter(|v| !v.is_empty()) {
        let t: Vec<String> = t
            .iter()
            .map(|t| format!("{} ({})", clean(&t.to_country), clean(&t.mechanism)))
            .collect();
        line(out, 4, &format!("onward transfers: {}", t.join("; ")));
    }
    line(out, 4, &format!("retention: {}", clean(&f.retention)));
    if let Some(p) = f.protections.as_ref().filter(|v| !v.is_empty()) {
        line(out, 4, &format!("protections: {}", list(p.iter())));
    }
}

fn evidence_type(t: EvidenceType) -> &'static str {
    match t {
        EvidenceType::Soc2Type1 => "soc2_type1",
        EvidenceType::Soc2Type2 => "soc2_type2",
        EvidenceType::Iso27001 => "iso27001",
        EvidenceType::SourceReview => "source_review",
        EvidenceType::PenTest => "pen_test",
        EvidenceType::NetworkMeasurement => "network_measurement",
        EvidenceType::Other => "other",
    }
}

fn line(out: &mut String, indent: usize, text: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str(text);
    out.push('\n');
}

/// Escapes control characters so that entry text cannot drive a terminal.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(|s| clean(s)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
