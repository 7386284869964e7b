//! Runs the fuzz targets' round-trip checks over the committed seed corpora in
//! `fuzz/corpus/<target>/`, so CI exercises them without cargo-fuzz. Files named `invalid-*`
//! must be rejected by the target's parser; every other file must parse.

use super::corpus;

use attestlog_proto::{checkpoint, note, policy, tlog_proof, witness};

fn run(target: &str, check: fn(&[u8]), parses: fn(&[u8]) -> bool) {
    for (name, data) in corpus(target) {
        check(&data);
        assert_eq!(
            parses(&data),
            !name.starts_with("invalid-"),
            "{target}/{name}: unexpected parse result"
        );
    }
}

#[test]
fn note_corpus() {
    run("note", note::roundtrip_check, |d| {
        note::Note::parse(d).is_ok()
    });
}

#[test]
fn checkpoint_corpus() {
    run("checkpoint", checkpoint::roundtrip_check, |d| {
        let text = match note::Note::parse(d) {
            Ok(n) => n.text().to_owned(),
            Err(_) => String::from_utf8_lossy(d).into_owned(),
        };
        checkpoint::Checkpoint::parse(&text).is_ok()
    });
}

#[test]
fn witness_request_corpus() {
    run("witness_request", witness::roundtrip_check, |d| {
        witness::AddCheckpointRequest::parse(d).is_ok()
            || witness::parse_cosignature_response(d).is_ok()
            || witness::parse_size_body(d).is_ok()
    });
}

#[test]
fn policy_corpus() {
    run("policy", policy::roundtrip_check, |d| {
        std::str::from_utf8(d).is_ok_and(|s| policy::Policy::parse(s).is_ok())
    });
}

#[test]
fn tlog_proof_corpus() {
    run("tlog_proof", tlog_proof::roundtrip_check, |d| {
        tlog_proof::TlogProof::parse(d).is_ok()
    });
}
