//! SCITT signed statements (DESIGN.md §12): a COSE_Sign1 (RFC 9052 §4.2, CBOR tag 18) over an
//! attached in-toto Statement, signed with EdDSA (-8) by an enrolled vendor key.
//!
//! The protected header carries `alg` (1), `kid` (4; the vendor key's 4-byte signed-note key
//! ID), `content_type` (3; `application/vnd.in-toto+json`) and the CWT claims (15, RFC 9597)
//! with `iss` (1; the vendor key's name) and `sub` (2; the statement's `attestation_id`). The
//! unprotected header is emptied before logging: the log entry is the tagged COSE_Sign1 with
//! an empty unprotected map ([`SignedStatement::to_entry`]). Parameters a verifier reads
//! (`alg`, `kid`, `content_type`, `crit`, CWT claims) are refused in the unprotected header, so
//! nothing the log shows can differ from what was signed.
//!
//! CBOR and COSE come from `ciborium` and `coset`; nothing here encodes CBOR by hand.
//!
//! - RFC 9052 (COSE structures), RFC 9053 (EdDSA), RFC 9597 (CWT claims in COSE headers),
//!   RFC 9943 (SCITT architecture: signed statements).

use coset::cbor::value::Value;
use coset::{
    AsCborValue, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, RegisteredLabel,
    RegisteredLabelWithPrivate, TaggedCborSerializable as _, iana,
};

use crate::Hash;
use crate::dsse::MAX_ENTRY_BYTES;
use crate::keys::{KeyId, SignerKey, VerifierKey};
use crate::predicate::PAYLOAD_TYPE_INTOTO;

/// Media type of COSE objects (RFC 9052 §2, `application/cose`).
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// CBOR tag of COSE_Sign1.
pub const TAG_COSE_SIGN1: u64 = 18;
/// COSE algorithm EdDSA (RFC 9053 §2.2).
pub const ALG_EDDSA: i64 = -8;
/// COSE header parameter: CWT claims (RFC 9597).
pub const HEADER_CWT_CLAIMS: i64 = 15;
/// COSE header parameter: receipts (RFC 9942 §2).
pub const HEADER_RECEIPTS: i64 = 394;
/// COSE header parameter: verifiable data structure (RFC 9942 §2).
pub const HEADER_VDS: i64 = 395;
/// COSE header parameter: verifiable data structure proofs (RFC 9942 §2).
pub const HEADER_VDP: i64 = 396;
/// Private-use COSE header parameter of attestlog: the c2sp.org/tlog-proof with witness
/// cosignatures for the same inclusion as the receipt (DESIGN.md §12).
pub const HEADER_TLOG_PROOF: i64 = -65537;
/// RFC 9995 payload-hash-alg header parameter: marks a COSE hash envelope.
pub const HEADER_PAYLOAD_HASH_ALG: i64 = 258;
/// CWT claim `iss` (RFC 8392).
pub const CWT_ISS: i64 = 1;
/// CWT claim `sub` (RFC 8392).
pub const CWT_SUB: i64 = 2;
/// CWT claim `iat` (RFC 8392).
pub const CWT_IAT: i64 = 6;

/// Why bytes are not an acceptable signed statement. Each is a 400 at `POST /entries`;
/// [`CoseError::code`] is a stable short name for problem details and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoseError {
    /// Not well-formed CBOR, or bytes after the item.
    #[error("body is not a single well-formed CBOR item: {0}")]
    NotCbor(String),
    /// A CBOR item that is not tagged 18 (COSE_Sign1).
    #[error("expected a COSE_Sign1 (CBOR tag 18), found {0}")]
    Tag(String),
    /// Tagged 18 but not a COSE_Sign1 array of four well-typed members.
    #[error("malformed COSE_Sign1: {0}")]
    Structure(String),
    /// Protected `alg` is missing.
    #[error("protected header has no alg (1)")]
    MissingAlgorithm,
    /// Protected `alg` is not EdDSA.
    #[error("protected alg is {0}; only EdDSA (-8) is accepted")]
    Algorithm(String),
    /// Protected `kid` missing or not four bytes.
    #[error("protected kid (4) must be the signing key's 4-byte key ID, found {0} bytes")]
    KeyId(usize),
    /// Protected `content_type` is not the in-toto media type.
    #[error("protected content_type (3) must be \"application/vnd.in-toto+json\", found {0}")]
    ContentType(String),
    /// CWT claims missing or lacking `iss`/`sub`.
    #[error("protected CWT claims (15) {0}")]
    Claims(String),
    /// An RFC 9995 hash envelope, or another detached payload.
    #[error("payload is detached; signed statements must carry the in-toto Statement attached")]
    Detached,
    /// A parameter that verifiers read appears in the unprotected header.
    #[error("unprotected header carries {0}; parameters a verifier reads must be protected")]
    Unprotected(String),
    /// The protected header marks parameters critical that this log does not process.
    #[error("protected crit (2) lists parameters this log does not process: {0}")]
    Critical(String),
    /// RFC 9995 hash envelope: the statement is not attached.
    #[error("COSE hash envelopes (RFC 9995) are not accepted: the statement must be attached")]
    HashEnvelope,
    /// The signature is not 64 bytes.
    #[error("EdDSA signature must be 64 bytes, found {0}")]
    SignatureLength(usize),
    /// The entry would exceed the tile entry limit.
    #[error("signed statement is {0} bytes, the limit is 65535")]
    TooLarge(usize),
}

impl CoseError {
    /// A stable short name of the problem (the problem-details type suffix).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotCbor(_) => "not-cbor",
            Self::Tag(_) => "wrong-tag",
            Self::Structure(_) => "malformed-cose-sign1",
            Self::MissingAlgorithm => "missing-alg",
            Self::Algorithm(_) => "unsupported-alg",
            Self::KeyId(_) => "bad-kid",
            Self::ContentType(_) => "bad-content-type",
            Self::Claims(_) => "missing-cwt-claims",
            Self::Detached => "detached-payload",
            Self::Unprotected(_) => "unprotected-header",
            Self::Critical(_) => "unknown-critical",
            Self::HashEnvelope => "hash-envelope",
            Self::SignatureLength(_) => "bad-signature-length",
            Self::TooLarge(_) => "too-large",
        }
    }
}

/// Decodes exactly one CBOR item (no trailing bytes).
///
/// # Errors
/// [`CoseError::NotCbor`].
pub fn decode_one(bytes: &[u8]) -> Result<Value, CoseError> {
    let mut rest = bytes;
    let v: Value =
        ciborium::de::from_reader(&mut rest).map_err(|e| CoseError::NotCbor(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CoseError::NotCbor(format!(
            "{} bytes after the item",
            rest.len()
        )));
    }
    Ok(v)
}

/// Encodes a CBOR value (infallible for values built in memory; an error yields empty bytes,
/// which every parser rejects).
#[must_use]
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if ciborium::ser::into_writer(v, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Parses a tagged COSE_Sign1 (tag 18) from bytes.
///
/// # Errors
/// [`CoseError::NotCbor`], [`CoseError::Tag`] or [`CoseError::Structure`].
pub fn parse_sign1(bytes: &[u8]) -> Result<CoseSign1, CoseError> {
    match decode_one(bytes)? {
        Value::Tag(TAG_COSE_SIGN1, inner) => {
            CoseSign1::from_cbor_value(*inner).map_err(|e| CoseError::Structure(e.to_string()))
        }
        Value::Tag(t, _) => Err(CoseError::Tag(format!("tag {t}"))),
        _ => Err(CoseError::Tag("an untagged item".into())),
    }
}

/// Serializes a COSE_Sign1 with tag 18.
#[must_use]
pub fn sign1_to_tagged(s: CoseSign1) -> Vec<u8> {
    s.to_tagged_vec().unwrap_or_default()
}

/// A label's description for error messages.
fn label_name(l: &Label) -> String {
    match l {
        Label::Int(1) => "alg (1)".into(),
        Label::Int(2) => "crit (2)".into(),
        Label::Int(3) => "content_type (3)".into(),
        Label::Int(4) => "kid (4)".into(),
        Label::Int(15) => "CWT claims (15)".into(),
        Label::Int(i) => format!("label {i}"),
        Label::Text(t) => format!("label {t:?}"),
    }
}

/// The algorithm's name for messages.
fn alg_name(a: &coset::Algorithm) -> String {
    match a {
        RegisteredLabelWithPrivate::Assigned(a) => format!("{a:?} ({})", *a as i64),
        RegisteredLabelWithPrivate::PrivateUse(i) => format!("private-use {i}"),
        RegisteredLabelWithPrivate::Text(t) => format!("{t:?}"),
    }
}

fn is_eddsa(a: &coset::Algorithm) -> bool {
    matches!(
        a,
        RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)
    )
}

/// Looks a label up in a header's other parameters.
fn rest_get(h: &coset::Header, label: i64) -> Option<&Value> {
    h.rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

/// The first key of a CWT claims map that appears more than once, if any. A claim key twice
/// would let two readers see different claims (RFC 8949 §5.6: a map with a duplicate key is
/// not valid; COSE polices its header maps alike, RFC 9052 §3), so signed statements and
/// receipts with one are refused (docs/spec.md §11.1 step 8, §11.2).
#[must_use]
pub fn repeated_claim(claims: &[(Value, Value)]) -> Option<&Value> {
    claims
        .iter()
        .enumerate()
        .find(|(i, (k, _))| claims[..*i].iter().any(|(j, _)| j == k))
        .map(|(_, (k, _))| k)
}

/// Reads an integer-keyed map's text value.
fn map_text(m: &[(Value, Value)], key: i64) -> Option<&str> {
    m.iter().find_map(|(k, v)| match (k, v) {
        (Value::Integer(i), Value::Text(t)) if i128::from(*i) == i128::from(key) => {
            Some(t.as_str())
        }
        _ => None,
    })
}

/// A parsed, well-formed signed statement. Its signature is not verified yet: admission checks
/// it against the enrolled key named by `kid` ([`SignedStatement::verify_with`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedStatement {
    sign1: CoseSign1,
    kid: KeyId,
    iss: String,
    sub: String,
}

impl SignedStatement {
    /// Parses a submitted COSE_Sign1 signed statement; the unprotected header is dropped (after
    /// checking it carries no parameter a verifier reads).
    ///
    /// # Errors
    /// [`CoseError`], each naming the problem.
    pub fn parse(bytes: &[u8]) -> Result<Self, CoseError> {
        let mut sign1 = parse_sign1(bytes)?;
        let u = &sign1.unprotected;
        let unprotected_bad = if u.alg.is_some() {
            Some("alg (1)".to_owned())
        } else if !u.crit.is_empty() {
            Some("crit (2)".to_owned())
        } else if u.content_type.is_some() {
            Some("content_type (3)".to_owned())
        } else if !u.key_id.is_empty() {
            Some("kid (4)".to_owned())
        } else if !u.counter_signatures.is_empty() {
            Some("a counter signature (7)".to_owned())
        } else {
            [HEADER_CWT_CLAIMS, HEADER_PAYLOAD_HASH_ALG, HEADER_VDS]
                .into_iter()
                .find(|l| rest_get(u, *l).is_some())
                .map(|l| label_name(&Label::Int(l)))
        };
        if let Some(what) = unprotected_bad {
            return Err(CoseError::Unprotected(what));
        }
        sign1.unprotected = coset::Header::default();

        let p = &sign1.protected.header;
        let alg = p.alg.as_ref().ok_or(CoseError::MissingAlgorithm)?;
        if !is_eddsa(alg) {
            return Err(CoseError::Algorithm(alg_name(alg)));
        }
        if rest_get(p, HEADER_PAYLOAD_HASH_ALG).is_some() {
            return Err(CoseError::HashEnvelope);
        }
        let processed = [1_i64, 3, 4, HEADER_CWT_CLAIMS];
        let unknown_crit: Vec<String> = p
            .crit
            .iter()
            .filter(|c| match c {
                RegisteredLabelWithPrivate::Assigned(a) => !processed.contains(&(*a as i64)),
                RegisteredLabelWithPrivate::PrivateUse(i) => !processed.contains(i),
                RegisteredLabelWithPrivate::Text(_) => true,
            })
            .map(|c| format!("{c:?}"))
            .collect();
        if !unknown_crit.is_empty() {
            return Err(CoseError::Critical(unknown_crit.join(", ")));
        }
        let kid: KeyId = p
            .key_id
            .as_slice()
            .try_into()
            .map_err(|_| CoseError::KeyId(p.key_id.len()))?;
        match &p.content_type {
            Some(RegisteredLabel::Text(t)) if t == PAYLOAD_TYPE_INTOTO => {}
            Some(RegisteredLabel::Text(t)) => return Err(CoseError::ContentType(format!("{t:?}"))),
            Some(RegisteredLabel::Assigned(c)) => {
                return Err(CoseError::ContentType(format!("CoAP format {}", *c as i64)));
            }
            None => return Err(CoseError::ContentType("none".into())),
        }
        let Some(claims) = rest_get(p, HEADER_CWT_CLAIMS) else {
            return Err(CoseError::Claims("are missing".into()));
        };
        let Value::Map(claims) = claims else {
            return Err(CoseError::Claims("are not a map".into()));
        };
        if let Some(k) = repeated_claim(claims) {
            return Err(CoseError::Claims(format!("repeat the key {k:?}")));
        }
        let iss = map_text(claims, CWT_ISS)
            .ok_or_else(|| CoseError::Claims("lack iss (1) as text".into()))?
            .to_owned();
        let sub = map_text(claims, CWT_SUB)
            .ok_or_else(|| CoseError::Claims("lack sub (2) as text".into()))?
            .to_owned();
        if sign1.payload.is_none() {
            return Err(CoseError::Detached);
        }
        if sign1.signature.len() != 64 {
            return Err(CoseError::SignatureLength(sign1.signature.len()));
        }
        let s = Self {
            sign1,
            kid,
            iss,
            sub,
        };
        let size = s.to_entry().len();
        if size > MAX_ENTRY_BYTES {
            return Err(CoseError::TooLarge(size));
        }
        Ok(s)
    }

    /// Signs `payload` (an in-toto Statement) as `key`, with `sub` = the `attestation_id`.
    #[must_use]
    pub fn sign(payload: &[u8], key: &SignerKey, sub: &str) -> Self {
        let kid = key.verifier().key_id();
        let claims = Value::Map(vec![
            (Value::from(CWT_ISS), Value::Text(key.name().to_owned())),
            (Value::from(CWT_SUB), Value::Text(sub.to_owned())),
        ]);
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(kid.to_vec())
            .content_type(PAYLOAD_TYPE_INTOTO.to_owned())
            .value(HEADER_CWT_CLAIMS, claims)
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(payload.to_vec())
            .create_signature(b"", |tbs| key.sign(tbs).to_vec())
            .build();
        // Reparse so the protected header keeps its serialized bytes.
        let bytes = sign1_to_tagged(sign1);
        let sign1 = parse_sign1(&bytes).unwrap_or_default();
        Self {
            sign1,
            kid,
            iss: key.name().to_owned(),
            sub: sub.to_owned(),
        }
    }

    /// The log entry: the tagged COSE_Sign1 with the unprotected header emptied.
    #[must_use]
    pub fn to_entry(&self) -> Vec<u8> {
        sign1_to_tagged(self.sign1.clone())
    }

    /// The RFC 9162 leaf hash of [`Self::to_entry`].
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        Hash::leaf(&self.to_entry())
    }

    /// The protected `kid`: the signing key's signed-note key ID.
    #[must_use]
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The `kid` as 8 lowercase hex digits (the DSSE `keyid` form).
    #[must_use]
    pub fn kid_hex(&self) -> String {
        hex::encode(self.kid)
    }

    /// CWT `iss`: the signing key's name.
    #[must_use]
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// CWT `sub`: the statement's `attestation_id`.
    #[must_use]
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The attached payload (the in-toto Statement bytes).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }

    /// The serialized protected header.
    #[must_use]
    pub fn protected_bytes(&self) -> Vec<u8> {
        self.sign1
            .protected
            .original_data
            .clone()
            .unwrap_or_default()
    }

    /// The signature bytes.
    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.sign1.signature
    }

    /// The COSE Sig_structure ("Signature1", protected, empty external AAD, payload) that the
    /// signature covers (RFC 9052 §4.4).
    #[must_use]
    pub fn sig_structure(&self) -> Vec<u8> {
        self.sign1.tbs_data(b"")
    }

    /// Whether `key` is the key named by `kid` and its Ed25519 signature (`verify_strict`)
    /// over the Sig_structure verifies.
    #[must_use]
    pub fn verify_with(&self, key: &VerifierKey) -> bool {
        key.key_id() == self.kid && key.verify(&self.sig_structure(), self.signature())
    }

    /// The claims that bind the header to the statement and key: `iss` must be the signing
    /// key's name and `sub` the `attestation_id` the statement is about (an attestation's own,
    /// a verification's subject's: [`crate::rules::cose_subject`]).
    ///
    /// # Errors
    /// A message naming the claim that does not match.
    pub fn check_claims(&self, key_name: &str, attestation_id: &str) -> Result<(), String> {
        if self.iss != key_name {
            return Err(format!(
                "CWT iss {:?} is not the signing key's name {key_name:?}",
                self.iss
            ));
        }
        if self.sub != attestation_id {
            return Err(format!(
                "CWT sub {:?} is not {attestation_id:?}, the attestation_id the statement is about",
                self.sub
            ));
        }
        Ok(())
    }
}

/// Whether entry bytes are a COSE_Sign1 (tag 18 = first byte 0xd2) rather than a DSSE JSON
/// entry (which starts with `{`).
#[must_use]
pub fn is_cose_entry(entry: &[u8]) -> bool {
    entry.first() == Some(&0xd2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TYPE_ED25519;

    // Source: docs/test-vectors.md (the DSSE test vendor key, seed 0x00..0x1f).
    const VENDOR_SIGNER: &str =
        "PRIVATE+KEY+vendor.example/attest+22c8ff26+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";

    fn key() -> SignerKey {
        SignerKey::parse(VENDOR_SIGNER).unwrap()
    }

    fn statement() -> Vec<u8> {
        br#"{"_type":"https://in-toto.io/Statement/v1"}"#.to_vec()
    }

    fn signed() -> SignedStatement {
        SignedStatement::sign(&statement(), &key(), "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab")
    }

    /// Rebuilds a statement with edited parts, signed by the vendor key.
    fn resign(edit: impl FnOnce(&mut CoseSign1)) -> Vec<u8> {
        let mut s = parse_sign1(&signed().to_entry()).unwrap();
        edit(&mut s);
        s.protected.original_data = None;
        let tbs = s.tbs_data(b"");
        s.signature = key().sign(&tbs).to_vec();
        sign1_to_tagged(s)
    }

    #[test]
    fn sign_parse_round_trip_and_verify() {
        let s = signed();
        let entry = s.to_entry();
        assert!(is_cose_entry(&entry));
        let p = SignedStatement::parse(&entry).unwrap();
        assert_eq!(p, s);
        assert_eq!(p.to_entry(), entry);
        assert_eq!(p.kid_hex(), "22c8ff26");
        assert_eq!(p.iss(), "vendor.example/attest");
        assert_eq!(p.sub(), "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab");
        assert_eq!(p.payload(), statement().as_slice());
        assert!(p.verify_with(&key().verifier()));
        let other = SignerKey::from_seed("vendor.example/attest", TYPE_ED25519, &[7; 32]).unwrap();
        assert!(!p.verify_with(&other.verifier()));
        assert!(p.check_claims("vendor.example/attest", p.sub()).is_ok());
        assert!(p.check_claims("other/key", p.sub()).is_err());
        assert!(p.check_claims("vendor.example/attest", "x").is_err());
    }

    #[test]
    fn sig_structure_is_rfc9052_signature1() {
        // RFC 9052 §4.4: ["Signature1", protected, external_aad, payload].
        let s = signed();
        let v = decode_one(&s.sig_structure()).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Text("Signature1".into()),
                Value::Bytes(s.protected_bytes()),
                Value::Bytes(vec![]),
                Value::Bytes(statement()),
            ])
        );
        // The protected header decodes to exactly alg, kid, content type and the CWT claims.
        let Value::Map(m) = decode_one(&s.protected_bytes()).unwrap() else {
            panic!("protected header is not a map")
        };
        let keys: Vec<Value> = m.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            keys,
            vec![
                Value::from(1),
                Value::from(3),
                Value::from(4),
                Value::from(15)
            ]
        );
        assert_eq!(m[0].1, Value::from(ALG_EDDSA));
        assert_eq!(m[2].1, Value::Bytes(hex::decode("22c8ff26").unwrap()));
    }

    #[test]
    fn unprotected_header_is_emptied() {
        let s = signed();
        let mut raw = parse_sign1(&s.to_entry()).unwrap();
        raw.unprotected.rest.push((
            Label::Int(HEADER_RECEIPTS),
            Value::Array(vec![Value::Bytes(vec![1, 2])]),
        ));
        raw.unprotected
            .rest
            .push((Label::Int(99), Value::Text("note".into())));
        let submitted = sign1_to_tagged(raw);
        assert_ne!(submitted, s.to_entry());
        let p = SignedStatement::parse(&submitted).unwrap();
        assert_eq!(p.to_entry(), s.to_entry());
        assert_eq!(p.leaf_hash(), s.leaf_hash());
    }

    fn err(bytes: &[u8]) -> CoseError {
        SignedStatement::parse(bytes).unwrap_err()
    }

    #[test]
    fn bad_inputs_each_name_their_problem() {
        let good = signed().to_entry();
        // Not CBOR, trailing bytes.
        assert_eq!(err(b"{\"payloadType\":1}").code(), "not-cbor");
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(err(&trailing).code(), "not-cbor");
        // Wrong tag (COSE_Sign = 98) and untagged.
        let Value::Tag(_, inner) = decode_one(&good).unwrap() else {
            panic!()
        };
        assert_eq!(
            err(&encode(&Value::Tag(98, inner.clone()))).code(),
            "wrong-tag"
        );
        let e = err(&encode(&inner));
        assert_eq!(e.code(), "wrong-tag");
        assert!(e.to_string().contains("untagged"), "{e}");
        // Tagged but not four members.
        assert_eq!(
            err(&encode(&Value::Tag(18, Box::new(Value::Array(vec![]))))).code(),
            "malformed-cose-sign1"
        );
        // ES256.
        let es256 = resign(|s| {
            s.protected.header.alg =
                Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256));
        });
        let e = err(&es256);
        assert_eq!(e.code(), "unsupported-alg");
        assert!(e.to_string().contains("ES256 (-7)"), "{e}");
        // Missing alg.
        assert_eq!(
            err(&resign(|s| s.protected.header.alg = None)).code(),
            "missing-alg"
        );
        // kid of the wrong size.
        assert_eq!(
            err(&resign(|s| s.protected.header.key_id = vec![1, 2, 3])).code(),
            "bad-kid"
        );
        // Content type.
        assert_eq!(
            err(&resign(|s| s.protected.header.content_type =
                Some(RegisteredLabel::Text("application/json".into()))))
            .code(),
            "bad-content-type"
        );
        // CWT claims missing, or without sub.
        assert_eq!(
            err(&resign(|s| s.protected.header.rest.clear())).code(),
            "missing-cwt-claims"
        );
        let e = err(&resign(|s| {
            s.protected.header.rest = vec![(
                Label::Int(HEADER_CWT_CLAIMS),
                Value::Map(vec![(Value::from(CWT_ISS), Value::Text("a".into()))]),
            )];
        }));
        assert_eq!(e.code(), "missing-cwt-claims");
        assert!(e.to_string().contains("sub"), "{e}");
        // A claim twice: a reader taking the last `sub` would see another subject.
        let e = err(&resign(|s| {
            s.protected.header.rest = vec![(
                Label::Int(HEADER_CWT_CLAIMS),
                Value::Map(vec![
                    (Value::from(CWT_ISS), Value::Text("a".into())),
                    (Value::from(CWT_SUB), Value::Text("b".into())),
                    (Value::from(CWT_SUB), Value::Text("c".into())),
                ]),
            )];
        }));
        assert_eq!(e.code(), "missing-cwt-claims");
        assert!(e.to_string().contains("repeat the key"), "{e}");
        // Detached payload.
        let detached = {
            let mut s = parse_sign1(&good).unwrap();
            s.payload = None;
            sign1_to_tagged(s)
        };
        assert_eq!(err(&detached).code(), "detached-payload");
        // Hash envelope.
        assert_eq!(
            err(&resign(|s| s.protected.header.rest.push((
                Label::Int(HEADER_PAYLOAD_HASH_ALG),
                Value::from(-16)
            ))))
            .code(),
            "hash-envelope"
        );
        // Unprotected-header tricks: a kid, an alg or CWT claims beside the protected ones.
        for edit in [
            (|s: &mut CoseSign1| s.unprotected.key_id = vec![0, 0, 0, 0]) as fn(&mut CoseSign1),
            |s| {
                s.unprotected.alg =
                    Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA));
            },
            |s| {
                s.unprotected
                    .rest
                    .push((Label::Int(HEADER_CWT_CLAIMS), Value::Map(vec![])));
            },
        ] {
            let mut s = parse_sign1(&good).unwrap();
            edit(&mut s);
            assert_eq!(err(&sign1_to_tagged(s)).code(), "unprotected-header");
        }
        // Signature length.
        let mut s = parse_sign1(&good).unwrap();
        s.signature.pop();
        assert_eq!(err(&sign1_to_tagged(s)).code(), "bad-signature-length");
        // Unknown critical parameter.
        assert_eq!(
            err(&resign(|s| s
                .protected
                .header
                .crit
                .push(RegisteredLabelWithPrivate::PrivateUse(-70000))))
            .code(),
            "unknown-critical"
        );
    }

    #[test]
    fn a_tampered_protected_header_fails_verification() {
        let good = signed().to_entry();
        let mut s = parse_sign1(&good).unwrap();
        s.protected.header.rest = vec![(
            Label::Int(HEADER_CWT_CLAIMS),
            Value::Map(vec![
                (
                    Value::from(CWT_ISS),
                    Value::Text("vendor.example/attest".into()),
                ),
                (Value::from(CWT_SUB), Value::Text("another-id".into())),
            ]),
        )];
        s.protected.original_data = None;
        let p = SignedStatement::parse(&sign1_to_tagged(s)).unwrap();
        assert!(!p.verify_with(&key().verifier()));
    }
}
