//! `monitor`: what a new user of a large log waits for. For each size, builds a log through
//! the sequencer's bulk path, starts the real server binary on it, and measures
//!
//! - `attestlog monitor --once` from a fresh state directory (the real CLI binary, every
//!   entry fetched, verified against its tiles and checked by the rule engine), in entries/s;
//! - `attestlog verify`'s work per receipt (receipts of entries spread over the log, each
//!   verified offline in process as the CLI does), in µs per receipt;
//! - the web explorer's pages (every request one visit makes), as in `scale`.
//!
//! Per-entry and per-receipt cost must not grow with the log (DESIGN.md §8): compare the
//! rows. Figures are timings, not asserted: a run fails only when a step fails (the monitor
//! exits non-zero or does not verify every entry, a receipt does not verify).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context as _, bail};
use attestlog_proto::api::{EntryResponse, Receipt};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::receipt::verify_receipt;
use attestlog_proto::trust::Trust;

use crate::scale::{explorer_visit, fresh_log, server_binary, start_server};

/// `monitor` arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// Log sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub sizes: Vec<u64>,
    /// Working directory (one data directory per size; monitor state in a fresh directory
    /// per run).
    #[arg(long, default_value = "target/monitor-bench")]
    pub dir: PathBuf,
    /// `attestlog monitor --once` runs per size (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Receipts verified per size.
    #[arg(long, default_value_t = 200)]
    pub receipts: u64,
    /// The attestlog-server binary (default: next to this one).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// The attestlog binary (default: next to this one).
    #[arg(long)]
    pub client: Option<PathBuf>,
}

/// CPU seconds (user + system) of a process from `/proc/<pid>/stat`: its own (`children`
/// false) or its waited-for children's (`children` true). Linux's clock tick is 1/100 s.
fn cpu_seconds(pid: &str, children: bool) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').context("/proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the name.
    let at = if children { 13 } else { 11 };
    let ticks: u64 = fields
        .get(at..at + 2)
        .context("/proc stat fields")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    #[allow(clippy::cast_precision_loss)]
    Ok(ticks as f64 / 100.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the monitor benchmark.
///
/// # Errors
/// A build, server, monitor or receipt failure.
pub async fn run(a: MonitorArgs) -> anyhow::Result<()> {
    let server = server_binary(a.server, "attestlog-server")?;
    let client = server_binary(a.client, "attestlog")?;
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    println!(
        "| entries | build s | monitor --once s (median of {}) | entries/s | all runs s | monitor CPU µs/entry | server CPU µs/entry | receipt verify µs (median of 3 passes) | explorer pages ms |",
        a.runs
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for size in a.sizes {
        if size < 2 {
            bail!("sizes must be at least 2 (an enrolment and an attestation)");
        }
        let dir = a.dir.join(format!("log-{size}"));
        let build_s = fresh_log(&dir, size).await?;
        let (mut child, pid, url) = start_server(&server, &dir, &[]).await?;
        let pid = pid.to_string();
        let http = reqwest::Client::new();
        let info: serde_json::Value = http
            .get(format!("{url}/v1/log"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key_text = info["verifier_key"]
            .as_str()
            .context("/v1/log has no verifier_key")?
            .to_owned();

        let (mut times, mut client_cpu, mut server_cpu) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..a.runs {
            let state = a.dir.join(format!("state-{size}-{run}"));
            let _ = std::fs::remove_dir_all(&state);
            let (c0, s0) = (cpu_seconds("self", true)?, cpu_seconds(&pid, false)?);
            let t = Instant::now();
            let out = tokio::process::Command::new(&client)
                .args(["--log", &url, "monitor", "--once", "--log-key", &key_text])
                .arg("--state")
                .arg(&state)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .output()
                .await?;
            let secs = t.elapsed().as_secs_f64();
            // The monitor has been waited for: its CPU time is in this process's children's.
            client_cpu.push(cpu_seconds("self", true)? - c0);
            server_cpu.push(cpu_seconds(&pid, false)? - s0);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() || !stderr.contains(&format!("verified entries 0..{size}")) {
                bail!("attestlog monitor --once failed ({}): {stderr}", out.status);
            }
            let _ = std::fs::remove_dir_all(&state);
            times.push(secs);
        }
        let monitor_s = median(times.clone());

        let log_key = VerifierKey::parse(&key_text)?;
        let mut receipts: Vec<Receipt> = Vec::new();
        for i in 0..a.receipts.min(size) {
            let idx = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % size;
            // Index 0 is the enrolment: receipts are for attestations.
            let idx = idx.max(1);
            let r: EntryResponse = http
                .get(format!("{url}/v1/entries/{idx}"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            receipts.push(r.receipt);
        }
        let trust = Trust::log_key(log_key);
        // Three passes over the receipts: the median pass's time per receipt.
        let mut passes = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            for r in &receipts {
                verify_receipt(r, &trust)
                    .map_err(|e| anyhow::anyhow!("receipt does not verify: {e}"))?;
            }
            #[allow(clippy::cast_precision_loss)]
            passes.push(t.elapsed().as_secs_f64() * 1e6 / receipts.len().max(1) as f64);
        }
        passes.sort_by(f64::total_cmp);
        let receipt_us = passes[1];
        let explorer_ms = explorer_visit(&http, &url, size).await?;
        child.start_kill()?;
        let _ = child.wait().await;
        let all = times
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        #[allow(clippy::cast_precision_loss)]
        let (rate, per) = (size as f64 / monitor_s, 1e6 / size as f64);
        println!(
            "| {size} | {build_s:.1} | {monitor_s:.2} | {rate:.0} | {all} | {:.0} | {:.0} | {receipt_us:.0} | {explorer_ms:.1} |",
            median(client_cpu) * per,
            median(server_cpu) * per,
        );
    }
    Ok(())
}
