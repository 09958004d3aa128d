// Socket.IO connection state recovery (Socket.IO 4.6+) with the official
// socket.io-client, unmodified, through a TCP proxy that cuts connections:
// a 10,000-message stream on several topics cut twice mid-flight is
// recovered (socket.recovered === true) with zero lost and zero duplicated
// deliveries, over WebSocket, over HTTP long-polling, and over polling
// upgraded to WebSocket (each session upgrades again); a cut longer than
// --sio-recovery, and a restart, give socket.recovered === false and the
// client subscribes again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { waitFor, publish, publishBatch, topicPrefix, testFixtures, startServer } from './lib/server.js';
import { startProxy } from './lib/proxy.js';

const { server, servers } = testFixtures();

// client connects through the proxy; it subscribes to topics on every
// connect that is not a recovery, and records every delivery per topic.
function client(url, topics, opts) {
  const s = io(url, { reconnectionDelay: 50, reconnectionDelayMax: 200, ...opts });
  s.got = Object.fromEntries(topics.map((t) => [t, []]));
  s.connects = []; // socket.recovered at each connect
  s.offsets = 0;
  s.disconnects = 0;
  s.on('disconnect', () => { s.disconnects++; });
  s.on('msg', (m, offset) => {
    s.got[m.topic].push(m.seq);
    if (typeof offset === 'string') s.offsets++;
  });
  s.on('connect', () => {
    s.connects.push(s.recovered);
    if (!s.recovered) s.subscribed = s.timeout(5000).emitWithAck('subscribe', topics);
  });
  return s;
}

const total = (s) => Object.values(s.got).reduce((n, a) => n + a.length, 0);

function assertExact(s, topics, perTopic) {
  for (const t of topics) {
    const seqs = s.got[t];
    const bad = seqs.findIndex((q, i) => q !== i + 1);
    assert.equal(bad, -1, `${t}: delivery ${bad} has seq ${seqs[bad]}, want ${bad + 1} (lost or duplicated)`);
    assert.equal(seqs.length, perTopic, `${t}: ${seqs.length} deliveries, want ${perTopic}`);
  }
}

for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
  test(`recovery over a 10,000-message stream cut twice mid-flight (${transports.join(' then ')})`, async (t) => {
    const srv = await server({ args: ['--history-size', '10000', '--sio-recovery-log', '8192'] });
    const proxy = await startProxy(srv.port);
    const pre = topicPrefix('csr');
    const topics = ['a', 'b', 'c', 'd'].map((x) => `${pre}.${x}`);
    const s = client(proxy.http, topics, { transports });
    t.after(() => s.disconnect());
    await waitFor(() => s.connects.length === 1, { message: 'connected' });
    assert.equal(s.connects[0], false);
    const ok = await s.subscribed;
    assert.equal(ok.op, 'ok');

    const N = 10000;
    const batch = 40;
    const cutsAt = [3000, 6500];
    let cuts = 0;
    for (let i = 0; i < N; i += batch) {
      const items = [];
      for (let j = i; j < i + batch; j++) items.push({ topic: topics[j % topics.length], data: j });
      await publishBatch(srv.http, items);
      if (cuts < cutsAt.length && i + batch >= cutsAt[cuts]) {
        // Mid-flight: deliveries are queued and on the wire. A polling
        // client may have no request on the connection cut (an idle
        // keep-alive one): cut until the client notices.
        const before = s.disconnects;
        await waitFor(() => {
          if (s.disconnects > before) return true;
          proxy.cut();
          return false;
        }, { interval: 20, message: 'the client cut off' });
        cuts++;
      }
    }
    await waitFor(() => total(s) >= N && s.connects.length === 3, { timeout: 60000, message: `all ${N} deliveries after two recoveries (got ${total(s)}, connects ${JSON.stringify(s.connects)})` });
    assert.deepEqual(s.connects, [false, true, true], 'socket.recovered at each connect');
    assertExact(s, topics, N / topics.length);
    assert.equal(s.offsets, N, 'every delivery carries an offset');
    // Nothing more comes (no duplicate arriving late): one more live message
    // per topic is the next seq.
    for (const tp of topics) await publish(srv.http, tp, 'last');
    await waitFor(() => total(s) >= N + topics.length, { message: 'live after recovery' });
    assertExact(s, topics, N / topics.length + 1);
  });
}

test('a cut longer than --sio-recovery: socket.recovered === false, the client subscribes again', async (t) => {
  const srv = await server({ args: ['--sio-recovery', '300ms'] });
  const proxy = await startProxy(srv.port);
  const topic = `${topicPrefix('csr')}.x`;
  const s = client(proxy.http, [topic], { transports: ['websocket'] });
  t.after(() => s.disconnect());
  await waitFor(() => s.connects.length === 1, { message: 'connected' });
  await s.subscribed;
  await publish(srv.http, topic, 1);
  await waitFor(() => s.got[topic].length === 1, { message: 'first delivery' });
  proxy.refuse = true;
  proxy.cut();
  const cutAt = Date.now();
  await publish(srv.http, topic, 2);
  // The server's bound is time itself: wait past it (and a reconnection
  // attempt refused after it) before letting the client through.
  await waitFor(() => Date.now() - cutAt > 900 && proxy.refused >= 2, { timeout: 15000, message: 'the bound passed' });
  proxy.refuse = false;
  await waitFor(() => s.connects.length === 2, { timeout: 15000, message: 'reconnected' });
  assert.equal(s.connects[1], false, 'not recovered');
  const ok = await s.subscribed;
  assert.equal(ok.topics[topic].seq, 2);
  await waitFor(() => s.got[topic].length === 2, { message: 'the snapshot after resubscribing' });
  assert.deepEqual(s.got[topic], [1, 2]);
});

test('a restart: socket.recovered === false, the client subscribes again', async (t) => {
  const first = await server();
  const proxy = await startProxy(first.port);
  const topic = `${topicPrefix('csr')}.r`;
  const s = client(proxy.http, [topic], { transports: ['websocket'] });
  t.after(() => s.disconnect());
  await waitFor(() => s.connects.length === 1, { message: 'connected' });
  await s.subscribed;
  await publish(first.http, topic, 1);
  await waitFor(() => s.got[topic].length === 1, { message: 'first delivery' });
  const second = await startServer({ args: ['--demo=false'] });
  servers.push(second);
  await publish(second.http, topic, 'new');
  proxy.target = second.port;
  await first.kill();
  proxy.cut();
  await waitFor(() => s.connects.length === 2, { timeout: 15000, message: 'reconnected to the new server' });
  assert.equal(s.connects[1], false, 'not recovered');
  const ok = await s.subscribed;
  assert.equal(ok.op, 'ok');
  await waitFor(() => s.got[topic].length === 2, { message: 'the new server\'s snapshot' });
});
