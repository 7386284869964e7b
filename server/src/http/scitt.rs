//! SCITT transparency service (DESIGN.md §12, SCRAPI): `POST /entries` (COSE_Sign1 signed
//! statements), `GET /entries/{id}` (RFC 9942 receipts, or witnessed transparent statements
//! with `?transparent=true`), and `GET /.well-known/scitt-keys[/{kid}]`. Errors are RFC 9290
//! concise problem details in CBOR. `{id}` is the entry's leaf hash in lowercase hex.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use attestlog_proto::Hash;
use attestlog_proto::cose::{MEDIA_TYPE_COSE, SignedStatement, is_cose_entry};
use attestlog_proto::dsse::Envelope;
use attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO;
use attestlog_proto::registration::RegistrationPolicy;
use attestlog_proto::scitt::{
    ConsistencyProof, InclusionProof, MEDIA_TYPE_KEY_SET, MEDIA_TYPE_PROBLEM, ReceiptClaims,
    ReceiptSigner, cose_key_bytes, key_set, problem_details, thumbprint, transparent_statement,
};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;

use super::error::ApiError;
use attestlog_proto::enrolment::AdmissionError;
use attestlog_proto::rules;

use crate::admission::{self, Admission, AdmitError, PolicyInForce, Queued, Submission};
use crate::sequencer::Published;

/// Receipts kept per (entry, tree size) before the cache is cleared.
const RECEIPT_CACHE: usize = 65_536;

/// The SCITT part of the server state.
pub struct Scitt {
    signer: ReceiptSigner,
    keys: Vec<VerifyingKey>,
    /// How long `POST /entries` waits for publication before answering 303.
    wait: Duration,
    receipts: Mutex<HashMap<(u64, u64), Vec<u8>>>,
    pending: Mutex<HashSet<Hash>>,
    /// The registration policy to put in force at start ([`crate::config::Config::scitt_policy`]).
    configured: Option<RegistrationPolicy>,
    /// The latest published registration policy entry found so far (DESIGN.md §12).
    policy: PolicyInForce,
}

impl std::fmt::Debug for Scitt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scitt")
            .field("signer", &self.signer)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl Scitt {
    /// The service with its receipt signer, the retired keys it signed with before (kept in
    /// the key set so old receipts still verify), and the registration wait.
    #[must_use]
    pub fn new(
        signer: ReceiptSigner,
        retired: Vec<VerifyingKey>,
        wait: Duration,
        configured: Option<RegistrationPolicy>,
    ) -> Self {
        let mut keys = vec![signer.public_key()];
        for k in retired {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        Self {
            signer,
            keys,
            wait,
            receipts: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
            configured,
            policy: PolicyInForce::default(),
        }
    }

    /// Every receipt key ever used (current first).
    #[must_use]
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The registration policy in force, as last looked up.
    #[must_use]
    pub fn policy_in_force(&self) -> &PolicyInForce {
        &self.policy
    }

    fn is_pending(&self, leaf: &Hash) -> bool {
        self.pending.lock().is_ok_and(|p| p.contains(leaf))
    }

    fn set_pending(&self, leaf: Hash, on: bool) {
        if let Ok(mut p) = self.pending.lock() {
            if on {
                p.insert(leaf);
            } else {
                p.remove(&leaf);
            }
        }
    }
}

/// An RFC 9290 problem details response.
fn problem(status: StatusCode, detail: &str, code: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let mut r = (
        status,
        problem_details(title, detail, status.as_u16(), code),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_PROBLEM),
    );
    r
}

/// An [`ApiError`] as problem details (the `/v1` error becomes the detail).
fn from_api(e: &ApiError) -> Response {
    let detail = match &e.field {
        Some(f) => format!("{f}: {}", e.message),
        None => e.message.clone(),
    };
    let code = match e.status.as_u16() {
        400 => "bad-request",
        404 => "not-found",
        409 => "conflict",
        413 => "too-large",
        422 => "not-admissible",
        429 => "quota-exceeded",
        503 => "unavailable",
        _ => "error",
    };
    let mut r = problem(e.status, &detail, code);
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn cose(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_COSE),
    );
    r
}

fn location(mut r: Response, leaf: &Hash, retry_after: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("/entries/{}", leaf.to_hex())) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    r
}

/// The statement's `sub` for a receipt: a COSE statement's own `sub`; for a DSSE statement
/// the `sub` its COSE form would carry ([`rules::cose_subject`]); none otherwise.
fn subject_of(entry: &[u8]) -> Option<String> {
    if is_cose_entry(entry) {
        return SignedStatement::parse(entry)
            .ok()
            .map(|s| s.sub().to_owned());
    }
    let env = Envelope::parse_entry(entry).ok()?;
    if env.payload_type != PAYLOAD_TYPE_INTOTO {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&env.payload).ok()?;
    rules::cose_subject(&v).map(str::to_owned)
}

impl super::AppState {
    /// The registration policy in force in the published tree `p`: the published policy entry
    /// with the highest sequence ([`crate::rules::policy_in_force`], from the last one found);
    /// none when the log never logged one (the built-in policy applies).
    ///
    /// # Errors
    /// Storage errors; a stored policy entry that does not parse (503: the log is damaged).
    pub fn registration_policy(
        &self,
        p: &Published,
    ) -> Result<Option<RegistrationPolicy>, ApiError> {
        Ok(self.scitt.policy.get(self.store.as_ref(), p.size)?)
    }

    /// Logs the configured registration policy if it differs from the one in force (DESIGN.md
    /// §12), as the next policy entry, signed by the log key; waits until it is sequenced.
    ///
    /// # Errors
    /// Storage or sequencer errors.
    pub async fn put_policy_in_force(self: &std::sync::Arc<Self>) -> Result<(), ApiError> {
        let Some(wanted) = self.scitt.configured.clone() else {
            return Ok(());
        };
        let s = self.clone();
        let current = tokio::task::spawn_blocking(move || {
            let published = s.shared.published();
            s.registration_policy(&published)
        })
        .await
        .map_err(|_| ApiError::unavailable("policy lookup failed"))??;
        if current.as_ref().is_some_and(|c| c.same_terms(&wanted)) {
            return Ok(());
        }
        let policy = RegistrationPolicy {
            sequence: current.map_or(1, |c| c.sequence + 1),
            ..wanted
        };
        let admitted = admission::policy_entry(policy.clone(), &self.signer);
        let done = self
            .sequencer
            .submit(admitted)?
            .await
            .map_err(|_| ApiError::unavailable("sequencer stopped"))??;
        tracing::info!(
            index = done.index,
            sequence = policy.sequence,
            "logged the registration policy"
        );
        Ok(())
    }

    /// The RFC 9942 receipt of the entry at `index` in the published tree `p`, signed on its
    /// own (its `sub` is the statement's) and cached per entry and tree size.
    ///
    /// # Errors
    /// Storage errors.
    pub fn scitt_receipt(
        &self,
        index: u64,
        entry: &[u8],
        p: &Published,
        hashes: &[Hash],
    ) -> Result<Vec<u8>, ApiError> {
        let key = (index, p.size);
        if let Some(r) = self
            .scitt
            .receipts
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(r);
        }
        let claims = ReceiptClaims {
            iss: self.log_key.name().to_owned(),
            sub: subject_of(entry),
            iat: Some(crate::clock::unix_now()),
        };
        let proof = InclusionProof {
            tree_size: p.size,
            leaf_index: index,
            path: hashes.to_vec(),
        };
        let receipt = self.scitt.signer.sign_inclusion(&claims, &proof, &p.root);
        if let Ok(mut c) = self.scitt.receipts.lock() {
            if c.len() >= RECEIPT_CACHE {
                c.clear();
            }
            c.insert(key, receipt.clone());
        }
        Ok(receipt)
    }

    /// The receipt of the published entry at `index` with `Location: /entries/{its leaf hash}`
    /// (the original entry when a statement was registered again, perhaps as DSSE).
    fn answer_index(
        &self,
        index: u64,
        p: &Published,
        status: StatusCode,
    ) -> Result<Response, ApiError> {
        let leaf = Hash::leaf(&self.prover().entry(index)?);
        self.published_answer(index, p, false, status)
            .map(|r| location(r, &leaf, false))
    }

    /// The answer for a published entry: its receipt, or with `transparent` the statement with
    /// the receipt (label 394) and the witnessed tlog-proof (label -65537).
    fn published_answer(
        &self,
        index: u64,
        p: &Published,
        transparent: bool,
        status: StatusCode,
    ) -> Result<Response, ApiError> {
        let entry = self.prover().entry(index)?;
        let hashes = self.prover().inclusion_hashes(index, p.size)?;
        let receipt = self.scitt_receipt(index, &entry, p, &hashes)?;
        if !transparent {
            return Ok(cose(status, receipt));
        }
        if !is_cose_entry(&entry) {
            return Err(ApiError::bad_request(
                "transparent statements exist for COSE signed statements only; this entry is a DSSE envelope",
            ));
        }
        let proof = crate::rules::tlog_proof_text(index, &hashes, &p.note);
        let ts = transparent_statement(&entry, &receipt, Some(proof.as_bytes()))
            .map_err(|e| ApiError::unavailable(format!("stored entry is unreadable: {e}")))?;
        Ok(cose(status, ts))
    }
}

/// The problem details of a refused registration: the rule engine's refusals of a signed
/// statement by name (`kid` is the statement's, in hex), the rest as on `/v1`.
fn refused(e: AdmitError, kid: &str) -> Response {
    match e {
        // The kid names no key this log knows: the statement is not addressed to it.
        AdmitError::Refused(AdmissionError::NoEnrolledSigner) => problem(
            StatusCode::BAD_REQUEST,
            &format!("kid {kid} names no key enrolled in this log"),
            "unknown-kid",
        ),
        AdmitError::Refused(AdmissionError::Signature { .. }) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("signature does not verify under the enrolled key {kid}"),
            "bad-signature",
        ),
        AdmitError::Refused(AdmissionError::CoseClaims(m)) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, &m, "claims-mismatch")
        }
        AdmitError::Refused(AdmissionError::RegistrationPolicy(m)) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, &m, "registration-policy")
        }
        AdmitError::LoggedByTheLog => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signed statements carry attestations or verifications only",
            "not-admissible",
        ),
        e => from_api(&e.into()),
    }
}

fn is_cose_content_type(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(MEDIA_TYPE_COSE))
}

/// `POST /entries`: register a COSE_Sign1 signed statement (`Content-Type:
/// application/cose`). 201 with the receipt once published, 200 for a statement already
/// logged, 303 (`Location`, `Retry-After`) when publication takes longer than the configured
/// wait; problem details otherwise.
#[utoipa::path(post, path = "/entries",
    request_body(content = [u8], content_type = "application/cose",
      description = "a COSE_Sign1 signed statement (tag 18, EdDSA, attached in-toto Statement)"),
    responses(
      (status = 201, description = "registered and published: the RFC 9942 receipt; Location /entries/{id}", body = [u8], content_type = "application/cose"),
      (status = 200, description = "the statement is already logged: the original entry's receipt", body = [u8], content_type = "application/cose"),
      (status = 303, description = "publication is running: Location /entries/{id}, Retry-After"),
      (status = 400, description = "not a well-formed signed statement (RFC 9290 problem details)", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 413, description = "too large", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 415, description = "Content-Type is not application/cose", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 422, description = "refused by the admission rules", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 429, description = "quota exceeded; Retry-After", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 503, description = "unavailable", body = [u8], content_type = "application/concise-problem-details+cbor")))]
pub async fn register(State(s): State<super::State>, headers: HeaderMap, body: Body) -> Response {
    metrics::counter!("attestlog_scitt_registrations_total").increment(1);
    if !is_cose_content_type(&headers) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/cose (a COSE_Sign1 signed statement)",
            "unsupported-media-type",
        );
    }
    let body = match super::read_body(body, s.body_limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return from_api(&e),
    };
    let st = match SignedStatement::parse(&body) {
        Ok(st) => st,
        Err(e) => {
            let status = if e.code() == "too-large" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return problem(status, &e.to_string(), e.code());
        }
    };
    match register_parsed(&s, st).await {
        Ok(r) | Err(r) => r,
    }
}

/// What a registration comes to before waiting for the sequencer: an answer now (a statement
/// already logged, a refusal), or the queued entry.
enum Prepared {
    Answer(Response),
    Queued(Box<Queued>),
}

async fn register_parsed(s: &super::State, st: SignedStatement) -> Result<Response, Response> {
    let kid = st.kid_hex();
    // The submit pipeline (admission::pipeline) decides, on the blocking pool (DESIGN.md
    // §11); this handler only answers in SCRAPI's terms.
    let prepared = super::storage(s, super::Pool::Reads, move |s| {
        Ok::<_, ApiError>(match s.admission().admit(Submission::Cose(Box::new(st))) {
            Err(e) => Prepared::Answer(refused(e, &kid)),
            Ok(Admission::Logged {
                index, published, ..
            }) => Prepared::Answer(
                s.answer_index(index, &published, StatusCode::OK)
                    .unwrap_or_else(|e| from_api(&e)),
            ),
            // Logged, not yet published: point at the entry the log holds (the original,
            // perhaps another envelope of the same statement), not at the bytes just submitted.
            Ok(Admission::Stored { index }) => Prepared::Answer(match s.prover().entry(index) {
                Ok(stored) => location(
                    (StatusCode::SEE_OTHER, Body::empty()).into_response(),
                    &Hash::leaf(&stored),
                    true,
                ),
                Err(e) => from_api(&e.into()),
            }),
            Ok(Admission::Queued(q)) => Prepared::Queued(Box::new(q)),
        })
    })
    .await
    .map_err(|e| from_api(&e))?;
    let queued = match prepared {
        Prepared::Answer(r) => return Ok(r),
        Prepared::Queued(q) => *q,
    };
    let leaf = queued.leaf_hash;
    let rx = queued.integrated;
    s.scitt.set_pending(leaf, true);
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            let r = rx.await;
            s.scitt.set_pending(leaf, false);
            r
        })
    };
    // A wait of zero answers 303 at once, never racing the sequencer for a 201.
    let waited = if s.scitt.wait.is_zero() {
        None
    } else {
        tokio::time::timeout(s.scitt.wait, waiter).await.ok()
    };
    let done = match waited {
        None => {
            return Ok(location(
                (StatusCode::SEE_OTHER, Body::empty()).into_response(),
                &leaf,
                true,
            ));
        }
        Some(Err(_) | Ok(Err(_))) => {
            return Err(from_api(&ApiError::unavailable("sequencer stopped")));
        }
        Some(Ok(Ok(r))) => r.map_err(|e| from_api(&e.into()))?,
    };
    let status = if done.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    super::storage(s, super::Pool::Reads, move |s| {
        Ok::<_, ApiError>(
            s.answer_index(done.index, &done.published, status)
                .unwrap_or_else(|e| from_api(&e)),
        )
    })
    .await
    .map_err(|e| from_api(&e))
}

/// Query of `GET /entries/{id}`.
#[derive(Debug, serde::Deserialize)]
pub struct EntryQuery {
    /// `true`: answer the transparent statement instead of the receipt.
    #[serde(default)]
    transparent: Option<String>,
}

/// `GET /entries/{id}`: 200 with the receipt (or the transparent statement), 302 while the
/// registration is running, 404 for an unknown entry.
#[utoipa::path(get, path = "/entries/{id}",
    params(("id" = String, Path, description = "the entry's leaf hash, 64 lowercase hex digits"),
      ("transparent" = Option<bool>, Query, description = "true: the transparent statement (receipt in label 394, witnessed tlog-proof in label -65537)")),
    responses(
      (status = 200, description = "the RFC 9942 receipt, or the transparent statement", body = [u8], content_type = "application/cose"),
      (status = 302, description = "registration still running: Location, Retry-After"),
      (status = 400, description = "malformed id or query (RFC 9290 problem details)", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 404, description = "no such entry", body = [u8], content_type = "application/concise-problem-details+cbor")))]
pub async fn get_entry(
    State(s): State<super::State>,
    Path(id): Path<String>,
    Query(q): Query<EntryQuery>,
) -> Response {
    let transparent = match q.transparent.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("transparent must be true or false, got {other:?}"),
                "bad-query",
            );
        }
    };
    let leaf = match Hash::from_hex(&id) {
        Ok(h) if h.to_hex() == id => h,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "entry id must be the leaf hash as 64 lowercase hex digits",
                "bad-entry-id",
            );
        }
    };
    // Storage work runs on the blocking pool, as every read path's (DESIGN.md §11).
    super::storage(&s, super::Pool::Reads, move |s| {
        Ok::<_, ApiError>(entry_answer(s, leaf, transparent))
    })
    .await
    .unwrap_or_else(|e| from_api(&e))
}

fn entry_answer(s: &super::AppState, leaf: Hash, transparent: bool) -> Response {
    let published = s.shared.published();
    let running = || {
        location(
            (StatusCode::FOUND, Body::empty()).into_response(),
            &leaf,
            true,
        )
    };
    match s.store.lookup_leaf(&leaf) {
        Err(e) => from_api(&e.into()),
        Ok(Some(index)) if index < published.size => s
            .published_answer(index, &published, transparent, StatusCode::OK)
            .unwrap_or_else(|e| from_api(&e)),
        Ok(Some(_)) => running(),
        Ok(None) if s.scitt.is_pending(&leaf) => running(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            &format!("no entry with leaf hash {}", leaf.to_hex()),
            "not-found",
        ),
    }
}

/// `GET /receipts/consistency?first=M[&second=N]`: an RFC 9942 consistency receipt (vds 1,
/// proof in `vdp` -2) signed by the log's COSE key over the root of the tree of `second`
/// leaves (default: the published tree), proving it extends the tree of `first` leaves
/// (`0 < first < second`). The proof is the RFC 9162 proof that `/v1/proof/consistency`
/// serves; a verifier that trusts the old tree computes the new root from it and checks the
/// signature (`attestlog verify --checkpoint`).
#[utoipa::path(get, path = "/receipts/consistency",
    params(("first" = u64, Query, description = "the older tree size, at least 1"),
      ("second" = Option<u64>, Query, description = "the newer tree size, at most the published size (default: the published size)")),
    responses(
      (status = 200, description = "the consistency receipt", body = [u8], content_type = "application/cose"),
      (status = 400, description = "a missing, malformed or unknown parameter, or sizes not 0 < first < second (RFC 9290 problem details)", body = [u8], content_type = "application/concise-problem-details+cbor"),
      (status = 404, description = "second is beyond the published tree", body = [u8], content_type = "application/concise-problem-details+cbor")))]
pub async fn consistency(
    State(s): State<super::State>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let bad = |detail: String| problem(StatusCode::BAD_REQUEST, &detail, "bad-query");
    if let Some(k) = q
        .keys()
        .find(|k| !["first", "second"].contains(&k.as_str()))
    {
        return bad(format!("unknown query parameter {k:?}"));
    }
    let first = match super::parse_u64("first", q.get("first")) {
        Ok(v) => v,
        Err(e) => return bad(e.message),
    };
    let second = match q.get("second").map(|v| super::parse_u64("second", Some(v))) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => return bad(e.message),
    };
    super::storage(&s, super::Pool::Reads, move |s| {
        Ok::<_, ApiError>(consistency_answer(s, first, second))
    })
    .await
    .unwrap_or_else(|e| from_api(&e))
}

fn consistency_answer(s: &super::AppState, first: u64, second: Option<u64>) -> Response {
    let published = s.shared.published();
    let second = second.unwrap_or(published.size);
    if second > published.size {
        return problem(
            StatusCode::NOT_FOUND,
            &format!(
                "second {second} is beyond the published tree size {}",
                published.size
            ),
            "not-found",
        );
    }
    if first == 0 || first >= second {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!(
                "a consistency receipt needs 0 < first < second, got first {first}, second {second}"
            ),
            "bad-tree-sizes",
        );
    }
    let signed = || -> Result<Vec<u8>, ApiError> {
        let path = s.prover().consistency_hashes(first, second)?;
        let root = if second == published.size {
            published.root
        } else {
            let hr = crate::tiles::TreeReader::new(second, s.store.as_ref(), &s.cache);
            attestlog_proto::tree::tree_root(second, &hr)?
        };
        let claims = ReceiptClaims {
            iss: s.log_key.name().to_owned(),
            sub: None,
            iat: Some(crate::clock::unix_now()),
        };
        let proof = ConsistencyProof {
            tree_size_1: first,
            tree_size_2: second,
            path,
        };
        Ok(s.scitt.signer.sign_consistency(&claims, &proof, &root))
    };
    match signed() {
        Ok(receipt) => cose(StatusCode::OK, receipt),
        Err(e) => from_api(&e),
    }
}

/// `GET /.well-known/scitt-keys`: the COSE_KeySet of every receipt key ever used.
#[utoipa::path(get, path = "/.well-known/scitt-keys",
    responses((status = 200, description = "COSE_KeySet of every receipt key ever used, current first", body = [u8], content_type = "application/cose-key-set")))]
pub async fn keys(State(s): State<super::State>) -> Response {
    let mut r = key_set(s.scitt.keys()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MEDIA_TYPE_KEY_SET),
    );
    r
}

/// `GET /.well-known/scitt-keys/{kid}`: one COSE_Key by its `kid` (RFC 9679 thumbprint, hex).
#[utoipa::path(get, path = "/.well-known/scitt-keys/{kid}",
    params(("kid" = String, Path, description = "lowercase hex of the key's RFC 9679 thumbprint")),
    responses((status = 200, description = "the COSE_Key", body = [u8], content_type = "application/cose-key"),
      (status = 404, description = "no receipt key has this kid", body = [u8], content_type = "application/concise-problem-details+cbor")))]
pub async fn key(State(s): State<super::State>, Path(kid): Path<String>) -> Response {
    let found = s
        .scitt
        .keys()
        .iter()
        .find(|k| hex::encode(thumbprint(k)) == kid);
    match found {
        Some(k) => {
            let mut r = cose_key_bytes(k).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/cose-key"),
            );
            r
        }
        None => problem(
            StatusCode::NOT_FOUND,
            &format!("no receipt key has kid {kid:?} (lowercase hex of the RFC 9679 thumbprint)"),
            "unknown-kid",
        ),
    }
}
