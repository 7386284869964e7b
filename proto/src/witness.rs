//! c2sp.org/tlog-witness `add-checkpoint`: the request and response bodies, the `409` body,
//! and the witness's pure state-transition check ([`check_add_checkpoint`]).
//!
//! <https://c2sp.org/tlog-witness>

use crate::checkpoint::{CheckpointError, SignedCheckpoint, parse_decimal};
use crate::hash::Hash;
use crate::keys::VerifierKey;
use crate::note::{MAX_NOTE_SIZE, MAX_SIGNATURES, NoteSignature};
use crate::proof::verify_consistency;

/// Path of the endpoint under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";
/// Content type of the `409 Conflict` body carrying the witness's latest size.
pub const CONTENT_TYPE_TLOG_SIZE: &str = "text/x.tlog.size";
/// Most consistency-proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body accepted by [`AddCheckpointRequest::parse`].
pub const MAX_REQUEST_SIZE: usize = MAX_NOTE_SIZE + 64 * 64;
/// Longest checkpoint origin a witness looks at: [`request_origin`] refuses longer ones (400)
/// before anything is looked up or kept under the origin.
pub const MAX_ORIGIN_BYTES: usize = 1024;

/// Errors of the witness wire formats and of the add-checkpoint check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The request or response body is malformed (400).
    #[error("malformed body: {0}")]
    Malformed(&'static str),
    /// The checkpoint is malformed (400).
    #[error("malformed checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// No log key is configured for the checkpoint's origin (404).
    #[error("unknown log origin {0}")]
    UnknownOrigin(String),
    /// No signature verifies against a trusted log key, or a known one fails (403).
    #[error("checkpoint has no valid signature from a trusted log key")]
    Forbidden,
    /// The old size is larger than the checkpoint size (400).
    #[error("old size {old} is larger than checkpoint size {size}")]
    OldAfterSize {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The old size is not the size of the latest cosigned checkpoint (409).
    #[error("old size does not match the latest cosigned size {latest}")]
    Conflict {
        /// The size of the latest checkpoint the witness cosigned (0 if none).
        latest: u64,
    },
    /// Same size as the latest cosigned checkpoint but a different root (409).
    #[error("same size {latest} with a different root hash")]
    RootMismatch {
        /// The size of the latest cosigned checkpoint.
        latest: u64,
    },
    /// The consistency proof does not verify (422).
    #[error("consistency proof does not verify")]
    BadProof,
}

impl WitnessError {
    /// The HTTP status the spec assigns to this error.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::Checkpoint(_) | Self::OldAfterSize { .. } => 400,
            Self::Forbidden => 403,
            Self::UnknownOrigin(_) => 404,
            Self::Conflict { .. } | Self::RootMismatch { .. } => 409,
            Self::BadProof => 422,
        }
    }

    /// For a `409` that must carry a `text/x.tlog.size` body, the size to put in it.
    #[must_use]
    pub fn conflict_size(&self) -> Option<u64> {
        match self {
            Self::Conflict { latest } | Self::RootMismatch { latest } => Some(*latest),
            _ => None,
        }
    }
}

/// An `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// Size of the previous checkpoint the client believes the witness cosigned.
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpointRequest {
    /// Parses `old <N>\n`, up to 63 base64 hash lines, an empty line, then the checkpoint.
    ///
    /// # Errors
    /// [`WitnessError::Malformed`].
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        if body.len() > MAX_REQUEST_SIZE {
            return Err(WitnessError::Malformed("request too large"));
        }
        let mut rest = body;
        let old = std::str::from_utf8(next_line(&mut rest)?)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or(WitnessError::Malformed("first line must be old <size>"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(WitnessError::Malformed("more than 63 proof lines"));
            }
            let h = std::str::from_utf8(line)
                .ok()
                .and_then(|l| Hash::from_base64(l).ok())
                .ok_or(WitnessError::Malformed("proof line is not a base64 hash"))?;
            proof.push(h);
        }
        if rest.is_empty() {
            return Err(WitnessError::Malformed("missing checkpoint"));
        }
        Ok(Self {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// Splits the next newline-terminated line off `rest`.
fn next_line<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], WitnessError> {
    let i = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(WitnessError::Malformed("missing newline"))?;
    let (line, tail) = rest.split_at(i);
    *rest = tail.get(1..).unwrap_or_default();
    Ok(line)
}

/// Parses a `200` response body: one or more note signature lines, each ending in a newline.
///
/// # Errors
/// [`WitnessError::Malformed`].
pub fn parse_cosignature_response(body: &[u8]) -> Result<Vec<NoteSignature>, WitnessError> {
    let s = std::str::from_utf8(body).map_err(|_| WitnessError::Malformed("not utf-8"))?;
    let s = s
        .strip_suffix('\n')
        .ok_or(WitnessError::Malformed("response must end with a newline"))?;
    let mut out = Vec::new();
    for line in s.split('\n') {
        if out.len() == MAX_SIGNATURES {
            return Err(WitnessError::Malformed("too many signature lines"));
        }
        let sig = NoteSignature::parse_line(line)
            .map_err(|_| WitnessError::Malformed("invalid signature line"))?;
        out.push(sig);
    }
    Ok(out)
}

/// Serializes a `200` response body from cosignature lines.
#[must_use]
pub fn cosignature_response(sigs: &[NoteSignature]) -> Vec<u8> {
    let mut out = String::new();
    for s in sigs {
        out.push_str(&s.to_line());
        out.push('\n');
    }
    out.into_bytes()
}

/// Parses a `409` `text/x.tlog.size` body: `<size>\n`.
///
/// # Errors
/// [`WitnessError::Malformed`].
pub fn parse_size_body(body: &[u8]) -> Result<u64, WitnessError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(parse_decimal)
        .ok_or(WitnessError::Malformed("size body must be <decimal>\\n"))
}

/// Serializes a `409` `text/x.tlog.size` body.
#[must_use]
pub fn size_body(size: u64) -> Vec<u8> {
    format!("{size}\n").into_bytes()
}

/// A checkpoint the witness may cosign and record as its new latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpointUpdate {
    checkpoint: SignedCheckpoint,
}

impl VerifiedCheckpointUpdate {
    /// The verified signed checkpoint.
    #[must_use]
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }
    /// The origin.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.checkpoint.checkpoint().origin
    }
    /// The new size to record.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.checkpoint.checkpoint().size
    }
    /// The new root to record.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.checkpoint.checkpoint().root
    }
    /// The checkpoint note text, to cosign with [`crate::cosignature::cosign`].
    #[must_use]
    pub fn text(&self) -> &str {
        self.checkpoint.text()
    }
}

/// The origin of a request's checkpoint (its first line), read without parsing the note, so
/// a witness can check it against its policy before it parses, looks up or keeps anything.
///
/// # Errors
/// [`WitnessError::Malformed`] for an origin line that is missing, not UTF-8, empty or longer
/// than [`MAX_ORIGIN_BYTES`].
pub fn request_origin(req: &AddCheckpointRequest) -> Result<&str, WitnessError> {
    let head = &req.checkpoint[..req.checkpoint.len().min(MAX_ORIGIN_BYTES + 1)];
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return Err(if head.len() > MAX_ORIGIN_BYTES {
            WitnessError::Malformed("checkpoint origin is longer than 1024 bytes")
        } else {
            WitnessError::Malformed("checkpoint has no origin line")
        });
    };
    match std::str::from_utf8(&head[..end]) {
        Ok("") => Err(WitnessError::Malformed("checkpoint origin is empty")),
        Ok(o) => Ok(o),
        Err(_) => Err(WitnessError::Malformed("checkpoint origin is not UTF-8")),
    }
}

/// The witness's add-checkpoint decision, in the order of the spec's checks.
///
/// `known_log_keys` are the log keys the witness trusts (key name = origin); `latest` is the
/// (size, root) of the latest checkpoint the witness cosigned for this request's origin, or
/// `None` if it never cosigned one (treated as size 0, empty root). The caller looks `latest`
/// up by origin and must check and persist atomically.
///
/// # Errors
/// A [`WitnessError`] whose [`WitnessError::status`] is the HTTP status to answer with.
pub fn check_add_checkpoint(
    known_log_keys: &[VerifierKey],
    latest: Option<(u64, Hash)>,
    req: &AddCheckpointRequest,
) -> Result<VerifiedCheckpointUpdate, WitnessError> {
    let checkpoint = match SignedCheckpoint::open(&req.checkpoint, known_log_keys) {
        Ok(c) => c,
        Err(CheckpointError::UnknownOrigin(o)) => return Err(WitnessError::UnknownOrigin(o)),
        Err(CheckpointError::Note(
            crate::note::NoteError::NoKnownSignature | crate::note::NoteError::BadSignature { .. },
        )) => return Err(WitnessError::Forbidden),
        Err(e) => return Err(WitnessError::Checkpoint(e)),
    };
    let (size, root) = (checkpoint.checkpoint().size, checkpoint.checkpoint().root);
    if req.old > size {
        return Err(WitnessError::OldAfterSize { old: req.old, size });
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, Hash::EMPTY_ROOT));
    if req.old != latest_size {
        return Err(WitnessError::Conflict {
            latest: latest_size,
        });
    }
    if req.old == size {
        if !req.proof.is_empty() {
            return Err(WitnessError::BadProof);
        }
        if !root.ct_eq(&latest_root) {
            return Err(WitnessError::RootMismatch {
                latest: latest_size,
            });
        }
    } else {
        verify_consistency(req.old, size, &req.proof, &latest_root, &root)
            .map_err(|_| WitnessError::BadProof)?;
    }
    Ok(VerifiedCheckpointUpdate { checkpoint })
}

/// Fuzz and corpus check: if `data` parses as an add-checkpoint request, it serializes back
/// to `data`; the same for a cosignature response body and a size body.
///
/// # Panics
/// On a round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        if let Ok(origin) = request_origin(&r) {
            assert!(origin.len() <= MAX_ORIGIN_BYTES && !origin.contains('\n'));
        }
        assert_eq!(r.to_bytes(), data, "request serialization differs");
        assert_eq!(AddCheckpointRequest::parse(&r.to_bytes()).as_ref(), Ok(&r));
    }
    if let Ok(s) = parse_cosignature_response(data) {
        assert_eq!(
            cosignature_response(&s),
            data,
            "response serialization differs"
        );
    }
    if let Ok(n) = parse_size_body(data) {
        assert_eq!(size_body(n), data, "size body serialization differs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::{cosign, verify_cosignature};
    use crate::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};

    const SPEC_REQUEST: &str = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
    const SPEC_RESPONSE: &str = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n\u{2014} witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n\u{2014} witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";

    #[test]
    fn request_origin_is_capped_and_read_without_parsing_the_note() {
        let r = AddCheckpointRequest::parse(SPEC_REQUEST.as_bytes()).unwrap();
        assert_eq!(request_origin(&r), Ok("example.com/behind-the-sofa"));
        let with = |checkpoint: Vec<u8>| AddCheckpointRequest {
            old: 0,
            proof: vec![],
            checkpoint,
        };
        let at_cap = format!("{}\n1\n", "o".repeat(MAX_ORIGIN_BYTES));
        assert_eq!(
            request_origin(&with(at_cap.into_bytes())).map(str::len),
            Ok(MAX_ORIGIN_BYTES)
        );
        let huge = format!("{}\n1\n", "o".repeat(1 << 20));
        assert!(matches!(
            request_origin(&with(huge.into_bytes())),
            Err(WitnessError::Malformed(m)) if m.contains("longer")
        ));
        for bad in [&b"\n1\n"[..], b"no newline", b"\xff\n1\n"] {
            assert!(request_origin(&with(bad.to_vec())).is_err(), "{bad:?}");
        }
    }

    // Source: c2sp.org/tlog-witness example request and response bodies.
    #[test]
    fn spec_examples_round_trip() {
        let r = AddCheckpointRequest::parse(SPEC_REQUEST.as_bytes()).unwrap();
        assert_eq!(r.old, 20_852_014);
        assert_eq!(r.proof.len(), 4);
        assert!(r.checkpoint.starts_with(b"example.com/behind-the-sofa\n"));
        assert_eq!(r.to_bytes(), SPEC_REQUEST.as_bytes());
        let sigs = parse_cosignature_response(SPEC_RESPONSE.as_bytes()).unwrap();
        assert_eq!(sigs.len(), 3);
        assert_eq!(sigs[2].name, "witness.example/w2");
        assert_eq!(sigs[0].signature.len(), 72);
        assert_eq!(cosignature_response(&sigs), SPEC_RESPONSE.as_bytes());
        assert_eq!(parse_size_body(b"20852014\n"), Ok(20_852_014));
        assert_eq!(size_body(7), b"7\n");
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cp = "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} o AAAAAAA=\n";
        let h = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=";
        for bad in [
            String::new(),
            format!("old 1\n{h}\n"),
            format!("old 1\n{h}\n\n"),
            format!("old 01\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("old  1\n\n{cp}"),
            format!("old 1 \n\n{cp}"),
            format!("Old 1\n\n{cp}"),
            format!("old 1\n{h} \n\n{cp}"),
            format!("old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\n{cp}"),
            format!("old 1\r\n\n{cp}"),
            format!("old 1\n{}\n{cp}", format!("{h}\n").repeat(64)),
        ] {
            assert!(
                AddCheckpointRequest::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        let ok = format!("old 1\n{}\n{cp}", format!("{h}\n").repeat(63));
        assert_eq!(
            AddCheckpointRequest::parse(ok.as_bytes()).map(|r| r.proof.len()),
            Ok(63)
        );
        for bad in ["", "\n", "7", "07\n", "7\n\n", "-7\n", " 7\n"] {
            assert!(parse_size_body(bad.as_bytes()).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "\n",
            "x\n",
            "\u{2014} a AAAAAAA=",
            "\u{2014} a AAAAAAA=\n\n",
        ] {
            assert!(
                parse_cosignature_response(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
    }

    fn log() -> SignerKey {
        SignerKey::from_seed("log.test/w", TYPE_ED25519, &[0x41; 32]).unwrap()
    }

    /// Root of a tree of `n` leaves `i.to_be_bytes()`, via the tree module's reference code.
    fn root(n: u64) -> Hash {
        fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => Hash::EMPTY_ROOT,
                1 => leaves[0],
                n => {
                    let k = n.next_power_of_two() / 2;
                    Hash::node(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }
        let leaves: Vec<Hash> = (0..n).map(|i| Hash::leaf(&i.to_be_bytes())).collect();
        mth(&leaves)
    }

    /// RFC 9162 §2.1.4.1 SUBPROOF over the same leaves.
    fn consistency(m: u64, n: u64) -> Vec<Hash> {
        fn sub(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
            fn mth(leaves: &[Hash]) -> Hash {
                match leaves.len() {
                    1 => leaves[0],
                    n => {
                        let k = n.next_power_of_two() / 2;
                        Hash::node(&mth(&leaves[..k]), &mth(&leaves[k..]))
                    }
                }
            }
            let n = leaves.len();
            if m == n {
                return if b { vec![] } else { vec![mth(leaves)] };
            }
            let k = n.next_power_of_two() / 2;
            if m <= k {
                let mut p = sub(m, &leaves[..k], b);
                p.push(mth(&leaves[k..]));
                p
            } else {
                let mut p = sub(m - k, &leaves[k..], false);
                p.push(mth(&leaves[..k]));
                p
            }
        }
        let leaves: Vec<Hash> = (0..n).map(|i| Hash::leaf(&i.to_be_bytes())).collect();
        sub(usize::try_from(m).unwrap(), &leaves, true)
    }

    fn signed(size: u64, key: &SignerKey) -> Vec<u8> {
        Checkpoint {
            origin: "log.test/w".into(),
            size,
            root: root(size),
            extensions: vec![],
        }
        .sign(std::slice::from_ref(key))
        .unwrap()
        .to_bytes()
    }

    fn req(old: u64, size: u64) -> AddCheckpointRequest {
        AddCheckpointRequest {
            old,
            proof: if old == 0 || old == size {
                vec![]
            } else {
                consistency(old, size)
            },
            checkpoint: signed(size, &log()),
        }
    }

    #[test]
    fn add_checkpoint_state_transitions() {
        let keys = [log().verifier()];
        // First checkpoint: old 0, empty proof.
        let u = check_add_checkpoint(&keys, None, &req(0, 5)).unwrap();
        assert_eq!((u.origin(), u.size(), u.root()), ("log.test/w", 5, root(5)));
        // Then a consistent extension.
        let u = check_add_checkpoint(&keys, Some((5, root(5))), &req(5, 12)).unwrap();
        assert_eq!(u.size(), 12);
        // The witness can cosign the text it verified.
        let w = SignerKey::from_seed("w.test", TYPE_COSIGNATURE_V1, &[1; 32]).unwrap();
        let sig = cosign(&w, 42, u.text()).unwrap();
        assert_eq!(verify_cosignature(&w.verifier(), u.text(), &sig), Ok(42));
        // Same size, same root: accepted (re-cosign).
        assert!(check_add_checkpoint(&keys, Some((12, root(12))), &req(12, 12)).is_ok());

        let err = |latest, r: &AddCheckpointRequest| {
            check_add_checkpoint(&keys, latest, r).map(|u| u.size())
        };
        // 404: unknown origin.
        let other = log().renamed("log.test/other").unwrap();
        assert_eq!(
            check_add_checkpoint(&[other.verifier()], None, &req(0, 5)).map(|u| u.size()),
            Err(WitnessError::UnknownOrigin("log.test/w".into()))
        );
        // 403: right origin, untrusted key.
        let untrusted = SignerKey::from_seed("log.test/w", TYPE_ED25519, &[0x42; 32]).unwrap();
        let mut r = req(0, 5);
        r.checkpoint = signed(5, &untrusted);
        assert_eq!(err(None, &r), Err(WitnessError::Forbidden));
        assert_eq!(WitnessError::Forbidden.status(), 403);
        // 400: old > size.
        let mut r = req(5, 5);
        r.old = 6;
        let e = err(Some((6, root(6))), &r).unwrap_err();
        assert_eq!(e, WitnessError::OldAfterSize { old: 6, size: 5 });
        assert_eq!(e.status(), 400);
        // 409: old is not the latest size; the body carries the latest size.
        let e = err(Some((7, root(7))), &req(5, 12)).unwrap_err();
        assert_eq!((e.status(), e.conflict_size()), (409, Some(7)));
        let e = err(None, &req(5, 12)).unwrap_err();
        assert_eq!(e, WitnessError::Conflict { latest: 0 });
        // 422: bad consistency proof (wrong hash, wrong length, proof with old 0).
        let mut r = req(5, 12);
        r.proof[0] = Hash::leaf(b"x");
        let e = err(Some((5, root(5))), &r).unwrap_err();
        assert_eq!((e.clone(), e.status()), (WitnessError::BadProof, 422));
        let mut r = req(5, 12);
        r.proof.pop();
        assert_eq!(err(Some((5, root(5))), &r), Err(WitnessError::BadProof));
        let mut r = req(0, 12);
        r.proof = consistency(5, 12);
        assert_eq!(err(None, &r), Err(WitnessError::BadProof));
        // Old root not the one the witness recorded: the proof cannot verify.
        assert_eq!(
            err(Some((5, Hash::leaf(b"fork"))), &req(5, 12)),
            Err(WitnessError::BadProof)
        );
        // 409: same size, different root.
        let e = err(Some((12, Hash::leaf(b"fork"))), &req(12, 12)).unwrap_err();
        assert_eq!((e.status(), e.conflict_size()), (409, Some(12)));
        // 400: the checkpoint is not a checkpoint.
        let mut r = req(0, 5);
        r.checkpoint = b"garbage\n".to_vec();
        assert_eq!(err(None, &r).map_err(|e| e.status()), Err(400));
    }

    #[test]
    fn request_round_trip() {
        let r = req(5, 12);
        let bytes = r.to_bytes();
        assert_eq!(AddCheckpointRequest::parse(&bytes), Ok(r));
        roundtrip_check(&bytes);
        roundtrip_check(SPEC_RESPONSE.as_bytes());
        roundtrip_check(b"12\n");
    }
}
