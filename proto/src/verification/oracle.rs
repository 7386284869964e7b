//! The two-pass verification statement validator the one-pass walk of `typed.rs` replaced,
//! kept as its test oracle: a validation over the raw [`Value`], then serde's deserialization
//! into the typed [`VerificationStatement`].

use serde_json::{Map, Value};

use super::{
    PREDICATE_TYPE, VerificationStatement, check_ip, check_method, check_verdict, subject_name,
};
use crate::predicate::{
    Checker, FieldError, MAX_SAFE_INTEGER, STATEMENT_TYPE, check_country, check_enum,
    check_rfc3339, check_sha256, check_uri, check_uuid, join, parse_rfc3339,
};
// The vocabulary is the walk's own list: the oracle checks the walk's paths and order.
use super::typed::RESULTS;

/// The old `statement_from_value`: validate, then deserialize.
pub(super) fn statement_from_value(value: Value) -> Result<VerificationStatement, Vec<FieldError>> {
    let errs = validate(&value);
    if !errs.is_empty() {
        return Err(errs);
    }
    serde_json::from_value(value).map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// The old `validate`.
pub(super) fn validate(value: &Value) -> Vec<FieldError> {
    let mut c = Checker::default();
    statement(&mut c, value);
    c.into_errors()
}

fn safe_u64(c: &mut Checker, o: &Map<String, Value>, path: &str, key: &str, required: bool) {
    let v = if required {
        c.req(o, path, key)
    } else {
        Checker::opt(o, key)
    };
    if let Some(v) = v
        && v.as_u64().is_none_or(|n| n > MAX_SAFE_INTEGER)
    {
        c.err(join(path, key), "expected an integer from 0 to 2^53-1");
    }
}

fn statement(c: &mut Checker, v: &Value) {
    let Some(o) = c.object(v, "") else {
        return;
    };
    if let Some(t) = c.req_str(o, "", "_type")
        && t != STATEMENT_TYPE
    {
        c.err("_type", format!("expected {STATEMENT_TYPE:?}"));
    }
    if let Some(pt) = c.req_str(o, "", "predicateType")
        && pt != PREDICATE_TYPE
    {
        c.err("predicateType", format!("expected {PREDICATE_TYPE:?}"));
        return;
    }
    let subjects = c.objects(o, "", "subject", true, true);
    if subjects.len() > 1 {
        c.err("subject", "must name exactly one log entry");
    }
    let subject_name_seen = subjects.first().map(|(p, s)| {
        let name = c.req_str(s, p, "name").map(str::to_owned);
        if let Some(dv) = c.req(s, p, "digest") {
            let dp = join(p, "digest");
            if let Some(d) = c.object(dv, &dp) {
                c.req_checked(d, &dp, "sha256", check_sha256);
            }
        }
        (join(p, "name"), name)
    });
    let Some(pv) = c.req(o, "", "predicate") else {
        return;
    };
    let Some(p) = c.object(pv, "predicate") else {
        return;
    };
    let index = predicate(c, p);
    if let (Some((path, Some(name))), Some(i)) = (subject_name_seen, index)
        && name != subject_name(i)
    {
        c.err(
            path,
            format!(
                "must be {:?} (predicate.subject_entry.log_index)",
                subject_name(i)
            ),
        );
    }
}

/// Validates the predicate; returns the subject's log index when it is valid.
fn predicate(c: &mut Checker, p: &Map<String, Value>) -> Option<u64> {
    let pp = "predicate";
    let mut index = None;
    if let Some(sv) = c.req(p, pp, "subject_entry") {
        let sp = join(pp, "subject_entry");
        if let Some(s) = c.object(sv, &sp) {
            safe_u64(c, s, &sp, "log_index", true);
            index = s
                .get("log_index")
                .and_then(Value::as_u64)
                .filter(|n| *n <= MAX_SAFE_INTEGER);
            c.req_checked(s, &sp, "leaf_hash", check_sha256);
            c.req_checked(s, &sp, "attestation_id", check_uuid);
        }
    }
    if let Some(sv) = Checker::opt(p, "supersedes") {
        let sp = join(pp, "supersedes");
        if let Some(s) = c.object(sv, &sp) {
            safe_u64(c, s, &sp, "log_index", true);
        }
    }
    c.req_checked(p, pp, "issued_at", check_rfc3339);
    if let Some(vv) = c.req(p, pp, "verifier") {
        let vp = join(pp, "verifier");
        if let Some(v) = c.object(vv, &vp) {
            c.req_str(v, &vp, "legal_name");
            c.req_checked(v, &vp, "jurisdiction", check_country);
            if let Some(a) = Checker::opt(v, "accreditation") {
                c.string(a, &join(&vp, "accreditation"));
            }
        }
    }
    c.req_checked(p, pp, "method", check_method);
    if let Some(tv) = c.req(p, pp, "performed") {
        let tp = join(pp, "performed");
        if let Some(t) = c.object(tv, &tp) {
            let from = c.req_checked(t, &tp, "from", check_rfc3339);
            let to = c.req_checked(t, &tp, "to", check_rfc3339);
            if let (Some(f), Some(t)) = (from.and_then(parse_rfc3339), to.and_then(parse_rfc3339))
                && f > t
            {
                c.err(join(&tp, "to"), "must not be before performed.from");
            }
        }
    }
    if let Some(ev) = c.req(p, pp, "environment") {
        let ep = join(pp, "environment");
        if let Some(e) = c.object(ev, &ep) {
            c.req_str(e, &ep, "product_version");
            c.req_str(e, &ep, "platform");
            c.req_checked(e, &ep, "network_country", check_country);
        }
    }
    let mut contradicted_finding = None;
    let mut flows = std::collections::BTreeSet::new();
    for (fp, f) in c.objects(p, pp, "findings", true, false) {
        safe_u64(c, f, &fp, "data_flow", true);
        if let Some(n) = f.get("data_flow").and_then(Value::as_u64)
            && !flows.insert(n)
        {
            c.err(
                join(&fp, "data_flow"),
                format!("data flow {n} has another finding already"),
            );
        }
        if let Some(r) = c.req_checked(f, &fp, "result", |s| check_enum(s, &RESULTS))
            && r == "contradicted"
        {
            contradicted_finding.get_or_insert(join(&fp, "result"));
        }
        for (op, ob) in c.objects(f, &fp, "observed", true, false) {
            observed(c, &op, ob, false);
        }
        if let Some(n) = c.req(f, &fp, "note")
            && !n.is_string()
        {
            c.err(join(&fp, "note"), "expected a string");
        }
    }
    for (up, u) in c.objects(p, pp, "undeclared", true, false) {
        observed(c, &up, u, true);
    }
    if let Some(v) = c.req_checked(p, pp, "verdict", check_verdict)
        && v != "contradicted"
        && let Some(path) = contradicted_finding
    {
        c.err(
            join(pp, "verdict"),
            format!("must be \"contradicted\" when a finding is ({path})"),
        );
    }
    for (ep, e) in c.objects(p, pp, "evidence", false, false) {
        c.req_checked(e, &ep, "uri", check_uri);
        c.req_checked(e, &ep, "sha256", check_sha256);
    }
    index
}

fn observed(c: &mut Checker, path: &str, o: &Map<String, Value>, bytes_required: bool) {
    if let Some(h) = Checker::opt(o, "hostname") {
        c.string(h, &join(path, "hostname"));
    }
    c.req_checked(o, path, "ip", check_ip);
    if let Some(port) = c.req(o, path, "port")
        && port.as_u64().is_none_or(|n| n > 65_535)
    {
        c.err(join(path, "port"), "expected a port number (0-65535)");
    }
    if let Some(cv) = Checker::opt(o, "country") {
        let cp = join(path, "country");
        if let Some(s) = c.string(cv, &cp)
            && let Err(m) = check_country(s)
        {
            c.err(cp, m);
        }
    }
    safe_u64(c, o, path, "bytes", bytes_required);
}
