//! witness (in progress).
