//! A c2sp.org/tlog-witness server: the `add-checkpoint` endpoint, its persistent state and
//! the evidence it keeps (DESIGN.md §6).
//!
//! The witness trusts the `log` lines of a tlog-policy file. For each log origin it keeps
//! the latest checkpoint it cosigned in `<state>/logs/<sha256(origin) hex>.json`, written
//! atomically (temporary file, fsync, rename) before it answers. The witness holds an
//! exclusive lock on `<state>/lock` while it runs (a second witness on the same directory is
//! refused), and every request re-reads its log's state from disk under one mutex, so
//! check-and-update is atomic and nothing is kept in memory per origin. A request's origin is
//! checked against the policy (and capped at [`attestlog_proto::witness::MAX_ORIGIN_BYTES`]) before anything is parsed,
//! read or written under it.
//!
//! Under hostile load it is served like the log ([`attestlog_serve`]): header and request
//! timeouts, at most [`MAX_IN_FLIGHT`] requests in flight and bodies of at most
//! [`MAX_BODY_BYTES`]. The decision itself is the protocol crate's pure
//! [`check_add_checkpoint`]; the status codes are exactly the spec's (404 unknown origin,
//! 403 no trusted signature, 400 malformed or `old` > size, 409 with a `text/x.tlog.size`
//! body when `old` is not the latest cosigned size or the size is the same with another
//! root, 422 bad proof).
//!
//! Every validly signed checkpoint that conflicts with the stored one (same size with a
//! different root, or a consistency proof that does not verify) is recorded in
//! `<state>/evidence/` as a [`ForkEvidence`] file that `attestlog verify-fork` checks.
//!
//! <https://c2sp.org/tlog-witness>

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use attestlog_proto::Hash;
use attestlog_proto::cosignature::cosign;
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, VerifierKey};
use attestlog_proto::policy::Policy;
use attestlog_proto::witness::{
    ADD_CHECKPOINT_PATH, AddCheckpointRequest, CONTENT_TYPE_TLOG_SIZE, WitnessError,
    check_add_checkpoint, cosignature_response, request_origin, size_body,
};
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fork::{FORMAT, ForkEvidence};
use attestlog_serve::fs::{unix_now, write_atomic};

/// Directory (under the state directory) of the per-log state files.
pub const LOGS_DIR: &str = "logs";
/// Directory (under the state directory) of the evidence files.
pub const EVIDENCE_DIR: &str = "evidence";
/// The file (under the state directory) a running witness holds an exclusive lock on.
pub const LOCK_FILE: &str = "lock";
/// Largest `add-checkpoint` body the witness reads: a checkpoint with a hundred signatures
/// and a 63-line proof fit many times over.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most requests the witness handles at once (with [`MAX_BODY_BYTES`], at most 16 MiB of
/// request bodies held).
pub const MAX_IN_FLIGHT: usize = 256;

/// Errors opening or running a witness.
#[derive(Debug, thiserror::Error)]
pub enum WitnessServerError {
    /// The key is not a cosignature/v1 (type `0x04`) key.
    #[error("the witness key must be a cosignature/v1 (type 0x04) key, got type 0x{0:02x}")]
    KeyType(u8),
    /// The policy has no `log` lines.
    #[error("the policy names no logs to witness")]
    NoLogs,
    /// Reading or writing the state directory failed.
    #[error("witness state {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the state directory's lock.
    #[error("witness state {0} is in use by another witness")]
    Locked(PathBuf),
    /// A state file does not parse.
    #[error("witness state {path} is invalid: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessServerError + '_ {
    move |source| WitnessServerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The stored state of one log: the latest checkpoint the witness cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// The log origin.
    pub origin: String,
    /// Tree size of the latest cosigned checkpoint.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// The log-signed checkpoint note as received (for evidence).
    pub checkpoint: String,
}

/// An HTTP answer of the witness: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, message: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{message}\n").into_bytes(),
        }
    }

    fn error(e: &WitnessError) -> Self {
        match e.conflict_size() {
            Some(size) => Self {
                status: e.status(),
                content_type: CONTENT_TYPE_TLOG_SIZE,
                body: size_body(size),
            },
            None => Self::text(e.status(), &e.to_string()),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// A witness: its key, the logs it trusts and its state directory.
pub struct Witness {
    key: SignerKey,
    log_keys: Vec<VerifierKey>,
    dir: PathBuf,
    /// Held for the witness's lifetime: no other witness writes this state directory.
    _lock: std::fs::File,
    /// Makes re-read, check and update of a log's state atomic.
    update: tokio::sync::Mutex<()>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.key.verifier())
            .field("logs", &self.log_keys)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness signing with `key` (type `0x04`) for the `log` lines of `policy`, keeping its
    /// state in `dir` (created if missing).
    ///
    /// # Errors
    /// [`WitnessServerError`] for a wrong key type, a policy without logs, an unusable
    /// directory or one another witness holds ([`WitnessServerError::Locked`]).
    pub fn open(key: SignerKey, policy: &Policy, dir: &Path) -> Result<Self, WitnessServerError> {
        let t = key.verifier().key_type();
        if t != TYPE_COSIGNATURE_V1 {
            return Err(WitnessServerError::KeyType(t));
        }
        let log_keys = policy.log_keys();
        if log_keys.is_empty() {
            return Err(WitnessServerError::NoLogs);
        }
        for d in [dir.join(LOGS_DIR), dir.join(EVIDENCE_DIR)] {
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(WitnessServerError::Locked(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        Ok(Self {
            key,
            log_keys,
            dir: dir.to_owned(),
            _lock: lock,
            update: tokio::sync::Mutex::new(()),
            clock: Box::new(unix_now),
        })
    }

    /// Replaces the cosignature clock (seconds since the Unix epoch), for tests.
    #[cfg(test)]
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The witness's verifier key (for `witness` lines of policies).
    #[must_use]
    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier()
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        let name = hex::encode(Sha256::digest(origin.as_bytes()));
        self.dir.join(LOGS_DIR).join(format!("{name}.json"))
    }

    fn load(&self, origin: &str) -> Result<Option<LogState>, WitnessServerError> {
        let path = self.state_path(origin);
        match std::fs::read(&path) {
            Ok(b) => {
                let s: LogState =
                    serde_json::from_slice(&b).map_err(|e| WitnessServerError::State {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                if s.origin != origin {
                    return Err(WitnessServerError::State {
                        path,
                        message: format!("holds origin {:?}", s.origin),
                    });
                }
                Ok(Some(s))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The latest checkpoint cosigned for `origin`, as stored.
    ///
    /// # Errors
    /// Unreadable state.
    pub fn latest(&self, origin: &str) -> Result<Option<LogState>, WitnessServerError> {
        self.load(origin)
    }

    /// The evidence files recorded so far.
    ///
    /// # Errors
    /// Unreadable evidence directory.
    #[cfg(any(test, feature = "test-support"))]
    pub fn evidence_files(&self) -> Result<Vec<PathBuf>, WitnessServerError> {
        let d = self.dir.join(EVIDENCE_DIR);
        let mut out: Vec<PathBuf> = std::fs::read_dir(&d)
            .map_err(io_err(&d))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        out.sort();
        Ok(out)
    }

    fn record_evidence(
        &self,
        latest: &LogState,
        req: &AddCheckpointRequest,
        why: &WitnessError,
    ) -> Result<(), WitnessServerError> {
        let evidence = ForkEvidence {
            format: FORMAT.to_owned(),
            origin: latest.origin.clone(),
            first: latest.checkpoint.clone(),
            second: String::from_utf8_lossy(&req.checkpoint).into_owned(),
            consistency_proof: req.proof.clone(),
            prefix_root: None,
            source: Some("witness add-checkpoint request".into()),
            reason: why.to_string(),
        };
        // One file per (stored, shown) pair of checkpoints: repeats overwrite, nothing is lost.
        let mut h = Sha256::new();
        h.update(latest.checkpoint.as_bytes());
        h.update(&req.checkpoint);
        let digest = hex::encode(h.finalize());
        let path = self.dir.join(EVIDENCE_DIR).join(format!(
            "{}-{}.json",
            &hex::encode(Sha256::digest(latest.origin.as_bytes()))[..16],
            &digest[..16]
        ));
        let data = serde_json::to_vec_pretty(&evidence).map_err(|e| WitnessServerError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &data, 0o644).map_err(io_err(&path))
    }

    /// Handles one `add-checkpoint` request body and returns the answer. State changes are
    /// durable before this returns.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Reply {
        let req = match AddCheckpointRequest::parse(body) {
            Ok(r) => r,
            Err(e) => return Reply::error(&e),
        };
        // The origin is checked against the policy before anything is parsed, read or kept
        // under it: a flood of made-up (or huge) origins costs nothing but the body.
        let origin = match request_origin(&req) {
            Ok(o) => o,
            Err(e) => return Reply::error(&e),
        };
        if !self.log_keys.iter().any(|k| k.name() == origin) {
            let shown: String = origin.chars().take(64).collect();
            return Reply::error(&WitnessError::UnknownOrigin(shown));
        }
        // Re-read under the mutex: the file is the state, never a copy kept in memory.
        let guard = self.update.lock().await;
        let latest = match self.load(origin) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("witness: {e}");
                return Reply::text(503, "witness state is unavailable");
            }
        };
        let update = match check_add_checkpoint(
            &self.log_keys,
            latest.as_ref().map(|s| (s.size, s.root)),
            &req,
        ) {
            Ok(u) => u,
            Err(e) => {
                if let (Some(l), WitnessError::RootMismatch { .. } | WitnessError::BadProof) =
                    (&latest, &e)
                    && let Err(err) = self.record_evidence(l, &req, &e)
                {
                    eprintln!("witness: cannot record evidence: {err}");
                }
                return Reply::error(&e);
            }
        };
        let advanced = latest.as_ref().is_none_or(|l| l.size < update.size());
        if advanced {
            let state = LogState {
                origin: update.origin().to_owned(),
                size: update.size(),
                root: update.root(),
                checkpoint: String::from_utf8_lossy(&req.checkpoint).into_owned(),
            };
            let path = self.state_path(&state.origin);
            let saved = serde_json::to_vec_pretty(&state)
                .map_err(std::io::Error::other)
                .and_then(|d| write_atomic(&path, &d, 0o644));
            if let Err(e) = saved {
                eprintln!("witness: cannot persist {}: {e}", path.display());
                return Reply::text(503, "witness state cannot be persisted");
            }
        }
        drop(guard);
        match cosign(&self.key, (self.clock)(), update.text()) {
            Ok(sig) => Reply {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: cosignature_response(&[sig]),
            },
            Err(e) => Reply::text(503, &format!("cannot cosign: {e}")),
        }
    }
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Body) -> Reply {
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => w.add_checkpoint(&b).await,
        Err(_) => Reply::text(
            413,
            &format!("request body exceeds {MAX_BODY_BYTES} bytes or cannot be read"),
        ),
    }
}

/// The witness's limits: the defaults of DESIGN.md §11 with [`MAX_IN_FLIGHT`].
#[must_use]
pub fn limits() -> attestlog_serve::Limits {
    attestlog_serve::Limits {
        max_in_flight: MAX_IN_FLIGHT,
        ..attestlog_serve::Limits::default()
    }
}

/// A request the witness refused by itself, as plain text (503 with `Retry-After`, or 408).
fn render_rejection(r: attestlog_serve::Rejection, l: &attestlog_serve::Limits) -> Response {
    match r {
        attestlog_serve::Rejection::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Reply::text(503, &r.message(l)),
        )
            .into_response(),
        attestlog_serve::Rejection::Timeout => Reply::text(408, &r.message(l)).into_response(),
    }
}

/// The witness router: `POST /add-checkpoint` (the submission prefix is the server root),
/// behind `limits`.
pub fn router(witness: Arc<Witness>, limits: &attestlog_serve::Limits) -> axum::Router {
    let router = axum::Router::new()
        .route(ADD_CHECKPOINT_PATH, axum::routing::post(add_checkpoint))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(witness);
    attestlog_serve::guard(router, limits, render_rejection)
}

/// Serves `witness` on `listener` with [`limits`] until `shutdown` resolves.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = limits();
    attestlog_serve::serve(listener, router(witness, &limits), &limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestlog_proto::checkpoint::Checkpoint;
    use attestlog_proto::keys::TYPE_ED25519;
    use attestlog_proto::tree::MemoryTree;
    use attestlog_proto::witness::MAX_ORIGIN_BYTES;
    use attestlog_proto::witness::{parse_cosignature_response, parse_size_body};

    fn log_key(seed: u8) -> SignerKey {
        SignerKey::from_seed("log.test/w", TYPE_ED25519, &[seed; 32]).unwrap()
    }

    fn witness(dir: &Path) -> Witness {
        let key = SignerKey::from_seed("witness.test/a", TYPE_COSIGNATURE_V1, &[9; 32]).unwrap();
        let policy =
            Policy::parse(&format!("log {}\nquorum none\n", log_key(1).verifier())).unwrap();
        Witness::open(key, &policy, dir)
            .unwrap()
            .with_clock(|| 1234)
    }

    /// A tree of `n` leaves `[base + i]`.
    fn tree(n: u8, base: u8) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(Hash::leaf(&[base + i]));
        }
        t
    }

    fn note(key: &SignerKey, size: u64, root: Hash) -> Vec<u8> {
        Checkpoint {
            origin: key.name().to_owned(),
            size,
            root,
            extensions: vec![],
        }
        .sign(std::slice::from_ref(key))
        .unwrap()
        .to_bytes()
    }

    fn body(old: u64, proof: Vec<Hash>, checkpoint: Vec<u8>) -> Vec<u8> {
        AddCheckpointRequest {
            old,
            proof,
            checkpoint,
        }
        .to_bytes()
    }

    fn proof(t: &MemoryTree, old: u64) -> Vec<Hash> {
        attestlog_proto::proof::consistency_proof(old, t.size(), t).unwrap()
    }

    #[tokio::test]
    async fn every_status_code_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let k = log_key(1);
        let l5 = tree(5, 0);
        let l8 = tree(8, 0);
        // 400: malformed body.
        assert_eq!(w.add_checkpoint(b"nonsense").await.status, 400);
        // 404: unknown origin.
        let other = SignerKey::from_seed("other.test/log", TYPE_ED25519, &[1; 32]).unwrap();
        let r = w
            .add_checkpoint(&body(0, vec![], note(&other, 5, l5.root())))
            .await;
        assert_eq!(r.status, 404);
        // 403: signed by an untrusted key with the right name.
        let r = w
            .add_checkpoint(&body(0, vec![], note(&log_key(2), 5, l5.root())))
            .await;
        assert_eq!(r.status, 403);
        // 400: old > size.
        let r = w
            .add_checkpoint(&body(6, vec![], note(&k, 5, l5.root())))
            .await;
        assert_eq!(r.status, 400);
        // 409 with the size body: old is not the latest size (0).
        let r = w
            .add_checkpoint(&body(3, proof(&l5, 3), note(&k, 5, l5.root())))
            .await;
        assert_eq!((r.status, r.content_type), (409, CONTENT_TYPE_TLOG_SIZE));
        assert_eq!(parse_size_body(&r.body), Ok(0));
        // 200: bootstrap from 0.
        let r = w
            .add_checkpoint(&body(0, vec![], note(&k, 5, l5.root())))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let sigs = parse_cosignature_response(&r.body).unwrap();
        assert_eq!(sigs.len(), 1);
        let ts = attestlog_proto::cosignature::verify_cosignature(
            &w.verifier_key(),
            &Checkpoint {
                origin: "log.test/w".into(),
                size: 5,
                root: l5.root(),
                extensions: vec![],
            }
            .to_text(),
            &sigs[0],
        )
        .unwrap();
        assert_eq!(ts, 1234);
        // Persisted before answering: a new witness on the same directory knows size 5.
        drop(w);
        let again = witness(dir.path());
        assert_eq!(again.latest("log.test/w").unwrap().unwrap().size, 5);
        // 409: stale old.
        let r = again
            .add_checkpoint(&body(0, vec![], note(&k, 8, l8.root())))
            .await;
        assert_eq!((r.status, parse_size_body(&r.body)), (409, Ok(5)));
        // 422: a forked tree's own proof from 5 does not lead from what the witness cosigned;
        // recorded as evidence (the proof ties another root for size 5 to the forked
        // checkpoint, so the record proves the fork).
        let forked = tree(8, 100);
        let r = again
            .add_checkpoint(&body(5, proof(&forked, 5), note(&k, 8, forked.root())))
            .await;
        assert_eq!(r.status, 422);
        assert_eq!(again.evidence_files().unwrap().len(), 1);
        // 200: good proof; same size and root again is fine (no proof).
        let r = again
            .add_checkpoint(&body(5, proof(&l8, 5), note(&k, 8, l8.root())))
            .await;
        assert_eq!(r.status, 200);
        let r = again
            .add_checkpoint(&body(8, vec![], note(&k, 8, l8.root())))
            .await;
        assert_eq!(r.status, 200);
        // 409 (v1.0.0): same size, different root; evidence that verify-fork accepts.
        let r = again
            .add_checkpoint(&body(8, vec![], note(&k, 8, forked.root())))
            .await;
        assert_eq!((r.status, parse_size_body(&r.body)), (409, Ok(8)));
        let files = again.evidence_files().unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            let e = ForkEvidence::from_json(&std::fs::read(f).unwrap()).unwrap();
            assert!(e.verify(&[k.verifier()]).is_ok(), "{e:?}");
        }
        // The stored state was not changed by the refused requests.
        assert_eq!(again.latest("log.test/w").unwrap().unwrap().root, l8.root());
    }

    #[tokio::test]
    async fn the_state_directory_is_locked_and_state_read_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let key = SignerKey::from_seed("witness.test/b", TYPE_COSIGNATURE_V1, &[8; 32]).unwrap();
        let policy =
            Policy::parse(&format!("log {}\nquorum none\n", log_key(1).verifier())).unwrap();
        assert!(matches!(
            Witness::open(key, &policy, dir.path()),
            Err(WitnessServerError::Locked(_))
        ));
        let k = log_key(1);
        let l5 = tree(5, 0);
        let l8 = tree(8, 0);
        let r = w
            .add_checkpoint(&body(0, vec![], note(&k, 5, l5.root())))
            .await;
        assert_eq!(r.status, 200);
        // The state is read from disk on every request, never from a copy in memory.
        let state = w.state_path("log.test/w");
        std::fs::remove_file(&state).unwrap();
        let r = w
            .add_checkpoint(&body(5, proof(&l8, 5), note(&k, 8, l8.root())))
            .await;
        assert_eq!((r.status, parse_size_body(&r.body)), (409, Ok(0)));
        drop(w);
        // Released with the witness.
        let _again = witness(dir.path());
    }

    #[tokio::test]
    async fn origins_are_checked_before_anything_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let k = log_key(1);
        let l5 = tree(5, 0);
        // Made-up origins, long or huge: answered without touching state.
        for n in [10usize, 1000, MAX_ORIGIN_BYTES + 1, 60_000] {
            let other =
                SignerKey::from_seed(&"o".repeat(n), TYPE_ED25519, &[n.to_le_bytes()[0]; 32])
                    .unwrap();
            let r = w
                .add_checkpoint(&body(0, vec![], note(&other, 5, l5.root())))
                .await;
            let want = if n > MAX_ORIGIN_BYTES { 400 } else { 404 };
            assert_eq!(r.status, want, "{n}: {}", String::from_utf8_lossy(&r.body));
            assert!(r.body.len() < 256, "the answer echoes a huge origin");
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join(LOGS_DIR))
                .unwrap()
                .count(),
            0
        );
        let r = w
            .add_checkpoint(&body(0, vec![], note(&k, 5, l5.root())))
            .await;
        assert_eq!(r.status, 200);
    }

    #[tokio::test]
    async fn oversized_bodies_are_rejected_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let w = Arc::new(witness(dir.path()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, w, async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::new();
        let big = vec![b'x'; MAX_BODY_BYTES + 1];
        let r = http.post(&url).body(big).send().await.unwrap();
        assert_eq!(r.status(), 413);
        let r = http.post(&url).body("old 1\n").send().await.unwrap();
        assert_eq!(r.status(), 400);
        let _ = tx.send(());
        task.await.unwrap().unwrap();
    }

    #[test]
    fn rejects_log_keys_as_witness_keys() {
        let dir = tempfile::tempdir().unwrap();
        let policy =
            Policy::parse(&format!("log {}\nquorum none\n", log_key(1).verifier())).unwrap();
        assert!(matches!(
            Witness::open(log_key(1), &policy, dir.path()),
            Err(WitnessServerError::KeyType(1))
        ));
        let empty = Policy::parse("quorum none\n").unwrap();
        let wk = SignerKey::from_seed("w", TYPE_COSIGNATURE_V1, &[3; 32]).unwrap();
        assert!(matches!(
            Witness::open(wk, &empty, dir.path()),
            Err(WitnessServerError::NoLogs)
        ));
    }
}
