//! Serving under hostile load (DESIGN.md §11), at small scale: slowloris, idle keep-alive
//! connections (within and beyond the connection cap), oversized heads and bodies, requests
//! beyond the in-flight limit, an expensive-search flood and a full entry-bundle crawl from
//! one host, while a well-behaved client's checkpoint and proof reads keep succeeding (the
//! witness flooded with huge origins is in `witness.rs`). The same scenarios run at full
//! scale in `attestlog-bench abuse`.
//!
//! Every wait is on a condition with a deadline; every connection is to 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::common::*;

/// How long any scenario may wait for the server to act.
const DEADLINE: Duration = Duration::from_secs(20);

fn addr(log: &TestLog) -> SocketAddr {
    log.url.trim_start_matches("http://").parse().unwrap()
}

/// A log with one enrolment entry (so proofs exist) and `f` applied to its config.
async fn small_log(f: impl FnOnce(&mut attestlog_server::config::Config)) -> TestLog {
    let log = TestLog::start_with(f).await;
    log.enrol("Hostile AG", &vendor_key(70).verifier()).await;
    log
}

/// A well-behaved client: the checkpoint and an inclusion proof must be served.
async fn well_behaved(log: &TestLog) {
    let r = log.get("/checkpoint").await;
    assert_eq!(r.status(), 200, "checkpoint read failed under abuse");
    let (s, body) = log
        .get_json("/v1/proof/inclusion?index=0&tree_size=1")
        .await;
    assert_eq!(s, 200, "proof read failed under abuse: {body}");
}

/// Reads until the server closes the connection; the bytes read, or None at the deadline.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(out)
}

/// Splits a raw HTTP/1.1 answer into status, lowercase header lines and body.
fn parse_answer(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    (status, head.to_lowercase(), raw[body_at..].to_vec())
}

#[tokio::test]
async fn limits_are_configurable_and_reported() {
    let log = TestLog::start_with(|c| {
        c.serve.header_read_timeout = Duration::from_millis(1500);
        c.serve.request_timeout = Duration::from_millis(2500);
        c.serve.max_in_flight = 77;
        c.serve.max_connections = 99;
        c.serve.max_header_bytes = 20_000;
        c.tile_cache_bytes = 1 << 20;
        c.read_cache_bytes = 2 << 20;
    })
    .await;
    let (s, info) = log.get_json("/v1/log").await;
    assert_eq!(s, 200);
    let l = &info["limits"];
    assert_eq!(l["header_read_timeout_ms"], 1500);
    assert_eq!(l["request_timeout_ms"], 2500);
    assert_eq!(l["max_in_flight"], 77);
    assert_eq!(l["max_connections"], 99);
    assert_eq!(l["max_header_bytes"], 20_000);
    assert_eq!(l["tile_cache_bytes"], 1 << 20);
    // As SQLite reports its read connections' page caches: the configured budget, split.
    assert_eq!(l["read_cache_bytes"], 2 << 20);
    assert_eq!(l["max_body_bytes"], 128 * 1024);
    assert_eq!(l["max_vendor_body_bytes"], 16 * 1024);
    assert_eq!(l["evict_idle_after_ms"], 1000);
    assert_eq!(l["max_search_results"], 500);
    assert_eq!(l["max_checkpoints"], 64);
    // The defaults of DESIGN.md §11.
    let d = TestLog::start().await;
    let (_, info) = d.get_json("/v1/log").await;
    let l = &info["limits"];
    assert_eq!(l["header_read_timeout_ms"], 10_000);
    assert_eq!(l["request_timeout_ms"], 30_000);
    assert_eq!(l["max_in_flight"], 1024);
    assert_eq!(l["max_connections"], 2048);
    assert_eq!(l["tile_cache_bytes"], 64 << 20);
    assert_eq!(l["read_cache_bytes"], 16 << 20);
}

/// The body caps and the idle time before eviction, set as flags and environment variables
/// set them (`Config::layered` over the `[limits]` shape `main` builds from them), are reported
/// in `/v1/log` and enforced: a body over a lowered cap is answered 413 naming the cap, one
/// under it reaches the handler.
#[tokio::test]
async fn body_caps_and_eviction_are_configurable_and_enforced() {
    use attestlog_server::config::{Config, FileConfig, LimitsFileConfig, MIN_BODY_BYTES};
    let flags = FileConfig {
        limits: LimitsFileConfig {
            max_body_bytes: Some(5000),
            max_vendor_body_bytes: Some(10),
            evict_idle_after_ms: Some(250),
            ..LimitsFileConfig::default()
        },
        ..FileConfig::default()
    };
    let layered = Config::layered(None, &flags);
    assert_eq!(layered.body.max_vendor_body_bytes, MIN_BODY_BYTES, "floor");
    let log = TestLog::start_with(|c| {
        c.body = layered.body;
        c.serve.evict_idle_after = layered.serve.evict_idle_after;
    })
    .await;
    let (s, info) = log.get_json("/v1/log").await;
    assert_eq!(s, 200);
    let l = &info["limits"];
    assert_eq!(l["max_body_bytes"], 5000);
    assert_eq!(l["max_vendor_body_bytes"], MIN_BODY_BYTES);
    assert_eq!(l["evict_idle_after_ms"], 250);
    for (path, content_type, size, cap) in [
        ("/v1/entries", "application/json", 5001, 5000),
        ("/entries", "application/cose", 5001, 5000),
        (
            "/v1/vendors",
            "application/json",
            MIN_BODY_BYTES + 1,
            MIN_BODY_BYTES,
        ),
    ] {
        let r = log
            .http
            .post(format!("{}{path}", log.url))
            .bearer_auth(&log.token)
            .header("content-type", content_type)
            .body(vec![b' '; size])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains(&format!("exceeds {cap} bytes")),
            "{path}: {text}"
        );
    }
    // Under the lowered cap the body is read and judged: not an envelope, 400.
    let (s, body) = log.submit(&[b' '; 4999]).await;
    assert_eq!(s, 400, "{body}");
    // The defaults.
    let d = Config::layered(None, &FileConfig::default());
    assert_eq!(d.body.max_body_bytes, 128 * 1024);
    assert_eq!(d.body.max_vendor_body_bytes, 16 * 1024);
    assert_eq!(d.serve.evict_idle_after, Duration::from_secs(1));
}

#[tokio::test]
async fn slowloris_and_idle_connections_are_closed_while_reads_succeed() {
    let log = small_log(|c| c.serve.header_read_timeout = Duration::from_millis(300)).await;
    let a = addr(&log);
    // Trickling connections: a byte of request head every 20 ms, never the end of it.
    let mut trickling = Vec::new();
    for _ in 0..50 {
        trickling.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(a).await.unwrap();
            s.write_all(b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut buf = [0u8; 64];
            while start.elapsed() < DEADLINE {
                tokio::select! {
                    _ = tick.tick() => {
                        if s.write_all(b"X").await.is_err() {
                            return true;
                        }
                    }
                    r = s.read(&mut buf) => {
                        if matches!(r, Ok(0) | Err(_)) {
                            return true;
                        }
                    }
                }
            }
            false
        }));
    }
    // Idle keep-alive connections: one request answered, then silence.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        idle.push(s);
    }
    for _ in 0..20 {
        well_behaved(&log).await;
    }
    for t in trickling {
        assert!(t.await.unwrap(), "a trickling connection was never closed");
    }
    for mut s in idle {
        assert!(
            read_until_closed(&mut s, DEADLINE).await.is_some(),
            "an idle keep-alive connection was never closed"
        );
    }
    well_behaved(&log).await;
}

/// Opens a `POST /v1/entries` that announces a body and sends only its first byte: the
/// handler waits for the rest while holding its place among the requests in flight.
async fn stalled_post(a: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_get_503_with_retry_after() {
    let log = small_log(|c| c.serve.max_in_flight = 4).await;
    let a = addr(&log);
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(stalled_post(a).await);
    }
    // Once the four hold their places, the next request is refused at once (never queued).
    let start = Instant::now();
    let refused = loop {
        let r = log.get("/checkpoint").await;
        if r.status() == 503 {
            break r;
        }
        assert!(start.elapsed() < DEADLINE, "never refused");
        tokio::task::yield_now().await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    drop(stalled);
    // Their places free as they go: reads succeed again.
    let start = Instant::now();
    while log.get("/checkpoint").await.status() != 200 {
        assert!(start.elapsed() < DEADLINE, "never recovered");
        tokio::task::yield_now().await;
    }
    well_behaved(&log).await;
}

#[tokio::test]
async fn a_request_not_completed_in_time_gets_408_json() {
    let log = small_log(|c| c.serve.request_timeout = Duration::from_millis(300)).await;
    let mut s = stalled_post(addr(&log)).await;
    let raw = read_until_closed(&mut s, DEADLINE)
        .await
        .expect("a stalled body was never timed out");
    let (status, head, body) = parse_answer(&raw);
    assert_eq!(status, 408, "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "timeout");
    well_behaved(&log).await;
}

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused() {
    let log = small_log(|_| {}).await;
    let a = addr(&log);
    // A 100 KiB header: 431 from the connection, before any handler.
    let mut s = TcpStream::connect(a).await.unwrap();
    let big = format!(
        "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = s.write_all(big.as_bytes()).await;
    let raw = read_until_closed(&mut s, DEADLINE).await.unwrap();
    assert_eq!(parse_answer(&raw).0, 431);
    // Each endpoint caps its own body: 413 with the JSON body.
    for (path, size) in [
        ("/v1/entries", 128 * 1024 + 1),
        ("/v1/vendors", 16 * 1024 + 1),
    ] {
        let r = log
            .http
            .post(format!("{}{path}", log.url))
            .bearer_auth(&log.token)
            .body(vec![b' '; size])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_large", "{path}: {body}");
    }
    well_behaved(&log).await;
}

#[tokio::test]
async fn every_answer_carries_nosniff() {
    let log = small_log(|_| {}).await;
    for path in [
        "/checkpoint",
        "/tile/0/000.p/1",
        "/tile/0/bad",
        "/v1/nope",
        "/v1/log",
        "/v1/search?limit=0",
        "/healthz",
    ] {
        let r = log.get(path).await;
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        if path.starts_with("/v1/") && !r.status().is_success() {
            let body: Value = r.json().await.unwrap();
            assert!(body["error"]["code"].is_string(), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn a_payload_with_thousands_of_problems_gets_a_small_answer() {
    let log = small_log(|_| {}).await;
    let mut v = statement("Hostile AG", &att_id(1), "P");
    v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] =
        serde_json::json!(vec!["zz"; 7000]);
    let env = sign_raw(
        &vendor_key(70),
        attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO,
        &serde_json::to_vec(&v).unwrap(),
    );
    let r = log
        .http
        .post(format!("{}/v1/entries", log.url))
        .body(env.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body = r.bytes().await.unwrap();
    assert!(
        body.len() < 32 * 1024,
        "a {} byte submission got a {} byte answer",
        env.len(),
        body.len()
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(
        details.len(),
        attestlog_proto::predicate::MAX_REPORTED_PROBLEMS + 1
    );
    assert!(
        details.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .ends_with("more problems not listed")
    );
}

/// Runs `attackers` tasks, each sending `rounds` requests made by `request` (attacker,
/// round), while the well-behaved client reads `reads` times; the statuses the attack got.
async fn flood(
    log: &TestLog,
    attackers: u64,
    rounds: u64,
    reads: usize,
    request: impl Fn(&reqwest::Client, u64, u64) -> reqwest::RequestBuilder
    + Send
    + Sync
    + Clone
    + 'static,
) -> Vec<u16> {
    let tasks: Vec<_> = (0..attackers)
        .map(|a| {
            let request = request.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut statuses = Vec::new();
                for r in 0..rounds {
                    match request(&http, a, r).send().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            // The whole answer is read, as a crawler would.
                            let _ = resp.bytes().await;
                            statuses.push(status);
                        }
                        Err(_) => statuses.push(0),
                    }
                }
                statuses
            })
        })
        .collect();
    for _ in 0..reads {
        well_behaved(log).await;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(tokio::time::timeout(DEADLINE, t).await.unwrap().unwrap());
    }
    well_behaved(log).await;
    all
}

/// An expensive-search flood (unselective terms, every page size) is answered, 200 or 503,
/// never 500, while checkpoint and proof reads succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expensive_search_flood_leaves_reads_alone() {
    let log = TestLog::start_with(|c| c.max_batch = 2000).await;
    let key = vendor_key(63);
    log.enrol("Search AG", &key.verifier()).await;
    crate::large_log::bulk_append(&log, "Search AG", &key, 300).await;
    let url = log.url.clone();
    let statuses = flood(&log, 6, 20, 20, move |http, a, r| {
        let q = [
            "country=de&limit=500",
            "vendor=search%20ag&country=de&category=telemetry&limit=500",
            "category=telemetry&product=nothing&limit=500",
            "limit=500",
        ][usize::try_from((a + r) % 4).unwrap()];
        http.get(format!("{url}/v1/search?{q}"))
    })
    .await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 503)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "no search was answered");
}

/// A crawl of every entry bundle, over and over by several clients, holds at most the tile
/// cache's budget plus a few chunks per answer: bundles are streamed, never assembled per
/// answer. Every bundle crawled is whole and right; reads succeed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bundle_crawl_stays_within_the_cache_budget() {
    let budget = 256 << 10;
    let log = TestLog::start_with(|c| {
        c.max_batch = 2000;
        c.tile_cache_bytes = budget;
    })
    .await;
    let key = vendor_key(64);
    log.enrol("Crawl AG", &key.verifier()).await;
    crate::large_log::bulk_append(&log, "Crawl AG", &key, 700).await;
    let size = log.state.shared.published().size;
    assert_eq!(size, 701);
    let paths = ["000", "001", "002.p/189"];
    let full = log.get("/tile/entries/000").await.bytes().await.unwrap();
    assert_eq!(
        attestlog_proto::tiles::decode_bundle(&full).unwrap().len(),
        256
    );
    let url = log.url.clone();
    let attackers = 4u64;
    let statuses = flood(&log, attackers, 12, 10, move |http, a, r| {
        let p = paths[usize::try_from((a + r) % 3).unwrap()];
        http.get(format!("{url}/tile/entries/{p}"))
    })
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Streamed bundles come out whole, in order, and the same as before the crawl.
    let again = log.get("/tile/entries/000").await.bytes().await.unwrap();
    assert_eq!(again, full);
    let last = log
        .get("/tile/entries/002.p/189")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        attestlog_proto::tiles::decode_bundle(&last).unwrap().len(),
        189
    );
    let cache = &log.state.cache;
    assert!(cache.peak() <= budget, "{} > {budget}", cache.peak());
    // Bundle bytes alive at once: the cache's share plus, per answer being sent, a chunk or
    // two and the connection's write buffer. Assembling bundles per answer would hold about
    // a whole bundle per attacker.
    let (_, peak) = cache.bundle_bytes();
    let per_answer = 160 << 10;
    let bound = budget + usize::try_from(attackers + 1).unwrap() * per_answer;
    assert!(peak <= bound, "bundle bytes peaked at {peak} > {bound}");
    assert!(
        bound < budget + usize::try_from(attackers).unwrap() * full.len(),
        "the log's bundles are too small for this test to tell ({} bytes)",
        full.len()
    );
}

/// Many idle keep-alive connections beyond the connection cap: each new one closes the
/// connection idle the longest, so the server holds at most the cap (not one per attacker
/// connection, nor until the header timeout), and reads succeed.
#[tokio::test]
async fn idle_connections_beyond_the_cap_make_room_for_reads() {
    let cap = 40usize;
    let log = small_log(|c| {
        c.serve.max_connections = cap;
        c.serve.evict_idle_after = Duration::ZERO;
        c.serve.header_read_timeout = Duration::from_secs(600);
    })
    .await;
    let a = addr(&log);
    let mut idle = Vec::new();
    for _ in 0..3 * cap {
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        idle.push(s);
    }
    for _ in 0..10 {
        well_behaved(&log).await;
    }
    // The oldest were closed to make room (the header timeout is far away).
    for (i, s) in idle.iter_mut().take(2 * cap).enumerate() {
        assert!(
            read_until_closed(s, DEADLINE).await.is_some(),
            "idle connection {i} beyond the cap was never closed"
        );
    }
}

/// Sends a keep-alive `GET /healthz` on `s` and reads its whole answer: whether one came
/// (false: the connection was closed unanswered).
async fn healthz_on(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    let whole = |out: &[u8]| {
        if !out.windows(4).any(|w| w == b"\r\n\r\n") {
            return false;
        }
        let (_, head, body) = parse_answer(out);
        head.lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_some_and(|n| body.len() >= n)
    };
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        while !whole(&out) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await
    .unwrap_or_else(|_| panic!("no answer and no close within {DEADLINE:?}"));
    if read {
        assert_eq!(parse_answer(&out).0, 200);
    }
    read
}

/// Clients that reconnect at once whenever the server closes them, beyond the connection
/// cap while every open connection is recently active: the server does not accept them only
/// to close them (an accept-and-close storm that took the CPU from everyone at full scale);
/// they wait in the listen queue and are served, in turn, as connections close. The
/// well-behaved client's keep-alive connection is never closed meanwhile.
#[tokio::test]
async fn reconnecting_clients_beyond_the_cap_wait_instead_of_being_closed() {
    let cap = 12usize;
    let log = small_log(|c| {
        c.serve.max_connections = cap;
        // Nothing idles long enough to be closed for room during the test.
        c.serve.evict_idle_after = Duration::from_secs(600);
        c.serve.header_read_timeout = Duration::from_secs(600);
    })
    .await;
    let a = addr(&log);
    // The well-behaved client holds one keep-alive connection (enrolment went over it).
    well_behaved(&log).await;
    let mut idle = Vec::new();
    for _ in 0..cap - 1 {
        let mut s = TcpStream::connect(a).await.unwrap();
        assert!(healthz_on(&mut s).await);
        idle.push(s);
    }
    // Each attacker reconnects whenever its connection is closed unanswered, a bounded
    // number of times, and counts those closes.
    let attackers: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move {
                let mut closed_unanswered = 0u32;
                for _ in 0..50 {
                    let mut s = TcpStream::connect(a).await.unwrap();
                    if healthz_on(&mut s).await {
                        return closed_unanswered;
                    }
                    closed_unanswered += 1;
                }
                closed_unanswered
            })
        })
        .collect();
    // At the cap: the well-behaved client's reads go on over its kept connection.
    for _ in 0..10 {
        well_behaved(&log).await;
    }
    // The idle connections go; the waiting attackers are served in turn as each answered
    // one leaves.
    drop(idle);
    let mut storm = 0;
    for t in attackers {
        storm += tokio::time::timeout(DEADLINE, t).await.unwrap().unwrap();
    }
    assert_eq!(
        storm, 0,
        "connections beyond the cap were closed unanswered"
    );
    well_behaved(&log).await;
}

/// At the cap, a connection that never completed a request (here half a head, then
/// silence) is closed for room before a keep-alive connection that idled longer.
#[tokio::test]
async fn connections_that_never_completed_a_request_make_room_first() {
    let log = small_log(|c| {
        c.serve.max_connections = 3;
        c.serve.evict_idle_after = Duration::ZERO;
        c.serve.header_read_timeout = Duration::from_secs(600);
    })
    .await;
    let a = addr(&log);
    // Open: the well-behaved client's keep-alive connection and `kept`, both idle.
    well_behaved(&log).await;
    let mut kept = TcpStream::connect(a).await.unwrap();
    assert!(healthz_on(&mut kept).await);
    // Accepted before `new` (the listen queue is first in, first out): the third.
    let mut silent = TcpStream::connect(a).await.unwrap();
    silent
        .write_all(b"GET /checkpoint HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut new = TcpStream::connect(a).await.unwrap();
    assert!(healthz_on(&mut new).await);
    let got = read_until_closed(&mut silent, DEADLINE).await;
    assert_eq!(
        got,
        Some(Vec::new()),
        "the silent connection was not closed"
    );
    // Both keep-alive connections, idle longer than the silent one, are still served.
    assert!(healthz_on(&mut kept).await);
    well_behaved(&log).await;
}

/// The server's runtime bounds its blocking pool: a bundle crawl by many clients at once
/// (each chunk of each bundle a storage call on the pool) runs on at most that many
/// blocking threads, not one more per call that starts while the last one is finishing
/// (hundreds at full scale, each keeping memory of its own).
#[test]
fn a_crawl_runs_on_a_bounded_blocking_pool() {
    // Thread names are cut to 15 bytes in /proc.
    let name = "pool-bound-test";
    let blocking = 3;
    let rt = attestlog_server::runtime(blocking, name).unwrap();
    rt.block_on(async {
        let log = TestLog::start_with(|c| {
            c.max_batch = 2000;
            c.tile_cache_bytes = 0;
        })
        .await;
        let key = vendor_key(65);
        log.enrol("Pool AG", &key.verifier()).await;
        crate::large_log::bulk_append(&log, "Pool AG", &key, 600).await;
        let url = log.url.clone();
        let statuses = flood(&log, 24, 6, 5, move |http, a, r| {
            let p = ["000", "001", "002.p/89"][usize::try_from((a + r) % 3).unwrap()];
            http.get(format!("{url}/tile/entries/{p}"))
        })
        .await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    });
    // Blocking threads stay alive for seconds after their last task: all are still there.
    let threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count();
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(
        threads <= blocking + workers,
        "{threads} threads for {blocking} blocking and {workers} workers"
    );
    assert!(threads > 0, "no thread of the runtime was found");
    drop(rt);
}

/// A search on PostgreSQL that runs past its time limit (`statement_timeout`, which counts
/// waiting for locks) is cancelled and answered 503 with `Retry-After`, naming the limit, while
/// checkpoint and proof reads go on being served; the same search succeeds once the table is
/// free again. A second connection holds an exclusive lock on the search index so that the
/// search waits past its limit, deterministically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_past_its_time_limit_on_postgres_gets_503_naming_it() {
    use attestlog_server::storage::SEARCH_TIMEOUT_MS;
    if crate::pg_support::admin_url("a_search_past_its_time_limit_on_postgres_gets_503_naming_it")
        .is_none()
    {
        return;
    }
    let log = TestLog::start_on(Backend::Postgres).await;
    let k = vendor_key(72);
    log.enrol("Slow Search AG", &k.verifier()).await;
    let (s, b) = log
        .submit(&sign_value(
            &k,
            &statement("Slow Search AG", &att_id(7200), "Searched"),
        ))
        .await;
    assert_eq!(s, 201, "{b}");
    let path = "/v1/search?vendor=slow%20search%20ag";
    let (s, found) = log.get_json(path).await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["entries"].as_array().unwrap().len(), 1, "{found}");

    // Another connection takes the search index for itself.
    let (holder, conn) = tokio_postgres::connect(log.db_url().unwrap(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    holder
        .batch_execute("BEGIN; LOCK TABLE search IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let search = {
        let (http, url) = (log.http.clone(), format!("{}{path}", log.url));
        tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            let retry_after = r.headers().get("retry-after").cloned();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, retry_after, body, started.elapsed())
        })
    };
    // Reads are served while the search waits on the lock.
    let mut reads = 0;
    while !search.is_finished() {
        assert!(started.elapsed() < DEADLINE, "the search never ended");
        well_behaved(&log).await;
        let (s, page) = log.get_json("/v1/checkpoints?limit=2").await;
        assert_eq!(s, 200, "{page}");
        reads += 1;
    }
    let (status, retry_after, body, took) = search.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "503 without Retry-After: {body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("time limit of {SEARCH_TIMEOUT_MS} ms")),
        "{message}"
    );
    assert!(
        took >= Duration::from_millis(SEARCH_TIMEOUT_MS),
        "answered after {took:?}, before the time limit: not the time limit that ended it"
    );
    assert!(reads >= 1, "no read was served while the search waited");

    // The lock released, the same search is answered again.
    holder.batch_execute("ROLLBACK").await.unwrap();
    drop(holder);
    let _ = conn.await;
    let (s, again) = log.get_json(path).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["entries"], found["entries"]);
    log.stop().await;
}
