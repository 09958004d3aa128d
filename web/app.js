// c1m demo page: a live ticker table fed by the reference client (c1m.js).
// Query parameters: ?sub=<pattern> (default "md.>"), ?backoffMax=<ms>.
import { Client } from './c1m.js';

const params = new URLSearchParams(location.search);
const pattern = params.get('sub') || 'md.>';
const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const client = new Client(url, {
  backoffInitial: 250,
  backoffMax: Number(params.get('backoffMax')) || 5000,
});

const $ = (id) => document.getElementById(id);
const rowsEl = $('rows');
/** @type {Map<string, object>} symbol -> row state */
const rows = new Map();
const dirty = new Set();
let latencyMs = NaN;

// Exposed for debugging and for the browser tests.
window.c1m = { client, rows, pattern };

const fmtPx = (v) => (v === undefined ? '' : v.toFixed(2));
const fmtInt = (v) => (v === undefined ? '' : String(v));

function row(sym) {
  let r = rows.get(sym);
  if (r) return r;
  const tr = document.createElement('tr');
  tr.id = `row-${sym}`;
  tr.dataset.sym = sym;
  const cells = {};
  for (const k of ['sym', 'bsz', 'bid', 'ask', 'asz', 'px', 'qty', 'chg', 'n']) {
    const td = document.createElement('td');
    td.className = k === 'sym' ? 'sym' : `num ${k}`;
    tr.appendChild(td);
    cells[k] = td;
  }
  cells.sym.textContent = sym;
  r = { sym, tr, cells, shown: {}, n: 0, open: undefined };
  rows.set(sym, r);
  // Keep rows sorted by symbol.
  const after = [...rowsEl.children].find((el) => el.dataset.sym > sym);
  rowsEl.insertBefore(tr, after || null);
  $('empty').classList.add('hidden');
  return r;
}

client.on('message', (topic, data, meta) => {
  const parts = topic.split('.');
  // The ticker shows JSON quotes and trades; binary deliveries (meta.binary,
  // data a Uint8Array) are counted by the client but not shown.
  if (meta.binary || parts.length !== 3 || !data || typeof data !== 'object') return;
  const r = row(parts[1]);
  r.n++;
  if (parts[2] === 'quote') {
    Object.assign(r, { bid: data.bid, ask: data.ask, bsz: data.bsz, asz: data.asz });
  } else if (parts[2] === 'trade') {
    Object.assign(r, { px: data.px, qty: data.qty, side: data.side });
    if (r.open === undefined) r.open = data.px;
  }
  if (meta.ts && !meta.snap) {
    const l = Date.now() - meta.ts / 1e6;
    latencyMs = Number.isNaN(latencyMs) ? l : latencyMs * 0.95 + l * 0.05;
  }
  dirty.add(r);
  schedule();
});

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(render);
}

function flash(td, up) {
  td.animate([{ backgroundColor: up ? 'rgba(31,157,85,.5)' : 'rgba(214,69,69,.5)' }, { backgroundColor: 'transparent' }],
    { duration: 600, easing: 'ease-out' });
}

function set(r, key, text, num) {
  if (r.shown[key] === text) return;
  const prev = r.shown[`${key}#`];
  r.shown[key] = text;
  r.shown[`${key}#`] = num;
  r.cells[key].textContent = text;
  if (prev !== undefined && num !== undefined && num !== prev) flash(r.cells[key], num > prev);
}

function render() {
  scheduled = false;
  for (const r of dirty) {
    set(r, 'bsz', fmtInt(r.bsz));
    set(r, 'bid', fmtPx(r.bid), r.bid);
    set(r, 'ask', fmtPx(r.ask), r.ask);
    set(r, 'asz', fmtInt(r.asz));
    set(r, 'px', fmtPx(r.px), r.px);
    set(r, 'qty', r.qty === undefined ? '' : `${r.qty} ${r.side === 'B' ? '\u2191' : '\u2193'}`);
    if (r.px !== undefined && r.open) {
      const pct = ((r.px - r.open) / r.open) * 100;
      set(r, 'chg', `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%`);
      r.cells.chg.className = `num chg ${pct > 0 ? 'pos' : pct < 0 ? 'neg' : ''}`;
    }
    set(r, 'n', String(r.n));
  }
  dirty.clear();
}

// ---- connection status and counters ----

const log = (text) => {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  const ol = $('log');
  ol.prepend(li);
  while (ol.children.length > 50) ol.lastChild.remove();
};

client.on('state', (state, info) => {
  $('conn').dataset.state = state;
  $('state').textContent = state;
  $('attempt').textContent = String(info.attempt || 0);
  let text = state;
  if (info.code) text += ` (close ${info.code}${info.reason ? ' ' + info.reason : ''})`;
  if (info.delay !== undefined) text += `, retry in ${info.delay}ms`;
  log(text);
});

let recoveredNow = 0;
let notRecoveredNow = 0;
client.on('topic', (topic, st) => {
  $('epoch').textContent = st.epoch;
  if (st.recovered === true) recoveredNow++;
  if (st.recovered === false) notRecoveredNow++;
});
client.on('reset', (topic, info) => {
  if (info.epoch) $('epoch').textContent = info.epoch;
});
client.on('error', (e) => log(`error: ${e.message}`));

let lastDelivered = 0;
let lastTick = performance.now();
setInterval(() => {
  const s = client.stats;
  const now = performance.now();
  $('rate').textContent = String(Math.round(((s.delivered - lastDelivered) * 1000) / (now - lastTick)));
  lastDelivered = s.delivered;
  lastTick = now;
  $('delivered').textContent = String(s.delivered);
  $('reconnects').textContent = String(s.reconnects);
  $('gaps').textContent = String(s.gaps);
  $('gaps').parentElement.classList.toggle('bad', s.gaps > 0);
  $('missed').textContent = String(s.missed);
  $('duplicates').textContent = String(s.duplicates);
  $('recovered').textContent = String(s.recovered);
  $('notRecovered').textContent = String(s.notRecovered);
  $('latency').textContent = Number.isNaN(latencyMs) ? '-' : `${latencyMs.toFixed(1)} ms`;
  if (recoveredNow || notRecoveredNow) {
    log(`resubscribed: ${recoveredNow} topics recovered, ${notRecoveredNow} not (snapshot sent)`);
    recoveredNow = notRecoveredNow = 0;
  }
}, 1000);

$('pattern').textContent = pattern;
client.subscribe(pattern, { conflate: false })
  .then(() => log(`subscribed to ${pattern}`))
  .catch((e) => log(`subscribe failed: ${e.message}`));
