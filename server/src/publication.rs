//! Publication and the rollback guard (DESIGN.md §2, §9): the log never signs two different
//! checkpoints for one size, never publishes a checkpoint smaller than one it published, and
//! never publishes one it has not proven consistent with the last one it published.
//!
//! Everything that makes a checkpoint visible goes through here:
//! - [`check_storage`] runs where sequencing starts (start, taking the PostgreSQL lease, after
//!   a storage error): the latest stored checkpoint verifies under the log keys, its root is
//!   the root of the right edge rebuilt from the stored tiles (a short or missing tile is an
//!   error), and storage extends every checkpoint this process published and the
//!   `published-checkpoint` file (a consistency proof computed from storage, verified);
//! - `Shared::publish` publishes a checkpoint only after a consistency proof from the last
//!   published one, computed from storage, verified;
//! - [`cosign`] and [`on_start`] ask the witnesses through the [`Cosigner`] interface; an
//!   answer showing a conflict (a larger cosigned tree, the same size with another root, a
//!   refused proof) is a failed check.
//!
//! A failed check halts sequencing (`Shared::fail`): what was published stays served,
//! submissions get 503, `/readyz` reports not ready, one error names both checkpoints and
//! `attestlog_guard_failures_total` counts it (`attestlog_sequencing_halted` is 1). Nothing
//! repairs itself. A failure that may pass (storage damage found by a check, the
//! published-checkpoint file that could not be written, a dead sequencer thread) is cleared
//! only by a later full [`check_storage`] that passes (a replica taking the lease again, a
//! restart). A conflict with a published checkpoint ([`GuardError::is_conflict`]: storage
//! behind or beside what was published, a witness that cosigned another history) is never
//! cleared in the process: a later check could pass only because the evidence went away (a
//! witness unreachable, the published checkpoint forgotten), so the replica refuses the lease
//! until the operator restarts it after investigating (deploy/README.md). Such a conflict is
//! recorded (`record_halt`) in the data directory and, on PostgreSQL, in the database the
//! replicas share, so that it halts every replica and every later start (`recorded_halt`)
//! until `attestlog-server clear-halt` ([`clear_recorded_halt`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::integrate::Edge;
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::note::{Note, NoteSignature};
use attestlog_proto::policy::Policy;

use crate::rules::Enrolments;
use crate::storage::{LogStore, StoreError};

/// A published (committed and signed) checkpoint.
#[derive(Debug, Clone)]
pub struct Published {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed checkpoint note.
    pub note: Vec<u8>,
}

impl Published {
    fn summary(&self) -> Summary {
        Summary {
            size: self.size,
            root: self.root,
        }
    }
}

/// A checkpoint named in an error: size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(size {}, root {})", self.size, self.root.to_base64())
    }
}

/// Why a check of DESIGN.md §9 failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GuardError {
    /// Storage could not be read: nothing is known to be wrong; the check runs again.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    /// The latest stored checkpoint is not signed by the log.
    #[error("the stored checkpoint of size {size} does not verify under the log's keys: {why}")]
    Unverified {
        /// stored size
        size: u64,
        /// verification error
        why: String,
    },
    /// The stored tiles do not hold the stored checkpoint's tree.
    #[error(
        "the stored checkpoint {stored} does not match the stored tiles: {why}; \
         storage is damaged"
    )]
    Tiles {
        /// the latest stored checkpoint
        stored: Summary,
        /// what is wrong
        why: String,
    },
    /// Storage is behind a published checkpoint.
    #[error(
        "storage holds checkpoint {stored}, behind checkpoint {published} published by {by}; \
         storage went back in time (a restored backup?) and signing from it would fork the log"
    )]
    Behind {
        /// the latest stored checkpoint
        stored: Summary,
        /// the published one
        published: Summary,
        /// who published it
        by: &'static str,
    },
    /// Storage holds another history than a published checkpoint.
    #[error(
        "storage holds checkpoint {stored}, which does not extend checkpoint {published} \
         published by {by} ({why}); storage holds another history"
    )]
    Diverged {
        /// the latest stored checkpoint
        stored: Summary,
        /// the published one
        published: Summary,
        /// who published it
        by: &'static str,
        /// what failed
        why: Box<str>,
    },
    /// A witness answered with a conflict.
    #[error("witness {witness} refuses checkpoint {stored}: {answer}")]
    Witness {
        /// policy name of the witness
        witness: String,
        /// the checkpoint shown
        stored: Summary,
        /// its answer
        answer: String,
    },
    /// The published-checkpoint files are unreadable, damaged or not this log's.
    #[error("the published-checkpoint files: {0}")]
    File(String),
}

impl GuardError {
    /// Whether the error shows that the log's history is at risk (every variant but
    /// [`GuardError::Unavailable`]): sequencing halts.
    #[must_use]
    pub fn is_violation(&self) -> bool {
        !matches!(self, GuardError::Unavailable(_))
    }

    /// Whether the error is a conflict with a published checkpoint (storage behind it or
    /// holding another history, a witness that cosigned another tree): the failure it causes
    /// never clears in the process.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            GuardError::Behind { .. } | GuardError::Diverged { .. } | GuardError::Witness { .. }
        )
    }
}

/// Why sequencing halted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    why: String,
    /// A conflict with a published checkpoint: never cleared in the process.
    conflict: bool,
}

fn unavailable(e: &StoreError) -> GuardError {
    GuardError::Unavailable(e.to_string())
}

/// Why `Shared::publish` did not publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// A check failed.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Writing the published-checkpoint file failed.
    #[error("cannot write the published-checkpoint file: {0}")]
    File(#[from] std::io::Error),
}

/// What `Shared::publish` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Readers now see the offered checkpoint.
    Published,
    /// The same checkpoint (size and root) is already published with as many signatures.
    AlreadyPublished,
    /// A larger checkpoint is already published: the offered one is not newer.
    Older,
}

/// State shared between the sequencer and the read path.
#[derive(Debug)]
pub struct Shared {
    /// The latest published checkpoint.
    pub published: RwLock<Arc<Published>>,
    /// The enrolment history as of the latest published checkpoint.
    pub enrolments: RwLock<Arc<Enrolments>>,
    /// Why the log stopped sequencing, if it did (readiness reports it).
    failure: RwLock<Option<Failure>>,
    /// Serialises `Shared::publish`: the sequencer and a replica's refresh both publish.
    publishing: Mutex<()>,
    /// Where a conflict is recorded so that it outlives the process and halts every replica
    /// ([`record_halt`]); set once the log has started (a conflict found by the checks at
    /// start refuses the start, and every start checks again).
    halt_record: std::sync::OnceLock<HaltRecord>,
    /// Test fault: the sequencer thread panics at its next submission.
    #[cfg(test)]
    pub(crate) die: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Nothing published yet (the sequencer or a replica publishes the first checkpoint).
    pub(crate) fn empty() -> Self {
        Self::new(
            Published {
                size: 0,
                root: Hash::EMPTY_ROOT,
                note: Vec::new(),
            },
            Enrolments::default(),
        )
    }

    /// Readers see `published` with `enrolments` (the state as of it).
    pub(crate) fn new(published: Published, enrolments: Enrolments) -> Self {
        Self {
            published: RwLock::new(Arc::new(published)),
            enrolments: RwLock::new(Arc::new(enrolments)),
            failure: RwLock::new(None),
            publishing: Mutex::new(()),
            halt_record: std::sync::OnceLock::new(),
            #[cfg(test)]
            die: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Publishes `p` (with `enrolments`, the state as of `p`, when they changed) unless what
    /// is published is at least as new: a larger tree, or the same tree with as many
    /// signatures. A larger tree is published only after a consistency proof from the
    /// published one, computed from `store`, verifies (`store` None: the caller proved it);
    /// the same size with another root is a conflict. The published-checkpoint file is
    /// written first (the rollback guard must know every checkpoint a reader saw), then
    /// readers switch. Publication never goes backwards, whoever calls.
    ///
    /// # Errors
    /// A failed check, or writing the file; nothing is published then.
    pub(crate) fn publish(
        &self,
        store: Option<&dyn LogStore>,
        data_dir: &Path,
        p: Arc<Published>,
        enrolments: Option<Arc<Enrolments>>,
    ) -> Result<PublishOutcome, PublishError> {
        let _g = self
            .publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.published();
        if p.size < current.size {
            return Ok(PublishOutcome::Older);
        }
        let known = !current.note.is_empty();
        if known && p.size == current.size && !p.root.ct_eq(&current.root) {
            return Err(GuardError::Diverged {
                stored: p.summary(),
                published: current.summary(),
                by: "this process",
                why: "the same size with another root".into(),
            }
            .into());
        }
        if p.size == current.size && signature_lines(&p.note) <= signature_lines(&current.note) {
            return Ok(PublishOutcome::AlreadyPublished);
        }
        if known
            && p.size > current.size
            && let Some(store) = store
        {
            check_extends(store, &current.summary(), &p.summary(), "this process")?;
        }
        crate::signer::write_published(data_dir, &p.note)?;
        if let Some(e) = enrolments
            && let Ok(mut g) = self.enrolments.write()
        {
            *g = e;
        }
        if let Ok(mut g) = self.published.write() {
            *g = p;
        }
        Ok(PublishOutcome::Published)
    }

    /// From now on a conflict is also recorded in `data_dir` ([`crate::signer::HALTED_FILE`])
    /// and in `store` when replicas share it ([`crate::storage::LogWrite::record_halt`]): the log stays halted
    /// across restarts, on every replica, until the operator clears it.
    pub(crate) fn record_conflicts_in(&self, data_dir: &Path, store: Arc<dyn LogStore>) {
        let _ = self.halt_record.set(HaltRecord {
            dir: data_dir.to_owned(),
            store,
        });
    }

    /// The latest published checkpoint.
    #[must_use]
    pub fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
    }

    /// Why sequencing stopped, if it did.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.failure
            .read()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f.why.clone()))
    }

    /// The conflict with a published checkpoint that halted sequencing, if one did: it never
    /// clears in the process.
    #[must_use]
    pub fn conflict(&self) -> Option<String> {
        self.failure
            .read()
            .ok()
            .and_then(|f| f.as_ref().filter(|f| f.conflict).map(|f| f.why.clone()))
    }

    /// Halts sequencing for a failure a later full check may clear ([`Self::clear_failure`]).
    pub(crate) fn fail(&self, why: &str) {
        self.set_failure(why, false, false);
    }

    /// Halts sequencing for a failed check: a conflict ([`GuardError::is_conflict`]) for good,
    /// recorded ([`record_halt`]) before anything else is done.
    pub(crate) fn fail_check(&self, e: &GuardError) {
        self.set_failure(&e.to_string(), e.is_conflict(), e.is_conflict());
    }

    /// Halts sequencing for good because a halt is recorded ([`recorded_halt`]'s words): by
    /// this process at an earlier start, or by another replica in the shared database. Not
    /// recorded again (clearing the database's record clears it for every replica).
    pub(crate) fn halt_as_recorded(&self, why: &str) {
        self.set_failure(why, true, false);
    }

    /// One error log (not repeated while the reason stays the same), the metrics, and the
    /// flag readiness and submissions see; a conflict found here (`record`) is recorded first.
    /// A conflict is never replaced by a lesser failure.
    fn set_failure(&self, why: &str, conflict: bool, record: bool) {
        let Ok(mut f) = self.failure.write() else {
            return;
        };
        if let Some(old) = f.as_ref()
            && (old.why == why || (old.conflict && !conflict))
        {
            return;
        }
        tracing::error!(reason = %why, conflict,
            "sequencing halted: serving what was published, refusing submissions; \
             see deploy/README.md (when the rollback guard trips)");
        metrics::counter!("attestlog_guard_failures_total").increment(1);
        metrics::gauge!("attestlog_sequencing_halted").set(1.0);
        if record && let Some(r) = self.halt_record.get() {
            record_halt(&r.dir, r.store.as_ref(), why, &self.published().note);
        }
        *f = Some(Failure {
            why: why.to_owned(),
            conflict,
        });
    }

    /// Clears the flag after a full [`check_storage`] passed (a replica taking the lease),
    /// unless it is a conflict. Returns whether sequencing may resume.
    pub(crate) fn clear_failure(&self) -> bool {
        let Ok(mut f) = self.failure.write() else {
            return false;
        };
        match f.as_ref() {
            None => true,
            Some(old) if old.conflict => false,
            Some(old) => {
                tracing::warn!(previous = %old.why, "storage checks pass again: sequencing resumes");
                metrics::gauge!("attestlog_sequencing_halted").set(0.0);
                *f = None;
                true
            }
        }
    }

    /// The current enrolment state.
    #[must_use]
    pub fn enrolments(&self) -> Arc<Enrolments> {
        self.enrolments
            .read()
            .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
    }
}

/// How many signatures a signed note carries (its own and cosignatures).
fn signature_lines(note: &[u8]) -> usize {
    Note::parse(note).map_or(0, |n| n.signatures().len())
}

/// The stored tree after [`check_storage`] passed.
#[derive(Debug, Clone)]
pub struct Head {
    /// The latest stored checkpoint.
    pub published: Published,
    /// Its right edge, rebuilt from the stored tiles.
    pub edge: Edge,
}

/// Rebuilds the right edge of the stored tree of `size` from its partial tiles.
///
/// # Errors
/// [`GuardError::Unavailable`] when storage cannot be read; a short, missing or ragged tile
/// as `Err(Ok(message))`.
pub fn load_edge(store: &dyn LogStore, size: u64) -> Result<Result<Edge, String>, GuardError> {
    let r = Edge::from_tiles(size, |keys| store.read_tiles(keys));
    match r {
        Ok(Ok(e)) => Ok(Ok(e)),
        Ok(Err(e)) => Ok(Err(e.to_string())),
        Err(StoreError::Backend(m)) => Err(GuardError::Unavailable(m)),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// The published checkpoint in storage, verified with the log key: (published, enrolments).
pub(crate) fn verified_published(
    keys: &[VerifierKey],
    size: u64,
    note: Vec<u8>,
    rows: &[crate::storage::EnrolmentRow],
) -> anyhow::Result<(Published, Enrolments)> {
    let cp = SignedCheckpoint::open(&note, keys).map_err(|e| {
        anyhow::anyhow!(
            "the stored checkpoint of size {size} does not verify with this server's log key \
             ({e}); on PostgreSQL every replica must use the same key file"
        )
    })?;
    let cp = cp.checkpoint();
    anyhow::ensure!(
        cp.size == size,
        "checkpoint of size {} stored as size {size}",
        cp.size
    );
    let rows: Vec<crate::storage::EnrolmentRow> =
        rows.iter().filter(|r| r.index < size).cloned().collect();
    Ok((
        Published {
            size,
            root: cp.root,
            note,
        },
        crate::rules::enrolments_from_rows(&rows)?,
    ))
}

/// Where [`Shared`] records a conflict: the data directory, and the store when replicas
/// share it.
struct HaltRecord {
    dir: std::path::PathBuf,
    store: Arc<dyn LogStore>,
}

impl std::fmt::Debug for HaltRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaltRecord")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Records a conflict with a published checkpoint (DESIGN.md §9), `published` being the
/// checkpoint this server serves: first in the database the replicas share (one transaction,
/// under the tree head's lock, so no replica commits a batch after it), then in
/// `<data-dir>/halted` (written atomically). A record that cannot be written is logged: the
/// process stays halted either way.
pub(crate) fn record_halt(data_dir: &Path, store: &dyn LogStore, why: &str, published: &[u8]) {
    let halt = crate::storage::RecordedHalt {
        why: why.to_owned(),
        published: published.to_vec(),
    };
    if let Err(e) = store.record_halt(&halt) {
        tracing::error!(error = %e,
            "cannot record the conflict in the database: other replicas may not know it");
    }
    if let Err(e) = crate::signer::write_halted(data_dir, why) {
        tracing::error!(error = %e, dir = %data_dir.display(),
            "cannot record the conflict in the data directory: a restart would not know it");
    }
}

/// Whether this log is halted by a recorded conflict with a published checkpoint (DESIGN.md
/// §9), the one rule for every start and every take-over of the PostgreSQL lease: a halt is
/// recorded in `<data-dir>/halted` ([`crate::signer::HALTED_FILE`]) or in the database the
/// replicas share ([`crate::storage::LogWrite::record_halt`]). Returns it worded for the log, readiness and
/// submitters (the conflict, where it is recorded, how the operator clears it) with the
/// checkpoint recorded with it in the database (empty when none).
///
/// # Errors
/// A record cannot be read (the caller refuses to start or to take the lease then).
pub(crate) fn recorded_halt(
    data_dir: &Path,
    store: &dyn LogStore,
) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let path = data_dir.join(crate::signer::HALTED_FILE);
    let file = crate::signer::read_halted(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let row = store
        .recorded_halt()
        .map_err(|e| anyhow::anyhow!("cannot read the halt recorded in the database: {e}"))?;
    let (why, place, published) = match (file, row) {
        (Some(why), Some(r)) => (
            why,
            format!("{} and in the database", path.display()),
            r.published,
        ),
        (Some(why), None) => (why, path.display().to_string(), Vec::new()),
        (None, Some(r)) => (r.why, IN_DATABASE.to_owned(), r.published),
        (None, None) => return Ok(None),
    };
    Ok(Some((halt_words(&why, &place), published)))
}

/// Where [`halt_words`] says a halt recorded in the database is.
pub(crate) const IN_DATABASE: &str = "the database every replica shares";

/// A recorded halt worded for the log, readiness and submitters.
pub(crate) fn halt_words(why: &str, place: &str) -> String {
    format!(
        "{why}; recorded in {place}: find the cause (deploy/README.md, \"When the guard \
         trips\"), then clear it with `attestlog-server clear-halt` and restart"
    )
}

/// What `attestlog-server clear-halt` cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    /// The conflict recorded in `<data-dir>/halted`.
    pub file: Option<String>,
    /// The conflict recorded in the database the replicas share.
    pub database: Option<String>,
}

/// `attestlog-server clear-halt`: removes the halt recorded in `data_dir` and, on PostgreSQL
/// (`store`), in the database. The next start or take-over runs every check again.
///
/// # Errors
/// A record that cannot be read or removed.
pub fn clear_recorded_halt(
    data_dir: &Path,
    store: Option<&dyn LogStore>,
) -> anyhow::Result<Cleared> {
    let database = match store {
        Some(s) => s
            .clear_halt()
            .map_err(|e| anyhow::anyhow!("cannot clear the halt recorded in the database: {e}"))?
            .map(|h| h.why),
        None => None,
    };
    let file = crate::signer::clear_halted(data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot clear the halt recorded in {}: {e}",
            data_dir.join(crate::signer::HALTED_FILE).display()
        )
    })?;
    Ok(Cleared { file, database })
}

/// Where a halted start finds the checkpoint to serve when its data directory has no
/// published-checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WithoutFile {
    /// SQLite: the file lives beside the database; without it nothing shows what this server
    /// published, so a non-empty log refuses to start.
    Refuse,
    /// PostgreSQL: a replica without a file (a new one) serves the checkpoint recorded with
    /// the halt in the database, the one the replica that found the conflict published.
    Recorded,
}

/// The state of a log that starts with a recorded halt (DESIGN.md §9): readers get what was
/// published (this server's published-checkpoint file; without one, see [`WithoutFile`]),
/// verified under `keys`, and sequencing is halted by the conflict `why` (logged once, the
/// metric set, readiness and submissions told). Nothing is signed, stored or checked against
/// storage here: the conflict stands until the operator clears it.
///
/// # Errors
/// Storage errors; a checkpoint that does not verify under `keys`; on SQLite, a non-empty log
/// without its published-checkpoint file.
pub(crate) fn start_halted(
    store: &dyn LogStore,
    keys: &[VerifierKey],
    data_dir: &Path,
    (why, recorded): &(String, Vec<u8>),
    without_file: WithoutFile,
) -> anyhow::Result<Arc<Shared>> {
    let file = crate::signer::read_published(data_dir, keys)?;
    let from_record = file.is_none() && without_file == WithoutFile::Recorded;
    let note = match file {
        Some(p) => Some(p.note),
        None => match without_file {
            WithoutFile::Recorded if recorded.is_empty() => {
                tracing::warn!(
                    "halted, without a published-checkpoint file and with no checkpoint \
                     recorded with the halt: serving no checkpoint"
                );
                None
            }
            WithoutFile::Recorded => Some(recorded.clone()),
            WithoutFile::Refuse => {
                let size = store.latest_checkpoint()?.map_or(0, |(s, _)| s);
                anyhow::ensure!(
                    size == 0,
                    "refusing to start: a conflict is recorded ({why}), and {} has no \
                     published-checkpoint file, so nothing shows which checkpoint this server \
                     published; restore the files from a copy of the data directory, or find \
                     the cause, clear the halt and start with --trust-storage",
                    data_dir.display()
                );
                None
            }
        },
    };
    let shared = match note {
        Some(note) => {
            let size = SignedCheckpoint::open(&note, keys)
                .map_err(|e| {
                    anyhow::anyhow!("the published checkpoint is not a checkpoint of this log: {e}")
                })?
                .checkpoint()
                .size;
            let (published, enrolments) =
                verified_published(keys, size, note, &store.enrolments()?)?;
            Shared::new(published, enrolments)
        }
        None => Shared::empty(),
    };
    if from_record && !shared.published().note.is_empty() {
        let p = shared.published();
        tracing::warn!(size = p.size, root = %p.root.to_base64(),
            "halted, without a published-checkpoint file: serving the checkpoint recorded with \
             the halt in the database (the one the replica that found the conflict published), \
             verified under the log key");
    }
    shared.set_failure(why, true, false);
    Ok(Arc::new(shared))
}

/// The checkpoint in the published-checkpoint files of `data_dir`
/// ([`crate::signer::read_published`]), verified under `keys`.
///
/// # Errors
/// [`GuardError::File`].
pub fn published_file(
    data_dir: &Path,
    keys: &[VerifierKey],
) -> Result<Option<Summary>, GuardError> {
    Ok(crate::signer::read_published(data_dir, keys)
        .map_err(|e| GuardError::File(e.to_string()))?
        .map(|p| p.summary()))
}

/// Every check of DESIGN.md §9 on storage, where sequencing starts: the latest stored
/// checkpoint verifies under `keys` and is the root of the stored tiles' right edge, and the
/// stored tree extends what `shared` published and the published-checkpoint file.
///
/// # Errors
/// [`GuardError`].
pub fn check_storage(
    store: &dyn LogStore,
    keys: &[VerifierKey],
    data_dir: &Path,
    shared: &Shared,
) -> Result<Head, GuardError> {
    let (size, note) = store
        .latest_checkpoint()
        .map_err(|e| unavailable(&e))?
        .unwrap_or((0, Vec::new()));
    let stored = if note.is_empty() {
        Summary {
            size: 0,
            root: Hash::EMPTY_ROOT,
        }
    } else {
        let cp = SignedCheckpoint::open(&note, keys).map_err(|e| GuardError::Unverified {
            size,
            why: e.to_string(),
        })?;
        let cp = cp.checkpoint();
        if cp.size != size {
            return Err(GuardError::Unverified {
                size,
                why: format!("it is stored as size {size} but signs size {}", cp.size),
            });
        }
        Summary {
            size,
            root: cp.root,
        }
    };
    let edge = load_edge(store, size)?.map_err(|why| GuardError::Tiles { stored, why })?;
    if !edge.root().ct_eq(&stored.root) {
        return Err(GuardError::Tiles {
            stored,
            why: format!("the tiles' right edge has root {}", edge.root().to_base64()),
        });
    }
    let mine = shared.published();
    if !mine.note.is_empty() {
        check_extends(store, &mine.summary(), &stored, "this process")?;
    }
    if let Some(file) = published_file(data_dir, keys)? {
        check_extends(
            store,
            &file,
            &stored,
            "this server (the published-checkpoint file)",
        )?;
    }
    Ok(Head {
        published: Published {
            size,
            root: stored.root,
            note,
        },
        edge,
    })
}

/// Checks that the stored tree `to` extends the published `from`: a consistency proof
/// computed from `store` verifies (equal roots for equal sizes).
///
/// # Errors
/// [`GuardError::Behind`], [`GuardError::Diverged`], [`GuardError::Unavailable`].
pub fn check_extends(
    store: &dyn LogStore,
    from: &Summary,
    to: &Summary,
    by: &'static str,
) -> Result<(), GuardError> {
    if from.size > to.size {
        return Err(GuardError::Behind {
            stored: *to,
            published: *from,
            by,
        });
    }
    let diverged = |why: String| GuardError::Diverged {
        stored: *to,
        published: *from,
        by,
        why: why.into(),
    };
    if from.size == to.size {
        return if from.root.ct_eq(&to.root) {
            Ok(())
        } else {
            Err(diverged("the same size with another root".into()))
        };
    }
    if from.size == 0 {
        return Ok(());
    }
    let reader = crate::tiles::StoreTiles::new(store);
    let hashes = attestlog_proto::tiles::TileHashReader::new(to.size, &reader);
    let proof = match attestlog_proto::proof::consistency_proof(from.size, to.size, &hashes) {
        Ok(p) => p,
        Err(attestlog_proto::proof::ProveError::Read(
            attestlog_proto::tiles::TileReadError::Read(StoreError::Backend(m)),
        )) => return Err(GuardError::Unavailable(m)),
        Err(e) => {
            return Err(diverged(format!(
                "no consistency proof can be read from the stored tiles: {e}"
            )));
        }
    };
    attestlog_proto::proof::verify_consistency(from.size, to.size, &proof, &from.root, &to.root)
        .map_err(|e| diverged(format!("the consistency proof from storage fails: {e}")))
}

/// What one witness answered, after at most one retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A cosignature that verifies.
    Cosigned(NoteSignature),
    /// The witness cosigned a larger tree than the checkpoint shown.
    Ahead {
        /// The witness's size.
        size: u64,
    },
    /// The witness refuses the checkpoint as inconsistent with what it cosigned (`409` for
    /// the same size with another root, or `422`).
    Refused {
        /// HTTP status.
        status: u16,
        /// Explanation.
        message: String,
    },
    /// Unreachable, timed out, or any other answer.
    Failed(String),
}

impl Answer {
    /// The metrics label of the answer.
    #[must_use]
    pub fn result_label(&self) -> &'static str {
        match self {
            Answer::Cosigned(_) => "cosigned",
            Answer::Ahead { .. } => "conflict",
            Answer::Refused { .. } => "refused",
            Answer::Failed(_) => "error",
        }
    }
}

/// The result of one cosigning round.
#[derive(Debug, Clone)]
pub struct Cosigned {
    /// The note with the verified cosignatures added.
    pub note: Vec<u8>,
    /// Policy names of the witnesses that cosigned.
    pub witnesses: BTreeSet<String>,
    /// Whether they satisfy the policy's quorum.
    pub quorum: bool,
    /// Every witness's answer, by policy name (those still unanswered when the round ended
    /// after a quorum are absent).
    pub answers: BTreeMap<String, Answer>,
}

impl Cosigned {
    /// Whether the note may be published under `require_quorum`.
    #[must_use]
    pub fn publishable(&self, require_quorum: bool) -> bool {
        self.quorum || !require_quorum
    }

    /// A one-line summary of the witnesses that did not cosign.
    #[must_use]
    pub fn missing(&self) -> String {
        self.answers
            .iter()
            .filter(|(_, a)| !matches!(a, Answer::Cosigned(_)))
            .map(|(n, a)| format!("{n}: {a:?}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The first answer showing a conflict with the checkpoint `shown`, as a failed check.
    ///
    /// # Errors
    /// [`GuardError::Witness`].
    pub fn check(&self, shown: Summary) -> Result<(), GuardError> {
        for (name, a) in &self.answers {
            let answer = match a {
                Answer::Ahead { size } => format!(
                    "it has cosigned tree size {size}, larger than the log's {}",
                    shown.size
                ),
                Answer::Refused { status, message } => format!("{status}: {message}"),
                _ => continue,
            };
            return Err(GuardError::Witness {
                witness: name.clone(),
                stored: shown,
                answer,
            });
        }
        Ok(())
    }
}

/// The witnesses that cosign checkpoints before publication, as the sequencer sees them (the
/// c2sp.org/tlog-witness client is [`crate::witness::Witnessing`]).
pub trait Cosigner: Send + Sync + std::fmt::Debug {
    /// Asks the witnesses to cosign `note` (a log-signed checkpoint of `size` stored in
    /// `store`) and adds the cosignatures that verify.
    ///
    /// # Errors
    /// A note that does not parse (a bug) or a stopped client.
    fn cosign(&self, store: &Arc<dyn LogStore>, size: u64, note: &[u8])
    -> anyhow::Result<Cosigned>;

    /// The witness policy.
    fn policy(&self) -> &Policy;

    /// Publish only checkpoints a quorum cosigned.
    fn require_quorum(&self) -> bool;

    /// Start without a quorum (publishing nothing new until one cosigns).
    fn start_without_quorum(&self) -> bool;

    /// How often a withheld checkpoint is shown to the witnesses again.
    fn retry(&self) -> Duration;
}

/// The step after a commit: has the checkpoint `p` cosigned and stores the cosigned note.
/// Returns the note to publish, or `None` when it must be withheld (no quorum and a quorum
/// is required).
///
/// # Errors
/// [`GuardError::Witness`]: a witness answer shows a conflict.
pub fn cosign(
    w: &dyn Cosigner,
    store: &Arc<dyn LogStore>,
    p: &Published,
) -> Result<Option<Vec<u8>>, GuardError> {
    let c = match w.cosign(store, p.size, &p.note) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, size = p.size, "cosigning failed");
            return Ok((!w.require_quorum()).then(|| p.note.clone()));
        }
    };
    c.check(p.summary())?;
    if !c.publishable(w.require_quorum()) {
        tracing::warn!(size = p.size, missing = %c.missing(),
            "no witness quorum: the checkpoint is withheld");
        return Ok(None);
    }
    if !c.witnesses.is_empty()
        && let Err(e) = store.set_checkpoint_note(p.size, &c.note)
    {
        tracing::error!(error = %e, size = p.size, "cannot store the cosigned checkpoint");
    }
    Ok(Some(c.note))
}

/// Where sequencing starts: shows every witness the latest stored checkpoint. Returns the
/// checkpoint to serve and, when the latest stored one lacks a required quorum, that one as
/// withheld. A withheld start serves the last published checkpoint (the published-checkpoint
/// file, which [`check_storage`] compared with storage) when there is one.
///
/// # Errors
/// A witness answer showing a conflict ([`GuardError`]), or no quorum at start when
/// [`Cosigner::start_without_quorum`] is false.
pub fn on_start(
    w: &dyn Cosigner,
    store: &Arc<dyn LogStore>,
    keys: &[VerifierKey],
    data_dir: &Path,
    latest: Arc<Published>,
) -> anyhow::Result<(Arc<Published>, Option<Arc<Published>>)> {
    let c = w.cosign(store, latest.size, &latest.note)?;
    c.check(latest.summary())?;
    if !c.quorum {
        if w.start_without_quorum() {
            tracing::warn!(missing = %c.missing(),
                "no witness quorum at start: serving reads, publishing no new checkpoint \
                 until a quorum cosigns");
        } else {
            anyhow::bail!(
                "no quorum of witnesses cosigned the stored checkpoint ({})",
                c.missing()
            );
        }
    }
    if c.publishable(w.require_quorum()) {
        if !c.witnesses.is_empty() {
            store.set_checkpoint_note(latest.size, &c.note)?;
        }
        let p = Published {
            note: c.note,
            ..(*latest).clone()
        };
        return Ok((Arc::new(p), None));
    }
    let earlier = crate::signer::read_published(data_dir, keys)?;
    match earlier {
        // The latest stored checkpoint was published before: keep serving it.
        Some(e) if e.size == latest.size => Ok((latest, None)),
        Some(e) if e.size < latest.size => Ok((Arc::new(e), Some(latest))),
        _ => Ok((latest.clone(), Some(latest))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The log keys of the tests (several: a checkpoint with more signatures is newer).
    fn signers() -> &'static [attestlog_proto::keys::SignerKey] {
        static SIGNERS: std::sync::OnceLock<Vec<attestlog_proto::keys::SignerKey>> =
            std::sync::OnceLock::new();
        SIGNERS.get_or_init(|| {
            (1..=9u8)
                .map(|i| {
                    attestlog_proto::keys::SignerKey::from_seed(
                        "publication.test/log",
                        attestlog_proto::keys::TYPE_ED25519,
                        &[i; 32],
                    )
                    .unwrap()
                })
                .collect()
        })
    }

    fn keys() -> Vec<VerifierKey> {
        signers()
            .iter()
            .map(attestlog_proto::keys::SignerKey::verifier)
            .collect()
    }

    /// A checkpoint of `size` (its root derived from `root_of`) signed by `signatures` keys.
    fn signed(size: u64, root_of: &[u8], signatures: usize) -> Vec<u8> {
        let root = Hash::leaf(root_of);
        crate::rules::sign_checkpoint(
            &signers()[..signatures],
            "publication.test/log",
            size,
            &root,
        )
        .unwrap()
    }

    fn note(size: u64, signatures: usize) -> Vec<u8> {
        signed(size, &size.to_be_bytes(), signatures)
    }

    fn temp(name: &str) -> std::path::PathBuf {
        attestlog_serve::fs::scratch_dir("attestlog-server-unit", &format!("publication-{name}"))
            .unwrap()
    }

    fn published(size: u64, signatures: usize) -> Arc<Published> {
        Arc::new(Published {
            size,
            root: Hash::leaf(&size.to_be_bytes()),
            note: note(size, signatures),
        })
    }

    /// The sequencer and a replica's refresh publish from different threads: publication
    /// (readers and the published-checkpoint file) only ever moves forward, and concurrent
    /// writers of the file never fail each other.
    #[test]
    fn concurrent_publication_never_goes_backwards() {
        let dir = temp("publish");
        let shared = Arc::new(Shared::empty());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (shared, dir) = (shared.clone(), dir.clone());
                std::thread::spawn(move || {
                    // Interleaved sizes: each thread also offers sizes others published.
                    for i in 0..200u64 {
                        let size = (i * 7 + t * 13) % 300;
                        let before = shared.published().size;
                        shared
                            .publish(None, &dir, published(size, 1), None)
                            .unwrap();
                        assert!(shared.published().size >= before);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let max = shared.published().size;
        assert_eq!(max, 299);
        let file = crate::signer::read_published(&dir, &keys())
            .unwrap()
            .unwrap();
        assert_eq!(file.note, note(max, 1), "the file holds what readers see");
        // The same tree with more signatures replaces it; with fewer it does not; an older
        // one is reported as older.
        let pub_ = |p| shared.publish(None, &dir, p, None).unwrap();
        assert_eq!(pub_(published(max, 3)), PublishOutcome::Published);
        assert_eq!(pub_(published(max, 2)), PublishOutcome::AlreadyPublished);
        assert_eq!(pub_(published(max - 1, 5)), PublishOutcome::Older);
        assert_eq!(shared.published().note, note(max, 3));
        // The same size with another root is a conflict, never published.
        let other = Arc::new(Published {
            size: max,
            root: Hash::leaf(b"other"),
            note: signed(max, b"other", 9),
        });
        let e = shared.publish(None, &dir, other, None).unwrap_err();
        assert!(
            matches!(e, PublishError::Guard(GuardError::Diverged { .. })),
            "{e}"
        );
        assert_eq!(shared.published().note, note(max, 3));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| !crate::signer::PUBLISHED_SLOTS.iter().any(|s| n == s))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A failure is logged and counted once per reason, and cleared only explicitly; a
    /// conflict with a published checkpoint is never cleared nor replaced by a lesser one.
    #[test]
    fn failure_flag_is_set_once_cleared_explicitly_and_a_conflict_never() {
        let shared = Shared::empty();
        assert_eq!(shared.failure(), None);
        assert!(shared.clear_failure());
        shared.fail("file");
        shared.fail("file");
        assert_eq!(shared.failure().as_deref(), Some("file"));
        assert_eq!(shared.conflict(), None);
        assert!(shared.clear_failure());
        assert_eq!(shared.failure(), None);
        let s = |size| Summary {
            size,
            root: Hash::EMPTY_ROOT,
        };
        let behind = GuardError::Behind {
            stored: s(1),
            published: s(2),
            by: "this process",
        };
        let damaged = GuardError::Tiles {
            stored: s(1),
            why: "short".into(),
        };
        assert!(behind.is_conflict() && !damaged.is_conflict());
        shared.fail_check(&damaged);
        assert!(shared.clear_failure());
        shared.fail_check(&behind);
        shared.fail("the sequencer thread died");
        shared.fail_check(&damaged);
        assert!(!shared.clear_failure());
        assert_eq!(shared.failure(), Some(behind.to_string()));
        assert_eq!(shared.conflict(), Some(behind.to_string()));
    }
}
