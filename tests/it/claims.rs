//! One statement, one entry; one line of versions (DESIGN.md §10), through the HTTP API and
//! the CLI: replays of a logged statement in other envelopes answer with the original index,
//! a fork in a version chain is refused naming the head, and `attestlog status` follows the
//! chain, also in a log written before the chain rule.

use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::SignerKey;
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value};
use attestlog_server::admission;
use attestlog_server::config::Config;
use attestlog_server::storage::sqlite::SqliteStore;
use attestlog_server::storage::{CLAIMS_FROM, LogRead};
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;

const VENDOR: &str = "Claims AG";

/// Canonical envelope bytes of `v` signed by every key of `keys`.
fn signed_by(v: &Value, keys: &[&SignerKey]) -> Vec<u8> {
    let st = statement_from_value(v.clone()).unwrap();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), keys).canonical_bytes()
}

/// Version `day` (issued on that day of November 2026) of attestation `n`, superseding
/// `supersedes`.
fn version(n: u64, day: u8, supersedes: Option<u64>) -> Value {
    let mut v = statement(VENDOR, &att_id(n), "Endpoint");
    v["predicate"]["issued_at"] = json!(format!("2026-11-{day:02}T00:00:00Z"));
    v["predicate"]["valid_from"] = json!(format!("2026-11-{day:02}T00:00:00Z"));
    v["predicate"]["valid_until"] = json!("2099-01-01T00:00:00Z");
    match supersedes {
        Some(i) => {
            v["predicate"]["supersedes"] = json!({"attestation_id": att_id(n), "log_index": i});
        }
        None => {
            v["predicate"].as_object_mut().unwrap().remove("supersedes");
        }
    }
    v
}

fn index(body: &Value) -> u64 {
    body["index"]
        .as_u64()
        .unwrap_or_else(|| panic!("no index in {body}"))
}

async fn submit_new(log: &TestLog, env: &[u8]) -> u64 {
    let (status, body) = log.submit(env).await;
    assert_eq!(status, 201, "{body}");
    index(&body)
}

async fn assert_duplicate_of(log: &TestLog, env: &[u8], original: u64) {
    let (status, body) = log.submit(env).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(index(&body), original, "{body}");
    // The answer is the original entry and its receipt, not the resubmitted envelope.
    let (_, entry) = log.get_json(&format!("/v1/entries/{original}")).await;
    assert_eq!(body["receipt"]["entry"], entry["entry"]);
}

async fn signature_stripped_from_a_dual_signed_envelope(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let (k1, k2) = (vendor_key(31), vendor_key(32));
    log.enrol(VENDOR, &k1.verifier()).await;
    log.enrol(VENDOR, &k2.verifier()).await;
    let v = version(1, 1, None);
    let dual = signed_by(&v, &[&k1, &k2]);
    let i = submit_new(&log, &dual).await;
    // Either signature alone is the same statement: the original entry, no new one.
    assert_duplicate_of(&log, &signed_by(&v, &[&k1]), i).await;
    assert_duplicate_of(&log, &signed_by(&v, &[&k2]), i).await;
    assert_duplicate_of(&log, &dual, i).await;
    assert_eq!(log.state.shared.published().size, i + 1);
}

async fn dual_signed_envelope_resubmitted_after_a_rotation(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let (k1, k2, k3) = (vendor_key(33), vendor_key(34), vendor_key(35));
    log.enrol(VENDOR, &k1.verifier()).await;
    log.enrol(VENDOR, &k2.verifier()).await;
    let v = version(2, 1, None);
    let dual = signed_by(&v, &[&k1, &k2]);
    let i = submit_new(&log, &dual).await;
    // Key rotation: k2 revoked, k3 enrolled. The dual-signed envelope, resubmitted as is,
    // and the statement re-signed with the new key are the same entry.
    let (status, body) = log.revoke(VENDOR, &k2.verifier()).await;
    assert_eq!(status, 201, "{body}");
    assert_duplicate_of(&log, &dual, i).await;
    log.enrol(VENDOR, &k3.verifier()).await;
    assert_duplicate_of(&log, &signed_by(&v, &[&k1, &k3]), i).await;
    assert_duplicate_of(&log, &signed_by(&v, &[&k3]), i).await;
    let size = log.state.shared.published().size;
    assert_eq!(
        size,
        i + 3,
        "only the revocation and the enrolment were added"
    );
}

async fn statement_resigned_with_a_second_key(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let (k1, k2) = (vendor_key(36), vendor_key(37));
    log.enrol(VENDOR, &k1.verifier()).await;
    log.enrol(VENDOR, &k2.verifier()).await;
    let v = version(3, 1, None);
    let i = submit_new(&log, &signed_by(&v, &[&k1])).await;
    assert_duplicate_of(&log, &signed_by(&v, &[&k2]), i).await;
    // Formatting is not identity either: the same statement pretty-printed.
    let pretty = serde_json::to_vec_pretty(&v).unwrap();
    let env = Envelope::sign(PAYLOAD_TYPE_INTOTO, &pretty, &[&k2]).canonical_bytes();
    assert_duplicate_of(&log, &env, i).await;
}

async fn a_fork_in_the_chain_is_refused_naming_the_head(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let k = vendor_key(38);
    log.enrol(VENDOR, &k.verifier()).await;
    let v1 = submit_new(&log, &signed_by(&version(4, 1, None), &[&k])).await;
    let v2 = submit_new(&log, &signed_by(&version(4, 2, Some(v1)), &[&k])).await;
    // A second version superseding v1: a fork.
    let mut fork = version(4, 3, Some(v1));
    fork["predicate"]["status"] = json!("withdrawn");
    let (status, body) = log.submit(&signed_by(&fork, &[&k])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "predicate.supersedes.log_index");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("current head is index {v2}")),
        "{message}"
    );
    // A second "first" version, and a version no later than the head: refused too.
    let (status, body) = log.submit(&signed_by(&version(4, 3, None), &[&k])).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (422, &json!("predicate.supersedes"))
    );
    let (status, body) = log
        .submit(&signed_by(&version(4, 2, Some(v2)), &[&k]))
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (422, &json!("predicate.issued_at"))
    );
    // Withdrawal is a version in the chain.
    let mut withdrawn = version(4, 3, Some(v2));
    withdrawn["predicate"]["status"] = json!("withdrawn");
    submit_new(&log, &signed_by(&withdrawn, &[&k])).await;
}

both_backends!(
    signature_stripped_from_a_dual_signed_envelope,
    dual_signed_envelope_resubmitted_after_a_rotation,
    statement_resigned_with_a_second_key,
    a_fork_in_the_chain_is_refused_naming_the_head,
);

fn status_json(url: &str, id: &str) -> Value {
    let (_, out) = run(&["--log", url, "--json", "status", id]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
}

/// An attacker who holds a vendor's old signed statement logs it under another enrolled key
/// (a leaked key, or the vendor's own second key): it is the same statement, the log answers
/// with the original, and `status` shows the head of the chain.
#[test]
fn status_shows_the_head_after_an_old_statement_is_replayed() {
    let rt = server_runtime();
    let log = rt.block_on(TestLog::start());
    let (k1, k2) = (vendor_key(39), vendor_key(40));
    let (v1, v2) = rt.block_on(async {
        log.enrol(VENDOR, &k1.verifier()).await;
        log.enrol(VENDOR, &k2.verifier()).await;
        let v1 = submit_new(&log, &signed_by(&version(5, 1, None), &[&k1])).await;
        let mut second = version(5, 2, Some(v1));
        second["predicate"]["data_flows"][0]["retention"] = json!("P2Y");
        let v2 = submit_new(&log, &signed_by(&second, &[&k1])).await;
        assert_duplicate_of(&log, &signed_by(&version(5, 1, None), &[&k2]), v1).await;
        (v1, v2)
    });
    let s = status_json(&log.url, &att_id(5));
    assert_eq!(s["current_index"], v2, "{s}");
    assert_eq!(s["versions"][1]["index"], v1);
    assert_eq!(s["versions"][1]["state"], "superseded");
    // `diff ID` compares the current version with the one it superseded.
    let d: Value =
        serde_json::from_str(&ok(&["--log", &log.url, "--json", "diff", &att_id(5)])).unwrap();
    assert_eq!(d["new"], format!("{} (current)", att_id(5)));
    let aspects: Vec<&str> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["aspect"].as_str().unwrap())
        .collect();
    assert!(aspects.contains(&"retention"), "{d}");
    // Search results say which version is current.
    let found: Value = serde_json::from_str(&ok(&[
        "--log",
        &log.url,
        "--json",
        "search",
        "--attestation-id",
        &att_id(5),
    ]))
    .unwrap();
    let current: Vec<(u64, bool)> = found["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["index"].as_u64().unwrap(),
                h["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(current, [(v2, true), (v1, false)]);
    // `attest new --supersedes` starts the next version from the head, by index or by id.
    for by in [v1.to_string(), att_id(5)] {
        let out = ok(&["--log", &log.url, "attest", "new", "--supersedes", &by]);
        let t: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(t["predicate"]["attestation_id"], att_id(5));
        assert_eq!(
            t["predicate"]["supersedes"],
            json!({"attestation_id": att_id(5), "log_index": v2})
        );
    }
    rt.block_on(log.stop());
}

/// A log written before the chain rule (entries below `claims_from`) may hold a replayed old
/// statement at a higher index, and a version logged after a later one: `status` follows the
/// chain, not the highest index; from `claims_from` on, the rules hold for everything new.
#[test]
fn status_follows_the_chain_in_a_log_from_before_the_upgrade() {
    let rt = server_runtime();
    let dir = temp_dir("legacy");
    let config = || {
        let mut c = Config::with_data_dir(&dir);
        c.admin_token = Some("test-admin-token".into());
        c.max_wait = std::time::Duration::from_millis(2);
        c
    };
    // The database of a log whose claim rules start far ahead: everything appended now is
    // judged as an older server judged it.
    let db = config().sqlite_path().unwrap();
    SqliteStore::open(&db)
        .unwrap()
        .set_meta(CLAIMS_FROM, "1000000")
        .unwrap();
    let (k1, k2) = (vendor_key(41), vendor_key(42));
    let log = rt.block_on(TestLog::start_in(dir.clone(), config()));
    let (v1, v2, v3) = rt.block_on(async {
        log.enrol(VENDOR, &k1.verifier()).await;
        log.enrol(VENDOR, &k2.verifier()).await;
        let seq = log.state.sequencer.clone();
        let legacy = |v: Value, k: &SignerKey| {
            let a = admission::bulk_attestation(&signed_by(&v, &[k]), &k.verifier()).unwrap();
            let rx = seq.submit(a).unwrap();
            async move {
                let done = rx.await.unwrap().unwrap();
                assert!(done.new);
                done.index
            }
        };
        let v1 = legacy(version(6, 1, None), &k1).await;
        let v2 = legacy(version(6, 2, Some(v1)), &k1).await;
        let v3 = legacy(version(6, 4, Some(v2)), &k1).await;
        // Out of order: a version issued before v3, superseding v2, logged after v3; then
        // the old first version replayed under the other key.
        legacy(version(6, 3, Some(v2)), &k1).await;
        legacy(version(6, 1, None), &k2).await;
        (v1, v2, v3)
    });
    rt.block_on(log.stop());
    // The upgrade: the claim rules apply from the size the log has now.
    let store = SqliteStore::open(&db).unwrap();
    let upgraded_at = store.latest_checkpoint().unwrap().unwrap().0;
    store
        .set_meta(CLAIMS_FROM, &upgraded_at.to_string())
        .unwrap();
    drop(store);
    let log = rt.block_on(TestLog::start_in(dir.clone(), config()));
    let s = status_json(&log.url, &att_id(6));
    assert_eq!(s["current_index"], v3, "{s}");
    let (_, found) = rt.block_on(log.get_json(&format!("/v1/search?attestation_id={}", att_id(6))));
    let current: Vec<u64> = found["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["current"] == true)
        .map(|h| h["index"].as_u64().unwrap())
        .collect();
    assert_eq!(current, [v3], "{found}");
    let (_, info) = rt.block_on(log.get_json("/v1/log"));
    assert_eq!(info["claims_from"], upgraded_at);
    rt.block_on(async {
        // From the upgrade on: the old statement in yet another envelope answers with its
        // first index, a version superseding anything but the head is refused naming it, and
        // the next one is logged.
        let again = signed_by(&version(6, 1, None), &[&k1, &k2]);
        assert_duplicate_of(&log, &again, v1).await;
        let (status, body) = log
            .submit(&signed_by(&version(6, 5, Some(v2)), &[&k1]))
            .await;
        assert_eq!(status, 422, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("head is index {v3}")),
            "{message}"
        );
        let v4 = submit_new(&log, &signed_by(&version(6, 5, Some(v3)), &[&k1])).await;
        assert_eq!(v4, upgraded_at);
    });
    assert_eq!(
        status_json(&log.url, &att_id(6))["current_index"],
        upgraded_at
    );
    rt.block_on(log.stop());
}
