//! Runs the receipt fuzz target's function (fuzz/fuzz_targets/receipt.rs) over its committed
//! seed corpus, so CI exercises it without cargo-fuzz, and checks that the corpus holds both
//! receipts that verify and receipts that fail for the expected reason.

use super::corpus;

use attestlog_proto::api::Receipt;
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::receipt::{ReceiptError, verify_receipt};
use attestlog_proto::trust::Trust;

/// The log key of the seed receipts (`receipt.rs` tests, seed 0x71).
const LOG_KEY: &str =
    "attestlog.test/receipt+d030857f+AeL+Kjm3MmZCgn1tgtSXYizWwpf+eCcOqkNrAfCGtvPL";

fn verify(data: &[u8]) -> Option<Result<u64, ReceiptError>> {
    let key = VerifierKey::parse(LOG_KEY).unwrap();
    let r: Receipt = serde_json::from_slice(data).ok()?;
    Some(verify_receipt(&r, &Trust::log_key(key)).map(|v| v.index()))
}

#[test]
fn receipt_corpus() {
    let files = corpus("receipt");
    assert!(files.len() >= 8, "seed corpus is missing");
    for (name, data) in &files {
        attestlog_proto::receipt::roundtrip_check(data);
        eprintln!("ok {name}");
    }
    let outcome = |name: &str| {
        let (_, data) = files.iter().find(|(n, _)| n == name).unwrap();
        verify(data)
    };
    assert_eq!(outcome("valid.json"), Some(Ok(3)));
    assert_eq!(outcome("enrolment_entry.json"), Some(Ok(1)));
    assert_eq!(
        outcome("missing_enrolment.json"),
        Some(Err(ReceiptError::MissingEnrolment))
    );
    assert_eq!(
        outcome("bad_base64_entry.json"),
        Some(Err(ReceiptError::EntryBase64))
    );
    assert!(matches!(
        outcome("wrong_index.json"),
        Some(Err(ReceiptError::EntryInclusion(_)))
    ));
    assert!(matches!(
        outcome("enrolment_is_attestation.json"),
        Some(Err(ReceiptError::EnrolmentPayloadType(_)))
    ));
    for unparsable in ["unknown_field.json", "truncated.json", "not_json.txt"] {
        assert_eq!(outcome(unparsable), None, "{unparsable}");
    }
}
