//! `attestlog get`: fetch one entry.

use std::path::PathBuf;

use clap::Args;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs};

/// `attestlog get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The entry's log index.
    index: u64,
    /// Save the entry's receipt (against the latest checkpoint) to FILE.
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
    /// Also verify the entry's receipt offline (with --log-key or --policy).
    #[command(flatten)]
    trust: TrustArgs,
}

pub(crate) fn run(args: GetArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let client = ctx.client()?;
    let e = super::runtime()?.block_on(client.entry(args.index))?;
    if let Some(p) = &args.receipt {
        std::fs::write(p, serde_json::to_vec_pretty(&e.receipt)?)?;
    }
    let verified = if args.trust.given() {
        Some(attestlog_proto::receipt::verify_receipt(
            &e.receipt,
            &args.trust.trust()?,
        ))
    } else {
        None
    };
    if ctx.json {
        ctx.print_json(&e)?;
    } else {
        writeln!(ctx.out, "index      {}", e.index)?;
        writeln!(ctx.out, "kind       {}", e.kind)?;
        writeln!(ctx.out, "leaf hash  {}", e.leaf_hash.to_hex())?;
        writeln!(ctx.out, "{}", serde_json::to_string_pretty(&e.payload)?)?;
    }
    match verified {
        Some(Ok(v)) => {
            if !ctx.json {
                writeln!(
                    ctx.out,
                    "receipt verified:\n{}",
                    crate::render::verified_receipt(&v)
                )?;
            }
            Ok(EXIT_OK)
        }
        Some(Err(err)) => {
            writeln!(ctx.out, "receipt does NOT verify: {err}")?;
            Ok(EXIT_FAILURE)
        }
        None => Ok(EXIT_OK),
    }
}
