//! The client library's `Verifier` against the real server: proofs from tiles across tile
//! boundaries agree with the server's proof endpoints, and a server (here: a proxy in front
//! of one) that serves a tampered tile or entry bundle is caught — the first tile included.

use attestlog_client::{Client, Trust, Verifier, VerifyError};
use attestlog_proto::Hash;
use attestlog_proto::proof::verify_consistency;

use crate::common::*;

const VENDOR: &str = "Example AV AG";

/// A log with `n` entries (one enrolment and `n - 1` attestations).
async fn log_with(n: u64) -> TestLog {
    let log = TestLog::start().await;
    let key = vendor_key(1);
    log.enrol(VENDOR, &key.verifier()).await;
    for i in 1..n {
        let (s, body) = log
            .submit(&sign_value(&key, &statement(VENDOR, &att_id(i), "P")))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    log
}

fn verifier(url: &str, log: &TestLog) -> Verifier {
    Verifier::new(Client::new(url).unwrap(), Trust::log_key(log.log_key()))
}

#[tokio::test]
async fn proofs_from_verified_tiles_match_the_server() {
    let log = log_with(300).await;
    let mut v = verifier(&log.url, &log);
    let cp = v.checkpoint().await.unwrap();
    assert_eq!(cp.size(), 300);
    let client = v.client().clone();

    // Every entry read from bundles matches its leaf hash and the server's entry endpoint.
    let mut progress = Vec::new();
    let entries = v.entries(&cp, 0, 300, |d| progress.push(d)).await.unwrap();
    assert_eq!(entries.len(), 300);
    assert_eq!(progress, vec![256, 300]);
    for i in [0u64, 1, 255, 256, 299] {
        let e = client.entry(i).await.unwrap();
        let (_, bytes) = entries.iter().find(|(j, _)| *j == i).unwrap();
        assert_eq!(Hash::leaf(bytes), e.leaf_hash);
        let (leaf, proof) = v.prove_inclusion(&cp, i).await.unwrap();
        let server = client.inclusion_proof(i, 300).await.unwrap();
        assert_eq!(leaf, server.leaf_hash);
        assert_eq!(proof, server.hashes, "inclusion {i}");
    }
    for (first, second) in [
        (1u64, 300u64),
        (256, 300),
        (100, 257),
        (255, 256),
        (0, 7),
        (300, 300),
    ] {
        let (r1, r2, proof) = v.prove_consistency(&cp, first, second).await.unwrap();
        let server = client.consistency_proof(first, second).await.unwrap();
        assert_eq!(proof, server.hashes, "consistency {first}..{second}");
        verify_consistency(first, second, &proof, &r1, &r2).unwrap();
    }
    assert!(matches!(
        v.prove_inclusion(&cp, 300).await,
        Err(VerifyError::Beyond { .. })
    ));
    assert!(v.prove_consistency(&cp, 5, 4).await.is_err());
}

/// A one-request-per-connection HTTP proxy to `upstream` that passes every response through
/// `tamper(path, body)`. Only for tests on 127.0.0.1.
async fn tampering_proxy(upstream: String, tamper: fn(&str, &mut Vec<u8>)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while let Ok((sock, _)) = listener.accept().await {
            let (upstream, http) = (upstream.clone(), http.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    if sock.readable().await.is_err() {
                        return;
                    }
                    match sock.try_read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
                let head = String::from_utf8_lossy(&req).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let Ok(resp) = http.get(format!("{upstream}{path}")).send().await else {
                    return;
                };
                let status = resp.status().as_u16();
                let mut body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                tamper(&path, &mut body);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                let mut written = 0;
                while written < out.len() {
                    if sock.writable().await.is_err() {
                        return;
                    }
                    match sock.try_write(&out[written..]) {
                        Ok(n) => written += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn tampered_tiles_and_bundles_are_rejected() {
    let log = log_with(5).await;

    // Honest proxy: everything verifies.
    let honest = tampering_proxy(log.url.clone(), |_, _| {}).await;
    let mut v = verifier(&honest, &log);
    let cp = v.checkpoint().await.unwrap();
    assert_eq!(v.entries(&cp, 0, 5, |_| {}).await.unwrap().len(), 5);

    // The very first tile read (level 0, index 0) is tampered: caught.
    let bad_tile = tampering_proxy(log.url.clone(), |path, body| {
        if path.starts_with("/tile/0/") && !body.is_empty() {
            body[0] ^= 1;
        }
    })
    .await;
    let mut v = verifier(&bad_tile, &log);
    let cp = v.checkpoint().await.unwrap();
    let err = v.leaf_hash(&cp, 0).await.unwrap_err();
    assert!(matches!(err, VerifyError::Tile { .. }), "{err}");
    let err = v.prove_inclusion(&cp, 3).await.unwrap_err();
    assert!(matches!(err, VerifyError::Tile { .. }), "{err}");

    // A tampered entry bundle (a byte inside the last entry): caught against the tile.
    let bad_bundle = tampering_proxy(log.url.clone(), |path, body| {
        if path.starts_with("/tile/entries/") && body.len() > 10 {
            let n = body.len() - 3;
            body[n] ^= 1;
        }
    })
    .await;
    let mut v = verifier(&bad_bundle, &log);
    let cp = v.checkpoint().await.unwrap();
    let err = v.entries(&cp, 0, 5, |_| {}).await.unwrap_err();
    assert!(matches!(err, VerifyError::Bundle { .. }), "{err}");

    // A tampered checkpoint: rejected before any tile is read.
    let bad_cp = tampering_proxy(log.url.clone(), |path, body| {
        if path == "/checkpoint" {
            // Change the tree size line.
            if let Some(p) = body.iter().position(|&b| b == b'\n') {
                body[p + 1] = if body[p + 1] == b'9' { b'8' } else { b'9' };
            }
        }
    })
    .await;
    let v = verifier(&bad_cp, &log);
    assert!(matches!(
        v.checkpoint().await,
        Err(VerifyError::Checkpoint(_))
    ));
    assert_eq!(v.fetched(), 0);
}

#[tokio::test]
async fn monitor_catches_up_across_bundles_and_resumes_from_state() {
    use attestlog_client::monitor::{Monitor, Outcome, Rules};
    let log = log_with(300).await;
    let dir = temp_dir("monitor-300");
    let rules = Rules {
        vendors: vec![VENDOR.into()],
        ..Rules::default()
    };
    let mut m = Monitor::open(verifier(&log.url, &log), &dir, rules.clone()).unwrap();
    let mut alerts = Vec::new();
    let mut last = (0, 0);
    let outcome = m
        .run_once(&mut |a| alerts.push(a.clone()), &mut |d, t| last = (d, t))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Advanced { from: 0, to: 300 });
    assert_eq!(last, (300, 300));
    assert_eq!(alerts.len(), 300);
    assert_eq!(alerts[0].alert, "key_enrolled");
    assert!(alerts[1..].iter().all(|a| a.alert == "new_attestation"));
    assert_eq!(m.state().attestations.len(), 299);

    // A restarted monitor continues from the stored checkpoint and enrolments.
    let key = vendor_key(1);
    let (s, body) = log
        .submit(&sign_value(&key, &statement(VENDOR, &att_id(1000), "P")))
        .await;
    assert_eq!(s, 201, "{body}");
    let mut m = Monitor::open(verifier(&log.url, &log), &dir, rules).unwrap();
    let mut alerts = Vec::new();
    let outcome = m
        .run_once(&mut |a| alerts.push(a.clone()), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Advanced { from: 300, to: 301 });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].alert, "new_attestation");
    assert_eq!(alerts[0].index, Some(300));
    let outcome = m.run_once(&mut |_| {}, &mut |_, _| {}).await.unwrap();
    assert_eq!(outcome, Outcome::UpToDate { size: 301 });
}
