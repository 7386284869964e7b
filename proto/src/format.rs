//! Generic format checks the statement rules use: lowercase hex SHA-256 digests, UUIDs, ISO 3166-1
//! alpha-2 country codes, DNS host names and patterns, IP ranges, absolute URIs, RFC 3339
//! timestamps (parse and format) and ISO 8601 durations. Each `is_*`/`parse_*` function
//! decides; each `check_*` function names the problem for a statement's field error.

/// Whether `s` is a lowercase hex SHA-256 digest.
#[must_use]
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn check_sha256(s: &str) -> Result<(), String> {
    if is_sha256_hex(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a lowercase hex SHA-256 digest"))
    }
}

/// The version-4 UUID of 16 random bytes (version and RFC 4122 variant bits set), lowercase.
#[must_use]
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `s` is a lowercase UUID (8-4-4-4-12 hex digits).
#[must_use]
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        })
}

pub(crate) fn check_uuid(s: &str) -> Result<(), String> {
    if is_uuid(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a lowercase UUID (8-4-4-4-12 hex digits)"
        ))
    }
}

/// Officially assigned ISO 3166-1 alpha-2 codes (249), sorted.
pub const ISO3166_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Whether `s` is an officially assigned ISO 3166-1 alpha-2 code (uppercase).
#[must_use]
pub fn is_country(s: &str) -> bool {
    ISO3166_ALPHA2.binary_search(&s).is_ok()
}

pub(crate) fn check_country(s: &str) -> Result<(), String> {
    if is_country(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an ISO 3166-1 alpha-2 code"))
    }
}

pub(crate) fn check_hostname(s: &str) -> Result<(), String> {
    let h = s.strip_prefix("*.").unwrap_or(s);
    let ok = h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a lowercase dns host name"))
    }
}

pub(crate) fn check_ip_range(s: &str) -> Result<(), String> {
    IpRange::parse(s)
        .map(|_| ())
        .ok_or_else(|| format!("{s:?} is not an ip address or cidr range"))
}

/// A destination's `ip_ranges[]` item: an IP address or a CIDR range (`192.0.2.0/24`,
/// `2001:db8::/32`). Host bits below the prefix are ignored when matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The address as written.
    pub addr: std::net::IpAddr,
    /// The prefix length (32 or 128 for a single address).
    pub prefix: u8,
}

impl IpRange {
    /// Parses an address or CIDR range; `None` if it is neither.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr.parse::<std::net::IpAddr>().ok()?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n = p.parse::<u8>().ok()?;
                if n > max {
                    return None;
                }
                n
            }
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` lies in this range (an IPv4 address never lies in an IPv6 range and the
    /// other way round).
    #[must_use]
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let shift = 32 - u32::from(self.prefix);
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let shift = 128 - u32::from(self.prefix);
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// Whether the DNS name `name` matches a destination's `hostnames[]` item `pattern`:
/// equal names (ASCII case and a trailing dot ignored), or, for a pattern `*.d`, any name
/// with one or more labels in front of `.d` (but not `d` itself).
#[must_use]
pub fn hostname_matches(pattern: &str, name: &str) -> bool {
    let norm = |s: &str| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let name = norm(name);
    let pattern = norm(pattern);
    match pattern.strip_prefix("*.") {
        Some(domain) => name
            .strip_suffix(domain)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|head| !head.is_empty()),
        None => name == pattern,
    }
}

pub(crate) fn check_uri(s: &str) -> Result<(), String> {
    let ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    }) && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an absolute uri"))
    }
}

pub(crate) fn check_rfc3339(s: &str) -> Result<(), String> {
    if parse_rfc3339(s).is_some() {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an RFC 3339 timestamp (e.g. 2026-11-01T00:00:00Z)"
        ))
    }
}

pub(crate) fn check_duration(s: &str) -> Result<(), String> {
    if is_iso8601_duration(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an ISO 8601 duration (e.g. P1Y, P30D, PT12H)"
        ))
    }
}

/// An instant parsed from an RFC 3339 timestamp: seconds since the Unix epoch (UTC) and
/// nanoseconds. Orders chronologically. A leap second (`:60`) counts as the next second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: i64,
    /// Fraction of a second, in nanoseconds (digits beyond the ninth are dropped).
    pub nanos: u32,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), the form
/// [`parse_rfc3339`] reads back.
#[must_use]
pub fn format_rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses an RFC 3339 `date-time` strictly: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with
/// calendar-valid dates (`T` and `Z` may be lowercase, as RFC 3339 §5.6 allows).
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = i64::from(digits(&b[5..7])?);
    let day = i64::from(digits(&b[8..10])?);
    let hour = i64::from(digits(&b[11..13])?);
    let min = i64::from(digits(&b[14..16])?);
    let sec = i64::from(digits(&b[17..19])?);
    let mdays = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > mdays || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scaled = 0u32;
        for i in 0..9 {
            let d = frac
                .get(i)
                .filter(|_| i < n)
                .map_or(0, |c| u32::from(c - b'0'));
            scaled = scaled * 10 + d;
        }
        nanos = scaled;
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = i64::from(digits(&[*h1, *h2])?);
            let om = i64::from(digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let unix_seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Some(Timestamp {
        unix_seconds,
        nanos,
    })
}

/// Whether `s` is an ISO 8601 duration `PnYnMnWnDTnHnMnS` (integer components in this order,
/// at least one, at least one after a `T`), e.g. `P1Y`, `P30D`, `PT12H`, `P1Y6M`.
#[must_use]
pub fn is_iso8601_duration(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    fn components(part: &str, units: &[u8]) -> Option<usize> {
        let mut count = 0;
        let mut next_unit = 0;
        let b = part.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start || i == b.len() || i - start > 18 {
                return None;
            }
            let pos = units[next_unit..].iter().position(|&u| u == b[i])?;
            next_unit += pos + 1;
            count += 1;
            i += 1;
        }
        Some(count)
    }
    let Some(d) = components(date, b"YMWD") else {
        return false;
    };
    match time {
        None => d > 0,
        Some(t) => components(t, b"HMS").is_some_and(|n| n > 0),
    }
}
