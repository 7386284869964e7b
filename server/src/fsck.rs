//! `attestlog-server fsck`: re-derives the log from its stored entries alone and compares
//! (DESIGN.md §9), online, on either backend.
//!
//! For the latest stored checkpoint at the start (the log may grow meanwhile; what is checked
//! is that tree):
//! - every entry's admission decision, in index order, from the entries alone: signatures,
//!   enrolment (the enrolment history is rebuilt from the enrolment entries), attestation-id
//!   ownership and the version chain (`supersedes`), no entry twice;
//! - every hash tile, rebuilt with [`attestlog_proto::integrate`] from the entries' leaf
//!   hashes, equals the stored tile;
//! - every stored checkpoint verifies under the log keys and its root is the root of the
//!   rebuilt tree at its size, so all of them are mutually consistent;
//! - with a witness policy, every cosignature a stored checkpoint carries by a policy witness
//!   verifies (a checkpoint claimed as witnessed by a cosignature that does not verify);
//! - nothing is stored beyond the latest checkpoint, and as many checkpoint rows are stored as
//!   the writers added (a missing checkpoint row, the latest or one in the middle); the
//!   published-checkpoint file names a stored checkpoint.
//!
//! The first problem ends the run. `--from N` starts the tile and checkpoint comparison at
//! entry N (the tree below N is taken from the stored tiles); admission is still decided for
//! every entry from 0 (the rules need the whole history).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::integrate::{Edge, integrate};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::rules::Ledger;
use attestlog_proto::tiles::TileId;
use serde::Serialize;

use crate::storage::{LogStore, StoreError};

/// Entries read per round trip.
const PAGE: u64 = 256;

/// fsck errors (not findings: a finding is a [`Problem`] in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// Storage could not be read.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

/// The first problem found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `entry`, `admission`, `tile`, `checkpoint`, `cosignature`, `published` or `storage`.
    pub kind: &'static str,
    /// The entry index or tree size it is about, when there is one.
    pub at: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} {at}: {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

/// What fsck checked and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether no problem was found.
    pub ok: bool,
    /// The tree size checked (the latest stored checkpoint at the start).
    pub tree_size: u64,
    /// First entry whose tiles and checkpoints were compared.
    pub from: u64,
    /// Entries whose admission decision was re-derived.
    pub entries: u64,
    /// Stored checkpoints verified.
    pub checkpoints: u64,
    /// Hash tiles compared.
    pub tiles: u64,
    /// The first problem.
    pub problem: Option<Problem>,
}

/// The admission state rebuilt from the entries: the rule engine's [`Ledger`] (enrolments,
/// statement identities, version chains) and every leaf seen.
#[derive(Debug)]
pub struct Rules {
    ledger: Ledger,
    leaves: HashSet<Hash>,
}

impl Rules {
    /// Empty history; the claim rules apply from `claims_from` (DESIGN.md §10), and every
    /// signed statement from `policies_from` on has a registration policy entry below it
    /// (DESIGN.md §12).
    #[must_use]
    pub fn new(claims_from: u64, policies_from: u64) -> Self {
        Self {
            ledger: Ledger::new(claims_from).with_policies_from(policies_from),
            leaves: HashSet::new(),
        }
    }
}

/// The admission decision for the entry at `index`, given every entry below it (in `rules`),
/// and the rule state updated with it. The one place fsck decides admission: it calls the
/// protocol crate's rule engine ([`Ledger::append`]: signatures, enrolment, statement
/// identity, ownership and the version chain), as the server and the monitor do.
///
/// # Errors
/// Why the entry would not have been admitted at `index`.
pub fn admission_decision(
    rules: &mut Rules,
    index: u64,
    bytes: &[u8],
    log_keys: &[VerifierKey],
) -> Result<(), String> {
    if !rules.leaves.insert(Hash::leaf(bytes)) {
        return Err("the same entry is logged twice".into());
    }
    // Either entry format (a canonical DSSE envelope or a SCITT signed statement) goes through
    // the one rule engine; enrolments are signed by the log key of their time.
    rules
        .ledger
        .append_bytes_any_key(index, bytes, log_keys)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Runs fsck on `store` with the log's keys (current first) and the witness keys of its
/// policy (none without one). `progress(done, total)` is called as entries are checked.
///
/// # Errors
/// Storage that cannot be read (a finding is reported in the [`Report`], not as an error).
pub fn run(
    store: &dyn LogStore,
    keys: &[VerifierKey],
    witnesses: &[VerifierKey],
    data_dir: &Path,
    from: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, FsckError> {
    let (size, note) = store.latest_checkpoint()?.unwrap_or((0, Vec::new()));
    let from = from.min(size);
    let mut report = Report {
        ok: true,
        tree_size: size,
        from,
        entries: 0,
        checkpoints: 0,
        tiles: 0,
        problem: None,
    };
    let finding = |mut r: Report, kind, at, message: String| {
        r.ok = false;
        r.problem = Some(Problem { kind, at, message });
        Ok(r)
    };
    if !note.is_empty()
        && let Err(e) = SignedCheckpoint::open(&note, keys)
    {
        return finding(
            report,
            "checkpoint",
            Some(size),
            format!("the latest checkpoint does not verify: {e}"),
        );
    }
    let beyond = store.read_entries(size, 1)?;
    if !beyond.is_empty() {
        return finding(
            report,
            "checkpoint",
            Some(size),
            format!(
                "entry {size} is stored beyond the latest checkpoint of size {size}: a \
                 checkpoint row is missing"
            ),
        );
    }
    let rows = store.checkpoint_rows()?;
    if rows.stored != rows.written {
        return finding(
            report,
            "checkpoint",
            Some(rows.size),
            format!(
                "{} checkpoint rows were written up to size {}, but {} are stored: {}",
                rows.written,
                rows.size,
                rows.stored,
                if rows.stored < rows.written {
                    "a checkpoint row is missing"
                } else {
                    "a checkpoint row was added outside the sequencer"
                }
            ),
        );
    }
    let mut rules = Rules::new(store.claims_from()?, store.policies_from()?);
    // Admission is decided from entry 0 (the rules need the whole history); tiles and
    // checkpoints are compared from `from`.
    let mut start = 0;
    while start < from {
        let page = store.read_entries(start, PAGE.min(from - start))?;
        if page.is_empty() {
            return finding(
                report,
                "entry",
                Some(start),
                "missing: the checkpoint covers it but storage does not hold it".into(),
            );
        }
        for (k, bytes) in page.iter().enumerate() {
            let i = start + k as u64;
            if let Err(why) = admission_decision(&mut rules, i, bytes, keys) {
                return finding(report, "admission", Some(i), why);
            }
            report.entries += 1;
        }
        start += page.len() as u64;
    }
    let mut edge = match Edge::from_tiles(from, |k| store.read_tiles(k))? {
        Ok(e) => e,
        Err(e) => return finding(report, "tile", Some(from), e.to_string()),
    };
    // Stored checkpoints at or above `from`, in size order.
    let mut checkpoints: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut next_cp = from;
    let mut cp_at = 0usize;
    let mut index = from;
    let refill = |checkpoints: &mut Vec<(u64, Vec<u8>)>,
                  cp_at: &mut usize,
                  next_cp: &mut u64|
     -> Result<(), FsckError> {
        if *cp_at == checkpoints.len() && *next_cp <= size {
            *checkpoints = store.checkpoints(*next_cp, 1000)?;
            checkpoints.retain(|(s, _)| *s <= size);
            *cp_at = 0;
            *next_cp = checkpoints.last().map_or(size + 1, |(s, _)| s + 1);
        }
        Ok(())
    };
    while index < size || next_cp <= size {
        refill(&mut checkpoints, &mut cp_at, &mut next_cp)?;
        // Checkpoints at the current size.
        while let Some((s, n)) = checkpoints.get(cp_at).filter(|(s, _)| *s == index) {
            match SignedCheckpoint::open(n, keys) {
                Ok(cp) if cp.checkpoint().size != *s => {
                    return finding(
                        report,
                        "checkpoint",
                        Some(*s),
                        format!("stored as size {s} but signs size {}", cp.checkpoint().size),
                    );
                }
                Ok(cp) if !cp.checkpoint().root.ct_eq(&edge.root()) => {
                    return finding(
                        report,
                        "checkpoint",
                        Some(*s),
                        format!(
                            "root {} is not the root {} of the stored entries",
                            cp.checkpoint().root.to_base64(),
                            edge.root().to_base64()
                        ),
                    );
                }
                Ok(cp) => {
                    if let Err(e) = cp.verify_cosignatures(witnesses) {
                        return finding(
                            report,
                            "cosignature",
                            Some(*s),
                            format!("a witness cosignature does not verify: {e}"),
                        );
                    }
                    report.checkpoints += 1;
                }
                Err(e) => {
                    return finding(
                        report,
                        "checkpoint",
                        Some(*s),
                        format!("does not verify: {e}"),
                    );
                }
            }
            cp_at += 1;
        }
        // The next checkpoint bounds this step: the page may have run out.
        refill(&mut checkpoints, &mut cp_at, &mut next_cp)?;
        if index >= size {
            break;
        }
        // Entries up to the next checkpoint or page boundary.
        let stop = checkpoints
            .get(cp_at)
            .map_or(size, |(s, _)| *s)
            .min((index / PAGE + 1) * PAGE)
            .min(size);
        let entries = store.read_entries(index, stop - index)?;
        if entries.len() as u64 != stop - index {
            return finding(
                report,
                "entry",
                Some(index + entries.len() as u64),
                "missing: the checkpoint covers it but storage does not hold it".into(),
            );
        }
        let mut leaves = Vec::with_capacity(entries.len());
        for (k, bytes) in entries.iter().enumerate() {
            let i = index + k as u64;
            if let Err(why) = admission_decision(&mut rules, i, bytes, keys) {
                return finding(report, "admission", Some(i), why);
            }
            leaves.push(Hash::leaf(bytes));
            report.entries += 1;
        }
        let (next, changed) = integrate(&edge, &leaves);
        // Compare the tiles as of `stop` with what is stored (stored tiles may be longer).
        let latest: BTreeMap<TileId, Vec<u8>> = changed.into_iter().collect();
        let keys_: Vec<TileId> = latest.keys().copied().collect();
        let stored = store.read_tiles(&keys_)?;
        for ((t, want), got) in latest.iter().zip(&stored) {
            let (l, i) = (t.level, t.index);
            report.tiles += 1;
            if got.len() < want.len() || got[..want.len()] != want[..] {
                let hash = want
                    .chunks(32)
                    .zip(got.chunks(32))
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len() / 32);
                return finding(
                    report,
                    "tile",
                    Some(stop),
                    format!(
                        "tile {l}/{i} hash {hash} is not the one the stored entries give \
                         (stored {} bytes, rebuilt {})",
                        got.len(),
                        want.len()
                    ),
                );
            }
        }
        edge = next;
        index = stop;
        progress(index - from, size - from);
    }
    // The published-checkpoint file names a stored checkpoint of this log.
    match crate::publication::published_file(data_dir, keys) {
        Ok(Some(p)) if p.size <= size => {
            let stored = store.checkpoint_at(p.size)?;
            let same = stored
                .as_deref()
                .and_then(|n| SignedCheckpoint::open(n, keys).ok())
                .is_some_and(|c| c.checkpoint().root.ct_eq(&p.root));
            if !same {
                return finding(
                    report,
                    "published",
                    Some(p.size),
                    "the published-checkpoint file names a checkpoint storage does not hold".into(),
                );
            }
        }
        Ok(Some(p)) => {
            return finding(
                report,
                "published",
                Some(p.size),
                format!("the published-checkpoint file is ahead of storage (size {size})"),
            );
        }
        Ok(None) => {}
        Err(e) => return finding(report, "published", None, e.to_string()),
    }
    Ok(report)
}

/// The log's verifier keys from its key files (current first), without creating anything.
///
/// # Errors
/// A missing or malformed key file.
pub fn log_keys(config: &crate::config::Config) -> anyhow::Result<Vec<VerifierKey>> {
    let path = config
        .key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(crate::signer::KEY_FILE));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the log key {}: {e}", path.display()))?;
    let key = attestlog_proto::keys::SignerKey::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("invalid log key {}: {e}", path.display()))?;
    Ok(
        crate::signer::rotation_signers(&key, &config.previous_key_files)?
            .iter()
            .map(attestlog_proto::keys::SignerKey::verifier)
            .collect(),
    )
}

/// The witness keys of the configured witness policy (none without one).
///
/// # Errors
/// An unreadable or malformed policy file.
pub fn witness_keys(config: &crate::config::Config) -> anyhow::Result<Vec<VerifierKey>> {
    let Some(path) = &config.witness_policy else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the witness policy {}: {e}", path.display()))?;
    let policy = attestlog_proto::policy::Policy::parse(&text)
        .map_err(|e| anyhow::anyhow!("invalid witness policy {}: {e}", path.display()))?;
    Ok(policy.witness_keys())
}

/// Opens the configured store (SQLite or PostgreSQL) for fsck.
///
/// # Errors
/// An unusable database.
pub fn open_store(config: &crate::config::Config) -> anyhow::Result<Box<dyn LogStore>> {
    if let Some(url) = config
        .database
        .as_deref()
        .filter(|u| crate::storage::postgres::is_postgres_url(u))
    {
        return Ok(Box::new(crate::storage::postgres::PostgresStore::connect(
            url,
        )?));
    }
    let db = config
        .sqlite_path()
        .ok_or_else(|| anyhow::anyhow!("unsupported database URL"))?;
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    Ok(Box::new(crate::storage::sqlite::SqliteStore::open(&db)?))
}
