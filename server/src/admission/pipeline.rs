//! The submit pipeline (DESIGN.md §10, §12, §13): one order for every submission, whichever
//! protocol brought it — a DSSE envelope at `POST /v1/entries` or a SCITT signed statement
//! at `POST /entries`. The HTTP handlers parse the body, call [`Pipeline::admit`] on the
//! blocking pool and translate the [`Admission`] or [`AdmitError`] into their protocol's
//! answer; they decide nothing else.
//!
//! The order:
//!
//! 1. **Dedup** before any verification: the same entry bytes (by leaf hash) or the same
//!    statement in any envelope (by statement hash) in the published tree is answered with
//!    the original ([`Admission::Logged`]) and never verified again. Stored but not yet
//!    published: SCRAPI answers that registration as running ([`Admission::Stored`]); `/v1`
//!    has no such answer and goes on, so the sequencer answers once the checkpoint is out.
//! 2. **Verification** by the rule engine's order-independent half (schema, statement
//!    identity, signatures, COSE claims), against the enrolment state now.
//! 3. **Signing party**: attestations and verifications only; enrolments and registration
//!    policies are logged by the log itself.
//! 4. **Signatures kept**: only the verified signers' signatures are logged (DSSE).
//! 5. **Registration policy** in force (SCITT signed statements, DESIGN.md §12).
//! 6. **Quota** of the signing party, charged only once its own key has signed, so nobody can
//!    drain another's quota.
//! 7. **First judgement** ([`judge_now`]): the order-dependent rules (version chain,
//!    subject) against the published tree, so a refusal comes before queueing.
//! 8. **Hand-off** to the sequencer, which judges again in index order
//!    ([`Admission::Queued`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use attestlog_proto::Hash;
use attestlog_proto::cose::SignedStatement;
use attestlog_proto::enrolment::KeyRole;
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::registration::RegistrationPolicy;
use attestlog_proto::rules::{self, Candidate, Claim, StatementPayload};
use tokio::sync::oneshot;

use super::{AdmitError, Parsed, admitted, judge_now, keep_verified_signatures, verify};
use crate::quota::Quota;
use crate::sequencer::{Integrated, Published, SeqError, SequencerHandle, Shared};
use crate::storage::{LogStore, StoreError};

/// A parsed submission.
#[derive(Debug)]
pub enum Submission {
    /// A DSSE envelope (`POST /v1/entries`), canonicalised.
    Dsse(Parsed),
    /// A SCITT signed statement (`POST /entries`).
    Cose(Box<SignedStatement>),
}

impl Submission {
    /// The entry bytes as they would be logged.
    fn entry(&self) -> Vec<u8> {
        match self {
            Submission::Dsse(p) => p.bytes.clone(),
            Submission::Cose(st) => st.to_entry(),
        }
    }

    fn leaf_hash(&self) -> Hash {
        match self {
            Submission::Dsse(p) => p.leaf_hash,
            Submission::Cose(st) => st.leaf_hash(),
        }
    }

    /// The statement identity, when the payload is a statement the log accepts; with the
    /// parsed payload of an envelope, which verification then does not parse again.
    fn statement_hash(&self) -> (Option<Hash>, Option<StatementPayload>) {
        match self {
            Submission::Dsse(p) => {
                let payload = StatementPayload::of_envelope(&p.envelope);
                (payload.as_ref().map(StatementPayload::hash), payload)
            }
            Submission::Cose(st) => (rules::statement_hash(st.payload()).ok(), None),
        }
    }
}

/// What the pipeline made of a submission that was not refused.
#[derive(Debug)]
pub enum Admission {
    /// Already in the published tree: the original entry (the same bytes, or the same
    /// statement in another envelope) at `index` of `published`.
    Logged {
        /// The original's index.
        index: u64,
        /// The published tree the original was found in.
        published: Arc<Published>,
        /// The original's bytes when they are the submission's own (the same leaf); `None`
        /// when the statement came in another envelope (read the entry at `index`).
        entry: Option<Vec<u8>>,
    },
    /// A SCITT registration whose entry (or statement) the log stores at `index` but has not
    /// yet published.
    Stored {
        /// The stored original's index.
        index: u64,
    },
    /// Verified, judged and queued: the sequencer answers on [`Queued::integrated`].
    Queued(Queued),
}

/// A submission handed to the sequencer.
#[derive(Debug)]
pub struct Queued {
    /// The entry as it will be logged (a DSSE envelope without unverified signatures).
    pub entry: Vec<u8>,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The signing party: the vendor of an attestation, the verifier of a verification.
    pub party: String,
    /// The signers' role.
    pub role: KeyRole,
    /// The keys whose signatures verified.
    pub signers: Vec<VerifierKey>,
    /// The sequencer's answer: the entry's index once it is in a published checkpoint; a
    /// closed channel means the sequencer stopped.
    pub integrated: oneshot::Receiver<Result<Integrated, SeqError>>,
}

/// The registration policy in force, remembered from the last lookup: policy entries only
/// ever follow one another (DESIGN.md §12), so each lookup walks on from the last one found.
#[derive(Debug, Default)]
pub struct PolicyInForce(Mutex<Option<RegistrationPolicy>>);

impl PolicyInForce {
    /// The registration policy in force in the published tree of `size`
    /// ([`crate::rules::policy_in_force`]); none when the log never logged one (the built-in
    /// policy applies).
    ///
    /// # Errors
    /// Storage errors; [`StoreError::Corrupt`] for a stored policy entry that does not parse.
    pub fn get(
        &self,
        store: &dyn LogStore,
        size: u64,
    ) -> Result<Option<RegistrationPolicy>, StoreError> {
        let cached = self.0.lock().ok().and_then(|g| g.clone());
        let start = cached.as_ref().map_or(0, |c| c.sequence);
        let current = crate::rules::policy_in_force(store, size, cached)?;
        let found = current.as_ref().map_or(0, |c| c.sequence);
        if found > start
            && let Ok(mut g) = self.0.lock()
            && g.as_ref().map_or(0, |c| c.sequence) < found
        {
            g.clone_from(&current);
        }
        Ok(current)
    }
}

/// What the pipeline reads and charges: the server's state, borrowed per request.
#[derive(Debug)]
pub struct Pipeline<'a> {
    /// Storage (dedup lookups, first judgement).
    pub store: &'a dyn LogStore,
    /// The published checkpoint and the enrolment state.
    pub shared: &'a Shared,
    /// The log's key (enrolment entries are signed with it).
    pub log_key: &'a VerifierKey,
    /// Per-party quotas.
    pub quota: &'a Quota,
    /// The registration policy in force.
    pub policy: &'a PolicyInForce,
    /// The submission queue.
    pub sequencer: &'a SequencerHandle,
}

impl Pipeline<'_> {
    /// Runs a submission through the pipeline (see the module documentation for the order).
    /// Calls storage and checks signatures: run it on the blocking pool.
    ///
    /// # Errors
    /// [`AdmitError`]: a refusal of the rule engine or of the registration policy, an
    /// enrolment or policy submitted as an entry, a quota exceeded, a full or stopped
    /// submission queue, or storage.
    pub fn admit(&self, submission: Submission) -> Result<Admission, AdmitError> {
        let published = self.shared.published();
        let payload = match self.dedup(&submission, &published)? {
            Dedup::Known(known) => return Ok(known),
            Dedup::New(payload) => payload,
        };
        let enrolments = self.shared.enrolments();
        let candidate = match &submission {
            Submission::Dsse(p) => verify(p, payload, &enrolments, self.log_key)?,
            Submission::Cose(st) => rules::verify_cose_entry(st, &enrolments)?,
        };
        let (party, role) = candidate
            .signing_party()
            .map(|(name, role)| (name.to_owned(), role))
            .ok_or(AdmitError::LoggedByTheLog)?;
        let (entry, leaf_hash) = match submission {
            Submission::Dsse(p) => {
                let p = keep_verified_signatures(p, &candidate)?;
                (p.bytes, p.leaf_hash)
            }
            Submission::Cose(st) => {
                let entry = st.to_entry();
                let leaf = Hash::leaf(&entry);
                let policy = self.policy.get(self.store, published.size)?;
                rules::check_registration(policy.as_ref(), &candidate, entry.len())?;
                (entry, leaf)
            }
        };
        self.quota
            .take(&party, Instant::now())
            .map_err(|retry_after| AdmitError::Quota {
                party: party.clone(),
                retry_after,
            })?;
        judge_now(self.store, &enrolments, published.size, &candidate)?;
        let signers = signers(&candidate);
        let integrated = self
            .sequencer
            .submit(admitted(entry.clone(), leaf_hash, candidate))?;
        Ok(Admission::Queued(Queued {
            entry,
            leaf_hash,
            party,
            role,
            signers,
            integrated,
        }))
    }

    /// Step 1: the original of a submission the log already holds.
    fn dedup(
        &self,
        submission: &Submission,
        published: &Arc<Published>,
    ) -> Result<Dedup, AdmitError> {
        let leaf = submission.leaf_hash();
        let mut payload = None;
        let (index, same_bytes) = match self.store.lookup_leaf(&leaf)? {
            Some(index) => (index, true),
            None => {
                let (hash, parsed) = submission.statement_hash();
                payload = parsed;
                match hash {
                    Some(h) => match self.store.lookup_statement(&h)? {
                        Some(index) => (index, false),
                        None => return Ok(Dedup::New(payload)),
                    },
                    None => return Ok(Dedup::New(payload)),
                }
            }
        };
        if index < published.size {
            return Ok(Dedup::Known(Admission::Logged {
                index,
                published: published.clone(),
                entry: same_bytes.then(|| submission.entry()),
            }));
        }
        Ok(match submission {
            // A registration the log holds is running until its checkpoint is published.
            Submission::Cose(_) => Dedup::Known(Admission::Stored { index }),
            // `/v1` has no such answer: verified and judged again, the sequencer answers the
            // duplicate once its checkpoint is published, or says to submit again later.
            Submission::Dsse(_) => Dedup::New(payload),
        })
    }
}

/// What the duplicate lookup found.
enum Dedup {
    /// The log holds the submission: the answer.
    Known(Admission),
    /// Not in the published tree; the envelope's payload if the lookup parsed it (verification
    /// takes it instead of parsing the payload again).
    New(Option<StatementPayload>),
}

/// The keys that signed a candidate.
fn signers(c: &Candidate) -> Vec<VerifierKey> {
    match &c.claim {
        Claim::Attestation { signers, .. } | Claim::Verification { signers, .. } => signers.clone(),
        Claim::Enrolment(_) | Claim::Policy(_) => Vec::new(),
    }
}
