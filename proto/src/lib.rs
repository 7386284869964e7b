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
//! - the JSON types of the HTTP API ([`api`]) and the offline receipt verifier ([`receipt`]).
//!
//! Out of scope: storage, networking, HTTP servers and clients, key files, clocks, randomness.
#![forbid(unsafe_code)]

pub mod api;
pub mod checkpoint;
pub mod cose;
pub mod cosignature;
pub mod dsse;
pub mod enrolment;
pub mod hash;
pub mod integrate;
pub mod keys;
pub mod note;
pub mod policy;
pub mod predicate;
pub mod proof;
pub mod receipt;
pub mod rules;
pub mod scitt;
pub mod tiles;
pub mod tlog_proof;
pub mod tree;
pub mod verification;
pub mod witness;

pub use hash::Hash;
