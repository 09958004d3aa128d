// Socket.IO over WebSocket and through the polling -> WebSocket upgrade, with
// the official socket.io-client, unmodified and with its default options,
// against the real server at /socket.io/ (the reactor routes the upgrades to
// the WebSocket transport and the plain requests to polling, on one path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { waitFor, publish, testFixtures } from './lib/server.js';

const { server } = testFixtures();
const sockets = [];
process.on('exit', () => { for (const s of sockets) s.disconnect(); });

function connect(srv, path = '', opts = {}) {
  const s = io(srv.http + path, { reconnectionDelay: 50, reconnectionDelayMax: 200, ...opts });
  sockets.push(s);
  s.got = [];
  s.on('msg', (m) => s.got.push(m));
  return s;
}

const connected = (s) => (s.connected ? Promise.resolve() : new Promise((resolve, reject) => {
  s.once('connect', resolve);
  s.once('connect_error', reject);
}));

let n = 0;
const topicName = (what) => `sioh${process.pid}x${n++}.${what}`;

test('websocket only: subscribe, deliveries, binary both ways', async () => {
  const h = await server({ args: ['--client-publish'] });
  const s = connect(h, '', { transports: ['websocket'] });
  await connected(s);
  assert.equal(s.io.engine.transport.name, 'websocket');
  const topic = topicName('ws');
  const ok = await s.timeout(5000).emitWithAck('subscribe', { topics: [topic] });
  assert.equal(ok.op, 'ok');
  for (let i = 1; i <= 20; i++) await publish(h.http, topic, { i });
  const bytes = Buffer.from([9, 8, 7, 0, 255]);
  assert.deepEqual(await s.timeout(5000).emitWithAck('publish', { topic, data: bytes }), { op: 'ok' });
  await waitFor(() => s.got.length === 21, { message: '21 deliveries' });
  assert.deepEqual(s.got.slice(0, 20).map((m) => m.data.i), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(s.got[20].binary, true);
  assert.ok(Buffer.from(s.got[20].data).equals(bytes));
  s.disconnect();
});

test('polling upgraded to websocket under a continuous stream: nothing lost or duplicated', async () => {
  const h = await server();
  const topic = topicName('up');
  let publishing = true;
  let sent = 0;
  const pump = (async () => {
    while (publishing) {
      await publish(h.http, topic, ++sent);
    }
  })();
  const s = connect(h);
  let opened; // the transport the session opened with (the upgrade may follow at once)
  const upgraded = new Promise((resolve) => s.io.on('open', () => {
    opened = s.io.engine.transport.name;
    s.io.engine.once('upgrade', (tr) => resolve(tr.name));
  }));
  try {
    await connected(s);
    assert.equal(opened, 'polling', 'opens over polling');
    const ok = await s.timeout(5000).emitWithAck('subscribe', topic);
    assert.equal(ok.op, 'ok');
    assert.equal(await upgraded, 'websocket');
    await waitFor(() => s.got.length > 0 && s.got.at(-1).seq > sent / 2 + 20, { message: 'stream continues after the upgrade' });
  } finally {
    publishing = false; // a failed assertion must not leave the pump running
    await pump;
  }
  await waitFor(() => s.got.length > 0 && s.got.at(-1).seq === sent, { message: `all ${sent} messages` });
  const seqs = s.got.map((m) => m.seq);
  const first = seqs[0];
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => first + i), 'consecutive seqs');
  console.log(`${seqs.length} deliveries (seq ${first}..${sent}) across the upgrade`);
  assert.equal(s.io.engine.transport.name, 'websocket');
  s.disconnect();
});

test('two namespaces on one WebSocket', async () => {
  const h = await server({ args: ['--sio-namespaces', '/,/md'] });
  const topic = topicName('ns');
  const root = connect(h, '', { transports: ['websocket'] });
  const md = connect(h, '/md', { transports: ['websocket'] });
  await Promise.all([connected(root), connected(md)]);
  assert.equal(root.io.engine.id, md.io.engine.id);
  await Promise.all([root.timeout(5000).emitWithAck('subscribe', topic), md.timeout(5000).emitWithAck('subscribe', topic)]);
  await publish(h.http, topic, 'x');
  await waitFor(() => root.got.length === 1 && md.got.length === 1, { message: 'both namespaces' });
  root.disconnect();
  md.disconnect();
});

test('heartbeat: the client answers the server pings and stays connected', async () => {
  const h = await server({ args: ['--eio-ping-interval', '100ms', '--eio-ping-timeout', '200ms'] });
  for (const transports of [['websocket'], ['polling']]) {
    const s = connect(h, '', { transports, reconnection: false });
    await connected(s);
    let pings = 0;
    s.io.engine.on('ping', () => pings++);
    await waitFor(() => pings >= 4, { message: `${transports}: 4 pings (every 100 ms)` });
    assert.ok(s.connected, `${transports}: still connected`);
    s.disconnect();
  }
});

test('reconnection after a server-side cut over websocket', async () => {
  const h = await server();
  const topic = topicName('cut');
  const s = connect(h, '', { transports: ['websocket'] });
  let connects = 0;
  s.on('connect', () => { connects++; s.emit('subscribe', topic); });
  await connected(s);
  const sid = s.io.engine.id;
  s.emit('too big', 'x'.repeat(1_100_000)); // over maxPayload: the server closes the session
  await waitFor(() => connects === 2, { message: 'reconnected' });
  assert.notEqual(s.io.engine.id, sid);
  await waitFor(async () => { await publish(h.http, topic, 1); return s.got.length > 0; }, { message: 'delivery after reconnect' });
  s.disconnect();
});
