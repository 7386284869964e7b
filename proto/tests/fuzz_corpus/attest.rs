//! Runs the DSSE and predicate fuzz targets' functions over their committed seed corpora, so CI
//! exercises them without cargo-fuzz.

use super::corpus;

/// Runs `check` over a corpus and asserts it holds valid inputs as well as broken ones.
fn run(target: &str, check: fn(&[u8]), parses: fn(&[u8]) -> bool) -> Vec<(String, Vec<u8>)> {
    let files = corpus(target);
    assert!(files.len() >= 10, "seed corpus {target} is missing");
    let mut parsed = 0;
    for (name, data) in &files {
        check(data);
        parsed += usize::from(parses(data));
        eprintln!("ok {target}/{name}");
    }
    assert!(
        parsed >= 2 && parsed < files.len(),
        "{target}: {parsed} of {} parse",
        files.len()
    );
    files
}

#[test]
fn envelope_corpus() {
    let files = run("envelope", attestlog_proto::dsse::roundtrip_check, |d| {
        attestlog_proto::dsse::Envelope::from_json(d).is_ok()
    });
    let vector = files
        .iter()
        .find(|(p, _)| p.ends_with("vector_entry.json"))
        .unwrap();
    assert!(attestlog_proto::dsse::Envelope::parse_entry(&vector.1).is_ok());
}

#[test]
fn predicate_corpus() {
    run(
        "predicate",
        attestlog_proto::predicate::roundtrip_check,
        |d| attestlog_proto::predicate::parse_statement(d).is_ok(),
    );
}

#[test]
fn mutated_corpus_never_panics() {
    for (name, check) in [
        (
            "envelope",
            attestlog_proto::dsse::roundtrip_check as fn(&[u8]),
        ),
        ("predicate", attestlog_proto::predicate::roundtrip_check),
    ] {
        for (_, data) in corpus(name) {
            let step = (data.len() / 97).max(1);
            for i in (0..data.len()).step_by(step) {
                check(&data[..i]);
                for b in [b'"', b'0', b'{', b'\\', b'A', b'-', 0xff] {
                    let mut m = data.clone();
                    m[i] = b;
                    check(&m);
                }
            }
        }
    }
}
