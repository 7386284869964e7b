//! Test support (feature `test-support`): captures written packet by packet and GeoIP
//! databases, so tests know every answer. Packets are built with `etherparse`, DNS messages
//! with `hickory-proto`, MaxMind DB files with `mmdb-writer`; the pcap and pcapng files are
//! written here from their documented layouts (file header + records), which is writing, not
//! parsing.
//!
//! Not for production use.
#![allow(
    clippy::missing_panics_doc,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

use std::net::IpAddr;

use etherparse::PacketBuilder;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Link types the writers can label a capture with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet (1).
    Ethernet,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Raw IP (101).
    RawIp,
    /// Any other number (for "unsupported link type" tests).
    Other(u32),
}

impl LinkType {
    fn number(self) -> u32 {
        match self {
            Self::Ethernet => 1,
            Self::LinuxSll => 113,
            Self::RawIp => 101,
            Self::Other(n) => n,
        }
    }
}

/// One packet: its time (Unix seconds) and frame bytes.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Unix seconds.
    pub time: u32,
    /// The frame, starting at the link layer.
    pub data: Vec<u8>,
}

/// A libpcap file (microsecond timestamps, little-endian).
#[must_use]
pub fn pcap_file(link: LinkType, packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&link.number().to_le_bytes());
    for p in packets {
        out.extend_from_slice(&pcap_record(p));
    }
    out
}

/// One libpcap record (for files written in pieces).
#[must_use]
pub fn pcap_record(p: &Packet) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + p.data.len());
    out.extend_from_slice(&p.time.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&p.data);
    out
}

fn pcapng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

/// A pcapng file: a section header, one interface (microsecond timestamps) and an enhanced
/// packet block per packet.
#[must_use]
pub fn pcapng_file(link: LinkType, packets: &[Packet]) -> Vec<u8> {
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4d_u32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = pcapng_block(0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&(link.number() as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&pcapng_block(1, &idb));
    for p in packets {
        let ticks = u64::from(p.time) * 1_000_000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&p.data);
        out.extend_from_slice(&pcapng_block(6, &epb));
    }
    out
}

/// TCP flags of a built segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tcp {
    /// SYN (opens).
    Syn,
    /// SYN-ACK (accepts).
    SynAck,
    /// ACK with data.
    Data,
}

fn octets4(ip: IpAddr) -> [u8; 4] {
    match ip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => panic!("mixed address families"),
    }
}

fn octets16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => panic!("mixed address families"),
    }
}

/// Builds frames for one link type.
#[derive(Debug, Clone, Copy)]
pub struct Frames {
    /// The link layer.
    pub link: LinkType,
}

impl Frames {
    fn ip_step(
        &self,
        src: IpAddr,
        dst: IpAddr,
    ) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        let v6 = src.is_ipv6();
        match self.link {
            LinkType::Ethernet => {
                let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
                if v6 {
                    b.ipv6(octets16(src), octets16(dst), 64)
                } else {
                    b.ipv4(octets4(src), octets4(dst), 64)
                }
            }
            LinkType::LinuxSll => {
                let b = PacketBuilder::linux_sll(
                    etherparse::LinuxSllPacketType::OUTGOING,
                    6,
                    [2, 0, 0, 0, 0, 1, 0, 0],
                );
                if v6 {
                    b.ipv6(octets16(src), octets16(dst), 64)
                } else {
                    b.ipv4(octets4(src), octets4(dst), 64)
                }
            }
            LinkType::RawIp | LinkType::Other(_) => {
                if v6 {
                    PacketBuilder::ipv6(octets16(src), octets16(dst), 64)
                } else {
                    PacketBuilder::ipv4(octets4(src), octets4(dst), 64)
                }
            }
        }
    }

    /// A TCP segment.
    #[must_use]
    pub fn tcp(
        &self,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        flags: Tcp,
        payload: &[u8],
    ) -> Vec<u8> {
        let b = self.ip_step(src.0, dst.0).tcp(src.1, dst.1, 1000, 65_000);
        let b = match flags {
            Tcp::Syn => b.syn(),
            Tcp::SynAck => b.syn().ack(1001),
            Tcp::Data => b.ack(1),
        };
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).unwrap();
        out
    }

    /// A UDP datagram.
    #[must_use]
    pub fn udp(&self, src: (IpAddr, u16), dst: (IpAddr, u16), payload: &[u8]) -> Vec<u8> {
        let b = self.ip_step(src.0, dst.0).udp(src.1, dst.1);
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).unwrap();
        out
    }
}

/// A DNS response for `name`: optionally a CNAME to `cname`, then A/AAAA records of the
/// final name.
#[must_use]
pub fn dns_response(name: &str, cname: Option<&str>, addrs: &[IpAddr]) -> Vec<u8> {
    let qname = Name::from_ascii(format!("{name}.")).unwrap();
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    let qtype = if addrs.first().is_some_and(IpAddr::is_ipv6) {
        RecordType::AAAA
    } else {
        RecordType::A
    };
    m.add_query(Query::query(qname.clone(), qtype));
    let mut owner = qname;
    if let Some(c) = cname {
        let target = Name::from_ascii(format!("{c}.")).unwrap();
        m.add_answer(Record::from_rdata(
            owner.clone(),
            60,
            RData::CNAME(CNAME(target.clone())),
        ));
        owner = target;
    }
    for a in addrs {
        let data = match a {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        m.add_answer(Record::from_rdata(owner.clone(), 60, data));
    }
    m.to_vec().unwrap()
}

/// A TLS 1.2-framed ClientHello record naming `sni`, padded with a padding extension
/// (RFC 7685) to at least `min_len` bytes (so that tests can split it over segments).
#[must_use]
pub fn client_hello(sni: &str, min_len: usize) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = Vec::new();
    exts.extend_from_slice(&0u16.to_be_bytes());
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend_from_slice(&sni_ext);
    let base = 4 + 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + exts.len() + 5;
    if min_len > base + 4 {
        let pad = min_len - base - 4;
        exts.extend_from_slice(&21u16.to_be_bytes());
        exts.extend_from_slice(&(pad as u16).to_be_bytes());
        exts.resize(exts.len() + pad, 0);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&[3, 3]);
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&2u16.to_be_bytes());
    body.extend_from_slice(&[0x13, 0x01]);
    body.push(1);
    body.push(0);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A MaxMind DB (`GeoIP2-Country` layout) mapping each network to `country.iso_code`.
#[must_use]
pub fn geoip_db(networks: &[(&str, &str)]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Country<'a> {
        iso_code: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Record<'a> {
        country: Country<'a>,
    }
    let mut w = mmdb_writer::Writer::new("GeoIP2-Country");
    for (net, cc) in networks {
        let net: mmdb_writer::ipnet::IpNet = net.parse().unwrap();
        w.insert(
            net,
            &Record {
                country: Country { iso_code: cc },
            },
        )
        .unwrap();
    }
    w.to_bytes().unwrap()
}
