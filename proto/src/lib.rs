//! # attestlog-proto
//!
//! The pure protocol crate of attestlog: everything an outside verifier needs, and nothing
//! else. No I/O, no async runtime, no clock, no random number generator — callers pass in
//! times and keys.
//!
//! In scope:
//! - RFC 9162 §2.1 Merkle tree hashing, tree math, inclusion and consistency proofs
//!   ([`hash`], [`tree`], [`proof`]), and c2sp.org/tlog-tiles paths and bundles ([`tiles`]);
//! - c2sp.org/signed-note ([`note`]), tlog-checkpoint ([`checkpoint`]), tlog-cosignature
//!   ([`cosignature`]), tlog-witness wire format ([`witness`]), tlog-policy ([`policy`]),
//!   tlog-proof ([`tlog_proof`]), and the tile arithmetic of integration ([`integrate`]);
//! - DSSE envelopes and the canonical entry encoding ([`dsse`]), in-toto Statement v1 and the
//!   data-flow predicate with field-path validation ([`predicate`]), vendor key enrolment
//!   entries and the enrolment rules ([`enrolment`]), the verification predicate of
//!   auditors and test labs ([`verification`]);
//! - the rule engine every admission decision goes through: statement identity, signatures,
//!   enrolment, ownership and version chains ([`rules`]);
//! - what a verifier trusts, a log key or a tlog-policy, and the checkpoints it accepts
//!   ([`trust`]);
//! - the JSON types of the HTTP API ([`api`]) and the offline receipt verifier ([`receipt`]).
//!
//! Out of scope: storage, networking, HTTP servers and clients, key files, clocks, randomness.
//!
//! ## Where the protocol is specified
//!
//! `docs/spec.md` in the repository (the README leads to it) is the protocol as implemented,
//! precise enough to write an independent verifier from it alone; it names the module that
//! implements each rule, and each rule lives in one module of this crate:
//!
//! | spec section | modules |
//! | --- | --- |
//! | §2 Primitives and encodings | [`hash`], [`keys`], [`jcs`], [`format`](mod@format) |
//! | §3 Merkle tree and proofs (RFC 9162) | [`tree`], [`proof`] |
//! | §4 Signed notes, checkpoints, cosignatures | [`note`], [`checkpoint`], [`cosignature`] |
//! | §5 Static read path (tlog-tiles) | [`tiles`], [`integrate`] |
//! | §6 Log entries | [`dsse`], [`predicate`], [`verification`], [`enrolment`] |
//! | §7 Admission rules | [`rules`] |
//! | §8 HTTP API | [`api`] |
//! | §9 Receipts and offline verification | [`receipt`], [`tlog_proof`], [`trust`] |
//! | §10 Witnessing | [`witness`], [`policy`] |
//! | §11 SCITT profile | [`scitt`], [`cose`], [`registration`] |
//!
//! Known-answer vectors and where they come from: `docs/test-vectors.md`.
//!
//! ## Example: verify a receipt offline
//!
//! A receipt is what the log answers to a submission (`POST /v1/entries`): the entry, a
//! c2sp.org/tlog-proof of its inclusion in a signed checkpoint, and the enrolment of the key
//! that signed it. Anyone holding the log's verifier key (or a tlog-policy with witnesses)
//! checks it without asking the log anything:
//!
//! ```
//! use attestlog_proto::api::Receipt;
//! use attestlog_proto::keys::VerifierKey;
//! use attestlog_proto::receipt::verify_receipt;
//! use attestlog_proto::trust::Trust;
//!
//! // The log's verifier key, obtained out of band (it is printed at the log's first start).
//! let log_key = VerifierKey::parse(
//!     "attestlog.test/receipt+d030857f+AeL+Kjm3MmZCgn1tgtSXYizWwpf+eCcOqkNrAfCGtvPL",
//! )?;
//! let receipt: Receipt =
//!     serde_json::from_str(include_str!("../../fuzz/corpus/receipt/valid.json"))?;
//!
//! let trust = Trust::log_key(log_key);
//! let verified = verify_receipt(&receipt, &trust)?;
//! assert_eq!(verified.index(), 3);
//! assert_eq!(verified.vendor(), verified.enrolment().map(|e| e.vendor.as_str()));
//! // attestlog_client::render::verified_receipt(&verified) presents it as `attestlog verify` does.
//!
//! // A receipt whose entry was changed after the log signed it does not verify.
//! let mut tampered = receipt.clone();
//! tampered.entry.replace_range(10..11, if &receipt.entry[10..11] == "A" { "B" } else { "A" });
//! assert!(verify_receipt(&tampered, &trust).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod checkpoint;
pub mod cose;
pub mod cosignature;
pub mod dsse;
pub mod enrolment;
pub mod format;
pub mod hash;
pub mod integrate;
pub mod jcs;
pub mod keys;
pub mod note;
pub mod policy;
pub mod predicate;
pub mod proof;
pub mod receipt;
pub mod registration;
pub mod rules;
pub mod scitt;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tiles;
pub mod tlog_proof;
pub mod tree;
pub mod trust;
pub mod verification;
pub mod witness;

pub use hash::Hash;
