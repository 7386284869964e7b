use proptest::prelude::*;
use serde_json::json;

use super::super::{oracle, template};
use super::*;

/// A step from a value to one of its members or elements.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every path in `v` (the root included), depth first.
fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                prefix.push(Seg::Key(k.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Seg::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'v>(v: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("deep"), |v, i| {
        if i % 2 == 0 {
            json!([v])
        } else {
            json!({"x": v})
        }
    })
}

/// Values a mutation puts somewhere: wrong types, edge numbers, near-miss and valid-looking
/// strings of every field kind, unicode, and whole structures of other fields.
fn pool() -> Vec<Value> {
    let digest = "0000000000000000000000000000000000000000000000000000000000000000";
    let id = "00000000-0000-4000-8000-000000000000";
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(1),
        json!(-1),
        json!(443),
        json!(65_535),
        json!(65_536),
        json!(MAX_SAFE_INTEGER),
        json!(MAX_SAFE_INTEGER + 1),
        json!(u64::MAX),
        json!(1.5),
        json!(443.0),
        json!(""),
        json!("   "),
        json!("\u{3000}"),
        json!("\u{200b}"),
        json!("x"),
        json!("é€😀\u{0}"),
        json!("CH"),
        json!("ch"),
        json!("RU"),
        json!("DE"),
        json!("EU"),
        json!("XX"),
        json!("active"),
        json!("revoked"),
        json!("Active"),
        json!("opt_out"),
        json!("processing"),
        json!("pen_test"),
        json!("telemetry"),
        json!("other:"),
        json!("other: "),
        json!("other:crash reports"),
        json!("P30D"),
        json!("P"),
        json!("2026-06-01T00:00:00Z"),
        json!("2028-01-01T00:00:00+01:00"),
        json!("2026-13-01T00:00:00Z"),
        json!(id),
        json!(id.to_uppercase()),
        json!("6f1c2a4e-8b1d-4c3e-9f00-0123456789ab"),
        json!(digest),
        json!("11".repeat(32)),
        json!(digest.to_uppercase()),
        json!("*.vendor.example"),
        json!("-bad-.example"),
        json!("10.0.0.0/8"),
        json!("10.0.0.0/33"),
        json!("https://x.example/r.pdf"),
        json!("not a uri"),
        json!("https://in-toto.io/Statement/v1"),
        json!("https://attestlog.dev/data-flows/v1"),
        json!("https://attestlog.dev/verification/v1"),
        json!("consistent"),
        json!("contradicted"),
        json!("not_tested"),
        json!("inconclusive"),
        json!("traffic_capture"),
        json!("192.0.2.1"),
        json!("2001:db8::1"),
        json!("log-entry/12"),
        json!([]),
        json!([""]),
        json!(["a", "b"]),
        json!(["1.0", "2.0", "3.0"]),
        json!(["RU"]),
        json!(["CH", "CH"]),
        json!([443, 0, 80]),
        json!({}),
        json!({"min": "1"}),
        json!({"min": "1", "max": "2", "x": 1}),
        json!({"attestation_id": id, "log_index": 7}),
        json!({"attestation_id": id, "log_index": -7}),
        json!({"name": "setup.exe", "sha256": digest}),
        json!({"name": "setup.exe", "digest": {"sha256": digest, "sha512": "ab"}}),
        json!({"name": "setup.exe", "digest": {"sha256": digest, "md5": 5}}),
        json!({"hostnames": [], "ip_ranges": []}),
        json!({"ports": [443]}),
        json!({"country": "RU", "city": "M", "facility_operator": "F", "role": "storage"}),
        json!({"to_country": "RU", "mechanism": "scc"}),
        json!({"legal_name": "P", "jurisdiction": "RU", "role": "r", "service": "s"}),
        json!({"type": "other", "issuer": "I", "period_start": "2026-02-01T00:00:00Z",
            "period_end": "2026-01-01T00:00:00Z", "scope": "s", "uri": "https://x.example/",
            "sha256": digest}),
        nested(40),
    ]
}

/// Member names a mutation adds: every field of the statement, and unknown ones.
const KEYS: [&str; 16] = [
    "supersedes",
    "evidence",
    "excluded_jurisdictions",
    "items",
    "ports",
    "onward_transfers",
    "protections",
    "update_channels",
    "hostnames",
    "ip_ranges",
    "sha512",
    "sha256",
    "min",
    "x_extra",
    "_type",
    "é",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Put `pool()[n]` at the path.
    Replace(usize),
    /// Remove the member (or element) at the path.
    Remove,
    /// Add `KEYS[k]` = `pool()[n]` to the object at the path.
    Add(usize, usize),
    /// Append a copy of the array's first element (a duplicate).
    Duplicate,
    /// Put a copy of another node's value at the path.
    Copy(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (0..pool().len()).prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        2 => (0..KEYS.len(), 0..pool().len()).prop_map(|(k, n)| Mutation::Add(k, n)),
        1 => Just(Mutation::Duplicate),
        1 => any::<usize>().prop_map(Mutation::Copy),
    ]
}

fn apply(v: &mut Value, at: usize, m: &Mutation) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let path = all[at % all.len()].clone();
    match m {
        Mutation::Replace(n) => {
            if let Some(x) = at_mut(v, &path) {
                *x = pool()[*n].clone();
            }
        }
        Mutation::Remove => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (at_mut(v, parent), last) {
                (Some(Value::Object(o)), Seg::Key(k)) => {
                    o.remove(k);
                }
                (Some(Value::Array(a)), Seg::Index(i)) => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Add(k, n) => {
            if let Some(Value::Object(o)) = at_mut(v, &path) {
                o.insert(KEYS[*k].to_owned(), pool()[*n].clone());
            }
        }
        Mutation::Duplicate => {
            if let Some(Value::Array(a)) = at_mut(v, &path)
                && let Some(first) = a.first().cloned()
            {
                a.push(first);
            }
        }
        Mutation::Copy(from) => {
            let source = at_mut(v, &all[from % all.len()]).map(|x| x.clone());
            if let (Some(source), Some(x)) = (source, at_mut(v, &path)) {
                *x = source;
            }
        }
    }
}

/// Valid statements other than the template: a second data flow, a supersedes, versions as
/// lists of one, two and three, no optional fields, unknown fields everywhere.
fn valid_variants() -> Vec<Value> {
    let t = template();
    let mut two_flows = t.clone();
    let mut flow = t["predicate"]["data_flows"][0].clone();
    flow["category"] = json!("other:crash reports");
    flow["consent"] = json!("required");
    flow["processing_locations"][0]["role"] = json!("analysis");
    if let Some(a) = two_flows["predicate"]["data_flows"].as_array_mut() {
        a.push(flow);
    }
    let mut superseding = t.clone();
    superseding["predicate"]["supersedes"] =
        json!({"attestation_id": t["predicate"]["attestation_id"], "log_index": 41});
    let mut minimal = t.clone();
    for (parent, key) in [
        ("/predicate", "evidence"),
        ("/predicate", "excluded_jurisdictions"),
        ("/predicate/product", "update_channels"),
        ("/predicate/data_flows/0", "items"),
        ("/predicate/data_flows/0", "onward_transfers"),
        ("/predicate/data_flows/0", "protections"),
        ("/predicate/data_flows/0/destinations/0", "ports"),
        ("/predicate/data_flows/0/destinations/0", "ip_ranges"),
    ] {
        if let Some(Value::Object(o)) = minimal.pointer_mut(parent) {
            o.remove(key);
        }
    }
    let mut nulls = t.clone();
    nulls["predicate"]["evidence"] = Value::Null;
    nulls["predicate"]["supersedes"] = Value::Null;
    nulls["predicate"]["data_flows"][0]["items"] = Value::Null;
    let mut extras = t.clone();
    extras["x"] = json!({"a": [1, 2.5, null]});
    extras["predicate"]["x"] = json!("y");
    extras["subject"][0]["digest"]["sha512"] = json!("ab");
    extras["predicate"]["product"]["versions"]["x"] = json!(1);
    extras["predicate"]["data_flows"][0]["destinations"][0]["x"] = json!([]);
    let mut out = vec![t, two_flows, superseding, minimal, nulls, extras];
    for list in [
        json!(["12.0"]),
        json!(["12.0", "12.9"]),
        json!(["1", "2", "3"]),
    ] {
        let mut v = out[0].clone();
        v["predicate"]["product"]["versions"] = list;
        out.push(v);
    }
    out
}

/// The walk of this module and the validator it replaced.
const WALKS: Walks<Statement> = Walks {
    walk: statement_from_value,
    oracle: oracle::statement_from_value,
};

/// The valid variants and 3,000 random mutations of them: the one-pass walk accepts exactly
/// what the two-pass validator accepts, with the same typed statement, and refuses the rest
/// with the same problems in the same order.
#[test]
fn agrees_with_the_two_pass_validator() {
    WALKS.agree(valid_variants());
}

#[test]
fn problems_have_the_oracles_paths_and_order() {
    let mut v = template();
    v["predicate"]["excluded_jurisdictions"] = json!(["CH", "DE"]);
    v["predicate"]["data_flows"][0]["destinations"][0]["ports"] = json!([0, 443, 70_000]);
    v["predicate"]["product"]["artifacts"][0]["name"] = json!("other.exe");
    v["subject"][0]["digest"]["md5"] = json!(5);
    assert_eq!(
        WALKS.refused_alike(v),
        [
            "subject[0].digest.md5",
            "predicate.data_flows[0].destinations[0].ports[0]",
            "predicate.data_flows[0].destinations[0].ports[2]",
            "predicate.data_flows[0].processing_locations[0].country",
            "predicate.data_flows[0].remote_access_jurisdictions[0]",
            "predicate.data_flows[0].processors[0].jurisdiction",
            "predicate.data_flows[0].onward_transfers[0].to_country",
        ]
    );
    // Past the cap, the same count of the rest.
    let mut many = template();
    many["predicate"]["data_flows"][0]["user_regions"] = json!(vec!["zz"; 300]);
    WALKS.refused_alike(many);
}

/// Statements from `variants`, each with up to four random mutations.
fn mutated_statements(variants: Vec<Value>) -> impl Strategy<Value = Value> {
    let mutations = proptest::collection::vec((any::<usize>(), mutation()), 0..5);
    (0..variants.len(), mutations).prop_map(move |(base, mutations)| {
        let mut v = variants[base].clone();
        for (at, m) in &mutations {
            apply(&mut v, *at, m);
        }
        v
    })
}

/// A one-pass walk and the two-pass validator it replaced (its test oracle), for one kind of
/// statement: predicates and verification statements are held to their oracles alike.
pub(crate) struct Walks<T> {
    /// The one-pass walk.
    pub(crate) walk: fn(Value) -> Result<T, Vec<FieldError>>,
    /// The two-pass validator.
    pub(crate) oracle: fn(Value) -> Result<T, Vec<FieldError>>,
}

impl<T: PartialEq + std::fmt::Debug> Walks<T> {
    /// Each of `variants` is valid and read alike by both; so is each of 3,000 random
    /// mutations of them (valid or not: the same problems in the same order).
    pub(crate) fn agree(&self, variants: Vec<Value>) {
        for v in &variants {
            let want = (self.oracle)(v.clone());
            assert!(want.is_ok(), "{want:?}");
            assert_eq!((self.walk)(v.clone()), want);
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 3_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let (walk, oracle) = (self.walk, self.oracle);
        let run = runner.run(&mutated_statements(variants), |v| {
            prop_assert_eq!(walk(v.clone()), oracle(v));
            Ok(())
        });
        if let Err(e) = run {
            panic!("{e}");
        }
    }

    /// Both refuse `v` with the same problems; the paths of those problems, in order.
    pub(crate) fn refused_alike(&self, v: Value) -> Vec<String> {
        let got = (self.walk)(v.clone());
        assert_eq!(got, (self.oracle)(v));
        match got {
            Ok(t) => panic!("accepted: {t:?}"),
            Err(errs) => errs.into_iter().map(|e| e.path).collect(),
        }
    }
}
