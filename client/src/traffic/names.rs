//! Names of remote endpoints: DNS answers (`hickory-proto`) and the server name of TLS
//! ClientHellos (`tls-parser`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{Name, RData};
use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_client_hello_extensions,
    parse_tls_plaintext,
};

/// The longest CNAME chain followed back from an address record.
const MAX_CNAME_DEPTH: usize = 8;

/// Where a TCP connection is in finding its TLS server name.
#[derive(Debug)]
pub(super) enum ClientHello {
    /// Client bytes so far (the ClientHello may span several segments).
    Pending(Vec<u8>),
    /// Decided: the SNI, or none (not TLS, no SNI, unparseable, too long).
    Done(Option<String>),
}

impl ClientHello {
    /// Adds client payload bytes; decides as soon as a whole first TLS record is there.
    pub(super) fn feed(&mut self, payload: &[u8], max: usize) {
        let Self::Pending(buf) = self else {
            return;
        };
        // A TLS connection starts with a handshake record (content type 22).
        if buf.is_empty() && payload.first() != Some(&0x16) {
            *self = Self::Done(None);
            return;
        }
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&payload[..payload.len().min(room)]);
        match sni(buf) {
            Ok(name) => *self = Self::Done(name),
            Err(Incomplete) if buf.len() < max => {}
            Err(Incomplete) => *self = Self::Done(None),
        }
    }

    /// Client bytes held while the ClientHello is unfinished.
    pub(super) fn buffered(&self) -> usize {
        match self {
            Self::Pending(buf) => buf.len(),
            Self::Done(_) => 0,
        }
    }

    /// The server name, if one was found.
    pub(super) fn name(&self) -> Option<String> {
        match self {
            Self::Done(n) => n.clone(),
            Self::Pending(buf) => sni(buf).ok().flatten(),
        }
    }
}

struct Incomplete;

/// The SNI host name of a TLS record holding a ClientHello; `Ok(None)` if the bytes are not
/// one or it names no host; `Err` if more bytes are needed.
fn sni(buf: &[u8]) -> Result<Option<String>, Incomplete> {
    let rec = match parse_tls_plaintext(buf) {
        Ok((_, rec)) => rec,
        Err(tls_parser::nom::Err::Incomplete(_)) => return Err(Incomplete),
        Err(_) => return Ok(None),
    };
    for msg in &rec.msg {
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = msg else {
            continue;
        };
        let Some(ext) = ch.ext else {
            return Ok(None);
        };
        let Ok((_, exts)) = parse_tls_client_hello_extensions(ext) else {
            return Ok(None);
        };
        for e in exts {
            if let TlsExtension::SNI(list) = e {
                for (kind, name) in list {
                    // host_name(0) is the only defined name type (RFC 6066 §3).
                    if kind.0 == 0
                        && let Ok(s) = std::str::from_utf8(name)
                        && is_dns_name(s)
                    {
                        return Ok(Some(s.trim_end_matches('.').to_ascii_lowercase()));
                    }
                }
            }
        }
        return Ok(None);
    }
    Ok(None)
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn name_text(n: &Name) -> String {
    let s = n.to_ascii();
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// The (address, name) pairs a DNS response message states: every A/AAAA record under its
/// owner name and under each name whose CNAME chain leads to it. Anything that is not a DNS
/// response yields nothing.
pub(super) fn dns_answers(msg: &[u8]) -> Vec<(IpAddr, String)> {
    let Ok(m) = Message::from_vec(msg) else {
        return Vec::new();
    };
    if m.metadata.message_type != MessageType::Response {
        return Vec::new();
    }
    // target -> alias owner names
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &m.answers {
        if let RData::CNAME(c) = &r.data {
            aliases
                .entry(name_text(&c.0))
                .or_default()
                .push(name_text(&r.name));
        }
    }
    let mut out = Vec::new();
    for r in &m.answers {
        let ip = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        let mut names = vec![name_text(&r.name)];
        let mut frontier = names.clone();
        for _ in 0..MAX_CNAME_DEPTH {
            let mut next = Vec::new();
            for n in &frontier {
                for a in aliases.get(n).into_iter().flatten() {
                    if !names.contains(a) {
                        names.push(a.clone());
                        next.push(a.clone());
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out.extend(names.into_iter().map(|n| (ip, n)));
    }
    out
}
