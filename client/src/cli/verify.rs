//! `attestlog verify`: offline receipt verification: attestlog receipts (JSON), and SCITT
//! receipts and transparent statements (COSE).

use std::path::PathBuf;

use anyhow::Context as _;
use attestlog_proto::api::Receipt;
use attestlog_proto::cose::{SignedStatement, is_cose_entry};
use attestlog_proto::receipt::{VerifiedReceipt, verify_receipt};
use attestlog_proto::scitt::{
    self as scitt, ScittError, TransparentStatement, VerifiedTransparent, parse_key_set,
};
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, now_unix, parse_verifier_key, read_bytes};
use attestlog_proto::trust::Trust;

/// `attestlog verify`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks, fully offline: the checkpoint's log signature (and witness quorum with --policy), the \
entry's inclusion proof, the enrolment entry's inclusion proof and log-key signature, that it \
enrols the signing key for predicate.vendor.legal_name at a lower index, and the vendor's \
signature. Prints the claim; warns when valid_until has passed; exits 1 with the reason when \
any check fails.

SCITT (COSE) files: a transparent statement (`submit --transparent`) or an RFC 9942 receipt with --statement. A consistency receipt (GET /receipts/consistency) verifies from a checkpoint you trust (--checkpoint FILE, with --log-key or --policy): its proof must lead from that tree to the root the log's COSE key signed. Checks the receipt's inclusion proof from the statement's entry to the root that the log's COSE key (--scitt-key, from /.well-known/scitt-keys) signed, and that the receipt's sub is the statement's; with --policy (or --log-key) also the c2sp.org/tlog-proof of label -65537: the log's checkpoint signature, the witness quorum, and that it proves the same inclusion as the receipt. --vendor-key also checks the statement's own signature.

A verification statement (DESIGN.md §13) is checked the same way with its verifier for the \
vendor, and its key must be enrolled as a verifier key (an attestation's as a vendor key). Its \
subject must be a data-flow attestation in the same log with the index, leaf hash, attestation \
id and SHA-256 the verification names: give the subject's receipt with --subject FILE (offline), \
or the subject's receipt is fetched from --log and verified under the same trust.")]
pub struct VerifyArgs {
    /// The receipt file saved by `attestlog submit` (or the `receipt` of `get --json`), a
    /// SCITT receipt (`.receipt.cose`) or a transparent statement (`.transparent.cose`).
    receipt: PathBuf,
    /// For a verification: the receipt of the attestation it verifies (else it is fetched
    /// from the log).
    #[arg(long, value_name = "FILE")]
    subject: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// SCITT: the log's COSE receipt key(s): a COSE_KeySet or COSE_Key file as served at
    /// /.well-known/scitt-keys.
    #[arg(long, value_name = "FILE")]
    scitt_key: Option<PathBuf>,
    /// SCITT: the signed statement a bare receipt is for (not needed for a transparent
    /// statement, which carries it).
    #[arg(long, value_name = "FILE")]
    statement: Option<PathBuf>,
    /// SCITT: the vendor's verifier key (or a file holding it); the statement's COSE
    /// signature must verify under it.
    #[arg(long, value_name = "VKEY")]
    vendor_key: Option<String>,
    /// SCITT consistency receipt: the checkpoint of the older tree (a signed note as served
    /// at /checkpoint), verified with --log-key or --policy; the receipt must lead from it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

/// Verifies the subject of the verification `v`: its receipt from `file`, or fetched from the
/// log, under `trust`, then [`VerifiedReceipt::check_subject`].
fn check_subject(
    v: &VerifiedReceipt,
    file: Option<&std::path::Path>,
    trust: &Trust,
    ctx: &Ctx<'_>,
) -> Result<(), String> {
    let index = v
        .verification()
        .map_or(0, |s| s.predicate.subject_entry.log_index);
    let r: Receipt = match file {
        Some(f) => {
            let bytes = read_bytes(f).map_err(|e| format!("subject receipt: {e:#}"))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| format!("subject receipt {}: not a receipt file: {e}", f.display()))?
        }
        None => {
            let client = ctx.client().map_err(|e| format!("{e:#}"))?;
            let rt = super::runtime().map_err(|e| format!("{e:#}"))?;
            rt.block_on(client.entry(index))
                .map_err(|e| {
                    format!(
                        "cannot fetch the subject, index {index}, from {} (or give --subject \
                         FILE): {e}",
                        ctx.log
                    )
                })?
                .receipt
        }
    };
    let subject = verify_receipt(&r, trust).map_err(|e| format!("the subject's receipt: {e}"))?;
    v.check_subject(&subject).map_err(|e| e.to_string())
}

/// Reports that `what` does not verify (`--json`: `{"valid": false, "error"}`); exit status 1.
fn refuse(ctx: &mut Ctx<'_>, what: &str, reason: &str) -> anyhow::Result<u8> {
    if ctx.json {
        ctx.print_json(&json!({"valid": false, "error": reason}))?;
    } else {
        writeln!(ctx.out, "{what} does NOT verify: {reason}")?;
    }
    Ok(EXIT_FAILURE)
}

pub(crate) fn run(args: VerifyArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let bytes = read_bytes(&args.receipt)?;
    if is_cose_entry(&bytes) {
        return verify_cose(&args, &bytes, ctx);
    }
    let trust = args.trust.trust()?;
    let parsed: Result<Receipt, _> = serde_json::from_slice(&bytes);
    let result = match &parsed {
        Ok(r) => verify_receipt(r, &trust).map_err(|e| e.to_string()),
        Err(e) => Err(format!("not a receipt file: {e}")),
    };
    let result = match result {
        Ok(v) if v.verification().is_some() => {
            check_subject(&v, args.subject.as_deref(), &trust, ctx).map(|()| v)
        }
        other => other,
    };
    let v = match result {
        Ok(v) => v,
        Err(reason) => {
            return refuse(ctx, &format!("receipt {}", args.receipt.display()), &reason);
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
            "role": v.enrolment().map(|e| e.role.as_str()),
            "subject": v.verification().map(|s| s.predicate.subject_entry.log_index),
            "verdict": v.verification().map(|s| s.predicate.verdict.as_str()),
            "enrolment_index": v.enrolment_index(),
            "witnesses": v.witnesses(),
            "expired": expired,
            "valid_until": valid_until,
            "summary": crate::render::verified_receipt(&v),
        }))?;
    } else {
        let text = crate::render::verified_receipt(&v);
        write!(ctx.out, "{text}")?;
        if !text.ends_with('\n') {
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

/// The log's COSE receipt keys of `--scitt-key`.
fn scitt_keys(args: &VerifyArgs) -> anyhow::Result<Vec<scitt::ReceiptKey>> {
    let key_file = args.scitt_key.as_ref().context(
        "give the log's COSE receipt key with --scitt-key (a COSE_KeySet from /.well-known/scitt-keys)",
    )?;
    parse_key_set(&read_bytes(key_file)?).with_context(|| {
        format!(
            "{} is not the log's COSE receipt keys (docs/spec.md §11.4)",
            key_file.display()
        )
    })
}

/// `attestlog verify` of an RFC 9942 consistency receipt, from the checkpoint of the older
/// tree (`--checkpoint`, verified under `--log-key` or `--policy`).
fn verify_consistency(
    args: &VerifyArgs,
    receipt: &scitt::Receipt,
    ctx: &mut Ctx<'_>,
) -> anyhow::Result<u8> {
    let keys = scitt_keys(args)?;
    let file = args.checkpoint.as_ref().context(
        "a consistency receipt verifies from a tree you trust: give its checkpoint with --checkpoint FILE (and --log-key or --policy)",
    )?;
    let trust = args.trust.trust()?;
    let what = args.receipt.display().to_string();
    let old = match trust.open_checkpoint(&read_bytes(file)?) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                ctx,
                &what,
                &format!("the checkpoint {} does not verify: {e}", file.display()),
            );
        }
    };
    let origin = old.checkpoint().origin.clone();
    if receipt.claims.iss != origin {
        return refuse(
            ctx,
            &what,
            &format!(
                "the receipt is issued by {:?}, the checkpoint is of log {origin:?}",
                receipt.claims.iss
            ),
        );
    }
    let (proof, root) = match receipt.verify_consistency_from(old.size(), &old.root(), &keys) {
        Ok(v) => v,
        Err(e) => return refuse(ctx, &what, &e.to_string()),
    };
    if ctx.json {
        ctx.print_json(&json!({
            "valid": true,
            "consistency": true,
            "iss": origin,
            "tree_size_1": proof.tree_size_1,
            "root_1": old.root().to_hex(),
            "tree_size_2": proof.tree_size_2,
            "root_2": root.to_hex(),
            "receipt_kid": hex::encode(&receipt.kid),
        }))?;
    } else {
        writeln!(
            ctx.out,
            "consistency receipt verified: the tree of size {} (root {}) of {origin} extends the checkpoint of size {} (root {}), signed by COSE key {}",
            proof.tree_size_2,
            root.to_hex(),
            proof.tree_size_1,
            old.root().to_hex(),
            hex::encode(&receipt.kid)
        )?;
    }
    Ok(EXIT_OK)
}

/// The statement and verdict of a SCITT file: a transparent statement verifies whole; a bare
/// receipt verifies for the statement of `--statement`.
fn check_cose(
    args: &VerifyArgs,
    bytes: &[u8],
    trust: Option<&Trust>,
) -> anyhow::Result<(SignedStatement, Result<VerifiedTransparent, ScittError>)> {
    let keys = scitt_keys(args)?;
    if let Ok(ts) = TransparentStatement::parse(bytes) {
        let verdict = ts.verify(&keys, trust);
        return Ok((ts.statement, verdict));
    }
    let statement_file = args.statement.as_ref().context(
        "a bare receipt verifies for a signed statement: give it with --statement (a transparent statement carries its own)",
    )?;
    let statement = SignedStatement::parse(&read_bytes(statement_file)?).with_context(|| {
        format!(
            "{} is not a COSE signed statement",
            statement_file.display()
        )
    })?;
    if trust.is_some() {
        anyhow::bail!(
            "a bare receipt carries no tlog-proof to check with --policy or --log-key: verify the transparent statement (`submit --transparent`)"
        );
    }
    let verdict =
        scitt::verify_statement_receipt(&statement, bytes, &keys).map(|(receipt, proof, root)| {
            VerifiedTransparent {
                receipt,
                proof,
                root,
                tlog: None,
            }
        });
    Ok((statement, verdict))
}

/// `attestlog verify` of a SCITT receipt or transparent statement.
fn verify_cose(args: &VerifyArgs, bytes: &[u8], ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    if let Ok(r) = scitt::Receipt::parse(bytes)
        && r.inclusion.is_empty()
        && !r.consistency.is_empty()
    {
        return verify_consistency(args, &r, ctx);
    }
    let trust = if args.trust.given() {
        Some(args.trust.trust()?)
    } else {
        None
    };
    let (statement, verdict) = check_cose(args, bytes, trust.as_ref())?;
    let mut verdict = verdict.map_err(|e| e.to_string());
    if let (Ok(_), Some(k)) = (&verdict, &args.vendor_key) {
        let key = parse_verifier_key(k)?;
        if !statement.verify_with(&key) {
            verdict = Err(format!(
                "the statement's signature (kid {}) does not verify under the vendor key {}",
                statement.kid_hex(),
                key.key_id_hex()
            ));
        }
    }
    let v = match verdict {
        Ok(v) => v,
        Err(reason) => return refuse(ctx, &args.receipt.display().to_string(), &reason),
    };
    let leaf = attestlog_proto::Hash::leaf(&statement.to_entry());
    let witnesses: Vec<String> = v
        .tlog
        .as_ref()
        .map(|t| t.witnesses.iter().cloned().collect())
        .unwrap_or_default();
    if ctx.json {
        ctx.print_json(&json!({
            "valid": true,
            "index": v.proof.leaf_index,
            "leaf_hash": leaf.to_hex(),
            "tree_size": v.proof.tree_size,
            "root": v.root.to_hex(),
            "iss": v.receipt.claims.iss,
            "sub": statement.sub(),
            "signer": statement.iss(),
            "receipt_kid": hex::encode(&v.receipt.kid),
            "tlog_proof": v.tlog.is_some(),
            "witnesses": witnesses,
            "statement_signature": args.vendor_key.is_some(),
        }))?;
        return Ok(EXIT_OK);
    }
    writeln!(
        ctx.out,
        "statement {} signed by {} (kid {})",
        statement.sub(),
        statement.iss(),
        statement.kid_hex()
    )?;
    writeln!(
        ctx.out,
        "SCITT receipt verified: entry {} at index {} in tree {} (root {}) of {}, signed by COSE key {}",
        leaf.to_hex(),
        v.proof.leaf_index,
        v.proof.tree_size,
        v.root.to_hex(),
        v.receipt.claims.iss,
        hex::encode(&v.receipt.kid)
    )?;
    match &v.tlog {
        Some(t) => writeln!(
            ctx.out,
            "tlog-proof verified: checkpoint of {} size {}{}",
            t.checkpoint.checkpoint().origin,
            t.checkpoint.checkpoint().size,
            if witnesses.is_empty() {
                String::new()
            } else {
                format!(", cosigned by {}", witnesses.join(", "))
            }
        )?,
        None => writeln!(
            ctx.out,
            "tlog-proof not checked (give --policy for the witness quorum, or --log-key)"
        )?,
    }
    if args.vendor_key.is_some() {
        writeln!(ctx.out, "statement signature verified")?;
    }
    Ok(EXIT_OK)
}
