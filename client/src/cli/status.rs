//! `attestlog status`: the current version of an attestation and whether it is in force.

use anyhow::Context as _;
use attestlog_proto::api::EntryResponse;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::predicate::{Statement, Status, parse_rfc3339, parse_statement};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, now_unix};
use crate::client::SearchQuery;

/// `attestlog status`.
#[derive(Debug, Args)]
#[command(after_help = "\
States: active (in force), revoked or withdrawn (the vendor said so in a newer version), \
expired (valid_until has passed), superseded (an older version). Exits 1 unless the current \
version is active.")]
pub struct StatusArgs {
    /// The attestation id (UUID).
    attestation_id: String,
    /// Also verify the current version's receipt offline (with --log-key or --policy).
    #[command(flatten)]
    trust: TrustArgs,
}

/// The statement inside an entry response.
pub(crate) fn entry_statement(e: &EntryResponse) -> anyhow::Result<Statement> {
    let bytes = STANDARD.decode(&e.entry).context("entry is not base64")?;
    let env = Envelope::parse_entry(&bytes).context("entry is not a dsse envelope")?;
    parse_statement(&env.payload).map_err(|errs| {
        anyhow::anyhow!(
            "entry {} is not a valid attestation: {}",
            e.index,
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
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
    let q = SearchQuery {
        attestation_id: Some(args.attestation_id.clone()),
        ..SearchQuery::default()
    };
    let mut hits = rt.block_on(client.search_all(&q))?;
    hits.sort_by_key(|h| std::cmp::Reverse(h.index));
    let Some(latest) = hits.first() else {
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
    let entry = rt.block_on(client.entry(latest.index))?;
    let st = entry_statement(&entry)?;
    anyhow::ensure!(
        st.attestation_id() == args.attestation_id,
        "the log returned entry {} for another attestation id",
        entry.index
    );
    let state = current_state(&st, now_unix());
    let receipt = if args.trust.given() {
        Some(
            super::verify::verify_receipt(&entry.receipt, &args.trust.trust()?)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        )
    } else {
        None
    };
    let versions: Vec<_> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            json!({
                "index": h.index,
                "state": if i == 0 { state } else { "superseded" },
                "valid_until": h.valid_until,
            })
        })
        .collect();
    if ctx.json {
        ctx.print_json(&json!({
            "attestation_id": args.attestation_id,
            "vendor": st.vendor_legal_name(),
            "product": st.predicate.product.name,
            "current_index": entry.index,
            "state": state,
            "valid_until": st.predicate.valid_until,
            "versions": versions,
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
        for h in hits.iter().skip(1) {
            writeln!(ctx.out, "  index {}: superseded", h.index)?;
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
