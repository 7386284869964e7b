//! `attestlog check-traffic`: what a product connected to, against what its claim declares;
//! optionally the signed verification statement of the result.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use attestlog_proto::api::Receipt;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::SignerKey;
use attestlog_proto::predicate::{Statement, format_rfc3339, parse_statement};
use attestlog_proto::verification::{
    Environment, Performed, Verdict, VerificationEvidence, VerifierInfo,
};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::attest::Format;
use super::{Ctx, EXIT_FAILURE, EXIT_OK, TrustArgs, now_unix, read_bytes, read_text};
use crate::traffic::analysis::{ClaimEntry, VerificationInfo, analyse};
use crate::traffic::geoip::GeoIp;
use crate::traffic::{Limits, read_capture};

/// `attestlog check-traffic`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads a pcap or pcapng capture (Ethernet, Linux cooked or raw IP; IPv4 and IPv6; TCP and UDP), \
a Zeek conn.log or a CSV of connections (columns dst_ip, dst_port; optional proto, hostname, \
bytes_sent, bytes_received, bytes, ts). Remote endpoints are named from the capture's TLS SNI \
and DNS answers and matched against the claim's declared destinations (host names with *. \
wildcards, ip ranges, ports). With --geoip (a MaxMind DB file) each endpoint gets a country; \
any in excluded_jurisdictions, or outside the flow's declared processing countries, \
contradicts the claim.

Exit status: 0 when the verdict is consistent or inconclusive, 1 when it is contradicted (or \
on an error). With --sign the verification statement is written (to a temporary file renamed \
into place: nothing is left half-written) whatever the verdict; submit it with \
`attestlog submit`.")]
pub struct CheckTrafficArgs {
    /// The claim: a receipt file (from `submit` or `get --receipt`), a DSSE envelope or a
    /// statement. Instead, --attestation fetches it from the log.
    #[arg(value_name = "FILE", required_unless_present = "attestation")]
    claim: Option<PathBuf>,
    /// The log index of the claim; fetched from --log and its receipt verified (needs
    /// --log-key or --policy).
    #[arg(long, value_name = "INDEX", conflicts_with = "claim")]
    attestation: Option<u64>,
    /// The capture: pcap, pcapng, Zeek conn.log or CSV of connections.
    #[arg(long, value_name = "FILE")]
    capture: PathBuf,
    /// A MaxMind DB file (GeoIP2/GeoLite2 Country or City) for endpoint countries.
    #[arg(long, value_name = "FILE.mmdb")]
    geoip: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Sign the verification statement with this verifier key file (from `key generate`).
    #[arg(long, value_name = "KEY", requires = "output")]
    sign: Option<PathBuf>,
    /// Where to write the signed verification statement (with --sign).
    #[arg(short, long, value_name = "FILE", requires = "sign")]
    output: Option<PathBuf>,
    /// Envelope of the signed verification statement (with --sign): `dsse` (JSON, for
    /// /v1/entries) or `cose` (a SCITT signed statement, for POST /entries, its `sub` the
    /// verified attestation's id), as `attest sign --format`. `attestlog submit` sends either
    /// to the right endpoint.
    #[arg(long, value_enum, default_value_t = Format::Dsse, requires = "sign")]
    format: Format,
    /// The verifier's legal name, exactly as its key is enrolled (with --sign).
    #[arg(long, value_name = "NAME")]
    verifier: Option<String>,
    /// The verifier's country (ISO 3166-1 alpha-2, with --sign).
    #[arg(long, value_name = "CC")]
    verifier_jurisdiction: Option<String>,
    /// The verifier's accreditation, if any.
    #[arg(long, value_name = "TEXT")]
    accreditation: Option<String>,
    /// The product version tested (with --sign).
    #[arg(long, value_name = "VERSION")]
    product_version: Option<String>,
    /// The platform tested (with --sign).
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// The country of the network the product ran in (with --sign).
    #[arg(long, value_name = "CC")]
    network_country: Option<String>,
    /// Where the capture is published; the statement names it with its SHA-256.
    #[arg(long, value_name = "URI")]
    evidence_uri: Option<String>,
    /// The log index of this verifier's previous verification of the same claim.
    #[arg(long, value_name = "INDEX")]
    supersedes: Option<u64>,
    /// Start of the test (RFC 3339); default the capture's first packet.
    #[arg(long, value_name = "TIME")]
    performed_from: Option<String>,
    /// End of the test (RFC 3339); default the capture's last packet.
    #[arg(long, value_name = "TIME")]
    performed_to: Option<String>,
}

/// A claim and, when known, its log entry.
struct Claim {
    statement: Statement,
    entry: Option<ClaimEntry>,
}

fn load_claim(args: &CheckTrafficArgs, ctx: &Ctx<'_>) -> anyhow::Result<Claim> {
    if let Some(index) = args.attestation {
        if !args.trust.given() {
            bail!("--attestation verifies the claim's receipt: give --log-key or --policy");
        }
        let client = ctx.client()?;
        let e = super::runtime()?.block_on(client.entry(index))?;
        return claim_from_receipt(&e.receipt, &args.trust)
            .with_context(|| format!("the entry at index {index}"));
    }
    let Some(path) = &args.claim else {
        bail!("give the claim as FILE or --attestation INDEX");
    };
    let bytes = read_bytes(path)?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    if value.get("proof").is_some() && value.get("entry").is_some() {
        let r: Receipt = serde_json::from_value(value)
            .with_context(|| format!("{} is not a receipt", path.display()))?;
        if args.trust.given() {
            return claim_from_receipt(&r, &args.trust);
        }
        if args.sign.is_some() {
            bail!("--sign needs the claim's receipt verified: give --log-key or --policy");
        }
        let entry = base64_decode(&r.entry)?;
        let env = Envelope::parse_entry(&entry).context("the receipt's entry")?;
        return Ok(Claim {
            statement: statement_of(&env.payload)?,
            entry: None,
        });
    }
    if args.sign.is_some() {
        bail!(
            "--sign needs the claim's log entry: give --attestation INDEX or the claim's receipt"
        );
    }
    let payload = if value.get("payloadType").is_some() {
        Envelope::from_json(&bytes)
            .with_context(|| format!("{} is not a DSSE envelope", path.display()))?
            .payload
    } else {
        bytes
    };
    Ok(Claim {
        statement: statement_of(&payload)?,
        entry: None,
    })
}

fn base64_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .context("the receipt's entry is not base64")
}

fn statement_of(payload: &[u8]) -> anyhow::Result<Statement> {
    parse_statement(payload).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the claim is not a valid data-flow attestation: {}",
            list.join("; ")
        )
    })
}

fn claim_from_receipt(r: &Receipt, trust: &TrustArgs) -> anyhow::Result<Claim> {
    let v = attestlog_proto::receipt::verify_receipt(r, &trust.trust()?)
        .map_err(|e| anyhow::anyhow!("its receipt does not verify: {e}"))?;
    let Some(statement) = v.statement() else {
        bail!("it is not a data-flow attestation");
    };
    Ok(Claim {
        statement: statement.clone(),
        entry: Some(ClaimEntry {
            log_index: v.index(),
            entry: v.entry().to_vec(),
        }),
    })
}

/// The progress bar for reading `path`: on a terminal (`terminal`), for captures of 8 MiB and
/// more, its length the file's size.
fn progress_bar(path: &Path, terminal: bool) -> Option<ProgressBar> {
    if !terminal {
        return None;
    }
    let len = std::fs::metadata(path).ok()?.len();
    // Small captures are read before a bar would be seen.
    if len < 8 * 1024 * 1024 {
        return None;
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "reading {msg} {wide_bar} {binary_bytes}/{binary_total_bytes} ({eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(path.display().to_string());
    Some(bar)
}

pub(crate) fn run(args: CheckTrafficArgs, ctx: &mut Ctx<'_>) -> anyhow::Result<u8> {
    let claim = load_claim(&args, ctx)?;
    // Everything the signature needs is checked before the capture is read.
    let signing = match &args.sign {
        Some(key_file) => Some(signing_inputs(&args, key_file, &claim)?),
        None => None,
    };
    let geoip = args.geoip.as_deref().map(GeoIp::open).transpose()?;
    let bar = progress_bar(&args.capture, std::io::stderr().is_terminal());
    let report_progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let obs = read_capture(&args.capture, Limits::default(), &report_progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let obs = obs?;
    let report = analyse(&claim.statement, &obs, geoip.as_ref())?;
    let mut written = None;
    if let (Some((key, entry, mut info)), Some(out)) = (signing, &args.output) {
        let from = args
            .performed_from
            .clone()
            .or_else(|| obs.first_seen.map(time_text));
        let to = args
            .performed_to
            .clone()
            .or_else(|| obs.last_seen.map(time_text));
        let (Some(from), Some(to)) = (from, to) else {
            bail!("the capture has no times: give --performed-from and --performed-to");
        };
        info.performed = Performed { from, to };
        let statement = report.verification(&entry, info).map_err(|errs| {
            let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the verification statement is invalid: {}", list.join("; "))
        })?;
        let (bytes, _) = args.format.sign(&key, &statement.canonical_bytes())?;
        attestlog_serve::fs::write_atomic(out, &bytes, 0o644)
            .with_context(|| format!("cannot write {}", out.display()))?;
        written = Some(out.clone());
    }
    if ctx.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(p) = &written {
            v["written"] = json!(p);
        }
        ctx.print_json(&v)?;
    } else {
        write!(ctx.out, "{}", report.render_text())?;
        if let Some(p) = &written {
            writeln!(
                ctx.out,
                "wrote the signed verification statement to {}",
                p.display()
            )?;
        }
    }
    Ok(if report.verdict == Verdict::Contradicted {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}

fn time_text(unix: i64) -> String {
    format_rfc3339(u64::try_from(unix).unwrap_or(0))
}

/// The key, the claim's entry and the verifier's statements, or an error naming every
/// missing option.
fn signing_inputs(
    args: &CheckTrafficArgs,
    key_file: &Path,
    claim: &Claim,
) -> anyhow::Result<(SignerKey, ClaimEntry, VerificationInfo)> {
    let key = SignerKey::parse(read_text(key_file)?.trim())
        .with_context(|| format!("{} does not hold a signer key", key_file.display()))?;
    let Some(entry) = claim.entry.clone() else {
        bail!("--sign needs the claim's log entry: give --attestation INDEX or its receipt");
    };
    let mut missing = Vec::new();
    for (flag, v) in [
        ("--verifier", &args.verifier),
        ("--verifier-jurisdiction", &args.verifier_jurisdiction),
        ("--product-version", &args.product_version),
        ("--platform", &args.platform),
        ("--network-country", &args.network_country),
    ] {
        if v.is_none() {
            missing.push(flag);
        }
    }
    if !missing.is_empty() {
        bail!("--sign needs {}", missing.join(", "));
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut evidence = Vec::new();
    if let Some(uri) = &args.evidence_uri {
        let sha = sha256_file(&args.capture)?;
        evidence.push(VerificationEvidence {
            uri: uri.clone(),
            sha256: sha,
        });
    }
    let info = VerificationInfo {
        verifier: VerifierInfo {
            legal_name: opt(&args.verifier),
            jurisdiction: opt(&args.verifier_jurisdiction),
            accreditation: args.accreditation.clone(),
        },
        environment: Environment {
            product_version: opt(&args.product_version),
            platform: opt(&args.platform),
            network_country: opt(&args.network_country),
        },
        performed: Performed {
            from: String::new(),
            to: String::new(),
        },
        issued_at: format_rfc3339(u64::try_from(now_unix()).unwrap_or(0)),
        supersedes: args.supersedes,
        evidence,
    };
    Ok((key, entry, info))
}

fn sha256_file(p: &Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)
            .with_context(|| format!("cannot read {}", p.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::traffic::testing::{Frames, LinkType, Packet, Tcp, pcap_file};

    /// The bar is shown on a terminal for a large capture, follows the reader to the end of
    /// the file, and is not shown for a small capture or off a terminal.
    #[test]
    fn progress_bar_follows_a_large_capture_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let f = Frames {
            link: LinkType::RawIp,
        };
        let data = f.tcp(
            ("10.0.0.2".parse().unwrap(), 50_000),
            ("192.0.2.10".parse().unwrap(), 443),
            Tcp::Data,
            &[0xab; 1400],
        );
        let packets = vec![Packet { time: 1, data }; 7_000];
        let large = dir.path().join("large.pcap");
        std::fs::write(&large, pcap_file(LinkType::RawIp, &packets)).unwrap();
        let small = dir.path().join("small.pcap");
        std::fs::write(&small, pcap_file(LinkType::RawIp, &packets[..10])).unwrap();
        let size = std::fs::metadata(&large).unwrap().len();
        assert!(size >= 8 * 1024 * 1024);
        assert!(progress_bar(&large, false).is_none());
        assert!(progress_bar(&small, true).is_none());
        let bar = progress_bar(&large, true).unwrap();
        assert_eq!(bar.length(), Some(size));
        let moves = std::sync::atomic::AtomicU64::new(0);
        let obs = read_capture(&large, Limits::default(), &|n| {
            bar.set_position(n);
            moves.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(obs.packets, 7_000);
        assert_eq!(bar.position(), size);
        assert!(moves.into_inner() > 10, "the bar moved in steps");
    }
}
