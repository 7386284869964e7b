//! attestlog integration tests live in it/.
