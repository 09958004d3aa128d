// Server-Sent Events in Node against the real server: the "eventsource"
// package (what a browser's EventSource does) on GET /sse, and the reference
// client's SSE transport. Connections are cut under the client by a TCP proxy
// (lib/proxy.js) in the middle of a stream; the server is restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { Client, C1MError, State, Transport } from '../../web/c1m.js';
import { waitFor, publish, publishBatch, publishBytes, topicPrefix, testFixtures } from './lib/server.js';
import { startProxy, header, query } from './lib/proxy.js';

const { server, clients } = testFixtures();

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Opens an EventSource and records everything it dispatches. */
function openES(url) {
  const es = new EventSource(url);
  const r = { es, subs: [], msgs: [], errors: [], opens: 0 };
  es.addEventListener('open', () => r.opens++);
  es.addEventListener('sub', (ev) => r.subs.push({ ...JSON.parse(ev.data), lastEventId: ev.lastEventId, at: r.msgs.length }));
  es.addEventListener('message', (ev) => r.msgs.push({ ...JSON.parse(ev.data), id: ev.lastEventId }));
  es.addEventListener('error', (ev) => r.errors.push({ code: ev.code, message: ev.message, readyState: es.readyState }));
  return r;
}

/** Parses an event id "epoch/topic=seq,..." into {epoch, pos: {topic: seq}}. */
function parseId(id) {
  const [epoch, pairs] = id.split('/');
  const pos = {};
  for (const p of pairs ? pairs.split(',') : []) {
    const i = p.lastIndexOf('=');
    pos[p.slice(0, i)] = Number(p.slice(i + 1));
  }
  return { epoch, pos };
}

/** Seqs per topic of the non-snapshot deliveries in list. */
function seqsByTopic(list) {
  const out = {};
  for (const m of list) if (!m.snap) (out[m.topic] ||= []).push(m.seq);
  return out;
}

/** A c1m.js client over SSE that records every delivery. */
function sseClient(url, opts = {}, path = '/sse') {
  const c = new Client(`${url}${path}`, {
    transport: 'sse', EventSource, backoffInitial: 50, backoffMax: 400, ackTimeout: 5000, ...opts,
  });
  clients.push(c);
  c.got = [];
  c.states = [];
  c.topicStates = [];
  c.errors = [];
  c.on('message', (topic, data, meta) => c.got.push({ topic, data, ...meta }));
  c.on('state', (s, info) => c.states.push({ s, ...info }));
  c.on('topic', (topic, st) => c.topicStates.push({ topic, ...st }));
  c.on('error', (e) => c.errors.push(e));
  return c;
}

/**
 * Publishes total messages round robin over topics, in HTTP batches of
 * size; between batches calls between(i) (i = messages published so far).
 */
async function publishSpread(base, topics, total, size, between = async () => {}) {
  for (let i = 0; i < total; i += size) {
    const n = Math.min(size, total - i);
    await publishBatch(base, Array.from({ length: n }, (_, k) => ({ topic: topics[(i + k) % topics.length], data: { i: i + k } })));
    await between(i + n);
  }
}

// ---- the eventsource package: what a browser's EventSource sees --------------

test('GET /sse framing: retry, the sub event, then each delivery with an id naming every topic', async () => {
  const s = await server();
  const t = topicPrefix('frame');
  await publish(s.http, `${t}.a`, { bid: 1 });
  await publishBytes(s.http, `${t}.b`, Uint8Array.from([0xff, 0, 7]));

  // The raw bytes start with the retry field and the sub event.
  const ctl = new AbortController();
  const res = await fetch(`${s.http}/sse?topics=${t}.a`, { signal: ctl.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const reader = res.body.getReader();
  let raw = '';
  while (!/\n\n[^]*\n\n[^]*\n\n/.test(raw)) raw += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
  assert.match(raw, /^retry: \d+\n\nevent: sub\ndata: \{"op":"ok","epoch":"[^"]+","topics":\{[^\n]*\}\n\ndata: \{"op":"msg","topic":"[^"]+","seq":1,"ts":\d+,"snap":true,"data":\{"bid":1\}\}\nid: [^/\n]+\/[^\n]+=1\n\n/);

  const r = openES(`${s.http}/sse?topics=${t}.a,${t}.b,${t}.*`);
  await waitFor(() => r.msgs.length === 2, { message: 'two snapshots' });
  const sub = r.subs[0];
  assert.equal(sub.op, 'ok');
  assert.equal(typeof sub.epoch, 'string');
  assert.deepEqual(sub.topics, { [`${t}.a`]: { epoch: sub.epoch, seq: 1 }, [`${t}.b`]: { epoch: sub.epoch, seq: 1 } });
  const byTopic = Object.fromEntries(r.msgs.map((m) => [m.topic, m]));
  assert.deepEqual(byTopic[`${t}.a`].data, { bid: 1 });
  assert.equal(byTopic[`${t}.a`].snap, true);
  assert.equal(byTopic[`${t}.b`].binary, true);
  assert.equal(byTopic[`${t}.b`].data, Buffer.from([0xff, 0, 7]).toString('base64'));
  assert.deepEqual(parseId(r.msgs[1].id), { epoch: sub.epoch, pos: { [`${t}.a`]: 1, [`${t}.b`]: 1 } });

  await publish(s.http, `${t}.c`, [1, 2]);
  await publish(s.http, `${t}.a`, { bid: 2 });
  await waitFor(() => r.msgs.length === 4, { message: 'live deliveries' });
  assert.deepEqual(r.msgs.slice(2).map((m) => [m.topic, m.seq, m.snap, m.data]),
    [[`${t}.c`, 1, undefined, [1, 2]], [`${t}.a`, 2, undefined, { bid: 2 }]]);
  assert.deepEqual(parseId(r.msgs[3].id).pos, { [`${t}.a`]: 2, [`${t}.b`]: 1, [`${t}.c`]: 1 });
  r.es.close();
});

test('GET /sse refusals close the EventSource for good (it never retries a non-200 answer)', async () => {
  const s = await server();
  const r = openES(`${s.http}/sse?topics=md..x`);
  await waitFor(() => r.errors.length === 1, { message: 'error event' });
  assert.equal(r.errors[0].code, 400);
  assert.equal(r.errors[0].readyState, EventSource.CLOSED);
  assert.equal(r.opens, 0);
  const res = await fetch(`${s.http}/sse?topics=md..x`);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /malformed pattern "md\.\.x": empty token at byte 3/);
});

test('eventsource: cuts in the middle of a stream resume exactly with Last-Event-ID (every seq once, in order)', async () => {
  const s = await server({ args: ['--history-size', '20000'] });
  const p = await startProxy(s.port);
  const t = topicPrefix('escut');
  const topics = [`${t}.a`, `${t}.b`, `${t}.c`];
  const r = openES(`${p.http}/sse?topics=${t}.*`);
  await waitFor(() => r.subs.length === 1, { message: 'stream open' });
  const N = 3000;
  let cuts = 0;
  await publishSpread(s.http, topics, N, 100, async (i) => {
    if (i % 1000 === 500) {
      await waitFor(() => r.subs.length === cuts + 1 && p.open === 1, { message: `stream open before cut ${cuts + 1}` });
      p.cut(); // the last batch is still on its way
      cuts++;
    }
  });
  await waitFor(() => topics.every((tp) => r.msgs.filter((m) => m.topic === tp).at(-1)?.seq === N / 3),
    { timeout: 20000, message: 'every message after the cuts' });
  const seqs = seqsByTopic(r.msgs);
  for (const tp of topics) assert.deepEqual(seqs[tp], range(1, N / 3), `${tp}: every seq once, in order`);
  assert.equal(cuts, 3);
  assert.equal(r.subs.length, 4);
  for (const sub of r.subs.slice(1)) {
    // Each resume names the topics seen so far, all recovered exactly.
    assert.ok(Object.keys(sub.topics).length > 0);
    for (const st of Object.values(sub.topics)) assert.equal(st.recovered, true);
  }
  // The reconnects were the EventSource's own, with the last id it had seen.
  const heads = p.heads(/^GET \/sse/);
  assert.equal(heads.length, 4);
  assert.equal(header(heads[0], 'Last-Event-ID'), '');
  for (const [i, h] of heads.slice(1).entries()) {
    // The id of the last delivery before the resumed stream's sub event.
    const id = header(h, 'Last-Event-ID');
    assert.equal(parseId(id).epoch, r.subs[0].epoch);
    assert.equal(id, r.msgs[r.subs[i + 1].at - 1].id);
  }
  r.es.close();
});

test('eventsource: after a server restart the sub event says recovered:false (new epoch), then the snapshot', async () => {
  const s1 = await server();
  const p = await startProxy(s1.port);
  const t = topicPrefix('esrs');
  await publish(s1.http, `${t}.a`, 'before');
  const r = openES(`${p.http}/sse?topics=${t}.a`);
  await waitFor(() => r.msgs.length === 1, { message: 'snapshot' });
  await s1.kill();
  const s2 = await server();
  await publish(s2.http, `${t}.a`, 'after');
  p.target = s2.port;
  await waitFor(() => r.subs.length === 2 && r.msgs.length === 2, { timeout: 15000, message: 'resumed stream' });
  const sub = r.subs[1];
  assert.notEqual(sub.epoch, r.subs[0].epoch);
  assert.deepEqual(sub.topics[`${t}.a`], { epoch: sub.epoch, seq: 1, recovered: false });
  assert.equal(sub.at, 1, 'the sub event comes before the snapshot');
  assert.deepEqual([r.msgs[1].data, r.msgs[1].snap, r.msgs[1].seq], ['after', true, 1]);
  r.es.close();
});

// ---- c1m.js over SSE ----------------------------------------------------------

test('c1m.js over SSE: the same messages and meta as over WebSocket (JSON, binary, snapshots)', async () => {
  const s = await server();
  const t = topicPrefix('same');
  await publish(s.http, `${t}.j`, { bid: 1 });
  await publishBytes(s.http, `${t}.b`, Uint8Array.from([1, 2, 3]));
  const sc = sseClient(s.http);
  assert.equal(sc.transport, Transport.SSE);
  const wc = new Client(`${s.ws}/ws`, { WebSocket });
  clients.push(wc);
  wc.got = [];
  wc.on('message', (topic, data, meta) => wc.got.push({ topic, data, ...meta }));
  const [okS, okW] = await Promise.all([sc.subscribe(`${t}.>`), wc.subscribe(`${t}.>`)]);
  assert.deepEqual(okS.topics, okW.topics);
  assert.equal(okS.epoch, okW.epoch);
  assert.equal(okS.op, 'ok');
  assert.equal(typeof okS.id, 'number');
  await publish(s.http, `${t}.j`, { bid: 2, s: 'h\u00e9llo\nworld' });
  await publishBytes(s.http, `${t}.b`, Uint8Array.from({ length: 3000 }, (_, i) => i & 255));
  await publishBytes(s.http, `${t}.b`, new Uint8Array(0));
  await publish(s.http, `${t}.b`, 'json after binary');
  await waitFor(() => sc.got.length === 6 && wc.got.length === 6, { message: 'six deliveries on both' });
  const norm = (m) => ({ ...m, data: m.data instanceof Uint8Array ? [...m.data] : m.data, tsBig: m.tsBig === undefined ? undefined : String(m.tsBig) });
  const byKey = (a, b) => (a.topic + a.seq < b.topic + b.seq ? -1 : 1);
  assert.deepEqual(sc.got.map(norm).sort(byKey), wc.got.map(norm).sort(byKey));
  const bin = sc.got.filter((m) => m.binary);
  assert.equal(bin.length, 3);
  assert.ok(bin.every((m) => m.data instanceof Uint8Array && typeof m.tsBig === 'bigint'));
  assert.equal(bin[0].snap, true);
  assert.deepEqual(sc.positions(), wc.positions());
  for (const k of ['received', 'delivered', 'snapshots', 'gaps', 'duplicates']) assert.equal(sc.stats[k], wc.stats[k], k);
  assert.equal(sc.state, State.OPEN);
  assert.deepEqual(sc.errors, []);
});

test('c1m.js over SSE: cuts mid-stream lose nothing and duplicate nothing; the EventSource resumes with Last-Event-ID', async () => {
  const s = await server({ args: ['--history-size', '20000'] });
  const p = await startProxy(s.port);
  const t = topicPrefix('ccut');
  const topics = [`${t}.a`, `${t}.b`, `${t}.c`, `${t}.d`];
  await publish(s.http, topics[0], 'first'); // a snapshot on the first stream
  const c = sseClient(p.http);
  await c.subscribe([`${t}.a`, `${t}.*`]);
  const N = 4000;
  let cuts = 0;
  await publishSpread(s.http, topics, N, 200, async (i) => {
    if (i % 1000 === 600) {
      await waitFor(() => c.state === State.OPEN && p.open === 1, { message: `open before cut ${cuts + 1}` });
      p.cut();
      cuts++;
    }
  });
  const last = { [topics[0]]: N / 4 + 1, [topics[1]]: N / 4, [topics[2]]: N / 4, [topics[3]]: N / 4 };
  await waitFor(() => topics.every((tp) => c.positions()[tp]?.seq === last[tp]), { timeout: 20000, message: 'every message' });
  const seqs = seqsByTopic(c.got);
  assert.deepEqual(seqs[topics[0]], range(2, last[topics[0]]));
  for (const tp of topics.slice(1)) assert.deepEqual(seqs[tp], range(1, N / 4), `${tp}: every seq once, in order`);
  assert.equal(c.got.filter((m) => m.snap).length, 1);
  assert.equal(cuts, 4);
  assert.equal(c.stats.reconnects, cuts);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.notRecovered, 0);
  assert.ok(c.stats.recovered >= cuts);
  assert.deepEqual(c.states.map((x) => x.s), ['open', ...Array(cuts).fill(['reconnecting', 'open']).flat()]);
  // Every reconnect was the EventSource's own, with its last event id.
  const heads = p.heads(/^GET \/sse/);
  assert.equal(heads.length, cuts + 1);
  for (const h of heads.slice(1)) assert.match(header(h, 'Last-Event-ID'), /^[^/]+\/.*=\d+/);
  assert.deepEqual(c.errors, []);
});

test('c1m.js over SSE: when the EventSource cannot reconnect, the client does, with backoff and since = its positions', async () => {
  const s = await server();
  const p = await startProxy(s.port);
  const t = topicPrefix('held');
  const c = sseClient(p.http);
  const ok = await c.subscribe(`${t}.>`);
  await publish(s.http, `${t}.x`, 1);
  await waitFor(() => c.got.length === 1, { message: 'first message' });
  p.refuse = true;
  p.cut();
  // The EventSource's own retry fails; the client takes over.
  await waitFor(() => c.states.some((x) => x.s === 'reconnecting' && x.delay !== undefined), { message: 'a scheduled reconnect' });
  await waitFor(() => p.refused >= 2, { message: 'a failed attempt of the client' });
  for (let i = 2; i <= 100; i++) await publish(s.http, `${t}.x`, i);
  await publish(s.http, `${t}.y`, 'new topic');
  p.refuse = false;
  await waitFor(() => c.got.length === 101, { timeout: 15000, message: 'replayed messages' });
  assert.deepEqual(c.got.filter((m) => m.topic === `${t}.x`).map((m) => m.data), range(1, 100));
  // The new topic's snapshot: once (the resume may replay ${t}.x before or after it: no order across topics).
  assert.deepEqual(c.got.filter((m) => m.topic === `${t}.y`).map((m) => m.data), ['new topic']);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.ok(c.topicStates.some((x) => x.topic === `${t}.x` && x.recovered === true && x.seq === 100));
  const heads = p.heads(/^GET \/sse/);
  const q = query(heads.at(-1));
  assert.equal(q.get('since'), `${ok.epoch}/${t}.x=1`);
  assert.equal(q.get('topics'), `${t}.>`);
  assert.equal(c.state, State.OPEN);
});

test('c1m.js over SSE: a server restart is recovered:false with a new epoch, not a gap; binary after it', async () => {
  const s1 = await server();
  const p = await startProxy(s1.port);
  const t = topicPrefix('crs');
  const c = sseClient(p.http);
  const resets = [];
  c.on('reset', (topic, info) => resets.push({ topic, ...info }));
  await c.subscribe([`${t}.a`, `${t}.b`]);
  for (let i = 1; i <= 5; i++) await publish(s1.http, `${t}.a`, i);
  await publish(s1.http, `${t}.b`, 'b1');
  await waitFor(() => c.got.length === 6, { message: 'messages before the restart' });
  const epoch1 = c.positions()[`${t}.a`].epoch;
  await s1.kill();
  await waitFor(() => c.state === State.RECONNECTING, { message: 'reconnecting' });
  const s2 = await server();
  await publishBytes(s2.http, `${t}.a`, Uint8Array.from([9, 8, 7]));
  p.target = s2.port;
  await waitFor(() => c.state === State.OPEN && c.got.length === 7, { timeout: 15000, message: 'reconnect and snapshot' });
  const snap = c.got[6];
  assert.equal(snap.topic, `${t}.a`);
  assert.deepEqual([...snap.data], [9, 8, 7]);
  assert.equal(snap.binary, true);
  assert.equal(snap.snap, true);
  assert.equal(snap.seq, 1);
  assert.notEqual(snap.epoch, epoch1);
  const st = c.topicStates.filter((x) => x.topic === `${t}.a`).at(-1);
  assert.equal(st.recovered, false);
  assert.notEqual(st.epoch, epoch1);
  assert.deepEqual(resets.map((r) => r.topic).sort(), [`${t}.a`, `${t}.b`]);
  await publish(s2.http, `${t}.b`, 'b after restart');
  await publish(s2.http, `${t}.a`, 'a2');
  await waitFor(() => c.got.length === 9, { message: 'live messages after the restart' });
  assert.deepEqual(c.got.slice(7).map((m) => [m.topic, m.seq, m.data]), [[`${t}.b`, 1, 'b after restart'], [`${t}.a`, 2, 'a2']]);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.epochChanges, 2);
  assert.equal(c.stats.reconnects, 1);
});

test('c1m.js over SSE: subscribe and unsubscribe reopen the stream with since; topics kept lose nothing', async () => {
  const s = await server({ args: ['--history-size', '5000'] });
  const p = await startProxy(s.port);
  const t = topicPrefix('chg');
  const c = sseClient(p.http);
  await c.subscribe(`${t}.a`);
  const N = 600;
  let step = 0;
  await publishSpread(s.http, [`${t}.a`, `${t}.b`], N, 50, async (i) => {
    if (i === 200) {
      // Two calls in one tick: one reopen.
      const [okB, okC] = await Promise.all([c.subscribe(`${t}.b`), c.subscribe(`${t}.c`)]);
      assert.deepEqual(Object.keys(okB.topics), [`${t}.b`]);
      assert.equal(okB.topics[`${t}.b`].seq, 100);
      assert.deepEqual(okC.topics[`${t}.c`], { epoch: okB.epoch, seq: 0 });
      step = 1;
    }
    if (i === 400) {
      const ok = await c.unsubscribe(`${t}.b`);
      assert.equal(ok.op, 'ok');
      step = 2;
    }
  });
  assert.equal(step, 2);
  await waitFor(() => c.positions()[`${t}.a`]?.seq === N / 2, { message: 'every message of a' });
  const seqs = seqsByTopic(c.got);
  assert.deepEqual(seqs[`${t}.a`], range(1, N / 2), 'a: every seq once, across both reopens');
  const snapB = c.got.find((m) => m.topic === `${t}.b`);
  assert.equal(snapB.snap, true);
  assert.equal(snapB.seq, 100);
  // b: from its snapshot on, until the unsubscribe closed the stream (what
  // was still on its way then is not delivered).
  const bs = seqs[`${t}.b`] || [];
  assert.ok(bs.length <= 100);
  assert.deepEqual(bs, range(101, 100 + bs.length), 'b: in order, no gap');
  assert.equal(c.positions()[`${t}.b`], undefined);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.stats.reconnects, 0, 'a reopen for a subscription change is not a reconnect');
  const heads = p.heads(/^GET \/sse/);
  assert.equal(heads.length, 3);
  assert.deepEqual(heads.map((h) => query(h).get('topics')), [`${t}.a`, `${t}.a,${t}.b,${t}.c`, `${t}.a,${t}.c`]);
  assert.equal(query(heads[0]).get('since'), null);
  assert.match(query(heads[1]).get('since'), new RegExp(`/${reEscape(t)}\\.a=\\d+$`));
  assert.match(query(heads[2]).get('since'), new RegExp(`/${reEscape(t)}\\.a=\\d+$`), 'b is no longer tracked');
  assert.equal(c.state, State.OPEN);

  // Unsubscribing everything closes the stream.
  await c.unsubscribe([`${t}.a`, `${t}.c`]);
  await waitFor(() => p.open === 0, { message: 'stream closed' });
});

test('c1m.js over SSE: what one stream cannot do is refused with a clear C1MError, the stream carries on', async () => {
  const s = await server();
  const t = topicPrefix('refuse');
  const c = sseClient(s.http);
  await c.subscribe(`${t}.a`, { conflate: false });
  const refused = (code, re) => (e) => e instanceof C1MError && e.code === code && re.test(e.message);
  await assert.rejects(c.subscribe('md..x'), refused(422, /malformed pattern "md\.\.x": empty token at byte 3/));
  await assert.rejects(c.subscribe('md.>.x'), refused(422, /> must be the last token/));
  await assert.rejects(c.subscribe(`${t}.b`, { maxRate: 2 }), refused('unsupported', /one set of options/));
  await assert.rejects(c.subscribe(Array.from({ length: 64 }, (_, i) => `${t}.n${i}`)), refused(400, /too many topics: 65/));
  await assert.rejects(c.publish(`${t}.a`, 1), refused('unsupported', /one-way.*POST \/publish|POST \/publish.*one-way/));
  await assert.rejects(c.publishBinary(`${t}.a`, 'x'), refused('unsupported', /one-way/));
  await assert.rejects(c.ping(), refused('unsupported', /one-way/));
  // Re-subscribing the same pattern with other options is allowed (one pattern).
  await c.subscribe(`${t}.a`, { conflate: true });
  await publish(s.http, `${t}.a`, 'still here');
  await waitFor(() => c.got.some((m) => m.data === 'still here'), { message: 'delivery after the refusals' });
  assert.deepEqual(c.errors, []);
  assert.throws(() => new Client(`${s.http}/sse`, { transport: 'sse', EventSource: undefined }), /no EventSource implementation/);
  assert.throws(() => new Client(`${s.http}/sse`, { transport: 'smoke' }), /unknown transport "smoke"/);
});

test('c1m.js over SSE: a stream the server refuses rejects the subscribe with the server\'s status and reason', async () => {
  const s = await server();
  // The URL's own conflate=maybe (not one of the client's options) is the
  // server's to refuse: a 400 the EventSource does not explain.
  const c = sseClient(s.http, { backoffInitial: 1000 }, '/sse?conflate=maybe');
  await assert.rejects(c.subscribe('a.b'), (e) => e instanceof C1MError && e.code === 400 && /"conflate" must be true or false/.test(e.msg));
  assert.equal(c._subs.size, 0, 'the refused subscription is dropped');
});

for (const transport of ['websocket', 'sse']) {
  test(`${transport}: recovered:false for a reclaimed topic without a snapshot resets its position (no gap from the seq floor)`, async () => {
    const s = await server({ args: ['--history-ttl', '200ms', '--last-value-ttl', '200ms'] });
    const p = await startProxy(s.port);
    const t = topicPrefix('floor');
    const c = transport === 'sse' ? sseClient(p.http) : (() => {
      const w = new Client(`${p.ws}/ws`, { WebSocket, backoffInitial: 50, backoffMax: 400 });
      clients.push(w);
      w.got = [];
      w.topicStates = [];
      w.on('message', (topic, data, meta) => w.got.push({ topic, data, ...meta }));
      w.on('topic', (topic, st) => w.topicStates.push({ topic, ...st }));
      return w;
    })();
    const gaps = [];
    c.on('gap', (topic, g) => gaps.push({ topic, ...g }));
    await c.subscribe(`${t}.*`);
    for (let i = 1; i <= 3; i++) await publish(s.http, `${t}.x`, i);
    await waitFor(() => c.got.length === 3, { message: 'first messages' });
    // Disconnected: the topic loses its last subscriber, then messages it
    // never gets; then it is reclaimed (history and last value expired).
    p.refuse = true;
    p.cut();
    const reclaimed = async () => (await (await fetch(`${s.http}/stats`)).json()).hub.reclaimed;
    for (let i = 4; i <= 6; i++) await publish(s.http, `${t}.x`, i);
    await waitFor(async () => (await reclaimed()) >= 1, { timeout: 15000, message: 'the topic reclaimed' });
    p.refuse = false;
    await waitFor(() => c.topicStates.some((x) => x.topic === `${t}.x` && x.recovered === false),
      { timeout: 15000, message: 'resubscribed' });
    const st = c.topicStates.find((x) => x.topic === `${t}.x` && x.recovered === false);
    assert.equal(st.seq, 0, 'a wildcard lists a topic without data as seq 0');
    const r = await publish(s.http, `${t}.x`, 'after reclaim');
    assert.equal(r.seq, 7, 'the topic restarts from its seq floor');
    await waitFor(() => c.got.length === 4, { message: 'message after the reclaim' });
    assert.deepEqual(c.got.map((m) => [m.seq, m.snap]), [[1, false], [2, false], [3, false], [7, false]]);
    assert.deepEqual(gaps, []);
    assert.equal(c.stats.gaps, 0);
    assert.equal(c.stats.missed, 0);
    assert.equal(c.stats.notRecovered, 1);
    assert.equal(c.positions()[`${t}.x`].seq, 7);
    // The topic is tracked afresh: the next message follows on.
    await publish(s.http, `${t}.x`, 'next');
    await waitFor(() => c.got.length === 5, { message: 'next message' });
    assert.equal(c.got[4].seq, 8);
    assert.equal(c.stats.gaps, 0);
  });
}

test('c1m.js over SSE: 503 at the connection limit closes the EventSource for good; the client retries with backoff until it gets in', async () => {
  const s = await server({ args: ['--max-conns', '1'] });
  const t = topicPrefix('limit');
  const first = openES(`${s.http}/sse?topics=${t}.a`); // takes the only connection
  await waitFor(() => first.subs.length === 1, { message: 'first stream' });
  const c = sseClient(s.http, { backoffInitial: 20, backoffMax: 100 });
  const ok = c.subscribe(`${t}.a`);
  await waitFor(() => c.states.filter((x) => x.s === 'reconnecting' && x.code === 503 && x.delay !== undefined).length >= 3,
    { message: 'three refused attempts, each rescheduled' });
  assert.equal(c.state, State.RECONNECTING);
  assert.deepEqual(c.errors, [], 'a 503 is not a refusal of the subscription');
  first.es.close();
  const reply = await ok;
  assert.deepEqual(reply.topics[`${t}.a`], { epoch: reply.epoch, seq: 0 });
  assert.equal(c.state, State.OPEN);
  assert.ok(c.stats.attempts >= 4);
});
