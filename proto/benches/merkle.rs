//! Merkle hashing and proof benchmarks. Quick check: `cargo bench -p attestlog-proto --bench
//! merkle -- --test`.

#![allow(clippy::unwrap_used)] // benchmark setup

use std::hint::black_box;

use attestlog_proto::Hash;
use attestlog_proto::proof::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
use attestlog_proto::tree::{MemoryTree, tree_root};
use criterion::{Criterion, criterion_group, criterion_main};

const SIZE: u64 = 1 << 20;

fn build() -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..SIZE {
        t.push(Hash::leaf(&i.to_be_bytes()));
    }
    t
}

fn benches(c: &mut Criterion) {
    let entry = [0x42u8; 1024];
    c.bench_function("leaf_hash_1KiB", |b| {
        b.iter(|| Hash::leaf(black_box(&entry)))
    });
    let (l, r) = (Hash::leaf(b"l"), Hash::leaf(b"r"));
    c.bench_function("node_hash", |b| {
        b.iter(|| Hash::node(black_box(&l), black_box(&r)))
    });

    let tree = build();
    let root = tree_root(SIZE, &tree).unwrap();
    let index = SIZE / 3;
    c.bench_function("inclusion_proof_1M", |b| {
        b.iter(|| inclusion_proof(black_box(index), SIZE, &tree).unwrap())
    });
    let proof = inclusion_proof(index, SIZE, &tree).unwrap();
    let leaf = tree
        .get(attestlog_proto::tree::NodeId::new(0, index))
        .unwrap();
    c.bench_function("verify_inclusion_1M", |b| {
        b.iter(|| verify_inclusion(black_box(&leaf), index, SIZE, &proof, &root).unwrap())
    });
    let first = SIZE / 3 + 7;
    let first_root = tree_root(first, &tree).unwrap();
    let cproof = consistency_proof(first, SIZE, &tree).unwrap();
    c.bench_function("verify_consistency_1M", |b| {
        b.iter(|| verify_consistency(first, SIZE, black_box(&cproof), &first_root, &root).unwrap())
    });
}

criterion_group!(merkle, benches);
criterion_main!(merkle);
