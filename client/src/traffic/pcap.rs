//! pcap and pcapng captures, streamed with `pcap-parser`; packets sliced with `etherparse`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use etherparse::{
    LaxNetSlice, LaxSlicedPacket, LinuxSllProtocolType, LinuxSllSlice, TransportSlice,
};
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError, create_reader};

use super::names::{self, ClientHello};
use super::{CaptureFormat, EndpointKey, Limits, Observations, TrafficError, Transport, is_local};

/// The largest packet a capture holds (libpcap's and Wireshark's maximum snapshot length).
const MAX_PACKET: u32 = 262_144;

/// How the link layer of an interface is decoded.
#[derive(Debug, Clone, Copy)]
enum Link {
    Ethernet,
    LinuxSll,
    RawIp,
}

impl Link {
    fn of(path: &str, lt: Linktype) -> Result<Self, TrafficError> {
        match lt {
            Linktype::ETHERNET => Ok(Self::Ethernet),
            Linktype::LINUX_SLL => Ok(Self::LinuxSll),
            Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => Ok(Self::RawIp),
            other => Err(TrafficError::UnsupportedLinkType {
                path: path.to_owned(),
                linktype: other.0,
            }),
        }
    }
}

/// One capture interface (pcapng may have several).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: Link,
    /// Timestamp units per second.
    resolution: u64,
    offset: i64,
}

/// One connection (5-tuple), oriented: the client opened it.
struct Flow {
    transport: Transport,
    client: SocketAddr,
    server: SocketAddr,
    sent: u64,
    received: u64,
    hello: ClientHello,
}

/// The state of a capture being read.
struct State<'a> {
    path: &'a str,
    limits: Limits,
    obs: Observations,
    flows: HashMap<(SocketAddr, SocketAddr, Transport), Flow>,
    dns_names: usize,
    dns_full_warned: bool,
    /// Bytes held by unfinished ClientHellos, all connections together.
    pending_hellos: usize,
}

pub(super) fn read<R: Read + Send>(
    path: &str,
    reader: R,
    limits: Limits,
) -> Result<Observations, TrafficError> {
    let corrupt = |reason: String, offset: u64| TrafficError::Corrupt {
        path: path.to_owned(),
        reason,
        offset,
    };
    let mut rd = create_reader(64 * 1024, reader).map_err(|e| corrupt(e.to_string(), 0))?;
    let mut st = State {
        path,
        limits,
        obs: Observations::new(CaptureFormat::Pcap),
        flows: HashMap::new(),
        dns_names: 0,
        dns_full_warned: false,
        pending_hellos: 0,
    };
    let mut legacy: Option<Link> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut buffer = 64 * 1024;
    // Bytes consumed before the current buffer position.
    let mut offset: u64 = 0;
    loop {
        match rd.next() {
            Ok((used, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some(Link::of(path, h.network)?);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let Some(link) = legacy else {
                            return Err(corrupt("packet record before the header".into(), offset));
                        };
                        if b.caplen > MAX_PACKET {
                            return Err(corrupt(
                                format!(
                                    "a {}-byte packet record (the most is {MAX_PACKET})",
                                    b.caplen
                                ),
                                offset,
                            ));
                        }
                        let caplen = usize::try_from(b.caplen).unwrap_or(usize::MAX);
                        let data = &b.data[..caplen.min(b.data.len())];
                        st.packet(link, data, i64::from(b.ts_sec))?;
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        st.obs.format = CaptureFormat::Pcapng;
                        interfaces.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let link = Link::of(path, idb.linktype)?;
                        let resolution = idb.ts_resolution().ok_or_else(|| {
                            corrupt(
                                "interface with an invalid timestamp resolution".into(),
                                offset,
                            )
                        })?;
                        interfaces.push(Interface {
                            link,
                            resolution,
                            offset: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = usize::try_from(epb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i).copied())
                        else {
                            return Err(corrupt(
                                format!("packet on undeclared interface {}", epb.if_id),
                                offset,
                            ));
                        };
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let secs = i64::try_from(ticks / iface.resolution.max(1))
                            .unwrap_or(i64::MAX)
                            .saturating_add(iface.offset);
                        let caplen = usize::try_from(epb.caplen).unwrap_or(usize::MAX);
                        let data = &epb.data[..caplen.min(epb.data.len())];
                        st.packet(iface.link, data, secs)?;
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let Some(iface) = interfaces.first().copied() else {
                            return Err(corrupt("packet before any interface".into(), offset));
                        };
                        st.packet_untimed(iface.link, spb.data)?;
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                offset += used as u64;
                rd.consume(used);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                rd.refill().map_err(|e| corrupt(e.to_string(), offset))?;
            }
            Err(PcapError::BufferTooSmall) => {
                // A record larger than the buffer: grow it, up to the limit.
                buffer *= 2;
                if buffer > limits.max_record || !rd.grow(buffer) {
                    return Err(corrupt(
                        format!("a record is larger than {} bytes", limits.max_record),
                        offset,
                    ));
                }
                rd.refill().map_err(|e| corrupt(e.to_string(), offset))?;
            }
            Err(PcapError::UnexpectedEof) => {
                // The file ends inside a record: a capture cut short keeps at most one
                // partial packet; more than a packet's worth is a broken record length.
                let left = rd.data().len();
                if left as u64 > u64::from(MAX_PACKET) + 64 {
                    return Err(corrupt(
                        format!("the file ends inside a record that claims more than {left} bytes"),
                        offset,
                    ));
                }
                st.obs.warnings.push(format!(
                    "the capture ends inside a record: its last {left} bytes (a truncated final packet) were ignored"
                ));
                break;
            }
            Err(e) => return Err(corrupt(e.to_string(), offset)),
        }
    }
    st.finish()
}

impl State<'_> {
    fn packet_untimed(&mut self, link: Link, data: &[u8]) -> Result<(), TrafficError> {
        self.obs.packets += 1;
        self.decode(link, data)
    }

    fn packet(&mut self, link: Link, data: &[u8], secs: i64) -> Result<(), TrafficError> {
        self.obs.packets += 1;
        self.obs.saw_time(secs);
        self.decode(link, data)
    }

    fn decode(&mut self, link: Link, data: &[u8]) -> Result<(), TrafficError> {
        let sliced = match link {
            Link::Ethernet => LaxSlicedPacket::from_ethernet(data).ok(),
            Link::RawIp => LaxSlicedPacket::from_ip(data).ok(),
            Link::LinuxSll => {
                LinuxSllSlice::from_slice(data)
                    .ok()
                    .and_then(|s| match s.protocol_type() {
                        LinuxSllProtocolType::EtherType(et) => {
                            Some(LaxSlicedPacket::from_ether_type(et, s.payload_slice()))
                        }
                        _ => None,
                    })
            }
        };
        let Some(p) = sliced else {
            self.obs.other_packets += 1;
            return Ok(());
        };
        let (src, dst, ip_len) = match &p.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    u64::from(h.total_len()),
                )
            }
            Some(LaxNetSlice::Ipv6(v6)) => {
                let h = v6.header();
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    u64::from(h.payload_length()) + 40,
                )
            }
            _ => {
                self.obs.other_packets += 1;
                return Ok(());
            }
        };
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                let from = SocketAddr::new(src, t.source_port());
                let to = SocketAddr::new(dst, t.destination_port());
                let opener = if t.syn() && !t.ack() {
                    Some(true)
                } else if t.syn() {
                    Some(false)
                } else {
                    None
                };
                self.segment(Transport::Tcp, from, to, opener, ip_len, t.payload())
            }
            Some(TransportSlice::Udp(u)) => {
                let from = SocketAddr::new(src, u.source_port());
                let to = SocketAddr::new(dst, u.destination_port());
                self.segment(Transport::Udp, from, to, None, ip_len, u.payload())
            }
            _ => {
                self.obs.other_packets += 1;
                Ok(())
            }
        }
    }

    /// One TCP segment or UDP datagram. `opener`: `Some(true)` if the sender is surely the
    /// client (a SYN), `Some(false)` if surely the server (a SYN-ACK).
    fn segment(
        &mut self,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        opener: Option<bool>,
        ip_len: u64,
        payload: &[u8],
    ) -> Result<(), TrafficError> {
        // DNS answers name addresses for the whole capture.
        if from.port() == 53 {
            let msg = match transport {
                Transport::Udp => Some(payload),
                Transport::Tcp => payload.get(2..),
            };
            if let Some(msg) = msg {
                self.dns_answer(msg);
            }
        }
        let key = if from < to {
            (from, to, transport)
        } else {
            (to, from, transport)
        };
        let len = self.flows.len();
        let flow = match self.flows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                self.limits.admit_connection(len, self.path)?;
                let from_is_client = opener.unwrap_or_else(|| !looks_like_server(from, to));
                let (client, server) = if from_is_client {
                    (from, to)
                } else {
                    (to, from)
                };
                let hello = if transport == Transport::Tcp && !is_local(server.ip()) {
                    ClientHello::Pending(Vec::new())
                } else {
                    ClientHello::Done(None)
                };
                v.insert(Flow {
                    transport,
                    client,
                    server,
                    sent: 0,
                    received: 0,
                    hello,
                })
            }
        };
        if from == flow.client {
            flow.sent = flow.sent.saturating_add(ip_len);
            if !payload.is_empty() {
                let before = flow.hello.buffered();
                flow.hello.feed(payload, self.limits.max_client_hello);
                self.pending_hellos =
                    self.pending_hellos.saturating_sub(before) + flow.hello.buffered();
                if self.pending_hellos > self.limits.max_pending_hellos {
                    return Err(TrafficError::TooManyPendingHellos {
                        path: self.path.to_owned(),
                        limit: self.limits.max_pending_hellos,
                    });
                }
            }
        } else {
            flow.received = flow.received.saturating_add(ip_len);
        }
        Ok(())
    }

    fn dns_answer(&mut self, msg: &[u8]) {
        for (ip, name) in names::dns_answers(msg) {
            let set = self.obs.dns.entry(ip).or_default();
            if set.contains(&name) {
                continue;
            }
            if self.dns_names >= self.limits.max_dns_names {
                if !self.dns_full_warned {
                    self.dns_full_warned = true;
                    self.obs.warnings.push(format!(
                        "more than {} names in DNS answers: later ones were ignored",
                        self.limits.max_dns_names
                    ));
                }
                return;
            }
            self.dns_names += 1;
            set.insert(name);
        }
    }

    /// The endpoints of the flows read (never more than the flows, so within the limit).
    fn finish(mut self) -> Result<Observations, TrafficError> {
        let flows = std::mem::take(&mut self.flows);
        for (_, f) in flows {
            let key = EndpointKey::new(f.server.ip(), f.server.port(), f.transport, f.hello.name());
            self.obs
                .add_connection(key, f.sent, f.received, &self.limits, self.path)?;
        }
        Ok(self.obs)
    }
}

/// Whether `from` looks like the server side of a packet `from` → `to` whose opening was not
/// captured: it uses a well-known port (below 1024) and the other side does not.
fn looks_like_server(from: SocketAddr, to: SocketAddr) -> bool {
    from.port() < 1024 && to.port() >= 1024
}
