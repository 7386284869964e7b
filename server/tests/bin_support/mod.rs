//! Running the real `attestlog-server` binary in tests (shared by `crash.rs` and
//! `replicas.rs` through `#[path]`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::{SignerKey, VerifierKey};
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value, template};
use attestlog_proto::tree::Frontier;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

pub const TOKEN: &str = "crash-test-token";

/// A fresh scratch directory under this run's root (the next run removes it).
pub fn temp_dir(name: &str) -> PathBuf {
    attestlog_serve::fs::scratch_dir("attestlog-crash", name).unwrap()
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub log_key: VerifierKey,
}

/// Starts the binary and waits (by reading its output, not sleeping) until it listens.
pub async fn start(dir: &Path) -> Server {
    start_with(dir, "127.0.0.1:0", &[]).await
}

/// Starts the binary on `listen` with extra arguments.
pub async fn start_with(dir: &Path, listen: &str, extra: &[&str]) -> Server {
    start_with_env(dir, listen, extra, &[]).await
}

/// Starts the binary on `listen` with extra arguments and environment variables.
pub async fn start_with_env(
    dir: &Path,
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .args(["--listen", listen, "--data-dir"])
        .arg(dir)
        .args(extra)
        .envs(env.iter().copied())
        .env("ATTESTLOG_ADMIN_TOKEN", TOKEN)
        .env("ATTESTLOG_QUOTA_RATE", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("server did not start in time")
            .unwrap()
            .expect("server exited before listening");
        if let Some(k) = line.strip_prefix("verifier key: ") {
            key = Some(VerifierKey::parse(k.trim()).unwrap());
        }
        if let Some(u) = line.strip_prefix("listening on  ") {
            let url = u.trim().to_owned();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Server {
                child,
                url,
                log_key: key.expect("verifier key printed before listening"),
            };
        }
    }
}

pub async fn vendors(http: &reqwest::Client, s: &Server, key: &SignerKey, action: &str) -> u16 {
    http.post(format!("{}/v1/vendors", s.url))
        .bearer_auth(TOKEN)
        .json(&json!({"vendor": "Crash AG", "key": key.verifier().to_string(), "action": action}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub fn envelope(key: &SignerKey, n: u64) -> Vec<u8> {
    let mut v = template();
    v["predicate"]["vendor"]["legal_name"] = json!("Crash AG");
    v["predicate"]["attestation_id"] = json!(format!("00000000-0000-4000-8000-{n:012x}"));
    let st = statement_from_value(v).unwrap();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &[key]).canonical_bytes()
}

/// The body of a GET.
pub async fn get_bytes(http: &reqwest::Client, url: &str) -> Vec<u8> {
    http.get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Reads the whole log through the tiles API and checks it against the signed checkpoint;
/// returns (size, leaf hashes).
pub async fn verify_log(http: &reqwest::Client, s: &Server) -> (u64, Vec<Hash>) {
    let note = get_bytes(http, &format!("{}/checkpoint", s.url)).await;
    let cp = SignedCheckpoint::open(&note, std::slice::from_ref(&s.log_key)).unwrap();
    let cp = cp.checkpoint().clone();
    let mut leaves = Vec::new();
    let mut f = Frontier::new();
    let mut b = 0;
    while b * 256 < cp.size {
        let w = (cp.size - b * 256).min(256);
        let path = attestlog_proto::tiles::TilePath::Entries {
            index: b,
            width: u16::try_from(w).unwrap(),
        };
        let data = get_bytes(http, &format!("{}/{}", s.url, path.full_path())).await;
        for e in attestlog_proto::tiles::decode_bundle(&data).unwrap() {
            let h = Hash::leaf(e);
            leaves.push(h);
            f.push(h, |_, _| {});
        }
        b += 1;
    }
    assert_eq!(f.root(), cp.root, "log does not match its checkpoint");
    (cp.size, leaves)
}
