//! dsse (in progress).
