//! Several stateless replicas on one PostgreSQL database (DESIGN.md §5).
//!
//! Every replica admits submissions and serves every read. One replica at a time holds the
//! **sequencer lease**, a session-level advisory lock on a dedicated connection, and runs the
//! [`crate::sequencer`] on it; it loads the right edge of the tree from the database when it
//! acquires the lease (the tree may have grown under another holder). Batches stay
//! compare-and-swap on the stored tree size, so even two holders could never extend the tree
//! twice.
//!
//! A replica without the lease writes each validated submission to the `pending` table and
//! waits for its outcome in `pending_results`. The holder drains `pending` into its batches;
//! a batch that integrates a pending row deletes it and records the outcome in the same
//! transaction (nothing lost, nothing doubled), and duplicates or rule refusals are recorded
//! with the original index or the error. A submitter that gets no outcome in time gets 503 with
//! `Retry-After` (the entry may still be integrated later; resubmitting it is answered as a
//! duplicate).
//!
//! Every replica follows the latest checkpoint and the enrolment history in the database, so
//! reads and receipts agree across replicas, and records each checkpoint it publishes in its
//! own `published-checkpoint` file (the rollback guard) before serving it.
//!
//! When the holder dies its session ends, the lock is released, and another replica's next
//! attempt (every [`Timings::lease_retry`]) takes over.

use crate::sequencer::Jobs;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::keys::{SignerKey, VerifierKey};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::NoTls;

use crate::publication::{self, GuardError, PublishError, Summary};
use crate::rules::{Enrolments, RuleError};
use crate::sequencer::{self, Admitted, Integrated, SeqError, SequencerHandle, Settings, Shared};
use crate::storage::postgres::{Db, PostgresStore, TRY_LEASE};

pub mod queue;

use crate::publication::verified_published;
use crate::storage::{Batch, LogIndex, LogRead, LogStore, LogWrite, StoreError};
use queue::{PendingOutcome, PendingQueue, PendingRow};

/// Advisory lock key of the sequencer lease ("attestlg").
pub const LEASE_KEY: i64 = 0x6174_7465_7374_6c67;

/// This replica's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the lease and runs the sequencer.
    Sequencer,
    /// Hands submissions to the lease holder through the database.
    Follower,
}

impl Role {
    /// `sequencer` or `follower`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sequencer => "sequencer",
            Role::Follower => "follower",
        }
    }
}

/// What readiness reports about a replica.
#[derive(Debug, Default)]
pub struct ReplicaStatus {
    leader: AtomicBool,
    take_overs: AtomicU64,
}

impl ReplicaStatus {
    /// How often this replica acquired the lease and ran the take-over checks (whether they
    /// passed or not).
    #[must_use]
    pub fn take_overs(&self) -> u64 {
        self.take_overs.load(Ordering::Acquire)
    }

    /// The current role.
    #[must_use]
    pub fn role(&self) -> Role {
        if self.leader.load(Ordering::Acquire) {
            Role::Sequencer
        } else {
            Role::Follower
        }
    }
}

/// How often replicas poll; tests shorten nothing, the defaults already take over in about a
/// second.
#[derive(Debug, Clone)]
pub struct Timings {
    /// How often a follower tries the lease, and the holder checks its lease connection.
    pub lease_retry: Duration,
    /// How often pending rows and outcomes are polled.
    pub poll: Duration,
    /// How often a follower reloads the latest checkpoint.
    pub refresh: Duration,
    /// How long a submitter waits for the lease holder.
    pub submit_timeout: Duration,
    /// How long uncollected outcomes are kept.
    pub result_ttl: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_retry: Duration::from_millis(500),
            poll: Duration::from_millis(5),
            refresh: Duration::from_millis(100),
            submit_timeout: Duration::from_secs(30),
            result_ttl: Duration::from_secs(3600),
        }
    }
}

/// What a follower stores beside a pending entry's bytes: nothing the lease holder trusts (it
/// re-verifies the bytes, [`decode`]), kept for the column's sake.
const PENDING_META: &str = "{}";

/// The lease holder's view of a pending row: the entry bytes verified again with the rule
/// engine against its own enrolment state (DESIGN.md §9: write access to the database alone
/// must never get an entry logged), with its statement identity for the sequencer's dedup.
fn decode(
    row: &PendingRow,
    enrolments: &Enrolments,
    log_key: &VerifierKey,
) -> Result<Admitted, PendingOutcome> {
    if Hash::leaf(&row.data) != row.leaf_hash {
        return Err(PendingOutcome::Rejected {
            code: 422,
            field: None,
            message: "unreadable pending submission: leaf hash does not match the entry".into(),
        });
    }
    crate::admission::reverify(&row.data, enrolments, log_key).map_err(|e| {
        let e = RuleError::from(e);
        rejected(&e)
    })
}

fn rejected(e: &RuleError) -> PendingOutcome {
    match e {
        RuleError::Conflict(m) => PendingOutcome::Rejected {
            code: 409,
            field: None,
            message: m.clone(),
        },
        RuleError::Unprocessable { field, message } => PendingOutcome::Rejected {
            code: 422,
            field: field.clone(),
            message: message.clone(),
        },
    }
}

/// A follower's submission on its way into `pending`, and who waits for its row id.
struct HandOver {
    leaf: Hash,
    data: Vec<u8>,
    id: oneshot::Sender<Result<i64, SeqError>>,
}

/// How many submissions a follower queues in `pending` with one statement at most.
const HAND_OVER_ROWS: usize = 1024;

fn storage(e: &StoreError) -> SeqError {
    SeqError::Storage(e.to_string())
}

/// A replica's running parts.
struct Ctx {
    store: Arc<PostgresStore>,
    db: Db,
    /// Submissions handed between replicas.
    queue: PendingQueue,
    signers: Vec<SignerKey>,
    settings: Settings,
    shared: Arc<Shared>,
    status: Arc<ReplicaStatus>,
    timings: Timings,
    /// The local sequencer's queue while this replica holds the lease.
    leader: Mutex<Option<SequencerHandle>>,
    sequencer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Submissions on their way into `pending` ([`Ctx::queue_pending`]).
    handing_over: mpsc::Sender<HandOver>,
    /// Submitters waiting for the outcome of their pending row.
    waiters: Mutex<HashMap<i64, oneshot::Sender<PendingOutcome>>>,
    refresh_lock: tokio::sync::Mutex<()>,
    stop: watch::Sender<bool>,
}

/// The checks of DESIGN.md §9 at a replica's start (creating the empty tree's checkpoint for
/// a new log), then the stored checkpoint published.
///
/// # Errors
/// As [`start`].
fn start_checked(
    store: &Arc<PostgresStore>,
    signers: &[SignerKey],
    keys: &[VerifierKey],
    settings: &Settings,
) -> anyhow::Result<Arc<Shared>> {
    let signer = signers
        .first()
        .ok_or_else(|| anyhow::anyhow!("no log signer"))?;
    if store.latest_checkpoint()?.is_none() {
        let note = crate::rules::sign_checkpoint(signers, signer.name(), 0, &Hash::EMPTY_ROOT)?;
        let empty = Batch {
            old_size: 0,
            entries: vec![],
            tiles: vec![],
            checkpoint: note,
        };
        // Replicas starting together: one of them writes it; the others see it below.
        if let Err(e) = store.commit_batch(&empty) {
            tracing::debug!(error = %e, "another replica created the log");
        }
    }
    // The checks of DESIGN.md §9 against this replica's published-checkpoint file; without
    // one (a new replica) the database's latest checkpoint is adopted.
    let shared = Arc::new(Shared::empty());
    let adopting = !crate::signer::published_present(&settings.data_dir)?;
    let head = publication::check_storage(store.as_ref(), keys, &settings.data_dir, &shared)
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    if adopting {
        tracing::warn!(
            size = head.published.size,
            root = %head.published.root.to_base64(),
            "no published-checkpoint file in the data directory: adopting the database's \
             latest checkpoint after its checks passed (without witnesses a database rolled \
             back together with every replica's data directory cannot be detected)"
        );
    }
    let (published, enrolments) = verified_published(
        keys,
        head.published.size,
        head.published.note,
        &store.enrolments()?,
    )?;
    shared.publish(
        None,
        &settings.data_dir,
        Arc::new(published),
        Some(Arc::new(enrolments)),
    )?;
    // Started: a conflict found from now on (at a take-over, a publication) outlives the
    // process.
    shared.record_conflicts_in(&settings.data_dir, store.clone());
    Ok(shared)
}

/// Starts a replica: publishes the stored checkpoint (creating the empty tree's for a new
/// log), then consumes `rx` (handing jobs to the local sequencer while this replica holds the
/// lease, through the database otherwise) and runs the lease, outcome and refresh tasks on the
/// store's runtime. The returned thread ends when every handle of `rx`'s queue is dropped.
///
/// # Errors
/// Storage errors; a stored checkpoint that this replica's log key did not sign.
pub(crate) fn start(
    store: Arc<PostgresStore>,
    signers: Vec<SignerKey>,
    settings: Settings,
    rx: Jobs,
    timings: Timings,
) -> anyhow::Result<(Arc<Shared>, Arc<ReplicaStatus>, std::thread::JoinHandle<()>)> {
    let keys: Vec<VerifierKey> = signers.iter().map(SignerKey::verifier).collect();
    let halt = publication::recorded_halt(&settings.data_dir, store.as_ref())
        .map_err(|e| anyhow::anyhow!("refusing to start: {e}"))?;
    let shared = match &halt {
        // Halted by a conflict recorded here or by another replica in the database: serve
        // what was published; every take-over of the lease refuses while the conflict stands.
        Some(halt) => publication::start_halted(
            store.as_ref(),
            &keys,
            &settings.data_dir,
            halt,
            publication::WithoutFile::Recorded,
        )?,
        None => start_checked(&store, &signers, &keys, &settings)?,
    };
    let status = Arc::new(ReplicaStatus::default());
    let (stop, _) = watch::channel(false);
    let (handing_over, to_queue) = mpsc::channel(HAND_OVER_ROWS);
    let ctx = Arc::new(Ctx {
        db: store.db(),
        queue: PendingQueue::new(store.db()),
        store,
        signers,
        settings,
        shared: shared.clone(),
        status: status.clone(),
        timings,
        leader: Mutex::new(None),
        sequencer_thread: Mutex::new(None),
        handing_over,
        waiters: Mutex::new(HashMap::new()),
        refresh_lock: tokio::sync::Mutex::new(()),
        stop,
    });
    let rt = ctx.store.handle();
    rt.spawn(ctx.clone().lease());
    rt.spawn(ctx.clone().collect_outcomes());
    rt.spawn(ctx.clone().queue_pending(to_queue));
    rt.spawn(ctx.clone().follow_checkpoints());
    let join = std::thread::Builder::new()
        .name("replica".into())
        .spawn(move || ctx.dispatch(&rx))?;
    Ok((shared, status, join))
}

impl Ctx {
    fn leader_handle(&self) -> Option<SequencerHandle> {
        self.leader.lock().ok().and_then(|g| g.clone())
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`, or returns true once the replica stops.
    async fn pause(&self, d: Duration) -> bool {
        let mut stop = self.stop.subscribe();
        if *stop.borrow() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => false,
            _ = stop.changed() => true,
        }
    }

    /// The replica's queue consumer; on shutdown stops the tasks and the local sequencer.
    fn dispatch(self: Arc<Self>, rx: &Jobs) {
        while let Ok(job) = rx.recv() {
            if let Some(why) = self.shared.failure() {
                let _ = job.reply.send(Err(SeqError::Halted(format!(
                    "the log is not accepting entries: a storage check failed ({why})"
                ))));
                continue;
            }
            match self.leader_handle() {
                Some(h) => h.forward(job),
                None => {
                    let ctx = self.clone();
                    self.store.handle().spawn(async move {
                        let result = ctx.hand_over(&job.admitted).await;
                        let _ = job.reply.send(result);
                    });
                }
            }
        }
        let _ = self.stop.send(true);
        if let Ok(mut g) = self.leader.lock() {
            g.take();
        }
        let thread = self.sequencer_thread.lock().ok().and_then(|mut g| g.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Follower path: queue the submission in the database and wait for its outcome.
    async fn hand_over(&self, a: &Admitted) -> Result<Integrated, SeqError> {
        let (id_tx, id_rx) = oneshot::channel();
        let queued = HandOver {
            leaf: a.entry.leaf_hash,
            data: a.entry.data.clone(),
            id: id_tx,
        };
        if self.handing_over.send(queued).await.is_err() {
            return Err(SeqError::Unavailable("stopped"));
        }
        let id = id_rx
            .await
            .unwrap_or(Err(SeqError::Unavailable("stopped")))?;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(id, tx);
        }
        let outcome = match tokio::time::timeout(self.timings.submit_timeout, rx).await {
            Ok(Ok(o)) => o,
            _ => {
                if let Ok(mut w) = self.waiters.lock() {
                    w.remove(&id);
                }
                return Err(SeqError::Unavailable(
                    "no sequencer integrated the entry in time",
                ));
            }
        };
        let (index, new) = match outcome {
            PendingOutcome::New(i) => (i, true),
            PendingOutcome::Duplicate(i) => (i, false),
            PendingOutcome::Rejected {
                code,
                field,
                message,
            } => {
                return Err(SeqError::Rule(if code == 409 {
                    RuleError::Conflict(message)
                } else {
                    RuleError::Unprocessable { field, message }
                }));
            }
        };
        // The checkpoint that integrates it, read from the database unless this replica
        // already published one that covers it (a batch's submitters all wait for the same
        // checkpoint: the first one's refresh serves the others).
        if self.shared.published().size <= index {
            self.refresh()
                .await
                .map_err(|e| SeqError::Storage(e.to_string()))?;
        }
        let published = self.shared.published();
        if published.size <= index {
            return Err(SeqError::Storage(
                "the integrating checkpoint is not readable yet".into(),
            ));
        }
        Ok(Integrated {
            index,
            new,
            published,
        })
    }

    /// Queues followers' submissions in `pending`: whatever arrived while the last statement
    /// ran goes in with the next one (one commit, one WAL flush, for all of them), so the
    /// hand-over costs the database a transaction per group rather than per submission, and
    /// a lone submission waits for no one.
    async fn queue_pending(self: Arc<Self>, mut rx: mpsc::Receiver<HandOver>) {
        let mut stop = self.stop.subscribe();
        loop {
            let first = tokio::select! {
                h = rx.recv() => h,
                _ = stop.changed() => None,
            };
            let Some(first) = first else { break };
            let mut group = vec![first];
            while group.len() < HAND_OVER_ROWS {
                match rx.try_recv() {
                    Ok(h) => group.push(h),
                    Err(_) => break,
                }
            }
            let rows: Vec<(Hash, &[u8])> = group.iter().map(|h| (h.leaf, &h.data[..])).collect();
            match self.queue.insert_pending(&rows, PENDING_META).await {
                Ok(ids) => {
                    for (h, id) in group.into_iter().zip(ids) {
                        let _ = h.id.send(Ok(id));
                    }
                }
                Err(e) => {
                    for h in group {
                        let _ = h.id.send(Err(storage(&e)));
                    }
                }
            }
        }
    }

    /// Delivers outcomes to waiting submitters.
    async fn collect_outcomes(self: Arc<Self>) {
        while !self.pause(self.timings.poll).await {
            let ids: Vec<i64> = self
                .waiters
                .lock()
                .map(|w| w.keys().copied().collect())
                .unwrap_or_default();
            if ids.is_empty() {
                continue;
            }
            match self.queue.take_results(&ids).await {
                Ok(results) => {
                    let Ok(mut w) = self.waiters.lock() else {
                        continue;
                    };
                    for (id, outcome) in results {
                        if let Some(tx) = w.remove(&id) {
                            let _ = tx.send(outcome);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read submission outcomes"),
            }
        }
    }

    /// Followers reload the latest checkpoint and enrolments periodically.
    async fn follow_checkpoints(self: Arc<Self>) {
        while !self.pause(self.timings.refresh).await {
            if self.status.role() == Role::Follower
                && let Err(e) = self.refresh().await
            {
                tracing::warn!(error = %e, "cannot follow the latest checkpoint");
            }
        }
    }

    /// Publishes the database's latest checkpoint if it is newer than (or a cosigned form of)
    /// the published one: the published-checkpoint file first, then readers.
    async fn refresh(&self) -> anyhow::Result<()> {
        let _g = self.refresh_lock.lock().await;
        if self.shared.conflict().is_some() {
            // Halted by a conflict: keep serving what this replica published.
            return Ok(());
        }
        let Some((size, note)) = self.db.latest_checkpoint().await? else {
            return Ok(());
        };
        let current = self.shared.published();
        if size == current.size && note == current.note {
            return Ok(());
        }
        let keys: Vec<VerifierKey> = self.signers.iter().map(SignerKey::verifier).collect();
        if size < current.size {
            // The database went back in time under this replica.
            let stored = SignedCheckpoint::open(&note, &keys)
                .map(|c| c.checkpoint().root)
                .unwrap_or(Hash::EMPTY_ROOT);
            let e = GuardError::Behind {
                stored: Summary { size, root: stored },
                published: Summary {
                    size: current.size,
                    root: current.root,
                },
                by: "this replica",
            };
            self.shared.fail_check(&e);
            return Err(e.into());
        }
        let rows = self.db.enrolments().await?;
        if let Some(w) = &self.settings.witnessing
            && w.require_quorum()
        {
            // The lease holder stores a checkpoint before its witnesses cosign it and withholds
            // it until a quorum has: followers publish only what the lease holder would.
            let signed = SignedCheckpoint::open(&note, &keys)?;
            if let Err(e) = attestlog_proto::policy::witnessed(w.policy(), signed) {
                tracing::debug!(size, error = %e, "stored checkpoint not yet publishable");
                return Ok(());
            }
        }
        let (published, enrolments) = verified_published(&keys, size, note, &rows)?;
        let dir = self.settings.data_dir.clone();
        let shared = self.shared.clone();
        let store = self.store.clone();
        // Published only after a consistency proof from the published checkpoint, computed
        // from storage, verifies.
        let r = tokio::task::spawn_blocking(move || {
            shared.publish(
                Some(store.as_ref()),
                &dir,
                Arc::new(published),
                Some(Arc::new(enrolments)),
            )
        })
        .await?;
        if let Err(PublishError::Guard(g)) = &r
            && g.is_violation()
        {
            self.shared.fail_check(g);
        }
        r?;
        Ok(())
    }

    /// Tries the lease until it is held; then checks the lease connection and drains pending
    /// submissions into the local sequencer.
    async fn lease(self: Arc<Self>) {
        let mut conn: Option<tokio_postgres::Client> = None;
        let mut held = false;
        loop {
            if conn.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
                if held {
                    self.step_down("the lease connection closed");
                    held = false;
                }
                conn = match tokio_postgres::connect(self.store.url(), NoTls).await {
                    Ok((client, connection)) => {
                        tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        Some(client)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot open the lease connection");
                        None
                    }
                };
            }
            self.honour_recorded_halt().await;
            if let Some(c) = &conn {
                if held && let Some(why) = self.shared.failure() {
                    // Halted: release the lease, so that the checks run again at the next
                    // take-over (this replica's or another's) and another replica may
                    // sequence meanwhile.
                    self.step_down(&format!("sequencing halted ({why})"));
                    held = false;
                    conn = None;
                } else if held {
                    if let Err(e) = c.simple_query("SELECT 1").await {
                        self.step_down(&format!("the lease connection failed: {e}"));
                        held = false;
                        conn = None;
                    }
                } else {
                    match c.query_one(TRY_LEASE, &[&LEASE_KEY]).await {
                        Ok(r) if r.get::<_, bool>(0) => match self.clone().take_over().await {
                            Ok(()) => held = true,
                            Err(e) => {
                                self.status.take_overs.fetch_add(1, Ordering::AcqRel);
                                if self.shared.failure().is_some() {
                                    // Logged once by the failed check.
                                    tracing::debug!(error = %e, "not taking the lease");
                                } else {
                                    tracing::error!(error = %e, "cannot start the sequencer");
                                }
                                // Closing the session releases the lock for another replica.
                                conn = None;
                            }
                        },
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot try the sequencer lease");
                            conn = None;
                        }
                    }
                }
            }
            if self.pause(self.timings.lease_retry).await {
                break;
            }
        }
    }

    /// A halt recorded by another replica in the database halts this one too (DESIGN.md §9):
    /// read at every turn of the lease loop, so a holder steps down and a follower stops
    /// accepting submissions within [`Timings::lease_retry`]. A record that cannot be read
    /// changes nothing here: the take-over's own check reads it again and refuses.
    async fn honour_recorded_halt(&self) {
        if self.shared.conflict().is_some() {
            return;
        }
        let (dir, store) = (self.settings.data_dir.clone(), self.store.clone());
        let r =
            tokio::task::spawn_blocking(move || publication::recorded_halt(&dir, store.as_ref()))
                .await;
        match r {
            Ok(Ok(Some((why, _)))) => self.shared.halt_as_recorded(&why),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the recorded halt"),
            Err(e) => tracing::warn!(error = %e, "cannot read the recorded halt"),
        }
    }

    /// Starts the sequencer from the stored tree and the drain of pending submissions.
    async fn take_over(self: Arc<Self>) -> anyhow::Result<()> {
        let (handle, rx) = SequencerHandle::channel(self.settings.queue);
        let ctx = self.clone();
        let join = tokio::task::spawn_blocking(move || {
            let store: Arc<dyn LogStore> = ctx.store.clone();
            sequencer::resume(
                store,
                ctx.signers.clone(),
                ctx.settings.clone(),
                ctx.shared.clone(),
                rx,
            )
        })
        .await??;
        if let Ok(mut g) = self.sequencer_thread.lock()
            && let Some(old) = g.replace(join)
            && !old.is_finished()
        {
            tracing::warn!("a previous sequencer thread is still finishing its batch");
        }
        if let Ok(mut g) = self.leader.lock() {
            *g = Some(handle);
        }
        self.status.leader.store(true, Ordering::Release);
        self.status.take_overs.fetch_add(1, Ordering::AcqRel);
        tracing::info!(
            size = self.shared.published().size,
            "acquired the sequencer lease"
        );
        tokio::spawn(self.drain());
        Ok(())
    }

    fn step_down(&self, why: &str) {
        tracing::error!(reason = why, "lost the sequencer lease; following again");
        self.status.leader.store(false, Ordering::Release);
        if let Ok(mut g) = self.leader.lock() {
            g.take();
        }
    }

    /// The lease holder feeds pending submissions to its sequencer.
    async fn drain(self: Arc<Self>) {
        let limit = i64::try_from(self.settings.max_batch).unwrap_or(4096);
        let mut since_expiry = std::time::Instant::now();
        while !self.pause(self.timings.poll).await {
            let Some(h) = self.leader_handle() else {
                break;
            };
            let rows = match self.queue.fetch_pending(limit).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read pending submissions");
                    continue;
                }
            };
            let enrolments = self.shared.enrolments();
            let log_key = self.signers.first().map(SignerKey::verifier);
            for row in rows {
                let Some(log_key) = &log_key else { break };
                let admitted = match decode(&row, &enrolments, log_key) {
                    Ok(a) => a,
                    Err(outcome) => {
                        if let Err(e) = self.queue.finish_pending(row.id, &outcome).await {
                            tracing::warn!(error = %e, "cannot record a pending outcome");
                        }
                        continue;
                    }
                };
                self.queue.claim(row.leaf_hash, row.id);
                match h.submit(admitted) {
                    Ok(rx) => {
                        let ctx = self.clone();
                        tokio::spawn(async move {
                            let r = rx.await.unwrap_or(Err(SeqError::Unavailable("stopped")));
                            ctx.settle(row.id, &row.leaf_hash, r).await;
                        });
                    }
                    Err(_) => {
                        self.queue.unclaim(&row.leaf_hash, row.id);
                        break;
                    }
                }
            }
            if since_expiry.elapsed() > Duration::from_secs(60) {
                since_expiry = std::time::Instant::now();
                if let Err(e) = self.queue.expire_results(self.timings.result_ttl).await {
                    tracing::warn!(error = %e, "cannot expire old outcomes");
                }
            }
        }
        if self.stopped() {
            tracing::debug!("pending drain stopped");
        }
    }

    /// Records what the sequencer decided for a pending row. New entries were recorded by
    /// their batch's transaction; failures leave the row for a later attempt.
    async fn settle(&self, id: i64, leaf: &Hash, r: Result<Integrated, SeqError>) {
        let outcome = match r {
            Ok(i) if i.new => None,
            Ok(i) => Some(PendingOutcome::Duplicate(i.index)),
            Err(SeqError::Rule(e)) => Some(rejected(&e)),
            Err(e) => {
                tracing::debug!(error = %e, id, "pending submission not integrated; will retry");
                None
            }
        };
        if let Some(o) = outcome
            && let Err(e) = self.queue.finish_pending(id, &o).await
        {
            tracing::warn!(error = %e, "cannot record a pending outcome");
        }
        self.queue.unclaim(leaf, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_holder_verifies_pending_entries_again() {
        use attestlog_proto::enrolment::{Action, Enrolment, EnrolmentState};
        use attestlog_proto::keys::TYPE_ED25519;
        let log = SignerKey::from_seed("log.example/l", TYPE_ED25519, &[1; 32]).unwrap();
        let vendor = SignerKey::from_seed("v.example/k", TYPE_ED25519, &[2; 32]).unwrap();
        let enrol = Enrolment {
            vendor: "V AG".into(),
            key: vendor.verifier(),
            action: Action::Enrol,
            issued_at: "2026-01-01T00:00:00Z".into(),
            role: attestlog_proto::enrolment::KeyRole::Vendor,
        };
        let data = enrol.to_envelope(&log).canonical_bytes();
        let row = PendingRow {
            id: 1,
            leaf_hash: Hash::leaf(&data),
            data: data.clone(),
            meta: PENDING_META.into(),
        };
        let state = EnrolmentState::new();
        let a = decode(&row, &state, &log.verifier()).unwrap();
        assert_eq!(a.entry.enrolment.as_ref().unwrap().key, vendor.verifier());
        assert_eq!(a.entry.statement, Some(a.candidate.statement_hash));
        // Bytes that do not match the leaf hash, or an enrolment the log did not sign, are
        // refused whatever the row says.
        let bad = PendingRow {
            data: b"other".to_vec(),
            ..row.clone()
        };
        assert!(decode(&bad, &state, &log.verifier()).is_err());
        let forged = enrol.to_envelope(&vendor).canonical_bytes();
        let bad = PendingRow {
            leaf_hash: Hash::leaf(&forged),
            data: forged,
            ..row
        };
        match decode(&bad, &state, &log.verifier()) {
            Err(PendingOutcome::Rejected { code: 422, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
