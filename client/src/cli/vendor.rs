//! `attestlog vendor enrol|revoke`: the operator's key-enrolment commands.

use attestlog_proto::api::VendorRequest;
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, EXIT_OK, parse_verifier_key};

/// `attestlog vendor`.
#[derive(Debug, Args)]
pub struct VendorArgs {
    #[command(subcommand)]
    command: VendorCommand,
}

/// Options of enrol and revoke.
#[derive(Debug, Args)]
struct VendorKeyArgs {
    /// The vendor's legal name, exactly as in predicate.vendor.legal_name.
    #[arg(long, value_name = "NAME")]
    vendor: String,
    /// The vendor's verifier key string, or a file containing it.
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// The log's admin token.
    #[arg(
        long,
        env = "ATTESTLOG_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: String,
}

/// Options of enrol.
#[derive(Debug, Args)]
struct EnrolArgs {
    #[command(flatten)]
    key: VendorKeyArgs,
    /// What the key signs: `vendor` (attestations; the default) or `verifier` (verification
    /// statements of an auditor, test lab or researcher, DESIGN.md §13). A key never has both.
    #[arg(long, value_name = "ROLE", value_parser = ["vendor", "verifier"])]
    role: Option<String>,
}

#[derive(Debug, Subcommand)]
enum VendorCommand {
    /// Enrol a vendor key (or, with --role verifier, a verifier key): appends a log-signed
    /// enrolment entry (key transparency).
    Enrol(EnrolArgs),
    /// Revoke a vendor key: its later attestations are rejected.
    Revoke(VendorKeyArgs),
}

pub(crate) fn run(args: VendorArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let (action, a, role) = match args.command {
        VendorCommand::Enrol(a) => ("enrol", a.key, a.role),
        VendorCommand::Revoke(a) => ("revoke", a, None),
    };
    let key = parse_verifier_key(&a.key)?;
    let client = ctx.client()?;
    let req = VendorRequest {
        vendor: a.vendor.clone(),
        key: key.to_string(),
        action: action.to_owned(),
        role: role.clone(),
    };
    let resp = super::runtime()?.block_on(client.vendor_action(&a.token, &req))?;
    if ctx.json {
        ctx.print_json(
            &json!({"index": resp.index, "leaf_hash": resp.leaf_hash, "action": action,
                "role": role.as_deref().unwrap_or("vendor")}),
        )?;
    } else {
        let verb = if action == "enrol" {
            "enrolled"
        } else {
            "revoked"
        };
        let what = if role.as_deref() == Some("verifier") {
            "verifier key"
        } else {
            "key"
        };
        writeln!(
            ctx.out,
            "{what} {} {verb} for {:?} at index {}",
            key.key_id_hex(),
            a.vendor,
            resp.index
        )?;
    }
    Ok(EXIT_OK)
}
