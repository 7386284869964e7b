//! `attestlog search`: find attestations, or verifications of them.

use clap::Args;

use super::{Ctx, EXIT_OK};
use crate::client::SearchQuery;

/// `attestlog search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Vendor legal name.
    #[arg(long)]
    vendor: Option<String>,
    /// Product name.
    #[arg(long)]
    product: Option<String>,
    /// Country (ISO 3166-1 alpha-2) of storage, processing or remote access.
    #[arg(long)]
    country: Option<String>,
    /// Data category (threat_samples, telemetry, …).
    #[arg(long)]
    category: Option<String>,
    /// Attestation id.
    #[arg(long)]
    attestation_id: Option<String>,
    /// Verifications with this verdict instead of attestations (DESIGN.md §13).
    #[arg(long, value_parser = ["consistent", "contradicted", "inconclusive"])]
    verdict: Option<String>,
    /// Verifications of the attestation at this log index.
    #[arg(long, value_name = "INDEX")]
    subject: Option<u64>,
    /// Verifications by this verifier (legal name).
    #[arg(long, value_name = "NAME")]
    verifier: Option<String>,
    /// Only entries below this index (the `next` of a previous page).
    #[arg(long)]
    before: Option<u64>,
    /// Page size (1..=500).
    #[arg(long)]
    limit: Option<u32>,
    /// Follow every page.
    #[arg(long)]
    all: bool,
}

pub(crate) fn run(a: SearchArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let q = SearchQuery {
        vendor: a.vendor,
        product: a.product,
        country: a.country,
        category: a.category,
        attestation_id: a.attestation_id,
        verdict: a.verdict,
        subject: a.subject,
        verifier: a.verifier,
        before: a.before,
        limit: a.limit,
    };
    let client = ctx.client()?;
    let rt = super::runtime()?;
    if q.verdict.is_some() || q.subject.is_some() || q.verifier.is_some() {
        if a.all {
            anyhow::bail!("--all follows attestation searches only; page with --before");
        }
        let r = rt.block_on(client.search(&q))?;
        if ctx.json {
            ctx.print_json(&serde_json::json!({"verifications": r.verifications, "next": r.next}))?;
            return Ok(EXIT_OK);
        }
        if r.verifications.is_empty() {
            writeln!(ctx.out, "no matching verifications")?;
        }
        for h in &r.verifications {
            writeln!(
                ctx.out,
                "{:>8}  {:<12}  verifies {}  {}  {:?}",
                h.index, h.verdict, h.subject, h.attestation_id, h.verifier
            )?;
        }
        if let Some(n) = r.next {
            writeln!(ctx.out, "more: --before {n}")?;
        }
        return Ok(EXIT_OK);
    }
    let (hits, next) = if a.all {
        (rt.block_on(client.search_all(&q))?, None)
    } else {
        let r = rt.block_on(client.search(&q))?;
        (r.entries, r.next)
    };
    if ctx.json {
        ctx.print_json(&serde_json::json!({"entries": hits, "next": next}))?;
        return Ok(EXIT_OK);
    }
    if hits.is_empty() {
        writeln!(ctx.out, "no matching attestations")?;
    }
    for h in &hits {
        let version = match h.current {
            Some(true) => "current",
            Some(false) => "old",
            None => "",
        };
        writeln!(
            ctx.out,
            "{:>8}  {:<7}  {:<9}  {}  {}  {:?}  {:?}",
            h.index, version, h.status, h.valid_until, h.attestation_id, h.vendor, h.product
        )?;
    }
    if let Some(n) = next {
        writeln!(ctx.out, "more: --before {n}")?;
    }
    Ok(EXIT_OK)
}
