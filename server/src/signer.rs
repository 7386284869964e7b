//! The log's identity on disk: signer key, origin, admin token and the published-checkpoint
//! file that guards against rollbacks.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
pub use attestlog_serve::fs::write_atomic;
use sha2::{Digest as _, Sha256};

/// File names inside the data directory.
pub const KEY_FILE: &str = "log.key";
/// Stored origin.
pub const ORIGIN_FILE: &str = "origin";
/// Generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

fn random_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("os rng: {e}"))?;
    Ok(seed)
}

/// The SCITT receipt key file in the data directory (generated on first start).
pub const SCITT_KEY_FILE: &str = "scitt.key";

/// Loads the SCITT receipt key (an Ed25519 key of its own, not the checkpoint key), generating
/// `<data-dir>/scitt.key` (mode 0600) on first start when no file is configured. The file holds
/// a signer-key string; its name plays no part in COSE (`kid` is the RFC 9679 thumbprint).
///
/// # Errors
/// Unreadable or malformed key file, or a configured file that does not exist.
pub fn load_scitt_key(data_dir: &Path, key_file: Option<&Path>) -> anyhow::Result<SignerKey> {
    let path: PathBuf = key_file.map_or_else(|| data_dir.join(SCITT_KEY_FILE), Path::to_path_buf);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read SCITT key {}", path.display()))?;
        return SignerKey::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("invalid SCITT key {}: {e}", path.display()));
    }
    if key_file.is_some() {
        bail!("SCITT key file {} does not exist", path.display());
    }
    let k = SignerKey::from_seed("scitt", TYPE_ED25519, &random_seed()?)?;
    write_atomic(
        &path,
        format!("{}\n", k.to_secret_string()).as_bytes(),
        0o600,
    )?;
    Ok(k)
}

/// The public keys of retired SCITT receipt keys: each file holds a verifier-key string or a
/// signer-key string (only its public half is used).
///
/// # Errors
/// An unreadable or malformed file.
pub fn retired_scitt_keys(files: &[PathBuf]) -> anyhow::Result<Vec<ed25519_dalek::VerifyingKey>> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read retired SCITT key {}", f.display()))?;
            let text = text.trim();
            if let Ok(k) = attestlog_proto::keys::VerifierKey::parse(text) {
                return Ok(*k.public_key());
            }
            SignerKey::parse(text)
                .map(|k| k.public_key())
                .map_err(|e| anyhow::anyhow!("invalid retired SCITT key {}: {e}", f.display()))
        })
        .collect()
}

/// The default origin for a public key: `attestlog.localhost/<16 hex of SHA-256(key)>`.
#[must_use]
pub fn default_origin(public_key: &[u8; 32]) -> String {
    let d = Sha256::digest(public_key);
    format!("attestlog.localhost/{}", &hex::encode(d)[..16])
}

/// What [`load_identity`] found or created.
#[derive(Debug)]
pub struct Identity {
    /// The log signer, named by the origin.
    pub signer: SignerKey,
    /// Whether the key was generated now.
    pub generated: bool,
}

/// Loads the log key (generating it on first start when no key file is configured) and
/// settles the origin: a configured origin must equal the stored one.
///
/// # Errors
/// Unreadable or malformed key, or an origin mismatch.
pub fn load_identity(
    data_dir: &Path,
    key_file: Option<&Path>,
    origin: Option<&str>,
) -> anyhow::Result<Identity> {
    let default_key = data_dir.join(KEY_FILE);
    let path: PathBuf = key_file.map_or(default_key.clone(), Path::to_path_buf);
    let (mut signer, generated) = if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read log key {}", path.display()))?;
        let k = SignerKey::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("invalid log key {}: {e}", path.display()))?;
        (k, false)
    } else if key_file.is_some() {
        bail!("log key file {} does not exist", path.display());
    } else {
        let seed = random_seed()?;
        let tmp = SignerKey::from_seed("attestlog", TYPE_ED25519, &seed)?;
        let name = origin.map_or_else(
            || default_origin(tmp.public_key().as_bytes()),
            str::to_owned,
        );
        let k = SignerKey::from_seed(&name, TYPE_ED25519, &seed)?;
        write_atomic(
            &path,
            format!("{}\n", k.to_secret_string()).as_bytes(),
            0o600,
        )?;
        (k, true)
    };
    let origin_path = data_dir.join(ORIGIN_FILE);
    let stored = std::fs::read_to_string(&origin_path)
        .ok()
        .map(|s| s.trim().to_owned());
    let chosen = match (stored, origin) {
        (Some(s), Some(o)) if s != o => {
            bail!("configured origin {o:?} differs from the stored origin {s:?}; refusing to start")
        }
        (Some(s), _) => s,
        (None, Some(o)) => o.to_owned(),
        (None, None) => {
            if generated {
                signer.name().to_owned()
            } else {
                default_origin(signer.public_key().as_bytes())
            }
        }
    };
    if !origin_path.exists() {
        write_atomic(&origin_path, format!("{chosen}\n").as_bytes(), 0o644)?;
    }
    if signer.name() != chosen {
        signer = signer.renamed(&chosen)?;
    }
    Ok(Identity { signer, generated })
}

/// The checkpoint signers during a key rotation: `current` first, then each previous key
/// file's key, renamed to the origin (key name = origin) and distinct from the others.
///
/// # Errors
/// An unreadable or malformed key file, or a key listed twice.
pub fn rotation_signers(
    current: &SignerKey,
    previous_key_files: &[PathBuf],
) -> anyhow::Result<Vec<SignerKey>> {
    let mut out = vec![current.clone()];
    for path in previous_key_files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read previous log key {}", path.display()))?;
        let k = SignerKey::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("invalid previous log key {}: {e}", path.display()))?
            .renamed(current.name())?;
        if k.verifier().key_type() != TYPE_ED25519 {
            bail!("previous log key {} is not an Ed25519 key", path.display());
        }
        if out.iter().any(|o| o.public_key() == k.public_key()) {
            bail!("previous log key {} is already a signer", path.display());
        }
        out.push(k);
    }
    Ok(out)
}

/// Returns the admin token: from the environment, or read from / generated into
/// `<data-dir>/admin-token` (mode 0600). The second value is the file path when a file is used.
///
/// # Errors
/// I/O errors.
pub fn admin_token(
    data_dir: &Path,
    from_env: Option<&str>,
) -> anyhow::Result<(String, Option<PathBuf>)> {
    if let Some(t) = from_env.filter(|t| !t.is_empty()) {
        return Ok((t.to_owned(), None));
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => return Ok((t.trim().to_owned(), Some(path))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read admin token file {}: {e}", path.display()),
    }
    let token = hex::encode(random_seed()?);
    write_atomic(&path, format!("{token}\n").as_bytes(), 0o600)?;
    Ok((token, Some(path)))
}

// The rollback guard on disk (DESIGN.md §9): the latest published checkpoint, written before
// any reader sees it, once per batch. It lives in two slot files written in place in turn, one
// `fdatasync` each (a temporary file, `fsync`, rename and directory `fsync` per batch cost the
// sequencer milliseconds; BENCHMARKS.md). The writer overwrites the slot that does not hold the
// newest checkpoint, so a write torn by a crash leaves the other slot whole, and the reader
// takes the larger valid one.
//
// A slot holds one record: a header line `attestlog-published-checkpoint/v1 <seq> <len>
// <sha256>` and then the `<len>` bytes of the signed checkpoint note, where `<sha256>` is the
// lowercase hex SHA-256 of the header line up to `<len>` (with its `\n`) followed by the note,
// and `<seq>` counts the writes (the larger one wins between two records of one size, e.g. the
// same checkpoint with more cosignatures). The record delimits itself and carries its checksum,
// rather than relying on the file's length (truncating after each write): a shorter record
// written over a longer one leaves the old tail behind, which the length ignores; a crash can
// leave any mix of old and new sectors (and, with truncation, an old tail or a cut note whose
// signature lines still parse), which the checksum refuses; and a file that only ever grows
// needs no size change, so `fdatasync` has no metadata to commit but the data. A record whose
// checksum holds was written whole, so one that then does not verify under the log's keys was
// written by something else (another log's key or origin): that refuses to start, as does
// a slot present and not whole without the other slot valid — never read as "no file".
//
// Logs created before the slots have the single file `published-checkpoint` (written
// atomically); it is read beside the slots (the largest valid record wins) and removed by the
// first slot write at least as large, after that write is durable (the new slot is created by
// an atomic write that syncs the directory first), so a crash between the two leaves both,
// which reads the same.

/// The single published-checkpoint file of logs created before the two slots
/// ([`PUBLISHED_SLOTS`]): still read, and removed once a slot holds a checkpoint at least as
/// large.
pub const PUBLISHED_FILE: &str = "published-checkpoint";

/// The two slot files of the rollback guard in the data directory, written in turn.
pub const PUBLISHED_SLOTS: [&str; 2] = ["published-checkpoint.a", "published-checkpoint.b"];

/// The first field of a slot's header line: the record format and its version.
const SLOT_MAGIC: &str = "attestlog-published-checkpoint/v1";

/// Longest header line a reader looks for (the magic, two u64 and 64 hex digits fit).
const SLOT_HEADER_MAX: usize = 160;

/// Serialises this process' reads and writes of the guard files (the sequencer and a replica's
/// refresh publish from different threads, a take-over reads while another thread may write).
static GUARD_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Why the published-checkpoint files cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PublishedFileError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// the file
        path: String,
        /// the error
        source: std::io::Error,
    },
    /// A whole record (or the old single file) that does not verify under the log's keys.
    #[error("{path} holds a checkpoint that is not this log's (another log key or origin?): {why}")]
    Foreign {
        /// the file
        path: String,
        /// why it does not verify
        why: String,
    },
    /// No slot holds a whole checkpoint although one is present.
    #[error("no whole checkpoint in the published-checkpoint slots: {0}")]
    Damaged(String),
    /// Two records of one size with different roots.
    #[error("{first} and {second} hold two different checkpoints of size {size}")]
    TwoHistories {
        /// one file
        first: String,
        /// the other
        second: String,
        /// the size both sign
        size: u64,
    },
}

/// The files of the rollback guard in `data_dir`: the two slots ([`PUBLISHED_SLOTS`]), then
/// the old single file ([`PUBLISHED_FILE`]).
#[must_use]
pub fn published_paths(data_dir: &Path) -> [PathBuf; 3] {
    [
        data_dir.join(PUBLISHED_SLOTS[0]),
        data_dir.join(PUBLISHED_SLOTS[1]),
        data_dir.join(PUBLISHED_FILE),
    ]
}

/// Whether any file of the rollback guard exists in `data_dir` (whole or not: reading it is
/// [`read_published`]'s business).
///
/// # Errors
/// I/O errors other than "not found".
pub fn published_present(data_dir: &Path) -> std::io::Result<bool> {
    for p in published_paths(data_dir) {
        if p.try_exists()? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One slot's record: header line, then the note.
fn encode_slot(seq: u64, note: &[u8]) -> Vec<u8> {
    let head = format!("{SLOT_MAGIC} {seq} {}", note.len());
    let sum = slot_checksum(&head, note);
    let mut out = format!("{head} {sum}\n").into_bytes();
    out.extend_from_slice(note);
    out
}

fn slot_checksum(head: &str, note: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(head.as_bytes());
    h.update(b"\n");
    h.update(note);
    hex::encode(h.finalize())
}

/// A whole record: its write count and the note.
struct Slot<'a> {
    seq: u64,
    note: &'a [u8],
}

/// Parses a slot's record; `Err` says why it is not whole (torn, truncated, garbage).
fn decode_slot(bytes: &[u8]) -> Result<Slot<'_>, String> {
    if bytes.is_empty() {
        return Err("empty".into());
    }
    let nl = bytes
        .iter()
        .take(SLOT_HEADER_MAX)
        .position(|&b| b == b'\n')
        .ok_or("no record header")?;
    let line = std::str::from_utf8(&bytes[..nl]).map_err(|_| "no record header")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let [magic, seq, len, sum] = fields[..] else {
        return Err("no record header".into());
    };
    if magic != SLOT_MAGIC {
        return Err("no record header".into());
    }
    let number = |s: &str| s.parse::<u64>().ok().filter(|n| n.to_string() == s);
    let (Some(seq_n), Some(len_n)) = (number(seq), number(len)) else {
        return Err("malformed record header".into());
    };
    let body = &bytes[nl + 1..];
    let len_n = usize::try_from(len_n).map_err(|_| "malformed record header")?;
    let Some(note) = body.get(..len_n) else {
        return Err(format!("truncated ({} of {len_n} note bytes)", body.len()));
    };
    if slot_checksum(&format!("{magic} {seq} {len}"), note) != sum {
        return Err("checksum mismatch (a torn or damaged write)".into());
    }
    Ok(Slot { seq: seq_n, note })
}

/// The size a checkpoint note signs, without checking its signatures (the writer orders the
/// slots; the reader verifies).
fn note_size(note: &[u8]) -> Option<u64> {
    let n = attestlog_proto::note::Note::parse(note).ok()?;
    attestlog_proto::checkpoint::Checkpoint::parse(n.text())
        .ok()
        .map(|c| c.size)
}

/// A file's bytes, None when it does not exist.
fn read_opt(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, PublishedFileError> {
    read_opt(path).map_err(|source| PublishedFileError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A verified record of the guard files.
struct Record {
    size: u64,
    seq: u64,
    root: attestlog_proto::Hash,
    note: Vec<u8>,
    path: PathBuf,
}

/// Reads the rollback guard of `data_dir`: the newest checkpoint this server published, the
/// largest valid record of the two slots and (a log created before them) the old single file,
/// verified under `keys`. None when no file is there.
///
/// A slot that is not whole (a torn write) is passed over when the other slot holds a valid
/// record; otherwise, and for a whole record or old file that does not verify under `keys`, or
/// two different checkpoints of one size, the files are refused (never read as "no file").
///
/// # Errors
/// [`PublishedFileError`].
pub fn read_published(
    data_dir: &Path,
    keys: &[attestlog_proto::keys::VerifierKey],
) -> Result<Option<crate::publication::Published>, PublishedFileError> {
    let _g = GUARD_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // `fsck` reads while the server writes: reading both slots during two writes can meet each
    // mid-write; read again before calling them damaged (a crash's damage stays).
    let mut attempt = 0;
    loop {
        match read_once(data_dir, keys) {
            Err(PublishedFileError::Damaged(_)) if attempt < 2 => attempt += 1,
            r => return r,
        }
    }
}

fn read_once(
    data_dir: &Path,
    keys: &[attestlog_proto::keys::VerifierKey],
) -> Result<Option<crate::publication::Published>, PublishedFileError> {
    let [a, b, legacy] = published_paths(data_dir);
    let mut records: Vec<Record> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let verify = |path: &Path, seq: u64, note: &[u8]| {
        let cp = attestlog_proto::checkpoint::SignedCheckpoint::open(note, keys).map_err(|e| {
            PublishedFileError::Foreign {
                path: path.display().to_string(),
                why: e.to_string(),
            }
        })?;
        Ok::<_, PublishedFileError>(Record {
            size: cp.checkpoint().size,
            seq,
            root: cp.checkpoint().root,
            note: note.to_vec(),
            path: path.to_owned(),
        })
    };
    let mut present = 0;
    for path in [&a, &b] {
        match read_if_present(path)? {
            None => problems.push(format!("{} is missing", path.display())),
            Some(bytes) => {
                present += 1;
                match decode_slot(&bytes) {
                    Ok(slot) => records.push(verify(path, slot.seq, slot.note)?),
                    Err(why) => problems.push(format!("{} is not whole: {why}", path.display())),
                }
            }
        }
    }
    // A slot is created whole (an atomic write) and rewritten in place only while the other
    // holds a whole record: a slot present without a valid one beside it is damage.
    if present > 0 && records.is_empty() {
        return Err(PublishedFileError::Damaged(problems.join("; ")));
    }
    if let Some(bytes) = read_if_present(&legacy)? {
        records.push(verify(&legacy, 0, &bytes)?);
    }
    for (i, r) in records.iter().enumerate() {
        if let Some(o) = records[i + 1..]
            .iter()
            .find(|o| o.size == r.size && !o.root.ct_eq(&r.root))
        {
            return Err(PublishedFileError::TwoHistories {
                first: r.path.display().to_string(),
                second: o.path.display().to_string(),
                size: r.size,
            });
        }
    }
    Ok(records
        .into_iter()
        .max_by_key(|r| (r.size, r.seq))
        .map(|r| crate::publication::Published {
            size: r.size,
            root: r.root,
            note: r.note,
        }))
}

/// Writes the signed checkpoint `note` to the rollback guard of `data_dir`, durably: into the
/// slot that does not hold the newest record (a slot's first write creates it atomically and
/// syncs the directory; later ones rewrite it in place with one `fdatasync`). Then removes a
/// log's old single file once the slot holds a checkpoint at least as large.
///
/// # Errors
/// I/O errors; `note` is not a checkpoint.
pub fn write_published(data_dir: &Path, note: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let _g = GUARD_FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let size = note_size(note).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the published checkpoint to write is not a checkpoint note",
        )
    })?;
    let [a, b, legacy] = published_paths(data_dir);
    let slots = [read_opt(&a)?, read_opt(&b)?];
    let decoded: Vec<Option<Slot<'_>>> = slots
        .iter()
        .map(|s| s.as_deref().and_then(|b| decode_slot(b).ok()))
        .collect();
    let seq = decoded.iter().flatten().map(|s| s.seq).max().unwrap_or(0) + 1;
    // The newest record by the reader's order (size, then write count): never overwritten.
    let order: Vec<Option<(u64, u64)>> = decoded
        .iter()
        .map(|d| d.as_ref().and_then(|s| Some((note_size(s.note)?, s.seq))))
        .collect();
    let target = match (order[0], order[1]) {
        (Some(x), Some(y)) if x < y => 0,
        (Some(_), _) => 1,
        (None, _) => 0,
    };
    let path = [&a, &b][target];
    let record = encode_slot(seq, note);
    if slots[target].is_some() {
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(&record)?;
        f.sync_data()?;
    } else {
        write_atomic(path, &record, 0o644)?;
    }
    if let Some(old) = read_opt(&legacy)?
        && note_size(&old).is_some_and(|s| s <= size)
    {
        std::fs::remove_file(&legacy)?;
        std::fs::File::open(data_dir)?.sync_all()?;
    }
    Ok(())
}

/// The file in the data directory that records a conflict with a published checkpoint
/// (DESIGN.md §9): while it exists the server starts halted (serving what it published,
/// sequencing and signing nothing), until an operator clears it
/// (`attestlog-server clear-halt`).
pub const HALTED_FILE: &str = "halted";

/// Reads `<data-dir>/halted`: why sequencing was halted by a conflict, if it was.
///
/// # Errors
/// I/O errors other than "not found".
pub fn read_halted(data_dir: &Path) -> std::io::Result<Option<String>> {
    Ok(read_opt(&data_dir.join(HALTED_FILE))?
        .map(|b| String::from_utf8_lossy(&b).trim_end().to_owned()))
}

/// Records in `<data-dir>/halted` why sequencing halted, atomically.
///
/// # Errors
/// I/O errors.
pub fn write_halted(data_dir: &Path, why: &str) -> std::io::Result<()> {
    write_atomic(
        &data_dir.join(HALTED_FILE),
        format!("{why}\n").as_bytes(),
        0o644,
    )
}

/// Removes `<data-dir>/halted` (the operator's `attestlog-server clear-halt`); returns the
/// conflict it recorded, None when there was none.
///
/// # Errors
/// I/O errors.
pub fn clear_halted(data_dir: &Path) -> std::io::Result<Option<String>> {
    let why = read_halted(data_dir)?;
    if why.is_some() {
        std::fs::remove_file(data_dir.join(HALTED_FILE))?;
    }
    Ok(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        attestlog_serve::fs::scratch_dir("attestlog-server-unit", &format!("signer-{name}"))
            .unwrap()
    }

    #[test]
    fn concurrent_atomic_writes_of_one_file_all_succeed() {
        let d = tmpdir("atomic");
        let path = d.join("f");
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_atomic(&path, &[t; 64], 0o644).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let data = std::fs::read(&path).unwrap();
        assert!(data.len() == 64 && data.iter().all(|&b| b == data[0]));
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    const ORIGIN: &str = "guard.test/log";

    fn log_signer(seed: u8, origin: &str) -> SignerKey {
        SignerKey::from_seed(origin, TYPE_ED25519, &[seed; 32]).unwrap()
    }

    /// A checkpoint of `size` signed by the key of `seed` (its root derived from `root_of`).
    fn cp(seed: u8, origin: &str, size: u64, root_of: &[u8]) -> Vec<u8> {
        let root = attestlog_proto::Hash::leaf(root_of);
        crate::rules::sign_checkpoint(&[log_signer(seed, origin)], origin, size, &root).unwrap()
    }

    fn note(size: u64) -> Vec<u8> {
        cp(1, ORIGIN, size, &size.to_be_bytes())
    }

    fn keys() -> Vec<attestlog_proto::keys::VerifierKey> {
        vec![log_signer(1, ORIGIN).verifier()]
    }

    fn read(d: &Path) -> Result<Option<crate::publication::Published>, PublishedFileError> {
        read_published(d, &keys())
    }

    fn read_size(d: &Path) -> u64 {
        read(d).unwrap().unwrap().size
    }

    fn slot(d: &Path, i: usize) -> PathBuf {
        d.join(PUBLISHED_SLOTS[i])
    }

    /// Writes sizes 1..=n: slot a holds the odd ones, b the even ones.
    fn written(name: &str, n: u64) -> PathBuf {
        let d = tmpdir(name);
        for size in 1..=n {
            write_published(&d, &note(size)).unwrap();
        }
        d
    }

    #[test]
    fn writes_alternate_between_the_slots_and_the_reader_takes_the_newest() {
        let d = tmpdir("alternate");
        assert!(read(&d).unwrap().is_none());
        assert!(!published_present(&d).unwrap());
        let mut last = [Vec::new(), Vec::new()];
        for size in 1..=6u64 {
            write_published(&d, &note(size)).unwrap();
            let now = [0, 1].map(|i| std::fs::read(slot(&d, i)).unwrap_or_default());
            // Exactly the slot that did not hold the newest record changed.
            let changed: Vec<usize> = (0..2).filter(|&i| now[i] != last[i]).collect();
            let want = usize::from(size % 2 == 0);
            assert_eq!(changed, vec![want], "write of size {size}");
            last = now;
            let p = read(&d).unwrap().unwrap();
            assert_eq!((p.size, p.note), (size, note(size)));
        }
        assert!(published_present(&d).unwrap());
        // Only the two slots, no temporary file left.
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, PUBLISHED_SLOTS);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_slot_leaves_the_other_one_read() {
        // Sizes 1..=4: a holds 3, b holds 4; the next write goes into a.
        for (name, tear) in [
            ("truncated", 0usize),
            ("garbage", 1),
            ("flipped", 2),
            ("mixed", 3),
            ("empty", 4),
        ] {
            let d = written(&format!("torn-{name}"), 4);
            let old = std::fs::read(slot(&d, 0)).unwrap();
            let new = encode_slot(5, &note(5));
            let torn: Vec<u8> = match tear {
                // The crash cut the write of size 5 short.
                0 => new[..new.len() - 20].to_vec(),
                1 => vec![0x5a; new.len()],
                // A byte of the signature flipped on disk.
                2 => {
                    let mut t = new.clone();
                    let at = t.len() - 10;
                    t[at] ^= 0x01;
                    t
                }
                // The first sectors of the new record over the old one.
                3 => {
                    let mut t = new[..60].to_vec();
                    t.extend_from_slice(&old[60.min(old.len())..]);
                    t
                }
                _ => Vec::new(),
            };
            std::fs::write(slot(&d, 0), &torn).unwrap();
            assert_eq!(read_size(&d), 4, "{name}");
            // The next write goes into the torn slot, never the whole one.
            write_published(&d, &note(5)).unwrap();
            assert_eq!(
                std::fs::read(slot(&d, 1)).unwrap(),
                encode_slot(4, &note(4))
            );
            assert_eq!(read_size(&d), 5, "{name}");
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn both_slots_damaged_or_one_alone_damaged_is_refused_naming_the_files() {
        let d = written("both", 2);
        std::fs::write(slot(&d, 0), b"garbage").unwrap();
        let b = std::fs::read(slot(&d, 1)).unwrap();
        std::fs::write(slot(&d, 1), &b[..b.len() / 2]).unwrap();
        let e = read(&d).unwrap_err().to_string();
        assert!(
            e.contains("published-checkpoint.a is not whole: no record header")
                && e.contains("published-checkpoint.b is not whole: truncated"),
            "{e}"
        );
        assert!(published_present(&d).unwrap());
        // One damaged slot without the other is refused as well, even beside an old file.
        std::fs::remove_file(slot(&d, 1)).unwrap();
        std::fs::write(d.join(PUBLISHED_FILE), note(1)).unwrap();
        let e = read(&d).unwrap_err().to_string();
        assert!(
            e.contains("published-checkpoint.a is not whole") && e.contains(".b is missing"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_whole_slot_of_another_log_key_or_origin_is_refused() {
        for (name, other) in [
            ("key", cp(2, ORIGIN, 9, b"x")),
            ("origin", cp(1, "other.test/log", 9, b"x")),
        ] {
            let d = written(&format!("foreign-{name}"), 2);
            std::fs::write(slot(&d, 0), encode_slot(3, &other)).unwrap();
            let e = read(&d).unwrap_err();
            assert!(
                matches!(&e, PublishedFileError::Foreign { path, .. }
                    if path.ends_with(PUBLISHED_SLOTS[0])),
                "{name}: {e}"
            );
            // A whole record whose signature bytes were changed (its checksum recomputed) is
            // not a torn write either.
            let mut forged = note(3);
            let at = forged.len() - 10;
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            std::fs::write(slot(&d, 0), encode_slot(3, &forged)).unwrap();
            assert!(matches!(read(&d), Err(PublishedFileError::Foreign { .. })));
            std::fs::remove_dir_all(&d).unwrap();
        }
    }

    #[test]
    fn a_shorter_record_over_a_longer_one_leaves_no_valid_looking_tail() {
        let d = tmpdir("shorter");
        let long = crate::rules::sign_checkpoint(
            &[log_signer(1, ORIGIN), log_signer(3, ORIGIN)],
            ORIGIN,
            1,
            &attestlog_proto::Hash::leaf(&1u64.to_be_bytes()),
        )
        .unwrap();
        let keys = [
            log_signer(1, ORIGIN).verifier(),
            log_signer(3, ORIGIN).verifier(),
        ];
        write_published(&d, &long).unwrap();
        write_published(&d, &long).unwrap();
        let before = std::fs::metadata(slot(&d, 0)).unwrap().len();
        // Larger checkpoints with one signature: shorter records over the longer ones.
        write_published(&d, &note(2)).unwrap();
        write_published(&d, &note(3)).unwrap();
        for i in 0..2 {
            let bytes = std::fs::read(slot(&d, i)).unwrap();
            assert_eq!(
                bytes.len() as u64,
                before,
                "written in place, not truncated"
            );
            let whole = decode_slot(&bytes).unwrap();
            assert!(bytes.len() > whole.note.len() + 60, "an old tail is left");
        }
        let p = read_published(&d, &keys).unwrap().unwrap();
        assert_eq!((p.size, p.note), (3, note(3)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_old_single_file_is_read_beside_the_slots_and_removed_once_passed() {
        let d = tmpdir("legacy");
        let legacy = d.join(PUBLISHED_FILE);
        std::fs::write(&legacy, note(7)).unwrap();
        assert!(published_present(&d).unwrap());
        assert_eq!(read_size(&d), 7);
        // A slot write smaller than the old file (never done by the server) keeps it, and the
        // larger record is read.
        write_published(&d, &note(5)).unwrap();
        assert!(legacy.exists());
        assert_eq!(read_size(&d), 7);
        // The old file and a slot: the largest of all records.
        write_published(&d, &note(8)).unwrap();
        assert!(!legacy.exists(), "removed once a slot holds as much");
        assert_eq!(read_size(&d), 8);
        // A crash between the slot write and the removal reads the same.
        std::fs::write(&legacy, note(6)).unwrap();
        assert_eq!(read_size(&d), 8);
        // An old file that is not this log's is refused, as before.
        std::fs::write(&legacy, cp(2, ORIGIN, 6, b"x")).unwrap();
        let e = read(&d).unwrap_err();
        assert!(
            matches!(&e, PublishedFileError::Foreign { path, .. }
            if path.ends_with(PUBLISHED_FILE)),
            "{e}"
        );
        // Two different checkpoints of one size are refused.
        std::fs::write(&legacy, cp(1, ORIGIN, 8, b"another root")).unwrap();
        let e = read(&d).unwrap_err();
        assert!(
            matches!(e, PublishedFileError::TwoHistories { size: 8, .. }),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_writer_never_overwrites_the_largest_record_nor_writes_a_non_checkpoint() {
        let d = written("largest", 4);
        // A smaller checkpoint (never offered by Shared::publish) goes into the older slot and
        // then into that same slot again: size 4 stays.
        write_published(&d, &note(2)).unwrap();
        write_published(&d, &note(3)).unwrap();
        assert_eq!(read_size(&d), 4);
        assert_eq!(
            std::fs::read(slot(&d, 1)).unwrap(),
            encode_slot(4, &note(4))
        );
        assert!(write_published(&d, b"not a note").is_err());
        assert_eq!(read_size(&d), 4);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn generates_key_once_and_keeps_origin() {
        let d = tmpdir("gen");
        let a = load_identity(&d, None, None).unwrap();
        assert!(a.generated);
        assert!(a.signer.name().starts_with("attestlog.localhost/"));
        let b = load_identity(&d, None, None).unwrap();
        assert!(!b.generated);
        assert_eq!(a.signer.verifier(), b.signer.verifier());
        assert!(load_identity(&d, None, Some("other.example/log")).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let m = std::fs::metadata(d.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600);
        }
    }

    #[test]
    fn admin_token_file_is_private_and_stable() {
        let d = tmpdir("tok");
        let (t, p) = admin_token(&d, None).unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(admin_token(&d, None).unwrap().0, t);
        assert_eq!(admin_token(&d, Some("env")).unwrap(), ("env".into(), None));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let m = std::fs::metadata(p.unwrap()).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
    }
}
