//! The sequencer: the single writer of the tree.
//!
//! Validated submissions arrive on a bounded queue (full → 503). One thread takes them in
//! batches (up to `max_batch` entries; an idle queue waits `max_wait` for company, a busy one
//! gathers until `min_interval` after the last batch started), re-checks what depends on order
//! (dedup, the enrolment rules, attestation-id ownership), assigns indexes, extends the
//! right edge with [`attestlog_proto::integrate`], signs the new checkpoint and writes
//! everything in one transaction. Only after the commit, a consistency proof from the last
//! published checkpoint and the published-checkpoint file ([`crate::publication`]) is the
//! checkpoint published and are submitters answered. After any storage error the checks of
//! [`publication::check_storage`] run again before the next batch; a failed check halts
//! sequencing (submissions get 503) until a later full check passes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvError, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use attestlog_proto::integrate::{Edge, integrate};
use attestlog_proto::keys::{SignerKey, VerifierKey};
use tokio::sync::oneshot;

use attestlog_proto::cose::is_cose_entry;
use attestlog_proto::rules::{Candidate, Chain, Claim, Judgement, Ledger, SubjectFacts};

use crate::publication::{self, Cosigner, GuardError, PublishError, PublishOutcome};
pub use crate::publication::{Published, Shared};
use crate::rules::{self, Enrolments, RuleError};
use crate::storage::{Batch, BatchEntry, LogStore, StoreError};

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
    /// Sequencing is halted, or the entry's batch could not be published; the message says
    /// what happened to the entry.
    #[error("{0}")]
    Halted(String),
}

/// A queued submission and where to send its answer.
pub(crate) struct Job {
    pub(crate) admitted: Admitted,
    pub(crate) reply: oneshot::Sender<Result<Integrated, SeqError>>,
    pub(crate) queued: Instant,
}

/// Handle used by request handlers to submit. Every clone shares one sender:
/// [`close`](Self::close) on any of them stops the sequencer, however many clones are still
/// held.
///
/// The queue is bounded by a count, not by a preallocated buffer: a bounded `sync_channel`
/// of 65,536 jobs allocated (and touched) every slot at start, about 45 MiB of a server's
/// memory whether or not anything was ever queued.
#[derive(Clone, Debug)]
pub struct SequencerHandle {
    tx: Arc<RwLock<Option<Sender<Job>>>>,
    /// Jobs queued and not yet received.
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

/// The receiving end of the submission queue.
pub(crate) struct Jobs {
    rx: std::sync::mpsc::Receiver<Job>,
    depth: Arc<AtomicUsize>,
}

impl Jobs {
    fn took<E>(&self, r: Result<Job, E>) -> Result<Job, E> {
        if r.is_ok() {
            self.depth.fetch_sub(1, Ordering::AcqRel);
        }
        r
    }

    /// The next job, waiting for it; an error once the queue is closed and empty.
    pub(crate) fn recv(&self) -> Result<Job, RecvError> {
        self.took(self.rx.recv())
    }

    /// The next job if one is queued.
    pub(crate) fn try_recv(&self) -> Result<Job, TryRecvError> {
        self.took(self.rx.try_recv())
    }

    /// The next job, waiting at most `d`.
    pub(crate) fn recv_timeout(&self, d: Duration) -> Result<Job, RecvTimeoutError> {
        self.took(self.rx.recv_timeout(d))
    }
}

/// What [`gather`] takes jobs from.
trait Take<T> {
    fn try_recv(&self) -> Result<T, TryRecvError>;
    fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError>;
}

impl Take<Job> for Jobs {
    fn try_recv(&self) -> Result<Job, TryRecvError> {
        Jobs::try_recv(self)
    }

    fn recv_timeout(&self, d: Duration) -> Result<Job, RecvTimeoutError> {
        Jobs::recv_timeout(self, d)
    }
}

#[cfg(test)]
impl<T> Take<T> for std::sync::mpsc::Receiver<T> {
    fn try_recv(&self) -> Result<T, TryRecvError> {
        std::sync::mpsc::Receiver::try_recv(self)
    }

    fn recv_timeout(&self, d: Duration) -> Result<T, RecvTimeoutError> {
        std::sync::mpsc::Receiver::recv_timeout(self, d)
    }
}

impl SequencerHandle {
    /// A handle and the receiving end of its queue of at most `capacity` jobs.
    pub(crate) fn channel(capacity: usize) -> (Self, Jobs) {
        let (tx, rx) = std::sync::mpsc::channel();
        let depth = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx: Arc::new(RwLock::new(Some(tx))),
                depth: depth.clone(),
                capacity,
            },
            Jobs { rx, depth },
        )
    }

    /// Queues `job`; a job that could not be queued comes back with the reason.
    fn send(&self, job: Job) -> Option<(Job, SeqError)> {
        const STOPPED: SeqError = SeqError::Unavailable("sequencer stopped");
        let guard = self.tx.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            return Some((job, STOPPED));
        };
        if self.depth.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Some((job, SeqError::Unavailable("submission queue is full")));
        }
        match tx.send(job) {
            Ok(()) => None,
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::AcqRel);
                Some((e.0, STOPPED))
            }
        }
    }

    /// Passes on an already queued job (replicas hand jobs to their sequencer); a full or
    /// closed queue answers the job itself.
    pub(crate) fn forward(&self, job: Job) {
        if let Some((job, e)) = self.send(job) {
            let _ = job.reply.send(Err(e));
        }
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
        match self.send(Job {
            admitted,
            reply,
            queued: Instant::now(),
        }) {
            None => Ok(rx),
            Some((_, e)) => Err(e),
        }
    }

    /// Closes the queue for every clone: later submissions are refused as
    /// [`SeqError::Unavailable`]; the sequencer integrates the jobs already queued, then its
    /// thread ends (a replica's queue consumer stops its tasks and local sequencer).
    pub fn close(&self) {
        self.tx
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Whether [`close`](Self::close) was called.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.tx
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
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
    pub witnessing: Option<Arc<dyn Cosigner>>,
    /// Key rotation: after this Unix time only the first signer signs checkpoints.
    pub overlap_until: Option<u64>,
    /// The configured SCITT registration policy (DESIGN.md §12; None: the built-in one): the
    /// policy logged as policy 1, signed by the current log key, just before the first signed
    /// statement of a log that has none in force.
    pub registration_policy: Option<attestlog_proto::registration::RegistrationPolicy>,
}

/// What [`Sequencer::batch_history`] reads for a batch: the stored duplicates (by leaf hash),
/// the rules' history, and the registration policy in force.
type BatchHistory = (
    HashMap<Hash, u64>,
    Ledger,
    Option<attestlog_proto::registration::RegistrationPolicy>,
);

/// The sequencer's private state.
struct Sequencer {
    store: Arc<dyn LogStore>,
    shared: Arc<Shared>,
    signers: Vec<SignerKey>,
    origin: String,
    /// The right edge of the stored tree.
    edge: Edge,
    enrolments: Enrolments,
    /// The index from which the claim rules apply (DESIGN.md §10).
    claims_from: u64,
    /// The index from which every signed statement has a registration policy entry below it
    /// (DESIGN.md §12).
    policies_from: u64,
    settings: Settings,
    /// A committed checkpoint kept from readers until a witness quorum cosigns it.
    withheld: Option<Arc<Published>>,
    /// A storage error happened: the checks run again before the next batch.
    recheck: bool,
    /// The registration policy in force at the stored tree's end, as last read (DESIGN.md
    /// §12): refreshed from storage for batches with signed statements or policy entries.
    policy: Option<attestlog_proto::registration::RegistrationPolicy>,
}

/// Marks the log halted when the sequencer thread dies of a panic (readiness reports it).
struct PanicGuard(Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .fail("the sequencer thread died (panic); restart the server");
        }
    }
}

/// Starts the sequencer thread. Returns the handle and shared state; the thread ends when
/// the handle is closed ([`SequencerHandle::close`]) or every clone dropped, after integrating
/// the jobs already queued.
///
/// # Errors
/// Storage errors while loading the tree edge, a failed check of DESIGN.md §9, or signing
/// the first checkpoint.
pub fn start(
    store: Arc<dyn LogStore>,
    signers: Vec<SignerKey>,
    settings: Settings,
) -> anyhow::Result<(SequencerHandle, Arc<Shared>, std::thread::JoinHandle<()>)> {
    let (handle, rx) = SequencerHandle::channel(settings.queue);
    let halt = publication::recorded_halt(&settings.data_dir, store.as_ref())
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    if let Some(halt) = halt {
        // Halted by a recorded conflict: serve what was published, sequence nothing.
        let keys = verifier_keys(&signers);
        let shared = publication::start_halted(
            store.as_ref(),
            &keys,
            &settings.data_dir,
            &halt,
            publication::WithoutFile::Refuse,
        )?;
        let join = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || refuse_all(&rx, &halt.0))?;
        return Ok((handle, shared, join));
    }
    let shared = Arc::new(Shared::empty());
    let data_dir = settings.data_dir.clone();
    let join = resume(store.clone(), signers, settings, shared.clone(), rx)?;
    shared.record_conflicts_in(&data_dir, store);
    Ok((handle, shared, join))
}

fn verifier_keys(signers: &[SignerKey]) -> Vec<VerifierKey> {
    signers.iter().map(SignerKey::verifier).collect()
}

/// Runs the checks of [`publication::check_storage`] (signing the empty tree of a new log
/// first), loads the enrolment history, shows the witnesses the stored checkpoint, publishes
/// it into `shared` and starts the sequencer thread on `rx`. A replica calls this each time it
/// acquires the sequencer lease: the tree may have grown under another holder. A failed check
/// halts sequencing ([`Shared::fail`]); checks that pass clear an earlier failure.
///
/// # Errors
/// As [`start`].
pub(crate) fn resume(
    store: Arc<dyn LogStore>,
    signers: Vec<SignerKey>,
    settings: Settings,
    shared: Arc<Shared>,
    rx: Jobs,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let origin = signers
        .first()
        .map(|s| s.name().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no log signer"))?;
    if let Some(why) = shared.conflict() {
        anyhow::bail!(
            "sequencing stays halted by a conflict with a published checkpoint ({why}); \
             find the cause, then clear it with `attestlog-server clear-halt` and restart \
             (deploy/README.md)"
        );
    }
    // A halt recorded by another replica in the shared database: checked where the lease is
    // taken, before anything is signed (a batch refuses it too, in its transaction).
    if let Some((why, _)) = publication::recorded_halt(&settings.data_dir, store.as_ref())? {
        shared.halt_as_recorded(&why);
        anyhow::bail!("sequencing stays halted by a recorded conflict ({why})");
    }
    if store.latest_checkpoint()?.is_none() {
        let note = rules::sign_checkpoint(&signers, &origin, 0, &Hash::EMPTY_ROOT)?;
        store.commit_batch(&Batch {
            old_size: 0,
            entries: vec![],
            tiles: vec![],
            checkpoint: note,
        })?;
    }
    let halt = |e: anyhow::Error| {
        if let Some(g) = e.downcast_ref::<GuardError>()
            && g.is_violation()
        {
            shared.fail_check(g);
        }
        e
    };
    let keys = verifier_keys(&signers);
    let head = publication::check_storage(store.as_ref(), &keys, &settings.data_dir, &shared)
        .map_err(|e| halt(e.into()))?;
    let enrolments = rules::enrolments_from_rows(&store.enrolments()?)?;
    let claims_from = store.claims_from()?;
    let policies_from = store.policies_from()?;
    let latest = Arc::new(head.published);
    let (published, withheld) = match &settings.witnessing {
        Some(w) => publication::on_start(w.as_ref(), &store, &keys, &settings.data_dir, latest)
            .map_err(halt)?,
        None => (latest, None),
    };
    shared
        .publish(
            None,
            &settings.data_dir,
            published,
            Some(Arc::new(enrolments.clone())),
        )
        .map_err(|e| match e {
            PublishError::Guard(g) => halt(g.into()),
            PublishError::File(f) => f.into(),
        })?;
    if !shared.clear_failure() {
        anyhow::bail!(
            "sequencing stays halted by a conflict with a published checkpoint ({})",
            shared.failure().unwrap_or_default()
        );
    }
    let mut seq = Sequencer {
        store,
        shared: shared.clone(),
        signers,
        origin,
        edge: head.edge,
        enrolments,
        claims_from,
        policies_from,
        settings,
        withheld,
        recheck: false,
        policy: None,
    };
    let join = std::thread::Builder::new()
        .name("sequencer".into())
        .spawn(move || {
            let _guard = PanicGuard(shared);
            seq.run(&rx);
        })?;
    Ok(join)
}

enum Outcome {
    New(u64),
    Duplicate(u64),
    Rejected(SeqError),
}

/// What became of a batch's new entries.
enum Batched {
    /// Written and published in this checkpoint.
    Published(Arc<Published>),
    /// Written; the checkpoint waits for a witness quorum.
    Withheld,
    /// Not written (why; empty: nothing to add).
    NotWritten(String),
    /// Written, but the checkpoint was not published (why); sequencing halted.
    NotPublished(String),
}

impl Sequencer {
    fn run(&mut self, rx: &Jobs) {
        let mut last_start = Instant::now();
        while let Some(first) = self.next_job(rx) {
            #[cfg(test)]
            assert!(
                !self.shared.die.load(std::sync::atomic::Ordering::SeqCst),
                "test fault: the sequencer thread dies"
            );
            if let Some(why) = self.shared.failure() {
                let _ = first.reply.send(Err(halted(&why)));
                continue;
            }
            let jobs = gather(rx, first, &self.settings, last_start);
            last_start = Instant::now();
            if self.recheck
                && let Err(e) = self.check_again()
            {
                let err = if e.is_violation() {
                    halted(&e.to_string())
                } else {
                    SeqError::Storage(e.to_string())
                };
                for j in jobs {
                    let _ = j.reply.send(Err(err.clone()));
                }
                continue;
            }
            self.integrate(jobs);
        }
        tracing::info!("sequencer stopped");
    }

    /// After a storage error: the full checks again, and the state reloaded from storage
    /// (an ambiguous commit may have landed). A stored checkpoint newer than the published
    /// one, proven consistent with it, is published.
    fn check_again(&mut self) -> Result<(), GuardError> {
        let keys = verifier_keys(&self.signers);
        let r = publication::check_storage(
            self.store.as_ref(),
            &keys,
            &self.settings.data_dir,
            &self.shared,
        );
        let head = match r {
            Ok(h) => h,
            Err(e) => {
                if e.is_violation() {
                    self.shared.fail_check(&e);
                }
                return Err(e);
            }
        };
        let rows = self
            .store
            .enrolments()
            .map_err(|e| GuardError::Unavailable(e.to_string()))?;
        let enrolments = rules::enrolments_from_rows(&rows)
            .map_err(|e| GuardError::Unavailable(format!("stored enrolments: {e}")))?;
        if head.edge.size() != self.edge.size() {
            tracing::warn!(
                from = self.edge.size(),
                to = head.edge.size(),
                "the stored tree changed under the sequencer; continuing from storage after \
                 the checks passed"
            );
        }
        self.edge = head.edge;
        self.enrolments = enrolments;
        self.recheck = false;
        if head.published.size > self.shared.published().size {
            self.publish_committed(Arc::new(head.published))
                .map_err(|e| GuardError::Unavailable(e.clone()))?;
        }
        Ok(())
    }

    fn integrate(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        for j in &jobs {
            // Time in queue: from admission handing the job over to its batch starting.
            metrics::histogram!("attestlog_queue_seconds")
                .record(started.duration_since(j.queued).as_secs_f64());
        }
        let old_size = self.edge.size();
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut entries = Vec::new();
        let mut leaves = Vec::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let (stored, mut ledger, mut policy) = match self.batch_history(&jobs) {
            Ok(p) => p,
            Err(e) => {
                self.recheck = true;
                let err = SeqError::Storage(e.to_string());
                let outcomes = jobs
                    .iter()
                    .map(|_| Outcome::Rejected(err.clone()))
                    .collect();
                self.answer(jobs, outcomes, &Batched::NotWritten(String::new()));
                return;
            }
        };
        // A verification may name an attestation of its own batch.
        let verifying = jobs
            .iter()
            .any(|j| j.admitted.candidate.verification().is_some());
        for job in &jobs {
            let e = &job.admitted.entry;
            if let Some(&i) = in_batch
                .get(&e.leaf_hash)
                .or_else(|| stored.get(&e.leaf_hash))
            {
                outcomes.push(Outcome::Duplicate(i));
                continue;
            }
            let mut index = old_size + leaves.len() as u64;
            let registering = is_cose_entry(&e.data);
            // Every signed statement is judged under a logged registration policy (DESIGN.md
            // §12): on a log with none in force, the policy is logged just before the first.
            if registering && policy.is_none() && index >= self.policies_from {
                let first = self.first_policy();
                match ledger.admit(index, &first.candidate) {
                    Ok(Judgement::New) => {
                        if let Claim::Policy(p) = &first.candidate.claim {
                            policy = Some((**p).clone());
                        }
                        tracing::info!(
                            index,
                            "logged registration policy 1 before the first signed statement"
                        );
                        in_batch.insert(first.entry.leaf_hash, index);
                        leaves.push(first.entry.leaf_hash);
                        entries.push(first.entry);
                        index += 1;
                    }
                    other => {
                        // Policy 1 is stored, yet none is in force: storage is inconsistent.
                        let why = format!(
                            "registration policy 1 cannot be logged at index {index}: {other:?}"
                        );
                        tracing::error!("{why}");
                        outcomes.push(Outcome::Rejected(SeqError::Storage(why)));
                        continue;
                    }
                }
            }
            // The rule engine, in index order: statement dedup (within the batch too), the
            // enrolment history, the signers' keys at this index, the version chain.
            let c = &job.admitted.candidate;
            if registering
                && let Err(err) =
                    attestlog_proto::rules::check_registration(policy.as_ref(), c, e.data.len())
            {
                outcomes.push(Outcome::Rejected(SeqError::Rule(err.into())));
                continue;
            }
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
                    if verifying {
                        ledger.record_subject(index, SubjectFacts::of(&e.data, &c.claim));
                    }
                    if let Claim::Policy(p) = &c.claim {
                        policy = Some((**p).clone());
                    }
                }
            }
            in_batch.insert(e.leaf_hash, index);
            leaves.push(e.leaf_hash);
            entries.push(e.clone());
            outcomes.push(Outcome::New(index));
        }
        if leaves.is_empty() {
            self.answer(jobs, outcomes, &Batched::NotWritten(String::new()));
            return;
        }
        let (edge, tiles) = integrate(&self.edge, &leaves);
        let (new_size, root) = (edge.size(), edge.root());
        let signers = self.active_signers();
        let note = match rules::sign_checkpoint(&signers, &self.origin, new_size, &root) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign checkpoint");
                self.answer(jobs, outcomes, &Batched::NotWritten(String::new()));
                return;
            }
        };
        let batch = Batch {
            old_size,
            entries,
            tiles,
            checkpoint: note.clone(),
        };
        if let Err(e) = self.store.commit_batch(&batch) {
            // Whether an interrupted commit landed is unknown: the checks run again, from
            // storage, before the next batch.
            self.recheck = true;
            let why = if let StoreError::Halted(why) = &e {
                // Another replica recorded a conflict: nothing more is signed here.
                let why = publication::halt_words(why, publication::IN_DATABASE);
                self.shared.halt_as_recorded(&why);
                format!("the batch was not written: {why}")
            } else if matches!(e, StoreError::SizeConflict { .. }) {
                tracing::warn!(error = %e, "another writer extended the tree; batch not written");
                "the batch was not written (another writer extended the tree); submit again"
                    .to_owned()
            } else {
                tracing::error!(error = %e, "batch commit failed");
                "storage failed while writing the batch; submit again (an entry that was \
                 written after all is answered as a duplicate)"
                    .to_owned()
            };
            self.answer(jobs, outcomes, &Batched::NotWritten(why));
            if let Err(e) = self.check_again() {
                tracing::warn!(error = %e, "storage checks after the failed commit did not pass");
            }
            return;
        }
        // The batch is durable: adopt it, even if it cannot be published below.
        self.edge = edge;
        self.policy = policy;
        let enrolled = batch.entries.iter().any(|e| e.enrolment.is_some());
        self.enrolments = ledger.into_enrolment();
        let p = Arc::new(Published {
            size: new_size,
            root,
            note,
        });
        let result = if enrolled {
            self.publish_committed(p)
        } else {
            self.publish_committed_keep_enrolments(p)
        };
        if result.is_ok() {
            metrics::counter!("attestlog_entries_integrated_total").increment(new_size - old_size);
            metrics::histogram!("attestlog_batch_size").record((new_size - old_size) as f64);
            metrics::histogram!("attestlog_batch_seconds").record(started.elapsed().as_secs_f64());
            metrics::gauge!("attestlog_tree_size").set(new_size as f64);
        }
        let batched = match result {
            Ok(Some(p)) => Batched::Published(p),
            Ok(None) => Batched::Withheld,
            Err(why) => Batched::NotPublished(why),
        };
        self.answer(jobs, outcomes, &batched);
    }

    /// The entry of registration policy 1: the configured policy, else the built-in one,
    /// signed by the current log key.
    fn first_policy(&self) -> Admitted {
        let policy = attestlog_proto::registration::RegistrationPolicy {
            sequence: 1,
            ..self
                .settings
                .registration_policy
                .clone()
                .unwrap_or_else(|| attestlog_proto::registration::RegistrationPolicy::built_in(1))
        };
        crate::admission::policy_entry(policy, &self.signers[0])
    }

    /// Cosigns and publishes a committed checkpoint (with the current enrolment state).
    /// `Ok(None)`: withheld for lack of a quorum. `Err`: not published, sequencing halted.
    fn publish_committed(&mut self, p: Arc<Published>) -> Result<Option<Arc<Published>>, String> {
        self.publish_with(p, true)
    }

    /// As [`Self::publish_committed`], leaving readers' enrolment state as it is.
    fn publish_committed_keep_enrolments(
        &mut self,
        p: Arc<Published>,
    ) -> Result<Option<Arc<Published>>, String> {
        self.publish_with(p, false)
    }

    fn publish_with(
        &mut self,
        p: Arc<Published>,
        enrolments_changed: bool,
    ) -> Result<Option<Arc<Published>>, String> {
        let note = match self.cosign_for_publication(&p) {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.shared.fail_check(&e);
                return Err(e.to_string());
            }
        };
        let p = Arc::new(Published {
            note,
            ..(*p).clone()
        });
        let was_withheld = self.withheld.take().is_some();
        let enrolments =
            (enrolments_changed || was_withheld).then(|| Arc::new(self.enrolments.clone()));
        let r = self.shared.publish(
            Some(self.store.as_ref()),
            &self.settings.data_dir,
            p.clone(),
            enrolments,
        );
        let e = match r {
            Ok(PublishOutcome::Published) => return Ok(Some(p)),
            Ok(PublishOutcome::AlreadyPublished) => return Ok(Some(self.shared.published())),
            Ok(PublishOutcome::Older) => GuardError::Diverged {
                stored: publication::Summary {
                    size: p.size,
                    root: p.root,
                },
                published: publication::Summary {
                    size: self.shared.published().size,
                    root: self.shared.published().root,
                },
                by: "this process",
                why: "a larger checkpoint was published while the sequencer wrote this one".into(),
            },
            Err(PublishError::Guard(g)) => g,
            Err(e @ PublishError::File(_)) => {
                let why = e.to_string();
                self.shared.fail(&why);
                return Err(why);
            }
        };
        self.shared.fail_check(&e);
        Err(e.to_string())
    }

    /// What the rules need to judge this batch, in one round trip each: stored duplicates
    /// (by leaf hash), and a [`Ledger`] with the enrolment state, the stored first index of
    /// each statement of the batch, and the chain of each attestation id it mentions.
    /// Signed statements are judged under the registration policy in force at their index
    /// (DESIGN.md §12), as fsck replays them: for a batch with signed statements or policy
    /// entries, the policy in force is read on from the one last known.
    fn batch_history(&self, jobs: &[Job]) -> Result<BatchHistory, StoreError> {
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
        let verifications: Vec<(&str, u64)> = jobs
            .iter()
            .filter_map(|j| j.admitted.candidate.verification())
            .map(|v| {
                let p = &v.predicate;
                (p.verifier.legal_name.as_str(), p.subject_entry.log_index)
            })
            .collect();
        let stored = self.store.lookup_leaves(&leaves)?;
        let statements = self.store.lookup_statements(&statements)?;
        let mut chains = self.store.attestation_chains(&ids)?;
        if !verifications.is_empty() {
            chains.extend(self.store.verification_chains(&verifications)?);
        }
        let chains = chains
            .into_iter()
            .filter_map(|(id, versions)| Chain::follow(versions).map(|c| (id, c)))
            .collect();
        let mut ledger = Ledger::with_history(
            self.claims_from,
            self.enrolments.clone(),
            statements,
            chains,
        );
        // What the log holds at each stored subject a verification names (subjects in this
        // batch are recorded as the batch is judged).
        let mut subjects: Vec<u64> = verifications.iter().map(|(_, s)| *s).collect();
        subjects.sort_unstable();
        subjects.dedup();
        for s in subjects.into_iter().filter(|s| *s < self.edge.size()) {
            if let Some(facts) = crate::storage::subject_facts(self.store.as_ref(), s)? {
                ledger.record_subject(s, facts);
            }
        }
        let registering = jobs.iter().any(|j| {
            is_cose_entry(&j.admitted.entry.data)
                || matches!(j.admitted.candidate.claim, Claim::Policy(_))
        });
        let policy = if registering {
            rules::policy_in_force(self.store.as_ref(), self.edge.size(), self.policy.clone())?
        } else {
            self.policy.clone()
        };
        Ok((stored, ledger, policy))
    }

    /// Answers a batch; every answer tells the truth about the entry.
    fn answer(&self, jobs: Vec<Job>, outcomes: Vec<Outcome>, batched: &Batched) {
        let current = self.shared.published();
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            metrics::histogram!("attestlog_integration_seconds")
                .record(job.queued.elapsed().as_secs_f64());
            let result = match outcome {
                Outcome::New(index) => match batched {
                    Batched::Published(p) => Ok(Integrated {
                        index,
                        new: true,
                        published: p.clone(),
                    }),
                    Batched::Withheld => Err(SeqError::Unavailable(WITHHELD)),
                    Batched::NotPublished(why) => Err(SeqError::Halted(format!(
                        "the entry is stored at index {index}, but its checkpoint was not \
                         published: {why}"
                    ))),
                    Batched::NotWritten(why) if why.is_empty() => {
                        Err(SeqError::Storage("batch was not committed".into()))
                    }
                    Batched::NotWritten(why) => Err(SeqError::Storage(why.clone())),
                },
                Outcome::Duplicate(index) if index < current.size => Ok(Integrated {
                    index,
                    new: false,
                    published: current.clone(),
                }),
                Outcome::Duplicate(_) => Err(SeqError::Unavailable(STORED_NOT_PUBLISHED)),
                Outcome::Rejected(e) => Err(e),
            };
            let _ = job.reply.send(result);
        }
    }
}

/// A log halted by a recorded conflict: every submission is answered [`halted`] until the
/// queue closes.
fn refuse_all(rx: &Jobs, why: &str) {
    while let Ok(job) = rx.recv() {
        let _ = job.reply.send(Err(halted(why)));
    }
    tracing::info!("sequencer stopped");
}

/// The answer while sequencing is halted.
fn halted(why: &str) -> SeqError {
    SeqError::Halted(format!(
        "the log is not accepting entries: a storage check failed ({why})"
    ))
}

/// What a submitter whose entry (or statement) is stored, but not yet in a published
/// checkpoint, is told.
pub const STORED_NOT_PUBLISHED: &str =
    "the original entry is stored but not yet in a published checkpoint; submit it again later";

/// What a submitter whose entry is stored, but whose checkpoint is withheld, is told.
const WITHHELD: &str = "the entry is stored, but its checkpoint is not yet cosigned by a witness \
quorum; submit it again later to get its receipt";

/// One batch: `first` and what queued up while the last batch was being written (group
/// commit). Under load the batch keeps gathering until `min_interval` after the last batch
/// started (`last_start`), so each commit's fixed cost is shared by more entries; a queue
/// that was idle waits up to `max_wait` for company. Never more than `max_batch` entries.
fn gather<T>(rx: &impl Take<T>, first: T, settings: &Settings, last_start: Instant) -> Vec<T> {
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
/// Witnessing and key rotation around the commit path (see [`crate::publication`]).
impl Sequencer {
    /// The next submission; while a checkpoint is withheld, retries witnessing when idle.
    fn next_job(&mut self, rx: &Jobs) -> Option<Job> {
        loop {
            let retry = self
                .withheld
                .as_ref()
                .and(self.settings.witnessing.as_ref())
                .map(|w| w.retry());
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
            .is_some_and(|t| crate::clock::unix_now() >= t);
        if ended {
            self.signers.iter().take(1).cloned().collect()
        } else {
            self.signers.clone()
        }
    }

    /// Has a committed checkpoint cosigned: the note to publish, or `None` when it is
    /// withheld for lack of a quorum (kept for [`Self::retry_withheld`]).
    ///
    /// # Errors
    /// A witness answer showing a conflict.
    fn cosign_for_publication(
        &mut self,
        p: &Arc<Published>,
    ) -> Result<Option<Vec<u8>>, GuardError> {
        let Some(w) = self.settings.witnessing.clone() else {
            return Ok(Some(p.note.clone()));
        };
        match publication::cosign(w.as_ref(), &self.store, p)? {
            Some(cosigned) => Ok(Some(cosigned)),
            None => {
                self.withheld = Some(p.clone());
                Ok(None)
            }
        }
    }

    /// Asks the witnesses again for the withheld checkpoint and publishes it on a quorum.
    fn retry_withheld(&mut self) {
        if self.shared.failure().is_some() {
            return;
        }
        let Some(p) = self.withheld.take() else {
            return;
        };
        if let Ok(Some(_)) = self.publish_committed(p.clone()) {
            metrics::gauge!("attestlog_tree_size").set(p.size as f64);
            tracing::info!(size = p.size, "published the withheld checkpoint");
        }
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
                verification: None,
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
        let (h, _rx) = SequencerHandle::channel(1);
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
        let (h, rx) = SequencerHandle::channel(4);
        drop(rx);
        assert!(matches!(
            h.submit(admitted(0)),
            Err(SeqError::Unavailable("sequencer stopped"))
        ));
    }

    /// Closing one clone stops them all; a job queued before the close is still delivered,
    /// then the queue ends (the sequencer thread's loop ends on it).
    #[test]
    fn close_stops_every_clone_and_delivers_what_was_queued() {
        let (h, rx) = SequencerHandle::channel(4);
        let other = h.clone();
        assert!(h.submit(admitted(0)).is_ok());
        other.close();
        assert!(matches!(
            h.submit(admitted(1)),
            Err(SeqError::Unavailable("sequencer stopped"))
        ));
        assert!(rx.recv().is_ok());
        assert!(rx.recv().is_err());
    }

    /// The sequencer and the witness client meet only through [`publication::Cosigner`].
    #[test]
    fn sequencer_and_witness_client_do_not_import_each_other() {
        let (sequencer, witness) = (include_str!("sequencer.rs"), include_str!("witness.rs"));
        for path in [concat!("crate::", "witness"), concat!("super::", "witness")] {
            assert!(!sequencer.contains(path), "sequencer.rs uses {path}");
        }
        for path in [
            concat!("crate::", "sequencer"),
            concat!("super::", "sequencer"),
        ] {
            assert!(!witness.contains(path), "witness.rs uses {path}");
        }
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
            registration_policy: None,
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
}
