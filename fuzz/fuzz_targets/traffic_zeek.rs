//! Fuzz target: the Zeek `conn.log` reader (TSV and JSON) of `attestlog check-traffic`
//! (`attestlog_client::traffic`): never panics, and what it reads holds together.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = attestlog_client::traffic::zeek_check(data);
});
