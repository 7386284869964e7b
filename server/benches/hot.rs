//! Hot paths of the server: admission (parse, canonicalise, schema, `verify_strict`), batch
//! integration through the sequencer into SQLite, tile reads through the cache, proof
//! generation from tiles, and the rollback guard's consistency check per batch. Run: `cargo bench -p attestlog-server --bench hot`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark setup

use std::hint::black_box;

use attestlog_proto::dsse::Envelope;
use attestlog_proto::enrolment::Action;
use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value, template};
use attestlog_proto::tiles::TileId;
use attestlog_server::admission;
use attestlog_server::config::Config;
use attestlog_server::rules;
use attestlog_server::sequencer::Admitted;
use attestlog_server::storage::EnrolmentRow;
use attestlog_server::tiles::StoreTiles;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const VENDOR: &str = "Bench AG";

fn vendor() -> SignerKey {
    SignerKey::from_seed("bench.example/attest", TYPE_ED25519, &[9; 32]).unwrap()
}

fn envelope(key: &SignerKey, i: u64) -> Vec<u8> {
    let mut v = template();
    v["predicate"]["vendor"]["legal_name"] = json!(VENDOR);
    v["predicate"]["attestation_id"] = json!(format!("00000000-0000-4000-8000-{i:012x}"));
    let st = statement_from_value(v).unwrap();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &[key]).canonical_bytes()
}

fn benches(c: &mut Criterion) {
    let key = vendor();
    let signer = key.verifier();
    let log_key = SignerKey::from_seed("bench.example/log", TYPE_ED25519, &[1; 32])
        .unwrap()
        .verifier();
    let env = envelope(&key, 1);
    let row = EnrolmentRow {
        index: 0,
        vendor: VENDOR.into(),
        key: key.verifier(),
        action: Action::Enrol,
        role: attestlog_proto::enrolment::KeyRole::Vendor,
    };
    let enrolments = rules::enrolments_from_rows(std::slice::from_ref(&row)).unwrap();
    // The log the benches below run on, configured as the server is: admission parses under
    // the configured body cap, as `POST /v1/entries` does.
    let dir = std::env::temp_dir().join(format!("attestlog-bench-hot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::with_data_dir(&dir);
    config.admin_token = Some("bench".into());
    let max_body = config.body.max_body_bytes;
    c.bench_function("admission_parse_schema_verify", |b| {
        b.iter(|| {
            let parsed = admission::parse(black_box(&env), max_body).unwrap();
            admission::verify(&parsed, None, &enrolments, &log_key).unwrap()
        })
    });
    // Its two halves: everything but the signature, and the signature check alone.
    c.bench_function("admission_parse_schema", |b| {
        b.iter(|| {
            let parsed = admission::parse(black_box(&env), max_body).unwrap();
            attestlog_proto::rules::parse_statement(&parsed.envelope.payload).unwrap()
        })
    });
    let parsed = admission::parse(&env, max_body).unwrap();
    c.bench_function("admission_verify_strict", |b| {
        b.iter(|| {
            attestlog_proto::rules::verify_signers(black_box(&parsed.envelope), VENDOR, &enrolments)
                .unwrap()
        })
    });

    // A log on SQLite with its sequencer, for integration, tiles and proofs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = attestlog_server::App::open(&config).unwrap();
    let seq = app.sequencer();
    let enrolment = admission::enrolment(&app.state.signer, &row, "2026-01-01T00:00:00Z".into());
    rt.block_on(async {
        seq.submit(enrolment).unwrap().await.unwrap().unwrap();
    });
    let mut next = 1u64;
    let mut group = c.benchmark_group("integration");
    group.sample_size(10);
    group.bench_function("batch_of_1000", |b| {
        b.iter_batched(
            || {
                let v: Vec<Admitted> = (next..next + 1000)
                    .map(|i| admission::bulk_attestation(&envelope(&key, i), &signer).unwrap())
                    .collect();
                next += 1000;
                v
            },
            |batch| {
                rt.block_on(async {
                    let rxs: Vec<_> = batch.into_iter().map(|a| seq.submit(a).unwrap()).collect();
                    for rx in rxs {
                        rx.await.unwrap().unwrap();
                    }
                })
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();

    let size = app.state.shared.published().size;
    let tile = TileId::for_size(0, 0, size).unwrap();
    c.bench_function("tile_read_cached", |b| {
        let reader = StoreTiles::cached(app.state.store.as_ref(), &app.state.cache);
        b.iter(|| reader.hash_tiles(black_box(&[tile])).unwrap())
    });
    c.bench_function("tile_read_uncached", |b| {
        let reader = StoreTiles::new(app.state.store.as_ref());
        b.iter(|| reader.hash_tiles(black_box(&[tile])).unwrap())
    });
    c.bench_function("inclusion_proof_from_tiles", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % size;
            app.state
                .prover()
                .inclusion_hashes(black_box(i), size)
                .unwrap()
        })
    });
    // The rollback guard's cost per batch (DESIGN.md §9): before a checkpoint is published,
    // a consistency proof from the last published one is computed from the stored tiles and
    // verified. Here between the two latest stored checkpoints (one batch apart).
    let pair = app.state.store.checkpoints_before(size + 1, 2).unwrap();
    let summary = |(s, note): &(u64, Vec<u8>)| {
        let cp = attestlog_proto::checkpoint::SignedCheckpoint::open(
            note,
            std::slice::from_ref(&app.state.log_key),
        )
        .unwrap();
        attestlog_server::publication::Summary {
            size: *s,
            root: cp.checkpoint().root,
        }
    };
    let (to, from) = (summary(&pair[0]), summary(&pair[1]));
    c.bench_function("guard_consistency_check_per_batch", |b| {
        b.iter(|| {
            attestlog_server::publication::check_extends(
                app.state.store.as_ref(),
                black_box(&from),
                black_box(&to),
                "bench",
            )
            .unwrap()
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(hot, benches);
criterion_main!(hot);
