//! Matching observed endpoints against a claim's declared destinations.
//!
//! An endpoint matches a destination when one of its names matches one of the destination's
//! `hostnames` (`*.d` = any name under `d`) or its address lies in one of its `ip_ranges`,
//! and, if the destination lists `ports`, its port is one of them. Its names are the TLS SNI
//! of its connections, else every name the capture's DNS answers gave its address.
//!
//! With a GeoIP database, an endpoint is flagged when its country is in the claim's
//! `excluded_jurisdictions`, or (for an endpoint of a data flow) is none of the flow's
//! `processing_locations[].country`.
//!
//! Results: a flow is `contradicted` if one of its endpoints is flagged, `consistent` if it
//! was seen and none is, `not_tested` if none of its destinations was seen. The verdict is
//! `contradicted` if a flow is, or an undeclared endpoint is in an excluded country;
//! `inconclusive` if there are other undeclared endpoints or no flow was seen; else
//! `consistent`. An undeclared endpoint outside the excluded countries is `inconclusive`, not
//! `contradicted`: it belongs to no flow, and a capture shows where the product connected, not
//! what it sent (docs/check-traffic.md, "Undeclared endpoints").

use std::collections::BTreeSet;
use std::net::IpAddr;

use attestlog_proto::predicate::{IpRange, Statement, hostname_matches};
use attestlog_proto::verification::{
    self, Environment, Finding, FindingResult, Observed, Performed, SubjectEntry, Verdict,
    Verification, VerificationEvidence, VerificationStatement, VerificationSupersedes,
    VerifierInfo,
};
use serde::Serialize;

use super::geoip::GeoIp;
use super::{CaptureFormat, EndpointKey, EndpointStats, Observations, TrafficError, Transport};

/// Why an endpoint is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Its country is in `excluded_jurisdictions`.
    ExcludedJurisdiction,
    /// Its country is none of the flow's declared processing locations.
    OutsideDeclaredLocations,
}

/// One remote endpoint in the report.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    /// The name it is shown by (its SNI, else its first DNS name), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Every name known for it.
    pub names: Vec<String>,
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// Connections to it.
    pub connections: u64,
    /// Bytes the product sent to it.
    pub bytes_sent: u64,
    /// Bytes it sent to the product.
    pub bytes_received: u64,
    /// Its country, with a GeoIP database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Why it is flagged (empty: not flagged).
    pub flags: Vec<Flag>,
}

impl EndpointReport {
    /// Total bytes both ways.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes_sent.saturating_add(self.bytes_received)
    }

    fn observed(&self) -> Observed {
        Observed {
            hostname: self.hostname.clone(),
            ip: self.ip.to_string(),
            port: self.port,
            country: self.country.clone(),
            bytes: Some(self.bytes()),
        }
    }
}

/// One declared destination and the endpoints seen for it.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationReport {
    /// Declared host names.
    pub hostnames: Vec<String>,
    /// Declared address ranges.
    pub ip_ranges: Vec<String>,
    /// Declared ports (empty: any).
    pub ports: Vec<u16>,
    /// Endpoints that matched it (declared and seen); empty = declared and not seen.
    pub seen: Vec<EndpointReport>,
}

/// One data flow of the claim.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// Index in `predicate.data_flows`.
    pub index: usize,
    /// The flow's category.
    pub category: String,
    /// The countries it declares (processing locations).
    pub declared_countries: Vec<String>,
    /// Its destinations.
    pub destinations: Vec<DestinationReport>,
    /// The result.
    pub result: FindingResult,
    /// A one-line explanation.
    pub note: String,
}

/// What was read.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureSummary {
    /// Input kind.
    pub format: CaptureFormat,
    /// Packets (or connection records) read.
    pub packets: u64,
    /// Packets without TCP or UDP over IP.
    pub other_packets: u64,
    /// Remote endpoints.
    pub endpoints: usize,
    /// Connections to the local network (not matched).
    pub local_connections: u64,
    /// First and last packet, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    /// See `first_seen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
    /// What the reader skipped.
    pub warnings: Vec<String>,
}

/// The whole result of `check-traffic`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The claim's attestation id.
    pub attestation_id: String,
    /// The vendor.
    pub vendor: String,
    /// The product.
    pub product: String,
    /// The claim's excluded jurisdictions.
    pub excluded_jurisdictions: Vec<String>,
    /// The GeoIP database used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geoip: Option<String>,
    /// What was read.
    pub capture: CaptureSummary,
    /// Per data flow.
    pub flows: Vec<FlowReport>,
    /// Endpoints that match no declared destination.
    pub undeclared: Vec<EndpointReport>,
    /// The verdict.
    pub verdict: Verdict,
}

fn destination_matches(
    d: &attestlog_proto::predicate::Destination,
    names: &[String],
    key: &EndpointKey,
) -> bool {
    let port_ok = d
        .ports
        .as_ref()
        .is_none_or(|p| p.is_empty() || p.contains(&key.port));
    let host = d
        .hostnames
        .iter()
        .flatten()
        .any(|pat| names.iter().any(|n| hostname_matches(pat, n)));
    let range = d
        .ip_ranges
        .iter()
        .flatten()
        .filter_map(|r| IpRange::parse(r))
        .any(|r| r.contains(key.ip));
    port_ok && (host || range)
}

/// Matches `obs` against the claim `st`, with countries from `geoip` if given.
///
/// # Errors
/// A GeoIP lookup that fails (a corrupt database).
pub fn analyse(
    st: &Statement,
    obs: &Observations,
    geoip: Option<&GeoIp>,
) -> Result<Report, TrafficError> {
    let p = &st.predicate;
    let excluded: BTreeSet<String> = p.excluded_jurisdictions.iter().flatten().cloned().collect();
    let mut flows: Vec<FlowReport> = p
        .data_flows
        .iter()
        .enumerate()
        .map(|(i, f)| FlowReport {
            index: i,
            category: f.category.as_string(),
            declared_countries: f
                .processing_locations
                .iter()
                .map(|l| l.country.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            destinations: f
                .destinations
                .iter()
                .map(|d| DestinationReport {
                    hostnames: d.hostnames.clone().unwrap_or_default(),
                    ip_ranges: d.ip_ranges.clone().unwrap_or_default(),
                    ports: d.ports.clone().unwrap_or_default(),
                    seen: Vec::new(),
                })
                .collect(),
            result: FindingResult::NotTested,
            note: String::new(),
        })
        .collect();
    let mut undeclared = Vec::new();
    for (key, stats) in &obs.endpoints {
        let names = obs.names_of(key);
        let country = match geoip {
            Some(g) => g.country(key.ip)?,
            None => None,
        };
        let base = endpoint(key, stats, names.clone(), country.clone());
        let mut matched = false;
        for (fi, f) in p.data_flows.iter().enumerate() {
            for (di, d) in f.destinations.iter().enumerate() {
                if !destination_matches(d, &names, key) {
                    continue;
                }
                matched = true;
                let mut e = base.clone();
                if let Some(c) = &country {
                    if excluded.contains(c) {
                        e.flags.push(Flag::ExcludedJurisdiction);
                    }
                    if !flows[fi].declared_countries.contains(c) {
                        e.flags.push(Flag::OutsideDeclaredLocations);
                    }
                }
                flows[fi].destinations[di].seen.push(e);
            }
        }
        if !matched {
            let mut e = base;
            if e.country.as_ref().is_some_and(|c| excluded.contains(c)) {
                e.flags.push(Flag::ExcludedJurisdiction);
            }
            undeclared.push(e);
        }
    }
    for f in &mut flows {
        let seen: Vec<&EndpointReport> = f.destinations.iter().flat_map(|d| &d.seen).collect();
        let flagged = seen.iter().filter(|e| !e.flags.is_empty()).count();
        let not_seen = f.destinations.iter().filter(|d| d.seen.is_empty()).count();
        f.result = if flagged > 0 {
            FindingResult::Contradicted
        } else if seen.is_empty() {
            FindingResult::NotTested
        } else {
            FindingResult::Consistent
        };
        f.note = format!(
            "{} endpoint(s) seen for {} declared destination(s), {not_seen} declared destination(s) not seen, {flagged} endpoint(s) in excluded or undeclared countries",
            seen.len(),
            f.destinations.len(),
        );
    }
    let verdict = if flows
        .iter()
        .any(|f| f.result == FindingResult::Contradicted)
        || undeclared.iter().any(|e| !e.flags.is_empty())
    {
        Verdict::Contradicted
    } else if !undeclared.is_empty() || flows.iter().all(|f| f.result == FindingResult::NotTested) {
        Verdict::Inconclusive
    } else {
        Verdict::Consistent
    };
    Ok(Report {
        attestation_id: p.attestation_id.clone(),
        vendor: p.vendor.legal_name.clone(),
        product: p.product.name.clone(),
        excluded_jurisdictions: excluded.into_iter().collect(),
        geoip: geoip.map(GeoIp::describe),
        capture: CaptureSummary {
            format: obs.format,
            packets: obs.packets,
            other_packets: obs.other_packets,
            endpoints: obs.endpoints.len(),
            local_connections: obs.local_connections,
            first_seen: obs.first_seen,
            last_seen: obs.last_seen,
            warnings: obs.warnings.clone(),
        },
        flows,
        undeclared,
        verdict,
    })
}

fn endpoint(
    key: &EndpointKey,
    stats: &EndpointStats,
    names: Vec<String>,
    country: Option<String>,
) -> EndpointReport {
    EndpointReport {
        hostname: names.first().cloned(),
        names,
        ip: key.ip,
        port: key.port,
        transport: key.transport,
        connections: stats.connections,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        country,
        flags: Vec::new(),
    }
}

/// The verified claim entry a verification statement is about.
#[derive(Debug, Clone)]
pub struct ClaimEntry {
    /// Its log index.
    pub log_index: u64,
    /// Its entry bytes (the canonical DSSE envelope).
    pub entry: Vec<u8>,
}

/// What the verifier says about itself and the test, beyond the capture.
#[derive(Debug, Clone)]
pub struct VerificationInfo {
    /// Verifier.
    pub verifier: VerifierInfo,
    /// Test environment.
    pub environment: Environment,
    /// When the test was performed.
    pub performed: Performed,
    /// Issue time (RFC 3339).
    pub issued_at: String,
    /// The verification this one supersedes.
    pub supersedes: Option<u64>,
    /// Evidence (e.g. the capture by URI and SHA-256).
    pub evidence: Vec<VerificationEvidence>,
}

impl Report {
    /// The verification statement of this report about `claim`.
    ///
    /// # Errors
    /// The statement does not validate (e.g. a bad country code in `info`): every problem,
    /// each at its field path.
    pub fn verification(
        &self,
        claim: &ClaimEntry,
        info: VerificationInfo,
    ) -> Result<VerificationStatement, Vec<attestlog_proto::predicate::FieldError>> {
        let leaf = attestlog_proto::Hash::leaf(&claim.entry);
        let statement = VerificationStatement {
            type_: attestlog_proto::predicate::STATEMENT_TYPE.to_owned(),
            subject: vec![attestlog_proto::predicate::Subject {
                name: verification::subject_name(claim.log_index),
                digest: [(
                    "sha256".to_owned(),
                    attestlog_proto::Hash::sha256(&claim.entry).to_hex(),
                )]
                .into(),
                extra: Default::default(),
            }],
            predicate_type: verification::PREDICATE_TYPE.to_owned(),
            predicate: Verification {
                subject_entry: SubjectEntry {
                    log_index: claim.log_index,
                    leaf_hash: leaf.to_hex(),
                    attestation_id: self.attestation_id.clone(),
                },
                supersedes: info
                    .supersedes
                    .map(|log_index| VerificationSupersedes { log_index }),
                issued_at: info.issued_at,
                verifier: info.verifier,
                method: "traffic_capture".to_owned(),
                performed: info.performed,
                environment: info.environment,
                findings: self
                    .flows
                    .iter()
                    .map(|f| Finding {
                        data_flow: f.index as u64,
                        result: f.result,
                        observed: f
                            .destinations
                            .iter()
                            .flat_map(|d| &d.seen)
                            .map(EndpointReport::observed)
                            .collect(),
                        note: f.note.clone(),
                    })
                    .collect(),
                undeclared: self
                    .undeclared
                    .iter()
                    .map(EndpointReport::observed)
                    .collect(),
                verdict: self.verdict,
                evidence: info.evidence,
                extra: Default::default(),
            },
            extra: Default::default(),
        };
        // What we sign must pass the same validation the log applies.
        verification::parse_statement(&statement.canonical_bytes())
    }

    /// The report as readable text.
    #[must_use]
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "claim {} by {:?} for {:?}",
            self.attestation_id, self.vendor, self.product
        );
        if !self.excluded_jurisdictions.is_empty() {
            let _ = writeln!(
                s,
                "excluded jurisdictions: {}",
                self.excluded_jurisdictions.join(", ")
            );
        }
        let c = &self.capture;
        let _ = writeln!(
            s,
            "capture: {} records ({:?}), {} remote endpoints, {} local connections not matched, {} packets without TCP/UDP",
            c.packets, c.format, c.endpoints, c.local_connections, c.other_packets
        );
        match &self.geoip {
            Some(g) => {
                let _ = writeln!(s, "countries from {g}");
            }
            None => {
                let _ = writeln!(s, "no GeoIP database given: countries not checked");
            }
        }
        for w in &c.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        for f in &self.flows {
            let _ = writeln!(
                s,
                "\ndata flow {} ({}), declared countries {}: {}",
                f.index,
                f.category,
                if f.declared_countries.is_empty() {
                    "none".to_owned()
                } else {
                    f.declared_countries.join(", ")
                },
                result_text(f.result)
            );
            for d in &f.destinations {
                let mut decl: Vec<String> = d.hostnames.clone();
                decl.extend(d.ip_ranges.iter().cloned());
                let ports = if d.ports.is_empty() {
                    "any port".to_owned()
                } else {
                    format!(
                        "port {}",
                        d.ports
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                };
                if d.seen.is_empty() {
                    let _ = writeln!(s, "  declared, not seen: {} ({ports})", decl.join(" "));
                } else {
                    let _ = writeln!(s, "  declared and seen: {} ({ports})", decl.join(" "));
                    for e in &d.seen {
                        let _ = writeln!(s, "    {}", endpoint_line(e));
                    }
                }
            }
        }
        if self.undeclared.is_empty() {
            let _ = writeln!(s, "\nundeclared endpoints: none");
        } else {
            let _ = writeln!(s, "\nUNDECLARED endpoints (seen, never declared):");
            for e in &self.undeclared {
                let _ = writeln!(s, "  {}", endpoint_line(e));
            }
        }
        let _ = writeln!(s, "\nverdict: {}", self.verdict.as_str().to_uppercase());
        s
    }
}

fn result_text(r: FindingResult) -> &'static str {
    match r {
        FindingResult::Consistent => "consistent",
        FindingResult::Contradicted => "CONTRADICTED",
        FindingResult::NotTested => "not tested (no declared destination seen)",
    }
}

fn endpoint_line(e: &EndpointReport) -> String {
    let addr = match e.ip {
        IpAddr::V4(a) => format!("{a}:{}", e.port),
        IpAddr::V6(a) => format!("[{a}]:{}", e.port),
    };
    let mut line = format!(
        "{} {addr}/{} {} connection(s), {} bytes sent, {} received",
        e.hostname.as_deref().unwrap_or("(no name)"),
        e.transport,
        e.connections,
        e.bytes_sent,
        e.bytes_received
    );
    if let Some(c) = &e.country {
        line.push_str(&format!(", country {c}"));
    }
    for f in &e.flags {
        line.push_str(match f {
            Flag::ExcludedJurisdiction => "  !! in an excluded jurisdiction",
            Flag::OutsideDeclaredLocations => "  !! outside the flow's declared countries",
        });
    }
    line
}
