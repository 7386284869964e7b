//! `submit` and `read`: HTTP load against a running server on a loopback address.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::workload::{self, percentiles};

/// What a benchmark submits: the flags `submit`, `witnessed` and `replicas` share.
#[derive(Debug, Clone, clap::Args)]
pub struct Workload {
    /// Number of attestations to submit.
    #[arg(long, default_value_t = 20_000)]
    pub n: u64,
    /// Concurrent submitting connections (spread over the URLs or replicas).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Number of vendors (each its own key and quota bucket).
    #[arg(long, default_value_t = 8)]
    pub vendors: usize,
    /// Target rate in entries/s (open loop); 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Stop submitting (each phase) after this many seconds whatever remains.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
}

/// `submit` arguments.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// Log URL (loopback only); several, comma-separated, spread the connections over
    /// replicas of one log.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// How much to submit, how fast.
    #[command(flatten)]
    pub work: Workload,
    /// Admin token (to enrol the vendors).
    #[arg(long, env = "ATTESTLOG_ADMIN_TOKEN")]
    pub admin_token: String,
    /// Also measure the Ed25519 verify_strict ceiling on all cores before the run.
    #[arg(long)]
    pub ceiling: bool,
    /// Distinguishes runs against the same log (attestation ids and keys).
    #[arg(long, default_value_t = 1)]
    pub run: u64,
    /// `dsse`: DSSE envelopes to `POST /v1/entries`; `cose`: the same attestations as COSE
    /// signed statements to SCITT's `POST /entries` (the latency is then the time to a
    /// receipt).
    #[arg(long, value_enum, default_value_t = Format::Dsse)]
    pub format: Format,
}

/// What `submit` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// DSSE envelopes (`POST /v1/entries`).
    Dsse,
    /// COSE_Sign1 signed statements (SCITT `POST /entries`).
    Cose,
}

/// What a caller of [`submit_observed`] watches and asks for beyond [`submit`].
#[derive(Debug, Default)]
pub struct Observer {
    /// Counts acknowledgements as they arrive.
    pub acked: Arc<AtomicU64>,
    /// Moves a connection to the next URL when its replica stops answering (a connection
    /// error or a 503) and sends the same submission there (submissions are idempotent: one
    /// the log already holds is answered 200 with its entry).
    pub failover: bool,
}

/// One acknowledged submission.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// When it was last sent (after a failover, the send that was answered).
    pub sent: Instant,
    /// When the answer arrived.
    pub acknowledged: Instant,
    /// 201: a new entry (not an entry the log already held).
    pub appended: bool,
}

/// What [`submit_observed`] saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Every acknowledgement.
    pub acks: Vec<Ack>,
    /// Submissions sent again to another replica after theirs stopped answering.
    pub moved: u64,
}

/// `read` arguments.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Log URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// `checkpoint`, `tile`, `entries` or `inclusion`.
    #[arg(long, default_value = "checkpoint")]
    pub endpoint: String,
    /// Number of requests.
    #[arg(long, default_value_t = 100_000)]
    pub n: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Stop after this many seconds whatever remains.
    #[arg(long, default_value_t = 60)]
    pub max_seconds: u64,
}

/// Refuses anything but loopback targets.
///
/// # Errors
/// A non-loopback URL.
pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let u = reqwest::Url::parse(url).context("invalid url")?;
    match u.host() {
        Some(url::Host::Ipv4(a)) if a.is_loopback() => Ok(()),
        Some(url::Host::Ipv6(a)) if a.is_loopback() => Ok(()),
        Some(url::Host::Domain("localhost")) => Ok(()),
        _ => bail!("benchmarks only target loopback addresses, not {url}"),
    }
}

fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?)
}

/// Measures verify_strict throughput on every core for ~2 s.
fn ceiling(envs: &[Vec<u8>], vendors: &[workload::Vendor]) -> anyhow::Result<f64> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let keys: Vec<_> = vendors.iter().map(|v| v.key.verifier()).collect();
    let parsed: Vec<attestlog_proto::dsse::Envelope> = envs
        .iter()
        .take(1000)
        .map(|e| attestlog_proto::dsse::Envelope::from_json(e))
        .collect::<Result<_, _>>()?;
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(2) {
                    for e in &parsed {
                        if keys.iter().any(|k| e.verify_with(k)) {
                            n += 1;
                        }
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    #[allow(clippy::cast_precision_loss)]
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn scrape_batches(http: &reqwest::Client, url: &str) -> String {
    let Ok(r) = http.get(format!("{url}/metrics")).send().await else {
        return String::new();
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            [
                "attestlog_batch_size",
                "attestlog_batch_seconds",
                "attestlog_queue_seconds",
                "attestlog_integration_seconds",
            ]
            .iter()
            .any(|m| l.starts_with(m))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the submit benchmark.
///
/// # Errors
/// Setup failures (generation, enrolment), or submissions that failed (they are counted and
/// reported first).
pub async fn submit(a: SubmitArgs) -> anyhow::Result<()> {
    submit_observed(a, Observer::default()).await.map(|_| ())
}

/// [`submit`], watched by `o`; returns every acknowledgement.
///
/// # Errors
/// As [`submit`].
#[allow(clippy::too_many_lines)]
pub async fn submit_observed(a: SubmitArgs, o: Observer) -> anyhow::Result<Report> {
    // Several comma-separated URLs (replicas of one log): connections spread over them;
    // enrolments and the batch statistics go to the first.
    let urls: Vec<&str> = a.url.split(',').collect();
    for u in &urls {
        check_loopback(u)?;
    }
    let first = urls.first().copied().unwrap_or_default();
    let vendors = workload::vendors(a.work.vendors, a.run)?;
    eprintln!(
        "signing {} attestations from {} vendors…",
        a.work.n, a.work.vendors
    );
    let t = Instant::now();
    let envs: Vec<Vec<u8>> = {
        let vendors = &vendors;
        let threads = std::thread::available_parallelism().map_or(2, usize::from) as u64;
        let chunks: Vec<anyhow::Result<Vec<Vec<u8>>>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        (t..a.work.n)
                            .step_by(usize::try_from(threads).unwrap_or(1))
                            .map(|i| {
                                let v = &vendors[usize::try_from(i).unwrap_or(0) % vendors.len()];
                                match a.format {
                                    Format::Dsse => workload::envelope(v, a.run, i),
                                    Format::Cose => workload::cose_statement(v, a.run, i),
                                }
                                .map(|e| (i, e))
                            })
                            .collect::<anyhow::Result<Vec<(u64, Vec<u8>)>>>()
                            .map(|mut v| {
                                v.sort_by_key(|(i, _)| *i);
                                v.into_iter().map(|(_, e)| e).collect()
                            })
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("signer panicked")))
                })
                .collect()
        });
        let mut all = Vec::new();
        for c in chunks {
            all.extend(c?);
        }
        all
    };
    eprintln!("signed in {:.1}s", t.elapsed().as_secs_f64());
    let http = client(a.work.concurrency)?;
    for v in &vendors {
        let r = http
            .post(format!("{first}/v1/vendors"))
            .bearer_auth(&a.admin_token)
            .json(
                &json!({"vendor": v.name, "key": v.key.verifier().to_string(), "action": "enrol"}),
            )
            .send()
            .await?;
        if !(r.status().as_u16() == 201 || r.status().as_u16() == 409) {
            bail!("enrolment failed: {} {}", r.status(), r.text().await?);
        }
    }
    let ceiling = if a.ceiling && a.format == Format::Dsse {
        Some(ceiling(&envs, &vendors)?)
    } else {
        None
    };
    let addrs = urls
        .iter()
        .map(|u| crate::raw::target(u).map(|(addr, _)| addr))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (_, host) = crate::raw::target(first)?;
    let requests: Vec<Vec<u8>> = envs
        .iter()
        .map(|e| match a.format {
            Format::Dsse => crate::raw::post_json(&host, "/v1/entries", e),
            Format::Cose => {
                crate::raw::post(&host, "/entries", attestlog_proto::cose::MEDIA_TYPE_COSE, e)
            }
        })
        .collect();
    drop(envs);
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.work.max_seconds);
    let addrs = Arc::new(addrs);
    let mut tasks = Vec::new();
    for k in 0..a.work.concurrency {
        let (requests, next, addrs) = (requests.clone(), next.clone(), addrs.clone());
        let acked = o.acked.clone();
        let failover = o.failover;
        let mut at = k % addrs.len();
        let mut conn = crate::raw::Conn::new(*addrs.get(at).context("no target address")?);
        let rate = a.work.rate;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut acks = Vec::new();
            let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
            // The first answer of each error status, to say why.
            let mut said: BTreeMap<u16, String> = BTreeMap::new();
            let mut logged_before = 0u64;
            let mut moved = 0u64;
            'requests: loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(usize::try_from(i).unwrap_or(usize::MAX)) else {
                    break;
                };
                if Instant::now() > deadline {
                    break;
                }
                let scheduled = if rate > 0.0 {
                    let at = start + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(at.into()).await;
                    at
                } else {
                    Instant::now()
                };
                // Replicas tried in a row without an answer (failover only).
                let mut tried = 0;
                loop {
                    let sent = Instant::now();
                    let answer = conn.round_trip(request).await;
                    let gone = matches!(answer, Err(_) | Ok((503, _)));
                    if failover && gone && Instant::now() < deadline {
                        moved += 1;
                        tried += 1;
                        if tried >= addrs.len() {
                            // Every replica refused in a row (a take-over in progress):
                            // back off before the next round.
                            tried = 0;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        at = (at + 1) % addrs.len();
                        conn = crate::raw::Conn::new(addrs[at]);
                        continue;
                    }
                    match answer {
                        Ok((status @ (200 | 201), _)) => {
                            let now = Instant::now();
                            acked.fetch_add(1, Ordering::Relaxed);
                            logged_before += u64::from(status == 200);
                            lat.push(
                                u64::try_from(now.duration_since(scheduled).as_micros())
                                    .unwrap_or(u64::MAX),
                            );
                            acks.push(Ack {
                                sent,
                                acknowledged: now,
                                appended: status == 201,
                            });
                        }
                        Ok((status, _)) => {
                            *errors.entry(status).or_default() += 1;
                            said.entry(status).or_insert_with(|| {
                                String::from_utf8_lossy(conn.last_body()).into_owned()
                            });
                        }
                        Err(_) => *errors.entry(0).or_default() += 1,
                    }
                    continue 'requests;
                }
            }
            (lat, errors, logged_before, acks, moved, said)
        }));
    }
    let mut lat = Vec::new();
    let mut errors: BTreeMap<u16, u64> = BTreeMap::new();
    let mut said: BTreeMap<u16, String> = BTreeMap::new();
    let mut logged_before = 0;
    let mut report = Report::default();
    for t in tasks {
        let (l, e, d, acks, moved, s) = t.await?;
        for (k, v) in s {
            said.entry(k).or_insert(v);
        }
        lat.extend(l);
        logged_before += d;
        report.acks.extend(acks);
        report.moved += moved;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let tput = lat.len() as f64 / elapsed;
    println!(
        "acknowledged: {} in {elapsed:.2}s = {tput:.0} appends/s",
        lat.len()
    );
    if a.work.rate > 0.0 {
        println!(
            "target rate:  {:.0}/s (open loop; latency from scheduled send time)",
            a.work.rate
        );
    }
    for (name, ms) in percentiles(&lat) {
        println!("latency {name}: {ms:.1} ms");
    }
    println!("errors: {errors:?} (0 = connection error)");
    for (status, body) in &said {
        println!("first {status} answer: {}", body.trim_end());
    }
    if report.moved > 0 {
        println!(
            "moved to another replica: {} times; {logged_before} of the submissions sent \
             again were already in the log (200)",
            report.moved
        );
    } else if logged_before > 0 {
        // A duplicate is answered from the log without a new append: not an append figure.
        println!(
            "WARNING: {logged_before} were already in the log (200, not 201); pass a new \
             --run to measure appends"
        );
    }
    if let Some(c) = ceiling {
        println!(
            "verify_strict ceiling: {c:.0}/s on all cores; ratio {:.2}",
            tput / c
        );
    }
    println!("{}", scrape_batches(&http, first).await);
    if lat.is_empty() || !errors.is_empty() {
        bail!(
            "{} of {} submissions failed, {} acknowledged",
            errors.values().sum::<u64>(),
            a.work.n,
            lat.len()
        );
    }
    Ok(report)
}

/// Runs the read benchmark.
///
/// # Errors
/// Setup failures.
pub async fn read(a: ReadArgs) -> anyhow::Result<()> {
    check_loopback(&a.url)?;
    let http = client(a.concurrency)?;
    let info: serde_json::Value = http
        .get(format!("{}/v1/log", a.url))
        .send()
        .await?
        .json()
        .await?;
    let size = info["tree_size"].as_u64().context("tree_size")?;
    let full_tiles = size / 256;
    if (a.endpoint == "tile" || a.endpoint == "entries") && full_tiles == 0 {
        bail!("the log has no full tile yet");
    }
    if size == 0 {
        bail!("the log is empty");
    }
    let (addr, host) = crate::raw::target(&a.url)?;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(a.max_seconds);
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (next, host, ep, n) = (next.clone(), host.clone(), a.endpoint.clone(), a.n);
        let mut conn = crate::raw::Conn::new(addr);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                // A multiplicative hash spreads requests over the log.
                let r = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let path = match ep.as_str() {
                    "tile" => format!("/tile/0/{}", tile_index(r % full_tiles)),
                    "entries" => format!("/tile/entries/{}", tile_index(r % full_tiles)),
                    "inclusion" => {
                        format!("/v1/proof/inclusion?index={}&tree_size={size}", r % size)
                    }
                    _ => "/checkpoint".to_owned(),
                };
                let request = crate::raw::get(&host, &path);
                let t = Instant::now();
                match conn.round_trip(&request).await {
                    // A full hash tile is exactly 256 hashes; every answer has a body.
                    Ok((200, len)) if len > 0 && (ep != "tile" || len == FULL_TILE_BYTES) => {
                        lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rps = lat.len() as f64 / elapsed;
    println!(
        "{}: {} ok in {elapsed:.2}s = {rps:.0} requests/s, {errors} errors",
        a.endpoint,
        lat.len()
    );
    for (name, ms) in percentiles(&lat) {
        println!("latency {name}: {ms:.2} ms");
    }
    if lat.is_empty() || errors > 0 {
        bail!("{errors} of {} {} requests failed", a.n, a.endpoint);
    }
    Ok(())
}

/// Bytes of a full hash tile.
const FULL_TILE_BYTES: usize = 256 * 32;

/// tlog-tiles index path: 3-digit groups with `x` prefixes.
fn tile_index(n: u64) -> String {
    attestlog_proto::tiles::TilePath::Entries {
        index: n,
        width: 256,
    }
    .to_path()
    .trim_start_matches("entries/")
    .to_owned()
}
