//! `attestlog-server fsck` (DESIGN.md §9) on a running log, on SQLite and PostgreSQL: it
//! passes on a healthy log and finds each corruption the chaos suite injects (a changed entry
//! byte, a changed tile hash, a missing checkpoint row — the latest or one in the middle —, a
//! witness cosignature that does not verify, an entry whose signer was not enrolled), naming
//! the first problem.

use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::integrate::{Edge, integrate};
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, VerifierKey};
use attestlog_proto::note::Note;
use attestlog_server::fsck::{self, Report};
use attestlog_server::storage::{Batch, BatchEntry};

use crate::common::*;

const VENDOR: &str = "Fsck AV AG";

fn run(log: &TestLog) -> Report {
    run_with(log, &[])
}

/// fsck with the witness keys of a policy.
fn run_with(log: &TestLog, witnesses: &[VerifierKey]) -> Report {
    fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        witnesses,
        &log.dir,
        0,
        |_, _| {},
    )
    .unwrap()
}

/// Runs SQL on the log's database (SQLite through its own connection).
fn sql(log: &TestLog, backend: Backend, sqlite: &str, postgres: &str) {
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(log.dir.join("attestlog.db")).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            c.execute_batch(sqlite).unwrap();
        }
        Backend::Postgres => crate::pg_support::execute(log.db_url().unwrap(), postgres),
    }
}

/// A blob literal in each dialect.
fn lit(bytes: &[u8]) -> (String, String) {
    let h = hex::encode(bytes);
    (format!("X'{h}'"), format!("'\\x{h}'::bytea"))
}

fn set_entry(log: &TestLog, backend: Backend, index: u64, data: &[u8]) {
    let (l, p) = lit(data);
    sql(
        log,
        backend,
        &format!("UPDATE entries SET data = {l} WHERE idx = {index};"),
        &format!("UPDATE entries SET data = {p} WHERE idx = {index};"),
    );
}

fn set_tile(log: &TestLog, backend: Backend, data: &[u8]) {
    let (l, p) = lit(data);
    sql(
        log,
        backend,
        &format!(
            "DELETE FROM tile_chunks WHERE level = 0 AND idx = 0; \
             INSERT INTO tile_chunks (level, idx, off, data) VALUES (0, 0, 0, {l});"
        ),
        &format!("UPDATE tiles SET data = {p} WHERE level = 0 AND idx = 0;"),
    );
}

fn assert_problem(r: &Report, kind: &str, at: u64) {
    let p = r
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("no problem found: {r:?}"));
    assert!(!r.ok);
    assert_eq!((p.kind, p.at), (kind, Some(at)), "{p}");
}

async fn fsck_finds_each_corruption(backend: Backend) {
    let log = TestLog::start_on_with(backend, |c| {
        c.quota_rate = 0.0;
        c.max_batch = 64;
    })
    .await;
    let vendor = vendor_key(81);
    log.enrol(VENDOR, &vendor.verifier()).await;
    super::large_log::bulk_append(&log, VENDOR, &vendor, 300).await;
    let size = 301;
    let healthy = run(&log);
    assert!(healthy.ok, "{healthy:?}");
    assert_eq!((healthy.tree_size, healthy.entries), (size, size));
    assert!(
        healthy.checkpoints >= 2 && healthy.tiles >= 2,
        "{healthy:?}"
    );

    // A changed entry byte.
    let store = &log.state.store;
    let original = store.read_entries(5, 1).unwrap().remove(0);
    let mut changed = original.clone();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    set_entry(&log, backend, 5, &changed);
    assert_problem(&run(&log), "admission", 5);
    set_entry(&log, backend, 5, &original);
    assert!(run(&log).ok);

    // A changed tile hash.
    let tile = store
        .read_tiles(&[attestlog_proto::tiles::TileId {
            level: 0,
            index: 0,
            width: 256,
        }])
        .unwrap()
        .remove(0);
    let mut bad = tile.clone();
    bad[7 * 32] ^= 1;
    set_tile(&log, backend, &bad);
    let r = run(&log);
    assert_eq!(r.problem.as_ref().map(|p| p.kind), Some("tile"), "{r:?}");
    assert!(
        r.problem
            .as_ref()
            .unwrap()
            .message
            .contains("tile 0/0 hash 7"),
        "{r:?}"
    );
    set_tile(&log, backend, &tile);
    assert!(run(&log).ok);

    // A missing checkpoint row (the latest).
    let note = store.checkpoint_at(size).unwrap().unwrap();
    sql(
        &log,
        backend,
        &format!("DELETE FROM checkpoints WHERE size = {size};"),
        &format!("DELETE FROM checkpoints WHERE size = {size};"),
    );
    let r = run(&log);
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some("checkpoint"),
        "{r:?}"
    );
    let (l, p) = lit(&note);
    sql(
        &log,
        backend,
        &format!("INSERT INTO checkpoints (size, note) VALUES ({size}, {l});"),
        &format!("INSERT INTO checkpoints (size, note) VALUES ({size}, {p});"),
    );
    assert!(run(&log).ok);

    // A missing checkpoint row in the middle of the log.
    let middle = store.checkpoints(1, 1000).unwrap();
    assert!(middle.len() >= 3, "{middle:?}");
    let (at, note) = middle[middle.len() / 2].clone();
    assert!(at > 1 && at < size);
    let delete = format!("DELETE FROM checkpoints WHERE size = {at};");
    sql(&log, backend, &delete, &delete);
    let r = run(&log);
    assert_problem(&r, "checkpoint", size);
    assert!(
        r.problem.as_ref().unwrap().message.contains("missing"),
        "{r:?}"
    );
    let (l, p) = lit(&note);
    sql(
        &log,
        backend,
        &format!("INSERT INTO checkpoints (size, note) VALUES ({at}, {l});"),
        &format!("INSERT INTO checkpoints (size, note) VALUES ({at}, {p});"),
    );
    assert!(run(&log).ok);

    // A checkpoint claimed as witnessed whose cosignature does not verify. A verifying
    // cosignature by a policy witness passes, one by a witness outside the policy is ignored.
    let witness =
        SignerKey::from_seed("witness.fsck.test", TYPE_COSIGNATURE_V1, &[84; 32]).unwrap();
    let outsider =
        SignerKey::from_seed("other.witness.test", TYPE_COSIGNATURE_V1, &[85; 32]).unwrap();
    let cosigned = |note: &[u8], flip: bool| {
        let mut n = Note::parse(note).unwrap();
        let text = SignedCheckpoint::open(note, &[log.log_key()])
            .unwrap()
            .text()
            .to_owned();
        let mut sig = attestlog_proto::cosignature::cosign(&witness, 1_700_000_000, &text).unwrap();
        if flip {
            sig.signature[20] ^= 1;
        }
        n.add_signature(sig).unwrap();
        n.add_signature(
            attestlog_proto::cosignature::cosign(&outsider, 1_700_000_000, &text).unwrap(),
        )
        .unwrap();
        n.to_bytes()
    };
    let witnesses = [witness.verifier()];
    store
        .set_checkpoint_note(at, &cosigned(&note, false))
        .unwrap();
    let r = run_with(&log, &witnesses);
    assert!(r.ok, "{r:?}");
    store
        .set_checkpoint_note(at, &cosigned(&note, true))
        .unwrap();
    assert_problem(&run_with(&log, &witnesses), "cosignature", at);
    store.set_checkpoint_note(at, &note).unwrap();
    assert!(run_with(&log, &witnesses).ok);

    // An entry whose signer was never enrolled, written with valid tiles and a log-signed
    // checkpoint (as write access to the database alone could): only admission finds it.
    let stranger = vendor_key(82);
    let data = sign_value(&stranger, &statement(VENDOR, &att_id(9_999), "Forged"));
    let edge = Edge::from_tiles(size, |k| store.read_tiles(k))
        .unwrap()
        .unwrap();
    let entry = BatchEntry::plain(data);
    let (next, tiles) = integrate(&edge, &[entry.leaf_hash]);
    let note = attestlog_server::rules::sign_checkpoint(
        std::slice::from_ref(&log.state.signer),
        log.state.signer.name(),
        next.size(),
        &next.root(),
    )
    .unwrap();
    store
        .commit_batch(&Batch {
            old_size: size,
            entries: vec![entry],
            tiles,
            checkpoint: note,
        })
        .unwrap();
    let r = run(&log);
    assert_problem(&r, "admission", size);
    assert!(
        r.problem.unwrap().message.contains("enrolled"),
        "bad message"
    );
}

crate::both_backends!(fsck_finds_each_corruption);

/// A healthy log of 100,000 entries (full level-0 tiles, level-1 tiles) passes, with every
/// entry's signature verified and every tile and checkpoint compared (about 40 s to build and
/// 30 s to check on two cores). `ATTESTLOG_FSCK_ENTRIES` sets another size (at least 31,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_passes_on_a_healthy_large_log() {
    let n: u64 = std::env::var("ATTESTLOG_FSCK_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .max(31_000);
    let started = std::time::Instant::now();
    let log = TestLog::start_with(|c| {
        c.max_batch = 4096;
        c.queue = 10_000;
    })
    .await;
    let key = vendor_key(83);
    log.enrol(VENDOR, &key.verifier()).await;
    super::large_log::bulk_append(&log, VENDOR, &key, n).await;
    let built = started.elapsed();
    let store = log.state.store.clone();
    let keys = [log.log_key()];
    let dir = log.dir.clone();
    let mut calls = 0u64;
    let r = tokio::task::spawn_blocking(move || {
        fsck::run(store.as_ref(), &keys, &[], &dir, 0, |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .map(|r| (r, calls))
    })
    .await
    .unwrap()
    .unwrap();
    let (r, calls) = r;
    eprintln!(
        "fsck of {} entries: log built in {built:.1?}, checked in {:.1?}",
        n + 1,
        started.elapsed() - built
    );
    let full_tiles = r.tiles;
    assert!(r.ok, "{r:?}");
    assert_eq!((r.tree_size, r.entries), (n + 1, n + 1));
    assert!(r.tiles > 150 && r.checkpoints > 10, "{r:?}");
    assert!(calls > 150, "progress reported {calls} times");
    // From an entry on (three quarters in): the same verdict, fewer tiles compared.
    let from = n / 4 * 3;
    let r = fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        &[],
        &log.dir,
        from,
        |_, _| {},
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!((r.from, r.entries), (from, n + 1));
    assert!(r.tiles < full_tiles / 2, "{r:?}");
}
