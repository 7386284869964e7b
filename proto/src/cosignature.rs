//! c2sp.org/tlog-cosignature, Ed25519 `cosignature/v1` (key type `0x04`).
//!
//! A cosignature is a note signature line whose decoded bytes are
//! key ID (4) ‖ u64 big-endian timestamp (8) ‖ Ed25519 signature (64) = 76 bytes, where the
//! signature is over `cosignature/v1\ntime <t>\n` followed by the whole checkpoint note text
//! (including extension lines and the final newline).
//!
//! <https://c2sp.org/tlog-cosignature>

use crate::keys::{KeyId, SignerKey, TYPE_COSIGNATURE_V1, VerifierKey};
use crate::note::NoteSignature;

/// Length of a cosignature/v1 [`NoteSignature::signature`]: timestamp (8) ‖ signature (64).
pub const COSIGNATURE_V1_LEN: usize = 8 + 64;
/// Largest timestamp the spec allows (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX.unsigned_abs();

/// Errors making or verifying cosignatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// The key is not a cosignature/v1 (type `0x04`) key.
    #[error("key type 0x{0:02x} is not cosignature/v1")]
    KeyType(u8),
    /// The signature's name or key ID is not the key's.
    #[error("signature is not by key {0}")]
    WrongKey(String),
    /// The signature bytes are not timestamp ‖ 64-byte signature.
    #[error("cosignature must be {COSIGNATURE_V1_LEN} bytes after the key id, got {0}")]
    Length(usize),
    /// The timestamp is above 2^63 − 1.
    #[error("timestamp {0} exceeds 2^63-1")]
    Timestamp(u64),
    /// The Ed25519 signature does not verify.
    #[error("cosignature by {0} does not verify")]
    Invalid(String),
}

/// A verified cosignature: who cosigned and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The cosigner key name.
    pub name: String,
    /// The cosigner key ID.
    pub key_id: KeyId,
    /// The cosignature timestamp, in seconds since the Unix epoch.
    pub timestamp: u64,
}

/// The message a cosignature/v1 signs: `cosignature/v1\ntime <t>\n` ‖ checkpoint text.
#[must_use]
pub fn signed_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// Cosigns a checkpoint note text (the whole body, with its final newline) at `timestamp`.
///
/// # Errors
/// [`CosignatureError::KeyType`] unless `key` is a type-`0x04` key;
/// [`CosignatureError::Timestamp`] if `timestamp` > 2^63 − 1.
pub fn cosign(
    key: &SignerKey,
    timestamp: u64,
    checkpoint_text: &str,
) -> Result<NoteSignature, CosignatureError> {
    let v = key.verifier();
    if v.key_type() != TYPE_COSIGNATURE_V1 {
        return Err(CosignatureError::KeyType(v.key_type()));
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::Timestamp(timestamp));
    }
    let sig = key.sign(&signed_message(timestamp, checkpoint_text));
    let mut signature = Vec::with_capacity(COSIGNATURE_V1_LEN);
    signature.extend_from_slice(&timestamp.to_be_bytes());
    signature.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: v.name().to_owned(),
        key_id: v.key_id(),
        signature,
    })
}

/// Verifies a cosignature/v1 by `key` over `checkpoint_text` and returns its timestamp.
///
/// # Errors
/// [`CosignatureError`] if the key is not type `0x04`, the signature is not by that key
/// (name and key ID), is malformed, has a timestamp above 2^63 − 1, or does not verify.
pub fn verify_cosignature(
    key: &VerifierKey,
    checkpoint_text: &str,
    sig: &NoteSignature,
) -> Result<u64, CosignatureError> {
    if key.key_type() != TYPE_COSIGNATURE_V1 {
        return Err(CosignatureError::KeyType(key.key_type()));
    }
    if !sig.is_by(key) {
        return Err(CosignatureError::WrongKey(key.name().to_owned()));
    }
    let (ts, ed) = sig
        .signature
        .split_first_chunk::<8>()
        .ok_or(CosignatureError::Length(sig.signature.len()))?;
    if ed.len() != 64 {
        return Err(CosignatureError::Length(sig.signature.len()));
    }
    let timestamp = u64::from_be_bytes(*ts);
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::Timestamp(timestamp));
    }
    if !key.verify(&signed_message(timestamp, checkpoint_text), ed) {
        return Err(CosignatureError::Invalid(key.name().to_owned()));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TYPE_ED25519;
    use base64::Engine as _;

    const CP: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness() -> SignerKey {
        SignerKey::from_seed("witness.test/w1", TYPE_COSIGNATURE_V1, &[0x11; 32]).unwrap()
    }

    #[test]
    fn message_format_matches_spec_example() {
        // Source: c2sp.org/tlog-cosignature, "Ed25519 signed message".
        assert_eq!(
            signed_message(1_679_315_147, CP),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    // The spec's example cosignature line (witness.example.com/w1) encodes key id 8d66cf3f
    // and timestamp 1679315147; the spec does not publish that witness's public key, so only
    // the layout can be checked against it.
    #[test]
    fn spec_example_layout() {
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let s = NoteSignature::parse_line(line).unwrap();
        assert_eq!(s.key_id, [0x8d, 0x66, 0xcf, 0x3f]);
        assert_eq!(s.signature.len(), COSIGNATURE_V1_LEN);
        assert_eq!(
            s.signature
                .first_chunk::<8>()
                .map(|b| u64::from_be_bytes(*b)),
            Some(1_679_315_147)
        );
    }

    #[test]
    fn cosign_verify_round_trip_and_rejections() {
        let w = witness();
        let v = w.verifier();
        let sig = cosign(&w, 1_700_000_000, CP).unwrap();
        assert_eq!(sig.signature.len(), COSIGNATURE_V1_LEN);
        assert_eq!(verify_cosignature(&v, CP, &sig), Ok(1_700_000_000));
        // Other text, other timestamp, truncated, wrong key: all fail.
        let other = CP.replace("20852163", "20852164");
        assert_eq!(
            verify_cosignature(&v, &other, &sig),
            Err(CosignatureError::Invalid("witness.test/w1".into()))
        );
        let mut retimed = sig.clone();
        retimed.signature[7] ^= 1;
        assert!(verify_cosignature(&v, CP, &retimed).is_err());
        let mut short = sig.clone();
        short.signature.pop();
        assert_eq!(
            verify_cosignature(&v, CP, &short),
            Err(CosignatureError::Length(71))
        );
        let w2 = SignerKey::from_seed("witness.test/w2", TYPE_COSIGNATURE_V1, &[0x12; 32]).unwrap();
        assert!(matches!(
            verify_cosignature(&w2.verifier(), CP, &sig),
            Err(CosignatureError::WrongKey(_))
        ));
        let ed = SignerKey::from_seed("witness.test/w1", TYPE_ED25519, &[0x11; 32]).unwrap();
        assert_eq!(cosign(&ed, 1, CP), Err(CosignatureError::KeyType(1)));
        assert_eq!(
            verify_cosignature(&ed.verifier(), CP, &sig),
            Err(CosignatureError::KeyType(1))
        );
        assert_eq!(
            cosign(&w, MAX_TIMESTAMP + 1, CP),
            Err(CosignatureError::Timestamp(MAX_TIMESTAMP + 1))
        );
        // A plain Ed25519 signature over the text by the same key is not a cosignature.
        let mut plain = sig.clone();
        plain.signature = [&[0u8; 8][..], &w.sign(CP.as_bytes())].concat();
        assert!(verify_cosignature(&v, CP, &plain).is_err());
    }

    // Snapshot of a cosignature line with a fixed test seed (0x11 × 32) and timestamp.
    #[test]
    fn cosignature_snapshot() {
        let w = witness();
        let sig = cosign(&w, 1_679_315_147, CP).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig.to_line().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 76);
        insta::assert_snapshot!(format!("{}\n{}", w.verifier(), sig.to_line()));
    }
}
