//! Witnessing (DESIGN.md §2, §6): the log's c2sp.org/tlog-witness client.
//!
//! After each committed batch the sequencer calls [`Witnessing::cosign`]: every witness of the
//! tlog-policy is asked in parallel, with one overall timeout, to cosign the new checkpoint.
//! Each request carries the size the witness last cosigned (cached in memory; `old 0` at
//! first) and a consistency proof from it, computed from the stored tiles. A `409` with a
//! `text/x.tlog.size` body gives the witness's size: one retry from there. The cosignatures
//! that verify against the witness keys are added to the note; whether the result is
//! published without a quorum is [`Settings::require_quorum`].
//!
//! On start, [`Witnessing::startup_check`] shows every witness the latest stored checkpoint:
//! a witness that cosigned a larger tree, or that refuses the stored one as inconsistent
//! (`409` for the same size with another root, `422` for a failing proof), means storage
//! holds another history (for example a restored old backup) and the server refuses to start.
//!
//! Metrics: `attestlog_witness_requests_total{witness,result}` (`cosigned`, `conflict`,
//! `refused`, `error`) and `attestlog_witness_seconds{witness}`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use attestlog_proto::cosignature::verify_cosignature;
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::note::{Note, NoteSignature};
use attestlog_proto::policy::Policy;
use attestlog_proto::witness::{
    ADD_CHECKPOINT_PATH, AddCheckpointRequest, parse_cosignature_response, parse_size_body,
};

use crate::sequencer::Published;
use crate::storage::LogStore;

/// Seconds since the Unix epoch.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Witnessing settings (config file `[witnessing]`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The policy text (also reported by `/v1/log`).
    pub policy_text: String,
    /// Overall time allowed for one round of cosigning requests.
    pub timeout: Duration,
    /// How often a withheld checkpoint is shown to the witnesses again while no batch comes.
    pub retry: Duration,
    /// Publish a checkpoint only when the policy's quorum cosigned it.
    pub require_quorum: bool,
    /// Start (serving reads, publishing nothing new until a quorum answers) when no quorum of
    /// witnesses answers at start; `false` refuses to start instead.
    pub start_without_quorum: bool,
}

/// One witness of the policy.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    key: VerifierKey,
    url: String,
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
    fn result_label(&self) -> &'static str {
        match self {
            Answer::Cosigned(_) => "cosigned",
            Answer::Ahead { .. } => "conflict",
            Answer::Refused { .. } => "refused",
            Answer::Failed(_) => "error",
        }
    }

    /// Whether the answer shows that the log's history conflicts with the witness's.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, Answer::Ahead { .. } | Answer::Refused { .. })
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
    /// Every witness's answer, by policy name.
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
}

/// The log's witness client.
pub struct Witnessing {
    policy: Policy,
    settings: Settings,
    targets: Vec<Target>,
    http: reqwest::Client,
    /// Last size each witness is known to have cosigned, by policy name.
    sizes: Mutex<HashMap<String, u64>>,
    /// A small runtime of its own: the sequencer is a plain thread.
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Witnessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnessing")
            .field("witnesses", &self.targets)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Drop for Witnessing {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; this does not block.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Witnessing {
    /// Parses the policy and prepares the client.
    ///
    /// # Errors
    /// An invalid policy, a witness without a URL, or no witnesses at all.
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let policy = Policy::parse(&settings.policy_text)
            .map_err(|e| anyhow::anyhow!("invalid witness policy: {e}"))?;
        let mut targets = Vec::new();
        for w in policy.witnesses() {
            let url = w.url.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "witness {} in the witness policy has no URL (witness NAME VKEY URL)",
                    w.name
                )
            })?;
            targets.push(Target {
                name: w.name.clone(),
                key: w.key.clone(),
                url: format!("{}{ADD_CHECKPOINT_PATH}", url.trim_end_matches('/')),
            });
        }
        anyhow::ensure!(!targets.is_empty(), "the witness policy names no witnesses");
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("attestlog-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("witness-client")
            .enable_all()
            .build()?;
        Ok(Self {
            policy,
            settings,
            targets,
            http,
            sizes: Mutex::new(HashMap::new()),
            rt: Some(rt),
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs `f` on the witness runtime, from a plain thread or from inside another runtime.
    fn block_on<T: Send>(&self, f: impl Future<Output = T> + Send) -> anyhow::Result<T> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("witness client stopped"))?;
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join())
                .map_err(|_| anyhow::anyhow!("witness client thread panicked"))
        } else {
            Ok(rt.block_on(f))
        }
    }

    /// Asks every witness to cosign `note` (a log-signed checkpoint of `size` stored in
    /// `store`), in parallel within the timeout, and adds the cosignatures that verify.
    ///
    /// # Errors
    /// A note that does not parse (a bug) or a stopped client.
    pub fn cosign(
        &self,
        store: &Arc<dyn LogStore>,
        size: u64,
        note: &[u8],
    ) -> anyhow::Result<Cosigned> {
        let parsed = Note::parse(note).map_err(|e| anyhow::anyhow!("unparseable note: {e}"))?;
        let text = parsed.text().to_owned();
        let answers = self.block_on(async {
            let asks = self.targets.iter().map(|t| async {
                let started = Instant::now();
                let answer = tokio::time::timeout(
                    self.settings.timeout,
                    self.ask(t, store, size, note, &text),
                )
                .await
                .unwrap_or_else(|_| Answer::Failed("timed out".into()));
                metrics::histogram!("attestlog_witness_seconds", "witness" => t.name.clone())
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!(
                    "attestlog_witness_requests_total",
                    "witness" => t.name.clone(),
                    "result" => answer.result_label()
                )
                .increment(1);
                (t.name.clone(), answer)
            });
            join_all(asks).await
        })?;
        let mut out = parsed;
        let mut witnesses = BTreeSet::new();
        for (name, a) in &answers {
            match a {
                Answer::Cosigned(sig) => {
                    if out.add_signature(sig.clone()).is_ok() {
                        witnesses.insert(name.clone());
                    }
                }
                Answer::Failed(why) => {
                    tracing::warn!(witness = %name, size, error = %why, "witness did not cosign");
                }
                conflict => {
                    tracing::error!(witness = %name, size, answer = ?conflict,
                        "witness refuses the checkpoint: its history conflicts with the log's");
                }
            }
        }
        Ok(Cosigned {
            note: out.to_bytes(),
            quorum: self.policy.satisfied(&witnesses),
            witnesses,
            answers: answers.into_iter().collect(),
        })
    }

    /// The start-up check: shows every witness the latest stored checkpoint (cosigned
    /// result returned for storing). Refuses (error naming the witness) when a witness has
    /// cosigned a larger tree or refuses the stored checkpoint as inconsistent, and, unless
    /// [`Settings::start_without_quorum`], when no quorum answers.
    ///
    /// # Errors
    /// The reason to refuse to start.
    pub fn startup_check(
        &self,
        store: &Arc<dyn LogStore>,
        size: u64,
        note: &[u8],
    ) -> anyhow::Result<Cosigned> {
        let c = self.cosign(store, size, note)?;
        for (name, a) in &c.answers {
            match a {
                Answer::Ahead { size: theirs } => anyhow::bail!(
                    "refusing to start: witness {name} has cosigned tree size {theirs}, but \
                     storage holds only {size} entries; this looks like a restored old backup, \
                     and signing from it would fork the log"
                ),
                Answer::Refused { status, message } => anyhow::bail!(
                    "refusing to start: witness {name} refuses the stored checkpoint of size \
                     {size} ({status}: {message}); storage holds another history than the one \
                     it cosigned"
                ),
                _ => {}
            }
        }
        if !c.quorum {
            if self.settings.start_without_quorum {
                tracing::warn!(missing = %c.missing(),
                    "no witness quorum at start: serving reads, publishing no new checkpoint \
                     until a quorum cosigns");
            } else {
                anyhow::bail!(
                    "refusing to start: no quorum of witnesses cosigned the stored checkpoint \
                     ({})",
                    c.missing()
                );
            }
        }
        Ok(c)
    }

    /// One witness: the request from the cached size, then at most one retry from the size
    /// a `409` reports.
    async fn ask(
        &self,
        t: &Target,
        store: &Arc<dyn LogStore>,
        size: u64,
        note: &[u8],
        text: &str,
    ) -> Answer {
        let cached = self
            .sizes
            .lock()
            .ok()
            .and_then(|m| m.get(&t.name).copied())
            .filter(|&s| s <= size)
            .unwrap_or(0);
        let mut old = cached;
        for attempt in 0..2 {
            let proof = match proof(store, old, size) {
                Ok(p) => p,
                Err(e) => return Answer::Failed(format!("cannot prove consistency: {e}")),
            };
            let body = AddCheckpointRequest {
                old,
                proof,
                checkpoint: note.to_vec(),
            }
            .to_bytes();
            let reply = match self.http.post(&t.url).body(body).send().await {
                Ok(r) => r,
                Err(e) => return Answer::Failed(format!("request failed: {e}")),
            };
            let status = reply.status().as_u16();
            let bytes = match reply.bytes().await {
                Ok(b) => b,
                Err(e) => return Answer::Failed(format!("reading the answer failed: {e}")),
            };
            match status {
                200 => return self.check_cosignature(t, text, size, &bytes),
                409 => {
                    let Ok(theirs) = parse_size_body(&bytes) else {
                        return Answer::Failed("409 without a valid size body".into());
                    };
                    self.remember(&t.name, theirs);
                    if theirs > size {
                        return Answer::Ahead { size: theirs };
                    }
                    if theirs == old {
                        // We already sent its size: same size with another root.
                        return Answer::Refused {
                            status,
                            message: format!(
                                "tree size {theirs} was cosigned with a different root"
                            ),
                        };
                    }
                    if attempt == 1 {
                        return Answer::Failed(format!("409 again, witness at size {theirs}"));
                    }
                    old = theirs;
                }
                422 => {
                    return Answer::Refused {
                        status,
                        message: format!(
                            "the consistency proof from size {old} does not verify against what \
                             it cosigned"
                        ),
                    };
                }
                other => {
                    let msg = String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                        .trim()
                        .to_owned();
                    return Answer::Failed(format!("answered {other}: {msg}"));
                }
            }
        }
        Answer::Failed("no answer".into())
    }

    fn check_cosignature(&self, t: &Target, text: &str, size: u64, body: &[u8]) -> Answer {
        let sigs = match parse_cosignature_response(body) {
            Ok(s) => s,
            Err(e) => return Answer::Failed(format!("malformed cosignature response: {e}")),
        };
        for sig in sigs {
            if sig.is_by(&t.key) && verify_cosignature(&t.key, text, &sig).is_ok() {
                self.remember(&t.name, size);
                return Answer::Cosigned(sig);
            }
        }
        Answer::Failed("no cosignature by the witness key verifies".into())
    }

    fn remember(&self, name: &str, size: u64) {
        if let Ok(mut m) = self.sizes.lock() {
            m.insert(name.to_owned(), size);
        }
    }
}

/// The sequencer's step after a commit: has the checkpoint of `size` cosigned and stores the
/// cosigned note. Returns the note to publish, or `None` when it must be withheld (no quorum
/// and [`Settings::require_quorum`]).
#[must_use]
pub fn cosign_committed(
    w: &Witnessing,
    store: &Arc<dyn LogStore>,
    size: u64,
    note: &[u8],
) -> Option<Vec<u8>> {
    let c = match w.cosign(store, size, note) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, size, "cosigning failed");
            return (!w.settings.require_quorum).then(|| note.to_vec());
        }
    };
    if !c.publishable(w.settings.require_quorum) {
        tracing::warn!(size, missing = %c.missing(),
            "no witness quorum: the checkpoint is withheld");
        return None;
    }
    if !c.witnesses.is_empty()
        && let Err(e) = store.set_checkpoint_note(size, &c.note)
    {
        tracing::error!(error = %e, size, "cannot store the cosigned checkpoint");
    }
    Some(c.note)
}

/// The start-up step (see [`Witnessing::startup_check`]): returns the checkpoint to serve
/// and, when the latest stored one lacks a required quorum, that one as withheld. A withheld
/// start serves the last published checkpoint (the published-checkpoint file, whose root
/// the rollback check compared with storage) when there is one.
///
/// # Errors
/// The reason to refuse to start.
pub fn on_start(
    w: &Witnessing,
    store: &Arc<dyn LogStore>,
    data_dir: &std::path::Path,
    latest: Arc<Published>,
) -> anyhow::Result<(Arc<Published>, Option<Arc<Published>>)> {
    let c = w.startup_check(store, latest.size, &latest.note)?;
    if c.publishable(w.settings.require_quorum) {
        if !c.witnesses.is_empty() {
            store.set_checkpoint_note(latest.size, &c.note)?;
        }
        let p = Published {
            note: c.note,
            ..(*latest).clone()
        };
        return Ok((Arc::new(p), None));
    }
    let file = crate::signer::read_published(data_dir)?;
    let earlier = file.as_deref().and_then(|b| {
        let note = Note::parse(b).ok()?;
        let cp = attestlog_proto::checkpoint::Checkpoint::parse(note.text()).ok()?;
        Some(Published {
            size: cp.size,
            root: cp.root,
            note: b.to_vec(),
        })
    });
    match earlier {
        // The latest stored checkpoint was published before: keep serving it.
        Some(e) if e.size == latest.size => Ok((latest, None)),
        Some(e) if e.size < latest.size => Ok((Arc::new(e), Some(latest))),
        _ => Ok((latest.clone(), Some(latest))),
    }
}

/// Runs futures concurrently and returns their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// The consistency proof from `old` to `size` over the stored tiles.
fn proof(store: &Arc<dyn LogStore>, old: u64, size: u64) -> anyhow::Result<Vec<Hash>> {
    if old == 0 || old == size {
        return Ok(Vec::new());
    }
    let reader = crate::tiles::StoreTiles::new(store.as_ref());
    let hashes = attestlog_proto::tiles::TileHashReader::new(size, &reader);
    attestlog_proto::proof::consistency_proof(old, size, &hashes)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_order() {
        let v = join_all((0..5u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(5 * (5 - i))).await;
            i
        }))
        .await;
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn policy_witnesses_need_urls() {
        let k = attestlog_proto::keys::SignerKey::from_seed(
            "w.test",
            attestlog_proto::keys::TYPE_COSIGNATURE_V1,
            &[1; 32],
        )
        .unwrap()
        .verifier();
        let settings = |policy_text: String| Settings {
            policy_text,
            timeout: Duration::from_secs(1),
            retry: Duration::from_secs(1),
            require_quorum: true,
            start_without_quorum: true,
        };
        let e = Witnessing::new(settings(format!("witness A {k}\nquorum A\n"))).unwrap_err();
        assert!(e.to_string().contains("witness A"), "{e}");
        assert!(Witnessing::new(settings("quorum none\n".into())).is_err());
        assert!(Witnessing::new(settings("nonsense\n".into())).is_err());
        let w = Witnessing::new(settings(format!(
            "witness A {k} http://127.0.0.1:1/\nquorum A\n"
        )))
        .unwrap();
        assert_eq!(w.targets[0].url, "http://127.0.0.1:1/add-checkpoint");
    }
}
