//! `attestlog-bench`: load generator and scale benchmark for attestlog.
//!
//! Every run is bounded in requests and time and only talks to loopback addresses.
//!
//! - `submit`: pre-generates and signs N realistic attestations from several vendors, enrols
//!   the vendors, submits them over HTTP at a given concurrency, and reports throughput,
//!   latency percentiles, errors, and the server's batch statistics from `/metrics`.
//! - `read`: hammers `/checkpoint`, full tiles, entry bundles or the inclusion-proof endpoint.
//! - `abuse`: serves a built log to slow, idle, huge and expensive requests from one host
//!   while a well-behaved client reads; p99 of its reads and the server's peak RSS.
//! - `monitor`: `attestlog monitor --once` from scratch on logs of several sizes (entries/s),
//!   the cost of verifying one receipt, and the explorer's pages on each.
//! - `witnessed`: `submit` against a log that publishes only checkpoints cosigned by two of
//!   three witnesses running in process; the latency is the time to a witnessed checkpoint.
//! - `replicas`: several replicas of one log on one PostgreSQL database; `submit` spread over
//!   all of them, then inclusion proofs read from all at once.
//! - `scale`: builds logs of the given sizes through the sequencer's bulk path, then starts the
//!   real server binary on each and records startup time, RSS, proof latency and disk use.
#![forbid(unsafe_code)]

mod abuse;
mod load;
mod monitor;
mod raw;
mod replicas;
mod scale;
mod witnessed;
mod workload;

use clap::{Parser, Subcommand};

/// The same allocator as the server: the load generator shares the cores with it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// attestlog benchmarks (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit N signed attestations over HTTP and report throughput and latency.
    Submit(load::SubmitArgs),
    /// Read benchmark for checkpoint, tiles, entry bundles and inclusion proofs.
    Read(load::ReadArgs),
    /// Build logs of several sizes and measure startup, memory, proofs and disk.
    Scale(scale::ScaleArgs),
    /// `attestlog monitor --once` from scratch, receipt verification and explorer pages on
    /// logs of several sizes: the per-entry cost must not grow with the log.
    Monitor(monitor::MonitorArgs),
    /// Appends to a log whose checkpoints three in-process witnesses cosign (2-of-3
    /// quorum): throughput and time to a witnessed checkpoint.
    Witnessed(witnessed::WitnessedArgs),
    /// Replicas of one log on one PostgreSQL database: submissions and reads spread over all.
    Replicas(replicas::ReplicasArgs),
    /// Serve a log under hostile load (slowloris, idle connections, huge requests, search
    /// flood, bundle crawl, witness origin flood); p99 of well-behaved reads and peak RSS.
    Abuse(abuse::AbuseArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Submit(a) => load::submit(a).await,
            Command::Read(a) => load::read(a).await,
            Command::Scale(a) => scale::run(a).await,
            Command::Abuse(a) => abuse::run(a).await,
            Command::Monitor(a) => monitor::run(a).await,
            Command::Witnessed(a) => witnessed::run(a).await,
            Command::Replicas(a) => replicas::run(a).await,
        }
    })
}
