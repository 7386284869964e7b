//! `attestlog monitor`: follow a log, verify everything, alert, detect forks.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Ctx, EXIT_FAILURE, EXIT_FORK, EXIT_OK, TrustArgs};
use crate::monitor::{Monitor, Outcome, Rules};

/// `attestlog monitor`.
#[derive(Debug, Args)]
#[command(after_help = "\
Alerts are JSON lines on standard output: {\"alert\": KIND, \"index\", \"vendor\", \"product\", \
\"attestation_id\", \"country\", \"message\"} with KIND one of new_attestation, \
superseding_attestation, watched_country, key_enrolled, key_revoked, entry_invalid, fork, and \
contradiction (a claim for a product that places data where another current claim of the same \
vendor for that product excludes it, or the reverse; always reported).

Rules file (TOML, or JSON if it starts with '{'):
  vendors   = [\"Example AV AG\"]   # new or superseding attestations of these vendors
  products  = [\"Example Endpoint\"] # ... or of these products
  countries = [\"RU\", \"CN\"]        # flows stored, processed, analysed, remotely accessed or
                                    # transferred onward there

State (DIR/state.json) is written atomically after each round; a restarted monitor continues \
from its last verified checkpoint. On an inconsistent checkpoint it writes \
DIR/fork-evidence.json (check it with `attestlog verify-fork`) and exits with status 3.")]
pub struct MonitorArgs {
    #[command(flatten)]
    trust: TrustArgs,
    /// State directory (created if missing).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// Alert rules file (TOML or JSON).
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Catch up once and exit instead of following the log.
    #[arg(long)]
    once: bool,
    /// Seconds between polls when following.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    interval: u64,
    /// Also POST every alert as a JSON object to this URL (after each round, in order).
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
}

/// Posts alerts to a webhook, in order; stops at the first failure and says so on stderr
/// (the alerts are on standard output regardless).
async fn post_alerts(url: &str, alerts: &[crate::monitor::Alert]) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for a in alerts {
        let r = http.post(url).json(a).send().await?;
        if !r.status().is_success() {
            anyhow::bail!("webhook answered {}", r.status());
        }
    }
    Ok(())
}

pub(crate) fn run(args: MonitorArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let rules = match &args.rules {
        Some(p) => Rules::load(p)?,
        None => Rules::default(),
    };
    let verifier = args.trust.verifier(ctx)?;
    let mut monitor = Monitor::open(verifier, &args.state, rules)?;
    let rt = super::runtime()?;
    loop {
        let mut bar: Option<ProgressBar> = None;
        let mut write_err = None;
        let mut sent = Vec::new();
        let out = &mut *ctx.out;
        let mut emit = |a: &crate::monitor::Alert| {
            if args.webhook.is_some() {
                sent.push(a.clone());
            }
            let line = serde_json::to_string(a).unwrap_or_default();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                write_err.get_or_insert(e);
            }
        };
        // A progress bar with rate and ETA, on a terminal only (logs and pipes get the
        // summary line alone).
        let terminal = std::io::stderr().is_terminal();
        let mut progress = |done: u64, total: u64| {
            if !terminal {
                return;
            }
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} verifying entries {pos}/{len} [{bar:40}] {per_sec} eta {eta}",
                ) {
                    b.set_style(style);
                }
                b
            });
            b.set_position(done);
        };
        let outcome = rt.block_on(monitor.run_once(&mut emit, &mut progress));
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if let Some(e) = write_err {
            return Err(e.into());
        }
        if let Some(url) = &args.webhook
            && let Err(e) = rt.block_on(post_alerts(url, &sent))
        {
            eprintln!("warning: webhook {url}: {e:#}");
        }
        match outcome? {
            Outcome::Fork { evidence, reason } => {
                eprintln!("FORK: {reason}; evidence written to {}", evidence.display());
                return Ok(EXIT_FORK);
            }
            Outcome::RolledBack { size, signed } => {
                eprintln!(
                    "WARNING: the log serves tree size {size} after signing size {signed}; \
                     keeping the stored checkpoint"
                );
                if args.once {
                    return Ok(EXIT_FAILURE);
                }
            }
            Outcome::UpToDate { size } => eprintln!("up to date at tree size {size}"),
            Outcome::Advanced { from, to } => {
                eprintln!("verified entries {from}..{to}; now at tree size {to}");
            }
        }
        if args.once {
            return Ok(EXIT_OK);
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}
