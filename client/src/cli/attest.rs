//! `attestlog attest new|check|sign`: write, validate and sign data-flow statements.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use attestlog_proto::cose::SignedStatement;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::SignerKey;
use attestlog_proto::predicate::{
    FieldError, PAYLOAD_TYPE_INTOTO, Statement, explain, parse_statement, template,
};
use attestlog_proto::rules;
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Ctx, EXIT_FAILURE, EXIT_OK, read_bytes, read_text};

/// `attestlog attest`.
#[derive(Debug, Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    command: AttestCommand,
}

#[derive(Debug, Subcommand)]
enum AttestCommand {
    /// Print a complete statement template with a fresh random attestation_id; edit every
    /// value, then `attest check` and `attest sign` it.
    New {
        /// Instead of the template, document every field of the statement.
        #[arg(long)]
        explain: bool,
        /// Write the template to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Start the next version of a logged attestation (by the index of any of its
        /// versions, or its attestation id): the current version's statement (the head of
        /// its chain, read from --log) with `supersedes` naming it and `issued_at` now.
        #[arg(long, value_name = "INDEX|ATTESTATION_ID", conflicts_with = "explain")]
        supersedes: Option<String>,
    },
    /// Validate a statement locally with the same field-path errors as the server; exits 1
    /// if it is invalid.
    Check {
        /// The statement (in-toto Statement v1 JSON).
        file: PathBuf,
    },
    /// Sign a statement: a DSSE envelope over the statement's canonical (JCS) bytes, or with
    /// `--format cose` a SCITT signed statement (COSE_Sign1, EdDSA, the statement attached,
    /// protected kid and CWT claims iss = key name, sub = attestation_id) for `POST /entries`.
    Sign {
        /// The signer key file written by `key generate`.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Envelope format: `dsse` (JSON, for /v1/entries) or `cose` (binary COSE_Sign1, for
        /// the SCITT API). `attestlog submit` sends either to the right endpoint.
        #[arg(long, value_enum, default_value_t = Format::Dsse)]
        format: Format,
        /// The statement to sign (checked first).
        statement: PathBuf,
        /// Write the envelope to OUT instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

/// The signature envelope `attest sign` and `check-traffic --sign` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A DSSE envelope (JSON).
    Dsse,
    /// A SCITT signed statement: a tagged COSE_Sign1 (CBOR).
    Cose,
}

impl Format {
    /// A statement's canonical bytes `payload` signed by `key` in this format, and what it is
    /// called: a DSSE envelope (its canonical JSON and a newline), or a SCITT signed statement
    /// whose `sub` is the one the log requires of the statement ([`rules::cose_subject`]: an
    /// attestation's id, or the id of the attestation a verification verifies).
    ///
    /// # Errors
    /// For `cose`, a payload that names no subject.
    pub(crate) fn sign(
        self,
        key: &SignerKey,
        payload: &[u8],
    ) -> anyhow::Result<(Vec<u8>, &'static str)> {
        Ok(match self {
            Format::Dsse => {
                let mut bytes =
                    Envelope::sign(PAYLOAD_TYPE_INTOTO, payload, &[key]).canonical_bytes();
                bytes.push(b'\n');
                (bytes, "envelope")
            }
            Format::Cose => {
                let v: serde_json::Value = serde_json::from_slice(payload)?;
                let sub = rules::cose_subject(&v)
                    .context("the statement names no subject for the COSE sub claim")?;
                (
                    SignedStatement::sign(payload, key, sub).to_entry(),
                    "COSE signed statement",
                )
            }
        })
    }
}

pub(crate) fn run(args: AttestArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    match args.command {
        AttestCommand::New {
            explain,
            output,
            supersedes,
        } => new(ctx, explain, output.as_deref(), supersedes.as_deref()),
        AttestCommand::Check { file } => check(ctx, &file),
        AttestCommand::Sign {
            key,
            format,
            statement,
            output,
        } => sign(ctx, &key, format, &statement, output.as_deref()),
    }
}

/// A random (version 4) UUID.
pub(crate) fn random_uuid() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(attestlog_proto::predicate::uuid_v4(b))
}

/// The next version of a logged attestation: its current version (the head of its chain) with
/// `supersedes` naming the head and `issued_at` now.
fn next_version(ctx: &Ctx<'_>, of: &str) -> anyhow::Result<serde_json::Value> {
    let client = ctx.client()?;
    let rt = super::runtime()?;
    let id = match of.parse::<u64>() {
        Ok(index) => {
            let entry = rt.block_on(client.entry(index))?;
            crate::versions::entry_statement(&entry)?
                .attestation_id()
                .to_owned()
        }
        Err(_) => of.to_owned(),
    };
    let all = rt
        .block_on(crate::versions::versions(&client, &id))?
        .ok_or_else(|| anyhow::anyhow!("attestation {id} is not in the log"))?;
    let head = all.current();
    let mut t = serde_json::to_value(&head.statement)?;
    t["predicate"]["supersedes"] = json!({"attestation_id": id, "log_index": head.entry.index});
    let now = u64::try_from(super::now_unix()).unwrap_or(0);
    t["predicate"]["issued_at"] = json!(attestlog_proto::predicate::format_rfc3339(now));
    Ok(t)
}

fn new(
    ctx: &mut Ctx<'_>,
    explain_fields: bool,
    output: Option<&Path>,
    supersedes: Option<&str>,
) -> anyhow::Result<u8> {
    if explain_fields {
        let fields = explain();
        if ctx.json {
            let v: Vec<_> = fields
                .iter()
                .map(|(f, d)| json!({"field": f, "doc": d}))
                .collect();
            ctx.print_json(&v)?;
        } else {
            let width = fields.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
            for (f, d) in fields {
                writeln!(ctx.out, "{f:width$}  {d}")?;
            }
        }
        return Ok(EXIT_OK);
    }
    let t = match supersedes {
        Some(of) => next_version(ctx, of)?,
        None => {
            let mut t = template();
            t["predicate"]["attestation_id"] = json!(random_uuid()?);
            t
        }
    };
    let text = format!("{}\n", serde_json::to_string_pretty(&t)?);
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
            if ctx.json {
                ctx.print_json(
                    &json!({"written": p, "attestation_id": t["predicate"]["attestation_id"]}),
                )?;
            } else {
                writeln!(ctx.out, "wrote a statement template to {}", p.display())?;
            }
        }
        None => ctx.out.write_all(text.as_bytes())?,
    }
    Ok(EXIT_OK)
}

fn report_errors(ctx: &mut Ctx<'_>, file: &Path, errors: &[FieldError]) -> anyhow::Result<()> {
    if ctx.json {
        let errs: Vec<_> = errors
            .iter()
            .map(|e| json!({"field": e.path, "message": e.message}))
            .collect();
        ctx.print_json(&json!({"valid": false, "errors": errs}))?;
    } else {
        writeln!(ctx.out, "{}: invalid statement", file.display())?;
        for e in errors {
            writeln!(ctx.out, "  {e}")?;
        }
    }
    Ok(())
}

/// Reads and validates a statement; on failure reports the errors and returns `None`.
fn load_statement(ctx: &mut Ctx<'_>, file: &Path) -> anyhow::Result<Option<Statement>> {
    let bytes = read_bytes(file)?;
    match parse_statement(&bytes) {
        Ok(s) => Ok(Some(s)),
        Err(errors) => {
            report_errors(ctx, file, &errors)?;
            Ok(None)
        }
    }
}

fn check(ctx: &mut Ctx<'_>, file: &Path) -> anyhow::Result<u8> {
    let Some(st) = load_statement(ctx, file)? else {
        return Ok(EXIT_FAILURE);
    };
    if ctx.json {
        ctx.print_json(&json!({
            "valid": true,
            "attestation_id": st.attestation_id(),
            "vendor": st.vendor_legal_name(),
            "product": st.predicate.product.name,
        }))?;
    } else {
        writeln!(
            ctx.out,
            "{}: valid statement {} by {:?} for {:?}",
            file.display(),
            st.attestation_id(),
            st.vendor_legal_name(),
            st.predicate.product.name
        )?;
    }
    Ok(EXIT_OK)
}

fn sign(
    ctx: &mut Ctx<'_>,
    key_file: &Path,
    format: Format,
    file: &Path,
    output: Option<&Path>,
) -> anyhow::Result<u8> {
    let key = SignerKey::parse(read_text(key_file)?.trim())
        .with_context(|| format!("{} does not hold a signer key", key_file.display()))?;
    let Some(st) = load_statement(ctx, file)? else {
        return Ok(EXIT_FAILURE);
    };
    let (bytes, what) = format.sign(&key, &st.canonical_bytes())?;
    let keyid = key.verifier().key_id_hex();
    match output {
        Some(p) => {
            std::fs::write(p, &bytes).with_context(|| format!("cannot write {}", p.display()))?;
            if ctx.json {
                ctx.print_json(&json!({"written": p, "keyid": keyid}))?;
            } else {
                writeln!(
                    ctx.out,
                    "wrote the {what} signed by key {keyid} to {}",
                    p.display()
                )?;
            }
        }
        None => ctx.out.write_all(&bytes)?,
    }
    Ok(EXIT_OK)
}
