//! Runs every fuzz target's function (fuzz/fuzz_targets/*.rs) over its committed seed corpus
//! in `fuzz/corpus/<target>/`, so CI exercises them without cargo-fuzz. One test binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod attest;
mod notes;
mod receipt;
mod tiles;

use std::path::PathBuf;

/// The seed corpus of a target: (file name, bytes), sorted by name.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("corpus dir entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, path)
        })
        .filter(|(_, p)| p.is_file())
        .map(|(name, p)| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 2, "corpus {target} has too few files");
    files
}
