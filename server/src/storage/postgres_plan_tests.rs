//! The store's lookups by arrays of keys stay index scans as the log grows, on a real
//! PostgreSQL server (`ATTESTLOG_TEST_POSTGRES_URL`, see `pg_support`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use tokio_postgres::types::ToSql;

use super::pg_support;
use super::{
    ANALYZE_GROWN, ATTESTATION_CHAINS, Client, LOOKUP_LEAVES, LOOKUP_STATEMENTS, OWNERS,
    PostgresStore,
};
use crate::storage::{AttestationMeta, Batch, BatchEntry, LogWrite};

/// Entry `i`: an attestation with an ID of its own, as vendors mint them.
fn entry(i: u64) -> BatchEntry {
    let data = format!("entry {i}").into_bytes();
    BatchEntry {
        attestation: Some(AttestationMeta {
            attestation_id: attestation_id(i),
            vendor: format!("vendor {}", i % 8),
            product: "P".into(),
            status: "active".into(),
            valid_until: "2030-01-01T00:00:00Z".into(),
            supersedes: None,
            issued_at: "2026-12-01T00:00:00Z".into(),
        }),
        statement: Some(Hash::sha256(&data)),
        ..BatchEntry::plain(data)
    }
}

fn attestation_id(i: u64) -> String {
    let h = Hash::sha256(&i.to_be_bytes()).0;
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Commits entries `from..to` in batches of 512, as the sequencer does.
fn grow(s: &PostgresStore, from: u64, to: u64) {
    let mut size = from;
    while size < to {
        let new = to.min(size + 512);
        s.commit_batch(&Batch {
            old_size: size,
            entries: (size..new).map(entry).collect(),
            tiles: Vec::new(),
            checkpoint: format!("cp {new}").into_bytes(),
        })
        .unwrap();
        size = new;
    }
}

fn bytea_array(hashes: &[Hash]) -> String {
    let items: Vec<String> = hashes
        .iter()
        .map(|h| {
            let hex: String = h.0.iter().map(|b| format!("{b:02x}")).collect();
            format!("'\\x{hex}'::bytea")
        })
        .collect();
    format!("ARRAY[{}]", items.join(","))
}

/// One statement the store runs with an array of keys: its text, its argument (bound, and as
/// SQL), and the table it must reach through an index.
struct Lookup {
    sql: &'static str,
    arg: Box<dyn ToSql + Sync + Send>,
    literal: String,
    table: &'static str,
}

fn lookups(ids: &[String], leaves: &[Hash], statements: &[Hash]) -> Vec<Lookup> {
    let quoted: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
    let id_literal = format!("ARRAY[{}]::text[]", quoted.join(","));
    let bytes = |hashes: &[Hash]| -> Box<dyn ToSql + Sync + Send> {
        Box::new(hashes.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>())
    };
    vec![
        Lookup {
            sql: OWNERS,
            arg: Box::new(ids.to_vec()),
            literal: id_literal.clone(),
            table: "attestations",
        },
        Lookup {
            sql: ATTESTATION_CHAINS,
            arg: Box::new(ids.to_vec()),
            literal: id_literal,
            table: "attestations",
        },
        Lookup {
            sql: LOOKUP_LEAVES,
            arg: bytes(leaves),
            literal: bytea_array(leaves),
            table: "leaves",
        },
        Lookup {
            sql: LOOKUP_STATEMENTS,
            arg: bytes(statements),
            literal: bytea_array(statements),
            table: "statements",
        },
    ]
}

/// Runs `l` on `c` as the store does (prepared once per connection).
async fn execute(c: &Client, l: &Lookup) {
    let st = c.prepare_cached(l.sql).await.unwrap();
    c.query(&st, &[&*l.arg]).await.unwrap();
}

/// The plan PostgreSQL uses for the next execution of `l` on `c` (where the store prepared
/// it), one line per row of `EXPLAIN`.
async fn plan(c: &Client, l: &Lookup) -> String {
    let name: String = c
        .query_one(
            "SELECT name FROM pg_prepared_statements WHERE statement = $1",
            &[&l.sql],
        )
        .await
        .unwrap()
        .get(0);
    let rows = c
        .query(&format!("EXPLAIN EXECUTE {name}({})", l.literal), &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A connection of the store that cached each lookup's plan while the log was young (a few
/// entries, analyzed as autovacuum analyzes a new table) still reaches the grown tables
/// through their indexes: the store analyzes the tables each time the log has doubled
/// (`ANALYZE_FROM`), which replaces the cached plans. Without it, PostgreSQL keeps the
/// young log's plans, sequential scans, which read the whole table on every batch.
#[test]
fn cached_lookup_plans_use_the_indexes_as_the_log_grows() {
    let Some(admin) = pg_support::admin_url("cached_lookup_plans_use_the_indexes_as_the_log_grows")
    else {
        return;
    };
    let db = pg_support::ScratchDb::create(&admin);
    let s = PostgresStore::connect(&db.url).unwrap();
    // Only the store and this test analyze: autovacuum could at any moment.
    let tables = ANALYZE_GROWN.trim_start_matches("ANALYZE ");
    for t in tables.split(", ") {
        pg_support::execute(
            &db.url,
            &format!("ALTER TABLE {t} SET (autovacuum_enabled = false)"),
        );
    }
    const YOUNG: u64 = 40;
    const GROWN: u64 = 8192;
    grow(&s, 0, YOUNG);
    pg_support::execute(&db.url, &format!("ANALYZE {tables}"));

    // Batches look up keys that are mostly new: half stored, half not.
    let keys: Vec<u64> = (0..100).map(|k| k * (GROWN / 50)).collect();
    let ids: Vec<String> = keys.iter().map(|k| attestation_id(*k)).collect();
    let data = |k: &u64| format!("entry {k}").into_bytes();
    let leaves: Vec<Hash> = keys.iter().map(|k| Hash::leaf(&data(k))).collect();
    let statements: Vec<Hash> = keys.iter().map(|k| Hash::sha256(&data(k))).collect();
    let lookups = lookups(&ids, &leaves, &statements);

    // One of the store's own connections, held throughout.
    let c = s.block(|db| async move { db.client().await }).unwrap();
    let h = s.handle();
    // PostgreSQL plans the first five executions with their arguments, then settles on a
    // generic plan if it is no dearer.
    let young: Vec<String> = h.block_on(async {
        let mut plans = Vec::new();
        for l in &lookups {
            for _ in 0..8 {
                execute(&c, l).await;
            }
            plans.push(plan(&c, l).await);
        }
        plans
    });
    // What the fix is for: the young log's plan scans the table.
    assert!(
        young[0].contains("Seq Scan on attestations"),
        "the young log's plan no longer scans attestations: this test must make one that \
         does\n{}",
        young[0]
    );

    grow(&s, YOUNG, GROWN);
    // The store's last ANALYZE (at a size of at least half the log) has finished.
    let deadline = Instant::now() + Duration::from_secs(60);
    let analyzed = |c: &Client| {
        h.block_on(async {
            let r = c
                .query_one(
                    "SELECT reltuples::float8 FROM pg_class WHERE oid = 'attestations'::regclass",
                    &[],
                )
                .await
                .unwrap();
            r.get::<_, f64>(0)
        })
    };
    #[allow(clippy::cast_precision_loss)]
    while analyzed(&c) < (GROWN / 2) as f64 {
        assert!(
            Instant::now() < deadline,
            "the store did not analyze the grown tables within 60 s"
        );
        std::thread::yield_now();
    }
    for l in &lookups {
        let grown = h.block_on(async {
            execute(&c, l).await;
            plan(&c, l).await
        });
        assert!(
            !grown.contains(&format!("Seq Scan on {}", l.table)),
            "{} scans {} sequentially on a log of {GROWN} entries:\n{grown}",
            l.sql,
            l.table
        );
        assert!(grown.contains("Index"), "{grown}");
    }
}
