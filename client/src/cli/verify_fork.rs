//! `attestlog verify-fork`: check a fork-evidence file offline.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, read_bytes};
use crate::fork::ForkEvidence;

/// `attestlog verify-fork`.
#[derive(Debug, Args)]
#[command(after_help = "\
Accepts the file (exit 0) when both checkpoints are validly signed by the log key and either \
have the same size and different roots, or the file's consistency proof leads to the larger \
checkpoint's root while implying another root for the smaller size than the smaller \
checkpoint signs (`prefix_root`, required when that size is a power of two). A proof that \
merely fails to verify proves nothing. Exits 1 otherwise.")]
pub struct VerifyForkArgs {
    /// The fork-evidence file written by `attestlog monitor`.
    file: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
}

pub(crate) fn run(args: VerifyForkArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let keys = args.trust.trust()?.log_keys();
    let result = ForkEvidence::from_json(&read_bytes(&args.file)?).and_then(|e| e.verify(&keys));
    match result {
        Ok(proof) => {
            if ctx.json {
                ctx.print_json(
                    &json!({"fork": true, "proof": proof, "message": proof.to_string()}),
                )?;
            } else {
                writeln!(ctx.out, "fork proven: {proof}")?;
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            if ctx.json {
                ctx.print_json(&json!({"fork": false, "error": e.to_string()}))?;
            } else {
                writeln!(ctx.out, "not valid fork evidence: {e}")?;
            }
            Ok(EXIT_FAILURE)
        }
    }
}
