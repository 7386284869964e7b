//! `attestlog verify`: offline receipt verification.

use std::path::PathBuf;

use attestlog_proto::api::Receipt;
use attestlog_proto::receipt::{self, VerifiedReceipt};
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, now_unix, read_bytes};
use crate::verifier::Trust;

/// `attestlog verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks, fully offline: the checkpoint's log signature (and witness quorum with --policy), the \
entry's inclusion proof, the enrolment entry's inclusion proof and log-key signature, that it \
enrols the signing key for predicate.vendor.legal_name at a lower index, and the vendor's \
signature. Prints the claim; warns when valid_until has passed; exits 1 with the reason when \
any check fails.")]
pub struct VerifyArgs {
    /// The receipt file saved by `attestlog submit` (or the `receipt` of `get --json`).
    receipt: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
}

/// Verifies a receipt under `trust`.
pub(crate) fn verify_receipt(
    r: &Receipt,
    trust: &Trust,
) -> Result<VerifiedReceipt, receipt::ReceiptError> {
    match trust {
        Trust::LogKey(k) => receipt::verify_receipt(r, receipt::Trust::LogKey(k)),
        Trust::Policy(p) => receipt::verify_receipt(r, receipt::Trust::Policy(p)),
    }
}

pub(crate) fn run(args: VerifyArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let trust = args.trust.trust()?;
    let bytes = read_bytes(&args.receipt)?;
    let parsed: Result<Receipt, _> = serde_json::from_slice(&bytes);
    let result = match &parsed {
        Ok(r) => verify_receipt(r, &trust).map_err(|e| e.to_string()),
        Err(e) => Err(format!("not a receipt file: {e}")),
    };
    let v = match result {
        Ok(v) => v,
        Err(reason) => {
            if ctx.json {
                ctx.print_json(&json!({"valid": false, "error": reason}))?;
            } else {
                writeln!(
                    ctx.out,
                    "receipt {} does NOT verify: {reason}",
                    args.receipt.display()
                )?;
            }
            return Ok(EXIT_FAILURE);
        }
    };
    let expired = v.expired_at(now_unix());
    let valid_until = v.statement().map(|s| s.predicate.valid_until.clone());
    if ctx.json {
        ctx.print_json(&json!({
            "valid": true,
            "index": v.index(),
            "leaf_hash": v.leaf_hash(),
            "tree_size": v.checkpoint().size,
            "origin": v.checkpoint().origin,
            "vendor": v.vendor(),
            "enrolment_index": v.enrolment_index(),
            "witnesses": v.witnesses(),
            "expired": expired,
            "valid_until": valid_until,
            "summary": v.render_text(),
        }))?;
    } else {
        write!(ctx.out, "{}", v.render_text())?;
        if !v.render_text().ends_with('\n') {
            writeln!(ctx.out)?;
        }
        writeln!(ctx.out, "receipt verified")?;
        if expired {
            writeln!(
                ctx.out,
                "warning: the claim expired (valid_until {}); it no longer states anything current",
                valid_until.unwrap_or_default()
            )?;
        }
    }
    Ok(EXIT_OK)
}
