//! DSSE envelopes and the canonical log-entry encoding (DESIGN.md §3).
//!
//! A log entry is the RFC 8785 (JCS) encoding of
//! `{"payload", "payloadType", "signatures": [{"keyid", "sig"}]}` with `payload` and `sig` as
//! standard padded base64, signatures sorted by `(keyid, sig)` and exact duplicates removed.
//! Parsing is strict: any other field, a missing or duplicated field, an empty signature list,
//! a `keyid` that is not 8 lowercase hex digits or a signature that is not 64 bytes is an error.
//!
//! - DSSE: <https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>
//! - PAE: <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>
//! - JCS: <https://www.rfc-editor.org/rfc/rfc8785>

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Hash;
use crate::keys::{SignerKey, VerifierKey};

/// Largest canonical entry the log accepts (the c2sp.org/tlog-tiles entry limit).
pub const MAX_ENTRY_BYTES: usize = 65_535;

/// Length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// Errors parsing or encoding a DSSE envelope. Every variant is a 400 except
/// [`DsseError::TooLarge`] (413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// Not JSON, or JSON with a duplicated object key.
    #[error("envelope is not valid json: {0}")]
    Json(String),
    /// The top level is not a JSON object.
    #[error("envelope must be a json object")]
    NotAnObject,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field that DSSE does not define.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A field has the wrong JSON type or an invalid value.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// Field path, for example `signatures[0].keyid`.
        field: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `signatures` is empty.
    #[error("`signatures` must not be empty")]
    NoSignatures,
    /// The bytes parse but are not the canonical encoding of the envelope.
    #[error("entry is not in canonical form")]
    NotCanonical,
    /// The canonical entry is larger than [`MAX_ENTRY_BYTES`].
    #[error("entry is {0} bytes, the limit is 65535")]
    TooLarge(usize),
}

impl DsseError {
    /// The field the error is about, if any (for the JSON error body).
    #[must_use]
    pub fn field(&self) -> Option<String> {
        match self {
            Self::MissingField(f) => Some((*f).to_owned()),
            Self::UnknownField(f) => Some(f.clone()),
            Self::InvalidField { field, .. } => Some(field.clone()),
            Self::NoSignatures => Some("signatures".to_owned()),
            _ => None,
        }
    }
}

/// One DSSE signature: the signer's 8-hex key ID and a 64-byte Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DsseSignature {
    /// 8 lowercase hex digits of the signer's signed-note key ID.
    pub keyid: String,
    /// Ed25519 signature over [`pae`] of the envelope.
    pub sig: Vec<u8>,
}

/// A string value of the canonical entry encoding.
enum Field<'a> {
    /// Text, JSON-escaped.
    Text(&'a str),
    /// Bytes as standard padded base64 (never needs escaping).
    Base64(&'a [u8]),
}

/// A DSSE envelope. Construct with [`Envelope::from_json`], [`Envelope::parse_entry`] or
/// [`Envelope::sign`]; the canonical entry bytes come from [`Envelope::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Media type of the payload, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// Payload bytes, never modified.
    pub payload: Vec<u8>,
    /// Signatures over `pae(payload_type, payload)`.
    pub signatures: Vec<DsseSignature>,
}

/// DSSE v1 pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`,
/// lengths as ASCII decimal.
#[must_use]
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Whether `s` is exactly 8 lowercase hex digits.
#[must_use]
pub fn is_keyid(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Decodes standard or URL-safe base64, padded or not (DSSE allows both alphabets).
/// Non-canonical trailing bits are rejected so that re-encoding is lossless.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    STANDARD_PAD_INDIFFERENT
        .decode(s)
        .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(s))
        .ok()
}

impl Envelope {
    /// Parses a DSSE envelope from JSON, strictly (see the module docs).
    ///
    /// # Errors
    /// [`DsseError`] naming the offending field.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, DsseError> {
        let value = parse_strict_json(bytes).map_err(|e| DsseError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    fn from_value(value: Value) -> Result<Envelope, DsseError> {
        let Value::Object(obj) = value else {
            return Err(DsseError::NotAnObject);
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "payloadType" | "payload" | "signatures"))
        {
            return Err(DsseError::UnknownField(k.clone()));
        }
        let payload_type = match obj.get("payloadType") {
            None => return Err(DsseError::MissingField("payloadType")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("payloadType", "expected a string")),
        };
        let payload = match obj.get("payload") {
            None => return Err(DsseError::MissingField("payload")),
            Some(Value::String(s)) => {
                decode_b64(s).ok_or_else(|| invalid("payload", "expected base64"))?
            }
            Some(_) => return Err(invalid("payload", "expected a base64 string")),
        };
        let sigs = match obj.get("signatures") {
            None => return Err(DsseError::MissingField("signatures")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid("signatures", "expected an array")),
        };
        if sigs.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        let mut signatures = Vec::with_capacity(sigs.len());
        for (i, s) in sigs.iter().enumerate() {
            signatures.push(parse_signature(i, s)?);
        }
        Ok(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    /// Parses a stored log entry: [`Envelope::from_json`] plus a check that the bytes are
    /// exactly the canonical encoding and within [`MAX_ENTRY_BYTES`].
    ///
    /// # Errors
    /// [`DsseError::TooLarge`], [`DsseError::NotCanonical`] or a parse error.
    pub fn parse_entry(bytes: &[u8]) -> Result<Envelope, DsseError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(DsseError::TooLarge(bytes.len()));
        }
        let env = Self::from_json(bytes)?;
        if env.canonical_bytes() != bytes {
            return Err(DsseError::NotCanonical);
        }
        Ok(env)
    }

    /// The canonical entry encoding (RFC 8785 JCS; payload and signatures as standard padded
    /// base64; signatures sorted by `(keyid, sig)`, exact duplicates removed). Not size-checked:
    /// use [`Envelope::to_entry`] for that.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut sigs: Vec<&DsseSignature> = self.signatures.iter().collect();
        sigs.sort();
        sigs.dedup();
        // Written directly, keys in JCS order: every value is a string, base64 needs no
        // escaping, and serde_json escapes strings exactly as JCS does (short forms for
        // \b \t \n \f \r, lowercase \u00xx for other controls, nothing else).
        // `canonical_bytes_match_jcs` checks this against an RFC 8785 implementation.
        let b64 = |n: usize| n.div_ceil(3) * 4;
        let mut out = Vec::with_capacity(
            64 + b64(self.payload.len())
                + self.payload_type.len()
                + sigs.len() * (32 + b64(64) + 8),
        );
        // `"key":value` pairs, comma-separated; keys are plain ASCII, values strings.
        let fields = |out: &mut Vec<u8>, fields: &[(&str, Field<'_>)]| {
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":");
                match value {
                    // Serialising a &str into a Vec cannot fail.
                    Field::Text(t) => {
                        let _ = serde_json::to_writer(&mut *out, t);
                    }
                    Field::Base64(bytes) => {
                        out.push(b'"');
                        let start = out.len();
                        out.resize(start + b64(bytes.len()), 0);
                        let n = STANDARD
                            .encode_slice(bytes, &mut out[start..])
                            .unwrap_or_default();
                        out.truncate(start + n);
                        out.push(b'"');
                    }
                }
            }
        };
        out.push(b'{');
        fields(
            &mut out,
            &[
                ("payload", Field::Base64(&self.payload)),
                ("payloadType", Field::Text(&self.payload_type)),
            ],
        );
        out.extend_from_slice(b",\"signatures\":[");
        for (i, s) in sigs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            fields(
                &mut out,
                &[
                    ("keyid", Field::Text(&s.keyid)),
                    ("sig", Field::Base64(&s.sig)),
                ],
            );
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The canonical encoding through a general RFC 8785 implementation (the reference
    /// [`Envelope::canonical_bytes`] is checked against).
    #[cfg(test)]
    fn canonical_bytes_jcs(&self) -> Vec<u8> {
        let mut sigs: Vec<&DsseSignature> = self.signatures.iter().collect();
        sigs.sort();
        sigs.dedup();
        let sigs: Vec<Value> = sigs
            .into_iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("keyid".to_owned(), Value::String(s.keyid.clone()));
                m.insert("sig".to_owned(), Value::String(STANDARD.encode(&s.sig)));
                Value::Object(m)
            })
            .collect();
        let mut m = Map::new();
        m.insert(
            "payload".to_owned(),
            Value::String(STANDARD.encode(&self.payload)),
        );
        m.insert(
            "payloadType".to_owned(),
            Value::String(self.payload_type.clone()),
        );
        m.insert("signatures".to_owned(), Value::Array(sigs));
        crate::jcs::to_vec(&Value::Object(m))
    }

    /// The canonical entry bytes, checked against [`MAX_ENTRY_BYTES`].
    ///
    /// # Errors
    /// [`DsseError::TooLarge`] (413).
    pub fn to_entry(&self) -> Result<Vec<u8>, DsseError> {
        let b = self.canonical_bytes();
        if b.len() > MAX_ENTRY_BYTES {
            return Err(DsseError::TooLarge(b.len()));
        }
        Ok(b)
    }

    /// RFC 9162 leaf hash of the canonical entry.
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        Hash::leaf(&self.canonical_bytes())
    }

    /// The message every signature signs: `pae(payload_type, payload)`.
    #[must_use]
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Builds an envelope signed by each of `signers` (keyid = the signer's key ID).
    #[must_use]
    pub fn sign(payload_type: &str, payload: &[u8], signers: &[&SignerKey]) -> Envelope {
        let msg = pae(payload_type, payload);
        let mut signatures: Vec<DsseSignature> = signers
            .iter()
            .map(|k| DsseSignature {
                keyid: k.verifier().key_id_hex(),
                sig: k.sign(&msg).to_vec(),
            })
            .collect();
        signatures.sort();
        signatures.dedup();
        Envelope {
            payload_type: payload_type.to_owned(),
            payload: payload.to_vec(),
            signatures,
        }
    }

    /// Whether some signature with `keyid == key.key_id_hex()` verifies under `key`
    /// (`verify_strict`, the only acceptance rule). Signatures with other keyids are ignored.
    #[must_use]
    pub fn verify_with(&self, key: &VerifierKey) -> bool {
        let id = key.key_id_hex();
        let mut msg = None;
        self.signatures.iter().filter(|s| s.keyid == id).any(|s| {
            let m = msg.get_or_insert_with(|| self.pae());
            key.verify(m, &s.sig)
        })
    }

    /// The keys among the candidates for each signature's keyid that have a verifying
    /// signature. `candidates(keyid)` returns the known keys with that key ID (several keys can
    /// share a 4-byte ID); unknown keyids yield none and are ignored. Each key appears once.
    #[must_use]
    pub fn verified_keys<F>(&self, candidates: F) -> Vec<VerifierKey>
    where
        F: Fn(&str) -> Vec<VerifierKey>,
    {
        let msg = self.pae();
        let mut out: Vec<VerifierKey> = Vec::new();
        for s in &self.signatures {
            for k in candidates(&s.keyid) {
                if k.key_id_hex() == s.keyid && !out.contains(&k) && k.verify(&msg, &s.sig) {
                    out.push(k);
                }
            }
        }
        out
    }
}

fn invalid(field: &str, reason: &'static str) -> DsseError {
    DsseError::InvalidField {
        field: field.to_owned(),
        reason,
    }
}

fn parse_signature(i: usize, v: &Value) -> Result<DsseSignature, DsseError> {
    let Value::Object(o) = v else {
        return Err(invalid(&format!("signatures[{i}]"), "expected an object"));
    };
    if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "keyid" | "sig")) {
        return Err(DsseError::UnknownField(format!("signatures[{i}].{k}")));
    }
    let keyid = match o.get("keyid") {
        None => return Err(DsseError::MissingField("signatures[].keyid")),
        Some(Value::String(s)) if is_keyid(s) => s.clone(),
        Some(_) => {
            return Err(invalid(
                &format!("signatures[{i}].keyid"),
                "expected 8 lowercase hex digits",
            ));
        }
    };
    let sig = match o.get("sig") {
        None => return Err(DsseError::MissingField("signatures[].sig")),
        Some(Value::String(s)) => decode_b64(s)
            .filter(|b| b.len() == SIGNATURE_LEN)
            .ok_or_else(|| {
                invalid(
                    &format!("signatures[{i}].sig"),
                    "expected 64 bytes of base64",
                )
            })?,
        Some(_) => {
            return Err(invalid(
                &format!("signatures[{i}].sig"),
                "expected a base64 string",
            ));
        }
    };
    Ok(DsseSignature { keyid, sig })
}

/// Parses JSON into a [`Value`], rejecting duplicate object keys at any depth (a parser
/// differential waiting to happen) and trailing data. Nesting depth is bounded by serde_json.
pub(crate) fn parse_strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!("duplicate key `{k}`")));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Fuzz entry point: parse `data` as an envelope; on success its canonical bytes must parse as
/// a canonical entry equal to it (modulo signature order and duplicates). Never panics on
/// invalid input; panics only if the round trip is broken.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    let _ = Envelope::parse_entry(data);
    if let Ok(env) = Envelope::from_json(data) {
        let canon = env.canonical_bytes();
        let again = Envelope::parse_entry(&canon)
            .or_else(|e| match e {
                DsseError::TooLarge(_) => Envelope::from_json(&canon),
                e => Err(e),
            })
            .unwrap_or_else(|e| panic!("canonical bytes do not re-parse: {e}"));
        assert_eq!(
            again.canonical_bytes(),
            canon,
            "canonical form is not stable"
        );
        let mut sigs = env.signatures.clone();
        sigs.sort();
        sigs.dedup();
        assert_eq!(again.signatures, sigs);
        assert_eq!(again.payload, env.payload);
        assert_eq!(again.payload_type, env.payload_type);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source: docs/test-vectors.md, "DSSE attestation example".
    pub(crate) const VECTOR_ENTRY: &str = include_str!("../testdata/dsse_vector_entry.json");
    const VECTOR_LEAF_HEX: &str =
        "fdc1f67da9b2335fbdda9e81fcb953ddb6a00fb4d39bf5bcbd3b7695d0da19d2";
    const VECTOR_LEAF_B64: &str = "/cH2famyM1+92p6B/LlT3bagD7TTm/W8vTt2ldDaGdI=";
    const VENDOR_SIGNER: &str =
        "PRIVATE+KEY+vendor.example/attest+22c8ff26+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
    const VENDOR_VKEY: &str =
        "vendor.example/attest+22c8ff26+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    fn vector_entry() -> &'static [u8] {
        VECTOR_ENTRY.trim_end().as_bytes()
    }

    #[test]
    fn vector_entry_is_canonical_and_verifies() {
        let bytes = vector_entry();
        assert_eq!(bytes.len(), 1928);
        let env = Envelope::parse_entry(bytes).unwrap();
        assert_eq!(env.payload_type, "application/vnd.in-toto+json");
        assert_eq!(env.payload.len(), 1302);
        assert_eq!(
            Hash::sha256(&env.payload).to_hex(),
            "051158fea7fa82639358ba9945e8981e18d88778e9e7c5efda91c0abd8eff315"
        );
        assert_eq!(env.canonical_bytes(), bytes);
        assert_eq!(env.leaf_hash().to_hex(), VECTOR_LEAF_HEX);
        assert_eq!(env.leaf_hash().to_base64(), VECTOR_LEAF_B64);
        let key = VerifierKey::parse(VENDOR_VKEY).unwrap();
        assert!(env.verify_with(&key));
        let pae = env.pae();
        assert!(pae.starts_with(b"DSSEv1 28 application/vnd.in-toto+json 1302 {"));
        assert_eq!(
            pae.len(),
            "DSSEv1 28 application/vnd.in-toto+json 1302 ".len() + 1302
        );
    }

    #[test]
    fn signing_reproduces_vector() {
        let env = Envelope::from_json(vector_entry()).unwrap();
        let signer = SignerKey::parse(VENDOR_SIGNER).unwrap();
        let again = Envelope::sign(&env.payload_type, &env.payload, &[&signer]);
        // Ed25519 is deterministic: same key, same message, same signature.
        assert_eq!(again.canonical_bytes(), vector_entry());
    }

    #[test]
    fn pae_known_answer() {
        // Source: DSSE protocol.md example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    fn vector_value() -> serde_json::Map<String, Value> {
        match serde_json::from_slice(vector_entry()).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn accepts_url_safe_unpadded_and_reorders_to_canonical() {
        let env = Envelope::from_json(vector_entry()).unwrap();
        let mut m = vector_value();
        m.insert(
            "payload".into(),
            Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&env.payload)),
        );
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&env.signatures[0].sig);
        m.insert(
            "signatures".into(),
            serde_json::json!([{"sig": sig, "keyid": "22c8ff26"}, {"keyid": "22c8ff26", "sig": sig}]),
        );
        let pretty = serde_json::to_vec_pretty(&Value::Object(m)).unwrap();
        let parsed = Envelope::from_json(&pretty).unwrap();
        assert_eq!(parsed.signatures.len(), 2);
        assert_eq!(parsed.canonical_bytes(), vector_entry());
        assert_eq!(
            Envelope::parse_entry(&pretty).unwrap_err(),
            DsseError::NotCanonical
        );
    }

    #[test]
    fn signatures_are_sorted() {
        let a = SignerKey::parse(VENDOR_SIGNER).unwrap();
        let b = SignerKey::from_seed("other.example/k", 1, &[7; 32]).unwrap();
        let e1 = Envelope::sign("t", b"p", &[&a, &b]);
        let e2 = Envelope::sign("t", b"p", &[&b, &a, &b]);
        assert_eq!(e1.canonical_bytes(), e2.canonical_bytes());
        let mut rev = e1.clone();
        rev.signatures.reverse();
        assert_eq!(rev.canonical_bytes(), e1.canonical_bytes());
        assert!(e1.verify_with(&a.verifier()));
        assert!(e1.verify_with(&b.verifier()));
        let got = e1.verified_keys(|id| {
            [a.verifier(), b.verifier()]
                .into_iter()
                .filter(|k| k.key_id_hex() == id)
                .collect()
        });
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn verify_rejects_tampering() {
        let key = VerifierKey::parse(VENDOR_VKEY).unwrap();
        let mut env = Envelope::from_json(vector_entry()).unwrap();
        env.payload[10] ^= 1;
        assert!(!env.verify_with(&key));
        let mut env = Envelope::from_json(vector_entry()).unwrap();
        env.payload_type.push('x');
        assert!(!env.verify_with(&key));
        let mut env = Envelope::from_json(vector_entry()).unwrap();
        env.signatures[0].keyid = "00000000".into();
        assert!(!env.verify_with(&key));
        let other = SignerKey::from_seed("vendor.example/attest", 1, &[9; 32]).unwrap();
        let env = Envelope::from_json(vector_entry()).unwrap();
        assert!(!env.verify_with(&other.verifier()));
    }

    #[test]
    fn rejects_malformed_envelopes() {
        let ok_sig = "A".repeat(86) + "==";
        let cases: Vec<(String, DsseError)> = vec![
            ("[]".into(), DsseError::NotAnObject),
            ("{".into(), DsseError::Json(String::new())),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}],"extra":1}}"#),
                DsseError::UnknownField("extra".into()),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#),
                DsseError::Json(String::new()),
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":[]}"#.into(),
                DsseError::NoSignatures,
            ),
            (
                format!(r#"{{"payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#),
                DsseError::MissingField("payloadType"),
            ),
            (
                format!(r#"{{"payloadType":"t","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#),
                DsseError::MissingField("payload"),
            ),
            (
                r#"{"payloadType":"t","payload":""}"#.into(),
                DsseError::MissingField("signatures"),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"!!","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#),
                invalid("payload", "expected base64"),
            ),
            (
                format!(r#"{{"payloadType":1,"payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#),
                invalid("payloadType", "expected a string"),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"0000000A","sig":"{ok_sig}"}}]}}"#),
                invalid("signatures[0].keyid", "expected 8 lowercase hex digits"),
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":[{"keyid":"00000000","sig":"AAAA"}]}"#.into(),
                invalid("signatures[0].sig", "expected 64 bytes of base64"),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}","x":1}}]}}"#),
                DsseError::UnknownField("signatures[0].x".into()),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"sig":"{ok_sig}"}}]}}"#),
                DsseError::MissingField("signatures[].keyid"),
            ),
            (
                r#"{"payloadType":"t","payload":"","signatures":["x"]}"#.into(),
                invalid("signatures[0]", "expected an object"),
            ),
            (
                format!(r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}} x"#),
                DsseError::Json(String::new()),
            ),
        ];
        for (input, want) in cases {
            let got = Envelope::from_json(input.as_bytes()).unwrap_err();
            match (&got, &want) {
                (DsseError::Json(_), DsseError::Json(_)) => {}
                _ => assert_eq!(got, want, "{input}"),
            }
        }
        let good = format!(
            r#"{{"payloadType":"t","payload":"","signatures":[{{"keyid":"00000000","sig":"{ok_sig}"}}]}}"#
        );
        assert!(Envelope::from_json(good.as_bytes()).is_ok());
    }

    #[test]
    fn error_messages_name_the_field() {
        let e = Envelope::from_json(br#"{"payloadType":"t","payload":"","signatures":[],"foo":1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("foo"), "{e}");
        assert_eq!(e.field().as_deref(), Some("foo"));
    }

    #[test]
    fn size_limit() {
        let signer = SignerKey::parse(VENDOR_SIGNER).unwrap();
        let env = Envelope::sign("t", &vec![0u8; 50_000], &[&signer]);
        assert!(matches!(env.to_entry(), Err(DsseError::TooLarge(n)) if n > MAX_ENTRY_BYTES));
        let bytes = env.canonical_bytes();
        assert!(matches!(
            Envelope::parse_entry(&bytes),
            Err(DsseError::TooLarge(_))
        ));
        let small = Envelope::sign("t", &vec![0u8; 40_000], &[&signer]);
        assert!(small.to_entry().is_ok());
    }

    #[test]
    fn roundtrip_check_accepts_vector_and_junk() {
        roundtrip_check(vector_entry());
        roundtrip_check(b"");
        roundtrip_check(b"{}");
        roundtrip_check(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    }

    proptest::proptest! {
        /// The direct writer produces exactly what RFC 8785 does, for any payload type, key
        /// IDs (the writer does not rely on their format), payload and signatures.
        #[test]
        fn canonical_bytes_match_jcs(
            payload_type in "\\PC*|[\\x00-\\x1f\"\\\\/\\x7f\u{80}-\u{10ffff}]{0,12}",
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            sigs in proptest::collection::vec(
                ("[\\x00-\\x7f]{0,10}|[0-9a-f]{8}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..70)),
                0..4,
            ),
        ) {
            let env = Envelope {
                payload_type,
                payload,
                signatures: sigs
                    .into_iter()
                    .map(|(keyid, sig)| DsseSignature { keyid, sig })
                    .collect(),
            };
            proptest::prop_assert_eq!(
                String::from_utf8(env.canonical_bytes()).unwrap(),
                String::from_utf8(env.canonical_bytes_jcs()).unwrap()
            );
        }
    }
}
