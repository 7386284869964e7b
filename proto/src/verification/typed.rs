//! The verification statement validator in one pass, as the data-flow predicate's
//! (`predicate::typed`): one walk over the parsed payload checks every field and builds the
//! typed [`VerificationStatement`], reporting the same problems, in the same order and at the
//! same paths, as the two-pass validator kept as its test oracle (`oracle.rs`).
//!
//! Two things the oracle refused only in its second pass, serde's conversion, are refused
//! here with serde's own message and only when the first pass found nothing, as there: a
//! `null` `predicate.evidence` (a list when present) and a digest of the subject that is not a
//! string. Serde met them in key order, so the first of them in that order is the one named.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    Environment, Finding, FindingResult, Observed, PREDICATE_TYPE, Performed, SubjectEntry,
    Verdict, Verification, VerificationEvidence, VerificationStatement, VerificationSupersedes,
    VerifierInfo, check_ip, check_method, check_verdict, subject_name,
};
use crate::predicate::typed::{At, Obj, Walk, extra, pick};
use crate::predicate::{
    FieldError, MAX_SAFE_INTEGER, STATEMENT_TYPE, Subject, check_country, check_enum,
    check_rfc3339, check_sha256, check_uri, check_uuid, parse_rfc3339,
};

pub(super) const RESULTS: [&str; 3] = ["consistent", "contradicted", "not_tested"];
const VERDICTS: [&str; 3] = ["consistent", "contradicted", "inconclusive"];

/// Validates a verification statement and converts it to the typed form in one walk.
pub(super) fn statement_from_value(value: Value) -> Result<VerificationStatement, Vec<FieldError>> {
    let mut v = VWalk::default();
    let st = v.statement(value);
    let failed = v.w.c.count() > 0;
    let errs = v.w.c.into_errors();
    if failed {
        return Err(errs);
    }
    // What serde refused after a clean first pass: the first in key order (the predicate's
    // `evidence` sorts before `subject`).
    if let Some(message) = v.late.into_iter().next() {
        return Err(vec![FieldError::new("", message)]);
    }
    st.ok_or_else(|| vec![FieldError::new("", "statement could not be read")])
}

#[derive(Default)]
struct VWalk {
    w: Walk,
    /// Refusals of the oracle's second pass, in serde's order.
    late: Vec<String>,
}

/// Serde's message for `v` where a string was expected.
fn not_a_string(v: Value) -> Option<String> {
    serde_json::from_value::<String>(v)
        .err()
        .map(|e| e.to_string())
}

impl VWalk {
    /// A safe integer (0 to 2^53-1), required or optional; `None` when absent or invalid.
    fn safe_u64(&mut self, o: &mut Obj, at: &At<'_>, key: &str, required: bool) -> Option<u64> {
        let v = if required {
            self.w.req(o, at, key)
        } else {
            Walk::opt(o, key)
        }?;
        let n = v.as_u64().filter(|n| *n <= MAX_SAFE_INTEGER);
        if n.is_none() {
            self.w
                .err(&at.key(key), "expected an integer from 0 to 2^53-1");
        }
        n
    }

    fn statement(&mut self, v: Value) -> Option<VerificationStatement> {
        let root = At::Root;
        let mut o = self.w.object(v, &root)?;
        let type_ = self.w.req_str(&mut o, &root, "_type");
        if let Some(t) = &type_
            && t != STATEMENT_TYPE
        {
            self.w
                .err(&root.key("_type"), format!("expected {STATEMENT_TYPE:?}"));
        }
        let predicate_type = self.w.req_str(&mut o, &root, "predicateType");
        if let Some(pt) = &predicate_type
            && pt != PREDICATE_TYPE
        {
            self.w.err(
                &root.key("predicateType"),
                format!("expected {PREDICATE_TYPE:?}"),
            );
            return None;
        }
        let subjects = self
            .w
            .objects(&mut o, &root, "subject", true, true)
            .unwrap_or_default();
        if subjects.len() > 1 {
            self.w
                .err(&root.key("subject"), "must name exactly one log entry");
        }
        let sat = root.key("subject");
        let mut subject_late = Vec::new();
        let first = subjects.into_iter().next().map(|(i, mut s)| {
            let at = sat.index(i);
            let name = self.w.req_str(&mut s, &at, "name");
            let mut digest = BTreeMap::new();
            if let Some(dv) = self.w.req(&mut s, &at, "digest") {
                let dat = at.key("digest");
                if let Some(mut d) = self.w.object(dv, &dat) {
                    let sha = self.w.req_checked(&mut d, &dat, "sha256", check_sha256);
                    for (alg, v) in d {
                        match v {
                            Value::String(s) => {
                                digest.insert(alg, s);
                            }
                            other => subject_late.extend(not_a_string(other)),
                        }
                    }
                    if let Some(h) = sha {
                        digest.insert("sha256".to_owned(), h);
                    }
                }
            }
            (
                i,
                name,
                Subject {
                    name: String::new(),
                    digest,
                    extra: extra(s),
                },
            )
        });
        let pv = self.w.req(&mut o, &root, "predicate")?;
        let p = self.w.object(pv, &root.key("predicate"))?;
        let (predicate, index) = self.predicate(p);
        if let (Some((i, Some(name), _)), Some(n)) = (&first, index)
            && *name != subject_name(n)
        {
            self.w.err(
                &sat.index(*i).key("name"),
                format!(
                    "must be {:?} (predicate.subject_entry.log_index)",
                    subject_name(n)
                ),
            );
        }
        // The subject's digest, in serde's order after the predicate.
        self.late.extend(subject_late.into_iter().take(1));
        let subject = first
            .map(|(_, name, mut s)| {
                s.name = name.unwrap_or_default();
                vec![s]
            })
            .unwrap_or_default();
        Some(VerificationStatement {
            type_: type_.unwrap_or_default(),
            subject,
            predicate_type: predicate_type.unwrap_or_default(),
            predicate,
            extra: extra(o),
        })
    }

    /// The predicate, and the subject's log index when it is valid.
    fn predicate(&mut self, mut p: Obj) -> (Verification, Option<u64>) {
        let root = At::Root;
        let pat = root.key("predicate");
        let mut index = None;
        let subject_entry = self.w.req(&mut p, &pat, "subject_entry").and_then(|sv| {
            let sat = pat.key("subject_entry");
            let mut s = self.w.object(sv, &sat)?;
            index = self.safe_u64(&mut s, &sat, "log_index", true);
            let leaf_hash = self.w.req_checked(&mut s, &sat, "leaf_hash", check_sha256);
            let attestation_id = self
                .w
                .req_checked(&mut s, &sat, "attestation_id", check_uuid);
            Some(SubjectEntry {
                log_index: index.unwrap_or_default(),
                leaf_hash: leaf_hash.unwrap_or_default(),
                attestation_id: attestation_id.unwrap_or_default(),
            })
        });
        let supersedes = Walk::opt(&mut p, "supersedes").and_then(|sv| {
            let sat = pat.key("supersedes");
            let mut s = self.w.object(sv, &sat)?;
            let log_index = self.safe_u64(&mut s, &sat, "log_index", true);
            Some(VerificationSupersedes {
                log_index: log_index.unwrap_or_default(),
            })
        });
        let issued_at = self.w.req_checked(&mut p, &pat, "issued_at", check_rfc3339);
        let verifier = self.w.req(&mut p, &pat, "verifier").and_then(|vv| {
            let vat = pat.key("verifier");
            let mut v = self.w.object(vv, &vat)?;
            let legal_name = self.w.req_str(&mut v, &vat, "legal_name");
            let jurisdiction = self
                .w
                .req_checked(&mut v, &vat, "jurisdiction", check_country);
            let accreditation = Walk::opt(&mut v, "accreditation")
                .and_then(|a| self.w.string(a, &vat.key("accreditation")));
            Some(VerifierInfo {
                legal_name: legal_name.unwrap_or_default(),
                jurisdiction: jurisdiction.unwrap_or_default(),
                accreditation,
            })
        });
        let method = self.w.req_checked(&mut p, &pat, "method", check_method);
        let performed = self.w.req(&mut p, &pat, "performed").and_then(|tv| {
            let tat = pat.key("performed");
            let mut t = self.w.object(tv, &tat)?;
            let from = self.w.req_checked(&mut t, &tat, "from", check_rfc3339);
            let to = self.w.req_checked(&mut t, &tat, "to", check_rfc3339);
            if let (Some(f), Some(t)) = (
                from.as_deref().and_then(parse_rfc3339),
                to.as_deref().and_then(parse_rfc3339),
            ) && f > t
            {
                self.w
                    .err(&tat.key("to"), "must not be before performed.from");
            }
            Some(Performed {
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
            })
        });
        let environment = self.w.req(&mut p, &pat, "environment").and_then(|ev| {
            let eat = pat.key("environment");
            let mut e = self.w.object(ev, &eat)?;
            let product_version = self.w.req_str(&mut e, &eat, "product_version");
            let platform = self.w.req_str(&mut e, &eat, "platform");
            let network_country =
                self.w
                    .req_checked(&mut e, &eat, "network_country", check_country);
            Some(Environment {
                product_version: product_version.unwrap_or_default(),
                platform: platform.unwrap_or_default(),
                network_country: network_country.unwrap_or_default(),
            })
        });
        let mut contradicted_finding: Option<usize> = None;
        let mut flows = BTreeSet::new();
        let list = self
            .w
            .objects(&mut p, &pat, "findings", true, false)
            .unwrap_or_default();
        let fat = pat.key("findings");
        let findings = list
            .into_iter()
            .map(|(i, mut f)| {
                let at = fat.index(i);
                let raw = f.get("data_flow").and_then(Value::as_u64);
                let data_flow = self.safe_u64(&mut f, &at, "data_flow", true);
                if let Some(n) = raw
                    && !flows.insert(n)
                {
                    self.w.err(
                        &at.key("data_flow"),
                        format!("data flow {n} has another finding already"),
                    );
                }
                let result = self
                    .w
                    .req_checked(&mut f, &at, "result", |s| check_enum(s, &RESULTS));
                if result.as_deref() == Some("contradicted") {
                    contradicted_finding.get_or_insert(i);
                }
                let obs = self
                    .w
                    .objects(&mut f, &at, "observed", true, false)
                    .unwrap_or_default();
                let oat = at.key("observed");
                let observed = obs
                    .into_iter()
                    .map(|(j, ob)| self.observed(&oat.index(j), ob, false))
                    .collect();
                let note = match self.w.req(&mut f, &at, "note") {
                    Some(Value::String(s)) => s,
                    Some(_) => {
                        self.w.err(&at.key("note"), "expected a string");
                        String::new()
                    }
                    None => String::new(),
                };
                Finding {
                    data_flow: data_flow.unwrap_or_default(),
                    result: pick(
                        result.as_deref(),
                        &RESULTS,
                        &[
                            FindingResult::Consistent,
                            FindingResult::Contradicted,
                            FindingResult::NotTested,
                        ],
                    ),
                    observed,
                    note,
                }
            })
            .collect();
        let list = self
            .w
            .objects(&mut p, &pat, "undeclared", true, false)
            .unwrap_or_default();
        let uat = pat.key("undeclared");
        let undeclared = list
            .into_iter()
            .map(|(i, u)| self.observed(&uat.index(i), u, true))
            .collect();
        let verdict = self.w.req_checked(&mut p, &pat, "verdict", check_verdict);
        if let Some(v) = &verdict
            && v != "contradicted"
            && let Some(i) = contradicted_finding
        {
            let finding = fat.index(i);
            let path = finding.key("result").render();
            self.w.err(
                &pat.key("verdict"),
                format!("must be \"contradicted\" when a finding is ({path})"),
            );
        }
        let evidence = match p.remove("evidence") {
            Some(Value::Null) => {
                self.late.extend(
                    serde_json::from_value::<Vec<VerificationEvidence>>(Value::Null)
                        .err()
                        .map(|e| e.to_string()),
                );
                Vec::new()
            }
            None => Vec::new(),
            Some(ev) => {
                let mut one = Obj::new();
                one.insert("evidence".to_owned(), ev);
                let list = self
                    .w
                    .objects(&mut one, &pat, "evidence", false, false)
                    .unwrap_or_default();
                let eat = pat.key("evidence");
                list.into_iter()
                    .map(|(i, mut e)| {
                        let at = eat.index(i);
                        let uri = self.w.req_checked(&mut e, &at, "uri", check_uri);
                        let sha256 = self.w.req_checked(&mut e, &at, "sha256", check_sha256);
                        VerificationEvidence {
                            uri: uri.unwrap_or_default(),
                            sha256: sha256.unwrap_or_default(),
                        }
                    })
                    .collect()
            }
        };
        let predicate = Verification {
            subject_entry: subject_entry.unwrap_or_else(|| SubjectEntry {
                log_index: 0,
                leaf_hash: String::new(),
                attestation_id: String::new(),
            }),
            supersedes,
            issued_at: issued_at.unwrap_or_default(),
            verifier: verifier.unwrap_or_else(|| VerifierInfo {
                legal_name: String::new(),
                jurisdiction: String::new(),
                accreditation: None,
            }),
            method: method.unwrap_or_default(),
            performed: performed.unwrap_or_else(|| Performed {
                from: String::new(),
                to: String::new(),
            }),
            environment: environment.unwrap_or_else(|| Environment {
                product_version: String::new(),
                platform: String::new(),
                network_country: String::new(),
            }),
            findings,
            undeclared,
            verdict: pick(
                verdict.as_deref(),
                &VERDICTS,
                &[
                    Verdict::Consistent,
                    Verdict::Contradicted,
                    Verdict::Inconclusive,
                ],
            ),
            evidence,
            extra: extra(p),
        };
        (predicate, index)
    }

    fn observed(&mut self, at: &At<'_>, mut o: Obj, bytes_required: bool) -> Observed {
        let hostname =
            Walk::opt(&mut o, "hostname").and_then(|h| self.w.string(h, &at.key("hostname")));
        let ip = self.w.req_checked(&mut o, at, "ip", check_ip);
        let port = self.w.req(&mut o, at, "port").and_then(|port| {
            let n = port.as_u64().and_then(|n| u16::try_from(n).ok());
            if n.is_none() {
                self.w
                    .err(&at.key("port"), "expected a port number (0-65535)");
            }
            n
        });
        let country = Walk::opt(&mut o, "country").and_then(|cv| {
            let cat = at.key("country");
            let s = self.w.string(cv, &cat)?;
            match check_country(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    self.w.err(&cat, m);
                    None
                }
            }
        });
        let bytes = self.safe_u64(&mut o, at, "bytes", bytes_required);
        Observed {
            hostname,
            ip: ip.unwrap_or_default(),
            port: port.unwrap_or_default(),
            country,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests;
