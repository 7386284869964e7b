//! Test support (feature `test-support`, and this crate's own tests): a log in memory whose
//! receipts verify, so the tests of the receipt verifier and of the client's rendering build
//! receipts one way.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Hash;
use crate::api::{Receipt, ReceiptEnrolment};
use crate::checkpoint::Checkpoint;
use crate::cosignature::cosign;
use crate::keys::SignerKey;
use crate::proof::inclusion_proof;
use crate::tlog_proof::TlogProof;
use crate::tree::MemoryTree;

/// The time witnesses cosign at.
pub const COSIGNED_AT: u64 = 1_700_000_000;

/// A log of `leaves` with one checkpoint signed by `log` and cosigned by each of `witnesses`
/// (at [`COSIGNED_AT`]): the tlog-proof text of each leaf.
///
/// # Panics
/// When a key cannot sign (a key of the wrong type): test setup only.
#[must_use]
pub fn tlog_proofs(log: &SignerKey, leaves: &[Vec<u8>], witnesses: &[&SignerKey]) -> Vec<String> {
    let mut tree = MemoryTree::new();
    for l in leaves {
        tree.push(Hash::leaf(l));
    }
    let checkpoint = Checkpoint {
        origin: log.name().to_owned(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    };
    let mut note = checkpoint
        .sign(std::slice::from_ref(log))
        .expect("the log key signs checkpoints");
    for w in witnesses {
        let text = note.text().to_owned();
        let cosignature = cosign(w, COSIGNED_AT, &text).expect("a witness key cosigns");
        note.add_signature(cosignature)
            .expect("a cosignature is a note signature");
    }
    (0..tree.size())
        .map(|index| {
            let p = TlogProof {
                extra: None,
                index,
                proof: inclusion_proof(index, tree.size(), &tree)
                    .expect("every leaf is in the tree"),
                note: note.clone(),
                checkpoint: checkpoint.clone(),
            };
            String::from_utf8_lossy(&p.to_bytes()).into_owned()
        })
        .collect()
}

/// The receipt of `leaves[entry]`, with the enrolment `leaves[enrol]`, both against the one
/// checkpoint of [`tlog_proofs`].
///
/// # Panics
/// As [`tlog_proofs`]; an index out of `leaves`.
#[must_use]
pub fn receipt(
    log: &SignerKey,
    leaves: &[Vec<u8>],
    entry: usize,
    enrol: Option<usize>,
    witnesses: &[&SignerKey],
) -> Receipt {
    let p = tlog_proofs(log, leaves, witnesses);
    Receipt {
        entry: STANDARD.encode(&leaves[entry]),
        proof: p[entry].clone(),
        enrolment: enrol.map(|e| ReceiptEnrolment {
            entry: STANDARD.encode(&leaves[e]),
            proof: p[e].clone(),
        }),
    }
}
