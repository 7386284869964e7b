//! Fuzz the receipt JSON parser and the offline receipt verifier: parsing never panics, what
//! parses serializes back to an equal receipt, and verification (against the seed corpus's
//! log key) and rendering (the client's) never panic. Also run over `corpus/receipt` by
//! proto/tests/fuzz_corpus/receipt.rs and, with rendering, by client/src/render/tests.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(v) = attestlog_proto::receipt::roundtrip_check(data) {
        assert!(!attestlog_client::render::verified_receipt(&v).is_empty());
    }
});
