// Conflation and rate limits seen through the reference client (web/c1m.js)
// against the real server: a client that stops reading ends on the latest
// value of every topic with the jumps counted as skipped, not as gaps; a
// maxRate subscription gets at most rate*duration+2 messages and the last one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, State } from '../../web/c1m.js';
import { startServer, waitFor, publish, publishBatch, metric, topicPrefix, testFixtures } from './lib/server.js';

// Servers started by server() and clients pushed on clients are stopped
// after the file's tests.
const { server, servers, clients } = testFixtures();

function recordingClient(url, opts = {}) {
  const c = new Client(`${url}/ws`, { WebSocket, backoffInitial: 50, backoffMax: 400, ackTimeout: 5000, ...opts });
  clients.push(c);
  c.got = [];
  c.states = [];
  c.on('message', (topic, data, meta) => c.got.push({ topic, data, at: Date.now(), ...meta }));
  c.on('state', (s) => c.states.push(s));
  return c;
}

// PlainWebSocket is ws without the permessage-deflate offer.
class PlainWebSocket extends WebSocket {
  constructor(url, protocols, opts) { super(url, protocols, { ...opts, perMessageDeflate: false }); }
}

const seqsOf = (c, topic) => c.got.filter((m) => m.topic === topic).map((m) => m.seq);
const increasing = (a) => a.every((v, i) => i === 0 || v > a[i - 1]);

test('conflate: a client that stops reading ends on the latest value of every topic; jumps are skipped, not gaps', async (ctx) => {
  const s = await server();
  const t = topicPrefix('conf');
  const topics = ['a', 'b', 'c', 'd'].map((x) => `${t}.${x}`);
  // Without permessage-deflate: the padding must fill the socket buffers,
  // and compressed it would not.
  const c = recordingClient(s.ws, { WebSocket: PlainWebSocket });
  await c.subscribe(topics, { conflate: true });
  // One message per topic while reading, so every later jump is measured
  // against a known seq. data.n is the topic's seq.
  const last = Object.fromEntries(topics.map((tp) => [tp, 0]));
  const pad = 'x'.repeat(8000);
  const round = async (perTopic) => {
    const batch = [];
    for (let k = 0; k < perTopic; k++) for (const tp of topics) batch.push({ topic: tp, data: { n: ++last[tp], pad } });
    const { seqs } = await publishBatch(s.http, batch);
    assert.deepEqual(seqs, batch.map((m) => m.data.n), 'server seqs follow data.n');
  };
  await round(1);
  await waitFor(() => c.got.length === topics.length, { message: 'the first message of every topic' });

  // Stop reading: ws pauses the TCP socket, the kernel buffers fill and the
  // server queues, where conflation keeps one unsent message per topic.
  const ws = c._ws;
  ws.pause();
  const pausedAt = Date.now();
  let rounds = 0;
  await waitFor(async () => {
    await round(10);
    rounds++;
    return (await metric(s.http, 'c1m_backlogged_connections')) >= 1;
  }, { timeout: 8000, interval: 0, message: 'the server backlogged on the paused connection' });
  for (let i = 0; i < 20; i++) await round(10); // 200 more per topic, all while backlogged
  const published = Object.values(last).reduce((a, b) => a + b, 0);
  const pausedFor = Date.now() - pausedAt;
  assert.ok(pausedFor < 8000, `paused ${pausedFor}ms, under the server's 10s write timeout`);
  ws.resume();

  await waitFor(() => topics.every((tp) => c.got.findLast((m) => m.topic === tp)?.data.n === last[tp]),
    { timeout: 20000, message: 'the latest value of every topic' });
  for (const tp of topics) {
    const seqs = seqsOf(c, tp);
    assert.ok(increasing(seqs), `${tp}: seqs strictly increasing`);
    assert.equal(seqs.at(-1), last[tp]);
  }
  assert.ok(c.got.every((m) => m.data.n === m.seq && !m.snap), 'every message carries the data of its seq');
  assert.ok(c.stats.delivered < published, `conflated: ${c.stats.delivered} delivered of ${published} published`);
  assert.equal(c.stats.skipped + c.stats.delivered, published, 'every publish either delivered or counted as skipped');
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.missed, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.reconnects, 0);
  assert.deepEqual(c.states, [State.OPEN], 'the connection never dropped');
  assert.equal(c._ws, ws);
  assert.equal(await metric(s.http, 'c1m_connections'), 1);
  // The connection still works in both directions after the burst.
  assert.equal((await c.ping()).op, 'ok');
  await publish(s.http, topics[0], { n: ++last[topics[0]] });
  await waitFor(() => c.got.at(-1).data.n === last[topics[0]], { message: 'a live message after the burst' });
  assert.equal(c.stats.gaps, 0);
  ctx.diagnostic(`published ${published} in ${rounds} rounds until backlog + 20, delivered ${c.stats.delivered}, skipped ${c.stats.skipped}`);
});

test('maxRate: at most rate*duration+2 messages per topic, ending on the latest value', async (ctx) => {
  const s = await server();
  const t = topicPrefix('rate');
  const topics = [`${t}.a`, `${t}.b`];
  const rate = 5;
  const c = recordingClient(s.ws);
  const t0 = Date.now();
  await c.subscribe(topics, { maxRate: rate });
  const last = Object.fromEntries(topics.map((tp) => [tp, 0]));
  // About 2 seconds of publishing, ~150 updates/s per topic.
  const end = Date.now() + 2000;
  while (Date.now() < end) {
    await publishBatch(s.http, topics.map((tp) => ({ topic: tp, data: { n: ++last[tp] } })));
    await new Promise((r) => setTimeout(r, 5)); // pacing the publisher, not synchronisation
  }
  await waitFor(() => topics.every((tp) => c.got.findLast((m) => m.topic === tp)?.data.n === last[tp]),
    { timeout: 10000, message: 'the last value of the burst' });
  const duration = (Math.max(...c.got.map((m) => m.at)) - t0) / 1000;
  for (const tp of topics) {
    const seqs = seqsOf(c, tp);
    assert.ok(last[tp] >= 100, `${tp}: ${last[tp]} published`);
    assert.ok(seqs.length <= rate * duration + 2, `${tp}: ${seqs.length} messages in ${duration}s at maxRate ${rate}`);
    assert.ok(seqs.length >= 3, `${tp}: delivered along the burst, not only at its end (${seqs.length})`);
    assert.ok(increasing(seqs), `${tp}: seqs strictly increasing`);
    assert.equal(seqs.at(-1), last[tp]);
  }
  assert.ok(c.got.every((m) => m.data.n === m.seq));
  assert.equal(c.stats.skipped + c.stats.delivered, last[topics[0]] + last[topics[1]] - (seqsOf(c, topics[0])[0] - 1) - (seqsOf(c, topics[1])[0] - 1),
    'every jump counted as skipped');
  assert.ok(c.stats.skipped > 0);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.reconnects, 0);
  ctx.diagnostic(`${topics.map((tp) => `${seqsOf(c, tp).length} of ${last[tp]}`).join(', ')} delivered in ${duration}s`);
});
