//! A Bloom filter over the leaf hashes a store holds, in front of its dedup index.
//!
//! Nearly every submission is new, and proving that through the index costs a B-tree probe
//! of random pages that the last commit has usually just changed. A leaf the filter has
//! never seen is certainly not stored, so the store answers "absent" without a database
//! read; "maybe" (a stored leaf, or a false positive) goes to the index as before.
//!
//! The filter is fixed in size (8 MiB: memory does not grow with the log). Its false-positive
//! rate is ~10⁻⁵ at 1 M leaves and ~4 % at 10 M; past that it degrades gracefully towards
//! always asking the index, never towards a wrong answer. Leaf hashes are SHA-256 outputs,
//! so their own bytes pick the probed bits: grinding entries to collide only costs the
//! grinder an index read.
//!
//! Until [`LeafFilter::mark_ready`] (after the store has added every leaf it held when it
//! opened), the filter answers "maybe" for everything.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use attestlog_proto::Hash;

/// log₂ of the number of bits.
const BITS_LOG2: u32 = 26;
const WORDS: usize = 1 << (BITS_LOG2 - 6);

/// A concurrent, insert-only Bloom filter of leaf hashes with four probes.
pub struct LeafFilter {
    words: Box<[AtomicU64]>,
    ready: AtomicBool,
    ready_signal: (Mutex<bool>, Condvar),
}

impl Default for LeafFilter {
    fn default() -> Self {
        Self {
            words: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            ready: AtomicBool::new(false),
            ready_signal: (Mutex::new(false), Condvar::new()),
        }
    }
}

impl std::fmt::Debug for LeafFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafFilter")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

/// The four bit positions of `leaf`: one from each 8-byte word of the hash.
fn probes(leaf: &Hash) -> impl Iterator<Item = (usize, u64)> + '_ {
    leaf.0.chunks_exact(8).map(|w| {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let bit = u64::from_le_bytes(b) & ((1u64 << BITS_LOG2) - 1);
        // Below 2^26: the word index fits any usize.
        ((bit >> 6) as usize, 1u64 << (bit & 63))
    })
}

impl LeafFilter {
    /// Adds `leaf`. Stores call this before the leaf's commit, so that the filter never
    /// misses a leaf a reader can find.
    pub fn insert(&self, leaf: &Hash) {
        for (word, mask) in probes(leaf) {
            self.words[word].fetch_or(mask, Ordering::Release);
        }
    }

    /// Whether `leaf` may be stored: `false` only when it certainly is not.
    #[must_use]
    pub fn may_contain(&self, leaf: &Hash) -> bool {
        !self.is_ready()
            || probes(leaf).all(|(word, mask)| self.words[word].load(Ordering::Acquire) & mask != 0)
    }

    /// Whether every leaf stored when the store opened has been added.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Starts answering "absent": every stored leaf has been added.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
        let (m, cv) = &self.ready_signal;
        if let Ok(mut r) = m.lock() {
            *r = true;
        }
        cv.notify_all();
    }

    /// Waits until the filter is ready or `timeout` passed; returns whether it is ready.
    #[cfg(test)]
    #[must_use]
    pub fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        let (m, cv) = &self.ready_signal;
        let Ok(g) = m.lock() else {
            return false;
        };
        cv.wait_timeout_while(g, timeout, |r| !*r)
            .is_ok_and(|(r, _)| *r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_only_when_never_inserted_and_ready() {
        let f = LeafFilter::default();
        let a = Hash::leaf(b"a");
        let b = Hash::leaf(b"b");
        assert!(f.may_contain(&b), "not ready: every leaf may be stored");
        f.insert(&a);
        f.mark_ready();
        assert!(f.wait_ready(std::time::Duration::from_secs(1)));
        assert!(f.may_contain(&a));
        assert!(!f.may_contain(&b));
        // No false negatives over many leaves, and few false positives.
        let inserted: Vec<Hash> = (0..20_000u32)
            .map(|i| Hash::leaf(&i.to_be_bytes()))
            .collect();
        for h in &inserted {
            f.insert(h);
        }
        assert!(inserted.iter().all(|h| f.may_contain(h)));
        let false_positives = (20_000..120_000u32)
            .filter(|i| f.may_contain(&Hash::leaf(&i.to_be_bytes())))
            .count();
        assert!(false_positives < 5, "{false_positives} false positives");
    }
}
