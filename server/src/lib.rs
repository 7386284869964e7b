//! attestlog server.
