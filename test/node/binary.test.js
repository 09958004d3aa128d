// Binary deliveries and binary publishes of the reference client (web/c1m.js):
// the frame codec against a naive oracle and the documented example, then the
// real server: HTTP octet-stream publishes, snapshots, JSON and binary sharing
// one seq, publishBinary round trips and errors, recovery across a cut.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { Client, C1MError, State, decodeDelivery, encodePublish } from '../../web/c1m.js';
import { startServer, waitFor, publish, publishBytes, topicPrefix, testFixtures } from './lib/server.js';

// Servers started by server() and clients pushed on clients are stopped
// after the file's tests.
const { server, servers, clients } = testFixtures();

function recordingClient(url, opts = {}) {
  const c = new Client(`${url}/ws`, { WebSocket, backoffInitial: 50, backoffMax: 400, ackTimeout: 5000, ...opts });
  clients.push(c);
  c.got = [];
  c.errors = [];
  c.topicStates = [];
  c.on('message', (topic, data, meta) => c.got.push({ topic, data, ...meta }));
  c.on('error', (e) => c.errors.push(e));
  c.on('topic', (topic, st) => c.topicStates.push({ topic, ...st }));
  return c;
}

function gatedWebSocket() {
  const gate = { open: true };
  class Gated extends WebSocket {
    constructor(url, ...rest) { super(gate.open ? url : 'ws://127.0.0.1:9/', ...rest); }
  }
  return { Gated, gate };
}

/** Naive encoder of a binary delivery, written from the table in docs/PROTOCOL.md. */
function deliveryFrame(kind, topic, seq, ts, payload) {
  const t = Buffer.from(topic);
  const v = t.length < 128 ? [t.length] : [(t.length & 0x7f) | 0x80, t.length >> 7];
  const head = Buffer.alloc(16);
  head.writeBigUInt64BE(BigInt(seq), 0);
  head.writeBigInt64BE(BigInt(ts), 8);
  return Buffer.concat([Buffer.from([kind, ...v]), t, head, Buffer.from(payload)]);
}

/** A valid topic of exactly n bytes. */
const longTopic = (prefix, n) => (prefix + '.' + 'x'.repeat(n)).slice(0, n).replace(/\.$/, 'y');

const bytes = (...v) => Uint8Array.from(v);
const isBytes = (d, want) => d instanceof Uint8Array && Buffer.from(d).equals(Buffer.from(want));

test('decodeDelivery: the documented example', () => {
  const ex = Buffer.from('01 04 6d 64 2e 58 00 00 00 00 00 00 01 02 00 00 00 00 00 00 00 01 68 69'.replace(/ /g, ''), 'hex');
  const m = decodeDelivery(ex);
  assert.equal(m.topic, 'md.X');
  assert.equal(m.seq, 258);
  assert.equal(m.ts, 1);
  assert.equal(m.tsBig, 1n);
  assert.equal(m.snap, false);
  assert.equal(m.binary, true);
  assert.ok(isBytes(m.data, 'hi'));
  // The same bytes as an ArrayBuffer, as browsers and ws (binaryType "arraybuffer") hand them over.
  const ab = ex.buffer.slice(ex.byteOffset, ex.byteOffset + ex.length);
  assert.deepEqual({ ...decodeDelivery(ab), data: [...decodeDelivery(ab).data] }, { ...m, data: [...m.data] });
});

test('decodeDelivery agrees with a naive encoder: kinds, 1- and 2-byte topic lengths, extreme seq and ts', () => {
  const cases = [
    [1, 'a', 1, 0n, []],
    [2, 'md.AAPL.quote', 122, 1795478605321661926n, [1, 2, 3]],
    [1, longTopic('p', 127), 2 ** 32, -1n, [0]],
    [1, longTopic('p', 128), 2 ** 32 + 1, -(2n ** 63n), []],
    [2, longTopic('p', 256), Number.MAX_SAFE_INTEGER, 2n ** 63n - 1n, Array.from({ length: 300 }, (_, i) => i & 255)],
  ];
  for (const [kind, topic, seq, ts, payload] of cases) {
    const m = decodeDelivery(deliveryFrame(kind, topic, seq, ts, payload));
    assert.equal(m.topic, topic);
    assert.equal(m.seq, seq);
    assert.equal(m.tsBig, ts);
    assert.equal(m.ts, Number(ts), `ts ${ts} as a Number`);
    assert.equal(m.snap, kind === 2);
    assert.ok(isBytes(m.data, payload), `payload of ${topic.length}-byte topic`);
  }
});

test('decodeDelivery rejects unknown kinds and truncated frames with a bad_frame C1MError', () => {
  const good = deliveryFrame(1, 'md.X', 1, 1, 'hi');
  const bad = [
    ['empty', Buffer.alloc(0)],
    ['kind 0', Buffer.concat([Buffer.from([0]), good.subarray(1)])],
    ['kind 3', Buffer.concat([Buffer.from([3]), good.subarray(1)])],
    ['kind 255', Buffer.concat([Buffer.from([255]), good.subarray(1)])],
    ['no topic length', Buffer.from([1])],
    ['unterminated varint', Buffer.from([1, 0x80, 0x80])],
    ['header cut in seq', good.subarray(0, 10)],
    ['header cut in ts', good.subarray(0, 6 + 15)],
    ['empty topic', Buffer.concat([Buffer.from([1, 0]), Buffer.alloc(16)])],
  ];
  for (const [name, b] of bad) {
    assert.throws(() => decodeDelivery(b), (e) => e instanceof C1MError && e.code === 'bad_frame', name);
  }
  assert.throws(() => decodeDelivery('text'), (e) => e.code === 'bad_frame');
  // Header only, empty payload: valid.
  assert.equal(decodeDelivery(good.subarray(0, good.length - 2)).data.length, 0);
});

test('encodePublish: byte 1, uvarint topic length, topic, payload', () => {
  assert.equal(Buffer.from(encodePublish('md.X', bytes(0x68, 0x69))).toString('hex'), '01046d642e586869');
  assert.equal(Buffer.from(encodePublish('md.X', 'hi')).toString('hex'), '01046d642e586869');
  const t = longTopic('p', 200);
  const f = encodePublish(t, new Uint16Array([0x0102]).buffer);
  assert.deepEqual([...f.subarray(0, 3)], [1, 200 & 0x7f | 0x80, 1]);
  assert.equal(Buffer.from(f.subarray(3, 203)).toString(), t);
  assert.equal(f.length, 205);
  assert.throws(() => encodePublish('a', 42), TypeError);
});

test('an HTTP octet-stream publish reaches the client as a binary message with its bytes and seq', async () => {
  const s = await server();
  const t = topicPrefix('bin');
  const long = longTopic(`${t}.l`, 200); // a 2-byte topic length on the wire
  const c = recordingClient(s.ws);
  await c.subscribe([`${t}.a`, `${t}.>`]);
  const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
  const before = BigInt(Date.now()) * 1000000n;
  const r1 = await publishBytes(s.http, `${t}.a`, payload);
  const r2 = await publishBytes(s.http, long, bytes(0, 255, 0));
  const r3 = await publishBytes(s.http, `${t}.a`, new Uint8Array(0));
  assert.deepEqual([r1.seq, r2.seq, r3.seq], [1, 1, 2]);
  await waitFor(() => c.got.length === 3, { message: 'three binary messages' });
  const [a1, l1, a2] = c.got;
  assert.equal(a1.topic, `${t}.a`);
  assert.ok(isBytes(a1.data, payload), 'payload bytes');
  assert.equal(a1.binary, true);
  assert.equal(a1.snap, false);
  assert.equal(a1.seq, 1);
  assert.ok(a1.tsBig >= before - 1000000000n && a1.tsBig <= BigInt(Date.now()) * 1000000n + 1000000000n, `tsBig ${a1.tsBig}`);
  assert.ok(Math.abs(a1.ts - Number(a1.tsBig)) <= 1024, 'ts is the Number of tsBig');
  assert.equal(a1.epoch, c.positions()[`${t}.a`].epoch);
  assert.equal(l1.topic, long);
  assert.ok(isBytes(l1.data, [0, 255, 0]));
  assert.equal(a2.seq, 2);
  assert.equal(a2.data.length, 0);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.received, 3);
  assert.deepEqual(c.errors, []);
});

test('a binary last value is sent as a binary snapshot on subscribe', async () => {
  const s = await server();
  const t = topicPrefix('binsnap');
  await publish(s.http, `${t}.a`, { json: 1 });
  await publishBytes(s.http, `${t}.a`, bytes(9, 8, 7));
  const c = recordingClient(s.ws);
  const ok = await c.subscribe(`${t}.*`);
  assert.equal(ok.topics[`${t}.a`].seq, 2);
  await waitFor(() => c.got.length === 1, { message: 'snapshot' });
  assert.equal(c.got[0].snap, true);
  assert.equal(c.got[0].binary, true);
  assert.equal(c.got[0].seq, 2);
  assert.ok(isBytes(c.got[0].data, [9, 8, 7]));
  assert.equal(c.stats.snapshots, 1);
  await publishBytes(s.http, `${t}.a`, bytes(6));
  await waitFor(() => c.got.length === 2, { message: 'live message after the snapshot' });
  assert.deepEqual([c.got[1].seq, c.got[1].snap], [3, false]);
});

test('JSON and binary publishes on one topic share its seq and arrive in order', async () => {
  const s = await server();
  const t = topicPrefix('mixed');
  const topic = `${t}.m`;
  const c = recordingClient(s.ws);
  await c.subscribe(topic);
  const sent = [];
  for (let i = 1; i <= 40; i++) {
    const binary = i % 3 !== 0;
    const r = binary ? await publishBytes(s.http, topic, bytes(i)) : await publish(s.http, topic, { i });
    assert.equal(r.seq, i);
    sent.push(binary);
  }
  await waitFor(() => c.got.length === 40, { message: '40 messages' });
  assert.deepEqual(c.got.map((m) => m.seq), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.deepEqual(c.got.map((m) => m.binary), sent);
  assert.deepEqual(c.got.map((m) => (m.binary ? m.data[0] : m.data.i)), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
});

test('publishBinary: round trip through the server; error replies reject the right publish', async () => {
  const s = await server({ args: ['--client-publish', '--max-publish-bytes', '1000'] });
  const t = topicPrefix('pubbin');
  const sub = recordingClient(s.ws);
  const pub = recordingClient(s.ws);
  await sub.subscribe(`${t}.*`);
  const payload = Uint8Array.from({ length: 1000 }, (_, i) => 255 - (i & 255));
  const ok = await pub.publishBinary(`${t}.x`, payload);
  assert.equal(ok.op, 'ok');
  payload.fill(0); // copied at call time: the caller may reuse the buffer
  await waitFor(() => sub.got.length === 1, { message: 'binary message' });
  assert.equal(sub.got[0].binary, true);
  assert.equal(sub.got[0].seq, 1);
  assert.ok(isBytes(sub.got[0].data, Uint8Array.from({ length: 1000 }, (_, i) => 255 - (i & 255))));

  // Issued back to back: only the bad ones reject, each with its own error.
  const results = await Promise.allSettled([
    pub.publishBinary(`${t}.x`, 'one'),
    pub.publishBinary(`${t}..bad`, 'x'),
    pub.publishBinary(`${t}.x`, new Uint8Array(1001)),
    pub.publish(`${t}.x`, { json: true }),
    pub.publishBinary(`${t}.x`, 'two'),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
  assert.ok(results[1].reason instanceof C1MError && results[1].reason.code === 422, String(results[1].reason));
  assert.equal(results[2].reason.code, 413);
  await waitFor(() => sub.got.length === 4, { message: 'three more messages' });
  assert.deepEqual(sub.got.slice(1).map((m) => [m.seq, m.binary, m.binary ? Buffer.from(m.data).toString() : m.data]),
    [[2, true, 'one'], [3, false, { json: true }], [4, true, 'two']]);
  assert.deepEqual(pub.errors, [], 'every error reply was owned by a publish');
  assert.equal(sub.stats.gaps, 0);
});

test('publishBinary without --client-publish rejects with 403; the connection stays usable', async () => {
  const s = await server();
  const c = recordingClient(s.ws);
  await assert.rejects(c.publishBinary('a.b', 'x'), (e) => e instanceof C1MError && e.code === 403 && e.op === 'pub');
  assert.equal((await c.ping()).op, 'ok');
  assert.equal(c.state, State.OPEN);
  assert.deepEqual(c.errors, []);
});

test('recovery: binary and JSON messages published while disconnected are all replayed, once, in order', async () => {
  const { Gated, gate } = gatedWebSocket();
  const s = await server();
  const t = topicPrefix('bincut');
  const topic = `${t}.x`;
  const c = recordingClient(s.ws, { WebSocket: Gated });
  await c.subscribe(`${t}.>`);
  await publishBytes(s.http, topic, bytes(1));
  await waitFor(() => c.got.length === 1, { message: 'first message' });
  for (let round = 0; round < 2; round++) {
    gate.open = false;
    c.reconnect();
    await waitFor(() => c.state === State.RECONNECTING && c.stats.attempts >= 2, { message: 'a failed reconnect attempt' });
    const base = c.got.length;
    for (let i = base + 1; i <= base + 30; i++) {
      if (i % 2) await publishBytes(s.http, topic, bytes(i));
      else await publish(s.http, topic, i);
    }
    gate.open = true;
    await waitFor(() => c.got.length === base + 30, { message: `replayed messages, round ${round}` });
  }
  assert.deepEqual(c.got.map((m) => m.seq), Array.from({ length: 61 }, (_, i) => i + 1));
  assert.deepEqual(c.got.map((m) => (m.binary ? m.data[0] : m.data)), Array.from({ length: 61 }, (_, i) => i + 1));
  assert.ok(c.got.every((m) => m.binary === (m.seq % 2 === 1) && !m.snap));
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.reconnects, 2);
  assert.equal(c.topicStates.filter((x) => x.topic === topic && x.recovered === true).length, 2);
});

test('a binary frame of an unknown kind is dropped with an error event; the stream goes on', async () => {
  // A scripted server: answers the sub, then sends a frame of kind 3, a
  // truncated frame, and valid binary and JSON messages.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (sock) => sock.on('message', (d, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(d);
    if (m.op !== 'sub') { sock.send(JSON.stringify({ op: 'ok', id: m.id })); return; }
    sock.send(JSON.stringify({ op: 'ok', id: m.id, epoch: 'E1' }));
    sock.send(deliveryFrame(3, 'a.b', 1, 5, 'future'));
    sock.send(deliveryFrame(1, 'a.b', 1, 5, 'cut').subarray(0, 12));
    sock.send(deliveryFrame(1, 'a.b', 1, 5, 'one'));
    sock.send(JSON.stringify({ op: 'msg', topic: 'a.b', seq: 2, ts: 6, data: 'two' }));
    sock.send(deliveryFrame(1, 'a.b', 3, 7, 'three'));
  }));
  try {
    const c = recordingClient(`ws://127.0.0.1:${wss.address().port}`);
    await c.subscribe('a.b');
    await waitFor(() => c.got.length === 3, { message: 'three valid messages' });
    assert.deepEqual(c.got.map((m) => [m.seq, m.binary, m.binary ? Buffer.from(m.data).toString() : m.data]),
      [[1, true, 'one'], [2, false, 'two'], [3, true, 'three']]);
    assert.equal(c.errors.length, 2);
    assert.ok(c.errors.every((e) => e instanceof C1MError && e.code === 'bad_frame'));
    assert.match(c.errors[0].message, /unknown binary frame kind 3/);
    assert.deepEqual(c.positions(), { 'a.b': { epoch: 'E1', seq: 3 } });
    assert.equal(c.state, State.OPEN);
    await c.close();
  } finally {
    wss.close();
  }
});

test('a late error for a binary publish that timed out is not blamed on the next one', async () => {
  // A scripted server that handles frames in order but answers only after
  // both publishes were sent: the first one's error (no id) comes when the
  // client has already timed it out.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const replies = [];
  let release;
  const released = new Promise((r) => { release = r; });
  wss.on('connection', (sock) => sock.on('message', async (d, isBinary) => {
    if (isBinary) {
      if (Buffer.from(d).subarray(-3).toString() === 'bad') replies.push({ op: 'err', code: 422, msg: 'malformed topic' });
      return;
    }
    const m = JSON.parse(d);
    replies.push({ op: 'ok', id: m.id });
    if (replies.length < 3) return;
    await released;
    for (const r of replies.splice(0)) sock.send(JSON.stringify(r));
  }));
  try {
    const c = recordingClient(`ws://127.0.0.1:${wss.address().port}`, { ackTimeout: 300 });
    const p1 = c.publishBinary('a.b', 'bad');
    await assert.rejects(p1, (e) => e.code === 'timeout');
    const p2 = c.publishBinary('a.b', 'good');
    await waitFor(() => replies.length === 3, { message: 'both publishes at the server' });
    release();
    assert.equal((await p2).op, 'ok');
    assert.deepEqual(c.errors, []);
    assert.deepEqual(c._binSent, []);
    await c.close();
  } finally {
    wss.close();
  }
});
