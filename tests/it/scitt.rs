//! SCITT transparency service (DESIGN.md §12): COSE signed statements at `POST /entries`,
//! RFC 9942 receipts, `/.well-known/scitt-keys`, `GET /entries/{id}`, transparent statements,
//! and RFC 9290 problem details for bad input.

use std::time::{Duration, Instant};

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::Checkpoint;
use attestlog_proto::cose::{SignedStatement, parse_sign1, sign1_to_tagged};
use attestlog_proto::keys::SignerKey;
use attestlog_proto::predicate::statement_from_value;
use attestlog_proto::scitt::{
    Receipt, TransparentStatement, parse_key_set, parse_problem_details, thumbprint,
};
use attestlog_proto::tlog_proof::TlogProof;
use coset::cbor::value::Value;
use coset::{Label, RegisteredLabelWithPrivate, iana};
use ed25519_dalek::VerifyingKey;

use crate::common::{TestLog, att_id, statement, vendor_key};

const VENDOR: &str = "Example AV AG";

/// The canonical statement bytes of attestation `n` of `VENDOR`.
fn payload(n: u64) -> Vec<u8> {
    let v = statement(VENDOR, &att_id(n), "Example Endpoint Security");
    statement_from_value(v).unwrap().canonical_bytes()
}

fn cose_statement(key: &SignerKey, n: u64) -> SignedStatement {
    SignedStatement::sign(&payload(n), key, &att_id(n))
}

struct Answer {
    status: u16,
    location: Option<String>,
    retry_after: Option<String>,
    content_type: String,
    body: Vec<u8>,
}

async fn post_cose(log: &TestLog, body: &[u8]) -> Answer {
    post_typed(log, "application/cose", body).await
}

async fn post_typed(log: &TestLog, content_type: &str, body: &[u8]) -> Answer {
    let r = no_redirects()
        .post(format!("{}/entries", log.url))
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    answer(r).await
}

async fn answer(r: reqwest::Response) -> Answer {
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: r.status().as_u16(),
        location: h("location"),
        retry_after: h("retry-after"),
        content_type: h("content-type").unwrap_or_default(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

async fn get_raw(log: &TestLog, path: &str) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    answer(
        client
            .get(format!("{}{path}", log.url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn scitt_keys(log: &TestLog) -> Vec<VerifyingKey> {
    let a = get_raw(log, "/.well-known/scitt-keys").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "application/cose-key-set");
    parse_key_set(&a.body).unwrap()
}

async fn checkpoint(log: &TestLog) -> Checkpoint {
    let text = log.get("/checkpoint").await.text().await.unwrap();
    let body = text.split("\n\n").next().unwrap();
    Checkpoint::parse(&format!("{body}\n")).unwrap()
}

/// An enrolled vendor key on a fresh log.
async fn log_with_vendor(
    f: impl FnOnce(&mut attestlog_server::config::Config),
) -> (TestLog, SignerKey) {
    let log = TestLog::start_with(f).await;
    let key = vendor_key(7);
    log.enrol(VENDOR, &key.verifier()).await;
    (log, key)
}

#[tokio::test]
async fn registers_a_cose_statement_and_serves_verifiable_receipts() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let st = cose_statement(&key, 1);
    let entry = st.to_entry();
    let a = post_cose(&log, &entry).await;
    assert_eq!(a.status, 201, "{:?}", parse_problem_details(&a.body));
    assert_eq!(a.content_type, "application/cose");
    let id = Hash::leaf(&entry).to_hex();
    assert_eq!(
        a.location.as_deref(),
        Some(format!("/entries/{id}").as_str())
    );

    // The receipt verifies under the published key set, for exactly this entry, and leads to
    // the root of a checkpoint the log signed.
    let keys = scitt_keys(&log).await;
    assert_eq!(keys.len(), 1);
    let receipt = Receipt::parse(&a.body).unwrap();
    assert_eq!(receipt.kid, thumbprint(&keys[0]));
    assert_eq!(receipt.claims.iss, log.log_key().name());
    assert_eq!(receipt.claims.sub.as_deref(), Some(att_id(1).as_str()));
    assert!(receipt.claims.iat.is_some());
    let (proof, root) = receipt.verify_inclusion(&entry, &keys).unwrap();
    assert_eq!(
        proof.leaf_index, 2,
        "index 0 is the enrolment, 1 the registration policy logged before the first signed \
         statement"
    );
    let cp = checkpoint(&log).await;
    assert_eq!((cp.size, cp.root), (proof.tree_size, root));
    assert!(receipt.verify_inclusion(b"another entry", &keys).is_err());

    // GET /entries/{id}: the same receipt structure; the key by kid.
    let g = get_raw(&log, &format!("/entries/{id}")).await;
    assert_eq!(g.status, 200);
    let again = Receipt::parse(&g.body).unwrap();
    assert_eq!(again.verify_inclusion(&entry, &keys).unwrap().1, root);
    let k = get_raw(
        &log,
        &format!(
            "/.well-known/scitt-keys/{}",
            hex::encode(thumbprint(&keys[0]))
        ),
    )
    .await;
    assert_eq!(k.status, 200);
    let unknown = get_raw(
        &log,
        &format!("/.well-known/scitt-keys/{}", "00".repeat(32)),
    )
    .await;
    assert_eq!(unknown.status, 404);

    // Registering the same statement again answers the original entry.
    let dup = post_cose(&log, &entry).await;
    assert_eq!(dup.status, 200);
    assert_eq!(
        Receipt::parse(&dup.body)
            .unwrap()
            .verify_inclusion(&entry, &keys)
            .unwrap()
            .0
            .leaf_index,
        2
    );

    // Unknown id: 404 problem details; malformed id: 400.
    let missing = get_raw(&log, &format!("/entries/{}", "ab".repeat(32))).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.content_type,
        "application/concise-problem-details+cbor"
    );
    let bad = get_raw(&log, "/entries/XYZ").await;
    assert_eq!(bad.status, 400);
    assert_eq!(parse_problem_details(&bad.body).unwrap().2, "bad-entry-id");

    // The /v1 API and the C2SP tiles stay as they were: the entry is in the tree they serve.
    let (status, v) = log
        .get_json(&format!(
            "/v1/proof/inclusion?leaf_hash={id}&tree_size={}",
            cp.size
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["index"], 2);
    let (status, v) = log.get_json("/v1/entries/2").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "attestation");
    assert_eq!(v["payload"]["predicate"]["attestation_id"], att_id(1));
    let (status, v) = log.get_json("/v1/entries/1").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "registration_policy");
}

#[tokio::test]
async fn transparent_statements_carry_the_receipt_and_the_witnessed_tlog_proof() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let st = cose_statement(&key, 2);
    let entry = st.to_entry();
    assert_eq!(post_cose(&log, &entry).await.status, 201);
    let id = Hash::leaf(&entry).to_hex();
    let a = get_raw(&log, &format!("/entries/{id}?transparent=true")).await;
    assert_eq!(a.status, 200);
    let ts = TransparentStatement::parse(&a.body).unwrap();
    assert_eq!(ts.statement, st);
    let keys = scitt_keys(&log).await;
    let (_, proof, root) = ts.verify_receipt(&keys).unwrap();
    // The tlog-proof proves the same inclusion against a checkpoint signed by the log key.
    let tp = TlogProof::parse(ts.tlog_proof.as_deref().unwrap()).unwrap();
    let v = tp.verify_with_log_keys(&entry, &[log.log_key()]).unwrap();
    assert_eq!(v.index, proof.leaf_index);
    assert_eq!(v.checkpoint.checkpoint().root, root);
    // Submitting the transparent statement registers nothing new: the unprotected header is
    // emptied, so it is the same entry.
    let again = post_cose(&log, &a.body).await;
    assert_eq!(again.status, 200);
    let bad = get_raw(&log, &format!("/entries/{id}?transparent=yes")).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn registration_answers_303_when_publication_waits_and_302_until_published() {
    let (log, key) = log_with_vendor(|c| c.scitt_wait = Duration::ZERO).await;
    let entry = cose_statement(&key, 3).to_entry();
    let a = post_cose(&log, &entry).await;
    assert_eq!(a.status, 303);
    let loc = a.location.unwrap();
    assert_eq!(loc, format!("/entries/{}", Hash::leaf(&entry).to_hex()));
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let keys = scitt_keys(&log).await;
    loop {
        let g = get_raw(&log, &loc).await;
        match g.status {
            200 => {
                Receipt::parse(&g.body)
                    .unwrap()
                    .verify_inclusion(&entry, &keys)
                    .unwrap();
                break;
            }
            302 => {
                assert_eq!(g.location.as_deref(), Some(loc.as_str()));
                assert!(g.retry_after.is_some());
            }
            s => panic!("unexpected status {s}"),
        }
        assert!(Instant::now() < deadline, "entry never published");
        tokio::task::yield_now().await;
    }
}

/// Re-signs a COSE_Sign1 after `edit` (so only the edited property is wrong).
pub(crate) fn resign(
    key: &SignerKey,
    st: &SignedStatement,
    edit: impl FnOnce(&mut coset::CoseSign1),
) -> Vec<u8> {
    let mut s = parse_sign1(&st.to_entry()).unwrap();
    edit(&mut s);
    s.protected.original_data = None;
    let tbs = s.tbs_data(b"");
    s.signature = key.sign(&tbs).to_vec();
    sign1_to_tagged(s)
}

#[tokio::test]
async fn bad_signed_statements_get_specific_problem_details_never_500() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let st = cose_statement(&key, 4);
    let good = st.to_entry();
    let Value::Tag(_, inner) = ciborium::de::from_reader::<Value, _>(good.as_slice()).unwrap()
    else {
        panic!()
    };
    let enc = |v: &Value| {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    };
    let stranger = SignerKey::from_seed("stranger.example/k", 1, &[99; 32]).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "wrong tag",
            enc(&Value::Tag(98, inner.clone())),
            400,
            "wrong-tag",
        ),
        ("untagged", enc(&inner), 400, "wrong-tag"),
        (
            "not cbor",
            b"{\"payloadType\":\"x\"}".to_vec(),
            400,
            "not-cbor",
        ),
        (
            "unprotected kid",
            {
                let mut s = parse_sign1(&good).unwrap();
                s.unprotected.key_id = vec![1, 2, 3, 4];
                sign1_to_tagged(s)
            },
            400,
            "unprotected-header",
        ),
        (
            "unprotected alg",
            {
                let mut s = parse_sign1(&good).unwrap();
                s.unprotected.alg =
                    Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256));
                sign1_to_tagged(s)
            },
            400,
            "unprotected-header",
        ),
        (
            "unprotected CWT claims beside the protected ones",
            {
                let mut s = parse_sign1(&good).unwrap();
                s.unprotected.rest.push((
                    Label::Int(15),
                    Value::Map(vec![(Value::from(2), Value::Text(att_id(99)))]),
                ));
                sign1_to_tagged(s)
            },
            400,
            "unprotected-header",
        ),
        (
            "missing CWT claims",
            resign(&key, &st, |s| s.protected.header.rest.clear()),
            400,
            "missing-cwt-claims",
        ),
        (
            "unknown kid",
            SignedStatement::sign(&payload(4), &stranger, &att_id(4)).to_entry(),
            400,
            "unknown-kid",
        ),
        (
            "ES256",
            resign(&key, &st, |s| {
                s.protected.header.alg =
                    Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256));
            }),
            400,
            "unsupported-alg",
        ),
        (
            "detached payload",
            {
                let mut s = parse_sign1(&good).unwrap();
                s.payload = None;
                sign1_to_tagged(s)
            },
            400,
            "detached-payload",
        ),
        (
            "hash envelope",
            resign(&key, &st, |s| {
                s.protected
                    .header
                    .rest
                    .push((Label::Int(258), Value::from(-16)));
            }),
            400,
            "hash-envelope",
        ),
        (
            "sub is not the attestation_id",
            SignedStatement::sign(&payload(4), &key, &att_id(5)).to_entry(),
            422,
            "claims-mismatch",
        ),
        (
            "bad signature",
            {
                let mut s = parse_sign1(&good).unwrap();
                s.signature[0] ^= 1;
                sign1_to_tagged(s)
            },
            422,
            "bad-signature",
        ),
        (
            "invalid statement",
            SignedStatement::sign(b"{\"_type\":1}", &key, &att_id(4)).to_entry(),
            422,
            "not-admissible",
        ),
    ];
    for (what, body, status, code) in cases {
        let a = post_cose(&log, &body).await;
        assert_eq!(
            a.status,
            status,
            "{what}: {:?}",
            parse_problem_details(&a.body)
        );
        assert_eq!(
            a.content_type, "application/concise-problem-details+cbor",
            "{what}"
        );
        let (title, detail, got) = parse_problem_details(&a.body).unwrap();
        assert_eq!(got, code, "{what}: {detail}");
        assert!(!title.is_empty() && !detail.is_empty(), "{what}");
    }
    // Not COSE at all: 415.
    let a = post_typed(&log, "application/json", &good).await;
    assert_eq!(a.status, 415);
    // Nothing of the above was logged: only the enrolment is in the tree.
    assert_eq!(checkpoint(&log).await.size, 1);
    // And the good statement still registers.
    assert_eq!(post_cose(&log, &good).await.status, 201);
}

/// A client that shows redirects (303, 302) instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_cose_and_a_dsse_envelope_of_one_statement_are_one_entry() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let keys = scitt_keys(&log).await;
    // DSSE first, then the same statement as COSE: the original DSSE entry answers.
    let v = statement(VENDOR, &att_id(10), "Example Endpoint Security");
    let (status, body) = log.submit(&crate::common::sign_value(&key, &v)).await;
    assert_eq!(status, 201, "{body}");
    let dsse_index = body["index"].as_u64().unwrap();
    let dsse_entry = log.state.prover().entry(dsse_index).unwrap();
    let a = post_cose(&log, &cose_statement(&key, 10).to_entry()).await;
    assert_eq!(a.status, 200, "{:?}", parse_problem_details(&a.body));
    assert_eq!(
        a.location.unwrap(),
        format!("/entries/{}", Hash::leaf(&dsse_entry).to_hex())
    );
    let r = Receipt::parse(&a.body).unwrap();
    assert_eq!(
        r.verify_inclusion(&dsse_entry, &keys).unwrap().0.leaf_index,
        dsse_index
    );
    assert_eq!(r.claims.sub.as_deref(), Some(att_id(10).as_str()));

    // COSE first, then DSSE: the /v1 API answers the COSE entry.
    let cose = cose_statement(&key, 11);
    assert_eq!(post_cose(&log, &cose.to_entry()).await.status, 201);
    let size = checkpoint(&log).await.size;
    let v = statement(VENDOR, &att_id(11), "Example Endpoint Security");
    let (status, body) = log.submit(&crate::common::sign_value(&key, &v)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"].as_u64().unwrap(), size - 1);
    assert_eq!(checkpoint(&log).await.size, size, "no new entry");

    // The version chain spans formats: a COSE version must name the DSSE head.
    let mut v2 = statement(VENDOR, &att_id(10), "Example Endpoint Security");
    v2["predicate"]["issued_at"] = serde_json::json!("2026-11-02T00:00:00Z");
    let payload = statement_from_value(v2.clone()).unwrap().canonical_bytes();
    let a = post_cose(
        &log,
        &SignedStatement::sign(&payload, &key, &att_id(10)).to_entry(),
    )
    .await;
    assert_eq!(a.status, 422, "a second version without supersedes");
    v2["predicate"]["supersedes"] =
        serde_json::json!({"attestation_id": att_id(10), "log_index": dsse_index});
    let payload = statement_from_value(v2).unwrap().canonical_bytes();
    let a = post_cose(
        &log,
        &SignedStatement::sign(&payload, &key, &att_id(10)).to_entry(),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", parse_problem_details(&a.body));
}

/// The monitor follows a log holding COSE signed statements with the same rule engine: it
/// reports them as attestations (and their version chain), never as invalid entries.
#[test]
fn the_monitor_follows_cose_entries() {
    use crate::common::{run, server_runtime, temp_dir};
    let rt = server_runtime();
    let (log, key) = rt.block_on(log_with_vendor(|_| {}));
    rt.block_on(async {
        assert_eq!(
            post_cose(&log, &cose_statement(&key, 20).to_entry())
                .await
                .status,
            201
        );
        let v = statement(VENDOR, &att_id(21), "Example Endpoint Security");
        assert_eq!(
            log.submit(&crate::common::sign_value(&key, &v)).await.0,
            201
        );
    });
    let dir = temp_dir("scitt-monitor");
    let state = dir.join("state");
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        serde_json::json!({ "vendors": [VENDOR] }).to_string(),
    )
    .unwrap();
    let (code, out) = run(&[
        "--log",
        &log.url,
        "monitor",
        "--log-key",
        &log.log_key().to_string(),
        "--state",
        state.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(code, attestlog_client::cli::EXIT_OK, "{out}");
    let alerts: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!out.contains("invalid"), "{out}");
    let at = |i: u64| {
        alerts
            .iter()
            .find(|a| a["index"] == i)
            .unwrap_or_else(|| panic!("no alert for {i}: {out}"))
    };
    assert_eq!(at(1)["alert"], "registration_policy", "{out}");
    assert_eq!(
        at(2)["alert"],
        at(3)["alert"],
        "COSE and DSSE attestations alike: {out}"
    );
    assert_eq!(at(2)["attestation_id"], att_id(20));
}

/// The client side of SCITT (DESIGN.md §12): `attest sign --format cose` writes a signed
/// statement the log accepts, `submit` registers it at `POST /entries` and saves the RFC 9942
/// receipt (and with `--transparent` the transparent statement), and `verify` checks both
/// offline, refusing a wrong statement, a wrong COSE key, a wrong log key or vendor key.
#[test]
fn the_cli_signs_submits_and_verifies_cose_statements() {
    use crate::common::{ok, run, server_runtime, temp_dir};
    use attestlog_client::cli::EXIT_FAILURE;
    let rt = server_runtime();
    let (log, key) = rt.block_on(log_with_vendor(|_| {}));
    let dir = temp_dir("scitt-cli");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(dir.join("vendor.key"), key.to_secret_string()).unwrap();
    for n in [30, 31] {
        let v = statement(VENDOR, &att_id(n), "Example Endpoint Security");
        std::fs::write(dir.join(format!("st{n}.json")), v.to_string()).unwrap();
        ok(&[
            "attest",
            "sign",
            "--key",
            &p("vendor.key"),
            "--format",
            "cose",
            &p(&format!("st{n}.json")),
            "-o",
            &p(&format!("st{n}.cose")),
        ]);
    }
    // The signed statement is what DESIGN.md §12 prescribes, signed by the vendor key.
    let bytes = std::fs::read(dir.join("st30.cose")).unwrap();
    let st = SignedStatement::parse(&bytes).unwrap();
    assert_eq!(
        st.to_entry(),
        bytes,
        "written with an empty unprotected header"
    );
    assert_eq!(st.kid(), key.verifier().key_id());
    assert_eq!(st.iss(), key.name());
    assert_eq!(st.sub(), att_id(30));
    assert_eq!(st.payload(), payload(30).as_slice());
    assert!(st.verify_with(&key.verifier()));

    let out = ok(&[
        "--log",
        &log.url,
        "submit",
        &p("st30.cose"),
        "--transparent",
    ]);
    assert!(out.contains("registered at index 2"), "{out}");
    let out = ok(&["--log", &log.url, "--json", "submit", &p("st30.cose")]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["created"], false, "{out}");
    assert_eq!(v["leaf_hash"], Hash::leaf(&bytes).to_hex());
    ok(&["--log", &log.url, "submit", &p("st31.cose")]);
    let receipt = std::fs::read(dir.join("st30.cose.receipt.cose")).unwrap();
    let keys = rt.block_on(scitt_keys(&log));
    Receipt::parse(&receipt)
        .unwrap()
        .verify_inclusion(&bytes, &keys)
        .unwrap();
    std::fs::write(
        dir.join("keys.cbor"),
        rt.block_on(get_raw(&log, "/.well-known/scitt-keys")).body,
    )
    .unwrap();
    let log_key = log.log_key().to_string();

    // The bare receipt, for its statement.
    let out = ok(&[
        "verify",
        &p("st30.cose.receipt.cose"),
        "--scitt-key",
        &p("keys.cbor"),
        "--statement",
        &p("st30.cose"),
    ]);
    assert!(out.contains("SCITT receipt verified"), "{out}");
    assert!(
        out.contains(&format!("entry {}", Hash::leaf(&bytes).to_hex())),
        "{out}"
    );
    // The transparent statement: receipt, tlog-proof under the log key, vendor signature.
    let out = ok(&[
        "verify",
        &p("st30.cose.transparent.cose"),
        "--scitt-key",
        &p("keys.cbor"),
        "--log-key",
        &log_key,
        "--vendor-key",
        &key.verifier().to_string(),
    ]);
    assert!(out.contains("tlog-proof verified"), "{out}");
    assert!(out.contains("statement signature verified"), "{out}");

    // Failures: exit 1 with the reason.
    let other_log = SignerKey::from_seed(log.log_key().name(), 1, &[77; 32]).unwrap();
    std::fs::write(
        dir.join("other-keys.cbor"),
        attestlog_proto::scitt::key_set(&[other_log.public_key()]),
    )
    .unwrap();
    let failures: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                p("st30.cose.receipt.cose"),
                "--scitt-key".into(),
                p("keys.cbor"),
                "--statement".into(),
                p("st31.cose"),
            ],
            "does NOT verify",
        ),
        (
            vec![
                p("st30.cose.transparent.cose"),
                "--scitt-key".into(),
                p("other-keys.cbor"),
            ],
            "no trusted log key",
        ),
        (
            vec![
                p("st30.cose.transparent.cose"),
                "--scitt-key".into(),
                p("keys.cbor"),
                "--log-key".into(),
                other_log.verifier().to_string(),
            ],
            "tlog-proof",
        ),
        (
            vec![
                p("st30.cose.transparent.cose"),
                "--scitt-key".into(),
                p("keys.cbor"),
                "--vendor-key".into(),
                crate::common::vendor_key(8).verifier().to_string(),
            ],
            "does not verify under the vendor key",
        ),
    ];
    for (args, reason) in failures {
        let mut argv = vec!["verify"];
        argv.extend(args.iter().map(String::as_str));
        let (code, out) = run(&argv);
        assert_eq!(code, EXIT_FAILURE, "{argv:?}: {out}");
        assert!(out.contains(reason), "{argv:?}: {out}");
    }
}

/// fsck replays COSE entries through the same rule engine as DSSE ones: a log holding both
/// passes, and a COSE entry whose statement is changed is found at its index.
#[tokio::test]
async fn fsck_replays_cose_entries() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let entry = cose_statement(&key, 1).to_entry();
    assert_eq!(post_cose(&log, &entry).await.status, 201);
    let dsse = crate::common::sign_value(
        &key,
        &statement(VENDOR, &att_id(2), "Example Endpoint Security"),
    );
    assert_eq!(log.submit(&dsse).await.0, 201);

    let fsck = |log: &TestLog| {
        attestlog_server::fsck::run(
            log.state.store.as_ref(),
            &[log.log_key()],
            &[],
            &log.dir,
            0,
            |_, _| {},
        )
        .unwrap()
    };
    let healthy = fsck(&log);
    assert!(healthy.ok, "{healthy:?}");
    assert_eq!(
        healthy.entries, 4,
        "with the registration policy at index 1"
    );

    // A changed signature byte in the stored COSE entry is an admission finding at its index.
    let mut other = entry.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let c = rusqlite::Connection::open(log.dir.join("attestlog.db")).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c.execute(
        "UPDATE entries SET data = ?1 WHERE idx = 2",
        rusqlite::params![other],
    )
    .unwrap();
    let r = fsck(&log);
    let p = r.problem.as_ref().expect("a finding");
    assert_eq!((p.kind, p.at), ("admission", Some(2)), "{r:?}");
}

/// A JSON receipt (`GET /v1/entries/{index}`) of a COSE entry verifies offline like a DSSE
/// one.
fn json_receipt_verifies(
    log: &TestLog,
    v: &serde_json::Value,
) -> attestlog_proto::receipt::VerifiedReceipt {
    let r: attestlog_proto::api::Receipt = serde_json::from_value(v["receipt"].clone()).unwrap();
    let key = log.log_key();
    attestlog_proto::receipt::verify_receipt(&r, &attestlog_proto::trust::Trust::log_key(key))
        .unwrap_or_else(|e| panic!("the JSON receipt does not verify: {e}"))
}

/// Verification statements (DESIGN.md §13) as SCITT signed statements go through the same
/// rule engine as DSSE ones: only a verifier key signs them (a vendor key is refused), the
/// subject must be an attestation in the log, `sub` must be the subject's `attestation_id`;
/// the same statement as DSSE is the same entry; search, JSON receipts (verified offline,
/// with the subject check) and fsck treat the COSE entry as a verification.
#[tokio::test]
async fn cose_verification_statements_pass_the_same_rules_as_dsse_ones() {
    use crate::verifications::{LAB, verification_of};
    let (log, key) = log_with_vendor(|c| c.quota_rate = 0.0).await;
    let lab = crate::common::vendor_key(33);
    let (status, body) = log
        .vendors(
            &serde_json::json!({"vendor": LAB, "key": lab.verifier().to_string(),
            "action": "enrol", "role": "verifier"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let attestation = cose_statement(&key, 20).to_entry();
    assert_eq!(post_cose(&log, &attestation).await.status, 201);
    let subject = checkpoint(&log).await.size - 1;
    assert_eq!(log.state.prover().entry(subject).unwrap(), attestation);

    let v = verification_of(subject, &attestation, &att_id(20), "consistent");
    let payload = attestlog_proto::verification::statement_from_value(v.clone())
        .unwrap()
        .canonical_bytes();
    let sign = |k: &SignerKey, payload: &[u8], sub: &str| {
        SignedStatement::sign(payload, k, sub).to_entry()
    };
    // Refusals, each a specific problem: a vendor key, the wrong sub, a subject that is not
    // the entry it names.
    let mut by_vendor = v.clone();
    by_vendor["predicate"]["verifier"]["legal_name"] = serde_json::json!(VENDOR);
    let by_vendor = attestlog_proto::verification::statement_from_value(by_vendor)
        .unwrap()
        .canonical_bytes();
    let mut wrong_leaf = v.clone();
    wrong_leaf["predicate"]["subject_entry"]["leaf_hash"] = serde_json::json!("ab".repeat(32));
    let wrong_leaf = attestlog_proto::verification::statement_from_value(wrong_leaf)
        .unwrap()
        .canonical_bytes();
    for (what, body, code, detail) in [
        (
            "signed by a vendor key",
            sign(&key, &by_vendor, &att_id(20)),
            "not-admissible",
            "vendor key",
        ),
        (
            "sub is not the subject's attestation_id",
            sign(&lab, &payload, &att_id(21)),
            "claims-mismatch",
            "sub",
        ),
        (
            "subject is not the entry named",
            sign(&lab, &wrong_leaf, &att_id(20)),
            "not-admissible",
            "leaf_hash",
        ),
    ] {
        let a = post_cose(&log, &body).await;
        let (_, d, c) = parse_problem_details(&a.body).unwrap();
        assert_eq!((a.status, c.as_str()), (422, code), "{what}: {d}");
        assert!(d.contains(detail), "{what}: {d}");
    }

    // Accepted from the verifier key; its receipt names the subject's attestation_id.
    let entry = sign(&lab, &payload, &att_id(20));
    let a = post_cose(&log, &entry).await;
    assert_eq!(a.status, 201, "{:?}", parse_problem_details(&a.body));
    let keys = scitt_keys(&log).await;
    let receipt = Receipt::parse(&a.body).unwrap();
    let (proof, _) = receipt.verify_inclusion(&entry, &keys).unwrap();
    assert_eq!(receipt.claims.sub.as_deref(), Some(att_id(20).as_str()));
    let index = proof.leaf_index;

    // The same statement as DSSE is the same entry.
    let (status, body) = log
        .submit(&crate::verifications::sign_verification(&lab, &v))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"], index, "{body}");

    // Search answers it as a verification of the subject.
    let (status, body) = log.get_json(&format!("/v1/search?subject={subject}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verifications"][0]["index"], index, "{body}");
    assert_eq!(body["verifications"][0]["verifier"], LAB, "{body}");

    // The JSON receipts of both COSE entries verify offline, and the subject check holds.
    let (status, v_entry) = log.get_json(&format!("/v1/entries/{index}")).await;
    assert_eq!(status, 200, "{v_entry}");
    let verified = json_receipt_verifies(&log, &v_entry);
    assert!(verified.verification().is_some());
    assert_eq!(verified.vendor_key(), Some(&lab.verifier()));
    assert_eq!(verified.signed_statement().unwrap().to_entry(), entry);
    let (_, s_entry) = log.get_json(&format!("/v1/entries/{subject}")).await;
    let subject_receipt = json_receipt_verifies(&log, &s_entry);
    assert_eq!(subject_receipt.vendor_key(), Some(&key.verifier()));
    verified.check_subject(&subject_receipt).unwrap();

    // fsck replays the COSE verification with the rule engine.
    let report = attestlog_server::fsck::run(
        log.state.store.as_ref(),
        &[log.log_key()],
        &[],
        &log.dir,
        0,
        |_, _| {},
    )
    .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, index + 1);
}

/// Consistency receipts (RFC 9942 vds 1, proof in `vdp` -2): `GET /receipts/consistency`
/// signs, with the log's COSE key, the root of the newer tree, with the same RFC 9162 proof
/// `/v1/proof/consistency` serves; from an old checkpoint alone the proof gives the new root
/// the signature covers (offline, in the library and with `attestlog verify --checkpoint`),
/// which is the root of the log's checkpoint at that size. Bad sizes are specific problems.
#[test]
fn consistency_receipts_verify_offline_from_an_old_checkpoint() {
    use crate::common::{ok, run, server_runtime, temp_dir};
    use attestlog_client::cli::EXIT_FAILURE;
    let rt = server_runtime();
    let (log, key) = rt.block_on(log_with_vendor(|_| {}));
    let dir = temp_dir("scitt-consistency");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    assert_eq!(
        rt.block_on(post_cose(&log, &cose_statement(&key, 60).to_entry()))
            .status,
        201
    );
    let old_note = rt.block_on(async { log.get("/checkpoint").await.bytes().await.unwrap() });
    std::fs::write(dir.join("old.checkpoint"), &old_note).unwrap();
    let old = rt.block_on(checkpoint(&log));
    assert_eq!(
        old.size, 3,
        "the enrolment, the registration policy and the statement"
    );
    for n in 61..=62 {
        assert_eq!(
            rt.block_on(post_cose(&log, &cose_statement(&key, n).to_entry()))
                .status,
            201
        );
    }
    let dsse = crate::common::sign_value(
        &key,
        &statement(VENDOR, &att_id(64), "Example Endpoint Security"),
    );
    assert_eq!(rt.block_on(log.submit(&dsse)).0, 201);
    let new = rt.block_on(checkpoint(&log));
    assert_eq!(new.size, 6);
    let keys = rt.block_on(scitt_keys(&log));

    // To the published tree (second omitted) and to an older one.
    for (query, second) in [
        ("first=2", 6),
        ("first=2&second=5", 5),
        ("first=3&second=6", 6),
    ] {
        let a = rt.block_on(get_raw(&log, &format!("/receipts/consistency?{query}")));
        assert_eq!(
            a.status,
            200,
            "{query}: {:?}",
            parse_problem_details(&a.body)
        );
        assert_eq!(a.content_type, "application/cose");
        let r = Receipt::parse(&a.body).unwrap();
        assert!(r.inclusion.is_empty());
        assert_eq!(r.claims.iss, log.log_key().name());
        assert_eq!(r.claims.sub, None);
        assert_eq!(r.kid, thumbprint(&keys[0]));
        let first = r.consistency[0].tree_size_1;
        assert_eq!(r.consistency[0].tree_size_2, second, "{query}");
        // The same proof as the /v1 API's RFC 9162 consistency proof.
        let (status, v) = rt.block_on(log.get_json(&format!(
            "/v1/proof/consistency?first={first}&second={second}"
        )));
        assert_eq!(status, 200, "{v}");
        let v1: attestlog_proto::api::ConsistencyProof = serde_json::from_value(v).unwrap();
        assert_eq!(r.consistency[0].path, v1.hashes, "{query}");
        // The root of the tree of `first` leaves, from the /v1 inclusion proof of its last
        // entry, and the signed root of the tree of `second` leaves.
        let first_root = {
            let (_, v) = rt.block_on(log.get_json(&format!(
                "/v1/proof/inclusion?index={}&tree_size={first}",
                first - 1
            )));
            let ip: attestlog_proto::api::InclusionProof = serde_json::from_value(v).unwrap();
            attestlog_proto::proof::root_from_inclusion(&ip.leaf_hash, first - 1, first, &ip.hashes)
                .unwrap()
        };
        let (proof, root) = r
            .verify_consistency_from(first, &first_root, &keys)
            .unwrap();
        assert_eq!(proof, r.consistency[0]);
        if second == 6 {
            assert_eq!(root, new.root, "{query}");
        }
        r.verify_consistency(first, &first_root, &root, &keys)
            .unwrap();
        assert!(
            r.verify_consistency_from(first, &Hash::leaf(b"another tree"), &keys)
                .is_err()
        );
    }
    assert_eq!(
        Receipt::parse(
            &rt.block_on(get_raw(&log, "/receipts/consistency?first=3"))
                .body
        )
        .unwrap()
        .verify_consistency_from(3, &old.root, &keys)
        .unwrap()
        .1,
        new.root
    );

    // Bad input: each a specific problem.
    for (query, status, code) in [
        ("first=0", 400, "bad-tree-sizes"),
        ("first=6", 400, "bad-tree-sizes"),
        ("first=4&second=3", 400, "bad-tree-sizes"),
        ("first=2&second=7", 404, "not-found"),
        ("", 400, "bad-query"),
        ("first=x", 400, "bad-query"),
        ("first=2&second=-1", 400, "bad-query"),
        ("first=2&size=3", 400, "bad-query"),
    ] {
        let a = rt.block_on(get_raw(&log, &format!("/receipts/consistency?{query}")));
        assert_eq!(a.status, status, "{query}");
        assert_eq!(
            a.content_type, "application/concise-problem-details+cbor",
            "{query}"
        );
        assert_eq!(parse_problem_details(&a.body).unwrap().2, code, "{query}");
    }

    // `attestlog verify` offline: from the old checkpoint under the log key.
    let receipt = rt
        .block_on(get_raw(&log, "/receipts/consistency?first=3"))
        .body;
    std::fs::write(dir.join("consistency.cose"), &receipt).unwrap();
    std::fs::write(
        dir.join("keys.cbor"),
        rt.block_on(get_raw(&log, "/.well-known/scitt-keys")).body,
    )
    .unwrap();
    let log_key = log.log_key().to_string();
    let out = ok(&[
        "verify",
        &p("consistency.cose"),
        "--scitt-key",
        &p("keys.cbor"),
        "--checkpoint",
        &p("old.checkpoint"),
        "--log-key",
        &log_key,
    ]);
    assert!(out.contains("consistency receipt verified"), "{out}");
    assert!(out.contains(&new.root.to_hex()), "{out}");
    let out = ok(&[
        "--json",
        "verify",
        &p("consistency.cose"),
        "--scitt-key",
        &p("keys.cbor"),
        "--checkpoint",
        &p("old.checkpoint"),
        "--log-key",
        &log_key,
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["tree_size_1"].as_u64(), v["tree_size_2"].as_u64()),
        (Some(3), Some(6)),
        "{out}"
    );
    assert_eq!(v["root_2"], new.root.to_hex(), "{out}");
    // Refused: a tampered signature, a checkpoint of another size, another log key.
    let mut tampered = parse_sign1(&receipt).unwrap();
    tampered.signature[0] ^= 1;
    std::fs::write(dir.join("tampered.cose"), sign1_to_tagged(tampered)).unwrap();
    let new_note = rt.block_on(async { log.get("/checkpoint").await.bytes().await.unwrap() });
    std::fs::write(dir.join("new.checkpoint"), &new_note).unwrap();
    let other_log = SignerKey::from_seed(log.log_key().name(), 1, &[98; 32])
        .unwrap()
        .verifier()
        .to_string();
    for (file, checkpoint, trust, why) in [
        (
            "tampered.cose",
            "old.checkpoint",
            log_key.as_str(),
            "signature",
        ),
        (
            "consistency.cose",
            "new.checkpoint",
            log_key.as_str(),
            "starts at size 3",
        ),
        (
            "consistency.cose",
            "old.checkpoint",
            other_log.as_str(),
            "does not verify",
        ),
    ] {
        let (code, out) = run(&[
            "verify",
            &p(file),
            "--scitt-key",
            &p("keys.cbor"),
            "--checkpoint",
            &p(checkpoint),
            "--log-key",
            trust,
        ]);
        assert_eq!(code, EXIT_FAILURE, "{file} {checkpoint}: {out}");
        assert!(
            out.contains("does NOT verify") && out.contains(why),
            "{why}: {out}"
        );
    }
    rt.block_on(log.stop());
}

/// The rule engine's ownership and enrolment rules hold for signed statements as for DSSE:
/// another vendor cannot continue an attestation id it does not own, and a revoked key's
/// statements are refused (each a 422 problem naming the rule); nothing is logged.
#[tokio::test]
async fn cose_statements_respect_ownership_and_revocation() {
    let (log, key) = log_with_vendor(|c| c.quota_rate = 0.0).await;
    let first = cose_statement(&key, 70).to_entry();
    assert_eq!(post_cose(&log, &first).await.status, 201);
    let owned = checkpoint(&log).await.size - 1;
    // Another enrolled vendor names the id in a later version of its own.
    let other = crate::common::vendor_key(34);
    log.enrol("Other AG", &other.verifier()).await;
    let mut v = statement("Other AG", &att_id(70), "Example Endpoint Security");
    v["predicate"]["issued_at"] = serde_json::json!("2026-11-02T00:00:00Z");
    v["predicate"]["supersedes"] =
        serde_json::json!({"attestation_id": att_id(70), "log_index": owned});
    let payload = statement_from_value(v).unwrap().canonical_bytes();
    let a = post_cose(
        &log,
        &SignedStatement::sign(&payload, &other, &att_id(70)).to_entry(),
    )
    .await;
    let (_, detail, code) = parse_problem_details(&a.body).unwrap();
    assert_eq!(
        (a.status, code.as_str()),
        (422, "not-admissible"),
        "{detail}"
    );
    assert!(detail.contains("belongs to vendor"), "{detail}");
    // A revoked key.
    let (status, body) = log.revoke(VENDOR, &key.verifier()).await;
    assert_eq!(status, 201, "{body}");
    let size = checkpoint(&log).await.size;
    let a = post_cose(&log, &cose_statement(&key, 71).to_entry()).await;
    let (_, detail, code) = parse_problem_details(&a.body).unwrap();
    assert_eq!(
        (a.status, code.as_str()),
        (422, "not-admissible"),
        "{detail}"
    );
    assert!(detail.contains("revoked"), "{detail}");
    assert_eq!(checkpoint(&log).await.size, size, "nothing was logged");
}

/// `/.well-known/scitt-keys` lists every receipt key ever used: after the operator moves to a
/// new receipt key (the old one configured as retired), the key set holds both, current
/// first; receipts issued under the old key still verify against it, and new receipts are
/// signed by the new key.
#[tokio::test]
async fn retired_receipt_keys_stay_in_the_key_set_and_old_receipts_verify() {
    let (log, key) = log_with_vendor(|_| {}).await;
    let before = scitt_keys(&log).await;
    assert_eq!(before.len(), 1);
    let entry = cose_statement(&key, 80).to_entry();
    let a = post_cose(&log, &entry).await;
    assert_eq!(a.status, 201);
    let old_receipt = a.body;
    let mut config = log.config();
    let dir = log.stop().await;
    let new_key = dir.join("scitt-2.key");
    std::fs::write(
        &new_key,
        SignerKey::from_seed("scitt", 1, &[77; 32])
            .unwrap()
            .to_secret_string(),
    )
    .unwrap();
    config.scitt_key_file = Some(new_key);
    config.scitt_retired_key_files = vec![dir.join("scitt.key")];
    let log = TestLog::start_in(dir, config).await;
    let keys = scitt_keys(&log).await;
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], before[0], "the current key first");
    assert_eq!(keys[1], before[0], "the retired key is kept");
    let old = Receipt::parse(&old_receipt).unwrap();
    assert_eq!(old.kid, thumbprint(&before[0]));
    old.verify_inclusion(&entry, &keys).unwrap();
    let g = get_raw(&log, &format!("/entries/{}", Hash::leaf(&entry).to_hex())).await;
    assert_eq!(g.status, 200);
    let new = Receipt::parse(&g.body).unwrap();
    assert_eq!(new.kid, thumbprint(&keys[0]));
    new.verify_inclusion(&entry, &keys).unwrap();
    assert!(new.verify_inclusion(&entry, &before).is_err());
    let k = get_raw(
        &log,
        &format!(
            "/.well-known/scitt-keys/{}",
            hex::encode(thumbprint(&before[0]))
        ),
    )
    .await;
    assert_eq!(k.status, 200);
    assert_eq!(parse_key_set(&k.body).unwrap(), before);
}
