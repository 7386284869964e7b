//! `attestlog diff`: what changed between two versions of an attestation.

use std::path::Path;

use anyhow::Context as _;
use attestlog_proto::api::Receipt;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::predicate::{Statement, parse_statement};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_OK, TrustArgs, read_bytes};
use crate::diff::diff;

/// `attestlog diff`.
#[derive(Debug, Args)]
#[command(after_help = "\
A and B are each an entry index (fetched from --log), a receipt file, or an attestation id \
(its current version: the head of its chain of versions, from --log). With only A, an \
attestation id: its current version against the version it superseded. With --log-key or \
--policy, each version's receipt is verified offline first. Compared: status, validity, \
storage/processing/analysis/remote-access/onward-transfer countries, excluded jurisdictions, \
categories, user regions, processors, retention and destinations.")]
pub struct DiffArgs {
    /// The old version: entry index, receipt file or attestation id.
    a: String,
    /// The new version: entry index, receipt file or attestation id.
    b: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
}

fn statement_of_entry(entry_b64: &str) -> anyhow::Result<Statement> {
    let bytes = STANDARD.decode(entry_b64).context("entry is not base64")?;
    let env = Envelope::parse_entry(&bytes).context("entry is not a dsse envelope")?;
    parse_statement(&env.payload).map_err(|errs| {
        anyhow::anyhow!(
            "not a valid attestation: {}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// The current version of an attestation id and the version it superseded, from the log.
fn current_and_previous(id: &str, ctx: &Ctx<'_>) -> anyhow::Result<(Receipt, Option<Receipt>)> {
    let client = ctx.client()?;
    let all = super::runtime()?
        .block_on(crate::versions::versions(&client, id))?
        .ok_or_else(|| anyhow::anyhow!("attestation {id} is not in the log"))?;
    let previous = all.previous().map(|v| v.entry.receipt.clone());
    Ok((all.current().entry.receipt.clone(), previous))
}

fn receipt_of(spec: &str, ctx: &Ctx<'_>) -> anyhow::Result<Receipt> {
    if let Ok(index) = spec.parse::<u64>()
        && !Path::new(spec).exists()
    {
        let client = ctx.client()?;
        return Ok(super::runtime()?.block_on(client.entry(index))?.receipt);
    }
    if Path::new(spec).exists() {
        return serde_json::from_slice(&read_bytes(Path::new(spec))?)
            .with_context(|| format!("{spec} is not a receipt file"));
    }
    Ok(current_and_previous(spec, ctx)?.0)
}

fn statement_of(spec: &str, receipt: &Receipt, args: &DiffArgs) -> anyhow::Result<Statement> {
    if args.trust.given() {
        attestlog_proto::receipt::verify_receipt(receipt, &args.trust.trust()?)
            .with_context(|| format!("receipt of {spec} does not verify"))?;
    }
    statement_of_entry(&receipt.entry).with_context(|| format!("version {spec}"))
}

pub(crate) fn run(args: DiffArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let (old_receipt, new_receipt, new_spec) = match &args.b {
        Some(b) => (receipt_of(&args.a, ctx)?, receipt_of(b, ctx)?, b.clone()),
        None => {
            let (current, previous) = current_and_previous(&args.a, ctx)?;
            let previous = previous.ok_or_else(|| {
                anyhow::anyhow!("the current version of {} supersedes no version", args.a)
            })?;
            (previous, current, format!("{} (current)", args.a))
        }
    };
    let old = statement_of(&args.a, &old_receipt, &args)?;
    let new = statement_of(&new_spec, &new_receipt, &args)?;
    if old.attestation_id() != new.attestation_id() {
        eprintln!(
            "note: comparing different attestations ({} and {})",
            old.attestation_id(),
            new.attestation_id()
        );
    }
    let d = diff(&old, &new);
    if ctx.json {
        ctx.print_json(&json!({
            "old": args.a,
            "new": new_spec,
            "attestation_id": new.attestation_id(),
            "changes": d.changes,
        }))?;
    } else {
        write!(ctx.out, "{}", d.render_text())?;
    }
    Ok(EXIT_OK)
}
