//! `attestlog prove inclusion|consistency`: proofs computed from verified tiles.

use anyhow::Context as _;
use attestlog_proto::Hash;
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, EXIT_OK, TrustArgs};
use crate::verifier::VerifiedCheckpoint;

/// `attestlog prove`.
#[derive(Debug, Args)]
#[command(after_help = "\
The checkpoint is verified with --log-key or --policy; every tile read is verified against it \
before use; the proof is computed locally from those tiles and verified with the RFC 9162 \
algorithms.")]
pub struct ProveArgs {
    #[command(subcommand)]
    command: ProveCommand,
}

#[derive(Debug, Subcommand)]
enum ProveCommand {
    /// Prove that an entry is in the latest checkpoint's tree.
    Inclusion {
        /// The entry's index.
        #[arg(required_unless_present = "leaf_hash", conflicts_with = "leaf_hash")]
        index: Option<u64>,
        /// The entry's leaf hash (lowercase hex) instead of its index.
        #[arg(long, value_name = "HEX")]
        leaf_hash: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Prove that the tree of size SECOND extends the tree of size FIRST (both at most the
    /// latest checkpoint's size).
    Consistency {
        /// The smaller tree size.
        first: u64,
        /// The larger tree size.
        second: u64,
        #[command(flatten)]
        trust: TrustArgs,
    },
}

fn b64(h: &[Hash]) -> Vec<String> {
    h.iter().map(Hash::to_base64).collect()
}

pub(crate) fn run(args: ProveArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let trust = match &args.command {
        ProveCommand::Inclusion { trust, .. } | ProveCommand::Consistency { trust, .. } => trust,
    };
    let mut v = trust.verifier(ctx)?;
    let rt = super::runtime()?;
    let cp = rt.block_on(v.checkpoint())?;
    match args.command {
        ProveCommand::Inclusion {
            index, leaf_hash, ..
        } => {
            let index = match (index, leaf_hash) {
                (Some(i), _) => i,
                (None, Some(h)) => {
                    let h = Hash::from_hex(&h)
                        .context("--leaf-hash must be 64 lowercase hex digits")?;
                    let p = rt
                        .block_on(v.client().inclusion_proof_by_hash(&h, cp.size()))
                        .context("looking up the leaf hash")?;
                    let leaf = rt.block_on(v.leaf_hash(&cp, p.index))?;
                    anyhow::ensure!(
                        leaf.ct_eq(&h),
                        "the log says leaf {h} is at index {}, but the verified tiles disagree",
                        p.index
                    );
                    p.index
                }
                (None, None) => anyhow::bail!("give an INDEX or --leaf-hash"),
            };
            let (leaf, proof) = rt.block_on(v.prove_inclusion(&cp, index))?;
            let head = format!(
                "entry {index} (leaf hash {}) is included in tree size {} with root {}\n\
                 proof ({} hashes, verified):",
                leaf.to_hex(),
                cp.size(),
                cp.root(),
                proof.len()
            );
            let fields = json!({
                "index": index,
                "tree_size": cp.size(),
                "leaf_hash": leaf,
                "root": cp.root(),
            });
            print_proof(ctx, fields, &head, &proof, &cp)?;
        }
        ProveCommand::Consistency { first, second, .. } => {
            let (r1, r2, proof) = rt.block_on(v.prove_consistency(&cp, first, second))?;
            let head = format!(
                "tree size {second} (root {r2}) extends tree size {first} (root {r1})\n\
                 proof ({} hashes, verified against checkpoint size {}):",
                proof.len(),
                cp.size()
            );
            let fields = json!({
                "first": first,
                "second": second,
                "first_root": r1,
                "second_root": r2,
            });
            print_proof(ctx, fields, &head, &proof, &cp)?;
        }
    }
    Ok(EXIT_OK)
}

/// Prints a verified proof: as JSON (`fields` plus the hashes and the checkpoint), or as the
/// `head` line(s) followed by one hash per line.
fn print_proof(
    ctx: &mut Ctx<'_>,
    mut fields: serde_json::Value,
    head: &str,
    proof: &[Hash],
    cp: &VerifiedCheckpoint,
) -> anyhow::Result<()> {
    if ctx.json {
        fields["hashes"] = json!(b64(proof));
        fields["checkpoint"] = json!(String::from_utf8_lossy(&cp.to_bytes()));
        fields["verified"] = json!(true);
        return ctx.print_json(&fields);
    }
    writeln!(ctx.out, "{head}")?;
    for h in proof {
        writeln!(ctx.out, "  {h}")?;
    }
    Ok(())
}
