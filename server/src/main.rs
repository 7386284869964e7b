//! `attestlog-server`: run the log, or take an online backup.

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
    /// The settings of the config file's top level, `[limits]` and `[scitt]` tables, as flags
    /// and environment variables.
    #[command(flatten)]
    file: config::FileConfig,
    /// TOML config file (see deploy/server.example.toml).
    #[arg(long, env = "ATTESTLOG_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Start on a non-empty SQLite database that has no published-checkpoint file beside it
    /// (the rollback guard then cannot tell whether the database went back in time).
    #[arg(long, env = "ATTESTLOG_TRUST_STORAGE", global = true)]
    trust_storage: bool,
    #[command(subcommand)]
    command: Option<Command>,
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
    /// of the data directory and, on PostgreSQL, the database's record that halts every
    /// replica), once its cause is found and fixed (deploy/README.md): the server starts
    /// halted (serving reads, refusing submissions) while it is recorded. Prints what it
    /// cleared.
    ClearHalt,
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let file = cli.config.as_deref().map(config::read_file).transpose()?;
    let mut c = Config::layered(file.as_ref(), &cli.file);
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
    let cleared = attestlog_server::clear_halt(config)?;
    let file = config.data_dir.join(attestlog_server::signer::HALTED_FILE);
    match &cleared.file {
        Some(why) => println!("cleared the halt recorded in {}: {why}", file.display()),
        None => println!("no halt is recorded in {}", file.display()),
    }
    let postgres = config
        .database
        .as_deref()
        .is_some_and(attestlog_server::storage::postgres::is_postgres_url);
    if postgres {
        match &cleared.database {
            Some(why) => println!("cleared the halt recorded in the database: {why}"),
            None => println!("no halt is recorded in the database"),
        }
    }
    if cleared.file.is_some() || cleared.database.is_some() {
        println!("the next start (or take-over of the sequencer lease) runs every check again");
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

    /// The `[scitt]` flags are the config table's own fields: a bare `--scitt-generate-key`
    /// means true and leaves a following subcommand alone, `=false` says no, and an absent
    /// flag keeps the file's value.
    #[test]
    fn scitt_flags_are_the_config_tables_fields() {
        let cli = Cli::try_parse_from([
            "attestlog-server",
            "--scitt-generate-key",
            "--scitt-key-file",
            "receipts.key",
            "--scitt-wait-ms",
            "7",
            "serve",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Serve)));
        let c = load_config(&cli).unwrap();
        assert!(c.scitt_generate_key);
        assert_eq!(c.scitt_key_file, Some(PathBuf::from("receipts.key")));
        assert_eq!(cli.file.scitt.wait_ms, Some(7));
        let cli = Cli::try_parse_from(["attestlog-server", "--scitt-generate-key=false"]).unwrap();
        assert_eq!(cli.file.scitt.generate_key, Some(false));
        assert!(!load_config(&cli).unwrap().scitt_generate_key);
        let cli = Cli::try_parse_from(["attestlog-server"]).unwrap();
        assert_eq!(cli.file.scitt, config::ScittFileConfig::default());
    }
}
