//! The sequencer: the single writer of the tree.
//!
//! Validated submissions arrive on a bounded queue (full → 503). One thread takes them in
//! batches (up to `max_batch` entries; an idle queue waits `max_wait` for company, a busy one
//! gathers until `min_interval` after the last batch started), re-checks what depends on order
//! (dedup, the enrolment rules, attestation-id ownership), assigns indexes, extends the
//! right-edge [`Frontier`], builds the changed tiles, signs the new checkpoint and writes
//! everything in one transaction. Only after the commit (and the published-checkpoint file)
//! is the checkpoint published and are submitters answered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use attestlog_proto::keys::SignerKey;
use attestlog_proto::tree::{Frontier, NodeId};
use tokio::sync::oneshot;

use attestlog_proto::rules::{Candidate, Chain, Judgement, Ledger};

use crate::rules::{self, Enrolments, RuleError};
use crate::storage::{Batch, BatchEntry, LogStore, StoreError};

/// Number of hashes in a full tile.
const TILE_WIDTH: usize = 256;

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

/// A submission that passed the order-independent admission checks.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// What storage writes for it.
    pub entry: BatchEntry,
    /// What the rule engine verified about it; the sequencer judges it in index order.
    pub candidate: Candidate,
}

/// The answer to a submitter.
#[derive(Debug, Clone)]
pub struct Integrated {
    /// Log index.
    pub index: u64,
    /// False for a duplicate.
    pub new: bool,
    /// The checkpoint that contains the entry.
    pub published: Arc<Published>,
}

/// Why the sequencer did not integrate a submission.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SeqError {
    /// An order-dependent admission rule failed.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Storage failed; the entry was not integrated.
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// The queue is full or the sequencer stopped.
    #[error("sequencer unavailable: {0}")]
    Unavailable(&'static str),
}

/// A queued submission and where to send its answer.
pub(crate) struct Job {
    pub(crate) admitted: Admitted,
    pub(crate) reply: oneshot::Sender<Result<Integrated, SeqError>>,
    pub(crate) queued: Instant,
}

/// Handle used by request handlers to submit.
#[derive(Clone)]
pub struct SequencerHandle {
    tx: SyncSender<Job>,
}

impl SequencerHandle {
    /// A handle and the receiving end of its bounded queue.
    pub(crate) fn channel(capacity: usize) -> (Self, Receiver<Job>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        (Self { tx }, rx)
    }

    /// Passes on an already queued job (replicas hand jobs to their sequencer); a full or
    /// closed queue answers the job itself.
    pub(crate) fn forward(&self, job: Job) {
        let err = match self.tx.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(j)) => (j, SeqError::Unavailable("submission queue is full")),
            Err(TrySendError::Disconnected(j)) => (j, SeqError::Unavailable("sequencer stopped")),
        };
        let _ = err.0.reply.send(Err(err.1));
    }

    /// Queues a submission; the receiver resolves when it is in a published checkpoint.
    ///
    /// # Errors
    /// [`SeqError::Unavailable`] when the queue is full or closed.
    pub fn submit(
        &self,
        admitted: Admitted,
    ) -> Result<oneshot::Receiver<Result<Integrated, SeqError>>, SeqError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job {
            admitted,
            reply,
            queued: Instant::now(),
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(SeqError::Unavailable("submission queue is full")),
            Err(TrySendError::Disconnected(_)) => Err(SeqError::Unavailable("sequencer stopped")),
        }
    }
}

/// State shared between the sequencer and the read path.
#[derive(Debug)]
pub struct Shared {
    /// The latest published checkpoint.
    pub published: RwLock<Arc<Published>>,
    /// The enrolment history as of the latest published checkpoint.
    pub enrolments: RwLock<Arc<Enrolments>>,
    /// Why the sequencer stopped integrating, if it did (readiness reports it).
    pub failure: RwLock<Option<String>>,
    /// Serialises [`Shared::publish`]: the sequencer and a replica's refresh both publish.
    publishing: Mutex<()>,
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
        }
    }

    /// Publishes `p` (with `enrolments`, the state as of `p`, when they changed) unless what
    /// is published is at least as new: a larger tree, or the same tree with as many
    /// signatures. The published-checkpoint file is written first (the rollback guard must
    /// know every checkpoint a reader saw), then readers switch. Publication never goes
    /// backwards, whoever calls. Returns whether `p` was published.
    ///
    /// # Errors
    /// Writing the published-checkpoint file; nothing is published then.
    pub(crate) fn publish(
        &self,
        data_dir: &Path,
        p: Arc<Published>,
        enrolments: Option<Arc<Enrolments>>,
    ) -> std::io::Result<bool> {
        let _g = self
            .publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.published();
        let newer = p.size > current.size
            || (p.size == current.size
                && signature_lines(&p.note) > signature_lines(&current.note));
        if !newer {
            return Ok(false);
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
        Ok(true)
    }

    /// The latest published checkpoint.
    #[must_use]
    pub fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
    }

    /// Why integration stopped, if it did.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.failure.read().ok().and_then(|f| f.clone())
    }

    pub(crate) fn fail(&self, why: String) {
        tracing::error!(reason = %why, "sequencer stopped integrating");
        if let Ok(mut f) = self.failure.write() {
            *f = Some(why);
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
    attestlog_proto::note::Note::parse(note).map_or(0, |n| n.signatures().len())
}

/// Sequencer settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Maximum entries per batch.
    pub max_batch: usize,
    /// Maximum wait for a batch to fill (when the queue was idle).
    pub max_wait: Duration,
    /// Shortest time between the starts of two batches while submissions keep coming.
    pub min_interval: Duration,
    /// Queue capacity.
    pub queue: usize,
    /// Data directory (published-checkpoint file).
    pub data_dir: PathBuf,
    /// Witnesses that cosign each checkpoint before it is published (None: publish the
    /// log-signed checkpoint).
    pub witnessing: Option<Arc<crate::witness::Witnessing>>,
    /// Key rotation: after this Unix time only the first signer signs checkpoints.
    pub overlap_until: Option<u64>,
}

/// The sequencer's private state.
struct Sequencer {
    store: Arc<dyn LogStore>,
    shared: Arc<Shared>,
    signers: Vec<SignerKey>,
    origin: String,
    frontier: Frontier,
    /// Per tile level: the hashes of the current (partial) tile at that level.
    rows: Vec<Vec<Hash>>,
    enrolments: Enrolments,
    /// The index from which the claim rules apply (DESIGN.md §10).
    claims_from: u64,
    settings: Settings,
    /// A committed checkpoint kept from readers until a witness quorum cosigns it.
    withheld: Option<Arc<Published>>,
}

/// Loads the right edge of the tree from storage: the frontier and the partial tile rows.
fn load_edge(store: &dyn LogStore, size: u64) -> anyhow::Result<(Frontier, Vec<Vec<Hash>>)> {
    let reader = crate::tiles::StoreTiles::new(store);
    let hashes = attestlog_proto::tree::root_indexes(size);
    let hr = attestlog_proto::tiles::TileHashReader::new(size, &reader);
    let frontier_hashes = attestlog_proto::tree::HashReader::read_hashes(&hr, &hashes)
        .map_err(|e| anyhow::anyhow!("cannot read the tree's right edge: {e:?}"))?;
    let frontier = Frontier::from_hashes(size, frontier_hashes)?;
    let mut rows = Vec::new();
    for level in 0u8..8 {
        let count = size >> (8 * u32::from(level));
        if count == 0 {
            break;
        }
        let width = usize::try_from(count % 256)?;
        let index = count / 256;
        let mut row = Vec::new();
        if width > 0 {
            let data = store
                .read_tiles(&[(level, index)])?
                .pop()
                .unwrap_or_default();
            if data.len() < width * 32 {
                anyhow::bail!("tile {level}/{index} is shorter than the stored tree");
            }
            for c in data[..width * 32].chunks_exact(32) {
                row.push(Hash::from_slice(c)?);
            }
        }
        rows.push(row);
    }
    Ok((frontier, rows))
}

/// Starts the sequencer thread. Returns the handle and shared state; the thread ends when
/// every handle is dropped, after finishing the batch in flight.
///
/// # Errors
/// Storage errors while loading the tree edge, or signing the first checkpoint.
pub fn start(
    store: Arc<dyn LogStore>,
    signers: Vec<SignerKey>,
    settings: Settings,
) -> anyhow::Result<(SequencerHandle, Arc<Shared>, std::thread::JoinHandle<()>)> {
    let shared = Arc::new(Shared::empty());
    let (handle, rx) = SequencerHandle::channel(settings.queue);
    let join = resume(store, signers, settings, shared.clone(), rx)?;
    Ok((handle, shared, join))
}

/// Loads the tree's right edge and the enrolment history from storage (signing the empty
/// tree of a new log), publishes them into `shared` and starts the sequencer thread on `rx`.
/// A replica calls this each time it acquires the sequencer lease: the tree may have grown
/// under another holder.
///
/// # Errors
/// As [`start`].
pub(crate) fn resume(
    store: Arc<dyn LogStore>,
    signers: Vec<SignerKey>,
    settings: Settings,
    shared: Arc<Shared>,
    rx: Receiver<Job>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let origin = signers
        .first()
        .map(|s| s.name().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no log signer"))?;
    let latest = store.latest_checkpoint()?;
    let (size, note) = if let Some(l) = latest {
        l
    } else {
        let note = rules::sign_checkpoint(&signers, &origin, 0, &Hash::EMPTY_ROOT)?;
        store.commit_batch(&Batch {
            old_size: 0,
            entries: vec![],
            tiles: vec![],
            checkpoint: note.clone(),
        })?;
        (0, note)
    };
    let (frontier, rows) = load_edge(store.as_ref(), size)?;
    let enrolments = rules::enrolments_from_rows(&store.enrolments()?)?;
    let claims_from = store.claims_from()?;
    let published = Arc::new(Published {
        size,
        root: frontier.root(),
        note,
    });
    let (published, withheld) = match &settings.witnessing {
        Some(w) => crate::witness::on_start(w, &store, &settings.data_dir, published)?,
        None => (published, None),
    };
    shared.publish(
        &settings.data_dir,
        published,
        Some(Arc::new(enrolments.clone())),
    )?;
    let mut seq = Sequencer {
        store,
        shared,
        signers,
        origin,
        frontier,
        rows,
        enrolments,
        claims_from,
        settings,
        withheld,
    };
    let join = std::thread::Builder::new()
        .name("sequencer".into())
        .spawn(move || seq.run(&rx))?;
    Ok(join)
}

enum Outcome {
    New(u64),
    Duplicate(u64),
    Rejected(SeqError),
}

impl Sequencer {
    fn run(&mut self, rx: &Receiver<Job>) {
        let mut last_start = Instant::now();
        while let Some(first) = self.next_job(rx) {
            if let Some(why) = self.shared.failure() {
                let _ = first.reply.send(Err(SeqError::Storage(why)));
                continue;
            }
            let jobs = gather(rx, first, &self.settings, last_start);
            last_start = Instant::now();
            self.integrate(jobs);
        }
        tracing::info!("sequencer stopped");
    }

    fn integrate(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let old_size = self.frontier.size();
        let mut frontier = self.frontier.clone();
        let mut rows = self.rows.clone();
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut entries = Vec::new();
        let mut changed: Vec<(u8, u64, Vec<u8>)> = Vec::new();
        let mut touched = [false; 8];
        let mut outcomes = Vec::with_capacity(jobs.len());
        let (stored, mut ledger) = match self.batch_history(&jobs) {
            Ok(p) => p,
            Err(e) => {
                let err = SeqError::Storage(e.to_string());
                let outcomes = jobs
                    .iter()
                    .map(|_| Outcome::Rejected(err.clone()))
                    .collect();
                self.answer(jobs, outcomes, None);
                return;
            }
        };
        for job in &jobs {
            let e = &job.admitted.entry;
            if let Some(&i) = in_batch
                .get(&e.leaf_hash)
                .or_else(|| stored.get(&e.leaf_hash))
            {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            let index = frontier.size();
            // The rule engine, in index order: statement dedup (within the batch too), the
            // enrolment history, the signers' keys at this index, the version chain.
            let c = &job.admitted.candidate;
            match ledger.judge(index, c) {
                Ok(Judgement::Duplicate(i)) => {
                    outcomes.push(Outcome::Duplicate(i));
                    continue;
                }
                Err(err) => {
                    outcomes.push(Outcome::Rejected(SeqError::Rule(err.into())));
                    continue;
                }
                Ok(Judgement::New) => {
                    if let Err(err) = ledger.record(index, c) {
                        outcomes.push(Outcome::Rejected(SeqError::Rule(err.into())));
                        continue;
                    }
                }
            }
            in_batch.insert(e.leaf_hash, index);
            frontier.push(e.leaf_hash, |node: NodeId, h| {
                if !node.level.is_multiple_of(8) {
                    return;
                }
                let level = usize::from(node.level / 8);
                if rows.len() <= level {
                    rows.resize(level + 1, Vec::new());
                }
                rows[level].push(h);
                if let Some(t) = touched.get_mut(level) {
                    *t = true;
                }
                if rows[level].len() == TILE_WIDTH {
                    let data: Vec<u8> = rows[level].iter().flat_map(|h| h.0).collect();
                    changed.push((node.level / 8, node.index / 256, data));
                    rows[level].clear();
                }
            });
            entries.push(e.clone());
            outcomes.push(Outcome::New(index));
        }
        let new_size = frontier.size();
        if new_size == old_size {
            self.answer(jobs, outcomes, None);
            return;
        }
        for (level, row) in rows.iter().enumerate() {
            if touched.get(level).copied().unwrap_or(false) && !row.is_empty() {
                let count = new_size >> (8 * level);
                let Ok(l) = u8::try_from(level) else { continue };
                changed.push((l, count / 256, row.iter().flat_map(|h| h.0).collect()));
            }
        }
        let root = frontier.root();
        let signers = self.active_signers();
        let note = match rules::sign_checkpoint(&signers, &self.origin, new_size, &root) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign checkpoint");
                self.answer(jobs, outcomes, None);
                return;
            }
        };
        let batch = Batch {
            old_size,
            entries,
            tiles: changed,
            checkpoint: note.clone(),
        };
        let committed = self.store.commit_batch(&batch);
        let published = match committed {
            Ok(()) => {
                // The batch is durable: adopt it, even if it cannot be published below.
                self.frontier = frontier;
                self.rows = rows;
                self.enrolments = ledger.into_enrolment();
                let Some(note) = self.cosign_for_publication(new_size, root, note) else {
                    self.answer(jobs, withheld(outcomes), None);
                    return;
                };
                let p = Arc::new(Published {
                    size: new_size,
                    root,
                    note,
                });
                let enrolled = batch.entries.iter().any(|e| e.enrolment.is_some());
                let enrolments = enrolled.then(|| Arc::new(self.enrolments.clone()));
                if let Err(e) = self
                    .shared
                    .publish(&self.settings.data_dir, p.clone(), enrolments)
                {
                    // Nobody may see a checkpoint the rollback guard does not know about.
                    self.shared
                        .fail(format!("cannot write the published-checkpoint file: {e}"));
                    self.answer(jobs, outcomes, None);
                    return;
                }
                metrics::counter!("attestlog_entries_integrated_total")
                    .increment(new_size - old_size);
                metrics::histogram!("attestlog_batch_size").record((new_size - old_size) as f64);
                metrics::histogram!("attestlog_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::gauge!("attestlog_tree_size").set(new_size as f64);
                Some(p)
            }
            Err(e) => {
                tracing::error!(error = %e, "batch commit failed; entries not integrated");
                if matches!(e, StoreError::SizeConflict { .. }) {
                    self.shared
                        .fail(format!("another writer extended the tree: {e}"));
                }
                None
            }
        };
        self.answer(jobs, outcomes, published);
    }

    /// What the rules need to judge this batch, in one round trip each: stored duplicates
    /// (by leaf hash), and a [`Ledger`] with the enrolment state, the stored first index of
    /// each statement of the batch, and the chain of each attestation id it mentions.
    fn batch_history(&self, jobs: &[Job]) -> Result<(HashMap<Hash, u64>, Ledger), StoreError> {
        let leaves: Vec<Hash> = jobs.iter().map(|j| j.admitted.entry.leaf_hash).collect();
        let statements: Vec<Hash> = jobs
            .iter()
            .map(|j| j.admitted.candidate.statement_hash)
            .collect();
        let ids: Vec<&str> = jobs
            .iter()
            .filter_map(|j| j.admitted.candidate.statement())
            .map(attestlog_proto::predicate::Statement::attestation_id)
            .collect();
        let stored = self.store.lookup_leaves(&leaves)?;
        let statements = self.store.lookup_statements(&statements)?;
        let chains = self
            .store
            .attestation_chains(&ids)?
            .into_iter()
            .filter_map(|(id, versions)| Chain::follow(versions).map(|c| (id, c)))
            .collect();
        let ledger = Ledger::with_history(
            self.claims_from,
            self.enrolments.clone(),
            statements,
            chains,
        );
        Ok((stored, ledger))
    }

    fn answer(&self, jobs: Vec<Job>, outcomes: Vec<Outcome>, published: Option<Arc<Published>>) {
        let current = self.shared.published();
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            metrics::histogram!("attestlog_integration_seconds")
                .record(job.queued.elapsed().as_secs_f64());
            let result = match outcome {
                Outcome::New(index) => match &published {
                    Some(p) => Ok(Integrated {
                        index,
                        new: true,
                        published: p.clone(),
                    }),
                    None => Err(SeqError::Storage("batch was not committed".into())),
                },
                Outcome::Duplicate(index) if index < current.size => Ok(Integrated {
                    index,
                    new: false,
                    published: current.clone(),
                }),
                Outcome::Duplicate(_) => {
                    Err(SeqError::Storage("original entry was not committed".into()))
                }
                Outcome::Rejected(e) => Err(e),
            };
            let _ = job.reply.send(result);
        }
    }
}

/// What a submitter whose entry is stored, but whose checkpoint is withheld, is told.
const WITHHELD: &str = "the entry is stored, but its checkpoint is not yet cosigned by a witness \
quorum; submit it again later to get its receipt";

/// The outcomes of a batch whose checkpoint is withheld: new entries are stored, not answered.
fn withheld(outcomes: Vec<Outcome>) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::New(_) => Outcome::Rejected(SeqError::Unavailable(WITHHELD)),
            o => o,
        })
        .collect()
}

/// One batch: `first` and what queued up while the last batch was being written (group
/// commit). Under load the batch keeps gathering until `min_interval` after the last batch
/// started (`last_start`), so each commit's fixed cost is shared by more entries; a queue
/// that was idle waits up to `max_wait` for company. Never more than `max_batch` entries.
fn gather<T>(rx: &Receiver<T>, first: T, settings: &Settings, last_start: Instant) -> Vec<T> {
    let mut jobs = vec![first];
    while jobs.len() < settings.max_batch {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    let deadline = if jobs.len() == 1 {
        Instant::now() + settings.max_wait
    } else {
        last_start + settings.min_interval
    };
    while jobs.len() < settings.max_batch {
        let now = Instant::now();
        let job = if now >= deadline {
            rx.try_recv().ok()
        } else {
            rx.recv_timeout(deadline - now).ok()
        };
        let Some(job) = job else { break };
        jobs.push(job);
    }
    jobs
}

/// Witnessing and key rotation around the commit path (see [`crate::witness`]).
impl Sequencer {
    /// The next submission; while a checkpoint is withheld, retries witnessing when idle.
    fn next_job(&mut self, rx: &Receiver<Job>) -> Option<Job> {
        loop {
            let retry = self
                .withheld
                .as_ref()
                .and(self.settings.witnessing.as_ref())
                .map(|w| w.settings().retry);
            let Some(retry) = retry else {
                return rx.recv().ok();
            };
            match rx.recv_timeout(retry) {
                Ok(j) => return Some(j),
                Err(RecvTimeoutError::Timeout) => self.retry_withheld(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The keys that sign new checkpoints: all of them until the rotation overlap ends, then
    /// the first (current) one.
    fn active_signers(&self) -> Vec<SignerKey> {
        let ended = self
            .settings
            .overlap_until
            .is_some_and(|t| crate::witness::unix_now() >= t);
        if ended {
            self.signers.iter().take(1).cloned().collect()
        } else {
            self.signers.clone()
        }
    }

    /// Has a committed checkpoint cosigned: the note to publish, or `None` when it is
    /// withheld for lack of a quorum (kept for [`Self::retry_withheld`]).
    fn cosign_for_publication(&mut self, size: u64, root: Hash, note: Vec<u8>) -> Option<Vec<u8>> {
        let Some(w) = self.settings.witnessing.clone() else {
            return Some(note);
        };
        match crate::witness::cosign_committed(&w, &self.store, size, &note) {
            Some(cosigned) => {
                if self.withheld.take().is_some()
                    && let Ok(mut g) = self.shared.enrolments.write()
                {
                    *g = Arc::new(self.enrolments.clone());
                }
                Some(cosigned)
            }
            None => {
                self.withheld = Some(Arc::new(Published { size, root, note }));
                None
            }
        }
    }

    /// Asks the witnesses again for the withheld checkpoint and publishes it on a quorum.
    fn retry_withheld(&mut self) {
        let Some(p) = self.withheld.take() else {
            return;
        };
        let Some(note) = self.cosign_for_publication(p.size, p.root, p.note.clone()) else {
            return;
        };
        let published = Arc::new(Published {
            size: p.size,
            root: p.root,
            note,
        });
        let enrolments = Some(Arc::new(self.enrolments.clone()));
        if let Err(e) = self
            .shared
            .publish(&self.settings.data_dir, published, enrolments)
        {
            self.shared
                .fail(format!("cannot write the published-checkpoint file: {e}"));
            return;
        }
        metrics::gauge!("attestlog_tree_size").set(p.size as f64);
        tracing::info!(size = p.size, "published the withheld checkpoint");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::BatchEntry;

    fn admitted(n: u8) -> Admitted {
        Admitted {
            entry: BatchEntry {
                data: vec![n],
                leaf_hash: Hash::leaf(&[n]),
                terms: vec![],
                attestation: None,
                enrolment: None,
                statement: None,
            },
            candidate: Candidate::of_enrolment(attestlog_proto::enrolment::Enrolment {
                vendor: "V".into(),
                key: attestlog_proto::keys::SignerKey::from_seed(
                    "v.example/k",
                    attestlog_proto::keys::TYPE_ED25519,
                    &[n; 32],
                )
                .unwrap()
                .verifier(),
                action: attestlog_proto::enrolment::Action::Enrol,
                issued_at: "2026-01-01T00:00:00Z".into(),
                role: attestlog_proto::enrolment::KeyRole::Vendor,
            }),
        }
    }

    #[test]
    fn full_queue_is_unavailable_and_maps_to_503_with_retry_after() {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let h = SequencerHandle { tx };
        assert!(h.submit(admitted(0)).is_ok());
        let err = h.submit(admitted(1)).unwrap_err();
        assert!(matches!(err, SeqError::Unavailable(_)));
        let resp =
            axum::response::IntoResponse::into_response(crate::http::error::ApiError::from(err));
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
    }

    #[test]
    fn stopped_sequencer_is_unavailable() {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        drop(rx);
        let h = SequencerHandle { tx };
        assert!(matches!(
            h.submit(admitted(0)),
            Err(SeqError::Unavailable("sequencer stopped"))
        ));
    }

    fn pacing(max_batch: usize, max_wait: Duration, min_interval: Duration) -> Settings {
        Settings {
            max_batch,
            max_wait,
            min_interval,
            queue: 16,
            data_dir: PathBuf::new(),
            witnessing: None,
            overlap_until: None,
        }
    }

    /// Under load (more than one submission queued) a batch waits for company until
    /// `min_interval` after the last batch started, not for `max_wait`.
    #[test]
    fn batch_under_load_gathers_until_min_interval_after_the_last_start() {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        tx.send(2).unwrap();
        let last_start = Instant::now();
        let min_interval = Duration::from_millis(150);
        let settings = pacing(100, Duration::from_secs(3600), min_interval);
        let jobs = gather(&rx, 1, &settings, last_start);
        assert_eq!(jobs, [1, 2]);
        assert!(last_start.elapsed() >= min_interval);
        assert!(last_start.elapsed() < Duration::from_secs(3600));
        drop(tx);
    }

    /// A lone submission on an idle queue waits up to `max_wait` for company.
    #[test]
    fn lone_submission_waits_max_wait() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<u32>(16);
        let started = Instant::now();
        let max_wait = Duration::from_millis(120);
        let settings = pacing(100, max_wait, Duration::from_secs(3600));
        assert_eq!(gather(&rx, 1, &settings, started), [1]);
        assert!(started.elapsed() >= max_wait);
        drop(tx);
    }

    /// Once `min_interval` has passed, a batch takes what is queued without waiting, and never
    /// more than `max_batch`; the rest waits for the next batch.
    #[test]
    fn overdue_batch_takes_the_queue_without_waiting_up_to_max_batch() {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        for j in 2..=6 {
            tx.send(j).unwrap();
        }
        let settings = pacing(4, Duration::from_secs(3600), Duration::ZERO);
        assert_eq!(gather(&rx, 1, &settings, Instant::now()), [1, 2, 3, 4]);
        assert_eq!(gather(&rx, 7, &settings, Instant::now()), [7, 5, 6]);
        drop(tx);
    }

    fn note(size: u64, signatures: usize) -> Vec<u8> {
        let mut n = format!("log\n{size}\nroot\n\n").into_bytes();
        for i in 0..signatures {
            n.extend_from_slice(format!("\u{2014} signer{i} c2lnbmF0dXJl\n").as_bytes());
        }
        n
    }

    /// The sequencer and a replica's refresh publish from different threads: publication
    /// (readers and the published-checkpoint file) only ever moves forward, and concurrent
    /// writers of the file never fail each other.
    #[test]
    fn concurrent_publication_never_goes_backwards() {
        let dir = std::env::temp_dir().join(format!("attestlog-publish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let shared = Arc::new(Shared::empty());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (shared, dir) = (shared.clone(), dir.clone());
                std::thread::spawn(move || {
                    // Interleaved sizes: each thread also offers sizes others published.
                    for i in 0..200u64 {
                        let size = (i * 7 + t * 13) % 300;
                        let p = Arc::new(Published {
                            size,
                            root: Hash::leaf(&size.to_be_bytes()),
                            note: note(size, 1),
                        });
                        let before = shared.published().size;
                        shared.publish(&dir, p, None).unwrap();
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
        let file = crate::signer::read_published(&dir).unwrap().unwrap();
        assert_eq!(file, note(max, 1), "the file holds what readers see");
        // The same tree with more signatures replaces it; with fewer it does not.
        let cosigned = |n| {
            Arc::new(Published {
                size: max,
                root: Hash::leaf(&max.to_be_bytes()),
                note: note(max, n),
            })
        };
        assert!(shared.publish(&dir, cosigned(3), None).unwrap());
        assert!(!shared.publish(&dir, cosigned(2), None).unwrap());
        assert_eq!(shared.published().note, note(max, 3));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != crate::signer::PUBLISHED_FILE)
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
