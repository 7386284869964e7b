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
//! - [`render`]: the text the CLI prints for a verified receipt's claim;
//! - [`cli`]: the `attestlog` command line, callable from tests through [`cli::run`].
//!
//! What a verifier trusts, [`Trust`] (a log key or a tlog-policy), and the checkpoints it
//! accepts, [`VerifiedCheckpoint`], are the protocol crate's (`attestlog_proto::trust`),
//! re-exported here.
//!
//! Out of scope: the protocol itself (in `attestlog-proto`), serving a log.
//!
//! The protocol a client speaks is specified in `docs/spec.md` in the repository: the HTTP API
//! in §8, receipts and their offline verification in §9, witnessing in §10 ([`witness`]),
//! verification statements and check-traffic in §12 ([`traffic`]), and what a monitor checks
//! in §13 ([`monitor`]).
//!
//! ## Example: follow a log
//!
//! A follower trusts only the log's verifier key (or a tlog-policy with witnesses): every
//! checkpoint, tile and entry bundle it reads is verified before it is handed out. (The hidden
//! lines start a log of its own on a loopback port and enrol one vendor key.)
//!
//! ```
//! use attestlog_client::{Client, Trust, Verifier};
//! # use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let mut config = attestlog_server::config::Config::with_data_dir(dir.path());
//! # config.admin_token = Some("example-token".into());
//! # let app = attestlog_server::App::open(&config)?;
//! # let log_key = app.state.log_key.clone();
//! # let listener = attestlog_server::listen(([127, 0, 0, 1], 0).into())?;
//! # let url = format!("http://{}", listener.local_addr()?);
//! # tokio::spawn(app.serve(listener, std::future::pending()));
//! # let vendor = SignerKey::from_seed("example.vendor", TYPE_ED25519, &[7; 32])?;
//! # let request = serde_json::from_value(serde_json::json!({
//! #     "vendor": "Example Vendor Ltd", "key": vendor.verifier().to_string(), "action": "enrol"
//! # }))?;
//! # Client::new(&url)?.vendor_action("example-token", &request).await?;
//!
//! let mut verifier = Verifier::new(Client::new(&url)?, Trust::log_key(log_key));
//! let mut next = 0; // where this follower stopped last time
//! let checkpoint = verifier.checkpoint().await?; // signature (and witness quorum) checked
//! for (index, entry) in verifier
//!     .entries(&checkpoint, next, checkpoint.size(), |_| {})
//!     .await?
//! {
//!     // Each entry's leaf hash is in a tile verified against the checkpoint's root.
//!     println!("entry {index}: {} bytes", entry.len());
//! }
//! next = checkpoint.size();
//! assert!(next >= 1);
//! // Next time, prove the new checkpoint consistent with this one before reading on:
//! // `verifier.prove_consistency(...)`; `attestlog monitor` does all of this and keeps state.
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod diff;
pub mod fork;
pub mod monitor;
pub mod render;
pub mod traffic;
pub mod verifier;
pub mod versions;
pub mod witness;

pub use client::{Client, ClientError, SearchQuery};
pub use verifier::{Trust, TrustError, VerifiedCheckpoint, Verifier, VerifyError};
