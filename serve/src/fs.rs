//! Files and the clock, shared by the log server and the client (monitor, witness, CLI).

use std::io::Write as _;
use std::path::Path;

/// Writes `data` to `path` atomically with permission bits `mode` (Unix): a temp file in the
/// same directory, fsync, rename over `path`, fsync of the directory. Each call has a temp
/// file of its own, so concurrent writers never rename each other's.
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{n}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
    let _ = mode;
    Ok(())
}

/// Seconds since the Unix epoch by the wall clock (0 if the clock is before it).
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh, empty scratch directory `<temp>/<prefix>-<pid>/<name>` for tests and benchmarks.
///
/// Test runs used to leave every log they built behind in the temporary directory (hundreds
/// of megabytes per run). Each process now keeps its directories under one root of its own,
/// and the first call of a process with a prefix removes the roots `<prefix>-<pid>` of processes that are
/// no longer running (on Linux, where `/proc` tells), so at most the last run's directories
/// remain for inspection after a failure.
///
/// # Errors
/// I/O errors creating the directory.
pub fn scratch_dir(prefix: &str, name: &str) -> std::io::Result<std::path::PathBuf> {
    static SWEPT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let tmp = std::env::temp_dir();
    {
        let mut swept = SWEPT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !swept.iter().any(|p| p == prefix) {
            remove_roots_of_finished_runs(&tmp, prefix);
            swept.push(prefix.to_owned());
        }
    }
    let d = tmp
        .join(format!("{prefix}-{}", std::process::id()))
        .join(name);
    match std::fs::remove_dir_all(&d) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn remove_roots_of_finished_runs(tmp: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(dir) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("attestlog-serve-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unix_now_is_after_2020() {
        assert!(unix_now() > 1_577_836_800);
    }

    #[test]
    fn scratch_dirs_are_fresh_and_roots_of_finished_runs_are_removed() {
        let prefix = format!("attestlog-scratch-test-{}", std::process::id());
        let tmp = std::env::temp_dir();
        // A root left by a run whose process is gone (no process has pid u32::MAX - 1 here),
        // and one by this process that must stay.
        let stale = tmp.join(format!("{prefix}-{}", u32::MAX - 1));
        std::fs::create_dir_all(stale.join("log")).unwrap();
        let other = tmp.join(format!("{prefix}x-{}", u32::MAX - 1));
        std::fs::create_dir_all(&other).unwrap();
        let d = scratch_dir(&prefix, "a").unwrap();
        assert!(!stale.exists(), "the finished run's root is removed");
        assert!(other.exists(), "a root of another prefix stays");
        std::fs::write(d.join("f"), b"x").unwrap();
        let again = scratch_dir(&prefix, "a").unwrap();
        assert_eq!(d, again);
        assert!(
            !again.join("f").exists(),
            "a scratch directory starts empty"
        );
        assert!(again.starts_with(tmp.join(format!("{prefix}-{}", std::process::id()))));
        std::fs::remove_dir_all(tmp.join(format!("{prefix}-{}", std::process::id()))).unwrap();
        std::fs::remove_dir_all(other).unwrap();
    }
}
