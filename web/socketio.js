// The c1m ticker over the official Socket.IO client (socket.io-client 4.x,
// served by c1m from web/vendor, never from a CDN). Copy it: the Socket.IO
// part comes first; the rest draws the table.
//
// ?transport=polling keeps the client on HTTP long-polling; ?sub=<pattern>
// subscribes to another pattern (default "md.>").
import { io } from './vendor/socket.io.esm.min.js';

const params = new URLSearchParams(location.search);
const pattern = params.get('sub') || 'md.>';

// Same origin, path /socket.io/. Polling first, then the upgrade to WebSocket.
const socket = io({
  transports: params.get('transport') === 'polling' ? ['polling'] : ['polling', 'websocket'],
  reconnectionDelayMax: 2000,
});

socket.on('connect', () => {
  setState('open', 'connected');
  log('connected', 'ok');
  showTransport();
  socket.io.engine.on('upgrade', showTransport); // polling -> websocket
  // A recovered session (Socket.IO connection state recovery) keeps its
  // subscriptions; otherwise subscribe again after every reconnect.
  if (socket.recovered) return log('session recovered: missed events replayed', 'ok');
  sio.subscribes++;
  socket.timeout(5000).emit('subscribe', pattern, (err, ack) => {
    if (err) return log(`subscribe: no answer (${err.message})`, 'bad');
    // ack is c1m's native reply: {op:"ok", epoch, topics} or {op:"err", code, msg}
    if (ack.op !== 'ok') return log(`subscribe refused: ${ack.msg} (${ack.code})`, 'bad');
    log(`subscribed to ${pattern}: ${Object.keys(ack.topics).length} topics`, 'ok');
  });
});

// Each delivery is c1m's native delivery object: {op, topic, seq, ts, data}
// (and snap: true for the last value sent on subscribing).
socket.on('msg', (m) => { sio.delivered++; onQuote(m); });

socket.on('disconnect', (reason) => {
  setState('reconnecting', 'reconnecting');
  log(`disconnected: ${reason}`, 'warn');
  if (reason === 'io server disconnect') socket.connect(); // the only case the client does not retry by itself
});
socket.io.on('reconnect_attempt', (n) => setState('reconnecting', `reconnecting (attempt ${n})`));
socket.io.on('reconnect', (n) => log(`reconnected after ${n} attempt${n > 1 ? 's' : ''}`));
socket.on('connect_error', (e) => log(`connect error: ${e.message}`, 'bad'));

function showTransport() {
  const name = socket.io.engine.transport.name; // 'polling' or 'websocket'
  $('transport').textContent = name;
  $('transport').dataset.transport = name;
  log(`transport: ${name}`);
}

// ---- the page --------------------------------------------------------------

const $ = (id) => document.getElementById(id);
// For debugging and the browser tests.
const sio = { socket, pattern, delivered: 0, subscribes: 0, states: [] };
window.sio = sio;
$('pattern').textContent = pattern;
$('empty').querySelector('code').textContent = pattern;

function setState(state, text) {
  sio.states.push(state);
  document.body.dataset.state = state;
  $('conn').dataset.state = state;
  $('state').textContent = text;
}

function log(text, level = '') {
  const li = document.createElement('li');
  li.className = level;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString([], { hour12: false });
  li.append(time, ` ${text}`);
  $('log').prepend(li);
  while ($('log').children.length > 100) $('log').lastChild.remove();
}

const rows = new Map(); // symbol -> {cells: {name: td}, n}
const COLS = ['sym', 'bsz', 'bid', 'ask', 'asz', 'px', 'qty', 'n'];
const FIELDS = { quote: ['bid', 'ask', 'bsz', 'asz'], trade: ['px', 'qty'] };
const PRICES = new Set(['bid', 'ask', 'px']);

function row(sym) {
  let r = rows.get(sym);
  if (r) return r;
  const tr = document.createElement('tr');
  tr.dataset.sym = sym;
  r = { cells: {}, n: 0 };
  for (const c of COLS) {
    const td = tr.insertCell();
    td.className = c === 'sym' ? c : `num ${c}`;
    r.cells[c] = td;
  }
  r.cells.sym.textContent = sym;
  rows.set(sym, r);
  // Rows sorted by symbol.
  $('rows').insertBefore(tr, [...$('rows').rows].find((el) => el.dataset.sym > sym) || null);
  $('empty').hidden = true;
  return r;
}

// Shows md.<SYMBOL>.quote {bid, ask, bsz, asz} and md.<SYMBOL>.trade {px, qty}.
// Anyone may publish anything on these topics: only finite numbers are shown.
function onQuote(m) {
  const [, sym, kind, extra] = String(m.topic).split('.');
  if (m.binary || extra !== undefined || !FIELDS[kind] || typeof m.data !== 'object' || m.data === null) return;
  const r = row(sym);
  r.n++;
  for (const f of FIELDS[kind]) {
    const v = m.data[f];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const td = r.cells[f];
    const prev = Number(td.dataset.v);
    td.dataset.v = v;
    td.textContent = PRICES.has(f) ? v.toFixed(2) : v.toLocaleString('en-US');
    if (PRICES.has(f) && v !== prev) {
      td.classList.toggle('up', v > prev);
      td.classList.toggle('down', v < prev);
    }
  }
  r.cells.n.textContent = r.n.toLocaleString('en-US');
}
