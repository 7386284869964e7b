//! The text `attestlog verify` prints for each kind of claim, pinned by snapshots; and that
//! text from an entry cannot drive a terminal.

use attestlog_proto::Hash;
use attestlog_proto::api::Receipt;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::enrolment::{Action, Enrolment, KeyRole};
use attestlog_proto::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};
use attestlog_proto::policy::Policy;
use attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO;
use attestlog_proto::receipt::{VerifiedReceipt, verify_receipt};
use attestlog_proto::registration::RegistrationPolicy;
use attestlog_proto::trust::Trust;
use serde_json::{Value, json};

use super::verified_receipt;

const LAB: &str = "Example Test Lab GmbH";

fn key(name: &str, key_type: u8, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, key_type, &[seed; 32]).unwrap()
}

/// The keys of the seed corpus `fuzz/corpus/receipt` (proto `receipt.rs` tests).
fn log() -> SignerKey {
    key("attestlog.test/receipt", TYPE_ED25519, 0x71)
}
fn vendor() -> SignerKey {
    key("example-av.ch/attest", TYPE_ED25519, 0x72)
}
fn witness() -> SignerKey {
    key("witness.test/w1", TYPE_COSIGNATURE_V1, 0x73)
}
fn lab() -> SignerKey {
    key("lab.example/verify", TYPE_ED25519, 0x74)
}

fn under_log_key(r: &Receipt) -> VerifiedReceipt {
    verify_receipt(r, &Trust::log_key(log().verifier())).unwrap()
}

fn corpus(name: &str) -> Receipt {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/receipt")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn enrolment(vendor_name: &str, key: &SignerKey, role: KeyRole) -> Vec<u8> {
    Enrolment {
        vendor: vendor_name.to_owned(),
        key: key.verifier(),
        action: Action::Enrol,
        issued_at: "2026-01-01T00:00:00Z".to_owned(),
        role,
    }
    .to_envelope(&log())
    .canonical_bytes()
}

/// An attestation entry signed by `signer`.
fn attestation(statement: Value, signer: &SignerKey) -> Vec<u8> {
    let payload = attestlog_proto::predicate::statement_from_value(statement)
        .unwrap()
        .canonical_bytes();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, &[signer]).canonical_bytes()
}

/// A verification entry signed by `signer`.
fn verification(statement: Value, signer: &SignerKey) -> Vec<u8> {
    let payload = attestlog_proto::verification::statement_from_value(statement)
        .unwrap()
        .canonical_bytes();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, &[signer]).canonical_bytes()
}

/// The receipt of `leaves[entry]` with the enrolment `leaves[enrol]`, against a checkpoint of
/// all `leaves` signed by the log key.
fn receipt(leaves: &[Vec<u8>], entry: usize, enrol: usize) -> Receipt {
    attestlog_proto::testing::receipt(&log(), leaves, entry, Some(enrol), &[])
}

#[test]
fn witnessed_attestation() {
    let policy = Policy::parse(&format!(
        "log {}\nwitness W1 {}\nquorum W1\n",
        log().verifier(),
        witness().verifier()
    ))
    .unwrap();
    let v = verify_receipt(&corpus("valid.json"), &Trust::policy(policy)).unwrap();
    insta::assert_snapshot!(verified_receipt(&v));
}

#[test]
fn registration_policy_entry() {
    let mut policy = RegistrationPolicy::built_in(2);
    policy.max_entry_bytes = 32_768;
    let entry = policy.to_envelope(&log()).canonical_bytes();
    let mut r = receipt(&[entry.clone(), entry], 1, 0);
    r.enrolment = None;
    let v = under_log_key(&r);
    let text = verified_receipt(&v);
    assert!(text.contains("registration policy 2"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn enrolment_entry() {
    let v = under_log_key(&corpus("enrolment_entry.json"));
    insta::assert_snapshot!(verified_receipt(&v));
}

/// The optional parts of an attestation the template leaves out or fills otherwise: a
/// version list, a superseded version, other processing roles, no evidence.
#[test]
fn attestation_variants() {
    let mut st = attestlog_proto::predicate::template();
    let p = &mut st["predicate"];
    p["status"] = json!("revoked");
    p["supersedes"] = json!({"attestation_id": p["attestation_id"], "log_index": 2});
    p["product"]["versions"] = json!(["12.0", "12.1"]);
    p["product"]["update_channels"] = Value::Null;
    let flow = &mut p["data_flows"][0];
    flow["items"] = Value::Null;
    flow["destinations"][0]["ports"] = Value::Null;
    flow["processing_locations"] = json!([
        {"country": "CH", "city": "Zurich", "facility_operator": "Example DC AG", "role": "processing"},
        {"country": "DE", "city": "Berlin", "facility_operator": "Example Cloud GmbH", "role": "analysis"}
    ]);
    flow["remote_access_jurisdictions"] = json!([]);
    flow["processors"] = json!([]);
    flow["onward_transfers"] = Value::Null;
    flow["protections"] = Value::Null;
    p["excluded_jurisdictions"] = Value::Null;
    p["evidence"] = Value::Null;
    strip_nulls(&mut st);
    let leaves = vec![
        b"filler 0".to_vec(),
        enrolment("Example AV AG", &vendor(), KeyRole::Vendor),
        b"filler 2".to_vec(),
        attestation(st, &vendor()),
    ];
    let v = under_log_key(&receipt(&leaves, 3, 1));
    insta::assert_snapshot!(verified_receipt(&v));
}

#[test]
fn verification_statement() {
    let subject = attestation(attestlog_proto::predicate::template(), &vendor());
    let mut st = attestlog_proto::verification::template();
    st["subject"][0]["name"] = json!(attestlog_proto::verification::subject_name(3));
    st["subject"][0]["digest"]["sha256"] = json!(Hash::sha256(&subject).to_hex());
    let p = &mut st["predicate"];
    p["subject_entry"] = json!({
        "log_index": 3,
        "leaf_hash": Hash::leaf(&subject).to_hex(),
        "attestation_id": "00000000-0000-4000-8000-000000000000",
    });
    p["findings"][0]["result"] = json!("contradicted");
    p["findings"][0]["note"] = json!("traffic to a country the claim excludes");
    p["undeclared"] = json!([
        {"hostname": "telemetry.vendor.example", "ip": "203.0.113.5", "port": 443, "country": "RU", "bytes": 1200},
        {"ip": "198.51.100.7", "port": 8443, "bytes": 0}
    ]);
    p["verdict"] = json!("contradicted");
    let leaves = vec![
        b"filler 0".to_vec(),
        enrolment("Example AV AG", &vendor(), KeyRole::Vendor),
        enrolment(LAB, &lab(), KeyRole::Verifier),
        subject,
        verification(st, &lab()),
    ];
    let v = under_log_key(&receipt(&leaves, 4, 2));
    insta::assert_snapshot!(verified_receipt(&v));
}

/// A COSE signed statement's receipt renders its claim as a DSSE entry's does.
#[test]
fn cose_attestation() {
    let st =
        attestlog_proto::predicate::statement_from_value(attestlog_proto::predicate::template())
            .unwrap();
    let cose = attestlog_proto::cose::SignedStatement::sign(
        &st.canonical_bytes(),
        &vendor(),
        st.predicate.attestation_id.as_str(),
    )
    .to_entry();
    let dsse = attestation(attestlog_proto::predicate::template(), &vendor());
    let enrol = enrolment("Example AV AG", &vendor(), KeyRole::Vendor);
    let text = |entry: Vec<u8>| {
        let leaves = vec![b"filler 0".to_vec(), enrol.clone(), entry];
        let out = verified_receipt(&under_log_key(&receipt(&leaves, 2, 1)));
        // Past the first line (tree root): the claim.
        out.split_once('\n').unwrap().1.to_owned()
    };
    assert_eq!(text(cose), text(dsse));
}

/// Control characters in entry text are escaped, never printed.
#[test]
fn entry_text_cannot_drive_a_terminal() {
    let mut st = attestlog_proto::predicate::template();
    st["predicate"]["product"]["name"] = json!("A\u{1b}[2JB");
    st["predicate"]["vendor"]["ownership_chain"][0]["legal_name"] = json!("Holding\r\nVerified OK");
    let leaves = vec![
        b"filler 0".to_vec(),
        enrolment("Example AV AG", &vendor(), KeyRole::Vendor),
        attestation(st, &vendor()),
    ];
    let text = verified_receipt(&under_log_key(&receipt(&leaves, 2, 1)));
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
    assert!(
        text.contains("Product: A\\u{1b}[2JB, versions 12.0 to 12.9"),
        "{text}"
    );
    assert!(
        text.contains("parent: Holding\\r\\nVerified OK (GB)"),
        "{text}"
    );
}

/// The receipt fuzz target's body over its seed corpus: what verifies renders.
#[test]
fn receipt_corpus_renders() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/receipt");
    let mut rendered = 0;
    for f in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(f.unwrap().path()).unwrap();
        if let Some(v) = attestlog_proto::receipt::roundtrip_check(&data) {
            assert!(verified_receipt(&v).starts_with("Verified "));
            rendered += 1;
        }
    }
    assert!(rendered >= 2, "the corpus holds receipts that verify");
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
