//! A log of more than 70,000 entries (full level-1 tiles and a level-2 tile exist): every
//! tile, entry bundle, inclusion proof and a consistency proof from every published size are
//! consistent with the checkpoint; an independent client recomputes the whole log.

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::proof::{verify_consistency, verify_inclusion};
use attestlog_proto::tree::Frontier;
use attestlog_server::admission;

use crate::common::*;

const N: u64 = 70_100;

pub async fn bulk_append(
    log: &TestLog,
    vendor: &str,
    key: &attestlog_proto::keys::SignerKey,
    n: u64,
) {
    let signer = key.verifier();
    let seq = log.state.sequencer.clone();
    let mut start = 0;
    while start < n {
        let end = (start + 8192).min(n);
        let mut rxs = Vec::new();
        for i in start..end {
            let env = sign_value(key, &statement(vendor, &att_id(i), "Bulk"));
            rxs.push(
                seq.submit(admission::bulk_attestation(&env, &signer).unwrap())
                    .unwrap(),
            );
        }
        for rx in rxs {
            rx.await.unwrap().unwrap();
        }
        start = end;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_log_is_consistent_everywhere() {
    let log = TestLog::start_with(|c| {
        c.max_batch = 3000;
        c.queue = 10_000;
    })
    .await;
    let key = vendor_key(30);
    log.enrol("Bulk AG", &key.verifier()).await;
    bulk_append(&log, "Bulk AG", &key, N).await;
    let size = N + 1;

    let cp_text = log.get("/checkpoint").await.text().await.unwrap();
    let cp = SignedCheckpoint::open(cp_text.as_bytes(), &[log.log_key()]).unwrap();
    let cp = cp.checkpoint().clone();
    assert_eq!(cp.size, size);

    // Entry bundles → leaf hashes → the root, recomputed here.
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap());
    let bundles = size.div_ceil(256);
    for b in 0..bundles {
        let width = (size - b * 256).min(256);
        let path = attestlog_proto::tiles::TilePath::Entries {
            index: b,
            width: u16::try_from(width).unwrap(),
        };
        let r = log.get(&format!("/{}", path.full_path())).await;
        assert_eq!(r.status(), 200, "{path}");
        let data = r.bytes().await.unwrap();
        let entries = attestlog_proto::tiles::decode_bundle(&data).unwrap();
        assert_eq!(entries.len() as u64, width);
        leaves.extend(entries.iter().map(|e| Hash::leaf(e)));
    }
    let mut f = Frontier::new();
    let mut levels: Vec<Vec<Hash>> = vec![Vec::new(); 3];
    for l in &leaves {
        f.push(*l, |node, h| {
            if node.level % 8 == 0 && usize::from(node.level / 8) < levels.len() {
                levels[usize::from(node.level / 8)].push(h);
            }
        });
    }
    assert_eq!(f.root(), cp.root);

    // Every hash tile of every level matches the recomputed hashes.
    for (level, hashes) in levels.iter().enumerate() {
        for (t, chunk) in hashes.chunks(256).enumerate() {
            let tile = attestlog_proto::tiles::TileId {
                level: u8::try_from(level).unwrap(),
                index: t as u64,
                width: u16::try_from(chunk.len()).unwrap(),
            };
            let path = attestlog_proto::tiles::TilePath::Hashes(tile);
            let r = log.get(&format!("/{}", path.full_path())).await;
            assert_eq!(r.status(), 200, "{path}");
            if chunk.len() == 256 {
                assert_eq!(
                    r.headers()["cache-control"],
                    "public, max-age=31536000, immutable"
                );
            }
            let data = r.bytes().await.unwrap();
            let want: Vec<u8> = chunk.iter().flat_map(|h| h.0).collect();
            assert_eq!(data.as_ref(), want.as_slice(), "{path}");
        }
    }
    assert_eq!(levels[1].len(), 273, "full level-1 tile exists");
    assert_eq!(levels[2].len(), 1, "level-2 tile exists");

    // Every inclusion proof (computed from tiles) verifies; a sample also over HTTP.
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        let p = log.state.prover().inclusion_hashes(i, size).unwrap();
        verify_inclusion(leaf, i, size, &p, &cp.root).unwrap();
    }
    for i in [0, 1, 255, 256, 65_535, 65_536, size - 1] {
        let (s, b) = log
            .get_json(&format!("/v1/proof/inclusion?index={i}&tree_size={size}"))
            .await;
        assert_eq!(s, 200);
        let p: attestlog_proto::api::InclusionProof = serde_json::from_value(b).unwrap();
        assert_eq!(p.leaf_hash, leaves[usize::try_from(i).unwrap()], "leaf {i}");
        verify_inclusion(
            &leaves[usize::try_from(i).unwrap()],
            i,
            size,
            &p.hashes,
            &cp.root,
        )
        .unwrap();
        let (s, b) = log
            .get_json(&format!(
                "/v1/proof/inclusion?leaf_hash={}&tree_size={size}",
                p.leaf_hash.to_hex()
            ))
            .await;
        assert_eq!(s, 200);
        assert_eq!(b["index"], i);
    }

    // Consistency from every published size to the current one.
    let mut checked = 0;
    let mut older = Frontier::new();
    for (i, l) in leaves.iter().enumerate() {
        older.push(*l, |_, _| {});
        let m = i as u64 + 1;
        if log.state.store.checkpoint_at(m).unwrap().is_none() {
            continue;
        }
        let (s, b) = log
            .get_json(&format!("/v1/proof/consistency?first={m}&second={size}"))
            .await;
        assert_eq!(s, 200);
        let p: attestlog_proto::api::ConsistencyProof = serde_json::from_value(b).unwrap();
        verify_consistency(m, size, &p.hashes, &older.root(), &cp.root).unwrap();
        checked += 1;
    }
    assert!(checked > 10, "only {checked} checkpoints");

    // A client written only from the specs recomputes the log over HTTP.
    crate::independent::check_whole_log(&log.url, &log.log_key().to_string()).await;
}
