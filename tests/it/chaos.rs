//! Fork-proof sequencing (DESIGN.md §9) under faults, on SQLite and PostgreSQL: storage that
//! goes back in time under a running server, a damaged tile, a witness that has cosigned a
//! larger tree. In every case the log either continues correctly or refuses (503, not ready,
//! still serving what it published), and each test ends with an independent check that no
//! two signed checkpoints of the log conflict.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519, VerifierKey};
use attestlog_proto::tree::MemoryTree;
use attestlog_server::config::Config;
use base64::Engine as _;
use serde_json::Value;
use tokio::time::Instant;

use crate::common::*;

const VENDOR: &str = "Chaos AV AG";

/// What a test saw of the log: every signed checkpoint, and the leaf hash of every index an
/// answer named.
#[derive(Default)]
struct Seen {
    notes: Vec<Vec<u8>>,
    leaves: BTreeMap<u64, Hash>,
}

impl Seen {
    /// Records a 200/201 answer (entry or enrolment).
    fn answer(&mut self, body: &Value) {
        let index = body["index"].as_u64().unwrap();
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(body["leaf_hash"].as_str().unwrap())
            .unwrap();
        self.leaves.insert(index, Hash::from_slice(&leaf).unwrap());
        self.notes
            .push(body["checkpoint"].as_str().unwrap().as_bytes().to_vec());
    }

    async fn checkpoint(&mut self, log: &TestLog) {
        let note = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
        self.notes.push(note);
    }

    /// Every checkpoint stored, and the published-checkpoint file.
    fn stored(&mut self, log: &TestLog) {
        for (_, n) in log.state.store.checkpoints(0, u32::MAX).unwrap() {
            self.notes.push(n);
        }
        if let Some(p) =
            attestlog_server::signer::read_published(&log.dir, &[log.log_key()]).unwrap()
        {
            self.notes.push(p.note);
        }
    }

    /// The independent check: every signed checkpoint seen verifies under `key`, no two of the
    /// same size differ, and each one's root is the root of the leaves the answers named
    /// (which must cover it: a checkpoint beyond them is a history nobody was told about).
    fn assert_no_conflicting_checkpoints(&self, key: &VerifierKey) {
        let mut by_size: BTreeMap<u64, Hash> = BTreeMap::new();
        for n in &self.notes {
            let cp = SignedCheckpoint::open(n, std::slice::from_ref(key)).unwrap();
            let cp = cp.checkpoint();
            if let Some(r) = by_size.insert(cp.size, cp.root) {
                assert_eq!(r, cp.root, "two checkpoints of size {} differ", cp.size);
            }
        }
        let mut tree = MemoryTree::new();
        let mut roots = vec![tree.root()];
        for (i, (index, leaf)) in self.leaves.iter().enumerate() {
            assert_eq!(*index, i as u64, "an index no answer named");
            tree.push(*leaf);
            roots.push(tree.root());
        }
        for (size, root) in &by_size {
            let want = roots
                .get(usize::try_from(*size).unwrap())
                .unwrap_or_else(|| panic!("a checkpoint of size {size} beyond every answer"));
            assert_eq!(want, root, "checkpoint of size {size} is another history");
        }
    }
}

/// A log key of a fixed origin in a key file, so that policies can name it before start.
fn key_file(dir: &std::path::Path, seed: u8) -> (SignerKey, std::path::PathBuf) {
    let key = SignerKey::from_seed("chaos.test/log", TYPE_ED25519, &[seed; 32]).unwrap();
    let path = dir.join("log.key.fixed");
    std::fs::write(&path, format!("{}\n", key.to_secret_string())).unwrap();
    (key, path)
}

/// The SCITT receipt key file the replicas of a test share (DESIGN.md §12).
fn scitt_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("scitt.key");
    let key = SignerKey::from_seed("scitt", TYPE_ED25519, &[96; 32]).unwrap();
    std::fs::write(&path, key.to_secret_string()).unwrap();
    path
}

fn envelope(key: &SignerKey, n: u64) -> Vec<u8> {
    sign_value(key, &statement(VENDOR, &att_id(n), "Chaos"))
}

async fn attest(log: &TestLog, key: &SignerKey, n: u64) -> (u16, Value) {
    log.submit(&envelope(key, n)).await
}

/// Submits attestation `n`, expecting 503 with the truth: stored at `index`, its checkpoint
/// not published. The entry's leaf is recorded (its unpublished checkpoint is stored).
async fn stored_not_published(log: &TestLog, seen: &mut Seen, key: &SignerKey, n: u64, index: u64) {
    let (status, body) = attest(log, key, n).await;
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&format!("stored at index {index}")), "{body}");
    seen.leaves.insert(index, Hash::leaf(&envelope(key, n)));
}

async fn enrol(log: &TestLog, seen: &mut Seen, key: &SignerKey) {
    let (status, body) = log
        .vendors(
            &serde_json::json!({"vendor": VENDOR, "key": key.verifier().to_string(),
            "action": "enrol"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    seen.answer(&body);
}

/// Submits `n` attestations from `first`; all must be 201.
async fn grow(log: &TestLog, seen: &mut Seen, key: &SignerKey, first: u64, n: u64) {
    for i in first..first + n {
        let (status, body) = attest(log, key, i).await;
        assert_eq!(status, 201, "{body}");
        seen.answer(&body);
    }
}

/// Waits until `/readyz` answers 503; returns its text.
async fn not_ready(log: &TestLog) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = log.get("/readyz").await;
        if r.status() == 503 {
            return r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/readyz stayed ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// After a failed check: submissions get 503 (never 201), readiness names both checkpoints,
/// the published checkpoint is still served, and the metric counts the failure.
async fn assert_halted(log: &TestLog, key: &SignerKey, first: u64, published: &[u8]) {
    let why = not_ready(log).await;
    assert!(why.contains("not integrating"), "{why}");
    for i in first..first + 5 {
        let (status, body) = attest(log, key, i).await;
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(
        log.get("/checkpoint").await.bytes().await.unwrap().as_ref(),
        published,
        "the published checkpoint is no longer served"
    );
    let metrics = log.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("attestlog_guard_failures_total"),
        "{metrics}"
    );
}

/// Runs SQL against the log's database: SQLite through a connection of its own, PostgreSQL
/// through the test server.
fn sql(log: &TestLog, backend: Backend, sqlite: &str, postgres: &str) {
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(log.dir.join("attestlog.db")).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            c.execute_batch(sqlite).unwrap();
        }
        Backend::Postgres => crate::pg_support::execute(log.db_url().unwrap(), postgres),
    }
}

const SQLITE_TABLES: [&str; 10] = [
    "entries",
    "leaves",
    "leaves_recent",
    "statements",
    "statements_recent",
    "tile_chunks",
    "checkpoints",
    "enrolments",
    "attestations",
    "search",
];
const PG_TABLES: [&str; 8] = [
    "entries",
    "leaves",
    "tiles",
    "checkpoints",
    "tree_head",
    "enrolments",
    "attestations",
    "search",
];

/// Takes a snapshot of the log tables inside the database.
fn snapshot(log: &TestLog, backend: Backend) {
    let lite: String = SQLITE_TABLES
        .iter()
        .map(|t| format!("CREATE TABLE snap_{t} AS SELECT * FROM {t};"))
        .collect();
    let pg: String = PG_TABLES
        .iter()
        .map(|t| format!("CREATE TABLE snap_{t} AS SELECT * FROM {t};"))
        .collect();
    sql(log, backend, &lite, &pg);
}

/// Restores the snapshot in one transaction: the database went back in time.
fn restore(log: &TestLog, backend: Backend) {
    let body = |tables: &[&str]| -> String {
        tables
            .iter()
            .map(|t| format!("DELETE FROM {t}; INSERT INTO {t} SELECT * FROM snap_{t};"))
            .collect()
    };
    sql(
        log,
        backend,
        &format!("BEGIN IMMEDIATE; {} COMMIT;", body(&SQLITE_TABLES)),
        &format!("BEGIN; {} COMMIT;", body(&PG_TABLES)),
    );
}

/// An older snapshot of the database restored under the running server: submitting past the
/// old size is refused, never signed.
async fn rollback_under_a_running_server_is_refused(backend: Backend) {
    let log = TestLog::start_on_with(backend, |c| c.quota_rate = 0.0).await;
    let key = log.log_key();
    let vendor = vendor_key(91);
    let mut seen = Seen::default();
    enrol(&log, &mut seen, &vendor).await;
    grow(&log, &mut seen, &vendor, 0, 4).await;
    snapshot(&log, backend);
    grow(&log, &mut seen, &vendor, 100, 4).await;
    seen.checkpoint(&log).await;
    let published = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    restore(&log, backend);
    // Enough new entries to pass the old size: none is acknowledged.
    for i in 200..212 {
        let (status, body) = attest(&log, &vendor, i).await;
        assert_ne!(status, 201, "a rolled-back log signed a new entry: {body}");
        assert_eq!(status, 503, "{body}");
    }
    assert_halted(&log, &vendor, 300, &published).await;
    let why = log.get("/readyz").await.text().await.unwrap();
    assert!(why.contains("size 5") && why.contains("size 9"), "{why}");
    seen.stored(&log);
    seen.assert_no_conflicting_checkpoints(&key);
    // The halt outlives the process: a restart starts halted (serving what was published,
    // refusing submissions, naming the command that clears it) and stores nothing.
    let recorded = std::fs::read_to_string(log.dir.join("halted")).unwrap();
    assert!(
        recorded.contains("size 5") && recorded.contains("size 9"),
        "{recorded}"
    );
    let stored = log.state.store.checkpoints(0, u32::MAX).unwrap();
    let (dir, config) = (log.dir.clone(), log.config());
    let mut log = log;
    let db = log.keep_database();
    log.stop().await;
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    assert_halted(&log, &vendor, 400, &published).await;
    let (status, body) = attest(&log, &vendor, 399).await;
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("attestlog-server clear-halt"), "{body}");
    assert_eq!(log.state.store.checkpoints(0, u32::MAX).unwrap(), stored);
    log.stop().await;
    // Clearing the record (on PostgreSQL the database's as well) does not clear the
    // evidence: the start's own checks still find storage behind the published checkpoint
    // and refuse.
    let cleared = attestlog_server::clear_halt(&config).unwrap();
    assert!(cleared.file.is_some());
    assert_eq!(cleared.database.is_some(), backend == Backend::Postgres);
    let e = attestlog_server::App::open(&config).unwrap_err();
    assert!(format!("{e:#}").contains("refusing to start"), "{e:#}");
    drop((dir, db));
}

/// A stored tile damaged under the running server (one hash changed, or a chunk of it gone):
/// the next publication's checks fail and sequencing halts.
async fn damaged_tile_halts_sequencing(backend: Backend) {
    for truncate in [false, true] {
        let log = TestLog::start_on_with(backend, |c| c.quota_rate = 0.0).await;
        let key = log.log_key();
        let vendor = vendor_key(92);
        let mut seen = Seen::default();
        enrol(&log, &mut seen, &vendor).await;
        // Size 6: not a power of two, so the next consistency proof reads this tile's hashes.
        grow(&log, &mut seen, &vendor, 0, 5).await;
        seen.checkpoint(&log).await;
        let published = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
        let mut tile = log
            .state
            .store
            .read_tiles(&[attestlog_proto::tiles::TileId {
                level: 0,
                index: 0,
                width: 256,
            }])
            .unwrap()
            .remove(0);
        if truncate {
            tile.truncate(tile.len() - 32);
        } else {
            tile[..32].fill(0);
        }
        let h = hex::encode(&tile);
        sql(
            &log,
            backend,
            &format!(
                "DELETE FROM tile_chunks WHERE level = 0 AND idx = 0; \
                 INSERT INTO tile_chunks (level, idx, off, data) VALUES (0, 0, 0, X'{h}');"
            ),
            &format!("UPDATE tiles SET data = '\\x{h}'::bytea WHERE level = 0 AND idx = 0;"),
        );
        let (status, body) = attest(&log, &vendor, 50).await;
        assert_eq!(status, 503, "truncate={truncate}: {body}");
        // Either the write was refused, or it was stored and its checkpoint not published.
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if msg.contains("stored at index 6") {
            seen.leaves.insert(6, Hash::leaf(&envelope(&vendor, 50)));
        }
        assert_halted(&log, &vendor, 60, &published).await;
        seen.stored(&log);
        // The damaged tile's log is checked against the answers, not against its tiles.
        seen.assert_no_conflicting_checkpoints(&key);
    }
}

/// A stand-in witness: answers 503 (no cosignature, no conflict) until `ahead` is set, then
/// claims to have cosigned a tree of that size (`409` with a size body).
async fn hostile_witness(ahead: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || {
            let ahead = ahead.clone();
            async move {
                match ahead.load(Ordering::SeqCst) {
                    0 => (axum::http::StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
                    n => (
                        axum::http::StatusCode::CONFLICT,
                        attestlog_proto::witness::size_body(n),
                    ),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// A witness that answers with a conflicting cosigned size (it cosigned a larger tree than
/// the log holds) is a failed check: the checkpoint is not published, sequencing halts.
async fn witness_with_a_conflicting_size_halts_sequencing(backend: Backend) {
    let dir = temp_dir("chaos-witness");
    let (log_signer, key_path) = key_file(&dir, 93);
    let ahead = Arc::new(AtomicU64::new(0));
    let url = hostile_witness(ahead.clone()).await;
    let wkey = SignerKey::from_seed("hostile.witness.test", TYPE_COSIGNATURE_V1, &[9; 32])
        .unwrap()
        .verifier();
    let policy = dir.join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {}\nwitness H {wkey} {url}\nquorum H\n",
            log_signer.verifier()
        ),
    )
    .unwrap();
    let log = TestLog::start_on_with(backend, |c: &mut Config| {
        c.quota_rate = 0.0;
        c.key_file = Some(key_path.clone());
        c.witness_policy = Some(policy.clone());
        c.require_quorum = false;
        c.witness_timeout = Duration::from_millis(500);
    })
    .await;
    let key = log.log_key();
    let vendor = vendor_key(94);
    let mut seen = Seen::default();
    enrol(&log, &mut seen, &vendor).await;
    grow(&log, &mut seen, &vendor, 0, 3).await;
    seen.checkpoint(&log).await;
    let published = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    ahead.store(1_000, Ordering::SeqCst);
    // The submitter is told the truth: its entry is stored, its checkpoint not published.
    stored_not_published(&log, &mut seen, &vendor, 10, 4).await;
    assert_halted(&log, &vendor, 20, &published).await;
    let why = log.get("/readyz").await.text().await.unwrap();
    assert!(why.contains("witness H") && why.contains("1000"), "{why}");
    seen.stored(&log);
    seen.assert_no_conflicting_checkpoints(&key);

    // The halt outlives the process: with the evidence gone (the witness no longer claims
    // the larger tree, it merely does not answer), a restart starts halted. It serves what it
    // published, refuses submissions naming the conflict and the command that clears it, and
    // stores or signs nothing.
    let recorded = std::fs::read_to_string(log.dir.join("halted")).unwrap();
    assert!(recorded.contains("witness H"), "{recorded}");
    let stored = log.state.store.checkpoints(0, u32::MAX).unwrap();
    let (dir, config) = (log.dir.clone(), log.config());
    let mut log = log;
    let db = log.keep_database();
    log.stop().await;
    ahead.store(0, Ordering::SeqCst);
    for round in 0..2 {
        let log = TestLog::start_in(dir.clone(), config.clone()).await;
        assert_halted(&log, &vendor, 30 + 10 * round, &published).await;
        let why = log.get("/readyz").await.text().await.unwrap();
        assert!(
            why.contains("witness H") && why.contains("attestlog-server clear-halt"),
            "{why}"
        );
        let (status, body) = attest(&log, &vendor, 29).await;
        assert_eq!(status, 503, "{body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("witness H") && msg.contains("attestlog-server clear-halt"),
            "{body}"
        );
        assert_eq!(log.state.store.checkpoints(0, u32::MAX).unwrap(), stored);
        seen.stored(&log);
        log.stop().await;
        assert_eq!(
            std::fs::read_to_string(dir.join("halted")).unwrap(),
            recorded
        );
    }
    // The operator clears it: the log starts and sequences again, one history.
    let cleared = attestlog_server::clear_halt(&config).unwrap();
    assert_eq!(cleared.file.as_deref(), Some(recorded.trim_end()));
    if backend == Backend::Postgres {
        assert_eq!(cleared.database.as_deref(), Some(recorded.trim_end()));
    }
    let again = attestlog_server::clear_halt(&config).unwrap();
    assert_eq!((again.file, again.database), (None, None));
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    grow(&log, &mut seen, &vendor, 40, 2).await;
    assert!(!dir.join("halted").exists());
    seen.stored(&log);
    seen.assert_no_conflicting_checkpoints(&key);
    log.stop().await;
    drop(db);
}

crate::both_backends!(
    rollback_under_a_running_server_is_refused,
    damaged_tile_halts_sequencing,
    witness_with_a_conflicting_size_halts_sequencing,
);

async fn role(log: &TestLog) -> String {
    log.get("/readyz").await.text().await.unwrap_or_default()
}

/// Waits until `log` reports `want` on `/readyz`.
async fn wait_role(log: &TestLog, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = role(log).await;
        if r.contains(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never became {want}: {r}",
            log.url
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A halted SQLite log whose published-checkpoint file is gone (it lives beside the database
/// and the `halted` file) refuses to start, even with --trust-storage: nothing shows which
/// checkpoint it published, so it does not serve the stored one as if it were.
#[tokio::test]
async fn a_halted_start_without_the_published_file_is_refused_sqlite() {
    let log = TestLog::start_with(|c| c.quota_rate = 0.0).await;
    let vendor = vendor_key(99);
    let mut seen = Seen::default();
    enrol(&log, &mut seen, &vendor).await;
    grow(&log, &mut seen, &vendor, 0, 2).await;
    let mut config = log.config();
    let dir = log.stop().await;
    std::fs::write(dir.join("halted"), "witness W cosigned tree size 9\n").unwrap();
    for f in attestlog_server::signer::published_paths(&dir) {
        let _ = std::fs::remove_file(f);
    }
    assert!(!attestlog_server::signer::published_present(&dir).unwrap());
    config.trust_storage = true;
    let e = format!("{:#}", attestlog_server::App::open(&config).unwrap_err());
    assert!(
        e.contains("refusing to start")
            && e.contains("witness W cosigned tree size 9")
            && e.contains("published-checkpoint"),
        "{e}"
    );
    // Cleared, the trusted start runs its checks and sequences.
    let cleared = attestlog_server::clear_halt(&config).unwrap();
    assert!(cleared.file.is_some() && cleared.database.is_none());
    let log = TestLog::start_in(dir, config).await;
    grow(&log, &mut seen, &vendor, 10, 1).await;
    log.stop().await;
}

/// Two replicas on one PostgreSQL database; the lease holder's lease connection is killed
/// (its pool connections stay up, so it may still be writing) while submissions go to both,
/// and the other replica takes over — three times, so the lease comes back. The log goes on
/// correctly: nothing acknowledged is lost, no replica stays wedged, and no two signed
/// checkpoints conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_connection_drops_while_another_replica_takes_over() {
    let Some(admin) = crate::pg_support::admin_url("lease_connection_drops") else {
        return;
    };
    let db = crate::pg_support::ScratchDb::create(&admin);
    let dir = temp_dir("chaos-lease");
    let (_, key_path) = key_file(&dir, 95);
    let scitt_key = scitt_key_file(&dir);
    let start = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut c = Config::with_data_dir(&d);
        c.admin_token = Some("test-admin-token".into());
        c.max_wait = Duration::from_millis(2);
        c.quota_rate = 0.0;
        c.database = Some(db.url.clone());
        c.key_file = Some(key_path.clone());
        c.scitt_key_file = Some(scitt_key.clone());
        TestLog::start_in(d, c)
    };
    let a = start("a").await;
    wait_role(&a, "sequencer").await;
    let b = start("b").await;
    wait_role(&b, "follower").await;
    let logs = [a, b];
    let key = logs[0].log_key();
    let vendor = vendor_key(95);
    let mut seen = Seen::default();
    enrol(&logs[0], &mut seen, &vendor).await;
    // The follower picks the enrolment up from the database.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !logs[1].state.shared.enrolments().has_vendor(VENDOR) {
        assert!(
            Instant::now() < deadline,
            "the follower never saw the enrolment"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut acked: Vec<(u64, Hash)> = Vec::new();
    let mut n = 0u64;
    for round in 0..3 {
        let holder = if role(&logs[0]).await.contains("sequencer") {
            0
        } else {
            1
        };
        // Submitters on both replicas while the lease connection dies.
        let mut tasks = Vec::new();
        for (t, log) in logs.iter().enumerate() {
            let (http, url, vendor) = (log.http.clone(), log.url.clone(), vendor.clone());
            let first = n + t as u64 * 1_000;
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in first..first + 15 {
                    let env = envelope(&vendor, i);
                    let r = http
                        .post(format!("{url}/v1/entries"))
                        .body(env.clone())
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    assert!(status == 201 || status == 503, "{status} {body}");
                    if status == 201 {
                        out.push((body, Hash::leaf(&env)));
                    }
                }
                out
            }));
        }
        n += 10_000;
        // Kill the holder's lease connection until the other replica wins the lease (the old
        // holder reconnects and may win it back first).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            crate::pg_support::execute(
                &db.url,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks \
                     WHERE locktype = 'advisory' AND granted AND classid = {} AND objid = {}",
                    attestlog_server::replica::LEASE_KEY >> 32,
                    attestlog_server::replica::LEASE_KEY & 0xffff_ffff
                ),
            );
            let moved = Instant::now() + Duration::from_secs(2);
            while Instant::now() < moved && !role(&logs[1 - holder]).await.contains("sequencer") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if role(&logs[1 - holder]).await.contains("sequencer") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the lease never moved"
            );
        }
        for t in tasks {
            for (body, leaf) in t.await.unwrap() {
                let index = body["index"].as_u64().unwrap();
                seen.notes
                    .push(body["checkpoint"].as_str().unwrap().as_bytes().to_vec());
                acked.push((index, leaf));
            }
        }
        assert!(!acked.is_empty(), "round {round}: nothing acknowledged");
    }
    // No replica stays wedged: both ready, both accept entries. Right after the lease moved
    // a submission may still meet the old holder's refused batch (503, "submit it again"):
    // it is sent again until the deadline, and must then be logged.
    for log in &logs {
        wait_role(log, "ready (").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = loop {
            let (status, body) = attest(log, &vendor, 99_000 + n).await;
            if status == 201 || status == 200 {
                break body;
            }
            assert_eq!(status, 503, "{body}");
            assert!(Instant::now() < deadline, "a replica stays wedged: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        n += 1;
        seen.answer(&body);
        seen.checkpoint(log).await;
        seen.stored(log);
    }
    // The reference: the stored entries. Every acknowledged entry is at its index.
    let size = logs[0].state.store.latest_checkpoint().unwrap().unwrap().0;
    let entries = logs[0].state.store.read_entries(0, size).unwrap();
    assert_eq!(entries.len() as u64, size);
    for (i, e) in entries.iter().enumerate() {
        seen.leaves.insert(i as u64, Hash::leaf(e));
    }
    for (index, leaf) in &acked {
        assert_eq!(
            seen.leaves.get(index),
            Some(leaf),
            "acknowledged entry {index} lost"
        );
    }
    seen.assert_no_conflicting_checkpoints(&key);
    for log in logs {
        log.stop().await;
    }
    drop(db);
}

/// A transient fault of the data directory: each file of the rollback guard (its two slots, an
/// old single file) is replaced by a directory, so it can be neither written nor read. Returns
/// the files' bytes.
fn break_published_file(dir: &std::path::Path) -> Vec<Option<Vec<u8>>> {
    attestlog_server::signer::published_paths(dir)
        .iter()
        .map(|f| {
            let saved = std::fs::read(f).ok();
            if saved.is_some() {
                std::fs::remove_file(f).unwrap();
            }
            std::fs::create_dir(f).unwrap();
            saved
        })
        .collect()
}

/// The fault goes away: the files are back as they were.
fn repair_published_file(dir: &std::path::Path, saved: &[Option<Vec<u8>>]) {
    for (f, saved) in attestlog_server::signer::published_paths(dir)
        .iter()
        .zip(saved)
    {
        std::fs::remove_dir(f).unwrap();
        if let Some(b) = saved {
            std::fs::write(f, b).unwrap();
        }
    }
}

/// A real transient guard failure on SQLite (the published-checkpoint file cannot be written):
/// the submitter is told its entry is stored but not published, sequencing halts and stays
/// halted when the fault goes away (nothing repairs itself in the process); the restart's
/// checks pass and the log continues on one history.
#[tokio::test]
async fn transient_failure_clears_at_the_restart_check_sqlite() {
    let log = TestLog::start_with(|c| c.quota_rate = 0.0).await;
    let key = log.log_key();
    let vendor = vendor_key(96);
    let mut seen = Seen::default();
    enrol(&log, &mut seen, &vendor).await;
    grow(&log, &mut seen, &vendor, 0, 3).await;
    seen.checkpoint(&log).await;
    let published = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    let saved = break_published_file(&log.dir);
    stored_not_published(&log, &mut seen, &vendor, 10, 4).await;
    assert_halted(&log, &vendor, 20, &published).await;
    repair_published_file(&log.dir, &saved);
    assert_eq!(log.get("/readyz").await.status(), 503, "repaired itself");
    let config = log.config();
    let dir = log.stop().await;
    let log = TestLog::start_in(dir, config).await;
    assert_eq!(log.get("/readyz").await.status(), 200);
    grow(&log, &mut seen, &vendor, 30, 3).await;
    seen.checkpoint(&log).await;
    seen.stored(&log);
    seen.assert_no_conflicting_checkpoints(&key);
    log.stop().await;
}

/// A replica named `name` (its data directory under `dir`) on the scratch database, with the
/// log key of `seed`, optionally with a witness policy.
fn replica_config(
    db: &crate::pg_support::ScratchDb,
    dir: &std::path::Path,
    name: &str,
    seed: u8,
    policy: Option<&std::path::Path>,
) -> (std::path::PathBuf, Config) {
    let (_, key_path) = key_file(dir, seed);
    let scitt_key = scitt_key_file(dir);
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let mut c = Config::with_data_dir(&d);
    c.admin_token = Some("test-admin-token".into());
    c.max_wait = Duration::from_millis(2);
    c.quota_rate = 0.0;
    c.database = Some(db.url.clone());
    c.key_file = Some(key_path);
    c.scitt_key_file = Some(scitt_key);
    if let Some(p) = policy {
        c.witness_policy = Some(p.to_path_buf());
        c.require_quorum = false;
        c.start_without_quorum = true;
        c.witness_timeout = Duration::from_millis(500);
    }
    (d, c)
}

/// Two replicas of one log on one PostgreSQL database, with vendor `seed` enrolled through
/// the first (the lease holder).
struct Replicas {
    a: TestLog,
    b: TestLog,
    /// The log's key.
    key: VerifierKey,
    vendor: SignerKey,
    seen: Seen,
}

/// Starts [`Replicas`], optionally with a witness policy, and enrols the vendor.
async fn two_replicas(
    db: &crate::pg_support::ScratchDb,
    dir: &std::path::Path,
    seed: u8,
    policy: Option<&std::path::Path>,
) -> Replicas {
    let start = |name: &str| {
        let (d, c) = replica_config(db, dir, name, seed, policy);
        TestLog::start_in(d, c)
    };
    let a = start("a").await;
    wait_role(&a, "sequencer").await;
    let b = start("b").await;
    wait_role(&b, "follower").await;
    let (key, vendor, mut seen) = (a.log_key(), vendor_key(seed), Seen::default());
    enrol(&a, &mut seen, &vendor).await;
    Replicas {
        a,
        b,
        key,
        vendor,
        seen,
    }
}

/// Many submissions at once through a follower, some of them the same entry twice: the
/// follower queues them in `pending` in groups (one statement each), and every submitter
/// still gets its own entry: its leaf at the index it was told, one 201 and one 200 at the
/// same index for a pair, nothing doubled, one history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_concurrent_submissions_each_get_their_own_entry_postgres() {
    let Some(admin) = crate::pg_support::admin_url("a_followers_concurrent_submissions") else {
        return;
    };
    let db = crate::pg_support::ScratchDb::create(&admin);
    let dir = temp_dir("chaos-hand-over");
    let Replicas {
        a,
        b,
        key,
        vendor,
        mut seen,
    } = two_replicas(&db, &dir, 95, None).await;
    // The follower picks the enrolment up within its refresh interval.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !b
        .get("/v1/vendors")
        .await
        .text()
        .await
        .unwrap()
        .contains(VENDOR)
    {
        assert!(
            Instant::now() < deadline,
            "the follower never saw the enrolment"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 120 attestations, the first 30 of them sent twice, all at once.
    let sends: Vec<u64> = (0..120).chain(0..30).collect();
    let answers =
        futures_util::future::join_all(sends.iter().map(|n| attest(&b, &vendor, *n))).await;
    let mut by_n: BTreeMap<u64, Vec<(u16, u64)>> = BTreeMap::new();
    for (n, (status, body)) in sends.iter().zip(&answers) {
        assert!(*status == 201 || *status == 200, "{status} {body}");
        let leaf = base64::engine::general_purpose::STANDARD
            .decode(body["leaf_hash"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            leaf,
            Hash::leaf(&envelope(&vendor, *n)).0,
            "{n}: another entry"
        );
        seen.answer(body);
        by_n.entry(*n)
            .or_default()
            .push((*status, body["index"].as_u64().unwrap()));
    }
    for (n, got) in &by_n {
        assert!(
            got.iter().all(|g| g.1 == got[0].1),
            "{n} at two indexes: {got:?}"
        );
        assert_eq!(got.iter().filter(|g| g.0 == 201).count(), 1, "{n}: {got:?}");
    }
    // The enrolment and the 120 attestations, each once, at the indexes the answers named.
    seen.checkpoint(&a).await;
    seen.stored(&a);
    assert_eq!(seen.leaves.len(), 121);
    assert_eq!(a.state.store.latest_checkpoint().unwrap().unwrap().0, 121);
    seen.assert_no_conflicting_checkpoints(&key);
    b.stop().await;
    a.stop().await;
    drop(db);
}

fn take_overs(log: &TestLog) -> u64 {
    log.state.replica.as_ref().unwrap().take_overs()
}

/// A real transient guard failure on the PostgreSQL lease holder (its published-checkpoint
/// file cannot be written): it halts and releases the lease, the other replica takes over and
/// sequences; once the fault is gone and the lease comes back, the take-over checks pass and
/// the first replica sequences again — one history throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failure_clears_at_the_next_take_over_postgres() {
    let Some(admin) = crate::pg_support::admin_url("transient_failure_clears") else {
        return;
    };
    let db = crate::pg_support::ScratchDb::create(&admin);
    let dir = temp_dir("chaos-transient");
    let Replicas {
        a,
        b,
        key,
        vendor,
        mut seen,
    } = two_replicas(&db, &dir, 97, None).await;
    grow(&a, &mut seen, &vendor, 0, 3).await;
    let published = a.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    let saved = break_published_file(&a.dir);
    stored_not_published(&a, &mut seen, &vendor, 10, 4).await;
    // Halted, the holder releases the lease: the other replica takes over and sequences.
    wait_role(&b, "ready (sequencer)").await;
    grow(&b, &mut seen, &vendor, 20, 3).await;
    assert_halted(&a, &vendor, 30, &published).await;
    let before = take_overs(&a);
    repair_published_file(&a.dir, &saved);
    seen.stored(&b);
    b.stop().await;
    // The lease comes back: the checks pass, the flag clears.
    wait_role(&a, "ready (sequencer)").await;
    assert!(take_overs(&a) > before);
    grow(&a, &mut seen, &vendor, 40, 3).await;
    seen.checkpoint(&a).await;
    seen.stored(&a);
    seen.assert_no_conflicting_checkpoints(&key);
    a.stop().await;
    drop(db);
}

/// Waits until `log` has tried the sequencer lease `n` more times than `before`.
async fn wait_take_overs(log: &TestLog, before: u64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while take_overs(log) < before + n {
        assert!(Instant::now() < deadline, "the lease was never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A submission to `log` answers 503 naming the conflict and the command that clears it.
async fn refused_naming_clear_halt(log: &TestLog, vendor: &SignerKey, n: u64) {
    let (status, body) = attest(log, vendor, n).await;
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("witness H") && msg.contains("attestlog-server clear-halt"),
        "{body}"
    );
}

/// A conflict with a published checkpoint found by one PostgreSQL replica (a witness that
/// cosigned a larger tree) halts every replica of the log (DESIGN.md §9): it is recorded in
/// the database as well as in the finder's data directory. The other replica never takes the
/// lease and signs, also with the finder stopped and the evidence gone (the witness merely
/// unreachable now): it serves what it published, answers 503 naming `clear-halt`, is not
/// ready, and no checkpoint is stored. A replica started afterwards with an empty data
/// directory starts halted, serving the checkpoint recorded with the halt. `clear-halt` clears
/// the database's record (and the local file); a restarted replica then sequences again
/// after its start checks, while the finder, whose own file still records the conflict,
/// starts halted until it is cleared there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_found_by_one_replica_halts_every_replica_postgres() {
    let Some(admin) = crate::pg_support::admin_url("conflict_halts_every_replica") else {
        return;
    };
    let db = crate::pg_support::ScratchDb::create(&admin);
    let dir = temp_dir("chaos-conflict");
    let (log_signer, _) = key_file(&dir, 98);
    let ahead = Arc::new(AtomicU64::new(0));
    let url = hostile_witness(ahead.clone()).await;
    let wkey = SignerKey::from_seed("hostile.witness.test", TYPE_COSIGNATURE_V1, &[9; 32])
        .unwrap()
        .verifier();
    let policy = dir.join("policy");
    std::fs::write(
        &policy,
        format!(
            "log {}\nwitness H {wkey} {url}\nquorum H\n",
            log_signer.verifier()
        ),
    )
    .unwrap();
    let Replicas {
        a,
        b,
        key,
        vendor,
        mut seen,
    } = two_replicas(&db, &dir, 98, Some(&policy)).await;
    grow(&a, &mut seen, &vendor, 0, 3).await;
    let published = a.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    ahead.store(1_000, Ordering::SeqCst);
    stored_not_published(&a, &mut seen, &vendor, 10, 4).await;
    assert!(a.dir.join("halted").exists());
    // The evidence goes away: the witness no longer answers.
    ahead.store(0, Ordering::SeqCst);

    // The other replica halts too, without a record of its own.
    let why = not_ready(&b).await;
    assert!(
        why.contains("witness H") && why.contains("attestlog-server clear-halt"),
        "{why}"
    );
    let served_b = b.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    let stored = b.state.store.checkpoints(0, u32::MAX).unwrap();
    seen.stored(&a);
    a.stop().await;
    // The lease is free: the replica takes it and refuses it, again and again; it signs and
    // stores nothing.
    let before = take_overs(&b);
    wait_take_overs(&b, before, 2).await;
    assert_halted(&b, &vendor, 30, &served_b).await;
    refused_naming_clear_halt(&b, &vendor, 39).await;
    assert!(!role(&b).await.contains("sequencer"));
    assert_eq!(b.state.store.checkpoints(0, u32::MAX).unwrap(), stored);
    assert!(!b.dir.join("halted").exists(), "the halt is the database's");

    // A new replica starts halted: it serves the checkpoint the finder had published.
    let (c_dir, c_config) = replica_config(&db, &dir, "c", 98, Some(&policy));
    let c = TestLog::start_in(c_dir, c_config).await;
    let why = not_ready(&c).await;
    assert!(why.contains("witness H"), "{why}");
    assert_halted(&c, &vendor, 40, &published).await;
    refused_naming_clear_halt(&c, &vendor, 49).await;
    let before = take_overs(&c);
    wait_take_overs(&c, before, 1).await;
    assert!(!role(&c).await.contains("sequencer"));
    assert_eq!(c.state.store.checkpoints(0, u32::MAX).unwrap(), stored);
    c.stop().await;

    // The operator clears the halt on the replica B: the database's record goes (B has no
    // file). B stays halted in its process; restarted, its start checks pass and it
    // sequences on the one history.
    let b_config = b.config();
    seen.stored(&b);
    let b_dir = b.stop().await;
    let cleared = attestlog_server::clear_halt(&b_config).unwrap();
    assert!(cleared.file.is_none(), "{cleared:?}");
    assert!(
        cleared
            .database
            .as_deref()
            .is_some_and(|w| w.contains("witness H")),
        "{cleared:?}"
    );
    // The finder's own file still records the conflict: restarted, it starts halted.
    let (a_dir, a_config) = replica_config(&db, &dir, "a", 98, Some(&policy));
    let a = TestLog::start_in(a_dir.clone(), a_config.clone()).await;
    let why = not_ready(&a).await;
    assert!(
        why.contains(&a_dir.join("halted").display().to_string()),
        "{why}"
    );
    a.stop().await;
    let b = TestLog::start_in(b_dir, b_config).await;
    wait_role(&b, "ready (sequencer)").await;
    grow(&b, &mut seen, &vendor, 50, 2).await;
    seen.checkpoint(&b).await;
    seen.stored(&b);
    b.stop().await;
    let cleared = attestlog_server::clear_halt(&a_config).unwrap();
    assert!(
        cleared.file.is_some() && cleared.database.is_none(),
        "{cleared:?}"
    );
    seen.assert_no_conflicting_checkpoints(&key);
    drop(db);
}
