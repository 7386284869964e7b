//! Server configuration: command-line flags, environment variables and a TOML file.
//!
//! Precedence: flag or environment variable (clap reads both) over the config file over the
//! built-in default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config file (`deploy/server.example.toml` documents every key). Its top-level settings
/// and its `[limits]` table are also the server's flags and environment variables: one table
/// for the file, the flags and the environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    #[arg(long, env = "ATTESTLOG_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Data directory (key, origin, admin token, published checkpoint, SQLite database).
    #[arg(long, env = "ATTESTLOG_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: default the SQLite file in the data directory; `postgres://user:pass@host/db`
    /// selects PostgreSQL, where several replicas (same key file) share one log.
    #[arg(
        long,
        env = "ATTESTLOG_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// Log origin (first start only; must match the stored origin afterwards).
    #[arg(long, env = "ATTESTLOG_ORIGIN", global = true)]
    pub origin: Option<String>,
    /// Log signer key file (default `<data-dir>/log.key`, generated on first start); every
    /// replica of a PostgreSQL log uses the same one.
    #[arg(long, env = "ATTESTLOG_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// Per-vendor quota, entries per second (0 = none).
    #[arg(long, env = "ATTESTLOG_QUOTA_RATE", global = true)]
    pub quota_rate: Option<f64>,
    /// Per-vendor quota burst.
    #[arg(long, env = "ATTESTLOG_QUOTA_BURST", global = true)]
    pub quota_burst: Option<f64>,
    /// tlog-policy file naming the witnesses that cosign each checkpoint and the quorum.
    #[arg(
        long,
        env = "ATTESTLOG_WITNESS_POLICY",
        global = true,
        value_name = "FILE"
    )]
    pub witness_policy: Option<PathBuf>,
    /// Sequencer settings.
    #[serde(default)]
    #[arg(skip)]
    pub sequencer: SequencerFileConfig,
    /// Witnessing settings.
    #[serde(default)]
    #[arg(skip)]
    pub witnessing: WitnessingFileConfig,
    /// Log key rotation.
    #[serde(default)]
    #[arg(skip)]
    pub key_rotation: KeyRotationFileConfig,
    /// Limits under hostile load (DESIGN.md §11).
    #[serde(default)]
    #[command(flatten)]
    pub limits: LimitsFileConfig,
    /// SCITT transparency service (DESIGN.md §12): its flags are the server's `--scitt-*`.
    #[serde(default)]
    #[command(flatten)]
    pub scitt: ScittFileConfig,
}

/// `[scitt]` table, and the server's `--scitt-*` flags and `ATTESTLOG_SCITT_*` variables of
/// the same names: one table for the file, the flags and the environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ScittFileConfig {
    /// The COSE receipt key file (an Ed25519 signer key). Replicas on PostgreSQL must all
    /// name the same file.
    #[arg(
        id = "scitt_key_file",
        long = "scitt-key-file",
        env = "ATTESTLOG_SCITT_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub key_file: Option<PathBuf>,
    /// Files of receipt keys used before (verifier or signer keys), comma-separated; their
    /// public keys stay in `/.well-known/scitt-keys` so old receipts still verify.
    #[arg(
        id = "scitt_retired_key_files",
        long = "scitt-retired-key-files",
        env = "ATTESTLOG_SCITT_RETIRED_KEY_FILES",
        global = true,
        value_delimiter = ',',
        value_name = "FILES"
    )]
    pub retired_key_files: Option<Vec<PathBuf>>,
    /// How long `POST /entries` waits for publication before answering 303, in ms (0: it
    /// answers 303 at once).
    #[arg(
        id = "scitt_wait_ms",
        long = "scitt-wait-ms",
        env = "ATTESTLOG_SCITT_WAIT_MS",
        global = true,
        value_name = "MS"
    )]
    pub wait_ms: Option<u64>,
    /// Generate `<data-dir>/scitt.key` on PostgreSQL when no key file is named (a single
    /// replica only: replicas with keys of their own would sign receipts no one key verifies).
    /// As a flag, `--scitt-generate-key` alone means true.
    #[arg(
        id = "scitt_generate_key",
        long = "scitt-generate-key",
        env = "ATTESTLOG_SCITT_GENERATE_KEY",
        global = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub generate_key: Option<bool>,
    /// Registration policy: the in-toto predicate types accepted as signed statements,
    /// comma-separated (default: the data-flow and the verification predicate). A policy that
    /// differs from the one in force is logged when the server starts serving.
    #[arg(
        id = "scitt_predicate_types",
        long = "scitt-predicate-types",
        env = "ATTESTLOG_SCITT_PREDICATE_TYPES",
        global = true,
        value_delimiter = ',',
        value_name = "TYPES"
    )]
    pub predicate_types: Option<Vec<String>>,
    /// Registration policy: the largest logged signed statement, in bytes (default 65,535, at
    /// most 65,535).
    #[arg(
        id = "scitt_max_statement_bytes",
        long = "scitt-max-statement-bytes",
        env = "ATTESTLOG_SCITT_MAX_STATEMENT_BYTES",
        global = true,
        value_name = "BYTES"
    )]
    pub max_statement_bytes: Option<u64>,
}

/// `[limits]` table: every limit of DESIGN.md §11 (defaults in [`Config::with_data_dir`]), and
/// the server's flags and environment variables of the same names (`--max-body-bytes`,
/// `ATTESTLOG_MAX_BODY_BYTES`, ...): one table for the file, the flags and the environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct LimitsFileConfig {
    /// Time to receive a request's head, and the longest a keep-alive connection idles (ms;
    /// default 10000).
    #[arg(long, env = "ATTESTLOG_HEADER_READ_TIMEOUT_MS", global = true)]
    pub header_read_timeout_ms: Option<u64>,
    /// Time to read and answer a whole request (ms; default 30000); beyond it, 408.
    #[arg(long, env = "ATTESTLOG_REQUEST_TIMEOUT_MS", global = true)]
    pub request_timeout_ms: Option<u64>,
    /// Most requests handled at once (default 1024); beyond it, 503 with Retry-After.
    #[arg(long, env = "ATTESTLOG_MAX_IN_FLIGHT", global = true)]
    pub max_in_flight: Option<usize>,
    /// Most open connections (default 2048); beyond it, the connection idle the longest (if
    /// idle for 1 s) is closed, else new connections wait in the listen queue.
    #[arg(long, env = "ATTESTLOG_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Largest request head in bytes (default 65536); beyond it, 431.
    #[arg(long, env = "ATTESTLOG_MAX_HEADER_BYTES", global = true)]
    pub max_header_bytes: Option<usize>,
    /// Byte budget of the tile cache (default 67108864).
    #[arg(long, env = "ATTESTLOG_TILE_CACHE_BYTES", global = true)]
    pub tile_cache_bytes: Option<usize>,
    /// Byte budget of the SQLite read connections' page caches, all together (default
    /// 16777216).
    #[arg(long, env = "ATTESTLOG_READ_CACHE_BYTES", global = true)]
    pub read_cache_bytes: Option<usize>,
    /// Largest POST /v1/entries and POST /entries body in bytes (default 131072, at least
    /// 4096); beyond it, 413.
    #[arg(long, env = "ATTESTLOG_MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<usize>,
    /// Largest POST /v1/vendors body in bytes (default 16384, at least 4096); beyond it, 413.
    #[arg(long, env = "ATTESTLOG_MAX_VENDOR_BODY_BYTES", global = true)]
    pub max_vendor_body_bytes: Option<usize>,
    /// Least idle time of a connection closed to make room at the connection cap (ms;
    /// default 1000).
    #[arg(long, env = "ATTESTLOG_EVICT_IDLE_AFTER_MS", global = true)]
    pub evict_idle_after_ms: Option<u64>,
}

/// Smallest request body cap a configuration may set (a lower value is raised to it).
pub const MIN_BODY_BYTES: usize = 4096;

/// Request body caps (413 beyond them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest `POST /v1/entries` and `POST /entries` body.
    pub max_body_bytes: usize,
    /// Largest `POST /v1/vendors` body.
    pub max_vendor_body_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::admission::MAX_BODY_BYTES,
            max_vendor_body_bytes: crate::http::MAX_VENDOR_BODY_BYTES,
        }
    }
}

/// Default byte budget of the tile cache.
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// Default byte budget of the SQLite read connections' page caches, all together.
pub const READ_CACHE_BYTES: usize = 16 << 20;

/// `[witnessing]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WitnessingFileConfig {
    /// Time allowed for one round of cosigning requests, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// How often a withheld checkpoint is offered again, in milliseconds.
    pub retry_ms: Option<u64>,
    /// Publish only checkpoints cosigned by the policy's quorum.
    pub require_quorum: Option<bool>,
    /// Start, serving reads only, when no quorum answers at start (false: refuse to start).
    pub start_without_quorum: Option<bool>,
    /// How long a round waits for further cosignatures once the quorum has cosigned, in
    /// milliseconds (default 100).
    pub grace_ms: Option<u64>,
}

/// `[key_rotation]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationFileConfig {
    /// Previous log key files: they keep signing checkpoints beside `key_file` until
    /// `overlap_until`.
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
    /// RFC 3339 time at which the previous keys stop signing.
    pub overlap_until: Option<String>,
}

/// Default shortest time between batch starts under load: a busy sequencer lets a batch
/// gather for this long, so that the pages every commit rewrites (index inner pages, the
/// search index's hot terms, the checkpoint) are written once for more entries.
pub const MIN_INTERVAL_MS: u64 = 10;

/// `[sequencer]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequencerFileConfig {
    /// Maximum entries per batch.
    pub max_batch: Option<usize>,
    /// Maximum time a batch waits to fill, in milliseconds.
    pub max_wait_ms: Option<u64>,
    /// Shortest time between the starts of two batches under load, in milliseconds.
    pub min_interval_ms: Option<u64>,
    /// Submission queue capacity (full → 503).
    pub queue: Option<usize>,
}

/// Effective configuration. `Debug` redacts the admin token.
#[derive(Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory (key, admin token, published checkpoint, SQLite file).
    pub data_dir: PathBuf,
    /// Database URL; None = SQLite in the data directory.
    pub database: Option<String>,
    /// Configured origin, if any.
    pub origin: Option<String>,
    /// Log key file; None = `<data-dir>/log.key` (generated on first start).
    pub key_file: Option<PathBuf>,
    /// Admin token from the environment; None = generated into `<data-dir>/admin-token`.
    pub admin_token: Option<String>,
    /// Quota rate (entries/s per vendor), 0 = unlimited.
    pub quota_rate: f64,
    /// Quota burst per vendor.
    pub quota_burst: f64,
    /// Maximum batch size.
    pub max_batch: usize,
    /// Maximum batch wait.
    pub max_wait: std::time::Duration,
    /// Shortest time between the starts of two batches under load.
    pub min_interval: std::time::Duration,
    /// Queue capacity.
    pub queue: usize,
    /// tlog-policy file of the witnesses; None = no witnessing.
    pub witness_policy: Option<PathBuf>,
    /// Time allowed for one round of cosigning requests.
    pub witness_timeout: std::time::Duration,
    /// How often a withheld checkpoint is offered to the witnesses again.
    pub witness_retry: std::time::Duration,
    /// Publish only checkpoints cosigned by the policy's quorum.
    pub require_quorum: bool,
    /// Start (serving reads, publishing nothing new) when no quorum answers at start.
    pub start_without_quorum: bool,
    /// How long a cosigning round waits for more witnesses once the quorum has cosigned.
    pub witness_grace: std::time::Duration,
    /// Start on a non-empty SQLite database without its published-checkpoint file (the
    /// rollback guard then has only the database to go by; logged as a warning).
    pub trust_storage: bool,
    /// Previous log key files that keep signing during a key rotation.
    pub previous_key_files: Vec<PathBuf>,
    /// RFC 3339 time at which the previous keys stop signing (None: they sign until removed).
    pub overlap_until: Option<String>,
    /// Timeouts, requests in flight and head size of the HTTP server.
    pub serve: attestlog_serve::Limits,
    /// Request body caps.
    pub body: BodyLimits,
    /// Byte budget of the tile cache.
    pub tile_cache_bytes: usize,
    /// Byte budget of the SQLite read connections' page caches, all together (SQLite only).
    pub read_cache_bytes: usize,
    /// SCITT receipt key file; None = `<data-dir>/scitt.key` (generated on first start; on
    /// PostgreSQL only with [`Config::scitt_generate_key`]).
    pub scitt_key_file: Option<PathBuf>,
    /// On PostgreSQL, generate `<data-dir>/scitt.key` when no SCITT key file is named.
    pub scitt_generate_key: bool,
    /// Public keys (files holding a verifier-key or signer-key string) that signed receipts
    /// before, kept in `/.well-known/scitt-keys`.
    pub scitt_retired_key_files: Vec<PathBuf>,
    /// How long `POST /entries` waits for publication before answering 303.
    pub scitt_wait: std::time::Duration,
    /// The SCITT registration policy to put in force (DESIGN.md §12): `None` keeps the one
    /// in force (the built-in policy on a log that never logged one); a policy that differs
    /// from the one in force is logged when the server starts serving.
    pub scitt_policy: Option<attestlog_proto::registration::RegistrationPolicy>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_ref().map(|_| "<set>"))
            .field("origin", &self.origin)
            .field("key_file", &self.key_file)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("quota_rate", &self.quota_rate)
            .field("quota_burst", &self.quota_burst)
            .field("max_batch", &self.max_batch)
            .field("max_wait", &self.max_wait)
            .field("min_interval", &self.min_interval)
            .field("queue", &self.queue)
            .field("witness_policy", &self.witness_policy)
            .field("witness_timeout", &self.witness_timeout)
            .field("require_quorum", &self.require_quorum)
            .field("start_without_quorum", &self.start_without_quorum)
            .field("witness_grace", &self.witness_grace)
            .field("trust_storage", &self.trust_storage)
            .field("previous_key_files", &self.previous_key_files)
            .field("overlap_until", &self.overlap_until)
            .field("serve", &self.serve)
            .field("body", &self.body)
            .field("tile_cache_bytes", &self.tile_cache_bytes)
            .field("read_cache_bytes", &self.read_cache_bytes)
            .field("scitt_key_file", &self.scitt_key_file)
            .field("scitt_wait", &self.scitt_wait)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults for a data directory (used by tests and as the base of every config).
    #[must_use]
    pub fn with_data_dir(data_dir: &Path) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.to_owned(),
            database: None,
            origin: None,
            key_file: None,
            admin_token: None,
            quota_rate: 100.0,
            quota_burst: 1000.0,
            max_batch: 4096,
            max_wait: std::time::Duration::from_millis(5),
            min_interval: std::time::Duration::from_millis(MIN_INTERVAL_MS),
            queue: 65536,
            witness_policy: None,
            witness_timeout: std::time::Duration::from_secs(5),
            witness_retry: std::time::Duration::from_secs(1),
            require_quorum: true,
            start_without_quorum: true,
            witness_grace: std::time::Duration::from_millis(100),
            trust_storage: false,
            previous_key_files: Vec::new(),
            overlap_until: None,
            serve: attestlog_serve::Limits::default(),
            body: BodyLimits::default(),
            tile_cache_bytes: TILE_CACHE_BYTES,
            read_cache_bytes: READ_CACHE_BYTES,
            scitt_key_file: None,
            scitt_generate_key: false,
            scitt_retired_key_files: Vec::new(),
            scitt_wait: std::time::Duration::from_secs(10),
            scitt_policy: None,
        }
    }

    /// The layered configuration: defaults for the data directory `./attestlog-data`, then
    /// the config `file`, then `flags` (command-line flags and environment variables, in the
    /// config file's shape), each overriding the values set before it.
    #[must_use]
    pub fn layered(file: Option<&FileConfig>, flags: &FileConfig) -> Self {
        let mut c = Self::with_data_dir(Path::new("./attestlog-data"));
        if let Some(f) = file {
            c.apply_file(f);
        }
        c.apply_file(flags);
        c
    }

    /// Applies the values a config file (or flags in its shape) sets; values it leaves unset
    /// keep theirs.
    pub fn apply_file(&mut self, f: &FileConfig) {
        if let Some(v) = f.listen {
            self.listen = v;
        }
        if let Some(v) = &f.data_dir {
            self.data_dir.clone_from(v);
        }
        if f.database.is_some() {
            self.database.clone_from(&f.database);
        }
        if f.origin.is_some() {
            self.origin.clone_from(&f.origin);
        }
        if f.key_file.is_some() {
            self.key_file.clone_from(&f.key_file);
        }
        if let Some(v) = f.quota_rate {
            self.quota_rate = v;
        }
        if let Some(v) = f.quota_burst {
            self.quota_burst = v;
        }
        if let Some(v) = f.sequencer.max_batch {
            self.max_batch = v.max(1);
        }
        if let Some(v) = f.sequencer.max_wait_ms {
            self.max_wait = std::time::Duration::from_millis(v);
        }
        if let Some(v) = f.sequencer.min_interval_ms {
            self.min_interval = std::time::Duration::from_millis(v);
        }
        if let Some(v) = f.sequencer.queue {
            self.queue = v.max(1);
        }
        if f.witness_policy.is_some() {
            self.witness_policy.clone_from(&f.witness_policy);
        }
        let w = &f.witnessing;
        if let Some(v) = w.timeout_ms {
            self.witness_timeout = std::time::Duration::from_millis(v.max(1));
        }
        if let Some(v) = w.retry_ms {
            self.witness_retry = std::time::Duration::from_millis(v.max(1));
        }
        if let Some(v) = w.require_quorum {
            self.require_quorum = v;
        }
        if let Some(v) = w.start_without_quorum {
            self.start_without_quorum = v;
        }
        if let Some(v) = w.grace_ms {
            self.witness_grace = std::time::Duration::from_millis(v);
        }
        let r = &f.key_rotation;
        if !r.previous_key_files.is_empty() {
            self.previous_key_files.clone_from(&r.previous_key_files);
        }
        if r.overlap_until.is_some() {
            self.overlap_until.clone_from(&r.overlap_until);
        }
        self.apply_limits(&f.limits);
        self.apply_scitt(&f.scitt);
    }

    /// Applies the `[scitt]` values that are set (the config file's, or flags' and
    /// environment variables' in the same shape).
    pub fn apply_scitt(&mut self, s: &ScittFileConfig) {
        if s.key_file.is_some() {
            self.scitt_key_file.clone_from(&s.key_file);
        }
        if let Some(v) = &s.retired_key_files {
            self.scitt_retired_key_files.clone_from(v);
        }
        if let Some(v) = s.wait_ms {
            self.scitt_wait = std::time::Duration::from_millis(v);
        }
        if let Some(v) = s.generate_key {
            self.scitt_generate_key = v;
        }
        if s.predicate_types.is_some() || s.max_statement_bytes.is_some() {
            let mut p = self
                .scitt_policy
                .clone()
                .unwrap_or_else(|| attestlog_proto::registration::RegistrationPolicy::built_in(1));
            if let Some(v) = &s.predicate_types {
                p.predicate_types.clone_from(v);
            }
            if let Some(v) = s.max_statement_bytes {
                p.max_entry_bytes = v;
            }
            self.scitt_policy = Some(p);
        }
    }

    /// Applies the `[limits]` values that are set (the config file's, or flags' and
    /// environment variables' in the same shape).
    pub fn apply_limits(&mut self, l: &LimitsFileConfig) {
        let ms = |v: u64| std::time::Duration::from_millis(v.max(1));
        if let Some(v) = l.header_read_timeout_ms {
            self.serve.header_read_timeout = ms(v);
        }
        if let Some(v) = l.request_timeout_ms {
            self.serve.request_timeout = ms(v);
        }
        if let Some(v) = l.max_in_flight {
            self.serve.max_in_flight = v.max(1);
        }
        if let Some(v) = l.max_connections {
            self.serve.max_connections = v.max(1);
        }
        if let Some(v) = l.max_header_bytes {
            self.serve.max_header_bytes = v.max(attestlog_serve::MIN_HEADER_BYTES);
        }
        if let Some(v) = l.tile_cache_bytes {
            self.tile_cache_bytes = v;
        }
        if let Some(v) = l.read_cache_bytes {
            self.read_cache_bytes = v;
        }
        if let Some(v) = l.max_body_bytes {
            self.body.max_body_bytes = v.max(MIN_BODY_BYTES);
        }
        if let Some(v) = l.max_vendor_body_bytes {
            self.body.max_vendor_body_bytes = v.max(MIN_BODY_BYTES);
        }
        if let Some(v) = l.evict_idle_after_ms {
            self.serve.evict_idle_after = std::time::Duration::from_millis(v);
        }
    }

    /// The end of the key-rotation overlap in Unix seconds.
    ///
    /// # Errors
    /// An `overlap_until` that is not an RFC 3339 time.
    pub fn overlap_until_unix(&self) -> anyhow::Result<Option<u64>> {
        self.overlap_until
            .as_deref()
            .map(|t| {
                attestlog_proto::predicate::parse_rfc3339(t)
                    .and_then(|ts| u64::try_from(ts.unix_seconds).ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "key_rotation.overlap_until must be an RFC 3339 time, got {t:?}"
                        )
                    })
            })
            .transpose()
    }

    /// The SQLite file path, when the database is SQLite.
    #[must_use]
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self.database.as_deref() {
            None => Some(self.data_dir.join("attestlog.db")),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => None,
            Some(u) => Some(PathBuf::from(u.strip_prefix("sqlite://").unwrap_or(u))),
        }
    }
}

/// Parses a config file.
///
/// # Errors
/// I/O or TOML errors, with the file name.
pub fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_applies() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/server.example.toml");
        let f = read_file(&path).unwrap();
        let mut c = Config::with_data_dir(Path::new("x"));
        c.apply_file(&f);
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(
            c.witness_policy,
            Some(PathBuf::from("/etc/attestlog/witness-policy"))
        );
        assert_eq!(c.witness_timeout, std::time::Duration::from_millis(5000));
        assert!(c.require_quorum);
        assert!(c.start_without_quorum);
        assert_eq!(c.overlap_until_unix().unwrap(), Some(1_798_761_600));
        c.overlap_until = Some("soon".into());
        assert!(c.overlap_until_unix().is_err());
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/attestlog"));
        assert!((c.quota_rate - 100.0).abs() < f64::EPSILON);
        assert_eq!(c.max_batch, 4096);
        assert_eq!(c.min_interval, std::time::Duration::from_millis(20));
        assert_eq!(
            Config::with_data_dir(Path::new("/tmp")).min_interval,
            std::time::Duration::from_millis(MIN_INTERVAL_MS)
        );
        assert!(c.sqlite_path().is_some());
        assert_eq!(
            c.serve.header_read_timeout,
            std::time::Duration::from_secs(10)
        );
        assert_eq!(c.serve.request_timeout, std::time::Duration::from_secs(30));
        assert_eq!(c.serve.max_in_flight, 1024);
        assert_eq!(c.serve.max_connections, 2048);
        assert_eq!(c.serve.max_header_bytes, 65536);
        assert_eq!(c.tile_cache_bytes, 64 << 20);
        assert_eq!(
            c.scitt_key_file,
            Some(PathBuf::from("/etc/attestlog/scitt.key"))
        );
        assert_eq!(c.scitt_wait, std::time::Duration::from_secs(10));
        assert!(!c.scitt_generate_key);
    }

    #[test]
    fn flags_override_the_file_and_unset_flags_keep_its_values() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/server.example.toml");
        let mut file = read_file(&path).unwrap();
        file.key_rotation.previous_key_files = vec![PathBuf::from("/etc/attestlog/old.key")];
        let flags = FileConfig {
            data_dir: Some(PathBuf::from("/srv/log")),
            quota_rate: Some(0.0),
            limits: LimitsFileConfig {
                max_in_flight: Some(7),
                ..LimitsFileConfig::default()
            },
            ..FileConfig::default()
        };
        let c = Config::layered(Some(&file), &flags);
        assert_eq!(c.data_dir, PathBuf::from("/srv/log"));
        assert!(c.quota_rate.abs() < f64::EPSILON);
        assert_eq!(c.serve.max_in_flight, 7);
        assert_eq!(c.max_batch, 4096, "unset by the flags: the file's value");
        assert!(c.require_quorum);
        assert_eq!(
            c.previous_key_files,
            vec![PathBuf::from("/etc/attestlog/old.key")]
        );
        let defaults = Config::layered(None, &FileConfig::default());
        assert_eq!(defaults.data_dir, PathBuf::from("./attestlog-data"));
        assert_eq!(defaults.serve.max_in_flight, 1024);
    }

    #[test]
    fn limits_apply_with_floors() {
        let mut c = Config::with_data_dir(Path::new("x"));
        let f: FileConfig = toml::from_str(
            "[limits]\nheader_read_timeout_ms = 250\nrequest_timeout_ms = 0\n\
             max_in_flight = 0\nmax_connections = 0\nmax_header_bytes = 10\n\
             tile_cache_bytes = 4096\nread_cache_bytes = 65536\n\
             max_body_bytes = 10\nmax_vendor_body_bytes = 5000\nevict_idle_after_ms = 0\n",
        )
        .unwrap();
        c.apply_file(&f);
        assert_eq!(
            c.serve.header_read_timeout,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(c.serve.request_timeout, std::time::Duration::from_millis(1));
        assert_eq!(c.serve.max_in_flight, 1);
        assert_eq!(c.serve.max_connections, 1);
        assert_eq!(c.serve.max_header_bytes, attestlog_serve::MIN_HEADER_BYTES);
        assert_eq!(c.tile_cache_bytes, 4096);
        assert_eq!(c.read_cache_bytes, 65536);
        assert_eq!(c.body.max_body_bytes, MIN_BODY_BYTES);
        assert_eq!(c.body.max_vendor_body_bytes, 5000);
        assert_eq!(c.serve.evict_idle_after, std::time::Duration::ZERO);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<FileConfig>("lisen = \"127.0.0.1:1\"").is_err());
    }
}
