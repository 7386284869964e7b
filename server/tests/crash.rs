//! Crash safety and the binary's behaviour, executing the real `attestlog-server`:
//! SIGKILL under submission load, restart, and every acknowledged entry is still there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "bin_support/mod.rs"]
mod bin_support;

use std::sync::{Arc, Mutex};

use attestlog_proto::Hash;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use bin_support::{envelope, start, temp_dir, vendors, verify_log};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_entry() {
    let dir = temp_dir("kill");
    let http = reqwest::Client::new();
    let vendor = SignerKey::from_seed("crash.example/attest", TYPE_ED25519, &[42; 32]).unwrap();
    let mut server = start(&dir).await;
    assert_eq!(vendors(&http, &server, &vendor, "enrol").await, 201);

    let acked: Arc<Mutex<Vec<(u64, Hash)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut last_size = 1;
    let mut next = 0u64;
    for round in 0..4 {
        // Concurrent submitters; kill once enough entries of this round are acknowledged.
        let target = acked.lock().unwrap().len() + 40;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for t in 0..6u64 {
            let http = http.clone();
            let url = server.url.clone();
            let vendor = vendor.clone();
            let acked = acked.clone();
            let stop = stop_rx.clone();
            let base = next + t * 100_000;
            tasks.push(tokio::spawn(async move {
                for i in 0..100_000u64 {
                    if *stop.borrow() {
                        break;
                    }
                    let env = envelope(&vendor, base + i);
                    let Ok(r) = http
                        .post(format!("{url}/v1/entries"))
                        .body(env.clone())
                        .send()
                        .await
                    else {
                        break;
                    };
                    if r.status() != 201 {
                        break;
                    }
                    let Ok(v) = r.json::<serde_json::Value>().await else {
                        break;
                    };
                    let index = v["index"].as_u64().unwrap();
                    acked.lock().unwrap().push((index, Hash::leaf(&env)));
                }
            }));
        }
        next += 1_000_000;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(5));
        while acked.lock().unwrap().len() < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: no progress"
            );
            ticker.tick().await;
        }
        server.child.start_kill().unwrap(); // SIGKILL
        server.child.wait().await.unwrap();
        let _ = stop_tx.send(true);
        for t in tasks {
            t.await.unwrap();
        }

        server = start(&dir).await;
        let (size, leaves) = verify_log(&http, &server).await;
        assert!(
            size >= last_size,
            "checkpoint went from {last_size} down to {size}"
        );
        last_size = size;
        for (index, leaf) in acked.lock().unwrap().iter() {
            let i = usize::try_from(*index).unwrap();
            assert!(
                i < leaves.len(),
                "acknowledged entry {index} lost (size {size})"
            );
            assert_eq!(leaves[i], *leaf, "entry {index} changed");
        }
    }
    let r = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn backup_command_and_rollback_refusal() {
    let dir = temp_dir("backup");
    let http = reqwest::Client::new();
    let mut server = start(&dir).await;
    let vendor = SignerKey::from_seed("backup.example/attest", TYPE_ED25519, &[43; 32]).unwrap();
    assert_eq!(vendors(&http, &server, &vendor, "enrol").await, 201);
    // Online backup of the live database.
    let dest = dir.join("copy.db");
    let out = Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .arg("--data-dir")
        .arg(&dir)
        .arg("backup")
        .arg(&dest)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = http
        .post(format!("{}/v1/entries", server.url))
        .body(envelope(&vendor, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(vendors(&http, &server, &vendor, "revoke").await, 201);
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    // Restore the older copy: the server refuses to start.
    std::fs::copy(&dest, dir.join("attestlog.db")).unwrap();
    for f in ["attestlog.db-wal", "attestlog.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start"), "{err}");
}

#[test]
fn help_and_bad_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--listen", "--data-dir", "--database", "--config", "backup"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestlog-server"))
        .arg("--listen=not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
