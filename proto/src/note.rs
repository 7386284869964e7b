//! c2sp.org/signed-note: text signed by one or more keys.
//!
//! A note is a UTF-8 text ending in a newline, a blank line, and one or more signature lines
//! `— <key name> <base64(key id ‖ signature)>`. [`Note`] is the parsed, *unverified* form;
//! [`open`] (or [`Note::verify`]) turns it into a [`VerifiedNote`], a different type, so code
//! that needs a verified note cannot be handed an unverified one by mistake.
//!
//! Only Ed25519 (type `0x01`) keys are verified here. cosignature/v1 (type `0x04`) signatures
//! are not over the plain note text but over the message of c2sp.org/tlog-cosignature, so
//! [`open`] ignores type-`0x04` keys; verify those with [`crate::cosignature`].
//!
//! <https://c2sp.org/signed-note>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::keys::{KeyId, SignerKey, TYPE_ED25519, VerifierKey, valid_key_name};

/// Largest note accepted by [`Note::parse`], in bytes (text, blank line and signatures).
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines accepted in one note (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The em dash (U+2014) and space that start every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Errors parsing, building or verifying signed notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note is larger than {MAX_NOTE_SIZE} bytes")]
    TooLarge,
    /// The note is not valid UTF-8.
    #[error("note is not valid utf-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains a control character")]
    ControlChar,
    /// The note does not have the text / blank line / signatures shape.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A signature line is malformed.
    #[error("malformed signature line {line}: {reason}")]
    SignatureLine {
        /// 1-based number of the signature line.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// The key cannot sign plain note text (cosignature/v1 keys sign another message).
    #[error("key type 0x{0:02x} cannot sign note text")]
    KeyType(u8),
    /// A signature from a known key did not verify.
    #[error("signature by known key {name} does not verify")]
    BadSignature {
        /// Key name of the failing signature.
        name: String,
    },
    /// No signature from a known key was found.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
}

/// One signature line: key name, key ID and the signature bytes after the key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// The four key-ID bytes at the start of the decoded signature.
    pub key_id: KeyId,
    /// The signature bytes after the key ID (for cosignature/v1: timestamp ‖ signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses one signature line without its trailing newline:
    /// `— <name> <base64(key id ‖ signature)>`.
    ///
    /// # Errors
    /// [`NoteError::SignatureLine`] (with `line` 1) if the line is malformed.
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        parse_sig_line(line, 1)
    }

    /// The signature line, without a trailing newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}", self.name, STANDARD.encode(raw))
    }

    /// Whether this signature claims to be by `key` (same name and key ID).
    #[must_use]
    pub fn is_by(&self, key: &VerifierKey) -> bool {
        self.name == key.name() && self.key_id == key.key_id()
    }
}

fn parse_sig_line(line: &str, n: usize) -> Result<NoteSignature, NoteError> {
    let err = |reason| NoteError::SignatureLine { line: n, reason };
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(err("must start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(err("expected a key name and a signature"))?;
    if !valid_key_name(name) {
        return Err(err("invalid key name"));
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| err("signature is not base64"))?;
    if raw.len() < 5 {
        return Err(err("signature is shorter than a key id and one byte"));
    }
    let (id, sig) = raw.split_at(4);
    let key_id: KeyId = id.try_into().map_err(|_| err("key id"))?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        signature: sig.to_vec(),
    })
}

/// An unverified signed note: its text and its signature lines.
///
/// The text must not be trusted until the note has been verified ([`Note::verify`], [`open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlChar);
    }
    Ok(())
}

impl Note {
    /// A note with `text` and no signatures yet.
    ///
    /// # Errors
    /// [`NoteError`] if the text does not end in a newline, contains a control character
    /// other than newline, or is larger than [`MAX_NOTE_SIZE`].
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (strictly: every signature line must be well formed).
    ///
    /// # Errors
    /// [`NoteError`] naming the first problem found.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge);
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if s.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::ControlChar);
        }
        // The text ends at the last blank line; the text keeps its final newline.
        let split = s
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&s[..=split], &s[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature lines"));
        }
        let sigs = sigs.strip_suffix('\n').ok_or(NoteError::Malformed(
            "signature lines must end with a newline",
        ))?;
        let mut signatures = Vec::new();
        for (i, line) in sigs.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_sig_line(line, i + 1)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note in its wire form: text, blank line, signature lines.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
            out.push('\n');
        }
        out.into_bytes()
    }

    /// The (unverified) text, including its final newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, in order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Signs the text with an Ed25519 (type `0x01`) key and appends the signature.
    ///
    /// # Errors
    /// [`NoteError::KeyType`] for a cosignature/v1 key (use [`crate::cosignature::cosign`]),
    /// [`NoteError::TooManySignatures`] if the note is full.
    pub fn sign(&mut self, key: &SignerKey) -> Result<(), NoteError> {
        let v = key.verifier();
        if v.key_type() != TYPE_ED25519 {
            return Err(NoteError::KeyType(v.key_type()));
        }
        let sig = key.sign(self.text.as_bytes());
        self.add_signature(NoteSignature {
            name: v.name().to_owned(),
            key_id: v.key_id(),
            signature: sig.to_vec(),
        })
    }

    /// Appends a signature line made elsewhere (for example a witness cosignature).
    ///
    /// # Errors
    /// [`NoteError::SignatureLine`] for an invalid name or an empty signature,
    /// [`NoteError::TooManySignatures`] if the note already has [`MAX_SIGNATURES`].
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        let line = self.signatures.len() + 1;
        if !valid_key_name(&sig.name) {
            return Err(NoteError::SignatureLine {
                line,
                reason: "invalid key name",
            });
        }
        if sig.signature.is_empty() {
            return Err(NoteError::SignatureLine {
                line,
                reason: "empty signature",
            });
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Verifies the note against `known` keys (the signed-note rules): signatures whose
    /// (name, key ID) match no known Ed25519 key are ignored; a matching signature that fails
    /// rejects the note; at least one must verify. Type-`0x04` keys in `known` are ignored
    /// (cosignatures are verified by [`crate::cosignature`]).
    ///
    /// # Errors
    /// [`NoteError::BadSignature`] or [`NoteError::NoKnownSignature`].
    pub fn verify(self, known: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
        let mut verified: Vec<VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = known
                .iter()
                .find(|k| k.key_type() == TYPE_ED25519 && sig.is_by(k))
            else {
                continue;
            };
            if !key.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::BadSignature {
                    name: sig.name.clone(),
                });
            }
            if !verified.contains(key) {
                verified.push(key.clone());
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(VerifiedNote {
            note: self,
            verified,
        })
    }
}

/// A note with at least one verified signature from a known Ed25519 key.
///
/// Only [`open`] and [`Note::verify`] construct it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    note: Note,
    verified: Vec<VerifierKey>,
}

impl VerifiedNote {
    /// The verified text, including its final newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.note.text
    }

    /// The keys whose signatures verified, in the order they first appear in the note.
    #[must_use]
    pub fn verified_keys(&self) -> &[VerifierKey] {
        &self.verified
    }

    /// Names of the keys whose signatures verified.
    #[must_use]
    pub fn verified_names(&self) -> Vec<&str> {
        self.verified.iter().map(VerifierKey::name).collect()
    }

    /// All signature lines of the note, verified or not (for example cosignatures).
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.note.signatures
    }

    /// The underlying note.
    #[must_use]
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// The note in its wire form.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}

/// Parses and verifies a signed note against `known` keys. See [`Note::verify`] for the rules;
/// only Ed25519 (type `0x01`) keys are used, type-`0x04` keys are ignored.
///
/// # Errors
/// [`NoteError`] if the note is malformed, a known signature fails, or none verifies.
pub fn open(bytes: &[u8], known: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    Note::parse(bytes)?.verify(known)
}

/// Fuzz and corpus check: if `data` parses as a note, its serialization must be `data` and
/// must parse to the same note.
///
/// # Panics
/// On a round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    if let Ok(n) = Note::parse(data) {
        let bytes = n.to_bytes();
        assert_eq!(bytes, data, "note serialization differs from input");
        assert_eq!(Note::parse(&bytes).as_ref(), Ok(&n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_KEY: &str =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const EXAMPLE_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn test_signer(name: &str, seed: u8) -> SignerKey {
        SignerKey::from_seed(name, TYPE_ED25519, &[seed; 32]).unwrap()
    }

    // Source: docs/test-vectors.md (c2sp.org/signed-note example).
    #[test]
    fn c2sp_example_verifies() {
        let key = VerifierKey::parse(EXAMPLE_KEY).unwrap();
        let v = open(EXAMPLE_NOTE.as_bytes(), std::slice::from_ref(&key)).unwrap();
        assert_eq!(v.text(), "This is an example message.\n");
        assert_eq!(v.verified_names(), vec!["example.com/foo"]);
        assert_eq!(v.signatures().len(), 1);
        assert_eq!(v.to_bytes(), EXAMPLE_NOTE.as_bytes());
        // One flipped text byte and the known signature fails.
        let tampered = EXAMPLE_NOTE.replacen("example", "exbmple", 1);
        assert_eq!(
            open(tampered.as_bytes(), &[key]),
            Err(NoteError::BadSignature {
                name: "example.com/foo".into()
            })
        );
    }

    #[test]
    fn unknown_keys_are_ignored_and_one_known_is_required() {
        let known = test_signer("log.example/a", 1);
        let other = test_signer("log.example/b", 2);
        // Same name as the known key, different key: ignored (name matches, id does not).
        let impostor = test_signer("log.example/a", 3);
        let mut n = Note::new("hello\n").unwrap();
        n.sign(&impostor).unwrap();
        n.sign(&other).unwrap();
        let bytes = n.to_bytes();
        assert_eq!(
            open(&bytes, &[known.verifier()]),
            Err(NoteError::NoKnownSignature)
        );
        n.sign(&known).unwrap();
        let v = open(&n.to_bytes(), &[known.verifier()]).unwrap();
        assert_eq!(v.verified_names(), vec!["log.example/a"]);
        assert_eq!(v.signatures().len(), 3);
        let v = open(&n.to_bytes(), &[known.verifier(), other.verifier()]).unwrap();
        assert_eq!(v.verified_names(), vec!["log.example/b", "log.example/a"]);
    }

    #[test]
    fn cosignature_keys_are_not_used_by_open() {
        let k =
            SignerKey::from_seed("w.example", crate::keys::TYPE_COSIGNATURE_V1, &[7; 32]).unwrap();
        let mut n = Note::new("x\n").unwrap();
        assert_eq!(n.sign(&k), Err(NoteError::KeyType(0x04)));
        // A 0x04 "signature" over the plain text is not accepted by open.
        let v = k.verifier();
        n.add_signature(NoteSignature {
            name: v.name().into(),
            key_id: v.key_id(),
            signature: k.sign(b"x\n").to_vec(),
        })
        .unwrap();
        assert_eq!(open(&n.to_bytes(), &[v]), Err(NoteError::NoKnownSignature));
    }

    #[test]
    fn text_with_blank_lines_splits_at_last_blank_line() {
        let k = test_signer("a.example", 4);
        let mut n = Note::new("one\n\ntwo\n").unwrap();
        n.sign(&k).unwrap();
        let bytes = n.to_bytes();
        let v = open(&bytes, &[k.verifier()]).unwrap();
        assert_eq!(v.text(), "one\n\ntwo\n");
        assert_eq!(Note::parse(&bytes).unwrap(), n);
    }

    #[test]
    fn accepts_many_signatures_and_caps_them() {
        let k = test_signer("a.example", 5);
        let mut n = Note::new("t\n").unwrap();
        for _ in 0..MAX_SIGNATURES {
            n.sign(&k).unwrap();
        }
        assert_eq!(n.sign(&k), Err(NoteError::TooManySignatures));
        let v = open(&n.to_bytes(), &[k.verifier()]).unwrap();
        assert_eq!(v.signatures().len(), MAX_SIGNATURES);
        let mut bytes = n.to_bytes();
        bytes.extend_from_slice(n.signatures()[0].to_line().as_bytes());
        bytes.push(b'\n');
        assert_eq!(Note::parse(&bytes), Err(NoteError::TooManySignatures));
    }

    #[test]
    fn rejects_malformed_notes() {
        let sig = "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=";
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (b"text\n".to_vec(), "no blank line"),
            (b"text\n\n".to_vec(), "no signatures"),
            (format!("text\n\n{sig}").into_bytes(), "no final newline"),
            (format!("text\n\n{sig}\n\n").into_bytes(), "trailing blank"),
            (format!("te\rxt\n\n{sig}\n").into_bytes(), "control char"),
            (format!("te\txt\n\n{sig}\n").into_bytes(), "tab"),
            (
                format!("text\n\n{}\n", sig.replacen('\u{2014}', "-", 1)).into_bytes(),
                "hyphen",
            ),
            (format!("text\n\n{sig} \n").into_bytes(), "trailing space"),
            (format!("text\n\n{sig}!\n").into_bytes(), "bad base64"),
            (
                "text\n\n\u{2014} a+b Uw2QOkn8\n".as_bytes().to_vec(),
                "plus in name",
            ),
            (
                "text\n\n\u{2014}  Uw2QOkn8\n".as_bytes().to_vec(),
                "empty name",
            ),
            (
                "text\n\n\u{2014} a Uw2QOg==\n".as_bytes().to_vec(),
                "only key id",
            ),
            (b"te\xffxt\n\nx\n".to_vec(), "not utf-8"),
            (
                "text\n\n\u{2014} a Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM\n"
                    .as_bytes()
                    .to_vec(),
                "unpadded base64",
            ),
            (
                "text\n\n\u{2014} a Uw2QOkn8sr1=\n".as_bytes().to_vec(),
                "non-canonical trailing bits",
            ),
        ];
        for (bytes, why) in cases {
            assert!(Note::parse(&bytes).is_err(), "{why}");
        }
        let mut big = vec![b'a'; MAX_NOTE_SIZE];
        big.extend_from_slice(format!("\n\n{sig}\n").as_bytes());
        assert_eq!(Note::parse(&big), Err(NoteError::TooLarge));
        assert!(Note::parse("text\n\n\u{2014} a Uw2QOkn9\n".as_bytes()).is_ok());
        assert!(Note::new("no newline").is_err());
        assert_eq!(Note::new("a\u{7}\n"), Err(NoteError::ControlChar));
    }

    #[test]
    fn signature_line_round_trip() {
        let line = EXAMPLE_NOTE.lines().nth(2).unwrap();
        let s = NoteSignature::parse_line(line).unwrap();
        assert_eq!(s.key_id, [0x53, 0x0d, 0x90, 0x3a]);
        assert_eq!(s.signature.len(), 64);
        assert_eq!(s.to_line(), line);
    }

    // Snapshot of the exact bytes of a note signed with a fixed test seed (0x2a × 32).
    #[test]
    fn signed_note_snapshot() {
        let k = test_signer("attestlog.test/note", 0x2a);
        let mut n = Note::new("attestlog test note\nsecond line\n").unwrap();
        n.sign(&k).unwrap();
        let bytes = n.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        insta::assert_snapshot!(format!("{}\n{text}", k.verifier()));
        roundtrip_check(&bytes);
        assert!(open(&bytes, &[k.verifier()]).is_ok());
    }
}
