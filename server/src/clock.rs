//! The server's one wall clock (key-rotation overlap, enrolment and receipt timestamps): the
//! clock shared with the client.

pub use attestlog_serve::fs::unix_now;
