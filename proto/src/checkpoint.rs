//! c2sp.org/tlog-checkpoint: `<origin>\n<size>\n<base64 root>\n[extension lines]`, signed as a
//! c2sp.org/signed-note by the log (Ed25519, key name = origin) and optionally cosigned by
//! witnesses (c2sp.org/tlog-cosignature).
//!
//! <https://c2sp.org/tlog-checkpoint>

use crate::cosignature::{Cosignature, CosignatureError, verify_cosignature};
use crate::hash::Hash;
use crate::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519, VerifierKey};
use crate::note::{Note, NoteError, VerifiedNote};

/// Errors parsing, signing or verifying checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint text is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The signed note is malformed, or its signatures do not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// No log key is known for the checkpoint's origin.
    #[error("no log key known for origin {0}")]
    UnknownOrigin(String),
    /// A cosignature by a known witness key does not verify.
    #[error(transparent)]
    Cosignature(#[from] CosignatureError),
}

/// A checkpoint body (the note text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash of the tree at `size`.
    pub root: Hash,
    /// Extension lines (opaque, non-empty, without newlines).
    pub extensions: Vec<String>,
}

/// Parses a u64 in ASCII decimal without sign or leading zeroes (`0` itself is allowed).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl Checkpoint {
    /// Parses a checkpoint note text (strict: every line newline-terminated, non-empty origin
    /// and extension lines, canonical decimal size, base64 of exactly 32 bytes for the root).
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("text must end with a newline"))?;
        if body.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::Malformed("control character"));
        }
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed("fewer than three lines"));
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        let size = parse_decimal(size).ok_or(CheckpointError::Malformed("invalid tree size"))?;
        let root = Hash::from_base64(root)
            .map_err(|_| CheckpointError::Malformed("root must be base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text of this checkpoint.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint with each of `signers` (Ed25519 keys, normally named after the
    /// origin) and returns the signed note.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] if the checkpoint does not serialize to a valid
    /// checkpoint (empty origin or extension, or a newline inside a field);
    /// [`CheckpointError::Note`] if a signer is not an Ed25519 key.
    pub fn sign(&self, signers: &[SignerKey]) -> Result<Note, CheckpointError> {
        let text = self.to_text();
        if Checkpoint::parse(&text).as_ref() != Ok(self) {
            return Err(CheckpointError::Malformed(
                "checkpoint fields do not round-trip",
            ));
        }
        let mut note = Note::new(text)?;
        for s in signers {
            note.sign(s)?;
        }
        Ok(note)
    }
}

/// A checkpoint whose note carries a verified signature by a log key named after its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: VerifiedNote,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `signers` (see [`Checkpoint::sign`]).
    ///
    /// # Errors
    /// As [`Checkpoint::sign`].
    pub fn sign(checkpoint: &Checkpoint, signers: &[SignerKey]) -> Result<Note, CheckpointError> {
        checkpoint.sign(signers)
    }

    /// Parses a signed checkpoint and verifies it against `log_keys`: only Ed25519 keys whose
    /// name equals the origin are used; at least one must have signed, and no signature by
    /// one of them may fail.
    ///
    /// # Errors
    /// [`CheckpointError::Note`] / [`CheckpointError::Malformed`] for malformed input,
    /// [`CheckpointError::UnknownOrigin`] if no key in `log_keys` is named after the origin,
    /// [`CheckpointError::Note`] with [`NoteError::NoKnownSignature`] or
    /// [`NoteError::BadSignature`] if the signatures do not verify.
    pub fn open(bytes: &[u8], log_keys: &[VerifierKey]) -> Result<Self, CheckpointError> {
        Self::verify(Note::parse(bytes)?, log_keys)
    }

    /// As [`SignedCheckpoint::open`], for an already parsed note.
    ///
    /// # Errors
    /// As [`SignedCheckpoint::open`].
    pub fn verify(note: Note, log_keys: &[VerifierKey]) -> Result<Self, CheckpointError> {
        let checkpoint = Checkpoint::parse(note.text())?;
        let keys: Vec<VerifierKey> = log_keys
            .iter()
            .filter(|k| k.key_type() == TYPE_ED25519 && k.name() == checkpoint.origin)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Err(CheckpointError::UnknownOrigin(checkpoint.origin));
        }
        let note = note.verify(&keys)?;
        Ok(Self { checkpoint, note })
    }

    /// The checkpoint.
    #[must_use]
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The verified note (text, verified log keys, all signature lines).
    #[must_use]
    pub fn note(&self) -> &VerifiedNote {
        &self.note
    }

    /// The checkpoint note text (what cosigners sign after the cosignature header).
    #[must_use]
    pub fn text(&self) -> &str {
        self.note.text()
    }

    /// The signed note in its wire form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }

    /// Verifies the cosignatures by `witness_keys` (type-`0x04` keys; other keys are skipped).
    /// Signature lines matching no witness key (name and key ID) are ignored.
    ///
    /// # Errors
    /// [`CheckpointError::Cosignature`] if a cosignature by a known witness key fails (the
    /// signed-note rule: a failing known signature rejects the note).
    pub fn verify_cosignatures(
        &self,
        witness_keys: &[VerifierKey],
    ) -> Result<Vec<Cosignature>, CheckpointError> {
        let mut out = Vec::new();
        for sig in self.note.signatures() {
            let Some(key) = witness_keys
                .iter()
                .find(|k| k.key_type() == TYPE_COSIGNATURE_V1 && sig.is_by(k))
            else {
                continue;
            };
            let timestamp = verify_cosignature(key, self.text(), sig)?;
            out.push(Cosignature {
                name: key.name().to_owned(),
                key_id: key.key_id(),
                timestamp,
            });
        }
        Ok(out)
    }
}

/// Fuzz and corpus check: if `data` is UTF-8 and parses as a checkpoint text, it serializes
/// back to `data`; if it parses as a note whose text is a checkpoint, the same holds for the
/// text.
///
/// # Panics
/// On a round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    let text = match Note::parse(data) {
        Ok(n) => n.text().to_owned(),
        Err(_) => match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
    };
    if let Ok(c) = Checkpoint::parse(&text) {
        assert_eq!(c.to_text(), text, "checkpoint serialization differs");
        assert_eq!(Checkpoint::parse(&c.to_text()).as_ref(), Ok(&c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::cosign;
    use crate::note::NoteSignature;

    const SPEC_CP: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn log_key() -> SignerKey {
        SignerKey::from_seed("log.test/a", TYPE_ED25519, &[0x21; 32]).unwrap()
    }

    fn cp(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "log.test/a".into(),
            size,
            root: Hash::leaf(&size.to_be_bytes()),
            extensions: vec![],
        }
    }

    // Source: c2sp.org/tlog-checkpoint example body.
    #[test]
    fn parses_spec_example() {
        let c = Checkpoint::parse(SPEC_CP).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20_852_163);
        assert_eq!(
            c.root.to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), SPEC_CP);
        let ext = format!("{SPEC_CP}ext one\next2\n");
        let c = Checkpoint::parse(&ext).unwrap();
        assert_eq!(c.extensions, vec!["ext one", "ext2"]);
        assert_eq!(c.to_text(), ext);
    }

    #[test]
    fn rejects_malformed_checkpoints() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            String::new(),
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n".to_string(),
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n".to_string(),
            format!("o\n1\n{root}\next\n\n"),
            format!("o\n1\n{root}\nex\rt\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).map(|c| c.size),
            Ok(0)
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).map(|c| c.size),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn sign_and_open() {
        let k = log_key();
        let note = cp(5).sign(std::slice::from_ref(&k)).unwrap();
        let bytes = note.to_bytes();
        let sc = SignedCheckpoint::open(&bytes, &[k.verifier()]).unwrap();
        assert_eq!(sc.checkpoint(), &cp(5));
        assert_eq!(sc.to_bytes(), bytes);
        // A key for another origin is not a log key for this checkpoint.
        let other = k.renamed("log.test/b").unwrap();
        assert_eq!(
            SignedCheckpoint::open(&bytes, &[other.verifier()]),
            Err(CheckpointError::UnknownOrigin("log.test/a".into()))
        );
        // Right origin, different key: no known signature.
        let wrong = SignerKey::from_seed("log.test/a", TYPE_ED25519, &[0x22; 32]).unwrap();
        assert_eq!(
            SignedCheckpoint::open(&bytes, &[wrong.verifier()]),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        );
        // Signed by a key named otherwise: not accepted even if that key is known.
        let note = cp(5).sign(std::slice::from_ref(&other)).unwrap();
        assert!(
            SignedCheckpoint::open(&note.to_bytes(), &[k.verifier(), other.verifier()]).is_err()
        );
        // A signed note whose text is not a checkpoint.
        let mut n = Note::new("not a checkpoint\n").unwrap();
        n.sign(&k).unwrap();
        assert!(matches!(
            SignedCheckpoint::open(&n.to_bytes(), &[k.verifier()]),
            Err(CheckpointError::Malformed(_))
        ));
        // Fields that would not round-trip are refused when signing.
        let mut bad = cp(1);
        bad.origin = "a\nb".into();
        assert!(bad.sign(&[k]).is_err());
    }

    #[test]
    fn cosignatures_are_listed_and_checked() {
        let k = log_key();
        let w1 = SignerKey::from_seed("w.test/1", TYPE_COSIGNATURE_V1, &[0x31; 32]).unwrap();
        let w2 = SignerKey::from_seed("w.test/2", TYPE_COSIGNATURE_V1, &[0x32; 32]).unwrap();
        let w3 = SignerKey::from_seed("w.test/3", TYPE_COSIGNATURE_V1, &[0x33; 32]).unwrap();
        let mut note = cp(9).sign(std::slice::from_ref(&k)).unwrap();
        let text = note.text().to_owned();
        note.add_signature(cosign(&w1, 100, &text).unwrap())
            .unwrap();
        note.add_signature(cosign(&w2, 200, &text).unwrap())
            .unwrap();
        let sc = SignedCheckpoint::open(&note.to_bytes(), &[k.verifier(), w1.verifier()]).unwrap();
        let got = sc
            .verify_cosignatures(&[w1.verifier(), w2.verifier(), w3.verifier()])
            .unwrap();
        let names: Vec<_> = got.iter().map(|c| (c.name.as_str(), c.timestamp)).collect();
        assert_eq!(names, vec![("w.test/1", 100), ("w.test/2", 200)]);
        // A known witness whose cosignature is over another checkpoint rejects the note.
        let other = cp(10).to_text();
        note.add_signature(cosign(&w3, 300, &other).unwrap())
            .unwrap();
        let sc = SignedCheckpoint::open(&note.to_bytes(), &[k.verifier()]).unwrap();
        assert!(sc.verify_cosignatures(&[w1.verifier()]).is_ok());
        assert!(matches!(
            sc.verify_cosignatures(&[w3.verifier()]),
            Err(CheckpointError::Cosignature(_))
        ));
        // A cosignature line never counts as the log signature.
        let mut only_cosigned = Note::new(text.clone()).unwrap();
        let wk = k.renamed("log.test/a").unwrap();
        only_cosigned
            .add_signature(NoteSignature {
                name: "log.test/a".into(),
                key_id: [0; 4],
                signature: vec![1; 72],
            })
            .unwrap();
        assert!(SignedCheckpoint::open(&only_cosigned.to_bytes(), &[wk.verifier()]).is_err());
    }

    #[test]
    fn roundtrip_check_accepts_valid() {
        roundtrip_check(SPEC_CP.as_bytes());
        roundtrip_check(&cp(3).sign(&[log_key()]).unwrap().to_bytes());
        roundtrip_check(b"\xff");
    }
}
