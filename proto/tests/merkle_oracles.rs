//! Roots and proofs compared against two independent RFC 6962 implementations: `ct-merkle`
//! (roots, inclusion and consistency proofs) and `rs_merkle` (roots and inclusion proofs,
//! with an RFC 6962 node hasher; it promotes a node without a sibling unchanged, which is
//! exactly RFC 6962's shape).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use attestlog_proto::Hash;
use attestlog_proto::proof::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};
use attestlog_proto::tree::{MemoryTree, tree_root};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use proptest::prelude::*;
use sha2::Sha256;

/// RFC 6962 interior-node hashing for `rs_merkle`; leaves are given already hashed.
#[derive(Clone)]
struct Rfc6962;

impl rs_merkle::Hasher for Rfc6962 {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Hash::sha256(data).0
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => Hash::node(&Hash(*left), &Hash(*r)).0,
            None => *left,
        }
    }
}

fn entry(i: u64) -> Vec<u8> {
    // Entries of varying length, so leaf hashing is exercised too.
    let n = usize::try_from(i % 7).unwrap();
    let mut e = i.to_be_bytes().to_vec();
    e.extend(std::iter::repeat_n(0x5a, n));
    e
}

fn build(n: u64) -> (MemoryTree, MemoryBackedTree<Sha256, Vec<u8>>, Vec<[u8; 32]>) {
    let mut ours = MemoryTree::new();
    let mut ct = MemoryBackedTree::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let e = entry(i);
        let h = Hash::leaf(&e);
        ours.push(h);
        leaves.push(h.0);
        ct.push(e);
    }
    (ours, ct, leaves)
}

fn ct_hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks(32)
        .map(|c| Hash::from_slice(c).unwrap())
        .collect()
}

fn check_size(
    n: u64,
    ours: &MemoryTree,
    ct: &MemoryBackedTree<Sha256, Vec<u8>>,
    leaves: &[[u8; 32]],
    indexes: &[u64],
) {
    let root = tree_root(n, ours).unwrap();
    let ct_root = ct.root();
    assert_eq!(
        root.0.as_slice(),
        ct_root.as_bytes().as_slice(),
        "ct root {n}"
    );
    let rs = rs_merkle::MerkleTree::<Rfc6962>::from_leaves(leaves);
    assert_eq!(Some(root.0), rs.root(), "rs root {n}");
    for &i in indexes {
        let p = inclusion_proof(i, n, ours).unwrap();
        let idx = usize::try_from(i).unwrap();
        let ct_p = ct.prove_inclusion(idx);
        assert_eq!(p, ct_hashes(ct_p.as_bytes()), "ct inclusion {i}/{n}");
        let rs_p: Vec<Hash> = rs
            .proof(&[idx])
            .proof_hashes()
            .iter()
            .map(|h| Hash(*h))
            .collect();
        assert_eq!(p, rs_p, "rs inclusion {i}/{n}");
        let leaf = Hash(leaves[idx]);
        verify_inclusion(&leaf, i, n, &p, &root).unwrap();
        // And the oracle accepts our proof.
        ct_root
            .verify_inclusion(
                &entry(i),
                i,
                &ct_merkle::InclusionProof::from_digests(
                    p.iter().map(|h| {
                        <&ct_merkle::array::Array<u8, _>>::try_from(h.0.as_slice()).unwrap()
                    }),
                ),
            )
            .unwrap();
    }
}

#[test]
fn every_size_up_to_300_and_every_inclusion_proof() {
    let (ours, _, leaves) = build(300);
    // ct-merkle proves against its current size only: grow a second one step by step.
    let mut ct = MemoryBackedTree::new();
    for n in 1..=300u64 {
        ct.push(entry(n - 1));
        let idx: Vec<u64> = (0..n).collect();
        check_size(n, &ours, &ct, &leaves[..usize::try_from(n).unwrap()], &idx);
    }
}

#[test]
fn every_consistency_pair_up_to_130() {
    let (ours, _, _) = build(130);
    let mut ct: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    let mut roots = vec![Hash::EMPTY_ROOT];
    for n in 1..=130u64 {
        ct.push(entry(n - 1));
        roots.push(tree_root(n, &ours).unwrap());
        let rn = roots[usize::try_from(n).unwrap()];
        for m in 1..=n {
            let rm = roots[usize::try_from(m).unwrap()];
            let p = consistency_proof(m, n, &ours).unwrap();
            if m < n {
                let additions = usize::try_from(n - m).unwrap();
                let ct_p = ct.prove_consistency(additions);
                assert_eq!(p, ct_hashes(ct_p.as_bytes()), "consistency {m} -> {n}");
            } else {
                assert!(p.is_empty());
            }
            verify_consistency(m, n, &p, &rm, &rn).unwrap();
            if m < n {
                assert!(verify_consistency(m, n, &p, &rn, &rm).is_err());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn random_large_trees(n in 301u64..100_000, picks in prop::collection::vec(any::<u64>(), 3)) {
        let (ours, ct, leaves) = build(n);
        let idx: Vec<u64> = picks.iter().map(|p| p % n).chain([0, n - 1]).collect();
        check_size(n, &ours, &ct, &leaves, &idx);
        // Consistency from random earlier sizes to n, checked against ct-merkle.
        let root = tree_root(n, &ours).unwrap();
        for m in picks.iter().map(|p| 1 + p % (n - 1)).chain([1, n - 1]) {
            let p = consistency_proof(m, n, &ours).unwrap();
            let ct_p = ct.prove_consistency(usize::try_from(n - m).unwrap());
            prop_assert_eq!(&p, &ct_hashes(ct_p.as_bytes()));
            let rm = tree_root(m, &ours).unwrap();
            prop_assert!(verify_consistency(m, n, &p, &rm, &root).is_ok());
        }
    }
}
