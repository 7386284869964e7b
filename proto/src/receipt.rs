//! receipt (in progress).
