//! The rule engine (DESIGN.md §3 and §10): the one place that decides whether an entry belongs
//! in the log. Server admission, the sequencer, the PostgreSQL pending path, receipts, the
//! monitor and `fsck` all call it, over typed enrolment and version history.
//!
//! Deciding about an entry has two halves:
//!
//! - [`verify_entry`], order-independent and costly: size, payload type, statement or
//!   enrolment schema, [statement identity](statement_hash), and the signatures (Ed25519
//!   `verify_strict`) against the keys enrolled now. The result is a [`Candidate`].
//! - [`Ledger::judge`], order-dependent and cheap: is the statement already logged (a replay in
//!   another envelope is the same entry: [`Judgement::Duplicate`]), may the verified signers
//!   still sign for the vendor at this index (a revocation racing a submission is decided by
//!   index order), does the enrolment apply, and does the attestation extend its version chain.
//!   [`Ledger::record`] then adds the entry to the history.
//!
//! A [`Ledger`] holds the history the rules need: the [`EnrolmentState`], the index of each
//! statement already logged, and the [`Chain`] of each `attestation_id`. Monitors and `fsck`
//! keep a whole one; the server's sequencer builds one per batch from what storage returns for
//! that batch's statements and attestation ids.
//!
//! **Existing logs.** The statement-identity and version-chain rules apply from the index
//! [`Ledger::claims_from`] on, which a log records when it starts enforcing them (0 for a log
//! that always did; the tree size at the upgrade for an older log, published in `GET /v1/log`
//! as `claims_from`). Below it, entries are judged by the rules they were logged under: a
//! repeated statement is a new entry, and `supersedes` must only name an earlier version of the
//! same `attestation_id` and vendor.
//!
//! **Current version.** The head of a chain is found by following it ([`Chain::follow`]), never
//! by taking the highest index: a version extends the chain iff it comes from the chain's
//! owner, names the head in `supersedes` (or, in entries logged before [`Ledger::claims_from`],
//! names nothing) and has a strictly later `issued_at`. Every entry logged from
//! `claims_from` on satisfies this, so the same function gives the head of old and new logs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Hash;
use crate::cose::{SignedStatement, is_cose_entry};
use crate::dsse::{Envelope, MAX_ENTRY_BYTES, parse_strict_json};
use crate::enrolment::{
    AdmissionError, Enrolment, EnrolmentState, KeyRecord, KeyRole, PAYLOAD_TYPE_ENROLMENT,
};
use crate::keys::VerifierKey;
use crate::predicate::{FieldError, PAYLOAD_TYPE_INTOTO, Statement, parse_rfc3339};
use crate::registration::{PAYLOAD_TYPE_REGISTRATION_POLICY, RegistrationPolicy};
use crate::verification::{self, VerificationStatement};

/// Domain separation prefix of [`statement_hash`].
pub const STATEMENT_DOMAIN: &[u8] = b"attestlog-statement/v1\n";

/// Most signature verifications under enrolled keys one entry may cause.
pub const MAX_SIGNATURE_CHECKS: usize = 4;

/// Statement identity: `SHA-256("attestlog-statement/v1\n" ‖ JCS(statement))`, where
/// `statement` is the payload parsed as JSON and JCS is RFC 8785. Independent of the envelope,
/// of the payload's formatting and of the signatures.
///
/// # Errors
/// The payload is not strict JSON (duplicate keys included).
pub fn statement_hash(payload: &[u8]) -> Result<Hash, FieldError> {
    let v = parse_strict_json(payload)
        .map_err(|e| FieldError::new("", format!("payload is not valid json: {e}")))?;
    Ok(statement_hash_of_value(&v))
}

/// [`statement_hash`] of a parsed payload.
#[must_use]
pub fn statement_hash_of_value(v: &Value) -> Hash {
    let jcs = crate::jcs::to_vec(v);
    let mut h = Sha256::new();
    h.update(STATEMENT_DOMAIN);
    h.update(&jcs);
    Hash(h.finalize().into())
}

/// The statement identity of an envelope whose payload type the log accepts, if its payload is
/// JSON: what a server looks up before verifying anything.
#[must_use]
pub fn envelope_statement_hash(env: &Envelope) -> Option<Hash> {
    StatementPayload::of_envelope(env).map(|p| p.hash)
}

/// The payload of an envelope parsed once, with its statement identity: a server looks the
/// identity up before verifying anything, then hands this to [`verify_entry_parsed`] instead of
/// parsing the payload again. It keeps the payload bytes it was parsed from, so that it is
/// only ever used for the envelope whose signatures are checked.
#[derive(Debug, Clone)]
pub struct StatementPayload {
    payload: Vec<u8>,
    value: Value,
    hash: Hash,
}

impl StatementPayload {
    /// The payload of `env` if its type is one the log accepts and it is strict JSON.
    #[must_use]
    pub fn of_envelope(env: &Envelope) -> Option<Self> {
        match env.payload_type.as_str() {
            PAYLOAD_TYPE_INTOTO | PAYLOAD_TYPE_ENROLMENT => {
                let value = parse_strict_json(&env.payload).ok()?;
                let hash = statement_hash_of_value(&value);
                Some(Self {
                    payload: env.payload.clone(),
                    value,
                    hash,
                })
            }
            _ => None,
        }
    }

    /// The statement identity ([`statement_hash`]).
    #[must_use]
    pub fn hash(&self) -> Hash {
        self.hash
    }
}

/// Parses and validates an in-toto statement payload once, with its identity.
///
/// # Errors
/// Every problem found, each with its field path.
pub fn parse_statement(payload: &[u8]) -> Result<(Statement, Hash), Vec<FieldError>> {
    let value = parse_strict_json(payload).map_err(|e| {
        vec![FieldError::new(
            "",
            format!("payload is not valid json: {e}"),
        )]
    })?;
    let hash = statement_hash_of_value(&value);
    Ok((crate::predicate::statement_from_value(value)?, hash))
}

/// An in-toto statement payload of either predicate, parsed and validated once.
enum AnyStatement {
    Attestation(Box<Statement>),
    Verification(Box<VerificationStatement>),
}

fn parse_any_statement(payload: &[u8]) -> Result<(AnyStatement, Hash), Vec<FieldError>> {
    let value = parse_strict_json(payload).map_err(|e| {
        vec![FieldError::new(
            "",
            format!("payload is not valid json: {e}"),
        )]
    })?;
    let hash = statement_hash_of_value(&value);
    any_statement_of_value(value, hash)
}

fn any_statement_of_value(
    value: Value,
    hash: Hash,
) -> Result<(AnyStatement, Hash), Vec<FieldError>> {
    let st = if verification::is_verification(&value) {
        AnyStatement::Verification(Box::new(verification::statement_from_value(value)?))
    } else {
        AnyStatement::Attestation(Box::new(crate::predicate::statement_from_value(value)?))
    };
    Ok((st, hash))
}

/// The version-chain key of a verification: one chain per verifier and subject entry.
#[must_use]
pub fn verification_chain_key(verifier: &str, subject_index: u64) -> String {
    format!("verification\n{verifier}\n{subject_index}")
}

/// What the log knows about the entry a verification names as its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectFacts {
    /// RFC 9162 leaf hash of the entry.
    pub leaf_hash: Hash,
    /// SHA-256 of the entry bytes.
    pub entry_sha256: Hash,
    /// `predicate.attestation_id` if the entry is a data-flow attestation.
    pub attestation_id: Option<String>,
    /// How many data flows the attestation declares (what `findings[].data_flow` indexes);
    /// `None` when not known (a monitor state written by an older monitor): not checked.
    pub data_flows: Option<usize>,
}

impl SubjectFacts {
    /// The facts of an entry with these bytes and this verified claim.
    #[must_use]
    pub fn of(entry: &[u8], claim: &Claim) -> Self {
        let statement = match claim {
            Claim::Attestation { statement, .. } => Some(statement),
            _ => None,
        };
        Self {
            leaf_hash: Hash::leaf(entry),
            entry_sha256: Hash::sha256(entry),
            attestation_id: statement.map(|s| s.attestation_id().to_owned()),
            data_flows: statement.map(|s| s.predicate.data_flows.len()),
        }
    }

    /// How many data flows the logged attestation `entry` (DSSE or COSE) declares; `None`
    /// if its payload cannot be read as a statement with `predicate.data_flows`.
    #[must_use]
    pub fn data_flows_of_entry(entry: &[u8]) -> Option<usize> {
        let payload = if is_cose_entry(entry) {
            SignedStatement::parse(entry).ok()?.payload().to_vec()
        } else {
            Envelope::parse_entry(entry).ok()?.payload
        };
        let v: Value = serde_json::from_slice(&payload).ok()?;
        v.get("predicate")?
            .get("data_flows")?
            .as_array()
            .map(Vec::len)
    }
}

/// A verification's subject must be a data-flow attestation in the log, named by its index,
/// leaf hash, attestation id and (in `subject`) the SHA-256 of its entry bytes.
///
/// # Errors
/// [`AdmissionError::Subject`] naming the field; [`AdmissionError::Finding`] for a finding
/// about a data flow the subject does not declare.
pub fn check_subject(
    st: &VerificationStatement,
    subject: Option<&SubjectFacts>,
) -> Result<(), AdmissionError> {
    let se = &st.predicate.subject_entry;
    let err = |field: &'static str, message: String| AdmissionError::Subject { field, message };
    let Some(f) = subject else {
        return Err(err(
            "predicate.subject_entry.log_index",
            format!(
                "index {} is not a data-flow attestation in this log",
                se.log_index
            ),
        ));
    };
    let Some(id) = &f.attestation_id else {
        return Err(err(
            "predicate.subject_entry.log_index",
            format!(
                "the entry at index {} is not a data-flow attestation",
                se.log_index
            ),
        ));
    };
    if se.leaf_hash != f.leaf_hash.to_hex() {
        return Err(err(
            "predicate.subject_entry.leaf_hash",
            format!(
                "is not the leaf hash of the entry at index {}",
                se.log_index
            ),
        ));
    }
    if &se.attestation_id != id {
        return Err(err(
            "predicate.subject_entry.attestation_id",
            format!("the entry at index {} is attestation {id}", se.log_index),
        ));
    }
    if st
        .subject
        .first()
        .and_then(|s| s.digest.get("sha256"))
        .is_none_or(|d| *d != f.entry_sha256.to_hex())
    {
        return Err(err(
            "subject[0].digest.sha256",
            format!("is not the SHA-256 of the entry at index {}", se.log_index),
        ));
    }
    if let Some(n) = f.data_flows
        && let Some((i, finding)) = st
            .predicate
            .findings
            .iter()
            .enumerate()
            .find(|(_, x)| usize::try_from(x.data_flow).map_or(true, |d| d >= n))
    {
        return Err(AdmissionError::Finding {
            index: i,
            message: format!(
                "data flow {} is not in the claim at index {}, which declares {n}",
                finding.data_flow, se.log_index
            ),
        });
    }
    Ok(())
}

/// The version-chain rule of verifications, per verifier and subject: the first names no
/// `supersedes`; every later one names the current head and has a strictly later
/// `issued_at`.
///
/// # Errors
/// [`AdmissionError::VersionChain`] naming the head.
pub fn check_verification_version(
    st: &VerificationStatement,
    chain: Option<&Chain>,
) -> Result<(), AdmissionError> {
    let p = &st.predicate;
    let sup = p.supersedes.as_ref().map(|s| s.log_index);
    let Some(c) = chain else {
        return match sup {
            None => Ok(()),
            Some(i) => Err(AdmissionError::VersionChain {
                field: "predicate.supersedes.log_index",
                head: None,
                message: format!(
                    "{:?} has no logged verification of index {}; the first names no supersedes \
                     (got index {i})",
                    p.verifier.legal_name, p.subject_entry.log_index
                ),
            }),
        };
    };
    let head = c.head.index;
    let chain_err = |field, message: String| AdmissionError::VersionChain {
        field,
        head: Some(head),
        message,
    };
    match sup {
        None => Err(chain_err(
            "predicate.supersedes",
            format!(
                "{:?} already verified index {}: a new version must name the current one, index \
                 {head}, in supersedes",
                p.verifier.legal_name, p.subject_entry.log_index
            ),
        )),
        Some(i) if i != head => Err(chain_err(
            "predicate.supersedes.log_index",
            format!("index {i} is not the current version: the current one is index {head}"),
        )),
        Some(_) if !later(&p.issued_at, &c.head.issued_at) => Err(chain_err(
            "predicate.issued_at",
            format!(
                "issued_at {} is not later than {} of the current version, index {head}",
                p.issued_at, c.head.issued_at
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// What an entry claims, once verified.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A data-flow attestation.
    Attestation {
        /// The validated statement.
        statement: Box<Statement>,
        /// The enrolled keys of the vendor whose signatures verified, in signature order.
        signers: Vec<VerifierKey>,
    },
    /// An enrolment or revocation signed by the log key.
    Enrolment(Box<Enrolment>),
    /// A verification statement (DESIGN.md §13).
    Verification {
        /// The validated statement.
        statement: Box<VerificationStatement>,
        /// The enrolled verifier keys whose signatures verified, in signature order.
        signers: Vec<VerifierKey>,
    },
    /// A SCITT registration policy signed by the log key (DESIGN.md §12).
    Policy(Box<RegistrationPolicy>),
}

/// An entry that passed the order-independent checks of [`verify_entry`].
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its [`statement_hash`].
    pub statement_hash: Hash,
    /// What it claims.
    pub claim: Claim,
}

impl Candidate {
    /// The candidate of an enrolment (its statement is its payload).
    #[must_use]
    pub fn of_enrolment(e: Enrolment) -> Self {
        Self {
            statement_hash: statement_hash_of_value(&e.to_value()),
            claim: Claim::Enrolment(Box::new(e)),
        }
    }

    /// The candidate of a registration policy entry: its statement identity is its place in
    /// the line of policies ([`crate::registration::slot`]).
    #[must_use]
    pub fn of_policy(p: RegistrationPolicy) -> Self {
        Self {
            statement_hash: crate::registration::slot(p.sequence),
            claim: Claim::Policy(Box::new(p)),
        }
    }

    /// The in-toto predicate type of an attestation or a verification.
    #[must_use]
    pub fn predicate_type(&self) -> Option<&'static str> {
        match &self.claim {
            Claim::Attestation { .. } => Some(crate::predicate::PREDICATE_TYPE),
            Claim::Verification { .. } => Some(verification::PREDICATE_TYPE),
            Claim::Enrolment(_) | Claim::Policy(_) => None,
        }
    }

    /// The statement, for attestations.
    #[must_use]
    pub fn statement(&self) -> Option<&Statement> {
        match &self.claim {
            Claim::Attestation { statement, .. } => Some(statement),
            _ => None,
        }
    }

    /// The statement, for verifications.
    #[must_use]
    pub fn verification(&self) -> Option<&VerificationStatement> {
        match &self.claim {
            Claim::Verification { statement, .. } => Some(statement),
            _ => None,
        }
    }

    /// The key of the version chain the entry belongs to: the `attestation_id` of an
    /// attestation, [`verification_chain_key`] of a verification.
    #[must_use]
    pub fn chain_key(&self) -> Option<String> {
        match &self.claim {
            Claim::Attestation { statement, .. } => Some(statement.attestation_id().to_owned()),
            Claim::Verification { statement, .. } => Some(verification_chain_key(
                &statement.predicate.verifier.legal_name,
                statement.predicate.subject_entry.log_index,
            )),
            Claim::Enrolment(_) | Claim::Policy(_) => None,
        }
    }

    /// The signing party and the role its key must have: the vendor of an attestation, the
    /// verifier of a verification (DESIGN.md §13); none for an enrolment (the log signs it).
    /// Quotas are charged to this party.
    #[must_use]
    pub fn signing_party(&self) -> Option<(&str, KeyRole)> {
        match &self.claim {
            Claim::Attestation { statement, .. } => {
                Some((statement.vendor_legal_name(), KeyRole::Vendor))
            }
            Claim::Verification { statement, .. } => Some((
                statement.predicate.verifier.legal_name.as_str(),
                KeyRole::Verifier,
            )),
            Claim::Enrolment(_) | Claim::Policy(_) => None,
        }
    }

    /// The statement's CWT `sub` as a SCITT signed statement ([`cose_subject`]).
    #[must_use]
    pub fn cose_subject(&self) -> Option<&str> {
        match &self.claim {
            Claim::Attestation { statement, .. } => Some(statement.attestation_id()),
            Claim::Verification { statement, .. } => {
                Some(statement.predicate.subject_entry.attestation_id.as_str())
            }
            Claim::Enrolment(_) | Claim::Policy(_) => None,
        }
    }

    /// The enrolment, for enrolment entries.
    #[must_use]
    pub fn enrolment(&self) -> Option<&Enrolment> {
        match &self.claim {
            Claim::Enrolment(e) => Some(e),
            _ => None,
        }
    }
}

/// The order-independent checks of an envelope against the keys enrolled now: size, payload
/// type, schema, statement identity and signatures.
///
/// Attestations: a valid statement whose vendor has an enrolled key, and at least one signature
/// that verifies (`verify_strict`) under an enrolled, unrevoked key of that vendor. Signatures
/// whose keyid names no such key are ignored; a signature that names one must verify (no junk
/// beside a good signature), and at most [`MAX_SIGNATURE_CHECKS`] may name one. Enrolments: a
/// verifying signature by `log_key` and a well-formed payload.
///
/// # Errors
/// [`AdmissionError`]; see its `status()` and `field()`.
pub fn verify_entry(
    env: &Envelope,
    state: &EnrolmentState,
    log_key: &VerifierKey,
) -> Result<Candidate, AdmissionError> {
    verify_entry_parsed(env, env.canonical_bytes().len(), None, state, log_key)
}

/// [`verify_entry`] for a caller that holds the envelope's canonical entry bytes
/// ([`Envelope::canonical_bytes`]; `entry_len` is their length, so they are not encoded again)
/// and perhaps its payload already parsed ([`StatementPayload::of_envelope`] of `env`;
/// `None`, or a payload parsed from other bytes than `env`'s, parses it here). The same
/// decisions, one encoding, one JSON parse and one statement hash fewer.
///
/// # Errors
/// As [`verify_entry`].
pub fn verify_entry_parsed(
    env: &Envelope,
    entry_len: usize,
    payload: Option<StatementPayload>,
    state: &EnrolmentState,
    log_key: &VerifierKey,
) -> Result<Candidate, AdmissionError> {
    if entry_len > MAX_ENTRY_BYTES {
        return Err(AdmissionError::TooLarge(entry_len));
    }
    match env.payload_type.as_str() {
        PAYLOAD_TYPE_INTOTO => {
            let (statement, statement_hash) = match payload.filter(|p| p.payload == env.payload) {
                Some(p) => any_statement_of_value(p.value, p.hash),
                None => parse_any_statement(&env.payload),
            }
            .map_err(AdmissionError::Statement)?;
            let claim = match statement {
                AnyStatement::Attestation(statement) => {
                    let signers = verify_signers(env, statement.vendor_legal_name(), state)?;
                    Claim::Attestation { statement, signers }
                }
                AnyStatement::Verification(statement) => {
                    let signers = verify_signers_as(
                        env,
                        &statement.predicate.verifier.legal_name,
                        KeyRole::Verifier,
                        state,
                    )?;
                    Claim::Verification { statement, signers }
                }
            };
            Ok(Candidate {
                statement_hash,
                claim,
            })
        }
        PAYLOAD_TYPE_ENROLMENT => {
            if !env.verify_with(log_key) {
                return Err(AdmissionError::NotSignedByLog);
            }
            Ok(Candidate::of_enrolment(Enrolment::parse(&env.payload)?))
        }
        PAYLOAD_TYPE_REGISTRATION_POLICY => {
            if !env.verify_with(log_key) {
                return Err(AdmissionError::NotSignedByLog);
            }
            let p = RegistrationPolicy::parse(&env.payload)
                .map_err(|e| AdmissionError::RegistrationPolicy(e.to_string()))?;
            Ok(Candidate::of_policy(p))
        }
        other => Err(AdmissionError::PayloadType(other.to_owned())),
    }
}

/// The enrolled, unrevoked keys of `vendor` whose signatures verify. See [`verify_entry`].
///
/// # Errors
/// [`AdmissionError::UnknownVendor`], [`AdmissionError::Signature`],
/// [`AdmissionError::TooManySignatures`], or, when no such key signed: the enrolment error of a
/// verifying key of someone else or a revoked key, [`AdmissionError::BadSignature`] or
/// [`AdmissionError::NoEnrolledSigner`].
pub fn verify_signers(
    env: &Envelope,
    vendor: &str,
    state: &EnrolmentState,
) -> Result<Vec<VerifierKey>, AdmissionError> {
    verify_signers_as(env, vendor, KeyRole::Vendor, state)
}

/// [`verify_signers`] for statements signed by keys of `role` (a verifier's verification
/// statements: [`KeyRole::Verifier`]).
///
/// # Errors
/// As [`verify_signers`]; a verifying key of the other role gives
/// [`crate::enrolment::EnrolmentError::WrongRole`].
pub fn verify_signers_as(
    env: &Envelope,
    vendor: &str,
    role: KeyRole,
    state: &EnrolmentState,
) -> Result<Vec<VerifierKey>, AdmissionError> {
    let sigs: Vec<(&str, &[u8])> = env
        .signatures
        .iter()
        .map(|s| (s.keyid.as_str(), s.sig.as_slice()))
        .collect();
    verify_signatures(&sigs, &env.pae(), vendor, role, state)
}

/// The one signature rule of [`verify_signers_as`], over `(keyid, signature)` pairs that all
/// sign `message` (a DSSE PAE, or a COSE Sig_structure).
fn verify_signatures(
    sigs: &[(&str, &[u8])],
    message: &[u8],
    vendor: &str,
    role: KeyRole,
    state: &EnrolmentState,
) -> Result<Vec<VerifierKey>, AdmissionError> {
    if !state.has_vendor(vendor) {
        return Err(AdmissionError::UnknownVendor(vendor.to_owned()));
    }
    let mut signers: Vec<VerifierKey> = Vec::new();
    let mut checks = 0;
    let mut others: Vec<(usize, &KeyRecord)> = Vec::new();
    for (i, (keyid, sig)) in sigs.iter().enumerate() {
        for r in state.keys_by_id(keyid) {
            if !(r.is_active() && r.vendor == vendor && r.role == role) {
                others.push((i, r));
                continue;
            }
            checks += 1;
            if checks > MAX_SIGNATURE_CHECKS {
                return Err(AdmissionError::TooManySignatures(MAX_SIGNATURE_CHECKS));
            }
            if !r.key.verify(message, sig) {
                return Err(AdmissionError::Signature { index: i });
            }
            if !signers.contains(&r.key) {
                signers.push(r.key.clone());
            }
        }
    }
    if !signers.is_empty() {
        return Ok(signers);
    }
    // Nobody who may sign for the vendor did: say why, from a key that did sign.
    for (i, r) in others.iter().take(MAX_SIGNATURE_CHECKS) {
        if r.key.verify(message, sigs[*i].1)
            && let Err(e) = state.check_signer(&r.key, vendor, role)
        {
            return Err(AdmissionError::Key(e));
        }
    }
    Err(if others.is_empty() {
        AdmissionError::NoEnrolledSigner
    } else {
        AdmissionError::BadSignature
    })
}

/// The order-independent checks of a SCITT signed statement (DESIGN.md §12), the same as
/// [`verify_entry`] for a DSSE statement of either predicate: schema, statement identity (a
/// COSE statement and a DSSE envelope of the same statement have the same
/// [`statement_hash`]), and the one signature rule over the COSE Sig_structure with the key its
/// `kid` names (a vendor key for an attestation, a verifier key for a verification, DESIGN.md
/// §13); then the COSE claims: `iss` must be that key's name and `sub` the statement's
/// [`cose_subject`].
///
/// # Errors
/// [`AdmissionError`]; [`AdmissionError::CoseClaims`] for a claim that does not match.
pub fn verify_cose_entry(
    st: &SignedStatement,
    state: &EnrolmentState,
) -> Result<Candidate, AdmissionError> {
    let (statement, statement_hash) =
        parse_any_statement(st.payload()).map_err(AdmissionError::Statement)?;
    let kid = st.kid_hex();
    let sigs = [(kid.as_str(), st.signature())];
    let message = st.sig_structure();
    let claim = match statement {
        AnyStatement::Attestation(statement) => {
            let signers = verify_signatures(
                &sigs,
                &message,
                statement.vendor_legal_name(),
                KeyRole::Vendor,
                state,
            )?;
            Claim::Attestation { statement, signers }
        }
        AnyStatement::Verification(statement) => {
            let signers = verify_signatures(
                &sigs,
                &message,
                &statement.predicate.verifier.legal_name,
                KeyRole::Verifier,
                state,
            )?;
            Claim::Verification { statement, signers }
        }
    };
    let c = Candidate {
        statement_hash,
        claim,
    };
    let sub = c.cose_subject().unwrap_or_default();
    let signers = match &c.claim {
        Claim::Attestation { signers, .. } | Claim::Verification { signers, .. } => signers,
        Claim::Enrolment(_) | Claim::Policy(_) => {
            return Err(AdmissionError::PayloadType("enrolment".into()));
        }
    };
    for k in signers {
        st.check_claims(k.name(), sub)
            .map_err(AdmissionError::CoseClaims)?;
    }
    Ok(c)
}

/// Whether a SCITT signed statement verified as `c`, `entry_len` bytes as logged, is
/// admissible under the registration policy in force (DESIGN.md §12): `policy` is the latest
/// policy entry below the statement's index; with none (only below a log's `policies_from`,
/// see [`Ledger::with_policies_from`]), the built-in policy, which admits every statement
/// [`verify_cose_entry`] accepts.
///
/// # Errors
/// [`AdmissionError::RegistrationPolicy`] naming the policy's rule.
pub fn check_registration(
    policy: Option<&RegistrationPolicy>,
    c: &Candidate,
    entry_len: usize,
) -> Result<(), AdmissionError> {
    let Some(policy) = policy else {
        return Ok(());
    };
    let predicate_type = c.predicate_type().ok_or_else(|| {
        AdmissionError::RegistrationPolicy("a signed statement carries no statement".into())
    })?;
    policy
        .admits(predicate_type, entry_len)
        .map_err(AdmissionError::RegistrationPolicy)
}

/// The CWT `sub` a statement carries as a SCITT signed statement (DESIGN.md §12): an
/// attestation's `predicate.attestation_id`; a verification's
/// `predicate.subject_entry.attestation_id` (the attestation it verifies, DESIGN.md §13). What
/// receipts name as their `sub`, for a statement in either envelope.
#[must_use]
pub fn cose_subject(statement: &Value) -> Option<&str> {
    let pointer = if verification::is_verification(statement) {
        "/predicate/subject_entry/attestation_id"
    } else {
        "/predicate/attestation_id"
    };
    statement.pointer(pointer)?.as_str()
}

/// [`verify_entry`] or [`verify_cose_entry`] for logged entry bytes, whichever format they are
/// in (a COSE_Sign1 starts with tag 18, a DSSE entry with `{`): what the PostgreSQL pending
/// path, monitors and `fsck` call.
///
/// # Errors
/// [`AdmissionError`]; bytes that are neither a canonical DSSE envelope nor a signed statement
/// are an [`AdmissionError::Statement`] naming the problem.
pub fn verify_entry_bytes(
    data: &[u8],
    state: &EnrolmentState,
    log_key: &VerifierKey,
) -> Result<Candidate, AdmissionError> {
    if is_cose_entry(data) {
        let st = SignedStatement::parse(data).map_err(|e| {
            AdmissionError::Statement(vec![FieldError::new("", format!("entry: {e}"))])
        })?;
        if st.to_entry() != data {
            return Err(AdmissionError::Statement(vec![FieldError::new(
                "",
                "entry: a logged signed statement has an empty unprotected header",
            )]));
        }
        return verify_cose_entry(&st, state);
    }
    let env = Envelope::parse_entry(data).map_err(|e| {
        AdmissionError::Statement(vec![FieldError::new(
            e.field().unwrap_or_default(),
            e.to_string(),
        )])
    })?;
    // `data` is the envelope's canonical encoding (`parse_entry` checked it).
    verify_entry_parsed(&env, data.len(), None, state, log_key)
}

/// Who signs an in-toto statement payload and with which role: the vendor
/// (`predicate.vendor.legal_name`) of an attestation, the verifier
/// (`predicate.verifier.legal_name`) of a verification (DESIGN.md §13).
#[must_use]
pub fn signing_party(statement: &Value) -> Option<(&str, KeyRole)> {
    if verification::is_verification(statement) {
        let name = statement
            .pointer("/predicate/verifier/legal_name")?
            .as_str()?;
        Some((name, KeyRole::Verifier))
    } else {
        let name = statement
            .pointer("/predicate/vendor/legal_name")?
            .as_str()?;
        Some((name, KeyRole::Vendor))
    }
}

/// The enrolment record that authorised the statement logged at `index`: a key in force for
/// its vendor (or, for a verification, its verifier) at `index` whose signature in the entry
/// verifies. `state` may hold the history up to any later index.
#[must_use]
pub fn authorising_enrolment<'a>(
    env: &Envelope,
    state: &'a EnrolmentState,
    index: u64,
) -> Option<&'a KeyRecord> {
    if env.payload_type != PAYLOAD_TYPE_INTOTO {
        return None;
    }
    let sigs: Vec<(&str, &[u8])> = env
        .signatures
        .iter()
        .map(|s| (s.keyid.as_str(), s.sig.as_slice()))
        .collect();
    authorised_by(&env.payload, &sigs, &env.pae(), state, index)
}

/// [`authorising_enrolment`] for logged entry bytes in either format: a DSSE envelope, or a
/// SCITT signed statement (its one signature, by the key its `kid` names, over the COSE
/// Sig_structure).
#[must_use]
pub fn authorising_enrolment_of_entry<'a>(
    entry: &[u8],
    state: &'a EnrolmentState,
    index: u64,
) -> Option<&'a KeyRecord> {
    if is_cose_entry(entry) {
        let st = SignedStatement::parse(entry).ok()?;
        let kid = st.kid_hex();
        return authorised_by(
            st.payload(),
            &[(kid.as_str(), st.signature())],
            &st.sig_structure(),
            state,
            index,
        );
    }
    let env = Envelope::from_json(entry).ok()?;
    authorising_enrolment(&env, state, index)
}

/// The key in force at `index` for the party signing `payload` whose signature of
/// `(keyid, sig)` over `message` verifies.
fn authorised_by<'a>(
    payload: &[u8],
    sigs: &[(&str, &[u8])],
    message: &[u8],
    state: &'a EnrolmentState,
    index: u64,
) -> Option<&'a KeyRecord> {
    let v = parse_strict_json(payload).ok()?;
    let (name, role) = signing_party(&v)?;
    sigs.iter().find_map(|(keyid, sig)| {
        state
            .keys_by_id(keyid)
            .into_iter()
            .filter_map(|r| state.in_force_as(index, name, role, &r.key))
            .find(|r| r.key.verify(message, sig))
    })
}

/// [`authorising_enrolment`] when the verified signers are known (the submit path): `name`
/// is the vendor of an attestation or the verifier of a verification, `role` says which.
#[must_use]
pub fn authorising_enrolment_of<'a>(
    state: &'a EnrolmentState,
    index: u64,
    name: &str,
    role: KeyRole,
    signers: &[VerifierKey],
) -> Option<&'a KeyRecord> {
    signers
        .iter()
        .find_map(|k| state.in_force_as(index, name, role, k))
}

/// One version of an attestation: what the version chain needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Log index.
    pub index: u64,
    /// `predicate.vendor.legal_name`.
    pub vendor: String,
    /// `predicate.supersedes.log_index`.
    pub supersedes: Option<u64>,
    /// `predicate.issued_at` (RFC 3339).
    pub issued_at: String,
}

impl Version {
    /// The version of `st` logged at `index`.
    #[must_use]
    pub fn of(index: u64, st: &Statement) -> Self {
        Self {
            index,
            vendor: st.vendor_legal_name().to_owned(),
            supersedes: st.predicate.supersedes.as_ref().map(|s| s.log_index),
            issued_at: st.predicate.issued_at.clone(),
        }
    }
}

/// Whether RFC 3339 time `a` is strictly later than `b` (false if either does not parse).
fn later(a: &str, b: &str) -> bool {
    matches!((parse_rfc3339(a), parse_rfc3339(b)), (Some(a), Some(b)) if a > b)
}

/// The versions of one `attestation_id`: its owner (the vendor that first used it), every
/// logged version's index, and the current head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The vendor that first used the id.
    pub owner: String,
    /// The current version.
    pub head: Version,
    /// Indexes of every logged version, ascending (superseded, stale and current).
    pub indexes: Vec<u64>,
}

impl Chain {
    /// A chain whose first version is `v`.
    #[must_use]
    pub fn start(v: Version) -> Self {
        Self {
            owner: v.vendor.clone(),
            indexes: vec![v.index],
            head: v,
        }
    }

    /// The chain of these versions (every logged version of one id, in index order): the
    /// first is the start, and each later one becomes the head iff it [extends](Self::extends)
    /// the chain. `None` for no versions.
    pub fn follow(versions: impl IntoIterator<Item = Version>) -> Option<Self> {
        let mut it = versions.into_iter();
        let mut chain = Self::start(it.next()?);
        for v in it {
            chain.record(v);
        }
        Some(chain)
    }

    /// Whether `v` (logged after every version so far) becomes the new head: it comes from
    /// the owner, names the head in `supersedes` or names nothing (only possible in entries
    /// logged before the chain rule), and its `issued_at` is strictly later than the head's.
    #[must_use]
    pub fn extends(&self, v: &Version) -> bool {
        v.vendor == self.owner
            && v.supersedes.is_none_or(|s| s == self.head.index)
            && later(&v.issued_at, &self.head.issued_at)
    }

    /// Records a logged version; returns whether it became the head.
    pub fn record(&mut self, v: Version) -> bool {
        self.indexes.push(v.index);
        if self.extends(&v) {
            self.head = v;
            true
        } else {
            false
        }
    }
}

/// The version-chain rule (from [`Ledger::claims_from`] on) with `attestation_id` ownership:
/// the first version names no `supersedes`; every later one comes from the owner, names the
/// current head in `supersedes.log_index` (and the same id in `supersedes.attestation_id`) and
/// has a strictly later `issued_at`.
///
/// # Errors
/// [`AdmissionError::Ownership`] or [`AdmissionError::VersionChain`] naming the head.
pub fn check_version(st: &Statement, chain: Option<&Chain>) -> Result<(), AdmissionError> {
    let sup = st.predicate.supersedes.as_ref();
    let Some(c) = chain else {
        return match sup {
            None => Ok(()),
            Some(s) => Err(AdmissionError::VersionChain {
                field: "predicate.supersedes.log_index",
                head: None,
                message: format!(
                    "attestation_id {} has no logged version; its first version names no \
                     supersedes (got index {})",
                    st.attestation_id(),
                    s.log_index
                ),
            }),
        };
    };
    let vendor = st.vendor_legal_name();
    if c.owner != vendor {
        return Err(AdmissionError::Ownership {
            field: "predicate.attestation_id",
            message: format!("attestation_id belongs to vendor {:?}", c.owner),
        });
    }
    let head = c.head.index;
    let chain_err = |field, message: String| AdmissionError::VersionChain {
        field,
        head: Some(head),
        message,
    };
    let Some(s) = sup else {
        return Err(chain_err(
            "predicate.supersedes",
            format!(
                "attestation_id {} already has versions: a new one must name the current head, \
                 index {head}, in supersedes",
                st.attestation_id()
            ),
        ));
    };
    if s.attestation_id != st.attestation_id() {
        return Err(chain_err(
            "predicate.supersedes.attestation_id",
            format!(
                "supersedes names attestation_id {:?}, not {:?}; the current head is index {head}",
                s.attestation_id,
                st.attestation_id()
            ),
        ));
    }
    if s.log_index != head {
        return Err(chain_err(
            "predicate.supersedes.log_index",
            format!(
                "index {} is not the current version of {}: the current head is index {head}",
                s.log_index,
                st.attestation_id()
            ),
        ));
    }
    if !later(&st.predicate.issued_at, &c.head.issued_at) {
        return Err(chain_err(
            "predicate.issued_at",
            format!(
                "issued_at {} is not later than {} of the current head, index {head}",
                st.predicate.issued_at, c.head.issued_at
            ),
        ));
    }
    Ok(())
}

/// The ownership rules entries logged before [`Ledger::claims_from`] were admitted under: the
/// id belongs to the vendor that first used it, and `supersedes` names an earlier version of
/// the same id (hence of the same vendor).
///
/// # Errors
/// [`AdmissionError::Ownership`].
pub fn check_legacy_version(st: &Statement, chain: Option<&Chain>) -> Result<(), AdmissionError> {
    if let Some(c) = chain
        && c.owner != st.vendor_legal_name()
    {
        return Err(AdmissionError::Ownership {
            field: "predicate.attestation_id",
            message: format!("attestation_id belongs to vendor {:?}", c.owner),
        });
    }
    if let Some(s) = &st.predicate.supersedes
        && chain.is_none_or(|c| c.indexes.binary_search(&s.log_index).is_err())
    {
        return Err(AdmissionError::Ownership {
            field: "predicate.supersedes.log_index",
            message: format!(
                "index {} is not an earlier version of attestation_id {}",
                s.log_index,
                st.attestation_id()
            ),
        });
    }
    Ok(())
}

/// The order-dependent verdict on a [`Candidate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Admissible as a new entry.
    New,
    /// Its statement is already logged at this index: the answer is that entry.
    Duplicate(u64),
}

/// The answer to a submission ([`Ledger::submit`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// A new entry, as verified.
    New(Box<Candidate>),
    /// The statement is logged at this index: the answer is that entry.
    Duplicate(u64),
}

/// What [`judge`] needs to know about the history for one candidate.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The enrolment state before the candidate's index.
    pub enrolment: &'a EnrolmentState,
    /// The first index of the candidate's statement, if it is logged.
    pub statement: Option<u64>,
    /// The chain of the candidate's `attestation_id` (or, for a verification, of its
    /// verifier and subject), if it has versions.
    pub chain: Option<&'a Chain>,
    /// For a verification: what the log holds at its subject's index, if anything.
    pub subject: Option<&'a SubjectFacts>,
    /// The index from which the claim rules apply.
    pub claims_from: u64,
}

/// The order-dependent rules for `c` at log index `index`: a statement already logged is a
/// [`Judgement::Duplicate`] (from `claims_from` on); an enrolment must apply to the enrolment
/// state; an attestation's verified signers must still be allowed to sign for its vendor, and
/// it must extend its version chain ([`check_version`]; before `claims_from`,
/// [`check_legacy_version`]).
///
/// # Errors
/// [`AdmissionError::Key`] (enrolment conflicts 409; signers revoked since verification
/// 422), [`AdmissionError::Ownership`], [`AdmissionError::VersionChain`].
pub fn judge(ctx: &Context<'_>, index: u64, c: &Candidate) -> Result<Judgement, AdmissionError> {
    let claims = index >= ctx.claims_from;
    if claims && let Some(j) = ctx.statement {
        return Ok(Judgement::Duplicate(j));
    }
    match &c.claim {
        Claim::Enrolment(e) => ctx.enrolment.check(e)?,
        // Its place in the line is its identity (a second entry for one place is a duplicate
        // above); that it follows the policy in force is the ledger's check.
        Claim::Policy(_) => {}
        Claim::Attestation { statement, signers } => {
            ctx.enrolment
                .authorise(statement.vendor_legal_name(), signers)?;
            if claims {
                check_version(statement, ctx.chain)?;
            } else {
                check_legacy_version(statement, ctx.chain)?;
            }
        }
        Claim::Verification { statement, signers } => {
            ctx.enrolment.authorise_as(
                &statement.predicate.verifier.legal_name,
                KeyRole::Verifier,
                signers,
            )?;
            check_subject(statement, ctx.subject)?;
            check_verification_version(statement, ctx.chain)?;
        }
    }
    Ok(Judgement::New)
}

/// The history the rules judge against. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    enrolment: EnrolmentState,
    statements: HashMap<Hash, u64>,
    chains: HashMap<String, Chain>,
    subjects: HashMap<u64, SubjectFacts>,
    claims_from: u64,
    /// The index from which every signed statement has a registration policy entry below it
    /// (0 unless [`Self::with_policies_from`] says otherwise).
    policies_from: u64,
    /// The registration policy in force (the latest policy entry recorded).
    policy: Option<RegistrationPolicy>,
    /// Whether the ledger holds the whole history (a monitor's, fsck's), so that a policy
    /// entry can be checked to follow the one in force.
    whole: bool,
}

impl Ledger {
    /// An empty history whose claim rules apply from index `claims_from`.
    #[must_use]
    pub fn new(claims_from: u64) -> Self {
        Self {
            claims_from,
            whole: true,
            ..Self::default()
        }
    }

    /// A partial history, as a server's sequencer has it for one batch: the whole enrolment
    /// state, and what storage holds for the statements and attestation ids the batch
    /// mentions (`statements`: statement hash → first index; `chains`: id → its chain).
    #[must_use]
    pub fn with_history(
        claims_from: u64,
        enrolment: EnrolmentState,
        statements: HashMap<Hash, u64>,
        chains: HashMap<String, Chain>,
    ) -> Self {
        Self {
            enrolment,
            statements,
            chains,
            subjects: HashMap::new(),
            claims_from,
            policies_from: 0,
            policy: None,
            whole: false,
        }
    }

    /// The same history, with signed statements required to have a registration policy entry
    /// below them from index `policies_from` on (DESIGN.md §12): 0 for a log that logged the
    /// policy in force before its first signed statement, else the tree size when it was
    /// upgraded to. A signed statement below it with no policy entry below it was admitted
    /// under the built-in policy ([`RegistrationPolicy::built_in`]).
    #[must_use]
    pub fn with_policies_from(self, policies_from: u64) -> Self {
        Self {
            policies_from,
            ..self
        }
    }

    /// The index from which every signed statement has a registration policy entry below it.
    #[must_use]
    pub fn policies_from(&self) -> u64 {
        self.policies_from
    }

    /// The registration policy in force after everything recorded (none: no policy entry yet;
    /// below [`Self::policies_from`], signed statements are then judged by
    /// [`RegistrationPolicy::built_in`]).
    #[must_use]
    pub fn registration_policy(&self) -> Option<&RegistrationPolicy> {
        self.policy.as_ref()
    }

    /// [`check_registration`] for a signed statement at `index` under the registration policy
    /// in force; from [`Self::policies_from`] on, a policy entry must be logged below it.
    ///
    /// # Errors
    /// [`AdmissionError::RegistrationPolicy`] naming the policy's rule, or saying that no
    /// policy entry is logged below the statement.
    pub fn check_registration(
        &self,
        index: u64,
        c: &Candidate,
        entry_len: usize,
    ) -> Result<(), AdmissionError> {
        if self.policy.is_none() && index >= self.policies_from {
            return Err(AdmissionError::RegistrationPolicy(format!(
                "no registration policy entry is logged below this signed statement (the log \
                 records the policy in force before every signed statement from index {} on)",
                self.policies_from
            )));
        }
        check_registration(self.policy.as_ref(), c, entry_len)
    }

    /// The index from which the statement-identity and version-chain rules apply.
    #[must_use]
    pub fn claims_from(&self) -> u64 {
        self.claims_from
    }

    /// The enrolment state.
    #[must_use]
    pub fn enrolment(&self) -> &EnrolmentState {
        &self.enrolment
    }

    /// The enrolment state, taken out.
    #[must_use]
    pub fn into_enrolment(self) -> EnrolmentState {
        self.enrolment
    }

    /// The chain of an attestation id.
    #[must_use]
    pub fn chain(&self, attestation_id: &str) -> Option<&Chain> {
        self.chains.get(attestation_id)
    }

    /// The first index of a logged statement.
    #[must_use]
    pub fn statement(&self, h: &Hash) -> Option<u64> {
        self.statements.get(h).copied()
    }

    /// The order-dependent rules for `c` at log index `index` (after everything recorded):
    /// [`judge`] with this history.
    ///
    /// # Errors
    /// As [`judge`].
    pub fn judge(&self, index: u64, c: &Candidate) -> Result<Judgement, AdmissionError> {
        if let Claim::Policy(p) = &c.claim
            && self.whole
            && self.statement(&c.statement_hash).is_none()
        {
            let next = self.policy.as_ref().map_or(1, |q| q.sequence + 1);
            if p.sequence != next {
                return Err(AdmissionError::RegistrationPolicy(format!(
                    "registration policy {} does not follow the policy in force (the next is {next})",
                    p.sequence
                )));
            }
        }
        judge(
            &Context {
                enrolment: &self.enrolment,
                statement: self.statement(&c.statement_hash),
                chain: c.chain_key().and_then(|k| self.chains.get(&k)),
                subject: c
                    .verification()
                    .and_then(|v| self.subjects.get(&v.predicate.subject_entry.log_index)),
                claims_from: self.claims_from,
            },
            index,
            c,
        )
    }

    /// Adds `c`, judged [`Judgement::New`], at `index` to the history.
    ///
    /// # Errors
    /// An enrolment that does not apply (it was not judged new at this index); the history is
    /// unchanged then.
    pub fn record(&mut self, index: u64, c: &Candidate) -> Result<(), AdmissionError> {
        match &c.claim {
            Claim::Enrolment(e) => self.enrolment.apply(index, e)?,
            Claim::Policy(p) => self.policy = Some((**p).clone()),
            Claim::Attestation { statement, .. } => {
                self.record_version(
                    statement.attestation_id(),
                    Version::of(index, statement),
                    c.statement_hash,
                );
                return Ok(());
            }
            Claim::Verification { statement, .. } => {
                let p = &statement.predicate;
                let key = verification_chain_key(&p.verifier.legal_name, p.subject_entry.log_index);
                let v = Version {
                    index,
                    vendor: p.verifier.legal_name.clone(),
                    supersedes: p.supersedes.as_ref().map(|s| s.log_index),
                    issued_at: p.issued_at.clone(),
                };
                self.record_version(&key, v, c.statement_hash);
                return Ok(());
            }
        }
        self.statements.entry(c.statement_hash).or_insert(index);
        Ok(())
    }

    /// Adds a logged version of `attestation_id` with statement `statement` to the history
    /// (what [`Self::record`] does for an attestation; for a history kept elsewhere, such as a
    /// monitor's state, replayed in index order).
    pub fn record_version(&mut self, attestation_id: &str, v: Version, statement: Hash) {
        self.statements.entry(statement).or_insert(v.index);
        match self.chains.get_mut(attestation_id) {
            Some(chain) => {
                chain.record(v);
            }
            None => {
                self.chains
                    .insert(attestation_id.to_owned(), Chain::start(v));
            }
        }
    }

    /// [`Self::judge`], then [`Self::record`] when new.
    ///
    /// # Errors
    /// As [`Self::judge`].
    pub fn admit(&mut self, index: u64, c: &Candidate) -> Result<Judgement, AdmissionError> {
        let j = self.judge(index, c)?;
        if j == Judgement::New {
            self.record(index, c)?;
        }
        Ok(j)
    }

    /// The answer to an envelope submitted for log index `index` (the next after everything
    /// recorded), in the order a log answers: a statement already logged is answered with its
    /// entry whatever the envelope and its signatures (nothing is verified for it); otherwise
    /// [`verify_entry`] against the enrolment state, then [`Self::judge`]. Nothing is recorded.
    ///
    /// # Errors
    /// As [`verify_entry`] and [`Self::judge`].
    pub fn submit(
        &self,
        index: u64,
        env: &Envelope,
        log_key: &VerifierKey,
    ) -> Result<Submission, AdmissionError> {
        if index >= self.claims_from
            && let Some(j) = envelope_statement_hash(env).and_then(|h| self.statement(&h))
        {
            return Ok(Submission::Duplicate(j));
        }
        let c = verify_entry(env, &self.enrolment, log_key)?;
        Ok(match self.judge(index, &c)? {
            Judgement::New => Submission::New(Box::new(c)),
            Judgement::Duplicate(j) => Submission::Duplicate(j),
        })
    }

    /// The verdict on the entry logged at `index` (the next after everything recorded), as a
    /// monitor or `fsck` reaches it from the log alone: [`verify_entry`] against the enrolment
    /// state at `index`, then [`Self::admit`]. A statement logged before is an error here: a
    /// log never holds one statement twice (from `claims_from` on).
    ///
    /// # Errors
    /// [`AdmissionError`], [`AdmissionError::Duplicate`] for a repeated statement.
    pub fn append(
        &mut self,
        index: u64,
        env: &Envelope,
        log_key: &VerifierKey,
    ) -> Result<Candidate, AdmissionError> {
        let entry = env.canonical_bytes();
        let c = verify_entry_parsed(env, entry.len(), None, &self.enrolment, log_key)?;
        self.append_candidate(index, &entry, c)
    }

    /// [`Self::append`] for logged entry bytes in either format, DSSE or a SCITT signed
    /// statement ([`verify_entry_bytes`]).
    ///
    /// # Errors
    /// As [`Self::append`]; bytes in neither format are an [`AdmissionError::Statement`].
    pub fn append_bytes(
        &mut self,
        index: u64,
        data: &[u8],
        log_key: &VerifierKey,
    ) -> Result<Candidate, AdmissionError> {
        let c = verify_entry_bytes(data, &self.enrolment, log_key)?;
        if is_cose_entry(data) {
            self.check_registration(index, &c, data.len())?;
        }
        self.append_candidate(index, data, c)
    }

    /// [`Self::append_bytes`] under any of the log's keys: an enrolment is signed by the log
    /// key of its time, which after a rotation is not the current one. The first key that
    /// signed it decides; every other refusal is final.
    ///
    /// # Errors
    /// The [`AdmissionError`]; [`AdmissionError::NotSignedByLog`] when no key signed it.
    pub fn append_bytes_any_key(
        &mut self,
        index: u64,
        data: &[u8],
        log_keys: &[VerifierKey],
    ) -> Result<Candidate, AdmissionError> {
        let mut last = AdmissionError::NotSignedByLog;
        for key in log_keys {
            match self.append_bytes(index, data, key) {
                Err(AdmissionError::NotSignedByLog) => last = AdmissionError::NotSignedByLog,
                other => return other,
            }
        }
        Err(last)
    }

    fn append_candidate(
        &mut self,
        index: u64,
        data: &[u8],
        c: Candidate,
    ) -> Result<Candidate, AdmissionError> {
        match self.admit(index, &c)? {
            Judgement::New => {
                if let Claim::Attestation { .. } = c.claim {
                    self.record_subject(index, SubjectFacts::of(data, &c.claim));
                }
                Ok(c)
            }
            Judgement::Duplicate(j) => Err(AdmissionError::Duplicate(j)),
        }
    }

    /// Records what the log holds at `index` for verifications naming it (attestations only:
    /// any other entry is not a verifiable subject).
    pub fn record_subject(&mut self, index: u64, facts: SubjectFacts) {
        if facts.attestation_id.is_some() {
            self.subjects.insert(index, facts);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::enrolment::tests::{VENDOR, enrolment, log_key, vendor_key};
    use crate::enrolment::{Action, EnrolmentError};
    use crate::keys::{SignerKey, TYPE_ED25519};

    fn vector_envelope() -> Envelope {
        let entry = include_str!("../testdata/dsse_vector_entry.json");
        Envelope::parse_entry(entry.trim_end().as_bytes()).unwrap()
    }

    fn second_key() -> SignerKey {
        SignerKey::from_seed("vendor.example/second", TYPE_ED25519, &[9; 32]).unwrap()
    }

    fn state_with_vendor() -> EnrolmentState {
        let mut s = EnrolmentState::new();
        s.apply(0, &enrolment(VENDOR, &vendor_key(), Action::Enrol))
            .unwrap();
        s
    }

    fn payload() -> Value {
        serde_json::from_slice(&vector_envelope().payload).unwrap()
    }

    /// A version of the vector statement: `issued_at` on day `day` of November 2026.
    fn version(day: u8, supersedes: Option<u64>) -> Value {
        let mut v = payload();
        v["predicate"]["issued_at"] = json!(format!("2026-11-{day:02}T00:00:00Z"));
        match supersedes {
            Some(i) => {
                let id = v["predicate"]["attestation_id"].clone();
                v["predicate"]["supersedes"] = json!({"attestation_id": id, "log_index": i});
            }
            None => {
                v["predicate"].as_object_mut().unwrap().remove("supersedes");
            }
        }
        v
    }

    fn signed(v: &Value, keys: &[&SignerKey]) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE_INTOTO, &serde_json::to_vec(v).unwrap(), keys)
    }

    #[test]
    fn statement_identity_ignores_formatting_and_signatures() {
        let v = payload();
        let compact = serde_json::to_vec(&v).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        let h = statement_hash(&compact).unwrap();
        assert_eq!(statement_hash(&pretty).unwrap(), h);
        // The definition, computed independently.
        let mut pre = STATEMENT_DOMAIN.to_vec();
        pre.extend(serde_json_canonicalizer::to_vec(&v).unwrap());
        assert_eq!(h, Hash::sha256(&pre));
        let a = signed(&v, &[&vendor_key()]);
        let b = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &pretty,
            &[&vendor_key(), &second_key()],
        );
        assert_ne!(a.leaf_hash(), b.leaf_hash());
        assert_eq!(envelope_statement_hash(&a), envelope_statement_hash(&b));
        assert_ne!(
            statement_hash(&serde_json::to_vec(&version(2, None)).unwrap()).unwrap(),
            h
        );
        assert!(statement_hash(br#"{"a":1,"a":2}"#).is_err());
        assert_eq!(
            envelope_statement_hash(&Envelope::sign("text/plain", &compact, &[&vendor_key()])),
            None
        );
    }

    #[test]
    fn a_payload_parsed_once_decides_as_parsing_it_again() {
        let s = state_with_vendor();
        let lk = log_key().verifier();
        let signed = |v: &Value| {
            Envelope::sign(
                PAYLOAD_TYPE_INTOTO,
                &serde_json::to_vec(v).unwrap(),
                &[&vendor_key()],
            )
        };
        let mut invalid = payload();
        invalid["predicate"]["status"] = json!("maybe");
        let mut unknown_vendor = payload();
        unknown_vendor["predicate"]["vendor"]["legal_name"] = json!("Someone Else AG");
        let mut bad_signature = vector_envelope();
        bad_signature.payload = serde_json::to_vec_pretty(&payload()).unwrap();
        let not_json = Envelope::sign(PAYLOAD_TYPE_INTOTO, b"{\"a\":1,\"a\":2}", &[&vendor_key()]);
        for env in [
            vector_envelope(),
            signed(&version(3, None)),
            signed(&invalid),
            signed(&unknown_vendor),
            bad_signature,
            not_json,
        ] {
            let again = verify_entry(&env, &s, &lk);
            let payload = StatementPayload::of_envelope(&env);
            if let Ok(c) = &again {
                assert_eq!(
                    payload.as_ref().map(StatementPayload::hash),
                    Some(c.statement_hash)
                );
            }
            let len = env.canonical_bytes().len();
            assert_eq!(verify_entry_parsed(&env, len, payload, &s, &lk), again);
        }
        // A payload parsed from another envelope is not used: the statement decided is always
        // the one the signatures cover.
        let other = StatementPayload::of_envelope(&signed(&version(3, None)));
        let env = vector_envelope();
        assert_eq!(
            verify_entry_parsed(&env, env.canonical_bytes().len(), other, &s, &lk),
            verify_entry(&env, &s, &lk)
        );
        assert_eq!(
            verify_entry_parsed(&env, env.canonical_bytes().len(), None, &s, &lk)
                .unwrap()
                .statement_hash,
            envelope_statement_hash(&env).unwrap()
        );
    }

    #[test]
    fn signed_statements_follow_the_same_rules_as_dsse() {
        let s = state_with_vendor();
        let lk = log_key().verifier();
        let v = payload();
        let id = v["predicate"]["attestation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        let cose = SignedStatement::sign(&pretty, &vendor_key(), &id);
        let c = verify_cose_entry(&cose, &s).unwrap();
        // One statement, whatever the envelope: the DSSE vector has the same identity.
        let d = verify_entry(&vector_envelope(), &s, &lk).unwrap();
        assert_eq!(c.statement_hash, d.statement_hash);
        assert_eq!(c.claim, d.claim);
        // The logged bytes verify in either format through one entry point.
        assert_eq!(verify_entry_bytes(&cose.to_entry(), &s, &lk).unwrap(), c);
        assert_eq!(
            verify_entry_bytes(&vector_envelope().canonical_bytes(), &s, &lk).unwrap(),
            d
        );
        // CWT claims must match the key and the statement.
        let wrong_sub = SignedStatement::sign(&pretty, &vendor_key(), "another-id");
        assert!(matches!(
            verify_cose_entry(&wrong_sub, &s),
            Err(AdmissionError::CoseClaims(_))
        ));
        // A key that is not enrolled.
        let other = SignedStatement::sign(&pretty, &second_key(), &id);
        assert_eq!(
            verify_cose_entry(&other, &s),
            Err(AdmissionError::NoEnrolledSigner)
        );
        // A revoked key's statement is refused like a DSSE one.
        let mut revoked = s.clone();
        revoked
            .apply(1, &enrolment(VENDOR, &vendor_key(), Action::Revoke))
            .unwrap();
        assert_eq!(
            verify_cose_entry(&cose, &revoked).unwrap_err().status(),
            verify_entry(&vector_envelope(), &revoked, &lk)
                .unwrap_err()
                .status()
        );
        // Entry bytes with a non-empty unprotected header are not a logged statement.
        let ts = crate::scitt::transparent_statement(&cose.to_entry(), b"r", None).unwrap();
        assert!(verify_entry_bytes(&ts, &s, &lk).is_err());
    }

    #[test]
    fn signed_statements_are_judged_under_the_registration_policy_in_force() {
        use crate::registration::{RegistrationPolicy, slot};
        let log = log_key();
        let lk = log.verifier();
        // A log upgraded at size 2: below it, a signed statement may have no policy below it.
        let mut ledger = Ledger::new(0).with_policies_from(2);
        assert_eq!(ledger.policies_from(), 2);
        let enrol = enrolment(VENDOR, &vendor_key(), Action::Enrol)
            .to_envelope(&log)
            .canonical_bytes();
        ledger.append_bytes(0, &enrol, &lk).unwrap();
        let cose = |day: u8, supersedes: Option<u64>| {
            let v = version(day, supersedes);
            let id = v["predicate"]["attestation_id"]
                .as_str()
                .unwrap()
                .to_owned();
            SignedStatement::sign(&serde_json::to_vec(&v).unwrap(), &vendor_key(), &id).to_entry()
        };
        let policy = |sequence: u64, max: u64| {
            RegistrationPolicy {
                sequence,
                max_entry_bytes: max,
                ..RegistrationPolicy::built_in(1)
            }
            .to_envelope(&log)
            .canonical_bytes()
        };
        // No policy logged yet, below `policies_from`: the built-in one.
        let first = cose(1, None);
        ledger.append_bytes(1, &first, &lk).unwrap();
        assert!(ledger.registration_policy().is_none());
        // From `policies_from` on, a signed statement needs a policy entry below it (a new
        // log: from 0).
        let second = cose(2, Some(1));
        let mut new_log = Ledger::new(0);
        new_log.append_bytes(0, &enrol, &lk).unwrap();
        for (l, index, entry) in [(ledger.clone(), 2, &second), (new_log, 1, &first)] {
            match l.clone().append_bytes(index, entry, &lk) {
                Err(AdmissionError::RegistrationPolicy(m)) => {
                    assert!(m.contains("no registration policy entry"), "{m}");
                }
                other => panic!("at {index}: {other:?}"),
            }
        }
        // Policy 1 admits nothing this large.
        let c = ledger.append_bytes(2, &policy(1, 100), &lk).unwrap();
        assert_eq!(c.statement_hash, slot(1));
        assert_eq!(ledger.registration_policy().unwrap().max_entry_bytes, 100);
        match ledger.append_bytes(3, &second, &lk) {
            Err(AdmissionError::RegistrationPolicy(m)) => {
                assert!(m.contains("registration policy 1"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Policies form one line: no gap, no second policy 1.
        assert!(matches!(
            ledger.append_bytes(3, &policy(3, 65_535), &lk),
            Err(AdmissionError::RegistrationPolicy(_))
        ));
        assert_eq!(
            ledger.append_bytes(3, &policy(1, 65_535), &lk),
            Err(AdmissionError::Duplicate(2))
        );
        // Signed by the log key only.
        let forged = RegistrationPolicy::built_in(2)
            .to_envelope(&vendor_key())
            .canonical_bytes();
        assert_eq!(
            ledger.append_bytes(3, &forged, &lk),
            Err(AdmissionError::NotSignedByLog)
        );
        // Policy 2 lifts the limit: the statement is admitted under it.
        ledger.append_bytes(3, &policy(2, 65_535), &lk).unwrap();
        ledger.append_bytes(4, &second, &lk).unwrap();
        // DSSE entries are not signed statements: no registration policy applies to them.
        let mut strict = Ledger::new(0);
        strict.append_bytes(0, &enrol, &lk).unwrap();
        strict.append_bytes(1, &policy(1, 100), &lk).unwrap();
        let dsse = signed(&version(1, None), &[&vendor_key()]).canonical_bytes();
        strict.append_bytes(2, &dsse, &lk).unwrap();
    }

    #[test]
    fn verifies_the_vector_attestation() {
        let s = state_with_vendor();
        let c = verify_entry(&vector_envelope(), &s, &log_key().verifier()).unwrap();
        let st = c.statement().unwrap();
        assert_eq!(st.vendor_legal_name(), VENDOR);
        assert_eq!(
            c.statement_hash,
            statement_hash(&vector_envelope().payload).unwrap()
        );
        let Claim::Attestation { signers, .. } = &c.claim else {
            panic!("classified as enrolment")
        };
        assert_eq!(signers, &[vendor_key().verifier()]);
        // Extra signatures with unknown keyids are ignored.
        let mut env = vector_envelope();
        env.signatures.push(crate::dsse::DsseSignature {
            keyid: "00000000".into(),
            sig: vec![0; 64],
        });
        assert!(verify_entry(&env, &s, &log_key().verifier()).is_ok());
    }

    #[test]
    fn junk_beside_a_good_signature_is_refused() {
        let mut s = state_with_vendor();
        s.apply(1, &enrolment(VENDOR, &second_key(), Action::Enrol))
            .unwrap();
        let mut env = signed(&payload(), &[&vendor_key(), &second_key()]);
        assert!(verify_entry(&env, &s, &log_key().verifier()).is_ok());
        let junk = env
            .signatures
            .iter()
            .position(|x| x.keyid == second_key().verifier().key_id_hex())
            .unwrap();
        env.signatures[junk].sig[0] ^= 1;
        let e = verify_entry(&env, &s, &log_key().verifier()).unwrap_err();
        assert_eq!(e, AdmissionError::Signature { index: junk });
        assert_eq!(e.field(), Some(format!("signatures[{junk}].sig")));
        assert_eq!(e.status(), 422);
    }

    #[test]
    fn rejects_attestations() {
        let log = log_key().verifier();
        let env = vector_envelope();

        let empty = EnrolmentState::new();
        let e = verify_entry(&env, &empty, &log).unwrap_err();
        assert_eq!(e, AdmissionError::UnknownVendor(VENDOR.into()));
        assert_eq!(e.field().as_deref(), Some("predicate.vendor.legal_name"));

        // The vendor exists but the vector key belongs to someone else.
        let mut s = EnrolmentState::new();
        let other = SignerKey::from_seed("av.example/k", TYPE_ED25519, &[8; 32]).unwrap();
        s.apply(0, &enrolment(VENDOR, &other, Action::Enrol))
            .unwrap();
        s.apply(1, &enrolment("Impostor AG", &vendor_key(), Action::Enrol))
            .unwrap();
        let e = verify_entry(&env, &s, &log).unwrap_err();
        assert!(
            matches!(e, AdmissionError::Key(EnrolmentError::WrongVendor { .. })),
            "{e}"
        );
        assert_eq!(e.status(), 422);

        let mut s = state_with_vendor();
        s.apply(4, &enrolment(VENDOR, &vendor_key(), Action::Revoke))
            .unwrap();
        let e = verify_entry(&env, &s, &log).unwrap_err();
        assert_eq!(e, AdmissionError::Key(EnrolmentError::Revoked { index: 4 }));

        let s = state_with_vendor();
        let mut bad = env.clone();
        bad.signatures[0].sig[0] ^= 1;
        assert_eq!(
            verify_entry(&bad, &s, &log).unwrap_err(),
            AdmissionError::Signature { index: 0 }
        );
        let mut unknown = env.clone();
        unknown.signatures[0].keyid = "00000000".into();
        assert_eq!(
            verify_entry(&unknown, &s, &log).unwrap_err(),
            AdmissionError::NoEnrolledSigner
        );

        let other_type = Envelope::sign("text/plain", b"hi", &[&vendor_key()]);
        let e = verify_entry(&other_type, &s, &log).unwrap_err();
        assert_eq!(e, AdmissionError::PayloadType("text/plain".into()));
        assert_eq!(e.field().as_deref(), Some("payloadType"));

        let mut v = payload();
        v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] = json!(["RU"]);
        let e = verify_entry(&signed(&v, &[&vendor_key()]), &s, &log).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(
            e.field().as_deref(),
            Some("predicate.data_flows[0].remote_access_jurisdictions[0]")
        );

        let huge = Envelope::sign(PAYLOAD_TYPE_INTOTO, &vec![b' '; 70_000], &[&vendor_key()]);
        assert_eq!(verify_entry(&huge, &s, &log).unwrap_err().status(), 413);
    }

    #[test]
    fn verifies_and_judges_enrolments() {
        let s = state_with_vendor();
        let log = log_key();
        let b = SignerKey::from_seed("other.example/k", TYPE_ED25519, &[5; 32]).unwrap();
        let ok = enrolment("Other AG", &b, Action::Enrol).to_envelope(&log);
        let c = verify_entry(&ok, &s, &log.verifier()).unwrap();
        assert_eq!(c.enrolment().unwrap().vendor, "Other AG");
        // Signed by someone other than the log.
        let forged = enrolment("Other AG", &b, Action::Enrol).to_envelope(&vendor_key());
        assert_eq!(
            verify_entry(&forged, &s, &log.verifier()).unwrap_err(),
            AdmissionError::NotSignedByLog
        );
        // Re-enrolling the vector key for another vendor: 409 when judged.
        let conflict = enrolment("Other AG", &vendor_key(), Action::Enrol).to_envelope(&log);
        let c = verify_entry(&conflict, &s, &log.verifier()).unwrap();
        let ledger = Ledger::with_history(0, s.clone(), HashMap::new(), HashMap::new());
        let e = ledger.judge(1, &c).unwrap_err();
        assert_eq!(e.status(), 409, "{e}");
        // Malformed payload, validly signed: 422.
        let junk = Envelope::sign(PAYLOAD_TYPE_ENROLMENT, b"{}", &[&log]);
        let e = verify_entry(&junk, &s, &log.verifier()).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(e.field().as_deref(), Some("payload.vendor"));
        let junk = Envelope::sign(PAYLOAD_TYPE_ENROLMENT, b"[]", &[&log]);
        let e = verify_entry(&junk, &s, &log.verifier()).unwrap_err();
        assert_eq!(e.field().as_deref(), Some("payload"));
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::new(0);
        let e = enrolment(VENDOR, &vendor_key(), Action::Enrol).to_envelope(&log_key());
        l.append(0, &e, &log_key().verifier()).unwrap();
        l
    }

    #[test]
    fn one_statement_one_entry() {
        let log = log_key().verifier();
        let mut l = ledger();
        let v = version(1, None);
        let first = signed(&v, &[&vendor_key()]);
        l.append(1, &first, &log).unwrap();
        // The same statement re-signed, pretty-printed or with a second signature: the entry
        // at index 1.
        l.append(
            2,
            &enrolment(VENDOR, &second_key(), Action::Enrol).to_envelope(&log_key()),
            &log,
        )
        .unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        for env in [
            signed(&v, &[&second_key()]),
            signed(&v, &[&vendor_key(), &second_key()]),
            Envelope::sign(PAYLOAD_TYPE_INTOTO, &pretty, &[&vendor_key()]),
        ] {
            let c = verify_entry(&env, l.enrolment(), &log).unwrap();
            assert_eq!(l.judge(3, &c).unwrap(), Judgement::Duplicate(1));
            assert_eq!(
                l.append(3, &env, &log).unwrap_err(),
                AdmissionError::Duplicate(1)
            );
        }
        // A submission of a logged statement is answered with it before anything is verified:
        // even with a signature that would not verify.
        let mut junk = signed(&v, &[&second_key()]);
        junk.signatures[0].sig[0] ^= 1;
        assert!(verify_entry(&junk, l.enrolment(), &log).is_err());
        assert_eq!(l.submit(3, &junk, &log).unwrap(), Submission::Duplicate(1));
        // Enrolments too.
        let again = enrolment(VENDOR, &second_key(), Action::Enrol).to_envelope(&log_key());
        let c = verify_entry(&again, l.enrolment(), &log).unwrap();
        assert_eq!(l.judge(3, &c).unwrap(), Judgement::Duplicate(2));
    }

    #[test]
    fn the_version_chain() {
        let log = log_key().verifier();
        let mut l = ledger();
        l.append(1, &signed(&version(1, None), &[&vendor_key()]), &log)
            .unwrap();
        let chain_err = |l: &mut Ledger, index, v: &Value| match l.append(
            index,
            &signed(v, &[&vendor_key()]),
            &log,
        ) {
            Err(AdmissionError::VersionChain { field, head, .. }) => (field, head),
            other => panic!("{other:?}"),
        };
        // A second "first" version, one naming no head, a stale head, an earlier issued_at.
        let mut second_first = version(2, None);
        second_first["predicate"]["status"] = json!("withdrawn");
        assert_eq!(
            chain_err(&mut l, 2, &second_first),
            ("predicate.supersedes", Some(1))
        );
        assert_eq!(
            chain_err(&mut l, 2, &version(2, Some(0))),
            ("predicate.supersedes.log_index", Some(1))
        );
        assert_eq!(
            chain_err(&mut l, 2, &version(1, Some(1))),
            ("predicate.issued_at", Some(1))
        );
        l.append(2, &signed(&version(2, Some(1)), &[&vendor_key()]), &log)
            .unwrap();
        // A fork: a second version superseding 1 is refused, naming the head 2.
        let mut fork = version(3, Some(1));
        fork["predicate"]["status"] = json!("revoked");
        assert_eq!(
            chain_err(&mut l, 3, &fork),
            ("predicate.supersedes.log_index", Some(2))
        );
        // Withdrawal is a version like any other.
        let mut withdrawn = version(3, Some(2));
        withdrawn["predicate"]["status"] = json!("withdrawn");
        l.append(3, &signed(&withdrawn, &[&vendor_key()]), &log)
            .unwrap();
        let id = payload()["predicate"]["attestation_id"].clone();
        assert_eq!(l.chain(id.as_str().unwrap()).unwrap().head.index, 3);
        // A first version naming supersedes is refused.
        let mut fresh = version(1, Some(0));
        fresh["predicate"]["attestation_id"] = json!("00000000-0000-4000-8000-000000000001");
        fresh["predicate"]["supersedes"]["attestation_id"] =
            json!("00000000-0000-4000-8000-000000000001");
        assert_eq!(
            chain_err(&mut l, 4, &fresh),
            ("predicate.supersedes.log_index", None)
        );
        // Another vendor may not use the id.
        let impostor = SignerKey::from_seed("impostor.example/k", TYPE_ED25519, &[7; 32]).unwrap();
        l.append(
            4,
            &enrolment("Impostor AG", &impostor, Action::Enrol).to_envelope(&log_key()),
            &log,
        )
        .unwrap();
        let mut stolen = version(4, Some(3));
        stolen["predicate"]["vendor"]["legal_name"] = json!("Impostor AG");
        let e = l
            .append(5, &signed(&stolen, &[&impostor]), &log)
            .unwrap_err();
        assert_eq!(e.field().as_deref(), Some("predicate.attestation_id"));
    }

    #[test]
    fn entries_before_claims_from_are_judged_by_the_old_rules() {
        let log = log_key().verifier();
        let mut l = Ledger::new(5);
        let e = enrolment(VENDOR, &vendor_key(), Action::Enrol).to_envelope(&log_key());
        l.append(0, &e, &log).unwrap();
        let v1 = signed(&version(1, None), &[&vendor_key()]);
        l.append(1, &v1, &log).unwrap();
        l.append(2, &signed(&version(2, Some(1)), &[&vendor_key()]), &log)
            .unwrap();
        // Before the upgrade: a replay of v1 and a version naming no supersedes were logged.
        l.append(3, &v1, &log).unwrap();
        let id = payload()["predicate"]["attestation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            l.chain(&id).unwrap().head.index,
            2,
            "the replay is not the head"
        );
        l.append(4, &signed(&version(3, None), &[&vendor_key()]), &log)
            .unwrap();
        assert_eq!(l.chain(&id).unwrap().head.index, 4);
        // supersedes of an unknown index was refused before too.
        let e = l
            .append(4, &signed(&version(5, Some(0)), &[&vendor_key()]), &log)
            .unwrap_err();
        assert_eq!(e.field().as_deref(), Some("predicate.supersedes.log_index"));
        // From index 5: the statement of index 1 is a duplicate, and the chain rule holds.
        assert_eq!(
            l.append(5, &v1, &log).unwrap_err(),
            AdmissionError::Duplicate(1)
        );
        let e = l
            .append(5, &signed(&version(6, Some(2)), &[&vendor_key()]), &log)
            .unwrap_err();
        assert!(
            matches!(e, AdmissionError::VersionChain { head: Some(4), .. }),
            "{e}"
        );
        l.append(5, &signed(&version(6, Some(4)), &[&vendor_key()]), &log)
            .unwrap();
    }

    #[test]
    fn following_a_chain_is_not_taking_the_highest_index() {
        let v = |index, supersedes, day: u8| Version {
            index,
            vendor: VENDOR.into(),
            supersedes,
            issued_at: format!("2026-11-{day:02}T00:00:00Z"),
        };
        // 1 → 4 → 6; 5 supersedes 1 again (a stale fork), 7 replays 4.
        let c = Chain::follow([
            v(1, None, 1),
            v(4, Some(1), 2),
            v(5, Some(1), 3),
            v(6, Some(4), 4),
            v(7, Some(1), 2),
        ])
        .unwrap();
        assert_eq!(c.head.index, 6);
        assert_eq!(c.indexes, [1, 4, 5, 6, 7]);
        assert!(Chain::follow(Vec::new()).is_none());
        let mut other = v(8, Some(6), 9);
        other.vendor = "Other AG".into();
        assert!(!c.extends(&other));
    }

    #[test]
    fn revocations_and_receipts_are_decided_by_index() {
        let mut s = state_with_vendor();
        s.apply(5, &enrolment(VENDOR, &vendor_key(), Action::Revoke))
            .unwrap();
        let env = vector_envelope();
        assert_eq!(authorising_enrolment(&env, &s, 3).unwrap().enrolled_at, 0);
        assert!(authorising_enrolment(&env, &s, 5).is_none());
        assert!(authorising_enrolment(&env, &s, 0).is_none());
        let k = [vendor_key().verifier()];
        assert_eq!(
            authorising_enrolment_of(&s, 4, VENDOR, KeyRole::Vendor, &k)
                .unwrap()
                .enrolled_at,
            0
        );
        assert!(authorising_enrolment_of(&s, 4, "Other AG", KeyRole::Vendor, &k).is_none());
        // The sequencer's re-check: verified before the revocation, judged after it.
        let c = Candidate {
            statement_hash: Hash::sha256(b"x"),
            claim: Claim::Attestation {
                statement: Box::new(crate::predicate::parse_statement(&env.payload).unwrap()),
                signers: k.to_vec(),
            },
        };
        let l = Ledger::with_history(0, s, HashMap::new(), HashMap::new());
        assert_eq!(
            l.judge(6, &c).unwrap_err(),
            AdmissionError::Key(EnrolmentError::Revoked { index: 5 })
        );
    }

    const LAB: &str = "Example Test Lab GmbH";

    fn lab_key() -> SignerKey {
        SignerKey::from_seed("lab.example/verify", TYPE_ED25519, &[7; 32]).unwrap()
    }

    /// A verification of the attestation `entry` logged at `index`, by `verifier`.
    fn verification_of(index: u64, entry: &[u8], verifier: &str, day: u8) -> Value {
        let mut v = crate::verification::template();
        let claim = Envelope::parse_entry(entry).unwrap();
        let st: Value = serde_json::from_slice(&claim.payload).unwrap();
        v["subject"][0]["name"] = json!(crate::verification::subject_name(index));
        v["subject"][0]["digest"]["sha256"] = json!(Hash::sha256(entry).to_hex());
        v["predicate"]["subject_entry"] = json!({
            "log_index": index,
            "leaf_hash": Hash::leaf(entry).to_hex(),
            "attestation_id": st["predicate"]["attestation_id"],
        });
        v["predicate"]["verifier"]["legal_name"] = json!(verifier);
        v["predicate"]["issued_at"] = json!(format!("2026-12-{day:02}T00:00:00Z"));
        v
    }

    #[test]
    fn key_roles_and_verifications_through_the_ledger() {
        let lk = log_key();
        let lv = lk.verifier();
        let mut ledger = Ledger::new(0);
        let mut lab = enrolment(LAB, &lab_key(), Action::Enrol);
        lab.role = KeyRole::Verifier;
        // The role is in the payload of a verifier's enrolment only.
        assert_eq!(lab.to_value()["role"], "verifier");
        assert!(
            enrolment(VENDOR, &vendor_key(), Action::Enrol)
                .to_value()
                .get("role")
                .is_none()
        );
        assert_eq!(Enrolment::parse(&lab.canonical_bytes()).unwrap(), lab);
        ledger
            .append(
                0,
                &enrolment(VENDOR, &vendor_key(), Action::Enrol).to_envelope(&lk),
                &lv,
            )
            .unwrap();
        ledger.append(1, &lab.to_envelope(&lk), &lv).unwrap();
        let claim = signed(&version(1, None), &[&vendor_key()]);
        let claim_entry = claim.canonical_bytes();
        ledger.append(2, &claim, &lv).unwrap();

        // A verifier key signs verifications...
        let first = verification_of(2, &claim_entry, LAB, 1);
        let c = ledger
            .append(3, &signed(&first, &[&lab_key()]), &lv)
            .unwrap();
        assert_eq!(
            c.verification().unwrap().predicate.subject_entry.log_index,
            2
        );
        // ...and never attestations.
        let mut by_lab = version(5, None);
        by_lab["predicate"]["vendor"]["legal_name"] = json!(LAB);
        by_lab["predicate"]["attestation_id"] = json!("11111111-1111-4111-8111-111111111111");
        let e = ledger
            .submit(4, &signed(&by_lab, &[&lab_key()]), &lv)
            .unwrap_err();
        assert!(
            matches!(
                e,
                AdmissionError::Key(EnrolmentError::WrongRole {
                    enrolled: KeyRole::Verifier,
                    ..
                })
            ),
            "{e}"
        );
        assert_eq!(e.status(), 422);
        assert_eq!(
            e.to_string(),
            "signing key is enrolled as a verifier key, which never signs attestations"
        );
        // A vendor key never signs verifications.
        let by_vendor = verification_of(2, &claim_entry, VENDOR, 2);
        let e = ledger
            .submit(4, &signed(&by_vendor, &[&vendor_key()]), &lv)
            .unwrap_err();
        assert!(
            matches!(
                e,
                AdmissionError::Key(EnrolmentError::WrongRole {
                    enrolled: KeyRole::Vendor,
                    ..
                })
            ),
            "{e}"
        );
        // The subject must be the attestation it names.
        let submit = |v: &Value| {
            ledger
                .submit(4, &signed(v, &[&lab_key()]), &lv)
                .unwrap_err()
        };
        let mut not_logged = verification_of(2, &claim_entry, LAB, 2);
        not_logged["subject"][0]["name"] = json!("log-entry/99");
        not_logged["predicate"]["subject_entry"]["log_index"] = json!(99);
        let e = submit(&not_logged);
        assert_eq!(
            e.to_string(),
            "predicate.subject_entry.log_index: index 99 is not a data-flow attestation in this log"
        );
        assert_eq!(e.status(), 422);
        let mut enrolment_entry = verification_of(2, &claim_entry, LAB, 2);
        enrolment_entry["subject"][0]["name"] = json!("log-entry/1");
        enrolment_entry["predicate"]["subject_entry"]["log_index"] = json!(1);
        assert!(
            submit(&enrolment_entry)
                .to_string()
                .contains("index 1 is not a data-flow attestation")
        );
        let mut wrong_leaf = verification_of(2, &claim_entry, LAB, 2);
        wrong_leaf["predicate"]["subject_entry"]["leaf_hash"] = json!("ab".repeat(32));
        assert_eq!(
            submit(&wrong_leaf).field().as_deref(),
            Some("predicate.subject_entry.leaf_hash")
        );
        let mut wrong_digest = verification_of(2, &claim_entry, LAB, 2);
        wrong_digest["subject"][0]["digest"]["sha256"] = json!("ab".repeat(32));
        assert_eq!(
            submit(&wrong_digest).field().as_deref(),
            Some("subject[0].digest.sha256")
        );
        let mut wrong_id = verification_of(2, &claim_entry, LAB, 2);
        wrong_id["predicate"]["subject_entry"]["attestation_id"] =
            json!("22222222-2222-4222-8222-222222222222");
        assert_eq!(
            submit(&wrong_id).field().as_deref(),
            Some("predicate.subject_entry.attestation_id")
        );
        // A finding indexes the subject's data flows: one past the last is refused.
        let flows = SubjectFacts::data_flows_of_entry(&claim_entry).unwrap();
        assert!(flows >= 1);
        let mut no_such_flow = verification_of(2, &claim_entry, LAB, 2);
        no_such_flow["predicate"]["findings"][0]["data_flow"] = json!(flows);
        let e = submit(&no_such_flow);
        assert_eq!(e.status(), 422);
        assert_eq!(
            e.field().as_deref(),
            Some("predicate.findings[0].data_flow"),
            "{e}"
        );
        assert!(
            e.to_string().contains(&format!("which declares {flows}")),
            "{e}"
        );
        assert_eq!(SubjectFacts::data_flows_of_entry(b"not an entry"), None);
        // Versions per verifier and subject: a second one names the first.
        let e = submit(&verification_of(2, &claim_entry, LAB, 2));
        assert!(
            matches!(e, AdmissionError::VersionChain { head: Some(3), .. }),
            "{e}"
        );
        let mut second = verification_of(2, &claim_entry, LAB, 2);
        second["predicate"]["supersedes"] = json!({"log_index": 3});
        second["predicate"]["verdict"] = json!("contradicted");
        second["predicate"]["findings"][0]["result"] = json!("contradicted");
        ledger
            .append(4, &signed(&second, &[&lab_key()]), &lv)
            .unwrap();
        assert_eq!(
            ledger
                .chains
                .get(&verification_chain_key(LAB, 2))
                .unwrap()
                .head
                .index,
            4
        );
        let mut stale = second.clone();
        stale["predicate"]["issued_at"] = json!("2026-12-03T00:00:00Z");
        let e = ledger
            .submit(5, &signed(&stale, &[&lab_key()]), &lv)
            .unwrap_err();
        assert!(e.to_string().contains("the current one is index 4"), "{e}");
    }

    #[test]
    fn enrolment_roles_are_written_once() {
        let mut v = enrolment(LAB, &lab_key(), Action::Enrol).to_value();
        v["role"] = json!("vendor");
        let e = Enrolment::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .contains("a vendor key's enrolment names no role"),
            "{e}"
        );
        let mut r = enrolment(LAB, &lab_key(), Action::Revoke).to_value();
        r["role"] = json!("verifier");
        let e = Enrolment::parse(&serde_json::to_vec(&r).unwrap()).unwrap_err();
        assert!(e.to_string().contains("a revocation names no role"), "{e}");
    }
}
