//! Witnessing (DESIGN.md §2, §6): the log's c2sp.org/tlog-witness client.
//!
//! After each committed batch the sequencer asks, through the [`Cosigner`] interface of
//! [`crate::publication`], every witness of the tlog-policy in parallel to cosign the new
//! checkpoint. A round ends when the policy's quorum has cosigned plus a short grace
//! ([`Settings::grace`], for the stragglers' cosignatures) or at the timeout. Answers are
//! capped at [`MAX_ANSWER_BYTES`] and redirects are never followed.
//! Each request carries the size the witness last cosigned (cached in memory; `old 0` at
//! first) and a consistency proof from it, computed from the stored tiles. A `409` with a
//! `text/x.tlog.size` body gives the witness's size: one retry from there. The cosignatures
//! that verify against the witness keys are added to the note; whether the result is
//! published without a quorum is [`Settings::require_quorum`].
//!
//! Whether an answer shows a conflict (a witness that cosigned a larger tree, or that refuses
//! the checkpoint as inconsistent: `409` for the same size with another root, `422` for a
//! failing proof) is decided in [`crate::publication`]: a conflict is a failed check there.
//!
//! Metrics: `attestlog_witness_requests_total{witness,result}` (`cosigned`, `conflict`,
//! `refused`, `error`) and `attestlog_witness_seconds{witness}`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use attestlog_proto::cosignature::verify_cosignature;
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::note::Note;
use attestlog_proto::policy::Policy;
use attestlog_proto::witness::{
    ADD_CHECKPOINT_PATH, AddCheckpointRequest, parse_cosignature_response, parse_size_body,
};

use crate::publication::{Answer, Cosigned, Cosigner};
use crate::storage::LogStore;

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
    /// How long a round waits for further cosignatures once the quorum has cosigned.
    pub grace: Duration,
}

/// The largest witness answer read (a few cosignature lines, or a size); longer answers
/// fail.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// One witness of the policy.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    key: VerifierKey,
    url: String,
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

impl Cosigner for Witnessing {
    fn cosign(
        &self,
        store: &Arc<dyn LogStore>,
        size: u64,
        note: &[u8],
    ) -> anyhow::Result<Cosigned> {
        Witnessing::cosign(self, store, size, note)
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn require_quorum(&self) -> bool {
        self.settings.require_quorum
    }

    fn start_without_quorum(&self) -> bool {
        self.settings.start_without_quorum
    }

    fn retry(&self) -> Duration {
        self.settings.retry
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
            .redirect(reqwest::redirect::Policy::none())
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
    /// `store`), in parallel, and adds the cosignatures that verify. The round ends once the
    /// quorum has cosigned plus [`Settings::grace`], or at [`Settings::timeout`].
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
            let quorum = |done: &[(String, Answer)]| {
                let cosigned: BTreeSet<String> = done
                    .iter()
                    .filter(|(_, a)| matches!(a, Answer::Cosigned(_)))
                    .map(|(n, _)| n.clone())
                    .collect();
                self.policy.satisfied(&cosigned)
            };
            until_quorum(asks, quorum, self.settings.grace).await
        })?;
        // Witnesses still unanswered when the round ended (quorum plus grace) count as errors.
        let mut answers = answers;
        for t in &self.targets {
            if !answers.iter().any(|(n, _)| *n == t.name) {
                metrics::counter!(
                    "attestlog_witness_requests_total",
                    "witness" => t.name.clone(),
                    "result" => "error"
                )
                .increment(1);
                answers.push((
                    t.name.clone(),
                    Answer::Failed("no answer before the quorum's grace ended".into()),
                ));
            }
        }
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
            let bytes = match read_capped(reply).await {
                Ok(b) => b,
                Err(e) => return Answer::Failed(e),
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

/// Reads an answer body, failing beyond [`MAX_ANSWER_BYTES`].
async fn read_capped(mut reply: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match reply.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_ANSWER_BYTES {
                    return Err(format!("answer longer than {MAX_ANSWER_BYTES} bytes"));
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the answer failed: {e}")),
        }
    }
}

/// Runs futures concurrently and returns the outputs of those that finished, in order of
/// finishing: all of them, or, once `enough` holds for the finished ones, those finished within
/// `grace` after that.
async fn until_quorum<F: Future>(
    futures: impl IntoIterator<Item = F>,
    enough: impl Fn(&[F::Output]) -> bool,
    grace: Duration,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<F::Output> = Vec::new();
    let mut deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut pinned {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        done.push(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if !pending {
            return std::task::Poll::Ready(());
        }
        if deadline.is_none() && enough(&done) {
            deadline = Some(Box::pin(tokio::time::sleep(grace)));
        }
        if let Some(d) = deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            return std::task::Poll::Ready(());
        }
        std::task::Poll::Pending
    })
    .await;
    done
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

    /// Without a quorum the round waits for every answer; once the answers so far make a
    /// quorum it waits only the grace for the rest.
    #[tokio::test]
    async fn round_ends_at_quorum_plus_grace() {
        let slow = |i: u64, ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            i
        };
        let all = until_quorum(
            [slow(0, 30), slow(1, 10), slow(2, 20)],
            |_| false,
            Duration::ZERO,
        )
        .await;
        assert_eq!(all, vec![1, 2, 0]);
        let started = std::time::Instant::now();
        let some = until_quorum(
            [slow(0, 10), slow(1, 20), slow(2, 60_000)],
            |d: &[u64]| d.len() >= 2,
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(some, vec![0, 1]);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited for the straggler"
        );
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
            grace: Duration::from_millis(100),
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
