//! `attestlog submit`: submit a signed envelope and save the receipt.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_OK, read_bytes};

/// `attestlog submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The DSSE envelope JSON written by `attest sign`.
    envelope: PathBuf,
    /// Where to save the receipt (default: ENVELOPE with `.receipt.json` appended). Anyone
    /// with the log key can verify it offline with `attestlog verify`.
    #[arg(long, value_name = "OUT")]
    receipt: Option<PathBuf>,
}

pub(crate) fn run(args: SubmitArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let body = read_bytes(&args.envelope)?;
    let client = ctx.client()?;
    let (resp, created) = super::runtime()?
        .block_on(client.submit(&body))
        .context("the log rejected the submission")?;
    let receipt_path = args.receipt.unwrap_or_else(|| {
        let mut p = args.envelope.clone().into_os_string();
        p.push(".receipt.json");
        PathBuf::from(p)
    });
    let receipt = serde_json::to_vec_pretty(&resp.receipt)?;
    std::fs::write(&receipt_path, receipt)
        .with_context(|| format!("cannot write {}", receipt_path.display()))?;
    if ctx.json {
        ctx.print_json(&json!({
            "index": resp.index,
            "leaf_hash": resp.leaf_hash,
            "created": created,
            "receipt": receipt_path,
        }))?;
    } else {
        writeln!(
            ctx.out,
            "{} at index {}\nleaf hash {}\nreceipt saved to {}",
            if created { "logged" } else { "already logged" },
            resp.index,
            resp.leaf_hash.to_hex(),
            receipt_path.display()
        )?;
    }
    Ok(EXIT_OK)
}
