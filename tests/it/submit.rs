//! Submission, receipts, dedup, enrolment rules, ownership, search, quotas, restarts.

use attestlog_proto::Hash;
use attestlog_proto::api::SubmitResponse;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::proof::verify_inclusion;
use attestlog_proto::tlog_proof::TlogProof;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::common::*;

async fn submit_returns_verifiable_receipt_and_dedups(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(1);
    let enrol_index = log.enrol("Example AV AG", &key.verifier()).await;
    assert_eq!(enrol_index, 0);
    let env = sign_value(&key, &statement("Example AV AG", &att_id(1), "Endpoint"));
    let (status, body) = log.submit(&env).await;
    assert_eq!(status, 201, "{body}");
    let resp: SubmitResponse = serde_json::from_value(body).unwrap();
    assert_eq!(resp.index, 1);
    assert_eq!(resp.leaf_hash, Hash::leaf(&env));

    // The checkpoint is signed by the log key and the inclusion proof leads to its root.
    let cp = SignedCheckpoint::open(resp.checkpoint.as_bytes(), &[log.log_key()]).unwrap();
    let cp = cp.checkpoint();
    assert_eq!(cp.size, 2);
    verify_inclusion(
        &resp.leaf_hash,
        1,
        cp.size,
        &resp.inclusion_proof.hashes,
        &cp.root,
    )
    .unwrap();

    // The receipt's entry and its tlog-proofs verify offline with only the log key.
    assert_eq!(STANDARD.decode(&resp.receipt.entry).unwrap(), env);
    let p = TlogProof::parse(resp.receipt.proof.as_bytes()).unwrap();
    let v = p.verify_with_log_keys(&env, &[log.log_key()]).unwrap();
    assert_eq!(v.index, 1);
    let enrolment = resp
        .receipt
        .enrolment
        .as_ref()
        .expect("enrolment in receipt");
    let enrolment_entry = STANDARD.decode(&enrolment.entry).unwrap();
    let ep = TlogProof::parse(enrolment.proof.as_bytes()).unwrap();
    assert_eq!(ep.index, 0);
    ep.verify_with_log_keys(&enrolment_entry, &[log.log_key()])
        .unwrap();
    let receipt = attestlog_proto::receipt::verify_receipt(
        &resp.receipt,
        &attestlog_proto::trust::Trust::log_key(log.log_key()),
    )
    .unwrap();
    assert_eq!(receipt.index(), 1);
    assert_eq!(receipt.enrolment_index(), Some(0));
    assert_eq!(receipt.vendor(), Some("Example AV AG"));
    // The same receipt does not verify under another log key.
    let other = attestlog_proto::keys::SignerKey::from_seed(
        log.log_key().name(),
        attestlog_proto::keys::TYPE_ED25519,
        &[7; 32],
    )
    .unwrap()
    .verifier();
    assert!(
        attestlog_proto::receipt::verify_receipt(
            &resp.receipt,
            &attestlog_proto::trust::Trust::log_key(other)
        )
        .is_err()
    );

    // Same envelope again: 200 and the original index.
    let (status, body) = log.submit(&env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"], 1);
    // The entry is readable with its parsed view.
    let (status, body) = log.get_json("/v1/entries/1").await;
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "attestation");
    assert_eq!(
        body["payload"]["predicate"]["vendor"]["legal_name"],
        "Example AV AG"
    );
    let (status, body) = log.get_json("/v1/entries/0").await;
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "enrolment");
    assert_eq!(body["payload"]["action"], "enrol");
}

async fn enrolment_rules_and_revocation(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(2);
    log.enrol("Vendor Two AG", &key.verifier()).await;
    // A key is enrolled at most once, for one vendor, ever.
    let (s, b) = log
        .vendors(&json!({"vendor": "Vendor Two AG", "key": key.verifier().to_string(), "action": "enrol"}))
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = log
        .vendors(
            &json!({"vendor": "Other AG", "key": key.verifier().to_string(), "action": "enrol"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = log.revoke("Vendor Two AG", &vendor_key(3).verifier()).await;
    assert_eq!(s, 409);
    // A vendor name the enrolment rules would refuse on replay (fsck, monitor, receipts) is
    // refused before anything is logged: surrounding spaces, control characters, too long.
    let size = log.get_json("/v1/log").await.1["tree_size"].clone();
    for name in [
        " Lead AG",
        "Trail AG ",
        "Line\nBreak AG",
        "",
        &"N".repeat(257),
    ] {
        let (s, b) = log
            .vendors(&json!({"vendor": name, "key": vendor_key(4).verifier().to_string(), "action": "enrol"}))
            .await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (422, Some("vendor")),
            "{name:?}: {b}"
        );
    }
    assert_eq!(log.get_json("/v1/log").await.1["tree_size"], size);
    // Without or with a wrong admin token: 401.
    let r = log
        .http
        .post(format!("{}/v1/vendors", log.url))
        .json(&json!({"vendor": "X", "key": key.verifier().to_string(), "action": "enrol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = log
        .http
        .post(format!("{}/v1/vendors", log.url))
        .bearer_auth("wrong")
        .json(&json!({"vendor": "X", "key": key.verifier().to_string(), "action": "enrol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let before = sign_value(&key, &statement("Vendor Two AG", &att_id(1), "P"));
    assert_eq!(log.submit(&before).await.0, 201);
    let (s, b) = log.revoke("Vendor Two AG", &key.verifier()).await;
    assert_eq!(s, 201, "{b}");
    let revoked_at = b["index"].as_u64().unwrap();
    let after = sign_value(&key, &statement("Vendor Two AG", &att_id(2), "P"));
    let (s, b) = log.submit(&after).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["field"], "signatures");
    // A duplicate of an entry admitted before the revocation still answers 200.
    assert_eq!(log.submit(&before).await.0, 200);
    // Listing shows the revocation.
    let (_, list) = log.get_json("/v1/vendors").await;
    assert_eq!(list["vendors"][0]["keys"][0]["revoked_at"], revoked_at);
    // Unknown vendor and a key of another vendor are refused.
    let stranger = vendor_key(9);
    let (s, b) = log
        .submit(&sign_value(
            &stranger,
            &statement("Nobody AG", &att_id(3), "P"),
        ))
        .await;
    assert_eq!(s, 422, "{b}");
    let k4 = vendor_key(4);
    log.enrol("Four AG", &k4.verifier()).await;
    let (s, b) = log
        .submit(&sign_value(
            &k4,
            &statement("Vendor Two AG", &att_id(4), "P"),
        ))
        .await;
    assert_eq!(s, 422, "{b}");
}

async fn a_bad_signature_beside_a_good_one_is_refused(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let (k1, k2) = (vendor_key(15), vendor_key(16));
    log.enrol("Two Keys AG", &k1.verifier()).await;
    log.enrol("Two Keys AG", &k2.verifier()).await;
    let good = sign_value(&k1, &statement("Two Keys AG", &att_id(1), "P"));
    let mut env: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let sig = env["signatures"][0]["sig"].clone();
    env["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"keyid": k2.verifier().key_id_hex(), "sig": sig}));
    let (s, b) = log.submit(&serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("signatures["),
        "{b}"
    );
    assert_eq!(log.submit(&good).await.0, 201);
}

async fn junk_signatures_cannot_replay_a_logged_statement(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let k = vendor_key(17);
    log.enrol("Replay AG", &k.verifier()).await;
    let v1 = sign_value(&k, &statement("Replay AG", &att_id(1), "P"));
    let (s, first) = log.submit(&v1).await;
    assert_eq!(s, 201, "{first}");
    // A third party appends signatures under unknown key IDs to the vendor's envelope.
    let mut env: serde_json::Value = serde_json::from_slice(&v1).unwrap();
    for junk in ["00000000", "ffffffff"] {
        env["signatures"]
            .as_array_mut()
            .unwrap()
            .push(json!({"keyid": junk, "sig": STANDARD.encode([7u8; 64])}));
    }
    let (s, again) = log.submit(&serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(s, 200, "a replay is the original entry: {again}");
    assert_eq!(again["index"], first["index"]);
    assert_eq!(again["leaf_hash"], first["leaf_hash"]);
    // A new statement with a junk signature beside the vendor's is logged without it.
    let v2 = sign_value(&k, &statement("Replay AG", &att_id(2), "P"));
    let mut env: serde_json::Value = serde_json::from_slice(&v2).unwrap();
    env["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"keyid": "00000000", "sig": STANDARD.encode([7u8; 64])}));
    let (s, b) = log.submit(&serde_json::to_vec(&env).unwrap()).await;
    assert_eq!(s, 201, "{b}");
    let logged = STANDARD
        .decode(b["receipt"]["entry"].as_str().unwrap())
        .unwrap();
    assert_eq!(logged, v2, "only the vendor's own signature is logged");
    assert_eq!(log.submit(&v2).await.0, 200);
}

async fn attestation_ids_belong_to_their_first_vendor(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let (a, b) = (vendor_key(5), vendor_key(6));
    log.enrol("A AG", &a.verifier()).await;
    log.enrol("B AG", &b.verifier()).await;
    let (s, first) = log
        .submit(&sign_value(&a, &statement("A AG", &att_id(7), "P")))
        .await;
    assert_eq!(s, 201);
    let first_index = first["index"].as_u64().unwrap();
    let (s, body) = log
        .submit(&sign_value(&b, &statement("B AG", &att_id(7), "P")))
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error"]["field"], "predicate.attestation_id");
    // A new version superseding the first one.
    let mut v2 = statement("A AG", &att_id(7), "P");
    v2["predicate"]["supersedes"] = json!({"attestation_id": att_id(7), "log_index": first_index});
    v2["predicate"]["issued_at"] = json!("2026-06-01T00:00:00Z");
    v2["predicate"]["data_flows"][0]["retention"] = json!("P2Y");
    let (s, body) = log.submit(&sign_value(&a, &v2)).await;
    assert_eq!(s, 201, "{body}");
    // Superseding an entry of another attestation id is refused.
    let (s, other) = log
        .submit(&sign_value(&a, &statement("A AG", &att_id(8), "P")))
        .await;
    assert_eq!(s, 201);
    let mut bad = statement("A AG", &att_id(9), "P");
    bad["predicate"]["supersedes"] =
        json!({"attestation_id": att_id(9), "log_index": other["index"]});
    let (s, body) = log.submit(&sign_value(&a, &bad)).await;
    assert_eq!(s, 422, "{body}");
}

async fn concurrent_submitters_get_distinct_indexes(backend: Backend) {
    let log = std::sync::Arc::new(TestLog::start_on(backend).await);
    let key = vendor_key(10);
    log.enrol("Busy AG", &key.verifier()).await;
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let log = log.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..25u64 {
                let env = sign_value(&key, &statement("Busy AG", &att_id(t * 1000 + i), "P"));
                let (s, b) = log.submit(&env).await;
                assert_eq!(s, 201, "{b}");
                out.push(b["index"].as_u64().unwrap());
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>());
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(info["tree_size"], 201);
}

async fn revoke_racing_attestations_is_decided_by_index_order(backend: Backend) {
    let log = std::sync::Arc::new(TestLog::start_on(backend).await);
    let key = vendor_key(11);
    log.enrol("Race AG", &key.verifier()).await;
    let mut tasks = Vec::new();
    for i in 0..60u64 {
        let log = log.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let env = sign_value(&key, &statement("Race AG", &att_id(i), "P"));
            log.submit(&env).await
        }));
    }
    let (s, b) = log.revoke("Race AG", &key.verifier()).await;
    assert_eq!(s, 201, "{b}");
    let revoked_at = b["index"].as_u64().unwrap();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        match s {
            201 => assert!(b["index"].as_u64().unwrap() < revoked_at, "{b}"),
            422 => assert_eq!(b["error"]["field"], "signatures"),
            other => panic!("unexpected status {other}: {b}"),
        }
    }
}

async fn search_by_every_field(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(12);
    log.enrol("Search AG", &key.verifier()).await;
    let mut v = statement("Search AG", &att_id(1), "Scanner");
    v["predicate"]["data_flows"][0]["category"] = json!("telemetry");
    v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("AT");
    assert_eq!(log.submit(&sign_value(&key, &v)).await.0, 201);
    assert_eq!(
        log.submit(&sign_value(
            &key,
            &statement("Search AG", &att_id(2), "Other")
        ))
        .await
        .0,
        201
    );
    for (q, want) in [
        ("vendor=search%20ag", vec![2, 1]),
        ("product=Scanner", vec![1]),
        ("country=at", vec![1]),
        ("category=telemetry", vec![1]),
        ("category=threat_samples", vec![2]),
        (&format!("attestation_id={}", att_id(2)) as &str, vec![2]),
        ("vendor=nobody", vec![]),
        ("vendor=search%20ag&limit=1", vec![2]),
        ("vendor=search%20ag&before=2", vec![1]),
    ] {
        let (s, b) = log.get_json(&format!("/v1/search?{q}")).await;
        assert_eq!(s, 200, "{q}: {b}");
        let got: Vec<u64> = b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "{q}");
    }
    let (s, _) = log.get_json("/v1/search?colour=red").await;
    assert_eq!(s, 400);
}

async fn quota_answers_429_with_retry_after(backend: Backend) {
    let log = TestLog::start_on_with(backend, |c| {
        c.quota_rate = 0.01;
        c.quota_burst = 2.0;
    })
    .await;
    let key = vendor_key(13);
    log.enrol("Quota AG", &key.verifier()).await;
    // Submissions that fail verification do not drain the vendor's bucket.
    let impostor = vendor_key(99);
    for i in 10..15 {
        let env = sign_value(&impostor, &statement("Quota AG", &att_id(i), "P"));
        assert_eq!(log.submit(&env).await.0, 422);
    }
    for i in 0..2 {
        let env = sign_value(&key, &statement("Quota AG", &att_id(i), "P"));
        assert_eq!(log.submit(&env).await.0, 201);
    }
    let env = sign_value(&key, &statement("Quota AG", &att_id(3), "P"));
    let r = log
        .http
        .post(format!("{}/v1/entries", log.url))
        .body(env)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    // Duplicates do not count against the quota.
    let env0 = sign_value(&key, &statement("Quota AG", &att_id(0), "P"));
    assert_eq!(log.submit(&env0).await.0, 200);
}

/// The rollback guard's two slots at start: a torn slot (a write the crash cut short) is passed
/// over for the other one and the log continues; two damaged slots refuse the start naming
/// both files, never read as "no file".
#[tokio::test]
async fn a_torn_guard_slot_is_passed_over_and_two_damaged_slots_refuse_the_start() {
    let log = TestLog::start().await;
    let key = vendor_key(15);
    log.enrol("Torn AG", &key.verifier()).await;
    for i in 1..4 {
        let env = sign_value(&key, &statement("Torn AG", &att_id(i), "P"));
        assert_eq!(log.submit(&env).await.0, 201);
    }
    let served = log.get("/checkpoint").await.bytes().await.unwrap().to_vec();
    let config = log.config();
    let dir = log.stop().await;
    let keys = attestlog_server::fsck::log_keys(&config).unwrap();
    let newest = attestlog_server::signer::read_published(&dir, &keys)
        .unwrap()
        .unwrap();
    assert_eq!(newest.note, served, "the guard holds what was served");
    let [a, b, _] = attestlog_server::signer::published_paths(&dir);
    let holds = |p: &std::path::Path| {
        std::fs::read(p)
            .unwrap()
            .windows(newest.note.len())
            .any(|w| w == newest.note.as_slice())
    };
    let (newer, older) = if holds(&a) { (&a, &b) } else { (&b, &a) };
    assert!(holds(newer) && !holds(older));
    let whole = std::fs::read(newer).unwrap();
    std::fs::write(newer, &whole[..whole.len() - 30]).unwrap();
    let older_size = attestlog_server::signer::read_published(&dir, &keys)
        .unwrap()
        .unwrap()
        .size;
    assert!(older_size < newest.size);
    // The start reads the older slot; storage extends it; the log continues.
    let log = TestLog::start_in(dir, config.clone()).await;
    assert_eq!(
        log.get("/checkpoint").await.bytes().await.unwrap().to_vec(),
        served
    );
    let env = sign_value(&key, &statement("Torn AG", &att_id(9), "P"));
    assert_eq!(log.submit(&env).await.0, 201);
    log.stop().await;
    for p in [&a, &b] {
        let mut bytes = std::fs::read(p).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        std::fs::write(p, bytes).unwrap();
    }
    let err = attestlog_server::App::open(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refusing to start")
            && err.contains("published-checkpoint.a is not whole")
            && err.contains("published-checkpoint.b is not whole"),
        "{err}"
    );
}

/// A log created before the two slots: its single `published-checkpoint` file still guards the
/// start (an older database beside it is refused), and the first checkpoint written at least
/// as large replaces it with the slots.
#[tokio::test]
async fn an_old_single_published_checkpoint_file_guards_the_start_and_is_replaced() {
    let log = TestLog::start().await;
    let key = vendor_key(16);
    log.enrol("Old AG", &key.verifier()).await;
    let env = sign_value(&key, &statement("Old AG", &att_id(1), "P"));
    assert_eq!(log.submit(&env).await.0, 201);
    let old_db = log.dir.join("old.db");
    attestlog_server::storage::sqlite::backup_file(&log.dir.join("attestlog.db"), &old_db).unwrap();
    let env = sign_value(&key, &statement("Old AG", &att_id(2), "P"));
    assert_eq!(log.submit(&env).await.0, 201);
    let config = log.config();
    let dir = log.stop().await;
    let db = dir.join("attestlog.db");
    let new_db = dir.join("new.db");
    attestlog_server::storage::sqlite::backup_file(&db, &new_db).unwrap();
    let keys = attestlog_server::fsck::log_keys(&config).unwrap();
    let newest = attestlog_server::signer::read_published(&dir, &keys)
        .unwrap()
        .unwrap();
    // The data directory as an earlier version left it: the single file only.
    let [a, b, legacy] = attestlog_server::signer::published_paths(&dir);
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(&b).unwrap();
    std::fs::write(&legacy, &newest.note).unwrap();
    let restore = |from: &std::path::Path| {
        std::fs::copy(from, &db).unwrap();
        for ext in ["attestlog.db-wal", "attestlog.db-shm"] {
            let _ = std::fs::remove_file(dir.join(ext));
        }
    };
    restore(&old_db);
    let err = attestlog_server::App::open(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refusing to start") && err.contains("published-checkpoint file"),
        "{err}"
    );
    restore(&new_db);
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    assert_eq!(
        log.get("/checkpoint").await.bytes().await.unwrap().to_vec(),
        newest.note
    );
    let env = sign_value(&key, &statement("Old AG", &att_id(3), "P"));
    assert_eq!(log.submit(&env).await.0, 201);
    log.stop().await;
    assert!(!legacy.exists(), "the old file is replaced");
    assert!(a.exists() && b.exists());
    let now = attestlog_server::signer::read_published(&dir, &keys)
        .unwrap()
        .unwrap();
    assert!(now.size > newest.size);
}

#[tokio::test]
async fn restart_keeps_state_and_rollback_is_refused() {
    let log = TestLog::start().await;
    let key = vendor_key(14);
    log.enrol("Restart AG", &key.verifier()).await;
    let env1 = sign_value(&key, &statement("Restart AG", &att_id(1), "P"));
    assert_eq!(log.submit(&env1).await.0, 201);
    let backup = log.dir.join("backup.db");
    attestlog_server::storage::sqlite::backup_file(&log.dir.join("attestlog.db"), &backup).unwrap();
    let env2 = sign_value(&key, &statement("Restart AG", &att_id(2), "P"));
    assert_eq!(log.submit(&env2).await.0, 201);
    let cp_before = log.get("/checkpoint").await.text().await.unwrap();
    let dir = log.stop().await;

    // Restart: same checkpoint, enrolments and dedup survive.
    let mut config = attestlog_server::config::Config::with_data_dir(&dir);
    config.admin_token = Some("t".into());
    let log = TestLog::start_in(dir.clone(), config.clone()).await;
    assert_eq!(
        log.get("/checkpoint").await.text().await.unwrap(),
        cp_before
    );
    assert_eq!(log.submit(&env2).await.0, 200);
    let env3 = sign_value(&key, &statement("Restart AG", &att_id(3), "P"));
    let (s, b) = log.submit(&env3).await;
    assert_eq!(s, 201);
    assert_eq!(b["index"], 3);
    let dir = log.stop().await;

    // Restoring the older backup is refused at start.
    std::fs::copy(&backup, dir.join("attestlog.db")).unwrap();
    for ext in ["attestlog.db-wal", "attestlog.db-shm"] {
        let _ = std::fs::remove_file(dir.join(ext));
    }
    let err = attestlog_server::App::open(&config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("refusing to start"), "{err}");

    // A longer database with another history (same key) is refused too: the stored tree,
    // cut at the published size, must have the published root.
    let log_keys = attestlog_server::fsck::log_keys(&config).unwrap();
    let published = attestlog_server::signer::read_published(&dir, &log_keys)
        .unwrap()
        .unwrap();
    let forget = |dir: &std::path::Path| {
        for f in attestlog_server::signer::published_paths(dir) {
            let _ = std::fs::remove_file(f);
        }
    };
    forget(&dir);
    // Without its published-checkpoint file a non-empty database needs --trust-storage.
    let err = attestlog_server::App::open(&config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--trust-storage"), "{err}");
    let trusting = attestlog_server::config::Config {
        trust_storage: true,
        ..config.clone()
    };
    let log = TestLog::start_in(dir.clone(), trusting).await;
    for i in 20..24 {
        let env = sign_value(&key, &statement("Restart AG", &att_id(i), "Q"));
        assert_eq!(log.submit(&env).await.0, 201);
    }
    let dir = log.stop().await;
    forget(&dir);
    attestlog_server::signer::write_published(&dir, &published.note).unwrap();
    let err = attestlog_server::App::open(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refusing to start") && err.contains("another history"),
        "{err}"
    );
}

crate::both_backends!(
    submit_returns_verifiable_receipt_and_dedups,
    enrolment_rules_and_revocation,
    a_bad_signature_beside_a_good_one_is_refused,
    junk_signatures_cannot_replay_a_logged_statement,
    attestation_ids_belong_to_their_first_vendor,
    concurrent_submitters_get_distinct_indexes,
    revoke_racing_attestations_is_decided_by_index_order,
    search_by_every_field,
    quota_answers_429_with_retry_after
);
