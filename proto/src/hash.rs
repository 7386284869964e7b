//! RFC 9162 §2.1 hashing: leaf and node hashes, the empty-tree root, and the [`struct@Hash`] type.
//!
//! <https://www.rfc-editor.org/rfc/rfc9162#section-2.1>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Errors decoding a hash from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Not valid base64 or hex.
    #[error("hash is not valid {0}")]
    Encoding(&'static str),
    /// Decoded to the wrong number of bytes.
    #[error("hash must be 32 bytes, got {0}")]
    Length(usize),
}

/// A SHA-256 hash of a tree node or leaf. Equality is constant-time.
#[derive(Clone, Copy, Eq, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Hash size in bytes.
    pub const LEN: usize = 32;

    /// The root of the empty tree: SHA-256 of the empty string.
    pub const EMPTY_ROOT: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// Leaf hash: SHA-256(0x00 ‖ entry).
    #[must_use]
    pub fn leaf(entry: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(entry);
        Hash(h.finalize().into())
    }

    /// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
    #[must_use]
    pub fn node(left: &Hash, right: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(left.0);
        h.update(right.0);
        Hash(h.finalize().into())
    }

    /// Plain SHA-256 of `data` (not a tree hash).
    #[must_use]
    pub fn sha256(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// Constant-time comparison.
    #[must_use]
    pub fn ct_eq(&self, other: &Hash) -> bool {
        ct_eq_bytes(&self.0, &other.0)
    }

    /// Standard padded base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses standard padded base64.
    ///
    /// # Errors
    /// [`HashError`] if the text is not base64 of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Hash, HashError> {
        let v = STANDARD
            .decode(s)
            .map_err(|_| HashError::Encoding("base64"))?;
        Self::from_slice(&v)
    }

    /// Parses lowercase hex (uppercase is rejected: one spelling per hash).
    ///
    /// # Errors
    /// [`HashError`] if the text is not 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<Hash, HashError> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HashError::Encoding("lowercase hex"));
        }
        let v = hex::decode(s).map_err(|_| HashError::Encoding("lowercase hex"))?;
        Self::from_slice(&v)
    }

    /// From exactly 32 bytes.
    ///
    /// # Errors
    /// [`HashError::Length`] otherwise.
    pub fn from_slice(b: &[u8]) -> Result<Hash, HashError> {
        <[u8; 32]>::try_from(b)
            .map(Hash)
            .map_err(|_| HashError::Length(b.len()))
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

// Consistent with `PartialEq`: both look at exactly the 32 bytes.
impl std::hash::Hash for Hash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// Constant-time equality of two byte strings (length is not secret).
#[must_use]
pub fn ct_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        acc |= x ^ y;
    }
    std::hint::black_box(acc) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Source: docs/test-vectors.md (empty tree root) and RFC 9162 §2.1.1.
    #[test]
    fn empty_root_is_sha256_of_empty_string() {
        assert_eq!(Hash::sha256(b""), Hash::EMPTY_ROOT);
        assert_eq!(
            Hash::EMPTY_ROOT.to_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    // Source: docs/test-vectors.md, root of the 1-leaf tree with the empty leaf.
    #[test]
    fn leaf_hash_known_answer() {
        assert_eq!(
            Hash::leaf(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn text_round_trips_and_rejects() {
        let h = Hash::leaf(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert!(Hash::from_hex(&h.to_hex().to_uppercase()).is_err());
        assert_eq!(Hash::from_slice(&[0; 31]), Err(HashError::Length(31)));
        assert!(Hash::from_base64("not base64!").is_err());
        assert!(!ct_eq_bytes(b"ab", b"abc"));
        assert!(ct_eq_bytes(b"abc", b"abc"));
        assert!(!ct_eq_bytes(b"abd", b"abc"));
    }
}
