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
A and B are each an entry index (fetched from --log) or a receipt file. With --log-key or \
--policy, each version's receipt is verified offline first. Compared: status, validity, \
storage/processing/analysis/remote-access/onward-transfer countries, excluded jurisdictions, \
categories, user regions, processors, retention and destinations.")]
pub struct DiffArgs {
    /// The old version: entry index or receipt file.
    a: String,
    /// The new version: entry index or receipt file.
    b: String,
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

fn load(spec: &str, args: &DiffArgs, ctx: &Ctx<'_>) -> anyhow::Result<Statement> {
    let receipt: Receipt = if let Ok(index) = spec.parse::<u64>()
        && !Path::new(spec).exists()
    {
        let client = ctx.client()?;
        super::runtime()?.block_on(client.entry(index))?.receipt
    } else {
        serde_json::from_slice(&read_bytes(Path::new(spec))?)
            .with_context(|| format!("{spec} is not a receipt file"))?
    };
    if args.trust.given() {
        super::verify::verify_receipt(&receipt, &args.trust.trust()?)
            .with_context(|| format!("receipt of {spec} does not verify"))?;
    }
    statement_of_entry(&receipt.entry).with_context(|| format!("version {spec}"))
}

pub(crate) fn run(args: DiffArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let old = load(&args.a, &args, ctx)?;
    let new = load(&args.b, &args, ctx)?;
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
            "new": args.b,
            "attestation_id": new.attestation_id(),
            "changes": d.changes,
        }))?;
    } else {
        write!(ctx.out, "{}", d.render_text())?;
    }
    Ok(EXIT_OK)
}
