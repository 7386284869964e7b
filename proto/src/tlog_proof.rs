//! tlog_proof (in progress).
