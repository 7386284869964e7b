//! Fuzz the in-toto statement / data-flow predicate parser and validator.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    attestlog_proto::predicate::roundtrip_check(data);
});
