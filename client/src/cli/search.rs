//! `attestlog search`: find attestations.

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
        before: a.before,
        limit: a.limit,
    };
    let client = ctx.client()?;
    let rt = super::runtime()?;
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
