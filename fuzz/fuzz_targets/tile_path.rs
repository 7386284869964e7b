//! Tile paths: parsing never panics, and whatever parses serializes back to the same text
//! (one spelling per tile). Also run over `corpus/tile_path` by proto/tests/fuzz_corpus/ (one test binary).
#![no_main]

use attestlog_proto::tiles::TilePath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = TilePath::parse(s) {
        assert_eq!(p.to_path(), s, "serialize is not the parsed text");
        assert_eq!(TilePath::parse(&p.to_path()), Ok(p), "reparse differs");
    }
});
