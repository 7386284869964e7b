// The attestlog web explorer: hash-routed pages over the /v1 JSON API.
//
// Every fact a page shows is either derived here from bytes this browser verified (entry
// bytes proven in a checkpoint verified under the trusted key and witness policy, decoded
// here: DSSE envelope -> statement; enrolment entries; the version chain walked through
// `supersedes` links between verified entries) or labelled "reported by the server, not
// verified". The server's parsed views (`payload`, search hits, the vendor list) are only
// hints: which entries to fetch. Entries are attacker-controlled: all their text is rendered
// with text nodes, never parsed as HTML.

import * as v from './verify.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
// localStorage is per web origin, and a log has one web origin (DESIGN §4): what this browser
// remembers is about the log behind this page, whatever origin or key the server names now.
const PIN_KEY = 'attestlog.v1.pinned-log-key'; // JSON {key, policy}: the log key and its witness policy
const SEEN_KEY = 'attestlog.v1.seen'; // the last checkpoint verified, with the key and policy used
const HISTORY_KEY = 'attestlog.v1.history';

// ---------------------------------------------------------------------------------------------
// DOM helpers (text only)

/** Creates an element; `props` are attributes (plus `class`), children are nodes or strings. */
function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, val] of Object.entries(props)) {
    if (val === undefined || val === null || val === false) continue;
    e.setAttribute(k, val === true ? '' : String(val));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const link = (href, ...children) => h('a', { href }, ...children);
const entryLink = (i) => link(`#/entry/${i}`, `entry ${i}`);
const vendorLink = (name) => link(`#/vendor/${encodeURIComponent(name)}`, name);

function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]));
}

function table(headers, rows, caption) {
  return h(
    'table',
    { class: 'responsive' },
    caption ? h('caption', { class: 'note' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { 'data-label': headers[i] }, c))))),
  );
}

const STATE_WORDS = {
  active: '✔ active',
  superseded: '↻ superseded',
  revoked: '✖ revoked',
  withdrawn: '✖ withdrawn',
  expired: '⌛ expired',
  not_yet_valid: '… not yet valid',
  enrolled: '✔ enrolled',
};
/** A fact the browser could not verify: labelled so that a hurried reader cannot miss it. */
const unverified = (...children) =>
  h('span', { class: 'unverified' }, h('strong', {}, '⚠ Reported by the server, not verified: '), ...children);

const badge = (state) => h('span', { class: `badge ${state}` }, STATE_WORDS[state] ?? state);

const regionNames = (() => {
  try {
    return new Intl.DisplayNames(['en'], { type: 'region' });
  } catch {
    return null;
  }
})();
const GROUPS = { EU: 'European Union', EEA: 'European Economic Area', WW: 'worldwide' };
function country(code) {
  if (typeof code !== 'string') return String(code);
  let name = GROUPS[code];
  if (!name && /^[A-Z]{2}$/.test(code) && regionNames) {
    try {
      name = regionNames.of(code);
    } catch {
      name = null;
    }
  }
  return name && name !== code ? `${name} (${code})` : code;
}
const list = (xs, f = (x) => x) => (Array.isArray(xs) && xs.length ? xs.map(f).join(', ') : '—');

function duration(iso) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso ?? '');
  if (!m || iso === 'P' || iso.endsWith('T')) return String(iso);
  const units = ['year', 'month', 'week', 'day', 'hour', 'minute', 'second'];
  const parts = units
    .map((u, i) => [Number(m[i + 1] ?? 0), u])
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n} ${u}${n === 1 ? '' : 's'}`);
  return parts.length ? `${parts.join(', ')} (${iso})` : `none (${iso})`;
}

// ---------------------------------------------------------------------------------------------
// Network

class HttpError extends Error {}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new HttpError(body?.error?.message ?? `${path}: HTTP ${r.status}`);
  return body;
}

async function getText(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new HttpError(`${path}: HTTP ${r.status}`);
  return r.text();
}

let logInfoPromise = null;
const logInfo = () => (logInfoPromise ??= getJSON('/v1/log'));

/** Runs `f` over `items` with at most `n` at a time; each result is {ok, value} or {ok: false, error}. */
async function pool(items, n, f) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await f(items[i], i) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

const when = (iso) => (iso ? new Date(iso).toISOString() : 'an earlier visit');

// ---------------------------------------------------------------------------------------------
// Trust: the log key and the witness policy, pinned together by the visitor or taken from the
// server (and then said so)

/** The visitor's pin: {key, policy (text or null; undefined for a pin that named no policy)}. */
function readPin() {
  const raw = localStorage.getItem(PIN_KEY);
  if (raw === null) return null;
  try {
    const p = JSON.parse(raw);
    if (p && typeof p.key === 'string' && (p.policy === null || typeof p.policy === 'string')) return p;
  } catch {
    // an older page stored the bare key
  }
  return { key: raw, policy: undefined };
}

const samePolicy = (a, b) => (a ?? '').trim() === (b ?? '').trim();

/**
 * What this browser trusts: {info, served, pinned, key, policyText, policy, problems}. With a
 * pin the pinned key and policy are used whatever the server says; `problems` are failed
 * checks ([label, detail]) every verification shows.
 */
async function trust() {
  const info = await logInfo();
  const t = { info, served: null, pinned: false, key: null, policyText: null, policy: null, problems: [] };
  try {
    t.served = await v.parseVerifierKey(info.verifier_key);
  } catch (e) {
    t.problems.push(['Log key', `the key this server sends does not parse: ${e.message}`]);
  }
  const served = info.witness_policy ?? null;
  const pin = readPin();
  if (pin) {
    t.pinned = true;
    try {
      t.key = await v.parseVerifierKey(pin.key);
    } catch (e) {
      t.problems.push(['Pinned log key', `your pinned key does not parse: ${e.message}`]);
    }
    if (t.key && t.served && t.key.text !== t.served.text) {
      t.problems.push(['Pinned log key', `the key you pinned (${t.key.text}) is not the key this page serves (${t.served.text}); checking with your pinned key`]);
    }
    if (pin.policy === undefined) {
      t.policyText = served;
      t.problems.push(['Pinned witness policy', 'your pin names no witness policy (it was made by an older version of this page); pin the key again in Trust settings to pin its witness policy too']);
    } else {
      t.policyText = pin.policy;
      if (!samePolicy(pin.policy, served)) {
        t.problems.push([
          'Pinned witness policy',
          `the witness policy this server sends (${served === null ? 'none' : `“${served.trim()}”`}) is not the one you pinned with the log key (${pin.policy === null ? 'none' : `“${pin.policy.trim()}”`}); checking with your pinned policy`,
        ]);
      }
    }
  } else {
    t.key = t.served;
    t.policyText = served;
  }
  if (t.policyText !== null) {
    try {
      t.policy = await v.parsePolicy(t.policyText);
    } catch (e) {
      t.problems.push(['Witness policy', `the policy does not parse: ${e.message}`]);
    }
  }
  return t;
}

/** A list of checks: each {ok: true | false | 'warn' | null (information), label, detail}. */
class Checks {
  constructor() {
    this.items = [];
  }
  ok(label, detail) {
    this.items.push({ ok: true, label, detail });
  }
  fail(label, detail) {
    this.items.push({ ok: false, label, detail });
  }
  warn(label, detail) {
    this.items.push({ ok: 'warn', label, detail });
  }
  info(label, detail) {
    this.items.push({ ok: null, label, detail });
  }
  get failed() {
    return this.items.some((i) => i.ok === false);
  }
  /** Runs `f`; a thrown error becomes a failed check with its message. */
  async run(label, f) {
    try {
      const detail = await f();
      this.ok(label, detail);
      return true;
    } catch (e) {
      this.fail(label, e.message);
      return false;
    }
  }
}

/** The trust-anchor checks shared by every verification. */
function keyChecks(t, checks) {
  for (const [label, detail] of t.problems) checks.fail(label, detail);
  if (!t.key || t.problems.some(([l]) => l.toLowerCase().includes('log key'))) return;
  if (t.pinned) {
    checks.ok('Trusted log key', `${t.key.text} (pinned by you in this browser, together with its witness policy)`);
  } else {
    checks.warn(
      'Trusted log key',
      `trusting the key this server sent: ${t.key.text}. It is not pinned, so a server that lies could send another key with checkpoints to match; pin the key the operator publishes elsewhere in Trust settings.`,
    );
  }
}

/** Verifies a checkpoint note: log signature and, with a policy, the witness quorum. */
async function checkCheckpoint(t, noteText, checks) {
  let opened = null;
  if (!t.key) {
    checks.fail('Checkpoint signature', 'no usable log key');
    return null;
  }
  await checks.run('Checkpoint signature', async () => {
    opened = await v.openCheckpoint(noteText, t.key);
    return `checkpoint of tree size ${opened.checkpoint.size} signed by ${t.key.name} (key ID ${v.hex(t.key.id)}), Ed25519 verified`;
  });
  if (!opened) return null;
  const whose = t.pinned ? 'the witness policy you pinned' : 'the witness policy this server sent';
  if (t.policyText === null) {
    checks.info('Witness cosignatures', `no witness policy (${t.pinned ? 'as you pinned' : 'this server names none'}): only the log's own signature is checked`);
  } else if (t.policy) {
    await checks.run('Witness cosignatures', async () => {
      if (!t.policy.logs.some((l) => v.equalBytes(l.key.pub, t.key.pub))) {
        throw new v.VerifyError(`${whose} does not name the trusted log key`);
      }
      const w = await v.checkWitnesses(opened.note, t.policy);
      const who = w.cosignatures.map((c) => `${c.name} at ${new Date(Number(c.timestamp) * 1000).toISOString()}`);
      if (!w.quorum) {
        throw new v.VerifyError(`quorum ${t.policy.quorum} of ${whose} not met: verified cosignatures from ${w.witnesses.size} of ${t.policy.witnesses.length} witnesses${who.length ? ` (${who.join('; ')})` : ''}`);
      }
      return `quorum ${t.policy.quorum ?? 'none'} of ${whose} met by ${w.witnesses.size} of ${t.policy.witnesses.length} witnesses${who.length ? `: ${who.join('; ')}` : ''}`;
    });
  }
  return opened;
}

// ---------------------------------------------------------------------------------------------
// Consistency with what this browser saw before, and fork evidence

function loadSeen() {
  // Earlier versions of this page kept one record per log origin: the newest is the reference.
  let raw = localStorage.getItem(SEEN_KEY);
  if (raw === null) {
    const old = Object.keys(localStorage).filter((k) => k.startsWith(`${SEEN_KEY}:`));
    const records = old.map((k) => {
      try {
        return JSON.parse(localStorage.getItem(k));
      } catch {
        return null;
      }
    });
    raw = JSON.stringify(records.filter((r) => r && typeof r.seen_at === 'string').sort((a, b) => (a.seen_at < b.seen_at ? 1 : -1))[0] ?? null);
  }
  try {
    const s = JSON.parse(raw);
    return s && typeof s.note === 'string' ? s : null;
  } catch {
    return null;
  }
}

function loadHistory() {
  try {
    const hist = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]');
    return Array.isArray(hist) ? hist : [];
  } catch {
    return [];
  }
}

function remember(t, noteText, size) {
  const now = new Date().toISOString();
  localStorage.setItem(SEEN_KEY, JSON.stringify({ note: noteText, size: String(size), seen_at: now, key: t.key.text, policy: t.policyText }));
  const hist = loadHistory();
  if (hist.length === 0 || hist[hist.length - 1].size !== String(size)) hist.push({ size: String(size), seen_at: now });
  localStorage.setItem(HISTORY_KEY, JSON.stringify(hist.slice(-100)));
}

let fork = null; // fork evidence found during this check

/**
 * Checks that a verified checkpoint is consistent with, and not older than, the last one this
 * browser verified; remembers it when it is newer. The remembered checkpoint is never reset by
 * a change of key or policy: that is a failure the visitor resolves in Trust settings. Fork
 * evidence is produced only for a real conflict: two roots for one size, or a consistency
 * proof that fails.
 */
async function checkConsistency(t, opened, noteText, checks) {
  const size = opened.checkpoint.size;
  const seen = loadSeen();
  if (!seen) {
    remember(t, noteText, size);
    checks.info('Consistency', `this browser had not verified a checkpoint of this log before; it now remembers this one (size ${size})`);
    return;
  }
  const fix = 'The remembered checkpoint is kept, not reset. If the operator really changed its key, confirm the new key through another channel, pin it, and forget the remembered checkpoint in Trust settings.';
  if (seen.key !== undefined && seen.key !== t.key.text) {
    checks.fail('Log key changed', `this browser verified this log's checkpoints with the key ${seen.key} (last on ${when(seen.seen_at)}), but is now asked to trust ${t.key.text} (${t.pinned ? 'your pin' : 'the key this server sent'}). ${fix}`);
    return;
  }
  if (seen.policy !== undefined && !samePolicy(seen.policy, t.policyText)) {
    // The remembered checkpoint stays valid under the same key, so it stays the reference;
    // the change is said (a server-sent change against a pin already failed above).
    checks.warn(
      'Witness policy changed',
      `this browser last verified this log with ${seen.policy === null ? 'no witness policy' : `the witness policy “${seen.policy.trim()}”`} (on ${when(seen.seen_at)}); it now uses ${t.policyText === null ? 'none' : `“${t.policyText.trim()}”`} (${t.pinned ? 'your pin' : 'sent by this server, not pinned'})`,
    );
  }
  let old;
  try {
    old = await v.openCheckpoint(seen.note, t.key);
  } catch (e) {
    checks.fail('Log key changed', `the checkpoint this browser verified on ${when(seen.seen_at)} does not verify under the key trusted now (${e.message}). ${fix}`);
    return;
  }
  const a = old.checkpoint;
  const b = opened.checkpoint;
  let proof = [];
  if (b.size < a.size) {
    // Older than what this browser saw: stale or rolled back. A fork only if the log's own
    // proof that the larger tree extends this one fails.
    let p;
    try {
      p = await getJSON(`/v1/proof/consistency?first=${b.size}&second=${a.size}`);
      proof = v.decodeHashes(p.hashes);
    } catch (e) {
      checks.fail('Freshness', `STALE OR ROLLED BACK: this server shows a tree of size ${b.size}, older than the tree of size ${a.size} this browser verified on ${when(seen.seen_at)}, and cannot prove that tree (${e.message}). Entries after ${b.size} (newer versions, revocations) are hidden from this page.`);
      return;
    }
    try {
      await v.verifyConsistency(b.size, a.size, proof, b.root, a.root);
    } catch (e) {
      recordFork(noteText, seen.note, proof, null, `the log's proof that the tree of size ${a.size} seen on ${when(seen.seen_at)} extends the tree of size ${b.size} shown now fails: ${e.message} (the log's answers do not prove a fork by themselves)`);
      checks.fail('Consistency', fork.reason);
      return;
    }
    checks.fail('Freshness', `STALE OR ROLLED BACK: this server shows a tree of size ${b.size}, older than the tree of size ${a.size} this browser verified on ${when(seen.seen_at)}. The two are consistent (no fork), but entries after ${b.size} (newer versions, revocations) are hidden from this page.`);
    return;
  }
  let reason = null;
  try {
    if (a.size !== b.size && a.size !== 0n) {
      const p = await getJSON(`/v1/proof/consistency?first=${a.size}&second=${b.size}`);
      if (p.first !== Number(a.size) || p.second !== Number(b.size)) throw new v.VerifyError('the log answered a proof for other sizes');
      proof = v.decodeHashes(p.hashes);
    }
    await v.verifyConsistency(a.size, b.size, proof, a.root, b.root);
  } catch (e) {
    if (e instanceof HttpError) {
      checks.fail('Consistency', `the log cannot prove that the tree of size ${b.size} extends the tree of size ${a.size} this browser verified on ${when(seen.seen_at)}: ${e.message}`);
      return;
    }
    reason = e.message;
  }
  if (reason === null) {
    remember(t, noteText, b.size);
    checks.ok('Consistency', `the tree of size ${b.size} extends the tree of size ${a.size} this browser verified on ${when(seen.seen_at)} (RFC 9162 consistency proof recomputed)`);
    return;
  }
  // A failing proof alone proves nothing (anyone can write one): the evidence carries the
  // root the larger tree has at the smaller size, tied to its checkpoint by the log's own
  // answers (docs/protocol-notes.md). Without it the page still warns.
  const prefix = a.size !== 0n && a.size < b.size ? await provenPrefix(a, b.size, proof, b.root) : null;
  recordFork(
    seen.note,
    noteText,
    proof,
    prefix,
    `checkpoint of size ${b.size} is not consistent with the checkpoint of size ${a.size} seen on ${when(seen.seen_at)}: ${reason}` +
      (prefix || a.size === b.size ? '' : " (the log's answers do not prove a fork by themselves)"),
  );
  checks.fail('Consistency', fork.reason);
}

function recordFork(first, second, proof, prefix, reason) {
  fork = {
    format: 'attestlog-fork-evidence/v1',
    origin: v.parseCheckpoint(v.parseNote(second).text).origin,
    first,
    second,
    consistency_proof: proof.map(v.b64encode),
    ...(prefix ? { prefix_root: v.b64encode(prefix) } : {}),
    source: location.origin,
    reason,
  };
}

/** The larger tree's root at the smaller size, if the log's answers tie it to `root` and it differs. */
async function provenPrefix(a, size, proof, root) {
  try {
    let leaf0 = null;
    if ((a.size & (a.size - 1n)) === 0n) {
      const p = await getJSON(`/v1/proof/inclusion?index=0&tree_size=${size}`);
      leaf0 = { leaf: v.b64decode(p.leaf_hash), proof: v.decodeHashes(p.hashes) };
    }
    const prefix = await v.prefixRoot(a.size, size, proof, root, leaf0);
    return v.equalBytes(prefix, a.root) ? null : prefix;
  } catch {
    return null;
  }
}

function showForkAlert(box) {
  const text = JSON.stringify(fork, null, 2) + '\n';
  const blob = new Blob([text], { type: 'application/json' });
  const a = h('a', { id: 'fork-evidence', href: URL.createObjectURL(blob), download: 'attestlog-fork-evidence.json' }, 'Download the fork evidence');
  box.replaceChildren(
    h(
      'div',
      { class: 'alert', role: 'alert', id: 'fork-alert', 'data-state': 'fork' },
      h('h2', {}, '⚠ Warning: this log has shown conflicting histories (a fork)'),
      h('p', {}, fork.reason),
      h('p', {}, 'Both checkpoints are signed by the log key. Whatever this log shows now may differ from what it shows to others. Keep the evidence and report it; anyone can check it offline with ', h('code', {}, 'attestlog verify-fork FILE --log-key KEY'), '.'),
      h('p', {}, a),
      h('details', {}, h('summary', {}, 'Show the evidence'), h('pre', { id: 'fork-evidence-text' }, text)),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Verification display

function verificationBox(id, title) {
  const box = h('section', { class: 'verification pending', id, 'data-state': 'pending', 'aria-labelledby': `${id}-h`, 'aria-busy': 'true' });
  box.append(h('h2', { id: `${id}-h` }, title), h('p', { class: 'summary', role: 'status' }, '… verifying in your browser'));
  return box;
}

const MARKS = new Map([
  [true, ['ok', '✔ passed']],
  [false, ['fail', '✖ FAILED']],
  ['warn', ['warn', '⚠ caution']],
  [null, ['info', 'ℹ note']],
]);

function checkList(checks) {
  return h(
    'ul',
    { class: 'checks' },
    checks.items.map((c) => {
      const [cls, mark] = MARKS.get(c.ok);
      return h('li', { class: cls }, h('span', { class: 'mark' }, mark), ' ', h('strong', {}, `${c.label}: `), c.detail ?? '');
    }),
  );
}

function showChecks(box, checks, what) {
  const failed = checks.failed;
  box.className = `verification ${failed ? 'failed' : 'verified'}`;
  box.dataset.state = failed ? 'failed' : 'verified';
  box.removeAttribute('aria-busy');
  const summary = failed
    ? h('p', { class: 'summary', role: 'alert' }, `✖ Verification FAILED: ${what} could not be verified. Do not rely on it.`)
    : h('p', { class: 'summary', role: 'status' }, `✔ Verified in your browser: ${what}.`);
  box.replaceChildren(box.firstChild, summary, checkList(checks));
}

const failures = (checks) =>
  checks.items
    .filter((c) => c.ok === false)
    .map((c) => `${c.label}: ${c.detail}`)
    .join('; ');

/**
 * The log check in the banner: the latest checkpoint under the trusted key and policy, and its
 * consistency with what this browser saw. Its checkpoint is the anchor every page proves
 * entries against. Returns {t, opened, noteText, checks, ok}.
 */
async function checkLog() {
  const box = document.getElementById('log-check');
  const checks = new Checks();
  let t = null;
  let opened = null;
  let noteText = null;
  try {
    t = await trust();
    keyChecks(t, checks);
    noteText = await getText('/checkpoint');
    opened = await checkCheckpoint(t, noteText, checks);
    if (opened && !checks.failed) await checkConsistency(t, opened, noteText, checks);
  } catch (e) {
    checks.fail('Log', e.message);
  }
  const failed = checks.failed;
  if (fork) {
    showForkAlert(box);
  } else {
    const trusting = t?.pinned ? 'the key you pinned' : 'the key this server sent (not pinned: trusting the key this server sent)';
    box.replaceChildren(
      h(
        'p',
        { class: `verification ${failed ? 'failed' : 'verified'}`, role: failed ? 'alert' : 'status', id: 'log-status', 'data-state': failed ? 'failed' : 'verified' },
        failed
          ? `✖ Log verification failed: ${failures(checks)}`
          : `✔ Log verified in your browser: checkpoint of size ${opened.checkpoint.size} signed by ${trusting}; ${checks.items.find((c) => c.label === 'Consistency')?.ok ? 'consistent with what this browser saw before' : 'remembered for your next visit'}.`,
      ),
    );
  }
  return { t, opened, noteText, checks, ok: !failed };
}

// ---------------------------------------------------------------------------------------------
// Verified entries: bytes proven in the anchor checkpoint, decoded here

const PAYLOAD_TYPE_INTOTO = 'application/vnd.in-toto+json';
const PAYLOAD_TYPE_ENROLMENT = 'application/vnd.attestlog.enrolment+json';
const PAYLOAD_TYPE_REGISTRATION_POLICY = 'application/vnd.attestlog.registration-policy+json';
/** The members of a registration policy (DESIGN §12), each a list of strings unless named here. */
const POLICY_MEMBERS = ['algorithms', 'content_types', 'cwt_claims', 'max_entry_bytes', 'payload', 'predicate_types', 'sequence'];

/** Checks a registration policy payload strictly: exactly its members, each of its type. */
function checkPolicy(st) {
  const keys = Object.keys(st).sort().join(',');
  if (keys !== POLICY_MEMBERS.join(',')) throw new v.VerifyError(`the registration policy has members ${keys}, expected ${POLICY_MEMBERS.join(',')}`);
  for (const m of ['algorithms', 'content_types', 'cwt_claims', 'predicate_types']) {
    if (!Array.isArray(st[m]) || st[m].length === 0 || !st[m].every((x) => typeof x === 'string')) throw new v.VerifyError(`the registration policy's ${m} is not a list of strings`);
  }
  if (!Number.isSafeInteger(st.sequence) || st.sequence < 1) throw new v.VerifyError('the registration policy\'s sequence is not a positive integer');
  if (!Number.isSafeInteger(st.max_entry_bytes) || st.max_entry_bytes < 1 || st.max_entry_bytes > 65535) throw new v.VerifyError('the registration policy\'s max_entry_bytes is not from 1 to 65535');
  if (st.payload !== 'attached') throw new v.VerifyError('the registration policy\'s payload is not "attached"');
}
const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
const PREDICATE_TYPE = 'https://attestlog.dev/data-flows/v1';
const VERIFICATION_TYPE = 'https://attestlog.dev/verification/v1';

let logCheck = null; // the anchor check of this view (a promise)
let entries = new Map(); // index -> promise of a verified entry, for the current anchor
// entry record -> promise of its signer check; keyed by the record, not the index, so that bytes
// fetched twice for one index are each checked (a server may answer differently each time)
let signerChecks = new WeakMap();
let vendorListPromise = null;

const vendorList = () => (vendorListPromise ??= getJSON('/v1/vendors').then((r) => r.vendors));

/** The anchor checkpoint, or a VerifyError naming why there is none. */
async function anchor() {
  const a = await logCheck;
  if (!a.opened) throw new v.VerifyError(`no verified checkpoint to check against (${failures(a.checks) || 'the log check failed'})`);
  return a;
}

/**
 * Decodes entry bytes: {index, bytes, format ('dsse' | 'cose'), env (DSSE) or cose (COSE_Sign1),
 * kind ('attestation' | 'verification' | 'enrolment' | 'registration_policy'), st (the payload parsed as JSON),
 * keyids (8-hex key IDs of its signatures), signedBy(key) (whether a signature by `key`
 * verifies: DSSE PAE, or EdDSA over the COSE Sig_structure)}.
 */
function decodeEntry(index, bytes) {
  let env = null;
  let cose = null;
  let payloadType;
  let payload;
  if (v.isCoseEntry(bytes)) {
    cose = v.parseCoseSign1(bytes);
    payloadType = PAYLOAD_TYPE_INTOTO;
    payload = cose.payload;
  } else {
    env = v.parseEnvelope(bytes);
    payloadType = env.payloadType;
    payload = env.payload;
  }
  let st;
  try {
    st = JSON.parse(v.fromUtf8(payload));
  } catch (e) {
    throw new v.VerifyError(`the payload is not JSON: ${e.message}`);
  }
  if (typeof st !== 'object' || st === null || Array.isArray(st)) throw new v.VerifyError('the payload is not a JSON object');
  let kind;
  if (payloadType === PAYLOAD_TYPE_INTOTO) {
    if (st._type !== STATEMENT_TYPE) throw new v.VerifyError(`the statement's _type is not ${STATEMENT_TYPE}`);
    if (typeof st.predicate !== 'object' || st.predicate === null) throw new v.VerifyError('the statement has no predicate');
    if (st.predicateType === PREDICATE_TYPE) kind = 'attestation';
    else if (st.predicateType === VERIFICATION_TYPE) {
      const se = st.predicate.subject_entry;
      if (typeof se !== 'object' || se === null || !Number.isSafeInteger(se.log_index)) throw new v.VerifyError('the verification names no subject_entry.log_index');
      kind = 'verification';
    } else throw new v.VerifyError(`the predicate type is neither ${PREDICATE_TYPE} nor ${VERIFICATION_TYPE}`);
  } else if (payloadType === PAYLOAD_TYPE_ENROLMENT) {
    if (!['enrol', 'revoke'].includes(st.action) || typeof st.vendor !== 'string' || typeof st.key !== 'string') {
      throw new v.VerifyError('the enrolment payload lacks vendor, key or action');
    }
    kind = 'enrolment';
  } else if (payloadType === PAYLOAD_TYPE_REGISTRATION_POLICY) {
    checkPolicy(st);
    kind = 'registration_policy';
  } else {
    throw new v.VerifyError(`unknown payload type ${payloadType}`);
  }
  if (cose) {
    // The CWT claims bind the header to the statement: iss names the key, sub the claim.
    if (kind !== 'attestation' && kind !== 'verification') throw new v.VerifyError('a COSE entry must carry an attestation or a verification');
    const id = st.predicate.attestation_id ?? st.predicate.subject_entry?.attestation_id;
    if (cose.sub !== id) throw new v.VerifyError(`the CWT sub ${JSON.stringify(cose.sub)} is not the statement's attestation ID ${JSON.stringify(id)}`);
  }
  const keyids = cose ? [v.hex(cose.kid)] : env.signatures.map((s) => s.keyid);
  const signedBy = async (key) => {
    if (!cose) return v.envelopeSignedBy(env, key);
    return v.coseSignedBy(cose, key);
  };
  return { index, bytes, format: cose ? 'cose' : 'dsse', env, cose, kind, st, keyids, signedBy };
}

/** Proves entry bytes at `index` in the anchor checkpoint; returns a description. */
async function proveInclusion(index, bytes) {
  const a = await anchor();
  const cp = a.opened.checkpoint;
  if (BigInt(index) >= cp.size) throw new v.VerifyError(`entry ${index} is not in the verified checkpoint of size ${cp.size}; reload the page`);
  const p = await getJSON(`/v1/proof/inclusion?index=${index}&tree_size=${cp.size}`);
  if (p.index !== index || p.tree_size !== Number(cp.size)) throw new v.VerifyError('the log answered a proof for another index or size');
  const leaf = await v.leafHash(bytes);
  const proof = v.decodeHashes(p.hashes);
  await v.verifyInclusion(leaf, BigInt(index), cp.size, proof, cp.root);
  return `leaf hash ${v.hex(leaf)} of the entry bytes at index ${index} recomputed with SHA-256 up ${proof.length} levels to the root ${v.b64encode(cp.root)} of the verified tree of size ${cp.size}`;
}

/** Entry `index`, proven in the anchor checkpoint and decoded here (cached per anchor). */
function loadEntry(index) {
  if (!entries.has(index)) {
    entries.set(
      index,
      (async () => {
        const e = await getJSON(`/v1/entries/${index}`);
        const bytes = v.b64decode(e.entry);
        await proveInclusion(index, bytes);
        return decodeEntry(index, bytes);
      })(),
    );
  }
  return entries.get(index);
}

const sameKey = (a, b) => a.type === b.type && a.name === b.name && v.equalBytes(a.pub, b.pub);

/** Checks a verified entry is an enrolment entry of `action` for `key` signed by the log key. */
async function checkEnrolmentEntry(rec, action, key) {
  const { t } = await anchor();
  if (rec.kind !== 'enrolment') throw new v.VerifyError(`entry ${rec.index} is not an enrolment entry`);
  if (rec.format !== 'dsse' || !(await rec.signedBy(t.key))) throw new v.VerifyError(`entry ${rec.index} is not signed by the log key`);
  if (rec.st.action !== action) throw new v.VerifyError(`entry ${rec.index} is a ${rec.st.action}, not a${action === 'enrol' ? 'n enrolment' : ' revocation'}`);
  const k = await v.parseVerifierKey(rec.st.key);
  if (key && !sameKey(k, key)) throw new v.VerifyError(`entry ${rec.index} is about another key (${k.text})`);
  return k;
}

/** The role an enrolment entry gives its key (DESIGN §13): `verifier`, or `vendor` when it names none. */
const roleOf = (en) => (en.st.role === undefined ? 'vendor' : String(en.st.role));

/**
 * The enrolment rules of DESIGN §3 and §13 for a verified attestation or verification, as far
 * as a browser can check them: a signature verifies under a key that a log-signed entry below
 * it enrolled, with the role that signs this kind of statement (vendor: attestations;
 * verifier: verifications), for the name the statement gives (vendor.legal_name or
 * verifier.legal_name); a revocation the server lists is verified and must come after it.
 * Returns {key, enrolledAt, revokedAt (verified, or null), unverified: [text]}.
 */
function checkSigner(rec) {
  if (!signerChecks.has(rec)) {
    signerChecks.set(
      rec,
      (async () => {
        const role = rec.kind === 'verification' ? 'verifier' : 'vendor';
        const field = `${role}.legal_name`;
        const claimed = signerName(rec);
        if (typeof claimed !== 'string') throw new v.VerifyError(`the statement names no ${field}`);
        const vd = (await vendorList()).find((x) => x.vendor === claimed);
        const keyids = new Set(rec.keyids);
        const candidates = (vd?.keys ?? []).filter((k) => keyids.has(k.key_id) && Number.isSafeInteger(k.enrolled_at) && k.enrolled_at < rec.index);
        const tried = [];
        const over = rec.format === 'cose' ? 'EdDSA over the COSE Sig_structure (with the CWT iss naming the key)' : 'the DSSE PAE';
        for (const k of candidates) {
          try {
            const en = await loadEntry(k.enrolled_at);
            const key = await checkEnrolmentEntry(en, 'enrol', null);
            if (en.st.vendor !== claimed) throw new v.VerifyError(`entry ${en.index} enrols the key for ${en.st.vendor}, not ${claimed}`);
            if (roleOf(en) !== role) throw new v.VerifyError(`entry ${en.index} enrols ${key.name} as a ${roleOf(en)} key, which cannot sign ${rec.kind}s`);
            if (!(await rec.signedBy(key))) throw new v.VerifyError(`no signature by ${key.text} verifies over ${over}`);
            const out = { key, enrolledAt: en.index, revokedAt: null, unverified: [] };
            const r = k.revoked_at;
            if (r === undefined || r === null) {
              out.unverified.push(`that ${key.name} was not revoked between entry ${en.index} and entry ${rec.index} (a browser cannot prove an absence without reading every entry; attestlog monitor does)`);
            } else {
              const rev = await loadEntry(r);
              await checkEnrolmentEntry(rev, 'revoke', key);
              if (r < rec.index) throw new v.VerifyError(`the signing key ${key.name} was revoked at entry ${r}, before this ${rec.kind} (entry ${rec.index})`);
              out.revokedAt = r;
            }
            return out;
          } catch (e) {
            tried.push(e.message);
          }
        }
        throw new v.VerifyError(
          `no signature verifies under a ${role} key enrolled for ${claimed} before entry ${rec.index}` +
            (tried.length ? `: ${tried.join('; ')}` : ` (the server lists ${vd ? vd.keys.length : 0} keys for ${claimed}, none with a signing key ID of this entry)`),
        );
      })(),
    );
  }
  return signerChecks.get(rec);
}

/** The name a statement signs as: vendor.legal_name of an attestation, verifier.legal_name of a verification. */
const signerName = (rec) => (rec.kind === 'verification' ? rec.st.predicate?.verifier?.legal_name : rec.st.predicate?.vendor?.legal_name);

/**
 * The subject of a verified verification (DESIGN §13): the attestation at
 * subject_entry.log_index, proven and verified here, below the verification, whose leaf hash
 * and attestation ID are the ones the verification names, and the in-toto subject naming the
 * same entry by the SHA-256 of its bytes. Returns the subject's record.
 */
async function checkSubject(rec) {
  const se = rec.st.predicate.subject_entry;
  const j = se.log_index;
  if (!(j >= 0 && j < rec.index)) throw new v.VerifyError(`the subject entry ${j} is not an earlier entry`);
  const subject = await loadAttestation(j);
  const leaf = v.hex(await v.leafHash(subject.bytes));
  if (se.leaf_hash !== leaf) throw new v.VerifyError(`subject_entry.leaf_hash ${se.leaf_hash} is not the leaf hash ${leaf} of entry ${j}`);
  if (se.attestation_id !== aid(subject)) throw new v.VerifyError(`subject_entry.attestation_id ${se.attestation_id} is not the attestation ID ${aid(subject)} of entry ${j}`);
  const d = rec.st.subject;
  const digest = v.hex(await v.sha256(subject.bytes));
  if (!Array.isArray(d) || d.length !== 1 || d[0]?.name !== `log-entry/${j}` || d[0]?.digest?.sha256 !== digest) {
    throw new v.VerifyError(`the in-toto subject is not one descriptor naming log-entry/${j} with the SHA-256 of its bytes`);
  }
  return subject;
}

/** An entry proven in the anchor, that is a verification whose signature, enrolment and subject verify. */
async function loadVerification(index) {
  const rec = await loadEntry(index);
  if (rec.kind !== 'verification') throw new v.VerifyError(`entry ${index} is not a verification`);
  rec.validity = await checkSigner(rec);
  rec.subject = await checkSubject(rec);
  return rec;
}

/** An entry proven in the anchor, that is an attestation whose signature and enrolment verify. */
async function loadAttestation(index) {
  const rec = await loadEntry(index);
  if (rec.kind !== 'attestation') throw new v.VerifyError(`entry ${index} is not an attestation`);
  rec.validity = await checkSigner(rec);
  return rec;
}

const aid = (rec) => rec.st.predicate?.attestation_id;
const vendorOf = (rec) => rec.st.predicate?.vendor?.legal_name;
const issued = (rec) => Date.parse(rec.st.predicate?.issued_at);

/** Whether `next` may be the version after `prev` (DESIGN §10); throws with the reason if not. */
function checkLink(prev, next) {
  const s = next.st.predicate?.supersedes;
  if (!s || s.log_index !== prev.index) throw new v.VerifyError(`entry ${next.index} does not name entry ${prev.index} in supersedes`);
  if (s.attestation_id !== aid(prev) || aid(next) !== aid(prev)) throw new v.VerifyError(`entry ${next.index} supersedes entry ${prev.index} of another attestation ID`);
  if (vendorOf(next) !== vendorOf(prev)) throw new v.VerifyError(`entry ${next.index} is by ${vendorOf(next)}, entry ${prev.index} by ${vendorOf(prev)}`);
  if (!(prev.index < next.index)) throw new v.VerifyError(`entry ${next.index} supersedes the later entry ${prev.index}`);
  if (!(issued(prev) < issued(next))) throw new v.VerifyError(`entry ${next.index} is not issued after entry ${prev.index} (issued_at)`);
}

/**
 * The line of versions through `rec` (DESIGN §10), walked through verified entries only:
 * back along `supersedes` to the first version, then forward through the verified entries
 * among `candidates` (indexes the server's search named) whose `supersedes` names the current
 * head. Returns {chain (oldest first), outside: [{index, reason}], listed (how many the server
 * named)}. Throws when a backward link does not verify.
 */
async function versionChain(rec, candidates) {
  const chain = [rec];
  for (let cur = rec; cur.st.predicate?.supersedes; ) {
    const j = cur.st.predicate.supersedes.log_index;
    if (!Number.isSafeInteger(j) || j < 0 || j >= cur.index) throw new v.VerifyError(`entry ${cur.index} names ${j} as the version it supersedes, which is not an earlier entry`);
    if (chain.length > 1000) throw new v.VerifyError('the version chain is longer than 1,000 entries');
    const prev = await loadAttestation(j);
    checkLink(prev, cur);
    chain.unshift(prev);
    cur = prev;
  }
  const inChain = new Set(chain.map((x) => x.index));
  const later = [...new Set(candidates)].filter((i) => Number.isSafeInteger(i) && i > rec.index && !inChain.has(i)).sort((a, b) => a - b);
  const outside = [];
  const verified = [];
  (await pool(later, 6, loadAttestation)).forEach((r, i) => {
    if (r.ok) verified.push(r.value);
    else outside.push({ index: later[i], reason: `does not verify: ${r.error.message}` });
  });
  let head = rec;
  for (;;) {
    const next = verified.filter((c) => c.st.predicate?.supersedes?.log_index === head.index && !inChain.has(c.index));
    let taken = null;
    for (const c of next) {
      try {
        checkLink(head, c);
        if (!taken) {
          taken = c;
          continue;
        }
        outside.push({ index: c.index, reason: `names entry ${head.index} as the version it supersedes, but entry ${taken.index} already did` });
      } catch (e) {
        outside.push({ index: c.index, reason: e.message });
      }
      inChain.add(c.index);
    }
    if (!taken) break;
    chain.push(taken);
    inChain.add(taken.index);
    head = taken;
  }
  for (const c of verified) {
    if (inChain.has(c.index)) continue;
    outside.push({ index: c.index, reason: aid(c) === aid(rec) ? 'is not linked to this line of versions' : `is about another attestation ID (${aid(c)})` });
  }
  outside.sort((a, b) => a.index - b.index);
  return { chain, outside };
}

/** State of the current (head) version of an attestation, from its verified statement. */
function currentState(rec, now = Date.now()) {
  const p = rec.st.predicate ?? {};
  if (p.status === 'revoked' || p.status === 'withdrawn') return p.status;
  const until = Date.parse(p.valid_until);
  if (!Number.isNaN(until) && until <= now) return 'expired';
  const from = Date.parse(p.valid_from);
  if (!Number.isNaN(from) && from > now) return 'not_yet_valid';
  return 'active';
}

/** The server's search answer: every page of hits (at most `max`); `field` names the hits (`entries` or `verifications`). */
async function searchAll(params, max = 500, field = 'entries') {
  const hits = [];
  let before = null;
  while (hits.length < max) {
    const q = new URLSearchParams({ ...params, limit: String(Math.min(200, max - hits.length)) });
    if (before !== null) q.set('before', String(before));
    const r = await getJSON(`/v1/search?${q}`);
    hits.push(...(r[field] ?? []));
    if (r.next === undefined || r.next === null) return { hits, more: false };
    before = r.next;
  }
  return { hits, more: true };
}

const failedMark = (msg) => h('span', { class: 'badge revoked' }, `✖ not verified: ${msg}`);

// ---------------------------------------------------------------------------------------------
// Pages

const main = () => document.getElementById('main');

function page(title, ...children) {
  const m = main();
  m.replaceChildren(h('h1', { id: 'page-title', tabindex: '-1' }, title), ...children);
  document.title = `${title} — attestlog explorer`;
  return m;
}

async function overviewPage() {
  const a = await logCheck;
  const info = await logInfo();
  const box = verificationBox('checkpoint-verification', 'Latest checkpoint');
  const growth = h('section', { 'aria-labelledby': 'growth-h' }, h('h2', { id: 'growth-h' }, 'Growth'), h('p', {}, 'Loading…'));
  const t = a.t;
  const whose = t?.pinned ? 'the policy you pinned with the log key' : 'the policy this server sent (not pinned)';
  const policy = t?.policyText
    ? [h('p', {}, `The page checks every checkpoint's cosignatures against ${whose} (c2sp.org/tlog-policy):`), h('pre', { id: 'witness-policy' }, t.policyText)]
    : [h('p', { id: 'witness-policy', class: 'note' }, `ℹ No witness policy (${t?.pinned ? 'as you pinned' : 'this server names none'}): checkpoints are checked against the log's own signature only. A log that shows different histories to different visitors is then detected only by the consistency checks of browsers and monitors.`)];
  const cp = a.opened?.checkpoint;
  page(
    'Log overview',
    facts([
      ['Origin', cp ? h('span', { class: 'mono' }, cp.origin) : unverified(info.origin)],
      ['Tree size', cp ? `${cp.size.toLocaleString('en')} entries (verified checkpoint)` : unverified(`${info.tree_size} entries`)],
      ['Log key in use', t?.key ? [h('span', { class: 'mono', id: 'trusted-key' }, t.key.text), t.pinned ? ' (pinned by you)' : [' ', unverified('this is the key the server sent; ', link('#/settings', 'pin the key'), ' its operator publishes elsewhere')]] : '—'],
      ['Log verifier key (served)', h('span', { class: 'mono', id: 'served-key' }, info.verifier_key)],
    ]),
    box,
    h('section', { 'aria-labelledby': 'policy-h' }, h('h2', { id: 'policy-h' }, 'Witness policy'), policy),
    growth,
  );
  const checks = new Checks();
  checks.items.push(...a.checks.items);
  showChecks(box, checks, cp ? `checkpoint of size ${cp.size}` : 'the checkpoint');
  if (a.noteText) box.append(h('h3', {}, 'Signed checkpoint'), h('pre', { id: 'checkpoint-note' }, a.noteText));
  if (t?.key) await growthSection(growth, t);
}

async function growthSection(sec, t) {
  const { checkpoints } = await getJSON('/v1/checkpoints?limit=30');
  const rows = [];
  const pts = [];
  for (const c of checkpoints) {
    try {
      const o = await v.openCheckpoint(c.note, t.key);
      let times = '—';
      if (t.policy) {
        const w = await v.checkWitnesses(o.note, t.policy);
        times = w.cosignatures.map((x) => `${x.name} ${new Date(Number(x.timestamp) * 1000).toISOString()}`).join('; ') || '—';
      }
      pts.push(Number(o.checkpoint.size));
      rows.push([String(o.checkpoint.size), '✔ signed', times]);
    } catch (e) {
      rows.push([unverified(String(c.size)), `✖ ${e.message}`, '—']);
    }
  }
  pts.reverse();
  const parts = [sec.firstChild];
  if (pts.length > 0) {
    const W = 600;
    const H = 160;
    const max = Math.max(1, ...pts);
    const bw = W / pts.length;
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H + 20}`);
    svg.setAttribute('class', 'chart');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `Tree size of the last ${pts.length} verified checkpoints, from ${pts[0]} to ${pts[pts.length - 1]} entries`);
    pts.forEach((size, i) => {
      const r = document.createElementNS(SVG_NS, 'rect');
      const bh = Math.max(1, (size / max) * H);
      r.setAttribute('x', String(i * bw + 1));
      r.setAttribute('y', String(H - bh));
      r.setAttribute('width', String(Math.max(1, bw - 2)));
      r.setAttribute('height', String(bh));
      const title = document.createElementNS(SVG_NS, 'title');
      title.textContent = `size ${size}`;
      r.append(title);
      svg.append(r);
    });
    const label = document.createElementNS(SVG_NS, 'text');
    label.setAttribute('x', '2');
    label.setAttribute('y', String(H + 14));
    label.textContent = `${pts[0]} … ${pts[pts.length - 1]} entries`;
    svg.append(label);
    parts.push(svg);
  }
  parts.push(
    table(['Tree size', 'Log signature', 'Witness cosignatures'], rows.slice(0, 10), 'The most recent checkpoints the log stored, each signature verified here (which checkpoints are listed is the server’s choice).'),
  );
  const hist = loadHistory();
  if (hist.length) {
    parts.push(h('h3', {}, 'Checkpoints this browser verified'), table(['Tree size', 'Seen at'], hist.slice(-10).reverse().map((x) => [String(x.size), String(x.seen_at)])));
  }
  sec.replaceChildren(...parts);
}

/**
 * The server's list of a vendor's keys, each enrolment and revocation it names proven and
 * checked here. Returns {rows: [key name, key ID, enrolment, status, role], verifierOnly
 * (every key listed verified, and each was enrolled as a verifier key)}.
 */
async function verifiedKeys(vd) {
  const checked = await pool(vd.keys, 4, async (k) => {
    const en = await loadEntry(k.enrolled_at);
    const key = await checkEnrolmentEntry(en, 'enrol', null);
    if (en.st.vendor !== vd.vendor) throw new v.VerifyError(`entry ${en.index} enrols the key for ${en.st.vendor}`);
    if (hex8(key) !== k.key_id) throw new v.VerifyError(`entry ${en.index} enrols another key`);
    let revoked = null;
    if (k.revoked_at !== undefined && k.revoked_at !== null) {
      revoked = await loadEntry(k.revoked_at);
      await checkEnrolmentEntry(revoked, 'revoke', key);
    }
    return { key, en, revoked };
  });
  const verifierOnly = checked.length > 0 && checked.every((r) => r.ok && roleOf(r.value.en) === 'verifier');
  const rows = checked.map((r, i) => {
    const k = vd.keys[i];
    if (!r.ok) return [h('span', { class: 'mono' }, String(k.key).split('+')[0]), h('span', { class: 'mono' }, String(k.key_id)), unverified(`entry ${k.enrolled_at}`), failedMark(r.error.message), '—'];
    const { key, en, revoked } = r.value;
    return [
      h('span', { class: 'mono' }, key.name),
      h('span', { class: 'mono' }, hex8(key)),
      [entryLink(en.index), ' ✔'],
      revoked ? [badge('revoked'), ' at ', entryLink(revoked.index), ' ✔'] : [badge('enrolled'), ' ', h('span', { class: 'note' }, '(no revocation listed by the server)')],
      [roleOf(en), ' ✔'],
    ];
  });
  return { rows, verifierOnly };
}

const hex8 = (key) => v.hex(key.id);

const KEYS_NOTE = () =>
  h(
    'p',
    { class: 'note' },
    unverified('the list of vendors and keys. '),
    'Each enrolment and revocation shown with ✔ is a log entry this browser proved in the verified checkpoint and whose log signature it checked. A server could leave a key or a revocation out; only reading every entry (',
    h('code', {}, 'attestlog monitor'),
    ') rules that out.',
  );

async function vendorsPage() {
  await logCheck;
  const { t } = await anchor().catch(() => ({ t: null }));
  const vendors = await vendorList();
  const list = h('div', {}, h('p', {}, 'Verifying…'));
  page(
    'Vendors',
    h('p', {}, `${vendors.length} vendors are listed with keys. Enrolments and revocations are log entries signed by the log, so the set of keys allowed to speak for a vendor is public and append-only.`),
    KEYS_NOTE(),
    list,
  );
  if (!t) {
    list.replaceChildren(h('p', { role: 'alert' }, '✖ No verified checkpoint: nothing here can be verified.'));
    return;
  }
  const rows = [];
  for (const vd of vendors) {
    const kr = (await verifiedKeys(vd)).rows;
    rows.push([vendorLink(vd.vendor), kr.map((r) => h('div', {}, r[1], ' ', r[3], ' (enrolled at ', r[2], '; role ', r[4], ')'))]);
  }
  list.replaceChildren(table(['Vendor', 'Keys'], rows));
}

async function vendorPage(name) {
  await logCheck;
  const vendors = await vendorList();
  const vd = vendors.find((x) => x.vendor === name);
  const keys = h('div', {}, h('p', {}, 'Verifying…'));
  const products = h('section', { 'aria-labelledby': 'products-h' }, h('h2', { id: 'products-h' }, 'Products and attestations'));
  page(name, h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Signing keys'), KEYS_NOTE(), keys), products);
  try {
    await anchor();
  } catch (e) {
    keys.replaceChildren(h('p', { role: 'alert' }, `✖ ${e.message}`));
    return;
  }
  const vk = vd ? await verifiedKeys(vd) : null;
  keys.replaceChildren(vk ? table(['Key name', 'Key ID', 'Enrolment', 'Status', 'Role'], vk.rows) : h('p', {}, 'The server lists no keys for this vendor.'));
  await publishedVerifications(name, products);
  const { hits, more } = await searchAll({ vendor: name }, 200);
  if (vk?.verifierOnly && !hits.length) {
    // A verifier key never signs attestations (DESIGN §13): no products section for a name
    // whose every key is a verified verifier key, unless the server lists attestations by it
    // (then they are shown, and fail their signer check).
    products.remove();
    return;
  }
  const body = h('div', {}, h('p', {}, 'Verifying…'));
  products.append(
    h(
      'p',
      { class: 'note' },
      unverified('which entries belong to this vendor (the server’s search). '),
      'Every attestation shown was proven in the verified checkpoint, its signature and enrolment checked, and its current version found by following supersedes links between verified entries. A server could leave a newer version out.',
    ),
    body,
  );
  const results = await pool(hits, 6, (x) => loadAttestation(x.index));
  const bad = [];
  const groups = new Map();
  results.forEach((r, i) => {
    if (!r.ok) return bad.push([hits[i].index, r.error.message]);
    if (vendorOf(r.value) !== name) return bad.push([hits[i].index, `it is an attestation by ${vendorOf(r.value)}`]);
    const id = String(aid(r.value));
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(r.value);
  });
  const byProduct = new Map();
  for (const members of groups.values()) {
    members.sort((a, b) => a.index - b.index);
    let row;
    try {
      const { chain, outside } = await versionChain(members[0], members.map((m) => m.index));
      const head = chain[chain.length - 1];
      row = {
        product: String(head.st.predicate.product?.name),
        cells: [
          h('span', { class: 'mono' }, String(aid(head))),
          [entryLink(head.index), ' ✔'],
          badge(currentState(head)),
          String(head.st.predicate.valid_until),
          chain.length > 1 ? chain.slice(0, -1).reverse().map((o, i) => [i ? ', ' : '', link(`#/entry/${o.index}`, `${o.index}`), ' ', badge('superseded')]) : '—',
          outside.length ? outside.map((o) => h('div', {}, failedMark(`entry ${o.index} ${o.reason}`))) : '',
        ],
      };
    } catch (e) {
      row = { product: String(members[0].st.predicate.product?.name), cells: [h('span', { class: 'mono' }, String(aid(members[0]))), '—', failedMark(e.message), '—', '—', ''] };
    }
    if (!byProduct.has(row.product)) byProduct.set(row.product, []);
    byProduct.get(row.product).push(row.cells);
  }
  const parts = [...byProduct.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([product, rows]) => h('section', { class: 'product' }, h('h3', {}, product), table(['Attestation', 'Current version', 'Status', 'Valid until', 'Older versions', 'Problems'], rows)));
  if (bad.length) parts.push(h('h3', {}, 'Entries the server listed that do not verify'), h('ul', {}, bad.map(([i, m]) => h('li', {}, entryLink(i), ' ', failedMark(m)))));
  if (more) parts.push(h('p', { class: 'note' }, 'Only the newest 200 entries of this vendor were read; older versions are reached through the supersedes links of newer ones, but older attestations are not listed.'));
  if (!parts.length) parts.push(h('p', {}, 'No attestations from this vendor.'));
  body.replaceChildren(...parts);
}

/**
 * The verifications a verifier published (the server's search by verifier name), each proven
 * and verified here: signed by a key the log enrolled as a verifier key for `name`, about an
 * attestation in the log. Shown on the page of that name; nothing when there are none.
 */
async function publishedVerifications(name, before) {
  let listed;
  try {
    listed = await searchAll({ verifier: name }, 200, 'verifications');
  } catch (e) {
    before.before(h('section', { id: 'published', 'data-state': 'failed' }, h('h2', {}, 'Verifications published'), h('p', { role: 'alert' }, failedMark(`the server's search for verifications failed: ${e.message}`))));
    return;
  }
  if (!listed.hits.length) return;
  const sec = h('section', { 'aria-labelledby': 'published-h', id: 'published', 'data-state': 'pending' }, h('h2', { id: 'published-h' }, 'Verifications published'), h('p', {}, 'Verifying…'));
  before.before(sec);
  const { good, bad, superseded } = await verifiedVerifications(listed.hits, (x) => (signerName(x) === name ? null : `it is a verification by ${signerName(x)}`));
  const parts = [sec.firstChild];
  if (good.length) parts.push(verificationTable(good, superseded, ['Verification', 'Subject', 'Verdict', 'Method', 'Issued', 'Checked']));
  if (bad.length) parts.push(h('h3', {}, 'Entries the server listed that do not verify'), h('ul', {}, bad.map(([i, m]) => h('li', {}, entryLink(i), ' ', failedMark(m)))));
  if (listed.more) parts.push(h('p', { class: 'note' }, 'Only the newest 200 verifications were read.'));
  parts.push(h('p', { class: 'note' }, unverified('which verifications this verifier published (the server’s search). '), 'Each one shown was proven in the verified checkpoint, its signature checked under a key the log enrolled as a verifier key for ', name, ', and its subject checked to be the attestation it names.'));
  sec.dataset.state = bad.length ? 'failed' : 'verified';
  sec.replaceChildren(...parts);
}

function flowSection(f, i) {
  const byRole = (role) => (f.processing_locations ?? []).filter((l) => l.role === role).map((l) => `${country(l.country)}${l.city ? `, ${l.city}` : ''}${l.facility_operator ? ` — operated by ${l.facility_operator}` : ''}`);
  const cat = String(f.category);
  const dest = (f.destinations ?? []).map((d) => [list(d.hostnames), d.ip_ranges?.length ? ` (IP ranges ${list(d.ip_ranges)})` : '', d.ports?.length ? ` ports ${list(d.ports)}` : '']);
  return h(
    'section',
    { class: 'flow', 'aria-labelledby': `flow-${i}` },
    h('h3', { id: `flow-${i}` }, `${cat.replace(/_/g, ' ')} → ${list((f.destinations ?? []).flatMap((d) => d.hostnames ?? []))}`),
    facts([
      ['Data items', list(f.items)],
      ['Purpose', list(f.purpose)],
      ['Consent', String(f.consent ?? '—').replace('_', '-')],
      ['Users in', list(f.user_regions, country)],
      ['Sent to', dest.length ? h('ul', {}, dest.map((d) => h('li', {}, d))) : '—'],
      ['Stored in', list(byRole('storage'))],
      ['Processed in', list(byRole('processing'))],
      ['Analysed in', list(byRole('analysis'))],
      ['Remote access from', list(f.remote_access_jurisdictions, country)],
      ['By whom (processors)', (f.processors ?? []).length ? h('ul', {}, f.processors.map((p) => h('li', {}, `${p.legal_name} (${country(p.jurisdiction)}) — ${p.role}: ${p.service}`))) : '—'],
      ['Onward transfers', list(f.onward_transfers, (o) => `${country(o.to_country)} under ${o.mechanism}`)],
      ['Retention', duration(f.retention)],
      ['Protections', list(f.protections)],
    ]),
  );
}

/** The aspects compared between versions (as the `attestlog diff` command does). */
function aspects(p) {
  const sets = {};
  const add = (k, x) => (sets[k] ??= new Set()).add(x);
  const names = ['status', 'validity', 'countries.storage', 'countries.processing', 'countries.analysis', 'countries.remote_access', 'countries.onward_transfers', 'excluded_jurisdictions', 'categories', 'user_regions', 'processors', 'retention', 'destinations'];
  names.forEach((n) => (sets[n] = new Set()));
  add('status', String(p.status));
  add('validity', `${p.valid_from} .. ${p.valid_until}`);
  for (const f of p.data_flows ?? []) {
    const cat = String(f.category);
    add('categories', cat);
    add('retention', `${cat}: ${f.retention}`);
    (f.user_regions ?? []).forEach((r) => add('user_regions', `${cat}: ${r}`));
    (f.processing_locations ?? []).forEach((l) => add(`countries.${l.role}`, l.country));
    (f.remote_access_jurisdictions ?? []).forEach((c) => add('countries.remote_access', c));
    (f.onward_transfers ?? []).forEach((o) => add('countries.onward_transfers', `${o.to_country} (${o.mechanism})`));
    (f.processors ?? []).forEach((x) => add('processors', `${x.legal_name} (${x.jurisdiction}, ${x.role}: ${x.service})`));
    for (const d of f.destinations ?? []) {
      (d.hostnames ?? []).forEach((x) => add('destinations', `${cat}: ${x}`));
      (d.ip_ranges ?? []).forEach((x) => add('destinations', `${cat}: ${x}`));
    }
  }
  (p.excluded_jurisdictions ?? []).forEach((c) => add('excluded_jurisdictions', c));
  return names.map((n) => [n, sets[n]]);
}

function diffSection(oldP, newP) {
  const a = aspects(oldP);
  const b = aspects(newP);
  const changes = [];
  a.forEach(([name, sa], i) => {
    const sb = b[i][1];
    const added = [...sb].filter((x) => !sa.has(x)).sort();
    const removed = [...sa].filter((x) => !sb.has(x)).sort();
    if (added.length || removed.length) changes.push([name, added, removed]);
  });
  if (!changes.length) return h('p', {}, 'No differences in countries, processors, retention, categories, destinations, status or validity.');
  return h(
    'ul',
    { class: 'diff', id: 'diff' },
    changes.map(([name, added, removed]) =>
      h('li', {}, h('strong', {}, name.replace(/_/g, ' ')), h('ul', {}, added.map((x) => h('li', { class: 'added' }, h('strong', {}, '+ added: '), x)), removed.map((x) => h('li', { class: 'removed' }, h('strong', {}, '− removed: '), x)))),
    ),
  );
}

function statementSections(st, index) {
  const p = st.predicate ?? {};
  const vendor = p.vendor ?? {};
  const prod = p.product ?? {};
  const versions = Array.isArray(prod.versions) ? list(prod.versions) : prod.versions ? `${prod.versions.min} to ${prod.versions.max}` : '—';
  const evidence = (p.evidence ?? []).map((e) => [
    String(e.type),
    String(e.issuer),
    `${e.period_start} – ${e.period_end}`,
    String(e.scope ?? ''),
    /^https?:\/\//i.test(String(e.uri)) ? h('a', { href: String(e.uri), rel: 'noopener noreferrer nofollow' }, String(e.uri)) : String(e.uri),
    h('span', { class: 'mono' }, String(e.sha256)),
  ]);
  return [
    h(
      'section',
      { 'aria-labelledby': 'claim-h' },
      h('h2', { id: 'claim-h' }, 'The claim'),
      facts([
        ['Vendor', [vendorLink(String(vendor.legal_name)), ` (${country(vendor.jurisdiction)})`]],
        ['Owned by', list(vendor.ownership_chain, (o) => `${o.legal_name} (${country(o.jurisdiction)}, ${o.relationship})`)],
        ['Product', String(prod.name)],
        ['Versions', versions],
        ['Platforms', list(prod.platforms)],
        ['Update channels', list(prod.update_channels)],
        ['Artifacts', (prod.artifacts ?? []).length ? h('ul', {}, prod.artifacts.map((a) => h('li', {}, `${a.name} `, h('span', { class: 'mono' }, `sha256:${a.sha256}`)))) : '—'],
        ['Attestation ID', h('span', { class: 'mono' }, String(p.attestation_id))],
        ['Issued', String(p.issued_at)],
        ['Valid', `${p.valid_from} to ${p.valid_until}`],
        ['Supersedes', p.supersedes ? entryLink(p.supersedes.log_index) : '—'],
      ]),
    ),
    h('section', { 'aria-labelledby': 'flows-h' }, h('h2', { id: 'flows-h' }, `Data flows (${(p.data_flows ?? []).length})`), (p.data_flows ?? []).map(flowSection)),
    h(
      'section',
      { 'aria-labelledby': 'excluded-h' },
      h('h2', { id: 'excluded-h' }, 'Excluded jurisdictions'),
      (p.excluded_jurisdictions ?? []).length
        ? [h('p', {}, 'The vendor states that no data is stored, processed, remotely accessed or transferred onward in:'), h('ul', { id: 'excluded' }, p.excluded_jurisdictions.map((c) => h('li', {}, country(c))))]
        : h('p', {}, 'None stated.'),
    ),
    h('section', { 'aria-labelledby': 'evidence-h' }, h('h2', { id: 'evidence-h' }, 'Evidence'), evidence.length ? table(['Type', 'Issuer', 'Period', 'Scope', 'Document', 'SHA-256'], evidence) : h('p', {}, 'No evidence referenced.')),
  ];
}

/** Verifies a displayed entry from its receipt: checkpoint, inclusion, vendor signature and enrolment. */

/** How to check the same entry without trusting this page: the receipt and the CLI. */
function cliSection(index, e, t, rec) {
  const receipt = e?.receipt ? JSON.stringify(e.receipt, null, 2) + '\n' : null;
  const file = `receipt-${index}.json`;
  const key = t?.key?.text ?? 'LOG-KEY';
  if (rec?.format === 'cose') return coseCliSection(index, rec, key);
  return h(
    'section',
    { 'aria-labelledby': 'cli-h', id: 'without-this-page' },
    h('h2', { id: 'cli-h' }, 'Verify without trusting this page'),
    h(
      'p',
      {},
      h('strong', {}, 'What a browser cannot protect against: '),
      'this page’s own code comes from the log server it checks. A compromised server can send code that skips these checks or shows something else, and a browser cannot prove that the server listed every entry (a newer version, a revocation). For a decision that matters, check with the attestlog command-line tool, which does not come from this server:',
    ),
    h(
      'ol',
      {},
      h('li', {}, receipt ? h('a', { id: 'receipt-download', href: URL.createObjectURL(new Blob([receipt], { type: 'application/json' })), download: file }, `Download the receipt (${file})`) : 'Get the receipt: ', receipt ? ' (this page does not check the file; the command does), or get it with ' : '', h('code', {}, `attestlog get ${index} --json`), '.'),
      h('li', {}, 'Verify it offline with the log key the operator publishes (or a tlog-policy file): ', h('code', {}, `attestlog verify ${file} --log-key ${key}`), '.'),
      h('li', {}, 'Follow the whole log, every entry and checkpoint, for new versions, revocations and forks: ', h('code', {}, `attestlog monitor --log ${location.origin} --log-key ${key} --state DIR`), '.'),
    ),
  );
}

/** The same for a SCITT entry: its transparent statement (receipt and witnessed tlog-proof) and the CLI. */
function coseCliSection(index, rec, key) {
  const file = `entry-${index}.transparent.cose`;
  const id = v.hex(rec.leaf);
  return h(
    'section',
    { 'aria-labelledby': 'cli-h', id: 'without-this-page' },
    h('h2', { id: 'cli-h' }, 'Verify without trusting this page'),
    h('p', {}, h('strong', {}, 'What a browser cannot protect against: '), 'this page’s own code comes from the log server it checks. For a decision that matters, check with the attestlog command-line tool, which does not come from this server:'),
    h(
      'ol',
      {},
      h('li', {}, h('a', { id: 'transparent-download', href: `/entries/${id}?transparent=true`, download: file }, `Download the transparent statement (${file})`), ' (the statement with its SCITT receipt and the witnessed tlog-proof) and the log’s receipt keys ', h('a', { href: '/.well-known/scitt-keys', download: 'scitt-keys.cbor' }, 'scitt-keys.cbor'), '; this page does not check the files, the command does.'),
      h('li', {}, 'Verify them offline with the log key the operator publishes: ', h('code', {}, `attestlog verify ${file} --scitt-key scitt-keys.cbor --log-key ${key}`), '.'),
      h('li', {}, 'Follow the whole log for new versions, revocations and forks: ', h('code', {}, `attestlog monitor --log ${location.origin} --log-key ${key} --state DIR`), '.'),
    ),
  );
}

async function entryPage(index) {
  if (!/^(0|[1-9][0-9]*)$/.test(index) || !Number.isSafeInteger(Number(index))) {
    page('No such entry', h('p', { role: 'alert' }, `“${index}” is not an entry index.`));
    return;
  }
  const i = Number(index);
  const a = await logCheck;
  const box = verificationBox('entry-verification', 'Verification');
  const claim = h('div', { id: 'claim' });
  const after = h('div', {});
  page(`Entry ${i}`, h('p', { class: 'note' }, `Entry ${i} of the log`), box, claim, after);
  const checks = new Checks();
  checks.items.push(...a.checks.items);
  let e = null;
  let bytes = null;
  let rec = null;
  try {
    e = await getJSON(`/v1/entries/${i}`);
    bytes = v.b64decode(e.entry);
  } catch (err) {
    checks.fail('Entry', `the server did not send entry ${i}: ${err.message}`);
  }
  if (bytes) {
    await checks.run('Inclusion proof', () => proveInclusion(i, bytes));
    await checks.run('Entry format', () => {
      rec = decodeEntry(i, bytes);
      const what = rec.format === 'cose'
        ? `a COSE_Sign1 signed statement (SCITT, ${rec.kind}; CBOR read strictly, the unprotected header empty, CWT iss ${rec.cose.iss} and sub ${rec.cose.sub})`
        : `a DSSE envelope (${rec.env.payloadType})`;
      return `${what} decoded in your browser from the entry bytes; everything below comes from these bytes`;
    });
  }
  let validity = null;
  if (rec) {
    await checks.run('Server’s decoded view', () => {
      const at = v.jsonDifference(e.payload, rec.st, 'payload');
      if (at !== null) {
        throw new v.VerifyError(`the decoded payload this server sent with the entry is not what the signed entry bytes say (they differ at ${at}): the server is lying or broken. This page ignores the server's JSON and shows only what the bytes say.`);
      }
      if (e.kind !== rec.kind) throw new v.VerifyError(`the server calls the entry “${e.kind}”, the bytes are ${rec.kind === 'verification' ? 'a' : 'an'} ${rec.kind} entry`);
      return 'the JSON the server sent alongside matches the entry bytes (this page does not use it)';
    });
    if (rec.kind === 'enrolment') {
      await checks.run('Log signature on the enrolment', async () => {
        if (!a.t?.key || !(await rec.signedBy(a.t.key))) throw new v.VerifyError('the enrolment entry is not signed by the log key');
        return 'the enrolment entry is signed (DSSE, Ed25519) by the log key';
      });
    } else if (rec.kind === 'registration_policy') {
      await checks.run('Log signature on the registration policy', async () => {
        if (!a.t?.key || !(await rec.signedBy(a.t.key))) throw new v.VerifyError('the registration policy entry is not signed by the log key');
        return 'the registration policy entry is signed (DSSE, Ed25519) by the log key';
      });
    } else {
      const who = rec.kind === 'verification' ? 'Verifier' : 'Vendor';
      await checks.run(`${who} signature and enrolment`, async () => {
        validity = await checkSigner(rec);
        const sig = rec.format === 'cose' ? 'COSE_Sign1 signature (EdDSA over the Sig_structure built from the entry bytes)' : 'DSSE signature';
        return `${sig} by ${validity.key.name} (key ID ${v.hex(validity.key.id)}) verifies; that key was enrolled as a ${rec.kind === 'verification' ? 'verifier' : 'vendor'} key for ${signerName(rec)} by the log at entry ${validity.enrolledAt} (entry proven here, log signature verified)`;
      });
      if (validity) {
        if (validity.revokedAt !== null) checks.ok('Revocation', `the signing key was revoked at entry ${validity.revokedAt} (verified), after this ${rec.kind}`);
        else checks.warn('Revocation', `reported by the server, not verified: ${validity.unverified.join('; ')}`);
      }
      if (rec.kind === 'verification') {
        await checks.run('Subject', async () => {
          rec.subject = await checkSubject(rec);
          return `entry ${rec.subject.index} is an attestation in the log (proven here, its signature and enrolment verified) with the leaf hash and attestation ID this verification names`;
        });
      }
    }
  }
  if (rec) renderEntry(rec, claim, checks.failed);
  if (rec?.kind === 'attestation') {
    const chain = await versionsOf(rec, checks, claim);
    await verificationsOf(rec, checks, claim, chain);
  }
  if (rec?.format === 'cose') rec.leaf = await v.leafHash(bytes);
  after.append(cliSection(i, e, a.t, rec), rawSection(rec, e, bytes));
  showChecks(box, checks, `entry ${i} is in the log as shown`);
}

function setTitle(title) {
  document.getElementById('page-title').textContent = title;
  document.title = `${title} — attestlog explorer`;
}

/** The claim (or enrolment) decoded from the entry bytes, marked when they did not verify. */
function renderEntry(rec, claim, failed) {
  const st = rec.st;
  const warning = failed ? h('p', { class: 'alert', role: 'alert', id: 'claim-unverified' }, '✖ NOT VERIFIED: the checks above failed. What follows is decoded from the entry bytes this server sent; do not rely on it.') : null;
  if (rec.kind === 'enrolment') {
    setTitle(`Entry ${rec.index}: key ${st.action === 'revoke' ? 'revocation' : 'enrolment'}`);
    claim.replaceChildren(
      warning ?? '',
      facts([
        ['Vendor', vendorLink(String(st.vendor))],
        ['Action', String(st.action)],
        st.action === 'enrol' ? ['Role', roleOf(rec) === 'verifier' ? 'verifier (signs verifications of claims, never attestations)' : 'vendor (signs attestations, never verifications)'] : null,
        ['Key', h('span', { class: 'mono' }, String(st.key))],
        ['Issued', String(st.issued_at)],
      ]),
    );
    return;
  }
  if (rec.kind === 'registration_policy') {
    setTitle(`Entry ${rec.index}: registration policy ${st.sequence}`);
    claim.replaceChildren(
      warning ?? '',
      facts([
        ['Sequence', String(st.sequence)],
        ['Algorithms', st.algorithms.join(', ')],
        ['Content types', st.content_types.join(', ')],
        ['Predicate types', st.predicate_types.join(', ')],
        ['CWT claims', st.cwt_claims.join(', ')],
        ['Payload', String(st.payload)],
        ['Largest signed statement', `${st.max_entry_bytes} bytes`],
      ]),
    );
    return;
  }
  if (rec.kind === 'verification') {
    renderVerification(rec, claim, warning);
    return;
  }
  const p = st.predicate ?? {};
  setTitle(`${p.product?.name ?? 'Attestation'} — ${p.vendor?.legal_name ?? ''}`);
  claim.replaceChildren(
    warning ?? '',
    h('p', { id: 'entry-status' }, 'Status: …'),
    h('section', { 'aria-labelledby': 'verifications-h', id: 'verifications', 'data-state': 'pending' }, h('h2', { id: 'verifications-h' }, 'Independent verifications of this claim'), h('p', {}, 'Verifying…')),
    ...statementSections(st, rec.index),
    h('section', { 'aria-labelledby': 'diff-h', id: 'diff-section' }, h('h2', { id: 'diff-h' }, 'Changes from the version it supersedes')),
    h('section', { 'aria-labelledby': 'versions-h', id: 'versions' }, h('h2', { id: 'versions-h' }, 'Versions')),
  );
}

const VERDICT_WORDS = { consistent: '✔ consistent', contradicted: '✖ contradicted', inconclusive: '? inconclusive' };
const VERDICT_CLASS = { consistent: 'active', contradicted: 'revoked', inconclusive: 'superseded' };
/** A verdict or finding result, from a verified verification. */
const verdictBadge = (x) => h('span', { class: `badge ${VERDICT_CLASS[x] ?? 'superseded'}` }, VERDICT_WORDS[x] ?? String(x).replace(/_/g, ' '));

/**
 * Which of `recs` (verified verifications) are superseded by another of them: a later one of
 * the same verifier and subject that names it in `supersedes` (DESIGN §13). Map index -> the
 * superseding index.
 */
function supersededAmong(recs) {
  const out = new Map();
  for (const r of recs) {
    const j = r.st.predicate.supersedes?.log_index;
    const prev = recs.find((x) => x.index === j);
    if (prev && prev.index < r.index && signerName(prev) === signerName(r) && prev.st.predicate.subject_entry.log_index === r.st.predicate.subject_entry.log_index) out.set(prev.index, r.index);
  }
  return out;
}

/**
 * The verifications among the server's search hits, newest first, each loaded and verified
 * here: {good (verified, and `unfit` named no reason against them), bad ([index, reason]),
 * superseded (as supersededAmong)}.
 */
async function verifiedVerifications(hits, unfit) {
  const indexes = [...new Set(hits.map((x) => x.index))].filter(Number.isSafeInteger).sort((a, b) => b - a);
  const results = await pool(indexes, 6, loadVerification);
  const good = [];
  const bad = [];
  results.forEach((r, i) => {
    const reason = r.ok ? unfit(r.value) : r.error.message;
    if (reason === null) good.push(r.value);
    else bad.push([indexes[i], reason]);
  });
  return { good, bad, superseded: supersededAmong(good) };
}

/** The columns a table of verified verifications can show, from the verified entries only. */
const VERIFICATION_COLUMNS = {
  Verification: (x) => entryLink(x.index),
  Subject: (x) => [entryLink(x.subject.index), ` — ${String(x.subject.st.predicate.product?.name)} by `, vendorLink(String(vendorOf(x.subject)))],
  Verdict: (x, superseded) => [verdictBadge(x.st.predicate.verdict), superseded.has(x.index) ? [' ', badge('superseded'), ' by ', entryLink(superseded.get(x.index))] : ''],
  Verifier: (x) => vendorLink(String(signerName(x))),
  Method: (x) => String(x.st.predicate.method).replace(/_/g, ' '),
  Performed: (x) => `${x.st.predicate.performed?.from} – ${x.st.predicate.performed?.to}`,
  Issued: (x) => String(x.st.predicate.issued_at),
  Checked: () => '✔ verified',
};

/** A table of verified verifications (from verifiedVerifications) with the named columns. */
const verificationTable = (recs, superseded, columns) => table(columns, recs.map((x) => columns.map((c) => VERIFICATION_COLUMNS[c](x, superseded))));

const endpoint = (o) => `${o.hostname ? `${o.hostname} ` : ''}${o.ip}:${o.port}${o.country ? ` (${country(o.country)})` : ''}${o.bytes !== undefined ? `, ${Number(o.bytes).toLocaleString('en')} bytes` : ''}`;

/** A verified verification, in one line: verifier, method, period, undeclared endpoints, link. */
const verificationLine = (x) => [vendorLink(String(signerName(x))), ` (${String(x.st.predicate.method).replace(/_/g, ' ')}, ${String(x.st.predicate.performed?.from)} – ${String(x.st.predicate.performed?.to)}): `, x.st.predicate.undeclared?.length ? `undeclared endpoints ${list(x.st.predicate.undeclared, endpoint)}; ` : '', 'see ', entryLink(x.index), ' ✔ verified'];

/** Earlier versions whose verifications the claim's page looks up, at most (newest first). */
const MAX_EARLIER_VERSIONS = 20;

/**
 * The verifications the server's search names for this attestation (subject = its index) and
 * for the earlier versions of it in `chain` (its verified version chain, oldest first; null
 * when the chain did not verify), each proven and verified here (signature by an enrolled
 * verifier key, subject = the version it is listed for). A current one that contradicts this
 * version is raised beside the claim; one that contradicted an earlier version is raised
 * apart, marked as being about that version.
 */
async function verificationsOf(rec, checks, claim, chain) {
  const sec = claim.querySelector('#verifications');
  const pos = chain ? chain.indexOf(rec) : -1;
  const earlier = pos > 0 ? chain.slice(0, pos).reverse().slice(0, MAX_EARLIER_VERSIONS) : [];
  const of = async (subject) => {
    const listed = await searchAll({ subject: String(subject.index) }, 200, 'verifications');
    return verifiedVerifications(listed.hits, (x) => (x.subject.index === subject.index ? null : `it verifies entry ${x.subject.index}, not entry ${subject.index}`));
  };
  const [own, ...before] = await pool([rec, ...earlier], 4, of);
  if (!own.ok) {
    checks.warn('Independent verifications', `the server's search failed (${own.error.message}): verifications of this claim, if any, are not shown`);
    sec.dataset.state = 'failed';
    sec.replaceChildren(sec.firstChild, h('p', { role: 'alert' }, failedMark(`the server's search for verifications failed: ${own.error.message}`)));
    return;
  }
  const { good, bad, superseded } = own.value;
  const current = good.filter((x) => !superseded.has(x.index));
  const contradicting = current.filter((x) => x.st.predicate.verdict === 'contradicted');
  const parts = [sec.firstChild];
  if (contradicting.length) {
    parts.push(
      h(
        'div',
        { class: 'alert', role: 'alert', id: 'contradicted' },
        h('h3', {}, `✖ CONTRADICTED: ${contradicting.length === 1 ? 'an independent verification contradicts' : `${contradicting.length} independent verifications contradict`} this claim`),
        h('ul', {}, contradicting.map((x) => h('li', {}, verificationLine(x)))),
      ),
    );
  }
  if (good.length) {
    parts.push(verificationTable(good, superseded, ['Verification', 'Verdict', 'Verifier', 'Method', 'Performed', 'Issued', 'Checked']));
  } else if (!bad.length) {
    parts.push(h('p', { id: 'no-verifications' }, 'No independent verification of this entry was found.'));
  }
  if (bad.length) parts.push(h('h3', {}, 'Verifications the server listed that do not verify'), h('ul', {}, bad.map(([i, m]) => h('li', {}, entryLink(i), ' ', failedMark(m)))));
  parts.push(h('p', { class: 'note' }, unverified('which verifications exist (the server’s search). '), 'Each verification shown was proven in the verified checkpoint, its signature checked under a key the log enrolled as a verifier key for the verifier it names, and its subject checked to be this entry. A server could leave a verification out; ', h('code', {}, 'attestlog monitor'), ' sees every one.'));
  const summary = `${good.length} verification${good.length === 1 ? '' : 's'} of this entry verified${good.length ? ` (${current.map((x) => `${x.st.predicate.verdict} by ${signerName(x)} at entry ${x.index}`).join('; ')}${superseded.size ? `; ${superseded.size} superseded` : ''})` : ''}${bad.length ? `; ${bad.length} listed by the server do not verify` : ''}`;
  if (!good.length && !bad.length) checks.info('Independent verifications', 'the server’s search names no verification of this entry');
  else if (bad.length) checks.fail('Independent verifications', summary);
  else if (contradicting.length) checks.warn('Independent verifications', `${summary}: a verification CONTRADICTS this claim`);
  else checks.ok('Independent verifications', summary);
  const earlierBad = earlier.length ? earlierVerifications(earlier, before, checks, parts, chain) : 0;
  sec.dataset.state = bad.length || earlierBad ? 'failed' : 'verified';
  sec.replaceChildren(...parts);
}

/**
 * The verifications of earlier versions of a claim (`earlier`, newest first, with the results
 * of their searches in `results`), appended to `parts` in a block of their own, marked as being
 * about those versions, not this one. Returns how many of them failed to verify.
 */
function earlierVerifications(earlier, results, checks, parts, chain) {
  const good = [];
  const bad = [];
  const failedSearches = [];
  results.forEach((r, i) => {
    if (!r.ok) return failedSearches.push(`entry ${earlier[i].index}: ${r.error.message}`);
    good.push(...r.value.good);
    bad.push(...r.value.bad);
  });
  good.sort((a, b) => b.index - a.index);
  const superseded = supersededAmong(good);
  const contradicting = good.filter((x) => !superseded.has(x.index) && x.st.predicate.verdict === 'contradicted');
  const versionOf = (x) => chain.findIndex((c) => c.index === x.subject.index) + 1;
  const block = h('div', { id: 'earlier-verifications' }, h('h3', {}, 'Verifications of earlier versions of this attestation'));
  block.append(h('p', { class: 'note' }, 'These verify an earlier version of this attestation (an entry this one supersedes, directly or not), not the claim as it reads now: the vendor may have changed what it declares since. Each was verified like those above, its subject checked to be that earlier version.'));
  if (contradicting.length) {
    block.append(
      h(
        'div',
        { class: 'alert', role: 'alert', id: 'contradicted-earlier' },
        h('h4', {}, `✖ An earlier version of this claim was CONTRADICTED by ${contradicting.length === 1 ? 'an independent verification' : `${contradicting.length} independent verifications`}`),
        h('ul', {}, contradicting.map((x) => h('li', {}, `version ${versionOf(x)} (`, entryLink(x.subject.index), '): ', verificationLine(x)))),
      ),
    );
  }
  if (good.length) {
    block.append(
      table(
        ['Verification', 'Version verified', 'Verdict', 'Verifier', 'Method', 'Issued', 'Checked'],
        good.map((x) => [
          entryLink(x.index),
          [`version ${versionOf(x)}: `, entryLink(x.subject.index), ' ', badge('superseded')],
          ...['Verdict', 'Verifier', 'Method', 'Issued', 'Checked'].map((c) => VERIFICATION_COLUMNS[c](x, superseded)),
        ]),
      ),
    );
  } else if (!bad.length && !failedSearches.length) {
    block.append(h('p', { id: 'no-earlier-verifications' }, `No independent verification of the ${earlier.length === 1 ? 'earlier version' : `${earlier.length} earlier versions`} was found.`));
  }
  if (bad.length) block.append(h('h4', {}, 'Verifications of earlier versions the server listed that do not verify'), h('ul', {}, bad.map(([i, m]) => h('li', {}, entryLink(i), ' ', failedMark(m)))));
  if (failedSearches.length) block.append(h('p', { role: 'alert' }, failedMark(`the server's search for verifications of earlier versions failed (${failedSearches.join('; ')})`)));
  if (chain.findIndex((c) => c.index === earlier[earlier.length - 1].index) > 0) block.append(h('p', { class: 'note' }, `Only the ${MAX_EARLIER_VERSIONS} versions before this one were looked up.`));
  parts.push(block);
  const summary = `${good.length} verification${good.length === 1 ? '' : 's'} of ${earlier.length} earlier version${earlier.length === 1 ? '' : 's'} verified${bad.length ? `; ${bad.length} listed by the server do not verify` : ''}`;
  if (bad.length) checks.fail('Verifications of earlier versions', summary);
  else if (failedSearches.length) checks.warn('Verifications of earlier versions', `the server's search failed for ${failedSearches.length} version(s): their verifications, if any, are not shown`);
  else if (contradicting.length) checks.warn('Verifications of earlier versions', `${summary}: an independent verification CONTRADICTED an earlier version (${contradicting.map((x) => `entry ${x.subject.index} by ${signerName(x)} at entry ${x.index}`).join('; ')})`);
  else if (good.length) checks.ok('Verifications of earlier versions', summary);
  else checks.info('Verifications of earlier versions', `the server’s search names no verification of the ${earlier.length} earlier version${earlier.length === 1 ? '' : 's'}`);
  return bad.length;
}

/** A verification entry: its predicate, decoded from the verified bytes, with its subject. */
function renderVerification(rec, claim, warning) {
  const p = rec.st.predicate;
  const se = p.subject_entry;
  const subject = rec.subject;
  const flows = subject?.st.predicate?.data_flows ?? [];
  setTitle(`Verification: ${String(p.verdict)} — ${String(p.verifier?.legal_name)}`);
  const env = p.environment ?? {};
  claim.replaceChildren(
    warning ?? '',
    h(
      'section',
      { 'aria-labelledby': 'verification-h', id: 'verification' },
      h('h2', { id: 'verification-h' }, 'The verification'),
      facts([
        ['Verdict', h('span', { id: 'verdict' }, verdictBadge(p.verdict))],
        ['Verifier', [vendorLink(String(p.verifier?.legal_name)), ` (${country(p.verifier?.jurisdiction)})`, p.verifier?.accreditation ? `, accreditation ${p.verifier.accreditation}` : '']],
        ['Subject', h('span', { id: 'verification-subject' }, entryLink(se.log_index), subject ? ` — ${String(subject.st.predicate.product?.name)} by ${String(vendorOf(subject))} (verified)` : ' (not verified)')],
        ['Attestation ID', h('span', { class: 'mono' }, String(se.attestation_id))],
        ['Leaf hash of the subject', h('span', { class: 'mono' }, String(se.leaf_hash))],
        ['Method', String(p.method).replace(/_/g, ' ')],
        ['Performed', `${p.performed?.from} – ${p.performed?.to}`],
        ['Environment', `${env.product_version} on ${env.platform}, network in ${country(env.network_country)}`],
        ['Issued', String(p.issued_at)],
        ['Supersedes', p.supersedes ? entryLink(p.supersedes.log_index) : '—'],
      ]),
    ),
    h(
      'section',
      { 'aria-labelledby': 'findings-h' },
      h('h2', { id: 'findings-h' }, `Findings (${(p.findings ?? []).length})`),
      (p.findings ?? []).length
        ? table(
            ['Data flow', 'Result', 'Observed', 'Note'],
            p.findings.map((f) => [
              `${f.data_flow}${flows[f.data_flow] ? ` (${String(flows[f.data_flow].category).replace(/_/g, ' ')})` : ''}`,
              verdictBadge(f.result),
              (f.observed ?? []).length ? h('ul', {}, f.observed.map((o) => h('li', {}, endpoint(o)))) : '—',
              String(f.note ?? ''),
            ]),
          )
        : h('p', {}, 'No findings.'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'undeclared-h', id: 'undeclared' },
      h('h2', { id: 'undeclared-h' }, 'Undeclared endpoints'),
      (p.undeclared ?? []).length ? [h('p', {}, 'The product was seen talking to endpoints the claim does not declare:'), h('ul', {}, p.undeclared.map((o) => h('li', {}, endpoint(o))))] : h('p', {}, 'None seen.'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'vevidence-h' },
      h('h2', { id: 'vevidence-h' }, 'Evidence'),
      (p.evidence ?? []).length ? table(['Document', 'SHA-256'], p.evidence.map((e) => [String(e.uri), h('span', { class: 'mono' }, String(e.sha256))])) : h('p', {}, 'No evidence referenced.'),
    ),
  );
}

/**
 * The version chain of an attestation, its status and the diff, all from verified entries.
 * Returns the chain (oldest first), or null when it does not verify.
 */
async function versionsOf(rec, checks, claim) {
  const statusLine = claim.querySelector('#entry-status');
  const diff = claim.querySelector('#diff-section');
  const sec = claim.querySelector('#versions');
  let listed;
  try {
    listed = await searchAll({ attestation_id: String(aid(rec)) }, 500);
  } catch (e) {
    listed = { hits: [], more: false };
    checks.warn('Newer versions', `the server's search failed (${e.message}): newer versions, if any, are not shown`);
  }
  let result;
  try {
    result = await versionChain(rec, listed.hits.map((x) => x.index));
  } catch (e) {
    checks.fail('Version chain', e.message);
    statusLine.replaceChildren('Status: ', failedMark(`the version chain does not verify: ${e.message}`));
    diff.append(h('p', {}, `Cannot verify the superseded version: ${e.message}`));
    return null;
  }
  const { chain, outside } = result;
  const head = chain[chain.length - 1];
  const pos = chain.indexOf(rec);
  const state = head === rec ? currentState(rec) : 'superseded';
  checks.ok(
    'Version chain',
    `${chain.length === 1 ? 'the only version found' : `${chain.length} versions linked by supersedes, each entry proven and its signature verified`}; ${head === rec ? 'this is the newest of them' : `the newest is entry ${head.index}`}`,
  );
  checks.warn(
    'Newer versions',
    `reported by the server, not verified: the server's search named ${listed.hits.length} entr${listed.hits.length === 1 ? 'y' : 'ies'} with this attestation ID${listed.more ? ' (more not read)' : ''}; the page verified them and followed their supersedes links, but a server could leave the newest version out`,
  );
  statusLine.replaceChildren();
  append(statusLine, [
    'Status: ',
    badge(state),
    head === rec ? '' : [' — the current version is ', entryLink(head.index)],
    ' (derived in your browser from the verified version chain) ',
    unverified('that no newer version exists'),
  ]);
  if (pos > 0) {
    diff.append(h('p', {}, 'Compared with ', entryLink(chain[pos - 1].index), ' (verified):'), diffSection(chain[pos - 1].st.predicate ?? {}, rec.st.predicate ?? {}));
  } else {
    diff.append(h('p', {}, 'This is the first version of this attestation.'));
  }
  const rows = chain
    .slice()
    .reverse()
    .map((x) => [x === rec ? `${x.index} (this one)` : entryLink(x.index), badge(x === head ? currentState(x) : 'superseded'), String(x.st.predicate?.valid_until), '✔ verified']);
  for (const o of outside) rows.push([entryLink(o.index), '—', '—', failedMark(`not part of this line of versions: it ${o.reason}`)]);
  sec.append(table(['Entry', 'Status', 'Valid until', 'Checked'], rows), h('p', { class: 'note' }, unverified('which later entries exist: the list comes from the server’s search.')));
  return chain;
}

function rawSection(rec, e, bytes) {
  return h(
    'details',
    {},
    h('summary', {}, 'Raw entry'),
    bytes ? h('p', {}, 'Entry bytes as received (SHA-256 of 0x00 ‖ entry is the leaf hash checked above).') : '',
    rec ? [h('h3', {}, 'Payload decoded in your browser'), h('pre', {}, JSON.stringify(rec.st, null, 2))] : '',
    bytes && rec?.format === 'cose'
      ? [
          h('h3', {}, 'Protected header, read in your browser'),
          facts([
            ['alg', 'EdDSA (-8)'],
            ['kid', h('span', { class: 'mono' }, v.hex(rec.cose.kid))],
            ['content_type', 'application/vnd.in-toto+json'],
            ['CWT iss', String(rec.cose.iss)],
            ['CWT sub', String(rec.cose.sub)],
          ]),
          h('h3', {}, 'Entry (COSE_Sign1, CBOR, hex)'),
          h('pre', { id: 'raw-entry', class: 'mono' }, v.hex(bytes)),
        ]
      : bytes
        ? [h('h3', {}, 'Canonical entry (DSSE envelope, JCS)'), h('pre', { id: 'raw-entry' }, (() => {
            try {
              return v.fromUtf8(bytes);
            } catch {
              return v.b64encode(bytes);
            }
          })())]
        : '',
    e?.receipt?.proof ? [h('h3', {}, 'Receipt proof (c2sp.org/tlog-proof)'), h('p', { class: 'note' }, unverified('this receipt is not checked by this page; ', h('code', {}, 'attestlog verify'), ' checks it.')), h('pre', {}, String(e.receipt.proof))] : '',
  );
}

const SEARCH_FIELDS = [
  ['vendor', 'Vendor (legal name)'],
  ['product', 'Product'],
  ['country', 'Country (ISO code, e.g. CH)'],
  ['category', 'Data category (e.g. telemetry)'],
  ['attestation_id', 'Attestation ID'],
  ['verdict', 'Verdict of a verification (consistent, contradicted, inconclusive)'],
  ['verifier', 'Verifier (legal name)'],
];
/** The search terms that make a search of verifications (DESIGN §13). */
const VERIFICATION_TERMS = ['verdict', 'verifier'];

async function searchPage(params) {
  const form = h('form', { class: 'search', id: 'search-form', role: 'search' });
  for (const [name, label] of SEARCH_FIELDS) {
    form.append(h('div', {}, h('label', { for: `q-${name}` }, label), h('input', { id: `q-${name}`, name, value: params.get(name) ?? '', autocomplete: 'off' })));
  }
  form.append(h('div', {}, h('button', { type: 'submit' }, 'Search')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [name] of SEARCH_FIELDS) {
      const val = form.elements[name].value.trim();
      if (val) q.set(name, val);
    }
    location.hash = `#/search?${q}`;
  });
  const results = h('section', { 'aria-labelledby': 'results-h', id: 'results' });
  page('Search attestations', form, results);
  const q = new URLSearchParams();
  for (const [name] of SEARCH_FIELDS) if (params.get(name)) q.set(name, params.get(name));
  if ([...q.keys()].length === 0) {
    results.append(h('p', { class: 'note' }, 'Give one or more fields; all must match (countries match any storage, processing, remote-access or onward-transfer country). A verdict or verifier searches verifications instead of attestations (with an attestation ID besides, not the other attestation fields).'));
    return;
  }
  if (params.get('before')) q.set('before', params.get('before'));
  const r = await getJSON(`/v1/search?${q}`);
  if (VERIFICATION_TERMS.some((k) => q.has(k))) {
    await verificationResults(results, r, q);
  } else {
    await attestationResults(results, r);
  }
  if (r.next !== undefined && r.next !== null) {
    q.set('before', String(r.next));
    results.append(link(`#/search?${q}`, 'Older results'));
  }
}

/** Verifications a search names, each verified here and checked against the terms asked. */
async function verificationResults(results, r, q) {
  const hits = r.verifications ?? [];
  const { good, bad, superseded } = await verifiedVerifications(hits, (x) => {
    const p = x.st.predicate;
    if (q.has('verdict') && p.verdict !== q.get('verdict')) return `the server listed it for verdict ${q.get('verdict')}, its verdict is ${p.verdict}`;
    if (q.has('verifier') && String(signerName(x)).toLowerCase() !== q.get('verifier').toLowerCase()) return `the server listed it for verifier ${q.get('verifier')}, it is by ${signerName(x)}`;
    if (q.has('attestation_id') && p.subject_entry.attestation_id !== q.get('attestation_id')) return `the server listed it for attestation ${q.get('attestation_id')}, it verifies ${p.subject_entry.attestation_id}`;
    return null;
  });
  results.append(
    h('h2', { id: 'results-h' }, `${good.length + bad.length}${r.next !== undefined && r.next !== null ? '+' : ''} matching verifications`),
    h('p', { class: 'note' }, unverified('which verifications match (the server’s search). '), 'Each one listed was proven in the verified checkpoint, its signature checked under a key the log enrolled as a verifier key, its subject checked, and its verdict and verifier compared with what you asked.'),
    good.length ? verificationTable(good, superseded, ['Verification', 'Subject', 'Verdict', 'Verifier', 'Issued', 'Checked']) : '',
    bad.length ? [h('h3', {}, 'Entries the server listed that do not verify or do not match'), h('ul', {}, bad.map(([i, m]) => h('li', {}, entryLink(i), ' ', failedMark(m))))] : '',
  );
}

/** Attestations a search names, each verified here. */
async function attestationResults(results, r) {
  const checked = await pool(r.entries, 6, (x) => loadAttestation(x.index));
  results.append(
    h('h2', { id: 'results-h' }, `${r.entries.length}${r.next !== undefined ? '+' : ''} matching entries`),
    h('p', { class: 'note' }, unverified('which entries match (the server’s search). '), 'Each entry listed was proven in the verified checkpoint and its signature checked here; vendor, product, status and validity come from the verified entry.'),
    table(
      ['Entry', 'Vendor', 'Product', 'Declared status', 'Valid until', 'Checked'],
      checked.map((c, i) => {
        const x = r.entries[i];
        if (!c.ok) return [entryLink(x.index), '—', '—', '—', '—', failedMark(c.error.message)];
        const p = c.value.st.predicate;
        return [entryLink(x.index), vendorLink(String(p.vendor?.legal_name)), String(p.product?.name), String(p.status), String(p.valid_until), '✔ verified'];
      }),
    ),
  );
}

async function settingsPage() {
  const info = await logInfo();
  const pin = readPin();
  const msg = h('p', { id: 'pin-message', role: 'status' });
  const ta = h('textarea', { id: 'pin-key', name: 'key', rows: '3', spellcheck: 'false', 'aria-describedby': 'pin-help' });
  ta.value = pin?.key ?? '';
  const pol = h('textarea', { id: 'pin-policy', name: 'policy', rows: '6', spellcheck: 'false', 'aria-describedby': 'pin-policy-help' });
  pol.value = pin ? (pin.policy ?? '') : (info.witness_policy ?? '');
  const form = h(
    'form',
    { class: 'pin', id: 'pin-form' },
    h('label', { for: 'pin-key' }, 'Log verifier key to trust'),
    h('p', { id: 'pin-help', class: 'note' }, "Paste the log's verifier key as published by its operator through another channel (name+keyid+base64). Once pinned, this browser checks every checkpoint against it instead of the key the page serves."),
    ta,
    h('label', { for: 'pin-policy' }, 'Witness policy pinned with the key (c2sp.org/tlog-policy; empty for none)'),
    h(
      'p',
      { id: 'pin-policy-help', class: 'note' },
      pin ? 'The policy you pinned. ' : 'Filled in with the policy this server sends: compare it with the one the operator publishes. ',
      'Pinning the key pins this policy too: a server that later sends another policy is an error, never silently accepted.',
    ),
    pol,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Pin this key and policy'), h('button', { type: 'button', class: 'secondary', id: 'unpin' }, 'Remove the pin')),
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const k = await v.parseVerifierKey(ta.value);
      if (k.type !== v.TYPE_ED25519) throw new v.VerifyError('a log key must be an Ed25519 (type 0x01) key');
      const policyText = pol.value.trim() === '' ? null : pol.value.replace(/\s+$/, '') + '\n';
      if (policyText !== null) {
        const p = await v.parsePolicy(policyText);
        if (!p.logs.some((l) => sameKey(l.key, k))) throw new v.VerifyError('the witness policy has no log line with this key');
      }
      localStorage.setItem(PIN_KEY, JSON.stringify({ key: k.text, policy: policyText }));
      msg.setAttribute('role', 'status');
      msg.textContent = `✔ Pinned ${k.text} with ${policyText === null ? 'no witness policy' : 'the witness policy above'}.${k.text === info.verifier_key ? '' : ' It differs from the key this page serves: verification will fail unless the log signs with it.'}`;
      restart();
    } catch (e) {
      msg.setAttribute('role', 'alert');
      msg.textContent = `✖ Not pinned: ${e.message}`;
    }
  });
  form.querySelector('#unpin').addEventListener('click', () => {
    localStorage.removeItem(PIN_KEY);
    ta.value = '';
    msg.textContent = 'The pin is removed; the key and policy this page serves are used (and shown as such).';
    restart();
  });
  const seen = loadSeen();
  const forget = h('button', { type: 'button', class: 'secondary', id: 'forget' }, 'Forget the checkpoint this browser remembers');
  forget.addEventListener('click', () => {
    localStorage.removeItem(SEEN_KEY);
    localStorage.removeItem(HISTORY_KEY);
    forget.replaceWith(h('p', { role: 'status' }, 'Forgotten. The next checkpoint verified becomes the new reference.'));
  });
  page(
    'Trust settings',
    facts([
      ['Key this page serves', h('span', { class: 'mono' }, info.verifier_key)],
      ['Key you pinned', pin ? h('span', { class: 'mono', id: 'pinned-now' }, pin.key) : 'none: the page trusts the key this server sends'],
    ]),
    form,
    h('h2', {}, 'Checkpoint this browser remembers'),
    h('p', {}, 'This browser remembers the last checkpoint of this log it verified, with the key and witness policy it used, and checks every new one extends it. A different key, or an older tree, is shown as an error and never replaces it; only this button does. A different witness policy is shown as a caution, and as an error when it is not the one you pinned.'),
    seen ? facts([
      ['Tree size', String(seen.size)],
      ['Verified on', String(seen.seen_at)],
      ['With the key', h('span', { class: 'mono' }, String(seen.key ?? 'not recorded'))],
      ['With the witness policy', seen.policy ? h('pre', {}, seen.policy) : seen.policy === null ? 'none' : 'not recorded'],
    ]) : h('p', {}, 'None yet.'),
    forget,
  );
}

// ---------------------------------------------------------------------------------------------
// Router

/** Starts a fresh check of the log: a new anchor checkpoint, nothing cached from the last. */
function restart() {
  fork = null;
  logInfoPromise = null;
  vendorListPromise = null;
  entries = new Map();
  signerChecks = new WeakMap();
  logCheck = checkLog();
}

async function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query ?? '');
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = ['not-found'];
  }
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (target === `/${parts[0] ?? ''}` || (target === '/' && parts.length === 0)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  try {
    if (parts.length === 0) await overviewPage();
    else if (parts[0] === 'vendors' && parts.length === 1) await vendorsPage();
    else if (parts[0] === 'vendor' && parts.length === 2) await vendorPage(parts[1]);
    else if (parts[0] === 'entry' && parts.length === 2) await entryPage(parts[1]);
    else if (parts[0] === 'search') await searchPage(params);
    else if (parts[0] === 'settings') await settingsPage();
    else page('Not found', h('p', {}, 'There is no such page. '), link('#/', 'Go to the log overview'));
  } catch (e) {
    page('Something went wrong', h('p', { role: 'alert' }, `✖ ${e.message}`));
  }
}

function focusTitle() {
  const t = document.getElementById('page-title');
  if (t) t.focus({ preventScroll: false });
}

document.getElementById('goto').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const i = ev.target.elements.index.value.trim();
  if (i) location.hash = `#/entry/${i}`;
});
window.addEventListener('hashchange', () => {
  restart();
  route().then(focusTitle);
});
restart();
route();
