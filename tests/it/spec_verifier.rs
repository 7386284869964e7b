//! A receipt verifier written from `docs/spec.md` alone (§2–§4, §6, §7.4, §9, §10.2), using
//! none of `attestlog-proto` or `attestlog-client`: only SHA-256, Ed25519 `verify_strict`,
//! base64 and a JSON parser. The test starts a witnessed log, enrols vendor and verifier keys,
//! logs a claim in three versions, another vendor's claim and a verification statement, and
//! checks that this verifier accepts every receipt the log serves and refuses each tampering.
//!
//! Section numbers in the comments are those of `docs/spec.md`. Of the statement rules of
//! §6.5/§6.6 it checks the members a receipt's verdict, a version chain and a verification's
//! subject depend on (types, identities, names, times, the subject/artifact cross-check), not
//! the vocabulary lists (countries, categories, hostnames), which the log's monitors replay.
//! COSE entries (§11.1) and registration policy entries (§11.6) are parsed by its SCITT half,
//! `spec_verifier_scitt`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub(crate) type H = [u8; 32];
pub(crate) type R<T> = Result<T, String>;

const INTOTO: &str = "application/vnd.in-toto+json";
const ENROLMENT: &str = "application/vnd.attestlog.enrolment+json";
const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub(crate) const DATA_FLOWS: &str = "https://attestlog.dev/data-flows/v1";
pub(crate) const VERIFICATION: &str = "https://attestlog.dev/verification/v1";
pub(crate) const MAX_ENTRY: usize = 65_535;
const MAX_NOTE: usize = 1 << 20;

pub(crate) fn ensure(ok: bool, why: impl FnOnce() -> String) -> R<()> {
    if ok { Ok(()) } else { Err(why()) }
}

pub(crate) fn sha256(parts: &[&[u8]]) -> H {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// §3: leaf hash = SHA-256(0x00 ‖ entry).
pub(crate) fn leaf_hash(entry: &[u8]) -> H {
    sha256(&[&[0], entry])
}

pub(crate) fn node_hash(l: &H, r: &H) -> H {
    sha256(&[&[1], l, r])
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// §2.1: standard padded base64 (a non-canonical padding or non-zero trailing bits refused).
fn b64(s: &str) -> R<Vec<u8>> {
    STANDARD
        .decode(s)
        .map_err(|e| format!("not standard padded base64 ({e}): {s:?}"))
}

fn b64_hash(s: &str) -> R<H> {
    b64(s)?
        .try_into()
        .map_err(|_| format!("hash {s:?} is not 32 bytes"))
}

/// §6.2: a DSSE base64 field, standard or URL-safe, padded or not, no non-zero trailing bits.
fn b64_dsse(s: &str) -> R<Vec<u8>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| format!("not base64: {s:?}"))
}

/// Decimal without leading zeros (§4.2, §9.1), a u64.
fn decimal(s: &str) -> R<u64> {
    ensure(
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0')),
        || format!("not a decimal without leading zeros: {s:?}"),
    )?;
    s.parse()
        .map_err(|_| format!("decimal {s:?} is over 2^64-1"))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---- §2.4 strict JSON: RFC 8259, no repeated member name at any depth ----

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(json!(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(json!(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(json!(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = a.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some((k, Strict(v))) = a.next_entry::<String, Strict>()? {
            if out.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("repeated member {k:?}")));
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}

pub(crate) fn strict_json(bytes: &[u8]) -> R<Value> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| format!("not strict JSON: {e}"))
}

/// An object with exactly the members `required` and any of `optional`.
pub(crate) fn members<'a>(
    v: &'a Value,
    required: &[&str],
    optional: &[&str],
    what: &str,
) -> R<&'a Map<String, Value>> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    for k in o.keys() {
        ensure(
            required.contains(&k.as_str()) || optional.contains(&k.as_str()),
            || format!("{what} has an unknown member {k:?}"),
        )?;
    }
    for k in required {
        ensure(o.contains_key(*k), || format!("{what} lacks {k:?}"))?;
    }
    Ok(o)
}

fn string<'a>(v: &'a Value, what: &str) -> R<&'a str> {
    v.as_str().ok_or_else(|| format!("{what} is not a string"))
}

/// §2.5 non-empty string: at least one non-whitespace character.
fn non_empty<'a>(v: &'a Value, what: &str) -> R<&'a str> {
    let s = string(v, what)?;
    ensure(s.chars().any(|c| !c.is_whitespace()), || {
        format!("{what} is empty")
    })?;
    Ok(s)
}

/// §6.5: an integer 0…2^53−1.
fn index_int(v: &Value, what: &str) -> R<u64> {
    v.as_u64()
        .filter(|n| *n < 1 << 53)
        .ok_or_else(|| format!("{what} is not an integer 0…2^53−1"))
}

/// §2.5 uuid: 8-4-4-4-12 lowercase hex.
fn uuid(v: &Value, what: &str) -> R<String> {
    let s = string(v, what)?;
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        });
    ensure(ok, || format!("{what} is not a uuid: {s:?}"))?;
    Ok(s.to_owned())
}

/// §2.5 timestamp, as an instant (UTC seconds, nanoseconds).
fn timestamp(v: &Value, what: &str) -> R<(i64, u32)> {
    let s = string(v, what)?;
    let bad = || format!("{what} is not an RFC 3339 date-time: {s:?}");
    let b = s.as_bytes();
    let num = |at: usize, n: usize| -> R<i64> {
        let d = b.get(at..at + n).ok_or_else(bad)?;
        ensure(d.iter().all(u8::is_ascii_digit), bad)?;
        Ok(d.iter().fold(0, |a, c| a * 10 + i64::from(c - b'0')))
    };
    let sep = |at: usize, set: &[u8]| ensure(b.get(at).is_some_and(|c| set.contains(c)), bad);
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt")?;
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    sep(13, b":")?;
    sep(16, b":")?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        ensure(i > start, bad)?;
        let digits = format!("{:0<9}", &s[start..i.min(start + 9)]);
        nanos = digits.parse().map_err(|_| bad())?;
    }
    let offset = match &b[i.min(b.len())..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 => {
            sep(i + 3, b":")?;
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            ensure(oh <= 23 && om <= 59, bad)?;
            (oh * 60 + om) * 60 * if *sign == b'+' { 1 } else { -1 }
        }
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    ensure((1..=12).contains(&mo), bad)?;
    ensure(
        d >= 1 && d <= days_in[usize::try_from(mo - 1).map_err(|_| bad())?],
        bad,
    )?;
    ensure(h <= 23 && mi <= 59 && sec <= 60, bad)?;
    // Days from 1970-01-01 (proleptic Gregorian, H. Hinnant's days_from_civil).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Ok((days * 86_400 + h * 3600 + mi * 60 + sec - offset, nanos))
}

// ---- §2.3 keys ----

/// A signed-note verifier key.
#[derive(Clone, Debug)]
pub struct NoteKey {
    pub(crate) name: String,
    pub(crate) key_type: u8,
    pub(crate) id: [u8; 4],
    pub(crate) key: VerifyingKey,
}

pub(crate) fn key_id(name: &str, key_type: u8, key: &[u8; 32]) -> [u8; 4] {
    let h = sha256(&[name.as_bytes(), &[b'\n', key_type], key]);
    [h[0], h[1], h[2], h[3]]
}

/// §2.3 verifier key string `<name>+<8 hex key ID>+<base64(type ‖ key)>`.
pub fn parse_vkey(s: &str) -> R<NoteKey> {
    let mut parts = s.splitn(3, '+');
    let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(i), Some(k)) => (n, i, k),
        _ => return Err(format!("not a verifier key: {s:?}")),
    };
    ensure(valid_key_name(name), || format!("bad key name {name:?}"))?;
    ensure(is_lower_hex(id, 8), || format!("bad key ID {id:?}"))?;
    let raw = b64(key)?;
    ensure(raw.len() == 33 && (raw[0] == 1 || raw[0] == 4), || {
        format!("key {s:?} is not a type byte 0x01/0x04 and 32 bytes")
    })?;
    let pk: [u8; 32] = raw[1..].try_into().map_err(|_| "key length".to_owned())?;
    let vk = VerifyingKey::from_bytes(&pk).map_err(|e| format!("key is not a point: {e}"))?;
    let computed = key_id(name, raw[0], &pk);
    ensure(hex(&computed) == id, || {
        format!("key ID {id} is not the key's ({})", hex(&computed))
    })?;
    Ok(NoteKey {
        name: name.to_owned(),
        key_type: raw[0],
        id: computed,
        key: vk,
    })
}

/// §2.3 key name: non-empty, no whitespace, no control character, no `+`.
fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// §2.2: every signature is checked with `verify_strict`.
pub(crate) fn ed25519_ok(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    <[u8; 64]>::try_from(sig)
        .is_ok_and(|s| key.verify_strict(msg, &Signature::from_bytes(&s)).is_ok())
}

// ---- §4 signed notes, checkpoints, cosignatures ----

struct Note {
    text: String,
    sigs: Vec<(String, Vec<u8>)>,
}

/// §4.1: parse a signed note (not yet verified).
fn parse_note(note: &str) -> R<Note> {
    ensure(note.len() <= MAX_NOTE, || "note over 1 MiB".into())?;
    ensure(!note.bytes().any(|b| b < 0x20 && b != b'\n'), || {
        "control byte in note".into()
    })?;
    let at = note.rfind("\n\n").ok_or("note without a blank line")?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    let sigs = sigs
        .strip_suffix('\n')
        .ok_or("note does not end in a newline")?;
    let mut out = Vec::new();
    for line in sigs.split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| format!("malformed signature line {line:?}"))?;
        let (name, sig) = rest
            .split_once(' ')
            .ok_or_else(|| format!("malformed signature line {line:?}"))?;
        let sig = b64(sig)?;
        ensure(valid_key_name(name) && sig.len() >= 5, || {
            format!("malformed signature line {line:?}")
        })?;
        out.push((name.to_owned(), sig));
    }
    ensure(out.len() <= 100, || "over 100 signature lines".into())?;
    Ok(Note {
        text: text.to_owned(),
        sigs: out,
    })
}

pub(crate) struct Checkpoint {
    pub(crate) origin: String,
    pub(crate) size: u64,
    pub(crate) root: H,
}

/// §4.2: `<origin>\n<size>\n<base64 root>\n`, then (never written by this log) extension lines.
fn parse_checkpoint(text: &str) -> R<Checkpoint> {
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect();
    ensure(lines.len() >= 3 && !lines[0].is_empty(), || {
        format!("not a checkpoint: {text:?}")
    })?;
    ensure(lines[3..].iter().all(|l| !l.is_empty()), || {
        "empty extension line".into()
    })?;
    Ok(Checkpoint {
        origin: lines[0].to_owned(),
        size: decimal(lines[1])?,
        root: b64_hash(lines[2])?,
    })
}

/// The trust anchors: the log's keys and, optionally, witnesses of which `quorum` must cosign
/// (a tlog-policy `group Q k w1 … wn` + `quorum Q`, §10.2).
pub struct Trust {
    pub log_keys: Vec<NoteKey>,
    pub witnesses: Vec<NoteKey>,
    pub quorum: usize,
}

/// §4.2, §4.4, §10.2: the checkpoint's note verifies under the trusted log keys named after
/// its origin, every cosignature by a trusted witness verifies, and enough witnesses cosigned.
/// Returns the checkpoint, the note text and the names of the witnesses that cosigned.
pub(crate) fn verify_checkpoint(note: &str, trust: &Trust) -> R<(Checkpoint, String, Vec<String>)> {
    let n = parse_note(note)?;
    let cp = parse_checkpoint(&n.text)?;
    let keys: Vec<&NoteKey> = trust
        .log_keys
        .iter()
        .filter(|k| k.name == cp.origin && k.key_type == 1)
        .collect();
    ensure(!keys.is_empty(), || {
        format!("unknown origin {:?}", cp.origin)
    })?;
    let mut verified = 0;
    let mut cosigned = Vec::new();
    for (name, sig) in &n.sigs {
        // The first trusted key the line names (§4.1).
        if let Some(k) = keys.iter().find(|k| &k.name == name && sig[..4] == k.id) {
            ensure(ed25519_ok(&k.key, n.text.as_bytes(), &sig[4..]), || {
                format!("the checkpoint signature by {name} does not verify")
            })?;
            verified += 1;
        }
        if let Some(w) = trust
            .witnesses
            .iter()
            .find(|w| &w.name == name && sig[..4] == w.id)
        {
            ensure(sig.len() == 76, || {
                format!("cosignature by {name} is not 76 bytes")
            })?;
            let time = u64::from_be_bytes(sig[4..12].try_into().map_err(|_| "time".to_owned())?);
            ensure(time < 1 << 63, || {
                format!("cosignature time of {name} over 2^63-1")
            })?;
            let msg = format!("cosignature/v1\ntime {time}\n{}", n.text);
            ensure(ed25519_ok(&w.key, msg.as_bytes(), &sig[12..]), || {
                format!("the cosignature by {name} does not verify")
            })?;
            if !cosigned.contains(name) {
                cosigned.push(name.clone());
            }
        }
    }
    ensure(verified > 0, || "no signature by a trusted log key".into())?;
    ensure(cosigned.len() >= trust.quorum, || {
        format!(
            "{} of {} witness cosignatures needed",
            cosigned.len(),
            trust.quorum
        )
    })?;
    Ok((cp, n.text, cosigned))
}

// ---- §3, §9.1 tlog-proof and inclusion ----

pub(crate) struct TlogProof {
    pub(crate) index: u64,
    pub(crate) hashes: Vec<H>,
    pub(crate) note: String,
}

pub(crate) fn parse_tlog_proof(s: &str) -> R<TlogProof> {
    ensure(s.len() <= MAX_NOTE + 64 * 1024, || {
        "tlog-proof too large".into()
    })?;
    let mut rest = s
        .strip_prefix("c2sp.org/tlog-proof@v1\n")
        .ok_or("no tlog-proof header")?;
    let mut line = || -> R<&str> {
        let (l, r) = rest.split_once('\n').ok_or("tlog-proof ends early")?;
        rest = r;
        Ok(l)
    };
    let mut l = line()?;
    if let Some(extra) = l.strip_prefix("extra ") {
        ensure(!b64(extra)?.is_empty(), || "empty extra".into())?;
        l = line()?;
    }
    let index = decimal(l.strip_prefix("index ").ok_or("no index line")?)?;
    let mut hashes = Vec::new();
    loop {
        let l = line()?;
        if l.is_empty() {
            break;
        }
        hashes.push(b64_hash(l)?);
        ensure(hashes.len() <= 64, || "over 64 proof hashes".into())?;
    }
    Ok(TlogProof {
        index,
        hashes,
        note: rest.to_owned(),
    })
}

/// RFC 9162 §2.1.3.2.
pub(crate) fn inclusion_root(leaf: H, index: u64, size: u64, proof: &[H]) -> R<H> {
    ensure(index < size, || {
        format!("the inclusion proof's index {index} is not below the tree size {size}")
    })?;
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in proof {
        ensure(s != 0, || "the inclusion proof is too long".into())?;
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    ensure(s == 0, || "the inclusion proof is too short".into())?;
    Ok(r)
}

// ---- §6.2 DSSE ----

struct Dsse {
    payload_type: String,
    payload: Vec<u8>,
    sigs: Vec<(String, [u8; 64])>,
}

/// RFC 8785 string: `"` and `\` escaped, U+0000–U+001F as `\b \t \n \f \r` or `\u00xx`.
fn jcs_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\u{8}' => o.push_str("\\b"),
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            '\u{c}' => o.push_str("\\f"),
            '\r' => o.push_str("\\r"),
            c if c < ' ' => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// §6.2: the canonical entry of an envelope.
fn canonical(d: &Dsse) -> Vec<u8> {
    let mut sigs = d.sigs.clone();
    sigs.sort();
    sigs.dedup();
    let sigs: Vec<String> = sigs
        .iter()
        .map(|(k, s)| format!("{{\"keyid\":\"{k}\",\"sig\":\"{}\"}}", STANDARD.encode(s)))
        .collect();
    format!(
        "{{\"payload\":\"{}\",\"payloadType\":{},\"signatures\":[{}]}}",
        STANDARD.encode(&d.payload),
        jcs_string(&d.payload_type),
        sigs.join(",")
    )
    .into_bytes()
}

/// §6.2: a stored entry is valid DSSE only if it parses and equals its canonical encoding.
fn parse_dsse_entry(entry: &[u8]) -> R<Dsse> {
    ensure(entry.len() <= MAX_ENTRY, || {
        "entry over 65,535 bytes".into()
    })?;
    let v = strict_json(entry)?;
    let o = members(
        &v,
        &["payloadType", "payload", "signatures"],
        &[],
        "envelope",
    )?;
    let payload_type = string(&o["payloadType"], "payloadType")?.to_owned();
    let payload = b64_dsse(string(&o["payload"], "payload")?)?;
    let arr = o["signatures"]
        .as_array()
        .ok_or("signatures is not an array")?;
    ensure(!arr.is_empty(), || "no signatures".into())?;
    let mut sigs = Vec::new();
    for s in arr {
        let so = members(s, &["keyid", "sig"], &[], "signature")?;
        let keyid = string(&so["keyid"], "keyid")?;
        ensure(is_lower_hex(keyid, 8), || {
            format!("keyid {keyid:?} is not 8 lowercase hex")
        })?;
        let sig: [u8; 64] = b64_dsse(string(&so["sig"], "sig")?)?
            .try_into()
            .map_err(|_| "sig is not 64 bytes".to_owned())?;
        sigs.push((keyid.to_owned(), sig));
    }
    let d = Dsse {
        payload_type,
        payload,
        sigs,
    };
    ensure(canonical(&d) == entry, || {
        "entry is not in canonical form".into()
    })?;
    Ok(d)
}

/// DSSE v1 PAE.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    m.extend_from_slice(payload);
    m
}

/// Some signature naming `key`'s ID verifies under it.
fn signed_by(d: &Dsse, key: &NoteKey) -> bool {
    let m = pae(&d.payload_type, &d.payload);
    d.sigs
        .iter()
        .any(|(id, s)| *id == hex(&key.id) && ed25519_ok(&key.key, &m, s))
}

// ---- §6.7 enrolment payloads ----

struct Enrolment {
    vendor: String,
    key: NoteKey,
    action: String,
    role: Option<String>,
}

fn parse_enrolment(payload: &[u8]) -> R<Enrolment> {
    let v = strict_json(payload)?;
    let o = members(
        &v,
        &["vendor", "key", "action", "issued_at"],
        &["role"],
        "enrolment",
    )?;
    let vendor = string(&o["vendor"], "vendor")?;
    ensure(
        !vendor.is_empty() && vendor.trim() == vendor && !vendor.chars().any(char::is_control),
        || format!("bad enrolment vendor {vendor:?}"),
    )?;
    let key = parse_vkey(string(&o["key"], "key")?)?;
    ensure(key.key_type == 1, || {
        "enrolled key is not of type 0x01".into()
    })?;
    let action = string(&o["action"], "action")?;
    ensure(action == "enrol" || action == "revoke", || {
        format!("bad action {action:?}")
    })?;
    timestamp(&o["issued_at"], "issued_at")?;
    let role = o.get("role").map(|r| string(r, "role")).transpose()?;
    ensure(
        role.is_none() || (role == Some("verifier") && action == "enrol"),
        || format!("bad role {role:?}"),
    )?;
    Ok(Enrolment {
        vendor: vendor.to_owned(),
        key,
        action: action.to_owned(),
        role: role.map(str::to_owned),
    })
}

// ---- §6.5, §6.6 statements (the members a verdict depends on) ----

fn sha256_hex(v: &Value, what: &str) -> R<String> {
    let s = string(v, what)?;
    ensure(is_lower_hex(s, 64), || {
        format!("{what} is not 64 lowercase hex")
    })?;
    Ok(s.to_owned())
}

/// `(name, digest.sha256)` of each subject.
fn subjects(st: &Value) -> R<Vec<(String, String)>> {
    ensure(st["_type"] == STATEMENT_V1, || {
        "_type is not in-toto Statement v1".into()
    })?;
    let subs = st["subject"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("subject is not a non-empty array")?;
    let mut out = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        let digest = s["digest"]
            .as_object()
            .ok_or_else(|| format!("subject[{i}].digest"))?;
        ensure(digest.values().all(Value::is_string), || {
            format!("subject[{i}].digest member not a string")
        })?;
        out.push((
            non_empty(&s["name"], "subject.name")?.to_owned(),
            sha256_hex(&s["digest"]["sha256"], "subject.digest.sha256")?,
        ));
    }
    Ok(out)
}

fn not_null(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

/// §6.5: returns the signing party's name.
fn check_attestation(st: &Value) -> R<String> {
    let mut subs = subjects(st)?;
    ensure(st["predicateType"] == DATA_FLOWS, || {
        "predicateType is not data-flows/v1".into()
    })?;
    let p = &st["predicate"];
    let id = uuid(&p["attestation_id"], "predicate.attestation_id")?;
    if let Some(sup) = not_null(&p["supersedes"]) {
        ensure(
            uuid(&sup["attestation_id"], "supersedes.attestation_id")? == id,
            || "supersedes.attestation_id is not attestation_id".into(),
        )?;
        index_int(&sup["log_index"], "supersedes.log_index")?;
    }
    let status = string(&p["status"], "status")?;
    ensure(["active", "revoked", "withdrawn"].contains(&status), || {
        format!("bad status {status}")
    })?;
    timestamp(&p["issued_at"], "issued_at")?;
    ensure(
        timestamp(&p["valid_until"], "valid_until")? > timestamp(&p["valid_from"], "valid_from")?,
        || "valid_until is not later than valid_from".into(),
    )?;
    let arts = p["product"]["artifacts"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("no artifacts")?;
    let mut arts = arts
        .iter()
        .map(|a| {
            Ok((
                non_empty(&a["name"], "artifact name")?.to_owned(),
                sha256_hex(&a["sha256"], "artifact sha256")?,
            ))
        })
        .collect::<R<Vec<_>>>()?;
    subs.sort();
    arts.sort();
    ensure(subs == arts, || {
        "subjects are not the product's artifacts".into()
    })?;
    ensure(
        p["data_flows"].as_array().is_some_and(|a| !a.is_empty()),
        || "no data_flows".into(),
    )?;
    Ok(non_empty(&p["vendor"]["legal_name"], "predicate.vendor.legal_name")?.to_owned())
}

/// §6.6: returns the signing party's name.
fn check_verification(st: &Value) -> R<String> {
    let subs = subjects(st)?;
    ensure(subs.len() == 1, || {
        "a verification has exactly one subject".into()
    })?;
    let p = &st["predicate"];
    let se = &p["subject_entry"];
    let index = index_int(&se["log_index"], "subject_entry.log_index")?;
    sha256_hex(&se["leaf_hash"], "subject_entry.leaf_hash")?;
    uuid(&se["attestation_id"], "subject_entry.attestation_id")?;
    ensure(subs[0].0 == format!("log-entry/{index}"), || {
        "subject name is not log-entry/<index>".into()
    })?;
    if let Some(sup) = not_null(&p["supersedes"]) {
        index_int(&sup["log_index"], "supersedes.log_index")?;
    }
    timestamp(&p["issued_at"], "issued_at")?;
    let findings = p["findings"].as_array().ok_or("findings is not an array")?;
    let mut contradicted = false;
    for f in findings {
        index_int(&f["data_flow"], "findings.data_flow")?;
        let r = string(&f["result"], "findings.result")?;
        ensure(
            ["consistent", "contradicted", "not_tested"].contains(&r),
            || format!("bad result {r}"),
        )?;
        contradicted |= r == "contradicted";
    }
    let verdict = string(&p["verdict"], "verdict")?;
    ensure(
        ["consistent", "contradicted", "inconclusive"].contains(&verdict),
        || format!("bad verdict {verdict}"),
    )?;
    ensure(!contradicted || verdict == "contradicted", || {
        "a contradicted finding needs verdict contradicted".into()
    })?;
    Ok(non_empty(
        &p["verifier"]["legal_name"],
        "predicate.verifier.legal_name",
    )?
    .to_owned())
}

// ---- §9 receipts ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Enrolment,
    /// A registration policy entry (§11.6).
    Policy,
    Attestation,
    Verification,
}

/// What a verified receipt shows.
#[derive(Clone)]
pub struct Verified {
    pub kind: Kind,
    pub index: u64,
    pub entry: Vec<u8>,
    pub origin: String,
    pub tree_size: u64,
    pub statement: Value,
    /// The vendor (verifier) name whose enrolled key signed; the enrolled vendor for an enrolment.
    pub name: String,
    pub enrolment_index: Option<u64>,
    pub cosigned_by: Vec<String>,
}

/// A DSSE entry signed by a trusted log key named after `origin` (§4.3, §9.2).
fn signed_by_log(d: &Dsse, origin: &str, trust: &Trust) -> R<()> {
    ensure(
        trust
            .log_keys
            .iter()
            .any(|k| k.name == origin && k.key_type == 1 && signed_by(d, k)),
        || "not signed by a trusted log key".into(),
    )
}

/// A logged entry: a canonical DSSE envelope or a signed statement (§6.1).
enum Signed {
    Dsse(Dsse),
    Cose(crate::spec_verifier_scitt::Statement),
}

/// §9.2: verify a JSON receipt offline.
pub fn verify_receipt(receipt: &Value, trust: &Trust) -> R<Verified> {
    use crate::spec_verifier_scitt::{POLICY, parse_cose_entry, parse_policy};
    let o = members(receipt, &["entry", "proof"], &["enrolment"], "receipt")?;
    // 1. The entry (§6.1: its first byte tells its format).
    let entry = b64(string(&o["entry"], "entry")?)?;
    let signed = if entry.first() == Some(&0xd2) {
        Signed::Cose(parse_cose_entry(&entry)?)
    } else {
        Signed::Dsse(parse_dsse_entry(&entry)?)
    };
    // A signed statement counts as in-toto (§9.2 step 4).
    let (payload_type, payload) = match &signed {
        Signed::Dsse(d) => (d.payload_type.as_str(), d.payload.as_slice()),
        Signed::Cose(s) => (INTOTO, s.payload.as_slice()),
    };
    // 2. The proof and its checkpoint.
    let proof = parse_tlog_proof(string(&o["proof"], "proof")?)?;
    let (cp, text, cosigned_by) = verify_checkpoint(&proof.note, trust)?;
    // 3. Inclusion.
    let root = inclusion_root(leaf_hash(&entry), proof.index, cp.size, &proof.hashes)?;
    ensure(root == cp.root, || {
        "the inclusion proof does not lead to the checkpoint's root".into()
    })?;
    // 4. By payload type.
    let (kind, statement, name, role) = match (&signed, payload_type) {
        (Signed::Dsse(d), ENROLMENT | POLICY) => {
            ensure(!o.contains_key("enrolment"), || {
                "an enrolment or policy entry has no enrolment part".into()
            })?;
            signed_by_log(d, &cp.origin, trust)?;
            let (kind, name) = if payload_type == ENROLMENT {
                (Kind::Enrolment, parse_enrolment(payload)?.vendor)
            } else {
                parse_policy(payload)?;
                (Kind::Policy, String::new())
            };
            return Ok(Verified {
                kind,
                index: proof.index,
                statement: strict_json(payload)?,
                entry,
                origin: cp.origin,
                tree_size: cp.size,
                name,
                enrolment_index: None,
                cosigned_by,
            });
        }
        (_, INTOTO) => {
            let st = strict_json(payload)?;
            if st["predicateType"] == VERIFICATION {
                let name = check_verification(&st)?;
                (Kind::Verification, st, name, Some("verifier"))
            } else {
                let name = check_attestation(&st)?;
                (Kind::Attestation, st, name, None)
            }
        }
        (_, other) => return Err(format!("unsupported payload type {other:?}")),
    };
    let en = o.get("enrolment").ok_or("no enrolment part")?;
    let eo = members(en, &["entry", "proof"], &[], "enrolment part")?;
    let e_entry = b64(string(&eo["entry"], "enrolment.entry")?)?;
    let ed = parse_dsse_entry(&e_entry)?;
    ensure(ed.payload_type == ENROLMENT, || {
        "the enrolment part is not an enrolment".into()
    })?;
    signed_by_log(&ed, &cp.origin, trust)?;
    let e = parse_enrolment(&ed.payload)?;
    let e_proof = parse_tlog_proof(string(&eo["proof"], "enrolment.proof")?)?;
    let e_note = parse_note(&e_proof.note)?;
    ensure(e_note.text == text, || {
        "the enrolment's proof is not against the entry's checkpoint".into()
    })?;
    let e_root = inclusion_root(leaf_hash(&e_entry), e_proof.index, cp.size, &e_proof.hashes)?;
    ensure(e_root == cp.root, || {
        "the enrolment's inclusion proof does not lead to the root".into()
    })?;
    ensure(e.action == "enrol", || {
        "the enrolment part is a revocation".into()
    })?;
    ensure(e.vendor == name, || {
        format!("the key is enrolled for {:?}, not {name:?}", e.vendor)
    })?;
    ensure(e_proof.index < proof.index, || {
        "the enrolment is not below the entry".into()
    })?;
    match &signed {
        Signed::Dsse(d) => {
            ensure(d.sigs.iter().any(|(id, _)| *id == hex(&e.key.id)), || {
                "no signature names the enrolled key".into()
            })?;
            ensure(signed_by(d, &e.key), || {
                "no signature by the enrolled key verifies".into()
            })?;
        }
        Signed::Cose(s) => {
            crate::spec_verifier_scitt::statement_signed_by(s, &e.key)?;
            ensure(
                crate::spec_verifier_scitt::statement_subject(&statement) == Some(s.sub.as_str()),
                || format!("the statement's sub {:?} is not its subject", s.sub),
            )?;
        }
    }
    ensure(e.role.as_deref() == role, || {
        format!("the key is enrolled with role {:?}", e.role)
    })?;
    Ok(Verified {
        kind,
        index: proof.index,
        entry,
        origin: cp.origin,
        tree_size: cp.size,
        statement,
        name,
        enrolment_index: Some(e_proof.index),
        cosigned_by,
    })
}

/// §7.4, as an offline check of versions given as verified receipts: they are one claim's
/// complete line of versions in index order — the first names no `supersedes`, each later one
/// comes from the owner, names the previous one's index and is issued strictly later. Returns
/// the head's index.
pub fn check_chain(versions: &[&Verified]) -> R<u64> {
    let first = versions.first().ok_or("no versions")?;
    let id = &first.statement["predicate"]["attestation_id"];
    ensure(
        not_null(&first.statement["predicate"]["supersedes"]).is_none(),
        || {
            format!(
                "the first version (index {}) names a supersedes",
                first.index
            )
        },
    )?;
    for pair in versions.windows(2) {
        let (head, next) = (pair[0], pair[1]);
        let p = &next.statement["predicate"];
        ensure(
            next.kind == Kind::Attestation && p["attestation_id"] == *id,
            || format!("index {} is not a version of {id}", next.index),
        )?;
        ensure(next.name == first.name, || {
            format!(
                "index {} is not from the owner {:?}",
                next.index, first.name
            )
        })?;
        ensure(next.index > head.index, || {
            "versions are not in index order".into()
        })?;
        ensure(
            p["supersedes"]["log_index"].as_u64() == Some(head.index),
            || {
                format!(
                    "index {} does not supersede the head, index {}",
                    next.index, head.index
                )
            },
        )?;
        let t = |v: &Verified| timestamp(&v.statement["predicate"]["issued_at"], "issued_at");
        ensure(t(next)? > t(head)?, || {
            format!("index {} is not issued after the head", next.index)
        })?;
    }
    Ok(versions.last().map_or(0, |v| v.index))
}

/// §9.2 (and §7.3 step 4): a verification's subject, checked with the subject's own receipt.
pub fn check_subject(ver: &Verified, subject: &Verified) -> R<()> {
    ensure(
        ver.kind == Kind::Verification && subject.kind == Kind::Attestation,
        || "kinds".into(),
    )?;
    ensure(ver.origin == subject.origin, || {
        "the subject is in another log".into()
    })?;
    let se = &ver.statement["predicate"]["subject_entry"];
    ensure(se["log_index"].as_u64() == Some(subject.index), || {
        "subject_entry.log_index".into()
    })?;
    ensure(se["leaf_hash"] == hex(&leaf_hash(&subject.entry)), || {
        "subject_entry.leaf_hash".into()
    })?;
    ensure(
        se["attestation_id"] == subject.statement["predicate"]["attestation_id"],
        || "subject_entry.attestation_id".into(),
    )?;
    ensure(
        ver.statement["subject"][0]["digest"]["sha256"] == hex(&sha256(&[&subject.entry])),
        || "subject[0].digest.sha256".into(),
    )?;
    let flows = subject.statement["predicate"]["data_flows"]
        .as_array()
        .map_or(0, Vec::len);
    let mut seen = Vec::new();
    for f in ver.statement["predicate"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let i = f["data_flow"].as_u64().unwrap_or(u64::MAX);
        ensure(
            usize::try_from(i).is_ok_and(|i| i < flows) && !seen.contains(&i),
            || format!("finding names data flow {i}"),
        )?;
        seen.push(i);
    }
    Ok(())
}

// ---- the test ----

mod story {
    use super::*;
    use crate::common::*;
    use crate::verifications::{LAB, sign_verification, verification_of};
    use crate::witness::{TestWitness, config, log_key_file, witness_key};

    const VENDOR: &str = "Spec Verifier AG";
    const OTHER: &str = "Other Vendor SA";

    fn version(day: u8, supersedes: Option<u64>) -> Value {
        let mut v = statement(VENDOR, &att_id(21), "Spec Endpoint");
        v["predicate"]["issued_at"] = json!(format!("2026-11-{day:02}T00:00:00Z"));
        match supersedes {
            Some(i) => {
                v["predicate"]["supersedes"] = json!({"attestation_id": att_id(21), "log_index": i})
            }
            None => {
                v["predicate"].as_object_mut().unwrap().remove("supersedes");
            }
        }
        v
    }

    async fn submitted(log: &TestLog, env: &[u8]) -> Value {
        let (status, body) = log.submit(env).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The receipt of entry `i` as `GET /v1/entries/{i}` serves it.
    async fn receipt(log: &TestLog, i: u64) -> Value {
        let (status, body) = log.get_json(&format!("/v1/entries/{i}")).await;
        assert_eq!(status, 200, "{body}");
        body["receipt"].clone()
    }

    fn edit_proof(r: &Value, f: impl FnOnce(&str) -> String) -> Value {
        let mut r = r.clone();
        r["proof"] = json!(f(r["proof"].as_str().unwrap()));
        r
    }

    fn refused(r: &Value, trust: &Trust, why: &str) {
        match verify_receipt(r, trust) {
            Ok(v) => panic!("a tampered receipt ({why}) verified as index {}", v.index),
            Err(e) => assert!(e.contains(why), "refused for {e:?}, expected {why:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receipts_verify_with_the_spec_alone() {
        let dir = temp_dir("spec-verifier");
        let origin = "spec-verifier.test/log";
        let (log_key, key_file) = log_key_file(&dir, origin, 0x5a);
        let wkey = witness_key("spec", 0x5b);
        let w = TestWitness::start(wkey.clone(), &log_key.verifier(), &dir.join("w")).await;
        let policy = format!(
            "log {}\nwitness W {} {}\nquorum W\n",
            log_key.verifier(),
            wkey.verifier(),
            w.url
        );
        let policy_file = dir.join("policy");
        std::fs::write(&policy_file, &policy).unwrap();
        let data = dir.join("data");
        let log = TestLog::start_in(
            data.clone(),
            config(&data, &key_file, origin, Some(&policy_file)),
        )
        .await;

        // The trust anchors, parsed by this module from their text forms.
        let log_vkey = parse_vkey(&log_key.verifier().to_string()).unwrap();
        let witness_vkey = parse_vkey(&wkey.verifier().to_string()).unwrap();
        assert_eq!(witness_vkey.key_type, 4);
        let trust = Trust {
            log_keys: vec![log_vkey.clone()],
            witnesses: vec![witness_vkey.clone()],
            quorum: 1,
        };

        let (k1, k_idle, k_other, k_lab) = (
            vendor_key(81),
            vendor_key(82),
            vendor_key(83),
            vendor_key(84),
        );
        let e1 = log.enrol(VENDOR, &k1.verifier()).await;
        let e_idle = log.enrol(VENDOR, &k_idle.verifier()).await;
        let e_other = log.enrol(OTHER, &k_other.verifier()).await;
        let (status, body) = log
            .vendors(&json!({"vendor": LAB, "key": k_lab.verifier().to_string(), "action": "enrol", "role": "verifier"}))
            .await;
        assert_eq!(status, 201, "{body}");
        let e_lab = body["index"].as_u64().unwrap();
        let e_lab_as_vendor = log.enrol(LAB, &vendor_key(85).verifier()).await;

        // A claim in three versions, another vendor's claim, a verification of version 3.
        let first = submitted(&log, &sign_value(&k1, &version(1, None))).await;
        let v1 = first["index"].as_u64().unwrap();
        let v2 = submitted(&log, &sign_value(&k1, &version(2, Some(v1)))).await["index"]
            .as_u64()
            .unwrap();
        let v3 = submitted(&log, &sign_value(&k1, &version(3, Some(v2)))).await["index"]
            .as_u64()
            .unwrap();
        let other = sign_value(&k_other, &statement(OTHER, &att_id(22), "Other Endpoint"));
        let y = submitted(&log, &other).await["index"].as_u64().unwrap();
        let v3_entry = STANDARD
            .decode(receipt(&log, v3).await["entry"].as_str().unwrap())
            .unwrap();
        let ver = verification_of(v3, &v3_entry, &att_id(21), "consistent");
        let vi = submitted(&log, &sign_verification(&k_lab, &ver)).await["index"]
            .as_u64()
            .unwrap();

        // Accepted: the receipt of the submission's answer (an older checkpoint) and every
        // receipt GET /v1/entries serves (the latest), each cosigned by the witness.
        let at_submission = verify_receipt(&first["receipt"], &trust).unwrap();
        assert_eq!(
            (at_submission.kind, at_submission.index),
            (Kind::Attestation, v1)
        );
        assert!(at_submission.tree_size < vi + 1);
        let r = |i| receipt(&log, i);
        let (r1, r2, r3, ry, rv) = (
            r(v1).await,
            r(v2).await,
            r(v3).await,
            r(y).await,
            r(vi).await,
        );
        let (r_e1, r_idle, r_other, r_lab) = (
            r(e1).await,
            r(e_idle).await,
            r(e_other).await,
            r(e_lab).await,
        );
        let r_lab_as_vendor = r(e_lab_as_vendor).await;
        let accept =
            |r: &Value| verify_receipt(r, &trust).unwrap_or_else(|e| panic!("refused: {e}\n{r}"));
        let (a1, a2, a3, ay, av) = (
            accept(&r1),
            accept(&r2),
            accept(&r3),
            accept(&ry),
            accept(&rv),
        );
        for (v, i, kind, name, en) in [
            (&a1, v1, Kind::Attestation, VENDOR, e1),
            (&a2, v2, Kind::Attestation, VENDOR, e1),
            (&a3, v3, Kind::Attestation, VENDOR, e1),
            (&ay, y, Kind::Attestation, OTHER, e_other),
            (&av, vi, Kind::Verification, LAB, e_lab),
        ] {
            assert_eq!(
                (v.kind, v.index, v.name.as_str(), v.enrolment_index),
                (kind, i, name, Some(en))
            );
            assert_eq!(v.tree_size, vi + 1);
            assert_eq!(v.cosigned_by, vec![witness_vkey.name.clone()]);
        }
        // The receipt file the CLI saves (`attestlog get --receipt`) is the same JSON.
        let saved = dir.join("v3.receipt.json");
        let args = [
            "--log".to_owned(),
            log.url.clone(),
            "get".into(),
            v3.to_string(),
            "--receipt".into(),
            saved.to_str().unwrap().into(),
        ];
        tokio::task::spawn_blocking(move || {
            crate::common::ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        let from_cli: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
        assert_eq!(verify_receipt(&from_cli, &trust).unwrap().index, v3);
        let enrolment = accept(&r_e1);
        assert_eq!(
            (enrolment.kind, enrolment.index, enrolment.name.as_str()),
            (Kind::Enrolment, e1, VENDOR)
        );
        assert_eq!(accept(&r_lab).statement["role"], "verifier");

        // The version chain and the verification's subject.
        assert_eq!(check_chain(&[&a1, &a2, &a3]), Ok(v3));
        assert!(
            check_chain(&[&a1, &a3])
                .unwrap_err()
                .contains("does not supersede the head")
        );
        assert!(
            check_chain(&[&a2, &a3])
                .unwrap_err()
                .contains("names a supersedes")
        );
        assert!(check_chain(&[&a3, &a2]).is_err());
        assert!(
            check_chain(&[&a1, &ay])
                .unwrap_err()
                .contains("is not a version")
        );
        check_subject(&av, &a3).unwrap();
        assert_eq!(
            check_subject(&av, &a2),
            Err("subject_entry.log_index".into())
        );

        // Refused: each tampering, at the check it breaks.
        let flip_hash = edit_proof(&r2, |p| {
            let mut lines: Vec<String> = p.split('\n').map(str::to_owned).collect();
            let mut h = STANDARD.decode(&lines[2]).unwrap();
            h[0] ^= 1;
            lines[2] = STANDARD.encode(h);
            lines.join("\n")
        });
        refused(&flip_hash, &trust, "does not lead to the checkpoint's root");
        let wrong_index = edit_proof(&r2, |p| {
            p.replacen(&format!("index {v2}\n"), &format!("index {v1}\n"), 1)
        });
        refused(&wrong_index, &trust, "the inclusion proof");
        let beyond = edit_proof(&r2, |p| {
            p.replacen(&format!("index {v2}\n"), "index 99\n", 1)
        });
        refused(&beyond, &trust, "is not below the tree size");

        let env = strict_json(&STANDARD.decode(r2["entry"].as_str().unwrap()).unwrap()).unwrap();
        let mut payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
        let at = payload.iter().position(|b| *b == b'2').unwrap();
        payload[at] = b'3';
        let mut altered = r2.clone();
        let mut d =
            parse_dsse_entry(&STANDARD.decode(r2["entry"].as_str().unwrap()).unwrap()).unwrap();
        d.payload = payload;
        altered["entry"] = json!(STANDARD.encode(canonical(&d)));
        refused(&altered, &trust, "does not lead to the checkpoint's root");
        let mut spaced = r2.clone();
        let mut bytes = STANDARD.decode(r2["entry"].as_str().unwrap()).unwrap();
        bytes.insert(1, b' ');
        spaced["entry"] = json!(STANDARD.encode(bytes));
        refused(&spaced, &trust, "not in canonical form");

        // Enrolment parts that do not authorise the signer: a key of the same vendor that did
        // not sign, another vendor's key, a verifier key, an enrolment proven against another
        // checkpoint.
        let with_enrolment = |part: &Value| {
            let mut r = r2.clone();
            r["enrolment"] = part.clone();
            r
        };
        refused(
            &with_enrolment(&r_idle),
            &trust,
            "no signature names the enrolled key",
        );
        refused(
            &with_enrolment(&r_other),
            &trust,
            "enrolled for \"Other Vendor SA\"",
        );
        refused(
            &with_enrolment(&r_lab),
            &trust,
            "enrolled for \"Example Test Lab GmbH\"",
        );
        refused(
            &with_enrolment(&first["receipt"]["enrolment"]),
            &trust,
            "not against the entry's checkpoint",
        );
        let mut no_part = r2.clone();
        no_part.as_object_mut().unwrap().remove("enrolment");
        refused(&no_part, &trust, "no enrolment part");

        // Checkpoints: one re-signed by another key of the same name, a verifier that trusts
        // another log key, a missing or broken cosignature.
        let forger = SigningKey::from_bytes(&[0x77; 32]);
        let forged_id = key_id(origin, 1, forger.verifying_key().as_bytes());
        let resigned = edit_proof(&r2, |p| {
            let (head, note) = p.split_once("\n\n").unwrap();
            let n = parse_note(note).unwrap();
            let mut sig = forged_id.to_vec();
            sig.extend_from_slice(&forger.sign(n.text.as_bytes()).to_bytes());
            let rest: String = note[n.text.len() + 1..]
                .lines()
                .filter(|l| !l.starts_with(&format!("\u{2014} {origin} ")))
                .map(|l| format!("{l}\n"))
                .collect();
            format!(
                "{head}\n\n{}\n\u{2014} {origin} {}\n{rest}",
                n.text,
                STANDARD.encode(sig)
            )
        });
        refused(&resigned, &trust, "no signature by a trusted log key");
        let forged_trust = Trust {
            log_keys: vec![NoteKey {
                id: forged_id,
                key: forger.verifying_key(),
                ..log_vkey.clone()
            }],
            witnesses: vec![witness_vkey.clone()],
            quorum: 1,
        };
        // (The forged checkpoint itself is well-formed: it verifies under the forger's key.)
        let forged_note = parse_tlog_proof(resigned["proof"].as_str().unwrap())
            .unwrap()
            .note;
        if let Err(e) = verify_checkpoint(&forged_note, &forged_trust) {
            panic!("the re-signed note does not verify under its own key: {e}\n{forged_note}");
        }
        refused(&r2, &forged_trust, "no signature by a trusted log key");
        let witness_line = format!("\u{2014} {} ", witness_vkey.name);
        let uncosigned = edit_proof(&r2, |p| {
            p.lines()
                .filter(|l| !l.starts_with(&witness_line))
                .map(|l| format!("{l}\n"))
                .collect()
        });
        refused(&uncosigned, &trust, "0 of 1 witness cosignatures needed");
        let bad_cosig = edit_proof(&r2, |p| {
            p.lines()
                .map(|l| match l.strip_prefix(&witness_line) {
                    Some(sig) => {
                        let mut s = STANDARD.decode(sig).unwrap();
                        s[20] ^= 1;
                        format!("{witness_line}{}\n", STANDARD.encode(s))
                    }
                    None => format!("{l}\n"),
                })
                .collect()
        });
        refused(&bad_cosig, &trust, "cosignature by");

        // A verification statement's enrolment must be the lab's verifier key's: a key of the
        // lab's name enrolled in the vendor role (which did not sign), or the vendor's key, does
        // not authorise it (the role itself: each_signer_check_is_needed).
        let mut ver_with_vendor_key = rv.clone();
        ver_with_vendor_key["enrolment"] = r_lab_as_vendor.clone();
        refused(
            &ver_with_vendor_key,
            &trust,
            "no signature names the enrolled key",
        );
        ver_with_vendor_key["enrolment"] = r_e1.clone();
        refused(
            &ver_with_vendor_key,
            &trust,
            "enrolled for \"Spec Verifier AG\"",
        );

        log.stop().await;
        w.stop().await;
    }
    /// A log the test runs itself, with its own log key: every check a receipt passes except
    /// the one each entry breaks, which no honest log can serve (the signer's signature, the
    /// enrolment's log signature, the enrolment's order).
    struct OwnLog {
        key: SigningKey,
        origin: String,
        entries: Vec<Vec<u8>>,
    }

    impl OwnLog {
        fn vkey(&self) -> NoteKey {
            let pk = self.key.verifying_key();
            NoteKey {
                name: self.origin.clone(),
                key_type: 1,
                id: key_id(&self.origin, 1, pk.as_bytes()),
                key: pk,
            }
        }

        /// Appends a canonical DSSE entry signed by `(keyid, signing key)`; returns its index.
        fn append(
            &mut self,
            payload_type: &str,
            payload: &Value,
            by: (&[u8; 4], &SigningKey),
        ) -> u64 {
            let payload = serde_json::to_vec(payload).unwrap();
            let sig = by.1.sign(&pae(payload_type, &payload)).to_bytes();
            let d = Dsse {
                payload_type: payload_type.into(),
                payload,
                sigs: vec![(hex(by.0), sig)],
            };
            self.entries.push(canonical(&d));
            self.entries.len() as u64 - 1
        }

        fn enrol(
            &mut self,
            vendor: &str,
            key: &SigningKey,
            by: &SigningKey,
            role: Option<&str>,
        ) -> u64 {
            let vk = key.verifying_key();
            let name = "own.example/attest";
            let mut raw = vec![1];
            raw.extend_from_slice(vk.as_bytes());
            let vkey = format!(
                "{name}+{}+{}",
                hex(&key_id(name, 1, vk.as_bytes())),
                STANDARD.encode(raw)
            );
            let mut payload = json!({"action": "enrol", "issued_at": "2026-11-01T00:00:00Z", "key": vkey, "vendor": vendor});
            if let Some(role) = role {
                payload["role"] = json!(role);
            }
            let log_id = self.vkey().id;
            self.append(ENROLMENT, &payload, (&log_id, by))
        }

        /// The tlog-proof of entry `i` against the signed checkpoint of every entry so far.
        fn proof(&self, i: u64) -> String {
            let leaves: Vec<H> = self.entries.iter().map(|e| leaf_hash(e)).collect();
            let root = crate::independent::mth(&leaves);
            let text = format!(
                "{}\n{}\n{}\n",
                self.origin,
                leaves.len(),
                STANDARD.encode(root)
            );
            let mut sig = self.vkey().id.to_vec();
            sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
            let mut p = format!("c2sp.org/tlog-proof@v1\nindex {i}\n");
            for h in crate::independent::path(usize::try_from(i).unwrap(), &leaves) {
                p.push_str(&format!("{}\n", STANDARD.encode(h)));
            }
            format!(
                "{p}\n{text}\n\u{2014} {} {}\n",
                self.origin,
                STANDARD.encode(sig)
            )
        }

        fn receipt(&self, i: u64, enrolment: u64) -> Value {
            let part = |i: u64| {
                (
                    STANDARD.encode(&self.entries[usize::try_from(i).unwrap()]),
                    self.proof(i),
                )
            };
            let ((entry, proof), (e_entry, e_proof)) = (part(i), part(enrolment));
            json!({"entry": entry, "proof": proof, "enrolment": {"entry": e_entry, "proof": e_proof}})
        }
    }

    #[test]
    fn each_signer_check_is_needed() {
        let seed = |b: u8| SigningKey::from_bytes(&[b; 32]);
        let mut own = OwnLog {
            key: seed(0x41),
            origin: "own.example/log".into(),
            entries: vec![],
        };
        let trust = Trust {
            log_keys: vec![own.vkey()],
            witnesses: vec![],
            quorum: 0,
        };
        let (vendor, stranger) = (seed(0x42), seed(0x43));
        let id_of = |k: &SigningKey| key_id("own.example/attest", 1, k.verifying_key().as_bytes());
        let claim = statement("Own AG", &att_id(1), "Own Endpoint");
        let log_key = own.key.clone();
        let enrolled = own.enrol("Own AG", &vendor, &log_key, None);
        // The signer's key enrolled for the vendor's name, but as a verifier key.
        let as_verifier = own.enrol("Own AG", &vendor, &log_key, Some("verifier"));
        let good = own.append(INTOTO, &claim, (&id_of(&vendor), &vendor));
        // A signature by a key never enrolled, under its own key ID.
        let unenrolled = own.append(INTOTO, &claim, (&id_of(&stranger), &stranger));
        // A signature by a key never enrolled, naming the enrolled key's ID.
        let impostor = own.append(INTOTO, &claim, (&id_of(&vendor), &stranger));
        // An enrolment the log key did not sign; an enrolment after the entry.
        let unsigned_enrolment = own.enrol("Own AG", &vendor, &stranger, None);
        let late_enrolment = own.enrol("Own AG", &vendor, &log_key, None);

        let v = verify_receipt(&own.receipt(good, enrolled), &trust).unwrap();
        assert_eq!(
            (v.kind, v.index, v.enrolment_index),
            (Kind::Attestation, good, Some(enrolled))
        );
        for (receipt, why) in [
            (
                own.receipt(unenrolled, enrolled),
                "no signature names the enrolled key",
            ),
            (
                own.receipt(impostor, enrolled),
                "no signature by the enrolled key verifies",
            ),
            (
                own.receipt(good, unsigned_enrolment),
                "not signed by a trusted log key",
            ),
            (
                own.receipt(good, late_enrolment),
                "the enrolment is not below the entry",
            ),
            (
                own.receipt(good, as_verifier),
                "enrolled with role Some(\"verifier\")",
            ),
        ] {
            refused(&receipt, &trust, why);
        }
    }
}
