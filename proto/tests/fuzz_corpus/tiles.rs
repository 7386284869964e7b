//! Runs the fuzz targets' checks (fuzz/fuzz_targets/*.rs) over their committed seed corpora,
//! so CI exercises them without cargo-fuzz.

use super::corpus;

use attestlog_proto::tiles::{TilePath, decode_bundle, encode_bundle};

/// The body of fuzz/fuzz_targets/tile_path.rs; returns whether the input parsed.
fn tile_path(data: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(data) else {
        return false;
    };
    match TilePath::parse(s) {
        Ok(p) => {
            assert_eq!(p.to_path(), s);
            assert_eq!(TilePath::parse(&p.to_path()), Ok(p));
            true
        }
        Err(_) => false,
    }
}

/// The body of fuzz/fuzz_targets/entry_bundle.rs; returns whether the input decoded.
fn entry_bundle(data: &[u8]) -> bool {
    match decode_bundle(data) {
        Ok(entries) => {
            assert_eq!(encode_bundle(&entries).unwrap(), data);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn tile_path_corpus() {
    let results: Vec<bool> = corpus("tile_path")
        .iter()
        .map(|(_, d)| tile_path(d))
        .collect();
    // The corpus holds both valid and malformed paths.
    assert!(results.contains(&true) && results.contains(&false));
}

#[test]
fn entry_bundle_corpus() {
    let results: Vec<bool> = corpus("entry_bundle")
        .iter()
        .map(|(_, d)| entry_bundle(d))
        .collect();
    assert!(results.contains(&true) && results.contains(&false));
}
