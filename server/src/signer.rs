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
/// Latest published checkpoint.
pub const PUBLISHED_FILE: &str = "published-checkpoint";

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

/// Reads `<data-dir>/published-checkpoint`, if present.
///
/// # Errors
/// I/O errors other than "not found".
pub fn read_published(data_dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(data_dir.join(PUBLISHED_FILE)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `<data-dir>/published-checkpoint` atomically.
///
/// # Errors
/// I/O errors.
pub fn write_published(data_dir: &Path, note: &[u8]) -> std::io::Result<()> {
    write_atomic(&data_dir.join(PUBLISHED_FILE), note, 0o644)
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
    match std::fs::read(data_dir.join(HALTED_FILE)) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).trim_end().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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
        let d =
            std::env::temp_dir().join(format!("attestlog-signer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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
