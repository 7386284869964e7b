//! `attestlog status`: the current version of an attestation and whether it is in force.

use attestlog_proto::predicate::{Statement, Status, parse_rfc3339};
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, now_unix};
use crate::versions::versions;

/// `attestlog status`.
#[derive(Debug, Args)]
#[command(after_help = "\
The current version is the head of the attestation's chain of versions (each names the one \
it supersedes), never merely the highest index. States: active (in force), revoked or \
withdrawn (the vendor said so in a newer version), expired (valid_until has passed), \
superseded (an older version), not_current (a version that never extended the chain). Exits \
1 unless the current version is active.")]
pub struct StatusArgs {
    /// The attestation id (UUID).
    attestation_id: String,
    /// Also verify the current version's receipt offline (with --log-key or --policy).
    #[command(flatten)]
    trust: TrustArgs,
}

/// The state of a version that is the current one.
pub(crate) fn current_state(st: &Statement, now: i64) -> &'static str {
    match st.predicate.status {
        Status::Revoked => "revoked",
        Status::Withdrawn => "withdrawn",
        Status::Active => match parse_rfc3339(&st.predicate.valid_until) {
            Some(t) if t.unix_seconds <= now => "expired",
            _ => match parse_rfc3339(&st.predicate.valid_from) {
                Some(t) if t.unix_seconds > now => "not_yet_valid",
                _ => "active",
            },
        },
    }
}

pub(crate) fn run(args: StatusArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let client = ctx.client()?;
    let rt = super::runtime()?;
    // The current version is the head of the chain, found by following it.
    let Some(all) = rt.block_on(versions(&client, &args.attestation_id))? else {
        if ctx.json {
            ctx.print_json(&json!({"attestation_id": args.attestation_id, "state": "unknown"}))?;
        } else {
            writeln!(
                ctx.out,
                "attestation {} is not in the log",
                args.attestation_id
            )?;
        }
        return Ok(EXIT_FAILURE);
    };
    let current = all.current();
    let (entry, st) = (&current.entry, &current.statement);
    let state = current_state(st, now_unix());
    let receipt = if args.trust.given() {
        Some(
            attestlog_proto::receipt::verify_receipt(&entry.receipt, &args.trust.trust()?)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        )
    } else {
        None
    };
    let others = || {
        all.versions
            .iter()
            .rev()
            .filter(|v| v.entry.index != entry.index)
    };
    let label = |v: &crate::versions::LoggedVersion| {
        if v.in_chain {
            "superseded"
        } else {
            "not_current"
        }
    };
    if ctx.json {
        let mut list = vec![json!({
            "index": entry.index,
            "state": state,
            "valid_until": st.predicate.valid_until,
        })];
        list.extend(others().map(|v| {
            json!({
                "index": v.entry.index,
                "state": label(v),
                "valid_until": v.statement.predicate.valid_until,
            })
        }));
        ctx.print_json(&json!({
            "attestation_id": args.attestation_id,
            "vendor": st.vendor_legal_name(),
            "product": st.predicate.product.name,
            "current_index": entry.index,
            "state": state,
            "valid_until": st.predicate.valid_until,
            "versions": list,
            "receipt_verified": receipt.as_ref().map(Result::is_ok),
        }))?;
    } else {
        writeln!(
            ctx.out,
            "attestation {} by {:?} for {:?}",
            args.attestation_id,
            st.vendor_legal_name(),
            st.predicate.product.name
        )?;
        writeln!(
            ctx.out,
            "current version: index {} — {state} (valid until {})",
            entry.index, st.predicate.valid_until
        )?;
        for v in others() {
            if v.in_chain {
                writeln!(ctx.out, "  index {}: superseded", v.entry.index)?;
            } else {
                writeln!(
                    ctx.out,
                    "  index {}: not in the chain of versions (a stale or repeated version)",
                    v.entry.index
                )?;
            }
        }
        match &receipt {
            Some(Ok(())) => writeln!(ctx.out, "receipt of the current version verified")?,
            Some(Err(e)) => writeln!(
                ctx.out,
                "receipt of the current version does NOT verify: {e}"
            )?,
            None => {}
        }
    }
    let receipt_ok = receipt.is_none_or(|r| r.is_ok());
    Ok(if state == "active" && receipt_ok {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}
