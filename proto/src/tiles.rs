//! tiles (in progress).
