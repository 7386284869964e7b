//! The embedded SQLite backend: one writer connection (used only by the sequencer thread),
//! a pool of read-only connections for the read path, WAL mode, `synchronous=FULL`, and a
//! checkpointer thread that folds the write-ahead log into the database file, so that the
//! sequencer never copies pages or syncs the database file itself.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::collections::HashMap;

use attestlog_proto::Hash;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::leaf_filter::LeafFilter;
use super::{
    AttestationMeta, Backup, Batch, EnrolmentRow, LogIndex, LogRead, LogWrite,
    SEARCH_ESTIMATE_ROWS, SEARCH_SCAN_ROWS, SearchDriver, SearchKind, SearchPage, SearchQuery,
    StoreError, StoreResult, VerificationMeta, search_page,
};
use attestlog_proto::rules::Version;
use attestlog_proto::tiles::TileId;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS leaves (leaf_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tile_chunks (level INTEGER NOT NULL, idx INTEGER NOT NULL,
    off INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (level, idx, off)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS enrolments (idx INTEGER PRIMARY KEY, vendor TEXT NOT NULL,
    key TEXT NOT NULL, action TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'vendor');
CREATE TABLE IF NOT EXISTS verifications (idx INTEGER PRIMARY KEY, verifier TEXT NOT NULL,
    subject INTEGER NOT NULL, attestation_id TEXT NOT NULL, verdict TEXT NOT NULL,
    supersedes INTEGER, issued_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS verifications_chain ON verifications (verifier, subject, idx);
CREATE INDEX IF NOT EXISTS verifications_id ON verifications (attestation_id, idx);
CREATE TABLE IF NOT EXISTS attestations (idx INTEGER PRIMARY KEY, attestation_id TEXT NOT NULL,
    vendor TEXT NOT NULL, product TEXT NOT NULL, status TEXT NOT NULL, valid_until TEXT NOT NULL,
    supersedes INTEGER, issued_at TEXT);
CREATE TABLE IF NOT EXISTS statements (statement_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attestations_id ON attestations (attestation_id, idx);
CREATE TABLE IF NOT EXISTS search (kind TEXT NOT NULL, value TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (kind, value, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leaves_recent (leaf_hash BLOB PRIMARY KEY, idx INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statements_recent (statement_hash BLOB PRIMARY KEY,
    idx INTEGER NOT NULL) WITHOUT ROWID;
";

/// `PRAGMA user_version` of the current schema. 1: hash tiles are stored as the chunks each
/// batch appended (`tile_chunks`) instead of one row per tile rewritten by every batch.
/// 2: the statement index (`statements`), each attestation's `issued_at`, and the index from
/// which the claim rules apply (meta `claims_from`, DESIGN.md §10). 3: the count of
/// checkpoint rows written (meta `checkpoints_written`).
/// 4: each enrolled key's role (`enrolments.role`, read from the logged enrolment entries) and
/// the verifications table (DESIGN.md §13). 5: the index from which every signed statement
/// has a registration policy entry below it (meta `policies_from`, DESIGN.md §12).
/// 6: the recent parts of the two hash indexes (`leaves_recent`, `statements_recent`, see
/// [`HashIndex`]); created empty, so an older database needs nothing moved.
const SCHEMA_VERSION: i64 = 6;

/// One of the two indexes keyed by a hash (a leaf hash, a statement hash): random keys, so an
/// entry inserted straight into the large index dirties a page of its own at a random
/// position, written whole to the log by every commit. Each index is kept in two tables of
/// the same database: the large one, and a recent one that takes the newest rows. The recent
/// table is a few pages, so a batch dirties those few; every so often (see [`merge_ranges`])
/// the rows of one sixteenth of the key space move into the large table in one sorted pass,
/// which writes each large-table page of that range once for many rows. Both happen inside a
/// batch's transaction, so a crash leaves the index as it was before the batch or after it,
/// never half moved. Lookups read both tables.
struct HashIndex {
    /// The large table.
    table: &'static str,
    /// Its hash column (each table also has `idx`).
    column: &'static str,
    /// On a hash already in the recent table: `"OR IGNORE "` keeps the first index
    /// (statements: only entries logged before the claim rules can repeat one), `""` fails
    /// the batch.
    on_repeat: &'static str,
}

const LEAF_INDEX: HashIndex = HashIndex {
    table: "leaves",
    column: "leaf_hash",
    on_repeat: "",
};

const STATEMENT_INDEX: HashIndex = HashIndex {
    table: "statements",
    column: "statement_hash",
    on_repeat: "OR IGNORE ",
};

impl HashIndex {
    /// `INSERT` of one `(hash, idx)` row into the recent table.
    fn insert_sql(&self) -> String {
        format!(
            "INSERT {}INTO {}_recent ({}, idx) VALUES (?1, ?2)",
            self.on_repeat, self.table, self.column
        )
    }

    /// The first index of one hash (`?1`), in either table; `NULL` when it has none.
    fn lookup_sql(&self) -> String {
        let (t, col) = (self.table, self.column);
        format!(
            "SELECT MIN(idx) FROM (SELECT idx FROM {t} WHERE {col} = ?1 \
             UNION ALL SELECT idx FROM {t}_recent WHERE {col} = ?1)"
        )
    }

    /// Every stored hash (the recent table's after the large one's).
    fn scan_sql(&self) -> String {
        let (t, col) = (self.table, self.column);
        format!("SELECT {col} FROM {t} UNION ALL SELECT {col} FROM {t}_recent")
    }

    /// Whether `hash` is in the large table.
    fn in_large_sql(&self) -> String {
        format!("SELECT 1 FROM {} WHERE {} = ?1", self.table, self.column)
    }

    /// Moves the recent table's rows of key range `range` (keys whose first byte's high four
    /// bits are `range`) into the large table, in key order. A hash already in the large table
    /// keeps its (earlier) index there under `OR IGNORE`, and fails the transaction otherwise.
    fn merge(&self, tx: &rusqlite::Transaction<'_>, range: u8) -> StoreResult<()> {
        let (t, col, on) = (self.table, self.column, self.on_repeat);
        // Blobs compare bytewise, a prefix first: [r << 4] ≤ key < [(r + 1) << 4], and the
        // last range's bound is above every 32-byte key.
        let low = [range << 4];
        let high = match range.checked_add(1).filter(|r| *r < MERGE_RANGES) {
            Some(next) => vec![next << 4],
            None => vec![0xff; 33],
        };
        let bound = format!("{col} >= ?1 AND {col} < ?2");
        tx.prepare_cached(&format!(
            "INSERT {on}INTO {t} ({col}, idx) \
             SELECT {col}, idx FROM {t}_recent WHERE {bound} ORDER BY {col}"
        ))?
        .execute(params![&low[..], &high[..]])?;
        tx.prepare_cached(&format!("DELETE FROM {t}_recent WHERE {bound}"))?
            .execute(params![&low[..], &high[..]])?;
        Ok(())
    }

    /// The first index of each of `hashes` found in either table, in as few queries as the
    /// parameter limit allows.
    fn lookup(&self, c: &Connection, hashes: &[&Hash]) -> StoreResult<HashMap<Hash, u64>> {
        let (t, col) = (self.table, self.column);
        let mut out: HashMap<Hash, u64> = HashMap::new();
        for chunk in hashes.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {col}, idx FROM {t} WHERE {col} IN ({marks}) \
                 UNION ALL SELECT {col}, idx FROM {t}_recent WHERE {col} IN ({marks})"
            );
            let mut st = c.prepare_cached(&sql)?;
            let keys = chunk.iter().map(|h| &h.0[..]);
            let rows = st.query_map(rusqlite::params_from_iter(keys.clone().chain(keys)), |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (h, i) = row?;
                let h = Hash::from_slice(&h).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let i = u64_of(i)?;
                out.entry(h).and_modify(|v| *v = (*v).min(i)).or_insert(i);
            }
        }
        Ok(out)
    }

    /// The first index of `hash` in either table.
    fn lookup_one(&self, c: &Connection, hash: &Hash) -> StoreResult<Option<u64>> {
        let mut st = c.prepare_cached(&self.lookup_sql())?;
        let v: Option<i64> = st.query_row([&hash.0[..]], |r| r.get(0))?;
        v.map(u64_of).transpose()
    }
}

/// Key ranges of the hash indexes, merged one at a time.
const MERGE_RANGES: u8 = 16;

/// The fewest rows the recent tables collect, over all ranges, before a range is merged.
const MERGE_MIN_ROWS: u64 = 1024;

/// The size below which a range takes its turn every [`MERGE_MIN_ROWS`]` / 16` entries: there
/// `8 √size` reaches [`MERGE_MIN_ROWS`].
const MERGE_FLOOR_SIZE: u64 = (MERGE_MIN_ROWS / 8) * (MERGE_MIN_ROWS / 8);

/// The number of range turns due by a tree of `size` entries: one every `k / 16` entries for
/// recent tables of about `k = max(1,024, 8 √size)` rows. Above the floor the step is `√size
/// / 2`, whose turns `4 √size` counts (its slope is `2 / √size`), shifted to meet the count
/// below the floor there; so the count never goes back as the size grows, and each step adds
/// one turn.
fn merge_turn(size: u64) -> u64 {
    let step = MERGE_MIN_ROWS / u64::from(MERGE_RANGES);
    if size < MERGE_FLOOR_SIZE {
        return size / step;
    }
    let at_floor = 4 * MERGE_FLOOR_SIZE.isqrt();
    size.saturating_mul(16).isqrt() - at_floor + MERGE_FLOOR_SIZE / step
}

/// The key ranges whose recent rows move into the large tables in a batch that grows the tree
/// from `old_size` to `new_size` entries: the range of each turn the batch passes
/// ([`merge_turn`]; turn `t` merges range `t mod 16`, so ranges go round in order, each at
/// most once a batch). The recent tables so hold about `k` rows. Merging a range's `k / 16`
/// rows into its `p / 16` pages of the large table writes about `min(k, p) / 16` pages, each
/// batch also writes the recent table's pages (about `k / 300` at most), and `p` is about
/// `size / 300` for each index: the pages per entry of both together are fewest for `k` near
/// `8 √size` (16 KiB pages, ~100-entry batches), 1,131 rows at 20,000 entries and 8,000 at a
/// million, where a range's merge then writes ~200 pages of each index. Derived from the
/// sizes alone: nothing to store, and a restart carries on with the same turns.
fn merge_ranges(old_size: u64, new_size: u64) -> Vec<u8> {
    (merge_turn(old_size) + 1..=merge_turn(new_size))
        .take(usize::from(MERGE_RANGES))
        .map(|t| u8::try_from(t % u64::from(MERGE_RANGES)).unwrap_or(0))
        .collect()
}

/// Read connections (each with a page cache of its own).
pub const READERS: usize = 4;

/// The page cache of each read connection, in KiB, for a budget of `total` bytes for all
/// of them (at least 1 KiB: SQLite then keeps its minimum of a few pages).
fn reader_cache_kib(total: usize) -> i64 {
    i64::try_from(total / READERS / 1024)
        .unwrap_or(i64::MAX)
        .max(1)
}

/// WAL frames after which the checkpointer also waits for readers to leave the log
/// (`RESTART`), so that the next write starts the log file over: it stays bounded (64 MiB
/// of 16 KiB pages) even when readers never pause.
const WAL_RESTART_FRAMES: i64 = 4096;

/// The length the log file is cut back to when it restarts (the restart bound).
const WAL_LIMIT_BYTES: i64 = WAL_RESTART_FRAMES * 16384;

/// Commits between two checkpoints under load. Pages that every batch dirties (the right
/// edges of the search index's terms, the inner pages of the indexes) are then copied to the
/// database file once per eight commits instead of after each: ahead of folding after every
/// commit in six interleaved pairs of runs, by 0–14 % (`scripts/bench-ab`). Folding only from
/// 16 MiB was measured slower than both while readers still probed the dedup index for every
/// submission.
const FOLD_EVERY: u64 = 8;

/// When commits wait unfolded and no new one arrives for this long, they are folded.
const IDLE_FOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// The checkpointer thread: woken every [`FOLD_EVERY`] commits, or [`IDLE_FOLD`] after the
/// last, it runs a `PASSIVE` checkpoint (which neither waits for nor blocks the writer).
/// Stopped and joined when the store drops.
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    /// Commits so far.
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Commits a finished checkpoint had seen before it started (all folded in); waited on
    /// only by the unit tests.
    #[cfg_attr(not(test), allow(dead_code))]
    folded: std::sync::Arc<(Mutex<u64>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> StoreResult<Self> {
        let c = Connection::open(path)?;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let folded = std::sync::Arc::new((Mutex::new(0u64), std::sync::Condvar::new()));
        let (seen, done) = (commits.clone(), folded.clone());
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                let mut last = 0;
                loop {
                    // Every FOLD_EVERY commits, and whenever commits wait unfolded while
                    // writes pause.
                    match rx.recv_timeout(IDLE_FOLD) {
                        Ok(()) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            if seen.load(Ordering::Acquire) == last {
                                continue;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    let upto = seen.load(Ordering::Acquire);
                    if let Err(e) = checkpoint(&c) {
                        tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                        continue;
                    }
                    last = upto;
                    let (n, cv) = &*done;
                    if let Ok(mut n) = n.lock() {
                        *n = upto;
                    }
                    cv.notify_all();
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            wake: Some(wake),
            commits,
            folded,
            thread: Some(thread),
        })
    }

    /// Counts a commit and asks for a checkpoint; requests made while one runs are merged
    /// into the next.
    fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::Release) + 1;
        if !n.is_multiple_of(FOLD_EVERY) {
            return;
        }
        if let Some(w) = &self.wake {
            let _ = w.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The write-ahead log next to the database at `path`.
#[cfg(test)]
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push("-wal");
    path.with_file_name(name)
}

/// One checkpoint: `PASSIVE`, then `RESTART` when the log has grown long.
fn checkpoint(c: &Connection) -> StoreResult<()> {
    let frames: i64 = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames > WAL_RESTART_FRAMES {
        c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Brings a database written by an older version to [`SCHEMA_VERSION`], in one transaction.
fn migrate(c: &mut Connection) -> StoreResult<()> {
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {version} is newer than this binary's {SCHEMA_VERSION}"
        )));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let old_tiles: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'tiles')",
        [],
        |r| r.get(0),
    )?;
    if old_tiles {
        // Version 0: one row per tile, its whole data; it becomes the tile's first chunk.
        tx.execute_batch(
            "INSERT INTO tile_chunks (level, idx, off, data) SELECT level, idx, 0, data FROM tiles;
             DROP TABLE tiles;",
        )?;
    }
    if version < 2 {
        add_statement_index(&tx)?;
    }
    if version < 3 {
        // Version 3: the count of checkpoint rows written (fsck finds a missing one).
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) \
             SELECT ?1, CAST(count(*) AS TEXT) FROM checkpoints",
            params![super::CHECKPOINTS_WRITTEN],
        )?;
    }
    if version < 4 {
        add_key_roles(&tx)?;
    }
    if version < 5 {
        // Version 5: signed statements logged before now may have no policy entry below them.
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) \
             SELECT ?1, CAST(COALESCE(MAX(idx) + 1, 0) AS TEXT) FROM entries",
            params![super::POLICIES_FROM],
        )?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Migration to version 2: every stored entry's statement in the statement index (the first
/// index of each statement: older logs may hold one statement more than once), the
/// `issued_at` of every stored attestation, and `claims_from` = the stored tree size, so that
/// the entries already logged are not judged again by the rules that start here.
fn add_statement_index(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    let has_issued_at: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('attestations') WHERE name = 'issued_at')",
        [],
        |r| r.get(0),
    )?;
    if !has_issued_at {
        tx.execute_batch("ALTER TABLE attestations ADD COLUMN issued_at TEXT")?;
    }
    let mut read = tx.prepare("SELECT idx, data FROM entries ORDER BY idx")?;
    let mut ins =
        tx.prepare("INSERT OR IGNORE INTO statements (statement_hash, idx) VALUES (?1, ?2)")?;
    let mut upd = tx.prepare("UPDATE attestations SET issued_at = ?2 WHERE idx = ?1")?;
    let mut rows = read.query([])?;
    let mut size = 0i64;
    while let Some(r) = rows.next()? {
        let idx: i64 = r.get(0)?;
        let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        size = idx + 1;
        let stored = super::stored_claim(data);
        if let Some(h) = stored.statement {
            ins.execute(params![&h.0[..], idx])?;
        }
        if let Some(t) = stored.issued_at {
            upd.execute(params![idx, t])?;
        }
    }
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![super::CLAIMS_FROM, size.to_string()],
    )?;
    Ok(())
}

/// Migration to version 4: the `role` column of enrolments, each row's role read from its
/// logged enrolment entry (the log is the record; a row whose entry is missing or is not an
/// enrolment refuses the migration).
fn add_key_roles(tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
    let has_role: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('enrolments') WHERE name = 'role')",
        [],
        |r| r.get(0),
    )?;
    if !has_role {
        tx.execute_batch("ALTER TABLE enrolments ADD COLUMN role TEXT NOT NULL DEFAULT 'vendor'")?;
    }
    let mut read = tx.prepare(
        "SELECT enrolments.idx, entries.data FROM enrolments \
         LEFT JOIN entries ON entries.idx = enrolments.idx ORDER BY enrolments.idx",
    )?;
    let mut upd = tx.prepare("UPDATE enrolments SET role = ?2 WHERE idx = ?1")?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        let idx: i64 = r.get(0)?;
        let data: Option<Vec<u8>> = r.get(1)?;
        let role = data
            .as_deref()
            .and_then(super::stored_role)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "enrolment {idx}: the logged entry is missing or not an enrolment"
                ))
            })?;
        upd.execute(params![idx, role.as_str()])?;
    }
    Ok(())
}

/// Hashes of tile `(level, index)` already stored for a tree of `size`: one per complete
/// node of height `8 × level` under the tile, at most a full tile.
fn stored_width(level: u8, index: u64, size: u64) -> u64 {
    let nodes = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
    nodes
        .saturating_sub(index.saturating_mul(TILE_WIDTH))
        .min(TILE_WIDTH)
}

const TILE_WIDTH: u64 = 256;

/// The most hashes one chunk row holds: a row of a `WITHOUT ROWID` table larger than about a
/// quarter of a 16 KiB page spills to an overflow page of its own, which would waste half of
/// it for a whole 8 KiB tile; 120 hashes (3,840 bytes) stay in the row, four to a page.
const CHUNK_HASHES: usize = 120;

/// Adds every leaf hash stored in the database at `path` to `filter`, then marks it ready;
/// stops early (the filter never ready) when the store is dropped or the scan fails.
fn fill_leaf_filter(path: &Path, filter: &std::sync::Weak<LeafFilter>) -> StoreResult<()> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    // Two passes in key order (the large table, then the recent one): a small page cache is
    // enough, and memory stays flat.
    c.pragma_update(None, "cache_size", -512)?;
    let mut st = c.prepare(&LEAF_INDEX.scan_sql())?;
    let mut rows = st.query([])?;
    loop {
        // Held a slice of the scan at a time: a dropped store stops it.
        let Some(f) = filter.upgrade() else {
            return Ok(());
        };
        for _ in 0..65_536 {
            let Some(r) = rows.next()? else {
                f.mark_ready();
                return Ok(());
            };
            let bytes = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            let leaf = Hash::from_slice(bytes)
                .map_err(|e| StoreError::Corrupt(format!("a stored leaf hash: {e}")))?;
            f.insert(&leaf);
        }
    }
}

/// SQLite-backed [`LogStore`](super::LogStore).
pub struct SqliteStore {
    /// Declared first: stopped before the other connections close.
    checkpointer: Checkpointer,
    /// Leaves certainly not stored are answered without reading the dedup index.
    filter: std::sync::Arc<LeafFilter>,
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// The page-cache sizes of `readers` together, as SQLite reports them.
    read_cache_bytes: u64,
    next_reader: AtomicUsize,
    /// [`LogIndex::boundary`](super::LogIndex::boundary), each read once.
    boundaries: super::Boundaries,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn u64_of(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

fn i64_of(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("value {v} out of range")))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// Backend errors.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with_read_cache(path, crate::config::READ_CACHE_BYTES)
    }

    /// Opens (creating if needed) the database at `path`, its read connections' page caches
    /// holding at most `read_cache_bytes` together.
    ///
    /// # Errors
    /// Backend errors.
    pub fn open_with_read_cache(path: &Path, read_cache_bytes: usize) -> StoreResult<Self> {
        let mut writer = Connection::open(path)?;
        // Entries are ~1–3 KB: 16 KiB pages keep the slack per entry small (with 4 KiB pages a
        // 2.3 KB entry wastes most of a page). Only takes effect on a new database.
        writer.pragma_update(None, "page_size", 16384)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        // The writer touches the right edge of every index each batch: keep it in memory, and
        // map the file instead of copying pages through read().
        writer.pragma_update(None, "cache_size", -65536)?;
        writer.pragma_update(None, "mmap_size", 1i64 << 30)?;
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checkpoints run on the checkpointer's connection, not in the sequencer's commits;
        // when the log restarts, a file that grew past the restart bound is cut back.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
        writer.execute_batch(SCHEMA)?;
        migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        let mut read_cache_total = 0u64;
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            // Negative: a size in KiB.
            r.pragma_update(None, "cache_size", -reader_cache_kib(read_cache_bytes))?;
            // Read back: KiB when negative, pages when positive.
            let size: i64 = r.pragma_query_value(None, "cache_size", |v| v.get(0))?;
            let page: i64 = r.pragma_query_value(None, "page_size", |v| v.get(0))?;
            let unit = if size < 0 { 1024 } else { page.unsigned_abs() };
            read_cache_total =
                read_cache_total.saturating_add(size.unsigned_abs().saturating_mul(unit));
            r.pragma_update(None, "mmap_size", 1i64 << 30)?;
            readers.push(Mutex::new(r));
        }
        let filter = std::sync::Arc::new(LeafFilter::default());
        let (weak, db) = (std::sync::Arc::downgrade(&filter), path.to_owned());
        std::thread::Builder::new()
            .name("leaf-filter".into())
            .spawn(move || {
                if let Err(e) = fill_leaf_filter(&db, &weak) {
                    tracing::warn!(error = %e, "leaf filter not filled; every lookup reads the index");
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the leaf filter: {e}")))?;
        Ok(Self {
            checkpointer: Checkpointer::start(path)?,
            filter,
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers,
            read_cache_bytes: read_cache_total,
            next_reader: AtomicUsize::new(0),
            boundaries: super::Boundaries::default(),
        })
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        for r in &self.readers {
            if let Ok(c) = r.try_lock() {
                return f(&c);
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let c = self.readers[i]
            .lock()
            .map_err(|_| StoreError::Backend("reader lock poisoned".into()))?;
        f(&c)
    }

    /// `(size, note)` rows of a checkpoint query whose two parameters are `a` and `b`.
    fn checkpoint_rows(&self, sql: &str, a: i64, b: i64) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st.query_map(params![a, b], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            rows.map(|r| {
                let (s, n) = r?;
                Ok((u64_of(s)?, n))
            })
            .collect()
        })
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut c = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        f(&mut c)
    }

    /// Waits until the leaf filter holds every leaf stored when the store opened (or
    /// `timeout` passed); returns whether it does.
    #[cfg(test)]
    #[must_use]
    pub fn wait_leaf_filter(&self, timeout: std::time::Duration) -> bool {
        self.filter.wait_ready(timeout)
    }

    /// Waits until the checkpointer has folded every commit so far into the database file
    /// (or `timeout` passed); returns whether it had.
    #[cfg(test)]
    #[must_use]
    pub fn wait_checkpointed(&self, timeout: std::time::Duration) -> bool {
        self.wait_folded(self.checkpointer.commits.load(Ordering::Acquire), timeout)
    }

    /// Waits until a checkpoint has folded the first `n` commits in, or `timeout` passed.
    #[cfg(test)]
    fn wait_folded(&self, n: u64, timeout: std::time::Duration) -> bool {
        let (folded, cv) = &*self.checkpointer.folded;
        let Ok(g) = folded.lock() else {
            return false;
        };
        cv.wait_timeout_while(g, timeout, |f| *f < n)
            .is_ok_and(|(f, _)| *f >= n)
    }

    /// Folds the write-ahead log into the database file (for measuring disk use).
    ///
    /// # Errors
    /// Backend errors.
    #[cfg(feature = "test-support")]
    pub fn checkpoint_wal(&self) -> StoreResult<()> {
        self.with_writer(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// Total bytes of entry payloads (the canonical entry bytes themselves).
    ///
    /// # Errors
    /// Backend errors.
    #[cfg(feature = "test-support")]
    pub fn entry_bytes(&self) -> StoreResult<u64> {
        self.with_reader(|c| {
            let v: Option<i64> =
                c.query_row("SELECT SUM(LENGTH(data)) FROM entries", [], |r| r.get(0))?;
            u64_of(v.unwrap_or(0))
        })
    }

    /// Reads a value from the meta table.
    ///
    /// # Errors
    /// Backend errors.
    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Writes a value into the meta table.
    ///
    /// # Errors
    /// Backend errors.
    #[cfg(feature = "test-support")]
    pub fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.with_writer(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }
}

/// Copies the database open on `c` to a new file `dest` with SQLite's online backup API.
fn copy_to(c: &Connection, dest: &Path) -> StoreResult<()> {
    let mut out = Connection::open(dest)?;
    let b = rusqlite::backup::Backup::new(c, &mut out)?;
    b.run_to_completion(1024, std::time::Duration::from_millis(0), None)?;
    Ok(())
}

/// A consistent online copy of the live database file `db` (another process, or this one,
/// may be writing it) to a new file `dest`, through a connection of its own that only reads
/// (opened read-write, without creating, so that a stopped WAL database opens too).
///
/// # Errors
/// Backend or file errors; no database at `db`.
pub fn backup_file(db: &Path, dest: &Path) -> StoreResult<()> {
    let c = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    copy_to(&c, dest)
}

fn row_to_meta(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, AttestationMeta)> {
    let sup: Option<i64> = r.get(6)?;
    let issued_at: Option<String> = r.get(7)?;
    Ok((
        r.get(0)?,
        AttestationMeta {
            attestation_id: r.get(1)?,
            vendor: r.get(2)?,
            product: r.get(3)?,
            status: r.get(4)?,
            valid_until: r.get(5)?,
            supersedes: sup.and_then(|s| u64::try_from(s).ok()),
            issued_at: issued_at.unwrap_or_default(),
        },
    ))
}

const META_COLS: &str =
    "idx, attestation_id, vendor, product, status, valid_until, supersedes, issued_at";

fn row_to_vmeta(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, VerificationMeta)> {
    let sup: Option<i64> = r.get(5)?;
    let subject: i64 = r.get(2)?;
    Ok((
        r.get(0)?,
        VerificationMeta {
            verifier: r.get(1)?,
            subject: u64::try_from(subject).unwrap_or_default(),
            attestation_id: r.get(3)?,
            verdict: r.get(4)?,
            supersedes: sup.and_then(|s| u64::try_from(s).ok()),
            issued_at: r.get(6)?,
        },
    ))
}

const VMETA_COLS: &str = "idx, verifier, subject, attestation_id, verdict, supersedes, issued_at";

/// One bounded search scan of `table` (`attestations` or `verifications`, whose columns
/// `cols` `read` reads, `attestation_id` among them): see [`LogIndex::search`].
fn search_table<M>(
    c: &Connection,
    q: &SearchQuery,
    table: &str,
    cols: &str,
    read: fn(&rusqlite::Row<'_>) -> rusqlite::Result<(i64, M)>,
) -> StoreResult<SearchPage<M>> {
    let before = i64_of(q.before.unwrap_or(i64::MAX as u64).min(i64::MAX as u64))?;
    let scan = i64_of(SEARCH_SCAN_ROWS)?;
    let mut estimates = Vec::new();
    for (kind, value) in q.terms_to_estimate() {
        let mut st = c.prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM search WHERE kind = ?1 AND value = ?2 \
             AND idx < ?3 LIMIT ?4)",
        )?;
        let n: i64 = st.query_row(
            params![kind.as_str(), value, before, i64_of(SEARCH_ESTIMATE_ROWS)?],
            |r| r.get(0),
        )?;
        estimates.push(u64_of(n)?);
    }
    let (driver, filters) = q.plan(&estimates);
    let mut args: Vec<rusqlite::types::Value> = vec![before.into(), scan.into()];
    let mut arg = |v: &str| {
        args.push(v.to_owned().into());
        args.len()
    };
    let mut matched = Vec::new();
    for (kind, value) in &filters {
        matched.push(if *kind == SearchKind::AttestationId {
            format!("{table}.attestation_id = ?{}", arg(value))
        } else {
            let (k, v) = (arg(kind.as_str()), arg(value));
            format!(
                "EXISTS (SELECT 1 FROM search s WHERE s.kind = ?{k} AND s.value = ?{v} \
                 AND s.idx = {table}.idx)"
            )
        });
    }
    let matched = if matched.is_empty() {
        "1".to_owned()
    } else {
        matched.join(" AND ")
    };
    let rows = match driver {
        SearchDriver::All => "WHERE idx < ?1 ORDER BY idx DESC LIMIT ?2".to_owned(),
        SearchDriver::AttestationId(id) => format!(
            "WHERE attestation_id = ?{} AND idx < ?1 ORDER BY idx DESC LIMIT ?2",
            arg(id)
        ),
        SearchDriver::Term(kind, value) => format!(
            "WHERE idx IN (SELECT idx FROM search WHERE kind = ?{} AND value = ?{} \
             AND idx < ?1 ORDER BY idx DESC LIMIT ?2) ORDER BY idx DESC",
            arg(kind.as_str()),
            arg(value)
        ),
    };
    let sql = format!("SELECT {cols}, {matched} FROM {table} {rows}");
    let matched_at = cols.split(',').count();
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
        let (idx, meta) = read(r)?;
        Ok((idx, r.get::<_, bool>(matched_at)?, meta))
    })?;
    // Read lazily: the page ends at its `limit`-th hit, and the rows after it (up to
    // SEARCH_SCAN_ROWS of them for a common term) are never read.
    let mut failed = None;
    let page = search_page(
        rows.map_while(|r| {
            match r
                .map_err(StoreError::from)
                .and_then(|(idx, ok, meta)| Ok((u64_of(idx)?, ok, meta)))
            {
                Ok(row) => Some(row),
                Err(e) => {
                    failed = Some(e);
                    None
                }
            }
        }),
        q.limit,
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(page),
    }
}

impl LogRead for SqliteStore {
    fn read_cache_bytes(&self) -> u64 {
        self.read_cache_bytes
    }

    fn checkpoint_rows(&self) -> StoreResult<super::CheckpointRows> {
        self.with_reader(|c| {
            let (size, written, stored): (Option<i64>, Option<String>, i64) = c.query_row(
                "SELECT (SELECT MAX(size) FROM checkpoints), \
                 (SELECT value FROM meta WHERE key = ?1), (SELECT count(*) FROM checkpoints)",
                params![super::CHECKPOINTS_WRITTEN],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let written = written.as_deref().unwrap_or("0");
            Ok(super::CheckpointRows {
                size: size.map(u64_of).transpose()?.unwrap_or(0),
                written: written.parse().map_err(|_| {
                    StoreError::Corrupt(format!("checkpoints_written {written:?} is not a number"))
                })?,
                stored: u64_of(stored)?,
            })
        })
    }

    fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.with_reader(|c| {
            let row: Option<(i64, Vec<u8>)> = c
                .query_row(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            row.map(|(s, n)| Ok((u64_of(s)?, n))).transpose()
        })
    }

    fn checkpoint_in_range(&self, lo: u64, hi: u64) -> StoreResult<bool> {
        let (lo, hi) = (i64_of(lo)?, i64_of(hi.min(i64::MAX as u64))?);
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE size >= ?1 AND size < ?2)",
                params![lo, hi],
                |r| r.get(0),
            )?)
        })
    }

    fn checkpoints_before(&self, before: u64, limit: u64) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let (before, limit) = (i64_of(before.min(i64::MAX as u64))?, i64_of(limit)?);
        self.checkpoint_rows(
            "SELECT size, note FROM checkpoints WHERE size < ?1 ORDER BY size DESC LIMIT ?2",
            before,
            limit,
        )
    }

    fn checkpoint_at(&self, size: u64) -> StoreResult<Option<Vec<u8>>> {
        let size = i64_of(size)?;
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT note FROM checkpoints WHERE size = ?1",
                [size],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn checkpoints(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.checkpoint_rows(
            "SELECT size, note FROM checkpoints WHERE size >= ?1 ORDER BY size LIMIT ?2",
            i64_of(from)?,
            i64::from(limit),
        )
    }

    fn read_tiles(&self, tiles: &[TileId]) -> StoreResult<Vec<Vec<u8>>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT off, data FROM tile_chunks WHERE level = ?1 AND idx = ?2 ORDER BY off",
            )?;
            tiles
                .iter()
                .map(|t| {
                    let (l, i) = (t.level, t.index);
                    let mut rows = st.query(params![l, i64_of(i)?])?;
                    let mut data = Vec::new();
                    while let Some(r) = rows.next()? {
                        let off = u64_of(r.get(0)?)?;
                        let chunk = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                        // Chunks follow each other without gaps and hold whole hashes: a
                        // missing or short chunk is an error, never read around.
                        if off != (data.len() / 32) as u64 || chunk.len() % 32 != 0 {
                            return Err(StoreError::Corrupt(format!(
                                "tile {l}/{i}: chunk at hash {off} has {} bytes after {} stored \
                                 hashes",
                                chunk.len(),
                                data.len() / 32
                            )));
                        }
                        if data.is_empty() {
                            data.reserve_exact(usize::try_from(TILE_WIDTH).unwrap_or(0) * 32);
                        }
                        data.extend_from_slice(chunk);
                    }
                    Ok(data)
                })
                .collect()
        })
    }

    fn read_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>> {
        let (s, e) = (i64_of(start)?, i64_of(start.saturating_add(count))?);
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT data FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )?;
            let rows = st.query_map(params![s, e], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<Vec<u8>>, _>>()?)
        })
    }

    fn disk_usage(&self) -> StoreResult<(u64, u64)> {
        self.with_reader(|c| {
            // dbstat is not always compiled in; fall back to page counts.
            let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let search: Option<i64> = c
                .query_row(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('search', 'attestations', 'attestations_id')",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .ok()
                .flatten()
                .flatten();
            let total = u64_of(page_size * pages)?;
            let search = search.map(u64_of).transpose()?.unwrap_or(0);
            Ok((total.saturating_sub(search), search))
        })
    }
}

impl LogIndex for SqliteStore {
    fn lookup_leaf(&self, leaf: &Hash) -> StoreResult<Option<u64>> {
        if !self.filter.may_contain(leaf) {
            return Ok(None);
        }
        self.with_reader(|c| LEAF_INDEX.lookup_one(c, leaf))
    }

    fn lookup_leaves(&self, leaves: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        let leaves: Vec<&Hash> = leaves
            .iter()
            .filter(|l| self.filter.may_contain(l))
            .collect();
        if leaves.is_empty() {
            return Ok(HashMap::new());
        }
        // On the writer connection: only the sequencer calls this, and it sees its own commits.
        self.with_writer(|c| LEAF_INDEX.lookup(c, &leaves))
    }

    fn attestation_owners(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        self.with_writer(|c| {
            let mut out = HashMap::new();
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "SELECT attestation_id, vendor FROM attestations a WHERE attestation_id IN ({}) \
                     AND idx = (SELECT MIN(idx) FROM attestations b WHERE b.attestation_id = a.attestation_id)",
                    vec!["?"; chunk.len()].join(",")
                );
                let mut st = c.prepare_cached(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (id, vendor) = row?;
                    out.insert(id, vendor);
                }
            }
            Ok(out)
        })
    }

    fn lookup_statements(&self, statements: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        let statements: Vec<&Hash> = statements.iter().collect();
        // On the writer connection: only the sequencer calls this, and it sees its own commits.
        self.with_writer(|c| STATEMENT_INDEX.lookup(c, &statements))
    }

    fn lookup_statement(&self, statement: &Hash) -> StoreResult<Option<u64>> {
        self.with_reader(|c| STATEMENT_INDEX.lookup_one(c, statement))
    }

    fn attestation_chains(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.with_reader(|c| {
            let mut out: HashMap<String, Vec<Version>> = HashMap::new();
            for chunk in ids.chunks(500) {
                let sql = format!(
                    "SELECT {META_COLS} FROM attestations WHERE attestation_id IN ({}) ORDER BY idx",
                    vec!["?"; chunk.len()].join(",")
                );
                let mut st = c.prepare_cached(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(chunk.iter()), row_to_meta)?;
                for row in rows {
                    let (i, m) = row?;
                    let v = m.version(u64_of(i)?);
                    out.entry(m.attestation_id).or_default().push(v);
                }
            }
            Ok(out)
        })
    }

    fn boundary(&self, which: super::Boundary) -> StoreResult<u64> {
        self.boundaries.get(which, |key| self.meta(key))
    }

    fn attestation_owner(&self, attestation_id: &str) -> StoreResult<Option<String>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT vendor FROM attestations WHERE attestation_id = ?1 ORDER BY idx LIMIT 1",
            )?;
            Ok(st.query_row([attestation_id], |r| r.get(0)).optional()?)
        })
    }

    fn attestation_at(&self, index: u64) -> StoreResult<Option<AttestationMeta>> {
        let i = i64_of(index)?;
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {META_COLS} FROM attestations WHERE idx = ?1"
            ))?;
            Ok(st.query_row([i], row_to_meta).optional()?.map(|(_, m)| m))
        })
    }

    fn attestation_versions(
        &self,
        attestation_id: &str,
    ) -> StoreResult<Vec<(u64, AttestationMeta)>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {META_COLS} FROM attestations WHERE attestation_id = ?1 ORDER BY idx"
            ))?;
            let rows = st.query_map([attestation_id], row_to_meta)?;
            rows.map(|r| {
                let (i, m) = r?;
                Ok((u64_of(i)?, m))
            })
            .collect()
        })
    }

    fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT idx, vendor, key, action, role FROM enrolments ORDER BY idx",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?;
            rows.map(|r| {
                let (i, vendor, key, action, role): (i64, String, String, String, String) = r?;
                EnrolmentRow::from_stored(u64_of(i)?, vendor, &key, &action, &role)
            })
            .collect()
        })
    }

    fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.with_reader(|c| search_table(c, q, "attestations", META_COLS, row_to_meta))
    }

    fn search_verifications(&self, q: &SearchQuery) -> StoreResult<SearchPage<VerificationMeta>> {
        self.with_reader(|c| search_table(c, q, "verifications", VMETA_COLS, row_to_vmeta))
    }

    fn verification_chains(
        &self,
        keys: &[(&str, u64)],
    ) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.with_reader(|c| {
            let mut out: HashMap<String, Vec<Version>> = HashMap::new();
            let mut st = c.prepare_cached(&format!(
                "SELECT {VMETA_COLS} FROM verifications WHERE verifier = ?1 AND subject = ?2 \
                 ORDER BY idx"
            ))?;
            for (verifier, subject) in keys {
                let rows = st.query_map(params![verifier, i64_of(*subject)?], row_to_vmeta)?;
                for row in rows {
                    let (i, m) = row?;
                    out.entry(m.chain_key())
                        .or_default()
                        .push(m.version(u64_of(i)?));
                }
            }
            Ok(out)
        })
    }
}

impl LogWrite for SqliteStore {
    fn commit_batch(&self, batch: &Batch) -> StoreResult<()> {
        self.with_writer(|c| {
            // IMMEDIATE: the write lock is taken (waiting through the busy handler while the
            // checkpointer restarts the log) before the snapshot is read, so the transaction
            // never has to upgrade a read snapshot, which fails at once with SQLITE_BUSY.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let stored: Option<i64> = tx
                .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
                .optional()?
                .flatten();
            let stored = stored.map(u64_of).transpose()?.unwrap_or(0);
            if stored != batch.old_size {
                return Err(StoreError::SizeConflict {
                    expected: batch.old_size,
                    stored,
                });
            }
            {
                let mut ins_entry =
                    tx.prepare_cached("INSERT INTO entries (idx, data) VALUES (?1, ?2)")?;
                let mut ins_leaf = tx.prepare_cached(&LEAF_INDEX.insert_sql())?;
                // A leaf is stored once: the recent table's key refuses a repeat there, this
                // probe (a read, no page dirtied) one in the large table. Not skipped on the
                // filter's word: the database itself keeps a leaf unique, as its key did.
                let mut leaf_in_large = tx.prepare_cached(&LEAF_INDEX.in_large_sql())?;
                let mut ins_term = tx.prepare_cached(
                    "INSERT OR IGNORE INTO search (kind, value, idx) VALUES (?1, ?2, ?3)",
                )?;
                let mut ins_att = tx.prepare_cached(&format!(
                    "INSERT INTO attestations ({META_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?;
                // The first index of a statement is kept: only entries logged before the claim
                // rules (below `claims_from`) can repeat one.
                let mut ins_statement = tx.prepare_cached(&STATEMENT_INDEX.insert_sql())?;
                let mut ins_enr = tx.prepare_cached(
                    "INSERT INTO enrolments (idx, vendor, key, action, role) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let mut ins_ver = tx.prepare_cached(&format!(
                    "INSERT INTO verifications ({VMETA_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?;
                for (i, e) in batch.entries.iter().enumerate() {
                    let idx = i64_of(batch.old_size + i as u64)?;
                    ins_entry.execute(params![idx, e.data])?;
                    if leaf_in_large.exists([&e.leaf_hash.0[..]])? {
                        return Err(StoreError::Corrupt(format!(
                            "entry {idx}: its leaf hash is already stored"
                        )));
                    }
                    ins_leaf.execute(params![&e.leaf_hash.0[..], idx])?;
                    for t in &e.terms {
                        ins_term.execute(params![t.kind.as_str(), t.value, idx])?;
                    }
                    if let Some(a) = &e.attestation {
                        let sup = a.supersedes.map(i64_of).transpose()?;
                        ins_att.execute(params![
                            idx,
                            a.attestation_id,
                            a.vendor,
                            a.product,
                            a.status,
                            a.valid_until,
                            sup,
                            a.issued_at
                        ])?;
                    }
                    if let Some(en) = &e.enrolment {
                        ins_enr.execute(params![
                            idx,
                            en.vendor,
                            en.key.to_string(),
                            en.action.as_str(),
                            en.role.as_str()
                        ])?;
                    }
                    if let Some(v) = &e.verification {
                        ins_ver.execute(params![
                            idx,
                            v.verifier,
                            i64_of(v.subject)?,
                            v.attestation_id,
                            v.verdict,
                            v.supersedes.map(i64_of).transpose()?,
                            v.issued_at
                        ])?;
                    }
                    if let Some(h) = &e.statement {
                        ins_statement.execute(params![&h.0[..], idx])?;
                    }
                }
                // Tiles only grow: each batch stores the hashes it appended to a tile as one
                // chunk, never rewriting what an earlier batch stored.
                let mut ins_chunk = tx.prepare_cached(
                    "INSERT INTO tile_chunks (level, idx, off, data) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut stored_len = tx.prepare_cached(
                    "SELECT COALESCE(SUM(length(data)), 0) FROM tile_chunks \
                     WHERE level = ?1 AND idx = ?2",
                )?;
                for (t, data) in &batch.tiles {
                    let (l, i) = (&t.level, &t.index);
                    let off = stored_width(*l, *i, batch.old_size);
                    // The stored chunks hold exactly the tree of the old size: a missing or
                    // short chunk is an error, never written around.
                    let have: i64 = stored_len.query_row(params![l, i64_of(*i)?], |r| r.get(0))?;
                    if u64_of(have)? != off * 32 {
                        return Err(StoreError::Corrupt(format!(
                            "tile {l}/{i} holds {have} bytes, the tree of size {} needs {}",
                            batch.old_size,
                            off * 32
                        )));
                    }
                    // A tile only grows: data shorter than what is stored, or not whole
                    // hashes, is a bug, never skipped.
                    let new = usize::try_from(off * 32)
                        .ok()
                        .and_then(|start| data.get(start..))
                        .filter(|n| n.len() % 32 == 0)
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "tile {l}/{i} written with {} bytes, {off} hashes already stored",
                                data.len()
                            ))
                        })?;
                    for (k, piece) in new.chunks(CHUNK_HASHES * 32).enumerate() {
                        let at = off + (k * CHUNK_HASHES) as u64;
                        ins_chunk.execute(params![l, i64_of(*i)?, i64_of(at)?, piece])?;
                    }
                }
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
                    params![i64_of(batch.new_size())?, batch.checkpoint],
                )?;
                for range in merge_ranges(batch.old_size, batch.new_size()) {
                    LEAF_INDEX.merge(&tx, range)?;
                    STATEMENT_INDEX.merge(&tx, range)?;
                }
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, '1') ON CONFLICT (key) \
                     DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
                    params![super::CHECKPOINTS_WRITTEN],
                )?;
            }
            // Before the commit: once a reader can find a leaf, so can the filter (a failed
            // commit leaves only false positives behind).
            for e in &batch.entries {
                self.filter.insert(&e.leaf_hash);
            }
            tx.commit()?;
            self.checkpointer.committed();
            Ok(())
        })
    }

    fn set_checkpoint_note(&self, size: u64, note: &[u8]) -> StoreResult<()> {
        let size = i64_of(size)?;
        self.with_writer(|c| {
            let n = c.execute(
                "UPDATE checkpoints SET note = ?2 WHERE size = ?1",
                params![size, note],
            )?;
            if n == 0 {
                return Err(StoreError::Corrupt(format!("no checkpoint of size {size}")));
            }
            Ok(())
        })
    }
}

impl Backup for SqliteStore {
    fn backup(&self, dest: &Path) -> StoreResult<()> {
        self.with_reader(|c| copy_to(c, dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{BatchEntry, SearchTerm};

    /// The path of a database in a new, empty directory.
    fn fresh_path(name: &str) -> PathBuf {
        attestlog_serve::fs::scratch_dir("attestlog-server-unit", &format!("sqlite-{name}"))
            .unwrap()
            .join("db")
    }

    fn store(name: &str) -> SqliteStore {
        SqliteStore::open(&fresh_path(name)).unwrap()
    }

    fn entry(n: u8) -> BatchEntry {
        BatchEntry {
            data: vec![n; 3],
            leaf_hash: Hash::leaf(&[n; 3]),
            terms: vec![SearchTerm {
                kind: SearchKind::Vendor,
                value: "v".into(),
            }],
            attestation: Some(AttestationMeta {
                attestation_id: format!("id{n}"),
                vendor: "V".into(),
                product: "P".into(),
                status: "active".into(),
                valid_until: "2030-01-01T00:00:00Z".into(),
                supersedes: None,
                issued_at: "2026-11-01T00:00:00Z".into(),
            }),
            enrolment: None,
            verification: None,
            statement: Some(Hash::sha256(&[n])),
        }
    }

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

    fn batch(old_size: u64, entries: Vec<BatchEntry>) -> Batch {
        let new = old_size + entries.len() as u64;
        Batch {
            old_size,
            entries,
            // Unit batches stay inside one level-0 tile.
            tiles: vec![tile(
                0,
                old_size / 256,
                vec![7; 32 * usize::try_from(new - old_size / 256 * 256).unwrap()],
            )],
            checkpoint: format!("cp {new}").into_bytes(),
        }
    }

    #[test]
    fn batches_are_compare_and_swap_on_the_tree_size() {
        let s = store("cas");
        s.commit_batch(&batch(0, vec![])).unwrap();
        s.commit_batch(&batch(0, vec![entry(1), entry(2)])).unwrap();
        // A second writer starting from the old size cannot extend the tree.
        let err = s.commit_batch(&batch(0, vec![entry(3)])).unwrap_err();
        assert!(matches!(
            err,
            StoreError::SizeConflict {
                expected: 0,
                stored: 2
            }
        ));
        // Nothing of the failed batch was written.
        assert_eq!(s.lookup_leaf(&Hash::leaf(&[3; 3])).unwrap(), None);
        assert_eq!(s.read_entries(0, 10).unwrap().len(), 2);
        // Dedup index is unique: the same leaf twice fails the whole batch.
        assert!(s.commit_batch(&batch(2, vec![entry(1)])).is_err());
        assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 2);
        s.commit_batch(&batch(2, vec![entry(4)])).unwrap();
        assert_eq!(s.lookup_leaf(&Hash::leaf(&[4; 3])).unwrap(), Some(2));
        assert!(s.checkpoint_in_range(1, 3).unwrap());
        assert!(!s.checkpoint_in_range(4, 10).unwrap());
        assert_eq!(s.checkpoint_at(3).unwrap(), Some(b"cp 3".to_vec()));
        s.set_checkpoint_note(3, b"cp 3 cosigned").unwrap();
        assert_eq!(s.checkpoint_at(3).unwrap(), Some(b"cp 3 cosigned".to_vec()));
        assert!(matches!(
            s.set_checkpoint_note(99, b"x"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            s.read_tiles(&[key(0, 0), key(1, 0)]).unwrap()[1],
            Vec::<u8>::new()
        );
        assert_eq!(s.attestation_owner("id1").unwrap().as_deref(), Some("V"));
        let found = s
            .lookup_leaves(&[
                Hash::leaf(&[1; 3]),
                Hash::leaf(&[3; 3]),
                Hash::leaf(&[4; 3]),
            ])
            .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[&Hash::leaf(&[1; 3])], 0);
        assert_eq!(found[&Hash::leaf(&[4; 3])], 2);
        let owners = s.attestation_owners(&["id1", "nope", "id4"]).unwrap();
        assert_eq!(owners.len(), 2);
        assert_eq!(owners["id4"], "V");
        let hits = s
            .search(&SearchQuery {
                terms: vec![(SearchKind::Vendor, "v".into())],
                before: None,
                limit: 2,
            })
            .unwrap();
        let hits: Vec<u64> = hits.hits.iter().map(|(i, _)| *i).collect();
        assert_eq!(hits, vec![2, 1]);
    }

    /// The checkpointer folds what the writer commits into the database file, and the log
    /// file restarts (cut back to its bound) instead of growing.
    #[test]
    fn the_checkpointer_folds_the_log_into_the_database() {
        let s = store("checkpointer");
        let wait = std::time::Duration::from_secs(10);
        let db_len = || std::fs::metadata(&s.path).unwrap().len();
        let wal_len = || std::fs::metadata(wal_path(&s.path)).map_or(0, |m| m.len());
        s.commit_batch(&batch(0, vec![])).unwrap();
        assert!(s.wait_checkpointed(wait));
        let before = db_len();
        let entry_bytes = 60_000u64;
        // More than the log's bound in all, committed as fast as the writer goes.
        let commits = 2 * u64::try_from(WAL_LIMIT_BYTES).unwrap() / entry_bytes;
        for n in 1..=u16::try_from(commits).unwrap() {
            let mut e = BatchEntry {
                data: n.to_be_bytes().repeat(30_000),
                leaf_hash: Hash::leaf(&n.to_be_bytes()),
                statement: Some(Hash::sha256(&n.to_be_bytes())),
                ..entry(0)
            };
            if let Some(a) = e.attestation.as_mut() {
                a.attestation_id = format!("id-{n}");
            }
            s.commit_batch(&batch(u64::from(n) - 1, vec![e])).unwrap();
        }
        assert!(s.wait_checkpointed(wait));
        assert!(
            db_len() > before + commits * entry_bytes,
            "entries reached the database file"
        );
        // The next commit restarts the folded log and cuts the file back to its bound.
        s.commit_batch(&batch(commits, vec![entry(1)])).unwrap();
        let limit = u64::try_from(WAL_LIMIT_BYTES).unwrap();
        assert!(wal_len() <= limit, "the log restarts: {} bytes", wal_len());
    }

    /// Entry `n`: its own leaf and statement hash, no search terms.
    fn numbered(n: u32) -> BatchEntry {
        BatchEntry {
            statement: Some(Hash::sha256(&n.to_be_bytes())),
            ..BatchEntry::plain(n.to_be_bytes().to_vec())
        }
    }

    /// A batch of `entries` at `old_size` with its level-0 tiles as wide as the tree needs
    /// (any number of tiles).
    fn wide_batch(old_size: u64, entries: Vec<BatchEntry>) -> Batch {
        let new = old_size + entries.len() as u64;
        let tiles = (old_size / 256..new.div_ceil(256))
            .map(|t| {
                let width = (new - t * 256).min(256);
                tile(0, t, vec![7; 32 * usize::try_from(width).unwrap()])
            })
            .collect();
        Batch {
            tiles,
            ..batch(old_size, entries)
        }
    }

    /// Appends entries `from..to` (numbered) in one batch.
    fn append(s: &SqliteStore, from: u32, to: u32) {
        let entries = (from..to).map(numbered).collect();
        s.commit_batch(&wide_batch(u64::from(from), entries))
            .unwrap();
    }

    /// Rows in `table`, read through a connection of the test's own.
    fn rows(path: &Path, table: &str) -> i64 {
        let c = Connection::open(path).unwrap();
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// The index of one row of `table`, read through a connection of the test's own.
    fn some_idx(path: &Path, table: &str) -> u32 {
        let c = Connection::open(path).unwrap();
        c.query_row(&format!("SELECT idx FROM {table} LIMIT 1"), [], |r| {
            r.get(0)
        })
        .unwrap()
    }

    /// The hash indexes answer every row wherever it is (the recent table, the large one, or
    /// moved between batches), keep the recent tables bounded while ranges take turns to
    /// merge, keep a statement's first index across both tables, refuse a leaf stored twice
    /// in either, and carry on after a restart where they stood.
    #[test]
    fn hash_indexes_answer_across_the_recent_and_large_tables() {
        let path = fresh_path("recent");
        let wait = std::time::Duration::from_secs(10);
        let check = |s: &SqliteStore, upto: u32| {
            let mut sample: Vec<u32> = (0..upto).step_by(37).chain([upto - 1]).collect();
            sample.dedup();
            let leaves: Vec<Hash> = sample
                .iter()
                .map(|n| Hash::leaf(&n.to_be_bytes()))
                .chain([Hash::leaf(b"never")])
                .collect();
            let statements: Vec<Hash> = sample
                .iter()
                .map(|n| Hash::sha256(&n.to_be_bytes()))
                .collect();
            let found = s.lookup_leaves(&leaves).unwrap();
            let by_statement = s.lookup_statements(&statements).unwrap();
            assert_eq!(found.len(), sample.len(), "every stored leaf, no other");
            for (n, (leaf, statement)) in sample.iter().zip(leaves.iter().zip(&statements)) {
                assert_eq!(found[leaf], u64::from(*n));
                assert_eq!(s.lookup_leaf(leaf).unwrap(), Some(u64::from(*n)));
                assert_eq!(by_statement[statement], u64::from(*n));
                assert_eq!(s.lookup_statement(statement).unwrap(), Some(u64::from(*n)));
            }
            assert_eq!(s.lookup_leaf(&Hash::leaf(b"never")).unwrap(), None);
        };
        {
            let s = SqliteStore::open(&path).unwrap();
            for k in 0..30 {
                append(&s, k * 100, (k + 1) * 100);
                check(&s, (k + 1) * 100);
                let (large, recent) = (rows(&path, "leaves"), rows(&path, "leaves_recent"));
                assert_eq!(large + recent, i64::from((k + 1) * 100), "every leaf once");
                assert_eq!(
                    rows(&path, "statements") + rows(&path, "statements_recent"),
                    large + recent
                );
                assert!(recent <= 1024 + 100, "{recent} recent rows: bounded");
            }
            assert!(rows(&path, "leaves") > 1500, "ranges were merged");
            // A leaf in the large table (the probe), and one in the recent table (its key),
            // fail the whole batch.
            for table in ["leaves", "leaves_recent"] {
                let repeat = some_idx(&path, table);
                match s.commit_batch(&wide_batch(3000, vec![numbered(repeat)])) {
                    Err(StoreError::Corrupt(m)) if table == "leaves" => {
                        assert!(m.contains("already stored"), "{m}");
                    }
                    Err(StoreError::Backend(m)) if table == "leaves_recent" => {
                        assert!(m.contains("UNIQUE"), "{m}");
                    }
                    other => panic!("a leaf of {table} stored again: {other:?}"),
                }
            }
            assert_eq!(s.latest_checkpoint().unwrap().unwrap().0, 3000);
            // A statement logged again (as entries before the claim rules could): its first
            // index is answered while the repeat waits in the recent table, and once merged.
            let first_at = some_idx(&path, "statements");
            let first = Hash::sha256(&first_at.to_be_bytes());
            let again = BatchEntry {
                statement: Some(first),
                ..BatchEntry::plain(b"again".to_vec())
            };
            s.commit_batch(&wide_batch(3000, vec![again])).unwrap();
            assert_eq!(s.lookup_statement(&first).unwrap(), Some(first_at.into()));
            assert_eq!(
                s.lookup_statements(&[first]).unwrap()[&first],
                u64::from(first_at)
            );
            // A batch passing sixteen turns merges every range: the recent tables empty.
            append(&s, 3001, 4200);
            assert_eq!(rows(&path, "leaves_recent"), 0);
            assert_eq!(rows(&path, "statements_recent"), 0);
            assert_eq!(rows(&path, "leaves"), 4200);
            assert_eq!(s.lookup_statement(&first).unwrap(), Some(first_at.into()));
            append(&s, 4200, 4300);
        }
        let s = SqliteStore::open(&path).unwrap();
        assert!(s.wait_leaf_filter(wait));
        check(&s, 3000);
        for n in [0u32, 2999, 4299] {
            assert!(s.filter.may_contain(&Hash::leaf(&n.to_be_bytes())));
        }
        assert!(s.filter.may_contain(&Hash::leaf(b"again")));
        assert_eq!(
            s.lookup_leaf(&Hash::leaf(&4299u32.to_be_bytes())).unwrap(),
            Some(4299)
        );
        append(&s, 4300, 4400);
        assert_eq!(
            rows(&path, "leaves") + rows(&path, "leaves_recent"),
            4400,
            "the turns carry on after the restart"
        );
    }

    /// The turns of [`merge_ranges`]: one range per step, ranges in order round and round
    /// as the log grows (across the floor too, and at any batch size), each range once however
    /// far a batch reaches.
    #[test]
    fn merge_ranges_take_turns() {
        // 1,024 rows over 16 ranges: a step of 64 entries at small sizes.
        assert_eq!(merge_ranges(0, 63), Vec::<u8>::new());
        assert_eq!(merge_ranges(63, 64), vec![1]);
        assert_eq!(merge_ranges(100, 200), vec![2, 3]);
        let mut all = merge_ranges(0, 10_000);
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<u8>>());
        // At a million entries the step is 8,000 / 16 = 500.
        let at = |n: u64| merge_turn(n);
        assert_eq!(at(1_000_500) - at(1_000_000), 0);
        assert_eq!(at(1_001_001) - at(1_000_000), 2);
        assert_eq!(at(MERGE_FLOOR_SIZE - 1) + 1, at(MERGE_FLOOR_SIZE));
        for batch in [1, 37, 100, 450] {
            let (mut last, mut n, mut gaps) = (0u8, 0u64, Vec::new());
            let mut since = [0u64; 16];
            while n < 3_000_000 {
                for r in merge_ranges(n, n + batch) {
                    assert_eq!(r, (last + 1) % 16, "in order, at {n} in batches of {batch}");
                    last = r;
                    let k = MERGE_MIN_ROWS.max(8 * n.isqrt());
                    if since[usize::from(r)] > 0 {
                        gaps.push((n - since[usize::from(r)]) as f64 / k as f64);
                    }
                    since[usize::from(r)] = n;
                }
                n += batch;
            }
            // Each range's turns are about k entries apart (k as the log then was).
            let (lo, hi) = gaps
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), g| (lo.min(*g), hi.max(*g)));
            assert!(lo > 0.5 && hi < 1.6, "batches of {batch}: {lo}..{hi} of k");
        }
    }

    /// A batch writes its hashes into the recent tables' few pages instead of a random page
    /// of each large index per entry: on a store of 20,000 entries, batches of 50 new ones
    /// add 30 pages or fewer to the write-ahead log, merges of a range included, and 15 or fewer
    /// when no range is merged (6–11 and 13–23 when measured; inserted into the large tables
    /// directly, the same batches wrote 70–89).
    #[test]
    fn a_batch_writes_few_index_pages_however_large_the_indexes() {
        let path = fresh_path("pages");
        let s = SqliteStore::open(&path).unwrap();
        for k in 0..20 {
            append(&s, k * 1000, (k + 1) * 1000);
        }
        assert!(rows(&path, "leaves") >= 19_000, "mostly merged");
        let c = Connection::open(&path).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        // A checkpoint of the test's own, after the store's checkpointer is done (it runs one
        // at a time: one started meanwhile answers busy, and then the log's length is -1).
        let checkpoint = |mode: &str| -> i64 {
            assert!(s.wait_checkpointed(std::time::Duration::from_secs(10)));
            let (busy, frames): (i64, i64) = c
                .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!(busy, 0, "the store's checkpointer is idle");
            frames
        };
        let (mut quiet, mut merging) = (Vec::new(), Vec::new());
        for k in 0..20 {
            let (from, to) = (20_000 + k * 50, 20_050 + k * 50);
            // The log emptied: what the next commit writes is all it holds.
            checkpoint("TRUNCATE");
            append(&s, from, to);
            let frames = checkpoint("PASSIVE");
            if merge_ranges(from.into(), to.into()).is_empty() {
                quiet.push(frames);
            } else {
                merging.push(frames);
            }
        }
        assert!(
            !quiet.is_empty() && !merging.is_empty(),
            "{quiet:?} {merging:?}"
        );
        assert!(quiet.iter().all(|f| (1..=15).contains(f)), "{quiet:?}");
        assert!(merging.iter().all(|f| (1..=30).contains(f)), "{merging:?}");
    }

    /// Reopened, a store finds the leaves it held before through its filter (filled in the
    /// background), and answers leaves it never held without the index.
    #[test]
    fn the_leaf_filter_holds_every_stored_leaf_after_a_restart() {
        let path = fresh_path("filter");
        let wait = std::time::Duration::from_secs(10);
        {
            let s = SqliteStore::open(&path).unwrap();
            assert!(s.wait_leaf_filter(wait), "an empty store's filter is ready");
            s.commit_batch(&batch(0, vec![entry(1), entry(2)])).unwrap();
            assert_eq!(s.lookup_leaf(&Hash::leaf(&[2; 3])).unwrap(), Some(1));
        }
        let s = SqliteStore::open(&path).unwrap();
        assert!(s.wait_leaf_filter(wait));
        assert!(s.filter.may_contain(&Hash::leaf(&[1; 3])));
        assert!(s.filter.may_contain(&Hash::leaf(&[2; 3])));
        assert_eq!(s.lookup_leaf(&Hash::leaf(&[1; 3])).unwrap(), Some(0));
        assert_eq!(s.lookup_leaf(&Hash::leaf(&[9; 3])).unwrap(), None);
        let found = s
            .lookup_leaves(&[Hash::leaf(&[2; 3]), Hash::leaf(&[9; 3])])
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[&Hash::leaf(&[2; 3])], 1);
    }

    /// A whole tile from one large batch is stored in chunks small enough to stay in their
    /// rows (no overflow pages), and reads back whole.
    #[test]
    fn whole_tiles_are_stored_without_overflow_pages() {
        let s = store("chunks");
        let entries: Vec<BatchEntry> = (0..300u16)
            .map(|n| BatchEntry::plain(n.to_be_bytes().to_vec()))
            .collect();
        let data: Vec<u8> = (0..=255u8).flat_map(|i| [i; 32]).collect();
        s.commit_batch(&Batch {
            tiles: vec![tile(0, 0, data.clone()), tile(0, 1, vec![9; 44 * 32])],
            ..batch(0, entries)
        })
        .unwrap();
        assert_eq!(s.read_tiles(&[key(0, 0)]).unwrap()[0], data);
        let (chunks, overflow): (i64, i64) = s
            .with_reader(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT COUNT(*) FROM tile_chunks),
                        (SELECT COUNT(*) FROM dbstat WHERE name = 'tile_chunks' AND pagetype = 'overflow')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!((chunks, overflow), (4, 0));
    }

    /// A version-0 database (one `tiles` row per tile) opens as the current schema with its
    /// tiles intact; a database from a newer binary is refused.
    #[test]
    fn old_databases_are_migrated_and_newer_ones_refused() {
        let path = fresh_path("migrate");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL,
                     data BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
                 CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
                 INSERT INTO checkpoints VALUES (1, x'00');",
            )
            .unwrap();
            c.execute("INSERT INTO tiles VALUES (0, 0, ?1)", [&[1u8; 32][..]])
                .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.read_tiles(&[key(0, 0)]).unwrap()[0], vec![1; 32]);
        // The next batch appends to the migrated tile.
        s.commit_batch(&Batch {
            tiles: vec![tile(0, 0, [[1; 32], [2; 32]].concat())],
            ..batch(1, vec![entry(2)])
        })
        .unwrap();
        assert_eq!(
            s.read_tiles(&[key(0, 0)]).unwrap()[0],
            [[1; 32], [2; 32]].concat()
        );
        let (version, old): (i64, i64) = s
            .with_reader(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT COUNT(*) FROM sqlite_schema WHERE name = 'tiles')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!((version, old), (SCHEMA_VERSION, 0));
        drop(s);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let Err(e) = SqliteStore::open(&path) else {
            panic!("a newer schema must be refused")
        };
        assert!(e.to_string().contains("newer"), "{e}");
    }

    /// A database of schema version 5 (one table per hash index) opens with its rows found,
    /// and takes new ones in the recent tables.
    #[test]
    fn a_version_5_database_keeps_its_hash_indexes() {
        let path = fresh_path("v5");
        {
            let s = SqliteStore::open(&path).unwrap();
            append(&s, 0, 300);
        }
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "INSERT INTO leaves SELECT * FROM leaves_recent;
                 INSERT INTO statements SELECT * FROM statements_recent;
                 DROP TABLE leaves_recent; DROP TABLE statements_recent;
                 PRAGMA user_version = 5;",
            )
            .unwrap();
        let s = SqliteStore::open(&path).unwrap();
        append(&s, 300, 350);
        for n in [0u32, 299, 349] {
            assert_eq!(
                s.lookup_leaf(&Hash::leaf(&n.to_be_bytes())).unwrap(),
                Some(n.into())
            );
            let statement = Hash::sha256(&n.to_be_bytes());
            assert_eq!(s.lookup_statement(&statement).unwrap(), Some(n.into()));
        }
        let (large, recent) = (rows(&path, "leaves"), rows(&path, "leaves_recent"));
        assert!(
            large >= 300 && recent > 0 && large + recent == 350,
            "{large} {recent}"
        );
        assert!(
            s.commit_batch(&wide_batch(350, vec![numbered(7)])).is_err(),
            "a leaf of the old table is still unique"
        );
    }

    #[test]
    fn backup_is_a_consistent_copy() {
        let s = store("backup");
        s.commit_batch(&batch(0, vec![])).unwrap();
        s.commit_batch(&batch(0, vec![entry(1)])).unwrap();
        let dest = s.path.with_file_name("copy");
        let _ = std::fs::remove_file(&dest);
        s.backup(&dest).unwrap();
        let copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(copy.latest_checkpoint().unwrap().unwrap().0, 1);
        assert_eq!(copy.read_entries(0, 1).unwrap(), vec![vec![1; 3]]);
    }
}
