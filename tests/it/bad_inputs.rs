//! Bad input of every kind gets a clear 4xx naming the problem, never a 500.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::common::*;

async fn bad_submissions_table(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(20);
    log.enrol("Bad AG", &key.verifier()).await;
    let good = statement("Bad AG", &att_id(1), "P");
    let good_env = sign_value(&key, &good);
    let mut env_json: serde_json::Value = serde_json::from_slice(&good_env).unwrap();

    let mut bad_sig = env_json.clone();
    let mut sig = STANDARD
        .decode(bad_sig["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    sig[0] ^= 1;
    bad_sig["signatures"][0]["sig"] = json!(STANDARD.encode(&sig));

    let mut extra = env_json.clone();
    extra["extra"] = json!(1);
    let mut empty_sigs = env_json.clone();
    empty_sigs["signatures"] = json!([]);
    let mut bad_keyid = env_json.clone();
    bad_keyid["signatures"][0]["keyid"] = json!("ABCDEF01");

    let mut bad_country = good.clone();
    bad_country["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("XX");
    let mut contradiction = good.clone();
    contradiction["predicate"]["data_flows"][0]["remote_access_jurisdictions"] = json!(["RU"]);
    let mut missing = good.clone();
    missing["predicate"]
        .as_object_mut()
        .unwrap()
        .remove("vendor");

    let unvalidated = |v: &serde_json::Value| {
        sign_raw(
            &key,
            "application/vnd.in-toto+json",
            &serde_json::to_vec(v).unwrap(),
        )
    };
    let big_payload = vec![b'a'; 70_000];
    let huge_body = vec![b' '; 200_000];
    env_json["payloadType"] = json!("text/plain");
    let wrong_type = sign_raw(&key, "text/plain", b"hello");

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed json",
            b"{not json".to_vec(),
            400,
            "not a DSSE envelope",
        ),
        ("empty body", vec![], 400, "not a DSSE envelope"),
        ("json array", b"[]".to_vec(), 400, "not a DSSE envelope"),
        (
            "unknown field",
            serde_json::to_vec(&extra).unwrap(),
            400,
            "extra",
        ),
        (
            "empty signatures",
            serde_json::to_vec(&empty_sigs).unwrap(),
            400,
            "signature",
        ),
        (
            "uppercase keyid",
            serde_json::to_vec(&bad_keyid).unwrap(),
            400,
            "keyid",
        ),
        ("wrong payload type", wrong_type, 422, "payloadType"),
        (
            "bad signature",
            serde_json::to_vec(&bad_sig).unwrap(),
            422,
            "signature",
        ),
        (
            "bad country",
            unvalidated(&bad_country),
            422,
            "is not an ISO 3166-1 alpha-2 code",
        ),
        (
            "contradiction",
            unvalidated(&contradiction),
            422,
            "excluded_jurisdictions",
        ),
        (
            "missing vendor",
            unvalidated(&missing),
            422,
            "predicate.vendor",
        ),
        (
            "entry over 65535 bytes",
            sign_raw(&key, "application/vnd.in-toto+json", &big_payload),
            413,
            "65535",
        ),
        ("body over 128 KiB", huge_body, 413, "bytes"),
    ];
    for (name, body, want, needle) in cases {
        let (status, b) = log.submit(&body).await;
        assert_eq!(status, want, "{name}: {b}");
        let text = b.to_string();
        assert!(text.contains(needle), "{name}: {needle:?} not in {text}");
        assert!(b["error"]["code"].as_str().is_some(), "{name}: {b}");
    }
    // A malformed envelope's 400 names the envelope field too.
    for (body, field) in [
        (serde_json::to_vec(&extra).unwrap(), "extra"),
        (serde_json::to_vec(&empty_sigs).unwrap(), "signatures"),
    ] {
        let (_, b) = log.submit(&body).await;
        assert_eq!(b["error"]["field"], field, "{b}");
    }
    // The field path of a schema error points at the offending field.
    let (_, b) = log.submit(&unvalidated(&bad_country)).await;
    assert_eq!(
        b["error"]["field"],
        "predicate.data_flows[0].processing_locations[0].country"
    );
    // Nothing was appended by any of them.
    let (_, info) = log.get_json("/v1/log").await;
    assert_eq!(info["tree_size"], 1);
}

async fn bad_tile_paths_and_proof_parameters(backend: Backend) {
    let log = TestLog::start_on(backend).await;
    let key = vendor_key(21);
    log.enrol("Tiles AG", &key.verifier()).await;
    for i in 0..3 {
        let env = sign_value(&key, &statement("Tiles AG", &att_id(i), "P"));
        assert_eq!(log.submit(&env).await.0, 201);
    }
    // size is 4 now.
    let cases = [
        ("/tile/0/1234", 400),
        ("/tile/0/x1/234", 400),
        ("/tile/0/000.p/0", 400),
        ("/tile/0/000.p/256", 400),
        ("/tile/0/000.p/04", 400),
        ("/tile/64/000", 400),
        ("/tile/-1/000", 400),
        ("/tile/0/abc", 400),
        ("/tile/entries/000.p/0", 400),
        ("/tile/0/000", 404),
        ("/tile/0/001.p/1", 404),
        ("/tile/0/000.p/5", 404),
        ("/tile/1/000.p/1", 404),
        ("/tile/entries/000", 404),
        ("/tile/entries/000.p/5", 404),
        ("/tile/0/000.p/4", 200),
        ("/tile/entries/000.p/4", 200),
        ("/v1/proof/inclusion?index=4&tree_size=4", 400),
        ("/v1/proof/inclusion?index=0&tree_size=5", 404),
        ("/v1/proof/inclusion?index=x&tree_size=4", 400),
        ("/v1/proof/inclusion?index=-1&tree_size=4", 400),
        ("/v1/proof/inclusion?index=01&tree_size=4", 400),
        (
            "/v1/proof/inclusion?index=18446744073709551616&tree_size=4",
            400,
        ),
        ("/v1/proof/inclusion?tree_size=4", 400),
        ("/v1/proof/inclusion?leaf_hash=zz&tree_size=4", 400),
        (
            "/v1/proof/inclusion?leaf_hash=0000000000000000000000000000000000000000000000000000000000000000&tree_size=4",
            404,
        ),
        ("/v1/proof/inclusion?index=1&tree_size=4", 200),
        ("/v1/proof/consistency?first=3&second=2", 400),
        ("/v1/proof/consistency?first=1&second=5", 404),
        ("/v1/proof/consistency?first=a&second=2", 400),
        ("/v1/proof/consistency?first=2", 400),
        ("/v1/proof/consistency?first=0&second=4", 200),
        ("/v1/proof/consistency?first=4&second=4", 200),
        ("/v1/proof/consistency?first=1&second=4", 200),
        ("/v1/entries/4", 404),
        ("/v1/entries/abc", 400),
        ("/nope", 404),
    ];
    for (path, want) in cases {
        let r = log.get(path).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, want, "{path}: {text}");
        if status >= 400 {
            assert!(!text.trim().is_empty(), "{path}: empty error");
        }
    }
    // Earlier checkpoint sizes keep their partial tiles.
    for w in 1..=4 {
        let r = log.get(&format!("/tile/0/000.p/{w}")).await;
        assert_eq!(r.status(), 200, "width {w}");
        assert_eq!(r.bytes().await.unwrap().len(), 32 * w);
    }
    let (s, b) = log.get_json("/v1/nothing").await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "not_found");
    let (_, b) = log.get_json("/v1/proof/consistency?first=0&second=4").await;
    assert_eq!(b["hashes"], json!([]));
}

crate::both_backends!(bad_submissions_table, bad_tile_paths_and_proof_parameters);
