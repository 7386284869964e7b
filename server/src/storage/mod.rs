//! Storage: the [`LogStore`] trait and its backends.
//!
//! A store holds entries, hash tiles, the dedup index, the search index, the enrolment
//! history and every published checkpoint. [`LogStore`] is its three parts: [`LogRead`]
//! (checkpoints, tiles by [`TileId`], entries), [`LogIndex`] (dedup, statements,
//! attestations, enrolments, search by [`SearchKind`]) and [`LogWrite`]. Writes happen only
//! through [`LogWrite::commit_batch`], one transaction per sequencer batch, guarded by a
//! compare-and-swap on the stored tree size. [`Backup`] is offered only by the backends that
//! can take an online copy (SQLite). The PostgreSQL hand-over of submissions between
//! replicas is not storage: it lives in [`crate::replica::queue`].

pub mod leaf_filter;
pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;

use attestlog_proto::Hash;
use attestlog_proto::enrolment::{Action, Enrolment, KeyRole};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::rules::Version;
use attestlog_proto::tiles::TileId;

/// Meta key of the index from which the statement-identity and version-chain rules apply
/// (DESIGN.md §10): the tree size when the database was created or migrated to them.
pub const CLAIMS_FROM: &str = "claims_from";

/// Meta key of the index from which every SCITT signed statement has a registration policy
/// entry below it (DESIGN.md §12): the tree size when the database was created or migrated to
/// that rule. Below it, a signed statement with no policy entry below it was admitted under
/// the built-in policy.
pub const POLICIES_FROM: &str = "policies_from";

/// A boundary a database records when it is created or migrated: the index from which a rule
/// applies. It never changes once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// [`CLAIMS_FROM`]: the statement-identity and version-chain rules.
    Claims,
    /// [`POLICIES_FROM`]: every signed statement has a registration policy entry below it.
    Policies,
}

impl Boundary {
    /// Its key in the meta table.
    #[must_use]
    pub const fn key(self) -> &'static str {
        match self {
            Self::Claims => CLAIMS_FROM,
            Self::Policies => POLICIES_FROM,
        }
    }
}

/// The boundaries of one database, each read once (they never change).
#[derive(Debug, Default)]
pub(crate) struct Boundaries {
    claims: std::sync::OnceLock<u64>,
    policies: std::sync::OnceLock<u64>,
}

impl Boundaries {
    /// `which`, read the first time with `read` (the meta table's value of a key).
    pub(crate) fn get(
        &self,
        which: Boundary,
        read: impl FnOnce(&'static str) -> StoreResult<Option<String>>,
    ) -> StoreResult<u64> {
        let cell = match which {
            Boundary::Claims => &self.claims,
            Boundary::Policies => &self.policies,
        };
        if let Some(v) = cell.get() {
            return Ok(*v);
        }
        let key = which.key();
        let v = read(key)?.ok_or_else(|| StoreError::Corrupt(format!("no {key} record")))?;
        let v = v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{key} {v:?} is not a number")))?;
        Ok(*cell.get_or_init(|| v))
    }
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored tree size is not the one the writer expected (another writer, or a bug).
    #[error("tree size conflict: expected {expected}, stored {stored}")]
    SizeConflict {
        /// size the writer started from
        expected: u64,
        /// size found in storage
        stored: u64,
    },
    /// Data that should exist is missing or malformed.
    #[error("storage is inconsistent: {0}")]
    Corrupt(String),
    /// Backend error.
    #[error("database error: {0}")]
    Backend(String),
    /// A search ran past its time limit ([`SEARCH_TIMEOUT_MS`], PostgreSQL's
    /// `statement_timeout`, which counts waiting for locks too).
    #[error(
        "the search took longer than its time limit of {SEARCH_TIMEOUT_MS} ms; narrow it (a more selective term) or retry later"
    )]
    SearchTimedOut,
    /// A halt is recorded in the database (DESIGN.md §9): nothing is written until an
    /// operator clears it (`attestlog-server clear-halt`).
    #[error("sequencing is halted by a conflict recorded in the database: {0}")]
    Halted(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Result alias for storage.
pub type StoreResult<T> = Result<T, StoreError>;

pub use attestlog_proto::api::SearchKind;

/// One search-index term of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    /// What the term names.
    pub kind: SearchKind,
    /// Normalised value (lowercase).
    pub value: String,
}

/// Per-entry metadata kept for attestations (ownership and `supersedes` checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationMeta {
    /// `predicate.attestation_id`
    pub attestation_id: String,
    /// `predicate.vendor.legal_name`
    pub vendor: String,
    /// `predicate.product.name`
    pub product: String,
    /// `predicate.status`
    pub status: String,
    /// `predicate.valid_until`
    pub valid_until: String,
    /// `predicate.supersedes.log_index`
    pub supersedes: Option<u64>,
    /// `predicate.issued_at` (empty for a version whose stored entry did not yield it)
    pub issued_at: String,
}

impl AttestationMeta {
    /// The version-chain view of the attestation at `index`.
    #[must_use]
    pub fn version(&self, index: u64) -> Version {
        Version {
            index,
            vendor: self.vendor.clone(),
            supersedes: self.supersedes,
            issued_at: self.issued_at.clone(),
        }
    }
}

/// Per-entry metadata kept for verifications (DESIGN.md §13): their version chains (per
/// verifier and subject) and the verifications of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMeta {
    /// `predicate.verifier.legal_name`
    pub verifier: String,
    /// `predicate.subject_entry.log_index`: the verified attestation
    pub subject: u64,
    /// `predicate.subject_entry.attestation_id`
    pub attestation_id: String,
    /// `predicate.verdict`
    pub verdict: String,
    /// `predicate.supersedes.log_index`
    pub supersedes: Option<u64>,
    /// `predicate.issued_at`
    pub issued_at: String,
}

impl VerificationMeta {
    /// The metadata of a verification statement.
    #[must_use]
    pub fn of(st: &attestlog_proto::verification::VerificationStatement) -> Self {
        let p = &st.predicate;
        Self {
            verifier: p.verifier.legal_name.clone(),
            subject: p.subject_entry.log_index,
            attestation_id: p.subject_entry.attestation_id.clone(),
            verdict: p.verdict.as_str().to_owned(),
            supersedes: p.supersedes.as_ref().map(|s| s.log_index),
            issued_at: p.issued_at.clone(),
        }
    }

    /// The version-chain view of the verification at `index` (its verifier owns the chain).
    #[must_use]
    pub fn version(&self, index: u64) -> Version {
        Version {
            index,
            vendor: self.verifier.clone(),
            supersedes: self.supersedes,
            issued_at: self.issued_at.clone(),
        }
    }

    /// The key of its version chain ([`attestlog_proto::rules::verification_chain_key`]).
    #[must_use]
    pub fn chain_key(&self) -> String {
        attestlog_proto::rules::verification_chain_key(&self.verifier, self.subject)
    }

    /// Its search-index terms: verdict, subject index and verifier.
    #[must_use]
    pub fn terms(&self) -> Vec<SearchTerm> {
        vec![
            SearchTerm {
                kind: SearchKind::Verdict,
                value: self.verdict.clone(),
            },
            SearchTerm {
                kind: SearchKind::Subject,
                value: self.subject.to_string(),
            },
            SearchTerm {
                kind: SearchKind::Verifier,
                value: self.verifier.to_lowercase(),
            },
        ]
    }
}

/// An enrolment entry as stored: typed, parsed once when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentRow {
    /// log index of the enrolment entry
    pub index: u64,
    /// vendor legal name
    pub vendor: String,
    /// the vendor's verifier key
    pub key: VerifierKey,
    /// enrol or revoke
    pub action: Action,
    /// the key's role (DESIGN.md §13), as logged in the enrolment entry; `vendor` for
    /// revocations
    pub role: KeyRole,
}

impl EnrolmentRow {
    /// The enrolment this row records, decided at `issued_at`.
    #[must_use]
    pub fn enrolment(&self, issued_at: String) -> Enrolment {
        Enrolment {
            vendor: self.vendor.clone(),
            key: self.key.clone(),
            action: self.action,
            issued_at,
            role: match self.action {
                Action::Enrol => self.role,
                Action::Revoke => KeyRole::Vendor,
            },
        }
    }

    /// Parses a stored row.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a key, action or role that does not parse.
    pub fn from_stored(
        index: u64,
        vendor: String,
        key: &str,
        action: &str,
        role: &str,
    ) -> StoreResult<Self> {
        Ok(Self {
            role: KeyRole::parse(role).ok_or_else(|| {
                StoreError::Corrupt(format!("enrolment {index}: stored role {role:?}"))
            })?,
            index,
            vendor,
            key: VerifierKey::parse(key).map_err(|e| {
                StoreError::Corrupt(format!("enrolment {index}: stored key {key:?}: {e}"))
            })?,
            action: Action::parse(action).ok_or_else(|| {
                StoreError::Corrupt(format!("enrolment {index}: stored action {action:?}"))
            })?,
        })
    }
}

/// One entry of a batch.
#[derive(Debug, Clone)]
pub struct BatchEntry {
    /// canonical entry bytes
    pub data: Vec<u8>,
    /// leaf hash
    pub leaf_hash: Hash,
    /// search terms
    pub terms: Vec<SearchTerm>,
    /// attestation metadata, for attestations
    pub attestation: Option<AttestationMeta>,
    /// enrolment, for enrolment entries
    pub enrolment: Option<EnrolmentRow>,
    /// verification metadata, for verification statements (DESIGN.md §13)
    pub verification: Option<VerificationMeta>,
    /// the entry's statement identity (DESIGN.md §10); `None` only for raw test entries
    pub statement: Option<Hash>,
}

impl BatchEntry {
    /// An entry with no search terms, attestation or enrolment: only bytes and leaf hash.
    #[must_use]
    pub fn plain(data: Vec<u8>) -> Self {
        Self {
            leaf_hash: Hash::leaf(&data),
            data,
            terms: Vec::new(),
            attestation: None,
            enrolment: None,
            verification: None,
            statement: None,
        }
    }
}

/// Everything one sequencer batch writes, in one transaction.
#[derive(Debug, Clone)]
pub struct Batch {
    /// tree size before the batch (compare-and-swap guard)
    pub old_size: u64,
    /// entries, in index order starting at `old_size`
    pub entries: Vec<BatchEntry>,
    /// hash tiles whose content changed: the tile (its width as of the new size) and its
    /// whole data. Tiles only grow: what a store already holds of a tile is a prefix of this
    /// data.
    pub tiles: Vec<(TileId, Vec<u8>)>,
    /// the new signed checkpoint (note bytes)
    pub checkpoint: Vec<u8>,
}

impl Batch {
    /// Tree size after the batch.
    #[must_use]
    pub fn new_size(&self) -> u64 {
        self.old_size + self.entries.len() as u64
    }
}

/// A search query; all given fields must match.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// (kind, lowercase value) pairs
    pub terms: Vec<(SearchKind, String)>,
    /// return entries with index < before (pagination cursor), newest first
    pub before: Option<u64>,
    /// maximum results
    pub limit: u32,
}

/// Most rows of the search index one search reads per term to find its most selective term.
pub const SEARCH_ESTIMATE_ROWS: u64 = 1_000;
/// Most rows one search scans: a page that reaches it before it fills up ends early, with
/// `next` where the scan stopped (the cost of a request is bounded, not its answer's size).
pub const SEARCH_SCAN_ROWS: u64 = 10_000;
/// Time limit of one search on PostgreSQL (`statement_timeout`), in milliseconds.
pub const SEARCH_TIMEOUT_MS: u64 = 2_000;

/// What drives a search's scan, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDriver<'q> {
    /// The versions of one attestation ID (a handful of rows).
    AttestationId(&'q str),
    /// The rows of one term in the search index.
    Term(SearchKind, &'q str),
    /// Every attestation (no terms).
    All,
}

/// One page of search results: attestations, or (`SearchPage<VerificationMeta>`)
/// verifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage<M = AttestationMeta> {
    /// Matching entries, newest first.
    pub hits: Vec<(u64, M)>,
    /// Where the next page starts (`before`), when there may be more.
    pub next: Option<u64>,
}

impl<M> Default for SearchPage<M> {
    fn default() -> Self {
        Self {
            hits: Vec::new(),
            next: None,
        }
    }
}

impl SearchQuery {
    /// The terms whose selectivity decides the plan: none when an attestation ID is given
    /// (it drives), else every term.
    #[must_use]
    pub fn terms_to_estimate(&self) -> Vec<(SearchKind, &str)> {
        if self
            .terms
            .iter()
            .any(|(k, _)| *k == SearchKind::AttestationId)
        {
            return Vec::new();
        }
        self.terms.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The plan: what drives the scan and which terms filter it. An attestation ID drives
    /// when given (a second, different one filters, so nothing matches); otherwise the term
    /// with the fewest rows in the index, given `estimates` (rows counted up to
    /// [`SEARCH_ESTIMATE_ROWS`], in the order of [`SearchQuery::terms_to_estimate`]).
    #[must_use]
    pub fn plan(&self, estimates: &[u64]) -> (SearchDriver<'_>, Vec<(SearchKind, &str)>) {
        let terms: Vec<(SearchKind, &str)> =
            self.terms.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let driver_at = match terms
            .iter()
            .position(|(k, _)| *k == SearchKind::AttestationId)
        {
            Some(i) => Some(i),
            None => estimates
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .map(|(i, _)| i),
        };
        let Some(d) = driver_at.filter(|&i| i < terms.len()) else {
            return (SearchDriver::All, terms);
        };
        let (kind, value) = terms[d];
        let driver = if kind == SearchKind::AttestationId {
            SearchDriver::AttestationId(value)
        } else {
            SearchDriver::Term(kind, value)
        };
        let filters = terms
            .iter()
            .enumerate()
            .filter(|&(i, t)| i != d && *t != (kind, value))
            .map(|(_, t)| *t)
            .collect();
        (driver, filters)
    }
}

/// The page made of scanned rows (newest first, at most [`SEARCH_SCAN_ROWS`]; whether each
/// matched every filter): the first `limit` matches, and where to go on.
pub fn search_page<M>(rows: impl IntoIterator<Item = (u64, bool, M)>, limit: u32) -> SearchPage<M> {
    let mut page = SearchPage::default();
    let (mut scanned, mut last) = (0u64, None);
    for (idx, matched, meta) in rows {
        scanned += 1;
        last = Some(idx);
        if matched {
            page.hits.push((idx, meta));
            if page.hits.len() >= limit as usize {
                page.next = Some(idx);
                return page;
            }
        }
    }
    if scanned >= SEARCH_SCAN_ROWS {
        page.next = last;
    }
    page
}

/// The read part of a store: checkpoints, hash tiles and entries (the static path, proofs,
/// startup checks).
pub trait LogRead {
    /// The most bytes the page caches of the store's read connections may hold together, as
    /// the backend itself reports it (0 where the server holds no such cache, as on
    /// PostgreSQL, whose caches are the database server's).
    fn read_cache_bytes(&self) -> u64 {
        0
    }

    /// The latest stored checkpoint note and its size (None for a new log).
    ///
    /// # Errors
    /// Backend errors.
    fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>>;

    /// Whether some stored checkpoint has a size in `[lo, hi)`.
    ///
    /// # Errors
    /// Backend errors.
    fn checkpoint_in_range(&self, lo: u64, hi: u64) -> StoreResult<bool>;

    /// Stored checkpoints of size < `before`, largest first, at most `limit`: (size, note),
    /// in one query.
    ///
    /// # Errors
    /// Backend errors.
    fn checkpoints_before(&self, before: u64, limit: u64) -> StoreResult<Vec<(u64, Vec<u8>)>>;

    /// The stored checkpoint note of exactly `size`, if any.
    ///
    /// # Errors
    /// Backend errors.
    fn checkpoint_at(&self, size: u64) -> StoreResult<Option<Vec<u8>>>;

    /// Stored checkpoints with `size >= from`, smallest first, at most `limit`: (size, note).
    ///
    /// # Errors
    /// Backend errors.
    fn checkpoints(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>>;

    /// Reads hash tiles as currently stored, by level and index: possibly wider than a
    /// tile's `width` (tiles only grow; callers truncate) or shorter (callers check). Missing
    /// tiles are returned as empty vectors.
    ///
    /// # Errors
    /// Backend errors.
    fn read_tiles(&self, tiles: &[TileId]) -> StoreResult<Vec<Vec<u8>>>;

    /// Reads entries `[start, start + count)`; fewer if they do not exist.
    ///
    /// # Errors
    /// Backend errors.
    fn read_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>>;

    /// Bytes used on disk: (log data, search index).
    ///
    /// # Errors
    /// Backend errors.
    fn disk_usage(&self) -> StoreResult<(u64, u64)>;

    /// How many checkpoint rows the writers added (each batch adds one, counted in its
    /// transaction) and how many are stored, read in one snapshot: fsck compares them to find
    /// a missing checkpoint row anywhere in the log.
    ///
    /// # Errors
    /// Backend errors.
    fn checkpoint_rows(&self) -> StoreResult<CheckpointRows>;
}

/// What [`LogRead::checkpoint_rows`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRows {
    /// The latest stored tree size.
    pub size: u64,
    /// Checkpoint rows the writers added.
    pub written: u64,
    /// Checkpoint rows stored.
    pub stored: u64,
}

/// `meta` key (SQLite) of the count of checkpoint rows written.
pub const CHECKPOINTS_WRITTEN: &str = "checkpoints_written";

/// The index part of a store: dedup, statement and attestation lookups, enrolments and
/// search (admission, the sequencer's rules, `/v1` queries).
pub trait LogIndex {
    /// The index of the entry with this leaf hash.
    ///
    /// # Errors
    /// Backend errors.
    fn lookup_leaf(&self, leaf: &Hash) -> StoreResult<Option<u64>>;

    /// Indexes of the entries with these leaf hashes (one round trip; the sequencer's
    /// per-batch dedup check). Missing hashes are absent from the map.
    ///
    /// # Errors
    /// Backend errors.
    fn lookup_leaves(&self, leaves: &[Hash]) -> StoreResult<HashMap<Hash, u64>>;

    /// Owners (first vendor) of these attestation ids, in one round trip.
    ///
    /// # Errors
    /// Backend errors.
    fn attestation_owners(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>>;

    /// The first index of each of these statements that is stored (one round trip; the
    /// sequencer's per-batch statement dedup). Missing hashes are absent from the map.
    ///
    /// # Errors
    /// Backend errors.
    fn lookup_statements(&self, statements: &[Hash]) -> StoreResult<HashMap<Hash, u64>>;

    /// The first index of a stored statement.
    ///
    /// # Errors
    /// Backend errors.
    fn lookup_statement(&self, statement: &Hash) -> StoreResult<Option<u64>> {
        Ok(self
            .lookup_statements(std::slice::from_ref(statement))?
            .remove(statement))
    }

    /// Every stored version of these attestation ids, in index order, in one round trip.
    ///
    /// # Errors
    /// Backend errors.
    fn attestation_chains(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<Version>>>;

    /// The index from which a rule applies, as the database recorded it ([`Boundary`]).
    ///
    /// # Errors
    /// Backend errors; a database without the record.
    fn boundary(&self, which: Boundary) -> StoreResult<u64>;

    /// The index from which the statement-identity and version-chain rules apply, recorded
    /// when the database was created or migrated ([`CLAIMS_FROM`]).
    ///
    /// # Errors
    /// Backend errors; a database without the record.
    fn claims_from(&self) -> StoreResult<u64> {
        self.boundary(Boundary::Claims)
    }

    /// The index from which every signed statement has a registration policy entry below it,
    /// recorded when the database was created or migrated ([`POLICIES_FROM`]).
    ///
    /// # Errors
    /// Backend errors; a database without the record.
    fn policies_from(&self) -> StoreResult<u64> {
        self.boundary(Boundary::Policies)
    }

    /// The vendor owning an attestation id and the metadata of an entry.
    ///
    /// # Errors
    /// Backend errors.
    fn attestation_owner(&self, attestation_id: &str) -> StoreResult<Option<String>>;

    /// Attestation metadata of the entry at `index`.
    ///
    /// # Errors
    /// Backend errors.
    fn attestation_at(&self, index: u64) -> StoreResult<Option<AttestationMeta>>;

    /// All versions of an attestation id, oldest first: (index, metadata).
    ///
    /// # Errors
    /// Backend errors.
    fn attestation_versions(
        &self,
        attestation_id: &str,
    ) -> StoreResult<Vec<(u64, AttestationMeta)>>;

    /// The enrolment history, in index order.
    ///
    /// # Errors
    /// Backend errors.
    fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>>;

    /// Every stored version of the verifications of these (verifier, subject index) pairs,
    /// in index order, in one round trip, keyed by
    /// [`attestlog_proto::rules::verification_chain_key`].
    ///
    /// # Errors
    /// Backend errors.
    fn verification_chains(
        &self,
        keys: &[(&str, u64)],
    ) -> StoreResult<HashMap<String, Vec<Version>>>;

    /// [`LogIndex::search`] over verifications: the query's terms are all verification
    /// kinds ([`SearchKind::of_verifications`]), with the same plan and bounds.
    ///
    /// # Errors
    /// Backend errors.
    fn search_verifications(&self, q: &SearchQuery) -> StoreResult<SearchPage<VerificationMeta>>;

    /// One page of entries matching a query, newest first, at a bounded cost: the most
    /// selective term drives the scan ([`SearchQuery::plan`]), which reads at most
    /// [`SEARCH_SCAN_ROWS`] rows ([`search_page`]).
    ///
    /// # Errors
    /// Backend errors.
    fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage>;
}

/// The write part of a store: only the sequencer (or the replica holding the lease) writes.
pub trait LogWrite {
    /// Writes a batch atomically, if the stored size is still `batch.old_size`.
    ///
    /// # Errors
    /// [`StoreError::SizeConflict`] or backend errors; on error nothing is written.
    fn commit_batch(&self, batch: &Batch) -> StoreResult<()>;

    /// Replaces the note of an already stored checkpoint of `size` (the same signed body
    /// with witness cosignatures added). Readers see either the old or the new note.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when no checkpoint of `size` is stored; backend errors.
    fn set_checkpoint_note(&self, size: u64, note: &[u8]) -> StoreResult<()>;

    /// The halt recorded in a database that several replicas share (PostgreSQL; DESIGN.md
    /// §9), if one is. A store whose database lives in one server's data directory (SQLite)
    /// records none: the data directory's `halted` file is the record.
    ///
    /// # Errors
    /// Backend errors.
    fn recorded_halt(&self) -> StoreResult<Option<RecordedHalt>> {
        Ok(None)
    }

    /// Records a halt in a shared database, atomically with respect to batches: a batch
    /// either committed before it or is refused ([`StoreError::Halted`]). The first halt
    /// recorded stays. A store of one server (SQLite) records nothing here.
    ///
    /// # Errors
    /// Backend errors.
    fn record_halt(&self, halt: &RecordedHalt) -> StoreResult<()> {
        let _ = halt;
        Ok(())
    }

    /// Removes the halt recorded in a shared database (`attestlog-server clear-halt`);
    /// returns it, None when there was none.
    ///
    /// # Errors
    /// Backend errors.
    fn clear_halt(&self) -> StoreResult<Option<RecordedHalt>> {
        Ok(None)
    }
}

/// A halt recorded in a database that replicas share (DESIGN.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedHalt {
    /// The conflict, as the replica that found it worded it.
    pub why: String,
    /// The checkpoint that replica had published (its signed note; empty when it had
    /// published none): what a replica without a published-checkpoint file of its own serves
    /// while halted.
    pub published: Vec<u8>,
}

/// The persistent state of a log: its read, index and write parts.
pub trait LogStore: LogRead + LogIndex + LogWrite + Send + Sync + 'static {}

/// A store prints as its kind only (the structs that borrow one derive `Debug`).
impl std::fmt::Debug for dyn LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogStore")
    }
}

impl<T: LogRead + LogIndex + LogWrite + Send + Sync + 'static> LogStore for T {}

/// A consistent online copy of a live store, offered only by backends that can take one
/// (SQLite's backup API; a PostgreSQL log is copied with `pg_dump`).
pub trait Backup {
    /// Writes a consistent online copy of the store to `dest`.
    ///
    /// # Errors
    /// Backend or file errors.
    fn backup(&self, dest: &std::path::Path) -> StoreResult<()>;
}

/// What the migration to the statement index derives from a stored entry.
#[derive(Debug, Default)]
pub(crate) struct StoredClaim {
    /// Statement identity (entries of a payload type the log accepts, with a JSON payload).
    pub statement: Option<Hash>,
    /// `predicate.issued_at` of an attestation.
    pub issued_at: Option<String>,
}

/// Reads the statement identity and `issued_at` of a stored entry (migrations only: new
/// entries carry both from admission).
pub(crate) fn stored_claim(data: &[u8]) -> StoredClaim {
    let Ok(env) = attestlog_proto::dsse::Envelope::from_json(data) else {
        return StoredClaim::default();
    };
    let issued_at = (env.payload_type == attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO)
        .then(|| serde_json::from_slice::<serde_json::Value>(&env.payload).ok())
        .flatten()
        .and_then(|v| {
            v.pointer("/predicate/issued_at")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        });
    StoredClaim {
        statement: attestlog_proto::rules::envelope_statement_hash(&env),
        issued_at,
    }
}

/// The role an enrolment entry's bytes log (migrations only: new rows carry it from
/// admission); `None` for bytes that are not an enrolment entry.
pub(crate) fn stored_role(data: &[u8]) -> Option<KeyRole> {
    let env = attestlog_proto::dsse::Envelope::from_json(data).ok()?;
    (env.payload_type == attestlog_proto::enrolment::PAYLOAD_TYPE_ENROLMENT)
        .then(|| Enrolment::parse(&env.payload).ok())
        .flatten()
        .map(|e| e.role)
}

/// What a verification's subject is in the log, read from storage: the subject facts the
/// rule engine checks ([`attestlog_proto::rules::check_subject`]), `None` when the entry at
/// `index` is not an attestation.
///
/// # Errors
/// Backend errors.
pub fn subject_facts<S: LogRead + LogIndex + ?Sized>(
    store: &S,
    index: u64,
) -> StoreResult<Option<attestlog_proto::rules::SubjectFacts>> {
    let Some(meta) = store.attestation_at(index)? else {
        return Ok(None);
    };
    let Some(data) = store.read_entries(index, 1)?.pop() else {
        return Err(StoreError::Corrupt(format!(
            "attestation {index} has metadata but no entry"
        )));
    };
    Ok(Some(attestlog_proto::rules::SubjectFacts {
        leaf_hash: Hash::leaf(&data),
        entry_sha256: Hash::sha256(&data),
        attestation_id: Some(meta.attestation_id),
        data_flows: attestlog_proto::rules::SubjectFacts::data_flows_of_entry(&data),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(terms: &[(SearchKind, &str)]) -> SearchQuery {
        SearchQuery {
            terms: terms.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            before: None,
            limit: 10,
        }
    }

    #[test]
    fn the_most_selective_term_drives_the_scan() {
        use SearchKind::*;
        let q = query(&[(Country, "de"), (Vendor, "v"), (Category, "telemetry")]);
        assert_eq!(q.terms_to_estimate().len(), 3);
        let (driver, filters) = q.plan(&[1000, 3, 1000]);
        assert_eq!(driver, SearchDriver::Term(Vendor, "v"));
        assert_eq!(filters, vec![(Country, "de"), (Category, "telemetry")]);
        // The same query in another order makes the same plan.
        let q2 = query(&[(Vendor, "v"), (Category, "telemetry"), (Country, "de")]);
        assert_eq!(q2.plan(&[3, 1000, 1000]).0, SearchDriver::Term(Vendor, "v"));
        // An attestation ID always drives; a second, different one filters.
        let q = query(&[(Country, "de"), (AttestationId, "a"), (AttestationId, "b")]);
        assert!(q.terms_to_estimate().is_empty());
        let (driver, filters) = q.plan(&[]);
        assert_eq!(driver, SearchDriver::AttestationId("a"));
        assert_eq!(filters, vec![(Country, "de"), (AttestationId, "b")]);
        // A repeated term is not also a filter; no terms scans every attestation.
        let q = query(&[(Vendor, "v"), (Vendor, "v")]);
        assert_eq!(q.plan(&[5, 5]), (SearchDriver::Term(Vendor, "v"), vec![]));
        assert_eq!(query(&[]).plan(&[]), (SearchDriver::All, vec![]));
        assert_eq!(SearchKind::parse("country"), Some(Country));
        assert!(
            SearchKind::ALL
                .iter()
                .all(|k| SearchKind::parse(k.as_str()) == Some(*k))
        );
        assert_eq!(SearchKind::parse("Country"), None);
    }

    #[test]
    fn a_page_ends_at_its_limit_or_where_the_bounded_scan_stopped() {
        let meta = AttestationMeta {
            attestation_id: String::new(),
            vendor: String::new(),
            product: String::new(),
            status: String::new(),
            valid_until: String::new(),
            supersedes: None,
            issued_at: String::new(),
        };
        let rows = |n: u64, every: u64| {
            (0..n)
                .map(|i| (1_000_000 - i, i % every == 0, meta.clone()))
                .collect::<Vec<_>>()
        };
        // Full page: next is the last hit.
        let p = search_page(rows(100, 2), 10);
        assert_eq!(p.hits.len(), 10);
        assert_eq!(p.next, Some(p.hits[9].0));
        // Scan exhausted below the cap: no next.
        let p = search_page(rows(100, 2), 500);
        assert_eq!((p.hits.len(), p.next), (50, None));
        // Scan cap reached with few matches: next is where the scan stopped.
        let p = search_page(rows(SEARCH_SCAN_ROWS, 5_000), 10);
        assert_eq!(p.hits.len(), 2);
        assert_eq!(p.next, Some(1_000_000 - (SEARCH_SCAN_ROWS - 1)));
    }
}
