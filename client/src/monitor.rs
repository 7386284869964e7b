//! [`Monitor`]: follows a log through verified tiles, checks that every new checkpoint is
//! consistent with the stored one, verifies every entry with the enrolment rules of
//! DESIGN.md §3 (replaying the enrolment history from the log itself), keeps its state in a
//! directory across restarts (atomic writes) and emits [`Alert`]s for [`Rules`].
//!
//! On an inconsistency it writes a [`ForkEvidence`] file into the state directory and
//! reports [`Outcome::Fork`]; the stored state is left as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use attestlog_serve::fs::write_atomic;

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::SignedCheckpoint;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::enrolment::{Action, Enrolment};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::policy::PolicyError;
use attestlog_proto::predicate::Statement;
use attestlog_proto::registration::RegistrationPolicy;
use attestlog_proto::rules::{
    Candidate, Claim, Ledger, SubjectFacts, Version, verification_chain_key,
};
use attestlog_proto::verification::{Verdict, VerificationStatement};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::fork::{FORMAT, ForkEvidence};
use crate::verifier::{TrustError, VerifiedCheckpoint, Verifier, VerifyError};

mod index;
use index::ClaimIndex;

/// The state file inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// The fork-evidence file written into the state directory.
pub const EVIDENCE_FILE: &str = "fork-evidence.json";

/// Entries read per round trip batch while catching up (16 bundles).
const CHUNK: u64 = 16 * 256;

/// Errors of the monitor.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// Reading or verifying the log failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Reading or writing the state directory failed.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The stored state does not parse or does not match this log.
    #[error("stored state in {path} is invalid: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The rules file does not parse.
    #[error("rules file {path}: {message}")]
    Rules {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No trusted log key is named after the checkpoint's origin.
    #[error("no trusted log key for origin {0:?}")]
    NoLogKey(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MonitorError + '_ {
    move |source| MonitorError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Alert rules. An empty list watches nothing of that kind; key enrolments, revocations and
/// entries that fail verification always alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Vendor legal names: alert on their new and superseding attestations.
    #[serde(default)]
    pub vendors: Vec<String>,
    /// Product names: alert on their new and superseding attestations.
    #[serde(default)]
    pub products: Vec<String>,
    /// ISO 3166-1 alpha-2 countries: alert on any flow stored, processed, analysed or
    /// remotely accessed there, or transferred onward to there.
    #[serde(default)]
    pub countries: Vec<String>,
}

impl Rules {
    /// Loads rules from a TOML or JSON file (JSON if it starts with `{`).
    ///
    /// # Errors
    /// [`MonitorError::Io`] or [`MonitorError::Rules`].
    pub fn load(path: &Path) -> Result<Self, MonitorError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text).map_err(|message| MonitorError::Rules {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses rules from TOML or JSON text.
    ///
    /// # Errors
    /// The parser's message.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            toml::from_str(text).map_err(|e| e.to_string())
        }
    }
}

/// One alert, written as a JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// `new_attestation`, `superseding_attestation`, `contradiction`, `watched_country`,
    /// `key_enrolled`, `key_revoked`, `verification_added`, `verification_contradicted`,
    /// `registration_policy`, `entry_invalid` or `fork`.
    pub alert: String,
    /// Log index of the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Vendor legal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Attestation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_id: Option<String>,
    /// Country (for `watched_country`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// What happened.
    pub message: String,
}

impl Alert {
    fn new(alert: &str, index: u64, message: String) -> Self {
        Self {
            alert: alert.to_owned(),
            index: Some(index),
            vendor: None,
            product: None,
            attestation_id: None,
            country: None,
            message,
        }
    }
}

/// An attestation the monitor has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenAttestation {
    /// Attestation id.
    pub attestation_id: String,
    /// Vendor legal name.
    pub vendor: String,
    /// Product name.
    pub product: String,
    /// Countries of storage, processing, remote access, processors and onward transfers.
    #[serde(default)]
    pub countries: BTreeSet<String>,
    /// `excluded_jurisdictions`.
    #[serde(default)]
    pub excluded: BTreeSet<String>,
    /// `supersedes.log_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u64>,
    /// `issued_at`.
    #[serde(default)]
    pub issued_at: String,
    /// Statement identity (DESIGN.md §10); absent in states written by older monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<Hash>,
    /// Leaf hash and SHA-256 of the entry bytes, what verifications of it must name; absent
    /// in states written by older monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hashes: Option<(Hash, Hash)>,
    /// How many data flows it declares (what verifications' findings index); absent in
    /// states written by older monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_flows: Option<usize>,
}

/// A verification statement the monitor has seen (DESIGN.md §13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenVerification {
    /// The verifier's legal name.
    pub verifier: String,
    /// Index of the verified attestation.
    pub subject: u64,
    /// `supersedes.log_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u64>,
    /// `issued_at`.
    pub issued_at: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Statement identity.
    pub statement: Hash,
}

/// Countries a statement places data in or near (the ones `excluded_jurisdictions` rules
/// out): processing locations, remote access, processors and onward transfers.
#[must_use]
pub fn statement_countries(st: &Statement) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in &st.predicate.data_flows {
        out.extend(f.processing_locations.iter().map(|l| l.country.clone()));
        out.extend(f.remote_access_jurisdictions.iter().cloned());
        out.extend(f.processors.iter().map(|p| p.jurisdiction.clone()));
        out.extend(
            f.onward_transfers
                .iter()
                .flatten()
                .map(|t| t.to_country.clone()),
        );
    }
    out
}

/// What the monitor keeps across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MonitorState {
    /// The latest verified checkpoint (signed note text); `None` before the first run.
    pub checkpoint: Option<String>,
    /// Every valid enrolment entry so far: index → entry bytes (base64), replayed on start.
    pub enrolments: BTreeMap<u64, String>,
    /// Every registration policy entry so far (DESIGN.md §12): index → entry bytes (base64),
    /// replayed on start.
    #[serde(default)]
    pub policies: BTreeMap<u64, String>,
    /// Every valid attestation so far, by index.
    pub attestations: BTreeMap<u64, SeenAttestation>,
    /// Verifications seen, by index.
    #[serde(default)]
    pub verifications: BTreeMap<u64, SeenVerification>,
    /// Entries that failed verification, by index.
    pub invalid: BTreeSet<u64>,
    /// The index from which the log enforces the claim rules (statement identity, version
    /// chain), as the log said when the monitor first followed it; pinned from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_from: Option<u64>,
    /// The index from which every signed statement of the log has a registration policy entry
    /// below it (DESIGN.md §12), as the log said when the monitor first followed it; pinned
    /// from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies_from: Option<u64>,
}

/// What one round of [`Monitor::run_once`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The log did not grow.
    UpToDate {
        /// Tree size.
        size: u64,
    },
    /// The log grew consistently; every new entry was checked.
    Advanced {
        /// Previous size.
        from: u64,
        /// New size.
        to: u64,
    },
    /// The log serves a smaller tree than one it signed before: a stale or rolled-back view.
    /// Not by itself proof of a fork (the smaller tree may be a prefix); the stored state is
    /// kept and the next round checks again.
    RolledBack {
        /// Size served now.
        size: u64,
        /// Size of the stored, earlier verified checkpoint.
        signed: u64,
    },
    /// The new checkpoint is inconsistent with the stored one; evidence was written.
    Fork {
        /// The evidence file.
        evidence: PathBuf,
        /// Summary.
        reason: String,
    },
}

/// Follows one log.
#[derive(Debug)]
pub struct Monitor {
    verifier: Verifier,
    dir: PathBuf,
    rules: Rules,
    state: MonitorState,
    /// The rule engine's history of the log so far.
    ledger: Ledger,
    /// Current claims by vendor, product and country: what [`Self::contradictions`] looks up.
    claims: ClaimIndex,
}

/// The rule engine's history rebuilt from a stored state: the enrolments and the versions it
/// kept, each kind in index order.
fn replay(state: &MonitorState) -> Result<Ledger, String> {
    let mut ledger = Ledger::new(state.claims_from.unwrap_or(0))
        .with_policies_from(state.policies_from.unwrap_or(0));
    // The payload of a stored log-signed entry (base64 of its canonical envelope).
    let payload = |entry: &str| -> Result<Vec<u8>, String> {
        let bytes = STANDARD.decode(entry).map_err(|e| e.to_string())?;
        Ok(Envelope::parse_entry(&bytes)
            .map_err(|e| e.to_string())?
            .payload)
    };
    for (index, entry) in &state.enrolments {
        let e = Enrolment::parse(&payload(entry)?).map_err(|e| e.to_string())?;
        ledger
            .record(*index, &Candidate::of_enrolment(e))
            .map_err(|e| e.to_string())?;
    }
    for (index, entry) in &state.policies {
        let p = RegistrationPolicy::parse(&payload(entry)?).map_err(|e| e.to_string())?;
        ledger
            .record(*index, &Candidate::of_policy(p))
            .map_err(|e| e.to_string())?;
    }
    for (index, a) in &state.attestations {
        let v = Version {
            index: *index,
            vendor: a.vendor.clone(),
            supersedes: a.supersedes,
            issued_at: a.issued_at.clone(),
        };
        // A state from an older monitor has no statement hashes: one that matches nothing.
        let statement = a
            .statement
            .unwrap_or_else(|| Hash::leaf(&index.to_be_bytes()));
        ledger.record_version(&a.attestation_id, v, statement);
        if let Some((leaf_hash, entry_sha256)) = a.entry_hashes {
            ledger.record_subject(
                *index,
                SubjectFacts {
                    leaf_hash,
                    entry_sha256,
                    attestation_id: Some(a.attestation_id.clone()),
                    data_flows: a.data_flows,
                },
            );
        }
    }
    for (index, s) in &state.verifications {
        let v = Version {
            index: *index,
            vendor: s.verifier.clone(),
            supersedes: s.supersedes,
            issued_at: s.issued_at.clone(),
        };
        ledger.record_version(
            &verification_chain_key(&s.verifier, s.subject),
            v,
            s.statement,
        );
    }
    Ok(ledger)
}

impl Monitor {
    /// Opens (or creates) the state directory `dir` and replays the stored enrolments.
    ///
    /// # Errors
    /// [`MonitorError::Io`] or [`MonitorError::State`].
    pub fn open(verifier: Verifier, dir: &Path, rules: Rules) -> Result<Self, MonitorError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(STATE_FILE);
        let state_err = |message: String| MonitorError::State {
            path: path.clone(),
            message,
        };
        let state: MonitorState = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| state_err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MonitorState::default(),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let ledger = replay(&state).map_err(state_err)?;
        let claims = claim_index(&state, &ledger);
        Ok(Self {
            verifier,
            dir: dir.to_owned(),
            rules,
            state,
            ledger,
            claims,
        })
    }

    /// The stored state.
    #[must_use]
    pub fn state(&self) -> &MonitorState {
        &self.state
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    fn save(&self) -> Result<(), MonitorError> {
        let path = self.dir.join(STATE_FILE);
        let data = serde_json::to_vec_pretty(&self.state).map_err(|e| MonitorError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &data, 0o644).map_err(io_err(&path))
    }

    fn write_evidence(
        &self,
        old: &VerifiedCheckpoint,
        new: &VerifiedCheckpoint,
        proof: Vec<Hash>,
        prefix_root: Option<Hash>,
        reason: String,
    ) -> Result<Outcome, MonitorError> {
        let evidence = ForkEvidence {
            format: FORMAT.to_owned(),
            origin: old.checkpoint().origin.clone(),
            first: String::from_utf8_lossy(&old.to_bytes()).into_owned(),
            second: String::from_utf8_lossy(&new.to_bytes()).into_owned(),
            consistency_proof: proof,
            prefix_root,
            source: Some(self.verifier.client().base_url().to_owned()),
            reason: reason.clone(),
        };
        let path = self.dir.join(EVIDENCE_FILE);
        let data = serde_json::to_vec_pretty(&evidence).map_err(|e| MonitorError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &data, 0o644).map_err(io_err(&path))?;
        Ok(Outcome::Fork {
            evidence: path,
            reason,
        })
    }

    /// One round: fetch and verify the checkpoint, check consistency with the stored one,
    /// verify and check every new entry (calling `emit` for each alert and
    /// `progress(done, total)` as entries are read), then store the new state.
    ///
    /// # Errors
    /// [`MonitorError`] for I/O and for a log that cannot be read or whose tiles do not
    /// verify (a fork is not an error: it is [`Outcome::Fork`]).
    pub async fn run_once(
        &mut self,
        emit: &mut dyn FnMut(&Alert),
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Outcome, MonitorError> {
        let note = self
            .verifier
            .client()
            .checkpoint()
            .await
            .map_err(VerifyError::from)?;
        let old = match &self.state.checkpoint {
            Some(text) => Some(
                self.verifier
                    .trust()
                    .open_checkpoint(text.as_bytes())
                    .map_err(|e| MonitorError::State {
                        path: self.dir.join(STATE_FILE),
                        message: format!("stored checkpoint: {e}"),
                    })?,
            ),
            None => None,
        };
        let new = match self.verifier.trust().open_checkpoint(&note) {
            Ok(c) => c,
            Err(e @ TrustError::Policy(PolicyError::QuorumNotMet)) => {
                // Not witnessed enough to follow, but signed by the log: if it conflicts with
                // the stored (witnessed) checkpoint, that is fork evidence all the same.
                if let (Some(old), Ok(signed)) = (
                    &old,
                    SignedCheckpoint::open(&note, &self.verifier.trust().log_keys()),
                ) {
                    let unwitnessed = VerifiedCheckpoint::log_signed(signed);
                    if let Some(fork) = self.compare(old, &unwitnessed, emit).await? {
                        return Ok(fork);
                    }
                }
                return Err(VerifyError::from(e).into());
            }
            Err(e) => return Err(VerifyError::from(e).into()),
        };
        let from = old.as_ref().map_or(0, VerifiedCheckpoint::size);
        if let Some(old) = &old {
            if let Some(fork) = self.compare(old, &new, emit).await? {
                return Ok(fork);
            }
            if new.size() == old.size() {
                return Ok(Outcome::UpToDate { size: new.size() });
            }
        }
        let to = new.size();
        let total = to - from;
        progress(0, total);
        let log_keys = self.log_keys(&new)?;
        self.pin_claims_from(emit).await?;
        // Read and check in chunks so memory does not grow with the catch-up.
        let mut at = from;
        while at < to {
            let end = to.min(at + CHUNK);
            let base = at - from;
            let entries = self
                .verifier
                .entries(&new, at, end, |done| progress(base + done, total))
                .await?;
            for (index, entry) in entries {
                self.check_entry(index, &entry, &log_keys, emit);
            }
            at = end;
        }
        self.state.checkpoint = Some(String::from_utf8_lossy(&new.to_bytes()).into_owned());
        self.save()?;
        Ok(Outcome::Advanced { from, to })
    }

    /// Compares a new checkpoint with the stored one: `Some(Outcome::Fork)` (evidence written)
    /// when they cannot both be views of one append-only log, `Some(Outcome::RolledBack)` when
    /// the log serves a smaller tree than before.
    async fn compare(
        &mut self,
        old: &VerifiedCheckpoint,
        new: &VerifiedCheckpoint,
        emit: &mut dyn FnMut(&Alert),
    ) -> Result<Option<Outcome>, MonitorError> {
        if old.checkpoint().origin != new.checkpoint().origin {
            return Err(MonitorError::State {
                path: self.dir.join(STATE_FILE),
                message: format!(
                    "stored checkpoint is for origin {:?}, the log serves {:?}",
                    old.checkpoint().origin,
                    new.checkpoint().origin
                ),
            });
        }
        let (proof, prefix, reason) = if new.size() == old.size() {
            if new.root().ct_eq(&old.root()) {
                return Ok(None);
            }
            (
                Vec::new(),
                None,
                format!("two different roots signed for tree size {}", new.size()),
            )
        } else if new.size() < old.size() {
            let reason = format!(
                "the log now serves tree size {} after signing size {}",
                new.size(),
                old.size()
            );
            emit(&fork_alert("rollback", &reason));
            return Ok(Some(Outcome::RolledBack {
                size: new.size(),
                signed: old.size(),
            }));
        } else {
            // From tiles verified against the new checkpoint: the root its tree had at the
            // stored size, and the proof tying that root to the new one.
            let (prefix, _, proof) = self
                .verifier
                .prove_consistency(new, old.size(), new.size())
                .await?;
            if prefix.ct_eq(&old.root()) {
                return Ok(None);
            }
            let reason = format!(
                "tree size {} does not extend stored tree size {}: its first {} leaves have another root",
                new.size(),
                old.size(),
                old.size()
            );
            (proof, Some(prefix), reason)
        };
        emit(&fork_alert("fork", &reason));
        self.write_evidence(old, new, proof, prefix, reason)
            .map(Some)
    }

    /// Every trusted key of the checkpoint's log (after a rotation, enrolments are signed by
    /// the key of their time).
    fn log_keys(&self, cp: &VerifiedCheckpoint) -> Result<Vec<VerifierKey>, MonitorError> {
        let origin = &cp.checkpoint().origin;
        let keys: Vec<VerifierKey> = self
            .verifier
            .trust()
            .log_keys()
            .into_iter()
            .filter(|k| k.name() == origin)
            .collect();
        if keys.is_empty() {
            return Err(MonitorError::NoLogKey(origin.clone()));
        }
        Ok(keys)
    }

    /// The first time: takes the log's `claims_from` (where it started enforcing the claim
    /// rules) and `policies_from` (where every signed statement started to have a registration
    /// policy entry below it) and keeps them; a log that later names another index is
    /// reported, and the monitor keeps judging by the first.
    async fn pin_claims_from(&mut self, emit: &mut dyn FnMut(&Alert)) -> Result<(), MonitorError> {
        let info = self
            .verifier
            .client()
            .log_info()
            .await
            .map_err(VerifyError::from)?;
        let mut replayed = false;
        for (pinned, said, name, what) in [
            (
                &mut self.state.claims_from,
                info.claims_from,
                "claims_from_changed",
                "its claim rules apply",
            ),
            (
                &mut self.state.policies_from,
                info.policies_from,
                "policies_from_changed",
                "every signed statement has a registration policy entry below it",
            ),
        ] {
            match *pinned {
                None => {
                    *pinned = Some(said);
                    replayed = true;
                }
                Some(p) if p != said => emit(&fork_alert(
                    name,
                    &format!("the log now says {what} from index {said}; it said {p}"),
                )),
                Some(_) => {}
            }
        }
        if replayed {
            self.ledger = replay(&self.state).map_err(|message| MonitorError::State {
                path: self.dir.join(STATE_FILE),
                message,
            })?;
            self.claims = claim_index(&self.state, &self.ledger);
        }
        Ok(())
    }

    fn check_entry(
        &mut self,
        index: u64,
        entry: &[u8],
        log_keys: &[VerifierKey],
        emit: &mut dyn FnMut(&Alert),
    ) {
        // The rule engine, as the server ran it: signatures, enrolments, statement identity,
        // ownership and the version chain; DSSE envelopes and SCITT signed statements alike.
        let c = match self.ledger.append_bytes_any_key(index, entry, log_keys) {
            Ok(c) => c,
            Err(e) => {
                self.invalid(index, format!("entry fails verification: {e}"), emit);
                return;
            }
        };
        match c.claim {
            Claim::Enrolment(e) => {
                self.state.enrolments.insert(index, STANDARD.encode(entry));
                let (kind, verb) = match e.action {
                    Action::Enrol => ("key_enrolled", "enrolled"),
                    Action::Revoke => ("key_revoked", "revoked"),
                };
                let mut a = Alert::new(
                    kind,
                    index,
                    format!("key {} {verb} for vendor {:?}", e.key, e.vendor),
                );
                a.vendor = Some(e.vendor.clone());
                emit(&a);
            }
            Claim::Attestation { statement, .. } => {
                self.check_attestation(index, &statement, c.statement_hash, emit);
                if let Some(a) = self.state.attestations.get_mut(&index) {
                    a.entry_hashes = Some((Hash::leaf(entry), Hash::sha256(entry)));
                }
            }
            Claim::Verification { statement, .. } => {
                self.check_verification(index, &statement, c.statement_hash, emit);
            }
            Claim::Policy(p) => {
                self.state.policies.insert(index, STANDARD.encode(entry));
                emit(&Alert::new(
                    "registration_policy",
                    index,
                    format!(
                        "registration policy {} in force: predicate types {:?}, signed statements up to {} bytes",
                        p.sequence, p.predicate_types, p.max_entry_bytes
                    ),
                ));
            }
        }
    }

    /// Alerts `verification_added` for every verification, and `verification_contradicted`
    /// when its verdict is `contradicted`, naming the verified claim.
    fn check_verification(
        &mut self,
        index: u64,
        st: &VerificationStatement,
        statement: Hash,
        emit: &mut dyn FnMut(&Alert),
    ) {
        let p = &st.predicate;
        let subject = p.subject_entry.log_index;
        self.state.verifications.insert(
            index,
            SeenVerification {
                verifier: p.verifier.legal_name.clone(),
                subject,
                supersedes: p.supersedes.as_ref().map(|s| s.log_index),
                issued_at: p.issued_at.clone(),
                verdict: p.verdict,
                statement,
            },
        );
        let claim = self.state.attestations.get(&subject);
        let alert = |kind: &str, message: String| Alert {
            alert: kind.to_owned(),
            index: Some(index),
            vendor: claim.map(|a| a.vendor.clone()),
            product: claim.map(|a| a.product.clone()),
            attestation_id: Some(p.subject_entry.attestation_id.clone()),
            country: None,
            message,
        };
        emit(&alert(
            "verification_added",
            format!(
                "{:?} ({}) verified the claim at index {subject} by {}: {}",
                p.verifier.legal_name,
                p.method,
                p.performed.from,
                p.verdict.as_str()
            ),
        ));
        if p.verdict == Verdict::Contradicted {
            let undeclared: Vec<String> = p
                .undeclared
                .iter()
                .map(|o| {
                    let name = o.hostname.as_deref().unwrap_or(&o.ip);
                    match &o.country {
                        Some(c) => format!("{name} ({c})"),
                        None => name.to_owned(),
                    }
                })
                .collect();
            emit(&alert(
                "verification_contradicted",
                format!(
                    "{:?} found the claim at index {subject} contradicted{}",
                    p.verifier.legal_name,
                    if undeclared.is_empty() {
                        String::new()
                    } else {
                        format!("; undeclared endpoints: {}", undeclared.join(", "))
                    }
                ),
            ));
        }
    }

    fn check_attestation(
        &mut self,
        index: u64,
        st: &Statement,
        statement: Hash,
        emit: &mut dyn FnMut(&Alert),
    ) {
        let vendor = st.vendor_legal_name().to_owned();
        let id = st.attestation_id().to_owned();
        let product = st.predicate.product.name.clone();
        let seen_before = self.ledger.chain(&id).is_some_and(|c| c.indexes.len() > 1);
        let countries = statement_countries(st);
        let excluded: BTreeSet<String> = st
            .predicate
            .excluded_jurisdictions
            .iter()
            .flatten()
            .cloned()
            .collect();
        let contradictions = self.contradictions(&vendor, &product, &id, &countries, &excluded);
        self.remember(
            index,
            SeenAttestation {
                attestation_id: id.clone(),
                vendor: vendor.clone(),
                product: product.clone(),
                countries,
                excluded,
                supersedes: st.predicate.supersedes.as_ref().map(|s| s.log_index),
                issued_at: st.predicate.issued_at.clone(),
                statement: Some(statement),
                entry_hashes: None,
                data_flows: Some(st.predicate.data_flows.len()),
            },
        );
        let base = |kind: &str, message: String| Alert {
            alert: kind.to_owned(),
            index: Some(index),
            vendor: Some(vendor.clone()),
            product: Some(product.clone()),
            attestation_id: Some(id.clone()),
            country: None,
            message,
        };
        if self.rules.vendors.contains(&vendor) || self.rules.products.contains(&product) {
            let status = format!("{:?}", st.predicate.status).to_lowercase();
            let a = match &st.predicate.supersedes {
                Some(s) => base(
                    "superseding_attestation",
                    format!(
                        "{vendor:?} replaced the attestation at index {} for {product:?} (status {status})",
                        s.log_index
                    ),
                ),
                None if seen_before => base(
                    "superseding_attestation",
                    format!(
                        "{vendor:?} published a new version of {id} for {product:?} (status {status})"
                    ),
                ),
                None => base(
                    "new_attestation",
                    format!(
                        "{vendor:?} published a new attestation for {product:?} (status {status})"
                    ),
                ),
            };
            emit(&a);
        }
        for (other, message) in contradictions {
            let mut a = base("contradiction", message);
            a.message = format!("{} (earlier claim at index {other})", a.message);
            emit(&a);
        }
        let mut hits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &st.predicate.data_flows {
            let cat = f.category.to_string();
            let mut add = |country: &str, how: String| {
                if self.rules.countries.iter().any(|c| c == country) {
                    hits.entry(country.to_owned()).or_default().insert(how);
                }
            };
            for l in &f.processing_locations {
                add(&l.country, format!("{cat}: {:?}", l.role).to_lowercase());
            }
            for c in &f.remote_access_jurisdictions {
                add(c, format!("{cat}: remote access"));
            }
            for t in f.onward_transfers.iter().flatten() {
                add(&t.to_country, format!("{cat}: onward transfer"));
            }
        }
        for (country, how) in hits {
            let mut a = base(
                "watched_country",
                format!(
                    "data in watched country {country}: {}",
                    how.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
            a.country = Some(country);
            emit(&a);
        }
    }

    /// Stores an attestation (recorded in the ledger already) and indexes its id's current
    /// version.
    fn remember(&mut self, index: u64, a: SeenAttestation) {
        let (id, vendor, product) = (
            a.attestation_id.clone(),
            a.vendor.clone(),
            a.product.clone(),
        );
        self.state.attestations.insert(index, a);
        let head = current(&self.ledger, &self.state, &id);
        self.claims.record(
            &id,
            &vendor,
            &product,
            head.map(|(h, x)| (h, &x.countries, &x.excluded)),
        );
    }

    /// Claims of other attestation ids (their current versions) for the same vendor and
    /// product that this one contradicts: one's countries in the other's excluded list. Only
    /// the ids the claim index names are looked at (O(log n) each); each is judged from its
    /// current version in the stored state.
    fn contradictions(
        &self,
        vendor: &str,
        product: &str,
        id: &str,
        countries: &BTreeSet<String>,
        excluded: &BTreeSet<String>,
    ) -> Vec<(u64, String)> {
        let latest = self
            .claims
            .candidates(vendor, product, id, countries, excluded)
            .into_iter()
            .filter_map(|other| Some((other, current(&self.ledger, &self.state, other)?)));
        conflicts(latest, countries, excluded)
    }

    fn invalid(&mut self, index: u64, message: String, emit: &mut dyn FnMut(&Alert)) {
        self.state.invalid.insert(index);
        emit(&Alert::new("entry_invalid", index, message));
    }
}

/// The current version of `id` (the head of its chain) as stored.
fn current<'a>(
    ledger: &Ledger,
    state: &'a MonitorState,
    id: &str,
) -> Option<(u64, &'a SeenAttestation)> {
    let h = ledger.chain(id)?.head.index;
    state.attestations.get(&h).map(|x| (h, x))
}

/// The claim index of a stored state whose ledger has been replayed.
fn claim_index(state: &MonitorState, ledger: &Ledger) -> ClaimIndex {
    let mut claims = ClaimIndex::default();
    for a in state.attestations.values() {
        let head = current(ledger, state, &a.attestation_id);
        claims.record(
            &a.attestation_id,
            &a.vendor,
            &a.product,
            head.map(|(h, x)| (h, &x.countries, &x.excluded)),
        );
    }
    claims
}

/// The contradictions between a claim (`countries`, `excluded`) and the current versions of
/// other ids (`latest`, in id order): for each, first where this one places data the other
/// excludes, then what this one excludes where the other places data.
fn conflicts<'a>(
    latest: impl IntoIterator<Item = (&'a str, (u64, &'a SeenAttestation))>,
    countries: &BTreeSet<String>,
    excluded: &BTreeSet<String>,
) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for (other_id, (index, a)) in latest {
        let ours: Vec<&String> = countries.intersection(&a.excluded).collect();
        let theirs: Vec<&String> = a.countries.intersection(excluded).collect();
        if !ours.is_empty() {
            out.push((
                index,
                format!("places data in {ours:?}, which attestation {other_id} excludes"),
            ));
        }
        if !theirs.is_empty() {
            out.push((
                index,
                format!("excludes {theirs:?}, where attestation {other_id} places data"),
            ));
        }
    }
    out
}

fn fork_alert(kind: &str, reason: &str) -> Alert {
    Alert {
        alert: kind.into(),
        index: None,
        vendor: None,
        product: None,
        attestation_id: None,
        country: None,
        message: reason.to_owned(),
    }
}

#[cfg(test)]
mod verification_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use attestlog_proto::enrolment::KeyRole;
    use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
    use attestlog_proto::predicate::PAYLOAD_TYPE_INTOTO;
    use serde_json::json;

    fn key(name: &str, seed: u8) -> SignerKey {
        SignerKey::from_seed(name, TYPE_ED25519, &[seed; 32]).unwrap()
    }

    fn enrol(name: &str, k: &SignerKey, role: KeyRole, log: &SignerKey) -> Vec<u8> {
        Enrolment {
            vendor: name.into(),
            key: k.verifier(),
            action: Action::Enrol,
            issued_at: "2026-10-01T00:00:00Z".into(),
            role,
        }
        .to_envelope(log)
        .canonical_bytes()
    }

    #[test]
    fn verifications_alert_added_and_contradicted_and_survive_a_restart() {
        let log = key("log.example/attestlog", 1);
        let vendor = key("vendor.example/attest", 2);
        let lab = key("lab.example/verify", 3);
        let dir = tempfile::tempdir().unwrap();
        let verifier = Verifier::new(
            crate::client::Client::new("http://127.0.0.1:9").unwrap(),
            crate::verifier::Trust::log_key(log.verifier()),
        );
        let mut m = Monitor::open(verifier, dir.path(), Rules::default()).unwrap();
        let mut alerts = Vec::new();
        let mut emit = |a: &Alert| alerts.push(a.clone());
        let st = attestlog_proto::predicate::template();
        let vendor_name = st["predicate"]["vendor"]["legal_name"]
            .as_str()
            .unwrap()
            .to_owned();
        let claim = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &serde_json::to_vec(&st).unwrap(),
            &[&vendor],
        )
        .canonical_bytes();
        let lab_name = "Example Test Lab GmbH";
        let mut v = attestlog_proto::verification::template();
        v["subject"][0]["name"] = json!("log-entry/2");
        v["subject"][0]["digest"]["sha256"] = json!(Hash::sha256(&claim).to_hex());
        v["predicate"]["subject_entry"] = json!({
            "log_index": 2,
            "leaf_hash": Hash::leaf(&claim).to_hex(),
            "attestation_id": st["predicate"]["attestation_id"],
        });
        v["predicate"]["verifier"]["legal_name"] = json!(lab_name);
        v["predicate"]["verdict"] = json!("contradicted");
        v["predicate"]["undeclared"] = json!([{"hostname": "collector.tracker.example", "ip": "203.0.113.50", "port": 443, "country": "RU", "bytes": 4120}]);
        let verification = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &serde_json::to_vec(&v).unwrap(),
            &[&lab],
        )
        .canonical_bytes();
        let lv = [log.verifier()];
        m.check_entry(
            0,
            &enrol(&vendor_name, &vendor, KeyRole::Vendor, &log),
            &lv,
            &mut emit,
        );
        m.check_entry(
            1,
            &enrol(lab_name, &lab, KeyRole::Verifier, &log),
            &lv,
            &mut emit,
        );
        m.check_entry(2, &claim, &lv, &mut emit);
        m.check_entry(3, &verification, &lv, &mut emit);
        let kinds: Vec<&str> = alerts.iter().map(|a| a.alert.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "key_enrolled",
                "key_enrolled",
                "verification_added",
                "verification_contradicted"
            ],
            "{alerts:#?}"
        );
        let contradicted = &alerts[3];
        assert_eq!(contradicted.index, Some(3));
        assert_eq!(contradicted.vendor.as_deref(), Some(vendor_name.as_str()));
        assert_eq!(
            contradicted.attestation_id.as_deref(),
            st["predicate"]["attestation_id"].as_str()
        );
        assert!(
            contradicted
                .message
                .contains("collector.tracker.example (RU)"),
            "{}",
            contradicted.message
        );
        assert!(m.state.invalid.is_empty());
        // A restart replays the verification's chain and the claim's hashes: the same
        // statement again (a new version naming nothing) is refused by the rules.
        let again = replay(&m.state).unwrap();
        let mut v2 = v.clone();
        v2["predicate"]["issued_at"] = json!("2026-12-06T00:00:00Z");
        let env2 = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &serde_json::to_vec(&v2).unwrap(),
            &[&lab],
        );
        let e = again.submit(4, &env2, &lv[0]).unwrap_err();
        assert!(e.to_string().contains("already verified index 2"), "{e}");
        v2["predicate"]["supersedes"] = json!({"log_index": 3});
        let env2 = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &serde_json::to_vec(&v2).unwrap(),
            &[&lab],
        );
        assert!(again.submit(4, &env2, &lv[0]).is_ok());
    }
}
