//! Fuzz target: parse with `attestlog_proto::note` and check the serialize→parse round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    attestlog_proto::note::roundtrip_check(data);
});
