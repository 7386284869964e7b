//! c2sp.org/tlog-proof@v1: an offline-verifiable proof that an entry is in a log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <N>
//! <base64 inclusion-proof hash>...
//!
//! <signed checkpoint note, verbatim>
//! ```
//!
//! <https://c2sp.org/tlog-proof>

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, parse_decimal};
use crate::hash::Hash;
use crate::keys::VerifierKey;
use crate::note::{MAX_NOTE_SIZE, Note, NoteError};
use crate::policy::{Policy, PolicyError, verify_checkpoint_with_policy};
use crate::proof::{ProofError, verify_inclusion};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most inclusion-proof hashes accepted (a tree of at most 2^64 leaves needs at most 64).
pub const MAX_PROOF_HASHES: usize = 64;
/// Largest proof accepted by [`TlogProof::parse`], in bytes.
pub const MAX_PROOF_SIZE: usize = MAX_NOTE_SIZE + 64 * 1024;

/// Errors parsing or verifying tlog proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The proof text is malformed.
    #[error("malformed tlog-proof: {0}")]
    Malformed(&'static str),
    /// The embedded checkpoint note is malformed.
    #[error("malformed checkpoint note: {0}")]
    Note(NoteError),
    /// The embedded checkpoint text is malformed or does not verify against the log keys.
    #[error(transparent)]
    Checkpoint(CheckpointError),
    /// The checkpoint does not satisfy the policy.
    #[error(transparent)]
    Policy(PolicyError),
    /// The inclusion proof does not verify.
    #[error("inclusion proof does not verify: {0}")]
    Inclusion(ProofError),
}

/// A parsed (unverified) tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (never empty when present).
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry.
    pub index: u64,
    /// Inclusion proof hashes, from the leaf's sibling up.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note (unverified).
    pub note: Note,
    /// The checkpoint parsed from the note text (unverified).
    pub checkpoint: Checkpoint,
}

/// What a successful [`TlogProof::verify`] establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedInclusion {
    /// The entry index.
    pub index: u64,
    /// The entry's leaf hash.
    pub leaf: Hash,
    /// The verified checkpoint the entry is included in.
    pub checkpoint: SignedCheckpoint,
    /// Policy names of the witnesses whose cosignatures verified (empty without a policy).
    pub witnesses: BTreeSet<String>,
}

/// Encodes a tlog-proof from its parts, with the signed checkpoint note given as the bytes
/// it was published as (a log serving proofs need not parse its own note for each one).
#[must_use]
pub fn encode(extra: Option<&[u8]>, index: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut s = format!("{HEADER}\n");
    if let Some(e) = extra {
        s.push_str(&format!("extra {}\n", STANDARD.encode(e)));
    }
    s.push_str(&format!("index {index}\n"));
    for h in proof {
        s.push_str(&h.to_base64());
        s.push('\n');
    }
    s.push('\n');
    let mut out = s.into_bytes();
    out.extend_from_slice(note);
    out
}

impl TlogProof {
    /// Parses a proof strictly (canonical decimal index, base64 hashes of 32 bytes, non-empty
    /// base64 extra, a well-formed checkpoint note).
    ///
    /// # Errors
    /// [`TlogProofError::Malformed`], [`TlogProofError::Note`] or
    /// [`TlogProofError::Checkpoint`].
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogProofError> {
        if bytes.len() > MAX_PROOF_SIZE {
            return Err(TlogProofError::Malformed("proof too large"));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| TlogProofError::Malformed("not utf-8"))?;
        let (head, note) = s.split_once("\n\n").ok_or(TlogProofError::Malformed(
            "no empty line before the checkpoint",
        ))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(TlogProofError::Malformed(
                "first line must be c2sp.org/tlog-proof@v1",
            ));
        }
        let mut line = lines.next();
        let mut extra = None;
        if let Some(e) = line.and_then(|l| l.strip_prefix("extra ")) {
            let data = STANDARD
                .decode(e)
                .map_err(|_| TlogProofError::Malformed("extra is not base64"))?;
            if data.is_empty() {
                return Err(TlogProofError::Malformed("extra is empty"));
            }
            extra = Some(data);
            line = lines.next();
        }
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .and_then(parse_decimal)
            .ok_or(TlogProofError::Malformed("expected index <N>"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::Malformed("too many proof hashes"));
            }
            proof.push(
                Hash::from_base64(l)
                    .map_err(|_| TlogProofError::Malformed("proof line is not a base64 hash"))?,
            );
        }
        let note = Note::parse(note.as_bytes()).map_err(TlogProofError::Note)?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(TlogProofError::Checkpoint)?;
        Ok(Self {
            extra,
            index,
            proof,
            note,
            checkpoint,
        })
    }

    /// The proof text.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            self.extra.as_deref(),
            self.index,
            &self.proof,
            &self.note.to_bytes(),
        )
    }

    /// Verifies that `entry` is in the log: the checkpoint is signed by a policy log and
    /// cosigned by a witness quorum, and the inclusion proof of `Hash::leaf(entry)` at `index`
    /// leads to its root.
    ///
    /// # Errors
    /// [`TlogProofError::Policy`] or [`TlogProofError::Inclusion`].
    pub fn verify(
        &self,
        entry: &[u8],
        policy: &Policy,
    ) -> Result<VerifiedInclusion, TlogProofError> {
        let w = verify_checkpoint_with_policy(policy, &self.note.to_bytes())
            .map_err(TlogProofError::Policy)?;
        let checkpoint = w.checkpoint().clone();
        self.finish(entry, checkpoint, w.witnesses().clone())
    }

    /// As [`TlogProof::verify`] with only log keys and no witness requirement.
    ///
    /// # Errors
    /// [`TlogProofError::Checkpoint`] or [`TlogProofError::Inclusion`].
    pub fn verify_with_log_keys(
        &self,
        entry: &[u8],
        log_keys: &[VerifierKey],
    ) -> Result<VerifiedInclusion, TlogProofError> {
        let checkpoint = SignedCheckpoint::verify(self.note.clone(), log_keys)
            .map_err(TlogProofError::Checkpoint)?;
        self.finish(entry, checkpoint, BTreeSet::new())
    }

    fn finish(
        &self,
        entry: &[u8],
        checkpoint: SignedCheckpoint,
        witnesses: BTreeSet<String>,
    ) -> Result<VerifiedInclusion, TlogProofError> {
        let leaf = Hash::leaf(entry);
        let cp = checkpoint.checkpoint();
        verify_inclusion(&leaf, self.index, cp.size, &self.proof, &cp.root)
            .map_err(TlogProofError::Inclusion)?;
        Ok(VerifiedInclusion {
            index: self.index,
            leaf,
            checkpoint,
            witnesses,
        })
    }
}

/// Fuzz and corpus check: if `data` parses as a tlog-proof, it serializes back to `data`.
///
/// # Panics
/// On a round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    if let Ok(p) = TlogProof::parse(data) {
        assert_eq!(p.to_bytes(), data, "tlog-proof serialization differs");
        assert_eq!(TlogProof::parse(&p.to_bytes()).as_ref(), Ok(&p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::cosign;
    use crate::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};

    fn log() -> SignerKey {
        SignerKey::from_seed("log.test/tp", TYPE_ED25519, &[0x61; 32]).unwrap()
    }
    fn wit() -> SignerKey {
        SignerKey::from_seed("w.test/tp", TYPE_COSIGNATURE_V1, &[0x62; 32]).unwrap()
    }

    // Source: docs/test-vectors.md (RFC 6962 test leaves); tree of 7 leaves.
    fn leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
    }

    fn mth(l: &[Hash]) -> Hash {
        match l.len() {
            1 => l[0],
            n => {
                let k = n.next_power_of_two() / 2;
                Hash::node(&mth(&l[..k]), &mth(&l[k..]))
            }
        }
    }

    /// RFC 9162 §2.1.3.1 PATH.
    fn path(m: usize, l: &[Hash]) -> Vec<Hash> {
        if l.len() == 1 {
            return vec![];
        }
        let k = l.len().next_power_of_two() / 2;
        if m < k {
            let mut p = path(m, &l[..k]);
            p.push(mth(&l[k..]));
            p
        } else {
            let mut p = path(m - k, &l[k..]);
            p.push(mth(&l[..k]));
            p
        }
    }

    fn proof_for(index: usize, extra: Option<Vec<u8>>) -> TlogProof {
        let hashes: Vec<Hash> = leaves().iter().map(|l| Hash::leaf(l)).collect();
        let root = mth(&hashes);
        assert_eq!(
            root.to_hex(),
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"
        );
        let checkpoint = Checkpoint {
            origin: "log.test/tp".into(),
            size: 7,
            root,
            extensions: vec![],
        };
        let mut note = checkpoint.sign(&[log()]).unwrap();
        let text = note.text().to_owned();
        note.add_signature(cosign(&wit(), 1_700_000_000, &text).unwrap())
            .unwrap();
        TlogProof {
            extra,
            index: u64::try_from(index).unwrap(),
            proof: path(index, &hashes),
            note,
            checkpoint,
        }
    }

    fn policy(quorum: bool) -> Policy {
        Policy::parse(&format!(
            "log {}\nwitness W {}\nquorum {}\n",
            log().verifier(),
            wit().verifier(),
            if quorum { "W" } else { "none" }
        ))
        .unwrap()
    }

    #[test]
    fn verifies_every_leaf_and_rejects_wrong_entries() {
        let p = policy(true);
        for (i, entry) in leaves().iter().enumerate() {
            let proof = proof_for(i, None);
            let bytes = proof.to_bytes();
            let parsed = TlogProof::parse(&bytes).unwrap();
            assert_eq!(parsed, proof);
            let v = parsed.verify(entry, &p).unwrap();
            assert_eq!(v.index, u64::try_from(i).unwrap());
            assert_eq!(v.leaf, Hash::leaf(entry));
            assert_eq!(v.witnesses.len(), 1);
            assert!(
                parsed
                    .verify_with_log_keys(entry, &[log().verifier()])
                    .is_ok()
            );
            // Another entry at this index does not verify.
            assert!(matches!(
                parsed.verify(b"not the entry", &p),
                Err(TlogProofError::Inclusion(_))
            ));
        }
        // Wrong index, wrong proof length.
        let mut proof = proof_for(3, None);
        proof.index = 4;
        assert!(proof.verify(&leaves()[3], &p).is_err());
        let mut proof = proof_for(3, None);
        proof.proof.pop();
        assert!(proof.verify(&leaves()[3], &p).is_err());
        // Untrusted log, missing witness.
        let proof = proof_for(3, None);
        let other = SignerKey::from_seed("log.test/tp", TYPE_ED25519, &[0x63; 32]).unwrap();
        assert!(matches!(
            proof.verify_with_log_keys(&leaves()[3], &[other.verifier()]),
            Err(TlogProofError::Checkpoint(_))
        ));
        let w2 = SignerKey::from_seed("w.test/2", TYPE_COSIGNATURE_V1, &[0x64; 32]).unwrap();
        let p2 = Policy::parse(&format!(
            "log {}\nwitness W {}\nquorum W\n",
            log().verifier(),
            w2.verifier()
        ))
        .unwrap();
        assert_eq!(
            proof.verify(&leaves()[3], &p2),
            Err(TlogProofError::Policy(PolicyError::QuorumNotMet))
        );
        assert!(proof.verify(&leaves()[3], &policy(false)).is_ok());
    }

    #[test]
    fn rejects_malformed_proofs() {
        let good = String::from_utf8(proof_for(2, Some(b"ctx".to_vec())).to_bytes()).unwrap();
        assert!(TlogProof::parse(good.as_bytes()).is_ok());
        let h = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";
        let note = good.split_once("\n\n").unwrap().1;
        let cases = [
            good.replacen("@v1", "@v2", 1),
            good.replacen("index 2", "index 02", 1),
            good.replacen("index 2", "index -2", 1),
            good.replacen("index 2", "index  2", 1),
            good.replacen("index 2", "idx 2", 1),
            good.replacen("extra Y3R4", "extra Y3R", 1),
            good.replacen("extra Y3R4", "extra ", 1),
            good.replacen("extra Y3R4\n", "", 1)
                .replacen("index 2\n", "", 1),
            good.replacen("extra Y3R4\nindex 2", "index 2\nextra Y3R4", 1),
            format!("{HEADER}\nindex 0\n{h}x\n\n{note}"),
            format!("{HEADER}\nindex 0\n{h}\n"),
            format!("{HEADER}\nindex 0\n{}\n{note}", format!("{h}\n").repeat(65)),
            format!("{HEADER}\nindex 0\n\nnot a note\n"),
            format!("{HEADER}\r\nindex 0\n\n{note}"),
            good.replacen("log.test/tp\n7\n", "log.test/tp\n07\n", 1),
        ];
        for bad in cases {
            assert!(TlogProof::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spec_shaped_proof_round_trips() {
        // The c2sp.org/tlog-proof example layout, with a checkpoint signed by a test key.
        let p = proof_for(5, Some(b"age-v1.2.1-darwin-arm64.tar.gz".to_vec()));
        let bytes = p.to_bytes();
        roundtrip_check(&bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(
            "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\nindex 5\n"
        ));
    }

    // Snapshot of a complete proof (fixed seeds 0x61 log, 0x62 witness; fixed timestamp).
    #[test]
    fn tlog_proof_snapshot() {
        let p = proof_for(5, Some(b"ctx".to_vec()));
        let text = String::from_utf8(p.to_bytes()).unwrap();
        insta::assert_snapshot!(text);
        assert!(p.verify(&leaves()[5], &policy(true)).is_ok());
    }
}
