//! The integration-test binary: the real server in-process on 127.0.0.1:0, driven over HTTP.
// Test helpers outside #[test] functions (harness, statement builders) unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_inputs;
mod chaos;
mod claims;
mod claims_property;
mod client_story;
mod client_verifier;
mod common;
mod endpoints;
mod explorer;
mod fsck;
mod hostile;
mod independent;
mod large_log;
#[path = "../../server/tests/pg_support/mod.rs"]
mod pg_support;
mod scitt;
mod scitt_interop;
mod spec_verifier;
mod spec_verifier_scitt;
mod startup;
mod storage_calls;
mod submit;
mod verification_story;
mod verifications;
mod witness;
