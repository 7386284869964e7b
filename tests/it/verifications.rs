//! Independent verification (DESIGN.md §13) through the HTTP API, on both backends: key roles
//! at enrolment, kept by storage across a restart; verification statements accepted from
//! verifier keys only, about attestations in the log only, in version chains per verifier and
//! subject; `GET /v1/search?verdict=|subject=|verifier=`.

use attestlog_proto::Hash;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::keys::SignerKey;
use attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO;
use attestlog_proto::verification::{self, subject_name};
use serde_json::{Value, json};

use crate::common::*;

pub(crate) const LAB: &str = "Example Test Lab GmbH";

/// A verification statement by the lab about the entry `entry` logged at `index`.
pub(crate) fn verification_of(
    index: u64,
    entry: &[u8],
    attestation_id: &str,
    verdict: &str,
) -> Value {
    let mut v = verification::template();
    v["subject"][0]["name"] = json!(subject_name(index));
    v["subject"][0]["digest"]["sha256"] = json!(Hash::sha256(entry).to_hex());
    v["predicate"]["subject_entry"] = json!({
        "log_index": index,
        "leaf_hash": Hash::leaf(entry).to_hex(),
        "attestation_id": attestation_id,
    });
    v["predicate"]["verifier"]["legal_name"] = json!(LAB);
    if verdict == "contradicted" {
        v["predicate"]["findings"][0]["result"] = json!("contradicted");
    }
    v["predicate"]["verdict"] = json!(verdict);
    v
}

/// Signs a verification statement (validated first) into canonical envelope bytes.
pub fn sign_verification(key: &SignerKey, v: &Value) -> Vec<u8> {
    let st = verification::statement_from_value(v.clone())
        .unwrap_or_else(|e| panic!("invalid verification: {e:?}"));
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &[key]).canonical_bytes()
}

fn error_text(body: &Value) -> String {
    format!(
        "{} {}",
        body["error"]["field"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default()
    )
}

async fn verifier_keys_sign_verifications_only(backend: Backend) {
    let log = TestLog::start_on_with(backend, |c| c.quota_rate = 0.0).await;
    let (vendor, lab) = (vendor_key(31), vendor_key(32));
    log.enrol("V AG", &vendor.verifier()).await;
    // Roles at enrolment: a bad role is a 400 naming it; a revocation names none.
    let enrol = |role: &str| json!({"vendor": LAB, "key": lab.verifier().to_string(), "action": "enrol", "role": role});
    let (status, body) = log.vendors(&enrol("auditor")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "role", "{body}");
    assert!(error_text(&body).contains("\"auditor\""), "{body}");
    let (status, body) = log.vendors(&enrol("verifier")).await;
    assert_eq!(status, 201, "{body}");
    let lab_enrolment = body["index"].as_u64().unwrap();
    let (_, vendors) = log.get_json("/v1/vendors").await;
    let role_of = |name: &str| {
        vendors["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vendor"] == name)
            .map(|v| v["keys"][0]["role"].clone())
    };
    assert_eq!(role_of(LAB), Some(json!("verifier")));
    assert_eq!(role_of("V AG"), Some(json!("vendor")));

    // The vendor attests; the attestation entry is what a verification names.
    let id = att_id(7);
    let entry = sign_value(&vendor, &statement("V AG", &id, "P"));
    let (status, body) = log.submit(&entry).await;
    assert_eq!(status, 201, "{body}");
    let subject = body["index"].as_u64().unwrap();

    // A verifier key never signs attestations, a vendor key never verifications.
    let (status, body) = log
        .submit(&sign_value(&lab, &statement(LAB, &att_id(8), "P")))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(error_text(&body).contains("verifier key"), "{body}");
    let contradicted = verification_of(subject, &entry, &id, "contradicted");
    let mut by_vendor = contradicted.clone();
    by_vendor["predicate"]["verifier"]["legal_name"] = json!("V AG");
    let (status, body) = log.submit(&sign_verification(&vendor, &by_vendor)).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_text(&body).contains("vendor key"), "{body}");

    // The subject must be an attestation in the log, named by its own leaf hash.
    let mut wrong_leaf = contradicted.clone();
    wrong_leaf["predicate"]["subject_entry"]["leaf_hash"] = json!("ab".repeat(32));
    let (status, body) = log.submit(&sign_verification(&lab, &wrong_leaf)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"], "predicate.subject_entry.leaf_hash",
        "{body}"
    );
    let not_an_attestation = verification_of(lab_enrolment, b"x", &id, "consistent");
    let (status, body) = log
        .submit(&sign_verification(&lab, &not_an_attestation))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"], "predicate.subject_entry.log_index",
        "{body}"
    );

    // A finding names one of the subject's data flows: a flow it does not declare is a 422
    // naming the finding.
    let flows = statement("V AG", &id, "P")["predicate"]["data_flows"]
        .as_array()
        .unwrap()
        .len();
    let mut no_such_flow = contradicted.clone();
    no_such_flow["predicate"]["findings"][0]["data_flow"] = json!(flows);
    let (status, body) = log.submit(&sign_verification(&lab, &no_such_flow)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["field"], "predicate.findings[0].data_flow",
        "{body}"
    );

    // Accepted from the verifier key.
    let (status, body) = log.submit(&sign_verification(&lab, &contradicted)).await;
    assert_eq!(status, 201, "{body}");
    let first = body["index"].as_u64().unwrap();

    // Each entry is named for what it is: the verification is not called an attestation.
    for (index, kind) in [
        (first, "verification"),
        (subject, "attestation"),
        (lab_enrolment, "enrolment"),
    ] {
        let (status, body) = log.get_json(&format!("/v1/entries/{index}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], kind, "entry {index}: {body}");
    }

    // One chain per verifier and subject: a second one must supersede the first.
    let mut again = verification_of(subject, &entry, &id, "consistent");
    again["predicate"]["issued_at"] = json!("2026-12-06T10:00:00Z");
    let (status, body) = log.submit(&sign_verification(&lab, &again)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "predicate.supersedes", "{body}");
    again["predicate"]["supersedes"] = json!({"log_index": first});
    let (status, body) = log.submit(&sign_verification(&lab, &again)).await;
    assert_eq!(status, 201, "{body}");
    let second = body["index"].as_u64().unwrap();

    // Search: by verdict, by subject, by verifier; bad values are 400s naming the parameter.
    let search = |q: String| {
        let log = &log;
        async move {
            let (status, body) = log.get_json(&format!("/v1/search?{q}")).await;
            assert_eq!(status, 200, "{q}: {body}");
            body["verifications"]
                .as_array()
                .map(|a| a.iter().map(|h| h["index"].as_u64().unwrap()).collect())
                .unwrap_or_else(Vec::new)
        }
    };
    assert_eq!(search("verdict=contradicted".into()).await, vec![first]);
    assert_eq!(search("verdict=consistent".into()).await, vec![second]);
    assert!(search("verdict=inconclusive".into()).await.is_empty());
    assert_eq!(
        search(format!("subject={subject}")).await,
        vec![second, first]
    );
    assert_eq!(
        search(format!("subject={subject}&verdict=contradicted")).await,
        vec![first]
    );
    assert_eq!(
        search(format!(
            "attestation_id={id}&verifier=example%20test%20lab%20gmbh"
        ))
        .await,
        vec![second, first]
    );
    assert!(
        search(format!("subject={}", subject + 100))
            .await
            .is_empty()
    );
    let (_, body) = log
        .get_json(&format!("/v1/search?subject={subject}&limit=1"))
        .await;
    let hit = &body["verifications"][0];
    assert_eq!(
        (
            hit["verifier"].as_str(),
            hit["subject"].as_u64(),
            hit["verdict"].as_str(),
            hit["supersedes"].as_u64()
        ),
        (Some(LAB), Some(subject), Some("consistent"), Some(first)),
        "{body}"
    );
    assert_eq!(body["next"], second, "{body}");
    // Attestation searches do not answer verifications.
    let (_, body) = log.get_json("/v1/search?vendor=v%20ag").await;
    assert_eq!(body["entries"].as_array().unwrap().len(), 1, "{body}");
    assert!(body.get("verifications").is_none(), "{body}");
    for (q, field) in [
        ("verdict=maybe", "verdict"),
        ("verdict=contradicted&vendor=v", "vendor"),
        ("subject=x", "subject"),
    ] {
        let (status, body) = log.get_json(&format!("/v1/search?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"]["field"], field, "{q}: {body}");
    }

    // The roles and chains are stored: after a restart a verifier key still signs
    // verifications only, and the chain's head is the second verification.
    let config = log.config();
    let dir = log.dir.clone();
    let mut log = log;
    let db = log.keep_database();
    log.stop().await;
    let log = TestLog::start_in(dir, config).await;
    let (status, body) = log
        .submit(&sign_value(&lab, &statement(LAB, &att_id(9), "P")))
        .await;
    assert_eq!(status, 422, "{body}");
    let mut third = verification_of(subject, &entry, &id, "inconclusive");
    third["predicate"]["issued_at"] = json!("2026-12-07T10:00:00Z");
    third["predicate"]["findings"][0]["result"] = json!("not_tested");
    third["predicate"]["supersedes"] = json!({"log_index": first});
    let (status, body) = log.submit(&sign_verification(&lab, &third)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        error_text(&body).contains(&format!("index {second}")),
        "{body}"
    );
    third["predicate"]["supersedes"] = json!({"log_index": second});
    let (status, body) = log.submit(&sign_verification(&lab, &third)).await;
    assert_eq!(status, 201, "{body}");
    log.stop().await;
    drop(db);
}

crate::both_backends!(verifier_keys_sign_verifications_only);
