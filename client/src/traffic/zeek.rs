//! Zeek `conn.log`, in Zeek's tab-separated format (with its `#fields` header) or as JSON
//! lines. The responder (`id.resp_h`, `id.resp_p`) is the remote endpoint; bytes are
//! `orig_ip_bytes`/`resp_ip_bytes` (IP layer, as in a packet capture) when present, else
//! `orig_bytes`/`resp_bytes`. A conn.log carries no host names, so only `ip_ranges` can
//! match its endpoints.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;

use serde_json::Value;

use super::{
    CaptureFormat, EndpointKey, Limits, Observations, TrafficError, Transport, bad_line,
    parse_time, text_lines,
};

pub(super) fn read(
    path: &str,
    reader: impl BufRead,
    limits: &Limits,
) -> Result<Observations, TrafficError> {
    let mut obs = Observations::new(CaptureFormat::ZeekConnLog);
    obs.warnings.push(
        "a Zeek conn.log names no hosts: only the claim's ip_ranges can match its endpoints".into(),
    );
    let mut separator = "\t".to_owned();
    let mut fields: Option<HashMap<String, usize>> = None;
    let mut unset = "-".to_owned();
    for line in text_lines(path, reader) {
        let (line_no, line) = line?;
        let bad = bad_line(path, line_no);
        if let Some(rest) = line.strip_prefix('#') {
            if let Some(sep) = rest.strip_prefix("separator ") {
                separator = unescape(sep);
            } else if let Some(names) = rest.strip_prefix("fields") {
                let names = names.strip_prefix(separator.as_str()).unwrap_or(names);
                fields = Some(
                    names
                        .split(separator.as_str())
                        .enumerate()
                        .map(|(i, f)| (f.to_owned(), i))
                        .collect(),
                );
            } else if let Some(u) = rest.strip_prefix("unset_field") {
                unset = u.trim_start_matches(separator.as_str()).to_owned();
            }
            continue;
        }
        if line.starts_with('{') {
            let v: Value =
                serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON record: {e}")))?;
            let get = move |k: &str| match v.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if let Some((key, sent, received)) = record(&mut obs, &get).map_err(bad)? {
                obs.add_connection(key, sent, received, limits, path)?;
            }
            continue;
        }
        let Some(cols) = &fields else {
            return Err(bad(
                "a record before the #fields header (is this a Zeek conn.log?)".into(),
            ));
        };
        let values: Vec<&str> = line.split(separator.as_str()).collect();
        let unset = unset.as_str();
        let get = |k: &str| {
            cols.get(k)
                .and_then(|i| values.get(*i))
                .filter(|v| **v != unset && !v.is_empty() && **v != "(empty)")
                .map(|v| (*v).to_owned())
        };
        if let Some((key, sent, received)) = record(&mut obs, &get).map_err(bad)? {
            obs.add_connection(key, sent, received, limits, path)?;
        }
    }
    if fields.is_none() && obs.packets == 0 {
        return Err(TrafficError::BadLine {
            path: path.to_owned(),
            line: 1,
            reason: "no #fields header and no JSON records: not a Zeek conn.log".into(),
        });
    }
    Ok(obs)
}

/// One conn.log record, whichever the format; `get` returns a field's value if it is set.
/// Counts the record; returns the connection it names (to add to its endpoint), if TCP or UDP.
fn record(
    obs: &mut Observations,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(EndpointKey, u64, u64)>, String> {
    let need = |k: &str| get(k).ok_or_else(|| format!("{k} is missing"));
    let transport = match need("proto")?.as_str() {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        _ => {
            obs.packets += 1;
            obs.other_packets += 1;
            return Ok(None);
        }
    };
    let ip_text = need("id.resp_h")?;
    let ip: IpAddr = ip_text
        .parse()
        .map_err(|_| format!("id.resp_h {ip_text:?} is not an ip address"))?;
    let port_text = need("id.resp_p")?;
    let port: u16 = port_text
        .parse()
        .map_err(|_| format!("id.resp_p {port_text:?} is not a port number"))?;
    let number = |a: &str, b: &str| -> Result<u64, String> {
        match get(a).or_else(|| get(b)) {
            None => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| format!("{a} {s:?} is not a byte count")),
        }
    };
    let sent = number("orig_ip_bytes", "orig_bytes")?;
    let received = number("resp_ip_bytes", "resp_bytes")?;
    if let Some(ts) = get("ts") {
        let t = parse_time(&ts).ok_or_else(|| format!("ts {ts:?} is not a time"))?;
        obs.saw_time(t);
    }
    obs.packets += 1;
    Ok(Some((
        EndpointKey::new(ip, port, transport, None),
        sent,
        received,
    )))
}

/// Zeek writes the separator escaped (`\x09`).
fn unescape(s: &str) -> String {
    match s
        .strip_prefix("\\x")
        .and_then(|h| u8::from_str_radix(h, 16).ok())
    {
        Some(b) => char::from(b).to_string(),
        None => s.to_owned(),
    }
}
