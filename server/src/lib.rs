//! # attestlog-server
//!
//! The attestlog log server: admission of DSSE data-flow attestations, the single-writer
//! sequencer, SQLite and PostgreSQL storage behind one [`storage::LogStore`] trait (several
//! replicas on one PostgreSQL database: [`replica`]), the c2sp.org/tlog-tiles static read path
//! and the `/v1` JSON API.
//!
//! Layers: [`admission`] decides whether a submission is admitted — one submit pipeline,
//! [`admission::Pipeline::admit`], for DSSE and SCITT alike (its [`admission::AdmitError`]) —
//! [`prover`] builds proofs and receipts and decides which enrolment authorised an entry (its
//! [`prover::ProverError`]); [`http`] holds the handlers that call them and maps their errors to
//! HTTP statuses ([`http::error`]).
//!
//! [`App::open`] loads or creates a log from a [`config::Config`]; [`run`] serves it on a
//! listener until a shutdown future resolves, so tests bind `127.0.0.1:0` in-process.
//!
//! What the server must do on the wire is specified in `docs/spec.md` in the repository: the
//! admission rules in §7 (decided by `attestlog_proto::rules`, which [`admission`] calls), the
//! HTTP API with its status codes in §8 ([`http`]), the static read path in §5 ([`tiles`]),
//! witnessing in §10 ([`witness`]), the SCITT profile in §11 and the limits in §14
//! ([`config`]). Operating a log: `deploy/README.md`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod clock;
pub mod config;
pub mod fsck;
pub mod http;
pub mod prover;
pub mod publication;
pub mod quota;
pub mod replica;
pub mod rules;
pub mod sequencer;
pub mod signer;
pub mod storage;
pub mod tiles;
pub mod witness;

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use attestlog_proto::keys::SignerKey;

use crate::config::Config;
use crate::http::AppState;
use crate::sequencer::{SequencerHandle, Settings};
use crate::storage::LogStore;
use crate::storage::postgres::{PostgresStore, is_postgres_url, redact_url};
use crate::storage::sqlite::SqliteStore;

/// A loaded log: state for the router, plus the sequencer thread.
pub struct App {
    /// Handler state.
    pub state: Arc<AppState>,
    /// Where the admin token lives, when generated into a file.
    pub admin_token_path: Option<std::path::PathBuf>,
    /// Whether the log key was generated at this start.
    pub key_generated: bool,
    sequencer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Replicas on PostgreSQL share one SCITT receipt key (DESIGN.md §12, deploy/README.md): a
/// replica that would generate a key of its own, whose receipts the others' key set does not
/// verify, is refused unless told (`scitt_generate_key`, for a single replica).
fn check_replica_scitt_key(config: &Config) -> anyhow::Result<()> {
    match &config.scitt_key_file {
        Some(f) if !f.is_file() => bail!(
            "refusing to start: the SCITT key file {} does not exist (every replica on \
             PostgreSQL names the same file; see deploy/README.md)",
            f.display()
        ),
        Some(_) => Ok(()),
        None if config.scitt_generate_key => Ok(()),
        None => bail!(
            "refusing to start a PostgreSQL replica without a SCITT key file: replicas must \
             share one receipt key (--scitt-key-file, ATTESTLOG_SCITT_KEY_FILE or [scitt] \
             key_file); --scitt-generate-key lets a single replica generate its own in the \
             data directory"
        ),
    }
}

/// On SQLite the database and its published-checkpoint file live in one data directory: a
/// non-empty database without the file (copied, or the file deleted) is refused unless the
/// operator says to trust storage.
fn check_sqlite_file(config: &Config, store: &dyn LogStore) -> anyhow::Result<()> {
    let size = store.latest_checkpoint()?.map_or(0, |(s, _)| s);
    if size == 0 || signer::published_present(&config.data_dir)? {
        return Ok(());
    }
    if !config.trust_storage {
        bail!(
            "refusing to start: the database holds a log of {size} entries but {} has no \
             published-checkpoint file ({}, {} or the older {}), so nothing shows whether the \
             database went back in time; if this database is known to be the latest, start \
             once with --trust-storage",
            config.data_dir.display(),
            signer::PUBLISHED_SLOTS[0],
            signer::PUBLISHED_SLOTS[1],
            signer::PUBLISHED_FILE
        );
    }
    tracing::warn!(
        size,
        "--trust-storage: starting on a database without its published-checkpoint file; the \
         rollback guard cannot tell whether it went back in time"
    );
    Ok(())
}

impl App {
    /// Opens or creates the log described by `config`.
    ///
    /// # Errors
    /// Unusable data directory, key or database; a rollback detected.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        Self::open_serving(config, |store| store)
    }

    /// Opens the log as [`App::open`] does, with the request handlers reading through
    /// `serve(store)` while the sequencer keeps the store itself (tests count the storage
    /// calls a request makes).
    ///
    /// # Errors
    /// As [`App::open`].
    #[cfg(feature = "test-support")]
    pub fn open_reading_through(
        config: &Config,
        serve: impl FnOnce(Arc<dyn LogStore>) -> Arc<dyn LogStore>,
    ) -> anyhow::Result<Self> {
        Self::open_serving(config, serve)
    }

    /// [`App::open`], the handlers reading through `serve(store)`.
    fn open_serving(
        config: &Config,
        serve: impl FnOnce(Arc<dyn LogStore>) -> Arc<dyn LogStore>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        if let Some(url) = config.database.as_deref().filter(|u| is_postgres_url(u)) {
            check_replica_scitt_key(config)?;
            let store = PostgresStore::connect(url)
                .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
            let store = Arc::new(store);
            return Self::open_replica_serving(config, store.clone(), serve(store));
        }
        let Some(db) = config.sqlite_path() else {
            bail!("unsupported database URL");
        };
        let store: Arc<dyn LogStore> = Arc::new(SqliteStore::open_with_read_cache(
            &db,
            config.read_cache_bytes,
        )?);
        check_sqlite_file(config, store.as_ref())?;
        let seq_store = store.clone();
        Self::open_inner(config, serve(store), |signers, settings| {
            let (handle, shared, join) = sequencer::start(seq_store, signers, settings)?;
            Ok((handle, shared, join, None))
        })
    }

    /// Opens one replica of a log on PostgreSQL: it serves reads at once and sequences
    /// while it holds the lease (see [`replica`]).
    ///
    /// # Errors
    /// As [`App::open`]; a database whose checkpoints another log key signed.
    pub fn open_replica(config: &Config, store: Arc<PostgresStore>) -> anyhow::Result<Self> {
        Self::open_replica_serving(config, store.clone(), store)
    }

    /// [`App::open_replica`], the handlers reading through `serving`.
    fn open_replica_serving(
        config: &Config,
        store: Arc<PostgresStore>,
        serving: Arc<dyn LogStore>,
    ) -> anyhow::Result<Self> {
        check_replica_scitt_key(config)?;
        Self::open_inner(config, serving, |signers, settings| {
            let (handle, rx) = sequencer::SequencerHandle::channel(config.queue);
            let (shared, status, join) =
                replica::start(store, signers, settings, rx, replica::Timings::default())?;
            Ok((handle, shared, join, Some(status)))
        })
    }

    /// Opens the log described by `config` on an already opened store.
    ///
    /// # Errors
    /// As [`App::open`].
    #[cfg(feature = "test-support")]
    pub fn open_with_store(config: &Config, store: Arc<dyn LogStore>) -> anyhow::Result<Self> {
        let seq_store = store.clone();
        Self::open_inner(config, store, |signers, settings| {
            let (handle, shared, join) = sequencer::start(seq_store, signers, settings)?;
            Ok((handle, shared, join, None))
        })
    }

    /// Identity, rollback check, then the sequencing part `start` builds.
    fn open_inner(
        config: &Config,
        store: Arc<dyn LogStore>,
        start: impl FnOnce(
            Vec<SignerKey>,
            Settings,
        ) -> anyhow::Result<(
            SequencerHandle,
            Arc<sequencer::Shared>,
            std::thread::JoinHandle<()>,
            Option<Arc<replica::ReplicaStatus>>,
        )>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        let identity = signer::load_identity(
            &config.data_dir,
            config.key_file.as_deref(),
            config.origin.as_deref(),
        )?;
        let (admin_token, admin_token_path) =
            signer::admin_token(&config.data_dir, config.admin_token.as_deref())?;
        let witnessing = witnessing(config)?.map(Arc::new);
        let witness_policy = witnessing
            .as_ref()
            .map(|w| w.settings().policy_text.clone());
        let cosigner = witnessing.map(|w| w as Arc<dyn publication::Cosigner>);
        let signers = signer::rotation_signers(&identity.signer, &config.previous_key_files)?;
        if let Some(p) = &config.scitt_policy {
            p.validate()
                .map_err(|e| anyhow::anyhow!("invalid [scitt] registration policy: {e}"))?;
        }
        // Before the log starts: a halt found at start sets its metric.
        let metrics = install_metrics();
        let (sequencer, shared, join, replica) = start(
            signers.clone(),
            Settings {
                max_batch: config.max_batch,
                max_wait: config.max_wait,
                min_interval: config.min_interval,
                queue: config.queue,
                data_dir: config.data_dir.clone(),
                witnessing: cosigner,
                overlap_until: config.overlap_until_unix()?,
                registration_policy: config.scitt_policy.clone(),
            },
        )
        .map_err(|e| match e.downcast_ref::<publication::GuardError>() {
            Some(g) if g.is_violation() => anyhow::anyhow!("refusing to start: {g}"),
            _ => e,
        })?;
        let scitt = http::scitt::Scitt::new(
            attestlog_proto::scitt::ReceiptSigner::new(signer::load_scitt_key(
                &config.data_dir,
                config.scitt_key_file.as_deref(),
            )?),
            signer::retired_scitt_keys(&config.scitt_retired_key_files)?,
            config.scitt_wait,
            config.scitt_policy.clone(),
        );
        let state = Arc::new(AppState {
            store,
            shared,
            sequencer,
            log_key: identity.signer.verifier(),
            signer: identity.signer,
            admin_token,
            quota: quota::Quota::new(config.quota_rate, config.quota_burst),
            cache: tiles::TileCache::new(config.tile_cache_bytes),
            metrics,
            quota_settings: (config.quota_rate, config.quota_burst),
            witness_policy,
            verifier_keys: signers.iter().map(SignerKey::verifier).collect(),
            replica,
            enrolment_receipts: prover::EnrolmentCache::default(),
            serve_limits: config.serve,
            body_limits: config.body,
            storage_pools: http::StoragePools::default(),
            scitt,
        });
        Ok(Self {
            state,
            admin_token_path,
            key_generated: identity.generated,
            sequencer: Some(join),
        })
    }

    /// A handle for bulk submission through the sequencer (tests, benchmarks).
    #[cfg(feature = "test-support")]
    #[must_use]
    pub fn sequencer(&self) -> SequencerHandle {
        self.state.sequencer.clone()
    }

    /// Serves until `shutdown` resolves, then closes the sequencer's queue and waits until the
    /// sequencer has integrated what was queued and stopped (whoever still holds the state).
    ///
    /// # Errors
    /// Server errors.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let join = self.sequencer.take();
        let sequencer = self.state.sequencer.clone();
        // The configured registration policy is logged before serving (DESIGN.md §12). Should
        // that fail (e.g. its checkpoint withheld for lack of a witness quorum), the policy in
        // force stays the one stored before it, by index, for the sequencer as for fsck.
        if let Err(e) = self.state.put_policy_in_force().await {
            tracing::error!(error = %e.message, "the configured registration policy is not in force yet");
        }
        let served = run(listener, self.state, shutdown).await;
        sequencer.close();
        if let Some(j) = join {
            let _ = tokio::task::spawn_blocking(move || j.join()).await;
        }
        Ok(served?)
    }
}

/// The witness client for the configured policy, if any.
///
/// # Errors
/// An unreadable or invalid policy file.
fn witnessing(config: &Config) -> anyhow::Result<Option<witness::Witnessing>> {
    let Some(path) = &config.witness_policy else {
        return Ok(None);
    };
    let policy_text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read witness policy {}: {e}", path.display()))?;
    let w = witness::Witnessing::new(witness::Settings {
        policy_text,
        timeout: config.witness_timeout,
        retry: config.witness_retry,
        require_quorum: config.require_quorum,
        start_without_quorum: config.start_without_quorum,
        grace: config.witness_grace,
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Some(w))
}

fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use std::sync::OnceLock;
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Connections the kernel may queue for the listener before it accepts them (capped by
/// `net.core.somaxconn`). The usual 128 drops the connection requests of a burst of clients,
/// which then retry only after TCP's one-second timeout.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Most threads of the server's blocking pool (storage work waits for one beyond it).
///
/// Tokio's default (512) is not a bound in practice: a storage call frees its place
/// ([`http::STORAGE_READS`]) just before its thread goes idle, so the next call often starts
/// a new thread, and under a bundle crawl hundreds of threads built up, each keeping memory
/// its allocator had handed it (483 threads, 460 MiB of private memory). With 8, 16 or 80
/// threads the same crawl peaked at 156, 161 and 231 MiB with as many bundles served; 16
/// leaves room for the four searches ([`http::STORAGE_SEARCHES`]) beside the reads.
pub const BLOCKING_THREADS: usize = 16;

/// `attestlog-server clear-halt` (DESIGN.md §9): removes the halt recorded in the data
/// directory and, on PostgreSQL, the one recorded in the database every replica shares. The
/// next start or take-over of the sequencer lease runs every check again.
///
/// # Errors
/// The database cannot be opened; a record cannot be read or removed.
pub fn clear_halt(config: &Config) -> anyhow::Result<publication::Cleared> {
    let store = match config.database.as_deref().filter(|u| is_postgres_url(u)) {
        Some(url) => Some(
            PostgresStore::connect(url)
                .with_context(|| format!("cannot open the database {}", redact_url(url)))?,
        ),
        None => None,
    };
    publication::clear_recorded_halt(&config.data_dir, store.as_ref().map(|s| s as &dyn LogStore))
}

/// The server's Tokio runtime: multi-threaded, at most `blocking_threads` blocking threads
/// ([`BLOCKING_THREADS`] in the server), every thread named `thread_name`.
///
/// # Errors
/// The runtime cannot be built.
pub fn runtime(
    blocking_threads: usize,
    thread_name: &str,
) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads.max(1))
        .thread_name(thread_name)
        .build()
}

/// Binds a listener on `addr` with [`LISTEN_BACKLOG`].
///
/// # Errors
/// The address cannot be bound.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves the router on `listener` until `shutdown` resolves (graceful: in-flight requests
/// finish), with the timeouts and limits of DESIGN.md §11 ([`attestlog_serve`]). The
/// sequencer stops when the last handle (inside `state`) is dropped.
///
/// # Errors
/// I/O errors of the listener.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.serve_limits;
    let app = http::router(state);
    attestlog_serve::serve(listener, app, &limits, shutdown).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use super::*;

    /// A sequencer thread that died (here: a test fault makes it panic) is noticed: `/readyz`
    /// answers 503 naming it, submissions get 503, and reads still serve the published
    /// checkpoint.
    /// Shutdown is explicit: `serve` returns once the sequencer thread has stopped, even while
    /// the state (and so a sequencer handle) is still held elsewhere; submissions through that
    /// handle are then refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_stops_the_sequencer_while_the_state_is_still_held() {
        let dir = attestlog_serve::fs::scratch_dir("attestlog-server-unit", "shutdown").unwrap();
        let mut config = Config::with_data_dir(&dir);
        config.admin_token = Some("test-admin-token".into());
        let app = App::open(&config).unwrap();
        let held = app.state.clone();
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        tokio::time::timeout(Duration::from_secs(30), app.serve(listener, async {}))
            .await
            .expect("serve waits for the sequencer only")
            .unwrap();
        assert!(held.sequencer.is_closed());
        drop(held);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_sequencer_thread_makes_the_log_not_ready_and_reads_still_serve() {
        let dir = attestlog_serve::fs::scratch_dir("attestlog-server-unit", "dead-seq").unwrap();
        let mut config = Config::with_data_dir(&dir);
        config.admin_token = Some("test-admin-token".into());
        config.max_wait = Duration::from_millis(2);
        config.quota_rate = 0.0;
        let app = App::open(&config).unwrap();
        let state = app.state.clone();
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        let enrol = |seed: u8| {
            let key = SignerKey::from_seed(
                "vendor.example/k",
                attestlog_proto::keys::TYPE_ED25519,
                &[seed; 32],
            )
            .unwrap();
            http.post(format!("{url}/v1/vendors"))
                .bearer_auth("test-admin-token")
                .json(&serde_json::json!({"vendor": format!("Vendor {seed}"),
                    "key": key.verifier().to_string(), "action": "enrol"}))
                .send()
        };
        let readyz = || http.get(format!("{url}/readyz")).send();
        assert_eq!(enrol(1).await.unwrap().status(), 201);
        assert_eq!(readyz().await.unwrap().status(), 200);
        let checkpoint = http
            .get(format!("{url}/checkpoint"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();

        state.shared.die.store(true, Ordering::SeqCst);
        assert_eq!(enrol(2).await.unwrap().status(), 503);
        let deadline = Instant::now() + Duration::from_secs(20);
        let why = loop {
            let r = readyz().await.unwrap();
            if r.status() == 503 {
                break r.text().await.unwrap();
            }
            assert!(Instant::now() < deadline, "/readyz stayed ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(why.contains("sequencer thread died"), "{why}");
        for seed in 3..6 {
            assert_eq!(enrol(seed).await.unwrap().status(), 503);
        }
        let r = http.get(format!("{url}/checkpoint")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap(), checkpoint);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
