//! `attestlog-server`: run the log, or take an online backup.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use attestlog_server::config::{self, Config};
use clap::{Parser, Subcommand};

/// Many small allocations per request (JSON, proofs, receipts) from both cores: glibc malloc
/// took about a fifth of the server's CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// attestlog: a transparency log for vendor data-flow attestations.
///
/// With no subcommand, serves the log: on first start it creates the data directory, a log
/// key and origin, and an admin token file, and prints the verifier key.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "ATTESTLOG_LISTEN", global = true)]
    listen: Option<SocketAddr>,
    /// Data directory (key, origin, admin token, published checkpoint, SQLite database).
    #[arg(long, env = "ATTESTLOG_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: default the SQLite file in the data directory; `postgres://user:pass@host/db`
    /// selects PostgreSQL, where several replicas (same key file) share one log.
    #[arg(
        long,
        env = "ATTESTLOG_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database: Option<String>,
    /// TOML config file (see deploy/server.example.toml).
    #[arg(long, env = "ATTESTLOG_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log origin (first start only; must match the stored origin afterwards).
    #[arg(long, env = "ATTESTLOG_ORIGIN", global = true)]
    origin: Option<String>,
    /// Log signer key file (default `<data-dir>/log.key`, generated on first start); every
    /// replica of a PostgreSQL log uses the same one.
    #[arg(long, env = "ATTESTLOG_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    /// Per-vendor quota, entries per second (0 = none).
    #[arg(long, env = "ATTESTLOG_QUOTA_RATE", global = true)]
    quota_rate: Option<f64>,
    /// Per-vendor quota burst.
    #[arg(long, env = "ATTESTLOG_QUOTA_BURST", global = true)]
    quota_burst: Option<f64>,
    /// tlog-policy file naming the witnesses that cosign each checkpoint and the quorum.
    #[arg(
        long,
        env = "ATTESTLOG_WITNESS_POLICY",
        global = true,
        value_name = "FILE"
    )]
    witness_policy: Option<PathBuf>,
    /// Limits under hostile load (DESIGN.md §11; `[limits]` in the config file).
    #[command(flatten)]
    limits: LimitArgs,
    /// Start on a non-empty SQLite database that has no published-checkpoint file beside it
    /// (the rollback guard then cannot tell whether the database went back in time).
    #[arg(long, env = "ATTESTLOG_TRUST_STORAGE", global = true)]
    trust_storage: bool,
    /// SCITT (DESIGN.md §12): the COSE receipt key file. Every replica on PostgreSQL must
    /// name the same one.
    #[arg(
        long,
        env = "ATTESTLOG_SCITT_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    scitt_key_file: Option<PathBuf>,
    /// SCITT: receipt key files used before, comma-separated; their public keys stay in
    /// /.well-known/scitt-keys.
    #[arg(
        long,
        env = "ATTESTLOG_SCITT_RETIRED_KEY_FILES",
        global = true,
        value_delimiter = ',',
        value_name = "FILES"
    )]
    scitt_retired_key_files: Option<Vec<PathBuf>>,
    /// SCITT: how long POST /entries waits for publication before answering 303 (ms).
    #[arg(
        long,
        env = "ATTESTLOG_SCITT_WAIT_MS",
        global = true,
        value_name = "MS"
    )]
    scitt_wait_ms: Option<u64>,
    /// SCITT on PostgreSQL: generate <data-dir>/scitt.key when no key file is named (one
    /// replica only; replicas with keys of their own sign receipts no one key verifies).
    #[arg(long, env = "ATTESTLOG_SCITT_GENERATE_KEY", global = true)]
    scitt_generate_key: bool,
    /// SCITT registration policy: the in-toto predicate types accepted as signed statements,
    /// comma-separated (default: the data-flow and the verification predicate). A policy that
    /// differs from the one in force is logged when the server starts serving.
    #[arg(
        long,
        env = "ATTESTLOG_SCITT_PREDICATE_TYPES",
        global = true,
        value_delimiter = ',',
        value_name = "TYPES"
    )]
    scitt_predicate_types: Option<Vec<String>>,
    /// SCITT registration policy: the largest logged signed statement in bytes (default
    /// 65535, at most 65535).
    #[arg(
        long,
        env = "ATTESTLOG_SCITT_MAX_STATEMENT_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    scitt_max_statement_bytes: Option<u64>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags and environment variables of the `[limits]` table.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Time to receive a request's head, and the longest a keep-alive connection idles (ms;
    /// default 10000).
    #[arg(long, env = "ATTESTLOG_HEADER_READ_TIMEOUT_MS", global = true)]
    header_read_timeout_ms: Option<u64>,
    /// Time to read and answer a whole request (ms; default 30000); beyond it, 408.
    #[arg(long, env = "ATTESTLOG_REQUEST_TIMEOUT_MS", global = true)]
    request_timeout_ms: Option<u64>,
    /// Most requests handled at once (default 1024); beyond it, 503 with Retry-After.
    #[arg(long, env = "ATTESTLOG_MAX_IN_FLIGHT", global = true)]
    max_in_flight: Option<usize>,
    /// Most open connections (default 2048); beyond it, the connection idle the longest (if
    /// idle for 1 s) is closed, else new connections wait in the listen queue.
    #[arg(long, env = "ATTESTLOG_MAX_CONNECTIONS", global = true)]
    max_connections: Option<usize>,
    /// Largest request head in bytes (default 65536); beyond it, 431.
    #[arg(long, env = "ATTESTLOG_MAX_HEADER_BYTES", global = true)]
    max_header_bytes: Option<usize>,
    /// Byte budget of the tile cache (default 67108864).
    #[arg(long, env = "ATTESTLOG_TILE_CACHE_BYTES", global = true)]
    tile_cache_bytes: Option<usize>,
    /// Byte budget of the SQLite read connections' page caches, all together (default
    /// 16777216).
    #[arg(long, env = "ATTESTLOG_READ_CACHE_BYTES", global = true)]
    read_cache_bytes: Option<usize>,
    /// Largest POST /v1/entries and POST /entries body in bytes (default 131072, at least
    /// 4096); beyond it, 413.
    #[arg(long, env = "ATTESTLOG_MAX_BODY_BYTES", global = true)]
    max_body_bytes: Option<usize>,
    /// Largest POST /v1/vendors body in bytes (default 16384, at least 4096); beyond it, 413.
    #[arg(long, env = "ATTESTLOG_MAX_VENDOR_BODY_BYTES", global = true)]
    max_vendor_body_bytes: Option<usize>,
    /// Least idle time of a connection closed to make room at the connection cap (ms;
    /// default 1000).
    #[arg(long, env = "ATTESTLOG_EVICT_IDLE_AFTER_MS", global = true)]
    evict_idle_after_ms: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the log (the default).
    Serve,
    /// Write a consistent online copy of the SQLite database to DEST.
    Backup {
        /// Destination file (must not exist).
        dest: PathBuf,
    },
    /// Check the stored log while it runs: re-derive every tile, every stored checkpoint's root
    /// and signature, and every entry's admission decision from the stored entries. Exit 0,
    /// or 1 naming the first problem.
    Fsck {
        /// Compare tiles and checkpoints from entry N on (admission state is still rebuilt
        /// from the start).
        #[arg(long, default_value_t = 0, value_name = "N")]
        from: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clear a halt recorded after a conflict with a published checkpoint (the `halted` file
    /// of the data directory), once its cause is found and fixed (deploy/README.md): the
    /// server refuses to start while it is recorded. Prints the conflict it clears.
    ClearHalt,
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let file = cli.config.as_deref().map(config::read_file).transpose()?;
    let l = &cli.limits;
    let flags = config::FileConfig {
        listen: cli.listen,
        data_dir: cli.data_dir.clone(),
        database: cli.database.clone(),
        origin: cli.origin.clone(),
        key_file: cli.key_file.clone(),
        quota_rate: cli.quota_rate,
        quota_burst: cli.quota_burst,
        witness_policy: cli.witness_policy.clone(),
        limits: config::LimitsFileConfig {
            header_read_timeout_ms: l.header_read_timeout_ms,
            request_timeout_ms: l.request_timeout_ms,
            max_in_flight: l.max_in_flight,
            max_connections: l.max_connections,
            max_header_bytes: l.max_header_bytes,
            tile_cache_bytes: l.tile_cache_bytes,
            read_cache_bytes: l.read_cache_bytes,
            max_body_bytes: l.max_body_bytes,
            max_vendor_body_bytes: l.max_vendor_body_bytes,
            evict_idle_after_ms: l.evict_idle_after_ms,
        },
        scitt: config::ScittFileConfig {
            key_file: cli.scitt_key_file.clone(),
            retired_key_files: cli.scitt_retired_key_files.clone(),
            wait_ms: cli.scitt_wait_ms,
            generate_key: cli.scitt_generate_key.then_some(true),
            predicate_types: cli.scitt_predicate_types.clone(),
            max_statement_bytes: cli.scitt_max_statement_bytes,
        },
        ..config::FileConfig::default()
    };
    let mut c = Config::layered(file.as_ref(), &flags);
    c.admin_token = std::env::var("ATTESTLOG_ADMIN_TOKEN").ok();
    c.trust_storage = cli.trust_storage;
    Ok(c)
}

fn main() -> anyhow::Result<()> {
    // Structured logs on stderr: RUST_LOG filters, ATTESTLOG_LOG_FORMAT=json for JSON lines.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("ATTESTLOG_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    let cli = Cli::parse();
    let config = load_config(&cli)?;
    match cli.command {
        Some(Command::Backup { dest }) => backup(&config, &dest),
        Some(Command::Fsck { from, json }) => fsck(&config, from, json),
        Some(Command::ClearHalt) => clear_halt(&config),
        None | Some(Command::Serve) => serve(&config),
    }
}

fn clear_halt(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    match attestlog_server::signer::clear_halted(dir)
        .with_context(|| format!("cannot clear the halt recorded in {}", dir.display()))?
    {
        Some(why) => println!("cleared the halt recorded in {}: {why}", dir.display()),
        None => println!("no halt is recorded in {}", dir.display()),
    }
    Ok(())
}

fn backup(config: &Config, dest: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(!dest.exists(), "{} already exists", dest.display());
    let db = config
        .sqlite_path()
        .context("backup is for the SQLite backend; use pg_dump for PostgreSQL")?;
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    attestlog_server::storage::sqlite::backup_file(&db, dest)?;
    println!("backup written to {}", dest.display());
    Ok(())
}

fn fsck(config: &Config, from: u64, json: bool) -> anyhow::Result<()> {
    use attestlog_server::fsck;
    let keys = fsck::log_keys(config)?;
    let witnesses = fsck::witness_keys(config)?;
    let store = fsck::open_store(config)?;
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} fsck [{bar:40}] {pos}/{len} entries {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = fsck::run(
        store.as_ref(),
        &keys,
        &witnesses,
        &config.data_dir,
        from,
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked tree size {} from entry {}: {} entries, {} checkpoints, {} tiles",
            report.tree_size, report.from, report.entries, report.checkpoints, report.tiles
        );
    }
    match &report.problem {
        None => {
            if !json {
                println!("fsck: ok");
            }
            Ok(())
        }
        Some(p) => {
            eprintln!("fsck: FAILED: {p}");
            std::process::exit(1);
        }
    }
}

fn serve(config: &Config) -> anyhow::Result<()> {
    let rt = attestlog_server::runtime(attestlog_server::BLOCKING_THREADS, "attestlog-server")?;
    rt.block_on(async {
        let app = attestlog_server::App::open(config)?;
        let key = app.state.log_key.to_string();
        if app.key_generated {
            println!("generated a new log key in {}", config.data_dir.display());
        }
        println!("origin:       {}", app.state.log_key.name());
        println!("verifier key: {key}");
        match &app.admin_token_path {
            Some(p) => println!("admin token:  in {}", p.display()),
            None => println!("admin token:  from ATTESTLOG_ADMIN_TOKEN"),
        }
        let listener = attestlog_server::listen(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        println!("listening on  http://{}", listener.local_addr()?);
        tracing::info!(addr = %listener.local_addr()?, "serving");
        app.serve(listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests and the current batch");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body caps and the eviction idle time reach the configuration from the command line
    /// (clap reads the `ATTESTLOG_*` variables into the same fields), floors applied.
    #[test]
    fn body_caps_and_eviction_flags_reach_the_config() {
        let cli = Cli::try_parse_from([
            "attestlog-server",
            "--max-body-bytes",
            "5000",
            "--max-vendor-body-bytes",
            "10",
            "--evict-idle-after-ms",
            "250",
        ])
        .unwrap();
        let c = load_config(&cli).unwrap();
        assert_eq!(c.body.max_body_bytes, 5000);
        assert_eq!(c.body.max_vendor_body_bytes, config::MIN_BODY_BYTES);
        assert_eq!(
            c.serve.evict_idle_after,
            std::time::Duration::from_millis(250)
        );
    }

    /// The registration policy settings reach the configuration from the command line, over
    /// the config file's, each one alone keeping the other's value.
    #[test]
    fn registration_policy_flags_reach_the_config() {
        use attestlog_proto::registration::RegistrationPolicy;
        let cli = Cli::try_parse_from([
            "attestlog-server",
            "--scitt-predicate-types",
            "https://attestlog.dev/data-flows/v1,https://attestlog.dev/verification/v1",
            "--scitt-max-statement-bytes",
            "1000",
        ])
        .unwrap();
        let p = load_config(&cli).unwrap().scitt_policy.unwrap();
        assert_eq!(
            p,
            RegistrationPolicy {
                max_entry_bytes: 1000,
                ..RegistrationPolicy::built_in(1)
            }
        );
        let cli = Cli::try_parse_from([
            "attestlog-server",
            "--scitt-predicate-types",
            "https://attestlog.dev/verification/v1",
        ])
        .unwrap();
        let p = load_config(&cli).unwrap().scitt_policy.unwrap();
        assert_eq!(p.predicate_types, ["https://attestlog.dev/verification/v1"]);
        assert_eq!(p.max_entry_bytes, 65_535);
        let cli = Cli::try_parse_from(["attestlog-server"]).unwrap();
        assert_eq!(load_config(&cli).unwrap().scitt_policy, None);
    }
}
