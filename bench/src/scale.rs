//! `scale`: logs of growing size; startup time, RSS, proof latency and disk per entry.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use attestlog_server::admission;
use attestlog_server::config::Config;
use attestlog_server::sequencer::Admitted;
use attestlog_server::storage::EnrolmentRow;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::workload::{self, percentiles};

/// `scale` arguments.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Log sizes to build, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    pub sizes: Vec<u64>,
    /// Working directory (one data directory per size).
    #[arg(long, default_value = "target/scale")]
    pub dir: PathBuf,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// Inclusion-proof requests per size.
    #[arg(long, default_value_t = 2000)]
    pub proofs: u64,
}

/// Builds a fresh log of `size` entries in `dir` (emptied first): the seconds it took.
pub(crate) async fn fresh_log(dir: &Path, size: u64) -> anyhow::Result<f64> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    build(dir, size).await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Builds a log of `size` entries (one enrolment + attestations) through the sequencer.
pub(crate) async fn build(dir: &Path, size: u64) -> anyhow::Result<()> {
    let mut config = Config::with_data_dir(dir);
    config.admin_token = Some("scale".into());
    config.quota_rate = 0.0;
    config.queue = 20_000;
    let app = attestlog_server::App::open(&config)?;
    let seq = app.sequencer();
    let vendor = workload::vendors(1, 7)?.remove(0);
    let row = EnrolmentRow {
        index: 0,
        vendor: vendor.name.clone(),
        key: vendor.key.verifier(),
        action: attestlog_proto::enrolment::Action::Enrol,
        role: attestlog_proto::enrolment::KeyRole::Vendor,
    };
    seq.submit(admission::enrolment(
        &app.state.signer,
        &row,
        "2026-01-01T00:00:00Z".into(),
    ))?
    .await??;
    let keyid = vendor.key.verifier();
    let mut i = 1u64;
    while i < size {
        let end = (i + 16_384).min(size);
        let entries: Vec<Admitted> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2u64)
                .map(|t| {
                    let (vendor, keyid) = (&vendor, &keyid);
                    s.spawn(move || {
                        (i + t..end)
                            .step_by(2)
                            .map(|n| {
                                let env = workload::envelope(vendor, 7, n)?;
                                admission::bulk_attestation(&env, keyid)
                                    .map_err(|e| anyhow::anyhow!("{e}"))
                            })
                            .collect::<anyhow::Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in hs {
                out.push(
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked"))),
                );
            }
            out
        })
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
        let mut rxs = Vec::with_capacity(entries.len());
        for admitted in entries {
            rxs.push(seq.submit(admitted)?);
        }
        for rx in rxs {
            rx.await??;
        }
        i = end;
        eprint!("\r  built {i}/{size}");
    }
    eprintln!();
    Ok(())
}

pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    // Private (anonymous) memory: database pages mapped with mmap are page cache, not the
    // server's own memory, and the kernel reclaims them.
    let line = s
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .context("no RssAnon")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("RssAnon value")?
        .parse()?)
}

fn disk_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with("attestlog.db") {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}

/// Starts the server binary on `dir` (127.0.0.1, a free port) with extra environment
/// variables; returns once `/readyz` answers: the child, its pid and its URL.
///
/// # Errors
/// The server does not start or get ready within 60 s.
pub(crate) async fn start_server(
    server: &Path,
    dir: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(tokio::process::Child, u32, String)> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(server)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("ATTESTLOG_ADMIN_TOKEN", "scale")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("server pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await??
            .context("server exited")?;
        if let Some(u) = line.strip_prefix("listening on  ") {
            break u.trim().to_owned();
        }
    };
    let http = reqwest::Client::new();
    while !http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("server not ready after 60 s");
        }
        tokio::task::yield_now().await;
    }
    Ok((child, pid, url))
}

/// The server binary next to this one, or `given`.
///
/// # Errors
/// It does not exist.
pub(crate) fn server_binary(given: Option<PathBuf>, name: &str) -> anyhow::Result<PathBuf> {
    let server = match given {
        Some(s) => s,
        None => std::env::current_exe()?.with_file_name(name),
    };
    if !server.exists() {
        bail!("{} not found; build it first", server.display());
    }
    Ok(server)
}

/// Every request the web explorer makes to show the log overview, the vendors, a search and
/// two entries (the newest and one in the middle), fetched one after another as a browser
/// without a cache would: the median total in milliseconds over five visits.
pub(crate) async fn explorer_visit(
    http: &reqwest::Client,
    url: &str,
    size: u64,
) -> anyhow::Result<f64> {
    let paths = [
        "/".to_owned(),
        "/assets/app.js".to_owned(),
        "/assets/verify.js".to_owned(),
        "/assets/style.css".to_owned(),
        "/v1/log".to_owned(),
        "/checkpoint".to_owned(),
        "/v1/checkpoints?limit=20".to_owned(),
        "/v1/vendors".to_owned(),
        "/v1/search?category=telemetry&limit=20".to_owned(),
        format!("/v1/entries/{}", size - 1),
        format!("/v1/entries/{}", size / 2),
        format!("/v1/proof/inclusion?index=0&tree_size={size}"),
    ];
    let mut visits = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for path in &paths {
            let r = http.get(format!("{url}{path}")).send().await?;
            if !r.status().is_success() {
                bail!("explorer request {path} failed: {}", r.status());
            }
            let _ = r.bytes().await?;
        }
        visits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    visits.sort_by(f64::total_cmp);
    Ok(visits[visits.len() / 2])
}

/// Runs the scale benchmark.
///
/// # Errors
/// Build or server failures.
pub async fn run(a: ScaleArgs) -> anyhow::Result<()> {
    let server = server_binary(a.server, "attestlog-server")?;
    println!(
        "| entries | build s | startup ms | private RSS after start MiB | private RSS after proofs MiB | proof p50 ms | proof p99 ms | explorer pages ms | disk bytes/entry | overhead bytes/entry | search index bytes/entry |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in a.sizes {
        let dir = a.dir.join(format!("log-{size}"));
        let build_s = fresh_log(&dir, size).await?;

        let started = Instant::now();
        let (mut child, pid, url) = start_server(&server, &dir, &[]).await?;
        let http = reqwest::Client::new();
        let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
        let rss_start = rss_kib(pid)?;
        let mut lat = Vec::new();
        for i in 0..a.proofs {
            let idx = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % size;
            let t = Instant::now();
            let r = http
                .get(format!(
                    "{url}/v1/proof/inclusion?index={idx}&tree_size={size}"
                ))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("proof request failed: {}", r.status());
            }
            let _ = r.bytes().await?;
            lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        lat.sort_unstable();
        let p = percentiles(&lat);
        let explorer_ms = explorer_visit(&http, &url, size).await?;
        let rss_after = rss_kib(pid)?;
        child.start_kill()?;
        let _ = child.wait().await;
        let store =
            attestlog_server::storage::sqlite::SqliteStore::open(&dir.join("attestlog.db"))?;
        store.checkpoint_wal()?;
        let (_, search) = attestlog_server::storage::LogRead::disk_usage(&store)?;
        let payload = store.entry_bytes()?;
        drop(store);
        let disk = disk_bytes(&dir)?;
        #[allow(clippy::cast_precision_loss)]
        let (per_entry, overhead, search_per_entry) = (
            disk as f64 / size as f64,
            (disk.saturating_sub(search).saturating_sub(payload)) as f64 / size as f64,
            search as f64 / size as f64,
        );
        #[allow(clippy::cast_precision_loss)]
        {
            println!(
                "| {size} | {build_s:.1} | {startup_ms:.0} | {:.1} | {:.1} | {:.2} | {:.2} | {explorer_ms:.1} | {per_entry:.0} | {overhead:.0} | {search_per_entry:.0} |",
                rss_start as f64 / 1024.0,
                rss_after as f64 / 1024.0,
                p[0].1,
                p[2].1,
            );
        }
    }
    Ok(())
}
