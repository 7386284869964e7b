//! `abuse`: serving under hostile load (DESIGN.md §11) at full scale. The real server binary
//! serves a built log while one host sends slow, idle, huge or expensive requests; meanwhile a
//! well-behaved client reads the checkpoint and inclusion proofs. Each scenario fails on any
//! failed well-behaved read and reports their p99 and the server's peak private RSS. A last
//! scenario floods a witness (`attestlog witness serve`) with huge made-up origins while the
//! log's own checkpoints are still cosigned.
//!
//! Loopback only, bounded in time per scenario. 10,000 idle connections need about 10,000
//! file descriptors in each process (`ulimit -n 20000`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::scale::{build, rss_kib, server_binary, start_server};
use crate::workload::percentiles;

/// `abuse` arguments.
#[derive(Debug, clap::Args)]
pub struct AbuseArgs {
    /// Entries in the log under attack.
    #[arg(long, default_value_t = 20_000)]
    pub entries: u64,
    /// Working directory.
    #[arg(long, default_value = "target/abuse")]
    pub dir: PathBuf,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// The attestlog CLI binary, for the witness (default: next to this one).
    #[arg(long)]
    pub cli: Option<PathBuf>,
    /// Trickling connections of the slowloris scenario.
    #[arg(long, default_value_t = 1000)]
    pub slowloris: u64,
    /// Idle keep-alive connections.
    #[arg(long, default_value_t = 10_000)]
    pub idle: u64,
    /// Concurrent attackers of the request floods (oversized, search, crawl, witness).
    #[arg(long, default_value_t = 64)]
    pub attackers: u64,
    /// Seconds each scenario lasts.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Header read timeout given to the server, in ms (the default is 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Scenarios to run: baseline, slowloris, idle, oversized, search, crawl, witness.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,slowloris,idle,oversized,search,crawl,witness"
    )]
    pub only: Vec<String>,
    /// Runs of each scenario, each against a freshly started server (so that no peak
    /// carries over); the median of each column is reported after the runs.
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
}

/// The scenarios, in the order they run.
const SCENARIOS: [&str; 7] = [
    "baseline",
    "slowloris",
    "idle",
    "oversized",
    "search",
    "crawl",
    "witness",
];

/// What the well-behaved client saw during one scenario.
struct Outcome {
    reads: Vec<u64>,
    failed: u64,
    peak_rss_kib: u64,
    attack_requests: u64,
}

/// Reads the checkpoint and an inclusion proof in a loop until `stop`: latencies in µs and
/// failures.
async fn well_behaved(url: String, size: u64, stop: Arc<AtomicBool>) -> (Vec<u64>, u64) {
    let http = reqwest::Client::new();
    let (mut lat, mut failed) = (Vec::new(), 0u64);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let idx = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % size;
        for path in [
            "/checkpoint".to_owned(),
            format!("/v1/proof/inclusion?index={idx}&tree_size={size}"),
        ] {
            let t = Instant::now();
            let ok = match http.get(format!("{url}{path}")).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            if ok {
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            } else {
                failed += 1;
            }
        }
        // Paced like a client, not a flood: about 100 pairs of reads per second.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (lat, failed)
}

/// Runs `attack` with the well-behaved client for `seconds`, sampling the server's RSS.
async fn scenario<F, Fut>(
    url: &str,
    pid: u32,
    size: u64,
    seconds: u64,
    attack: F,
) -> anyhow::Result<Outcome>
where
    F: FnOnce(Arc<AtomicBool>, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let attacker = tokio::spawn(attack(stop.clone(), count.clone()));
    // The well-behaved client runs on a thread and runtime of its own: it measures the
    // server, not how long it waits behind thousands of attacking tasks in this process.
    let (u, st) = (url.to_owned(), stop.clone());
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<u64>, u64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(well_behaved(u, size, st)))
    });
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(rss_kib(pid)?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, failed) = reader.await??;
    tokio::time::timeout(Duration::from_secs(60), attacker)
        .await
        .context("the attack did not stop")???;
    peak = peak.max(rss_kib(pid)?);
    Ok(Outcome {
        reads,
        failed,
        peak_rss_kib: peak,
        attack_requests: count.load(Ordering::Relaxed),
    })
}

fn addr(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    Ok(url.trim_start_matches("http://").parse()?)
}

/// Trickling connections: a byte of request head every second; reconnects when closed.
async fn slowloris(
    a: std::net::SocketAddr,
    n: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let head = b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n";
    hold_connections(a, n, stop, count, head, Duration::from_secs(1), Some(b"X")).await
}

/// Idle keep-alive connections: one request answered each, then silence (reopened when the
/// server closes them).
async fn idle(
    a: std::net::SocketAddr,
    n: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    hold_connections(a, n, stop, count, head, Duration::from_millis(500), None).await
}

/// `n` connections that each send `head`, then every `every` send `trickle` (if any) and
/// read whatever comes, until the server closes the connection (it is then reopened) or
/// `stop`. `count` counts the connections opened.
async fn hold_connections(
    a: std::net::SocketAddr,
    n: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    head: &'static [u8],
    every: Duration,
    trickle: Option<&'static [u8]>,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (stop, count) = (stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // At the cap the server leaves new connections in its listen queue (and the
                // kernel drops connection requests beyond it, to be sent again): the attacker
                // keeps its place and looks at `stop` now and then.
                let connect = TcpStream::connect(a);
                let mut connect = std::pin::pin!(connect);
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                let connected = loop {
                    tokio::select! {
                        r = &mut connect => break r,
                        _ = tick.tick() => if stop.load(Ordering::Relaxed) { return },
                    }
                };
                let Ok(mut s) = connected else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if s.write_all(head).await.is_err() {
                    continue;
                }
                let mut tick = tokio::time::interval(every);
                let mut buf = [0u8; 256];
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            if let Some(t) = trickle && s.write_all(t).await.is_err() {
                                break;
                            }
                        }
                        r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

/// `attackers` tasks sending the requests `make` builds, as fast as they are answered.
async fn flood(
    attackers: u64,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    make: impl Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let make = Arc::new(make);
    let mut tasks = Vec::new();
    for t in 0..attackers {
        let (stop, count, make) = (stop.clone(), count.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = make(&http, i).send().await {
                    let _ = r.bytes().await;
                }
                count.fetch_add(1, Ordering::Relaxed);
                i += attackers;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

/// One row of the results table: the figures of one run.
struct Row {
    attack: u64,
    reads: u64,
    failed: u64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: f64,
}

impl Row {
    fn of(name: &str, o: &Outcome) -> anyhow::Result<Self> {
        let mut lat = o.reads.clone();
        lat.sort_unstable();
        if lat.is_empty() {
            bail!("{name}: no well-behaved read succeeded");
        }
        let p = percentiles(&lat);
        #[allow(clippy::cast_precision_loss)]
        Ok(Self {
            attack: o.attack_requests,
            reads: lat.len() as u64,
            failed: o.failed,
            p50_ms: p[0].1,
            p99_ms: p[2].1,
            rss_mib: o.peak_rss_kib as f64 / 1024.0,
        })
    }

    fn print(&self, name: &str) {
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
            self.attack, self.reads, self.failed, self.p50_ms, self.p99_ms, self.rss_mib
        );
    }

    /// The median of each column over `rows` (the upper one of an even count).
    fn median(rows: &[Self]) -> Self {
        fn mid<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            v[v.len() / 2]
        }
        Self {
            attack: mid(rows.iter().map(|r| r.attack).collect()),
            reads: mid(rows.iter().map(|r| r.reads).collect()),
            failed: mid(rows.iter().map(|r| r.failed).collect()),
            p50_ms: mid(rows.iter().map(|r| r.p50_ms).collect()),
            p99_ms: mid(rows.iter().map(|r| r.p99_ms).collect()),
            rss_mib: mid(rows.iter().map(|r| r.rss_mib).collect()),
        }
    }
}

/// Runs the abuse benchmark.
///
/// # Errors
/// Build or server failures, or any failed well-behaved read.
pub async fn run(a: AbuseArgs) -> anyhow::Result<()> {
    for name in &a.only {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!("unknown scenario {name:?}; known: {}", SCENARIOS.join(", "));
        }
    }
    let server = server_binary(a.server.clone(), "attestlog-server")?;
    let cli = server_binary(a.cli.clone(), "attestlog")?;
    let dir = a.dir.join("log");
    let _ = std::fs::remove_dir_all(&a.dir);
    std::fs::create_dir_all(&dir)?;
    build(&dir, a.entries).await?;
    println!(
        "| scenario | attack requests or connections | well-behaved reads | failed | read p50 ms | read p99 ms | server peak private RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut failures = Vec::new();
    for name in SCENARIOS.iter().filter(|s| a.only.iter().any(|o| o == *s)) {
        let mut rows = Vec::new();
        let mut title = String::new();
        for k in 1..=a.runs.max(1) {
            let (t, o) = if *name == "witness" {
                (
                    "witness: made-up 60 KiB origins (reads = cosignatures of the real log)"
                        .to_owned(),
                    witness(&cli, &a.dir, a.attackers, a.seconds).await?,
                )
            } else {
                let timeout = a.header_timeout_ms.to_string();
                let (mut child, pid, url) = start_server(
                    &server,
                    &dir,
                    &[("ATTESTLOG_HEADER_READ_TIMEOUT_MS", timeout.as_str())],
                )
                .await?;
                let r = one(name, &a, &url, pid).await;
                child.start_kill()?;
                let _ = child.wait().await;
                r?
            };
            let row = Row::of(&t, &o)?;
            if a.runs > 1 {
                row.print(&format!("{t} (run {k})"));
            } else {
                row.print(&t);
            }
            if row.failed > 0 {
                failures.push(format!(
                    "{t} (run {k}): {} well-behaved reads failed",
                    row.failed
                ));
            }
            rows.push(row);
            title = t;
        }
        if a.runs > 1 {
            Row::median(&rows).print(&format!("**{title}: median of {}**", rows.len()));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// Runs the scenario `name` (not the witness) against the server at `url`: its title and
/// what the well-behaved client saw.
async fn one(name: &str, a: &AbuseArgs, url: &str, pid: u32) -> anyhow::Result<(String, Outcome)> {
    let size = a.entries;
    let s = a.seconds;
    let target = addr(url)?;
    let attackers = a.attackers;
    let u = url.to_owned();
    Ok(match name {
        "baseline" => (
            "none (baseline)".to_owned(),
            scenario(url, pid, size, s, |_, _| async { Ok(()) }).await?,
        ),
        "slowloris" => {
            let n = a.slowloris;
            (
                format!("slowloris, {n} trickling connections"),
                scenario(url, pid, size, s, move |stop, c| {
                    slowloris(target, n, stop, c)
                })
                .await?,
            )
        }
        "idle" => {
            let n = a.idle;
            (
                format!("{n} idle keep-alive connections, reconnecting when closed"),
                scenario(url, pid, size, s, move |stop, c| idle(target, n, stop, c)).await?,
            )
        }
        "oversized" => (
            "oversized heads (100 KiB) and bodies (512 KiB)".to_owned(),
            scenario(url, pid, size, s, move |stop, c| {
                flood(attackers, stop, c, move |http, i| {
                    if i % 2 == 0 {
                        http.get(format!("{u}/checkpoint"))
                            .header("X-Big", "a".repeat(100 * 1024))
                    } else {
                        http.post(format!("{u}/v1/entries"))
                            .body(vec![b' '; 512 * 1024])
                    }
                })
            })
            .await?,
        ),
        "search" => (
            "expensive-search flood".to_owned(),
            scenario(url, pid, size, s, move |stop, c| {
                flood(attackers, stop, c, move |http, i| {
                    // Hot terms whose intersection is empty: the worst case of the old planner.
                    let country = ["de", "ch", "us", "fr"][usize::try_from(i % 4).unwrap_or(0)];
                    http.get(format!(
                        "{u}/v1/search?country={country}&category=telemetry&vendor=nobody-{i}&limit=500"
                    ))
                })
            })
            .await?,
        ),
        "crawl" => {
            let bundles = size.div_ceil(256);
            (
                format!("full bundle crawl ({bundles} bundles, looped)"),
                scenario(url, pid, size, s, move |stop, c| {
                    flood(attackers, stop, c, move |http, i| {
                        let n = i % bundles;
                        let full = (n + 1) * 256 <= size;
                        let path = attestlog_proto::tiles::TilePath::Entries {
                            index: n,
                            width: if full {
                                256
                            } else {
                                u16::try_from(size % 256).unwrap_or(256)
                            },
                        };
                        http.get(format!("{u}/tile/{}", path.to_path()))
                    })
                })
                .await?,
            )
        }
        other => bail!("no scenario {other:?}"),
    })
}

/// Floods a witness with add-checkpoint requests for made-up 60 KiB origins while a valid
/// log keeps getting its checkpoints cosigned.
async fn witness(
    cli: &std::path::Path,
    dir: &std::path::Path,
    attackers: u64,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    use attestlog_proto::checkpoint::Checkpoint;
    use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};
    use attestlog_proto::witness::AddCheckpointRequest;
    use tokio::io::AsyncBufReadExt as _;

    let wdir = dir.join("witness");
    let _ = std::fs::remove_dir_all(&wdir);
    std::fs::create_dir_all(&wdir)?;
    let wkey = SignerKey::from_seed("witness.bench/w", TYPE_COSIGNATURE_V1, &[7; 32])?;
    let log = SignerKey::from_seed("log.bench/abuse", TYPE_ED25519, &[8; 32])?;
    std::fs::write(wdir.join("key"), wkey.to_secret_string())?;
    std::fs::write(
        wdir.join("policy"),
        format!("log {}\nquorum none\n", log.verifier()),
    )?;
    let mut child = tokio::process::Command::new(cli)
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--key"])
        .arg(wdir.join("key"))
        .arg("--logs")
        .arg(wdir.join("policy"))
        .arg("--state")
        .arg(wdir.join("state"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("witness pid")?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await??
            .context("witness exited")?;
        if let Some(u) = line.strip_prefix("listening on  ") {
            break format!("{}/add-checkpoint", u.trim());
        }
    };
    // A checkpoint of the empty tree: cosigned again and again without a proof.
    let checkpoint = |key: &SignerKey| -> anyhow::Result<Vec<u8>> {
        let root = attestlog_proto::Hash::EMPTY_ROOT;
        Ok(AddCheckpointRequest {
            old: 0,
            proof: vec![],
            checkpoint: Checkpoint {
                origin: key.name().to_owned(),
                size: 0,
                root,
                extensions: vec![],
            }
            .sign(std::slice::from_ref(key))?
            .to_bytes(),
        }
        .to_bytes())
    };
    // Made-up logs with huge origins, each request a new one.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let u = url.clone();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64u8)
            .map(|i| {
                let k = SignerKey::from_seed(
                    &format!("{}{i}", "o".repeat(60 * 1024)),
                    TYPE_ED25519,
                    &[i; 32],
                )?;
                checkpoint(&k)
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let attack = tokio::spawn(flood(
        attackers,
        stop.clone(),
        count.clone(),
        move |http, i| {
            let b = &bodies[usize::try_from(i % 64).unwrap_or(0)];
            http.post(&u).body(b.clone())
        },
    ));
    // The well-behaved log: its (empty-tree) checkpoint is cosigned again and again.
    let http = reqwest::Client::new();
    let good = checkpoint(&log)?;
    let (mut lat, mut failed, mut peak) = (Vec::new(), 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let t = Instant::now();
        match http.post(&url).body(good.clone()).send().await {
            Ok(r) if r.status().is_success() => {
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            _ => failed += 1,
        }
        peak = peak.max(rss_kib(pid)?);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(60), attack)
        .await
        .context("the attack did not stop")???;
    child.start_kill()?;
    let _ = child.wait().await;
    Ok(Outcome {
        reads: lat,
        failed,
        peak_rss_kib: peak,
        attack_requests: count.load(Ordering::Relaxed),
    })
}
