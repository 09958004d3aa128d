// Socket.IO: the official socket.io-client (pinned in package.json), unmodified,
// against the real server at /socket.io/: connect, subscribe with acks,
// deliveries as "msg" events carrying the native delivery object, binary
// publishes and deliveries, two namespaces on one connection, refusals, and
// reconnection after a server-side cut and after a restart, over HTTP
// long-polling (transports: ['polling']); socketio-websocket.test.js covers
// WebSocket and the upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { waitFor, publish, publishBytes, topicPrefix, testFixtures, startServer } from './lib/server.js';

const { server, servers } = testFixtures();
const sockets = [];
process.on('exit', () => { for (const s of sockets) s.disconnect(); });

function connect(url, opts = {}) {
  const s = io(url, { transports: ['polling'], reconnectionDelay: 50, reconnectionDelayMax: 200, ...opts });
  sockets.push(s);
  s.got = [];
  s.on('msg', (m) => s.got.push(m));
  return s;
}

const connected = (s) => (s.connected ? Promise.resolve() : new Promise((resolve, reject) => {
  s.once('connect', resolve);
  s.once('connect_error', reject);
}));

test('polling: subscribe is acked with the native ok, deliveries are msg events', async (t) => {
  const srv = await server();
  const topic = topicPrefix('sio') + '.AAPL';
  await publish(srv.http, topic, { bid: 1 });
  const s = connect(srv.http);
  t.after(() => s.disconnect());
  await connected(s);
  assert.equal(s.io.engine.transport.name, 'polling');
  const ok = await s.timeout(5000).emitWithAck('subscribe', { topics: [topic] });
  assert.equal(ok.op, 'ok');
  assert.equal(typeof ok.epoch, 'string');
  assert.deepEqual(ok.topics[topic], { epoch: ok.epoch, seq: 1 });
  await waitFor(() => s.got.length === 1, { message: 'snapshot' });
  assert.deepEqual({ ...s.got[0], ts: 0 }, { op: 'msg', topic, seq: 1, ts: 0, snap: true, data: { bid: 1 } });
  for (let i = 2; i <= 50; i++) await publish(srv.http, topic, { bid: i });
  await waitFor(() => s.got.length === 50, { message: '50 messages' });
  assert.deepEqual(s.got.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.deepEqual(s.got.map((m) => m.data.bid), Array.from({ length: 50 }, (_, i) => i + 1));

  // Recovery with since, as the native sub does.
  const again = await s.timeout(5000).emitWithAck('subscribe', { topics: [topic], since: { [topic]: { epoch: ok.epoch, seq: 48 } } });
  assert.equal(again.topics[topic].recovered, true);
  await waitFor(() => s.got.length === 52, { message: 'recovered 49 and 50' });
  assert.deepEqual(s.got.slice(50).map((m) => m.seq), [49, 50]);

  assert.deepEqual(await s.timeout(5000).emitWithAck('unsubscribe', topic), { op: 'ok' });
  await publish(srv.http, topic, { bid: 51 });
  const bad = await s.timeout(5000).emitWithAck('subscribe', 'md..x');
  assert.equal(bad.op, 'err');
  assert.equal(bad.code, 422);
  assert.equal(s.got.length, 52, 'nothing after unsubscribe');
});

test('default transports: the client opens over polling and upgrades to websocket', async (t) => {
  const srv = await server();
  const s = io(srv.http, { reconnection: false });
  sockets.push(s);
  t.after(() => s.disconnect());
  const upgraded = new Promise((resolve) => s.io.on('open', () => s.io.engine.once('upgrade', (tr) => resolve(tr.name))));
  await connected(s);
  const ok = await s.timeout(5000).emitWithAck('subscribe', 'x.y');
  assert.equal(ok.op, 'ok');
  assert.equal(await upgraded, 'websocket');
  assert.equal(s.io.engine.transport.name, 'websocket');
});

test('acks time out for an event nobody answers; the server acks subscribe within the timeout', async (t) => {
  const srv = await server();
  const s = connect(srv.http);
  t.after(() => s.disconnect());
  await connected(s);
  await assert.rejects(s.timeout(300).emitWithAck('nobody-listens', 1), /operation has timed out/);
  const ok = await s.timeout(2000).emitWithAck('subscribe', ['a.b', 'c.*']);
  assert.equal(ok.op, 'ok');
  assert.ok(s.connected, 'an unanswered event does not harm the connection');
});

// The conformance listener's "server-ack" event makes the server emit with an
// ack and a timeout (socket.timeout(ms).emit on the reference server).
for (const transports of [['polling'], ['websocket']]) {
  test(`server-to-client acks with a timeout: answered, then left unanswered (${transports})`, async (t) => {
    const srv = await server({ args: ['--conformance-addr', '127.0.0.1:0'] });
    const m = await waitFor(() => /conformance_addr=127\.0\.0\.1:(\d+)/.exec(srv.stderr()), { message: 'the conformance listener' });
    const s = connect(`http://127.0.0.1:${m[1]}`, { transports });
    t.after(() => s.disconnect());
    await connected(s);
    const results = [];
    s.on('server-ack-result', (r) => results.push(r));
    let answer = true;
    s.on('server-ack-question', (...args) => {
      const cb = args.pop();
      if (answer) cb({ got: args }, 'second');
    });
    s.emit('server-ack', 2000, 'q', 1);
    await waitFor(() => results.length === 1, { message: 'the answered ack result' });
    assert.deepEqual(results[0], { args: [{ got: ['q', 1] }, 'second'] });
    answer = false;
    const asked = Date.now();
    s.emit('server-ack', 200, 'never');
    await waitFor(() => results.length === 2, { message: 'the timed-out ack result' });
    assert.deepEqual(results[1], { error: 'operation has timed out' });
    assert.ok(Date.now() - asked >= 190, 'the server waited for its timeout');
    assert.ok(s.connected, 'an unanswered ack does not harm the connection');
  });
}

test('binary: a Buffer published with emit arrives as a binary attachment of msg', async (t) => {
  const srv = await server({ args: ['--client-publish'] });
  const topic = topicPrefix('sio') + '.bin';
  const s = connect(srv.http);
  t.after(() => s.disconnect());
  await connected(s);
  await s.timeout(5000).emitWithAck('subscribe', topic);
  const payload = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  assert.deepEqual(await s.timeout(5000).emitWithAck('publish', { topic, data: payload }), { op: 'ok' });
  assert.deepEqual(await s.timeout(5000).emitWithAck('publish', { topic, data: { json: true } }), { op: 'ok' });
  await publishBytes(srv.http, topic, Buffer.from('over http'));
  await waitFor(() => s.got.length === 3, { message: 'three deliveries' });
  const [a, b, c] = s.got;
  assert.equal(a.binary, true);
  assert.ok(Buffer.from(a.data).equals(payload), `binary data ${a.data}`);
  assert.equal(a.seq, 1);
  assert.deepEqual(b.data, { json: true });
  assert.equal(b.seq, 2);
  assert.equal(Buffer.from(c.data).toString(), 'over http');
  const denied = await s.timeout(5000).emitWithAck('publish', { topic: 'a..b', data: 1 });
  assert.equal(denied.code, 422);
});

test('publishing: off by default, and with a publish token only for sockets whose auth carries it', async (t) => {
  const off = await server();
  const s0 = connect(off.http);
  t.after(() => s0.disconnect());
  await connected(s0);
  assert.equal((await s0.timeout(5000).emitWithAck('publish', { topic: 'a.b', data: 1 })).code, 403);

  const srv = await server({ args: ['--client-publish', '--publish-token', 'sekrit'] });
  const anon = connect(srv.http);
  const authed = connect(srv.http, { auth: { token: 'sekrit' } });
  t.after(() => { anon.disconnect(); authed.disconnect(); });
  await Promise.all([connected(anon), connected(authed)]);
  assert.equal((await anon.timeout(5000).emitWithAck('publish', { topic: 'a.b', data: 1 })).code, 401);
  assert.deepEqual(await authed.timeout(5000).emitWithAck('publish', { topic: 'a.b', data: 1 }), { op: 'ok' });
});

test('two namespaces multiplexed on one connection, each subscribed on its own', async (t) => {
  const srv = await server({ args: ['--sio-namespaces', '/,/md'] });
  const topic = topicPrefix('sio') + '.ns';
  const root = connect(srv.http);
  const md = connect(`${srv.http}/md`);
  t.after(() => { root.disconnect(); md.disconnect(); });
  await Promise.all([connected(root), connected(md)]);
  assert.equal(root.io, md.io, 'one Manager');
  assert.equal(root.io.engine.id, md.io.engine.id, 'one Engine.IO session');
  await md.timeout(5000).emitWithAck('subscribe', topic);
  await publish(srv.http, topic, 1);
  await waitFor(() => md.got.length === 1, { message: '/md delivery' });
  assert.equal(root.got.length, 0, '/ did not subscribe');
  await root.timeout(5000).emitWithAck('subscribe', topic);
  await publish(srv.http, topic, 2);
  await waitFor(() => md.got.length === 2 && root.got.length === 2, { message: 'both' });
  assert.deepEqual(root.got.map((m) => [m.seq, m.snap === true]), [[1, true], [2, false]]);
  assert.deepEqual(md.got.map((m) => [m.seq, m.snap === true]), [[1, false], [2, false]]);
  md.disconnect();
  await publish(srv.http, topic, 3);
  await waitFor(() => root.got.length === 3, { message: '/ after /md left' });
  assert.ok(root.connected);
  assert.equal(md.got.length, 2);

  const nope = io(`${srv.http}/nope`, { transports: ['polling'], reconnection: false });
  sockets.push(nope);
  const err = await new Promise((resolve) => nope.once('connect_error', resolve));
  assert.equal(err.message, 'Invalid namespace');
  nope.disconnect();
});

test('reconnection after a server-side cut: the client reconnects and resubscribes', async (t) => {
  const srv = await server({ args: ['--eio-max-payload', '2000'] });
  const topic = topicPrefix('sio') + '.cut';
  const s = connect(srv.http);
  t.after(() => s.disconnect());
  let connects = 0;
  s.on('connect', () => { connects++; s.emit('subscribe', topic); });
  await connected(s);
  const firstSid = s.io.engine.id;
  await waitFor(async () => { await publish(srv.http, topic, 'one'); return s.got.length > 0; }, { message: 'first delivery' });
  const reasons = [];
  s.on('disconnect', (r) => reasons.push(r));
  s.emit('too big', 'x'.repeat(5000)); // over maxPayload: the server closes the session
  await waitFor(() => connects === 2, { message: 'reconnected' });
  assert.notEqual(s.io.engine.id, firstSid);
  assert.match(reasons[0], /transport (error|close)/);
  const before = s.got.length;
  await waitFor(async () => { await publish(srv.http, topic, 'two'); return s.got.length > before; }, { message: 'delivery after reconnect' });
});

test('reconnection after a restart on the same port', async (t) => {
  const first = await server();
  const port = first.port;
  const topic = topicPrefix('sio') + '.restart';
  const s = connect(first.http);
  t.after(() => s.disconnect());
  let connects = 0;
  s.on('connect', () => { connects++; s.emit('subscribe', topic); });
  await connected(s);
  await waitFor(async () => { await publish(first.http, topic, 1); return s.got.length > 0; }, { message: 'before restart' });
  await first.kill();
  const second = await startServer({ port, args: ['--demo=false'] });
  servers.push(second);
  await waitFor(() => connects === 2, { timeout: 15000, message: 'reconnected to the new server' });
  const before = s.got.length;
  await waitFor(async () => { await publish(second.http, topic, 2); return s.got.length > before; }, { message: 'after restart' });
  assert.equal(s.got.at(-1).seq >= 1, true);
});
