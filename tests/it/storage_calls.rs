//! Bounded work per request (DESIGN.md §11): `GET /v1/checkpoints` is one bounded storage
//! query whatever the size of the log. The request handlers read through a wrapper that
//! records every storage call they make (the sequencer keeps the store itself), on both
//! backends; an endpoint that went back to one query per checkpoint (it once made about
//! 1,300 per request) makes as many calls as the page has checkpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use attestlog_proto::Hash;
use attestlog_proto::rules::Version;
use attestlog_proto::tiles::TileId;
use attestlog_server::storage::{
    AttestationMeta, Batch, Boundary, CheckpointRows, EnrolmentRow, LogIndex, LogRead, LogStore,
    LogWrite, SearchPage, SearchQuery, StoreResult, VerificationMeta,
};

use crate::both_backends;
use crate::common::*;

/// A store that records the name of every call made through it.
struct Recording {
    inner: Arc<dyn LogStore>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl Recording {
    fn call(&self, name: &'static str) -> &dyn LogStore {
        self.calls.lock().unwrap().push(name);
        self.inner.as_ref()
    }
}

impl LogRead for Recording {
    fn read_cache_bytes(&self) -> u64 {
        self.inner.read_cache_bytes()
    }
    fn latest_checkpoint(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.call("latest_checkpoint").latest_checkpoint()
    }
    fn checkpoint_in_range(&self, lo: u64, hi: u64) -> StoreResult<bool> {
        self.call("checkpoint_in_range").checkpoint_in_range(lo, hi)
    }
    fn checkpoints_before(&self, before: u64, limit: u64) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.call("checkpoints_before")
            .checkpoints_before(before, limit)
    }
    fn checkpoint_at(&self, size: u64) -> StoreResult<Option<Vec<u8>>> {
        self.call("checkpoint_at").checkpoint_at(size)
    }
    fn checkpoints(&self, from: u64, limit: u32) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        self.call("checkpoints").checkpoints(from, limit)
    }
    fn read_tiles(&self, tiles: &[TileId]) -> StoreResult<Vec<Vec<u8>>> {
        self.call("read_tiles").read_tiles(tiles)
    }
    fn read_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>> {
        self.call("read_entries").read_entries(start, count)
    }
    fn disk_usage(&self) -> StoreResult<(u64, u64)> {
        self.call("disk_usage").disk_usage()
    }
    fn checkpoint_rows(&self) -> StoreResult<CheckpointRows> {
        self.call("checkpoint_rows").checkpoint_rows()
    }
}

impl LogIndex for Recording {
    fn lookup_leaf(&self, leaf: &Hash) -> StoreResult<Option<u64>> {
        self.call("lookup_leaf").lookup_leaf(leaf)
    }
    fn lookup_leaves(&self, leaves: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.call("lookup_leaves").lookup_leaves(leaves)
    }
    fn attestation_owners(&self, ids: &[&str]) -> StoreResult<HashMap<String, String>> {
        self.call("attestation_owners").attestation_owners(ids)
    }
    fn lookup_statements(&self, statements: &[Hash]) -> StoreResult<HashMap<Hash, u64>> {
        self.call("lookup_statements").lookup_statements(statements)
    }
    fn lookup_statement(&self, statement: &Hash) -> StoreResult<Option<u64>> {
        self.call("lookup_statement").lookup_statement(statement)
    }
    fn attestation_chains(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.call("attestation_chains").attestation_chains(ids)
    }
    fn boundary(&self, which: Boundary) -> StoreResult<u64> {
        self.call(which.key()).boundary(which)
    }
    fn attestation_owner(&self, attestation_id: &str) -> StoreResult<Option<String>> {
        self.call("attestation_owner")
            .attestation_owner(attestation_id)
    }
    fn attestation_at(&self, index: u64) -> StoreResult<Option<AttestationMeta>> {
        self.call("attestation_at").attestation_at(index)
    }
    fn attestation_versions(
        &self,
        attestation_id: &str,
    ) -> StoreResult<Vec<(u64, AttestationMeta)>> {
        self.call("attestation_versions")
            .attestation_versions(attestation_id)
    }
    fn enrolments(&self) -> StoreResult<Vec<EnrolmentRow>> {
        self.call("enrolments").enrolments()
    }
    fn verification_chains(
        &self,
        keys: &[(&str, u64)],
    ) -> StoreResult<HashMap<String, Vec<Version>>> {
        self.call("verification_chains").verification_chains(keys)
    }
    fn search_verifications(&self, q: &SearchQuery) -> StoreResult<SearchPage<VerificationMeta>> {
        self.call("search_verifications").search_verifications(q)
    }
    fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.call("search").search(q)
    }
}

impl LogWrite for Recording {
    fn commit_batch(&self, batch: &Batch) -> StoreResult<()> {
        self.call("commit_batch").commit_batch(batch)
    }
    fn set_checkpoint_note(&self, size: u64, note: &[u8]) -> StoreResult<()> {
        self.call("set_checkpoint_note")
            .set_checkpoint_note(size, note)
    }
}

/// The storage calls `path` makes, its status and body.
async fn calls_of(
    log: &TestLog,
    calls: &Mutex<Vec<&'static str>>,
    path: &str,
) -> (Vec<&'static str>, u16, Vec<u8>) {
    calls.lock().unwrap().clear();
    let r = log.get(path).await;
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap().to_vec();
    let made = std::mem::take(&mut *calls.lock().unwrap());
    (made, status, body)
}

/// One page of `/v1/checkpoints`: exactly one storage call, at most `limit` checkpoints (all
/// notes of this log are far below 1 KiB), and the page it names.
async fn one_query_per_page(
    log: &TestLog,
    calls: &Mutex<Vec<&'static str>>,
    path: &str,
    expected: usize,
) -> serde_json::Value {
    let (made, status, body) = calls_of(log, calls, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert_eq!(
        made,
        ["checkpoints_before"],
        "{path} must be one bounded storage query"
    );
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n = page["checkpoints"].as_array().unwrap().len();
    assert_eq!(n, expected, "{path}: {page}");
    assert!(
        body.len() <= 1024 * expected.max(1),
        "{path}: {} bytes for {n} checkpoints",
        body.len()
    );
    page
}

/// Submits statements until the log (the empty one, the enrolment, then one batch and one
/// checkpoint per submission) has `checkpoints` stored checkpoints.
async fn submit_until(
    log: &TestLog,
    key: &attestlog_proto::keys::SignerKey,
    submitted: &mut u64,
    checkpoints: u64,
) {
    while *submitted + 2 < checkpoints {
        let (s, b) = log
            .submit(&sign_value(
                key,
                &statement("Counted AG", &att_id(8100 + *submitted), "Counter"),
            ))
            .await;
        assert_eq!(s, 201, "{b}");
        *submitted += 1;
    }
}

async fn checkpoints_is_one_bounded_query_whatever_the_log_size(backend: Backend) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorded = calls.clone();
    let log = TestLog::start_on_reading_through(
        backend,
        |_| {},
        move |inner| {
            Arc::new(Recording {
                inner,
                calls: recorded,
            })
        },
    )
    .await;
    let k = vendor_key(81);
    log.enrol("Counted AG", &k.verifier()).await;
    let mut submitted = 0;
    // A small log: every checkpoint fits one page.
    submit_until(&log, &k, &mut submitted, 6).await;
    let size = log.state.shared.published().size;
    let page = one_query_per_page(&log, &calls, "/v1/checkpoints?limit=64", 6).await;
    assert_eq!(page["checkpoints"][0]["size"], size);
    assert!(page["next"].is_null(), "{page}");
    // A log of 150 checkpoints: still one query per page, pages of at most 64.
    submit_until(&log, &k, &mut submitted, 150).await;
    let size = log.state.shared.published().size;
    let page = one_query_per_page(&log, &calls, "/v1/checkpoints", 20).await;
    assert_eq!(page["checkpoints"][0]["size"], size);
    let mut path = "/v1/checkpoints?limit=64".to_owned();
    let mut seen = 0;
    loop {
        let expected = (150 - seen).min(64);
        let page = one_query_per_page(&log, &calls, &path, expected).await;
        seen += expected;
        match page["next"].as_u64() {
            Some(before) => path = format!("/v1/checkpoints?limit=64&before={before}"),
            None => break,
        }
    }
    assert_eq!(
        seen, 150,
        "every stored checkpoint (sizes 0 to {size}) paged through"
    );
}

both_backends!(checkpoints_is_one_bounded_query_whatever_the_log_size);
