//! The two-pass statement validator the one-pass walk of `typed.rs` replaced, kept as its test
//! oracle: a validation over the raw [`Value`], then serde's deserialization into the typed
//! [`Statement`]. `typed::tests` holds the walk to the same answers.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{
    Category, Check, Checker, FieldError, MAX_SAFE_INTEGER, PREDICATE_TYPE, STATEMENT_TYPE,
    Statement, check_country, check_duration, check_enum, check_hostname, check_ip_range,
    check_region, check_rfc3339, check_sha256, check_uri, check_uuid, idx, join, parse_rfc3339,
};
// The vocabularies are the walk's own lists: the oracle checks the walk's paths and order.
use super::typed::{CONSENTS, EVIDENCE_TYPES, ROLES, STATUSES};

/// The old `statement_from_value`: validate, then deserialize.
pub(super) fn statement_from_value(value: Value) -> Result<Statement, Vec<FieldError>> {
    let errs = validate(&value);
    if !errs.is_empty() {
        return Err(errs);
    }
    serde_json::from_value(value)
        .map_err(|e| vec![FieldError::new("", e.to_string().to_lowercase())])
}

/// The old `validate`.
pub(super) fn validate(value: &Value) -> Vec<FieldError> {
    let mut c = Checker::default();
    c.statement(value);
    c.into_errors()
}

impl Checker {
    /// A list of strings each passing `check`; returns the valid ones with their paths.
    fn str_list<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        non_empty: bool,
        check: Check,
    ) -> Vec<(String, &'v str)> {
        let mut out = Vec::new();
        let Some(a) = self.array(v, path, non_empty) else {
            return out;
        };
        for (i, item) in a.iter().enumerate() {
            let p = idx(path, i);
            if let Some(s) = self.string(item, &p) {
                match check(s) {
                    Ok(()) => out.push((p, s)),
                    Err(m) => self.err(p, m),
                }
            }
        }
        out
    }

    fn req_list<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
        non_empty: bool,
        check: Check,
    ) -> Vec<(String, &'v str)> {
        match self.req(o, path, key) {
            Some(v) => self.str_list(v, &join(path, key), non_empty, check),
            None => Vec::new(),
        }
    }

    fn opt_list<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
        check: Check,
    ) -> Vec<(String, &'v str)> {
        match Self::opt(o, key) {
            Some(v) => self.str_list(v, &join(path, key), false, check),
            None => Vec::new(),
        }
    }

    fn statement(&mut self, v: &Value) {
        let Some(o) = self.object(v, "") else {
            return;
        };
        if let Some(t) = self.req_str(o, "", "_type")
            && t != STATEMENT_TYPE
        {
            self.err("_type", format!("expected {STATEMENT_TYPE:?}"));
        }
        let subjects = self.subjects(o);
        let pt = self.req_str(o, "", "predicateType");
        if let Some(pt) = pt
            && pt != PREDICATE_TYPE
        {
            self.err("predicateType", format!("expected {PREDICATE_TYPE:?}"));
            return;
        }
        let Some(pv) = self.req(o, "", "predicate") else {
            return;
        };
        let Some(p) = self.object(pv, "predicate") else {
            return;
        };
        let artifacts = self.predicate(p);
        if let (Some(mut s), Some(mut a)) = (subjects, artifacts) {
            s.sort();
            a.sort();
            if s != a {
                self.err(
                    "subject",
                    "must list exactly the artifacts of predicate.product.artifacts (name and sha256)",
                );
            }
        }
    }

    /// Returns the (name, sha256) pairs if every subject is valid.
    fn subjects<'v>(&mut self, o: &'v Map<String, Value>) -> Option<Vec<(&'v str, &'v str)>> {
        let before = self.count;
        let mut out = Vec::new();
        for (p, s) in self.objects(o, "", "subject", true, true) {
            let name = self.req_str(s, &p, "name");
            let Some(dv) = self.req(s, &p, "digest") else {
                continue;
            };
            let dp = join(&p, "digest");
            let Some(d) = self.object(dv, &dp) else {
                continue;
            };
            for (alg, val) in d {
                if !val.is_string() {
                    self.err(join(&dp, alg), "expected a string");
                }
            }
            let sha = self.req_checked(d, &dp, "sha256", check_sha256);
            if let (Some(n), Some(h)) = (name, sha) {
                out.push((n, h));
            }
        }
        (self.count == before).then_some(out)
    }

    /// Validates the predicate; returns the artifacts if they are all valid.
    fn predicate<'v>(&mut self, p: &'v Map<String, Value>) -> Option<Vec<(&'v str, &'v str)>> {
        let pp = "predicate";
        let id = self.req_checked(p, pp, "attestation_id", check_uuid);
        if let Some(sv) = Self::opt(p, "supersedes") {
            let sp = join(pp, "supersedes");
            if let Some(s) = self.object(sv, &sp) {
                if let Some(sid) = self.req_checked(s, &sp, "attestation_id", check_uuid)
                    && let Some(id) = id
                    && sid != id
                {
                    self.err(
                        join(&sp, "attestation_id"),
                        "must equal predicate.attestation_id",
                    );
                }
                // I-JSON (RFC 7493) safe integers only, so that JCS keeps the value exact.
                if let Some(li) = self.req(s, &sp, "log_index")
                    && li.as_u64().is_none_or(|n| n > MAX_SAFE_INTEGER)
                {
                    self.err(
                        join(&sp, "log_index"),
                        "expected an integer from 0 to 2^53-1",
                    );
                }
            }
        }
        self.req_checked(p, pp, "status", |s| check_enum(s, &STATUSES));
        self.req_checked(p, pp, "issued_at", check_rfc3339);
        let from = self.req_checked(p, pp, "valid_from", check_rfc3339);
        let until = self.req_checked(p, pp, "valid_until", check_rfc3339);
        if let (Some(f), Some(u)) = (from.and_then(parse_rfc3339), until.and_then(parse_rfc3339))
            && f >= u
        {
            self.err(
                join(pp, "valid_until"),
                "must be later than predicate.valid_from",
            );
        }
        self.vendor(p);
        let artifacts = self.product(p);
        let excluded: BTreeSet<&str> = self
            .opt_list(p, pp, "excluded_jurisdictions", check_country)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        for (fp, f) in self.objects(p, pp, "data_flows", true, true) {
            self.data_flow(&fp, f, &excluded);
        }
        for (ep, e) in self.objects(p, pp, "evidence", false, false) {
            self.req_checked(e, &ep, "type", |s| check_enum(s, &EVIDENCE_TYPES));
            self.req_str(e, &ep, "issuer");
            let s = self.req_checked(e, &ep, "period_start", check_rfc3339);
            let t = self.req_checked(e, &ep, "period_end", check_rfc3339);
            if let (Some(s), Some(t)) = (s.and_then(parse_rfc3339), t.and_then(parse_rfc3339))
                && s > t
            {
                self.err(join(&ep, "period_end"), "must not be before period_start");
            }
            self.req_str(e, &ep, "scope");
            self.req_checked(e, &ep, "uri", check_uri);
            self.req_checked(e, &ep, "sha256", check_sha256);
        }
        artifacts
    }

    fn vendor(&mut self, p: &Map<String, Value>) {
        let Some(vv) = self.req(p, "predicate", "vendor") else {
            return;
        };
        let vp = "predicate.vendor";
        let Some(v) = self.object(vv, vp) else {
            return;
        };
        self.req_str(v, vp, "legal_name");
        self.req_checked(v, vp, "jurisdiction", check_country);
        for (op, o) in self.objects(v, vp, "ownership_chain", true, false) {
            self.req_str(o, &op, "legal_name");
            self.req_checked(o, &op, "jurisdiction", check_country);
            self.req_str(o, &op, "relationship");
        }
    }

    fn product<'v>(&mut self, p: &'v Map<String, Value>) -> Option<Vec<(&'v str, &'v str)>> {
        let pv = self.req(p, "predicate", "product")?;
        let pp = "predicate.product";
        let prod = self.object(pv, pp)?;
        self.req_str(prod, pp, "name");
        if let Some(vv) = self.req(prod, pp, "versions") {
            let vp = join(pp, "versions");
            match vv {
                Value::Object(r) => {
                    self.req_str(r, &vp, "min");
                    self.req_str(r, &vp, "max");
                }
                Value::Array(_) => {
                    self.str_list(vv, &vp, true, |_| Ok(()));
                }
                _ => self.err(vp, "expected {min, max} or a non-empty list of versions"),
            }
        }
        self.req_list(prod, pp, "platforms", true, |_| Ok(()));
        self.opt_list(prod, pp, "update_channels", |_| Ok(()));
        let before = self.count;
        let mut out = Vec::new();
        for (ap, a) in self.objects(prod, pp, "artifacts", true, true) {
            let n = self.req_str(a, &ap, "name");
            let h = self.req_checked(a, &ap, "sha256", check_sha256);
            if let (Some(n), Some(h)) = (n, h) {
                out.push((n, h));
            }
        }
        (self.count == before).then_some(out)
    }

    fn data_flow(&mut self, fp: &str, f: &Map<String, Value>, excluded: &BTreeSet<&str>) {
        let mut contradictions = Vec::new();
        self.req_checked(f, fp, "category", |s| Category::parse(s).map(|_| ()));
        self.opt_list(f, fp, "items", |_| Ok(()));
        self.req_list(f, fp, "purpose", true, |_| Ok(()));
        self.req_checked(f, fp, "consent", |s| check_enum(s, &CONSENTS));
        self.req_list(f, fp, "user_regions", true, check_region);
        for (dp, d) in self.objects(f, fp, "destinations", true, true) {
            let h = self.opt_list(d, &dp, "hostnames", check_hostname);
            let r = self.opt_list(d, &dp, "ip_ranges", check_ip_range);
            let has_h = Self::opt(d, "hostnames")
                .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
            let has_r = Self::opt(d, "ip_ranges")
                .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
            if h.is_empty() && r.is_empty() && !has_h && !has_r {
                self.err(dp.clone(), "needs at least one of hostnames, ip_ranges");
            }
            if let Some(pv) = Self::opt(d, "ports") {
                let pp = join(&dp, "ports");
                if let Some(a) = self.array(pv, &pp, false) {
                    for (i, port) in a.iter().enumerate() {
                        if !port.as_u64().is_some_and(|n| (1..=65_535).contains(&n)) {
                            self.err(idx(&pp, i), "expected a port number (1-65535)");
                        }
                    }
                }
            }
        }
        for (lp, l) in self.objects(f, fp, "processing_locations", true, true) {
            if let Some(c) = self.req_checked(l, &lp, "country", check_country) {
                contradictions.push((join(&lp, "country"), c));
            }
            self.req_str(l, &lp, "city");
            self.req_str(l, &lp, "facility_operator");
            self.req_checked(l, &lp, "role", |s| check_enum(s, &ROLES));
        }
        contradictions.extend(self.req_list(
            f,
            fp,
            "remote_access_jurisdictions",
            false,
            check_country,
        ));
        for (pp, p) in self.objects(f, fp, "processors", true, false) {
            self.req_str(p, &pp, "legal_name");
            if let Some(c) = self.req_checked(p, &pp, "jurisdiction", check_country) {
                contradictions.push((join(&pp, "jurisdiction"), c));
            }
            self.req_str(p, &pp, "role");
            self.req_str(p, &pp, "service");
        }
        for (tp, t) in self.objects(f, fp, "onward_transfers", false, false) {
            if let Some(c) = self.req_checked(t, &tp, "to_country", check_country) {
                contradictions.push((join(&tp, "to_country"), c));
            }
            self.req_str(t, &tp, "mechanism");
        }
        self.req_checked(f, fp, "retention", check_duration);
        self.opt_list(f, fp, "protections", |_| Ok(()));
        for (path, c) in contradictions {
            if excluded.contains(c) {
                self.err(path, format!("{c:?} is listed in excluded_jurisdictions"));
            }
        }
    }
}
