//! Witnessing (DESIGN.md §2, §6): in-process c2sp.org/tlog-witness servers cosign the log's
//! checkpoints; receipts and monitors enforce a policy's quorum; every add-checkpoint status
//! code over HTTP; a restored old backup (split view) is refused by the witnesses, by the
//! server at start and at publication, and caught by a monitor as fork evidence.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attestlog_client::fork::{ForkError, ForkEvidence, ForkProof};
use attestlog_client::monitor::{Monitor, Outcome, Rules};
use attestlog_client::witness::Witness;
use attestlog_client::{Client, Trust, Verifier};
use attestlog_proto::Hash;
use attestlog_proto::checkpoint::Checkpoint;
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519, VerifierKey};
use attestlog_proto::policy::{Policy, verify_checkpoint_with_policy};
use attestlog_proto::tree::MemoryTree;
use attestlog_proto::witness::{AddCheckpointRequest, CONTENT_TYPE_TLOG_SIZE};
use attestlog_server::config::Config;

use crate::common::*;

const VENDOR: &str = "Witnessed AV AG";

/// A log key of a fixed origin, written to a key file (the witnesses must know it before the
/// log starts).
pub(crate) fn log_key_file(dir: &Path, origin: &str, seed: u8) -> (SignerKey, PathBuf) {
    let key = SignerKey::from_seed(origin, TYPE_ED25519, &[seed; 32]).unwrap();
    let path = dir.join("log.key");
    std::fs::write(&path, format!("{}\n", key.to_secret_string())).unwrap();
    (key, path)
}

pub(crate) fn witness_key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(
        &format!("{name}.witness.test"),
        TYPE_COSIGNATURE_V1,
        &[seed; 32],
    )
    .unwrap()
}

/// An in-process witness on 127.0.0.1.
pub(crate) struct TestWitness {
    pub(crate) url: String,
    witness: Arc<Witness>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestWitness {
    /// Serves a witness with `key` for `log`, with its state in `dir`, on `listener`.
    fn serve(
        listener: tokio::net::TcpListener,
        key: SignerKey,
        log: &VerifierKey,
        dir: &Path,
    ) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let policy = Policy::parse(&format!("log {log}\nquorum none\n")).unwrap();
        let witness = Arc::new(Witness::open(key, &policy, dir).unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let join = tokio::spawn(attestlog_client::witness::serve(
            listener,
            witness.clone(),
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            url,
            witness,
            shutdown: Some(tx),
            join: Some(join),
        }
    }

    pub(crate) async fn start(key: SignerKey, log: &VerifierKey, dir: &Path) -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(l, key, log, dir)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            j.await.unwrap().unwrap();
        }
    }
}

/// A policy for `log` with witnesses (name, key, url) and a group of `k` of them as quorum.
fn policy(log: &VerifierKey, witnesses: &[(&str, VerifierKey, &str)], k: usize) -> String {
    let mut s = format!("log {log}\n");
    let mut names = Vec::new();
    for (n, key, url) in witnesses {
        s.push_str(&format!("witness {n} {key} {url}\n"));
        names.push(*n);
    }
    s.push_str(&format!("group Q {k} {}\nquorum Q\n", names.join(" ")));
    s
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs the `attestlog` CLI on a blocking thread; returns the exit status (1 for an error)
/// and the output, or the error's text.
async fn cli(args: &[&str]) -> (u8, String) {
    let mut argv = vec!["attestlog".to_owned()];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        match attestlog_client::cli::run(argv, &mut out) {
            Ok(code) => (code, String::from_utf8_lossy(&out).into_owned()),
            Err(e) => (1, format!("{e:#}")),
        }
    })
    .await
    .unwrap()
}

/// Waits until `/metrics` of `log` contains every string of `wanted`.
async fn wait_for_metrics(log: &TestLog, wanted: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = log.get("/metrics").await.text().await.unwrap();
        if wanted.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed {wanted:?}:\n{text}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn config(dir: &Path, key_file: &Path, origin: &str, policy: Option<&Path>) -> Config {
    let mut c = Config::with_data_dir(dir);
    c.admin_token = Some("test-admin-token".into());
    c.max_wait = Duration::from_millis(2);
    c.key_file = Some(key_file.to_owned());
    c.origin = Some(origin.to_owned());
    c.witness_policy = policy.map(Path::to_owned);
    c.witness_timeout = Duration::from_millis(400);
    c.witness_retry = Duration::from_millis(100);
    c
}

async fn attest(log: &TestLog, key: &SignerKey, n: u64, product: &str) -> (u16, serde_json::Value) {
    log.submit(&sign_value(key, &statement(VENDOR, &att_id(n), product)))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_carry_cosignatures_and_receipts_need_the_quorum() {
    let dir = temp_dir("witnessed");
    let origin = "witnessed.test/log";
    let (log_key, key_file) = log_key_file(&dir, origin, 0x61);
    let vk = log_key.verifier();
    let (k1, k2, k3) = (
        witness_key("q1", 1),
        witness_key("q2", 2),
        witness_key("q3", 3),
    );
    let w1 = TestWitness::start(k1.clone(), &vk, &dir.join("w1")).await;
    let w2 = TestWitness::start(k2.clone(), &vk, &dir.join("w2")).await;
    // The third witness is down: its port accepts connections but nobody answers.
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_url = format!("http://{}", down.local_addr().unwrap());
    let ws = [
        ("Q1", k1.verifier(), w1.url.as_str()),
        ("Q2", k2.verifier(), w2.url.as_str()),
        ("Q3", k3.verifier(), down_url.as_str()),
    ];
    let p23 = policy(&vk, &ws, 2);
    let p33 = policy(&vk, &ws, 3);
    let p23_file = write(&dir, "p23", &p23);
    let p33_file = write(&dir, "p33", &p33);

    let data = dir.join("data");
    let log = TestLog::start_in(
        data.clone(),
        config(&data, &key_file, origin, Some(&p23_file)),
    )
    .await;
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(info["witness_policy"].as_str(), Some(p23.as_str()));

    let vendor = vendor_key(71);
    log.enrol(VENDOR, &vendor.verifier()).await;
    let (status, body) = attest(&log, &vendor, 1, "Witnessed Endpoint").await;
    assert_eq!(status, 201, "{body}");

    // The published checkpoint carries the two live witnesses' cosignatures.
    let note = log.get("/checkpoint").await.bytes().await.unwrap();
    let p = Policy::parse(&p23).unwrap();
    let v = verify_checkpoint_with_policy(&p, &note).unwrap();
    assert_eq!(v.checkpoint().checkpoint().size, 2);
    assert_eq!(
        v.witnesses().iter().map(String::as_str).collect::<Vec<_>>(),
        ["Q1", "Q2"]
    );
    assert!(verify_checkpoint_with_policy(&Policy::parse(&p33).unwrap(), &note).is_err());
    // The witnesses persisted what they cosigned.
    assert_eq!(w1.witness.latest(origin).unwrap().unwrap().size, 2);

    // The receipt verifies offline with 2-of-3 and fails with 3-of-3 (one witness is down).
    let receipt = write(&dir, "receipt.json", &body["receipt"].to_string());
    let r = receipt.to_str().unwrap();
    let (code, out) = cli(&["verify", r, "--policy", p23_file.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&["verify", r, "--policy", p33_file.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("quorum"), "{out}");

    // The monitor enforces the quorum too.
    let (code, out) = cli(&[
        "--log",
        &log.url,
        "monitor",
        "--once",
        "--policy",
        p23_file.to_str().unwrap(),
        "--state",
        dir.join("mon23").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, err) = cli(&[
        "--log",
        &log.url,
        "monitor",
        "--once",
        "--policy",
        p33_file.to_str().unwrap(),
        "--state",
        dir.join("mon33").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("quorum"), "{err}");

    // Metrics count successes and failures per witness, and latency.
    let text = wait_for_metrics(
        &log,
        &[
            "attestlog_witness_requests_total{witness=\"Q1\",result=\"cosigned\"}",
            "attestlog_witness_requests_total{witness=\"Q3\",result=\"error\"}",
            "attestlog_witness_seconds",
        ],
    )
    .await;
    assert!(text.contains("witness=\"Q2\""), "{text}");

    log.stop().await;
    w1.stop().await;
    w2.stop().await;
    drop(down);
}

/// SCITT with witnesses (DESIGN.md §12): `attestlog attest sign --format cose`, `attestlog
/// submit --transparent` and `attestlog verify` of the transparent statement: the receipt
/// under the log's COSE key, and the tlog-proof's witness cosignatures under a policy quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_statements_from_the_cli_verify_under_the_witness_quorum() {
    let dir = temp_dir("witnessed-scitt");
    let origin = "witnessed-scitt.test/log";
    let (log_key, key_file) = log_key_file(&dir, origin, 0x64);
    let vk = log_key.verifier();
    let (k1, k2, k3) = (
        witness_key("s1", 11),
        witness_key("s2", 12),
        witness_key("s3", 13),
    );
    let w1 = TestWitness::start(k1.clone(), &vk, &dir.join("w1")).await;
    let w2 = TestWitness::start(k2.clone(), &vk, &dir.join("w2")).await;
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_url = format!("http://{}", down.local_addr().unwrap());
    let ws = [
        ("S1", k1.verifier(), w1.url.as_str()),
        ("S2", k2.verifier(), w2.url.as_str()),
        ("S3", k3.verifier(), down_url.as_str()),
    ];
    let p23 = write(&dir, "p23", &policy(&vk, &ws, 2));
    let p33 = write(&dir, "p33", &policy(&vk, &ws, 3));
    let data = dir.join("data");
    let log = TestLog::start_in(data.clone(), config(&data, &key_file, origin, Some(&p23))).await;
    let vendor = vendor_key(72);
    log.enrol(VENDOR, &vendor.verifier()).await;

    let vendor_file = write(&dir, "vendor.key", &vendor.to_secret_string());
    let st = write(
        &dir,
        "statement.json",
        &statement(VENDOR, &att_id(40), "Witnessed Endpoint").to_string(),
    );
    let cose = dir.join("statement.cose");
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let (code, out) = cli(&[
        "attest",
        "sign",
        "--format",
        "cose",
        "--key",
        &p(&vendor_file),
        &p(&st),
        "-o",
        &p(&cose),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&["--log", &log.url, "submit", &p(&cose), "--transparent"]).await;
    assert_eq!(code, 0, "{out}");
    // Index 1: the registration policy logged before the first signed statement.
    assert!(out.contains("registered at index 2"), "{out}");
    let transparent = p(&dir.join("statement.cose.transparent.cose"));
    let keys = dir.join("scitt-keys.cbor");
    std::fs::write(
        &keys,
        log.get("/.well-known/scitt-keys")
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();

    // 2-of-3 holds: the live witnesses cosigned the checkpoint of the tlog-proof.
    let (code, out) = cli(&[
        "verify",
        &transparent,
        "--scitt-key",
        &p(&keys),
        "--policy",
        &p(&p23),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SCITT receipt verified"), "{out}");
    assert!(out.contains("cosigned by S1, S2"), "{out}");
    // 3-of-3 fails (one witness is down), although the SCITT receipt alone verifies.
    let (code, out) = cli(&[
        "verify",
        &transparent,
        "--scitt-key",
        &p(&keys),
        "--policy",
        &p(&p33),
    ])
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("quorum"), "{out}");
    let (code, out) = cli(&["verify", &transparent, "--scitt-key", &p(&keys)]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tlog-proof not checked"), "{out}");

    log.stop().await;
    w1.stop().await;
    w2.stop().await;
    drop(down);
}

/// A signed checkpoint of `tree` by `key`.
fn note(key: &SignerKey, tree: &MemoryTree) -> Vec<u8> {
    Checkpoint {
        origin: key.name().to_owned(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    }
    .sign(std::slice::from_ref(key))
    .unwrap()
    .to_bytes()
}

fn tree(n: u8, base: u8) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(Hash::leaf(&[base.wrapping_add(i)]));
    }
    t
}

#[tokio::test]
async fn witness_answers_every_status_code_over_http() {
    let dir = temp_dir("witness-codes");
    let log = SignerKey::from_seed("codes.test/log", TYPE_ED25519, &[0x62; 32]).unwrap();
    let w = TestWitness::start(witness_key("codes", 9), &log.verifier(), &dir).await;
    let http = reqwest::Client::new();
    let url = format!("{}/add-checkpoint", w.url);
    let post = |old: u64, proof: Vec<Hash>, checkpoint: Vec<u8>| {
        let body = AddCheckpointRequest {
            old,
            proof,
            checkpoint,
        }
        .to_bytes();
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http.post(url).body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, ct, r.text().await.unwrap())
        }
    };
    let (t4, t7, fork7) = (tree(4, 0), tree(7, 0), tree(7, 50));
    let proof =
        |t: &MemoryTree, old| attestlog_proto::proof::consistency_proof(old, t.size(), t).unwrap();

    // 404: a log the witness does not know.
    let stranger = SignerKey::from_seed("stranger.test/log", TYPE_ED25519, &[1; 32]).unwrap();
    assert_eq!(post(0, vec![], note(&stranger, &t4)).await.0, 404);
    // 403: the right origin, signed by another key.
    let impostor = SignerKey::from_seed("codes.test/log", TYPE_ED25519, &[2; 32]).unwrap();
    assert_eq!(post(0, vec![], note(&impostor, &t4)).await.0, 403);
    // 400: old > size, and a malformed body.
    assert_eq!(post(5, vec![], note(&log, &t4)).await.0, 400);
    let r = http.post(&url).body("old x\n\n").send().await.unwrap();
    assert_eq!(r.status(), 400);
    // 200: first checkpoint from old 0, a cosignature/v1 line with a timestamp.
    let (s, _, body) = post(0, vec![], note(&log, &t4)).await;
    assert_eq!(s, 200, "{body}");
    let sigs = attestlog_proto::witness::parse_cosignature_response(body.as_bytes()).unwrap();
    let text = Checkpoint::parse(
        attestlog_proto::note::Note::parse(&note(&log, &t4))
            .unwrap()
            .text(),
    )
    .unwrap()
    .to_text();
    let ts = attestlog_proto::cosignature::verify_cosignature(
        &w.witness.verifier_key(),
        &text,
        &sigs[0],
    )
    .unwrap();
    assert!(ts > 1_700_000_000, "timestamp {ts}");
    // 409 with a text/x.tlog.size body: old is not the latest size.
    let (s, ct, body) = post(0, vec![], note(&log, &t7)).await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (409, CONTENT_TYPE_TLOG_SIZE, "4\n")
    );
    // 422: the proof does not lead from what it cosigned.
    assert_eq!(post(4, proof(&t7, 4), note(&log, &fork7)).await.0, 422);
    // 200 with a good proof; then 409 for the same size with a different root (v1.0.0).
    assert_eq!(post(4, proof(&t7, 4), note(&log, &t7)).await.0, 200);
    let (s, ct, body) = post(7, vec![], note(&log, &fork7)).await;
    assert_eq!(
        (s, ct.as_str(), body.as_str()),
        (409, CONTENT_TYPE_TLOG_SIZE, "7\n")
    );
    // 413: an oversized body.
    let big = vec![b'a'; attestlog_proto::witness::MAX_REQUEST_SIZE + 10];
    assert_eq!(
        http.post(&url).body(big).send().await.unwrap().status(),
        413
    );
    // Both refusals of validly signed checkpoints were recorded. Two roots for size 7 prove a
    // fork (verify-fork accepts the file); a proof that does not lead from size 4 proves
    // nothing by itself (anyone can send a wrong proof), and verify-fork says so.
    let files = w.witness.evidence_files().unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut proven = 0;
    for f in &files {
        let e = ForkEvidence::from_json(&std::fs::read(f).unwrap()).unwrap();
        let (code, out) = cli(&[
            "verify-fork",
            f.to_str().unwrap(),
            "--log-key",
            &log.verifier().to_string(),
        ])
        .await;
        if e.first == e.second || e.reason.contains("different root") || code == 0 {
            assert!(
                matches!(
                    e.verify(&[log.verifier()]),
                    Ok(ForkProof::SameSizeDifferentRoots { size: 7 })
                ),
                "{out}"
            );
            assert_eq!(code, 0, "{out}");
            proven += 1;
        } else {
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("does not prove a fork"), "{out}");
        }
    }
    assert_eq!(proven, 1);
    w.stop().await;
}

/// A monitor of `url` (log-key trust) with its state in `dir`; one round.
async fn monitor_once(url: &str, key: &VerifierKey, dir: &Path) -> Outcome {
    let v = Verifier::new(Client::new(url).unwrap(), Trust::log_key(key.clone()));
    let mut m = Monitor::open(v, dir, Rules::default()).unwrap();
    m.run_once(&mut |_| {}, &mut |_, _| {}).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_view_from_a_restored_backup_is_refused_and_detected() {
    let dir = temp_dir("split");
    let origin = "split.test/log";
    let (log_key, key_file) = log_key_file(&dir, origin, 0x63);
    let vk = log_key.verifier();
    let keys = [
        witness_key("s1", 11),
        witness_key("s2", 12),
        witness_key("s3", 13),
    ];
    let wdirs: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("w{i}"))).collect();
    let mut ws = Vec::new();
    for (k, d) in keys.iter().zip(&wdirs) {
        ws.push(TestWitness::start(k.clone(), &vk, d).await);
    }
    let names = ["SV1", "SV2", "SV3"];
    let entries: Vec<(&str, VerifierKey, &str)> = (0..3)
        .map(|i| (names[i], keys[i].verifier(), ws[i].url.as_str()))
        .collect();
    let p = write(&dir, "policy", &policy(&vk, &entries, 2));

    // History A: 4 entries, cosigned; a backup taken at size 2; a monitor follows to 4.
    let data_a = dir.join("a");
    let a = TestLog::start_in(data_a.clone(), config(&data_a, &key_file, origin, Some(&p))).await;
    let vendor = vendor_key(72);
    a.enrol(VENDOR, &vendor.verifier()).await;
    assert_eq!(attest(&a, &vendor, 1, "A").await.0, 201);
    let backup = dir.join("backup.db");
    attestlog_server::storage::sqlite::backup_file(&data_a.join("attestlog.db"), &backup).unwrap();
    assert_eq!(attest(&a, &vendor, 2, "A").await.0, 201);
    assert_eq!(attest(&a, &vendor, 3, "A").await.0, 201);
    let mon = dir.join("monitor");
    assert_eq!(
        monitor_once(&a.url, &vk, &mon).await,
        Outcome::Advanced { from: 0, to: 4 }
    );
    a.stop().await;
    for w in ws {
        w.stop().await;
    }

    // Restore the backup elsewhere (the published-checkpoint file is lost with the machine).
    let data_b = dir.join("b");
    std::fs::create_dir_all(&data_b).unwrap();
    std::fs::copy(&backup, data_b.join("attestlog.db")).unwrap();
    // The witnesses are unreachable at first: the server starts but publishes nothing new.
    let listeners: Vec<tokio::net::TcpListener> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        v
    };
    let urls: Vec<String> = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let entries: Vec<(&str, VerifierKey, &str)> = (0..3)
        .map(|i| (names[i], keys[i].verifier(), urls[i].as_str()))
        .collect();
    let p2 = write(&dir, "policy2", &policy(&vk, &entries, 2));
    // Without its published-checkpoint file the server starts only when told to trust storage.
    let cfg = config(&data_b, &key_file, origin, Some(&p2));
    let err = attestlog_server::App::open(&cfg).unwrap_err().to_string();
    assert!(err.contains("--trust-storage"), "{err}");
    let b = TestLog::start_in(
        data_b.clone(),
        Config {
            trust_storage: true,
            ..cfg
        },
    )
    .await;
    let before = b.get("/checkpoint").await.bytes().await.unwrap();
    let (status, body) = attest(&b, &vendor, 20, "B").await;
    assert_eq!(status, 503, "{body}");
    // The witnesses come back: they refuse the other history, and nothing is published.
    let mut ws = Vec::new();
    for ((l, k), d) in listeners.into_iter().zip(&keys).zip(&wdirs) {
        ws.push(TestWitness::serve(l, k.clone(), &vk, d));
    }
    wait_for_metrics(
        &b,
        &[
            "attestlog_witness_requests_total{witness=\"SV1\",result=\"conflict\"}",
            "attestlog_witness_requests_total{witness=\"SV2\",result=\"conflict\"}",
        ],
    )
    .await;
    assert_eq!(b.get("/checkpoint").await.bytes().await.unwrap(), before);
    assert_ne!(attest(&b, &vendor, 20, "B").await.0 / 100, 2);
    let stored = b.state.store.latest_checkpoint().unwrap().unwrap().0;
    assert_eq!(stored, 3, "the withheld batch is stored");
    b.stop().await;

    // The conflict B met while running is recorded: restarted, with its witnesses or
    // without, it starts halted. It serves what it published and refuses submissions, naming
    // the conflict and `clear-halt`; it stores and signs nothing.
    let cfg = config(&data_b, &key_file, origin, Some(&p2));
    let bypass = config(&data_b, &key_file, origin, None);
    for c in [&cfg, &bypass] {
        let h = TestLog::start_in(data_b.clone(), c.clone()).await;
        assert_eq!(h.get("/checkpoint").await.bytes().await.unwrap(), before);
        let (status, body) = attest(&h, &vendor, 21, "B").await;
        assert_eq!(status, 503, "{body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("clear-halt") && msg.contains("witness SV"),
            "{body}"
        );
        assert_eq!(
            h.state.store.latest_checkpoint().unwrap().unwrap().0,
            stored
        );
        h.stop().await;
    }
    // An operator clears the halt; the next start checks again: with its witnesses reachable,
    // refused, naming a witness.
    assert!(
        attestlog_server::signer::clear_halted(&data_b)
            .unwrap()
            .is_some()
    );
    let err = attestlog_server::App::open(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("refusing to start") && err.contains("witness SV"),
        "{err}"
    );
    assert!(err.contains("cosigned tree size 4"), "{err}");
    // The operator bypasses the witnesses and grows the other history past A's size.
    let b = TestLog::start_in(data_b.clone(), bypass).await;
    assert_eq!(attest(&b, &vendor, 21, "B").await.0, 201);
    assert_eq!(attest(&b, &vendor, 22, "B").await.0, 201);
    assert_eq!(b.state.shared.published().size, 5);
    // A monitor that saw history A is shown history B: fork evidence, accepted offline.
    let Outcome::Fork { evidence, .. } = monitor_once(&b.url, &vk, &mon).await else {
        panic!("no fork detected");
    };
    let (code, out) = cli(&[
        "verify-fork",
        evidence.to_str().unwrap(),
        "--log-key",
        &vk.to_string(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    b.stop().await;

    // With its witnesses again, B cannot start: they reject the proof from 4 (422).
    let err = attestlog_server::App::open(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("refusing to start") && err.contains("refuses"),
        "{err}"
    );
    // And they kept the conflicting checkpoint. Their record holds B's checkpoint and B's own
    // proof from size 4; size 4 is a power of two, so that proof does not carry the root B's
    // tree has at 4 and the record alone is not a proof (the monitor's evidence above is).
    let evidence = ws[0].witness.evidence_files().unwrap();
    assert!(!evidence.is_empty());
    let e = ForkEvidence::from_json(&std::fs::read(&evidence[0]).unwrap()).unwrap();
    assert!(matches!(
        e.verify(std::slice::from_ref(&vk)),
        Err(ForkError::Unproven(_))
    ));
    for w in ws {
        w.stop().await;
    }
}

#[tokio::test]
async fn key_rotation_signs_with_both_keys_during_the_overlap() {
    let dir = temp_dir("rotation");
    let origin = "rotation.test/log";
    let (new_key, new_file) = log_key_file(&dir, origin, 0x64);
    let old_dir = dir.join("old");
    std::fs::create_dir_all(&old_dir).unwrap();
    let (old_key, old_file) = log_key_file(&old_dir, origin, 0x65);
    let (new_vk, old_vk) = (new_key.verifier(), old_key.verifier());
    let opened = |note: &[u8], k: &VerifierKey| {
        attestlog_proto::checkpoint::SignedCheckpoint::open(note, std::slice::from_ref(k)).is_ok()
    };

    // Before the rotation the old key signs the log's enrolments.
    let data = dir.join("data");
    let log = TestLog::start_in(data.clone(), config(&data, &old_file, origin, None)).await;
    log.enrol("Before Rotation AG", &vendor_key(74).verifier())
        .await;
    log.stop().await;

    // During the overlap every checkpoint verifies with either key alone.
    let mut c = config(&data, &new_file, origin, None);
    c.previous_key_files = vec![old_file.clone()];
    c.overlap_until = Some("2999-01-01T00:00:00Z".into());
    let log = TestLog::start_in(data.clone(), c).await;
    let vendor = vendor_key(73);
    log.enrol(VENDOR, &vendor.verifier()).await;
    let (status, body) = attest(&log, &vendor, 1, "Rotated").await;
    assert_eq!(status, 201, "{body}");
    let note = log.get("/checkpoint").await.bytes().await.unwrap();
    assert!(opened(&note, &new_vk) && opened(&note, &old_vk));
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(
        info["verifier_key"].as_str(),
        Some(new_vk.to_string().as_str())
    );
    assert_eq!(
        info["verifier_keys"],
        serde_json::json!([new_vk.to_string(), old_vk.to_string()])
    );
    // Receipts verify offline with the old key as well as the new one.
    let receipt = write(&dir, "receipt.json", &body["receipt"].to_string());
    let policy = write(
        &dir,
        "both",
        &format!("log {old_vk}\nlog {new_vk}\nquorum none\n"),
    );
    for k in [old_vk.to_string(), new_vk.to_string()] {
        let trust = Trust::log_key(VerifierKey::parse(&k).unwrap());
        let cp = trust.open_checkpoint(&note).unwrap();
        assert_eq!(cp.size(), 3);
    }
    let (code, out) = cli(&[
        "verify",
        receipt.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 0, "{out}");
    // A monitor trusting both keys accepts enrolments signed by either (the old key's before
    // the rotation, the new key's after), whichever key its policy lists first.
    for (n, order) in [
        format!("log {old_vk}\nlog {new_vk}\nquorum none\n"),
        format!("log {new_vk}\nlog {old_vk}\nquorum none\n"),
    ]
    .iter()
    .enumerate()
    {
        let policy = write(&dir, &format!("order{n}"), order);
        let (code, out) = cli(&[
            "--log",
            &log.url,
            "monitor",
            "--once",
            "--policy",
            policy.to_str().unwrap(),
            "--state",
            dir.join(format!("mon{n}")).to_str().unwrap(),
        ])
        .await;
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("invalid"), "{out}");
        assert_eq!(out.matches("key_enrolled").count(), 2, "{out}");
    }
    log.stop().await;

    // After the overlap only the new key signs new checkpoints.
    let mut c = config(&data, &new_file, origin, None);
    c.previous_key_files = vec![old_file];
    c.overlap_until = Some("2001-01-01T00:00:00Z".into());
    let log = TestLog::start_in(data.clone(), c).await;
    assert_eq!(attest(&log, &vendor, 2, "Rotated").await.0, 201);
    let note = log.get("/checkpoint").await.bytes().await.unwrap();
    assert!(opened(&note, &new_vk));
    assert!(!opened(&note, &old_vk));
    log.stop().await;

    // A previous key that does not parse is refused at start.
    let bad = write(&dir, "bad.key", "PRIVATE+KEY+nonsense\n");
    let mut c = config(&data, &new_file, origin, None);
    c.previous_key_files = vec![bad];
    let err = attestlog_server::App::open(&c).unwrap_err().to_string();
    assert!(err.contains("previous log key"), "{err}");
}

/// A witness flooded with add-checkpoint requests for made-up logs with huge origins (at the
/// origin cap: unknown logs, 404; 28 KiB: over the origin cap, 400; 60 KiB: bodies over the
/// body cap, 413) keeps nothing of them, while the log it witnesses keeps getting its
/// checkpoints cosigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_flooded_with_huge_origins_keeps_cosigning() {
    let dir = temp_dir("witness-flood");
    let log = SignerKey::from_seed("flood.log.test/log", TYPE_ED25519, &[81; 32]).unwrap();
    let w = TestWitness::start(witness_key("flood", 82), &log.verifier(), &dir).await;
    let url = format!("{}/add-checkpoint", w.url);
    let empty = |key: &SignerKey| {
        AddCheckpointRequest {
            old: 0,
            proof: vec![],
            checkpoint: Checkpoint {
                origin: key.name().to_owned(),
                size: 0,
                root: Hash::EMPTY_ROOT,
                extensions: vec![],
            }
            .sign(std::slice::from_ref(key))
            .unwrap()
            .to_bytes(),
        }
        .to_bytes()
    };
    let cap = attestlog_proto::witness::MAX_ORIGIN_BYTES;
    let bodies: Arc<Vec<(Vec<u8>, u16)>> = Arc::new(
        (0..15u8)
            .map(|i| {
                let (long, refusal) =
                    [(cap - 2, 404), (28 * 1024, 400), (60 * 1024, 413)][usize::from(i % 3)];
                let k = SignerKey::from_seed(
                    &format!("{}{i:02}", "o".repeat(long)),
                    TYPE_ED25519,
                    &[i; 32],
                )
                .unwrap();
                (empty(&k), refusal)
            })
            .collect(),
    );
    let attack: Vec<_> = (0..4usize)
        .map(|a| {
            let (url, bodies) = (url.clone(), bodies.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut statuses = Vec::new();
                for r in 0..25usize {
                    let (b, refusal) = bodies[(a * 25 + r) % bodies.len()].clone();
                    let s = http.post(&url).body(b).send().await.map(|r| r.status());
                    statuses.push((refusal, s.map_or(0, |s| s.as_u16())));
                }
                statuses
            })
        })
        .collect();
    // The real log's checkpoint is cosigned throughout.
    let http = reqwest::Client::new();
    let good = empty(&log);
    for _ in 0..20 {
        let r = http.post(&url).body(good.clone()).send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "the real log's checkpoint was not cosigned"
        );
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    for t in attack {
        let statuses = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .unwrap()
            .unwrap();
        // Each is refused as expected; a busy witness may answer 503 instead.
        for (refusal, s) in &statuses {
            assert!([*refusal, 503].contains(s), "expected {refusal}, got {s}");
        }
        assert!(statuses.iter().any(|(_, s)| *s == 404));
    }
    // Nothing of the made-up logs was stored.
    let stored: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(stored < 60 * 1024, "the witness stored {stored} bytes");
    w.stop().await;
}

/// `POST /entries` of a statement the log holds but has not published (stored, its checkpoint
/// withheld for lack of a witness quorum) answers 303 naming the entry the log holds, not the
/// bytes just submitted (here another COSE envelope of the same statement); `GET` of that entry
/// answers 302 until it is published, and the submitted envelope was never logged (404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_303_names_the_stored_entry_while_its_checkpoint_is_withheld() {
    use attestlog_proto::cose::{SignedStatement, parse_sign1, sign1_to_tagged};
    use attestlog_proto::predicate::statement_from_value;
    use coset::cbor::value::Value;

    let dir = temp_dir("withheld-scitt");
    let origin = "withheld-scitt.test/log";
    let (log_key, key_file) = log_key_file(&dir, origin, 0x65);
    let vk = log_key.verifier();
    let k1 = witness_key("h1", 21);
    let w1 = TestWitness::start(k1.clone(), &vk, &dir.join("w1")).await;
    let p11 = write(
        &dir,
        "p11",
        &policy(&vk, &[("H1", k1.verifier(), w1.url.as_str())], 1),
    );
    let data = dir.join("data");
    let mut c = config(&data, &key_file, origin, Some(&p11));
    c.scitt_wait = Duration::ZERO;
    let log = TestLog::start_in(data.clone(), c).await;
    let vendor = vendor_key(73);
    log.enrol(VENDOR, &vendor.verifier()).await;
    // The only witness goes away: every later checkpoint is withheld.
    w1.stop().await;

    let payload = statement_from_value(statement(VENDOR, &att_id(50), "Withheld Endpoint"))
        .unwrap()
        .canonical_bytes();
    let first = SignedStatement::sign(&payload, &vendor, &att_id(50)).to_entry();
    let first_leaf = Hash::leaf(&first);
    // The same statement in another envelope: an extra protected header parameter.
    let other = {
        let mut s = parse_sign1(&first).unwrap();
        s.protected.header.rest.push((
            coset::Label::Int(-70_001),
            Value::Text("another envelope".into()),
        ));
        s.protected.original_data = None;
        s.signature = vendor.sign(&s.tbs_data(b"")).to_vec();
        sign1_to_tagged(s)
    };
    let other_leaf = Hash::leaf(&other);
    assert_ne!(first_leaf, other_leaf);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |body: Vec<u8>| {
        http.post(format!("{}/entries", log.url))
            .header("content-type", "application/cose")
            .body(body)
            .send()
    };
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let a = post(first.clone()).await.unwrap();
    assert_eq!(a.status(), 303);
    assert_eq!(
        location(&a),
        Some(format!("/entries/{}", first_leaf.to_hex()))
    );
    // Wait until the sequencer has stored it (its checkpoint stays withheld).
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.state.store.lookup_leaf(&first_leaf).unwrap().is_none() {
        assert!(Instant::now() < deadline, "the entry was never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        log.state.shared.published().size,
        1,
        "only the enrolment is published"
    );

    let b = post(other).await.unwrap();
    assert_eq!(b.status(), 303);
    assert_eq!(
        location(&b),
        Some(format!("/entries/{}", first_leaf.to_hex())),
        "the 303 names the entry the log holds"
    );
    assert!(b.headers().get("retry-after").is_some());
    let get = |leaf: Hash| {
        http.get(format!("{}/entries/{}", log.url, leaf.to_hex()))
            .send()
    };
    let g = get(first_leaf).await.unwrap();
    assert_eq!(g.status(), 302, "stored, not yet published");
    assert_eq!(
        location(&g),
        Some(format!("/entries/{}", first_leaf.to_hex()))
    );
    assert_eq!(get(other_leaf).await.unwrap().status(), 404);
    assert!(log.state.store.lookup_leaf(&other_leaf).unwrap().is_none());
    // The same statement in a DSSE envelope at /v1/entries, twice: a statement the log stores
    // but has not published is that entry, not yet published (503, retry), never a version
    // conflict with itself (422) -- a client resending after a lost answer or a fail-over
    // must not be refused.
    let dsse = sign_value(
        &vendor,
        &statement(VENDOR, &att_id(50), "Withheld Endpoint"),
    );
    for _ in 0..2 {
        let (status, body) = log.submit(&dsse).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body.to_string()
                .contains("not yet in a published checkpoint"),
            "{body}"
        );
    }
    log.stop().await;
}

/// A fake witness on 127.0.0.1: reads each request (head and `Content-Length` body), counts
/// it and writes `answer(request body)`, then closes the connection.
async fn fake_witness(
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let answer = Arc::new(answer);
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            got.drain(..end + 4);
                            break;
                        }
                    }
                }
                let _ = s.write_all(&answer(&got)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, hits)
}

/// The log's witness client caps answers at 16 KiB and never follows a redirect: a witness
/// answering 200 with a 17 KiB body and one answering 302 (to an endpoint that must never be
/// asked) fail cleanly, and the round still ends at the quorum plus the grace, long before the
/// witness timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_redirecting_witness_answers_fail_cleanly() {
    let dir = temp_dir("hostile-witnesses");
    let origin = "hostile-witnesses.test/log";
    let (log_key, key_file) = log_key_file(&dir, origin, 0x62);
    let vk = log_key.verifier();
    let (k1, kb, kr) = (
        witness_key("h1", 11),
        witness_key("hb", 12),
        witness_key("hr", 13),
    );
    let w1 = TestWitness::start(k1.clone(), &vk, &dir.join("w1")).await;
    // A well-formed answer with HB's valid cosignature, padded past 16 KiB with valid
    // cosignatures by a key of a long name: read whole, it would make HB cosign.
    let pad_key = witness_key(&"p".repeat(150), 14);
    let hb = kb.clone();
    let (big_url, big_hits) = fake_witness(move |req| {
        let Ok(req) = AddCheckpointRequest::parse(req) else {
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec();
        };
        let note = attestlog_proto::note::Note::parse(&req.checkpoint).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut sigs = vec![attestlog_proto::cosignature::cosign(&hb, now, note.text()).unwrap()];
        let pad = attestlog_proto::cosignature::cosign(&pad_key, now, note.text()).unwrap();
        while attestlog_proto::witness::cosignature_response(&sigs).len() <= 17 * 1024 {
            sigs.push(pad.clone());
        }
        let body = attestlog_proto::witness::cosignature_response(&sigs);
        let mut out = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    })
    .await;
    let (target_url, target_hits) =
        fake_witness(|_| b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: {target_url}/add-checkpoint\r\nContent-Length: 0\r\n\r\n"
    );
    let (redirect_url, redirect_hits) = fake_witness(move |_| redirect.clone().into_bytes()).await;
    let p = format!(
        "log {vk}\nwitness H1 {} {}\nwitness HB {} {big_url}\nwitness HR {} {redirect_url}\n\
         quorum H1\n",
        k1.verifier(),
        w1.url,
        kb.verifier(),
        kr.verifier(),
    );
    let p_file = write(&dir, "policy", &p);
    let data = dir.join("data");
    let mut c = config(&data, &key_file, origin, Some(&p_file));
    c.witness_timeout = Duration::from_secs(30);
    let log = TestLog::start_in(data.clone(), c).await;
    let vendor = vendor_key(72);
    let started = Instant::now();
    log.enrol(VENDOR, &vendor.verifier()).await;
    let (status, body) = attest(&log, &vendor, 1, "Hostile Witness Endpoint").await;
    assert_eq!(status, 201, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the rounds waited for the failing witnesses: {:?}",
        started.elapsed()
    );
    // Only the well-behaved witness cosigned; the two hostile ones were asked.
    let note = log.get("/checkpoint").await.bytes().await.unwrap();
    let v = verify_checkpoint_with_policy(&Policy::parse(&p).unwrap(), &note).unwrap();
    assert_eq!(v.checkpoint().checkpoint().size, 2);
    assert_eq!(
        v.witnesses().iter().map(String::as_str).collect::<Vec<_>>(),
        ["H1"]
    );
    assert!(big_hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(redirect_hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // The redirect was never followed.
    assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Both count as errors in the metrics.
    wait_for_metrics(
        &log,
        &[r#"witness="HB""#, r#"witness="HR""#, r#"result="error""#],
    )
    .await;
    drop(log);
    w1.stop().await;
}
