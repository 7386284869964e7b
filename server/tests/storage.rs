//! The storage conformance suite: one body, run against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pg_support/mod.rs"]
mod pg_support;

use attestlog_proto::Hash;
use attestlog_proto::enrolment::{Action, KeyRole};
use attestlog_proto::keys::{SignerKey, TYPE_ED25519, VerifierKey};
use attestlog_proto::rules::Version;
use attestlog_proto::tiles::TileId;
use attestlog_server::storage::postgres::{MIGRATIONS, PostgresStore, STATEMENTS};
use attestlog_server::storage::sqlite::SqliteStore;
use attestlog_server::storage::{
    AttestationMeta, Batch, BatchEntry, EnrolmentRow, LogIndex, LogRead, LogStore, LogWrite,
    RecordedHalt, SearchKind, SearchQuery, SearchTerm, StoreError, VerificationMeta,
};

/// Tile `level`/`index` as a store key (stores ignore the width: they return what they hold).
fn key(level: u8, index: u64) -> TileId {
    TileId {
        level,
        index,
        width: 256,
    }
}

/// A changed tile of a batch: `data` (whole hashes) at `level`/`index`.
fn tile(level: u8, index: u64, data: Vec<u8>) -> (TileId, Vec<u8>) {
    let width = u16::try_from(data.len() / 32).unwrap();
    (
        TileId {
            level,
            index,
            width,
        },
        data,
    )
}

fn entry(n: u8, vendor: &str, terms: &[(&'static str, &str)]) -> BatchEntry {
    BatchEntry {
        data: vec![n; 3],
        leaf_hash: Hash::leaf(&[n; 3]),
        terms: terms
            .iter()
            .map(|(kind, value)| SearchTerm {
                kind: SearchKind::parse(kind).unwrap(),
                value: (*value).to_owned(),
            })
            .collect(),
        attestation: Some(AttestationMeta {
            attestation_id: format!("id{}", n % 4),
            vendor: vendor.into(),
            product: "P".into(),
            status: "active".into(),
            valid_until: "2030-01-01T00:00:00Z".into(),
            supersedes: (n > 4).then(|| u64::from(n) - 4),
            issued_at: issued_at(n),
        }),
        enrolment: None,
        verification: None,
        statement: Some(Hash::sha256(&[n])),
    }
}

fn issued_at(n: u8) -> String {
    format!("2026-11-{:02}T00:00:00Z", n % 28 + 1)
}

fn vendor_key(n: u8) -> VerifierKey {
    SignerKey::from_seed(&format!("k{n}.example/k"), TYPE_ED25519, &[n; 32])
        .unwrap()
        .verifier()
}

fn enrolment(n: u8, action: &str) -> BatchEntry {
    BatchEntry {
        data: vec![n; 5],
        leaf_hash: Hash::leaf(&[n; 5]),
        terms: vec![],
        attestation: None,
        enrolment: Some(EnrolmentRow {
            index: 0,
            vendor: "V".into(),
            key: vendor_key(n),
            action: Action::parse(action).unwrap(),
            role: KeyRole::Vendor,
        }),
        verification: None,
        statement: Some(Hash::sha256(&[n, 1])),
    }
}

/// The stand-in hash of leaf `i` in level-0 tiles.
fn tile_hash(i: u64) -> [u8; 32] {
    [u8::try_from(i % 251).unwrap(); 32]
}

/// The level-0 tiles a batch from `old` to `new` changed, as the sequencer hands them over:
/// each one whole as of `new`.
fn level0_tiles(old: u64, new: u64) -> Vec<(TileId, Vec<u8>)> {
    (old / 256..new.div_ceil(256))
        .map(|t| {
            let data = (t * 256..new.min(t * 256 + 256))
                .flat_map(tile_hash)
                .collect();
            tile(0, t, data)
        })
        .collect()
}

/// Plain entries (no attestation, no enrolment) for indexes `range`.
fn plain_entries(range: std::ops::Range<u64>) -> Vec<BatchEntry> {
    range
        .map(|i| BatchEntry::plain(format!("plain {i}").into_bytes()))
        .collect()
}

/// Tiles only grow, batch by batch, across tile boundaries and levels: what a reader gets is
/// every hash the batches handed over, in order.
fn tiles_grow(s: &dyn LogStore) {
    let mut size = s.latest_checkpoint().unwrap().unwrap().0;
    for n in [250, 1, 49, 300] {
        let new = size + n;
        let mut tiles = level0_tiles(size, new);
        if new / 256 > size / 256 {
            let level1 = (0..new / 256).flat_map(|t| [200 + u8::try_from(t).unwrap(); 32]);
            tiles.push(tile(1, 0, level1.collect()));
        }
        let b = Batch {
            old_size: size,
            entries: plain_entries(size..new),
            tiles,
            checkpoint: format!("cp {new}").into_bytes(),
        };
        s.commit_batch(&b).unwrap();
        size = new;
    }
    let t = s
        .read_tiles(&[key(0, 0), key(0, 1), key(0, 2), key(1, 0)])
        .unwrap();
    assert_eq!(t[0], (0..256).flat_map(tile_hash).collect::<Vec<_>>());
    assert_eq!(t[1], (256..512).flat_map(tile_hash).collect::<Vec<_>>());
    assert_eq!(t[2], (512..size).flat_map(tile_hash).collect::<Vec<_>>());
    assert_eq!(t[3], [[200; 32], [201; 32]].concat());
}

fn batch(old_size: u64, entries: Vec<BatchEntry>) -> Batch {
    let new = old_size + entries.len() as u64;
    Batch {
        old_size,
        entries,
        tiles: level0_tiles(old_size, new),
        checkpoint: format!("cp {new}").into_bytes(),
    }
}

/// Everything a backend must do the same way.
fn conformance(s: &dyn LogStore) {
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    s.commit_batch(&batch(0, vec![])).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap(), Some((0, b"cp 0".to_vec())));
    // The empty tree is signed once.
    assert!(s.commit_batch(&batch(0, vec![])).is_err());
    s.commit_batch(&batch(
        0,
        vec![
            enrolment(100, "enrol"),
            entry(1, "V", &[("vendor", "v"), ("country", "ch")]),
            entry(2, "V", &[("vendor", "v"), ("country", "de")]),
        ],
    ))
    .unwrap();
    // A second writer starting from the old size cannot extend the tree.
    let err = s
        .commit_batch(&batch(0, vec![entry(3, "V", &[])]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SizeConflict {
                expected: 0,
                stored: 3
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        s.commit_batch(&batch(5, vec![entry(3, "V", &[])])),
        Err(StoreError::SizeConflict { .. })
    ));
    // Nothing of the failed batches was written.
    assert_eq!(s.lookup_leaf(&Hash::leaf(&[3; 3])).unwrap(), None);
    assert_eq!(s.read_entries(0, 10).unwrap().len(), 3);
    // The dedup index is unique: the same leaf twice fails the whole batch.
    assert!(
        s.commit_batch(&batch(3, vec![entry(9, "V", &[]), entry(1, "V", &[])]))
            .is_err()
    );
    assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 3);
    assert_eq!(s.lookup_leaf(&Hash::leaf(&[9; 3])).unwrap(), None);
    s.commit_batch(&batch(
        3,
        vec![
            entry(4, "W", &[("vendor", "w"), ("country", "ch")]),
            // A term twice in one entry is indexed once.
            entry(
                5,
                "V",
                &[("vendor", "v"), ("country", "ch"), ("country", "ch")],
            ),
            enrolment(101, "revoke"),
        ],
    ))
    .unwrap();
    assert_eq!(s.latest_checkpoint().unwrap(), Some((6, b"cp 6".to_vec())));

    // Entries, leaves, checkpoints.
    assert_eq!(s.read_entries(1, 2).unwrap(), vec![vec![1; 3], vec![2; 3]]);
    assert_eq!(s.read_entries(5, 10).unwrap(), vec![vec![101; 5]]);
    assert_eq!(s.lookup_leaf(&Hash::leaf(&[4; 3])).unwrap(), Some(3));
    let found = s
        .lookup_leaves(&[
            Hash::leaf(&[1; 3]),
            Hash::leaf(&[3; 3]),
            Hash::leaf(&[5; 3]),
        ])
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&Hash::leaf(&[1; 3])], 1);
    assert_eq!(found[&Hash::leaf(&[5; 3])], 4);
    assert!(s.checkpoint_in_range(1, 4).unwrap());
    assert!(s.checkpoint_in_range(0, 1).unwrap());
    assert!(!s.checkpoint_in_range(4, 6).unwrap());
    assert!(!s.checkpoint_in_range(7, u64::MAX).unwrap());
    assert_eq!(s.checkpoint_at(3).unwrap(), Some(b"cp 3".to_vec()));
    assert_eq!(s.checkpoint_at(4).unwrap(), None);
    // A page of checkpoints below a size, largest first, in one query.
    let page = s.checkpoints_before(7, 100).unwrap();
    let sizes: Vec<u64> = page.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        (sizes.first(), sizes.last()),
        (Some(&6), Some(&0)),
        "{sizes:?}"
    );
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    for (n, note) in &page {
        assert_eq!(note, &format!("cp {n}").into_bytes());
    }
    assert_eq!(
        s.checkpoints_before(4, 1).unwrap(),
        vec![(3, b"cp 3".to_vec())]
    );
    assert!(s.checkpoints_before(0, 5).unwrap().is_empty());
    assert_eq!(s.checkpoints_before(u64::MAX, 1).unwrap()[0].0, 6);
    s.set_checkpoint_note(3, b"cp 3 cosigned").unwrap();
    assert_eq!(s.checkpoint_at(3).unwrap(), Some(b"cp 3 cosigned".to_vec()));
    assert!(matches!(
        s.set_checkpoint_note(99, b"x"),
        Err(StoreError::Corrupt(_))
    ));

    // Tiles: what the batches appended, missing ones empty, order and repeats kept.
    let tiles = s
        .read_tiles(&[key(0, 0), key(1, 0), key(2, 0), key(0, 0)])
        .unwrap();
    assert_eq!(tiles[0], (0..6).flat_map(tile_hash).collect::<Vec<_>>());
    assert!(tiles[1].is_empty());
    assert!(tiles[2].is_empty());
    assert_eq!(tiles[3], tiles[0]);

    // Attestation metadata and ownership.
    assert_eq!(s.attestation_owner("id1").unwrap().as_deref(), Some("V"));
    assert_eq!(s.attestation_owner("id0").unwrap().as_deref(), Some("W"));
    assert_eq!(s.attestation_owner("nope").unwrap(), None);
    let owners = s.attestation_owners(&["id1", "nope", "id0"]).unwrap();
    assert_eq!(owners.len(), 2);
    assert_eq!(owners["id1"], "V");
    assert_eq!(owners["id0"], "W");
    let m = s.attestation_at(4).unwrap().unwrap();
    assert_eq!((m.attestation_id.as_str(), m.supersedes), ("id1", Some(1)));
    assert_eq!(s.attestation_at(0).unwrap(), None);
    let versions = s.attestation_versions("id1").unwrap();
    assert_eq!(versions.iter().map(|v| v.0).collect::<Vec<_>>(), vec![1, 4]);

    // Enrolments in index order, with their indexes, typed.
    let e = s.enrolments().unwrap();
    assert_eq!(
        e.iter()
            .map(|r| (r.index, r.key.clone(), r.action))
            .collect::<Vec<_>>(),
        vec![
            (0, vendor_key(100), Action::Enrol),
            (5, vendor_key(101), Action::Revoke)
        ]
    );

    // The statement index: the first index of each statement (DESIGN.md §10).
    assert_eq!(
        s.claims_from().unwrap(),
        0,
        "a new log enforces the claim rules"
    );
    assert_eq!(
        s.policies_from().unwrap(),
        0,
        "a new log logs the registration policy before every signed statement"
    );
    let found = s
        .lookup_statements(&[Hash::sha256(&[1]), Hash::sha256(&[5]), Hash::sha256(&[99])])
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&Hash::sha256(&[1])], 1);
    assert_eq!(found[&Hash::sha256(&[5])], 4);
    assert_eq!(
        s.lookup_statement(&Hash::sha256(&[100, 1])).unwrap(),
        Some(0)
    );
    assert_eq!(s.lookup_statement(&Hash::sha256(&[9])).unwrap(), None);
    // Versions of attestation ids, typed, in index order.
    let chains = s.attestation_chains(&["id1", "nope", "id0"]).unwrap();
    assert_eq!(chains.len(), 2);
    assert_eq!(
        chains["id1"],
        vec![
            Version {
                index: 1,
                vendor: "V".into(),
                supersedes: None,
                issued_at: issued_at(1)
            },
            Version {
                index: 4,
                vendor: "V".into(),
                supersedes: Some(1),
                issued_at: issued_at(5)
            }
        ]
    );
    assert_eq!(chains["id0"].len(), 1);

    // Search: all terms must match, newest first, with a cursor and a limit.
    let q = |terms: &[(&'static str, &str)], before: Option<u64>, limit: u32| {
        let page = s
            .search(&SearchQuery {
                terms: terms
                    .iter()
                    .map(|(k, v)| (SearchKind::parse(k).unwrap(), (*v).to_owned()))
                    .collect(),
                before,
                limit,
            })
            .unwrap();
        // Each hit carries its metadata, from the same query.
        for (idx, meta) in &page.hits {
            assert!(meta.attestation_id.starts_with("id"), "{idx}: {meta:?}");
            assert_eq!(meta.product, "P");
        }
        page.hits.iter().map(|(i, _)| *i).collect::<Vec<u64>>()
    };
    assert_eq!(q(&[("vendor", "v")], None, 10), vec![4, 2, 1]);
    assert_eq!(q(&[("vendor", "v")], None, 2), vec![4, 2]);
    assert_eq!(q(&[("vendor", "v")], Some(2), 10), vec![1]);
    assert_eq!(
        q(&[("vendor", "v"), ("country", "ch")], None, 10),
        vec![4, 1]
    );
    assert_eq!(q(&[("country", "ch"), ("vendor", "w")], None, 10), vec![3]);
    assert_eq!(q(&[("country", "ch")], None, 10), vec![4, 3, 1]);
    assert!(q(&[("country", "fr")], None, 10).is_empty());
    assert_eq!(q(&[], None, 10), vec![4, 3, 2, 1]);
    assert_eq!(q(&[], Some(3), 1), vec![2]);
    // Attestation IDs are answered from the attestations table, with the other terms.
    let id = |v| ("attestation_id", v);
    assert_eq!(q(&[id("id1")], None, 10), vec![4, 1]);
    assert_eq!(q(&[id("id1")], Some(4), 10), vec![1]);
    assert_eq!(q(&[id("id1")], None, 1), vec![4]);
    assert_eq!(q(&[("country", "ch"), id("id1")], None, 10), vec![4, 1]);
    assert!(q(&[id("id1"), ("country", "de")], None, 10).is_empty());
    assert_eq!(q(&[id("id0"), ("vendor", "w")], None, 10), vec![3]);
    assert!(q(&[id("id0"), ("vendor", "v")], None, 10).is_empty());
    assert!(q(&[id("id1"), id("id2")], None, 10).is_empty());
    assert_eq!(q(&[id("id2"), id("id2")], None, 10), vec![2]);
    assert!(q(&[id("nope")], None, 10).is_empty());

    verifications(s);

    let (log, search) = s.disk_usage().unwrap();
    assert!(log > 0 && search > 0, "{log} {search}");
}

/// A verification row by `verifier` of `subject`, with its search terms.
fn verification(
    n: u8,
    verifier: &str,
    subject: u64,
    verdict: &str,
    sup: Option<u64>,
) -> BatchEntry {
    let meta = VerificationMeta {
        verifier: verifier.into(),
        subject,
        attestation_id: format!("id{subject}"),
        verdict: verdict.into(),
        supersedes: sup,
        issued_at: issued_at(n),
    };
    BatchEntry {
        terms: meta.terms(),
        verification: Some(meta),
        statement: Some(Hash::sha256(&[n, 2])),
        ..BatchEntry::plain(vec![n; 7])
    }
}

/// Key roles and verifications (DESIGN.md §13), after the entries of [`conformance`]
/// (size 6).
fn verifications(s: &dyn LogStore) {
    let mut lab = enrolment(102, "enrol");
    if let Some(e) = lab.enrolment.as_mut() {
        e.vendor = "Lab".into();
        e.role = KeyRole::Verifier;
    }
    s.commit_batch(&batch(
        6,
        vec![
            lab,
            verification(20, "Lab", 1, "contradicted", None),
            verification(21, "Other Lab", 1, "consistent", None),
            verification(22, "Lab", 1, "consistent", Some(7)),
            verification(23, "Lab", 2, "inconclusive", None),
        ],
    ))
    .unwrap();
    let e = s.enrolments().unwrap();
    assert_eq!(
        e.iter().map(|r| (r.index, r.role)).collect::<Vec<_>>(),
        [
            (0, KeyRole::Vendor),
            (5, KeyRole::Vendor),
            (6, KeyRole::Verifier)
        ]
    );
    // Chains per verifier and subject.
    let chains = s
        .verification_chains(&[("Lab", 1), ("Lab", 3), ("Other Lab", 1)])
        .unwrap();
    assert_eq!(chains.len(), 2, "{chains:?}");
    let lab1 = &chains[&attestlog_proto::rules::verification_chain_key("Lab", 1)];
    assert_eq!(
        lab1.iter()
            .map(|v| (v.index, v.vendor.as_str(), v.supersedes))
            .collect::<Vec<_>>(),
        [(7, "Lab", None), (9, "Lab", Some(7))]
    );
    assert_eq!(
        chains[&attestlog_proto::rules::verification_chain_key("Other Lab", 1)][0].index,
        8
    );
    // Search of verifications: by verdict, subject, verifier and subject attestation id.
    let q = |terms: &[(SearchKind, &str)], before: Option<u64>, limit: u32| {
        let page = s
            .search_verifications(&SearchQuery {
                terms: terms.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
                before,
                limit,
            })
            .unwrap();
        (
            page.hits.iter().map(|(i, _)| *i).collect::<Vec<u64>>(),
            page.next,
        )
    };
    use SearchKind::{AttestationId, Subject, Verdict, Verifier};
    assert_eq!(q(&[(Verdict, "contradicted")], None, 10), (vec![7], None));
    assert_eq!(q(&[(Subject, "1")], None, 10), (vec![9, 8, 7], None));
    assert_eq!(q(&[(Subject, "1")], None, 2), (vec![9, 8], Some(8)));
    assert_eq!(q(&[(Subject, "1")], Some(9), 10), (vec![8, 7], None));
    assert_eq!(
        q(&[(Subject, "1"), (Verdict, "consistent")], None, 10).0,
        [9, 8]
    );
    assert_eq!(q(&[(Verifier, "lab")], None, 10).0, [10, 9, 7]);
    assert_eq!(
        q(&[(AttestationId, "id2"), (Verifier, "lab")], None, 10).0,
        [10]
    );
    assert_eq!(q(&[], None, 10).0, [10, 9, 8, 7]);
    assert!(
        q(&[(Verdict, "inconclusive"), (Subject, "1")], None, 10)
            .0
            .is_empty()
    );
    let hit = &s
        .search_verifications(&SearchQuery {
            terms: vec![(Verdict, "inconclusive".into())],
            before: None,
            limit: 1,
        })
        .unwrap()
        .hits[0];
    assert_eq!(
        hit.1,
        VerificationMeta {
            verifier: "Lab".into(),
            subject: 2,
            attestation_id: "id2".into(),
            verdict: "inconclusive".into(),
            supersedes: None,
            issued_at: issued_at(23),
        }
    );
    // Attestation searches never answer verifications.
    let all = s
        .search(&SearchQuery {
            terms: vec![],
            before: None,
            limit: 100,
        })
        .unwrap();
    assert!(all.hits.iter().all(|(i, _)| *i < 6), "{:?}", all.hits);
}

#[test]
fn sqlite_store_conformance() {
    let d = attestlog_serve::fs::scratch_dir("attestlog-storage", "conformance").unwrap();
    let s = SqliteStore::open(&d.join("db")).unwrap();
    conformance(&s);
    tiles_grow(&s);
}

#[test]
fn postgres_store_conformance() {
    let Some(admin) = pg_support::admin_url("postgres_store_conformance") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    let s = PostgresStore::connect(&db.url).unwrap();
    conformance(&s);
    tiles_grow(&s);
}

#[test]
fn every_postgres_statement_prepares_and_migrations_apply_once() {
    let Some(admin) = pg_support::admin_url("every_postgres_statement_prepares") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    // Replicas starting together: the migrations run once, under the advisory lock.
    let stores: Vec<PostgresStore> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..3)
            .map(|_| sc.spawn(|| PostgresStore::connect(&db.url).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let latest = MIGRATIONS.last().unwrap().0;
    for s in &stores {
        assert_eq!(s.schema_version().unwrap(), latest);
    }
    assert_eq!(stores[0].prepare_all().unwrap(), STATEMENTS.len());
    // A schema newer than the binary is refused.
    pg_support::execute(
        &db.url,
        &format!(
            "INSERT INTO schema_migrations (version) VALUES ({})",
            latest + 1
        ),
    );
    let err = PostgresStore::connect(&db.url).unwrap_err().to_string();
    assert!(err.contains("newer than this binary"), "{err}");
}

#[test]
fn two_postgres_writers_never_both_extend_the_tree() {
    let Some(admin) = pg_support::admin_url("two_postgres_writers") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    let a = PostgresStore::connect(&db.url).unwrap();
    let b = PostgresStore::connect(&db.url).unwrap();
    a.commit_batch(&batch(0, vec![])).unwrap();
    // Both start from size 0 at once; exactly one batch lands.
    let results: Vec<_> = std::thread::scope(|sc| {
        let ha = sc.spawn(|| a.commit_batch(&batch(0, vec![entry(1, "V", &[])])));
        let hb = sc.spawn(|| b.commit_batch(&batch(0, vec![entry(2, "V", &[])])));
        vec![ha.join().unwrap(), hb.join().unwrap()]
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoreError::SizeConflict { stored: 1, .. })))
    );
    assert_eq!(b.latest_checkpoint().unwrap().unwrap().0, 1);
    assert_eq!(a.read_entries(0, 10).unwrap().len(), 1);
    // The password never shows in Debug output.
    let shown = format!("{a:?}");
    assert!(
        !shown.contains("attestlog-test") && shown.contains("***"),
        "{shown}"
    );
}

/// A halt recorded in the database by one replica (DESIGN.md §9) refuses every other
/// writer's batch until it is cleared; the first halt recorded stays. SQLite records none
/// (its data directory's file is the record).
#[test]
fn a_halt_recorded_in_postgres_refuses_every_batch_until_cleared() {
    let d = attestlog_serve::fs::scratch_dir("attestlog-storage", "halt-row").unwrap();
    let lite = SqliteStore::open(&d.join("db")).unwrap();
    let halt = RecordedHalt {
        why: "witness W cosigned tree size 9".into(),
        published: b"a signed note".to_vec(),
    };
    lite.record_halt(&halt).unwrap();
    assert_eq!(lite.recorded_halt().unwrap(), None);
    lite.commit_batch(&batch(0, vec![])).unwrap();
    let Some(admin) = pg_support::admin_url("a_halt_recorded_in_postgres") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    let a = PostgresStore::connect(&db.url).unwrap();
    let b = PostgresStore::connect(&db.url).unwrap();
    a.commit_batch(&batch(0, vec![])).unwrap();
    assert_eq!(a.recorded_halt().unwrap(), None);
    b.record_halt(&halt).unwrap();
    let other = RecordedHalt {
        why: "another conflict".into(),
        published: Vec::new(),
    };
    a.record_halt(&other).unwrap();
    assert_eq!(a.recorded_halt().unwrap(), Some(halt.clone()));
    match a.commit_batch(&batch(0, vec![entry(1, "V", &[])])) {
        Err(StoreError::Halted(why)) => assert_eq!(why, halt.why),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.latest_checkpoint().unwrap().unwrap().0, 0);
    assert_eq!(b.clear_halt().unwrap(), Some(halt));
    assert_eq!(a.clear_halt().unwrap(), None);
    a.commit_batch(&batch(0, vec![entry(1, "V", &[])])).unwrap();
    assert_eq!(b.latest_checkpoint().unwrap().unwrap().0, 1);
}

/// Commits wait for the WAL flush even when the database's default says otherwise.
#[test]
fn postgres_commits_run_with_synchronous_commit_on() {
    let Some(admin) = pg_support::admin_url("postgres_commits_run_with_synchronous_commit_on")
    else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    pg_support::execute(
        &db.url,
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', \
         current_database()); END $$;",
    );
    let s = PostgresStore::connect(&db.url).unwrap();
    assert_eq!(s.synchronous_commit().unwrap(), "on");
}

/// `(attestation_id, vendor, issued_at)` of a legacy attestation.
type LegacyMeta = (String, String, String);

/// The entries of a log written before the statement index: an enrolment, a statement, and
/// the same statement logged again under another key (older servers allowed it). Returns
/// (entry bytes, metadata for attestations).
fn legacy_entries() -> Vec<(Vec<u8>, Option<LegacyMeta>)> {
    use attestlog_proto::dsse::Envelope;
    use attestlog_proto::enrolment::Enrolment;
    use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value, template};
    let log = SignerKey::from_seed("log.example/l", TYPE_ED25519, &[1; 32]).unwrap();
    let (k1, k2) = (
        SignerKey::from_seed("v.example/k1", TYPE_ED25519, &[2; 32]).unwrap(),
        SignerKey::from_seed("v.example/k2", TYPE_ED25519, &[3; 32]).unwrap(),
    );
    let enrol = Enrolment {
        vendor: "Old AG".into(),
        key: k1.verifier(),
        action: Action::Enrol,
        issued_at: "2026-01-01T00:00:00Z".into(),
        role: attestlog_proto::enrolment::KeyRole::Vendor,
    };
    let mut v = template();
    v["predicate"]["vendor"]["legal_name"] = serde_json::json!("Old AG");
    let st = statement_from_value(v).unwrap();
    let meta = Some((
        st.attestation_id().to_owned(),
        "Old AG".to_owned(),
        st.predicate.issued_at.clone(),
    ));
    let signed = |k: &SignerKey| {
        Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &[k]).canonical_bytes()
    };
    vec![
        (enrol.to_envelope(&log).canonical_bytes(), None),
        (signed(&k1), meta.clone()),
        (signed(&k2), meta),
    ]
}

/// What a migrated legacy log must answer: the first index of each statement, the versions
/// with their `issued_at`, and `claims_from` and `policies_from` at the tree size of the
/// migration.
fn check_migrated(s: &dyn LogStore) {
    let entries = legacy_entries();
    assert_eq!(s.claims_from().unwrap(), 3);
    assert_eq!(s.policies_from().unwrap(), 3);
    let statement = |i: usize| {
        let env = attestlog_proto::dsse::Envelope::from_json(&entries[i].0).unwrap();
        attestlog_proto::rules::envelope_statement_hash(&env).unwrap()
    };
    assert_eq!(statement(1), statement(2), "one statement, logged twice");
    let found = s.lookup_statements(&[statement(0), statement(1)]).unwrap();
    assert_eq!(found[&statement(0)], 0);
    assert_eq!(found[&statement(1)], 1, "the first index is kept");
    let (id, vendor, issued_at) = entries[1].1.clone().unwrap();
    let chains = s.attestation_chains(&[id.as_str()]).unwrap();
    let versions: Vec<(u64, &str, &str)> = chains[&id]
        .iter()
        .map(|v| (v.index, v.vendor.as_str(), v.issued_at.as_str()))
        .collect();
    assert_eq!(
        versions,
        [
            (1, vendor.as_str(), issued_at.as_str()),
            (2, &vendor, &issued_at)
        ]
    );
}

#[test]
fn sqlite_migration_adds_the_statement_index() {
    let d = attestlog_serve::fs::scratch_dir("attestlog-storage", "migrate-v1").unwrap();
    let path = d.join("db");
    {
        // Schema version 1, as the previous binary wrote it.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE attestations (idx INTEGER PRIMARY KEY, attestation_id TEXT NOT NULL,
                 vendor TEXT NOT NULL, product TEXT NOT NULL, status TEXT NOT NULL,
                 valid_until TEXT NOT NULL, supersedes INTEGER);
             CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
             INSERT INTO checkpoints VALUES (3, x'00');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        for (i, (data, meta)) in legacy_entries().into_iter().enumerate() {
            c.execute(
                "INSERT INTO entries VALUES (?1, ?2)",
                rusqlite::params![i64::try_from(i).unwrap(), data],
            )
            .unwrap();
            if let Some((id, vendor, _)) = meta {
                c.execute(
                    "INSERT INTO attestations VALUES (?1, ?2, ?3, 'P', 'active', 'x', NULL)",
                    rusqlite::params![i64::try_from(i).unwrap(), id, vendor],
                )
                .unwrap();
            }
        }
    }
    let s = SqliteStore::open(&path).unwrap();
    check_migrated(&s);
    drop(s);
    // Reopening does not migrate again.
    check_migrated(&SqliteStore::open(&path).unwrap());
}

#[test]
fn postgres_migration_adds_the_statement_index() {
    let Some(admin) = pg_support::admin_url("postgres_migration_adds_the_statement_index") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    // Migration 1 only, as the previous binary left it, with a log of three entries.
    let mut sql = format!(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n{}\n\
         INSERT INTO schema_migrations (version) VALUES (1);\n\
         UPDATE tree_head SET size = 3;\n",
        MIGRATIONS[0].1
    );
    for (i, (data, meta)) in legacy_entries().into_iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO entries VALUES ({i}, '\\x{}'::bytea);\n",
            hex::encode(&data)
        ));
        if let Some((id, vendor, _)) = meta {
            sql.push_str(&format!(
                "INSERT INTO attestations VALUES ({i}, '{id}', '{vendor}', 'P', 'active', 'x', NULL);\n"
            ));
        }
    }
    pg_support::execute(&db.url, &sql);
    let s = PostgresStore::connect(&db.url).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.last().unwrap().0);
    check_migrated(&s);
    // An older binary's sequencer, which does not write issued_at, cannot log attestations.
    let err = pg_support::try_execute(
        &db.url,
        "INSERT INTO attestations (idx, attestation_id, vendor, product, status, valid_until) \
         VALUES (9, 'x', 'y', 'P', 'active', 'x')",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("issued_at") || format!("{err:?}").contains("issued_at"),
        "{err:?}"
    );
}

/// Two enrolment entries as the log writes them: a vendor key, then a verifier key
/// (DESIGN.md §13), each with its typed row.
fn role_entries() -> Vec<BatchEntry> {
    use attestlog_proto::enrolment::Enrolment;
    let log = SignerKey::from_seed("log.example/l", TYPE_ED25519, &[1; 32]).unwrap();
    [(4u8, KeyRole::Vendor), (5, KeyRole::Verifier)]
        .into_iter()
        .map(|(n, role)| {
            let e = Enrolment {
                vendor: format!("Party {n}"),
                key: vendor_key(n),
                action: Action::Enrol,
                issued_at: "2026-12-01T00:00:00Z".into(),
                role,
            };
            let data = e.to_envelope(&log).canonical_bytes();
            BatchEntry {
                enrolment: Some(EnrolmentRow {
                    index: 0,
                    vendor: e.vendor.clone(),
                    key: e.key.clone(),
                    action: Action::Enrol,
                    role,
                }),
                ..BatchEntry::plain(data)
            }
        })
        .collect()
}

fn roles(s: &dyn LogStore) -> Vec<(u64, KeyRole)> {
    s.enrolments()
        .unwrap()
        .into_iter()
        .map(|r| (r.index, r.role))
        .collect()
}

/// A database written before key roles (schema 3) gets each role from the logged enrolment
/// entry, not from a default: the verifier key's row says verifier after the migration.
#[test]
fn sqlite_migration_reads_key_roles_from_the_log() {
    let d = attestlog_serve::fs::scratch_dir("attestlog-storage", "migrate-v2").unwrap();
    let path = d.join("db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.commit_batch(&batch(0, role_entries())).unwrap();
    }
    {
        // As the previous binary left it: no role column, no verifications table.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "ALTER TABLE enrolments DROP COLUMN role;
             DROP TABLE verifications;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(roles(&s), [(0, KeyRole::Vendor), (1, KeyRole::Verifier)]);
    assert!(s.verification_chains(&[("Lab", 0)]).unwrap().is_empty());
    drop(s);
    // A row whose logged entry is not an enrolment refuses the migration.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "ALTER TABLE enrolments DROP COLUMN role;
         DROP TABLE verifications;
         UPDATE entries SET data = x'00' WHERE idx = 1;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(c);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("enrolment 1"), "{err}");
}

#[test]
fn postgres_migration_reads_key_roles_from_the_log() {
    let Some(admin) = pg_support::admin_url("postgres_migration_reads_key_roles_from_the_log")
    else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    {
        let s = PostgresStore::connect(&db.url).unwrap();
        s.commit_batch(&batch(0, vec![])).unwrap();
        s.commit_batch(&batch(0, role_entries())).unwrap();
    }
    // As the previous binary left it: migration 4 not applied.
    let undo = "ALTER TABLE enrolments DROP COLUMN role; DROP TABLE verifications; \
                DELETE FROM log_meta WHERE key = 'policies_from'; DROP TABLE halt; \
                DELETE FROM schema_migrations WHERE version >= 4;";
    pg_support::execute(&db.url, undo);
    let s = PostgresStore::connect(&db.url).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.last().unwrap().0);
    // Migration 5: the signed statements below the size of the migration may have no
    // registration policy entry below them.
    assert_eq!(s.policies_from().unwrap(), 2);
    assert_eq!(roles(&s), [(0, KeyRole::Vendor), (1, KeyRole::Verifier)]);
    drop(s);
    // An older binary's sequencer, which does not write roles, cannot enrol keys.
    let err = pg_support::try_execute(
        &db.url,
        "INSERT INTO enrolments (idx, vendor, key, action) VALUES (9, 'x', 'y', 'enrol')",
    )
    .unwrap_err();
    assert!(format!("{err:?}").contains("role"), "{err:?}");
    // A row whose logged entry is not an enrolment refuses the migration.
    pg_support::execute(
        &db.url,
        &format!("{undo} UPDATE entries SET data = '\\x00'::bytea WHERE idx = 1;"),
    );
    let err = PostgresStore::connect(&db.url).unwrap_err().to_string();
    assert!(err.contains("enrolment 1"), "{err}");
}
