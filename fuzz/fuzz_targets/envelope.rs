//! Fuzz the DSSE envelope parser and canonical entry encoding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    attestlog_proto::dsse::roundtrip_check(data);
});
