//! SCITT receipts and keys (DESIGN.md §12): RFC 9942 COSE receipts for the RFC9162_SHA256
//! verifiable data structure (vds 1), the log's COSE key (Ed25519, `kid` = RFC 9679
//! thumbprint) and COSE_KeySet, RFC 9290 concise problem details, and witnessed transparent
//! statements (receipt in unprotected label 394, the c2sp.org/tlog-proof with witness
//! cosignatures in private-use label -65537).
//!
//! A receipt is a COSE_Sign1 (tag 18) by the log's COSE key over the detached Merkle tree root:
//! protected `alg` (EdDSA), `kid`, `vds` (395) = 1 and CWT claims (`iss` = the log's origin,
//! `sub` = the statement's `sub`, `iat`); unprotected `vdp` (396) with the inclusion proof
//! under -1 (`bstr .cbor [tree_size, leaf_index, [+ bstr]]`) or consistency proofs under -2
//! (`bstr .cbor [tree_size_1, tree_size_2, [+ bstr]]`). The leaf is the log entry (the signed
//! statement with its unprotected header emptied), hashed as RFC 9162 §2.1.1 says.
//!
//! Proof encodings follow RFC 9942 §5; a one-entry tree has an empty inclusion path (the CDDL
//! says `[+ bstr]`, RFC 9162 gives none: docs/protocol-notes.md records the choice).

use coset::cbor::value::Value;
use coset::{
    CoseKey, CoseKeyBuilder, CoseSign1, CoseSign1Builder, HeaderBuilder, Label,
    RegisteredLabelWithPrivate, iana,
};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::Hash;
use crate::cose::{
    CWT_IAT, CWT_ISS, CWT_SUB, CoseError, HEADER_CWT_CLAIMS, HEADER_RECEIPTS, HEADER_TLOG_PROOF,
    HEADER_VDP, HEADER_VDS, SignedStatement, decode_one, encode, parse_sign1, repeated_claim,
    sign1_to_tagged,
};
use crate::keys::{SignerKey, VerifierKey};
use crate::proof::{ProofError, root_from_consistency, root_from_inclusion, verify_consistency};
use crate::tlog_proof::{TlogProof, TlogProofError, VerifiedInclusion};
use crate::trust::Trust;

/// The Ed25519 public key of a log's COSE receipt key (as [`parse_key_set`] reads them).
pub type ReceiptKey = VerifyingKey;

/// Verifiable data structure RFC9162_SHA256 (RFC 9942 §5).
pub const VDS_RFC9162_SHA256: i64 = 1;
/// `vdp` key of inclusion proofs.
pub const VDP_INCLUSION: i64 = -1;
/// `vdp` key of consistency proofs.
pub const VDP_CONSISTENCY: i64 = -2;
/// Media type of RFC 9290 concise problem details.
pub const MEDIA_TYPE_PROBLEM: &str = "application/concise-problem-details+cbor";
/// Media type of a COSE_KeySet (RFC 9052 §11).
pub const MEDIA_TYPE_KEY_SET: &str = "application/cose-key-set";
/// Most hashes accepted in one proof path (a tree of 2^64 leaves needs 64).
pub const MAX_PATH: usize = 64;

/// Why a receipt or transparent statement does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScittError {
    /// The bytes are not a COSE_Sign1.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// The receipt's structure differs from RFC 9942 for RFC9162_SHA256.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The receipt's algorithm is not EdDSA.
    #[error("receipt algorithm is not EdDSA (-8)")]
    Algorithm,
    /// No trusted key has the receipt's `kid`.
    #[error("no trusted log key has kid {0}")]
    UnknownKid(String),
    /// The inclusion or consistency proof is malformed or does not verify.
    #[error("proof does not verify: {0}")]
    Proof(#[from] ProofError),
    /// The signature over the (recomputed) root does not verify.
    #[error("receipt signature does not verify")]
    Signature,
    /// The receipt's `sub` is not the statement's.
    #[error("receipt sub {receipt:?} is not the statement's sub {statement:?}")]
    Subject {
        /// In the receipt.
        receipt: String,
        /// In the statement.
        statement: String,
    },
    /// A transparent statement lacks the c2sp.org/tlog-proof (-65537) its verifier asked for.
    #[error("no c2sp.org/tlog-proof (label -65537) in the unprotected header")]
    NoTlogProof,
    /// The tlog-proof does not verify (log signature, witness quorum or inclusion).
    #[error("tlog-proof: {0}")]
    TlogProof(#[from] TlogProofError),
    /// The receipt and the tlog-proof prove different inclusions.
    #[error("the receipt and the tlog-proof disagree: {0}")]
    Disagree(String),
    /// The receipt's `iss` is not the origin of the tlog-proof's checkpoint: the receipt is
    /// another log's.
    #[error("receipt iss {receipt:?} is not the tlog-proof's checkpoint origin {checkpoint:?}")]
    Issuer {
        /// In the receipt.
        receipt: String,
        /// The checkpoint's origin.
        checkpoint: String,
    },
    /// A COSE key set (or key) that is not the log's receipt keys as docs/spec.md §11.4 says.
    #[error("malformed COSE key set: {0}")]
    KeySet(String),
}

/// RFC 9679 thumbprint of an Ed25519 COSE key: SHA-256 of the deterministically encoded map
/// of its required parameters `{1: 1 (OKP), -1: 6 (Ed25519), -2: x}`.
#[must_use]
pub fn thumbprint(key: &VerifyingKey) -> [u8; 32] {
    // Deterministic encoding (RFC 8949 §4.2.1): keys sorted by their encoded bytes:
    // 1 (0x01) < -1 (0x20) < -2 (0x21).
    let map = Value::Map(vec![
        (Value::from(1), Value::from(1)),
        (Value::from(-1), Value::from(6)),
        (Value::from(-2), Value::Bytes(key.as_bytes().to_vec())),
    ]);
    Sha256::digest(encode(&map)).into()
}

/// The log's COSE signing key (Ed25519), with `kid` = its RFC 9679 thumbprint.
#[derive(Clone)]
pub struct ReceiptSigner {
    key: SignerKey,
    kid: [u8; 32],
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("kid", &hex::encode(self.kid))
            .finish_non_exhaustive()
    }
}

impl ReceiptSigner {
    /// Wraps an Ed25519 signer (only the key is used; its name plays no part in COSE).
    #[must_use]
    pub fn new(key: SignerKey) -> Self {
        let kid = thumbprint(&key.public_key());
        Self { key, kid }
    }

    /// The `kid`: the RFC 9679 thumbprint.
    #[must_use]
    pub fn kid(&self) -> [u8; 32] {
        self.kid
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> VerifyingKey {
        self.key.public_key()
    }

    fn sign(&self, claims: &ReceiptClaims, vdp: Value, root: &Hash) -> Vec<u8> {
        let mut cwt = vec![(Value::from(CWT_ISS), Value::Text(claims.iss.clone()))];
        if let Some(sub) = &claims.sub {
            cwt.push((Value::from(CWT_SUB), Value::Text(sub.clone())));
        }
        if let Some(iat) = claims.iat {
            cwt.push((Value::from(CWT_IAT), Value::from(iat)));
        }
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(self.kid.to_vec())
            .value(HEADER_VDS, Value::from(VDS_RFC9162_SHA256))
            .value(HEADER_CWT_CLAIMS, Value::Map(cwt))
            .build();
        let unprotected = HeaderBuilder::new().value(HEADER_VDP, vdp).build();
        let s = CoseSign1Builder::new()
            .protected(protected)
            .unprotected(unprotected)
            .create_detached_signature(&root.0, b"", |tbs| self.key.sign(tbs).to_vec())
            .build();
        sign1_to_tagged(s)
    }

    /// A receipt of inclusion: `proof` leads from the entry's leaf hash to `root` (the root of
    /// the tree of `proof.tree_size`), which the signature covers as the detached payload.
    #[must_use]
    pub fn sign_inclusion(
        &self,
        claims: &ReceiptClaims,
        proof: &InclusionProof,
        root: &Hash,
    ) -> Vec<u8> {
        let vdp = Value::Map(vec![(
            Value::from(VDP_INCLUSION),
            Value::Array(vec![Value::Bytes(proof.to_cbor())]),
        )]);
        self.sign(claims, vdp, root)
    }

    /// A receipt of consistency: `proof` shows that the tree of `proof.tree_size_2` with root
    /// `new_root` (the detached payload) extends the tree of `proof.tree_size_1`.
    #[must_use]
    pub fn sign_consistency(
        &self,
        claims: &ReceiptClaims,
        proof: &ConsistencyProof,
        new_root: &Hash,
    ) -> Vec<u8> {
        let vdp = Value::Map(vec![(
            Value::from(VDP_CONSISTENCY),
            Value::Array(vec![Value::Bytes(proof.to_cbor())]),
        )]);
        self.sign(claims, vdp, new_root)
    }
}

/// The CWT claims of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptClaims {
    /// `iss`: the log's origin.
    pub iss: String,
    /// `sub`: the statement's `sub` (absent in consistency receipts).
    pub sub: Option<String>,
    /// `iat`: seconds since the epoch when the receipt was signed.
    pub iat: Option<u64>,
}

fn hashes_value(path: &[Hash]) -> Value {
    Value::Array(path.iter().map(|h| Value::Bytes(h.0.to_vec())).collect())
}

fn uint(v: &Value, what: &str) -> Result<u64, ScittError> {
    match v {
        Value::Integer(i) => u64::try_from(*i)
            .map_err(|_| ScittError::Malformed(format!("{what} is not an unsigned integer"))),
        _ => Err(ScittError::Malformed(format!(
            "{what} is not an unsigned integer"
        ))),
    }
}

fn path_of(v: &Value) -> Result<Vec<Hash>, ScittError> {
    let Value::Array(a) = v else {
        return Err(ScittError::Malformed("proof path is not an array".into()));
    };
    if a.len() > MAX_PATH {
        return Err(ScittError::Malformed("proof path is too long".into()));
    }
    a.iter()
        .map(|h| match h {
            Value::Bytes(b) => Hash::from_slice(b)
                .map_err(|_| ScittError::Malformed("proof hash is not 32 bytes".into())),
            _ => Err(ScittError::Malformed("proof hash is not a bstr".into())),
        })
        .collect()
}

fn triple(bytes: &[u8], what: &str) -> Result<(u64, u64, Vec<Hash>), ScittError> {
    let v = decode_one(bytes).map_err(|e| ScittError::Malformed(format!("{what}: {e}")))?;
    match v {
        Value::Array(a) if a.len() == 3 => {
            Ok((uint(&a[0], what)?, uint(&a[1], what)?, path_of(&a[2])?))
        }
        _ => Err(ScittError::Malformed(format!(
            "{what} is not a three-member array"
        ))),
    }
}

/// An RFC9162_SHA256 inclusion proof (RFC 9942 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Size of the tree the proof leads to.
    pub tree_size: u64,
    /// Index of the leaf.
    pub leaf_index: u64,
    /// Sibling hashes from the leaf up.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// `[tree_size, leaf_index, inclusion_path]` in CBOR (the content of the bstr).
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        encode(&Value::Array(vec![
            Value::from(self.tree_size),
            Value::from(self.leaf_index),
            hashes_value(&self.path),
        ]))
    }

    /// Parses [`Self::to_cbor`].
    ///
    /// # Errors
    /// [`ScittError::Malformed`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ScittError> {
        let (tree_size, leaf_index, path) = triple(bytes, "inclusion proof")?;
        Ok(Self {
            tree_size,
            leaf_index,
            path,
        })
    }
}

/// An RFC9162_SHA256 consistency proof (RFC 9942 §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub tree_size_1: u64,
    /// The newer tree size.
    pub tree_size_2: u64,
    /// The consistency path.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// `[tree_size_1, tree_size_2, consistency_path]` in CBOR.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        encode(&Value::Array(vec![
            Value::from(self.tree_size_1),
            Value::from(self.tree_size_2),
            hashes_value(&self.path),
        ]))
    }

    /// Parses [`Self::to_cbor`].
    ///
    /// # Errors
    /// [`ScittError::Malformed`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, ScittError> {
        let (tree_size_1, tree_size_2, path) = triple(bytes, "consistency proof")?;
        Ok(Self {
            tree_size_1,
            tree_size_2,
            path,
        })
    }
}

/// A parsed (unverified) RFC 9942 receipt for RFC9162_SHA256.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    sign1: CoseSign1,
    /// Protected `kid`.
    pub kid: Vec<u8>,
    /// Whether the protected `alg` is EdDSA.
    pub eddsa: bool,
    /// The CWT claims (empty `iss` when absent).
    pub claims: ReceiptClaims,
    /// Inclusion proofs (`vdp` -1).
    pub inclusion: Vec<InclusionProof>,
    /// Consistency proofs (`vdp` -2).
    pub consistency: Vec<ConsistencyProof>,
}

fn proofs<T>(
    vdp: &[(Value, Value)],
    key: i64,
    parse: fn(&[u8]) -> Result<T, ScittError>,
) -> Result<Vec<T>, ScittError> {
    let Some((_, v)) = vdp.iter().find(|(k, _)| *k == Value::from(key)) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(ScittError::Malformed(format!("vdp {key} is not an array")));
    };
    items
        .iter()
        .map(|i| match i {
            Value::Bytes(b) => parse(b),
            _ => Err(ScittError::Malformed(format!(
                "vdp {key} holds a non-bstr proof"
            ))),
        })
        .collect()
}

fn header_value(h: &coset::Header, label: i64) -> Option<&Value> {
    h.rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

impl Receipt {
    /// Parses a receipt: a tagged COSE_Sign1 with a detached payload, `vds` 1, a `kid`, and
    /// `vdp` holding inclusion or consistency proofs.
    ///
    /// # Errors
    /// [`ScittError::Cose`] or [`ScittError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ScittError> {
        let sign1 = parse_sign1(bytes)?;
        let p = &sign1.protected.header;
        if header_value(p, HEADER_VDS) != Some(&Value::from(VDS_RFC9162_SHA256)) {
            return Err(ScittError::Malformed(
                "protected vds (395) is not 1 (RFC9162_SHA256)".into(),
            ));
        }
        if sign1.payload.is_some() {
            return Err(ScittError::Malformed(
                "payload must be detached (the tree root)".into(),
            ));
        }
        let eddsa = matches!(
            p.alg,
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA))
        );
        let mut claims = ReceiptClaims::default();
        if let Some(Value::Map(m)) = header_value(p, HEADER_CWT_CLAIMS) {
            if let Some(k) = repeated_claim(m) {
                return Err(ScittError::Malformed(format!(
                    "the CWT claims repeat the key {k:?}"
                )));
            }
            for (k, v) in m {
                match (k, v) {
                    (Value::Integer(i), Value::Text(t)) if *i == CWT_ISS.into() => {
                        claims.iss = t.clone();
                    }
                    (Value::Integer(i), Value::Text(t)) if *i == CWT_SUB.into() => {
                        claims.sub = Some(t.clone());
                    }
                    (Value::Integer(i), Value::Integer(t)) if *i == CWT_IAT.into() => {
                        claims.iat = u64::try_from(*t).ok();
                    }
                    _ => {}
                }
            }
        }
        let Some(Value::Map(vdp)) = header_value(&sign1.unprotected, HEADER_VDP) else {
            return Err(ScittError::Malformed(
                "unprotected vdp (396) is missing or not a map".into(),
            ));
        };
        let inclusion = proofs(vdp, VDP_INCLUSION, InclusionProof::from_cbor)?;
        let consistency = proofs(vdp, VDP_CONSISTENCY, ConsistencyProof::from_cbor)?;
        if inclusion.is_empty() && consistency.is_empty() {
            return Err(ScittError::Malformed("vdp holds no proof".into()));
        }
        Ok(Self {
            kid: p.key_id.clone(),
            eddsa,
            claims,
            inclusion,
            consistency,
            sign1,
        })
    }

    fn key<'a>(&self, keys: &'a [VerifyingKey]) -> Result<&'a VerifyingKey, ScittError> {
        if !self.eddsa {
            return Err(ScittError::Algorithm);
        }
        keys.iter()
            .find(|k| thumbprint(k).as_slice() == self.kid.as_slice())
            .ok_or_else(|| ScittError::UnknownKid(hex::encode(&self.kid)))
    }

    fn check_signature(&self, key: &VerifyingKey, root: &Hash) -> Result<(), ScittError> {
        let tbs = self.sign1.tbs_detached_data(&root.0, b"");
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&self.sign1.signature) else {
            return Err(ScittError::Signature);
        };
        key.verify_strict(&tbs, &sig)
            .map_err(|_| ScittError::Signature)
    }

    /// Verifies that `entry` (the logged bytes) is included: the first inclusion proof leads
    /// from its leaf hash to a root, and the signature of a trusted key (found by `kid`) covers
    /// that root. Returns the proof and the root.
    ///
    /// # Errors
    /// [`ScittError`] naming the failed check.
    pub fn verify_inclusion(
        &self,
        entry: &[u8],
        keys: &[VerifyingKey],
    ) -> Result<(InclusionProof, Hash), ScittError> {
        let key = self.key(keys)?;
        let proof = self
            .inclusion
            .first()
            .ok_or_else(|| ScittError::Malformed("no inclusion proof".into()))?;
        let root = root_from_inclusion(
            &Hash::leaf(entry),
            proof.leaf_index,
            proof.tree_size,
            &proof.path,
        )?;
        self.check_signature(key, &root)?;
        Ok((proof.clone(), root))
    }

    /// The first consistency proof, which must start at `old_size`.
    fn consistency_from(&self, old_size: u64) -> Result<&ConsistencyProof, ScittError> {
        let proof = self
            .consistency
            .first()
            .ok_or_else(|| ScittError::Malformed("no consistency proof".into()))?;
        if proof.tree_size_1 != old_size {
            return Err(ScittError::Malformed(format!(
                "consistency proof starts at size {}, not {old_size}",
                proof.tree_size_1
            )));
        }
        Ok(proof)
    }

    /// Verifies a consistency receipt against a tree the verifier trusts (`old_size`,
    /// `old_root`): the signature covers `new_root`, and the first consistency proof shows the
    /// tree of its `tree_size_2` with that root extends the old one.
    ///
    /// # Errors
    /// [`ScittError`] naming the failed check.
    pub fn verify_consistency(
        &self,
        old_size: u64,
        old_root: &Hash,
        new_root: &Hash,
        keys: &[VerifyingKey],
    ) -> Result<ConsistencyProof, ScittError> {
        let key = self.key(keys)?;
        self.check_signature(key, new_root)?;
        let proof = self.consistency_from(old_size)?;
        verify_consistency(
            proof.tree_size_1,
            proof.tree_size_2,
            &proof.path,
            old_root,
            new_root,
        )?;
        Ok(proof.clone())
    }

    /// Verifies a consistency receipt from a tree the verifier trusts alone (`old_size`,
    /// `old_root`, e.g. from a checkpoint it verified before), as RFC 9942 §5.3 says: the first
    /// consistency proof, which must start at `old_size`, leads from `old_root` to the root of
    /// the tree of its `tree_size_2`, and a trusted key (found by `kid`) signed that root.
    /// Returns the proof and the new root.
    ///
    /// # Errors
    /// [`ScittError`] naming the failed check.
    pub fn verify_consistency_from(
        &self,
        old_size: u64,
        old_root: &Hash,
        keys: &[VerifyingKey],
    ) -> Result<(ConsistencyProof, Hash), ScittError> {
        let key = self.key(keys)?;
        let proof = self.consistency_from(old_size)?;
        let new_root =
            root_from_consistency(proof.tree_size_1, proof.tree_size_2, &proof.path, old_root)?;
        self.check_signature(key, &new_root)?;
        Ok((proof.clone(), new_root))
    }
}

/// The COSE_Key (RFC 9052 §7, RFC 9053 §7.2) of an Ed25519 log key: OKP, Ed25519, `x`,
/// `alg` EdDSA, `kid` = its thumbprint.
#[must_use]
pub fn cose_key(key: &VerifyingKey) -> CoseKey {
    CoseKeyBuilder::new_okp_key()
        .param(
            iana::OkpKeyParameter::Crv as i64,
            Value::from(iana::EllipticCurve::Ed25519 as i64),
        )
        .param(
            iana::OkpKeyParameter::X as i64,
            Value::Bytes(key.as_bytes().to_vec()),
        )
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(thumbprint(key).to_vec())
        .build()
}

/// The CBOR of one COSE_Key.
#[must_use]
pub fn cose_key_bytes(key: &VerifyingKey) -> Vec<u8> {
    use coset::CborSerializable as _;
    cose_key(key).to_vec().unwrap_or_default()
}

/// A COSE_KeySet (`[+ COSE_Key]`) of the given keys, in order.
#[must_use]
pub fn key_set(keys: &[VerifyingKey]) -> Vec<u8> {
    use coset::AsCborValue as _;
    let items = keys
        .iter()
        .filter_map(|k| cose_key(k).to_cbor_value().ok())
        .collect();
    encode(&Value::Array(items))
}

/// The Ed25519 keys of a COSE_KeySet, or of a single COSE_Key (as served by
/// `/.well-known/scitt-keys/{kid}`), strictly as docs/spec.md §11.4 says: keys of a type other
/// than OKP are skipped (RFC 9052 §7: a set may hold keys for other uses), and every OKP key
/// must have `crv` Ed25519, `alg` EdDSA if it has an `alg`, a 32-byte `x` that is an Ed25519
/// point and a `kid` equal to its RFC 9679 thumbprint. At least one key must remain.
///
/// # Errors
/// [`ScittError::KeySet`] naming the first problem.
pub fn parse_key_set(bytes: &[u8]) -> Result<Vec<VerifyingKey>, ScittError> {
    use coset::AsCborValue as _;
    let bad = |m: String| ScittError::KeySet(m);
    let v = decode_one(bytes).map_err(|e| bad(e.to_string()))?;
    let items = match v {
        Value::Array(items) => items,
        key @ Value::Map(_) => vec![key],
        _ => {
            return Err(bad("not a COSE_KeySet (array) or a COSE_Key (map)".into()));
        }
    };
    let mut out = Vec::new();
    for (n, item) in items.into_iter().enumerate() {
        let k = CoseKey::from_cbor_value(item).map_err(|e| bad(format!("key {n}: {e}")))?;
        if k.kty != coset::KeyType::Assigned(iana::KeyType::OKP) {
            continue;
        }
        let param = |label: iana::OkpKeyParameter| {
            k.params
                .iter()
                .find_map(|(l, v)| (*l == Label::Int(label as i64)).then_some(v))
        };
        if param(iana::OkpKeyParameter::Crv)
            != Some(&Value::from(iana::EllipticCurve::Ed25519 as i64))
        {
            return Err(bad(format!(
                "key {n}: OKP key whose crv (-1) is not Ed25519 (6)"
            )));
        }
        if k.alg.is_some()
            && k.alg != Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA))
        {
            return Err(bad(format!("key {n}: alg (3) is not EdDSA (-8)")));
        }
        let x: [u8; 32] = match param(iana::OkpKeyParameter::X) {
            Some(Value::Bytes(b)) => b.as_slice().try_into().ok(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("key {n}: OKP key without a 32-byte x (-2)")))?;
        let vk = VerifyingKey::from_bytes(&x)
            .map_err(|_| bad(format!("key {n}: x is not an Ed25519 public key")))?;
        if k.key_id.is_empty() {
            return Err(bad(format!("key {n}: no kid (2)")));
        }
        if k.key_id != thumbprint(&vk) {
            return Err(bad(format!(
                "key {n}: kid is not the key's RFC 9679 thumbprint"
            )));
        }
        out.push(vk);
    }
    if out.is_empty() {
        return Err(bad("no Ed25519 OKP key".into()));
    }
    Ok(out)
}

/// An RFC 9290 concise problem details map (§2): title (-1), detail (-2), and attestlog's
/// custom problem detail entry (§3.2) under the URI key [`PROBLEM_KEY`]: a nested map with the
/// problem name (`"code"`) and the HTTP status (`"status"`). RFC 9290's own `response-code`
/// (-4) is a CoAP code of one byte, which an HTTP answer has not, so it is not sent.
#[must_use]
pub fn problem_details(title: &str, detail: &str, status: u16, code: &str) -> Vec<u8> {
    encode(&Value::Map(vec![
        (Value::from(-1), Value::Text(title.to_owned())),
        (Value::from(-2), Value::Text(detail.to_owned())),
        (
            Value::Text(PROBLEM_KEY.to_owned()),
            Value::Map(vec![
                (
                    Value::Text(PROBLEM_CODE.to_owned()),
                    Value::Text(code.to_owned()),
                ),
                (Value::Text(PROBLEM_STATUS.to_owned()), Value::from(status)),
            ]),
        ),
    ]))
}

/// The custom problem detail key (a URI, as RFC 9290 §3.2 allows) of attestlog's entry.
pub const PROBLEM_KEY: &str = "https://attestlog.dev/problem";
/// The member of attestlog's custom entry naming the problem.
pub const PROBLEM_CODE: &str = "code";
/// The member of attestlog's custom entry giving the HTTP status.
pub const PROBLEM_STATUS: &str = "status";

/// A decoded problem details body: `(title, detail, code)`, missing members empty (entries
/// it does not know are ignored, as RFC 9290 §3 requires).
///
/// # Errors
/// [`ScittError::Malformed`] when the body is not a CBOR map.
pub fn parse_problem_details(bytes: &[u8]) -> Result<(String, String, String), ScittError> {
    let Value::Map(m) = decode_one(bytes).map_err(|e| ScittError::Malformed(e.to_string()))? else {
        return Err(ScittError::Malformed(
            "problem details are not a map".into(),
        ));
    };
    let text = |m: &[(Value, Value)], key: Value| {
        m.iter()
            .find_map(|(k, v)| match v {
                Value::Text(t) if *k == key => Some(t.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let code = m
        .iter()
        .find_map(|(k, v)| match v {
            Value::Map(inner) if *k == Value::Text(PROBLEM_KEY.to_owned()) => {
                Some(text(inner, Value::Text(PROBLEM_CODE.to_owned())))
            }
            _ => None,
        })
        .unwrap_or_default();
    Ok((text(&m, Value::from(-1)), text(&m, Value::from(-2)), code))
}

/// A transparent statement: the logged entry with the receipt in unprotected label 394 (an
/// array of bstr-wrapped receipts) and, when given, the c2sp.org/tlog-proof text carrying the
/// witness cosignatures in private-use label -65537.
///
/// # Errors
/// [`ScittError::Cose`] when `entry` is not a COSE_Sign1.
pub fn transparent_statement(
    entry: &[u8],
    receipt: &[u8],
    tlog_proof: Option<&[u8]>,
) -> Result<Vec<u8>, ScittError> {
    let mut s = parse_sign1(entry)?;
    s.unprotected.rest = vec![(
        Label::Int(HEADER_RECEIPTS),
        Value::Array(vec![Value::Bytes(receipt.to_vec())]),
    )];
    if let Some(p) = tlog_proof {
        s.unprotected
            .rest
            .push((Label::Int(HEADER_TLOG_PROOF), Value::Bytes(p.to_vec())));
    }
    Ok(sign1_to_tagged(s))
}

/// The parts of a transparent statement.
#[derive(Debug, Clone, PartialEq)]
pub struct TransparentStatement {
    /// The signed statement (unprotected header dropped).
    pub statement: SignedStatement,
    /// The receipts of label 394.
    pub receipts: Vec<Vec<u8>>,
    /// The tlog-proof of label -65537, if present.
    pub tlog_proof: Option<Vec<u8>>,
}

impl TransparentStatement {
    /// Splits a transparent statement into the statement, its receipts and its tlog-proof.
    ///
    /// # Errors
    /// [`ScittError::Cose`] or [`ScittError::Malformed`] (no receipt).
    pub fn parse(bytes: &[u8]) -> Result<Self, ScittError> {
        let s = parse_sign1(bytes)?;
        let receipts = match header_value(&s.unprotected, HEADER_RECEIPTS) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| match r {
                    Value::Bytes(b) => Ok(b.clone()),
                    _ => Err(ScittError::Malformed("receipt is not a bstr".into())),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(ScittError::Malformed(
                    "no receipts (394) in the unprotected header".into(),
                ));
            }
        };
        let tlog_proof = match header_value(&s.unprotected, HEADER_TLOG_PROOF) {
            Some(Value::Bytes(b)) => Some(b.clone()),
            Some(Value::Text(t)) => Some(t.as_bytes().to_vec()),
            _ => None,
        };
        Ok(Self {
            statement: SignedStatement::parse(bytes)?,
            receipts,
            tlog_proof,
        })
    }

    /// Verifies the first receipt for the statement's entry under `keys`, and that the
    /// receipt's `sub` is the statement's. Returns the receipt, its proof and root.
    ///
    /// # Errors
    /// [`ScittError`].
    pub fn verify_receipt(
        &self,
        keys: &[VerifyingKey],
    ) -> Result<(Receipt, InclusionProof, Hash), ScittError> {
        let bytes = self
            .receipts
            .first()
            .ok_or_else(|| ScittError::Malformed("no receipt".into()))?;
        verify_statement_receipt(&self.statement, bytes, keys)
    }

    /// Verifies a witnessed transparent statement (DESIGN.md §12): the receipt under `keys`
    /// ([`Self::verify_receipt`]) and, with `tlog`, the c2sp.org/tlog-proof of label -65537
    /// under the log key or a policy's witness quorum, whose checkpoint origin must be the
    /// receipt's `iss` and which must prove the same inclusion (index, tree size and root) as
    /// the receipt.
    ///
    /// # Errors
    /// [`ScittError`] naming the failed check.
    pub fn verify(
        &self,
        keys: &[VerifyingKey],
        tlog: Option<&Trust>,
    ) -> Result<VerifiedTransparent, ScittError> {
        let (receipt, proof, root) = self.verify_receipt(keys)?;
        let Some(trust) = tlog else {
            return Ok(VerifiedTransparent {
                receipt,
                proof,
                root,
                tlog: None,
            });
        };
        let text = self.tlog_proof.as_deref().ok_or(ScittError::NoTlogProof)?;
        let tp = TlogProof::parse(text)?;
        let entry = self.statement.to_entry();
        let v = match trust {
            Trust::LogKey(k) => tp.verify_with_log_keys(&entry, std::slice::from_ref(&**k))?,
            Trust::Policy(p) => tp.verify(&entry, p)?,
        };
        let cp = v.checkpoint.checkpoint();
        // The receipt's iss is the log's origin (§11.2): a receipt of one log bundled with the
        // tlog-proof of another is refused, even if both cover the same entry and root.
        if receipt.claims.iss != cp.origin {
            return Err(ScittError::Issuer {
                receipt: receipt.claims.iss.clone(),
                checkpoint: cp.origin.clone(),
            });
        }
        if (v.index, cp.size, cp.root) != (proof.leaf_index, proof.tree_size, root) {
            return Err(ScittError::Disagree(format!(
                "receipt: index {} in tree {} with root {}; tlog-proof: index {} in tree {} with root {}",
                proof.leaf_index,
                proof.tree_size,
                root.to_hex(),
                v.index,
                cp.size,
                cp.root.to_hex()
            )));
        }
        Ok(VerifiedTransparent {
            receipt,
            proof,
            root,
            tlog: Some(v),
        })
    }
}

/// What [`TransparentStatement::verify`] established.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTransparent {
    /// The verified receipt.
    pub receipt: Receipt,
    /// Its inclusion proof.
    pub proof: InclusionProof,
    /// The tree root its signature covers.
    pub root: Hash,
    /// The verified tlog-proof (its checkpoint and the witnesses that cosigned it), when a
    /// log key or policy was given.
    pub tlog: Option<VerifiedInclusion>,
}

/// Verifies an RFC 9942 receipt for a signed statement: the receipt's inclusion proof leads
/// from the statement's log entry to a root that a key of `keys` signed, and its `sub` is the
/// statement's. Returns the receipt, its proof and root.
///
/// # Errors
/// [`ScittError`] naming the failed check.
pub fn verify_statement_receipt(
    statement: &SignedStatement,
    receipt: &[u8],
    keys: &[VerifyingKey],
) -> Result<(Receipt, InclusionProof, Hash), ScittError> {
    let r = Receipt::parse(receipt)?;
    let (proof, root) = r.verify_inclusion(&statement.to_entry(), keys)?;
    let sub = r.claims.sub.clone().unwrap_or_default();
    if sub != statement.sub() {
        return Err(ScittError::Subject {
            receipt: sub,
            statement: statement.sub().to_owned(),
        });
    }
    Ok((r, proof, root))
}

/// The Ed25519 public key of a verifier key, as a COSE verifier needs it.
#[must_use]
pub fn verifying_key(k: &VerifierKey) -> VerifyingKey {
    *k.public_key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TYPE_ED25519;
    use crate::proof::{consistency_proof, inclusion_proof};
    use crate::tree::{MemoryTree, tree_root};

    fn log_signer() -> ReceiptSigner {
        ReceiptSigner::new(
            SignerKey::from_seed("log.example/cose", TYPE_ED25519, &[42; 32]).unwrap(),
        )
    }

    // Source: RFC 9942 appendix examples (examples/inclusion-receipt.cbor and
    // consistency-receipt.cbor of the COSE working group's draft repository).
    const RFC_INCLUSION: &[u8] = include_bytes!("../testdata/rfc9942-inclusion-receipt.cbor");
    const RFC_CONSISTENCY: &[u8] = include_bytes!("../testdata/rfc9942-consistency-receipt.cbor");

    #[test]
    fn rfc9942_example_receipts_parse_and_their_proofs_agree() {
        let inc = Receipt::parse(RFC_INCLUSION).unwrap();
        assert_eq!(inc.kid, b"test-key-1");
        assert!(!inc.eddsa, "the example is ES256");
        assert_eq!(inc.claims.iss, "https://transparency-service.example.com");
        assert_eq!(inc.inclusion.len(), 1);
        let ip = &inc.inclusion[0];
        assert_eq!((ip.tree_size, ip.leaf_index, ip.path.len()), (5, 3, 3));
        let con = Receipt::parse(RFC_CONSISTENCY).unwrap();
        let cp = &con.consistency[0];
        assert_eq!((cp.tree_size_1, cp.tree_size_2, cp.path.len()), (3, 5, 4));
        // RFC 9162: consistency 3 -> 5 is [h(2), h(3), h(0..2), h(4)], inclusion of leaf 3 in
        // 5 is [h(2), h(0..2), h(4)]. Leaf 3's hash is the proof's second hash; the root it
        // leads to must be the root the consistency proof leads to from H(h(0..2), h(2)).
        let leaf3 = cp.path[1];
        let root5 = root_from_inclusion(&leaf3, 3, 5, &ip.path).unwrap();
        let root3 = Hash::node(&cp.path[2], &cp.path[0]);
        verify_consistency(3, 5, &cp.path, &root3, &root5).unwrap();
        // Our verifier refuses the ES256 example (EdDSA only) rather than misreading it.
        assert_eq!(
            inc.verify_inclusion(b"x", &[log_signer().public_key()]),
            Err(ScittError::Algorithm)
        );
    }

    fn tree(n: u64) -> (MemoryTree, Vec<Vec<u8>>) {
        let mut t = MemoryTree::new();
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        for e in &entries {
            t.push(Hash::leaf(e));
        }
        (t, entries)
    }

    #[test]
    fn inclusion_receipts_verify_for_every_leaf_and_only_for_it() {
        let signer = log_signer();
        let keys = [signer.public_key()];
        for n in 1..=9_u64 {
            let (t, entries) = tree(n);
            let root = tree_root(n, &t).unwrap();
            for i in 0..n {
                let path = inclusion_proof(i, n, &t).unwrap();
                let proof = InclusionProof {
                    tree_size: n,
                    leaf_index: i,
                    path,
                };
                let claims = ReceiptClaims {
                    iss: "log.example".into(),
                    sub: Some("s".into()),
                    iat: Some(1_700_000_000),
                };
                let bytes = signer.sign_inclusion(&claims, &proof, &root);
                let r = Receipt::parse(&bytes).unwrap();
                assert_eq!(r.claims, claims);
                assert_eq!(r.kid, signer.kid());
                let (p, got) = r
                    .verify_inclusion(&entries[usize::try_from(i).unwrap()], &keys)
                    .unwrap();
                assert_eq!((p, got), (proof.clone(), root));
                assert!(r.verify_inclusion(b"another entry", &keys).is_err());
                let other = SignerKey::from_seed("x", TYPE_ED25519, &[1; 32]).unwrap();
                assert!(matches!(
                    r.verify_inclusion(&entries[0], &[other.public_key()]),
                    Err(ScittError::UnknownKid(_))
                ));
            }
        }
    }

    #[test]
    fn consistency_receipts_verify() {
        let signer = log_signer();
        let keys = [signer.public_key()];
        let (t, _) = tree(9);
        for m in 1..9_u64 {
            let path = consistency_proof(m, 9, &t).unwrap();
            let proof = ConsistencyProof {
                tree_size_1: m,
                tree_size_2: 9,
                path,
            };
            let claims = ReceiptClaims {
                iss: "log.example".into(),
                sub: None,
                iat: Some(5),
            };
            let bytes = signer.sign_consistency(&claims, &proof, &tree_root(9, &t).unwrap());
            let r = Receipt::parse(&bytes).unwrap();
            assert_eq!(
                r.verify_consistency(
                    m,
                    &tree_root(m, &t).unwrap(),
                    &tree_root(9, &t).unwrap(),
                    &keys
                )
                .unwrap(),
                proof
            );
            assert!(
                r.verify_consistency(
                    m,
                    &tree_root(9, &t).unwrap(),
                    &tree_root(9, &t).unwrap(),
                    &keys
                )
                .is_err()
            );
            // From the old tree alone: the proof gives the new root the signature covers.
            assert_eq!(
                r.verify_consistency_from(m, &tree_root(m, &t).unwrap(), &keys)
                    .unwrap(),
                (proof.clone(), tree_root(9, &t).unwrap())
            );
            let wrong_old = Hash::leaf(b"not the old root");
            assert!(r.verify_consistency_from(m, &wrong_old, &keys).is_err());
            assert!(
                r.verify_consistency_from(m + 1, &tree_root(m, &t).unwrap(), &keys)
                    .is_err()
            );
            let other = SignerKey::from_seed("x", TYPE_ED25519, &[1; 32]).unwrap();
            assert!(matches!(
                r.verify_consistency_from(m, &tree_root(m, &t).unwrap(), &[other.public_key()]),
                Err(ScittError::UnknownKid(_))
            ));
        }
    }

    #[test]
    fn thumbprint_is_sha256_of_the_deterministic_required_parameters() {
        // RFC 9679 §3: {1: 1, -1: 6, -2: x} encoded deterministically.
        let k = log_signer().public_key();
        let mut expected = vec![0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20];
        expected.extend_from_slice(k.as_bytes());
        assert_eq!(thumbprint(&k), <[u8; 32]>::from(Sha256::digest(&expected)));
    }

    #[test]
    fn key_set_round_trip() {
        let a = log_signer().public_key();
        let b = SignerKey::from_seed("old", TYPE_ED25519, &[3; 32])
            .unwrap()
            .public_key();
        let set = key_set(&[a, b]);
        assert_eq!(parse_key_set(&set).unwrap(), vec![a, b]);
        assert!(parse_key_set(b"\x01").is_err());
    }

    #[test]
    fn problem_details_round_trip() {
        let p = problem_details("Bad Request", "wrong tag", 400, "wrong-tag");
        // RFC 9290 §2: a map with title -1, detail -2, and the custom entry.
        assert_eq!(&p[..3], &[0xa3, 0x20, 0x6b]);
        assert_eq!(
            parse_problem_details(&p).unwrap(),
            ("Bad Request".into(), "wrong tag".into(), "wrong-tag".into())
        );
    }

    /// RFC 9290 §3.2, Figure 3 ("Example Extension with URI key"), transcribed from its CBOR
    /// diagnostic notation:
    ///
    /// ```text
    /// { / title /         -1: "title of the error",
    ///   / detail /        -2: "detailed information about the error",
    ///   / instance /      -3: "coaps://pd.example/FA317434",
    ///   / response-code / -4: 128, / 4.00 /
    ///   "tag:3gpp.org,2022-03:TS29112": {
    ///     / cause /  0: "machine-readable error cause",
    ///     / invalidParams / 1: [ [ / param / "first parameter name",
    ///                             / reason / "must be a positive integer" ],
    ///                           [ / param / "second parameter name" ] ],
    ///     / supportedFeatures / 2: "d34db33f" } }
    /// ```
    fn rfc9290_figure_3() -> Value {
        let t = |s: &str| Value::Text(s.to_owned());
        Value::Map(vec![
            (Value::from(-1), t("title of the error")),
            (Value::from(-2), t("detailed information about the error")),
            (Value::from(-3), t("coaps://pd.example/FA317434")),
            (Value::from(-4), Value::from(128)),
            (
                t("tag:3gpp.org,2022-03:TS29112"),
                Value::Map(vec![
                    (Value::from(0), t("machine-readable error cause")),
                    (
                        Value::from(1),
                        Value::Array(vec![
                            Value::Array(vec![
                                t("first parameter name"),
                                t("must be a positive integer"),
                            ]),
                            Value::Array(vec![t("second parameter name")]),
                        ]),
                    ),
                    (Value::from(2), t("d34db33f")),
                ]),
            ),
        ])
    }

    /// The structure of RFC 9290 §2, Figure 2: a non-empty map; title (-1) and detail (-2)
    /// text, instance (-3) and base-uri (-5) text, response-code (-4) a uint of one byte;
    /// further standard entries under negative keys; custom entries under an unsigned or an
    /// absolute-URI text key, each a non-empty map.
    fn rfc9290_shape(v: &Value) -> Result<(), String> {
        let Value::Map(m) = v else {
            return Err("not a map".into());
        };
        if m.is_empty() {
            return Err("empty".into());
        }
        for (k, v) in m {
            let key = k.as_integer().map(i128::from);
            match (key, k, v) {
                (Some(-1 | -2 | -3 | -5), _, Value::Text(_)) => {}
                (Some(-4), _, Value::Integer(c)) if (0..=255).contains(&i128::from(*c)) => {}
                (Some(-5..=-1), _, _) => return Err(format!("{k:?} => {v:?}")),
                (Some(n), _, _) if n < 0 => {}
                (Some(_), _, Value::Map(inner)) if !inner.is_empty() => {}
                (None, Value::Text(uri), Value::Map(inner))
                    if uri.contains(':') && !inner.is_empty() => {}
                _ => return Err(format!("custom entry {k:?} => {v:?}")),
            }
        }
        Ok(())
    }

    /// RFC 9290's own example as a known answer: the bytes ciborium derives from Figure 3 have
    /// the shape of §2, our reader takes title and detail from them (ignoring the entries it
    /// does not know), and the server's encoder, given the example's title and detail, writes
    /// those two entries byte for byte as the example does, and its custom entry in the shape
    /// the example's has (a URI key over a nested map).
    #[test]
    fn problem_details_match_rfc_9290_figure_3() {
        let expected = encode(&rfc9290_figure_3());
        // The head of the encoding, by hand from RFC 8949: map(5), -1 (0x20), text(18).
        assert_eq!(&expected[..3], &[0xa5, 0x20, 0x72]);
        assert_eq!(decode_one(&expected).unwrap(), rfc9290_figure_3());
        rfc9290_shape(&rfc9290_figure_3()).unwrap();
        assert_eq!(
            parse_problem_details(&expected).unwrap(),
            (
                "title of the error".into(),
                "detailed information about the error".into(),
                String::new()
            )
        );

        let ours = problem_details(
            "title of the error",
            "detailed information about the error",
            400,
            "bad-request",
        );
        let v = decode_one(&ours).unwrap();
        rfc9290_shape(&v).unwrap();
        // Title and detail: the same entries, in the same order and encoding.
        let standard = |bytes: &[u8]| {
            let len = 1 + 1 + 18 + 1 + 2 + 36;
            bytes[1..=len].to_vec()
        };
        assert_eq!(standard(&ours), standard(&expected));
        // The custom entry: a URI key over a nested map, as Figure 3's.
        let Value::Map(m) = v else { unreachable!() };
        let custom = m
            .iter()
            .find(|(k, _)| *k == Value::Text(PROBLEM_KEY.to_owned()))
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(
            custom,
            Value::Map(vec![
                (
                    Value::Text("code".into()),
                    Value::Text("bad-request".into())
                ),
                (Value::Text("status".into()), Value::from(400)),
            ])
        );
        // What the shape check catches: the code as a bare text value, and an HTTP status
        // (two bytes) in the CoAP response-code entry.
        for bad in [
            Value::Map(vec![(
                Value::Text(PROBLEM_KEY.into()),
                Value::Text("bad-request".into()),
            )]),
            Value::Map(vec![(Value::from(-4), Value::from(400))]),
        ] {
            assert!(rfc9290_shape(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn transparent_statement_round_trip() {
        let vendor = SignerKey::from_seed("vendor.example/attest", TYPE_ED25519, &[5; 32]).unwrap();
        let st = SignedStatement::sign(b"{}", &vendor, "id-1");
        let entry = st.to_entry();
        let (t, _) = {
            let mut t = MemoryTree::new();
            t.push(Hash::leaf(b"a"));
            t.push(Hash::leaf(&entry));
            (t, ())
        };
        let proof = InclusionProof {
            tree_size: 2,
            leaf_index: 1,
            path: inclusion_proof(1, 2, &t).unwrap(),
        };
        let signer = log_signer();
        let claims = ReceiptClaims {
            iss: "log.example".into(),
            sub: Some("id-1".into()),
            iat: Some(1),
        };
        let receipt = signer.sign_inclusion(&claims, &proof, &t.root());
        let ts =
            transparent_statement(&entry, &receipt, Some(b"c2sp.org/tlog-proof@v1\n")).unwrap();
        let parsed = TransparentStatement::parse(&ts).unwrap();
        assert_eq!(parsed.statement, st);
        assert_eq!(parsed.receipts, vec![receipt]);
        assert_eq!(
            parsed.tlog_proof.as_deref(),
            Some(&b"c2sp.org/tlog-proof@v1\n"[..])
        );
        let (_, p, root) = parsed.verify_receipt(&[signer.public_key()]).unwrap();
        assert_eq!((p, root), (proof.clone(), t.root()));
        // A receipt for another sub is refused.
        let wrong = signer.sign_inclusion(
            &ReceiptClaims {
                sub: Some("id-2".into()),
                ..claims
            },
            &proof,
            &t.root(),
        );
        let ts = transparent_statement(&entry, &wrong, None).unwrap();
        assert!(matches!(
            TransparentStatement::parse(&ts)
                .unwrap()
                .verify_receipt(&[signer.public_key()]),
            Err(ScittError::Subject { .. })
        ));
    }

    #[test]
    fn transparent_statements_verify_the_tlog_proof_and_its_agreement_with_the_receipt() {
        use crate::checkpoint::Checkpoint;
        let log = SignerKey::from_seed("log.example", TYPE_ED25519, &[9; 32]).unwrap();
        let vendor = SignerKey::from_seed("vendor.example/attest", TYPE_ED25519, &[5; 32]).unwrap();
        let st = SignedStatement::sign(b"{}", &vendor, "id-1");
        let entry = st.to_entry();
        let mut t = MemoryTree::new();
        for e in [&b"a"[..], &entry, b"c"] {
            t.push(Hash::leaf(e));
        }
        let proof_at = |size: u64| {
            let path = inclusion_proof(1, size, &t).unwrap();
            let root = tree_root(size, &t).unwrap();
            let cp = Checkpoint {
                origin: "log.example".into(),
                size,
                root,
                extensions: vec![],
            };
            let note = cp.sign(std::slice::from_ref(&log)).unwrap();
            let text = crate::tlog_proof::encode(None, 1, &path, &note.to_bytes());
            let proof = InclusionProof {
                tree_size: size,
                leaf_index: 1,
                path,
            };
            (proof, root, text)
        };
        let (p3, r3, tp3) = proof_at(3);
        let signer = log_signer();
        let claims = ReceiptClaims {
            iss: "log.example".into(),
            sub: Some("id-1".into()),
            iat: Some(1),
        };
        let receipt = signer.sign_inclusion(&claims, &p3, &r3);
        let keys = [signer.public_key()];
        let lk = Trust::log_key(log.verifier());
        let parse = |tp: Option<&[u8]>| {
            TransparentStatement::parse(&transparent_statement(&entry, &receipt, tp).unwrap())
                .unwrap()
        };
        let good = parse(Some(&tp3));
        let v = good.verify(&keys, Some(&lk)).unwrap();
        assert_eq!((v.proof, v.root), (p3.clone(), r3));
        let tlog = v.tlog.unwrap();
        assert_eq!((tlog.index, tlog.checkpoint.checkpoint().size), (1, 3));
        assert!(good.verify(&keys, None).unwrap().tlog.is_none());
        // The tlog-proof under another log key does not verify.
        let other = SignerKey::from_seed("log.example", TYPE_ED25519, &[10; 32]).unwrap();
        assert!(matches!(
            good.verify(&keys, Some(&Trust::log_key(other.verifier()))),
            Err(ScittError::TlogProof(_))
        ));
        // A valid tlog-proof of another tree than the receipt's: they disagree.
        let (_, _, tp2) = proof_at(2);
        let mixed = parse(Some(&tp2));
        assert!(mixed.verify(&keys, None).is_ok());
        assert!(matches!(
            mixed.verify(&keys, Some(&lk)),
            Err(ScittError::Disagree(_))
        ));
        // Asked for, but absent.
        assert_eq!(
            parse(None).verify(&keys, Some(&lk)),
            Err(ScittError::NoTlogProof)
        );
        // A receipt of another log (its iss) bundled with this log's tlog-proof of the same
        // inclusion: each verifies alone, together they are refused.
        let foreign = signer.sign_inclusion(
            &ReceiptClaims {
                iss: "other-log.example".into(),
                ..claims
            },
            &p3,
            &r3,
        );
        let bundled = TransparentStatement::parse(
            &transparent_statement(&entry, &foreign, Some(&tp3)).unwrap(),
        )
        .unwrap();
        assert!(bundled.verify(&keys, None).is_ok());
        assert_eq!(
            bundled.verify(&keys, Some(&lk)),
            Err(ScittError::Issuer {
                receipt: "other-log.example".into(),
                checkpoint: "log.example".into(),
            })
        );
    }

    #[test]
    fn receipts_whose_claims_repeat_a_key_are_refused() {
        let (t, _) = tree(2);
        let proof = InclusionProof {
            tree_size: 2,
            leaf_index: 1,
            path: inclusion_proof(1, 2, &t).unwrap(),
        };
        let claims = ReceiptClaims {
            iss: "log.example".into(),
            sub: Some("id-1".into()),
            iat: Some(1),
        };
        let signer = log_signer();
        let receipt = signer.sign_inclusion(&claims, &proof, &t.root());
        assert_eq!(Receipt::parse(&receipt).unwrap().claims, claims);
        // {1: "log.example", 2: "id-1", 6: 1} -> {1: "log.example", 2: "id-1", 2: ""}, the
        // same length: a last-wins reader would see sub "", a first-wins one "id-1".
        let at = receipt
            .windows(7)
            .position(|w| w == b"\x64id-1\x06\x01")
            .unwrap();
        let mut twice = receipt.clone();
        twice[at + 5..at + 7].copy_from_slice(b"\x02\x60");
        let e = Receipt::parse(&twice).unwrap_err();
        assert!(
            matches!(&e, ScittError::Malformed(m) if m.contains("repeat the key")),
            "{e}"
        );
        // The same rule as signed statements' claims (one place, crate::cose).
        assert_eq!(
            repeated_claim(&[
                (Value::from(2), Value::Text("a".into())),
                (Value::from(1), Value::Text("b".into())),
                (Value::from(2), Value::Text("c".into())),
            ]),
            Some(&Value::from(2))
        );
        assert_eq!(repeated_claim(&[(Value::from(1), Value::from(1))]), None);
    }

    /// An OKP COSE_Key of `k` with the given `crv`, `alg` and `kid`.
    fn okp_key(
        k: &VerifyingKey,
        crv: Option<i64>,
        alg: Option<iana::Algorithm>,
        kid: Option<Vec<u8>>,
    ) -> Value {
        use coset::AsCborValue as _;
        let mut b = CoseKeyBuilder::new_okp_key().param(
            iana::OkpKeyParameter::X as i64,
            Value::Bytes(k.as_bytes().to_vec()),
        );
        if let Some(c) = crv {
            b = b.param(iana::OkpKeyParameter::Crv as i64, Value::from(c));
        }
        if let Some(a) = alg {
            b = b.algorithm(a);
        }
        if let Some(kid) = kid {
            b = b.key_id(kid);
        }
        b.build().to_cbor_value().unwrap()
    }

    #[test]
    fn key_sets_are_read_strictly() {
        let k = log_signer().public_key();
        let kid = Some(thumbprint(&k).to_vec());
        let ed = Some(iana::EllipticCurve::Ed25519 as i64);
        let set = |keys: Vec<Value>| parse_key_set(&encode(&Value::Array(keys)));
        // `alg` is optional; when present it is EdDSA.
        assert_eq!(
            set(vec![okp_key(&k, ed, None, kid.clone())]).unwrap(),
            vec![k]
        );
        assert_eq!(
            set(vec![okp_key(
                &k,
                ed,
                Some(iana::Algorithm::EdDSA),
                kid.clone()
            )])
            .unwrap(),
            vec![k]
        );
        let refused = [
            (
                okp_key(&k, None, None, kid.clone()),
                "crv (-1) is not Ed25519",
            ),
            (
                okp_key(
                    &k,
                    Some(iana::EllipticCurve::X25519 as i64),
                    None,
                    kid.clone(),
                ),
                "crv (-1) is not Ed25519",
            ),
            (
                okp_key(&k, ed, Some(iana::Algorithm::ES256), kid.clone()),
                "alg (3) is not EdDSA",
            ),
            (okp_key(&k, ed, None, None), "no kid"),
            (
                okp_key(&k, ed, None, Some(vec![1; 32])),
                "not the key's RFC 9679 thumbprint",
            ),
        ];
        for (key, why) in refused {
            // Alone, or after a good key: a set with one bad Ed25519 key is refused whole.
            for keys in [
                vec![key.clone()],
                vec![okp_key(&k, ed, None, kid.clone()), key],
            ] {
                let e = set(keys).unwrap_err();
                assert!(
                    matches!(&e, ScittError::KeySet(m) if m.contains(why)),
                    "{why}: {e}"
                );
            }
        }
        // Keys of another type (here EC2) are skipped (RFC 9052 §7), but a set of none of
        // ours is refused.
        let ec2 = {
            use coset::AsCborValue as _;
            CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, vec![1; 32], vec![2; 32])
                .build()
                .to_cbor_value()
                .unwrap()
        };
        assert_eq!(
            set(vec![ec2.clone(), okp_key(&k, ed, None, kid.clone())]).unwrap(),
            vec![k]
        );
        let e = set(vec![ec2]).unwrap_err();
        assert!(
            matches!(&e, ScittError::KeySet(m) if m.contains("no Ed25519 OKP key")),
            "{e}"
        );
        assert!(matches!(set(vec![]), Err(ScittError::KeySet(_))));
    }

    #[test]
    fn a_single_cose_key_reads_as_a_key_set_of_one() {
        let k = log_signer().public_key();
        assert_eq!(parse_key_set(&cose_key_bytes(&k)).unwrap(), vec![k]);
    }
}
