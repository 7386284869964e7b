//! c2sp.org/tlog-policy: which logs and witnesses to trust, and the witness quorum.
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> <all|any|k> <name>...
//! quorum <name|none>
//! ```
//!
//! A group or the quorum may only name witnesses and groups defined on earlier lines, which
//! also rules out cycles. Log keys are Ed25519 (type `0x01`) keys named after the log origin;
//! witness keys are cosignature/v1 (type `0x04`) keys.
//!
//! <https://c2sp.org/tlog-policy>

use std::collections::{BTreeMap, BTreeSet};

use crate::checkpoint::{CheckpointError, SignedCheckpoint, parse_decimal};
use crate::cosignature::Cosignature;
use crate::keys::{KeyError, TYPE_COSIGNATURE_V1, TYPE_ED25519, VerifierKey};

/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_SIZE: usize = 256 * 1024;
/// Most logs, witnesses and groups (each) in one policy; the spec recommends supporting 32.
pub const MAX_ENTRIES: usize = 256;

/// Errors parsing a policy or verifying a checkpoint with one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy is larger than [`MAX_POLICY_SIZE`] or has too many entries.
    #[error("policy is too large")]
    TooLarge,
    /// A character that the policy format does not allow.
    #[error("line {line}: invalid character")]
    Character {
        /// 1-based line number.
        line: usize,
    },
    /// A line that does not follow the grammar.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A vkey that does not parse.
    #[error("line {line}: invalid key: {source}")]
    Key {
        /// 1-based line number.
        line: usize,
        /// The key error.
        source: KeyError,
    },
    /// A name used before it was defined (or never defined).
    #[error("line {line}: unknown name {name}")]
    UnknownName {
        /// 1-based line number.
        line: usize,
        /// The name.
        name: String,
    },
    /// A name defined twice, `none` defined, or a member listed twice in one group.
    #[error("line {line}: duplicate name {name}")]
    DuplicateName {
        /// 1-based line number.
        line: usize,
        /// The name.
        name: String,
    },
    /// Two logs, or two witnesses, with the same Ed25519 public key.
    #[error("line {line}: duplicate public key")]
    DuplicateKey {
        /// 1-based line number.
        line: usize,
    },
    /// No quorum line, or more than one.
    #[error("policy must have exactly one quorum line")]
    Quorum,
    /// The checkpoint's log signature does not verify against the policy's logs.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The verified cosignatures do not satisfy the quorum.
    #[error("witness quorum not satisfied")]
    QuorumNotMet,
}

/// A `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The log key (type `0x01`, named after the origin).
    pub key: VerifierKey,
    /// Optional URL.
    pub url: Option<String>,
}

/// A `witness` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The name used in groups and the quorum (meaningful only inside the policy).
    pub name: String,
    /// The witness key (type `0x04`).
    pub key: VerifierKey,
    /// Optional URL (the witness's submission prefix).
    pub url: Option<String>,
}

/// A group threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Every member.
    All,
    /// At least one member.
    Any,
    /// At least k members, 1 ≤ k ≤ n.
    AtLeast(usize),
}

/// A `group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    /// Group name.
    pub name: String,
    /// Threshold.
    pub threshold: Threshold,
    /// Member witness or group names, each defined earlier, no repeats.
    pub members: Vec<String>,
}

impl PolicyGroup {
    /// The number of members that must have witnessed.
    #[must_use]
    pub fn required(&self) -> usize {
        match self.threshold {
            Threshold::All => self.members.len(),
            Threshold::Any => 1,
            Threshold::AtLeast(k) => k,
        }
    }
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    /// `None` = `quorum none`.
    quorum: Option<String>,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl Policy {
    /// Parses and validates a policy file.
    ///
    /// # Errors
    /// [`PolicyError`] naming the line and the problem.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge);
        }
        let mut p = Policy {
            logs: Vec::new(),
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: None,
        };
        let mut defined: BTreeSet<String> = BTreeSet::new();
        let mut have_quorum = false;
        let body = text.strip_suffix('\n').unwrap_or(text);
        for (i, raw) in body.split('\n').enumerate() {
            let line = i + 1;
            if raw
                .chars()
                .any(|c| (c.is_ascii_control() && c != '\t') || c == '\u{7f}')
            {
                return Err(PolicyError::Character { line });
            }
            let trimmed = raw.trim_matches(is_ws);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let syntax = |reason| PolicyError::Syntax { line, reason };
            let key = |s: &str, t: u8| -> Result<VerifierKey, PolicyError> {
                let k =
                    VerifierKey::parse(s).map_err(|source| PolicyError::Key { line, source })?;
                if k.key_type() == t {
                    Ok(k)
                } else {
                    Err(PolicyError::Key {
                        line,
                        source: KeyError::Type(k.key_type()),
                    })
                }
            };
            let words: Vec<&str> = trimmed.split(is_ws).filter(|w| !w.is_empty()).collect();
            match words.as_slice() {
                ["log", vkey, rest @ ..] => {
                    let url = match rest {
                        [] => None,
                        [u] => Some((*u).to_owned()),
                        _ => return Err(syntax("log line: log <vkey> [<url>]")),
                    };
                    let key = key(vkey, TYPE_ED25519)?;
                    if p.logs
                        .iter()
                        .any(|l| l.key.public_key() == key.public_key())
                    {
                        return Err(PolicyError::DuplicateKey { line });
                    }
                    if p.logs.len() == MAX_ENTRIES {
                        return Err(PolicyError::TooLarge);
                    }
                    p.logs.push(PolicyLog { key, url });
                }
                ["witness", name, vkey, rest @ ..] => {
                    let url = match rest {
                        [] => None,
                        [u] => Some((*u).to_owned()),
                        _ => return Err(syntax("witness line: witness <name> <vkey> [<url>]")),
                    };
                    let key = key(vkey, TYPE_COSIGNATURE_V1)?;
                    define(&mut defined, name, line)?;
                    if p.witnesses
                        .iter()
                        .any(|w| w.key.public_key() == key.public_key())
                    {
                        return Err(PolicyError::DuplicateKey { line });
                    }
                    if p.witnesses.len() == MAX_ENTRIES {
                        return Err(PolicyError::TooLarge);
                    }
                    p.witnesses.push(PolicyWitness {
                        name: (*name).to_owned(),
                        key,
                        url,
                    });
                }
                ["group", name, threshold, members @ ..] => {
                    if members.is_empty() {
                        return Err(syntax("group needs at least one member"));
                    }
                    let threshold = match *threshold {
                        "all" => Threshold::All,
                        "any" => Threshold::Any,
                        k => {
                            let k = parse_decimal(k)
                                .and_then(|k| usize::try_from(k).ok())
                                .ok_or(syntax("group threshold must be all, any or a number"))?;
                            if k == 0 || k > members.len() {
                                return Err(syntax("group threshold must be 1 <= k <= members"));
                            }
                            Threshold::AtLeast(k)
                        }
                    };
                    let mut seen = BTreeSet::new();
                    for m in members {
                        if !defined.contains(*m) {
                            return Err(PolicyError::UnknownName {
                                line,
                                name: (*m).to_owned(),
                            });
                        }
                        if !seen.insert(*m) {
                            return Err(PolicyError::DuplicateName {
                                line,
                                name: (*m).to_owned(),
                            });
                        }
                    }
                    define(&mut defined, name, line)?;
                    if p.groups.len() == MAX_ENTRIES {
                        return Err(PolicyError::TooLarge);
                    }
                    p.groups.push(PolicyGroup {
                        name: (*name).to_owned(),
                        threshold,
                        members: members.iter().map(|m| (*m).to_owned()).collect(),
                    });
                }
                ["quorum", name] => {
                    if have_quorum {
                        return Err(PolicyError::Quorum);
                    }
                    have_quorum = true;
                    if *name != "none" {
                        if !defined.contains(*name) {
                            return Err(PolicyError::UnknownName {
                                line,
                                name: (*name).to_owned(),
                            });
                        }
                        p.quorum = Some((*name).to_owned());
                    }
                }
                _ => return Err(syntax("expected a log, witness, group or quorum line")),
            }
        }
        if !have_quorum {
            return Err(PolicyError::Quorum);
        }
        Ok(p)
    }

    /// The policy in canonical text form: logs, witnesses, groups (in their order), quorum.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let url = |u: &Option<String>| u.as_ref().map(|u| format!(" {u}")).unwrap_or_default();
        for l in &self.logs {
            s.push_str(&format!("log {}{}\n", l.key, url(&l.url)));
        }
        for w in &self.witnesses {
            s.push_str(&format!("witness {} {}{}\n", w.name, w.key, url(&w.url)));
        }
        for g in &self.groups {
            let t = match g.threshold {
                Threshold::All => "all".to_owned(),
                Threshold::Any => "any".to_owned(),
                Threshold::AtLeast(k) => k.to_string(),
            };
            s.push_str(&format!("group {} {t} {}\n", g.name, g.members.join(" ")));
        }
        s.push_str(&format!(
            "quorum {}\n",
            self.quorum.as_deref().unwrap_or("none")
        ));
        s
    }

    /// The `log` lines.
    #[must_use]
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }
    /// The `witness` lines.
    #[must_use]
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }
    /// The `group` lines.
    #[must_use]
    pub fn groups(&self) -> &[PolicyGroup] {
        &self.groups
    }
    /// The quorum name, or `None` for `quorum none`.
    #[must_use]
    pub fn quorum(&self) -> Option<&str> {
        self.quorum.as_deref()
    }

    /// The log keys (type `0x01`).
    #[must_use]
    pub fn log_keys(&self) -> Vec<VerifierKey> {
        self.logs.iter().map(|l| l.key.clone()).collect()
    }

    /// The witness keys (type `0x04`).
    #[must_use]
    pub fn witness_keys(&self) -> Vec<VerifierKey> {
        self.witnesses.iter().map(|w| w.key.clone()).collect()
    }

    /// Whether the witnesses named `verified` (policy witness names, not key names) satisfy
    /// the quorum. `quorum none` is always satisfied.
    #[must_use]
    pub fn satisfied(&self, verified: &BTreeSet<String>) -> bool {
        let Some(q) = &self.quorum else {
            return true;
        };
        let mut ok: BTreeMap<&str, bool> = self
            .witnesses
            .iter()
            .map(|w| (w.name.as_str(), verified.contains(&w.name)))
            .collect();
        // Groups only name earlier definitions, so one pass in order evaluates them all.
        for g in &self.groups {
            let n = g
                .members
                .iter()
                .filter(|m| ok.get(m.as_str()).copied().unwrap_or(false))
                .count();
            ok.insert(&g.name, n >= g.required());
        }
        ok.get(q.as_str()).copied().unwrap_or(false)
    }
}

fn define(defined: &mut BTreeSet<String>, name: &str, line: usize) -> Result<(), PolicyError> {
    if name == "none" || !defined.insert(name.to_owned()) {
        return Err(PolicyError::DuplicateName {
            line,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A checkpoint verified against a policy: signed by one of its logs, cosigned by a quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    checkpoint: SignedCheckpoint,
    witnesses: BTreeSet<String>,
    cosignatures: Vec<Cosignature>,
}

impl WitnessedCheckpoint {
    /// The log-verified checkpoint.
    #[must_use]
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }
    /// Policy names of the witnesses whose cosignatures verified.
    #[must_use]
    pub fn witnesses(&self) -> &BTreeSet<String> {
        &self.witnesses
    }
    /// The verified cosignatures (key names and timestamps).
    #[must_use]
    pub fn cosignatures(&self) -> &[Cosignature] {
        &self.cosignatures
    }
}

/// Verifies a signed checkpoint against `policy`: a verified signature by a policy log key
/// named after the origin, and cosignatures by policy witnesses that satisfy the quorum.
///
/// # Errors
/// [`PolicyError::Checkpoint`] if the note is malformed, the origin is not a policy log, the
/// log signature does not verify or a known witness cosignature fails;
/// [`PolicyError::QuorumNotMet`] if too few witnesses cosigned.
pub fn verify_checkpoint_with_policy(
    policy: &Policy,
    note: &[u8],
) -> Result<WitnessedCheckpoint, PolicyError> {
    let checkpoint = SignedCheckpoint::open(note, &policy.log_keys())?;
    witnessed(policy, checkpoint)
}

/// Checks the cosignatures of a checkpoint whose log signature was already verified (by a key
/// the caller trusts, which need not be in `policy`) against the policy's witnesses and quorum.
///
/// # Errors
/// [`PolicyError::Checkpoint`] if a known witness cosignature fails;
/// [`PolicyError::QuorumNotMet`] if too few witnesses cosigned.
pub fn witnessed(
    policy: &Policy,
    checkpoint: SignedCheckpoint,
) -> Result<WitnessedCheckpoint, PolicyError> {
    let cosignatures = checkpoint.verify_cosignatures(&policy.witness_keys())?;
    let witnesses: BTreeSet<String> = policy
        .witnesses
        .iter()
        .filter(|w| {
            cosignatures
                .iter()
                .any(|c| c.name == w.key.name() && c.key_id == w.key.key_id())
        })
        .map(|w| w.name.clone())
        .collect();
    if !policy.satisfied(&witnesses) {
        return Err(PolicyError::QuorumNotMet);
    }
    Ok(WitnessedCheckpoint {
        checkpoint,
        witnesses,
        cosignatures,
    })
}

/// Fuzz and corpus check: if `data` parses as a policy, its canonical text parses to the same
/// policy and is a fixed point of serialization.
///
/// # Panics
/// On a round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Policy::parse(s) {
        let text = p.to_text();
        let again = Policy::parse(&text);
        assert_eq!(again.as_ref(), Ok(&p), "policy does not round-trip");
        assert_eq!(again.map(|p| p.to_text()).as_deref(), Ok(text.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::cosign;
    use crate::hash::Hash;
    use crate::keys::SignerKey;

    fn log() -> SignerKey {
        SignerKey::from_seed("log.test/p", TYPE_ED25519, &[0x51; 32]).unwrap()
    }
    fn w(i: u8) -> SignerKey {
        SignerKey::from_seed(&format!("w{i}.test"), TYPE_COSIGNATURE_V1, &[i; 32]).unwrap()
    }

    /// The spec's two-level example with real keys.
    fn example() -> String {
        format!(
            "# example policy\nlog {} https://log.test/p\n\n  witness X1 {}\nwitness X2\t{} https://x2.test\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\nwitness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
            log().verifier(),
            w(1).verifier(),
            w(2).verifier(),
            w(3).verifier(),
            w(4).verifier(),
            w(5).verifier(),
            w(6).verifier(),
        )
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_and_round_trips_spec_example() {
        let p = Policy::parse(&example()).unwrap();
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.logs()[0].url.as_deref(), Some("https://log.test/p"));
        assert_eq!(p.witnesses().len(), 6);
        assert_eq!(p.witnesses()[1].url.as_deref(), Some("https://x2.test"));
        assert_eq!(p.groups().len(), 3);
        assert_eq!(p.groups()[0].threshold, Threshold::AtLeast(2));
        assert_eq!(p.quorum(), Some("X-and-Y"));
        assert_eq!(p.log_keys(), vec![log().verifier()]);
        assert_eq!(p.witness_keys().len(), 6);
        assert_eq!(Policy::parse(&p.to_text()), Ok(p.clone()));
        roundtrip_check(example().as_bytes());
        let none = Policy::parse("quorum none\n").unwrap();
        assert_eq!(none.to_text(), "quorum none\n");
        assert!(none.satisfied(&BTreeSet::new()));
    }

    #[test]
    fn quorum_evaluation() {
        let p = Policy::parse(&example()).unwrap();
        assert!(!p.satisfied(&set(&[])));
        assert!(!p.satisfied(&set(&["X1", "X2"])));
        assert!(!p.satisfied(&set(&["X1", "Y1"])));
        assert!(p.satisfied(&set(&["X1", "X3", "Y2"])));
        assert!(p.satisfied(&set(&["X1", "X2", "X3", "Y1", "Y2", "Y3"])));
        // Group names in the set do not count: only witnesses cosign.
        assert!(!p.satisfied(&set(&["X-witnesses", "Y-witnesses", "X-and-Y"])));
        let single = Policy::parse(&format!("witness A {}\nquorum A\n", w(1).verifier())).unwrap();
        assert!(single.satisfied(&set(&["A"])));
        assert!(!single.satisfied(&set(&["B"])));
    }

    #[test]
    fn rejects_invalid_policies() {
        let (l, a, b) = (log().verifier(), w(1).verifier(), w(2).verifier());
        let cases = [
            (String::new(), "no quorum"),
            (format!("witness A {a}\n"), "no quorum"),
            ("quorum none\nquorum none\n".to_string(), "two quorums"),
            ("quorum A\n".to_string(), "unknown quorum"),
            (
                format!("quorum A\nwitness A {a}\n"),
                "quorum before definition",
            ),
            (
                format!("witness A {a}\ngroup G 1 A B\nquorum G\n"),
                "unknown member",
            ),
            (
                format!("witness A {a}\ngroup G 1 G2\ngroup G2 1 A\nquorum G\n"),
                "forward reference",
            ),
            (
                format!("witness A {a}\ngroup G 1 G\nquorum G\n"),
                "self reference",
            ),
            (
                format!("witness A {a}\nwitness A {b}\nquorum A\n"),
                "duplicate name",
            ),
            (
                format!("witness A {a}\ngroup A any A\nquorum A\n"),
                "group shadows witness",
            ),
            (format!("witness none {a}\nquorum none\n"), "none defined"),
            (
                format!("witness A {a}\ngroup G any none\nquorum G\n"),
                "none member",
            ),
            (
                format!("witness A {a}\ngroup G any A A\nquorum G\n"),
                "repeated member",
            ),
            (format!("witness A {a}\ngroup G 2 A\nquorum G\n"), "k > n"),
            (format!("witness A {a}\ngroup G 0 A\nquorum G\n"), "k = 0"),
            (
                format!("witness A {a}\ngroup G 01 A\nquorum G\n"),
                "leading zero",
            ),
            (
                format!("witness A {a}\ngroup G any\nquorum G\n"),
                "no members",
            ),
            (
                format!("witness A {a}\ngroup G some A\nquorum G\n"),
                "bad threshold",
            ),
            (format!("log {l}\nlog {l}\nquorum none\n"), "duplicate log"),
            (
                format!(
                    "witness A {a}\nwitness B {}\nquorum A\n",
                    w(1).renamed("other").unwrap().verifier()
                ),
                "duplicate witness key",
            ),
            (format!("log {a}\nquorum none\n"), "witness key as log key"),
            (
                format!("witness A {l}\nquorum A\n"),
                "log key as witness key",
            ),
            (format!("log {l} u extra\nquorum none\n"), "extra field"),
            ("log nonsense\nquorum none\n".to_string(), "bad vkey"),
            ("quorum none\r\n".to_string(), "carriage return"),
            ("quorum\tnone\u{7f}\n".to_string(), "delete"),
            ("quorum none trailing\n".to_string(), "extra quorum field"),
            ("frobnicate\nquorum none\n".to_string(), "unknown keyword"),
        ];
        for (text, why) in cases {
            assert!(Policy::parse(&text).is_err(), "{why}: {text:?}");
        }
        // Leading/trailing whitespace and tabs are fine.
        assert!(Policy::parse(" \tquorum\t none \n").is_ok());
        assert!(Policy::parse("quorum none").is_ok());
    }

    fn signed_checkpoint(cosigners: &[SignerKey]) -> Vec<u8> {
        let cp = Checkpoint {
            origin: "log.test/p".into(),
            size: 3,
            root: Hash::leaf(b"root"),
            extensions: vec![],
        };
        let mut note = cp.sign(&[log()]).unwrap();
        let text = note.text().to_owned();
        for (i, c) in cosigners.iter().enumerate() {
            note.add_signature(cosign(c, 1000 + u64::try_from(i).unwrap(), &text).unwrap())
                .unwrap();
        }
        note.to_bytes()
    }

    #[test]
    fn verifies_checkpoints_with_policy() {
        let p = Policy::parse(&example()).unwrap();
        let ok = signed_checkpoint(&[w(1), w(3), w(5)]);
        let v = verify_checkpoint_with_policy(&p, &ok).unwrap();
        assert_eq!(v.witnesses(), &set(&["X1", "X3", "Y2"]));
        assert_eq!(v.cosignatures().len(), 3);
        assert_eq!(v.checkpoint().checkpoint().size, 3);
        // Not enough X witnesses.
        let short = signed_checkpoint(&[w(1), w(5), w(6)]);
        assert_eq!(
            verify_checkpoint_with_policy(&p, &short),
            Err(PolicyError::QuorumNotMet)
        );
        // A cosigner outside the policy does not count.
        let outsider = signed_checkpoint(&[w(1), w(9), w(5)]);
        assert_eq!(
            verify_checkpoint_with_policy(&p, &outsider),
            Err(PolicyError::QuorumNotMet)
        );
        // Log not in the policy.
        let other = Policy::parse("quorum none\n").unwrap();
        assert!(matches!(
            verify_checkpoint_with_policy(&other, &ok),
            Err(PolicyError::Checkpoint(CheckpointError::UnknownOrigin(_)))
        ));
        // quorum none with the log only.
        let log_only = Policy::parse(&format!("log {}\nquorum none\n", log().verifier())).unwrap();
        assert!(verify_checkpoint_with_policy(&log_only, &signed_checkpoint(&[])).is_ok());
    }

    #[test]
    fn witnessed_checks_only_the_witnesses() {
        // A policy without the log's key (a server's own witness policy may omit it): the
        // caller verified the log signature with the key it trusts.
        let witnesses_only = example()
            .lines()
            .filter(|l| !l.starts_with("log "))
            .collect::<Vec<_>>()
            .join("\n");
        let p = Policy::parse(&format!("{witnesses_only}\n")).unwrap();
        let open = |cosigners: &[SignerKey]| {
            SignedCheckpoint::open(&signed_checkpoint(cosigners), &[log().verifier()]).unwrap()
        };
        let v = witnessed(&p, open(&[w(1), w(3), w(5)])).unwrap();
        assert_eq!(v.witnesses(), &set(&["X1", "X3", "Y2"]));
        assert_eq!(
            witnessed(&p, open(&[w(1), w(5)])),
            Err(PolicyError::QuorumNotMet)
        );
    }
}
