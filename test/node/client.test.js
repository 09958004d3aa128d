// The reference client (web/c1m.js) in Node against the real server: acks and
// err replies, buffering, reconnect and recovery across socket cuts and
// server restarts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, C1MError, State, matchTopic } from '../../web/c1m.js';
import { startServer, waitFor, publish, publishBatch, topicPrefix, testFixtures } from './lib/server.js';

// Servers started by server() and clients pushed on clients are stopped
// after the file's tests.
const { server, servers, clients } = testFixtures();

/**
 * A WebSocket constructor with a gate: while gate.open is false, connection
 * attempts go to a closed port and fail, so a test decides exactly when the
 * client can reconnect.
 */
function gatedWebSocket() {
  const gate = { open: true };
  class Gated extends WebSocket {
    constructor(url, ...rest) { super(gate.open ? url : 'ws://127.0.0.1:9/', ...rest); }
  }
  return { Gated, gate };
}

/** A client that records every delivery. */
function recordingClient(url, opts = {}) {
  const c = new Client(`${url}/ws`, { WebSocket, backoffInitial: 50, backoffMax: 400, ackTimeout: 5000, ...opts });
  clients.push(c);
  c.got = [];
  c.states = [];
  c.topicStates = [];
  c.on('message', (topic, data, meta) => c.got.push({ topic, data, ...meta }));
  c.on('state', (s) => c.states.push(s));
  c.on('topic', (topic, st) => c.topicStates.push({ topic, ...st }));
  return c;
}

const seqsOf = (c, topic) => c.got.filter((m) => m.topic === topic).map((m) => m.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('matchTopic follows the wildcard rules', () => {
  assert.ok(matchTopic('md.>', 'md.AAPL.quote'));
  assert.ok(matchTopic('md.*.trade', 'md.AAPL.trade'));
  assert.ok(!matchTopic('md.*.trade', 'md.AAPL.quote'));
  assert.ok(!matchTopic('md.>', 'md'));
  assert.ok(!matchTopic('md.*', 'md.A.b'));
  assert.ok(matchTopic('a.b', 'a.b'));
});

test('subscribe: ok with topic states, snapshot of the last value, then live messages in order', async () => {
  const s = await server();
  const t = topicPrefix('snap');
  await publish(s.http, `${t}.a`, { n: 1 });
  await publish(s.http, `${t}.a`, { n: 2 });
  const c = recordingClient(s.ws);
  const ok = await c.subscribe([`${t}.>`]);
  assert.equal(ok.op, 'ok');
  const st = ok.topics[`${t}.a`];
  assert.equal(st.seq, 2);
  assert.equal(typeof st.epoch, 'string');
  assert.ok(st.epoch.length > 0);
  await waitFor(() => c.got.length >= 1, { message: 'snapshot' });
  assert.deepEqual(c.got[0].data, { n: 2 });
  assert.equal(c.got[0].snap, true);
  assert.equal(c.got[0].seq, 2);
  assert.equal(c.got[0].epoch, st.epoch);

  const before = Date.now() * 1e6;
  const r = await publish(s.http, `${t}.a`, { n: 3 });
  assert.equal(r.seq, 3);
  await publish(s.http, `${t}.b`, 'new topic');
  await waitFor(() => c.got.length >= 3, { message: 'live messages' });
  assert.deepEqual(c.got[1].data, { n: 3 });
  assert.equal(c.got[1].snap, false);
  assert.equal(c.got[1].seq, 3);
  assert.ok(c.got[1].ts >= before - 1e9 && c.got[1].ts <= Date.now() * 1e6 + 1e9, `ts ${c.got[1].ts}`);
  assert.equal(c.got[2].topic, `${t}.b`);
  assert.equal(c.got[2].data, 'new topic');
  assert.equal(c.got[2].seq, 1);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.state, State.OPEN);
});

/** A WebSocket constructor that records the op of every JSON frame the client sends. */
function spyWebSocket() {
  const sent = [];
  class Spy extends WebSocket {
    send(data, ...rest) {
      sent.push(typeof data === 'string' ? JSON.parse(data).op : 'binary');
      return super.send(data, ...rest);
    }
  }
  return { Spy, sent };
}

test('every sub ok carries the server epoch; positions of topics created later use it without extra operations', async () => {
  const s = await server();
  const t = topicPrefix('epoch');
  const { Spy, sent } = spyWebSocket();
  const c = recordingClient(s.ws, { WebSocket: Spy });
  const ok = await c.subscribe(`${t}.*`); // no topic matches yet
  assert.equal(typeof ok.epoch, 'string');
  assert.ok(ok.epoch.length > 0);
  assert.deepEqual(ok.topics ?? {}, {});
  await publish(s.http, `${t}.a`, 'x');
  await publish(s.http, `${t}.b`, 'y');
  await waitFor(() => c.got.length === 2, { message: 'messages of new topics' });
  assert.deepEqual(c.got.map((m) => m.epoch), [ok.epoch, ok.epoch]);
  assert.deepEqual(c.positions(), { [`${t}.a`]: { epoch: ok.epoch, seq: 1 }, [`${t}.b`]: { epoch: ok.epoch, seq: 1 } });
  // A ping round trip: anything the client sent before it has been sent.
  await c.ping();
  assert.deepEqual(sent, ['sub', 'ping'], 'no epoch probe (sub/unsub) went out');
  // The epoch of a reply for another subscription is the same server epoch.
  const ok2 = await c.subscribe(`${t}.other`);
  assert.equal(ok2.epoch, ok.epoch);
});

test('err replies reject with a C1MError carrying code and msg', async () => {
  const s = await server();
  const c = recordingClient(s.ws);
  await assert.rejects(c.subscribe('bad..topic'), (e) => e instanceof C1MError && e.code === 422 && e.msg.length > 0);
  await assert.rejects(c.publish('x.y', { a: 1 }), (e) => e instanceof C1MError && e.code === 403);
  // The connection is still usable and the refused subscription is forgotten.
  assert.equal((await c.ping()).op, 'ok');
  assert.equal(c._subs.size, 0);
});

test('publish over WebSocket with --client-publish; unsubscribe stops deliveries', async () => {
  const s = await server({ args: ['--client-publish'] });
  const t = topicPrefix('pub');
  const sub = recordingClient(s.ws);
  const pub = recordingClient(s.ws);
  await sub.subscribe(`${t}.*`);
  await pub.publish(`${t}.x`, { hello: 'world' });
  await waitFor(() => sub.got.length === 1, { message: 'published message' });
  assert.deepEqual(sub.got[0].data, { hello: 'world' });
  await sub.unsubscribe(`${t}.*`);
  await pub.publish(`${t}.x`, 2);
  // A marker on a topic still subscribed proves the unsubscribed one was skipped.
  await sub.subscribe(`${t}.marker`);
  await pub.publish(`${t}.marker`, 'm');
  await waitFor(() => sub.got.some((m) => m.topic === `${t}.marker`), { message: 'marker' });
  assert.deepEqual(sub.got.map((m) => m.topic), [`${t}.x`, `${t}.marker`]);
});

test('operations time out with code "timeout" when the server never answers', async () => {
  const { WebSocketServer } = await import('ws');
  const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => silent.once('listening', r));
  const received = [];
  silent.on('connection', (sock) => sock.on('message', (d) => received.push(JSON.parse(d))));
  try {
    const c = new Client(`ws://127.0.0.1:${silent.address().port}/ws`, { WebSocket, ackTimeout: 300 });
    clients.push(c);
    const t0 = Date.now();
    await assert.rejects(c.ping(), (e) => e.code === 'timeout');
    assert.ok(Date.now() - t0 >= 290);
    assert.deepEqual(received.map((m) => m.op), ['ping']);
    await c.close();
  } finally {
    silent.close();
  }
});

test('operations issued before the connection opens are sent in order once it does', async () => {
  const s = await server();
  const t = topicPrefix('order');
  const c = recordingClient(s.ws, { autoConnect: false });
  const p1 = c.subscribe(`${t}.a`);
  const p2 = c.ping();
  const p3 = c.unsubscribe(`${t}.a`);
  const p4 = c.subscribe(`${t}.b`);
  assert.equal(c._queue.length, 4);
  c.connect();
  const replies = await Promise.all([p1, p2, p3, p4]);
  const ids = replies.map((r) => r.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'replies in call order');
  await publish(s.http, `${t}.a`, 1);
  await publish(s.http, `${t}.b`, 2);
  await waitFor(() => c.got.length === 1, { message: 'message on b' });
  assert.equal(c.got[0].topic, `${t}.b`);
});

test('close rejects pending operations and stops the client', async () => {
  const { Gated, gate } = gatedWebSocket();
  gate.open = false;
  const s = await server();
  const c = recordingClient(s.ws, { WebSocket: Gated });
  const p = c.subscribe('a.b');
  await c.close();
  await assert.rejects(p, (e) => e.code === 'closed');
  await assert.rejects(c.ping(), (e) => e.code === 'closed');
  assert.equal(c.state, State.CLOSED);
  assert.equal(c.states.at(-1), State.CLOSED);
});

test('recovery: a socket cut in the middle of a stream loses nothing and duplicates nothing', async () => {
  const s = await server();
  const t = topicPrefix('cut');
  const topics = [`${t}.a`, `${t}.b`];
  await publish(s.http, topics[0], 0); // the topics exist before subscribing
  await publish(s.http, topics[1], 0);
  const c = recordingClient(s.ws);
  await c.subscribe(`${t}.*`);
  const N = 600;
  let cuts = 0;
  for (let i = 1; i <= N; i += 10) {
    const batch = [];
    for (let j = i; j < i + 10; j++) batch.push({ topic: topics[j % 2], data: { j } });
    await publishBatch(s.http, batch);
    if (i % 150 === 1 && i > 1) {
      await waitFor(() => c.state === State.OPEN, { message: 'open before the cut' });
      c.reconnect();
      cuts++;
    }
  }
  await waitFor(() => seqsOf(c, topics[0]).at(-1) === N / 2 + 1 && seqsOf(c, topics[1]).at(-1) === N / 2 + 1,
    { timeout: 20000, message: 'every message after the cuts' });
  for (const topic of topics) assert.deepEqual(seqsOf(c, topic), range(1, N / 2 + 1), `${topic}: exactly once, in order`);
  const js = c.got.filter((m) => !m.snap).map((m) => m.data.j);
  assert.deepEqual([...js].sort((a, b) => a - b), range(1, N), 'every payload once');
  assert.equal(c.stats.gaps, 0);
  assert.ok(c.stats.reconnects >= cuts && cuts === 3, `reconnects ${c.stats.reconnects}, cuts ${cuts}`);
  assert.ok(c.topicStates.filter((x) => x.recovered === true).length >= 2, 'recovered topics reported');
  assert.ok(c.topicStates.every((x) => x.recovered !== false), 'never unrecovered');
});

test('recovery: messages published while the client is disconnected are replayed', async () => {
  const { Gated, gate } = gatedWebSocket();
  const s = await server();
  const t = topicPrefix('gap');
  const c = recordingClient(s.ws, { WebSocket: Gated });
  const ok = await c.subscribe(`${t}.>`);
  await publish(s.http, `${t}.x`, 1);
  await waitFor(() => c.got.length === 1, { message: 'first message' });
  // The topic did not exist when subscribing: its recovery position carries
  // the epoch of the sub reply from the first message on.
  assert.deepEqual(c.positions()[`${t}.x`], { epoch: ok.epoch, seq: 1 });
  gate.open = false;
  c.reconnect();
  await waitFor(() => c.stats.attempts >= 2, { message: 'a failed reconnect attempt' });
  const held = c.subscribe(`${t}.late`); // buffered while disconnected
  for (let i = 2; i <= 100; i++) await publish(s.http, `${t}.x`, i);
  await publish(s.http, `${t}.late`, 'late');
  gate.open = true;
  await held;
  await waitFor(() => c.got.filter((m) => m.topic === `${t}.x`).length === 100, { message: 'replayed messages' });
  assert.deepEqual(c.got.filter((m) => m.topic === `${t}.x`).map((m) => m.data), range(1, 100));
  assert.ok(c.got.some((m) => m.topic === `${t}.late` && m.data === 'late'));
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.ok(c.topicStates.some((x) => x.topic === `${t}.x` && x.recovered === true && x.seq === 100));
});

test('recovery beyond the history: recovered:false, a snapshot, and the loss counted as a gap', async () => {
  const { Gated, gate } = gatedWebSocket();
  const s = await server({ args: ['--history-size', '10'] });
  const t = topicPrefix('hist');
  const c = recordingClient(s.ws, { WebSocket: Gated });
  await c.subscribe(`${t}.x`);
  await publish(s.http, `${t}.x`, 1);
  await waitFor(() => c.got.length === 1, { message: 'first message' });
  gate.open = false;
  c.reconnect();
  await waitFor(() => c.stats.attempts >= 2, { message: 'a failed reconnect attempt' });
  await publishBatch(s.http, range(2, 51).map((i) => ({ topic: `${t}.x`, data: i })));
  gate.open = true;
  await waitFor(() => c.got.length === 2, { message: 'snapshot after reconnect' });
  assert.equal(c.got[1].snap, true);
  assert.equal(c.got[1].seq, 51);
  assert.equal(c.got[1].data, 51);
  assert.ok(c.topicStates.some((x) => x.recovered === false && x.seq === 51));
  assert.equal(c.stats.gaps, 1);
  assert.equal(c.stats.missed, 49);
});

test('server restart: reconnects by itself, recovered:false with a new epoch, new messages delivered', async () => {
  const { Gated, gate } = gatedWebSocket();
  let s = await server();
  const port = s.port;
  const t = topicPrefix('restart');
  const c = recordingClient(s.ws, { WebSocket: Gated });
  const resets = [];
  c.on('reset', (topic, info) => resets.push({ topic, ...info }));
  await c.subscribe([`${t}.a`, `${t}.b`]);
  for (let i = 1; i <= 5; i++) await publish(s.http, `${t}.a`, i);
  await publish(s.http, `${t}.b`, 'b1');
  await waitFor(() => c.got.length === 6, { message: 'messages before the restart' });
  const epoch1 = c.positions()[`${t}.a`].epoch;
  assert.equal(c.positions()[`${t}.a`].seq, 5);

  gate.open = false;
  await s.kill();
  await waitFor(() => c.state === State.RECONNECTING, { message: 'reconnecting state' });
  s = await server({ port });
  // On the new server only topic a exists again, with a lower seq than before.
  await publish(s.http, `${t}.a`, 'after restart');
  gate.open = true;
  await waitFor(() => c.state === State.OPEN && c.got.length === 7, { timeout: 15000, message: 'reconnect and snapshot' });
  const snap = c.got[6];
  assert.equal(snap.topic, `${t}.a`);
  assert.equal(snap.data, 'after restart');
  assert.equal(snap.snap, true);
  assert.equal(snap.seq, 1);
  assert.notEqual(snap.epoch, epoch1);
  const st = c.topicStates.at(-1);
  assert.equal(st.recovered, false);
  assert.notEqual(st.epoch, epoch1);
  assert.deepEqual(resets.map((r) => r.topic).sort(), [`${t}.a`, `${t}.b`]);
  // Topic b restarts at seq 1 on the new server: not mistaken for a duplicate.
  await publish(s.http, `${t}.b`, 'b after restart');
  await publish(s.http, `${t}.a`, 'a2');
  await waitFor(() => c.got.length === 9, { message: 'live messages after the restart' });
  assert.deepEqual(c.got.slice(7).map((m) => [m.topic, m.seq, m.data]),
    [[`${t}.b`, 1, 'b after restart'], [`${t}.a`, 2, 'a2']]);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.epochChanges, 2);
  assert.ok(c.stats.reconnects >= 1);
});
