//! `attestlog witness`: run a c2sp.org/tlog-witness, or generate its key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1};
use attestlog_proto::policy::Policy;
use clap::{Args, Subcommand};

use super::{Ctx, EXIT_OK, read_text};
use crate::witness::Witness;

/// `attestlog witness`.
#[derive(Debug, Args)]
pub struct WitnessArgs {
    #[command(subcommand)]
    command: WitnessCommand,
}

#[derive(Debug, Subcommand)]
enum WitnessCommand {
    /// Serve the c2sp.org/tlog-witness `POST /add-checkpoint` endpoint.
    #[command(after_help = "\
The witness cosigns (cosignature/v1) checkpoints of the logs named by the `log` lines of \
POLICY, after checking the log signature and the consistency proof from the size it cosigned \
last. Its state (DIR/logs/) is updated atomically before it answers; every validly signed \
checkpoint that conflicts with what it cosigned is kept in DIR/evidence/ as a fork-evidence \
file (check it with `attestlog verify-fork`). Give its verifier key and URL to log operators \
as a policy line: `witness NAME VKEY http://ADDR`.")]
    Serve {
        /// The witness signer key file (`attestlog witness key generate`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// A tlog-policy file whose `log` lines are the logs to witness.
        #[arg(long, value_name = "POLICY")]
        logs: PathBuf,
        /// State directory (created if missing).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
        listen: SocketAddr,
    },
    /// Manage the witness key.
    Key {
        #[command(subcommand)]
        command: WitnessKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum WitnessKeyCommand {
    /// Generate a cosignature/v1 witness key: writes the signer key to FILE (mode 0600) and
    /// prints the verifier key for log operators' policies.
    Generate(super::key::GenerateArgs),
}

/// Opens a witness from a key file, a policy file and a state directory.
fn open(
    key: &std::path::Path,
    logs: &std::path::Path,
    state: &std::path::Path,
) -> anyhow::Result<Witness> {
    let key = SignerKey::parse(read_text(key)?.trim())
        .map_err(|e| anyhow::anyhow!("invalid witness key {}: {e}", key.display()))?;
    let policy = Policy::parse(&read_text(logs)?)
        .with_context(|| format!("{} is not a valid tlog-policy", logs.display()))?;
    Ok(Witness::open(key, &policy, state)?)
}

pub(crate) fn run(args: WitnessArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    match args.command {
        WitnessCommand::Key {
            command: WitnessKeyCommand::Generate(g),
        } => super::key::generate(
            ctx,
            &g,
            TYPE_COSIGNATURE_V1,
            "put the verifier key above in the `witness` line of log operators' policies",
        ),
        WitnessCommand::Serve {
            key,
            logs,
            state,
            listen,
        } => {
            let witness = Arc::new(open(&key, &logs, &state)?);
            let rt = super::runtime()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                writeln!(ctx.out, "verifier key: {}", witness.verifier_key())?;
                writeln!(ctx.out, "listening on  http://{}", listener.local_addr()?)?;
                ctx.out.flush()?;
                crate::witness::serve(listener, witness, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
                Ok(EXIT_OK)
            })
        }
    }
}
