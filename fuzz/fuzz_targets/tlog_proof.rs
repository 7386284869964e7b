//! Fuzz target: parse with `attestlog_proto::tlog_proof` and check the serialize→parse round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    attestlog_proto::tlog_proof::roundtrip_check(data);
});
