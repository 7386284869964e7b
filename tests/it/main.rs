//! The integration-test binary: the real server in-process on 127.0.0.1:0, driven over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_inputs;
mod common;
mod endpoints;
mod independent;
mod large_log;
mod startup;
mod submit;
