//! cosignature (in progress).
