use serde_json::json;

use super::super::{oracle, template};
use super::*;
use crate::predicate::typed::tests::Walks;

/// Valid verifications other than the template: a contradiction, a supersedes, two
/// findings, an undeclared endpoint, no optional fields, unknown fields everywhere.
fn valid_variants() -> Vec<Value> {
    let t = template();
    let mut contradicted = t.clone();
    contradicted["predicate"]["findings"][0]["result"] = json!("contradicted");
    contradicted["predicate"]["verdict"] = json!("contradicted");
    contradicted["predicate"]["undeclared"] =
        json!([{"ip": "2001:db8::1", "port": 0, "bytes": 12, "country": "RU"}]);
    let mut two = t.clone();
    two["predicate"]["supersedes"] = json!({"log_index": 40});
    let mut second = t["predicate"]["findings"][0].clone();
    second["data_flow"] = json!(1);
    second["result"] = json!("not_tested");
    second["observed"] = json!([]);
    second["note"] = json!("");
    if let Some(a) = two["predicate"]["findings"].as_array_mut() {
        a.push(second);
    }
    let mut minimal = t.clone();
    for (parent, key) in [
        ("/predicate", "evidence"),
        ("/predicate/verifier", "accreditation"),
        ("/predicate/findings/0/observed/0", "hostname"),
        ("/predicate/findings/0/observed/0", "country"),
        ("/predicate/findings/0/observed/0", "bytes"),
    ] {
        if let Some(Value::Object(o)) = minimal.pointer_mut(parent) {
            o.remove(key);
        }
    }
    minimal["predicate"]["findings"] = json!([]);
    let mut extras = t.clone();
    extras["x"] = json!([1, {"y": null}]);
    extras["predicate"]["x"] = json!(2.5);
    extras["predicate"]["verifier"]["x"] = json!("ignored");
    extras["subject"][0]["x"] = json!(true);
    extras["subject"][0]["digest"]["sha512"] = json!("ab");
    extras["predicate"]["supersedes"] = Value::Null;
    extras["predicate"]["verifier"]["accreditation"] = Value::Null;
    vec![t, contradicted, two, minimal, extras]
}

/// The walk of this module and the validator it replaced.
const WALKS: Walks<VerificationStatement> = Walks {
    walk: statement_from_value,
    oracle: oracle::statement_from_value,
};

/// The valid variants and 3,000 random mutations of them (the mutations of
/// `predicate::typed::tests`): the one-pass walk accepts exactly what the two-pass validator
/// accepts, with the same typed statement, and refuses the rest with the same problems in the
/// same order.
#[test]
fn agrees_with_the_two_pass_validator() {
    WALKS.agree(valid_variants());
}

#[test]
fn problems_have_the_oracles_paths_and_order() {
    let mut v = template();
    v["predicate"]["findings"] = json!([
        {"data_flow": 0, "result": "contradicted", "observed": [], "note": "a"},
        {"data_flow": 0, "result": "consistent", "observed": [{"ip": "x", "port": 70000}], "note": 1}
    ]);
    assert_eq!(
        WALKS.refused_alike(v),
        [
            "predicate.findings[1].data_flow",
            "predicate.findings[1].observed[0].ip",
            "predicate.findings[1].observed[0].port",
            "predicate.findings[1].note",
            "predicate.verdict",
        ]
    );
    // What only serde refused before: refused alike, with serde's message.
    for (pointer, value) in [
        ("/predicate/evidence", Value::Null),
        ("/subject/0/digest/md5", json!(5)),
    ] {
        let mut v = template();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent).unwrap()[key] = value;
        assert_eq!(WALKS.refused_alike(v).len(), 1, "{pointer}");
    }
    // Both: serde met the predicate's first.
    let mut both = template();
    both["predicate"]["evidence"] = Value::Null;
    both["subject"][0]["digest"]["md5"] = json!(5);
    WALKS.refused_alike(both.clone());
    let got = statement_from_value(both).unwrap_err();
    assert!(got[0].message.contains("null"), "{got:?}");
}
