//! `attestlog submit`: submit a signed envelope (DSSE to `/v1/entries`) or a SCITT signed
//! statement (COSE to `POST /entries`) and save the receipt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use attestlog_proto::cose::{SignedStatement, is_cose_entry};
use attestlog_proto::scitt::{Receipt, TransparentStatement};
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_OK, read_bytes};
use crate::client::{Client, ScittAnswer};

/// `attestlog submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The DSSE envelope JSON or the COSE signed statement written by `attest sign`.
    envelope: PathBuf,
    /// Where to save the receipt (default: ENVELOPE with `.receipt.json` appended, or
    /// `.receipt.cose` for a COSE statement: an RFC 9942 receipt). Anyone with the log key
    /// (or the log's SCITT key) can verify it offline with `attestlog verify`.
    #[arg(long, value_name = "OUT")]
    receipt: Option<PathBuf>,
    /// COSE statements: also save the transparent statement (the statement with the receipt
    /// in label 394 and the c2sp.org/tlog-proof with the witness cosignatures in label
    /// -65537) to ENVELOPE with `.transparent.cose` appended (or --transparent-out).
    #[arg(long)]
    transparent: bool,
    /// Where `--transparent` saves the transparent statement.
    #[arg(long, value_name = "OUT", requires = "transparent")]
    transparent_out: Option<PathBuf>,
    /// COSE statements: how long to wait for publication (e.g. for the witness quorum)
    /// before giving up, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    timeout: u64,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.to_owned().into_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn write(p: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(p, bytes).with_context(|| format!("cannot write {}", p.display()))
}

pub(crate) fn run(args: SubmitArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let body = read_bytes(&args.envelope)?;
    if is_cose_entry(&body) {
        return submit_cose(&args, &body, ctx);
    }
    if args.transparent {
        bail!(
            "--transparent needs a COSE signed statement (`attest sign --format cose`); {} is not one",
            args.envelope.display()
        );
    }
    let client = ctx.client()?;
    let (resp, created) = super::runtime()?
        .block_on(client.submit(&body))
        .context("the log rejected the submission")?;
    let receipt_path = args
        .receipt
        .unwrap_or_else(|| with_suffix(&args.envelope, ".receipt.json"));
    write(&receipt_path, &serde_json::to_vec_pretty(&resp.receipt)?)?;
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

/// Registers a COSE signed statement at `POST /entries`, waits for publication, and saves the
/// receipt (and the transparent statement). What the log answered is checked for form and
/// for being about this statement; `attestlog verify` checks it against trusted keys.
fn submit_cose(args: &SubmitArgs, body: &[u8], ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let statement = SignedStatement::parse(body).with_context(|| {
        format!(
            "{} is not an acceptable signed statement",
            args.envelope.display()
        )
    })?;
    let client = ctx.client()?;
    let rt = super::runtime()?;
    let reg = rt
        .block_on(client.register_statement_and_wait(body, Duration::from_secs(args.timeout)))
        .context("the log did not register the statement")?;
    let receipt = Receipt::parse(&reg.receipt).context("the log answered no RFC 9942 receipt")?;
    let index = receipt
        .inclusion
        .first()
        .map(|p| p.leaf_index)
        .context("the log's receipt has no inclusion proof")?;
    let id = reg
        .location
        .strip_prefix("/entries/")
        .unwrap_or(&reg.location)
        .to_owned();
    let receipt_path = args
        .receipt
        .clone()
        .unwrap_or_else(|| with_suffix(&args.envelope, ".receipt.cose"));
    write(&receipt_path, &reg.receipt)?;
    let transparent_path = if args.transparent {
        let p = args
            .transparent_out
            .clone()
            .unwrap_or_else(|| with_suffix(&args.envelope, ".transparent.cose"));
        let ts = rt.block_on(transparent(&client, &reg.location))?;
        let parsed = TransparentStatement::parse(&ts)
            .context("the log answered no transparent statement")?;
        if parsed.statement.to_entry() != statement.to_entry() {
            bail!(
                "the log's transparent statement is not the submitted statement (it was logged before as entry {id})"
            );
        }
        write(&p, &ts)?;
        Some(p)
    } else {
        None
    };
    if ctx.json {
        ctx.print_json(&json!({
            "index": index,
            "leaf_hash": id,
            "created": reg.created,
            "receipt": receipt_path,
            "transparent": transparent_path,
        }))?;
    } else {
        writeln!(
            ctx.out,
            "{} at index {index}\nleaf hash {id}\nreceipt saved to {}",
            if reg.created {
                "registered"
            } else {
                "already registered"
            },
            receipt_path.display()
        )?;
        if let Some(p) = &transparent_path {
            writeln!(ctx.out, "transparent statement saved to {}", p.display())?;
        }
    }
    Ok(EXIT_OK)
}

/// `GET /entries/{id}?transparent=true` of a published entry.
async fn transparent(client: &Client, location: &str) -> anyhow::Result<Vec<u8>> {
    match client.scitt_entry(location, true).await? {
        ScittAnswer::Done { body, .. } => Ok(body),
        ScittAnswer::Running { .. } => bail!("the log reports {location} as still running"),
    }
}
