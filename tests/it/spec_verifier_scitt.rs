//! The SCITT half of the verifier written from `docs/spec.md` alone (§11; §9.2 for the JSON
//! receipts of COSE entries and registration policy entries, §11.6): signed statements
//! (COSE_Sign1, RFC 9052), RFC 9942 receipts (RFC9162_SHA256), transparent statements with
//! their tlog-proof, the log's COSE key set (RFC 9679 thumbprints) and the registration policy a
//! statement was judged under. Like `spec_verifier`, it uses none of `attestlog-proto` or
//! `attestlog-client`: CBOR goes through the `ciborium` codec, signatures through Ed25519
//! `verify_strict`; the signed statements the test registers are built here from §11.1 too.

use ciborium::Value as Cbor;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde_json::Value;

use crate::spec_verifier::{
    Checkpoint, H, MAX_ENTRY, NoteKey, R, Trust, Verified, ed25519_ok, ensure, inclusion_root,
    leaf_hash, parse_tlog_proof, sha256, verify_checkpoint,
};

pub const INTOTO: &str = "application/vnd.in-toto+json";
pub const POLICY: &str = "application/vnd.attestlog.registration-policy+json";

// ---- CBOR through the codec ----

/// Exactly one CBOR item.
pub fn decode(bytes: &[u8], what: &str) -> R<Cbor> {
    let mut rest = bytes;
    let v: Cbor =
        ciborium::de::from_reader(&mut rest).map_err(|e| format!("{what} is not CBOR: {e}"))?;
    ensure(rest.is_empty(), || {
        format!("{what}: bytes after the CBOR item")
    })?;
    Ok(v)
}

/// Definite lengths, shortest heads (what the codec writes).
pub fn encode(v: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("CBOR into a Vec");
    out
}

fn int(v: &Cbor) -> Option<i128> {
    v.as_integer().map(i128::from)
}

fn int_value(n: i64) -> Cbor {
    Cbor::Integer(n.into())
}

fn uint(v: &Cbor, what: &str) -> R<u64> {
    int(v)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("{what} is not an unsigned integer"))
}

/// A COSE header map (RFC 9052 §3: labels unique).
fn header<'a>(v: &'a Cbor, what: &str) -> R<&'a [(Cbor, Cbor)]> {
    let m = v.as_map().ok_or_else(|| format!("{what} is not a map"))?;
    for (i, (k, _)) in m.iter().enumerate() {
        ensure(int(k).is_some() || k.as_text().is_some(), || {
            format!("{what} has a label that is neither an integer nor text")
        })?;
        ensure(!m[..i].iter().any(|(j, _)| j == k), || {
            format!("{what} repeats the label {k:?}")
        })?;
    }
    Ok(m)
}

fn get(m: &[(Cbor, Cbor)], label: i64) -> Option<&Cbor> {
    m.iter()
        .find(|(k, _)| int(k) == Some(i128::from(label)))
        .map(|(_, v)| v)
}

fn text<'a>(v: Option<&'a Cbor>, what: &str) -> R<&'a str> {
    v.and_then(Cbor::as_text)
        .ok_or_else(|| format!("{what} is not text"))
}

// ---- COSE_Sign1 (RFC 9052 §4.2) ----

struct Sign1 {
    protected: Vec<u8>,
    header: Vec<(Cbor, Cbor)>,
    unprotected: Vec<(Cbor, Cbor)>,
    payload: Option<Vec<u8>>,
    signature: Vec<u8>,
}

/// CBOR tag 18 around `[protected bstr, unprotected map, payload bstr / nil, signature bstr]`.
fn parse_sign1(bytes: &[u8], what: &str) -> R<Sign1> {
    let v = decode(bytes, what)?;
    let (tag, inner) = v.as_tag().ok_or_else(|| format!("{what} is not tagged"))?;
    ensure(tag == 18, || format!("{what} has tag {tag}, not 18"))?;
    let a = match inner.as_array().map(Vec::as_slice) {
        Some(a @ [_, _, _, _]) => a,
        _ => return Err(format!("{what} is not a four-member COSE_Sign1 array")),
    };
    let protected = a[0]
        .as_bytes()
        .ok_or_else(|| format!("{what}: protected is not a bstr"))?
        .clone();
    let header = header(&decode(&protected, "protected header")?, "protected header")?.to_vec();
    let unprotected = header_of(&a[1], "unprotected header")?;
    let payload = match &a[2] {
        Cbor::Null => None,
        Cbor::Bytes(b) => Some(b.clone()),
        _ => return Err(format!("{what}: payload is neither a bstr nor nil")),
    };
    let signature = a[3]
        .as_bytes()
        .ok_or_else(|| format!("{what}: signature is not a bstr"))?
        .clone();
    Ok(Sign1 {
        protected,
        header,
        unprotected,
        payload,
        signature,
    })
}

fn header_of(v: &Cbor, what: &str) -> R<Vec<(Cbor, Cbor)>> {
    Ok(header(v, what)?.to_vec())
}

/// RFC 9052 §4.4: `["Signature1", protected, external_aad = h'', payload]`.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    encode(&Cbor::Array(vec![
        Cbor::Text("Signature1".into()),
        Cbor::Bytes(protected.to_vec()),
        Cbor::Bytes(vec![]),
        Cbor::Bytes(payload.to_vec()),
    ]))
}

/// §11.1: the log entry, tag 18 around `[protected, {}, payload, signature]`.
fn entry_of(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    encode(&Cbor::Tag(
        18,
        Box::new(Cbor::Array(vec![
            Cbor::Bytes(protected.to_vec()),
            Cbor::Map(vec![]),
            Cbor::Bytes(payload.to_vec()),
            Cbor::Bytes(signature.to_vec()),
        ])),
    ))
}

// ---- §11.1 signed statements ----

/// A signed statement and its log entry.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The log entry: the statement with an empty unprotected header.
    pub entry: Vec<u8>,
    pub kid: [u8; 4],
    pub iss: String,
    pub sub: String,
    pub payload: Vec<u8>,
    protected: Vec<u8>,
    signature: Vec<u8>,
    /// The unprotected header as received (a transparent statement's receipts).
    unprotected: Vec<(Cbor, Cbor)>,
}

/// §11.1 steps 1–11 (the problem code of each in the message).
pub fn parse_statement(bytes: &[u8]) -> R<Statement> {
    let s = parse_sign1(bytes, "signed statement")?;
    for (label, _) in &s.unprotected {
        ensure(
            !int(label).is_some_and(|l| [1, 2, 3, 4, 7, 15, 258, 395].contains(&l)),
            || format!("unprotected-header: label {label:?}"),
        )?;
    }
    let h = &s.header;
    ensure(get(h, 1) == Some(&int_value(-8)), || {
        format!("missing-alg/unsupported-alg: {:?}", get(h, 1))
    })?;
    ensure(get(h, 258).is_none(), || "hash-envelope".into())?;
    if let Some(crit) = get(h, 2) {
        let labels = crit
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or("malformed-cose-sign1: crit is not a non-empty array")?;
        ensure(
            labels
                .iter()
                .all(|l| int(l).is_some_and(|l| [1, 3, 4, 15].contains(&l))),
            || format!("unknown-critical: {labels:?}"),
        )?;
    }
    let kid: [u8; 4] = get(h, 4)
        .and_then(Cbor::as_bytes)
        .and_then(|k| k.as_slice().try_into().ok())
        .ok_or("bad-kid: kid is not 4 bytes")?;
    ensure(get(h, 3).and_then(Cbor::as_text) == Some(INTOTO), || {
        "bad-content-type".into()
    })?;
    let cwt = header(get(h, 15).ok_or("missing-cwt-claims")?, "CWT claims")?;
    let iss = text(get(cwt, 1), "missing-cwt-claims: iss")?.to_owned();
    let sub = text(get(cwt, 2), "missing-cwt-claims: sub")?.to_owned();
    let payload = s.payload.ok_or("detached-payload")?;
    ensure(s.signature.len() == 64, || "bad-signature-length".into())?;
    let entry = entry_of(&s.protected, &payload, &s.signature);
    ensure(entry.len() <= MAX_ENTRY, || "too-large".into())?;
    Ok(Statement {
        entry,
        kid,
        iss,
        sub,
        payload,
        protected: s.protected,
        signature: s.signature,
        unprotected: s.unprotected,
    })
}

/// §9.2 step 1: a stored COSE entry parses and re-encodes to itself.
pub fn parse_cose_entry(entry: &[u8]) -> R<Statement> {
    let s = parse_statement(entry)?;
    ensure(s.entry == entry, || {
        "the COSE entry is not the signed statement as the log holds it".into()
    })?;
    Ok(s)
}

/// §11.1, §9.2 step 4.9: `kid` is the key's ID, the signature over the Sig_structure verifies
/// under it and `iss` is the key's name.
pub fn statement_signed_by(st: &Statement, key: &NoteKey) -> R<()> {
    ensure(st.kid == key.id, || {
        "the statement's kid is not the enrolled key's ID".into()
    })?;
    ensure(
        ed25519_ok(
            &key.key,
            &sig_structure(&st.protected, &st.payload),
            &st.signature,
        ),
        || "the statement's signature does not verify under the enrolled key".into(),
    )?;
    ensure(st.iss == key.name, || {
        format!("the statement's iss {:?} is not the key's name", st.iss)
    })
}

/// §11.1 (`rules::cose_subject`): the subject `sub` must name.
pub fn statement_subject(statement: &Value) -> Option<&str> {
    let p = &statement["predicate"];
    if statement["predicateType"] == crate::spec_verifier::VERIFICATION {
        p["subject_entry"]["attestation_id"].as_str()
    } else {
        p["attestation_id"].as_str()
    }
}

/// Builds a signed statement as §11.1 describes it (what a submitter writes).
pub fn sign_statement(key: &SigningKey, name: &str, payload: &[u8], sub: &str) -> Vec<u8> {
    let claims = vec![
        (int_value(1), Cbor::Text(name.into())),
        (int_value(2), Cbor::Text(sub.into())),
    ];
    sign_with_claims(key, name, payload, claims)
}

/// [`sign_statement`] with the given CWT claims map.
pub fn sign_with_claims(
    key: &SigningKey,
    name: &str,
    payload: &[u8],
    claims: Vec<(Cbor, Cbor)>,
) -> Vec<u8> {
    let pk = key.verifying_key();
    let kid = crate::spec_verifier::key_id(name, 1, pk.as_bytes());
    let protected = encode(&Cbor::Map(vec![
        (int_value(1), int_value(-8)),
        (int_value(4), Cbor::Bytes(kid.to_vec())),
        (int_value(3), Cbor::Text(INTOTO.into())),
        (int_value(15), Cbor::Map(claims)),
    ]));
    let sig = key.sign(&sig_structure(&protected, payload)).to_bytes();
    entry_of(&protected, payload, &sig)
}

// ---- §11.2 receipt keys and receipts ----

/// RFC 9679 thumbprint: SHA-256 of `{1: 1, -1: 6, -2: x}` in deterministic CBOR.
pub fn thumbprint(key: &VerifyingKey) -> H {
    let map = encode(&Cbor::Map(vec![
        (int_value(1), int_value(1)),
        (int_value(-1), int_value(6)),
        (int_value(-2), Cbor::Bytes(key.as_bytes().to_vec())),
    ]));
    let mut spelled = vec![0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20];
    spelled.extend_from_slice(key.as_bytes());
    assert_eq!(map, spelled, "§11.2 spells the thumbprint's input");
    sha256(&[&map])
}

/// §11.4: the COSE_KeySet of `/.well-known/scitt-keys`, each key's `kid` its thumbprint.
pub fn parse_key_set(bytes: &[u8]) -> R<Vec<VerifyingKey>> {
    let v = decode(bytes, "key set")?;
    let keys = v.as_array().ok_or("the key set is not an array")?;
    let mut out = Vec::new();
    for k in keys {
        let m = header(k, "COSE_Key")?;
        ensure(
            get(m, 1) == Some(&int_value(1))
                && get(m, 3) == Some(&int_value(-8))
                && get(m, -1) == Some(&int_value(6)),
            || "the COSE_Key is not an OKP Ed25519 EdDSA key".into(),
        )?;
        let x: [u8; 32] = get(m, -2)
            .and_then(Cbor::as_bytes)
            .and_then(|x| x.as_slice().try_into().ok())
            .ok_or("the COSE_Key's x is not 32 bytes")?;
        let key = VerifyingKey::from_bytes(&x).map_err(|e| format!("x is not a point: {e}"))?;
        ensure(
            get(m, 2).and_then(Cbor::as_bytes) == Some(&thumbprint(&key).to_vec()),
            || "the COSE_Key's kid is not its thumbprint".into(),
        )?;
        out.push(key);
    }
    Ok(out)
}

/// What a verified receipt shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptView {
    pub tree_size: u64,
    pub leaf_index: u64,
    pub root: H,
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// The log writes it in every receipt; the log's own verifier does not require it.
    pub iat: Option<u64>,
}

/// A receipt's signed parts (§11.2 steps 1–4): the key that names it, its claims and the
/// first proof `[a, b, path]` under `vdp` label `proof` (−1 inclusion, −2 consistency).
struct ReceiptParts<'k> {
    sign1: Sign1,
    key: &'k VerifyingKey,
    iss: Option<String>,
    sub: Option<String>,
    iat: Option<u64>,
    proof: (u64, u64, Vec<H>),
}

fn receipt_parts<'k>(receipt: &[u8], proof: i64, keys: &'k [VerifyingKey]) -> R<ReceiptParts<'k>> {
    let r = parse_sign1(receipt, "receipt")?;
    let h = &r.header;
    ensure(get(h, 395) == Some(&int_value(1)), || {
        "the receipt's vds is not 1 (RFC9162_SHA256)".into()
    })?;
    ensure(r.payload.is_none(), || {
        "the receipt's payload is not detached".into()
    })?;
    ensure(get(h, 1) == Some(&int_value(-8)), || {
        "the receipt's alg is not EdDSA".into()
    })?;
    let kid = get(h, 4)
        .and_then(Cbor::as_bytes)
        .ok_or("the receipt has no kid")?;
    let key = keys
        .iter()
        .find(|k| thumbprint(k).as_slice() == kid.as_slice())
        .ok_or("no trusted receipt key has the receipt's kid")?;
    // §11.2: claims are read only where they have their type; the log writes all three
    // (this verifier also refuses a claims map with a key twice, which the log never writes).
    let claims = match get(h, 15) {
        Some(c @ Cbor::Map(_)) => header(c, "CWT claims")?.to_vec(),
        _ => vec![],
    };
    let claim_text = |k| get(&claims, k).and_then(Cbor::as_text).map(str::to_owned);
    let (iss, sub) = (claim_text(1), claim_text(2));
    let iat = get(&claims, 6).and_then(|t| uint(t, "iat").ok());
    let vdp = header(
        get(&r.unprotected, 396).ok_or("the receipt has no vdp")?,
        "vdp",
    )?;
    let first = get(vdp, proof)
        .and_then(Cbor::as_array)
        .and_then(|p| p.first())
        .and_then(Cbor::as_bytes)
        .ok_or_else(|| format!("the receipt has no proof under vdp {proof}"))?;
    let decoded = decode(first, "proof")?;
    let (a, b, path) = match decoded.as_array().map(Vec::as_slice) {
        Some([a, b, p]) => (uint(a, "proof size")?, uint(b, "proof index or size")?, p),
        _ => return Err("the proof is not a three-member array".into()),
    };
    let path = path
        .as_array()
        .filter(|p| p.len() <= 64)
        .ok_or("the proof path is not an array of at most 64 hashes")?
        .iter()
        .map(|h| {
            h.as_bytes()
                .and_then(|b| H::try_from(b.as_slice()).ok())
                .ok_or_else(|| "a path hash is not 32 bytes".to_owned())
        })
        .collect::<R<Vec<H>>>()?;
    Ok(ReceiptParts {
        sign1: r,
        key,
        iss,
        sub,
        iat,
        proof: (a, b, path),
    })
}

impl ReceiptParts<'_> {
    /// §11.2 step 6: the signature over the Sig_structure with `root` as the payload.
    fn signs(&self, root: &H) -> R<()> {
        ensure(
            ed25519_ok(
                self.key,
                &sig_structure(&self.sign1.protected, root),
                &self.sign1.signature,
            ),
            || "the receipt's signature does not verify over the root its proof leads to".into(),
        )
    }
}

/// §11.2 "Verifying a receipt": the receipt of `entry` under one of the trusted receipt keys.
pub fn verify_cose_receipt(receipt: &[u8], entry: &[u8], keys: &[VerifyingKey]) -> R<ReceiptView> {
    let r = receipt_parts(receipt, -1, keys)?;
    let (size, index, path) = &r.proof;
    let root = inclusion_root(leaf_hash(entry), *index, *size, path)
        .map_err(|e| format!("the receipt's inclusion proof: {e}"))?;
    r.signs(&root)?;
    Ok(ReceiptView {
        tree_size: *size,
        leaf_index: *index,
        root,
        iss: r.iss,
        sub: r.sub,
        iat: r.iat,
    })
}

/// RFC 9162 §2.1.4.2: the root of the tree of `second` leaves, from the root of the tree of
/// `first` leaves (which the proof must imply) and the consistency proof.
pub fn consistency_root(first: u64, second: u64, first_root: &H, proof: &[H]) -> R<H> {
    ensure(0 < first && first < second, || {
        format!("tree sizes {first} → {second} are not 0 < first < second")
    })?;
    ensure(!proof.is_empty(), || {
        "the consistency proof is empty".into()
    })?;
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        ensure(s != 0, || "the consistency proof is too long".into())?;
        if f & 1 == 1 || f == s {
            fr = crate::spec_verifier::node_hash(c, &fr);
            sr = crate::spec_verifier::node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = crate::spec_verifier::node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    ensure(s == 0, || "the consistency proof is too short".into())?;
    ensure(fr == *first_root, || {
        "the consistency proof does not start at the trusted root".into()
    })?;
    Ok(sr)
}

/// §11.2 consistency receipts: from a tree of `first` leaves with `first_root` the verifier
/// trusts, the receipt's proof gives the root of the newer tree its signature covers. Returns
/// the newer tree's size and root.
pub fn verify_consistency_receipt(
    receipt: &[u8],
    first: u64,
    first_root: &H,
    keys: &[VerifyingKey],
) -> R<(u64, H)> {
    let r = receipt_parts(receipt, -2, keys)?;
    let (size_1, size_2, path) = &r.proof;
    ensure(*size_1 == first, || {
        format!("the consistency receipt starts at size {size_1}, not {first}")
    })?;
    let root = consistency_root(first, *size_2, first_root, path)?;
    r.signs(&root)?;
    Ok((*size_2, root))
}

// ---- §11.3 transparent statements ----

pub struct Transparent {
    pub statement: Statement,
    pub receipt: ReceiptView,
    /// The tlog-proof's checkpoint, when checked.
    pub checkpoint: Option<Checkpoint>,
}

/// §11.3: the receipt in 394 proves the statement's log entry and names its `sub`; with trust
/// anchors for the log, the tlog-proof in −65537 proves the same inclusion (index, size, root)
/// under a checkpoint that verifies under them, of the origin the receipt names as `iss`.
pub fn verify_transparent(
    bytes: &[u8],
    keys: &[VerifyingKey],
    trust: Option<&Trust>,
) -> R<Transparent> {
    let st = parse_statement(bytes)?;
    let receipts = get(&st.unprotected, 394)
        .and_then(Cbor::as_array)
        .ok_or("no receipts (394) in the unprotected header")?;
    let receipt = receipts
        .first()
        .and_then(Cbor::as_bytes)
        .ok_or("the first receipt is not a bstr")?;
    let rv = verify_cose_receipt(receipt, &st.entry, keys)?;
    ensure(rv.sub.as_deref() == Some(st.sub.as_str()), || {
        format!(
            "the receipt's sub {:?} is not the statement's {:?}",
            rv.sub, st.sub
        )
    })?;
    let checkpoint = match trust {
        None => None,
        Some(trust) => {
            let text = get(&st.unprotected, -65537)
                .and_then(Cbor::as_bytes)
                .ok_or("no tlog-proof (-65537) in the unprotected header")?;
            let text = std::str::from_utf8(text).map_err(|_| "the tlog-proof is not UTF-8")?;
            let proof = parse_tlog_proof(text)?;
            let (cp, _, _) = verify_checkpoint(&proof.note, trust)?;
            let root = inclusion_root(leaf_hash(&st.entry), proof.index, cp.size, &proof.hashes)?;
            ensure(root == cp.root, || {
                "the tlog-proof does not lead to the checkpoint's root".into()
            })?;
            ensure(
                (proof.index, cp.size, cp.root) == (rv.leaf_index, rv.tree_size, rv.root),
                || "the receipt and the tlog-proof do not prove the same inclusion".into(),
            )?;
            ensure(rv.iss.as_ref() == Some(&cp.origin), || {
                "the receipt's iss is not the checkpoint's origin".into()
            })?;
            Some(cp)
        }
    };
    Ok(Transparent {
        statement: st,
        receipt: rv,
        checkpoint,
    })
}

// ---- §11.6 registration policies ----

/// §11.6: a valid policy payload; returns it.
pub fn parse_policy(payload: &[u8]) -> R<Value> {
    let v = crate::spec_verifier::strict_json(payload)?;
    let o = crate::spec_verifier::members(
        &v,
        &[
            "algorithms",
            "content_types",
            "cwt_claims",
            "max_entry_bytes",
            "payload",
            "predicate_types",
            "sequence",
        ],
        &[],
        "registration policy",
    )?;
    let list = |k: &str, allowed: &[&str]| -> R<Vec<String>> {
        let a = o[k]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("policy {k} is not a non-empty array"))?;
        a.iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| allowed.contains(s))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        format!("policy {k} lists {s}, which this log does not implement")
                    })
            })
            .collect()
    };
    list("algorithms", &["EdDSA"])?;
    list("content_types", &[INTOTO])?;
    let claims = list("cwt_claims", &["iss", "sub"])?;
    ensure(
        ["iss", "sub"].iter().all(|c| claims.iter().any(|x| x == c)),
        || "policy cwt_claims does not name both iss and sub".into(),
    )?;
    list(
        "predicate_types",
        &[
            crate::spec_verifier::DATA_FLOWS,
            crate::spec_verifier::VERIFICATION,
        ],
    )?;
    ensure(o["payload"] == "attached", || {
        "policy payload is not attached".into()
    })?;
    ensure(
        o["max_entry_bytes"]
            .as_u64()
            .is_some_and(|n| (1..=65_535).contains(&n)),
        || "policy max_entry_bytes is not 1…65,535".into(),
    )?;
    ensure(o["sequence"].as_u64().is_some_and(|n| n >= 1), || {
        "policy sequence is not a positive integer".into()
    })?;
    Ok(v)
}

/// §11.6: a verified statement's receipt and a verified policy entry's receipt from the same
/// log show that the policy, logged below the statement, admits it (its predicate type listed,
/// its entry within `max_entry_bytes`). That it is the *latest* policy below the statement a
/// receipt cannot show: monitors and fsck check that by reading the log.
pub fn check_policy(statement: &Verified, policy: &Verified) -> R<()> {
    use crate::spec_verifier::Kind;
    ensure(policy.kind == Kind::Policy, || "not a policy entry".into())?;
    ensure(
        matches!(statement.kind, Kind::Attestation | Kind::Verification)
            && statement.entry.first() == Some(&0xd2),
        || "not a signed statement".into(),
    )?;
    ensure(policy.origin == statement.origin, || {
        "the policy is in another log".into()
    })?;
    ensure(policy.index < statement.index, || {
        "the policy is not below the statement".into()
    })?;
    let p = &policy.statement;
    ensure(
        p["predicate_types"]
            .as_array()
            .is_some_and(|t| t.contains(&statement.statement["predicateType"])),
        || "the policy does not list the statement's predicate type".into(),
    )?;
    ensure(
        p["max_entry_bytes"]
            .as_u64()
            .is_some_and(|m| statement.entry.len() as u64 <= m),
        || "the entry is over the policy's max_entry_bytes".into(),
    )
}

// ---- the test ----

mod story {
    use super::*;
    use crate::common::{TestLog, att_id, statement, vendor_key};
    use crate::spec_verifier::{Kind, hex, parse_vkey, verify_receipt};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    const VENDOR: &str = "Spec SCITT AG";

    async fn get_bytes(log: &TestLog, path: &str) -> Vec<u8> {
        let r = log.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    /// The JSON receipt `GET /v1/entries/{i}` serves.
    async fn json_receipt(log: &TestLog, i: u64) -> Value {
        let (status, body) = log.get_json(&format!("/v1/entries/{i}")).await;
        assert_eq!(status, 200, "{body}");
        body["receipt"].clone()
    }

    fn refused<T>(r: R<T>, why: &str) {
        match r {
            Ok(_) => panic!("a tampering ({why}) verified"),
            Err(e) => assert!(e.contains(why), "refused for {e:?}, expected {why:?}"),
        }
    }

    /// Re-encodes a COSE_Sign1 after `edit` of its four members.
    fn edit(bytes: &[u8], edit: impl FnOnce(&mut Vec<Cbor>)) -> Vec<u8> {
        let mut v = decode(bytes, "test input").unwrap();
        let Cbor::Tag(_, inner) = &mut v else {
            panic!("untagged")
        };
        let Cbor::Array(a) = inner.as_mut() else {
            panic!("not an array")
        };
        edit(a);
        encode(&v)
    }

    fn set(map: &mut Cbor, label: i64, value: Cbor) {
        let Cbor::Map(m) = map else {
            panic!("not a map")
        };
        m.retain(|(k, _)| int(k) != Some(i128::from(label)));
        m.push((int_value(label), value));
    }

    /// A receipt whose inclusion proof `[tree_size, leaf_index, path]` is edited.
    fn edit_proof(receipt: &[u8], f: impl FnOnce(&mut Vec<Cbor>)) -> Vec<u8> {
        edit(receipt, |a| {
            let Cbor::Map(u) = &mut a[1] else { panic!() };
            let vdp = u.iter_mut().find(|(k, _)| int(k) == Some(396)).unwrap();
            let Cbor::Map(vdp) = &mut vdp.1 else { panic!() };
            let Cbor::Array(proofs) = &mut vdp[0].1 else {
                panic!()
            };
            let Cbor::Bytes(b) = &mut proofs[0] else {
                panic!()
            };
            let mut p = decode(b, "proof").unwrap();
            let Cbor::Array(p_arr) = &mut p else { panic!() };
            f(p_arr);
            *b = encode(&p);
        })
    }

    /// The receipt re-signed by `key` over `root`, naming it by its thumbprint, with `sub`.
    fn forge(receipt: &[u8], root: &H, key: &SigningKey, sub: &str) -> Vec<u8> {
        edit(receipt, |a| {
            let mut h = decode(a[0].as_bytes().unwrap(), "protected").unwrap();
            set(
                &mut h,
                4,
                Cbor::Bytes(thumbprint(&key.verifying_key()).to_vec()),
            );
            let Cbor::Map(m) = &mut h else { panic!() };
            let claims = &mut m.iter_mut().find(|(k, _)| int(k) == Some(15)).unwrap().1;
            set(claims, 2, Cbor::Text(sub.into()));
            let protected = encode(&h);
            a[3] = Cbor::Bytes(key.sign(&sig_structure(&protected, root)).to_vec());
            a[0] = Cbor::Bytes(protected);
        })
    }

    /// A transparent statement with unprotected `label` set to `value`.
    fn with_unprotected(ts: &[u8], label: i64, value: Cbor) -> Vec<u8> {
        edit(ts, |a| set(&mut a[1], label, value))
    }

    /// SCITT (§11) with the spec alone: a log registers two signed statements built from §11.1
    /// at `POST /entries`; their receipts (at registration and from `GET /entries/{id}`), the
    /// transparent statement, the JSON receipts of the COSE entries and of the registration
    /// policy entry below them verify; each tampering is refused at the check it breaks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scitt_receipts_verify_with_the_spec_alone() {
        // A witnessed log: the transparent statement's tlog-proof carries the cosignature.
        let dir = crate::common::temp_dir("spec-verifier-scitt");
        let origin = "spec-scitt.test/log";
        let (log_key, key_file) = crate::witness::log_key_file(&dir, origin, 0x5c);
        let wkey = crate::witness::witness_key("spec-scitt", 0x5d);
        let w =
            crate::witness::TestWitness::start(wkey.clone(), &log_key.verifier(), &dir.join("w"))
                .await;
        let policy_file = dir.join("policy");
        std::fs::write(
            &policy_file,
            format!(
                "log {}\nwitness W {} {}\nquorum W\n",
                log_key.verifier(),
                wkey.verifier(),
                w.url
            ),
        )
        .unwrap();
        let data = dir.join("data");
        let log = TestLog::start_in(
            data.clone(),
            crate::witness::config(&data, &key_file, origin, Some(&policy_file)),
        )
        .await;
        let witness_vkey = parse_vkey(&wkey.verifier().to_string()).unwrap();
        let trust = Trust {
            log_keys: vec![parse_vkey(&log_key.verifier().to_string()).unwrap()],
            witnesses: vec![witness_vkey.clone()],
            quorum: 1,
        };
        let vendor = vendor_key(91);
        let vendor_vkey = parse_vkey(&vendor.verifier().to_string()).unwrap();
        let seed = SigningKey::from_bytes(&[91; 32]);
        assert_eq!(seed.verifying_key(), vendor_vkey.key);
        let e = log.enrol(VENDOR, &vendor.verifier()).await;
        let payload = |n: u64| {
            serde_json::to_vec(&statement(VENDOR, &att_id(n), "Spec SCITT Endpoint")).unwrap()
        };
        let sign = |n: u64| sign_statement(&seed, &vendor_vkey.name, &payload(n), &att_id(n));
        let (a, b) = (sign(31), sign(32));
        let (status, ra_post) = log.post_cose(&a).await;
        assert_eq!(status, 201);
        let (status, _) = log.post_cose(&b).await;
        assert_eq!(status, 201);
        // A CWT claim twice (the later `sub` naming another claim) is refused by this verifier
        // and by the log.
        let twice = sign_with_claims(
            &seed,
            &vendor_vkey.name,
            &payload(33),
            vec![
                (int_value(1), Cbor::Text(vendor_vkey.name.clone())),
                (int_value(2), Cbor::Text(att_id(33))),
                (int_value(2), Cbor::Text(att_id(31))),
            ],
        );
        refused(parse_statement(&twice), "repeats the label");
        let (status, body) = log.post_cose(&twice).await;
        assert_eq!(status, 400);
        let problem = decode(&body, "problem details").unwrap();
        assert!(
            format!("{problem:?}").contains("missing-cwt-claims"),
            "{problem:?}"
        );

        let keys = parse_key_set(&get_bytes(&log, "/.well-known/scitt-keys").await).unwrap();
        assert_eq!(keys.len(), 1);
        let note = String::from_utf8(get_bytes(&log, "/checkpoint").await).unwrap();
        let (cp, _, _) = verify_checkpoint(&note, &trust).unwrap();
        assert_eq!(cp.size, 4, "the enrolment, policy 1, the two statements");
        let by_id = |entry: &[u8]| format!("/entries/{}", hex(&leaf_hash(entry)));
        let ra = get_bytes(&log, &by_id(&a)).await;
        let rb = get_bytes(&log, &by_id(&b)).await;

        // Receipts: against the checkpoint the log serves, and at registration against the
        // tree that first held the entry.
        let va = verify_cose_receipt(&ra, &a, &keys).unwrap();
        assert_eq!(
            (va.leaf_index, va.tree_size, va.root),
            (2, cp.size, cp.root)
        );
        assert_eq!(
            (va.iss.as_deref(), va.sub.as_deref()),
            (Some(cp.origin.as_str()), Some(att_id(31).as_str()))
        );
        assert!(va.iat.is_some());
        let va_post = verify_cose_receipt(&ra_post, &a, &keys).unwrap();
        assert_eq!((va_post.leaf_index, va_post.tree_size), (2, 3));
        let vb = verify_cose_receipt(&rb, &b, &keys).unwrap();
        assert_eq!((vb.leaf_index, vb.root), (3, cp.root));

        // The transparent statement: the receipt and the tlog-proof prove one inclusion; the
        // statement is the vendor key's.
        let ta = get_bytes(&log, &format!("{}?transparent=true", by_id(&a))).await;
        let t = verify_transparent(&ta, &keys, Some(&trust)).unwrap();
        let tp = parse_tlog_proof(
            std::str::from_utf8(
                get(&t.statement.unprotected, -65537)
                    .unwrap()
                    .as_bytes()
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            verify_checkpoint(&tp.note, &trust).unwrap().2,
            vec![witness_vkey.name.clone()],
            "cosigned by the witness"
        );
        assert_eq!(
            (t.statement.entry.as_slice(), &t.receipt),
            (a.as_slice(), &va)
        );
        assert_eq!(t.checkpoint.unwrap().root, cp.root);
        statement_signed_by(&t.statement, &vendor_vkey).unwrap();

        // The JSON receipts (§9.2) of the COSE entries and of policy 1 below them.
        let ja = verify_receipt(&json_receipt(&log, 2).await, &trust).unwrap();
        assert_eq!(
            (ja.kind, ja.name.as_str(), ja.enrolment_index, &ja.entry),
            (Kind::Attestation, VENDOR, Some(e), &a)
        );
        let jb = verify_receipt(&json_receipt(&log, 3).await, &trust).unwrap();
        let policy = verify_receipt(&json_receipt(&log, 1).await, &trust).unwrap();
        assert_eq!(
            (policy.kind, policy.statement["sequence"].as_u64()),
            (Kind::Policy, Some(1))
        );
        check_policy(&ja, &policy).unwrap();
        check_policy(&jb, &policy).unwrap();

        // A consistency receipt (§11.2) from the tree of the registration's receipt to the
        // checkpoint's tree, and refused from another root.
        let cr = get_bytes(&log, "/receipts/consistency?first=3&second=4").await;
        assert_eq!(
            verify_consistency_receipt(&cr, 3, &va_post.root, &keys),
            Ok((4, cp.root))
        );
        refused(
            verify_consistency_receipt(&cr, 3, &va.root, &keys),
            "does not start at the trusted root",
        );
        refused(
            verify_consistency_receipt(&cr, 2, &va_post.root, &keys),
            "starts at size 3, not 2",
        );

        // Refused: the receipt.
        let flipped = edit_proof(&ra, |p| {
            let Cbor::Array(path) = &mut p[2] else {
                panic!()
            };
            let Cbor::Bytes(h) = &mut path[0] else {
                panic!()
            };
            h[0] ^= 1;
        });
        let bad_sig = "the receipt's signature does not verify";
        refused(verify_cose_receipt(&flipped, &a, &keys), bad_sig);
        let wrong_index = edit_proof(&ra, |p| p[1] = int_value(3));
        refused(verify_cose_receipt(&wrong_index, &a, &keys), bad_sig);
        let wrong_size = edit_proof(&ra, |p| p[0] = int_value(5));
        refused(
            verify_cose_receipt(&wrong_size, &a, &keys),
            "the receipt's inclusion proof: the inclusion proof is too short",
        );
        refused(verify_cose_receipt(&rb, &a, &keys), bad_sig);
        let st = parse_statement(&a).unwrap();
        let mut altered_payload = st.payload.clone();
        let at = altered_payload.iter().position(|c| *c == b'7').unwrap();
        altered_payload[at] = b'8';
        let altered = entry_of(&st.protected, &altered_payload, &st.signature);
        refused(verify_cose_receipt(&ra, &altered, &keys), bad_sig);
        refused(
            statement_signed_by(&parse_statement(&altered).unwrap(), &vendor_vkey),
            "signature does not verify under the enrolled key",
        );
        // Re-signed by another key: under its own key ID, or as an impostor under the
        // vendor's key ID; either is another entry, which the receipt does not prove.
        let stranger = SigningKey::from_bytes(&[0x66; 32]);
        let resigned = sign_statement(&stranger, &vendor_vkey.name, &payload(31), &att_id(31));
        refused(verify_cose_receipt(&ra, &resigned, &keys), bad_sig);
        refused(
            statement_signed_by(&parse_statement(&resigned).unwrap(), &vendor_vkey),
            "kid is not the enrolled key's ID",
        );
        let impostor = entry_of(
            &st.protected,
            &st.payload,
            &stranger
                .sign(&sig_structure(&st.protected, &st.payload))
                .to_bytes(),
        );
        refused(verify_cose_receipt(&ra, &impostor, &keys), bad_sig);
        refused(
            statement_signed_by(&parse_statement(&impostor).unwrap(), &vendor_vkey),
            "signature does not verify under the enrolled key",
        );
        // Signed by another key: under the log's kid, or under its own (not trusted).
        let by_stranger = edit(&ra, |a| {
            let p = a[0].as_bytes().unwrap().clone();
            a[3] = Cbor::Bytes(stranger.sign(&sig_structure(&p, &va.root)).to_vec());
        });
        refused(verify_cose_receipt(&by_stranger, &a, &keys), bad_sig);
        let forged = forge(&ra, &va.root, &stranger, &att_id(31));
        refused(
            verify_cose_receipt(&forged, &a, &keys),
            "no trusted receipt key has the receipt's kid",
        );
        let forged_keys = [stranger.verifying_key()];
        assert_eq!(
            verify_cose_receipt(&forged, &a, &forged_keys),
            Ok(va.clone())
        );
        let attached = edit(&ra, |a| a[2] = Cbor::Bytes(va.root.to_vec()));
        refused(
            verify_cose_receipt(&attached, &a, &keys),
            "payload is not detached",
        );

        // Refused: the transparent statement.
        let receipts = |r: &[u8]| Cbor::Array(vec![Cbor::Bytes(r.to_vec())]);
        refused(
            verify_transparent(
                &with_unprotected(&ta, 394, receipts(&rb)),
                &keys,
                Some(&trust),
            ),
            bad_sig,
        );
        let tb = get_bytes(&log, &format!("{}?transparent=true", by_id(&b))).await;
        let tb_proof = get(&parse_statement(&tb).unwrap().unprotected, -65537)
            .unwrap()
            .clone();
        refused(
            verify_transparent(
                &with_unprotected(&ta, -65537, tb_proof),
                &keys,
                Some(&trust),
            ),
            "the tlog-proof does not lead to the checkpoint's root",
        );
        refused(
            verify_transparent(
                &with_unprotected(&ta, 394, receipts(&ra_post)),
                &keys,
                Some(&trust),
            ),
            "do not prove the same inclusion",
        );
        let other_sub = forge(&ra, &va.root, &stranger, &att_id(32));
        refused(
            verify_transparent(
                &with_unprotected(&ta, 394, receipts(&other_sub)),
                &forged_keys,
                None,
            ),
            "is not the statement's",
        );
        let resigned_ts = edit(&ta, |t| {
            let r = decode(&resigned, "resigned").unwrap();
            let (_, inner) = r.as_tag().unwrap();
            t[3] = inner.as_array().unwrap()[3].clone();
        });
        refused(verify_transparent(&resigned_ts, &keys, None), bad_sig);

        // Refused: the JSON receipt of a COSE entry.
        let json_a = json_receipt(&log, 2).await;
        let with_entry = |entry: &[u8]| {
            let mut r = json_a.clone();
            r["entry"] = Value::String(STANDARD.encode(entry));
            r
        };
        refused(
            verify_receipt(&with_entry(&altered), &trust),
            "does not lead to the checkpoint's root",
        );
        refused(
            verify_receipt(&with_entry(&ta), &trust),
            "not the signed statement as the log holds it",
        );
        let mut other_enrolment = json_a.clone();
        other_enrolment["enrolment"] = json_receipt(&log, 1).await;
        refused(
            verify_receipt(&other_enrolment, &trust),
            "the enrolment part is not an enrolment",
        );

        // The policy check: a policy above the statement, or one that does not list its type.
        refused(check_policy(&policy, &ja), "not a policy entry");
        let mut above = policy.clone();
        above.index = 3;
        refused(check_policy(&ja, &above), "not below the statement");
        let mut narrow = policy.clone();
        narrow.statement["predicate_types"] =
            serde_json::json!([crate::spec_verifier::VERIFICATION]);
        refused(
            check_policy(&ja, &narrow),
            "does not list the statement's predicate type",
        );
        let mut small = policy.clone();
        small.statement["max_entry_bytes"] = serde_json::json!(a.len() - 1);
        refused(
            check_policy(&ja, &small),
            "over the policy's max_entry_bytes",
        );

        // A verification statement as a signed statement, by a key enrolled in the verifier
        // role: `sub` is the subject's attestation_id; its JSON receipt names the lab, and
        // its subject is the attestation it verifies, under the same policy.
        let lab = crate::common::vendor_key(93);
        let lab_vkey = parse_vkey(&lab.verifier().to_string()).unwrap();
        let (status, body) = log
            .vendors(&serde_json::json!({"vendor": crate::verifications::LAB, "key": lab.verifier().to_string(), "action": "enrol", "role": "verifier"}))
            .await;
        assert_eq!(status, 201, "{body}");
        let lab_enrolment = body["index"].as_u64().unwrap();
        let v = crate::verifications::verification_of(2, &a, &att_id(31), "consistent");
        let lab_seed = SigningKey::from_bytes(&[93; 32]);
        let ve = sign_statement(
            &lab_seed,
            &lab_vkey.name,
            &serde_json::to_vec(&v).unwrap(),
            &att_id(31),
        );
        let (status, rv) = log.post_cose(&ve).await;
        assert_eq!(status, 201);
        let vr = verify_cose_receipt(&rv, &ve, &keys).unwrap();
        assert_eq!(vr.sub.as_deref(), Some(att_id(31).as_str()));
        let jv = verify_receipt(&json_receipt(&log, vr.leaf_index).await, &trust).unwrap();
        assert_eq!(
            (jv.kind, jv.name.as_str(), jv.enrolment_index),
            (
                Kind::Verification,
                crate::verifications::LAB,
                Some(lab_enrolment)
            )
        );
        crate::spec_verifier::check_subject(&jv, &ja).unwrap();
        check_policy(&jv, &policy).unwrap();

        log.stop().await;
        w.stop().await;
    }
}
