//! The `attestlog` command line: one module per subcommand, [`run`] callable from tests.
//!
//! Exit statuses: [`EXIT_OK`] (0), [`EXIT_FAILURE`] (1: a check failed, or an error),
//! [`EXIT_USAGE`] (2: bad command line), [`EXIT_FORK`] (3: the monitor found a fork).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::policy::Policy;
use clap::{Args, Parser, Subcommand};

use crate::client::Client;
use crate::verifier::{Trust, Verifier};

mod attest;
mod check_traffic;
mod diff;
mod get;
mod key;
mod monitor;
mod prove;
mod search;
mod status;
mod submit;
mod vendor;
mod verify;
mod verify_fork;
mod witness;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A verification or check failed, or the command failed.
pub const EXIT_FAILURE: u8 = 1;
/// The command line is invalid.
pub const EXIT_USAGE: u8 = 2;
/// The monitor found an inconsistent log and wrote fork evidence.
pub const EXIT_FORK: u8 = 3;

const AFTER_HELP: &str = "\
Roles:
  vendors    key generate, attest new|check|sign, submit
  auditors   verify (offline), status, get, search, prove, diff, check-traffic
  monitors   monitor, verify-fork
  witnesses  witness serve, witness key generate
  operators  vendor enrol|revoke

Exit status: 0 ok, 1 a check failed (or an error), 2 bad usage, 3 fork detected.";

/// attestlog: a transparency log for vendor data-flow attestations.
///
/// Vendors sign machine-readable claims about where their products send data; the log makes
/// them public and append-only; auditors verify receipts offline; monitors watch for new
/// claims, changed claims and forks.
#[derive(Debug, Parser)]
#[command(name = "attestlog", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Base URL of the log.
    #[arg(
        long,
        global = true,
        env = "ATTESTLOG_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub log: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage vendor signing keys.
    Key(key::KeyArgs),
    /// Write, check and sign data-flow attestations.
    Attest(attest::AttestArgs),
    /// Submit a signed envelope to the log and save its receipt.
    Submit(submit::SubmitArgs),
    /// Verify a receipt offline with the log key or a tlog-policy.
    Verify(verify::VerifyArgs),
    /// Fetch a log entry by index.
    Get(get::GetArgs),
    /// Search attestations by vendor, product, country, category or id.
    Search(search::SearchArgs),
    /// Show the current version of an attestation and whether it is in force.
    Status(status::StatusArgs),
    /// Prove inclusion or consistency from tiles, verified locally.
    Prove(prove::ProveArgs),
    /// Show what changed between two versions of an attestation.
    Diff(diff::DiffArgs),
    /// Compare a capture of a product's traffic with its claim; optionally sign the finding.
    CheckTraffic(Box<check_traffic::CheckTrafficArgs>),
    /// Enrol or revoke vendor keys (log operators; needs the admin token).
    Vendor(vendor::VendorArgs),
    /// Follow the log, verify every entry and checkpoint, alert on rules, detect forks.
    Monitor(monitor::MonitorArgs),
    /// Check a fork-evidence file offline.
    VerifyFork(verify_fork::VerifyForkArgs),
    /// Run a c2sp.org/tlog-witness that cosigns consistent checkpoints.
    Witness(witness::WitnessArgs),
}

/// What every subcommand gets: the global options and the output.
pub(crate) struct Ctx<'a> {
    /// Base URL of the log.
    pub log: String,
    /// JSON output.
    pub json: bool,
    /// Standard output (or a test buffer).
    pub out: &'a mut dyn Write,
}

impl Ctx<'_> {
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.log)?)
    }

    pub(crate) fn print_json(&mut self, v: &impl serde::Serialize) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, v)?;
        writeln!(self.out)?;
        Ok(())
    }
}

/// The trust options shared by commands that verify checkpoints.
#[derive(Debug, Clone, Args)]
pub(crate) struct TrustArgs {
    /// The log's verifier key (`<name>+<id>+<base64>`), or a file containing it.
    #[arg(long, value_name = "VKEY", env = "ATTESTLOG_LOG_KEY")]
    pub log_key: Option<String>,
    /// A c2sp.org/tlog-policy file (log keys, witnesses, quorum) instead of --log-key.
    #[arg(long, value_name = "FILE", conflicts_with = "log_key")]
    pub policy: Option<PathBuf>,
}

impl TrustArgs {
    /// The trust anchor; one of `--log-key` or `--policy` is required.
    pub(crate) fn trust(&self) -> anyhow::Result<Trust> {
        match (&self.log_key, &self.policy) {
            (Some(k), _) => Ok(Trust::log_key(parse_verifier_key(k)?)),
            (None, Some(p)) => {
                let text = read_text(p)?;
                let policy = Policy::parse(&text)
                    .with_context(|| format!("{} is not a valid tlog-policy", p.display()))?;
                Ok(Trust::policy(policy))
            }
            (None, None) => {
                bail!("give the log's verifier key with --log-key or a policy with --policy")
            }
        }
    }

    pub(crate) fn given(&self) -> bool {
        self.log_key.is_some() || self.policy.is_some()
    }

    pub(crate) fn verifier(&self, ctx: &Ctx<'_>) -> anyhow::Result<Verifier> {
        Ok(Verifier::new(ctx.client()?, self.trust()?))
    }
}

/// Parses a verifier key given inline or as a file holding it.
pub(crate) fn parse_verifier_key(s: &str) -> anyhow::Result<VerifierKey> {
    match VerifierKey::parse(s.trim()) {
        Ok(k) => Ok(k),
        Err(e) => {
            let p = Path::new(s);
            if p.is_file() {
                let text = read_text(p)?;
                VerifierKey::parse(text.trim())
                    .with_context(|| format!("{} does not hold a verifier key", p.display()))
            } else {
                Err(e).with_context(|| format!("{s:?} is not a verifier key or a key file"))
            }
        }
    }
}

pub(crate) fn read_bytes(p: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

pub(crate) fn read_text(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The shared wall clock ([`attestlog_serve::fs::unix_now`]) as the signed seconds the
/// verifiers compare with.
pub(crate) fn now_unix() -> i64 {
    i64::try_from(attestlog_serve::fs::unix_now()).unwrap_or(i64::MAX)
}

/// Runs the command line `args` (including the program name), writing results to `out`.
/// Usage errors go to standard error and return [`EXIT_USAGE`]; `--help` and `--version` go
/// to `out`.
///
/// # Errors
/// Failures that are not a verdict (unreadable files, network errors, server errors); the
/// binary prints them and exits with [`EXIT_FAILURE`].
pub fn run<I, T>(args: I, out: &mut dyn Write) -> anyhow::Result<u8>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            if e.use_stderr() {
                eprint!("{}", e.render().ansi());
                return Ok(EXIT_USAGE);
            }
            write!(out, "{}", e.render())?;
            return Ok(EXIT_OK);
        }
    };
    let mut ctx = Ctx {
        log: cli.log,
        json: cli.json,
        out,
    };
    match cli.command {
        Command::Key(a) => key::run(a, &mut ctx),
        Command::Attest(a) => attest::run(a, &mut ctx),
        Command::Submit(a) => submit::run(a, &mut ctx),
        Command::Verify(a) => verify::run(a, &mut ctx),
        Command::Get(a) => get::run(a, &mut ctx),
        Command::Search(a) => search::run(a, &mut ctx),
        Command::Status(a) => status::run(a, &mut ctx),
        Command::Prove(a) => prove::run(a, &mut ctx),
        Command::Diff(a) => diff::run(a, &mut ctx),
        Command::CheckTraffic(a) => check_traffic::run(*a, &mut ctx),
        Command::Vendor(a) => vendor::run(a, &mut ctx),
        Command::Monitor(a) => monitor::run(a, &mut ctx),
        Command::VerifyFork(a) => verify_fork::run(a, &mut ctx),
        Command::Witness(a) => witness::run(a, &mut ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
