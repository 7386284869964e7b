//! `attestlog key generate`: a new Ed25519 vendor signing key.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519, valid_key_name};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, EXIT_OK};

/// `attestlog key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Generate a vendor signing key: writes the signer key string to FILE (mode 0600) and
    /// prints the verifier key to give to the log operator for enrolment.
    Generate(GenerateArgs),
}

/// `key generate` and `witness key generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Key name (signed-note rules: no spaces, no `+`), e.g. `example-av.ch/attest` or
    /// `witness.example.org/w1`.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Where to write the secret signer key.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: KeyArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let KeyCommand::Generate(g) = args.command;
    generate(
        ctx,
        &g,
        TYPE_ED25519,
        "give the verifier key above to the log operator",
    )
}

/// Generates a key of `key_type` named `name`, writes its signer-key string to `out` (mode
/// 0600) and prints the verifier key (`hint` says what to do with it).
pub(crate) fn generate(
    ctx: &mut Ctx<'_>,
    args: &GenerateArgs,
    key_type: u8,
    hint: &str,
) -> anyhow::Result<u8> {
    let (name, out, force) = (args.name.as_str(), args.out.as_path(), args.force);
    anyhow::ensure!(
        valid_key_name(name),
        "invalid key name {name:?}: it must be non-empty, without spaces or '+'"
    );
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = SignerKey::from_seed(name, key_type, &seed)?;
    write_secret(
        out,
        format!("{}\n", key.to_secret_string()).as_bytes(),
        force,
    )
    .with_context(|| format!("cannot write {}", out.display()))?;
    let vkey = key.verifier();
    if ctx.json {
        ctx.print_json(&json!({
            "verifier_key": vkey.to_string(),
            "key_id": vkey.key_id_hex(),
            "signer_key_file": out,
        }))?;
    } else {
        writeln!(ctx.out, "{vkey}")?;
        eprintln!(
            "wrote the signer key to {} (keep it secret); {hint}",
            out.display()
        );
    }
    Ok(EXIT_OK)
}

fn write_secret(path: &std::path::Path, data: &[u8], force: bool) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(data)?;
    f.sync_all()
}
