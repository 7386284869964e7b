//! integration tests.
