//! Restart does no full rebuild: opening a log reads O(log n) tiles and no entries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use attestlog_proto::Hash;
use attestlog_proto::rules::Version;
use attestlog_proto::tiles::TileId;
use attestlog_server::storage::sqlite::SqliteStore;
use attestlog_server::storage::{
    AttestationMeta, Batch, Boundary, EnrolmentRow, LogIndex, LogRead, LogWrite, SearchPage,
    SearchQuery, StoreResult, VerificationMeta,
};

use crate::common::*;

/// A store that counts what is read from it.
struct Counting {
    inner: SqliteStore,
    tiles: AtomicU64,
    entries: AtomicU64,
}

impl LogRead for Counting {
    fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.inner.latest_checkpoint()
    }

    fn checkpoint_in_range(&self, lo: u64, hi: u64) -> StoreResult<bool> {
        self.inner.checkpoint_in_range(lo, hi)
    }

    fn checkpoints_before(&self, before: u64, limit: u64) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.inner.checkpoints_before(before, limit)
    }

    fn checkpoint_at(&self, size: u64) -> StoreResult<Option<Vec<u8>>> {
        self.inner.checkpoint_at(size)
    }

    fn checkpoints(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.inner.checkpoints(from, limit)
    }

    fn read_tiles(&self, tiles: &[TileId]) -> StoreResult<Vec<Vec<u8>>> {
        self.tiles.fetch_add(tiles.len() as u64, Ordering::Relaxed);
        self.inner.read_tiles(tiles)
    }

    fn read_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>> {
        self.entries.fetch_add(count, Ordering::Relaxed);
        self.inner.read_entries(start, count)
    }

    fn disk_usage(&self) -> StoreResult<(u64, u64)> {
        self.inner.disk_usage()
    }

    fn checkpoint_rows(&self) -> StoreResult<attestlog_server::storage::CheckpointRows> {
        self.inner.checkpoint_rows()
    }
}

impl LogIndex for Counting {
    fn lookup_leaf(&self, leaf: &Hash) -> StoreResult<Option<u64>> {
        self.inner.lookup_leaf(leaf)
    }

    fn lookup_leaves(&self, leaves: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.inner.lookup_leaves(leaves)
    }

    fn attestation_owners(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        self.inner.attestation_owners(ids)
    }

    fn lookup_statements(&self, statements: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.inner.lookup_statements(statements)
    }

    fn attestation_chains(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.inner.attestation_chains(ids)
    }

    fn boundary(&self, which: Boundary) -> StoreResult<u64> {
        self.inner.boundary(which)
    }

    fn attestation_owner(&self, id: &str) -> StoreResult<Option<String>> {
        self.inner.attestation_owner(id)
    }

    fn attestation_at(&self, index: u64) -> StoreResult<Option<AttestationMeta>> {
        self.inner.attestation_at(index)
    }

    fn attestation_versions(&self, id: &str) -> StoreResult<Vec<(u64, AttestationMeta)>> {
        self.inner.attestation_versions(id)
    }

    fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>> {
        self.inner.enrolments()
    }

    fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.inner.search(q)
    }
    fn search_verifications(&self, q: &SearchQuery) -> StoreResult<SearchPage<VerificationMeta>> {
        self.inner.search_verifications(q)
    }
    fn verification_chains(
        &self,
        keys: &[(&str, u64)],
    ) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.inner.verification_chains(keys)
    }
}

impl LogWrite for Counting {
    fn commit_batch(&self, batch: &Batch) -> StoreResult<()> {
        self.inner.commit_batch(batch)
    }

    fn set_checkpoint_note(&self, size: u64, note: &[u8]) -> StoreResult<()> {
        self.inner.set_checkpoint_note(size, note)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_reads_only_the_right_edge() {
    let log = TestLog::start_with(|c| c.max_batch = 2000).await;
    let key = vendor_key(50);
    log.enrol("Startup AG", &key.verifier()).await;
    crate::large_log::bulk_append(&log, "Startup AG", &key, 3000).await;
    let root = log.state.shared.published().root;
    let dir = log.stop().await;

    let counting = Arc::new(Counting {
        inner: SqliteStore::open(&dir.join("attestlog.db")).unwrap(),
        tiles: AtomicU64::new(0),
        entries: AtomicU64::new(0),
    });
    let mut config = attestlog_server::config::Config::with_data_dir(&dir);
    config.admin_token = Some("t".into());
    let app = attestlog_server::App::open_with_store(&config, counting.clone()).unwrap();
    let p = app.state.shared.published();
    assert_eq!(p.size, 3001);
    assert_eq!(p.root, root);
    // 3001 = 0b1011_1011_1001: the frontier needs at most one tile per level and bit.
    let tiles = counting.tiles.load(Ordering::Relaxed);
    assert!(tiles <= 16, "startup read {tiles} tiles");
    assert_eq!(
        counting.entries.load(Ordering::Relaxed),
        0,
        "startup read entries"
    );
}

/// A burst of clients connecting at once is queued by the kernel, not dropped: with the usual
/// backlog of 128 the connection requests past it are dropped and retried a second later.
#[tokio::test]
async fn the_listener_queues_a_burst_of_connections() {
    let listener = attestlog_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    // Nothing accepts: every connection must complete from the kernel's queue alone.
    let n = 600.min(somaxconn.saturating_sub(1));
    assert!(n > 128, "net.core.somaxconn is {somaxconn}");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(async move {
            tokio::time::timeout(
                std::time::Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
            .await
        });
    }
    let mut connected = Vec::new();
    while let Some(r) = tasks.join_next().await {
        connected.push(r.unwrap().expect("connected within 500 ms").unwrap());
    }
    assert_eq!(connected.len(), n);
    drop(listener);
}
