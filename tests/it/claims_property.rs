//! Property: for random histories of enrolments, revocations, key rotations, versions and
//! replays, the server's verdict on every submission (through HTTP, its admission, sequencer
//! and storage) is the verdict of the rule engine applied to the log as a monitor reads it,
//! every logged entry is valid to the monitor, and every chain's head is the same for the
//! monitor's engine and for clients following the log.

use attestlog_client::monitor::{Monitor, Rules};
use attestlog_client::{Client, Trust, Verifier};
use attestlog_proto::dsse::Envelope;
use attestlog_proto::enrolment::{Action, Enrolment};
use attestlog_proto::keys::{SignerKey, VerifierKey};
use attestlog_proto::predicate::{PAYLOAD_TYPE_INTOTO, statement_from_value};
use attestlog_proto::rules::{Candidate, Judgement, Ledger, Submission};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{Value, json};

use crate::common::*;

const VENDORS: [&str; 2] = ["Prop Zero AG", "Prop One AG"];
const KEYS: u8 = 4;
const IDS: u64 = 3;

/// What `supersedes` names.
#[derive(Debug, Clone)]
enum Sup {
    /// Nothing.
    Nothing,
    /// The current head of the id's chain (by the monitor's engine).
    Head,
    /// Some index (modulo the tree size plus two).
    Index(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Enrol {
        key: u8,
        vendor: usize,
    },
    Revoke {
        key: u8,
        vendor: usize,
    },
    /// Enrol `new` and revoke `old` for the vendor.
    Rotate {
        old: u8,
        new: u8,
        vendor: usize,
    },
    Version {
        id: u64,
        vendor: usize,
        signers: u8,
        sup: Sup,
        day: u8,
        status: usize,
    },
    /// An earlier statement (the n-th one made, modulo their number) signed again.
    Replay {
        n: usize,
        signers: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS;
    let vendor = 0..VENDORS.len();
    let sup = prop_oneof![
        1 => Just(Sup::Nothing),
        4 => Just(Sup::Head),
        1 => any::<u64>().prop_map(Sup::Index),
    ];
    prop_oneof![
        3 => (key.clone(), vendor.clone()).prop_map(|(key, vendor)| Op::Enrol { key, vendor }),
        1 => (key.clone(), vendor.clone()).prop_map(|(key, vendor)| Op::Revoke { key, vendor }),
        1 => (key.clone(), key, vendor.clone())
            .prop_map(|(old, new, vendor)| Op::Rotate { old, new, vendor }),
        8 => (0..IDS, vendor, 1u8..16, sup, 1u8..29, 0usize..3).prop_map(
            |(id, vendor, signers, sup, day, status)| Op::Version {
                id,
                vendor,
                signers,
                sup,
                day,
                status,
            }
        ),
        3 => (any::<usize>(), 1u8..16).prop_map(|(n, signers)| Op::Replay { n, signers }),
    ]
}

fn key(k: u8) -> SignerKey {
    vendor_key(200 + k)
}

fn signers(mask: u8) -> Vec<SignerKey> {
    (0..KEYS)
        .filter(|k| mask & (1 << k) != 0)
        .map(key)
        .collect()
}

fn sign(v: &Value, mask: u8) -> Vec<u8> {
    let st = statement_from_value(v.clone()).unwrap();
    let keys = signers(mask);
    let refs: Vec<&SignerKey> = keys.iter().collect();
    Envelope::sign(PAYLOAD_TYPE_INTOTO, &st.canonical_bytes(), &refs).canonical_bytes()
}

/// A verdict, the server's or the engine's: a new entry at an index, the original entry of a
/// duplicate, or a refusal with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    New(u64),
    Duplicate(u64),
    Refused(u16),
}

fn server_verdict(status: u16, body: &Value) -> Verdict {
    let index = || body["index"].as_u64().unwrap_or(u64::MAX);
    match status {
        201 => Verdict::New(index()),
        200 => Verdict::Duplicate(index()),
        s => Verdict::Refused(s),
    }
}

/// The error of an answer, or its index.
fn brief(body: &Value) -> String {
    body.get("error").unwrap_or(&body["index"]).to_string()
}

/// The log as the monitor's engine sees it.
struct Model {
    ledger: Ledger,
    size: u64,
    log_key: VerifierKey,
}

impl Model {
    /// What the engine answers to `env` as the next entry.
    fn submission(&self, env: &[u8]) -> Verdict {
        let env = Envelope::parse_entry(env).unwrap();
        match self.ledger.submit(self.size, &env, &self.log_key) {
            Ok(Submission::New(_)) => Verdict::New(self.size),
            Ok(Submission::Duplicate(j)) => Verdict::Duplicate(j),
            Err(e) => Verdict::Refused(e.status()),
        }
    }

    /// What the engine answers to an enrolment or revocation as the next entry.
    fn enrolment(&self, vendor: &str, key: &VerifierKey, action: Action) -> Verdict {
        let c = Candidate::of_enrolment(Enrolment {
            vendor: vendor.into(),
            key: key.clone(),
            action,
            issued_at: "2026-01-01T00:00:00Z".into(),
            role: attestlog_proto::enrolment::KeyRole::Vendor,
        });
        match self.ledger.judge(self.size, &c) {
            Ok(Judgement::New) => Verdict::New(self.size),
            Ok(Judgement::Duplicate(j)) => Verdict::Duplicate(j),
            Err(e) => Verdict::Refused(e.status()),
        }
    }

    /// Reads the entries the log added and applies them as a monitor does: each must be
    /// valid.
    async fn follow(&mut self, log: &TestLog) {
        let size = log.state.shared.published().size;
        while self.size < size {
            let (status, e) = log.get_json(&format!("/v1/entries/{}", self.size)).await;
            assert_eq!(status, 200, "{e}");
            let bytes = STANDARD.decode(e["entry"].as_str().unwrap()).unwrap();
            let env = Envelope::parse_entry(&bytes).unwrap();
            if let Err(err) = self.ledger.append(self.size, &env, &self.log_key) {
                panic!(
                    "the log holds an entry the engine refuses at {}: {err}",
                    self.size
                );
            }
            self.size += 1;
        }
    }
}

async fn run_history(ops: Vec<Op>) {
    let log = TestLog::start().await;
    let mut model = Model {
        ledger: Ledger::new(0),
        size: log.state.shared.published().size,
        log_key: log.log_key(),
    };
    assert_eq!(model.size, 0);
    let mut made: Vec<Value> = Vec::new();
    for op in ops {
        let enrolment = |vendor: usize, k: u8, action: Action| (vendor, k, action);
        let steps = match &op {
            Op::Enrol { key, vendor } => vec![enrolment(*vendor, *key, Action::Enrol)],
            Op::Revoke { key, vendor } => vec![enrolment(*vendor, *key, Action::Revoke)],
            Op::Rotate { old, new, vendor } => vec![
                enrolment(*vendor, *new, Action::Enrol),
                enrolment(*vendor, *old, Action::Revoke),
            ],
            Op::Version { .. } | Op::Replay { .. } => vec![],
        };
        for (vendor, k, action) in steps {
            let verifier = key(k).verifier();
            let expected = model.enrolment(VENDORS[vendor], &verifier, action);
            let (status, body) = log
                .vendors(&json!({
                    "vendor": VENDORS[vendor],
                    "key": verifier.to_string(),
                    "action": action.as_str(),
                }))
                .await;
            assert_eq!(
                server_verdict(status, &body),
                expected,
                "{op:?}: {}",
                brief(&body)
            );
            model.follow(&log).await;
        }
        let env = match &op {
            Op::Version {
                id,
                vendor,
                signers,
                sup,
                day,
                status,
            } => {
                let aid = att_id(900 + id);
                let mut v = statement(VENDORS[*vendor], &aid, "Prop");
                v["predicate"]["issued_at"] = json!(format!("2026-11-{day:02}T00:00:00Z"));
                v["predicate"]["status"] = json!(["active", "withdrawn", "revoked"][*status]);
                let named = match sup {
                    Sup::Nothing => None,
                    Sup::Head => model.ledger.chain(&aid).map(|c| c.head.index),
                    Sup::Index(n) => Some(n % (model.size + 2)),
                };
                match named {
                    Some(i) => {
                        v["predicate"]["supersedes"] =
                            json!({"attestation_id": aid, "log_index": i});
                    }
                    None => {
                        v["predicate"].as_object_mut().unwrap().remove("supersedes");
                    }
                }
                made.push(v.clone());
                sign(&v, *signers)
            }
            Op::Replay { n, signers } if !made.is_empty() => sign(&made[n % made.len()], *signers),
            _ => continue,
        };
        let expected = model.submission(&env);
        let (status, body) = log.submit(&env).await;
        assert_eq!(
            server_verdict(status, &body),
            expected,
            "{op:?}: {}",
            brief(&body)
        );
        model.follow(&log).await;
    }

    // A monitor following the whole log finds every entry valid, and clients following each
    // chain find the head the engine has.
    let dir = temp_dir("prop-monitor");
    let verifier = Verifier::new(
        Client::new(&log.url).unwrap(),
        Trust::log_key(log.log_key()),
    );
    let mut m = Monitor::open(verifier, &dir, Rules::default()).unwrap();
    let mut alerts = Vec::new();
    m.run_once(&mut |a| alerts.push(a.clone()), &mut |_, _| {})
        .await
        .unwrap();
    assert!(
        alerts.iter().all(|a| a.alert != "entry_invalid"),
        "{alerts:?}"
    );
    assert!(m.state().invalid.is_empty());
    // fsck, re-deriving every admission decision from the stored entries alone, agrees.
    let store = log.state.store.clone();
    let (keys, data_dir) = (vec![log.log_key()], log.dir.clone());
    let report = tokio::task::spawn_blocking(move || {
        attestlog_server::fsck::run(store.as_ref(), &keys, &[], &data_dir, 0, |_, _| {})
    })
    .await
    .unwrap()
    .unwrap();
    assert!(report.ok, "fsck: {:?}", report.problem);
    assert_eq!(report.entries, log.state.shared.published().size);
    let client = Client::new(&log.url).unwrap();
    for id in 0..IDS {
        let aid = att_id(900 + id);
        let head = attestlog_client::versions::versions(&client, &aid)
            .await
            .unwrap()
            .map(|v| v.current().entry.index);
        assert_eq!(
            head,
            model.ledger.chain(&aid).map(|c| c.head.index),
            "{aid}"
        );
    }
    log.stop().await;
}

#[test]
fn server_monitor_and_fsck_reach_the_same_verdicts() {
    let rt = server_runtime();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 24,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..24), |ops| {
            rt.block_on(run_history(ops));
            Ok(())
        })
        .unwrap();
}
