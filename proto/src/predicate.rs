//! predicate (in progress).
