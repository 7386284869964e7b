//! `attestlog-server fsck` (DESIGN.md §9) on a running log, on SQLite and PostgreSQL: it
//! passes on a healthy log and finds each corruption the chaos suite injects (a changed entry
//! byte, a changed tile hash, a missing checkpoint row — the latest or one in the middle —, a
//! witness cosignature that does not verify, an entry whose signer was not enrolled), naming
//! the first problem.

use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::integrate::{Edge, integrate};
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, VerifierKey};
use attestlog_proto::note::Note;
use attestlog_server::fsck::{self, Report};
use attestlog_server::storage::{Batch, BatchEntry};

use crate::common::*;

const VENDOR: &str = "Fsck AV AG";

fn run(log: &TestLog) -> Report {
    run_with(log, &[])
}

/// fsck with the witness keys of a policy.
fn run_with(log: &TestLog, witnesses: &[VerifierKey]) -> Report {
    fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        witnesses,
        &log.dir,
        0,
        |_, _| {},
    )
    .unwrap()
}

/// Runs SQL on the log's database (SQLite through its own connection).
fn sql(log: &TestLog, backend: Backend, sqlite: &str, postgres: &str) {
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(log.dir.join("attestlog.db")).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            c.execute_batch(sqlite).unwrap();
        }
        Backend::Postgres => crate::pg_support::execute(log.db_url().unwrap(), postgres),
    }
}

/// A blob literal in each dialect.
fn lit(bytes: &[u8]) -> (String, String) {
    let h = hex::encode(bytes);
    (format!("X'{h}'"), format!("'\\x{h}'::bytea"))
}

fn set_entry(log: &TestLog, backend: Backend, index: u64, data: &[u8]) {
    let (l, p) = lit(data);
    sql(
        log,
        backend,
        &format!("UPDATE entries SET data = {l} WHERE idx = {index};"),
        &format!("UPDATE entries SET data = {p} WHERE idx = {index};"),
    );
}

fn set_tile(log: &TestLog, backend: Backend, data: &[u8]) {
    let (l, p) = lit(data);
    sql(
        log,
        backend,
        &format!(
            "DELETE FROM tile_chunks WHERE level = 0 AND idx = 0; \
             INSERT INTO tile_chunks (level, idx, off, data) VALUES (0, 0, 0, {l});"
        ),
        &format!("UPDATE tiles SET data = {p} WHERE level = 0 AND idx = 0;"),
    );
}

fn assert_problem(r: &Report, kind: &str, at: u64) {
    let p = r
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("no problem found: {r:?}"));
    assert!(!r.ok);
    assert_eq!((p.kind, p.at), (kind, Some(at)), "{p}");
}

async fn fsck_finds_each_corruption(backend: Backend) {
    let log = TestLog::start_on_with(backend, |c| {
        c.quota_rate = 0.0;
        c.max_batch = 64;
    })
    .await;
    let vendor = vendor_key(81);
    log.enrol(VENDOR, &vendor.verifier()).await;
    super::large_log::bulk_append(&log, VENDOR, &vendor, 300).await;
    let size = 301;
    let healthy = run(&log);
    assert!(healthy.ok, "{healthy:?}");
    assert_eq!((healthy.tree_size, healthy.entries), (size, size));
    assert!(
        healthy.checkpoints >= 2 && healthy.tiles >= 2,
        "{healthy:?}"
    );

    // A changed entry byte.
    let store = &log.state.store;
    let original = store.read_entries(5, 1).unwrap().remove(0);
    let mut changed = original.clone();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    set_entry(&log, backend, 5, &changed);
    assert_problem(&run(&log), "admission", 5);
    set_entry(&log, backend, 5, &original);
    assert!(run(&log).ok);

    // A changed tile hash.
    let tile = store
        .read_tiles(&[attestlog_proto::tiles::TileId {
            level: 0,
            index: 0,
            width: 256,
        }])
        .unwrap()
        .remove(0);
    let mut bad = tile.clone();
    bad[7 * 32] ^= 1;
    set_tile(&log, backend, &bad);
    let r = run(&log);
    assert_eq!(r.problem.as_ref().map(|p| p.kind), Some("tile"), "{r:?}");
    assert!(
        r.problem
            .as_ref()
            .unwrap()
            .message
            .contains("tile 0/0 hash 7"),
        "{r:?}"
    );
    set_tile(&log, backend, &tile);
    assert!(run(&log).ok);

    // A missing checkpoint row (the latest).
    let note = store.checkpoint_at(size).unwrap().unwrap();
    sql(
        &log,
        backend,
        &format!("DELETE FROM checkpoints WHERE size = {size};"),
        &format!("DELETE FROM checkpoints WHERE size = {size};"),
    );
    let r = run(&log);
    assert_eq!(
        r.problem.as_ref().map(|p| p.kind),
        Some("checkpoint"),
        "{r:?}"
    );
    let (l, p) = lit(&note);
    sql(
        &log,
        backend,
        &format!("INSERT INTO checkpoints (size, note) VALUES ({size}, {l});"),
        &format!("INSERT INTO checkpoints (size, note) VALUES ({size}, {p});"),
    );
    assert!(run(&log).ok);

    // A missing checkpoint row in the middle of the log.
    let middle = store.checkpoints(1, 1000).unwrap();
    assert!(middle.len() >= 3, "{middle:?}");
    let (at, note) = middle[middle.len() / 2].clone();
    assert!(at > 1 && at < size);
    let delete = format!("DELETE FROM checkpoints WHERE size = {at};");
    sql(&log, backend, &delete, &delete);
    let r = run(&log);
    assert_problem(&r, "checkpoint", size);
    assert!(
        r.problem.as_ref().unwrap().message.contains("missing"),
        "{r:?}"
    );
    let (l, p) = lit(&note);
    sql(
        &log,
        backend,
        &format!("INSERT INTO checkpoints (size, note) VALUES ({at}, {l});"),
        &format!("INSERT INTO checkpoints (size, note) VALUES ({at}, {p});"),
    );
    assert!(run(&log).ok);

    // A checkpoint claimed as witnessed whose cosignature does not verify. A verifying
    // cosignature by a policy witness passes, one by a witness outside the policy is ignored.
    let witness =
        SignerKey::from_seed("witness.fsck.test", TYPE_COSIGNATURE_V1, &[84; 32]).unwrap();
    let outsider =
        SignerKey::from_seed("other.witness.test", TYPE_COSIGNATURE_V1, &[85; 32]).unwrap();
    let cosigned = |note: &[u8], flip: bool| {
        let mut n = Note::parse(note).unwrap();
        let text = SignedCheckpoint::open(note, &[log.log_key()])
            .unwrap()
            .text()
            .to_owned();
        let mut sig = attestlog_proto::cosignature::cosign(&witness, 1_700_000_000, &text).unwrap();
        if flip {
            sig.signature[20] ^= 1;
        }
        n.add_signature(sig).unwrap();
        n.add_signature(
            attestlog_proto::cosignature::cosign(&outsider, 1_700_000_000, &text).unwrap(),
        )
        .unwrap();
        n.to_bytes()
    };
    let witnesses = [witness.verifier()];
    store
        .set_checkpoint_note(at, &cosigned(&note, false))
        .unwrap();
    let r = run_with(&log, &witnesses);
    assert!(r.ok, "{r:?}");
    store
        .set_checkpoint_note(at, &cosigned(&note, true))
        .unwrap();
    assert_problem(&run_with(&log, &witnesses), "cosignature", at);
    store.set_checkpoint_note(at, &note).unwrap();
    assert!(run_with(&log, &witnesses).ok);

    // An entry whose signer was never enrolled, written with valid tiles and a log-signed
    // checkpoint (as write access to the database alone could): only admission finds it.
    let stranger = vendor_key(82);
    let data = sign_value(&stranger, &statement(VENDOR, &att_id(9_999), "Forged"));
    let edge = Edge::from_tiles(size, |k| store.read_tiles(k))
        .unwrap()
        .unwrap();
    let entry = BatchEntry::plain(data);
    let (next, tiles) = integrate(&edge, &[entry.leaf_hash]);
    let note = attestlog_server::rules::sign_checkpoint(
        std::slice::from_ref(&log.state.signer),
        log.state.signer.name(),
        next.size(),
        &next.root(),
    )
    .unwrap();
    store
        .commit_batch(&Batch {
            old_size: size,
            entries: vec![entry],
            tiles,
            checkpoint: note,
        })
        .unwrap();
    let r = run(&log);
    assert_problem(&r, "admission", size);
    assert!(
        r.problem.unwrap().message.contains("enrolled"),
        "bad message"
    );
}

crate::both_backends!(fsck_finds_each_corruption);

/// A healthy log of 100,000 entries (full level-0 tiles, level-1 tiles) passes, with every
/// entry's signature verified and every tile and checkpoint compared (about 40 s to build and
/// 30 s to check on two cores). `ATTESTLOG_FSCK_ENTRIES` sets another size (at least 31,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_passes_on_a_healthy_large_log() {
    let n: u64 = std::env::var("ATTESTLOG_FSCK_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .max(31_000);
    let started = std::time::Instant::now();
    let log = TestLog::start_with(|c| {
        c.max_batch = 4096;
        c.queue = 10_000;
    })
    .await;
    let key = vendor_key(83);
    log.enrol(VENDOR, &key.verifier()).await;
    super::large_log::bulk_append(&log, VENDOR, &key, n).await;
    let built = started.elapsed();
    let store = log.state.store.clone();
    let keys = [log.log_key()];
    let dir = log.dir.clone();
    let mut calls = 0u64;
    let r = tokio::task::spawn_blocking(move || {
        fsck::run(store.as_ref(), &keys, &[], &dir, 0, |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .map(|r| (r, calls))
    })
    .await
    .unwrap()
    .unwrap();
    let (r, calls) = r;
    eprintln!(
        "fsck of {} entries: log built in {built:.1?}, checked in {:.1?}",
        n + 1,
        started.elapsed() - built
    );
    let full_tiles = r.tiles;
    assert!(r.ok, "{r:?}");
    assert_eq!((r.tree_size, r.entries), (n + 1, n + 1));
    assert!(r.tiles > 150 && r.checkpoints > 10, "{r:?}");
    assert!(calls > 150, "progress reported {calls} times");
    // From an entry on (three quarters in): the same verdict, fewer tiles compared.
    let from = n / 4 * 3;
    let r = fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        &[],
        &log.dir,
        from,
        |_, _| {},
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!((r.from, r.entries), (from, n + 1));
    assert!(r.tiles < full_tiles / 2, "{r:?}");
}

/// One round of `attestlog monitor --once` on `log`, its state in `state`.
async fn monitor_once(log: &TestLog, state: &std::path::Path) -> (u8, String) {
    let (url, key, state) = (
        log.url.clone(),
        log.log_key().to_string(),
        state.to_str().unwrap().to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        crate::common::run(&[
            "--log",
            &url,
            "monitor",
            "--log-key",
            &key,
            "--state",
            &state,
            "--once",
        ])
    })
    .await
    .unwrap()
}

/// The SCITT registration policy (DESIGN.md §12) is a log entry and fsck replays it: the
/// configured policy is logged when the log starts serving, a change of policy is a new entry
/// (the next sequence) and the same policy again is none; `POST /entries` refuses a signed
/// statement the policy in force refuses (422 `registration-policy`), and fsck judges every
/// signed statement under the policy entry below it, refusing one the logged policy refuses.
async fn registration_policy_is_logged_and_replayed(backend: Backend) {
    use attestlog_proto::cose::SignedStatement;
    use attestlog_proto::predicate::{PREDICATE_TYPE, statement_from_value};
    use attestlog_proto::registration::{PAYLOAD_TYPE_REGISTRATION_POLICY, RegistrationPolicy};
    use attestlog_proto::scitt::parse_problem_details;

    let attestations_only = RegistrationPolicy {
        predicate_types: vec![PREDICATE_TYPE.to_owned()],
        ..RegistrationPolicy::built_in(1)
    };
    let policy = attestations_only.clone();
    let log = TestLog::start_on_with(backend, move |c| c.scitt_policy = Some(policy)).await;
    // Logged as it starts serving: wait until it is published.
    let in_force = |log: &TestLog| {
        log.state
            .registration_policy(&log.state.shared.published())
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while in_force(&log).is_none() {
        assert!(std::time::Instant::now() < deadline, "no policy logged");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let p1 = in_force(&log).unwrap();
    assert_eq!(p1.sequence, 1);
    assert!(p1.same_terms(&attestations_only));
    let (status, e) = log.get_json("/v1/entries/0").await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["kind"], "registration_policy", "{e}");
    assert_eq!(e["payload"]["predicate_types"][0], PREDICATE_TYPE, "{e}");

    let vendor = vendor_key(41);
    let lab = vendor_key(42);
    log.enrol(VENDOR, &vendor.verifier()).await;
    let (status, body) = log
        .vendors(&serde_json::json!({"vendor": crate::verifications::LAB,
            "key": lab.verifier().to_string(), "action": "enrol", "role": "verifier"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let st = statement_from_value(statement(VENDOR, &att_id(1), "P")).unwrap();
    let attestation = SignedStatement::sign(&st.canonical_bytes(), &vendor, &att_id(1)).to_entry();
    let (status, body) = log.post_cose(&attestation).await;
    assert_eq!(status, 201, "{:?}", parse_problem_details(&body));
    let subject = log.state.shared.published().size - 1;
    let v = crate::verifications::verification_of(subject, &attestation, &att_id(1), "consistent");
    let v = attestlog_proto::verification::statement_from_value(v).unwrap();
    let verification = SignedStatement::sign(&v.canonical_bytes(), &lab, &att_id(1)).to_entry();
    let (status, body) = log.post_cose(&verification).await;
    let (_, detail, code) = parse_problem_details(&body).unwrap();
    assert_eq!(
        (status, code.as_str()),
        (422, "registration-policy"),
        "{detail}"
    );
    assert!(detail.contains("registration policy 1"), "{detail}");
    let r = run(&log);
    assert!(r.ok, "{r:?}");

    // A change of policy is a new entry; the verification is now admitted under it.
    let mut config = log.config();
    config.scitt_policy = Some(RegistrationPolicy::built_in(1));
    let dir = log.dir.clone();
    let mut log = log;
    let db = log.keep_database();
    log.stop().await;
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while in_force(&log).map(|p| p.sequence) != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "policy 2 never logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, body) = log.post_cose(&verification).await;
    assert_eq!(status, 201, "{:?}", parse_problem_details(&body));
    let size = log.state.shared.published().size;
    let verification_index = size - 1;
    // The same policy again logs nothing.
    log.state.put_policy_in_force().await.unwrap();
    assert_eq!(log.state.shared.published().size, size);
    let r = run(&log);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.entries, size);
    // A monitor follows the policies, and the statements under them, in two runs (its state
    // keeps the policy in force across a restart).
    let state = temp_dir("policy-monitor");
    let (code, out) = monitor_once(&log, &state).await;
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");
    assert!(!out.contains("entry_invalid"), "{out}");
    assert_eq!(out.matches("\"registration_policy\"").count(), 2, "{out}");
    let (code, out) = monitor_once(&log, &state).await;
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");

    // fsck refuses a signed statement the logged policy refuses: policy 2 rewritten (signed
    // by the log key) to accept attestations only makes the verification inadmissible. With
    // `--from` the tree size, fsck decides admission only (the tiles would name the change
    // first).
    let p2_index = log
        .state
        .store
        .lookup_statement(&attestlog_proto::registration::slot(2))
        .unwrap()
        .unwrap();
    let stricter = RegistrationPolicy {
        sequence: 2,
        ..attestations_only
    };
    let env = stricter.to_envelope(&log.state.signer);
    assert_eq!(env.payload_type, PAYLOAD_TYPE_REGISTRATION_POLICY);
    // (The restarted log's database is the kept scratch database: its URL is the config's.)
    match backend {
        Backend::Sqlite => set_entry(&log, backend, p2_index, &env.canonical_bytes()),
        Backend::Postgres => crate::pg_support::execute(
            config.database.as_deref().unwrap(),
            &format!(
                "UPDATE entries SET data = {} WHERE idx = {p2_index};",
                lit(&env.canonical_bytes()).1
            ),
        ),
    }
    let r = fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        &[],
        &log.dir,
        size,
        |_, _| {},
    )
    .unwrap();
    assert_problem(&r, "admission", verification_index);
    let message = &r.problem.as_ref().unwrap().message;
    assert!(message.contains("registration policy 2"), "{message}");
    log.stop().await;
    drop(db);
}

crate::both_backends!(registration_policy_is_logged_and_replayed);

/// Sets the log's recorded `policies_from` (as a migration records it) in its database.
fn set_policies_from(config: &attestlog_server::config::Config, backend: Backend, n: u64) {
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(config.sqlite_path().unwrap()).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            c.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'policies_from'",
                [n.to_string()],
            )
            .unwrap();
        }
        Backend::Postgres => crate::pg_support::execute(
            config.database.as_deref().unwrap(),
            &format!("UPDATE log_meta SET value = '{n}' WHERE key = 'policies_from';"),
        ),
    }
}

/// Every signed statement is judged under a logged registration policy (DESIGN.md §12): a
/// log with no policy configured logs the built-in one (policy 1, signed by the log key) just
/// before its first signed statement, and nothing before a DSSE entry; the policy entry's JSON
/// receipt verifies, `/v1/log` reports it, and fsck and a monitor replay it. A log upgraded
/// while it held signed statements with no policy entry below them records `policies_from` =
/// its size then: those stay admissible (under the built-in policy), the next signed statement
/// gets the policy logged before it, and a signed statement at or above `policies_from` with
/// no policy entry below it is a finding.
async fn every_signed_statement_has_a_logged_policy_below_it(backend: Backend) {
    use attestlog_proto::cose::SignedStatement;
    use attestlog_proto::predicate::statement_from_value;
    use attestlog_proto::registration::RegistrationPolicy;
    use attestlog_proto::scitt::parse_problem_details;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    let vendor = vendor_key(43);
    let cose = |n: u64| {
        let st = statement_from_value(statement(VENDOR, &att_id(n), "P")).unwrap();
        SignedStatement::sign(&st.canonical_bytes(), &vendor, &att_id(n)).to_entry()
    };
    let registered = |(status, body): (u16, Vec<u8>)| {
        assert_eq!(status, 201, "{:?}", parse_problem_details(&body));
    };
    let entry_at = |log: &TestLog, i: u64| {
        let (url, http) = (format!("{}/v1/entries/{i}", log.url), log.http.clone());
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let logged_bytes = |e: &serde_json::Value| {
        STANDARD
            .decode(e["receipt"]["entry"].as_str().unwrap())
            .unwrap()
    };

    // A new log.
    let log = TestLog::start_on(backend).await;
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(info["policies_from"], 0, "{info}");
    assert!(info["registration_policy"].is_null(), "{info}");
    log.enrol(VENDOR, &vendor.verifier()).await;
    let (status, body) = log
        .submit(&sign_value(&vendor, &statement(VENDOR, &att_id(1), "P")))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        log.state.shared.published().size,
        2,
        "no policy before DSSE"
    );
    let first = cose(2);
    registered(log.post_cose(&first).await);
    let e = entry_at(&log, 2).await;
    assert_eq!(e["kind"], "registration_policy", "{e}");
    let logged: RegistrationPolicy = serde_json::from_value(e["payload"].clone()).unwrap();
    assert_eq!(logged, RegistrationPolicy::built_in(1));
    // Its JSON receipt verifies under the log key, as a log-signed entry of no vendor.
    let r: attestlog_proto::api::Receipt = serde_json::from_value(e["receipt"].clone()).unwrap();
    let v = attestlog_proto::receipt::verify_receipt(
        &r,
        &attestlog_proto::trust::Trust::log_key(log.log_key()),
    )
    .unwrap();
    assert_eq!(
        (v.index(), v.vendor(), v.enrolment_index()),
        (2, None, None)
    );
    assert_eq!(logged_bytes(&entry_at(&log, 3).await), first);
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(
        serde_json::from_value::<RegistrationPolicy>(info["registration_policy"].clone()).unwrap(),
        RegistrationPolicy::built_in(1)
    );
    // The next signed statement is judged under the same policy: no second entry.
    registered(log.post_cose(&cose(3)).await);
    assert_eq!(log.state.shared.published().size, 5);
    let r = run(&log);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.entries, 5);
    let state = temp_dir("built-in-policy-monitor");
    let (code, out) = monitor_once(&log, &state).await;
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");
    assert!(!out.contains("entry_invalid"), "{out}");
    assert_eq!(out.matches("\"registration_policy\"").count(), 1, "{out}");
    log.stop().await;

    // A log from before the rule: its signed statements have no policy entry below them (here
    // written by this server told the rule starts far ahead, as an older server wrote them).
    let mut log = TestLog::start_on(backend).await;
    let db = log.keep_database();
    let (dir, config) = (log.dir.clone(), log.config());
    log.stop().await;
    set_policies_from(&config, backend, 1_000_000);
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    log.enrol(VENDOR, &vendor.verifier()).await;
    let legacy = cose(1);
    registered(log.post_cose(&legacy).await);
    assert_eq!(logged_bytes(&entry_at(&log, 1).await), legacy);
    log.stop().await;
    // The upgrade records the size then.
    set_policies_from(&config, backend, 2);
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(info["policies_from"], 2, "{info}");
    let r = run(&log);
    assert!(
        r.ok,
        "the statement below policies_from is admissible: {r:?}"
    );
    let state = temp_dir("legacy-policy-monitor");
    let (code, out) = monitor_once(&log, &state).await;
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");
    assert!(!out.contains("entry_invalid"), "{out}");
    // The next signed statement gets the policy in force logged before it.
    let next = cose(2);
    registered(log.post_cose(&next).await);
    assert_eq!(entry_at(&log, 2).await["kind"], "registration_policy");
    assert_eq!(logged_bytes(&entry_at(&log, 3).await), next);
    let r = run(&log);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.entries, 4);
    let (code, out) = monitor_once(&log, &state).await;
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");
    assert!(!out.contains("entry_invalid"), "{out}");
    assert_eq!(out.matches("\"registration_policy\"").count(), 1, "{out}");
    // Had the log always enforced the rule (policies_from 0), the statement at index 1 would
    // be a finding: fsck (on the database as it is now) and a new monitor both name it.
    set_policies_from(&config, backend, 0);
    let store = fsck::open_store(&config).unwrap();
    let r = fsck::run(
        store.as_ref(),
        &[log.log_key()],
        &[],
        &log.dir,
        0,
        |_, _| {},
    )
    .unwrap();
    assert_problem(&r, "admission", 1);
    let message = &r.problem.as_ref().unwrap().message;
    assert!(
        message.contains("no registration policy entry"),
        "{message}"
    );
    drop(store);
    log.stop().await;
    let log = TestLog::start_in(dir, config).await;
    let (_, out) = monitor_once(&log, &temp_dir("strict-policy-monitor")).await;
    assert!(
        out.contains("entry_invalid") && out.contains("no registration policy entry"),
        "{out}"
    );
    log.stop().await;
    drop(db);
}

crate::both_backends!(every_signed_statement_has_a_logged_policy_below_it);
