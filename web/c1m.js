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
//   tracks the topic afresh from the snapshot.

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
 * buffered while disconnected); in 'error' events also 'bad_frame' (a frame
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
 * Events (subscribe with on(event, fn), which returns an unsubscribe function):
 * - 'state' (state, info): info = {attempt, delay, code, reason}
 * - 'message' (topic, data, meta: MessageMeta): every delivery, JSON or
 *   binary, once, in order
 * - 'gap' (topic, {expected, got, missed}): seq jumped (messages lost)
 * - 'topic' (topic, {epoch, seq, recovered}): per topic of a subscribe reply
 * - 'reset' (topic, {oldEpoch, epoch}): the server's history epoch changed
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
  /** @param {string} url ws:// or wss:// URL of the /ws endpoint @param {ClientOptions} [opts] */
  constructor(url, opts = {}) {
    this.url = url;
    this.opts = {
      ackTimeout: 10000, backoffInitial: 500, backoffMax: 10000, stableAfter: 2000,
      pingInterval: 20000, maxBuffered: 1024, autoConnect: true, ...opts,
    };
    this.WebSocket = opts.WebSocket || globalThis.WebSocket;
    if (!this.WebSocket) throw new Error('c1m: no WebSocket implementation; pass opts.WebSocket');
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
    if (this._closed || this._ws) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (e) {
      this._emit('error', e);
      this._scheduleReconnect(1006, String(e && e.message));
      return;
    }
    this._ws = ws;
    this.stats.attempts++;
    if (this.state !== State.CONNECTING) this._setState(State.RECONNECTING, { attempt: this.stats.attempts });
    if ('binaryType' in ws) ws.binaryType = 'arraybuffer';
    ws.onopen = () => { if (this._ws === ws) this._onOpen(); };
    ws.onmessage = (ev) => { if (this._ws === ws) this._onFrame(ev.data); };
    ws.onclose = (ev) => { if (this._ws === ws) this._drop(ev.code, ev.reason); };
    ws.onerror = () => {}; // a close event always follows
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
    for (const [t, p] of Object.entries(opts.since || {})) {
      if (!this._pos.has(t)) this._pos.set(t, { epoch: p.epoch, seq: p.seq, conn: -1 });
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
    return this._op('unsub', () => ({ topics }), {}).promise;
  }

  /**
   * Publishes data (any JSON value) on topic; needs --client-publish on the
   * server. Resolves with the ok reply. A publish in flight when the connection
   * breaks rejects with code 'disconnected' (it is not retried: at most once).
   * @param {string} topic @param {any} data @returns {Promise<object>}
   */
  publish(topic, data) {
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
    const frame = encodePublish(topic, bytes);
    return this._op('pub', () => ({}), { frame }).promise;
  }

  /** Round trip to the server. @returns {Promise<object>} */
  ping() {
    return this._op('ping', () => ({}), {}).promise;
  }

  /**
   * Drops the current connection without a close handshake (as a network
   * failure would) and reconnects with recovery. For tests and for callers
   * that detect a dead connection by their own means.
   */
  reconnect() {
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
    const ws = this._ws;
    const done = new Promise((resolve) => {
      if (!ws || ws.readyState > OPEN) return resolve();
      ws.onclose = () => resolve();
      // Do not wait forever for the closing handshake of a dead peer.
      setTimeout(() => { if (typeof ws.terminate === 'function') ws.terminate(); resolve(); }, this.opts.ackTimeout).unref?.();
    });
    if (ws) try { ws.close(code, reason); } catch { /* not open yet */ }
    this._ws = null;
    const err = new C1MError('closed', 'client closed');
    for (const op of [...this._queue, ...this._inflight.values()]) this._settle(op, err);
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
    if (op.kind === 'sub') {
      if (reply) this._applyTopics(reply, op.topics);
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
    this._setState(State.OPEN, { attempt: this.stats.attempts });
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
