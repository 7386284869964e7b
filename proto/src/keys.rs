//! Ed25519 keys in the c2sp.org/signed-note encodings: verifier key strings
//! (`<name>+<hex id>+<base64(type ‖ key)>`) and Go sumdb/note signer-key strings
//! (`PRIVATE+KEY+<name>+<hex id>+<base64(type ‖ seed)>`).
//!
//! <https://c2sp.org/signed-note#verifier-keys>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of plain Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of c2sp.org/tlog-cosignature (cosignature/v1) keys.
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Errors parsing keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The string does not have the expected `+`-separated shape.
    #[error("malformed key string: {0}")]
    Malformed(&'static str),
    /// Key name is empty or contains a space, `+` or a non-printable character.
    #[error("invalid key name")]
    Name,
    /// The key ID in the string does not match the one computed from name and key.
    #[error("key id does not match the key")]
    KeyIdMismatch,
    /// Unsupported signature type byte.
    #[error("unsupported key type 0x{0:02x}")]
    Type(u8),
    /// The public key bytes are not a valid Ed25519 point.
    #[error("invalid ed25519 public key")]
    PublicKey,
}

/// A key ID: the first four bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key).
pub type KeyId = [u8; 4];

/// Computes a signed-note key ID.
#[must_use]
pub fn key_id(name: &str, key_type: u8, key: &[u8]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Whether `name` is a valid signed-note key name: non-empty, printable, no spaces or `+`.
#[must_use]
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '+')
}

/// A public verifier key: name, type (Ed25519 or cosignature/v1) and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_type: u8,
    key: VerifyingKey,
    id: KeyId,
}

impl VerifierKey {
    /// Builds a verifier key.
    ///
    /// # Errors
    /// [`KeyError::Name`] or [`KeyError::Type`].
    pub fn new(name: &str, key_type: u8, key: VerifyingKey) -> Result<Self, KeyError> {
        if !valid_key_name(name) {
            return Err(KeyError::Name);
        }
        if key_type != TYPE_ED25519 && key_type != TYPE_COSIGNATURE_V1 {
            return Err(KeyError::Type(key_type));
        }
        let id = key_id(name, key_type, key.as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key,
            id,
        })
    }

    /// Parses `<name>+<8 hex id>+<base64(type ‖ 32-byte key)>`.
    ///
    /// # Errors
    /// [`KeyError`] naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, id, t, key) = split_key_string(s)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| KeyError::PublicKey)?;
        let v = Self::new(name, t, key)?;
        if v.id != id {
            return Err(KeyError::KeyIdMismatch);
        }
        Ok(v)
    }

    /// Key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Key type byte.
    #[must_use]
    pub fn key_type(&self) -> u8 {
        self.key_type
    }
    /// Key ID.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.id
    }
    /// Key ID as 8 lowercase hex digits.
    #[must_use]
    pub fn key_id_hex(&self) -> String {
        hex::encode(self.id)
    }
    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies an Ed25519 signature over `msg` with `verify_strict` (the only acceptance rule).
    #[must_use]
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.key_type);
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(raw)
        )
    }
}

impl std::fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

/// Splits `<name>+<8 hex id>+<base64(type ‖ 32 bytes)>` into its parts.
fn split_key_string(s: &str) -> Result<(&str, KeyId, u8, [u8; 32]), KeyError> {
    // Names never contain '+', base64 may: split from the left.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(hexid), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::Malformed("expected name+id+key"));
    };
    let id = parse_key_id(hexid)?;
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| KeyError::Malformed("key is not base64"))?;
    let (&t, key) = raw.split_first().ok_or(KeyError::Malformed("empty key"))?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| KeyError::Malformed("ed25519 key must be 32 bytes"))?;
    Ok((name, id, t, key))
}

fn parse_key_id(hexid: &str) -> Result<KeyId, KeyError> {
    if hexid.len() != 8
        || !hexid
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(KeyError::Malformed("key id must be 8 lowercase hex digits"));
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(hexid, &mut id).map_err(|_| KeyError::Malformed("key id"))?;
    Ok(id)
}

/// A private signing key with its name and type. `Debug` never shows the seed.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key_type: u8,
    key: SigningKey,
}

impl SignerKey {
    /// Builds a signer from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`KeyError::Name`] or [`KeyError::Type`].
    pub fn from_seed(name: &str, key_type: u8, seed: &[u8; 32]) -> Result<Self, KeyError> {
        if !valid_key_name(name) {
            return Err(KeyError::Name);
        }
        if key_type != TYPE_ED25519 && key_type != TYPE_COSIGNATURE_V1 {
            return Err(KeyError::Type(key_type));
        }
        Ok(Self {
            name: name.to_owned(),
            key_type,
            key: SigningKey::from_bytes(seed),
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex id>+<base64(type ‖ seed)>`.
    ///
    /// # Errors
    /// [`KeyError`]; the message never contains key material.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let rest = s
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::Malformed("expected PRIVATE+KEY+ prefix"))?;
        let (name, id, t, seed) = split_key_string(rest)?;
        let k = Self::from_seed(name, t, &seed)?;
        if k.verifier().key_id() != id {
            return Err(KeyError::KeyIdMismatch);
        }
        Ok(k)
    }

    /// The signer-key string. Contains the secret: never log it.
    #[must_use]
    pub fn to_secret_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.key_type);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            self.verifier().key_id_hex(),
            STANDARD.encode(raw)
        )
    }

    /// Key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            id: key_id(&self.name, self.key_type, key.as_bytes()),
            name: self.name.clone(),
            key_type: self.key_type,
            key,
        }
    }

    /// The same seed under another name (for example when the origin is chosen after the key).
    ///
    /// # Errors
    /// [`KeyError::Name`].
    pub fn renamed(&self, name: &str) -> Result<Self, KeyError> {
        Self::from_seed(name, self.key_type, self.key.as_bytes())
    }

    /// The Ed25519 public key.
    #[must_use]
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Ed25519 signature over `msg`.
    #[must_use]
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({}, <redacted>)", self.verifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Source: docs/test-vectors.md (c2sp.org/signed-note example key).
    #[test]
    fn signed_note_example_key_id() {
        let v = VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.key_id_hex(), "530d903a");
        assert_eq!(v.key_type(), TYPE_ED25519);
    }

    // Source: docs/test-vectors.md (DSSE test vendor key, seed 0x00..0x1f).
    #[test]
    fn signer_key_string_round_trip() {
        let s = "PRIVATE+KEY+vendor.example/attest+22c8ff26+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
        let k = SignerKey::parse(s).unwrap();
        assert_eq!(k.to_secret_string(), s);
        assert_eq!(
            k.verifier().to_string(),
            "vendor.example/attest+22c8ff26+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        );
        assert!(!format!("{k:?}").contains("AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"));
        let sig = k.sign(b"msg");
        assert!(k.verifier().verify(b"msg", &sig));
        assert!(!k.verifier().verify(b"msh", &sig));
        assert!(!k.verifier().verify(b"msg", &sig[..63]));
    }

    // Base64 key material may contain '+': keys must still parse (seed 0x61 × 32 has one).
    #[test]
    fn key_with_plus_in_base64_round_trips() {
        let k = SignerKey::from_seed("log.test/tp", TYPE_ED25519, &[0x61; 32]).unwrap();
        let v = k.verifier().to_string();
        assert!(v.rsplit('+').next().is_some_and(|b| b.len() < 44));
        assert_eq!(VerifierKey::parse(&v).unwrap().to_string(), v);
        let s = k.to_secret_string();
        assert_eq!(SignerKey::parse(&s).unwrap().to_secret_string(), s);
    }

    #[test]
    fn rejects_malformed_keys() {
        let good = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        for bad in [
            "",
            "example.com/foo+530d903a",
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903a+BekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ] {
            assert!(VerifierKey::parse(bad).is_err(), "{bad}");
        }
        assert!(VerifierKey::parse(good).is_ok());
        assert!(SignerKey::parse("PRIVATE+KEY+x+00000000+AQ==").is_err());
        assert!(SignerKey::parse("x+00000000+AQ==").is_err());
    }
}
