//! Entry bundles: decoding never panics, and whatever decodes encodes back to the same
//! bytes. Also run over `corpus/entry_bundle` by proto/tests/fuzz_corpus/ (one test binary).
#![no_main]

use attestlog_proto::tiles::{decode_bundle, encode_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_bundle(data) {
        let encoded = encode_bundle(&entries).expect("decoded bundle must re-encode");
        assert_eq!(encoded, data, "re-encoding differs");
    }
});
