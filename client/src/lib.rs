//! # attestlog-client
//!
//! The client side of attestlog (DESIGN.md §6–§7):
//!
//! - [`client::Client`]: typed access to every HTTP endpoint, errors carrying the server's
//!   JSON error message and status;
//! - [`verifier::Verifier`]: a tile follower that verifies every checkpoint, tile and entry
//!   bundle it reads and proves inclusion and consistency locally;
//! - [`monitor`]: follows a log, checks every entry against the enrolment history in the log
//!   itself, keeps state across restarts, emits alerts and writes fork evidence;
//! - [`fork`]: portable fork-evidence files and their offline verification;
//! - [`diff`]: what changed between two versions of an attestation;
//! - [`versions`]: every version of an attestation and its current one, by following its chain;
//! - [`witness`]: a c2sp.org/tlog-witness server (`attestlog witness serve`);
//! - [`traffic`]: what a product connected to, read from a capture and matched against its
//!   claim (`attestlog check-traffic`);
//! - [`cli`]: the `attestlog` command line, callable from tests through [`cli::run`].
//!
//! Out of scope: the protocol itself (in `attestlog-proto`), serving a log.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod diff;
pub mod fork;
pub mod monitor;
pub mod traffic;
pub mod verifier;
pub mod versions;
pub mod witness;

pub use client::{Client, ClientError, SearchQuery};
pub use verifier::{Trust, VerifiedCheckpoint, Verifier, VerifyError};
