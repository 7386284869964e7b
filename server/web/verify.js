// Verification of what the explorer shows, in the visitor's browser.
//
// Small pure functions mirroring the Rust verifiers of attestlog-proto, as strict as they are:
//   - c2sp.org/signed-note: key IDs, verifier keys, notes (parseNote, verifyNote)
//   - c2sp.org/tlog-checkpoint and tlog-cosignature (cosignature/v1)
//   - c2sp.org/tlog-policy (parsePolicy, quorumSatisfied)
//   - c2sp.org/tlog-proof@v1 (parseTlogProof)
//   - RFC 9162 §2.1.3/§2.1.4 inclusion and consistency proof verification
//   - DSSE PAE and the canonical entry envelope
//   - a strict CBOR reader (RFC 8949) for COSE_Sign1 signed statements (RFC 9052) and their
//     Sig_structure
// Ed25519 and SHA-256 come from WebCrypto. Every function throws VerifyError with a readable
// reason when its input does not verify; nothing here touches the DOM or the network.

export class VerifyError extends Error {}

const fail = (msg) => {
  throw new VerifyError(msg);
};

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a string. */
export const utf8 = (s) => enc.encode(s);

/** A string from UTF-8 bytes (throws on invalid UTF-8). */
export function fromUtf8(b) {
  try {
    return dec.decode(b);
  } catch {
    return fail('not valid UTF-8');
  }
}

/** Concatenation of byte arrays. */
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Whole-array equality (JS cannot promise constant time; this never returns early on length). */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard padded base64 (canonical: re-encoding gives the input back). */
export function b64decode(s) {
  if (typeof s !== 'string' || !B64.test(s)) fail('not standard padded base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64encode(out) !== s) fail('non-canonical base64');
  return out;
}

/** Standard padded base64. */
export function b64encode(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

/** Lowercase hex. */
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** SHA-256. */
export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** Canonical decimal u64 (no sign, no leading zeros) as a BigInt. */
export function parseDecimal(s) {
  if (typeof s !== 'string' || !/^(0|[1-9][0-9]*)$/.test(s)) fail(`not a decimal number: ${s}`);
  const n = BigInt(s);
  if (n > 0xffffffffffffffffn) fail('number out of range');
  return n;
}

// ---------------------------------------------------------------------------------------------
// Keys (c2sp.org/signed-note#verifier-keys)

export const TYPE_ED25519 = 0x01;
export const TYPE_COSIGNATURE_V1 = 0x04;

/** Whether a signed-note key name is valid: non-empty, no whitespace, control chars or '+'. */
export const validKeyName = (name) =>
  typeof name === 'string' && name.length > 0 && !/[\s+\u0000-\u001f\u007f]/u.test(name);

/** Key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. */
export async function keyId(name, type, pub) {
  return (await sha256(concat(utf8(name), new Uint8Array([0x0a, type]), pub))).slice(0, 4);
}

/** Parses `<name>+<8 hex id>+<base64(type ‖ 32-byte key)>` and checks the key ID. */
export async function parseVerifierKey(s) {
  if (typeof s !== 'string') fail('key is not a string');
  s = s.trim();
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (i < 0 || j < 0) fail('malformed verifier key: expected name+id+key');
  const name = s.slice(0, i);
  const idHex = s.slice(i + 1, j);
  if (!validKeyName(name)) fail('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail('key id must be 8 lowercase hex digits');
  const raw = b64decode(s.slice(j + 1));
  if (raw.length !== 33) fail('key must be a type byte and 32 bytes');
  const type = raw[0];
  if (type !== TYPE_ED25519 && type !== TYPE_COSIGNATURE_V1) fail(`unsupported key type ${type}`);
  const pub = raw.slice(1);
  const id = await keyId(name, type, pub);
  if (hex(id) !== idHex) fail('key id does not match the key');
  return { name, type, pub, id, text: s };
}

// Field prime 2^255 - 19, group order L, and the y coordinate of the points of order 8.
const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const Y8 = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n;

/** A little-endian integer from bytes. */
function leInt(b) {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

/**
 * Whether a 32-byte point encoding decodes to a point of small order (order 1, 2, 4 or 8),
 * counting non-canonical encodings (y ≥ p) and either sign bit: the 14 encodings the log's
 * verify_strict rejects as a public key or as a signature's R.
 */
export function isSmallOrderEncoding(b) {
  const y = leInt(b.subarray(0, 31)) | (BigInt(b[31] & 0x7f) << 248n);
  return [0n, 1n, P - 1n, Y8, P - Y8].includes(y % P);
}

/**
 * Ed25519 verification with WebCrypto, held to the log's rule (ed25519-dalek's verify_strict):
 * S must be below the group order, and neither the key nor R may be of small order (WebCrypto
 * accepts both, so a small-order key would otherwise "sign" messages without a secret).
 * False for any malformed input.
 */
export async function ed25519Verify(pub, msg, sig) {
  if (sig.length !== 64 || pub.length !== 32) return false;
  if (leInt(sig.subarray(32)) >= L) return false;
  if (isSmallOrderEncoding(pub) || isSmallOrderEncoding(sig.subarray(0, 32))) return false;
  try {
    const k = await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, k, sig, msg);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Signed notes (c2sp.org/signed-note)

const MAX_SIGNATURES = 100;

/** Parses one signature line `— <name> <base64(key id ‖ signature)>`. */
export function parseSignatureLine(line) {
  if (!line.startsWith('\u2014 ')) fail('signature line must start with an em dash and a space');
  const rest = line.slice(2);
  const sp = rest.indexOf(' ');
  if (sp < 0) fail('signature line: expected a key name and a signature');
  const name = rest.slice(0, sp);
  if (!validKeyName(name)) fail('signature line: invalid key name');
  const raw = b64decode(rest.slice(sp + 1));
  if (raw.length < 5) fail('signature is shorter than a key id and one byte');
  return { name, keyId: raw.slice(0, 4), sig: raw.slice(4) };
}

/** Parses a signed note into its text (with final newline) and signature lines. */
export function parseNote(s) {
  if (typeof s !== 'string') fail('note is not text');
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) fail('note contains a control character');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) fail('note has no blank line before the signatures');
  const text = s.slice(0, split + 1);
  let sigs = s.slice(split + 2);
  if (sigs === '') fail('note has no signature lines');
  if (!sigs.endsWith('\n')) fail('signature lines must end with a newline');
  sigs = sigs.slice(0, -1).split('\n');
  if (sigs.length > MAX_SIGNATURES) fail('note has too many signatures');
  return { text, signatures: sigs.map(parseSignatureLine) };
}

const isBy = (sig, key) => sig.name === key.name && equalBytes(sig.keyId, key.id);

/**
 * Verifies a note against Ed25519 keys (signed-note rules): unknown (name, id) pairs are
 * ignored, a known signature that fails rejects the note, at least one must verify.
 */
export async function verifyNote(note, keys) {
  const verified = [];
  for (const sig of note.signatures) {
    const key = keys.find((k) => k.type === TYPE_ED25519 && isBy(sig, k));
    if (!key) continue;
    if (!(await ed25519Verify(key.pub, utf8(note.text), sig.sig))) {
      fail(`signature by known key ${sig.name} does not verify`);
    }
    if (!verified.includes(key)) verified.push(key);
  }
  if (verified.length === 0) fail('note has no signature from the trusted key');
  return verified;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints and cosignatures (c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature)

/** Parses a checkpoint body `<origin>\n<size>\n<base64 root>\n[extensions]`. */
export function parseCheckpoint(text) {
  if (!text.endsWith('\n')) fail('checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) fail('checkpoint has fewer than three lines');
  const [origin, size, root, ...extensions] = lines;
  if (origin === '') fail('checkpoint has an empty origin');
  const r = b64decode(root);
  if (r.length !== 32) fail('checkpoint root must be 32 bytes');
  if (extensions.some((e) => e === '')) fail('empty checkpoint extension line');
  return { origin, size: parseDecimal(size), root: r, extensions };
}

/**
 * Opens a signed checkpoint note with the log's key: parses it, requires the key to be
 * named after the origin, verifies the note. Returns {note, checkpoint}.
 */
export async function openCheckpoint(noteText, logKey) {
  const note = parseNote(noteText);
  const checkpoint = parseCheckpoint(note.text);
  if (logKey.type !== TYPE_ED25519) fail('the log key is not an Ed25519 key');
  if (logKey.name !== checkpoint.origin) {
    fail(`checkpoint origin ${checkpoint.origin} is not the trusted key's name ${logKey.name}`);
  }
  await verifyNote(note, [logKey]);
  return { note, checkpoint };
}

/** The message a cosignature/v1 signs: `cosignature/v1\ntime <t>\n` ‖ checkpoint text. */
export const cosignedMessage = (timestamp, text) => utf8(`cosignature/v1\ntime ${timestamp}\n${text}`);

/**
 * Verifies the cosignatures of `note` by type-0x04 witness keys. Lines by unknown keys are
 * ignored; a known one that fails throws. Returns [{name, keyId, timestamp}].
 */
export async function verifyCosignatures(note, witnessKeys) {
  const out = [];
  for (const sig of note.signatures) {
    const key = witnessKeys.find((k) => k.type === TYPE_COSIGNATURE_V1 && isBy(sig, k));
    if (!key) continue;
    if (sig.sig.length !== 72) fail(`cosignature by ${key.name} must be 72 bytes after the key id`);
    let t = 0n;
    for (let i = 0; i < 8; i++) t = (t << 8n) | BigInt(sig.sig[i]);
    if (t > 0x7fffffffffffffffn) fail(`cosignature timestamp of ${key.name} exceeds 2^63-1`);
    const ok = await ed25519Verify(key.pub, cosignedMessage(t, note.text), sig.sig.slice(8));
    if (!ok) fail(`cosignature by ${key.name} does not verify`);
    out.push({ name: key.name, keyId: key.id, timestamp: t });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Policies (c2sp.org/tlog-policy)

/** Parses and validates a tlog-policy text. */
export async function parsePolicy(text) {
  if (typeof text !== 'string' || text.length > 256 * 1024) fail('policy is too large');
  const p = { logs: [], witnesses: [], groups: [], quorum: null };
  const defined = new Set();
  let haveQuorum = false;
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const define = (name, line) => {
    if (name === 'none' || defined.has(name)) fail(`line ${line}: duplicate name ${name}`);
    defined.add(name);
  };
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(lines[i])) fail(`line ${line}: invalid character`);
    const t = lines[i].replace(/^[ \t]+|[ \t]+$/g, '');
    if (t === '' || t.startsWith('#')) continue;
    const w = t.split(/[ \t]+/);
    const key = async (s, type) => {
      let k;
      try {
        k = await parseVerifierKey(s);
      } catch (e) {
        fail(`line ${line}: invalid key: ${e.message}`);
      }
      if (k.type !== type) fail(`line ${line}: wrong key type ${k.type}`);
      return k;
    };
    if (w[0] === 'log' && (w.length === 2 || w.length === 3)) {
      const k = await key(w[1], TYPE_ED25519);
      if (p.logs.some((l) => equalBytes(l.key.pub, k.pub))) fail(`line ${line}: duplicate public key`);
      p.logs.push({ key: k, url: w[2] ?? null });
    } else if (w[0] === 'witness' && (w.length === 3 || w.length === 4)) {
      const k = await key(w[2], TYPE_COSIGNATURE_V1);
      define(w[1], line);
      if (p.witnesses.some((x) => equalBytes(x.key.pub, k.pub))) fail(`line ${line}: duplicate public key`);
      p.witnesses.push({ name: w[1], key: k, url: w[3] ?? null });
    } else if (w[0] === 'group' && w.length >= 4) {
      const members = w.slice(3);
      let required;
      if (w[2] === 'all') required = members.length;
      else if (w[2] === 'any') required = 1;
      else {
        const k = Number(parseDecimal(w[2]));
        if (k === 0 || k > members.length) fail(`line ${line}: group threshold must be 1 <= k <= members`);
        required = k;
      }
      const seen = new Set();
      for (const m of members) {
        if (!defined.has(m)) fail(`line ${line}: unknown name ${m}`);
        if (seen.has(m)) fail(`line ${line}: duplicate name ${m}`);
        seen.add(m);
      }
      define(w[1], line);
      p.groups.push({ name: w[1], threshold: w[2], required, members });
    } else if (w[0] === 'quorum' && w.length === 2) {
      if (haveQuorum) fail('policy must have exactly one quorum line');
      haveQuorum = true;
      if (w[1] !== 'none') {
        if (!defined.has(w[1])) fail(`line ${line}: unknown name ${w[1]}`);
        p.quorum = w[1];
      }
    } else {
      fail(`line ${line}: expected a log, witness, group or quorum line`);
    }
  }
  if (!haveQuorum) fail('policy must have exactly one quorum line');
  return p;
}

/** Whether the policy witnesses named in `verified` (a Set) satisfy the quorum. */
export function quorumSatisfied(policy, verified) {
  if (policy.quorum === null) return true;
  const ok = new Map(policy.witnesses.map((w) => [w.name, verified.has(w.name)]));
  for (const g of policy.groups) {
    const n = g.members.filter((m) => ok.get(m) === true).length;
    ok.set(g.name, n >= g.required);
  }
  return ok.get(policy.quorum) === true;
}

/**
 * Checks a checkpoint's cosignatures against a policy: returns {witnesses (policy names that
 * verified), cosignatures, quorum (bool)}; a failing known cosignature throws.
 */
export async function checkWitnesses(note, policy) {
  const cosignatures = await verifyCosignatures(note, policy.witnesses.map((w) => w.key));
  const names = new Set(
    policy.witnesses
      .filter((w) => cosignatures.some((c) => c.name === w.key.name && equalBytes(c.keyId, w.key.id)))
      .map((w) => w.name),
  );
  return { witnesses: names, cosignatures, quorum: quorumSatisfied(policy, names) };
}

// ---------------------------------------------------------------------------------------------
// Merkle trees (RFC 9162 §2.1)

/** Leaf hash = SHA-256(0x00 ‖ entry). */
export const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
/** Node hash = SHA-256(0x01 ‖ left ‖ right). */
export const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

const odd = (n) => (n & 1n) === 1n;

function inclusionLength(index, last) {
  // transparency-dev/merkle decompInclProof: inner = bitlen(index ^ last),
  // border = popcount(index >> inner).
  let inner = 0;
  for (let x = index ^ last; x > 0n; x >>= 1n) inner++;
  let border = 0;
  for (let x = index >> BigInt(inner); x > 0n; x >>= 1n) if (odd(x)) border++;
  return inner + border;
}

/** Verifies an RFC 9162 §2.1.3.2 inclusion proof (index, size as BigInt; hashes as bytes). */
export async function verifyInclusion(leaf, index, size, proof, root) {
  if (index >= size) fail(`index ${index} is not below tree size ${size}`);
  const expected = inclusionLength(index, size - 1n);
  if (proof.length !== expected) fail(`inclusion proof has ${proof.length} hashes, expected ${expected}`);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) fail('inclusion proof is too long');
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('inclusion proof is too short');
  if (!equalBytes(r, root)) fail('inclusion proof leads to a different root than the checkpoint');
}

const EMPTY_ROOT = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

function largestPowerOfTwoBelow(n) {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
}

function consistencyLength(first, second) {
  let m = first;
  let n = second;
  let len = 0;
  let complete = true;
  while (m !== n) {
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      len++;
      n = k;
    } else {
      len++;
      m -= k;
      n -= k;
      complete = false;
    }
  }
  return complete ? len : len + 1;
}

/** Verifies an RFC 9162 §2.1.4.2 consistency proof between tree sizes `first` ≤ `second`. */
export async function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  if (first > second) fail(`first ${first} is greater than second ${second}`);
  if (first === second || first === 0n) {
    if (proof.length !== 0) fail('consistency proof must be empty');
    if (first === second && !equalBytes(firstRoot, secondRoot)) fail('same tree size, different roots');
    if (first === 0n && b64encode(firstRoot) !== EMPTY_ROOT) fail('the empty tree has another root');
    return;
  }
  const { fr, sr } = await consistencyRoots(first, second, proof, firstRoot);
  if (!equalBytes(fr, firstRoot) || !equalBytes(sr, secondRoot)) {
    fail('the larger tree does not extend the smaller one');
  }
}

/**
 * The roots {fr, sr} an RFC 9162 consistency proof for 0 < first < second implies. When
 * `first` is a power of two the proof holds no trace of the first root: it is `firstRoot`.
 */
async function consistencyRoots(first, second, proof, firstRoot) {
  const expected = consistencyLength(first, second);
  if (proof.length !== expected) fail(`consistency proof has ${proof.length} hashes, expected ${expected}`);
  const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1n;
  let sn = second - 1n;
  while (odd(fn)) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) fail('consistency proof is too long');
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('consistency proof is too short');
  return { fr, sr };
}

/**
 * The root of the first `first` leaves of the tree of `second` leaves (0 < first < second),
 * as the log's own answers tie it to `secondRoot` — what fork evidence needs
 * (docs/protocol-notes.md). When `first` is not a power of two the consistency proof gives
 * it; otherwise it is the hash of the leftmost complete subtree of `first` leaves, folded from
 * the inclusion proof of leaf 0 (`leaf0` = {leaf, proof}, verified against `secondRoot`).
 */
export async function prefixRoot(first, second, proof, secondRoot, leaf0) {
  if ((first & (first - 1n)) !== 0n) {
    const { fr, sr } = await consistencyRoots(first, second, proof, null);
    if (!equalBytes(sr, secondRoot)) fail('the consistency proof does not lead to the larger root');
    return fr;
  }
  await verifyInclusion(leaf0.leaf, 0n, second, leaf0.proof, secondRoot);
  let node = leaf0.leaf;
  for (let size = 1n, i = 0; size < first; size <<= 1n, i++) node = await nodeHash(node, leaf0.proof[i]);
  // The prefix root must also be what the consistency proof starts from.
  await verifyConsistency(first, second, proof, node, secondRoot);
  return node;
}

// ---------------------------------------------------------------------------------------------
// tlog-proof (c2sp.org/tlog-proof@v1)

/** Parses a tlog-proof text into {index (BigInt), proof [bytes], noteText}. */
export function parseTlogProof(s) {
  const split = s.indexOf('\n\n');
  if (split < 0) fail('tlog-proof: no empty line before the checkpoint');
  const lines = s.slice(0, split).split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') fail('tlog-proof: wrong header line');
  let i = 1;
  if (lines[i]?.startsWith('extra ')) {
    if (b64decode(lines[i].slice(6)).length === 0) fail('tlog-proof: empty extra');
    i++;
  }
  if (!lines[i]?.startsWith('index ')) fail('tlog-proof: expected index <N>');
  const index = parseDecimal(lines[i].slice(6));
  const proof = lines.slice(i + 1).map((l) => {
    const h = b64decode(l);
    if (h.length !== 32) fail('tlog-proof: proof line is not a 32-byte hash');
    return h;
  });
  if (proof.length > 64) fail('tlog-proof: too many proof hashes');
  return { index, proof, noteText: s.slice(split + 2) };
}

// ---------------------------------------------------------------------------------------------
// DSSE (envelope and PAE)

/** DSSE v1 PAE: `DSSEv1 <len type> <type> <len payload> <payload>`. */
export function pae(payloadType, payload) {
  const t = utf8(payloadType);
  return concat(utf8(`DSSEv1 ${t.length} `), t, utf8(` ${payload.length} `), payload);
}

/** Parses a canonical entry (a DSSE envelope) into {payloadType, payload bytes, signatures}. */
export function parseEnvelope(entryBytes) {
  let v;
  try {
    v = JSON.parse(fromUtf8(entryBytes));
  } catch (e) {
    fail(`entry is not JSON: ${e.message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('entry is not a JSON object');
  const keys = Object.keys(v).sort().join(',');
  if (keys !== 'payload,payloadType,signatures') fail('entry has other fields than a DSSE envelope');
  if (typeof v.payloadType !== 'string') fail('payloadType is not a string');
  if (!Array.isArray(v.signatures) || v.signatures.length === 0) fail('entry has no signatures');
  const signatures = v.signatures.map((s, i) => {
    if (typeof s?.keyid !== 'string' || !/^[0-9a-f]{8}$/.test(s.keyid)) fail(`signatures[${i}].keyid is not 8 hex digits`);
    const sig = b64decode(s.sig);
    if (sig.length !== 64) fail(`signatures[${i}].sig is not 64 bytes`);
    return { keyid: s.keyid, sig };
  });
  return { payloadType: v.payloadType, payload: b64decode(v.payload), signatures };
}

/** Whether some signature of the envelope with the key's key ID verifies under the key. */
export async function envelopeSignedBy(env, key) {
  const id = hex(key.id);
  const msg = pae(env.payloadType, env.payload);
  for (const s of env.signatures) {
    if (s.keyid === id && (await ed25519Verify(key.pub, msg, s.sig))) return true;
  }
  return false;
}

/** Decodes `inclusion proof` JSON hashes (base64) into bytes. */
export const decodeHashes = (arr) =>
  arr.map((h) => {
    const b = b64decode(h);
    if (b.length !== 32) fail('proof hash is not 32 bytes');
    return b;
  });

// ---------------------------------------------------------------------------------------------
// CBOR (RFC 8949): only what a COSE_Sign1 entry of this log holds, read strictly. Definite
// lengths and shortest-form heads only (RFC 8949 §4.2.1), no floats or simple values, no
// duplicate map keys, tags only around the whole item, a depth limit, exactly one item with
// nothing after it. Anything else is an error: the page never guesses what other CBOR readers
// would make of odd bytes.

const CBOR_MAX_DEPTH = 16;

/**
 * Decodes exactly one CBOR item. Items: {t: 'int', v: BigInt}, {t: 'bytes', v: Uint8Array},
 * {t: 'text', v: string}, {t: 'array', v: [item]}, {t: 'map', v: [[key, value]]} (in encoded
 * order), {t: 'tag', tag: BigInt, v: item}; each also has `raw`, its encoded bytes.
 */
export function cborDecode(bytes) {
  if (!(bytes instanceof Uint8Array)) fail('CBOR input is not bytes');
  const { item, end } = cborItem(bytes, 0, 0);
  if (end !== bytes.length) fail(`CBOR: ${bytes.length - end} bytes after the item`);
  return item;
}

function cborItem(b, at, depth) {
  if (depth > CBOR_MAX_DEPTH) fail('CBOR: nested too deeply');
  if (at >= b.length) fail('CBOR: truncated');
  const major = b[at] >> 5;
  const info = b[at] & 0x1f;
  if (major === 7) fail('CBOR: floats and simple values are not accepted');
  if (major === 6 && depth > 0) fail('CBOR: a tag inside an item');
  let pos = at + 1;
  let n;
  if (info < 24) {
    n = BigInt(info);
  } else if (info <= 27) {
    const len = 1 << (info - 24);
    if (pos + len > b.length) fail('CBOR: truncated head');
    n = 0n;
    for (let i = 0; i < len; i++) n = (n << 8n) | BigInt(b[pos + i]);
    pos += len;
    const min = [24n, 0x100n, 0x10000n, 0x100000000n][info - 24];
    if (n < min) fail('CBOR: a head is not in its shortest form');
  } else if (info === 31) {
    return fail('CBOR: indefinite lengths are not accepted');
  } else {
    return fail(`CBOR: reserved additional information ${info}`);
  }
  const done = (item) => {
    item.raw = b.subarray(at, pos);
    return { item, end: pos };
  };
  const length = () => {
    if (n > BigInt(b.length - pos)) fail('CBOR: a length runs past the end of the input');
    return Number(n);
  };
  switch (major) {
    case 0:
      return done({ t: 'int', v: n });
    case 1:
      return done({ t: 'int', v: -1n - n });
    case 2: {
      const len = length();
      const v = b.subarray(pos, pos + len);
      pos += len;
      return done({ t: 'bytes', v });
    }
    case 3: {
      const len = length();
      let v;
      try {
        v = fromUtf8(b.subarray(pos, pos + len));
      } catch {
        fail('CBOR: a text string is not valid UTF-8');
      }
      pos += len;
      return done({ t: 'text', v });
    }
    case 4: {
      const count = length();
      const v = [];
      for (let i = 0; i < count; i++) {
        const r = cborItem(b, pos, depth + 1);
        v.push(r.item);
        pos = r.end;
      }
      return done({ t: 'array', v });
    }
    case 5: {
      const count = length();
      const v = [];
      const keys = new Set();
      for (let i = 0; i < count; i++) {
        const k = cborItem(b, pos, depth + 1);
        const key = hex(k.item.raw);
        if (keys.has(key)) fail('CBOR: duplicate map key');
        keys.add(key);
        const val = cborItem(b, k.end, depth + 1);
        v.push([k.item, val.item]);
        pos = val.end;
      }
      return done({ t: 'map', v });
    }
    case 6: {
      const r = cborItem(b, pos, depth + 1);
      pos = r.end;
      return done({ t: 'tag', tag: n, v: r.item });
    }
    default:
      return fail('CBOR: unknown major type');
  }
}

/** A CBOR head: major type and argument, in shortest form. */
function cborHead(major, n) {
  const m = major << 5;
  if (n < 24) return new Uint8Array([m | n]);
  if (n < 0x100) return new Uint8Array([m | 24, n]);
  if (n < 0x10000) return new Uint8Array([m | 25, n >> 8, n & 0xff]);
  return new Uint8Array([m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

const cborBytes = (b) => concat(cborHead(2, b.length), b);

/** The COSE Sig_structure of a COSE_Sign1 (RFC 9052 §4.4): ["Signature1", protected, h'', payload]. */
export function sigStructure(protectedBytes, payload) {
  const context = utf8('Signature1');
  return concat(cborHead(4, 4), cborHead(3, context.length), context, cborBytes(protectedBytes), cborBytes(new Uint8Array(0)), cborBytes(payload));
}

// ---------------------------------------------------------------------------------------------
// COSE_Sign1 signed statements (DESIGN.md §12)

export const COSE_TAG_SIGN1 = 18n;
const COSE_ALG_EDDSA = -8n;
const COSE_CONTENT_TYPE_INTOTO = 'application/vnd.in-toto+json';
/** Protected header labels this log processes (the only ones `crit` may list). */
const COSE_PROCESSED = [1n, 3n, 4n, 15n];

/** Whether entry bytes are a COSE_Sign1 (tag 18: first byte 0xd2) rather than a DSSE JSON entry. */
export const isCoseEntry = (entry) => entry.length > 0 && entry[0] === 0xd2;

const mapGet = (m, label) => m.v.find(([k]) => k.t === 'int' && k.v === label)?.[1];

/**
 * Parses a COSE_Sign1 entry as the log writes it: tag 18, protected header bytes, an empty
 * unprotected header (the log empties it), the attached payload and a 64-byte signature; the
 * protected header with `alg` EdDSA, a 4-byte `kid`, `content_type` in-toto, CWT claims (15)
 * with text `iss` (1) and `sub` (2), and no `crit` beyond those. Returns {protectedBytes,
 * payload, signature, kid (bytes), iss, sub, sigStructure}: the Sig_structure is built from
 * the very bytes of the entry.
 */
export function parseCoseSign1(entry) {
  const top = cborDecode(entry);
  if (top.t !== 'tag' || top.tag !== COSE_TAG_SIGN1) fail('the entry is not a COSE_Sign1 (CBOR tag 18)');
  const a = top.v;
  if (a.t !== 'array' || a.v.length !== 4) fail('COSE_Sign1: expected an array of four items');
  const [prot, unprot, payload, signature] = a.v;
  if (prot.t !== 'bytes') fail('COSE_Sign1: the protected header is not a byte string');
  if (unprot.t !== 'map') fail('COSE_Sign1: the unprotected header is not a map');
  if (unprot.v.length !== 0) fail('COSE_Sign1: the unprotected header is not empty (the log empties it)');
  if (payload.t !== 'bytes') fail('COSE_Sign1: the payload is not attached');
  if (signature.t !== 'bytes' || signature.v.length !== 64) fail('COSE_Sign1: the signature is not 64 bytes');
  const h = cborDecode(prot.v);
  if (h.t !== 'map') fail('COSE_Sign1: the protected header is not a map');
  const alg = mapGet(h, 1n);
  if (alg?.t !== 'int' || alg.v !== COSE_ALG_EDDSA) fail('COSE_Sign1: the protected alg (1) is not EdDSA (-8)');
  const crit = mapGet(h, 2n);
  if (crit !== undefined) {
    if (crit.t !== 'array' || crit.v.length === 0) fail('COSE_Sign1: crit (2) is not a non-empty array');
    for (const c of crit.v) {
      if (c.t !== 'int' || !COSE_PROCESSED.includes(c.v)) fail('COSE_Sign1: crit (2) lists a parameter this page does not process');
    }
  }
  const ct = mapGet(h, 3n);
  if (ct?.t !== 'text' || ct.v !== COSE_CONTENT_TYPE_INTOTO) fail(`COSE_Sign1: the protected content_type (3) is not ${COSE_CONTENT_TYPE_INTOTO}`);
  const kid = mapGet(h, 4n);
  if (kid?.t !== 'bytes' || kid.v.length !== 4) fail('COSE_Sign1: the protected kid (4) is not a 4-byte key ID');
  if (mapGet(h, 258n) !== undefined) fail('COSE_Sign1: a hash envelope (RFC 9995), not an attached statement');
  const claims = mapGet(h, 15n);
  if (claims?.t !== 'map') fail('COSE_Sign1: the protected header has no CWT claims (15)');
  const iss = mapGet(claims, 1n);
  const sub = mapGet(claims, 2n);
  if (iss?.t !== 'text') fail('COSE_Sign1: the CWT claims have no text iss (1)');
  if (sub?.t !== 'text') fail('COSE_Sign1: the CWT claims have no text sub (2)');
  return {
    protectedBytes: prot.v,
    payload: payload.v,
    signature: signature.v,
    kid: kid.v,
    iss: iss.v,
    sub: sub.v,
    sigStructure: sigStructure(prot.v, payload.v),
  };
}

/**
 * Whether a parsed COSE_Sign1 names `key` (kid = its key ID, CWT iss = its name, as the log's
 * admission requires) and its EdDSA signature over the Sig_structure verifies under it.
 */
export async function coseSignedBy(cose, key) {
  if (!equalBytes(cose.kid, key.id) || cose.iss !== key.name) return false;
  return ed25519Verify(key.pub, cose.sigStructure, cose.signature);
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Where two JSON values first differ, as a path below `root` (`root.a[2].b`), or null when
 * they are equal (object key order does not matter).
 */
export function jsonDifference(a, b, root) {
  if (a === b) return null;
  const kind = (x) => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x);
  if (kind(a) !== kind(b) || (kind(a) !== 'object' && kind(a) !== 'array')) return root;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return root;
    for (let i = 0; i < a.length; i++) {
      const d = jsonDifference(a[i], b[i], `${root}[${i}]`);
      if (d !== null) return d;
    }
    return null;
  }
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!Object.hasOwn(a, k) || !Object.hasOwn(b, k)) return `${root}.${k}`;
    const d = jsonDifference(a[k], b[k], `${root}.${k}`);
    if (d !== null) return d;
  }
  return null;
}
