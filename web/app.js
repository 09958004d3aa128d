// c1m demo page: a live ticker fed by the reference client (c1m.js), with the
// client's delivery counters, its publish-to-receive latency and the server's
// own numbers (GET /stats), with the node's name and, in a cluster, whether
// it is connected to NATS.
//
// Query parameters: ?sub=<pattern> (default "md.>"), ?backoffMax=<ms>,
// ?transport=websocket|sockjs|sse (default websocket; also the switch in the
// header, which keeps the rows and sparklines and starts the client's counters
// and latency afresh on the new transport). SockJS runs the same client over
// sockjs-client, which the page loads from /vendor/sockjs.min.js (served by
// c1m) the first time it is chosen; ?sockjs=xhr-streaming,xhr-polling narrows
// the SockJS transports it may pick.
//
// Anything can be published on the topics the page shows, so every value is
// checked before it is shown: a field that is not a finite number is marked
// invalid in its cell, data that is not an object marks its row, and a row
// that fails to render anyway is skipped without stopping the others.
import { Client } from './c1m.js';

const params = new URLSearchParams(location.search);
const pattern = params.get('sub') || 'md.>';
const TRANSPORT_NAME = { websocket: 'WebSocket', sockjs: 'SockJS', sse: 'SSE' };
const ENDPOINT = {
  websocket: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
  sockjs: `${location.origin}/sockjs`,
  sse: `${location.origin}/sse`,
};
const transportOf = (v) => (v === 'sse' || v === 'sockjs' ? v : 'websocket');
const sockjsTransports = params.get('sockjs') ? params.get('sockjs').split(',') : undefined;
/** The current client; replaced when the transport is switched. */
let client = null;

const $ = (id) => document.getElementById(id);
const rowsEl = $('rows');

// ---- values ----------------------------------------------------------------

/** Marks a field that is present but cannot be shown. */
const INVALID = Symbol('invalid');

/** A finite number, INVALID for anything else that is present, undefined if absent. */
const num = (v) => (v === undefined ? undefined : typeof v === 'number' && Number.isFinite(v) ? v : INVALID);
const valid = (v) => typeof v === 'number';

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function fmtPx(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return v.toExponential(2);
  return v.toFixed(a !== 0 && a < 1 ? 4 : 2);
}
const fmtSize = (v) => (Math.abs(v) >= 1e9 ? v.toExponential(2) : intFmt.format(v));

/** A short JSON text of a value, for tooltips and the event log. */
function preview(v) {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}\u2026` : s;
}

// ---- sparklines ---------------------------------------------------------------

// The last minute of a symbol's price in fixed time slots (the last value of
// each slot): bounded memory per symbol, drawn on a canvas at most once per
// animation frame.
const SPARK_STEP_MS = 500;
const SPARK_SLOTS = 120; // one minute
const slotNow = () => Math.floor(Date.now() / SPARK_STEP_MS);

class Spark {
  constructor() {
    this.v = new Float64Array(SPARK_SLOTS).fill(NaN);
    this.last = -1; // slot of the newest value
  }

  add(slot, price) {
    if (this.last >= 0 && slot > this.last) {
      // Carry the last price through slots without an update.
      const carry = this.v[this.last % SPARK_SLOTS];
      for (let s = Math.max(this.last + 1, slot - SPARK_SLOTS + 1); s < slot; s++) this.v[s % SPARK_SLOTS] = carry;
    }
    if (slot >= this.last) {
      this.v[slot % SPARK_SLOTS] = price;
      this.last = slot;
    }
  }

  /**
   * Draws the minute ending at slot now on canvas (w x h CSS pixels), across
   * the whole width: until a minute of prices is known, the time since the
   * first one is stretched over it (a line of a few seconds would otherwise
   * be a sliver at the right end).
   */
  draw(canvas, now, w, h, dpr) {
    const W = Math.round(w * dpr);
    const H = Math.round(h * dpr);
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, W, H);
    const first = now - SPARK_SLOTS + 1;
    let min = Infinity;
    let max = -Infinity;
    let n = 0;
    let from = -1; // the first slot with a price
    const at = (s) => (this.last < 0 || s < this.last - SPARK_SLOTS + 1 ? NaN
      : this.v[Math.min(s, this.last) % SPARK_SLOTS]);
    for (let s = first; s <= now; s++) {
      const p = at(s);
      if (Number.isNaN(p)) continue;
      if (from < 0) from = s;
      if (p < min) min = p;
      if (p > max) max = p;
      n++;
    }
    canvas.dataset.points = String(n);
    if (n < 2) return;
    const pad = 2 * dpr;
    const span = max - min || 1;
    const x = (s) => ((s - from) / Math.max(1, now - from)) * (W - 1);
    const y = (p) => (max === min ? H / 2 : pad + (1 - (p - min) / span) * (H - 2 * pad));
    let startX = 0;
    let firstP = NaN;
    let lastP = NaN;
    ctx.beginPath();
    for (let s = first; s <= now; s++) {
      const p = at(s);
      if (Number.isNaN(p)) continue;
      if (Number.isNaN(firstP)) { firstP = p; startX = x(s); ctx.moveTo(startX, y(p)); } else ctx.lineTo(x(s), y(p));
      lastP = p;
    }
    const up = lastP >= firstP;
    ctx.strokeStyle = up ? '#2fbf71' : '#f05252';
    ctx.lineWidth = 1.25 * dpr;
    ctx.lineJoin = 'round';
    ctx.stroke();
    ctx.lineTo(W - 1, H);
    ctx.lineTo(startX, H);
    ctx.closePath();
    ctx.fillStyle = up ? 'rgba(47,191,113,.12)' : 'rgba(240,82,82,.12)';
    ctx.fill();
  }
}

// ---- rows ------------------------------------------------------------------

/** @type {Map<string, object>} symbol -> row state */
const rows = new Map();
const dirty = new Set();

// Exposed for debugging and for the browser tests.
window.c1m = { client, rows, pattern, latency: null, serverPolls: 0, switchTransport: null, node: null };
const CELLS = ['sym', 'bsz', 'bid', 'ask', 'asz', 'px', 'qty', 'chg', 'spark', 'n'];
const QUOTE = ['bid', 'ask', 'bsz', 'asz'];
const TRADE = ['px', 'qty'];

// Only rows on screen redraw their sparkline.
const onScreen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const r = rows.get(e.target.dataset.sym);
    if (!r) continue;
    r.visible = e.isIntersecting;
    if (r.visible) { r.sparkDirty = true; dirty.add(r); schedule(); }
  }
});

function row(sym) {
  let r = rows.get(sym);
  if (r) return r;
  const tr = document.createElement('tr');
  tr.id = `row-${sym}`;
  tr.dataset.sym = sym;
  const cells = {};
  for (const k of CELLS) {
    const td = document.createElement('td');
    td.className = k === 'sym' || k === 'spark' ? k : `num ${k}`;
    tr.appendChild(td);
    cells[k] = td;
  }
  cells.sym.textContent = sym;
  const canvas = document.createElement('canvas');
  canvas.className = 'spark';
  cells.spark.appendChild(canvas);
  r = {
    sym, tr, cells, canvas, shown: {}, n: 0, open: undefined, spark: new Spark(),
    bad: { quote: null, trade: null }, visible: true, sparkDirty: true,
  };
  rows.set(sym, r);
  // Keep rows sorted by symbol.
  const after = [...rowsEl.children].find((el) => el.dataset.sym > sym);
  rowsEl.insertBefore(tr, after || null);
  onScreen.observe(tr);
  $('empty').hidden = true;
  return r;
}

const loggedBad = new Set();

/** Applies one quote or trade; records what it cannot show. */
function apply(r, kind, topic, data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    r.bad[kind] = `${topic}: not an object: ${preview(data)}`;
  } else {
    let badField = false;
    for (const k of kind === 'quote' ? QUOTE : TRADE) {
      const v = num(data[k]);
      if (v === undefined) continue; // absent: keep the last value
      r[k] = v;
      if (v === INVALID) { badField = true; r.raw = { ...r.raw, [k]: preview(data[k]) }; }
    }
    if (kind === 'trade' && 'side' in data) r.side = data.side === 'B' || data.side === 'S' ? data.side : undefined;
    if (kind === 'trade' && r.open === undefined && valid(r.px) && r.px > 0) r.open = r.px;
    r.bad[kind] = badField ? `${topic}: invalid values: ${preview(data)}` : null;
    const price = valid(r.bid) && valid(r.ask) ? (r.bid + r.ask) / 2 : kind === 'trade' && valid(r.px) ? r.px : NaN;
    if (!badField && Number.isFinite(price)) r.spark.add(slotNow(), price); // drawn when the slot moves on
  }
  if (r.bad[kind] && !loggedBad.has(topic)) {
    loggedBad.add(topic);
    log(`not shown (first time on this topic): ${r.bad[kind]}`, 'warn');
  }
}

function onMessage(topic, data, meta) {
  lastMessageAt = Date.now();
  if (!meta.snap) recordLatency(meta.ts);
  const parts = topic.split('.');
  // The ticker shows JSON quotes and trades (md.<SYM>.quote|trade); binary
  // deliveries (meta.binary, data a Uint8Array) and other topics are counted
  // by the client but not shown.
  if (meta.binary || parts.length !== 3 || (parts[2] !== 'quote' && parts[2] !== 'trade')) return;
  const r = row(parts[1]);
  r.n++;
  apply(r, parts[2], topic, data);
  dirty.add(r);
  schedule();
}

// ---- rendering (once per animation frame) ------------------------------------

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(render);
}

// A price that moved gets a tinted background for FLASH_MS: a class added
// and removed by the render loop (two style changes, not an animation that
// repaints every frame and would hold the main thread off the socket).
const FLASH_MS = 350;
const flashing = new Map(); // td -> time the tint goes
const TICKS = new Set(['bid', 'ask', 'px']);

// set shows text in cell key; a price that moved colours its cell by
// direction and flashes it.
function set(r, key, text, value, title = '') {
  const td = r.cells[key];
  if (r.shown[key] !== text) {
    const prev = r.shown[`${key}#`];
    r.shown[key] = text;
    r.shown[`${key}#`] = value;
    td.textContent = text;
    if (TICKS.has(key) && valid(prev) && valid(value) && value !== prev) {
      td.classList.toggle('up', value > prev);
      td.classList.toggle('down', value < prev);
      td.classList.add('flash');
      flashing.set(td, performance.now() + FLASH_MS);
    }
  }
  if (td.title !== title) td.title = title;
}

function setValue(r, key, fmt) {
  const v = r[key];
  const bad = v === INVALID;
  set(r, key, v === undefined ? '' : bad ? '\u2014' : fmt(v), v, bad ? `invalid value: ${r.raw?.[key]}` : '');
  r.cells[key].classList.toggle('bad', bad);
}

let sparkW = 0;
let sparkH = 0;
let sparkSlot = -1;
let failed = 0;

function renderRow(r, slot, all) {
  setValue(r, 'bsz', fmtSize);
  setValue(r, 'bid', fmtPx);
  setValue(r, 'ask', fmtPx);
  setValue(r, 'asz', fmtSize);
  setValue(r, 'px', fmtPx);
  if (r.qty === INVALID) setValue(r, 'qty', fmtSize);
  else {
    const arrow = r.side === 'B' ? ' \u25b2' : r.side === 'S' ? ' \u25bc' : '';
    set(r, 'qty', r.qty === undefined ? '' : `${fmtSize(r.qty)}${arrow}`, undefined,
      r.side === 'B' ? 'buyer lifted the offer' : r.side === 'S' ? 'seller hit the bid' : '');
    r.cells.qty.classList.remove('bad');
    r.cells.qty.dataset.side = r.side || '';
  }
  if (valid(r.px) && r.open > 0) {
    const pct = ((r.px - r.open) / r.open) * 100;
    if (Number.isFinite(pct)) {
      set(r, 'chg', `${pct >= 0 ? '+' : ''}${Math.abs(pct) >= 1e6 ? pct.toExponential(1) : pct.toFixed(2)}%`, undefined,
        `since the first trade seen by this page at ${fmtPx(r.open)}`);
      r.cells.chg.classList.toggle('pos', pct > 0);
      r.cells.chg.classList.toggle('neg', pct < 0);
    }
  }
  set(r, 'n', intFmt.format(r.n));
  const bad = [r.bad.quote, r.bad.trade].filter(Boolean).join('\n');
  r.tr.classList.toggle('malformed', !!bad);
  if (r.cells.sym.title !== bad) r.cells.sym.title = bad;
  if (r.visible && (all || r.sparkDirty)) {
    r.spark.draw(r.canvas, slot, sparkW, sparkH, devicePixelRatio || 1);
    r.sparkDirty = false;
  }
}

function render() {
  scheduled = false;
  const slot = slotNow();
  // When the minute window moved, every visible sparkline shifts.
  const all = slot !== sparkSlot;
  sparkSlot = slot;
  if (!sparkW && rows.size) {
    const c = rows.values().next().value.cells.spark;
    sparkW = Math.max(20, c.clientWidth - 8);
    sparkH = Math.max(12, c.clientHeight - 8);
  }
  for (const r of all ? rows.values() : dirty) {
    try {
      renderRow(r, slot, all);
    } catch (e) {
      // Never stop rendering the other rows.
      if (failed++ < 5) console.error('c1m demo: cannot render', r.sym, e);
      r.tr.classList.add('malformed');
    }
  }
  dirty.clear();
  const now = performance.now();
  for (const [td, until] of flashing) {
    if (until <= now) { td.classList.remove('flash'); flashing.delete(td); }
  }
  if (flashing.size && !flashTimer) flashTimer = setTimeout(() => { flashTimer = 0; schedule(); }, FLASH_MS);
}
let flashTimer = 0;

addEventListener('resize', () => { sparkW = 0; sparkSlot = -1; schedule(); });
// Sparklines scroll with time even when no message arrives.
setInterval(schedule, SPARK_STEP_MS);

// ---- publish-to-receive latency --------------------------------------------

// Samples are taken in the message handler, not in the render path: the time
// from the publish ts (server clock, Unix ns) to the message's arrival here.
// Only live messages count: snapshots, and messages published before the
// current connection opened (replayed by recovery), are not latency.
const LAT_N = 1000;
const lat = new Float64Array(LAT_N);
let latCount = 0;
let latNext = 0;
let liveSince = Infinity; // Unix ms at which the current connection opened

function resetLatency() {
  latCount = 0;
  latNext = 0;
  liveSince = Infinity;
}

// Wall-clock time with sub-millisecond resolution: performance.now() plus an
// offset to Date.now() (which has 1 ms resolution). Date.now() - performance.now()
// is at most the true offset, so the largest value over a window of samples
// is a close estimate; re-estimated every 10 s so drift does not accumulate.
let clockOffset = NaN;
let offsetMax = -Infinity;
let offsetSince = 0;
function wallNowMs() {
  const p = performance.now();
  const d = Date.now() - p;
  if (d > offsetMax) offsetMax = d;
  if (Number.isNaN(clockOffset) || p - offsetSince > 10000) {
    clockOffset = offsetMax;
    offsetMax = -Infinity;
    offsetSince = p;
  } else if (d > clockOffset) clockOffset = d;
  return p + clockOffset;
}

function recordLatency(ts) {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return;
  const pub = ts / 1e6;
  if (pub < liveSince) return;
  lat[latNext] = wallNowMs() - pub;
  latNext = (latNext + 1) % LAT_N;
  if (latCount < LAT_N) latCount++;
}

const latSorted = new Float64Array(LAT_N);
function latencyQuantiles() {
  if (latCount < 10) return null;
  const a = latSorted.subarray(0, latCount);
  a.set(lat.subarray(0, latCount));
  a.sort();
  return { p50: a[Math.floor(0.5 * (latCount - 1))], p99: a[Math.floor(0.99 * (latCount - 1))], n: latCount };
}
const fmtMs = (v) => (Math.abs(v) < 10 ? v.toFixed(1) : String(Math.round(v)));
const LAT_TITLE = 'publish to receive: from each live message\'s publish time (server clock) to its arrival in this page\'s '
  + `message handler, median and 99th percentile of the last ${LAT_N} live messages; rendering not included`;

// ---- connection state ------------------------------------------------------

const log = (text, level = '') => {
  const ol = $('log');
  const li = document.createElement('li');
  if (level) li.className = level;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString([], { hour12: false });
  li.append(time, ` ${text}`);
  ol.prepend(li);
  while (ol.children.length > 100) ol.lastChild.remove();
};

let subError = null; // the C1MError that refused the page's subscription
let attempt = 0;
let lostAt = 0; // Date.now() when the connection was lost
let lastMessageAt = 0;

const STATE_TEXT = { open: 'live', connecting: 'connecting', reconnecting: 'reconnecting', closed: 'closed', error: 'subscription refused' };

function showState() {
  const st = subError && client.state === 'open' ? 'error' : client.state;
  document.body.dataset.state = st;
  $('conn').dataset.state = st;
  $('state').textContent = STATE_TEXT[st] || st;
  const a = $('attempt');
  a.hidden = st !== 'reconnecting';
  a.textContent = st === 'reconnecting' ? `attempt ${attempt}` : '';
  const banner = $('banner');
  banner.hidden = st === 'open' || st === 'connecting';
  banner.className = `banner ${st}`;
  if (st === 'error') {
    banner.textContent = `The server refused the subscription to ${pattern}: ${subError.msg} (${subError.code}).`;
  } else if (st === 'reconnecting' || st === 'closed') {
    const since = lostAt ? `since ${new Date(lostAt).toLocaleTimeString([], { hour12: false })}` : '';
    const age = lastMessageAt ? `; last update ${Math.round((Date.now() - lastMessageAt) / 1000)} s ago` : '';
    banner.textContent = st === 'closed' ? `Disconnected ${since}: prices are stale${age}.`
      : `Connection lost ${since}: prices are stale${age}. Reconnecting (attempt ${attempt})\u2026`;
  }
}

function onState(state, info) {
  if (info.attempt) attempt = info.attempt;
  if (state === 'open') { liveSince = Date.now(); lostAt = 0; } else { liveSince = Infinity; }
  if (state !== 'open' && !lostAt) lostAt = Date.now();
  showState();
  // A reconnect attempt starting is not news; its outcome is.
  if (state === 'reconnecting' && !info.code && info.delay === undefined) return;
  let text = STATE_TEXT[state] || state;
  if (info.code) text += ` (close ${info.code}${info.reason ? ' ' + info.reason : ''})`;
  if (info.delay !== undefined) text += `, retry in ${info.delay} ms`;
  // Over SockJS, the transport sockjs-client settled on.
  if (info.via) document.body.dataset.via = info.via;
  const over = TRANSPORT_NAME[client.transport] + (info.via ? ` ${info.via}` : '');
  log(`${text} (${over})`, state === 'open' ? 'ok' : state === 'reconnecting' ? 'warn' : '');
}

let recoveredNow = 0;
let notRecoveredNow = 0;
function onTopic(topic, st) {
  if (typeof st.epoch === 'string') $('epoch').textContent = st.epoch;
  if (st.recovered === true) recoveredNow++;
  if (st.recovered === false) notRecoveredNow++;
}
function onReset(topic, info) {
  if (info.epoch) $('epoch').textContent = info.epoch;
}
function onGap(topic, g) {
  log(`gap on ${topic}: ${g.missed} missed (seq ${g.expected - 1} \u2192 ${g.got})`, 'bad');
}

// Errors are logged; a burst of the same one is folded into one line.
let lastError = '';
let lastErrorLi = null;
let lastErrorN = 0;
function onError(e) {
  if (e && e.op === 'sub' && e.code === 503) { showRefused(e); retrySubscribe(client); }
  const text = `error: ${e && e.message}`;
  if (text === lastError && lastErrorLi?.isConnected) {
    lastErrorLi.lastChild.textContent = ` ${text} (\u00d7${++lastErrorN})`;
    return;
  }
  lastError = text;
  lastErrorN = 1;
  log(text, 'bad');
  lastErrorLi = $('log').firstChild;
}

// ---- client counters (every second) ----------------------------------------

let lastDelivered = 0;
let lastTick = performance.now();
setInterval(() => {
  if (!client) return; // SockJS still loading
  const s = client.stats;
  const now = performance.now();
  $('rate').textContent = intFmt.format(((s.delivered - lastDelivered) * 1000) / (now - lastTick));
  lastDelivered = s.delivered;
  lastTick = now;
  $('delivered').textContent = intFmt.format(s.delivered);
  $('reconnects').textContent = intFmt.format(s.reconnects);
  $('gaps').textContent = intFmt.format(s.gaps);
  $('gaps').parentElement.classList.toggle('bad', s.gaps > 0);
  $('missed').textContent = intFmt.format(s.missed);
  $('duplicates').textContent = intFmt.format(s.duplicates);
  $('recovered').textContent = intFmt.format(s.recovered);
  $('notRecovered').textContent = intFmt.format(s.notRecovered);
  $('notRecovered').parentElement.classList.toggle('warn', s.notRecovered > 0);
  const q = latencyQuantiles();
  $('latency').textContent = q ? fmtMs(q.p50) : '\u2013';
  $('latency99').textContent = q ? fmtMs(q.p99) : '\u2013';
  $('latency').parentElement.title = `${LAT_TITLE}; ${q ? q.n : 0} samples`;
  window.c1m.latency = q;
  if (client.state !== 'open') showState(); // the banner's "last update" age
  if (recoveredNow || notRecoveredNow) {
    log(`resubscribed: ${recoveredNow} topics recovered, ${notRecoveredNow} not (last value shown)`,
      notRecoveredNow ? 'warn' : 'ok');
    recoveredNow = notRecoveredNow = 0;
  }
}, 1000);

// ---- the server's own numbers (GET /stats every 2 s) -----------------------

const count = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
function fmtBytes(v) {
  if (v === undefined) return '\u2013';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i && v < 100 ? 1 : 0)} ${units[i]}`;
}
function fmtUptime(s) {
  if (s === undefined) return '\u2013';
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  return m ? `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${Math.floor(s)} s`;
}
const fmtCount = (v) => (v === undefined ? '\u2013' : intFmt.format(v));

// Which node answered (its name; in a cluster, whether it is connected to
// NATS): "node" and "nats" of /stats, nats null when standalone. Behind a
// load balancer the node answering /stats may not be the one holding the
// page's connection.
function showNode(s) {
  const name = typeof s.node === 'string' && s.node ? s.node : undefined;
  const nats = s.nats;
  const inCluster = nats !== null && typeof nats === 'object';
  const connected = inCluster && nats.connected === true;
  const cluster = nats === null ? 'standalone' : inCluster ? (connected ? 'connected' : 'disconnected') : undefined;
  $('srv-node').textContent = name ?? '\u2013';
  const c = $('srv-cluster');
  c.textContent = cluster ?? '\u2013';
  c.classList.toggle('pos', inCluster && connected);
  c.classList.toggle('neg', inCluster && !connected);
  c.title = inCluster
    ? ['url', 'subscriptions', 'msgs_in', 'msgs_out', 'gaps_filled', 'publish_retries', 'slow_consumer_events']
      .filter((k) => k in nats).map((k) => `${k}: ${typeof nats[k] === 'object' ? preview(nats[k]) : nats[k]}`).join('\n')
    : 'standalone, or the node\'s connection to NATS';
  const chip = $('node');
  chip.hidden = !inCluster || !name;
  chip.textContent = !chip.hidden ? (connected ? name : `${name} \u00b7 NATS down`) : '';
  chip.classList.toggle('off', inCluster && !connected);
  window.c1m.node = name ? { name, cluster } : null;
}

let prevStats = null; // {t, deliveries, published}
async function pollServer() {
  let s;
  try {
    const res = await fetch('/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    s = await res.json();
    if (!s || typeof s !== 'object') throw new Error('not a JSON object');
  } catch (e) {
    $('server').classList.add('stale');
    $('srv-note').textContent = `unreachable: ${e.message}`;
    $('srv-note').classList.add('bad');
    prevStats = null;
    return;
  }
  $('server').classList.remove('stale');
  $('srv-note').textContent = 'GET /stats every 2 s';
  $('srv-note').classList.remove('bad');
  const hub = s.hub && typeof s.hub === 'object' ? s.hub : {};
  const poller = s.poller && typeof s.poller === 'object' ? s.poller : {};
  // The server's uptime times the deltas; the page's clock if it is missing.
  const t = count(s.uptime_sec) ?? performance.now() / 1000;
  const cur = { t, deliveries: count(hub.deliveries), published: count(hub.published) };
  const rate = (k) => {
    if (!prevStats || cur[k] === undefined || prevStats[k] === undefined) return undefined;
    const dt = cur.t - prevStats.t;
    const dv = cur[k] - prevStats[k];
    return dt > 0 && dv >= 0 ? dv / dt : undefined; // a restart resets the counters
  };
  const dps = rate('deliveries');
  const pps = rate('published');
  prevStats = cur;
  $('srv-conns').textContent = fmtCount(count(s.conns));
  $('srv-streams').textContent = fmtCount(count(poller.streams));
  $('srv-sockjs').textContent = fmtCount(count(s.sockjs_sessions));
  $('srv-dps').textContent = dps === undefined ? '\u2013' : intFmt.format(dps);
  $('srv-pps').textContent = pps === undefined ? '\u2013' : intFmt.format(pps);
  $('srv-topics').textContent = fmtCount(count(hub.topics));
  $('srv-rss').textContent = fmtBytes(count(s.rss));
  $('srv-heap').textContent = fmtBytes(count(s.heap_alloc));
  $('srv-goroutines').textContent = fmtCount(count(s.goroutines));
  $('srv-uptime').textContent = fmtUptime(count(s.uptime_sec));
  showNode(s);
  window.c1m.serverPolls++;
}
pollServer();
setInterval(pollServer, 2000);

// ---- the client: subscribe, switch transports ----------------------------

$('pattern').textContent = pattern;
$('empty-pattern').textContent = pattern;

// showRefused shows that the server refused the page's subscription.
function showRefused(e) {
  subError = e;
  showState();
  const p = $('empty');
  p.hidden = false;
  p.className = 'empty error';
  p.textContent = `No data: the server refused the subscription to ${pattern} \u2014 ${e.msg} (${e.code}).`;
}

// A node of a cluster that cannot reach NATS refuses subscriptions with 503
// ("retry shortly"), the client's own resubscription after a reconnect too:
// the page asks again every SUB_RETRY_MS until the subscription is taken.
const SUB_RETRY_MS = 2000;
let subRetry = 0;
function retrySubscribe(c) {
  if (subRetry || c !== client) return;
  subRetry = setTimeout(() => {
    subRetry = 0;
    if (c !== client || c.state === 'closed') return;
    if (c.state === 'open') subscribe(c); else retrySubscribe(c);
  }, SUB_RETRY_MS);
}

function subscribe(c) {
  c.subscribe(pattern, { conflate: false })
    .then(() => {
      if (c !== client) return;
      log(`subscribed to ${pattern} over ${TRANSPORT_NAME[c.transport]}`, 'ok');
      if (!subError) return;
      // Taken after a refusal: back to waiting for data.
      subError = null;
      showState();
      const p = $('empty');
      const code = document.createElement('code');
      code.id = 'empty-pattern';
      code.textContent = pattern;
      p.className = 'empty';
      p.replaceChildren('Waiting for data on ', code, '\u2026');
      p.hidden = rows.size > 0;
    })
    .catch((e) => {
      if (c !== client) return;
      // A retry refused as the last try was is not logged again.
      if (!(subError && subError.code === e.code)) log(`subscribe to ${pattern} failed: ${e.message}`, 'bad');
      if (typeof e.code !== 'number') return; // timeout: resent on the next reconnect
      showRefused(e);
      if (e.code === 503) retrySubscribe(c);
    });
}

// loadSockJS loads sockjs-client (window.SockJS) from the server, once.
let sockjsLoading = null;
function loadSockJS() {
  if (window.SockJS) return Promise.resolve();
  sockjsLoading ||= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = 'vendor/sockjs.min.js';
    s.onload = () => (window.SockJS ? resolve() : reject(new Error('vendor/sockjs.min.js did not define SockJS')));
    s.onerror = () => reject(new Error('cannot load vendor/sockjs.min.js'));
    document.head.appendChild(s);
  }).catch((e) => { sockjsLoading = null; throw e; });
  return sockjsLoading;
}

// start makes the client for transport and subscribes; the client it
// replaces is closed and its events are ignored from then on. SockJS first
// loads sockjs-client; the transport chosen last wins.
let wanted = '';
async function start(transport) {
  wanted = transport;
  if (transport === 'sockjs') {
    try {
      await loadSockJS();
    } catch (e) {
      log(`SockJS unavailable: ${e.message}`, 'bad');
      if (wanted === transport && !client) start('websocket');
      return;
    }
    if (wanted !== transport) return;
  }
  const old = client;
  const c = new Client(ENDPOINT[transport], {
    transport,
    backoffInitial: 250,
    backoffMax: Number(params.get('backoffMax')) || 5000,
    sockjsOptions: sockjsTransports ? { transports: sockjsTransports } : undefined,
  });
  client = c;
  window.c1m.client = c;
  window.c1m.transport = transport;
  const only = (fn) => (...args) => { if (c === client) fn(...args); };
  c.on('message', only(onMessage));
  c.on('state', only(onState));
  c.on('topic', only(onTopic));
  c.on('reset', only(onReset));
  c.on('gap', only(onGap));
  c.on('error', only(onError));
  // The counters and latency are the new client's.
  subError = null;
  clearTimeout(subRetry);
  subRetry = 0;
  attempt = 0;
  lostAt = 0;
  lastDelivered = 0;
  resetLatency();
  for (const b of document.querySelectorAll('#transport button')) {
    b.setAttribute('aria-pressed', String(b.dataset.transport === transport));
  }
  document.body.dataset.transport = transport;
  delete document.body.dataset.via;
  showState();
  if (old) {
    log(`switched to ${TRANSPORT_NAME[transport]} (${new URL(ENDPOINT[transport]).pathname})`, 'ok');
    old.close();
  }
  subscribe(c);
}

function switchTransport(transport) {
  transport = transportOf(transport);
  if (wanted === transport) return;
  const u = new URL(location.href);
  if (transport === 'websocket') u.searchParams.delete('transport'); else u.searchParams.set('transport', transport);
  history.replaceState(null, '', u);
  start(transport);
}
window.c1m.switchTransport = switchTransport;
for (const b of document.querySelectorAll('#transport button')) {
  b.addEventListener('click', () => switchTransport(b.dataset.transport));
}

start(transportOf(params.get('transport')));
