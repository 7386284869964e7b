//! What a product actually connected to, compared with what its claim declares
//! (`attestlog check-traffic`, DESIGN.md §13).
//!
//! - [`read_capture`] reads a capture into [`Observations`]: pcap and pcapng files (Ethernet,
//!   Linux cooked (SLL) and raw IP link types; IPv4 and IPv6; TCP and UDP), a Zeek `conn.log`
//!   (tab-separated or JSON lines) or a plain CSV of connections. Packet captures are streamed
//!   (memory bounded by the number of distinct connections and the bytes of unfinished TLS
//!   ClientHellos, see [`Limits`]); each remote
//!   endpoint is named from the TLS ClientHello SNI of its connection and the capture's DNS
//!   answers.
//! - [`geoip::GeoIp`] looks up countries in a MaxMind DB file (GeoIP2/GeoLite2 Country or City,
//!   or any database with `country.iso_code`).
//! - [`analysis::analyse`] matches the endpoints against the claim's declared destinations and
//!   produces a [`analysis::Report`], from which [`analysis::Report::verification`] builds the
//!   verification statement.
//!
//! Packets are parsed by `pcap-parser`, `etherparse`, `tls-parser` and `hickory-proto`; this
//! module only walks their results.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

pub mod analysis;
mod csv;
pub mod geoip;
mod names;
mod pcap;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod zeek;

/// Errors reading a capture or a GeoIP database.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path} is empty")]
    Empty {
        /// The file.
        path: String,
    },
    /// A pcap or pcapng file that does not parse.
    #[error("{path} is not a valid capture: {reason} (at byte {offset})")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
        /// Where, counted from the start of the file.
        offset: u64,
    },
    /// A link type this tool does not decode.
    #[error(
        "{path}: link type {linktype} is not supported (supported: Ethernet (1), raw IP (101, 228, 229), Linux cooked capture (113))"
    )]
    UnsupportedLinkType {
        /// The file.
        path: String,
        /// The link type number.
        linktype: i32,
    },
    /// A Zeek log or CSV line that does not parse.
    #[error("{path}, line {line}: {reason}")]
    BadLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A CSV of connections without the columns needed.
    #[error(
        "{path}: the connections CSV lacks the required column(s) {missing} (its header: {header})"
    )]
    MissingColumns {
        /// The file.
        path: String,
        /// The missing columns, comma-separated.
        missing: String,
        /// The header line found.
        header: String,
    },
    /// More distinct connections than [`Limits::max_connections`] (see
    /// [`Limits::admit_connection`]).
    #[error(
        "{path} holds more than {limit} distinct connections (the limit of check-traffic: 5-tuples in a capture, remote endpoints in a conn.log or CSV); split it (e.g. with editcap -c, or split -l for a log) and check each part"
    )]
    TooManyConnections {
        /// The file.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// More bytes of unfinished TLS ClientHellos held at once than
    /// [`Limits::max_pending_hellos`].
    #[error(
        "{path} holds more than {limit} bytes of unfinished TLS ClientHellos at once (connections that began a TLS handshake and were not seen finishing its first record); split the capture (e.g. with editcap -c) and check each part"
    )]
    TooManyPendingHellos {
        /// The file.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// A GeoIP database that cannot be used.
    #[error("{path} is not a usable MaxMind DB file: {reason}")]
    GeoIp {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Bounds on what reading a capture may hold in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Distinct connections (5-tuples) tracked; beyond this reading fails.
    pub max_connections: usize,
    /// Distinct (address, name) pairs learnt from DNS answers; beyond this further answers
    /// are ignored and a warning says so.
    pub max_dns_names: usize,
    /// Client bytes buffered per TCP connection while waiting for a complete TLS ClientHello.
    pub max_client_hello: usize,
    /// Client bytes buffered for all unfinished ClientHellos together; beyond this reading
    /// fails (a server name left unread could make a declared endpoint look undeclared).
    pub max_pending_hellos: usize,
    /// Largest capture record accepted (bytes); a larger one means a corrupt file.
    pub max_record: usize,
}

impl Limits {
    /// The one bound on distinct connections, for every reader: a capture's 5-tuples, the
    /// remote endpoints a conn.log or CSV adds up. `held` are tracked already and a new one
    /// is about to be; beyond [`Limits::max_connections`] reading fails.
    ///
    /// # Errors
    /// [`TrafficError::TooManyConnections`] naming `path` and the limit.
    pub fn admit_connection(&self, held: usize, path: &str) -> Result<(), TrafficError> {
        if held >= self.max_connections {
            return Err(TrafficError::TooManyConnections {
                path: path.to_owned(),
                limit: self.max_connections,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 2_000_000,
            max_dns_names: 1_000_000,
            max_client_hello: 16 * 1024,
            max_pending_hellos: 64 * 1024 * 1024,
            max_record: 16 * 1024 * 1024,
        }
    }
}

/// Transport protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// The kind of input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureFormat {
    /// libpcap.
    Pcap,
    /// pcapng.
    Pcapng,
    /// Zeek `conn.log`.
    ZeekConnLog,
    /// CSV of connections.
    Csv,
}

/// A remote endpoint: the responding side of connections the product opened, told apart by
/// the TLS server name the connection asked for (one address may serve several names).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointKey {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// The TLS SNI of its connections (or a host name the input file gave), if any.
    pub name: Option<String>,
}

impl EndpointKey {
    /// The endpoint `ip:port` over `transport`, told apart by `name` when one is known.
    #[must_use]
    pub fn new(ip: IpAddr, port: u16, transport: Transport, name: Option<String>) -> Self {
        Self {
            ip,
            port,
            transport,
            name,
        }
    }
}

/// What was exchanged with one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Bytes the product sent (IP layer).
    pub bytes_sent: u64,
    /// Bytes the product received (IP layer).
    pub bytes_received: u64,
    /// Connections.
    pub connections: u64,
}

/// Everything read from a capture.
#[derive(Debug, Clone)]
pub struct Observations {
    /// Input kind.
    pub format: CaptureFormat,
    /// Remote endpoints (the local network excluded).
    pub endpoints: BTreeMap<EndpointKey, EndpointStats>,
    /// Names for addresses, from DNS answers (CNAME chains included).
    pub dns: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Unix time of the first and last packet or connection, if the input has times.
    pub first_seen: Option<i64>,
    /// See `first_seen`.
    pub last_seen: Option<i64>,
    /// Packets (or connection lines) read.
    pub packets: u64,
    /// Packets that carried no TCP or UDP over IP (ARP, ICMP, fragments, ...).
    pub other_packets: u64,
    /// Connections to local addresses (private, loopback, link-local, multicast), not
    /// matched against the claim.
    pub local_connections: u64,
    /// Things the reader skipped, e.g. a truncated final record.
    pub warnings: Vec<String>,
}

impl Observations {
    fn new(format: CaptureFormat) -> Self {
        Self {
            format,
            endpoints: BTreeMap::new(),
            dns: BTreeMap::new(),
            first_seen: None,
            last_seen: None,
            packets: 0,
            other_packets: 0,
            local_connections: 0,
            warnings: Vec::new(),
        }
    }

    fn saw_time(&mut self, t: i64) {
        self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
        self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
    }

    /// Adds a finished connection to its endpoint (or to the local count); a new endpoint
    /// beyond `limits` ([`Limits::admit_connection`]) is an error naming `path`.
    fn add_connection(
        &mut self,
        key: EndpointKey,
        sent: u64,
        received: u64,
        limits: &Limits,
        path: &str,
    ) -> Result<(), TrafficError> {
        if is_local(key.ip) {
            self.local_connections += 1;
            return Ok(());
        }
        let held = self.endpoints.len();
        let e = match self.endpoints.entry(key) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                limits.admit_connection(held, path)?;
                v.insert(EndpointStats::default())
            }
        };
        e.bytes_sent = e.bytes_sent.saturating_add(sent);
        e.bytes_received = e.bytes_received.saturating_add(received);
        e.connections += 1;
        Ok(())
    }

    /// Every name known for an endpoint: its own (SNI) name, else the DNS names of its
    /// address.
    #[must_use]
    pub fn names_of(&self, key: &EndpointKey) -> Vec<String> {
        match &key.name {
            Some(n) => vec![n.clone()],
            None => self
                .dns
                .get(&key.ip)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

/// Whether an address is on the local network or otherwise not a remote destination:
/// private, loopback, link-local, multicast, broadcast, unspecified, IPv6 unique-local.
#[must_use]
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_local(IpAddr::V4(v4));
            }
            a.is_loopback()
                || a.is_multicast()
                || a.is_unspecified()
                || a.is_unicast_link_local()
                || a.is_unique_local()
        }
    }
}

/// Reads a capture of any supported kind, recognised by its first bytes. `progress` is
/// called with the number of bytes read so far (for a progress bar).
///
/// # Errors
/// An unreadable, empty or corrupt file, an unsupported link type, a CSV without the needed
/// columns, more connections than `limits` allow.
pub fn read_capture(
    path: &Path,
    limits: Limits,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Observations, TrafficError> {
    let name = path.display().to_string();
    let io = |source| TrafficError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        let n = file.read(&mut head[got..]).map_err(io)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got == 0 {
        return Err(TrafficError::Empty { path: name });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let counted = Counted {
        inner: file,
        read: 0,
        progress,
    };
    match head {
        [0x0a, 0x0d, 0x0d, 0x0a]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => pcap::read(&name, counted, limits),
        _ => {
            let reader = std::io::BufReader::new(counted);
            if head[0] == b'#' || head[0] == b'{' {
                zeek::read(&name, reader, &limits)
            } else {
                csv::read(&name, reader, &limits)
            }
        }
    }
}

/// The non-blank lines of a text capture (CSV, Zeek) with their 1-based numbers; a line that
/// is not UTF-8 text is a [`TrafficError::BadLine`].
fn text_lines<'a>(
    path: &'a str,
    reader: impl std::io::BufRead + 'a,
) -> impl Iterator<Item = Result<(u64, String), TrafficError>> + 'a {
    reader.lines().enumerate().filter_map(move |(n, line)| {
        let no = n as u64 + 1;
        match line {
            Err(e) => Some(Err(bad_line(path, no)(format!("not UTF-8 text: {e}")))),
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => Some(Ok((no, l))),
        }
    })
}

/// The [`TrafficError::BadLine`] of line `line` of `path`, for a reason.
fn bad_line(path: &str, line: u64) -> impl Fn(String) -> TrafficError + Copy + '_ {
    move |reason| TrafficError::BadLine {
        path: path.to_owned(),
        line,
        reason,
    }
}

/// Fuzz and corpus check of the CSV reader (fuzz target `traffic_csv`): reads `data` as a
/// CSV of connections; it must never panic, and what it reads must hold together
/// ([`check_read`]). Returns whether `data` was read.
///
/// # Panics
/// When what was read does not hold together.
#[doc(hidden)]
#[must_use]
pub fn csv_check(data: &[u8]) -> bool {
    check_read(
        data,
        CaptureFormat::Csv,
        csv::read(FUZZ_PATH, data, &Limits::default()),
    )
}

/// Fuzz and corpus check of the Zeek `conn.log` reader (fuzz target `traffic_zeek`), as
/// [`csv_check`].
///
/// # Panics
/// When what was read does not hold together.
#[doc(hidden)]
#[must_use]
pub fn zeek_check(data: &[u8]) -> bool {
    check_read(
        data,
        CaptureFormat::ZeekConnLog,
        zeek::read(FUZZ_PATH, data, &Limits::default()),
    )
}

const FUZZ_PATH: &str = "fuzz input";

/// What a text reader's result must satisfy: the format it was read as, one connection per
/// record counted (`packets`: a connection, local or remote, or another protocol), every remote endpoint with at least one connection, and every
/// endpoint a non-local address; an error names the input.
fn check_read(data: &[u8], format: CaptureFormat, r: Result<Observations, TrafficError>) -> bool {
    let obs = match r {
        Ok(o) => o,
        Err(e) => {
            assert!(e.to_string().contains(FUZZ_PATH), "{e}");
            return false;
        }
    };
    assert_eq!(obs.format, format);
    let records = data.split(|b| *b == b'\n').count() as u64;
    assert!(
        obs.packets <= records,
        "{} records > {records} lines",
        obs.packets
    );
    let connections: u64 = obs.endpoints.values().map(|e| e.connections).sum();
    assert_eq!(
        connections + obs.local_connections + obs.other_packets,
        obs.packets
    );
    assert!(obs.endpoints.values().all(|e| e.connections >= 1));
    assert!(obs.endpoints.keys().all(|k| !is_local(k.ip)));
    true
}

/// A reader that reports how many bytes went through it.
struct Counted<'p, R> {
    inner: R,
    read: u64,
    progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read);
        Ok(n)
    }
}

/// Parses an RFC 3339 time or decimal Unix seconds (as Zeek writes them) to Unix seconds.
fn parse_time(s: &str) -> Option<i64> {
    if let Some(t) = attestlog_proto::predicate::parse_rfc3339(s) {
        return Some(t.unix_seconds);
    }
    let whole = s.split_once('.').map_or(s, |(w, _)| w);
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    whole.parse().ok()
}
