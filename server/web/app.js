// The attestlog web explorer: hash-routed pages over the /v1 JSON API. Everything shown is
// verified in this browser with ./verify.js. Entries are attacker-controlled: all their text
// is rendered with text nodes, never parsed as HTML.

import * as v from './verify.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const PIN_KEY = 'attestlog.v1.pinned-log-key';
const seenKey = (origin) => `attestlog.v1.seen:${origin}`;
const historyKey = (origin) => `attestlog.v1.history:${origin}`;

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

// ---------------------------------------------------------------------------------------------
// Trust: the log key (pinned by the visitor, or taken from the page) and the witness policy

/** {key, source, served, pinned, mismatch, policy, policyError}: what this browser trusts. */
async function trust() {
  const info = await logInfo();
  const served = await v.parseVerifierKey(info.verifier_key);
  const pinnedText = localStorage.getItem(PIN_KEY);
  let pinned = null;
  let pinError = null;
  if (pinnedText) {
    try {
      pinned = await v.parseVerifierKey(pinnedText);
    } catch (e) {
      pinError = e.message;
    }
  }
  let policy = null;
  let policyError = null;
  if (info.witness_policy) {
    try {
      policy = await v.parsePolicy(info.witness_policy);
    } catch (e) {
      policyError = e.message;
    }
  }
  return {
    info,
    served,
    pinned,
    pinError,
    key: pinned ?? served,
    source: pinned ? 'pinned by you in this browser' : 'served by this page',
    mismatch: pinned !== null && pinned.text !== served.text,
    policy,
    policyError,
  };
}

/** A list of checks: each {ok: true|false|null (information), label, detail}. */
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

/** The trusted-key check shared by every verification. */
function keyChecks(t, checks) {
  if (t.pinError) checks.fail('Pinned log key', `your pinned key does not parse: ${t.pinError}`);
  if (t.mismatch) {
    checks.fail('Pinned log key', `the key you pinned (${t.pinned.text}) is not the key this page serves (${t.served.text}); checking with your pinned key`);
  } else {
    checks.ok('Trusted log key', `${t.key.text} (${t.source})`);
  }
}

/** Verifies a checkpoint note: log signature and, with a policy, the witness quorum. */
async function checkCheckpoint(t, noteText, checks) {
  let opened = null;
  await checks.run('Checkpoint signature', async () => {
    opened = await v.openCheckpoint(noteText, t.key);
    return `checkpoint of tree size ${opened.checkpoint.size} signed by ${t.key.name} (key ID ${v.hex(t.key.id)}), Ed25519 verified`;
  });
  if (!opened) return null;
  if (t.policyError) {
    checks.fail('Witness policy', `the policy does not parse: ${t.policyError}`);
  } else if (!t.policy) {
    checks.info('Witness cosignatures', 'no witness policy: this log names no witnesses, so only its own signature is checked');
  } else {
    await checks.run('Witness cosignatures', async () => {
      if (!t.policy.logs.some((l) => v.equalBytes(l.key.pub, t.key.pub))) {
        throw new v.VerifyError('the witness policy does not name the trusted log key');
      }
      const w = await v.checkWitnesses(opened.note, t.policy);
      const who = w.cosignatures.map((c) => `${c.name} at ${new Date(Number(c.timestamp) * 1000).toISOString()}`);
      if (!w.quorum) {
        throw new v.VerifyError(`quorum ${t.policy.quorum} not met: verified cosignatures from ${w.witnesses.size} of ${t.policy.witnesses.length} witnesses${who.length ? ` (${who.join('; ')})` : ''}`);
      }
      return `quorum ${t.policy.quorum ?? 'none'} met by ${w.witnesses.size} of ${t.policy.witnesses.length} witnesses${who.length ? `: ${who.join('; ')}` : ''}`;
    });
  }
  return opened;
}

// ---------------------------------------------------------------------------------------------
// Consistency with what this browser saw before, and fork evidence

function loadSeen(origin) {
  try {
    return JSON.parse(localStorage.getItem(seenKey(origin)) ?? 'null');
  } catch {
    return null;
  }
}

function remember(origin, noteText, size) {
  localStorage.setItem(seenKey(origin), JSON.stringify({ note: noteText, size: String(size), seen_at: new Date().toISOString() }));
  let hist = [];
  try {
    hist = JSON.parse(localStorage.getItem(historyKey(origin)) ?? '[]');
  } catch {
    hist = [];
  }
  if (!Array.isArray(hist)) hist = [];
  if (hist.length === 0 || hist[hist.length - 1].size !== String(size)) {
    hist.push({ size: String(size), seen_at: new Date().toISOString() });
  }
  localStorage.setItem(historyKey(origin), JSON.stringify(hist.slice(-100)));
}

let fork = null; // fork evidence found during this page load

/**
 * Checks that a verified checkpoint is consistent with the last one this browser verified for
 * the origin; remembers it when it is. On a conflict, records fork evidence and throws.
 */
async function checkConsistency(t, opened, noteText, checks) {
  const origin = opened.checkpoint.origin;
  const size = opened.checkpoint.size;
  const seen = loadSeen(origin);
  let old = null;
  if (seen) {
    try {
      old = await v.openCheckpoint(seen.note, t.key);
    } catch {
      old = null; // verified under another key (the visitor changed the pin): start afresh
    }
  }
  if (!old) {
    remember(origin, noteText, size);
    checks.info('Consistency', `this browser had not verified a checkpoint of ${origin} before; it now remembers this one (size ${size})`);
    return;
  }
  const a = old.checkpoint;
  let proof = [];
  let reason = null;
  try {
    if (a.size <= size) {
      if (a.size !== size && a.size !== 0n) {
        const p = await getJSON(`/v1/proof/consistency?first=${a.size}&second=${size}`);
        if (p.first !== Number(a.size) || p.second !== Number(size)) throw new v.VerifyError('the log answered a proof for other sizes');
        proof = v.decodeHashes(p.hashes);
      }
      await v.verifyConsistency(a.size, size, proof, a.root, opened.checkpoint.root);
    } else {
      // Smaller than before: the log must still prove the old tree extends this one.
      try {
        const p = await getJSON(`/v1/proof/consistency?first=${size}&second=${a.size}`);
        proof = v.decodeHashes(p.hashes);
      } catch (e) {
        throw new v.VerifyError(`the log now shows a tree of size ${size}, smaller than the size ${a.size} this browser verified before, and cannot prove consistency (${e.message})`);
      }
      await v.verifyConsistency(size, a.size, proof, opened.checkpoint.root, a.root);
    }
  } catch (e) {
    reason = e.message;
  }
  if (reason === null) {
    if (size >= a.size) remember(origin, noteText, size);
    checks.ok('Consistency', `the tree of size ${size} extends the tree of size ${a.size} this browser verified on ${seen.seen_at ?? 'an earlier visit'} (RFC 9162 consistency proof recomputed)`);
    return;
  }
  // A failing proof alone proves nothing (anyone can write one): the evidence carries the
  // root the larger tree has at the smaller size, tied to its checkpoint by the log's own
  // answers (docs/protocol-notes.md). Without it the page still warns.
  const prefix = a.size !== 0n && a.size < size ? await provenPrefix(a, size, proof, opened.checkpoint.root) : null;
  fork = {
    format: 'attestlog-fork-evidence/v1',
    origin,
    first: seen.note,
    second: noteText,
    consistency_proof: proof.map(v.b64encode),
    ...(prefix ? { prefix_root: v.b64encode(prefix) } : {}),
    source: location.origin,
    reason:
      `checkpoint of size ${size} is not consistent with the checkpoint of size ${a.size} seen on ${seen.seen_at ?? 'an earlier visit'}: ${reason}` +
      (prefix || a.size === size ? '' : ' (the log\'s answers do not prove a fork by themselves)'),
  };
  checks.fail('Consistency', fork.reason);
  showForkAlert();
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

function showForkAlert() {
  const box = document.getElementById('log-check');
  if (!fork || box.querySelector('#fork-alert')) return;
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

function showChecks(box, checks, what) {
  const failed = checks.failed;
  box.className = `verification ${failed ? 'failed' : 'verified'}`;
  box.dataset.state = failed ? 'failed' : 'verified';
  box.removeAttribute('aria-busy');
  const summary = failed
    ? h('p', { class: 'summary', role: 'alert' }, `✖ Verification FAILED: ${what} could not be verified. Do not rely on it.`)
    : h('p', { class: 'summary', role: 'status' }, `✔ Verified in your browser: ${what}.`);
  const items = checks.items.map((c) =>
    h(
      'li',
      { class: c.ok === true ? 'ok' : c.ok === false ? 'fail' : 'info' },
      h('span', { class: 'mark' }, c.ok === true ? '✔ passed' : c.ok === false ? '✖ FAILED' : 'ℹ note'),
      ' ',
      h('strong', {}, `${c.label}: `),
      c.detail ?? '',
    ),
  );
  box.replaceChildren(box.firstChild, summary, h('ul', { class: 'checks' }, items));
}

/** The log check in the banner: the latest checkpoint, witnesses and consistency. */
async function checkLog() {
  const box = document.getElementById('log-check');
  const checks = new Checks();
  let t;
  let opened = null;
  let noteText = null;
  try {
    t = await trust();
    keyChecks(t, checks);
    noteText = await getText('/checkpoint');
    opened = await checkCheckpoint(t, noteText, checks);
    if (opened) await checkConsistency(t, opened, noteText, checks);
  } catch (e) {
    checks.fail('Log', e.message);
  }
  if (!fork) {
    const failed = checks.failed;
    box.replaceChildren(
      h(
        'p',
        { class: `verification ${failed ? 'failed' : 'verified'}`, role: failed ? 'alert' : 'status', id: 'log-status', 'data-state': failed ? 'failed' : 'verified' },
        failed
          ? `✖ Log verification failed: ${checks.items.filter((c) => c.ok === false).map((c) => `${c.label}: ${c.detail}`).join('; ')}`
          : `✔ Log verified in your browser: checkpoint of size ${opened.checkpoint.size} signed by the ${t.pinned ? 'pinned' : 'served'} key; ${checks.items.find((c) => c.label === 'Consistency')?.ok ? 'consistent with what this browser saw before' : 'remembered for your next visit'}.`,
      ),
    );
  }
  return { t, opened, noteText, checks };
}

// ---------------------------------------------------------------------------------------------
// Pages

const main = () => document.getElementById('main');

function page(title, ...children) {
  const m = main();
  m.replaceChildren(h('h1', { id: 'page-title', tabindex: '-1' }, title), ...children);
  document.title = `${title} — attestlog explorer`;
  return m;
}

let logCheck = null; // the banner check of this page load (a promise)

async function overviewPage() {
  const info = await logInfo();
  const box = verificationBox('checkpoint-verification', 'Latest checkpoint');
  const growth = h('section', { 'aria-labelledby': 'growth-h' }, h('h2', { id: 'growth-h' }, 'Growth'), h('p', {}, 'Loading…'));
  const policy = info.witness_policy
    ? [h('p', {}, 'The log is configured with this c2sp.org/tlog-policy; the page checks the checkpoint\'s cosignatures against it:'), h('pre', { id: 'witness-policy' }, info.witness_policy)]
    : [h('p', { id: 'witness-policy', class: 'note' }, 'ℹ No witness policy: this log names no witnesses, so its checkpoints are checked against the log\'s own signature only. A log that shows different histories to different visitors is then detected only by the consistency checks of browsers and monitors.')];
  page(
    'Log overview',
    facts([
      ['Origin', h('span', { class: 'mono' }, info.origin)],
      ['Tree size', `${info.tree_size.toLocaleString('en')} entries`],
      ['Log verifier key (served)', h('span', { class: 'mono', id: 'served-key' }, info.verifier_key)],
      ['Pinned key', localStorage.getItem(PIN_KEY) ? h('span', { class: 'mono' }, localStorage.getItem(PIN_KEY)) : ['none — ', link('#/settings', 'pin the key')]],
    ]),
    box,
    h('section', { 'aria-labelledby': 'policy-h' }, h('h2', { id: 'policy-h' }, 'Witness policy'), policy),
    growth,
  );
  const { t, noteText } = await logCheck;
  const checks = new Checks();
  keyChecks(t, checks);
  const opened = noteText ? await checkCheckpoint(t, noteText, checks) : null;
  const cons = (await logCheck).checks.items.find((c) => c.label === 'Consistency');
  if (cons) checks.items.push(cons);
  showChecks(box, checks, opened ? `checkpoint of size ${opened.checkpoint.size}` : 'the checkpoint');
  if (noteText) box.append(h('h3', {}, 'Signed checkpoint'), h('pre', { id: 'checkpoint-note' }, noteText));
  growthSection(growth, info.origin, t);
}

async function growthSection(sec, origin, t) {
  const { checkpoints } = await getJSON('/v1/checkpoints?limit=30');
  const pts = checkpoints.slice().reverse();
  const heading = sec.firstChild;
  const parts = [heading];
  if (pts.length > 0) {
    const W = 600;
    const H = 160;
    const max = Math.max(1, ...pts.map((p) => p.size));
    const bw = W / pts.length;
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H + 20}`);
    svg.setAttribute('class', 'chart');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `Tree size of the last ${pts.length} checkpoints, from ${pts[0].size} to ${pts[pts.length - 1].size} entries`);
    pts.forEach((p, i) => {
      const r = document.createElementNS(SVG_NS, 'rect');
      const bh = Math.max(1, (p.size / max) * H);
      r.setAttribute('x', String(i * bw + 1));
      r.setAttribute('y', String(H - bh));
      r.setAttribute('width', String(Math.max(1, bw - 2)));
      r.setAttribute('height', String(bh));
      const title = document.createElementNS(SVG_NS, 'title');
      title.textContent = `size ${p.size}`;
      r.append(title);
      svg.append(r);
    });
    const label = document.createElementNS(SVG_NS, 'text');
    label.setAttribute('x', '2');
    label.setAttribute('y', String(H + 14));
    label.textContent = `${pts[0].size} … ${pts[pts.length - 1].size} entries`;
    svg.append(label);
    parts.push(svg);
  }
  const rows = [];
  for (const c of checkpoints.slice(0, 10)) {
    let sig = '✖ signature does not verify';
    let times = '—';
    try {
      const o = await v.openCheckpoint(c.note, t.key);
      sig = '✔ signed';
      if (t.policy) {
        const w = await v.checkWitnesses(o.note, t.policy);
        times = w.cosignatures.map((x) => `${x.name} ${new Date(Number(x.timestamp) * 1000).toISOString()}`).join('; ') || '—';
      }
    } catch (e) {
      sig = `✖ ${e.message}`;
    }
    rows.push([String(c.size), sig, times]);
  }
  parts.push(table(['Tree size', 'Log signature', 'Witness cosignatures'], rows, 'The most recent checkpoints the log stored (each verified here).'));
  let hist = [];
  try {
    hist = JSON.parse(localStorage.getItem(historyKey(origin)) ?? '[]');
  } catch {
    hist = [];
  }
  if (Array.isArray(hist) && hist.length) {
    parts.push(h('h3', {}, 'Checkpoints this browser verified'), table(['Tree size', 'Seen at'], hist.slice(-10).reverse().map((x) => [String(x.size), String(x.seen_at)])));
  }
  sec.replaceChildren(...parts);
}

function keyRows(keys) {
  return keys.map((k) => [
    h('span', { class: 'mono' }, k.key.split('+')[0]),
    h('span', { class: 'mono' }, k.key_id),
    entryLink(k.enrolled_at),
    k.revoked_at !== undefined && k.revoked_at !== null ? [badge('revoked'), ' at ', entryLink(k.revoked_at)] : badge('enrolled'),
  ]);
}

async function vendorsPage() {
  const { vendors } = await getJSON('/v1/vendors');
  const rows = vendors.map((vd) => [vendorLink(vd.vendor), keyRows(vd.keys).map((r) => h('div', {}, r[1], ' ', r[3], ' (enrolled at ', r[2], ')'))]);
  page(
    'Vendors',
    h('p', {}, `${vendors.length} vendors have keys enrolled in this log. Enrolments and revocations are log entries signed by the log, so the set of keys allowed to speak for a vendor is public and append-only.`),
    table(['Vendor', 'Keys'], rows),
  );
}

/** State of a search hit that is the newest version of its attestation. */
function currentState(hit, now = Date.now()) {
  if (hit.status === 'revoked' || hit.status === 'withdrawn') return hit.status;
  const until = Date.parse(hit.valid_until);
  if (!Number.isNaN(until) && until <= now) return 'expired';
  return 'active';
}

async function vendorPage(name) {
  const { vendors } = await getJSON('/v1/vendors');
  const vd = vendors.find((x) => x.vendor === name);
  const products = h('section', { 'aria-labelledby': 'products-h' }, h('h2', { id: 'products-h' }, 'Products and attestations'));
  page(
    name,
    h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'Signing keys'), vd ? table(['Key name', 'Key ID', 'Enrolment', 'Status'], keyRows(vd.keys)) : h('p', {}, 'No keys are enrolled for this vendor.')),
    products,
  );
  const seen = new Map(); // attestation_id -> {current hit, older: [hits]}
  let before = null;
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load older entries');
  const body = h('div', {});
  products.append(body);
  const render = () => {
    const byProduct = new Map();
    for (const a of seen.values()) {
      if (!byProduct.has(a.current.product)) byProduct.set(a.current.product, []);
      byProduct.get(a.current.product).push(a);
    }
    body.replaceChildren(
      ...[...byProduct.entries()].sort().map(([product, atts]) =>
        h(
          'section',
          { class: 'product' },
          h('h3', {}, product),
          table(
            ['Attestation', 'Current version', 'Status', 'Valid until', 'Older versions'],
            atts.map((a) => [
              h('span', { class: 'mono' }, a.current.attestation_id),
              entryLink(a.current.index),
              badge(currentState(a.current)),
              a.current.valid_until,
              a.older.length ? a.older.map((o, i) => [i ? ', ' : '', link(`#/entry/${o.index}`, `${o.index}`), ' ', badge('superseded')]) : '—',
            ]),
          ),
        ),
      ),
    );
    if (seen.size === 0) body.replaceChildren(h('p', {}, 'No attestations from this vendor.'));
  };
  const load = async () => {
    const q = new URLSearchParams({ vendor: name, limit: '200' });
    if (before !== null) q.set('before', String(before));
    const r = await getJSON(`/v1/search?${q}`);
    for (const hit of r.entries) {
      const a = seen.get(hit.attestation_id);
      if (a) a.older.push(hit);
      else seen.set(hit.attestation_id, { current: hit, older: [] });
    }
    before = r.next ?? null;
    render();
    if (before === null) more.remove();
    else if (!more.isConnected) products.append(more);
  };
  more.addEventListener('click', load);
  await load();
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
async function verifyEntry(t, e, entryBytes, checks) {
  keyChecks(t, checks);
  const proof = v.parseTlogProof(e.receipt.proof);
  const opened = await checkCheckpoint(t, proof.noteText, checks);
  if (!opened) return;
  const cp = opened.checkpoint;
  await checks.run('Inclusion proof', async () => {
    if (proof.index !== BigInt(e.index)) throw new v.VerifyError(`the proof is for index ${proof.index}, not ${e.index}`);
    const receiptEntry = v.b64decode(e.receipt.entry);
    if (!v.equalBytes(receiptEntry, entryBytes)) throw new v.VerifyError('the receipt is for other entry bytes');
    const leaf = await v.leafHash(entryBytes);
    await v.verifyInclusion(leaf, proof.index, cp.size, proof.proof, cp.root);
    return `leaf hash ${v.hex(leaf)} at index ${e.index} recomputed with SHA-256 up ${proof.proof.length} levels to the root ${v.b64encode(cp.root)} of the tree of size ${cp.size}`;
  });
  const env = v.parseEnvelope(entryBytes);
  if (e.kind === 'enrolment') {
    await checks.run('Log signature on the enrolment', async () => {
      if (!(await v.envelopeSignedBy(env, t.key))) throw new v.VerifyError('the enrolment entry is not signed by the log key');
      return 'the enrolment entry is signed (DSSE, Ed25519) by the log key';
    });
  } else {
    await checks.run('Vendor signature and enrolment', async () => {
      const en = e.receipt.enrolment;
      if (!en) throw new v.VerifyError('the receipt names no enrolment of the signing key');
      const enBytes = v.b64decode(en.entry);
      const enProof = v.parseTlogProof(en.proof);
      if (enProof.noteText !== proof.noteText) throw new v.VerifyError('the enrolment proof is against another checkpoint');
      if (enProof.index >= proof.index) throw new v.VerifyError(`the enrolment (entry ${enProof.index}) is not before the attestation`);
      await v.verifyInclusion(await v.leafHash(enBytes), enProof.index, cp.size, enProof.proof, cp.root);
      const enEnv = v.parseEnvelope(enBytes);
      if (enEnv.payloadType !== 'application/vnd.attestlog.enrolment+json') throw new v.VerifyError('the enrolment entry has another payload type');
      if (!(await v.envelopeSignedBy(enEnv, t.key))) throw new v.VerifyError('the enrolment entry is not signed by the log key');
      const en2 = JSON.parse(v.fromUtf8(enEnv.payload));
      if (en2.action !== 'enrol') throw new v.VerifyError(`the enrolment entry is a ${en2.action}`);
      const st = JSON.parse(v.fromUtf8(env.payload));
      const claimed = st?.predicate?.vendor?.legal_name;
      if (en2.vendor !== claimed) throw new v.VerifyError(`the key is enrolled for ${en2.vendor}, not ${claimed}`);
      const key = await v.parseVerifierKey(en2.key);
      if (!(await v.envelopeSignedBy(env, key))) throw new v.VerifyError(`no signature by ${key.text} verifies over the DSSE PAE`);
      return `DSSE signature by ${key.name} (key ID ${v.hex(key.id)}) verifies; that key was enrolled for ${claimed} by the log at entry ${enProof.index} (signature and inclusion verified)`;
    });
  }
}

async function entryPage(index) {
  if (!/^(0|[1-9][0-9]*)$/.test(index)) {
    page('No such entry', h('p', { role: 'alert' }, `“${index}” is not an entry index.`));
    return;
  }
  const e = await getJSON(`/v1/entries/${index}`);
  const entryBytes = v.b64decode(e.entry);
  const box = verificationBox('entry-verification', 'Verification');
  const st = e.payload ?? {};
  const raw = h(
    'details',
    {},
    h('summary', {}, 'Raw entry'),
    h('p', {}, `Leaf hash (SHA-256 of 0x00 ‖ entry): `, h('span', { class: 'mono' }, v.hex(v.b64decode(e.leaf_hash)))),
    h('h3', {}, 'Decoded payload'),
    h('pre', {}, JSON.stringify(st, null, 2)),
    h('h3', {}, 'Canonical entry (DSSE envelope, JCS)'),
    h('pre', { id: 'raw-entry' }, v.fromUtf8(entryBytes)),
    h('h3', {}, 'Receipt proof (c2sp.org/tlog-proof)'),
    h('pre', {}, e.receipt.proof),
  );
  if (e.kind === 'enrolment') {
    page(
      `Entry ${index}: key ${st.action === 'revoke' ? 'revocation' : 'enrolment'}`,
      box,
      facts([
        ['Vendor', vendorLink(String(st.vendor))],
        ['Action', String(st.action)],
        ['Key', h('span', { class: 'mono' }, String(st.key))],
        ['Issued', String(st.issued_at)],
      ]),
      raw,
    );
  } else {
    const p = st.predicate ?? {};
    const statusLine = h('p', { id: 'entry-status' }, 'Status: …');
    const versions = h('section', { 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Versions'));
    const diff = h('section', { 'aria-labelledby': 'diff-h' }, h('h2', { id: 'diff-h' }, 'Changes from the version it supersedes'));
    page(`${p.product?.name ?? 'Attestation'} — ${p.vendor?.legal_name ?? ''}`, h('p', { class: 'note' }, `Entry ${index} of the log`), statusLine, box, ...statementSections(st, index), diff, versions, raw);
    entryVersions(p, Number(index), statusLine, versions).catch((err) => versions.append(h('p', {}, `Cannot list versions: ${err.message}`)));
    if (p.supersedes) {
      getJSON(`/v1/entries/${p.supersedes.log_index}`)
        .then((old) => diff.append(h('p', {}, 'Compared with ', entryLink(p.supersedes.log_index), ':'), diffSection(old.payload?.predicate ?? {}, p)))
        .catch((err) => diff.append(h('p', {}, `Cannot read the superseded version: ${err.message}`)));
    } else {
      diff.append(h('p', {}, 'This is the first version of this attestation.'));
    }
  }
  const { t } = await logCheck;
  const checks = new Checks();
  try {
    await verifyEntry(t ?? (await trust()), e, entryBytes, checks);
  } catch (err) {
    checks.fail('Entry', err.message);
  }
  const cons = (await logCheck).checks.items.find((c) => c.label === 'Consistency');
  if (cons) checks.items.push(cons);
  showChecks(box, checks, `entry ${index} is in the log as shown`);
}

async function entryVersions(p, index, statusLine, sec) {
  const r = await getJSON(`/v1/search?${new URLSearchParams({ attestation_id: String(p.attestation_id), limit: '100' })}`);
  const hits = r.entries;
  const current = hits[0];
  let state = 'superseded';
  if (current && current.index === index) state = currentState(current);
  statusLine.replaceChildren('Status: ', badge(state), current && current.index !== index ? [' — the current version is ', entryLink(current.index)] : '');
  sec.append(table(['Entry', 'Status', 'Valid until'], hits.map((x, i) => [x.index === index ? `${x.index} (this one)` : entryLink(x.index), badge(i === 0 ? currentState(x) : 'superseded'), x.valid_until])));
}

const SEARCH_FIELDS = [
  ['vendor', 'Vendor (legal name)'],
  ['product', 'Product'],
  ['country', 'Country (ISO code, e.g. CH)'],
  ['category', 'Data category (e.g. telemetry)'],
  ['attestation_id', 'Attestation ID'],
];

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
    results.append(h('p', { class: 'note' }, 'Give one or more fields; all must match (countries match any storage, processing, remote-access or onward-transfer country).'));
    return;
  }
  if (params.get('before')) q.set('before', params.get('before'));
  const r = await getJSON(`/v1/search?${q}`);
  results.append(
    h('h2', { id: 'results-h' }, `${r.entries.length}${r.next !== undefined ? '+' : ''} matching entries`),
    table(
      ['Entry', 'Vendor', 'Product', 'Declared status', 'Valid until'],
      r.entries.map((x) => [entryLink(x.index), vendorLink(x.vendor), x.product, x.status, x.valid_until]),
    ),
  );
  if (r.next !== undefined) {
    q.set('before', String(r.next));
    results.append(link(`#/search?${q}`, 'Older results'));
  }
}

async function settingsPage() {
  const info = await logInfo();
  const pinned = localStorage.getItem(PIN_KEY);
  const msg = h('p', { id: 'pin-message', role: 'status' });
  const ta = h('textarea', { id: 'pin-key', name: 'key', rows: '3', spellcheck: 'false', 'aria-describedby': 'pin-help' });
  ta.value = pinned ?? '';
  const form = h(
    'form',
    { class: 'pin', id: 'pin-form' },
    h('label', { for: 'pin-key' }, 'Log verifier key to trust'),
    h('p', { id: 'pin-help', class: 'note' }, 'Paste the log\'s verifier key as published by its operator through another channel (name+keyid+base64). Once pinned, this browser checks every checkpoint against it instead of the key the page serves.'),
    ta,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Pin this key'), h('button', { type: 'button', class: 'secondary', id: 'unpin' }, 'Remove the pin')),
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const k = await v.parseVerifierKey(ta.value);
      if (k.type !== v.TYPE_ED25519) throw new v.VerifyError('a log key must be an Ed25519 (type 0x01) key');
      localStorage.setItem(PIN_KEY, k.text);
      msg.setAttribute('role', 'status');
      msg.textContent = `✔ Pinned ${k.text}.${k.text === info.verifier_key ? '' : ' It differs from the key this page serves: verification will fail unless the log signs with it.'}`;
      restart();
    } catch (e) {
      msg.setAttribute('role', 'alert');
      msg.textContent = `✖ Not pinned: ${e.message}`;
    }
  });
  form.querySelector('#unpin').addEventListener('click', () => {
    localStorage.removeItem(PIN_KEY);
    ta.value = '';
    msg.textContent = 'The pin is removed; the key this page serves is used.';
    restart();
  });
  const forget = h('button', { type: 'button', class: 'secondary', id: 'forget' }, 'Forget the checkpoints this browser saw');
  forget.addEventListener('click', () => {
    localStorage.removeItem(seenKey(info.origin));
    localStorage.removeItem(historyKey(info.origin));
    forget.replaceWith(h('p', { role: 'status' }, 'Forgotten. The next checkpoint verified becomes the new reference.'));
  });
  page(
    'Trust settings',
    facts([
      ['Key this page serves', h('span', { class: 'mono' }, info.verifier_key)],
      ['Key you pinned', pinned ? h('span', { class: 'mono', id: 'pinned-now' }, pinned) : 'none'],
    ]),
    form,
    h('h2', {}, 'Checkpoints seen'),
    h('p', {}, `This browser remembers the last checkpoint of ${info.origin} it verified, and checks every new one extends it.`),
    forget,
  );
}

// ---------------------------------------------------------------------------------------------
// Router

function restart() {
  fork = null;
  logInfoPromise = null;
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
window.addEventListener('hashchange', () => route().then(focusTitle));
restart();
route();
