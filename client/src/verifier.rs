//! [`Verifier`]: a tile follower that trusts nothing the server says until it is bound to a
//! signed checkpoint.
//!
//! Every hash tile it reads is verified against the checkpoint root with
//! [`verify_tile_with_hashes`] before use — the first tile included, there is no "trust the
//! first tile" shortcut — and cached once verified. Entry bundles are checked against the
//! leaf hashes of a verified level-0 tile. Inclusion and consistency proofs are computed
//! locally from verified tiles with the protocol crate's pure functions and then checked
//! with the RFC 9162 verifiers.
//!
//! Reading works like Go's `x/mod/sumdb/tlog`: the pure computation runs over a cache; when
//! it needs tiles the cache lacks, they are fetched and verified and the computation runs
//! again.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::CheckpointError;
use attestlog_proto::policy::PolicyError;
use attestlog_proto::proof::{
    ProofError, ProveError, consistency_proof, inclusion_proof, verify_consistency,
    verify_inclusion,
};
use attestlog_proto::tiles::{
    TILE_WIDTH, TileError, TileHashReader, TileId, TilePath, TileReadError, TileReader,
    decode_bundle, tile_hashes, tile_root_proof_indexes, verify_tile_with_hashes,
};
use attestlog_proto::tree::{HashReader, tree_root};
pub use attestlog_proto::trust::{Trust, TrustError, VerifiedCheckpoint};

use crate::client::{Client, ClientError};

/// Errors of the verifier.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Talking to the log failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The checkpoint is not validly signed by the trusted log key.
    #[error("checkpoint does not verify: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint does not satisfy the trusted policy.
    #[error("checkpoint does not satisfy the policy: {0}")]
    Policy(#[from] PolicyError),
    /// A tile does not verify against the checkpoint (or is malformed).
    #[error("tile {tile} does not verify against the checkpoint of size {size}: {source}")]
    Tile {
        /// The tile path.
        tile: String,
        /// The checkpoint size.
        size: u64,
        /// Why.
        #[source]
        source: TileError,
    },
    /// An entry bundle does not match the verified leaf hashes.
    #[error("entry bundle {bundle} does not match the verified tree: {message}")]
    Bundle {
        /// The bundle index.
        bundle: u64,
        /// What is wrong.
        message: String,
    },
    /// A proof request is invalid or a proof does not verify.
    #[error("proof does not verify: {0}")]
    Proof(#[from] ProofError),
    /// An index or size beyond the verified checkpoint.
    #[error("{what} {value} is beyond the verified tree of size {size}")]
    Beyond {
        /// What was asked for.
        what: &'static str,
        /// The value.
        value: u64,
        /// The checkpoint size.
        size: u64,
    },
    /// Tile reading made no progress (a bug or a server serving inconsistent tiles).
    #[error("reading tiles failed: {0}")]
    Read(String),
}

impl From<TrustError> for VerifyError {
    fn from(e: TrustError) -> Self {
        match e {
            TrustError::Checkpoint(e) => Self::Checkpoint(e),
            TrustError::Policy(e) => Self::Policy(e),
        }
    }
}

/// A [`TileReader`] over a cache that records the tiles it lacks.
struct CacheReader<'a> {
    primary: &'a HashMap<TileId, Vec<u8>>,
    secondary: Option<&'a HashMap<TileId, Vec<u8>>>,
    missing: RefCell<BTreeSet<TileId>>,
}

/// The cache lacks tiles (recorded in the reader).
#[derive(Debug)]
struct Missing;

impl<'a> CacheReader<'a> {
    fn new(
        primary: &'a HashMap<TileId, Vec<u8>>,
        secondary: Option<&'a HashMap<TileId, Vec<u8>>>,
    ) -> Self {
        Self {
            primary,
            secondary,
            missing: RefCell::new(BTreeSet::new()),
        }
    }
}

impl TileReader for CacheReader<'_> {
    type Error = Missing;

    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Missing> {
        let mut out = Vec::with_capacity(tiles.len());
        let mut missing = self.missing.borrow_mut();
        for t in tiles {
            match self
                .primary
                .get(t)
                .or_else(|| self.secondary.and_then(|s| s.get(t)))
            {
                Some(d) => out.push(d.clone()),
                None => {
                    missing.insert(*t);
                }
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(Missing)
        }
    }
}

type Reader<'a> = TileHashReader<'a, CacheReader<'a>>;
/// The part `[start, end)` of the leaves that one level-0 tile holds.
struct Span {
    tile: TileId,
    start: u64,
    end: u64,
}

impl Span {
    /// `(leaf index, offset in the tile)` for each leaf of the span.
    fn offsets(&self) -> impl Iterator<Item = (u64, usize)> + use<> {
        let first = self.tile.index * u64::from(TILE_WIDTH);
        (self.start..self.end).map(move |j| (j, usize::try_from(j - first).unwrap_or(usize::MAX)))
    }
}

/// The level-0 tiles of a tree of `size` that cover the leaves `[start, end)`, in order.
fn level0_spans(start: u64, end: u64, size: u64) -> Result<Vec<Span>, VerifyError> {
    let w = u64::from(TILE_WIDTH);
    let mut spans = Vec::new();
    let mut i = start;
    while i < end {
        let k = i / w;
        let tile = TileId::for_size(0, k, size).ok_or(VerifyError::Beyond {
            what: "index",
            value: i,
            size,
        })?;
        let tile_end = (k * w + u64::from(tile.width)).min(end);
        spans.push(Span {
            tile,
            start: i,
            end: tile_end,
        });
        i = tile_end;
    }
    Ok(spans)
}

type ProveResult<T> = Result<T, ProveError<TileReadError<Missing>>>;

/// Bound on fetch-and-retry rounds of one computation (each round adds tiles; a tree has at
/// most 8 tile levels, so honest servers need a handful).
const MAX_ROUNDS: usize = 64;

/// A tile follower for one log: fetches and verifies checkpoints, tiles and entry bundles.
#[derive(Debug)]
pub struct Verifier {
    client: Client,
    trust: Trust,
    /// Tiles verified against a signed root of this log.
    verified: HashMap<TileId, Vec<u8>>,
    /// Tiles fetched to supply proof hashes, not (yet) verified on their own.
    raw: HashMap<TileId, Vec<u8>>,
    fetched: u64,
}

impl Verifier {
    /// A verifier reading the log through `client` and trusting `trust`.
    #[must_use]
    pub fn new(client: Client, trust: Trust) -> Self {
        Self {
            client,
            trust,
            verified: HashMap::new(),
            raw: HashMap::new(),
            fetched: 0,
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The trust anchor.
    #[must_use]
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Number of tiles and bundles fetched so far (for tests and progress).
    #[must_use]
    pub fn fetched(&self) -> u64 {
        self.fetched
    }

    /// Fetches `/checkpoint` and verifies it.
    ///
    /// # Errors
    /// [`VerifyError::Client`], [`VerifyError::Checkpoint`] or [`VerifyError::Policy`].
    pub async fn checkpoint(&self) -> Result<VerifiedCheckpoint, VerifyError> {
        let note = self.client.checkpoint().await?;
        Ok(self.trust.open_checkpoint(&note)?)
    }

    /// Fetches tile data as of `tile.width`: the partial tile, or — if the log does not serve
    /// that width (no checkpoint had it, or the full tile replaced it) — the prefix of the
    /// tile as of `cp_size`, or of the full tile.
    async fn fetch_tile(&mut self, tile: TileId, cp_size: u64) -> Result<Vec<u8>, VerifyError> {
        self.fetched += 1;
        let mut candidates = vec![tile];
        if let Some(t) = TileId::for_size(tile.level, tile.index, cp_size)
            && t.width > tile.width
        {
            candidates.push(t);
        }
        if !tile.is_full() {
            candidates.push(TileId {
                width: TILE_WIDTH,
                ..tile
            });
        }
        let mut last = None;
        for c in candidates {
            match self.client.tile(&TilePath::Hashes(c)).await {
                Ok(mut d) => {
                    if d.len() > tile.data_len() {
                        d.truncate(tile.data_len());
                    }
                    return Ok(d);
                }
                Err(e) if e.status() == Some(404) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .map(VerifyError::from)
            .unwrap_or_else(|| VerifyError::Read("no tile".into())))
    }

    /// Makes sure `tile` is verified against `cp` (fetching it and the tiles holding its
    /// proof hashes as needed).
    async fn ensure_verified(
        &mut self,
        cp: &VerifiedCheckpoint,
        tile: TileId,
    ) -> Result<(), VerifyError> {
        if self.verified.contains_key(&tile) {
            return Ok(());
        }
        let size = cp.size();
        let tile_err = |source| VerifyError::Tile {
            tile: TilePath::Hashes(tile).full_path(),
            size,
            source,
        };
        let indexes = tile_root_proof_indexes(&tile, size).map_err(tile_err)?;
        if !self.raw.contains_key(&tile) {
            let d = self.fetch_tile(tile, size).await?;
            self.raw.insert(tile, d);
        }
        for _ in 0..MAX_ROUNDS {
            let (result, missing) = {
                let reader = CacheReader::new(&self.verified, Some(&self.raw));
                let hr = TileHashReader::new(size, &reader);
                let r = hr.read_hashes(&indexes);
                (r.map_err(|e| e.to_string()), reader.missing.into_inner())
            };
            match result {
                Ok(hashes) => {
                    let data = self.raw.remove(&tile).unwrap_or_default();
                    verify_tile_with_hashes(&tile, &data, size, &cp.root(), &hashes)
                        .map_err(tile_err)?;
                    self.verified.insert(tile, data);
                    return Ok(());
                }
                Err(e) if missing.is_empty() => return Err(VerifyError::Read(e)),
                Err(_) => {
                    for t in missing {
                        let d = self.fetch_tile(t, size).await?;
                        self.raw.insert(t, d);
                    }
                }
            }
        }
        Err(VerifyError::Read("too many tile fetch rounds".into()))
    }

    /// Runs a pure computation over verified tiles of `cp`'s tree, fetching and verifying
    /// the tiles it needs.
    async fn with_tiles<T>(
        &mut self,
        cp: &VerifiedCheckpoint,
        size: u64,
        f: impl Fn(&Reader<'_>) -> ProveResult<T>,
    ) -> Result<T, VerifyError> {
        for _ in 0..MAX_ROUNDS {
            let (result, missing) = {
                let reader = CacheReader::new(&self.verified, None);
                let hr = TileHashReader::new(size, &reader);
                let r = f(&hr);
                (r, reader.missing.into_inner())
            };
            match result {
                Ok(v) => return Ok(v),
                Err(ProveError::Proof(e)) => return Err(e.into()),
                Err(e) if missing.is_empty() => return Err(VerifyError::Read(e.to_string())),
                Err(_) => {
                    for t in missing {
                        self.ensure_verified(cp, t).await?;
                    }
                }
            }
        }
        Err(VerifyError::Read("too many tile fetch rounds".into()))
    }

    fn check_size(
        what: &'static str,
        value: u64,
        cp: &VerifiedCheckpoint,
    ) -> Result<(), VerifyError> {
        if value > cp.size() {
            return Err(VerifyError::Beyond {
                what,
                value,
                size: cp.size(),
            });
        }
        Ok(())
    }

    /// The verified leaf hashes of `[start, end)` in `cp`'s tree.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn leaf_hashes(
        &mut self,
        cp: &VerifiedCheckpoint,
        start: u64,
        end: u64,
    ) -> Result<Vec<Hash>, VerifyError> {
        Self::check_size("end", end, cp)?;
        let mut out = Vec::new();
        for span in level0_spans(start, end, cp.size())? {
            self.ensure_verified(cp, span.tile).await?;
            let data = self
                .verified
                .get(&span.tile)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let hashes = tile_hashes(&span.tile, data).map_err(|source| VerifyError::Tile {
                tile: TilePath::Hashes(span.tile).full_path(),
                size: cp.size(),
                source,
            })?;
            out.extend(
                span.offsets()
                    .filter_map(|(_, off)| hashes.get(off).copied()),
            );
        }
        Ok(out)
    }

    /// The verified leaf hash of entry `index`.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn leaf_hash(
        &mut self,
        cp: &VerifiedCheckpoint,
        index: u64,
    ) -> Result<Hash, VerifyError> {
        if index >= cp.size() {
            return Err(VerifyError::Beyond {
                what: "index",
                value: index,
                size: cp.size(),
            });
        }
        let v = self.leaf_hashes(cp, index, index + 1).await?;
        v.into_iter()
            .next()
            .ok_or(VerifyError::Read("no leaf hash".into()))
    }

    /// The entries `[start, end)` of `cp`'s tree, read from entry bundles whose leaf hashes
    /// match verified tiles. Calls `progress(done)` after each bundle.
    ///
    /// # Errors
    /// [`VerifyError::Bundle`] for a bundle that does not match, or other [`VerifyError`]s.
    pub async fn entries(
        &mut self,
        cp: &VerifiedCheckpoint,
        start: u64,
        end: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<(u64, Vec<u8>)>, VerifyError> {
        Self::check_size("end", end, cp)?;
        let mut out = Vec::new();
        for span in level0_spans(start, end, cp.size())? {
            let (k, width) = (span.tile.index, span.tile.width);
            let first = k * u64::from(TILE_WIDTH);
            let leaves = self
                .leaf_hashes(cp, first, first + u64::from(width))
                .await?;
            let data = self.fetch_bundle(k, width).await?;
            let bundle_err = |message: String| VerifyError::Bundle { bundle: k, message };
            let entries = decode_bundle(&data).map_err(|e| bundle_err(e.to_string()))?;
            if entries.len() < usize::from(width) {
                return Err(bundle_err(format!(
                    "{} entries, expected {width}",
                    entries.len()
                )));
            }
            for (j, off) in span.offsets() {
                let (Some(e), Some(h)) = (entries.get(off), leaves.get(off)) else {
                    return Err(bundle_err(format!("entry {j} missing")));
                };
                if !Hash::leaf(e).ct_eq(h) {
                    return Err(bundle_err(format!(
                        "entry {j} does not match its leaf hash"
                    )));
                }
                out.push((j, e.to_vec()));
            }
            progress(span.end - start);
        }
        Ok(out)
    }

    async fn fetch_bundle(&mut self, index: u64, width: u16) -> Result<Vec<u8>, VerifyError> {
        self.fetched += 1;
        match self.client.tile(&TilePath::Entries { index, width }).await {
            Ok(d) => Ok(d),
            Err(e) if e.status() == Some(404) && width < TILE_WIDTH => {
                // The full bundle replaced the partial one: take its first `width` entries.
                let full = self
                    .client
                    .tile(&TilePath::Entries {
                        index,
                        width: TILE_WIDTH,
                    })
                    .await?;
                let mut off = 0usize;
                for _ in 0..width {
                    let len = full
                        .get(off..off + 2)
                        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                    off = (off + 2 + len).min(full.len());
                }
                Ok(full.get(..off).map(<[u8]>::to_vec).unwrap_or_default())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Computes the inclusion proof of leaf `index` in `cp`'s tree from verified tiles and
    /// verifies it against the checkpoint root. Returns the leaf hash and the proof.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn prove_inclusion(
        &mut self,
        cp: &VerifiedCheckpoint,
        index: u64,
    ) -> Result<(Hash, Vec<Hash>), VerifyError> {
        let leaf = self.leaf_hash(cp, index).await?;
        let size = cp.size();
        let proof = self
            .with_tiles(cp, size, |r| inclusion_proof(index, size, r))
            .await?;
        verify_inclusion(&leaf, index, size, &proof, &cp.root())?;
        Ok((leaf, proof))
    }

    /// The root of the tree of `size ≤ cp.size()` leaves, computed from verified tiles.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn root_at(
        &mut self,
        cp: &VerifiedCheckpoint,
        size: u64,
    ) -> Result<Hash, VerifyError> {
        Self::check_size("tree size", size, cp)?;
        if size == cp.size() {
            return Ok(cp.root());
        }
        self.with_tiles(cp, cp.size(), |r| {
            tree_root(size, r).map_err(ProveError::Read)
        })
        .await
    }

    /// The consistency proof from `first` to `cp.size()`, computed from tiles verified
    /// against `cp` (not checked against a root of size `first`: callers compare it with a
    /// root they trust, e.g. a stored checkpoint's).
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn consistency_hashes(
        &mut self,
        cp: &VerifiedCheckpoint,
        first: u64,
    ) -> Result<Vec<Hash>, VerifyError> {
        let size = cp.size();
        if first > size {
            return Err(ProofError::FirstAfterSecond {
                first,
                second: size,
            }
            .into());
        }
        self.with_tiles(cp, size, |r| consistency_proof(first, size, r))
            .await
    }

    /// Computes the consistency proof from `first` to `second` (both ≤ `cp.size()`) from
    /// verified tiles of `cp`'s tree and verifies it between the two roots. Returns
    /// `(first_root, second_root, proof)`.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn prove_consistency(
        &mut self,
        cp: &VerifiedCheckpoint,
        first: u64,
        second: u64,
    ) -> Result<(Hash, Hash, Vec<Hash>), VerifyError> {
        Self::check_size("second", second, cp)?;
        if first > second {
            return Err(ProofError::FirstAfterSecond { first, second }.into());
        }
        let first_root = self.root_at(cp, first).await?;
        let second_root = self.root_at(cp, second).await?;
        let proof = self
            .with_tiles(cp, second, |r| consistency_proof(first, second, r))
            .await?;
        verify_consistency(first, second, &proof, &first_root, &second_root)?;
        Ok((first_root, second_root, proof))
    }
}
