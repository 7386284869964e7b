//! Three replicas of the real binary on one throwaway PostgreSQL database, concurrent
//! submitters against all of them, and the sequencer lease holder SIGKILLed mid-load several
//! times: every acknowledged entry stays at its index, no entry appears twice, every replica
//! serves the same checkpoint, and the log verifies from tiles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "bin_support/mod.rs"]
mod bin_support;
#[path = "pg_support/mod.rs"]
mod pg_support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestlog_proto::Hash;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use bin_support::{Server, envelope, get_bytes, start_with, temp_dir, vendors, verify_log};
use tokio::time::Instant;

const REPLICAS: usize = 3;
const KILLS: usize = 3;

struct Replica {
    dir: PathBuf,
    listen: String,
    server: Server,
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A replica with the shared log key and the shared SCITT receipt key (`scitt.key` beside
/// the log key).
async fn launch(dir: &std::path::Path, listen: &str, db: &str, key: &str) -> Server {
    let scitt = std::path::Path::new(key).with_file_name("scitt.key");
    let scitt = scitt.to_str().unwrap();
    start_with(
        dir,
        listen,
        &[
            "--database",
            db,
            "--key-file",
            key,
            "--scitt-key-file",
            scitt,
        ],
    )
    .await
}

/// A PostgreSQL replica that would generate a SCITT key of its own is refused before it
/// connects (replicas must share one receipt key); the key file is also read from
/// `ATTESTLOG_SCITT_KEY_FILE`.
#[test]
fn a_replica_without_the_shared_scitt_key_is_refused() {
    let dir = temp_dir("replica-scitt-key");
    let run = |env: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_attestlog-server"));
        c.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            // Nothing listens there: the refusal must come before connecting.
            .args(["--database", "postgres://attestlog@127.0.0.1:1/none"])
            .env("ATTESTLOG_ADMIN_TOKEN", "t")
            .env_remove("ATTESTLOG_SCITT_KEY_FILE")
            .env_remove("ATTESTLOG_SCITT_GENERATE_KEY");
        if let Some(f) = env {
            c.env("ATTESTLOG_SCITT_KEY_FILE", f);
        }
        let o = c.output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(None);
    assert!(
        err.contains("refusing to start a PostgreSQL replica without a SCITT key file"),
        "{err}"
    );
    let missing = dir.join("no-such-scitt.key");
    let err = run(Some(missing.to_str().unwrap()));
    assert!(
        err.contains(&format!(
            "SCITT key file {} does not exist",
            missing.display()
        )),
        "{err}"
    );
    assert!(!dir.join("scitt.key").exists(), "no key of its own");
}

async fn readyz(http: &reqwest::Client, url: &str) -> String {
    match http.get(format!("{url}/readyz")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls the readiness of every replica but `except` until exactly one holds the lease.
async fn leader(http: &reqwest::Client, replicas: &[Replica], except: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let mut holders = Vec::new();
        for (i, r) in replicas.iter().enumerate() {
            if Some(i) != except && readyz(http, &r.server.url).await.contains("sequencer") {
                holders.push(i);
            }
        }
        if holders.len() == 1 {
            return holders[0];
        }
        assert!(
            Instant::now() < deadline,
            "no single lease holder: {holders:?}"
        );
        tick.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_survive_killing_the_lease_holder() {
    let Some(admin) = pg_support::admin_url("replicas_survive_killing_the_lease_holder") else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    let base = temp_dir("replicas");
    let key_file = base.join("log.key");
    let log_signer = SignerKey::from_seed("replicas.example/log", TYPE_ED25519, &[77; 32]).unwrap();
    std::fs::write(&key_file, format!("{}\n", log_signer.to_secret_string())).unwrap();
    let scitt = SignerKey::from_seed("scitt", TYPE_ED25519, &[78; 32]).unwrap();
    std::fs::write(base.join("scitt.key"), scitt.to_secret_string()).unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let dir = base.join(format!("r{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let listen = free_port();
        let server = launch(&dir, &listen, &db.url, &key_file).await;
        replicas.push(Replica {
            dir,
            listen,
            server,
        });
    }
    // The same log key everywhere: the same verifier key and origin; and the same SCITT
    // receipt key, so a receipt from any replica verifies under every replica's key set.
    let scitt_keys = |url: String| {
        let http = http.clone();
        async move { get_bytes(&http, &format!("{url}/.well-known/scitt-keys")).await }
    };
    let keys0 = scitt_keys(replicas[0].server.url.clone()).await;
    assert_eq!(
        attestlog_proto::scitt::parse_key_set(&keys0).unwrap(),
        vec![scitt.public_key()]
    );
    for r in &replicas[1..] {
        assert_eq!(r.server.log_key, replicas[0].server.log_key);
        assert_eq!(scitt_keys(r.server.url.clone()).await, keys0);
    }
    let vendor = SignerKey::from_seed("replicas.example/attest", TYPE_ED25519, &[42; 32]).unwrap();
    // Enrol through a replica that may or may not hold the lease.
    assert_eq!(
        vendors(&http, &replicas[2].server, &vendor, "enrol").await,
        201
    );

    let urls: Vec<String> = replicas.iter().map(|r| r.server.url.clone()).collect();
    // Followers pick the enrolment up from the database within their refresh interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for url in &urls {
        loop {
            let list = http.get(format!("{url}/v1/vendors")).send().await.unwrap();
            if list.text().await.unwrap().contains("Crash AG") {
                break;
            }
            assert!(Instant::now() < deadline, "{url} never saw the enrolment");
            tick.tick().await;
        }
    }
    let acked: Arc<Mutex<Vec<(u64, Hash)>>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for t in 0..6u64 {
        let http = http.clone();
        let url = urls[usize::try_from(t).unwrap() % REPLICAS].clone();
        let (vendor, acked, stop) = (vendor.clone(), acked.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u32;
            for i in 0..100_000u64 {
                if *stop.borrow() {
                    break;
                }
                let env = envelope(&vendor, t * 1_000_000 + i);
                let r = http
                    .post(format!("{url}/v1/entries"))
                    .timeout(Duration::from_secs(40))
                    .body(env.clone())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        let v: serde_json::Value = r.json().await.unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .push((v["index"].as_u64().unwrap(), Hash::leaf(&env)));
                    }
                    Ok(r) => {
                        // Only "unavailable, retry" is acceptable while a replica dies.
                        assert_eq!(r.status(), 503, "{}", r.text().await.unwrap_or_default());
                        errors += 1;
                    }
                    // The killed replica refuses connections until it is back: back off.
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            errors
        }));
    }

    let mut seen_leaders = HashSet::new();
    for round in 0..KILLS {
        let target = acked.lock().unwrap().len() + 30;
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while acked.lock().unwrap().len() < target {
            assert!(Instant::now() < deadline, "round {round}: no progress");
            tick.tick().await;
        }
        let l = leader(&http, &replicas, None).await;
        seen_leaders.insert(l);
        replicas[l].server.child.start_kill().unwrap(); // SIGKILL
        replicas[l].server.child.wait().await.unwrap();
        // Another replica takes over within seconds (the deadline of `leader`).
        seen_leaders.insert(leader(&http, &replicas, Some(l)).await);
        let r = &mut replicas[l];
        r.server = launch(&r.dir, &r.listen, &db.url, &key_file).await;
    }
    // After the last kill, the log still makes progress under a new holder.
    let target = acked.lock().unwrap().len() + 30;
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while acked.lock().unwrap().len() < target {
        assert!(
            Instant::now() < deadline,
            "no progress after the last takeover"
        );
        tick.tick().await;
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        seen_leaders.len() >= 2,
        "the lease never moved: {seen_leaders:?}"
    );

    // Every replica converges on the same checkpoint.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let note = loop {
        let mut notes = Vec::new();
        for r in &replicas {
            notes.push(get_bytes(&http, &format!("{}/checkpoint", r.server.url)).await);
        }
        if notes.iter().all(|n| *n == notes[0]) {
            break notes[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "replicas disagree on the checkpoint"
        );
        tick.tick().await;
    };

    // The log verifies from tiles, on every replica; nothing acknowledged is lost or doubled.
    let acked = acked.lock().unwrap().clone();
    for r in &replicas {
        let (size, leaves) = verify_log(&http, &r.server).await;
        assert!(String::from_utf8_lossy(&note).contains(&format!("\n{size}\n")));
        let unique: HashSet<&Hash> = leaves.iter().collect();
        assert_eq!(unique.len(), leaves.len(), "an entry appears twice");
        for (index, leaf) in &acked {
            let i = usize::try_from(*index).unwrap();
            assert!(
                i < leaves.len(),
                "acknowledged entry {index} lost (size {size})"
            );
            assert_eq!(leaves[i], *leaf, "entry {index} changed");
        }
    }
    for r in &mut replicas {
        r.server.child.start_kill().unwrap();
        r.server.child.wait().await.unwrap();
    }
    drop(db);
}
