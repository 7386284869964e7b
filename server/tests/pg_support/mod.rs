//! Throwaway PostgreSQL databases for tests (shared by `server/tests` and `tests/it` through
//! `#[path]`).
//!
//! Tests that need PostgreSQL read `ATTESTLOG_TEST_POSTGRES_URL` (a role allowed to create
//! databases; `./scripts/test` starts PostgreSQL and sets it). Unset, they skip with a note,
//! except when `CI=true`, where they fail. Each test gets its own database, dropped at the
//! end, so tests run in parallel.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The environment variable naming the test server.
pub const URL_VAR: &str = "ATTESTLOG_TEST_POSTGRES_URL";

/// The test server's URL; `None` (with a printed note) when unset outside CI.
///
/// # Panics
/// When unset and `CI=true`: PostgreSQL tests must run in CI.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "{URL_VAR} is not set but CI=true: the PostgreSQL tests must run \
                 (./scripts/test installs and starts PostgreSQL)"
            );
            eprintln!("note: skipping {test}: {URL_VAR} is not set (./scripts/test sets it)");
            None
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(start);
    let path_at = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_at);
    let query = path.find('?').map_or("", |q| &path[q..]);
    format!("{head}{authority}/{name}{query}")
}

/// Runs SQL on the server at `url` from a thread of its own (callable from async tests).
///
/// # Panics
/// When the server refuses the connection or the SQL.
pub fn execute(url: &str, sql: &str) {
    try_execute(url, sql).unwrap();
}

/// [`execute`], returning the error.
pub fn try_execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
            let task = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await;
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .unwrap()
}

/// A database that exists for the life of this value.
pub struct ScratchDb {
    /// URL of the new database.
    pub url: String,
    admin: String,
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl ScratchDb {
    /// Creates an empty database on the server at `admin`.
    pub fn create(admin: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        execute(admin, &format!("CREATE DATABASE {name}"));
        Self {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        }
    }
}

impl Drop for ScratchDb {
    /// Drops the database; a failure (a backend the test role may not end) leaves it behind
    /// with a note instead of failing the test that already passed or failed on its own.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = try_execute(&self.admin, &sql) {
            eprintln!("note: could not drop test database {}: {e}", self.name);
        }
    }
}
