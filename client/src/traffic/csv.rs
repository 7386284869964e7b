//! A plain CSV of connections, one connection a line, with a header line.
//!
//! Required columns: `dst_ip`, `dst_port`. Optional: `proto` (`tcp` (default) or `udp`),
//! `hostname` (the name the product connected to), `bytes_sent`, `bytes_received`, `bytes`
//! (total, when the two are not known apart), `ts` (RFC 3339 or Unix seconds). Other
//! columns are ignored. Fields may be double-quoted (RFC 4180, without line breaks inside).

use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;

use super::{
    CaptureFormat, EndpointKey, Limits, Observations, TrafficError, Transport, bad_line,
    parse_time, text_lines,
};

const REQUIRED: [&str; 2] = ["dst_ip", "dst_port"];

pub(super) fn read(
    path: &str,
    reader: impl BufRead,
    limits: &Limits,
) -> Result<Observations, TrafficError> {
    let mut obs = Observations::new(CaptureFormat::Csv);
    let mut columns: Option<HashMap<String, usize>> = None;
    for line in text_lines(path, reader) {
        let (line_no, line) = line?;
        let bad = bad_line(path, line_no);
        let line = line.trim_end_matches('\r');
        let fields = split(line).map_err(bad)?;
        let Some(cols) = &columns else {
            let cols: HashMap<String, usize> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.trim().to_ascii_lowercase(), i))
                .collect();
            let missing: Vec<&str> = REQUIRED
                .iter()
                .copied()
                .filter(|c| !cols.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                return Err(TrafficError::MissingColumns {
                    path: path.to_owned(),
                    missing: missing.join(", "),
                    header: line.to_owned(),
                });
            }
            columns = Some(cols);
            continue;
        };
        let get = |name: &str| {
            cols.get(name)
                .and_then(|i| fields.get(*i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let ip: IpAddr = get("dst_ip")
            .ok_or_else(|| bad("dst_ip is empty".into()))?
            .parse()
            .map_err(|_| {
                bad(format!(
                    "dst_ip {:?} is not an ip address",
                    get("dst_ip").unwrap_or("")
                ))
            })?;
        let port_text = get("dst_port").ok_or_else(|| bad("dst_port is empty".into()))?;
        let port: u16 = port_text
            .parse()
            .map_err(|_| bad(format!("dst_port {port_text:?} is not a port number")))?;
        let transport = match get("proto").map(str::to_ascii_lowercase).as_deref() {
            None | Some("tcp") => Transport::Tcp,
            Some("udp") => Transport::Udp,
            Some(other) => return Err(bad(format!("proto {other:?} is not tcp or udp"))),
        };
        let number = |name: &str| -> Result<u64, TrafficError> {
            match get(name) {
                None => Ok(0),
                Some(s) => s
                    .parse()
                    .map_err(|_| bad(format!("{name} {s:?} is not a byte count"))),
            }
        };
        let mut sent = number("bytes_sent")?;
        let received = number("bytes_received")?;
        if sent == 0 && received == 0 {
            sent = number("bytes")?;
        }
        if let Some(ts) = get("ts") {
            let t = parse_time(ts).ok_or_else(|| bad(format!("ts {ts:?} is not a time")))?;
            obs.saw_time(t);
        }
        let name = get("hostname").map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        obs.packets += 1;
        let key = EndpointKey::new(ip, port, transport, name);
        obs.add_connection(key, sent, received, limits, path)?;
    }
    if columns.is_none() {
        return Err(TrafficError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(obs)
}

/// Splits one CSV line into fields; `"` quotes a field, `""` inside quotes is a quote.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut field));
                at_start = true;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(field);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_with_quotes() {
        assert_eq!(split("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            split("\"x,y\",\"say \"\"hi\"\"\"").unwrap(),
            ["x,y", "say \"hi\""]
        );
        assert!(split("\"open").is_err());
    }
}
