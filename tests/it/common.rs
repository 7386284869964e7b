//! Test harness: start a server in-process, make vendor keys and signed attestations.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519, VerifierKey};
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value};
use attestlog_server::config::Config;
use attestlog_server::http::AppState;
use attestlog_server::storage::LogStore;
use serde_json::{Value, json};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty temporary directory.
/// (Under one root per run: the next run removes it, see `attestlog_serve::fs::scratch_dir`.)
pub fn temp_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    attestlog_serve::fs::scratch_dir("attestlog-it", &format!("{name}-{n}")).unwrap()
}

/// Server logs (warnings and errors, or `RUST_LOG`) go to the test's captured output, so a
/// failing test shows what the server said.
fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// The storage backend a test log runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// A throwaway database on the test PostgreSQL server (one replica).
    Postgres,
}

/// Generates, for each named `async fn NAME(backend: Backend)`, a module `NAME` with the
/// tests `sqlite` and `postgres`: one test body, two backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::pg_support::admin_url(concat!(stringify!($name), "::postgres")).is_some() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        }
    )*};
}

/// A running server.
pub struct TestLog {
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub token: String,
    pub dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The PostgreSQL database of a `Backend::Postgres` log, dropped after the server.
    scratch: Option<crate::pg_support::ScratchDb>,
    config: Config,
}

impl TestLog {
    /// `POST /entries` of a signed statement (COSE): the status and the body.
    pub async fn post_cose(&self, body: &[u8]) -> (u16, Vec<u8>) {
        let r = self
            .http
            .post(format!("{}/entries", self.url))
            .header("content-type", "application/cose")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_on(backend: Backend) -> Self {
        Self::start_on_with(backend, |_| {}).await
    }

    /// A log on `backend`, with `f` applied to its config.
    pub async fn start_on_with(backend: Backend, f: impl FnOnce(&mut Config)) -> Self {
        Self::start_on_reading_through(backend, f, |store| store).await
    }

    /// A log on `backend`, with `f` applied to its config, whose request handlers read
    /// through `serve(store)` (e.g. a wrapper counting storage calls).
    pub async fn start_on_reading_through(
        backend: Backend,
        f: impl FnOnce(&mut Config),
        serve: impl FnOnce(Arc<dyn LogStore>) -> Arc<dyn LogStore>,
    ) -> Self {
        let scratch = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let admin = crate::pg_support::admin_url("TestLog").expect("PostgreSQL test URL");
                Some(crate::pg_support::ScratchDb::create(&admin))
            }
        };
        let database = scratch.as_ref().map(|s| s.url.clone());
        let (dir, config) = Self::config_with(|c| {
            c.database = database;
            // One replica: its own SCITT key in its data directory.
            c.scitt_generate_key = true;
            f(c);
        });
        log_to_test_output();
        let app = attestlog_server::App::open_reading_through(&config, serve).unwrap();
        let mut log = Self::serve(dir, config, app);
        log.scratch = scratch;
        log
    }

    /// A fresh data directory and the test config in it, with `f` applied.
    fn config_with(f: impl FnOnce(&mut Config)) -> (PathBuf, Config) {
        let dir = temp_dir("log");
        let mut config = Config::with_data_dir(&dir);
        config.admin_token = Some("test-admin-token".into());
        config.max_wait = std::time::Duration::from_millis(2);
        f(&mut config);
        (dir, config)
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> Self {
        let (dir, config) = Self::config_with(f);
        Self::start_in(dir, config).await
    }

    pub async fn start_in(dir: PathBuf, config: Config) -> Self {
        log_to_test_output();
        let app = attestlog_server::App::open(&config).unwrap();
        Self::serve(dir, config, app)
    }

    /// Serves `app` on 127.0.0.1 (on the current Tokio runtime).
    fn serve(dir: PathBuf, config: Config, app: attestlog_server::App) -> Self {
        let state = app.state.clone();
        let listener = attestlog_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let join = tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            url,
            http: reqwest::Client::new(),
            state,
            token: config.admin_token.clone().unwrap_or_default(),
            dir,
            shutdown: Some(tx),
            join: Some(join),
            scratch: None,
            config,
        }
    }

    /// Stops the server and waits for the sequencer to finish.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let dir = self.dir.clone();
        let join = self.join.take();
        drop(self);
        if let Some(j) = join {
            j.await.unwrap().unwrap();
        }
        dir
    }

    /// The config the log was started with.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The URL of a `Backend::Postgres` log's database.
    pub fn db_url(&self) -> Option<&str> {
        self.scratch.as_ref().map(|s| s.url.as_str())
    }

    /// Takes the database of a `Backend::Postgres` log so that it outlives the server.
    pub fn keep_database(&mut self) -> Option<crate::pg_support::ScratchDb> {
        self.scratch.take()
    }

    pub fn log_key(&self) -> VerifierKey {
        self.state.log_key.clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn vendors(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/vendors", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Enrols `key` for `vendor`; returns the enrolment index.
    pub async fn enrol(&self, vendor: &str, key: &VerifierKey) -> u64 {
        let (status, body) = self
            .vendors(&json!({"vendor": vendor, "key": key.to_string(), "action": "enrol"}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["index"].as_u64().unwrap()
    }

    pub async fn revoke(&self, vendor: &str, key: &VerifierKey) -> (u16, Value) {
        self.vendors(&json!({"vendor": vendor, "key": key.to_string(), "action": "revoke"}))
            .await
    }

    pub async fn submit(&self, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/entries", self.url))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestLog {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A vendor signing key from a seed byte.
pub fn vendor_key(seed: u8) -> SignerKey {
    SignerKey::from_seed(
        &format!("vendor{seed}.example/attest"),
        TYPE_ED25519,
        &[seed; 32],
    )
    .unwrap()
}

/// A valid statement (JSON value) for a vendor, attestation id and product.
pub fn statement(vendor: &str, attestation_id: &str, product: &str) -> Value {
    let mut v = attestlog_proto::predicate::template();
    v["predicate"]["vendor"]["legal_name"] = json!(vendor);
    v["predicate"]["attestation_id"] = json!(attestation_id);
    v["predicate"]["product"]["name"] = json!(product);
    v
}

/// A UUID-shaped attestation id from a number.
pub fn att_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// Signs a statement value into canonical envelope bytes.
pub fn sign_value(key: &SignerKey, v: &Value) -> Vec<u8> {
    let st = statement_from_value(v.clone()).unwrap_or_else(|e| panic!("invalid statement: {e:?}"));
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &[key]).canonical_bytes()
}

/// Signs raw payload bytes into canonical envelope bytes (no validation).
pub fn sign_raw(key: &SignerKey, payload_type: &str, payload: &[u8]) -> Vec<u8> {
    Envelope::sign(payload_type, payload, &[key]).canonical_bytes()
}

/// A runtime for a server under test, apart from the one the CLI starts for each command.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the `attestlog` CLI in-process; returns the exit status and standard output.
pub fn run(args: &[&str]) -> (u8, String) {
    let mut out = Vec::new();
    let code = attestlog_client::cli::run(
        std::iter::once("attestlog").chain(args.iter().copied()),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("attestlog {args:?} failed: {e:#}"));
    (code, String::from_utf8(out).unwrap())
}

/// Runs the CLI and expects success; returns standard output.
pub fn ok(args: &[&str]) -> String {
    let (code, out) = run(args);
    assert_eq!(
        code,
        attestlog_client::cli::EXIT_OK,
        "attestlog {args:?}:\n{out}"
    );
    out
}
