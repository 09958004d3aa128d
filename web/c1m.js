// c1m reference client: an ES module with no build step and no dependencies.
// The npm package "c1m-client" (package.json beside this file) ships it with
// TypeScript declarations (c1m.d.ts) and a CommonJS copy for require()
// (c1m.cjs, written by gen-cjs.mjs: edit this file, then run that script).
//
// Works in browsers and Node >= 22 with their global WebSocket, and in Node 20
// with the "ws" package's (README.md):
//
//   import { Client } from './c1m.js';             // or from 'c1m-client'
//   import WebSocket from 'ws';                     // Node 20 only
//   const c = new Client('ws://127.0.0.1:8080/ws', { WebSocket });
//   c.on('message', (topic, data, meta) => console.log(topic, meta.seq, data));
//   await c.subscribe(['md.>']);
//
// The same API also runs over Server-Sent Events (GET /sse), for networks
// that let only plain HTTP through: new Client('http://host:8080/sse',
// { transport: 'sse' }), with the browser's EventSource (in Node, pass the
// "eventsource" package's as opts.EventSource). SSE is one-way: a change of
// the subscription set reopens the stream, and publish() is refused (see the
// Client class and README.md).
//
// And over SockJS (<prefix>/sockjs), where WebSocket does not get through
// and two-way is still wanted: the unmodified sockjs-client (the page loads
// /vendor/sockjs.min.js, which the server serves; in Node and bundlers pass
// its constructor as opts.SockJS) emulates a WebSocket over whichever
// transport works, and carries the same native protocol:
// new Client('http://host:8080/sockjs', { transport: 'sockjs' }), or
// new Client('ws://host:8080/ws', { transport: 'auto' }) to use WebSocket and
// fall back to SockJS when it fails to open.
//
// JSON deliveries hand over the parsed data; binary deliveries (the compact
// frames of docs/PROTOCOL.md) a Uint8Array with meta.binary = true. Both go
// through the same sequence tracking, gap and duplicate detection and recovery.
//
// Guarantees: while the server keeps its history (same epoch, history long
// enough), a subscriber sees every message of every concrete topic exactly once
// and in order, across any number of reconnects: each reconnect resubscribes
// with "since" = the last {epoch, seq} seen per topic and the client drops
// duplicates (seq <= last seen). When the server cannot recover a topic it
// sends the last value ("snap", if the topic has one) and reports recovered:false (a 'topic' event;
// stats.notRecovered counts it). The two causes are counted apart:
// - history too short (same epoch): the jump from the last seq seen to the
//   snapshot's is a gap ('gap' event, stats.gaps and stats.missed);
// - server restart (a new epoch): the topic's seq starts over, so nothing is
//   counted as a gap; the client emits 'reset', counts stats.epochChanges and
//   tracks the topic afresh from the snapshot;
// - the topic holds no data any more (reclaimed meanwhile, docs/PROTOCOL.md
//   "Topic lifetime"): no snapshot follows, and the client tracks the topic
//   afresh from its next message, whatever seq floor it starts from: no gap.

/** Connection states reported by the 'state' event. */
export const State = Object.freeze({
  CONNECTING: 'connecting', // first connection attempt
  OPEN: 'open',
  RECONNECTING: 'reconnecting', // connection lost; waiting to retry or retrying
  CLOSED: 'closed', // close() was called; terminal
});

/**
 * The error a promise of Client rejects with.
 * code is the server's numeric error code for an {"op":"err"} reply, or one of
 * the strings 'timeout' (no reply within ackTimeout), 'closed' (close() was
 * called), 'disconnected' (a publish was in flight when the connection broke;
 * it may or may not have been applied), 'buffer_full' (too many operations
 * buffered while disconnected), 'unsupported' (an operation the transport
 * cannot do: publish or ping over SSE, or subscriptions with different
 * options on one SSE stream, a binary publish over SockJS); in 'error' events also 'bad_frame' (a frame
 * the client cannot decode) and 'listener' (a listener threw; cause holds
 * what it threw).
 */
export class C1MError extends Error {
  /** @param {number|string} code @param {string} msg @param {string} [op] */
  constructor(code, msg, op) {
    super(`c1m: ${op ? op + ': ' : ''}${msg} (${code})`);
    this.name = 'C1MError';
    this.code = code;
    this.msg = msg;
    this.op = op;
  }
}

/**
 * Reports whether topic matches pattern: tokens are separated by '.', '*'
 * matches exactly one token, '>' (last token only) matches one or more.
 * @param {string} pattern @param {string} topic @returns {boolean}
 */
export function matchTopic(pattern, topic) {
  if (pattern === topic) return true;
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

const OPEN = 1; // WebSocket.OPEN in every implementation
const ES_CLOSED = 2; // EventSource.CLOSED in every implementation

// SSE stream limits of the server (proto/sse): patterns per stream, and a
// URL that leaves room in its 8 KiB request head for the other headers.
const SSE_MAX_PATTERNS = 64;
const SSE_MAX_URL = 7000;
const SSE_MAX_ID_TOPICS = 64;

function sseOptionsKey(o) {
  return `conflate=${o.conflate === undefined ? '(server default)' : o.conflate}, maxRate=${o.maxRate || 0}`;
}

// sseSince encodes positions ([topic, {epoch, seq}] pairs) for the since
// parameter: in the server's event id form when they share one epoch and fit
// one id (short), else as the JSON map of the native protocol.
function sseSince(pos) {
  const epoch = pos[0][1].epoch;
  if (pos.length <= SSE_MAX_ID_TOPICS && pos.every(([, p]) => p.epoch === epoch) && !/[/,=]/.test(epoch)) {
    return `${epoch}/${pos.map(([t, p]) => `${t}=${p.seq}`).join(',')}`;
  }
  const m = {};
  for (const [t, p] of pos) m[t] = { epoch: p.epoch, seq: p.seq };
  return JSON.stringify(m);
}

/** The transports a Client can use (opts.transport). */
export const Transport = Object.freeze({
  WEBSOCKET: 'websocket', // GET /ws: two-way, the default
  SSE: 'sse', // GET /sse (Server-Sent Events): receive only
  SOCKJS: 'sockjs', // /sockjs with sockjs-client: two-way, text only, over any HTTP transport
  AUTO: 'auto', // WebSocket, falling back to SockJS when it fails to open
});

// sockjsURL derives the SockJS endpoint from the client's url: ws(s):// is
// turned into http(s):// (sockjs-client takes no other scheme) and, for
// transport 'auto', a final /ws path segment into /sockjs.
function sockjsURL(url, auto) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  if (auto) u.pathname = `${u.pathname.replace(/\/ws\/?$/, '').replace(/\/$/, '')}/sockjs`;
  u.hash = '';
  return u.href;
}

// ---- topics (docs/PROTOCOL.md "Topics and wildcards") ---------------------

const MAX_TOPIC_LEN = 256;
const TOPIC_CHAR = /^[A-Za-z0-9_:-]$/;

/**
 * Reports why s is not a valid subscription pattern (wildcard true) or publish
 * topic (wildcard false), in the server's words; '' when it is valid.
 * @param {string} s @param {boolean} [wildcard=true] @returns {string}
 */
export function checkTopic(s, wildcard = true) {
  if (typeof s !== 'string') return `not a string: ${typeof s}`;
  if (s.length === 0) return 'empty';
  if (s.length > MAX_TOPIC_LEN) return `longer than ${MAX_TOPIC_LEN} bytes`;
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && s[i] !== '.') continue;
    const tok = s.slice(start, i);
    if (tok.length === 0) return `empty token at byte ${start} (tokens are separated by single dots)`;
    if (tok === '*' || tok === '>') {
      if (!wildcard) return `wildcard ${tok} in a publish topic (only subscriptions take * and >)`;
      if (tok === '>' && i !== s.length) return '> must be the last token';
    } else {
      for (let j = 0; j < tok.length; j++) {
        const c = tok[j];
        if (c === '*' || c === '>') return `wildcard ${c} inside a token (it must be a whole token)`;
        if (!TOPIC_CHAR.test(c)) {
          const code = c.charCodeAt(0);
          const shown = code >= 0x20 && code < 0x7f ? `'${c}'` : `U+${code.toString(16).padStart(4, '0')}`;
          return `character ${shown} at byte ${start + j} (tokens take letters, digits, _ : -)`;
        }
      }
    }
    start = i + 1;
  }
  return '';
}

// ---- binary frames (docs/PROTOCOL.md "Binary deliveries") --------------

/** Kind byte of a binary delivery: a live or recovered message. */
export const KIND_MESSAGE = 1;
/** Kind byte of a binary delivery: the last value sent on subscribe. */
export const KIND_SNAPSHOT = 2;
/** First byte of a binary publish from a client. */
export const KIND_PUBLISH = 1;

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

function badFrame(msg) { return new C1MError('bad_frame', msg); }

function sockjsNoBinary() {
  return new C1MError('unsupported', 'binary publishes need the WebSocket transport: SockJS carries text only', 'pub');
}

function listenerError(event, e) {
  const err = new C1MError('listener', `'${event}' listener threw: ${e && e.message !== undefined ? e.message : String(e)}`);
  err.cause = e;
  return err;
}

/**
 * Decodes the payload of a binary delivery frame: kind byte (1 message,
 * 2 snapshot), uvarint topic length, topic, seq (uint64 BE), ts (int64 BE,
 * Unix ns), payload. Throws a C1MError with code 'bad_frame' for an unknown
 * kind or a truncated frame.
 *
 * The result has the shape of a JSON {"op":"msg"} delivery plus binary: true:
 * data is a Uint8Array view of buf (no copy; it lives as long as buf, which the
 * client never reuses), ts a Number (like JSON deliveries: ~256ns precision)
 * and tsBig the exact BigInt.
 * @param {ArrayBuffer|ArrayBufferView} buf
 * @returns {{op:'msg', topic:string, seq:number, ts:number, tsBig:bigint, snap:boolean, data:Uint8Array, binary:true}}
 */
export function decodeDelivery(buf) {
  const b = buf instanceof ArrayBuffer ? new Uint8Array(buf)
    : ArrayBuffer.isView(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : null;
  if (!b) throw badFrame(`binary frame of unsupported type ${Object.prototype.toString.call(buf)} (binaryType must be "arraybuffer")`);
  if (b.length === 0) throw badFrame('empty binary frame');
  const kind = b[0];
  if (kind !== KIND_MESSAGE && kind !== KIND_SNAPSHOT) throw badFrame(`unknown binary frame kind ${kind}`);
  let len = 0;
  let i = 1;
  for (let shift = 0; ; shift += 7) {
    if (i >= b.length || shift > 28) throw badFrame('binary frame: truncated or oversized topic length');
    const x = b[i++];
    len += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) break;
  }
  if (len === 0 || b.length < i + len + 16) throw badFrame(`binary frame: ${b.length} bytes, too short for a ${len}-byte topic`);
  const topic = utf8Decoder.decode(b.subarray(i, i + len));
  const dv = new DataView(b.buffer, b.byteOffset + i + len, 16);
  const tsBig = dv.getBigInt64(8);
  return {
    op: 'msg',
    topic,
    seq: dv.getUint32(0) * 4294967296 + dv.getUint32(4),
    ts: dv.getInt32(8) * 4294967296 + dv.getUint32(12),
    tsBig,
    snap: kind === KIND_SNAPSHOT,
    data: b.subarray(i + len + 16),
    binary: true,
  };
}

// fromBase64 decodes the standard base64 of a binary delivery in JSON (SSE, SockJS).
function fromBase64(s) {
  if (typeof s !== 'string') throw badFrame(`binary delivery in JSON: data is ${typeof s}, not base64 text`);
  if (typeof Uint8Array.fromBase64 === 'function') {
    try { return Uint8Array.fromBase64(s); } catch (e) { throw badFrame(`binary delivery in JSON: bad base64: ${e.message}`); }
  }
  let bin;
  try { bin = atob(s); } catch (e) { throw badFrame(`binary delivery in JSON: bad base64: ${e.message}`); }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// exactTs reads the exact "ts" of a delivery's JSON text (its keys come in a
// fixed order: op, topic, seq, ts), which JSON.parse rounds to a Number.
function exactTs(text, ts) {
  const i = text.indexOf(',"ts":');
  if (i >= 0) {
    const m = /^-?\d+/.exec(text.slice(i + 6, i + 32));
    if (m) return BigInt(m[0]);
  }
  return BigInt(Math.round(ts));
}

/**
 * Encodes a binary publish: byte 1, uvarint topic length, topic, payload.
 * Strings are sent as UTF-8.
 * @param {string} topic @param {Uint8Array|ArrayBuffer|ArrayBufferView|string} payload
 * @returns {Uint8Array} a new buffer owned by the caller
 */
export function encodePublish(topic, payload) {
  const t = utf8Encoder.encode(topic);
  const p = typeof payload === 'string' ? utf8Encoder.encode(payload)
    : payload instanceof ArrayBuffer ? new Uint8Array(payload)
      : ArrayBuffer.isView(payload) ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) : null;
  if (!p) throw new TypeError('c1m: binary payload must be a Uint8Array, ArrayBuffer, typed array or string');
  const v = [];
  for (let n = t.length; ; n >>>= 7) {
    if (n < 0x80) { v.push(n); break; }
    v.push((n & 0x7f) | 0x80);
  }
  const out = new Uint8Array(1 + v.length + t.length + p.length);
  out[0] = KIND_PUBLISH;
  out.set(v, 1);
  out.set(t, 1 + v.length);
  out.set(p, 1 + v.length + t.length);
  return out;
}

/**
 * @typedef {object} ClientOptions
 * @property {any} [WebSocket] WebSocket constructor; default globalThis.WebSocket.
 * @property {number} [ackTimeout=10000] ms until an operation without a reply
 *   rejects with code 'timeout' (counted from the call, buffered time included).
 * @property {number} [backoffInitial=500] ms; first reconnect delay cap.
 * @property {number} [backoffMax=10000] ms; the delay cap doubles per failed
 *   attempt up to this. The delay is uniformly random in [0, cap] ("full jitter").
 * @property {number} [stableAfter=2000] ms a connection must stay up before the
 *   backoff is reset to backoffInitial.
 * @property {number} [pingInterval=20000] ms between heartbeat pings while open;
 *   a ping without a reply within ackTimeout drops the connection. 0 disables.
 * @property {number} [maxBuffered=1024] operations kept while disconnected.
 * @property {boolean} [autoConnect=true] connect in the constructor.
 * @property {(code: number, reason: string) => boolean} [shouldReconnect]
 *   called when the connection closes; false stops reconnecting (state closed).
 *   Over SSE code is the HTTP status of a refused stream, else 1006 (lost).
 * @property {'websocket'|'sse'|'sockjs'|'auto'} [transport='websocket'] 'sse'
 *   receives over Server-Sent Events (url is then the http(s):// URL of
 *   /sse); 'sockjs' speaks the native protocol through sockjs-client (url is
 *   the http(s):// URL of /sockjs); 'auto' opens a WebSocket on url (ws://
 *   .../ws) and falls back to SockJS for good when one fails to open: see
 *   Client.
 * @property {any} [SockJS] sockjs-client's constructor for transports
 *   'sockjs' and 'auto'; default globalThis.SockJS (a page that loaded
 *   /vendor/sockjs.min.js).
 * @property {object} [sockjsOptions] the options argument of new SockJS(),
 *   e.g. {transports: ['xhr-streaming', 'xhr-polling']} or {timeout: 5000}.
 * @property {string} [sockjsUrl] the http(s):// URL of the SockJS endpoint for
 *   'auto'; default url with ws(s) as http(s) and a final /ws as /sockjs.
 * @property {number} [openTimeout=5000] 'auto' only: ms a WebSocket may take
 *   to open before the client falls back to SockJS. 0: wait for the browser.
 * @property {any} [EventSource] EventSource constructor for transport 'sse';
 *   default globalThis.EventSource (browsers; in Node the "eventsource" package's).
 * @property {boolean} [withCredentials=false] SSE only: send cookies on a
 *   cross-origin stream (the server's --origins must list the page's origin).
 * @property {typeof fetch} [fetch] SSE only: used once after a stream was
 *   refused, to read the server's reason (EventSource hides it); default
 *   globalThis.fetch.
 */

/**
 * @typedef {object} MessageMeta
 * @property {number} seq per-topic sequence number (JSON and binary publishes
 *   of a topic share it)
 * @property {number} ts publish time, unix nanoseconds (a Number: ~256ns precision)
 * @property {bigint} [tsBig] the exact publish time; binary deliveries only
 * @property {boolean} snap true for a last-value snapshot sent on subscribe
 * @property {boolean} binary true for a binary delivery: data is then a
 *   Uint8Array (a view of the received frame, not reused by the client);
 *   false for JSON: data is the parsed value
 * @property {string|undefined} epoch the server history epoch, when known
 */

/**
 * A c1m connection with automatic reconnection and recovery.
 *
 * Transports. 'websocket' (the default) speaks the native protocol on /ws.
 * 'sse' opens one Server-Sent Events stream, GET /sse?topics=..., carrying
 * every subscription of the client, and gives the same events, meta, stats,
 * recovery and gap/duplicate tracking (the stream's "sub" event is handled as
 * a subscribe reply). What differs:
 * - A change of the subscription set (subscribe, unsubscribe) closes the
 *   stream and opens a new one for the new set, with the positions seen so far
 *   as its since parameter, so the topics kept resume exactly (and count as
 *   recovered again); calls in one tick share one reopen. Every subscription
 *   of one client must use the same conflate and maxRate (else 'unsupported'),
 *   and a stream takes at most 64 patterns. Patterns are checked before the
 *   stream is reopened (422 like the server's), so a bad one never breaks the
 *   stream of the good ones.
 * - A stream lost after it was open is resumed by the EventSource itself with
 *   the browser's Last-Event-ID, which names the position of every topic it
 *   delivered: exact. The client reopens the stream itself, with backoff and
 *   since = its positions, when the EventSource gives up (a non-200 answer),
 *   when its own retry fails, when the last event id does not name every
 *   topic the client tracks (no delivery yet on this stream, more than 64
 *   topics, conflated streams, which carry no ids), and on reconnect(). Since
 *   goes in the URL: as an event id ("epoch/topic=seq,...": short) when it
 *   fits one, else as JSON; positions that would make the URL longer than
 *   ~7 KB are left out (those topics get their snapshot, recovered:false).
 * - publish(), publishBinary() and ping() reject with code 'unsupported':
 *   the stream is one-way (publishers use POST /publish). pingInterval is
 *   unused: the server's heartbeats are comments, which EventSource hides.
 * - With no subscription there is no stream: the state stays 'connecting'
 *   until the first subscribe opens one, and stays 'open' after the last
 *   unsubscribe closes it.
 *
 * 'sockjs' runs the native protocol, exactly as over WebSocket, through
 * sockjs-client (opts.SockJS or globalThis.SockJS) connected to
 * <server>/sockjs: sockjs-client picks the first transport that works
 * (websocket, xhr-streaming, eventsource, iframe-htmlfile, xhr-polling,
 * jsonp-polling; opts.sockjsOptions.transports narrows the list), and the
 * client sees a WebSocket-like object: the same operations, replies,
 * recovery with since, heartbeat pings and reconnection with backoff (each
 * reconnect is a new SockJS session). SockJS carries text only:
 * publishBinary() rejects with code 'unsupported'. 'auto' opens a WebSocket
 * first and, when one fails to open (closed before open, or not open after
 * opts.openTimeout), moves to SockJS for the rest of the client's life
 * ('transport' event; client.transport says 'sockjs' from then on): SockJS
 * itself still prefers its own websocket transport where that works.
 *
 * Events (subscribe with on(event, fn), which returns an unsubscribe function):
 * - 'state' (state, info): info = {attempt, delay, code, reason}
 * - 'message' (topic, data, meta: MessageMeta): every delivery, JSON or
 *   binary, once, in order
 * - 'gap' (topic, {expected, got, missed}): seq jumped (messages lost)
 * - 'topic' (topic, {epoch, seq, recovered}): per topic of a subscribe reply
 * - 'reset' (topic, {oldEpoch, epoch}): the server's history epoch changed
 * - 'transport' (transport, {from, code, reason}): 'auto' fell back to SockJS
 * - 'error' (C1MError): an internal operation (resubscription) failed, the
 *   server sent a frame the client cannot decode (code 'bad_frame', e.g. an
 *   unknown binary kind; the frame is dropped), an error reply that no
 *   operation owns, or a listener threw (code 'listener', cause = what it
 *   threw; the other listeners and the client carry on). With no 'error'
 *   listener these go to console.error.
 *
 * Not safe to share one instance between unrelated consumers that subscribe
 * overlapping patterns with different options; otherwise all methods may be
 * called at any time, in any state, before or after the connection is open.
 */
export class Client {
  /**
   * @param {string} url ws:// or wss:// URL of the /ws endpoint; for transport
   *   'sse' the http:// or https:// URL of /sse
   * @param {ClientOptions} [opts]
   */
  constructor(url, opts = {}) {
    this.url = url;
    this.opts = {
      ackTimeout: 10000, backoffInitial: 500, backoffMax: 10000, stableAfter: 2000,
      pingInterval: 20000, maxBuffered: 1024, autoConnect: true, ...opts,
    };
    this.opts.openTimeout ??= 5000;
    const t = opts.transport === undefined ? Transport.WEBSOCKET : opts.transport;
    /** @type {'websocket'|'sse'|'sockjs'} the transport in use */
    this.transport = t;
    this._auto = t === Transport.AUTO;
    if (t === Transport.SSE) {
      this.EventSource = opts.EventSource || globalThis.EventSource;
      if (!this.EventSource) throw new Error('c1m: no EventSource implementation; pass opts.EventSource');
    } else if (t === Transport.WEBSOCKET || t === Transport.SOCKJS || t === Transport.AUTO) {
      if (t !== Transport.SOCKJS) this.WebSocket = opts.WebSocket || globalThis.WebSocket;
      if (t !== Transport.WEBSOCKET) this.SockJS = opts.SockJS || globalThis.SockJS;
      if (t === Transport.WEBSOCKET && !this.WebSocket) throw new Error('c1m: no WebSocket implementation; pass opts.WebSocket');
      if (t !== Transport.WEBSOCKET && !this.SockJS) {
        throw new Error('c1m: no SockJS implementation; load /vendor/sockjs.min.js in the page or pass opts.SockJS');
      }
      // 'auto' without a WebSocket at all starts on SockJS.
      if (this._auto) this.transport = this.WebSocket ? Transport.WEBSOCKET : Transport.SOCKJS;
    } else {
      throw new TypeError(`c1m: unknown transport ${JSON.stringify(opts.transport)}: use 'websocket', 'sse', 'sockjs' or 'auto'`);
    }
    this._sse = this.transport === Transport.SSE;
    /** @type {string} */
    this.state = State.CONNECTING;
    /** Counters; read freely, never written by the caller. */
    this.stats = {
      received: 0, // msg frames received (JSON and binary)
      delivered: 0, // 'message' events emitted
      duplicates: 0, // msg frames dropped as already seen
      gaps: 0, // seq jumps on non-conflated subscriptions
      missed: 0, // messages missing in those jumps
      skipped: 0, // seq jumps on conflated subscriptions (expected)
      snapshots: 0, // snap deliveries
      recovered: 0, // topics a resubscription recovered
      notRecovered: 0, // topics it could not (snap sent instead)
      epochChanges: 0, // topics whose epoch changed (server restarted)
      reconnects: 0, // successful connections after the first
      attempts: 0, // connection attempts since the last stable connection
    };
    this._ws = null;
    this._handlers = new Map();
    this._nextId = 1;
    this._queue = []; // ops waiting for an open connection, in call order
    this._inflight = new Map(); // id -> op sent on the current connection
    this._binSent = []; // binary publishes sent on the current connection whose ping has not answered, in send order
    this._subs = new Map(); // pattern -> {conflate, maxRate, op}
    this._pos = new Map(); // concrete topic -> {epoch, seq, conn}
    this._epoch = undefined; // server epoch learned on the current connection
    this._conn = 0; // connection generation
    this._matchCache = new Map(); // topic -> matches a current subscription
    this._openedAt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._closed = false;
    this._closeWaiters = [];
    // SSE only (see the class comment).
    this._es = null; // the current EventSource
    this._esGen = 0; // generation of the current EventSource
    this._esTopics = []; // the patterns it was opened with
    this._esOpened = false; // it opened and has not failed since
    this._esLastId = ''; // the last event id it delivered
    this._sseStarted = false; // connect() was called
    this._sseLost = false; // the stream was lost: its next open is a reconnect
    this._sseScheduled = false; // a reopen for a subscription change is queued
    this._ssePending = []; // sub ops waiting for a stream's sub event
    this._sseUnsubs = []; // unsub ops waiting for the reopen
    this._sseRefusal = ''; // the last refusal reported, not repeated
    this._sseServerMsg = ''; // why the server ended the stream (its error event)
    if (this.opts.autoConnect) this.connect();
  }

  /**
   * Registers fn for event; returns a function that removes it.
   * @param {string} event @param {Function} fn @returns {() => void}
   */
  on(event, fn) {
    let set = this._handlers.get(event);
    if (!set) this._handlers.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  // _emit calls the listeners of event in registration order. A listener that
  // throws does not stop the others nor the client: the exception is reported
  // as an 'error' event (C1MError code 'listener', cause = the exception), and
  // an 'error' event nobody listens to, or whose listener throws, is written
  // to console.error, so no failure goes unseen and none can loop.
  _emit(event, ...args) {
    const set = this._handlers.get(event);
    if (!set || set.size === 0) {
      if (event === 'error') console.error(args[0]);
      return;
    }
    for (const fn of set) {
      try {
        fn(...args);
      } catch (e) {
        if (event === 'error') console.error('c1m: an error listener threw', e, 'while handling', args[0]);
        else this._emit('error', listenerError(event, e));
      }
    }
  }

  _setState(state, info = {}) {
    if (this.state === state && state !== State.RECONNECTING) return;
    this.state = state;
    this._emit('state', state, info);
  }

  /** Starts connecting (only needed with autoConnect: false). */
  connect() {
    if (this._sse) {
      this._sseStarted = true;
      this._sseConnect();
      return;
    }
    if (this._closed || this._ws) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const sockjs = this.transport === Transport.SOCKJS;
    let ws;
    try {
      ws = sockjs ? new this.SockJS(this.opts.sockjsUrl || sockjsURL(this.url, this._auto), undefined, this.opts.sockjsOptions)
        : new this.WebSocket(this.url);
    } catch (e) {
      this._emit('error', e);
      this._scheduleReconnect(1006, String(e && e.message));
      return;
    }
    this._ws = ws;
    this.stats.attempts++;
    if (this.state !== State.CONNECTING) this._setState(State.RECONNECTING, { attempt: this.stats.attempts });
    if ('binaryType' in ws) ws.binaryType = 'arraybuffer';
    // 'auto': a WebSocket that does not open moves the client to SockJS.
    const fallback = this._auto && !sockjs;
    let openTimer = null;
    if (fallback && this.opts.openTimeout > 0) {
      openTimer = setTimeout(() => {
        if (this._ws === ws) this._fallback(ws, 1006, `WebSocket not open after ${this.opts.openTimeout} ms`);
      }, this.opts.openTimeout);
      openTimer.unref?.();
    }
    let opened = false;
    ws.onopen = () => {
      clearTimeout(openTimer);
      opened = true;
      if (this._ws === ws) this._onOpen();
    };
    ws.onmessage = (ev) => { if (this._ws === ws) this._onFrame(ev.data); };
    ws.onclose = (ev) => {
      clearTimeout(openTimer);
      if (this._ws !== ws) return;
      if (fallback && !opened) this._fallback(ws, ev.code, ev.reason);
      else this._drop(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // a close event always follows
  }

  // _fallback leaves ws, a WebSocket of transport 'auto' that failed to
  // open, for SockJS, at once and for the rest of the client's life.
  _fallback(ws, code, reason) {
    this._ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      if (typeof ws.terminate === 'function') ws.terminate(); else ws.close();
    } catch { /* closing already */ }
    this.transport = Transport.SOCKJS;
    this._emit('transport', Transport.SOCKJS, { from: Transport.WEBSOCKET, code, reason });
    if (!this._closed) this.connect();
  }

  /**
   * Subscribes to topics (concrete topics or patterns with '*' and '>').
   * Resolves with the server's ok reply ({op, id, epoch, topics}); rejects with C1MError.
   * The subscription is kept across reconnects until unsubscribe or close.
   * @param {string|string[]} topics
   * @param {{conflate?: boolean, maxRate?: number, since?: Object<string,{epoch:string,seq:number}>}} [opts]
   *   since seeds the recovery position of concrete topics not seen yet
   *   (e.g. positions persisted by an earlier session, see positions()).
   * @returns {Promise<object>}
   */
  subscribe(topics, opts = {}) {
    topics = [].concat(topics);
    const o = { conflate: opts.conflate, maxRate: opts.maxRate };
    if (this._sse) {
      const refused = this._closed ? new C1MError('closed', 'client closed', 'sub') : this._sseCheck(topics, o);
      if (refused) return Promise.reject(refused);
    }
    for (const [t, p] of Object.entries(opts.since || {})) {
      if (!this._pos.has(t)) this._pos.set(t, { epoch: p.epoch, seq: p.seq, conn: -1 });
    }
    if (this._sse) {
      const op = this._sseOp('sub', topics, this._ssePending);
      for (const t of topics) this._subs.set(t, { ...o, op });
      this._matchCache.clear();
      this._sseSchedule();
      return op.promise;
    }
    const op = this._op('sub', () => this._subFrame(topics, o), { topics });
    for (const t of topics) this._subs.set(t, { ...o, op });
    this._matchCache.clear();
    return op.promise;
  }

  /**
   * Removes subscriptions. Resolves with the ok reply.
   * @param {string|string[]} topics @returns {Promise<object>}
   */
  unsubscribe(topics) {
    topics = [].concat(topics);
    for (const t of topics) this._subs.delete(t);
    this._matchCache.clear();
    for (const t of this._pos.keys()) {
      if (!this._matchesSub(t)) this._pos.delete(t);
    }
    if (this._sse) {
      const op = this._sseOp('unsub', topics, this._sseUnsubs);
      this._sseSchedule();
      return op.promise;
    }
    return this._op('unsub', () => ({ topics }), {}).promise;
  }

  /**
   * Publishes data (any JSON value) on topic; needs --client-publish on the
   * server. Resolves with the ok reply. A publish in flight when the connection
   * breaks rejects with code 'disconnected' (it is not retried: at most once).
   * @param {string} topic @param {any} data @returns {Promise<object>}
   */
  publish(topic, data) {
    if (this._sse) return this._sseUnsupported('pub');
    return this._op('pub', () => ({ topic, data }), {}).promise;
  }

  /**
   * Publishes bytes on topic as a binary frame (byte 1, uvarint topic length,
   * topic, payload); needs --client-publish on the server. Subscribers get a
   * binary delivery: data is a Uint8Array with exactly these bytes.
   *
   * The server does not acknowledge binary publishes, so the client follows
   * the frame with a ping: the promise resolves with the ping's ok reply
   * (the publish was applied) and rejects with the C1MError of an error reply
   * the server sends for the frame (403 publishing disabled, 413 too large,
   * 422 malformed topic, ...). At most once, as publish().
   * The payload is copied at call time; the caller may reuse it.
   * @param {string} topic @param {Uint8Array|ArrayBuffer|ArrayBufferView|string} bytes
   * @returns {Promise<object>}
   */
  publishBinary(topic, bytes) {
    if (this._sse) return this._sseUnsupported('pub');
    if (this.transport === Transport.SOCKJS) return Promise.reject(sockjsNoBinary());
    const frame = encodePublish(topic, bytes);
    return this._op('pub', () => ({}), { frame }).promise;
  }

  /** Round trip to the server. @returns {Promise<object>} */
  ping() {
    if (this._sse) return this._sseUnsupported('ping');
    return this._op('ping', () => ({}), {}).promise;
  }

  /**
   * Drops the current connection without a close handshake (as a network
   * failure would) and reconnects with recovery. For tests and for callers
   * that detect a dead connection by their own means.
   */
  reconnect() {
    if (this._sse) {
      const es = this._es;
      if (!es || this._closed) return;
      this._es = null;
      es.close();
      this._sseDrop(4000, 'client reconnect');
      return;
    }
    const ws = this._ws;
    if (!ws || this._closed) return;
    this._drop(4000, 'client reconnect');
    if (typeof ws.terminate === 'function') ws.terminate();
    else try { ws.close(4000, 'reconnect'); } catch { /* already closing */ }
  }

  /**
   * Closes the connection for good: stops reconnecting, rejects pending
   * operations with code 'closed'. Resolves when the socket is closed.
   * @param {number} [code=1000] @param {string} [reason] @returns {Promise<void>}
   */
  close(code = 1000, reason = '') {
    if (this._closed) return Promise.resolve();
    this._closed = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    if (this._es) {
      this._es.close();
      this._es = null;
    }
    const ws = this._ws;
    const done = new Promise((resolve) => {
      if (!ws || ws.readyState > OPEN) return resolve();
      ws.onclose = () => resolve();
      // Do not wait forever for the closing handshake of a dead peer.
      setTimeout(() => { if (typeof ws.terminate === 'function') ws.terminate(); resolve(); }, this.opts.ackTimeout).unref?.();
    });
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        // SockJS takes only 1000 and 3000-4999, and reasons of at most 123 characters.
        try { ws.close(); } catch { /* not open yet */ }
      }
    }
    this._ws = null;
    const err = new C1MError('closed', 'client closed');
    for (const op of [...this._queue, ...this._inflight.values(), ...this._ssePending, ...this._sseUnsubs]) this._settle(op, err);
    this._queue = [];
    this._inflight.clear();
    this._binSent = [];
    this._setState(State.CLOSED, { code, reason });
    return done;
  }

  /**
   * The last position seen per concrete topic, e.g. to persist and pass as
   * subscribe({since}) later. @returns {Object<string,{epoch:string,seq:number}>}
   */
  positions() {
    const out = {};
    for (const [t, p] of this._pos) if (p.seq !== undefined) out[t] = { epoch: p.epoch, seq: p.seq };
    return out;
  }

  // ---- operations ----------------------------------------------------------

  // _op creates an operation: build() returns the frame fields at send time
  // (so a resent sub carries the current since positions).
  _op(kind, build, extra) {
    const op = { kind, build, id: 0, held: [], ...extra };
    op.promise = new Promise((resolve, reject) => { op.resolve = resolve; op.reject = reject; });
    if (this._closed) {
      this._settle(op, new C1MError('closed', 'client closed', kind));
      return op;
    }
    op.timer = setTimeout(() => this._settle(op, new C1MError('timeout', `no reply in ${this.opts.ackTimeout}ms`, kind)),
      this.opts.ackTimeout);
    if (this._ws && this._ws.readyState === OPEN) {
      this._send(op);
    } else if (this._queue.length >= this.opts.maxBuffered) {
      this._settle(op, new C1MError('buffer_full', `${this._queue.length} operations buffered`, kind));
    } else {
      this._queue.push(op);
    }
    return op;
  }

  _send(op) {
    op.id = this._nextId++;
    this._inflight.set(op.id, op);
    if (op.frame) {
      if (this.transport === Transport.SOCKJS) { // 'auto' fell back while it was buffered
        this._settle(op, sockjsNoBinary());
        return;
      }
      // A binary publish has no id and no ok; the ping after it, handled in
      // order on the connection, answers for it (see publishBinary).
      this._ws.send(op.frame);
      this._ws.send(JSON.stringify({ op: 'ping', id: op.id }));
      this._binSent.push(op);
      return;
    }
    this._ws.send(JSON.stringify({ op: op.kind, id: op.id, ...op.build() }));
  }

  // _settle finishes op once: resolves with an ok reply or rejects with err.
  _settle(op, err, reply) {
    if (op.done) return;
    op.done = true;
    clearTimeout(op.timer);
    this._inflight.delete(op.id);
    const qi = this._queue.indexOf(op);
    if (qi >= 0) this._queue.splice(qi, 1);
    for (const list of [this._ssePending, this._sseUnsubs]) {
      const i = list.indexOf(op);
      if (i >= 0) list.splice(i, 1);
    }
    if (op.kind === 'sub') {
      // Over SSE the stream's sub event was applied for all its patterns.
      if (reply && !this._sse) this._applyTopics(reply, op.topics);
      if (err) {
        // A refused subscription is not resubscribed on reconnect.
        if (typeof err.code === 'number') {
          for (const t of op.topics) if (this._subs.get(t)?.op === op) this._subs.delete(t);
          this._matchCache.clear();
        }
        if (op.internal && err.code !== 'disconnected') this._emit('error', err);
      }
      const held = op.held;
      op.held = [];
      if (err && err.code === 'disconnected') held.length = 0; // recovery resends them
      for (const m of held) this._deliver(m);
    }
    if (err) op.reject(err); else op.resolve(reply);
  }

  _subFrame(topics, o) {
    const f = { topics };
    if (o.conflate !== undefined) f.conflate = o.conflate;
    if (o.maxRate) f.maxRate = o.maxRate;
    const since = {};
    let any = false;
    for (const [t, p] of this._pos) {
      if (p.seq === undefined || p.epoch === undefined) continue;
      if (topics.some((pat) => matchTopic(pat, t))) { since[t] = { epoch: p.epoch, seq: p.seq }; any = true; }
    }
    if (any) f.since = since;
    return f;
  }

  _matchesSub(topic) {
    let v = this._matchCache.get(topic);
    if (v === undefined) {
      v = false;
      for (const pat of this._subs.keys()) if (matchTopic(pat, topic)) { v = true; break; }
      if (this._matchCache.size > 10000) this._matchCache.clear();
      this._matchCache.set(topic, v);
    }
    return v;
  }

  _conflated(topic) {
    for (const [pat, o] of this._subs) if ((o.conflate || o.maxRate > 0) && matchTopic(pat, topic)) return true;
    return false;
  }

  // ---- connection lifecycle ------------------------------------------------

  _onOpen() {
    const first = this._conn === 0;
    this._conn++;
    this._epoch = undefined;
    this._openedAt = Date.now();
    if (!first) this.stats.reconnects++;
    // Resubscribe every pattern that no buffered sub op covers, grouped by
    // options, before the buffered operations, which then go out in call order.
    const queued = new Set();
    for (const op of this._queue) if (op.kind === 'sub') op.topics.forEach((t) => queued.add(t));
    const groups = new Map();
    for (const [pat, o] of this._subs) {
      if (queued.has(pat)) continue;
      const key = `${o.conflate}|${o.maxRate || 0}`;
      if (!groups.has(key)) groups.set(key, { o, topics: [] });
      groups.get(key).topics.push(pat);
    }
    const queue = this._queue;
    this._queue = [];
    for (const { o, topics } of groups.values()) {
      const op = this._op('sub', () => this._subFrame(topics, o), { topics, internal: true });
      op.promise.catch(() => {}); // reported through 'error'
      for (const t of topics) this._subs.set(t, { ...this._subs.get(t), op });
    }
    for (const op of queue) if (!op.done) this._send(op);
    const info = { attempt: this.stats.attempts };
    if (this.transport === Transport.SOCKJS && typeof this._ws.transport === 'string') info.via = this._ws.transport;
    this._setState(State.OPEN, info);
    clearInterval(this._pingTimer);
    if (this.opts.pingInterval > 0) {
      this._pingTimer = setInterval(() => this._heartbeat(), this.opts.pingInterval);
      this._pingTimer.unref?.();
    }
  }

  _heartbeat() {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN) return;
    this.ping().catch((e) => {
      if (e.code === 'timeout' && this._ws === ws) this.reconnect();
    });
  }

  // _drop handles the loss of the current socket: in-flight idempotent
  // operations are requeued (ahead of the buffered ones), in-flight publishes
  // rejected, and a reconnect is scheduled.
  _drop(code, reason) {
    const ws = this._ws;
    this._ws = null;
    this._binSent = [];
    if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
    clearInterval(this._pingTimer);
    if (this._closed) return;
    const requeue = [];
    for (const op of [...this._inflight.values()].sort((a, b) => a.id - b.id)) {
      this._inflight.delete(op.id);
      if (op.kind === 'pub') {
        this._settle(op, new C1MError('disconnected', 'connection lost before the reply', 'pub'));
      } else if (op.internal) {
        this._settle(op, new C1MError('disconnected', 'connection lost', 'sub')); // redone on open
      } else {
        if (op.kind === 'sub') op.held = [];
        requeue.push(op);
      }
    }
    this._queue = requeue.concat(this._queue);
    if (this._openedAt && Date.now() - this._openedAt >= this.opts.stableAfter) this.stats.attempts = 0;
    this._openedAt = 0;
    if (this.opts.shouldReconnect && !this.opts.shouldReconnect(code, reason)) {
      this.close(1000, 'no reconnect');
      return;
    }
    this._scheduleReconnect(code, reason);
  }

  _scheduleReconnect(code, reason) {
    const cap = Math.min(this.opts.backoffMax, this.opts.backoffInitial * 2 ** Math.min(this.stats.attempts, 30));
    const delay = Math.floor(Math.random() * cap);
    this._setState(State.RECONNECTING, { attempt: this.stats.attempts + 1, delay, code, reason });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this.connect(), delay);
  }

  // ---- Server-Sent Events transport (see the class comment) ----------------

  // _sseOp creates a sub or unsub operation that the next stream answers
  // (list: _ssePending or _sseUnsubs). Its id numbers the reply as over
  // WebSocket.
  _sseOp(kind, topics, list) {
    const op = { kind, topics, id: this._nextId++, held: [], gen: 0 };
    op.promise = new Promise((resolve, reject) => { op.resolve = resolve; op.reject = reject; });
    if (this._closed) {
      this._settle(op, new C1MError('closed', 'client closed', kind));
      return op;
    }
    op.timer = setTimeout(() => this._settle(op, new C1MError('timeout', `no reply in ${this.opts.ackTimeout}ms`, kind)),
      this.opts.ackTimeout);
    list.push(op);
    return op;
  }

  _sseUnsupported(kind) {
    const what = kind === 'ping' ? 'ping needs a two-way connection'
      : 'publishing needs the WebSocket transport (publishers without one use POST /publish)';
    return Promise.reject(new C1MError('unsupported', `${what}: an SSE stream is one-way`, kind));
  }

  // _sseCheck returns the C1MError that refuses subscribing topics with
  // options o on the client's one stream, or null: the server would refuse
  // the whole stream, so the bad request is refused alone, here.
  _sseCheck(topics, o) {
    if (topics.length === 0) return new C1MError(400, '"topics" must not be empty', 'sub');
    for (const t of topics) {
      const why = checkTopic(t, true);
      if (why) return new C1MError(422, `malformed pattern ${JSON.stringify(t)}: ${why}`, 'sub');
    }
    if (o.maxRate !== undefined && !(typeof o.maxRate === 'number' && o.maxRate >= 0)) {
      return new C1MError(400, `"maxRate" must be a number >= 0, got ${JSON.stringify(o.maxRate)}`, 'sub');
    }
    if (o.conflate !== undefined && typeof o.conflate !== 'boolean') {
      return new C1MError(400, `"conflate" must be true or false, got ${JSON.stringify(o.conflate)}`, 'sub');
    }
    const all = new Set([...this._subs.keys(), ...topics]);
    if (all.size > SSE_MAX_PATTERNS) {
      return new C1MError(400, `too many topics: ${all.size} (at most ${SSE_MAX_PATTERNS} per SSE stream)`, 'sub');
    }
    const key = sseOptionsKey(o);
    for (const [pat, so] of this._subs) {
      if (!topics.includes(pat) && sseOptionsKey(so) !== key) {
        return new C1MError('unsupported', `an SSE stream has one set of options: ${pat} is subscribed with `
          + `${sseOptionsKey(so)}, not ${key} (use another Client for other options)`, 'sub');
      }
    }
    return null;
  }

  // _sseSchedule reopens the stream for a new subscription set once the
  // current task's calls are done.
  _sseSchedule() {
    if (this._sseScheduled || this._closed) return;
    this._sseScheduled = true;
    queueMicrotask(() => {
      this._sseScheduled = false;
      if (this._closed) return;
      if (this._es) {
        this._es.close();
        this._es = null;
      }
      // The old stream is gone, and its subscriptions with it.
      for (const op of [...this._sseUnsubs]) this._settle(op, null, { op: 'ok', id: op.id });
      // A reconnect already scheduled opens the new set when it runs.
      if (this._retryTimer === null) this._sseConnect();
    });
  }

  _sseConnect() {
    if (this._closed || this._es || !this._sseStarted) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._subs.size === 0) return; // no stream without a subscription
    const topics = [...this._subs.keys()];
    const url = this._sseURL(topics);
    const gen = ++this._esGen;
    for (const op of this._ssePending) {
      op.gen = gen; // answered by this stream's sub event
      if (!op.firstGen) op.firstGen = gen; // carried by every stream from this one on
    }
    // A reopen for a subscription change while open is not a reconnect.
    const change = this.state === State.OPEN && !this._sseLost;
    let es;
    try {
      es = new this.EventSource(url, this.opts.withCredentials ? { withCredentials: true } : undefined);
    } catch (e) {
      this._emit('error', e);
      this._sseDrop(1006, String(e && e.message));
      return;
    }
    this._es = es;
    this._esTopics = topics;
    this._esOpened = false;
    this._esLastId = '';
    this._sseServerMsg = '';
    if (!change) {
      this.stats.attempts++;
      if (this.state !== State.CONNECTING) this._setState(State.RECONNECTING, { attempt: this.stats.attempts });
    }
    let everOpened = false;
    es.onopen = () => {
      if (this._es !== es) return;
      everOpened = true;
      this._sseOnOpen();
    };
    es.onmessage = (ev) => { if (this._es === es) this._sseOnData(ev); };
    es.addEventListener('sub', (ev) => { if (this._es === es) this._sseOnSub(gen, ev); });
    // The server's "end" event says why it ends the stream (shutting down).
    es.addEventListener('end', (ev) => {
      if (this._es !== es) return;
      try { this._sseServerMsg = String(JSON.parse(ev.data).reason || ''); } catch { this._sseServerMsg = String(ev.data); }
    });
    es.addEventListener('error', (ev) => {
      if (this._es !== es || typeof ev.data === 'string') return; // a data-carrying "error" is not the EventSource's
      this._sseOnError(es, ev, everOpened, url, gen);
    });
  }

  // _sseURL is the stream's URL: url with topics, the options and since.
  _sseURL(topics) {
    const u = new URL(this.url, globalThis.location?.href);
    u.searchParams.set('topics', topics.join(','));
    const o = this._subs.get(topics[0]) || {};
    if (o.conflate !== undefined) u.searchParams.set('conflate', String(o.conflate));
    if (o.maxRate) u.searchParams.set('maxRate', String(o.maxRate));
    const pos = [];
    for (const [t, p] of this._pos) {
      if (p.seq !== undefined && p.epoch !== undefined && topics.some((pat) => matchTopic(pat, t))) pos.push([t, p]);
    }
    const base = u.href.length;
    // The server bounds a request head to 8 KiB: leave out the positions
    // that do not fit (their topics get a snapshot and recovered:false).
    for (let n = pos.length; n > 0; n = Math.floor(n * 0.8)) {
      const since = sseSince(pos.slice(0, n));
      if (base + 8 + encodeURIComponent(since).length <= SSE_MAX_URL) {
        u.searchParams.set('since', since);
        break;
      }
    }
    return u.href;
  }

  _sseOnOpen() {
    this._conn++;
    this._epoch = undefined;
    this._openedAt = Date.now();
    this._esOpened = true;
    this._sseRefusal = '';
    if (this._sseLost) {
      this.stats.reconnects++;
      this._sseLost = false;
    }
    this._setState(State.OPEN, { attempt: this.stats.attempts });
  }

  // _sseOnSub handles the stream's first event, the native sub ok for all its
  // patterns (recovered:false for every topic it could not resume exactly),
  // as a subscribe reply: it answers the sub operations this stream carries.
  _sseOnSub(gen, ev) {
    this._esLastId = ev.lastEventId || this._esLastId;
    let m;
    try { m = JSON.parse(ev.data); } catch (e) {
      this._emit('error', badFrame(`invalid JSON in the SSE sub event: ${e.message}`));
      return;
    }
    if (!m || typeof m !== 'object' || m.op !== 'ok') {
      this._emit('error', badFrame(`unexpected SSE sub event: ${String(ev.data).slice(0, 200)}`));
      return;
    }
    // On a resume the server reports recovered:false for every topic its
    // since or Last-Event-ID did not name. A topic this client has no position
    // for is new to it, as on a first subscribe: no recovered field.
    if (m.topics && typeof m.topics === 'object') {
      const topics = {};
      for (const [t, st] of Object.entries(m.topics)) {
        if (st && st.recovered === false && this._pos.get(t)?.seq === undefined) {
          const { recovered, ...rest } = st; // eslint-disable-line no-unused-vars
          topics[t] = rest;
        } else {
          topics[t] = st;
        }
      }
      m.topics = topics;
    }
    this._applyTopics(m, this._esTopics);
    for (const op of this._ssePending.filter((x) => x.gen === gen)) {
      const topics = {};
      for (const [t, st] of Object.entries(m.topics || {})) if (op.topics.some((p) => matchTopic(p, t))) topics[t] = st;
      this._settle(op, null, { op: 'ok', id: op.id, epoch: m.epoch, topics });
    }
  }

  // _sseOnData takes a delivery: the native delivery JSON, binary data in
  // base64 with "binary":true.
  _sseOnData(ev) {
    if (ev.lastEventId) this._esLastId = ev.lastEventId;
    const text = ev.data;
    let m;
    try { m = JSON.parse(text); } catch (e) {
      this._emit('error', badFrame(`invalid JSON from server: ${e.message}`));
      return;
    }
    if (!m || m.op !== 'msg' || typeof m.topic !== 'string' || typeof m.seq !== 'number') {
      this._emit('error', badFrame(`unexpected SSE event: ${String(text).slice(0, 200)}`));
      return;
    }
    if (m.binary) {
      try { m.data = fromBase64(m.data); } catch (e) {
        this._emit('error', e);
        return;
      }
      m.tsBig = exactTs(text, m.ts);
    }
    this._onMsg(m);
  }

  _sseOnError(es, ev, everOpened, url, gen) {
    const wasOpen = this._esOpened;
    this._esOpened = false;
    const status = typeof ev.code === 'number' ? ev.code : 0; // the "eventsource" package tells it
    const reason = this._sseServerMsg || (status ? `HTTP ${status}` : ev.message || 'stream lost');
    if (es.readyState !== ES_CLOSED && wasOpen && this._sseExactRetry()) {
      // The EventSource reconnects by itself with Last-Event-ID: exact.
      this._sseLost = true;
      if (Date.now() - this._openedAt >= this.opts.stableAfter) this.stats.attempts = 0;
      this._openedAt = 0;
      if (this.opts.shouldReconnect && !this.opts.shouldReconnect(1006, reason)) {
        this.close(1000, 'no reconnect');
        return;
      }
      this.stats.attempts++;
      this._setState(State.RECONNECTING, { attempt: this.stats.attempts, code: 1006, reason });
      return;
    }
    // It gave up (a non-200 answer), its own retry failed, or its retry
    // would not be exact: reopen with backoff and since.
    this._es = null;
    es.close();
    if (!everOpened && es.readyState === ES_CLOSED) this._sseProbe(url, gen);
    this._sseDrop(status || 1006, reason);
  }

  // _sseExactRetry reports whether the EventSource's own reconnect, with
  // the last event id, resumes every topic the client tracks on this stream.
  _sseExactRetry() {
    const id = this._esLastId;
    const slash = id.indexOf('/');
    if (slash < 0) return false;
    const named = new Set(id.slice(slash + 1).split(',').map((p) => p.slice(0, p.lastIndexOf('='))));
    for (const [t, p] of this._pos) {
      if (p.seq !== undefined && !named.has(t) && this._esTopics.some((pat) => matchTopic(pat, t))) return false;
    }
    return true;
  }

  // _sseDrop handles the loss of the stream (already closed): reconnect
  // with backoff; pending sub operations wait for the next stream.
  _sseDrop(code, reason) {
    this._sseLost = true;
    if (this._openedAt && Date.now() - this._openedAt >= this.opts.stableAfter) this.stats.attempts = 0;
    this._openedAt = 0;
    if (this._closed) return;
    if (this.opts.shouldReconnect && !this.opts.shouldReconnect(code, reason)) {
      this.close(1000, 'no reconnect');
      return;
    }
    this._scheduleReconnect(code, reason);
  }

  // _sseProbe asks url again, once, after the EventSource failed it without
  // saying why, to read the server's answer. A refusal (4xx) rejects the sub
  // operations that stream carried, which drops their patterns (the next
  // stream goes without them), or is reported as an 'error' event.
  async _sseProbe(url, gen) {
    const f = this.opts.fetch || globalThis.fetch;
    if (typeof f !== 'function' || typeof AbortController !== 'function') return;
    const ctl = new AbortController();
    let status = 0;
    let text = '';
    try {
      const res = await f(url, {
        headers: { Accept: 'text/event-stream' }, signal: ctl.signal, cache: 'no-store',
        credentials: this.opts.withCredentials ? 'include' : 'same-origin',
      });
      status = res.status;
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) text = (await res.text()).trim();
    } catch { /* unreachable: the backoff retries */ } finally {
      ctl.abort();
    }
    if (!text || this._closed) return;
    const err = new C1MError(status, text, 'sub');
    const owners = this._ssePending.filter((op) => op.firstGen && op.firstGen <= gen);
    for (const op of owners) this._settle(op, err);
    if (owners.length === 0 && text !== this._sseRefusal) this._emit('error', err);
    this._sseRefusal = text;
  }

  // ---- incoming frames -----------------------------------------------------

  _onFrame(raw) {
    let m;
    if (typeof raw !== 'string') {
      try { m = decodeDelivery(raw); } catch (e) {
        this._emit('error', e instanceof C1MError ? e : badFrame(String(e && e.message)));
        return;
      }
      this._onMsg(m);
      return;
    }
    try { m = JSON.parse(raw); } catch (e) {
      this._emit('error', badFrame(`invalid JSON from server: ${e.message}`));
      return;
    }
    switch (m.op) {
      case 'msg':
        // SockJS carries text only: a binary delivery comes as the JSON one
        // with "binary":true and the data in base64, as over SSE.
        if (m.binary === true && this.transport === Transport.SOCKJS) {
          try { m.data = fromBase64(m.data); } catch (e) {
            this._emit('error', e);
            return;
          }
          m.tsBig = exactTs(raw, m.ts);
        }
        this._onMsg(m);
        return;
      case 'ok':
      case 'err': {
        let op;
        if (m.id == null) {
          // The client sends every JSON operation with an id: an error without
          // one is about the oldest binary publish whose ping has not answered
          // (the server handles a connection's frames in order), also when
          // that publish timed out already.
          op = m.op === 'err' ? this._binSent.shift() : undefined;
          if (!op) {
            this._emit('error', new C1MError(m.code, m.msg || 'error'));
            return;
          }
        } else {
          op = this._inflight.get(m.id);
          // A reply to id answers for every binary publish sent before it.
          while (this._binSent.length && this._binSent[0].id <= m.id) this._binSent.shift();
        }
        if (!op) return; // timed out already
        if (m.op === 'ok') this._settle(op, null, m);
        else this._settle(op, new C1MError(m.code, m.msg || 'error', op.kind));
        return;
      }
      default:
        // Unknown ops are ignored for forward compatibility.
    }
  }

  // _onMsg takes a delivery, JSON or decoded binary.
  _onMsg(m) {
    this.stats.received++;
    // Hold messages of topics with a subscribe in flight until its reply
    // arrives: snapshots and recovered messages may precede the ok, and the
    // ok says whether the epoch changed (which resets duplicate tracking).
    for (const op of this._inflight.values()) {
      if (op.kind === 'sub' && op.topics.some((p) => matchTopic(p, m.topic))) {
        op.held.push(m);
        return;
      }
    }
    this._deliver(m);
  }

  // _applyTopics records what the reply to a subscribe of patterns says: the
  // server's history epoch (every sub ok carries it, so positions of topics
  // created after the subscribe can be recovered too) and, per topic, its
  // epoch and seq. A known topic that matches the patterns but is missing
  // from the reply no longer exists on the server: its history is gone.
  _applyTopics(reply, patterns) {
    if (typeof reply.epoch === 'string') this._epoch = reply.epoch;
    const topics = reply.topics || {};
    for (const [t, pos] of this._pos) {
      if (t in topics || pos.seq === undefined || !patterns.some((p) => matchTopic(p, t))) continue;
      if (pos.conn === this._conn && pos.epoch === undefined) continue; // first seen on this connection
      this.stats.epochChanges++;
      this._emit('reset', t, { oldEpoch: pos.epoch, epoch: this._epoch });
      pos.seq = pos.epoch = undefined;
      pos.conn = this._conn;
    }
    for (const [t, st] of Object.entries(topics)) {
      if (typeof reply.epoch !== 'string') this._epoch = st.epoch; // servers before the top-level epoch
      const pos = this._pos.get(t);
      if (pos) {
        if (pos.epoch !== undefined ? pos.epoch !== st.epoch : pos.conn !== this._conn) {
          // History lost: restart duplicate tracking from the next message.
          if (pos.epoch !== undefined) {
            this.stats.epochChanges++;
            this._emit('reset', t, { oldEpoch: pos.epoch, epoch: st.epoch });
          }
          pos.seq = undefined;
        }
        pos.epoch = st.epoch;
        // Not recovered within the same epoch: the topic's state is replaced.
        // Its snapshot, if one comes, is compared with the old seq (a jump
        // forward is a gap: history too short); with no snapshot (the topic
        // has no data, e.g. reclaimed) its next message starts it afresh,
        // whatever seq floor it starts from (docs/PROTOCOL.md "Topic lifetime").
        pos.replaced = st.recovered === false && pos.seq !== undefined;
      }
      if (st.recovered === true) this.stats.recovered++;
      if (st.recovered === false) this.stats.notRecovered++;
      this._emit('topic', t, st);
    }
    for (const p of this._pos.values()) if (p.epoch === undefined && p.conn === this._conn) p.epoch = this._epoch;
  }

  _deliver(m) {
    // Messages already in flight when a subscription was removed are dropped.
    if (!this._matchesSub(m.topic)) return;
    let pos = this._pos.get(m.topic);
    if (!pos) this._pos.set(m.topic, (pos = { epoch: this._epoch, seq: undefined, conn: this._conn }));
    if (pos.epoch === undefined) pos.epoch = this._epoch;
    if (pos.replaced) {
      pos.replaced = false;
      if (!m.snap || m.seq < pos.seq) pos.seq = undefined;
    }
    if (pos.seq !== undefined) {
      if (m.seq <= pos.seq) {
        if (!m.snap) this.stats.duplicates++; // a repeated last value is not a stream duplicate
        return;
      }
      if (m.seq > pos.seq + 1) {
        const missed = m.seq - pos.seq - 1;
        if (this._conflated(m.topic)) {
          this.stats.skipped += missed;
        } else {
          this.stats.gaps++;
          this.stats.missed += missed;
          this._emit('gap', m.topic, { expected: pos.seq + 1, got: m.seq, missed });
        }
      }
    }
    pos.seq = m.seq;
    if (m.snap) this.stats.snapshots++;
    this.stats.delivered++;
    const meta = { seq: m.seq, ts: m.ts, snap: !!m.snap, binary: !!m.binary, epoch: pos.epoch };
    if (m.binary) meta.tsBig = m.tsBig;
    this._emit('message', m.topic, m.data, meta);
  }
}
