//! The statement validator in one pass: one walk over the parsed payload checks every field and
//! builds the typed [`Statement`] as it goes, moving each value out of the parsed document
//! instead of validating the document and then deserializing it a second time.
//!
//! It reports the same problems, in the same order and at the same paths, as the two-pass
//! validator it replaced (kept as the test oracle in `oracle.rs`; a property test holds the two
//! to the same answer on valid statements and on random mutations of them). Field paths are
//! kept as a chain of borrowed segments ([`At`]) and written out only for a problem.
//!
//! Where a field is missing or invalid a placeholder stands in for it in the typed value; a
//! problem is always recorded then, and a statement with any problem is never returned.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{
    Artifact, Category, Check, Checker, Consent, DataFlow, DataFlowPredicate, Destination,
    Evidence, EvidenceType, FieldError, MAX_SAFE_INTEGER, OnwardTransfer, Owner, PREDICATE_TYPE,
    ProcessingLocation, Processor, Product, Role, STATEMENT_TYPE, Statement, Status, Subject,
    Supersedes, Vendor, Versions, check_country, check_duration, check_enum, check_hostname,
    check_ip_range, check_region, check_rfc3339, check_sha256, check_uri, check_uuid, idx, join,
    parse_rfc3339,
};

pub(crate) type Obj = Map<String, Value>;

/// A field path, written out ([`At::render`]) only when a problem is reported.
#[derive(Clone, Copy)]
pub(crate) enum At<'a> {
    /// The document itself (the empty path).
    Root,
    /// A member of an object.
    Key(&'a At<'a>, &'a str),
    /// An element of an array.
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Self {
        At::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: usize) -> Self {
        At::Index(self, i)
    }

    pub(crate) fn render(&self) -> String {
        match *self {
            At::Root => String::new(),
            At::Key(parent, key) => join(&parent.render(), key),
            At::Index(parent, i) => idx(&parent.render(), i),
        }
    }
}

pub(super) const STATUSES: [&str; 3] = ["active", "revoked", "withdrawn"];
pub(super) const CONSENTS: [&str; 3] = ["opt_in", "opt_out", "required"];
pub(super) const ROLES: [&str; 3] = ["storage", "processing", "analysis"];
pub(super) const EVIDENCE_TYPES: [&str; 7] = [
    "soc2_type1",
    "soc2_type2",
    "iso27001",
    "source_review",
    "pen_test",
    "network_measurement",
    "other",
];

/// Validates a statement and converts it to the typed form in one walk.
pub(super) fn statement_from_value(value: Value) -> Result<Statement, Vec<FieldError>> {
    let mut w = Walk::default();
    let st = w.statement(value);
    let failed = w.c.count > 0;
    let errs = w.c.into_errors();
    match st {
        Some(st) if !failed => Ok(st),
        // A walk that stopped early always recorded why.
        _ if failed => Err(errs),
        _ => Err(vec![FieldError::new("", "statement could not be read")]),
    }
}

/// The walk's problems so far, and the checks that take each field out of its object.
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) c: Checker,
}

/// The typed value of a validated enum string: `values[i]` for `names[i]`, the first value
/// (a placeholder) when the string was invalid, a problem having been recorded then.
pub(crate) fn pick<T: Copy, const N: usize>(
    s: Option<&str>,
    names: &[&str; N],
    values: &[T; N],
) -> T {
    s.and_then(|s| names.iter().zip(values).find(|(n, _)| **n == s))
        .map_or(values[0], |(_, v)| *v)
}

/// The rest of an object once its known fields are taken: the unknown fields, kept.
pub(crate) fn extra(o: Obj) -> BTreeMap<String, Value> {
    o.into_iter().collect()
}

impl Walk {
    pub(crate) fn err(&mut self, at: &At<'_>, msg: impl Into<String>) {
        self.c.err(at.render(), msg);
    }

    pub(crate) fn object(&mut self, v: Value, at: &At<'_>) -> Option<Obj> {
        if let Value::Object(o) = v {
            Some(o)
        } else {
            self.err(at, "expected an object");
            None
        }
    }

    /// Takes a required field (null counts as missing).
    pub(crate) fn req(&mut self, o: &mut Obj, at: &At<'_>, key: &str) -> Option<Value> {
        match o.remove(key) {
            None | Some(Value::Null) => {
                self.err(&at.key(key), "missing required field");
                None
            }
            Some(v) => Some(v),
        }
    }

    /// Takes an optional field (null counts as absent).
    pub(crate) fn opt(o: &mut Obj, key: &str) -> Option<Value> {
        o.remove(key).filter(|v| !v.is_null())
    }

    pub(crate) fn string(&mut self, v: Value, at: &At<'_>) -> Option<String> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.err(at, "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            _ => {
                self.err(at, "expected a string");
                None
            }
        }
    }

    pub(crate) fn req_str(&mut self, o: &mut Obj, at: &At<'_>, key: &str) -> Option<String> {
        let v = self.req(o, at, key)?;
        self.string(v, &at.key(key))
    }

    /// A required string passing `check`.
    pub(crate) fn req_checked(
        &mut self,
        o: &mut Obj,
        at: &At<'_>,
        key: &str,
        check: Check,
    ) -> Option<String> {
        let s = self.req_str(o, at, key)?;
        match check(&s) {
            Ok(()) => Some(s),
            Err(m) => {
                self.err(&at.key(key), m);
                None
            }
        }
    }

    pub(crate) fn array(&mut self, v: Value, at: &At<'_>, non_empty: bool) -> Option<Vec<Value>> {
        match v {
            Value::Array(a) if non_empty && a.is_empty() => {
                self.err(at, "must not be empty");
                None
            }
            Value::Array(a) => Some(a),
            _ => {
                self.err(at, "expected an array");
                None
            }
        }
    }

    /// A list of strings each passing `check`: the valid ones with their positions.
    fn str_list(
        &mut self,
        v: Value,
        at: &At<'_>,
        non_empty: bool,
        check: Check,
    ) -> Vec<(usize, String)> {
        let Some(a) = self.array(v, at, non_empty) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.into_iter().enumerate() {
            let at = at.index(i);
            if let Some(s) = self.string(item, &at) {
                match check(&s) {
                    Ok(()) => out.push((i, s)),
                    Err(m) => self.err(&at, m),
                }
            }
        }
        out
    }

    fn req_list(
        &mut self,
        o: &mut Obj,
        at: &At<'_>,
        key: &str,
        non_empty: bool,
        check: Check,
    ) -> Vec<(usize, String)> {
        match self.req(o, at, key) {
            Some(v) => self.str_list(v, &at.key(key), non_empty, check),
            None => Vec::new(),
        }
    }

    /// An optional list of strings: `None` when absent.
    fn opt_list(
        &mut self,
        o: &mut Obj,
        at: &At<'_>,
        key: &str,
        check: Check,
    ) -> Option<Vec<(usize, String)>> {
        Self::opt(o, key).map(|v| self.str_list(v, &at.key(key), false, check))
    }

    /// The objects of a required (or optional) array, with their positions; `None` when an
    /// optional array is absent.
    pub(crate) fn objects(
        &mut self,
        o: &mut Obj,
        at: &At<'_>,
        key: &str,
        required: bool,
        non_empty: bool,
    ) -> Option<Vec<(usize, Obj)>> {
        let v = if required {
            self.req(o, at, key)
        } else {
            Some(Self::opt(o, key)?)
        };
        let at = at.key(key);
        let Some(a) = v.and_then(|v| self.array(v, &at, non_empty)) else {
            return Some(Vec::new());
        };
        let mut out = Vec::with_capacity(a.len());
        for (i, item) in a.into_iter().enumerate() {
            if let Some(obj) = self.object(item, &at.index(i)) {
                out.push((i, obj));
            }
        }
        Some(out)
    }

    fn statement(&mut self, v: Value) -> Option<Statement> {
        let root = At::Root;
        let mut o = self.object(v, &root)?;
        let type_ = self.req_str(&mut o, &root, "_type");
        if let Some(t) = &type_
            && t != STATEMENT_TYPE
        {
            self.err(&root.key("_type"), format!("expected {STATEMENT_TYPE:?}"));
        }
        let (subject, subject_pairs) = self.subjects(&mut o);
        let predicate_type = self.req_str(&mut o, &root, "predicateType");
        if let Some(pt) = &predicate_type
            && pt != PREDICATE_TYPE
        {
            self.err(
                &root.key("predicateType"),
                format!("expected {PREDICATE_TYPE:?}"),
            );
            return None;
        }
        let pv = self.req(&mut o, &root, "predicate")?;
        let p = self.object(pv, &root.key("predicate"))?;
        let (predicate, artifacts) = self.predicate(p);
        if let (Some(mut s), Some(mut a)) = (subject_pairs, artifacts) {
            s.sort();
            a.sort();
            if s != a {
                self.err(
                    &root.key("subject"),
                    "must list exactly the artifacts of predicate.product.artifacts (name and sha256)",
                );
            }
        }
        Some(Statement {
            type_: type_.unwrap_or_default(),
            subject,
            predicate_type: predicate_type.unwrap_or_default(),
            predicate,
            extra: extra(o),
        })
    }

    /// The subjects, and their (name, sha256) pairs if every subject is valid.
    fn subjects(&mut self, o: &mut Obj) -> (Vec<Subject>, Option<Vec<(String, String)>>) {
        let before = self.c.count;
        let root = At::Root;
        let list = self
            .objects(o, &root, "subject", true, true)
            .unwrap_or_default();
        let subjects_at = root.key("subject");
        let mut subjects = Vec::with_capacity(list.len());
        let mut pairs = Vec::with_capacity(list.len());
        for (i, mut s) in list {
            let at = subjects_at.index(i);
            let name = self.req_str(&mut s, &at, "name");
            let Some(dv) = self.req(&mut s, &at, "digest") else {
                continue;
            };
            let dat = at.key("digest");
            let Some(mut d) = self.object(dv, &dat) else {
                continue;
            };
            for (alg, val) in &d {
                if !val.is_string() {
                    self.err(&dat.key(alg), "expected a string");
                }
            }
            let sha = self.req_checked(&mut d, &dat, "sha256", check_sha256);
            let mut digest: BTreeMap<String, String> = d
                .into_iter()
                .filter_map(|(alg, v)| match v {
                    Value::String(s) => Some((alg, s)),
                    _ => None,
                })
                .collect();
            if let Some(h) = &sha {
                digest.insert("sha256".to_owned(), h.clone());
            }
            if let (Some(n), Some(h)) = (&name, sha) {
                pairs.push((n.clone(), h));
            }
            subjects.push(Subject {
                name: name.unwrap_or_default(),
                digest,
                extra: extra(s),
            });
        }
        (subjects, (self.c.count == before).then_some(pairs))
    }

    /// The predicate, and its artifacts if they are all valid.
    fn predicate(&mut self, mut p: Obj) -> (DataFlowPredicate, Option<Vec<(String, String)>>) {
        let root = At::Root;
        let pat = root.key("predicate");
        let id = self.req_checked(&mut p, &pat, "attestation_id", check_uuid);
        let supersedes = Self::opt(&mut p, "supersedes").and_then(|sv| {
            let sat = pat.key("supersedes");
            let mut s = self.object(sv, &sat)?;
            let sid = self.req_checked(&mut s, &sat, "attestation_id", check_uuid);
            if let (Some(sid), Some(id)) = (&sid, &id)
                && sid != id
            {
                self.err(
                    &sat.key("attestation_id"),
                    "must equal predicate.attestation_id",
                );
            }
            // I-JSON (RFC 7493) safe integers only, so that JCS keeps the value exact.
            let log_index = self.req(&mut s, &sat, "log_index").and_then(|li| {
                let n = li.as_u64().filter(|n| *n <= MAX_SAFE_INTEGER);
                if n.is_none() {
                    self.err(
                        &sat.key("log_index"),
                        "expected an integer from 0 to 2^53-1",
                    );
                }
                n
            });
            Some(Supersedes {
                attestation_id: sid.unwrap_or_default(),
                log_index: log_index.unwrap_or_default(),
                extra: extra(s),
            })
        });
        let status = self.req_checked(&mut p, &pat, "status", |s| check_enum(s, &STATUSES));
        let status = pick(
            status.as_deref(),
            &STATUSES,
            &[Status::Active, Status::Revoked, Status::Withdrawn],
        );
        let issued_at = self.req_checked(&mut p, &pat, "issued_at", check_rfc3339);
        let valid_from = self.req_checked(&mut p, &pat, "valid_from", check_rfc3339);
        let valid_until = self.req_checked(&mut p, &pat, "valid_until", check_rfc3339);
        if let (Some(f), Some(u)) = (
            valid_from.as_deref().and_then(parse_rfc3339),
            valid_until.as_deref().and_then(parse_rfc3339),
        ) && f >= u
        {
            self.err(
                &pat.key("valid_until"),
                "must be later than predicate.valid_from",
            );
        }
        let vendor = self.vendor(&mut p);
        let (product, artifacts) = self.product(&mut p);
        let excluded_jurisdictions =
            self.opt_list(&mut p, &pat, "excluded_jurisdictions", check_country);
        let excluded: BTreeSet<&str> = excluded_jurisdictions
            .iter()
            .flatten()
            .map(|(_, s)| s.as_str())
            .collect();
        let flows = self
            .objects(&mut p, &pat, "data_flows", true, true)
            .unwrap_or_default();
        let flows_at = pat.key("data_flows");
        let data_flows = flows
            .into_iter()
            .map(|(i, f)| self.data_flow(&flows_at.index(i), f, &excluded))
            .collect();
        let evidence = self
            .objects(&mut p, &pat, "evidence", false, false)
            .map(|list| {
                let at = pat.key("evidence");
                list.into_iter()
                    .map(|(i, e)| self.evidence(&at.index(i), e))
                    .collect()
            });
        let predicate = DataFlowPredicate {
            attestation_id: id.unwrap_or_default(),
            supersedes,
            status,
            issued_at: issued_at.unwrap_or_default(),
            valid_from: valid_from.unwrap_or_default(),
            valid_until: valid_until.unwrap_or_default(),
            vendor,
            product,
            data_flows,
            excluded_jurisdictions: excluded_jurisdictions.map(strings),
            evidence,
            extra: extra(p),
        };
        (predicate, artifacts)
    }

    fn evidence(&mut self, at: &At<'_>, mut e: Obj) -> Evidence {
        let kind = self.req_checked(&mut e, at, "type", |s| check_enum(s, &EVIDENCE_TYPES));
        let kind = pick(
            kind.as_deref(),
            &EVIDENCE_TYPES,
            &[
                EvidenceType::Soc2Type1,
                EvidenceType::Soc2Type2,
                EvidenceType::Iso27001,
                EvidenceType::SourceReview,
                EvidenceType::PenTest,
                EvidenceType::NetworkMeasurement,
                EvidenceType::Other,
            ],
        );
        let issuer = self.req_str(&mut e, at, "issuer");
        let period_start = self.req_checked(&mut e, at, "period_start", check_rfc3339);
        let period_end = self.req_checked(&mut e, at, "period_end", check_rfc3339);
        if let (Some(s), Some(t)) = (
            period_start.as_deref().and_then(parse_rfc3339),
            period_end.as_deref().and_then(parse_rfc3339),
        ) && s > t
        {
            self.err(&at.key("period_end"), "must not be before period_start");
        }
        let scope = self.req_str(&mut e, at, "scope");
        let uri = self.req_checked(&mut e, at, "uri", check_uri);
        let sha256 = self.req_checked(&mut e, at, "sha256", check_sha256);
        Evidence {
            kind,
            issuer: issuer.unwrap_or_default(),
            period_start: period_start.unwrap_or_default(),
            period_end: period_end.unwrap_or_default(),
            scope: scope.unwrap_or_default(),
            uri: uri.unwrap_or_default(),
            sha256: sha256.unwrap_or_default(),
            extra: extra(e),
        }
    }

    fn vendor(&mut self, p: &mut Obj) -> Vendor {
        let pat = At::Root;
        let pat = pat.key("predicate");
        let vat = pat.key("vendor");
        let Some(mut v) = self
            .req(p, &pat, "vendor")
            .and_then(|vv| self.object(vv, &vat))
        else {
            return placeholder_vendor();
        };
        let legal_name = self.req_str(&mut v, &vat, "legal_name");
        let jurisdiction = self.req_checked(&mut v, &vat, "jurisdiction", check_country);
        let owners = self
            .objects(&mut v, &vat, "ownership_chain", true, false)
            .unwrap_or_default();
        let oat = vat.key("ownership_chain");
        let ownership_chain = owners
            .into_iter()
            .map(|(i, mut o)| {
                let at = oat.index(i);
                let legal_name = self.req_str(&mut o, &at, "legal_name");
                let jurisdiction = self.req_checked(&mut o, &at, "jurisdiction", check_country);
                let relationship = self.req_str(&mut o, &at, "relationship");
                Owner {
                    legal_name: legal_name.unwrap_or_default(),
                    jurisdiction: jurisdiction.unwrap_or_default(),
                    relationship: relationship.unwrap_or_default(),
                    extra: extra(o),
                }
            })
            .collect();
        Vendor {
            legal_name: legal_name.unwrap_or_default(),
            jurisdiction: jurisdiction.unwrap_or_default(),
            ownership_chain,
            extra: extra(v),
        }
    }

    /// The product, and its artifacts if they are all valid.
    fn product(&mut self, p: &mut Obj) -> (Product, Option<Vec<(String, String)>>) {
        let pat = At::Root;
        let pat = pat.key("predicate");
        let at = pat.key("product");
        let Some(mut prod) = self
            .req(p, &pat, "product")
            .and_then(|pv| self.object(pv, &at))
        else {
            return (placeholder_product(), None);
        };
        let name = self.req_str(&mut prod, &at, "name");
        let versions = self.req(&mut prod, &at, "versions").map(|vv| {
            let vat = at.key("versions");
            match vv {
                Value::Object(mut r) => {
                    let min = self.req_str(&mut r, &vat, "min");
                    let max = self.req_str(&mut r, &vat, "max");
                    Versions::Range {
                        min: min.unwrap_or_default(),
                        max: max.unwrap_or_default(),
                    }
                }
                Value::Array(_) => {
                    Versions::List(strings(self.str_list(vv, &vat, true, |_| Ok(()))))
                }
                _ => {
                    self.err(&vat, "expected {min, max} or a non-empty list of versions");
                    Versions::List(Vec::new())
                }
            }
        });
        let platforms = self.req_list(&mut prod, &at, "platforms", true, |_| Ok(()));
        let update_channels = self.opt_list(&mut prod, &at, "update_channels", |_| Ok(()));
        let before = self.c.count;
        let list = self
            .objects(&mut prod, &at, "artifacts", true, true)
            .unwrap_or_default();
        let aat = at.key("artifacts");
        let mut artifacts = Vec::with_capacity(list.len());
        let mut pairs = Vec::with_capacity(list.len());
        for (i, mut a) in list {
            let at = aat.index(i);
            let n = self.req_str(&mut a, &at, "name");
            let h = self.req_checked(&mut a, &at, "sha256", check_sha256);
            if let (Some(n), Some(h)) = (&n, &h) {
                pairs.push((n.clone(), h.clone()));
            }
            artifacts.push(Artifact {
                name: n.unwrap_or_default(),
                sha256: h.unwrap_or_default(),
                extra: extra(a),
            });
        }
        let pairs = (self.c.count == before).then_some(pairs);
        let product = Product {
            name: name.unwrap_or_default(),
            versions: versions.unwrap_or(Versions::List(Vec::new())),
            platforms: strings(platforms),
            artifacts,
            update_channels: update_channels.map(strings),
            extra: extra(prod),
        };
        (product, pairs)
    }

    fn data_flow(&mut self, at: &At<'_>, mut f: Obj, excluded: &BTreeSet<&str>) -> DataFlow {
        // Countries that must not be excluded: (list field, position, member field).
        let mut contradictions: Vec<(&'static str, usize, Option<&'static str>, String)> =
            Vec::new();
        let category = self.req_checked(&mut f, at, "category", |s| Category::parse(s).map(|_| ()));
        let items = self.opt_list(&mut f, at, "items", |_| Ok(()));
        let purpose = self.req_list(&mut f, at, "purpose", true, |_| Ok(()));
        let consent = self.req_checked(&mut f, at, "consent", |s| check_enum(s, &CONSENTS));
        let user_regions = self.req_list(&mut f, at, "user_regions", true, check_region);
        let dests = self
            .objects(&mut f, at, "destinations", true, true)
            .unwrap_or_default();
        let dat = at.key("destinations");
        let destinations = dests
            .into_iter()
            .map(|(i, mut d)| {
                let dat = dat.index(i);
                let non_empty = |d: &Obj, key| {
                    d.get(key)
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                };
                let (has_h, has_r) = (non_empty(&d, "hostnames"), non_empty(&d, "ip_ranges"));
                let hostnames = self.opt_list(&mut d, &dat, "hostnames", check_hostname);
                let ip_ranges = self.opt_list(&mut d, &dat, "ip_ranges", check_ip_range);
                // (A list with a valid element is a non-empty list.)
                if !has_h && !has_r {
                    self.err(&dat, "needs at least one of hostnames, ip_ranges");
                }
                let ports = Self::opt(&mut d, "ports").map(|pv| {
                    let pat = dat.key("ports");
                    let mut ports = Vec::new();
                    if let Some(a) = self.array(pv, &pat, false) {
                        for (i, port) in a.iter().enumerate() {
                            match port.as_u64().and_then(|n| u16::try_from(n).ok()) {
                                Some(n) if n >= 1 => ports.push(n),
                                _ => self.err(&pat.index(i), "expected a port number (1-65535)"),
                            }
                        }
                    }
                    ports
                });
                Destination {
                    hostnames: hostnames.map(strings),
                    ip_ranges: ip_ranges.map(strings),
                    ports,
                    extra: extra(d),
                }
            })
            .collect();
        let locs = self
            .objects(&mut f, at, "processing_locations", true, true)
            .unwrap_or_default();
        let lat = at.key("processing_locations");
        let processing_locations = locs
            .into_iter()
            .map(|(i, mut l)| {
                let lat = lat.index(i);
                let country = self.req_checked(&mut l, &lat, "country", check_country);
                if let Some(c) = &country {
                    contradictions.push(("processing_locations", i, Some("country"), c.clone()));
                }
                let city = self.req_str(&mut l, &lat, "city");
                let facility_operator = self.req_str(&mut l, &lat, "facility_operator");
                let role = self.req_checked(&mut l, &lat, "role", |s| check_enum(s, &ROLES));
                ProcessingLocation {
                    country: country.unwrap_or_default(),
                    city: city.unwrap_or_default(),
                    facility_operator: facility_operator.unwrap_or_default(),
                    role: pick(
                        role.as_deref(),
                        &ROLES,
                        &[Role::Storage, Role::Processing, Role::Analysis],
                    ),
                    extra: extra(l),
                }
            })
            .collect();
        let remote = self.req_list(
            &mut f,
            at,
            "remote_access_jurisdictions",
            false,
            check_country,
        );
        contradictions.extend(
            remote
                .iter()
                .map(|(i, c)| ("remote_access_jurisdictions", *i, None, c.clone())),
        );
        let procs = self
            .objects(&mut f, at, "processors", true, false)
            .unwrap_or_default();
        let pat = at.key("processors");
        let processors = procs
            .into_iter()
            .map(|(i, mut p)| {
                let pat = pat.index(i);
                let legal_name = self.req_str(&mut p, &pat, "legal_name");
                let jurisdiction = self.req_checked(&mut p, &pat, "jurisdiction", check_country);
                if let Some(c) = &jurisdiction {
                    contradictions.push(("processors", i, Some("jurisdiction"), c.clone()));
                }
                let role = self.req_str(&mut p, &pat, "role");
                let service = self.req_str(&mut p, &pat, "service");
                Processor {
                    legal_name: legal_name.unwrap_or_default(),
                    jurisdiction: jurisdiction.unwrap_or_default(),
                    role: role.unwrap_or_default(),
                    service: service.unwrap_or_default(),
                    extra: extra(p),
                }
            })
            .collect();
        let onward_transfers = self
            .objects(&mut f, at, "onward_transfers", false, false)
            .map(|list| {
                let tat = at.key("onward_transfers");
                list.into_iter()
                    .map(|(i, mut t)| {
                        let tat = tat.index(i);
                        let to_country =
                            self.req_checked(&mut t, &tat, "to_country", check_country);
                        if let Some(c) = &to_country {
                            contradictions.push((
                                "onward_transfers",
                                i,
                                Some("to_country"),
                                c.clone(),
                            ));
                        }
                        let mechanism = self.req_str(&mut t, &tat, "mechanism");
                        OnwardTransfer {
                            to_country: to_country.unwrap_or_default(),
                            mechanism: mechanism.unwrap_or_default(),
                            extra: extra(t),
                        }
                    })
                    .collect()
            });
        let retention = self.req_checked(&mut f, at, "retention", check_duration);
        let protections = self.opt_list(&mut f, at, "protections", |_| Ok(()));
        for (list, i, member, c) in &contradictions {
            if excluded.contains(c.as_str()) {
                let lat = at.key(list);
                let iat = lat.index(*i);
                let path = match member {
                    Some(m) => iat.key(m),
                    None => iat,
                };
                self.err(&path, format!("{c:?} is listed in excluded_jurisdictions"));
            }
        }
        DataFlow {
            category: category
                .and_then(|s| Category::parse(&s).ok())
                .unwrap_or(Category::Telemetry),
            items: items.map(strings),
            purpose: strings(purpose),
            consent: pick(
                consent.as_deref(),
                &CONSENTS,
                &[Consent::OptIn, Consent::OptOut, Consent::Required],
            ),
            user_regions: strings(user_regions),
            destinations,
            processing_locations,
            remote_access_jurisdictions: strings(remote),
            processors,
            onward_transfers,
            retention: retention.unwrap_or_default(),
            protections: protections.map(strings),
            extra: extra(f),
        }
    }
}

/// The strings of a checked list (every one, when no problem was recorded).
fn strings(list: Vec<(usize, String)>) -> Vec<String> {
    list.into_iter().map(|(_, s)| s).collect()
}

fn placeholder_vendor() -> Vendor {
    Vendor {
        legal_name: String::new(),
        jurisdiction: String::new(),
        ownership_chain: Vec::new(),
        extra: BTreeMap::new(),
    }
}

fn placeholder_product() -> Product {
    Product {
        name: String::new(),
        versions: Versions::List(Vec::new()),
        platforms: Vec::new(),
        artifacts: Vec::new(),
        update_channels: None,
        extra: BTreeMap::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
