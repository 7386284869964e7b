//! Runs the DSSE and predicate fuzz targets' functions over their committed seed corpora, so CI
//! exercises them without cargo-fuzz.

use super::corpus;

#[test]
fn envelope_corpus() {
    let files = corpus("envelope");
    assert!(files.len() >= 10, "seed corpus is missing");
    let mut parsed = 0;
    for (path, data) in &files {
        attestlog_proto::dsse::roundtrip_check(data);
        if attestlog_proto::dsse::Envelope::from_json(data).is_ok() {
            parsed += 1;
        }
        eprintln!("ok {path}");
    }
    // The corpus holds valid envelopes as well as broken ones.
    assert!(
        parsed >= 2 && parsed < files.len(),
        "{parsed} of {}",
        files.len()
    );
    let vector = files
        .iter()
        .find(|(p, _)| p.ends_with("vector_entry.json"))
        .unwrap();
    assert!(attestlog_proto::dsse::Envelope::parse_entry(&vector.1).is_ok());
}

#[test]
fn predicate_corpus() {
    let files = corpus("predicate");
    assert!(files.len() >= 10, "seed corpus is missing");
    let mut parsed = 0;
    for (path, data) in &files {
        attestlog_proto::predicate::roundtrip_check(data);
        if attestlog_proto::predicate::parse_statement(data).is_ok() {
            parsed += 1;
        }
        eprintln!("ok {path}");
    }
    assert!(
        parsed >= 2 && parsed < files.len(),
        "{parsed} of {}",
        files.len()
    );
}

/// Deterministic mutations of every seed (truncations and byte substitutions), a poor man's
/// fuzzing run that needs no cargo-fuzz: the round-trip checks must never panic.
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
