//! The PostgreSQL backend, for several stateless server replicas sharing one database
//! (DESIGN.md §5).
//!
//! The [`LogStore`](super::LogStore) trait is synchronous (the sequencer's thread and the async handlers call it
//! directly), so the store owns a small multi-thread tokio runtime and a connection pool: each
//! method runs its query on that runtime and waits for the answer, blocking the caller briefly
//! as the SQLite backend does. Everything is prepared (`prepare_cached`), binary `bytea`, and a
//! batch is a handful of `UNNEST` inserts in one transaction that starts with a
//! compare-and-swap on the one-row `tree_head` table, so two writers can never both extend the
//! tree.
//!
//! The schema is versioned: [`MIGRATIONS`] are applied on open, in one transaction under an
//! advisory lock, so replicas starting together do not race.
//!
//! Besides the log, two tables carry submissions between replicas: `pending` (validated
//! submissions a follower hands to the lease holder) and `pending_results` (their outcome,
//! written in the same transaction as the batch that integrates them). Their queries live
//! with the replicas, in [`crate::replica::queue`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attestlog_proto::Hash;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::replica::queue;

use attestlog_proto::tiles::TileId;

use super::{
    AttestationMeta, Batch, EnrolmentRow, LogIndex, LogRead, LogWrite, RecordedHalt,
    SEARCH_ESTIMATE_ROWS, SEARCH_SCAN_ROWS, SEARCH_TIMEOUT_MS, SearchDriver, SearchKind,
    SearchPage, SearchQuery, StoreError, StoreResult, VerificationMeta, search_page,
};
use attestlog_proto::rules::Version;

/// Schema migrations, applied in order; `schema_migrations` records the applied versions.
/// Version 2 (the statement index, each attestation's `issued_at` and `claims_from`, DESIGN.md
/// §10) is completed by `add_statement_index`, which reads the stored entries. Its
/// `issued_at` has no default, so a sequencer of an older binary, which would log attestations
/// without their statements, fails its batches instead. Version 4 (each enrolled key's role and
/// the verifications table, DESIGN.md §13) is completed by `add_key_roles`, which reads each
/// role from the logged enrolment entry; `role` has no default either, so an older binary
/// cannot enrol keys without saying their role. Version 5 records `policies_from` (DESIGN.md
/// §12): signed statements logged before it may have no registration policy entry below them.
/// Version 6 stores entries and pending submissions as they are: a row is compressed or moved
/// out of line only when it does not fit in a page (`toast_tuple_target`), not from 2 KB on.
/// Signed entries are a few KB of JSON with a base64 payload, which `pglz` shrank by about a
/// quarter at ~100 µs of the backend's CPU each: the largest cost of the lease holder's batch
/// (BENCHMARKS.md). It applies to rows written from then on.
/// Version 7 adds the `halt` row (DESIGN.md §9): a conflict with a published checkpoint that
/// one replica found halts every replica sharing the database, until `clear-halt`.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r"
CREATE TABLE entries (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE leaves (leaf_hash BYTEA PRIMARY KEY, idx BIGINT NOT NULL);
CREATE TABLE tiles (level SMALLINT NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note BYTEA NOT NULL);
CREATE TABLE tree_head (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), size BIGINT);
INSERT INTO tree_head (one, size) VALUES (TRUE, NULL);
CREATE TABLE enrolments (idx BIGINT PRIMARY KEY, vendor TEXT NOT NULL, key TEXT NOT NULL,
    action TEXT NOT NULL);
CREATE TABLE attestations (idx BIGINT PRIMARY KEY, attestation_id TEXT NOT NULL,
    vendor TEXT NOT NULL, product TEXT NOT NULL, status TEXT NOT NULL, valid_until TEXT NOT NULL,
    supersedes BIGINT);
CREATE INDEX attestations_id ON attestations (attestation_id, idx);
CREATE TABLE search (kind TEXT NOT NULL, value TEXT NOT NULL, idx BIGINT NOT NULL,
    PRIMARY KEY (kind, value, idx));
CREATE TABLE pending (id BIGSERIAL PRIMARY KEY, leaf_hash BYTEA NOT NULL, data BYTEA NOT NULL,
    meta TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE pending_results (id BIGINT PRIMARY KEY, status TEXT NOT NULL, idx BIGINT,
    code SMALLINT, field TEXT, message TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
",
    ),
    (
        2,
        r"
ALTER TABLE attestations ADD COLUMN issued_at TEXT NOT NULL DEFAULT '';
ALTER TABLE attestations ALTER COLUMN issued_at DROP DEFAULT;
CREATE TABLE statements (statement_hash BYTEA PRIMARY KEY, idx BIGINT NOT NULL);
CREATE TABLE log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO log_meta (key, value)
    SELECT 'claims_from', COALESCE(size, 0)::text FROM tree_head;
",
    ),
    (
        3,
        r"
ALTER TABLE tree_head ADD COLUMN checkpoints BIGINT NOT NULL DEFAULT 0;
UPDATE tree_head SET checkpoints = (SELECT count(*) FROM checkpoints);
",
    ),
    (
        4,
        r"
ALTER TABLE enrolments ADD COLUMN role TEXT NOT NULL DEFAULT 'vendor';
ALTER TABLE enrolments ALTER COLUMN role DROP DEFAULT;
CREATE TABLE verifications (idx BIGINT PRIMARY KEY, verifier TEXT NOT NULL,
    subject BIGINT NOT NULL, attestation_id TEXT NOT NULL, verdict TEXT NOT NULL,
    supersedes BIGINT, issued_at TEXT NOT NULL);
CREATE INDEX verifications_chain ON verifications (verifier, subject, idx);
CREATE INDEX verifications_id ON verifications (attestation_id, idx);
",
    ),
    (
        5,
        r"
INSERT INTO log_meta (key, value)
    SELECT 'policies_from', COALESCE(size, 0)::text FROM tree_head;
",
    ),
    (
        6,
        r"
ALTER TABLE entries SET (toast_tuple_target = 8160);
ALTER TABLE pending SET (toast_tuple_target = 8160);
",
    ),
    (
        7,
        r"
CREATE TABLE halt (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), why TEXT NOT NULL,
    published BYTEA NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now());
",
    ),
];

/// Advisory lock key serialising schema migrations ("attestlog" migrations).
const MIGRATION_LOCK: i64 = 0x6174_7465_7374_6d67;

const LATEST_CHECKPOINT: &str = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1";
const CHECKPOINT_IN_RANGE: &str =
    "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE size >= $1 AND size < $2)";
const CHECKPOINT_AT: &str = "SELECT note FROM checkpoints WHERE size = $1";
const CHECKPOINTS_BEFORE: &str =
    "SELECT size, note FROM checkpoints WHERE size < $1 ORDER BY size DESC LIMIT $2";
const CHECKPOINTS: &str =
    "SELECT size, note FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT $2";
const READ_TILES: &str = "SELECT t.level, t.idx, t.data FROM tiles t \
     JOIN UNNEST($1::smallint[], $2::bigint[]) AS q(level, idx) \
     ON t.level = q.level AND t.idx = q.idx";
const READ_ENTRIES: &str = "SELECT data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx";
const LOOKUP_LEAF: &str = "SELECT idx FROM leaves WHERE leaf_hash = $1";
/// Lookups by a batch's keys probe the index once per key (a `LATERAL` subquery parameterised
/// by the key; `OFFSET 0` keeps the planner from flattening it into a join): a plan for
/// `key = ANY($1)` weighs the index against a sequential scan by the array's estimated length
/// and picks the scan for tables of tens of thousands of rows, so each batch would read the
/// whole table. The work per batch stays proportional to the batch.
const LOOKUP_LEAVES: &str = "SELECT q.h, l.idx FROM UNNEST($1::bytea[]) AS q(h) \
     CROSS JOIN LATERAL (SELECT idx FROM leaves WHERE leaf_hash = q.h OFFSET 0) l";
/// As [`LOOKUP_LEAVES`]: the first version of each attestation ID.
const OWNERS: &str = "SELECT q.id, o.vendor FROM UNNEST($1::text[]) AS q(id) \
     CROSS JOIN LATERAL (SELECT a.vendor FROM attestations a WHERE a.attestation_id = q.id \
     ORDER BY a.idx LIMIT 1) o";
const OWNER: &str =
    "SELECT vendor FROM attestations WHERE attestation_id = $1 ORDER BY idx LIMIT 1";
const ATTESTATION_AT: &str = "SELECT idx, attestation_id, vendor, product, status, valid_until, \
     supersedes, issued_at FROM attestations WHERE idx = $1";
const ATTESTATION_VERSIONS: &str = "SELECT idx, attestation_id, vendor, product, status, \
     valid_until, supersedes, issued_at FROM attestations WHERE attestation_id = $1 ORDER BY idx";
/// As [`LOOKUP_LEAVES`], each distinct attestation ID once.
const ATTESTATION_CHAINS: &str = "SELECT a.idx, a.attestation_id, a.vendor, a.product, \
     a.status, a.valid_until, a.supersedes, a.issued_at \
     FROM (SELECT DISTINCT id FROM UNNEST($1::text[]) AS u(id)) q \
     CROSS JOIN LATERAL (SELECT * FROM attestations a WHERE a.attestation_id = q.id \
     OFFSET 0) a ORDER BY a.idx";
/// As [`LOOKUP_LEAVES`].
const LOOKUP_STATEMENTS: &str = "SELECT q.h, s.idx FROM UNNEST($1::bytea[]) AS q(h) \
     CROSS JOIN LATERAL (SELECT idx FROM statements WHERE statement_hash = q.h OFFSET 0) s";
const META: &str = "SELECT value FROM log_meta WHERE key = $1";
/// The first index of a statement is kept: only entries logged before the claim rules (below
/// `claims_from`) can repeat one.
const INSERT_STATEMENTS: &str = "INSERT INTO statements (statement_hash, idx) \
     SELECT * FROM UNNEST($1::bytea[], $2::bigint[]) ON CONFLICT DO NOTHING";
const ENROLMENTS: &str = "SELECT idx, vendor, key, action, role FROM enrolments ORDER BY idx";
const VERIFICATION_CHAINS: &str = "SELECT v.idx, v.verifier, v.subject, v.attestation_id, \
     v.verdict, v.supersedes, v.issued_at FROM verifications v \
     JOIN UNNEST($1::text[], $2::bigint[]) AS q(verifier, subject) \
     ON v.verifier = q.verifier AND v.subject = q.subject ORDER BY v.idx";
/// Rows of a search term, counted up to `$4` (the plan's selectivity estimate).
const SEARCH_ESTIMATE: &str = "SELECT count(*) FROM (SELECT 1 FROM search \
     WHERE kind = $1 AND value = $2 AND idx < $3 LIMIT $4) x";
/// The scanned rows of a search: metadata (as [`row_to_meta`] or [`row_to_vmeta`] reads it)
/// and whether every filter holds ($3/$4 terms, $5 a second attestation ID); at most $2 rows
/// below $1, of table `a`.
macro_rules! search_sql {
    ($cols:literal, $rows:literal) => {
        concat!(
            "SELECT ",
            $cols,
            ", (NOT EXISTS (SELECT 1 FROM UNNEST($3::text[], $4::text[]) AS q(kind, value) \
                 WHERE NOT EXISTS (SELECT 1 FROM search t \
                     WHERE t.kind = q.kind AND t.value = q.value AND t.idx = a.idx)) \
              AND ($5::text IS NULL OR a.attestation_id = $5::text)) ",
            $rows
        )
    };
}
macro_rules! att_search {
    ($rows:literal) => {
        search_sql!(
            "a.idx, a.attestation_id, a.vendor, a.product, a.status, a.valid_until, \
             a.supersedes, a.issued_at",
            $rows
        )
    };
}
macro_rules! ver_search {
    ($rows:literal) => {
        search_sql!(
            "a.idx, a.verifier, a.subject, a.attestation_id, a.verdict, a.supersedes, \
             a.issued_at",
            $rows
        )
    };
}
/// No terms: every attestation.
const SEARCH_ALL: &str =
    att_search!("FROM attestations a WHERE a.idx < $1 ORDER BY a.idx DESC LIMIT $2");
/// An attestation ID ($6) drives the scan.
const SEARCH_ID: &str = att_search!(
    "FROM attestations a WHERE a.attestation_id = $6 AND a.idx < $1 \
     ORDER BY a.idx DESC LIMIT $2"
);
/// The most selective term ($6, $7) drives the scan.
const SEARCH_TERM: &str = att_search!(
    "FROM (SELECT idx FROM search WHERE kind = $6 AND value = $7 AND idx < $1 \
     ORDER BY idx DESC LIMIT $2) d JOIN attestations a ON a.idx = d.idx ORDER BY a.idx DESC"
);
/// [`SEARCH_ALL`] over verifications.
const SEARCH_V_ALL: &str =
    ver_search!("FROM verifications a WHERE a.idx < $1 ORDER BY a.idx DESC LIMIT $2");
/// [`SEARCH_ID`] over verifications (the subject's attestation ID).
const SEARCH_V_ID: &str = ver_search!(
    "FROM verifications a WHERE a.attestation_id = $6 AND a.idx < $1 \
     ORDER BY a.idx DESC LIMIT $2"
);
/// [`SEARCH_TERM`] over verifications.
const SEARCH_V_TERM: &str = ver_search!(
    "FROM (SELECT idx FROM search WHERE kind = $6 AND value = $7 AND idx < $1 \
     ORDER BY idx DESC LIMIT $2) d JOIN verifications a ON a.idx = d.idx ORDER BY a.idx DESC"
);
const LOCK_HEAD: &str = "SELECT size FROM tree_head FOR UPDATE";
/// The recorded halt (DESIGN.md §9). A batch reads it after [`LOCK_HEAD`] (a statement of its
/// own, so that its snapshot sees a halt committed while the batch waited for the lock), and
/// [`RECORD_HALT`] runs under the same lock: a halt and a batch never pass each other.
const READ_HALT: &str = "SELECT why, published FROM halt";
/// Records a halt; the first one recorded stays until `clear-halt`.
const RECORD_HALT: &str =
    "INSERT INTO halt (why, published) VALUES ($1, $2) ON CONFLICT (one) DO NOTHING";
/// `clear-halt`: removes the recorded halt.
const CLEAR_HALT: &str = "DELETE FROM halt RETURNING why, published";
const SET_HEAD: &str = "UPDATE tree_head SET size = $1, checkpoints = checkpoints + 1";
const CHECKPOINT_ROWS: &str =
    "SELECT size, checkpoints, (SELECT count(*) FROM checkpoints) FROM tree_head";
const INSERT_ENTRIES: &str =
    "INSERT INTO entries (idx, data) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])";
const INSERT_LEAVES: &str =
    "INSERT INTO leaves (leaf_hash, idx) SELECT * FROM UNNEST($1::bytea[], $2::bigint[])";
/// A plain insert (an `ON CONFLICT` clause doubles the cost per row): an entry's terms are
/// deduplicated before ([`OwnedBatch::new`]), and its index is new to the log.
const INSERT_TERMS: &str = "INSERT INTO search (kind, value, idx) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])";
const INSERT_ATTESTATIONS: &str = "INSERT INTO attestations \
     (idx, attestation_id, vendor, product, status, valid_until, supersedes, issued_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::bigint[], $8::text[])";
const INSERT_ENROLMENTS: &str = "INSERT INTO enrolments (idx, vendor, key, action, role) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])";
const INSERT_VERIFICATIONS: &str = "INSERT INTO verifications \
     (idx, verifier, subject, attestation_id, verdict, supersedes, issued_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
     $6::bigint[], $7::text[])";
const UPSERT_TILES: &str = "INSERT INTO tiles (level, idx, data) \
     SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::bytea[]) \
     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data \
     WHERE length(tiles.data) = \
         32 * LEAST(256, GREATEST(0, ($4::bigint >> (8 * tiles.level)) - tiles.idx * 256)) \
     AND length(excluded.data) > length(tiles.data) \
     AND substr(excluded.data, 1, length(tiles.data)) = tiles.data \
     RETURNING level, idx, (xmax = 0) AS inserted";
const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (size, note) VALUES ($1, $2)";
const SET_NOTE: &str = "UPDATE checkpoints SET note = $2 WHERE size = $1";
const DISK_USAGE: &str = "SELECT \
     (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
        JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = current_schema() AND c.relkind = 'r' \
        AND c.relname IN ('entries', 'leaves', 'tiles', 'checkpoints', 'tree_head', 'enrolments')), \
     (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
        JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = current_schema() AND c.relkind = 'r' \
        AND c.relname IN ('search', 'attestations'))";
const NOTIFY_COMMIT: &str = "SELECT pg_notify('attestlog_commit', $1::text)";
/// The tables whose plans depend on how many rows they hold (lookups by arrays of keys, joins
/// against `UNNEST`, searches): analyzed by the store as the log grows ([`ANALYZE_FROM`]).
const ANALYZE_GROWN: &str =
    "ANALYZE attestations, leaves, statements, tiles, search, verifications, enrolments";
/// Session-level advisory lock: the sequencer lease.
pub(crate) const TRY_LEASE: &str = "SELECT pg_try_advisory_lock($1)";

/// Every statement the store and the replicas run (the schema aside), so a test can prepare
/// each of them against a real server.
pub const STATEMENTS: &[&str] = &[
    LATEST_CHECKPOINT,
    CHECKPOINT_IN_RANGE,
    CHECKPOINT_AT,
    CHECKPOINTS_BEFORE,
    CHECKPOINTS,
    READ_TILES,
    READ_ENTRIES,
    LOOKUP_LEAF,
    LOOKUP_LEAVES,
    OWNERS,
    OWNER,
    ATTESTATION_AT,
    ATTESTATION_VERSIONS,
    ATTESTATION_CHAINS,
    LOOKUP_STATEMENTS,
    META,
    INSERT_STATEMENTS,
    ENROLMENTS,
    SEARCH_ESTIMATE,
    SEARCH_ALL,
    SEARCH_ID,
    SEARCH_TERM,
    SEARCH_V_ALL,
    SEARCH_V_ID,
    SEARCH_V_TERM,
    VERIFICATION_CHAINS,
    INSERT_VERIFICATIONS,
    LOCK_HEAD,
    READ_HALT,
    RECORD_HALT,
    CLEAR_HALT,
    SET_HEAD,
    CHECKPOINT_ROWS,
    INSERT_ENTRIES,
    INSERT_LEAVES,
    INSERT_TERMS,
    INSERT_ATTESTATIONS,
    INSERT_ENROLMENTS,
    UPSERT_TILES,
    INSERT_CHECKPOINT,
    SET_NOTE,
    DISK_USAGE,
    queue::INSERT_PENDING,
    queue::FETCH_PENDING,
    queue::DELETE_PENDING,
    queue::INSERT_RESULTS,
    queue::FINISH_PENDING,
    queue::TAKE_RESULTS,
    queue::EXPIRE_RESULTS,
    NOTIFY_COMMIT,
    TRY_LEASE,
    ANALYZE_GROWN,
];

/// The smallest tree size at which a store that commits batches runs [`ANALYZE_GROWN`]; it
/// runs it again each time the tree has doubled since. PostgreSQL keeps the plan it made for a
/// prepared statement until an `ANALYZE` (or a schema change) invalidates it, and plans with
/// the statistics it holds: a plan made while a new log's tables held a few rows scans them
/// sequentially however large they grow (each batch then reads whole tables: the cost per
/// entry grows with the log), and without statistics it guesses 0.5 % of a table per element
/// of an array of keys. Autovacuum's analyses come too late for a new log (a minute apart, and
/// only after 10 % growth). Analyzing at every doubling keeps the statistics within a factor
/// of two of the tables' size, at a cost per entry that does not grow with the log (`ANALYZE`
/// reads a sample of at most 30,000 rows per table).
const ANALYZE_FROM: u64 = 1024;

/// Whether a database URL selects PostgreSQL.
#[must_use]
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL with its password replaced by `***`, for logs and `Debug`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable database url>".into();
    };
    // userinfo ends at the last '@' before the first '/' of the path.
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let redacted = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((p, q)) if q.contains("password") => format!("{p}?***"),
        _ => path.to_owned(),
    };
    format!("{scheme}://{redacted}{path}")
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A search's error: its time limit (`statement_timeout`) cancelled it, or another backend
/// error.
fn searched(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
        StoreError::SearchTimedOut
    } else {
        backend(e)
    }
}

pub(crate) fn u64_of(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

pub(crate) fn i64_of(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("value {v} out of range")))
}

/// The pool and the lease holder's claims on pending rows ([`queue::Claims`]); cheap to
/// clone, usable from async code on the store's runtime.
#[derive(Clone)]
pub(crate) struct Db {
    pool: Pool,
    /// Pending rows handed to this replica's sequencer: a batch that integrates their leaf
    /// deletes them and records their outcome in its transaction.
    claims: queue::Claims,
}

type Client = deadpool_postgres::Object;

impl Db {
    pub(crate) async fn client(&self) -> StoreResult<Client> {
        self.pool.get().await.map_err(backend)
    }

    /// The claims on pending rows that this store's batches settle.
    pub(crate) fn claims(&self) -> &queue::Claims {
        &self.claims
    }

    pub(crate) async fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let c = self.client().await?;
        let st = c.prepare_cached(LATEST_CHECKPOINT).await.map_err(backend)?;
        let row = c.query_opt(&st, &[]).await.map_err(backend)?;
        row.map(|r| Ok((u64_of(r.get(0))?, r.get(1)))).transpose()
    }

    pub(crate) async fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>> {
        let c = self.client().await?;
        let st = c.prepare_cached(ENROLMENTS).await.map_err(backend)?;
        c.query(&st, &[])
            .await
            .map_err(backend)?
            .iter()
            .map(|r| {
                let (key, action, role): (String, String, String) = (r.get(2), r.get(3), r.get(4));
                EnrolmentRow::from_stored(u64_of(r.get(0))?, r.get(1), &key, &action, &role)
            })
            .collect()
    }

    /// Writes a batch in one transaction. The statements are prepared first (cached after the
    /// first batch) and then sent together, in order, without waiting for each answer
    /// (tokio-postgres pipelines requests that are in flight at once): the backend still runs
    /// them one after another, each with its own snapshot, starting with [`LOCK_HEAD`], so the
    /// compare-and-swap and the atomicity are as if they were sent one by one, but the batch
    /// waits for the server three times (`BEGIN`, the statements, `COMMIT`) instead of once per
    /// statement. Every answer is checked before `COMMIT`; any failure drops the transaction
    /// (rolled back).
    async fn commit_batch(&self, b: OwnedBatch) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Pending rows this batch integrates: deleted, with their outcome, in this transaction.
        let (settle_ids, settle_status, settle_idx) = self.claims.outcomes(&b.leaves, &b.idx)?;
        let (lock, entries, leaves, terms, atts, statements, enrolments, verifications) =
            tokio::try_join!(
                tx.prepare_cached(LOCK_HEAD),
                tx.prepare_cached(INSERT_ENTRIES),
                tx.prepare_cached(INSERT_LEAVES),
                tx.prepare_cached(INSERT_TERMS),
                tx.prepare_cached(INSERT_ATTESTATIONS),
                tx.prepare_cached(INSERT_STATEMENTS),
                tx.prepare_cached(INSERT_ENROLMENTS),
                tx.prepare_cached(INSERT_VERIFICATIONS),
            )
            .map_err(backend)?;
        let (halt, tiles, checkpoint, head, delete_pending, results, notify) = tokio::try_join!(
            tx.prepare_cached(READ_HALT),
            tx.prepare_cached(UPSERT_TILES),
            tx.prepare_cached(INSERT_CHECKPOINT),
            tx.prepare_cached(SET_HEAD),
            tx.prepare_cached(queue::DELETE_PENDING),
            tx.prepare_cached(queue::INSERT_RESULTS),
            tx.prepare_cached(NOTIFY_COMMIT),
        )
        .map_err(backend)?;
        let new_size = i64_of(b.old_size + b.idx.len() as u64)?;
        let old = i64_of(b.old_size)?;
        let notified = new_size.to_string();
        let (a, e, v, t) = (&b.att, &b.enr, &b.ver, &b.tiles);
        let p_entries: [&Param; 2] = [&b.idx, &b.data];
        let p_leaves: [&Param; 2] = [&b.leaves, &b.idx];
        let p_terms: [&Param; 3] = [&b.term_kind, &b.term_value, &b.term_idx];
        let p_atts: [&Param; 8] = [&a.0, &a.1, &a.2, &a.3, &a.4, &a.5, &a.6, &a.7];
        let p_statements: [&Param; 2] = [&b.statements.0, &b.statements.1];
        let p_enrolments: [&Param; 5] = [&e.0, &e.1, &e.2, &e.3, &e.4];
        let p_verifications: [&Param; 7] = [&v.0, &v.1, &v.2, &v.3, &v.4, &v.5, &v.6];
        let p_tiles: [&Param; 4] = [&t.0, &t.1, &t.2, &old];
        let p_checkpoint: [&Param; 2] = [&new_size, &b.checkpoint];
        let p_head: [&Param; 1] = [&new_size];
        let p_delete: [&Param; 1] = [&settle_ids];
        let p_results: [&Param; 3] = [&settle_ids, &settle_status, &settle_idx];
        let p_notify: [&Param; 1] = [&notified];
        // Sent in this order on the first poll of the join below.
        let (
            stored,
            halted,
            entries,
            leaves,
            terms,
            atts,
            statements,
            enrolments,
            verifications,
            tile_rows,
            checkpoint,
            head,
            delete_pending,
            results,
            notify,
        ) = tokio::join!(
            tx.query_one(&lock, &[]),
            tx.query_opt(&halt, &[]),
            when(!b.idx.is_empty(), tx.execute(&entries, &p_entries)),
            when(!b.idx.is_empty(), tx.execute(&leaves, &p_leaves)),
            when(!b.term_idx.is_empty(), tx.execute(&terms, &p_terms)),
            when(!a.0.is_empty(), tx.execute(&atts, &p_atts)),
            when(
                !b.statements.0.is_empty(),
                tx.execute(&statements, &p_statements)
            ),
            when(!e.0.is_empty(), tx.execute(&enrolments, &p_enrolments)),
            when(
                !v.0.is_empty(),
                tx.execute(&verifications, &p_verifications)
            ),
            when(!t.0.is_empty(), tx.query(&tiles, &p_tiles)),
            tx.execute(&checkpoint, &p_checkpoint),
            tx.execute(&head, &p_head),
            when(
                !settle_ids.is_empty(),
                tx.execute(&delete_pending, &p_delete)
            ),
            when(!settle_ids.is_empty(), tx.execute(&results, &p_results)),
            tx.execute(&notify, &p_notify),
        );
        // The compare-and-swap first: another writer's batch makes the statements after it
        // fail too, and is reported as what it is.
        let stored: Option<i64> = stored.map_err(backend)?.get(0);
        let stored_size = stored.map(u64_of).transpose()?.unwrap_or(0);
        // Read after the lock was taken (a statement of its own, with its own snapshot): a
        // halt recorded while this batch waited for the lock refuses it.
        if let Some(r) = halted.map_err(backend)? {
            return Err(StoreError::Halted(r.get(0)));
        }
        // An empty batch re-signs the stored size: only allowed for the first checkpoint.
        if stored_size != b.old_size || (b.idx.is_empty() && stored.is_some()) {
            return Err(StoreError::SizeConflict {
                expected: b.old_size,
                stored: stored_size,
            });
        }
        for r in [
            entries,
            leaves,
            terms,
            atts,
            statements,
            enrolments,
            verifications,
            delete_pending,
            results,
        ] {
            r.map_err(backend)?;
        }
        let tile_rows = tile_rows.map_err(backend)?.unwrap_or_default();
        checkpoint.map_err(backend)?;
        head.map_err(backend)?;
        notify.map_err(backend)?;
        // Tiles only grow, from exactly what the tree of the old size needs: a stored tile
        // that is shorter, longer, different or missing is an error (the transaction rolls
        // back), never written over.
        if tile_rows.len() != t.0.len() {
            return Err(StoreError::Corrupt(format!(
                "{} of {} stored tiles are not the tiles of tree size {}",
                t.0.len() - tile_rows.len(),
                t.0.len(),
                b.old_size
            )));
        }
        for r in &tile_rows {
            let (level, idx, inserted): (i16, i64, bool) = (r.get(0), r.get(1), r.get(2));
            let had = (b.old_size >> (8 * u32::try_from(level).unwrap_or(0)))
                .saturating_sub(u64_of(idx)?.saturating_mul(256));
            if inserted && had > 0 {
                return Err(StoreError::Corrupt(format!(
                    "tile {level}/{idx} is missing from storage"
                )));
            }
        }
        tx.commit().await.map_err(backend)?;
        if !settle_ids.is_empty() {
            self.claims.release(&b.leaves);
        }
        Ok(())
    }
}

/// A statement parameter.
type Param = dyn tokio_postgres::types::ToSql + Sync;

/// `f`'s answer when `run`, else `None` without sending anything (`f` is dropped unpolled).
async fn when<T>(
    run: bool,
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Option<T>, tokio_postgres::Error> {
    if run { f.await.map(Some) } else { Ok(None) }
}

type AttColumns = (
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<Option<i64>>,
    Vec<String>,
);

type VerColumns = (
    Vec<i64>,
    Vec<String>,
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Vec<Option<i64>>,
    Vec<String>,
);

type EnrColumns = (Vec<i64>, Vec<String>, Vec<String>, Vec<String>, Vec<String>);

/// A batch as column arrays, owned so it can move onto the store's runtime.
#[derive(Default)]
struct OwnedBatch {
    old_size: u64,
    idx: Vec<i64>,
    data: Vec<Vec<u8>>,
    leaves: Vec<Vec<u8>>,
    term_kind: Vec<&'static str>,
    term_value: Vec<String>,
    term_idx: Vec<i64>,
    att: AttColumns,
    enr: EnrColumns,
    ver: VerColumns,
    statements: (Vec<Vec<u8>>, Vec<i64>),
    tiles: (Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
    checkpoint: Vec<u8>,
}

impl OwnedBatch {
    fn new(batch: &Batch) -> StoreResult<Self> {
        let mut b = OwnedBatch {
            old_size: batch.old_size,
            checkpoint: batch.checkpoint.clone(),
            ..Self::default()
        };
        for (i, e) in batch.entries.iter().enumerate() {
            let idx = i64_of(batch.old_size + i as u64)?;
            b.idx.push(idx);
            b.data.push(e.data.clone());
            b.leaves.push(e.leaf_hash.0.to_vec());
            let mut seen = std::collections::HashSet::new();
            for t in e.terms.iter().filter(|t| seen.insert((t.kind, &t.value))) {
                b.term_kind.push(t.kind.as_str());
                b.term_value.push(t.value.clone());
                b.term_idx.push(idx);
            }
            if let Some(a) = &e.attestation {
                b.att.0.push(idx);
                b.att.1.push(a.attestation_id.clone());
                b.att.2.push(a.vendor.clone());
                b.att.3.push(a.product.clone());
                b.att.4.push(a.status.clone());
                b.att.5.push(a.valid_until.clone());
                b.att.6.push(a.supersedes.map(i64_of).transpose()?);
                b.att.7.push(a.issued_at.clone());
            }
            if let Some(en) = &e.enrolment {
                b.enr.0.push(idx);
                b.enr.1.push(en.vendor.clone());
                b.enr.2.push(en.key.to_string());
                b.enr.3.push(en.action.as_str().to_owned());
                b.enr.4.push(en.role.as_str().to_owned());
            }
            if let Some(v) = &e.verification {
                b.ver.0.push(idx);
                b.ver.1.push(v.verifier.clone());
                b.ver.2.push(i64_of(v.subject)?);
                b.ver.3.push(v.attestation_id.clone());
                b.ver.4.push(v.verdict.clone());
                b.ver.5.push(v.supersedes.map(i64_of).transpose()?);
                b.ver.6.push(v.issued_at.clone());
            }
            if let Some(h) = &e.statement {
                b.statements.0.push(h.0.to_vec());
                b.statements.1.push(idx);
            }
        }
        for (t, data) in &batch.tiles {
            b.tiles.0.push(i16::from(t.level));
            b.tiles.1.push(i64_of(t.index)?);
            b.tiles.2.push(data.clone());
        }
        Ok(b)
    }
}

fn row_to_meta(r: &tokio_postgres::Row) -> StoreResult<(u64, AttestationMeta)> {
    let sup: Option<i64> = r.get(6);
    let issued_at: Option<String> = r.get(7);
    Ok((
        u64_of(r.get(0))?,
        AttestationMeta {
            attestation_id: r.get(1),
            vendor: r.get(2),
            product: r.get(3),
            status: r.get(4),
            valid_until: r.get(5),
            supersedes: sup.map(u64_of).transpose()?,
            issued_at: issued_at.unwrap_or_default(),
        },
    ))
}

fn row_to_vmeta(r: &tokio_postgres::Row) -> StoreResult<(u64, VerificationMeta)> {
    let sup: Option<i64> = r.get(5);
    Ok((
        u64_of(r.get(0))?,
        VerificationMeta {
            verifier: r.get(1),
            subject: u64_of(r.get(2))?,
            attestation_id: r.get(3),
            verdict: r.get(4),
            supersedes: sup.map(u64_of).transpose()?,
            issued_at: r.get(6),
        },
    ))
}

/// PostgreSQL-backed [`LogStore`](super::LogStore). `Debug` shows the URL without its password.
pub struct PostgresStore {
    rt: Option<tokio::runtime::Runtime>,
    db: Db,
    url: String,
    /// [`LogIndex::boundary`](super::LogIndex::boundary), each read once.
    boundaries: super::Boundaries,
    /// The tree size at which this store last started [`ANALYZE_GROWN`] (0: never).
    analyzed_at: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; `shutdown_background` never
        // blocks, and on one of the runtime's own threads it is handed to another thread.
        if let Some(rt) = self.rt.take() {
            let own =
                tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == rt.handle().id());
            if own {
                std::thread::spawn(move || rt.shutdown_background());
            } else {
                rt.shutdown_background();
            }
        }
    }
}

/// Pool size per replica.
const POOL_SIZE: usize = 16;

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and applies the schema
    /// migrations this binary knows.
    ///
    /// # Errors
    /// A malformed URL, an unreachable server, or a schema newer than this binary.
    pub fn connect(url: &str) -> StoreResult<Self> {
        let mut pg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| backend(format!("invalid database url {}: {e}", redact_url(url))))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("attestlog-server");
        }
        // Every commit waits for the WAL flush (DESIGN.md §9), whatever the server's default.
        let options = match pg.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c synchronous_commit=on"),
            _ => "-c synchronous_commit=on".to_owned(),
        };
        pg.options(&options);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("attestlog-pg")
            .enable_all()
            .build()
            .map_err(backend)?;
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _guard = rt.enter();
            Pool::builder(mgr)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(30)))
                .create_timeout(Some(Duration::from_secs(10)))
                .build()
                .map_err(backend)?
        };
        let store = Self {
            rt: Some(rt),
            db: Db {
                pool,
                claims: queue::Claims::default(),
            },
            url: url.to_owned(),
            boundaries: super::Boundaries::default(),
            analyzed_at: Arc::new(AtomicU64::new(0)),
        };
        store.block(|db| async move { migrate(&db).await })?;
        Ok(store)
    }

    /// The server's `synchronous_commit` setting on the store's connections.
    ///
    /// # Errors
    /// Backend errors.
    pub fn synchronous_commit(&self) -> StoreResult<String> {
        self.block(|db| async move {
            let c = db.client().await?;
            let row = c
                .query_one("SHOW synchronous_commit", &[])
                .await
                .map_err(backend)?;
            Ok(row.get(0))
        })
    }

    /// The database URL (with its password: never log it; see [`redact_url`]).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn db(&self) -> Db {
        self.db.clone()
    }

    /// The store's runtime, where replica tasks run.
    ///
    /// # Panics
    /// Never: the runtime is only taken on drop.
    #[must_use]
    pub fn handle(&self) -> tokio::runtime::Handle {
        #[allow(clippy::expect_used)]
        self.rt
            .as_ref()
            .expect("runtime present until drop")
            .handle()
            .clone()
    }

    /// Prepares every statement of [`STATEMENTS`] on one connection; returns how many.
    ///
    /// # Errors
    /// The first statement the server refuses, with its text.
    pub fn prepare_all(&self) -> StoreResult<usize> {
        self.block(|db| async move {
            let c = db.client().await?;
            for sql in STATEMENTS {
                c.prepare(sql)
                    .await
                    .map_err(|e| backend(format!("{e}: {sql}")))?;
            }
            Ok(STATEMENTS.len())
        })
    }

    /// The applied schema version.
    ///
    /// # Errors
    /// Backend errors.
    pub fn schema_version(&self) -> StoreResult<i32> {
        self.block(|db| async move {
            let c = db.client().await?;
            let row = c
                .query_one("SELECT max(version) FROM schema_migrations", &[])
                .await
                .map_err(backend)?;
            Ok(row.get::<_, Option<i32>>(0).unwrap_or(0))
        })
    }

    /// Runs `f` on the store's runtime and waits for it.
    fn block<T, F>(&self, f: impl FnOnce(Db) -> F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Future<Output = StoreResult<T>> + Send + 'static,
    {
        let Some(rt) = self.rt.as_ref() else {
            return Err(backend("database runtime stopped"));
        };
        let fut = f(self.db.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let wait = || rx.recv().map_err(|_| backend("database runtime stopped"))?;
        // On one of our own workers, let the runtime move other tasks off this thread.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.id() == rt.handle().id() => tokio::task::block_in_place(wait),
            _ => wait(),
        }
    }
}

/// Completes migration 2: every stored entry's statement in the statement index (the first
/// index of each statement: older logs may hold one statement more than once) and the
/// `issued_at` of every stored attestation. `claims_from` (the tree size now) is set by the
/// migration's SQL, so the entries already logged are not judged again by the claim rules.
async fn add_statement_index(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<()> {
    const CHUNK: i64 = 2048;
    let mut from = 0i64;
    loop {
        let rows = tx
            .query(
                "SELECT idx, data FROM entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
                &[&from, &CHUNK],
            )
            .await
            .map_err(backend)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        from = last.get::<_, i64>(0) + 1;
        let mut seen = std::collections::HashSet::new();
        let (mut hashes, mut hash_idx, mut times, mut time_idx) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            let idx: i64 = r.get(0);
            let claim = super::stored_claim(r.get::<_, &[u8]>(1));
            if let Some(h) = claim.statement
                && seen.insert(h)
            {
                hashes.push(h.0.to_vec());
                hash_idx.push(idx);
            }
            if let Some(t) = claim.issued_at {
                times.push(t);
                time_idx.push(idx);
            }
        }
        tx.execute(
            "INSERT INTO statements (statement_hash, idx) \
             SELECT * FROM UNNEST($1::bytea[], $2::bigint[]) ON CONFLICT DO NOTHING",
            &[&hashes, &hash_idx],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "UPDATE attestations a SET issued_at = q.t \
             FROM UNNEST($1::bigint[], $2::text[]) AS q(idx, t) WHERE a.idx = q.idx",
            &[&time_idx, &times],
        )
        .await
        .map_err(backend)?;
    }
}

/// Completes migration 4: each enrolment row's role, read from its logged enrolment entry (a
/// row whose entry is missing or is not an enrolment refuses the migration).
async fn add_key_roles(tx: &tokio_postgres::Transaction<'_>) -> StoreResult<()> {
    let rows = tx
        .query(
            "SELECT e.idx, x.data FROM enrolments e LEFT JOIN entries x ON x.idx = e.idx \
             ORDER BY e.idx",
            &[],
        )
        .await
        .map_err(backend)?;
    let (mut idx, mut roles) = (Vec::new(), Vec::new());
    for r in &rows {
        let i: i64 = r.get(0);
        let data: Option<&[u8]> = r.get(1);
        let role = data.and_then(super::stored_role).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "enrolment {i}: the logged entry is missing or not an enrolment"
            ))
        })?;
        idx.push(i);
        roles.push(role.as_str());
    }
    tx.execute(
        "UPDATE enrolments e SET role = q.role \
         FROM UNNEST($1::bigint[], $2::text[]) AS q(idx, role) WHERE e.idx = q.idx",
        &[&idx, &roles],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// The search statements of one table: no terms, an attestation ID, a term drives.
struct SearchStatements {
    all: &'static str,
    id: &'static str,
    term: &'static str,
}

impl PostgresStore {
    /// The halt row `sql` reads (or deletes and returns): `None` when no halt is recorded.
    fn halt_row(&self, sql: &'static str) -> StoreResult<Option<RecordedHalt>> {
        self.block(move |db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(sql).await.map_err(backend)?;
            let row = c.query_opt(&st, &[]).await.map_err(backend)?;
            Ok(row.map(|r| RecordedHalt {
                why: r.get(0),
                published: r.get(1),
            }))
        })
    }

    /// One bounded search scan (see [`LogStore::search`]) with `sql`, whose rows `read`
    /// reads, the filter result in column `matched_at`.
    fn search_with<M: Send + 'static>(
        &self,
        q: &SearchQuery,
        sql: SearchStatements,
        read: fn(&tokio_postgres::Row) -> StoreResult<(u64, M)>,
        matched_at: usize,
    ) -> StoreResult<SearchPage<M>> {
        let before = i64_of(q.before.unwrap_or(i64::MAX as u64).min(i64::MAX as u64))?;
        let (scan, estimate) = (i64_of(SEARCH_SCAN_ROWS)?, i64_of(SEARCH_ESTIMATE_ROWS)?);
        let q = q.clone();
        self.block(|db| async move {
            let mut c = db.client().await?;
            // One transaction, so the time limit covers the whole search and ends with it.
            let tx = c.transaction().await.map_err(searched)?;
            tx.batch_execute(&format!(
                "SET LOCAL statement_timeout = {SEARCH_TIMEOUT_MS}"
            ))
            .await
            .map_err(searched)?;
            let mut estimates = Vec::new();
            let st = tx.prepare_cached(SEARCH_ESTIMATE).await.map_err(searched)?;
            for (kind, value) in q.terms_to_estimate() {
                let n: i64 = tx
                    .query_one(&st, &[&kind.as_str(), &value, &before, &estimate])
                    .await
                    .map_err(searched)?
                    .get(0);
                estimates.push(u64_of(n)?);
            }
            let (driver, filters) = q.plan(&estimates);
            let mut other_id: Option<&str> = None;
            let (mut kinds, mut values) = (Vec::<&str>::new(), Vec::<&str>::new());
            for (kind, value) in &filters {
                if *kind == SearchKind::AttestationId {
                    other_id = Some(value);
                } else {
                    kinds.push(kind.as_str());
                    values.push(value);
                }
            }
            let rows = match driver {
                SearchDriver::All => {
                    let st = tx.prepare_cached(sql.all).await.map_err(searched)?;
                    tx.query(&st, &[&before, &scan, &kinds, &values, &other_id])
                        .await
                }
                SearchDriver::AttestationId(id) => {
                    let st = tx.prepare_cached(sql.id).await.map_err(searched)?;
                    tx.query(&st, &[&before, &scan, &kinds, &values, &other_id, &id])
                        .await
                }
                SearchDriver::Term(kind, value) => {
                    let st = tx.prepare_cached(sql.term).await.map_err(searched)?;
                    let k = kind.as_str();
                    tx.query(
                        &st,
                        &[&before, &scan, &kinds, &values, &other_id, &k, &value],
                    )
                    .await
                }
            }
            .map_err(searched)?;
            let rows = rows
                .iter()
                .map(|r| {
                    let (idx, meta) = read(r)?;
                    Ok((idx, r.get::<_, bool>(matched_at), meta))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            tx.commit().await.map_err(searched)?;
            Ok(search_page(rows, q.limit))
        })
    }

    /// Starts [`ANALYZE_GROWN`] in the background when the tree has reached [`ANALYZE_FROM`]
    /// entries and doubled since this store last started it. A failure is logged, not
    /// returned: the batch is committed, and only the plans' quality depends on it.
    fn analyze_if_grown(&self, size: u64) {
        let last = self.analyzed_at.load(Ordering::Relaxed);
        if size < ANALYZE_FROM.max(last.saturating_mul(2))
            || self
                .analyzed_at
                .compare_exchange(last, size, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Some(rt) = self.rt.as_ref() else {
            return;
        };
        let db = self.db.clone();
        rt.spawn(async move {
            let run = async {
                let c = db.client().await?;
                c.batch_execute(ANALYZE_GROWN).await.map_err(backend)
            };
            if let Err(e) = run.await {
                tracing::warn!(size, error = %e, "could not analyze the grown tables");
            }
        });
    }

    /// The index of each of `hashes` found by `query` ([`LOOKUP_LEAVES`], [`LOOKUP_STATEMENTS`]).
    fn hash_indexes(
        &self,
        query: &'static str,
        hashes: &[Hash],
    ) -> StoreResult<HashMap<Hash, u64>> {
        let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(query).await.map_err(backend)?;
            c.query(&st, &[&hashes])
                .await
                .map_err(backend)?
                .iter()
                .map(|r| {
                    let h: Vec<u8> = r.get(0);
                    let h = Hash::from_slice(&h).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok((h, u64_of(r.get(1))?))
                })
                .collect()
        })
    }
}

/// Applies missing migrations in one transaction under an advisory lock.
async fn migrate(db: &Db) -> StoreResult<()> {
    let mut c = db.client().await?;
    let tx = c.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(backend)?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(backend)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(backend(format!(
            "the database schema is version {current}, newer than this binary's {known}; \
             upgrade the binary"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| backend(format!("migration {version}: {e}")))?;
        if *version == 2 {
            add_statement_index(&tx)
                .await
                .map_err(|e| backend(format!("migration {version}: {e}")))?;
        }
        if *version == 4 {
            add_key_roles(&tx)
                .await
                .map_err(|e| backend(format!("migration {version}: {e}")))?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(backend)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await.map_err(backend)
}

impl LogRead for PostgresStore {
    fn checkpoint_rows(&self) -> StoreResult<crate::storage::CheckpointRows> {
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(CHECKPOINT_ROWS).await.map_err(backend)?;
            let r = c.query_one(&st, &[]).await.map_err(backend)?;
            let size: Option<i64> = r.get(0);
            Ok(crate::storage::CheckpointRows {
                size: size.map(u64_of).transpose()?.unwrap_or(0),
                written: u64_of(r.get(1))?,
                stored: u64_of(r.get(2))?,
            })
        })
    }

    fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.block(|db| async move { db.latest_checkpoint().await })
    }

    fn checkpoint_in_range(&self, lo: u64, hi: u64) -> StoreResult<bool> {
        let (lo, hi) = (i64_of(lo)?, i64_of(hi.min(i64::MAX as u64))?);
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c
                .prepare_cached(CHECKPOINT_IN_RANGE)
                .await
                .map_err(backend)?;
            Ok(c.query_one(&st, &[&lo, &hi]).await.map_err(backend)?.get(0))
        })
    }

    fn checkpoints_before(&self, before: u64, limit: u64) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let (before, limit) = (i64_of(before.min(i64::MAX as u64))?, i64_of(limit)?);
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c
                .prepare_cached(CHECKPOINTS_BEFORE)
                .await
                .map_err(backend)?;
            c.query(&st, &[&before, &limit])
                .await
                .map_err(backend)?
                .iter()
                .map(|r| Ok((u64_of(r.get(0))?, r.get(1))))
                .collect()
        })
    }

    fn checkpoint_at(&self, size: u64) -> StoreResult<Option<Vec<u8>>> {
        let size = i64_of(size)?;
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(CHECKPOINT_AT).await.map_err(backend)?;
            Ok(c.query_opt(&st, &[&size])
                .await
                .map_err(backend)?
                .map(|r| r.get(0)))
        })
    }

    fn checkpoints(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let (from, limit) = (i64_of(from)?, i64::from(limit));
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(CHECKPOINTS).await.map_err(backend)?;
            c.query(&st, &[&from, &limit])
                .await
                .map_err(backend)?
                .iter()
                .map(|r| Ok((u64_of(r.get(0))?, r.get(1))))
                .collect()
        })
    }

    fn read_tiles(&self, tiles: &[TileId]) -> StoreResult<Vec<Vec<u8>>> {
        let levels: Vec<i16> = tiles.iter().map(|t| i16::from(t.level)).collect();
        let idxs = tiles
            .iter()
            .map(|t| i64_of(t.index))
            .collect::<StoreResult<Vec<i64>>>()?;
        let found = self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(READ_TILES).await.map_err(backend)?;
            let rows = c.query(&st, &[&levels, &idxs]).await.map_err(backend)?;
            Ok(rows
                .iter()
                .map(|r| ((r.get::<_, i16>(0), r.get::<_, i64>(1)), r.get(2)))
                .collect::<HashMap<(i16, i64), Vec<u8>>>())
        })?;
        tiles
            .iter()
            .map(|t| {
                Ok(found
                    .get(&(i16::from(t.level), i64_of(t.index)?))
                    .cloned()
                    .unwrap_or_default())
            })
            .collect()
    }

    fn read_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>> {
        let (s, e) = (i64_of(start)?, i64_of(start.saturating_add(count))?);
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(READ_ENTRIES).await.map_err(backend)?;
            Ok(c.query(&st, &[&s, &e])
                .await
                .map_err(backend)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn disk_usage(&self) -> StoreResult<(u64, u64)> {
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(DISK_USAGE).await.map_err(backend)?;
            let r = c.query_one(&st, &[]).await.map_err(backend)?;
            Ok((u64_of(r.get(0))?, u64_of(r.get(1))?))
        })
    }
}

impl LogIndex for PostgresStore {
    fn lookup_leaf(&self, leaf: &Hash) -> StoreResult<Option<u64>> {
        let leaf = leaf.0.to_vec();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(LOOKUP_LEAF).await.map_err(backend)?;
            c.query_opt(&st, &[&leaf])
                .await
                .map_err(backend)?
                .map(|r| u64_of(r.get(0)))
                .transpose()
        })
    }

    fn lookup_leaves(&self, leaves: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.hash_indexes(LOOKUP_LEAVES, leaves)
    }

    fn attestation_owners(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(OWNERS).await.map_err(backend)?;
            Ok(c.query(&st, &[&ids])
                .await
                .map_err(backend)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn lookup_statements(&self, statements: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.hash_indexes(LOOKUP_STATEMENTS, statements)
    }

    fn attestation_chains(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<Version>>> {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c
                .prepare_cached(ATTESTATION_CHAINS)
                .await
                .map_err(backend)?;
            let mut out: HashMap<String, Vec<Version>> = HashMap::new();
            for r in c.query(&st, &[&ids]).await.map_err(backend)? {
                let (i, m) = row_to_meta(&r)?;
                let v = m.version(i);
                out.entry(m.attestation_id).or_default().push(v);
            }
            Ok(out)
        })
    }

    fn boundary(&self, which: super::Boundary) -> StoreResult<u64> {
        self.boundaries.get(which, |key| {
            self.block(move |db| async move {
                let c = db.client().await?;
                let st = c.prepare_cached(META).await.map_err(backend)?;
                let row = c.query_opt(&st, &[&key]).await.map_err(backend)?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    fn attestation_owner(&self, attestation_id: &str) -> StoreResult<Option<String>> {
        let id = attestation_id.to_owned();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(OWNER).await.map_err(backend)?;
            Ok(c.query_opt(&st, &[&id])
                .await
                .map_err(backend)?
                .map(|r| r.get(0)))
        })
    }

    fn attestation_at(&self, index: u64) -> StoreResult<Option<AttestationMeta>> {
        let i = i64_of(index)?;
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(ATTESTATION_AT).await.map_err(backend)?;
            c.query_opt(&st, &[&i])
                .await
                .map_err(backend)?
                .map(|r| row_to_meta(&r).map(|(_, m)| m))
                .transpose()
        })
    }

    fn attestation_versions(
        &self,
        attestation_id: &str,
    ) -> StoreResult<Vec<(u64, AttestationMeta)>> {
        let id = attestation_id.to_owned();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c
                .prepare_cached(ATTESTATION_VERSIONS)
                .await
                .map_err(backend)?;
            c.query(&st, &[&id])
                .await
                .map_err(backend)?
                .iter()
                .map(row_to_meta)
                .collect()
        })
    }

    fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>> {
        self.block(|db| async move { db.enrolments().await })
    }

    fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        let sql = SearchStatements {
            all: SEARCH_ALL,
            id: SEARCH_ID,
            term: SEARCH_TERM,
        };
        self.search_with(q, sql, row_to_meta, 8)
    }

    fn search_verifications(&self, q: &SearchQuery) -> StoreResult<SearchPage<VerificationMeta>> {
        let sql = SearchStatements {
            all: SEARCH_V_ALL,
            id: SEARCH_V_ID,
            term: SEARCH_V_TERM,
        };
        self.search_with(q, sql, row_to_vmeta, 7)
    }

    fn verification_chains(
        &self,
        keys: &[(&str, u64)],
    ) -> StoreResult<HashMap<String, Vec<Version>>> {
        let verifiers: Vec<String> = keys.iter().map(|(v, _)| (*v).to_owned()).collect();
        let subjects = keys
            .iter()
            .map(|(_, s)| i64_of(*s))
            .collect::<StoreResult<Vec<i64>>>()?;
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c
                .prepare_cached(VERIFICATION_CHAINS)
                .await
                .map_err(backend)?;
            let mut out: HashMap<String, Vec<Version>> = HashMap::new();
            for r in c
                .query(&st, &[&verifiers, &subjects])
                .await
                .map_err(backend)?
            {
                let (i, m) = row_to_vmeta(&r)?;
                out.entry(m.chain_key()).or_default().push(m.version(i));
            }
            Ok(out)
        })
    }
}

impl LogWrite for PostgresStore {
    fn commit_batch(&self, batch: &Batch) -> StoreResult<()> {
        let b = OwnedBatch::new(batch)?;
        self.block(|db| async move { db.commit_batch(b).await })?;
        self.analyze_if_grown(batch.new_size());
        Ok(())
    }

    fn set_checkpoint_note(&self, size: u64, note: &[u8]) -> StoreResult<()> {
        let s = i64_of(size)?;
        let note = note.to_vec();
        self.block(|db| async move {
            let c = db.client().await?;
            let st = c.prepare_cached(SET_NOTE).await.map_err(backend)?;
            if c.execute(&st, &[&s, &note]).await.map_err(backend)? == 0 {
                return Err(StoreError::Corrupt(format!("no checkpoint of size {size}")));
            }
            Ok(())
        })
    }

    fn recorded_halt(&self) -> StoreResult<Option<RecordedHalt>> {
        self.halt_row(READ_HALT)
    }

    fn record_halt(&self, halt: &RecordedHalt) -> StoreResult<()> {
        let halt = halt.clone();
        self.block(|db| async move {
            let mut c = db.client().await?;
            let tx = c.transaction().await.map_err(backend)?;
            // Under the tree head's lock: a batch either committed before the halt or sees it.
            let st = tx.prepare_cached(LOCK_HEAD).await.map_err(backend)?;
            tx.query_one(&st, &[]).await.map_err(backend)?;
            let st = tx.prepare_cached(RECORD_HALT).await.map_err(backend)?;
            tx.execute(&st, &[&halt.why, &halt.published])
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)
        })
    }

    fn clear_halt(&self) -> StoreResult<Option<RecordedHalt>> {
        self.halt_row(CLEAR_HALT)
    }
}

#[cfg(test)]
#[path = "../../tests/pg_support/mod.rs"]
mod pg_support;

#[cfg(test)]
#[path = "postgres_plan_tests.rs"]
mod plan_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every SQL constant of this file is in [`STATEMENTS`], so the test that prepares them
    /// against a real server (server/tests/storage.rs) covers each statement the store runs.
    #[test]
    fn every_statement_constant_is_listed() {
        let src = include_str!("postgres.rs");
        let list_start = src.find("pub const STATEMENTS").unwrap();
        let list = &src[list_start..list_start + src[list_start..].find("];").unwrap()];
        let listed: std::collections::BTreeSet<&str> = list
            .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|w| w.len() > 1)
            .collect();
        let missing: Vec<&str> = src
            .lines()
            .filter_map(|l| {
                let l = l
                    .trim_start()
                    .strip_prefix("pub(crate) ")
                    .unwrap_or(l.trim_start());
                let l = l.strip_prefix("pub ").unwrap_or(l);
                l.strip_prefix("const ")?.split_once(": &str")
            })
            .map(|(name, _)| name)
            .filter(|name| !listed.contains(name))
            .collect();
        assert!(missing.is_empty(), "not in STATEMENTS: {missing:?}");
    }

    /// Entries up to a page are stored as they are: no compression on the lease holder's
    /// batch (migration 6). A larger one is still stored (compressed or out of line), and both
    /// read back whole.
    #[test]
    fn entries_that_fit_in_a_page_are_stored_uncompressed() {
        let Some(admin) =
            pg_support::admin_url("entries_that_fit_in_a_page_are_stored_uncompressed")
        else {
            return;
        };
        let db = pg_support::ScratchDb::create(&admin);
        let s = PostgresStore::connect(&db.url).unwrap();
        // pglz would shrink either of these to a few dozen bytes.
        let (small, large) = (vec![b'a'; 3000], vec![b'b'; 20_000]);
        s.commit_batch(&Batch {
            old_size: 0,
            entries: vec![
                crate::storage::BatchEntry::plain(small.clone()),
                crate::storage::BatchEntry::plain(large.clone()),
            ],
            tiles: vec![],
            checkpoint: b"cp 2".to_vec(),
        })
        .unwrap();
        let sizes = s
            .block(|db| async move {
                let c = db.client().await?;
                let rows = c
                    .query(
                        "SELECT length(data), pg_column_size(data) FROM entries ORDER BY idx",
                        &[],
                    )
                    .await
                    .map_err(backend)?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get::<_, i32>(0), r.get::<_, i32>(1)))
                    .collect::<Vec<_>>())
            })
            .unwrap();
        // Stored as is: the bytes and a 4-byte length.
        assert_eq!(sizes[0], (3000, 3004), "{sizes:?}");
        assert!(sizes[1].1 < 20_000, "{sizes:?}");
        assert_eq!(s.read_entries(0, 2).unwrap(), vec![small, large]);
    }

    /// Followers queue submissions in groups: one statement for many rows, each submission
    /// gets a row of its own holding its bytes, in the order given, duplicates included.
    #[test]
    fn pending_submissions_are_queued_in_one_statement_each_with_its_row() {
        let Some(admin) = pg_support::admin_url("pending_submissions_are_queued_in_one_statement")
        else {
            return;
        };
        let db = pg_support::ScratchDb::create(&admin);
        let s = PostgresStore::connect(&db.url).unwrap();
        let q = queue::PendingQueue::new(s.db());
        let data: Vec<Vec<u8>> = [1u8, 2, 3, 2, 4, 2]
            .iter()
            .map(|n| vec![*n; 100 + usize::from(*n)])
            .collect();
        let rows: Vec<(Hash, &[u8])> = data.iter().map(|d| (Hash::leaf(d), &d[..])).collect();
        let ids = s
            .handle()
            .block_on(async { q.insert_pending(&rows, "{}").await })
            .unwrap();
        assert_eq!(ids.len(), rows.len());
        let distinct: std::collections::HashSet<i64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        let stored = s
            .handle()
            .block_on(async { q.fetch_pending(100).await })
            .unwrap();
        assert_eq!(stored.len(), rows.len());
        for (id, (leaf, bytes)) in ids.iter().zip(&rows) {
            let row = stored.iter().find(|r| r.id == *id).unwrap();
            assert_eq!((&row.leaf_hash, &row.data[..]), (leaf, *bytes), "row {id}");
        }
        // An empty group queues nothing.
        let none = s
            .handle()
            .block_on(async { q.insert_pending(&[], "{}").await })
            .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://attestlog:s3cret@db:5432/log"),
            "postgres://attestlog:***@db:5432/log"
        );
        assert_eq!(
            redact_url("postgresql://u@h/db?password=s3cret&x=1"),
            "postgresql://u@h/db?***"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert!(!redact_url("postgres://u:p@ss@h/db").contains("ss@h/db?"));
        assert!(!redact_url("postgres://u:p@ss@h/db").contains("p@ss"));
        assert!(is_postgres_url("postgresql://h/db"));
        assert!(!is_postgres_url("sqlite:///tmp/x"));
    }
}
