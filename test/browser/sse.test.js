// Server-Sent Events in headless Chromium against the real server: the
// browser's own EventSource (raw, in the page) and the reference client's SSE
// transport, over 10,000+ messages on several topics published in HTTP
// batches. A TCP proxy (test/node/lib/proxy.js) between the browser and the
// server cuts the stream in the middle; separately, the server restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, publishBatch, topicPrefix } from '../node/lib/server.js';
import { startProxy, header } from '../node/lib/proxy.js';
import { launch } from './lib/browser.js';

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

let srv;
let proxy;
let b;
before(async () => {
  srv = await startServer({ args: ['--demo=false', '--history-size', '20000'] });
  proxy = await startProxy(srv.port);
  b = await launch();
  // A blank page of the proxy's origin: the streams are same-origin, and no
  // demo client runs beside them.
  await b.page.route(`${proxy.http}/blank`, (r) => r.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>sse</title>' }));
  await b.page.goto(`${proxy.http}/blank`);
  await b.page.addScriptTag({ content: pageHelpers });
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

// In the page: window.openRaw(url) opens an EventSource and records, per
// topic, every seq in arrival order (snapshots as -seq), the sub events and
// errors; window.openClient(url, patterns) does the same with c1m.js.
const pageHelpers = `
  window.openRaw = (url) => {
    const es = new EventSource(url);
    const r = { es, subs: [], seqs: {}, n: 0, opens: 0, errors: [], snaps: [] };
    es.onopen = () => r.opens++;
    es.addEventListener('sub', (ev) => r.subs.push({ ...JSON.parse(ev.data), lastEventId: ev.lastEventId, at: r.n }));
    es.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      (r.seqs[m.topic] ||= []).push(m.snap ? -m.seq : m.seq);
      if (m.snap) r.snaps.push({ topic: m.topic, seq: m.seq, data: m.data, at: r.n });
      r.n++;
    };
    es.onerror = () => r.errors.push(es.readyState);
    window.raw = r;
  };
  window.openClient = async (url, patterns) => {
    const { Client } = await import('/c1m.js');
    const c = new Client(url, { transport: 'sse', backoffInitial: 50, backoffMax: 300 });
    const r = { c, seqs: {}, n: 0, states: [], topics: [], errors: [], snaps: [], resets: [] };
    c.on('message', (topic, data, meta) => {
      (r.seqs[topic] ||= []).push(meta.snap ? -meta.seq : meta.seq);
      if (meta.snap) r.snaps.push({ topic, seq: meta.seq, data, epoch: meta.epoch, at: r.n });
      r.n++;
    });
    c.on('state', (s) => r.states.push(s));
    c.on('topic', (topic, st) => r.topics.push({ topic, ...st, at: r.n }));
    c.on('reset', (topic, info) => r.resets.push({ topic, ...info }));
    c.on('error', (e) => r.errors.push(String(e)));
    window.cl = r;
    r.ok = await c.subscribe(patterns);
    return r.ok;
  };
`;

const until = (fn, arg, timeout = 20000) => b.page.waitForFunction(fn, arg, { timeout, polling: 20 });

/** Waits until the page's count (the expression received) reaches min. */
const received = (expr, min) => until(([e, m]) => new Function(`return ${e}`)() >= m, [expr, min]);

/**
 * Publishes total messages round robin over topics in HTTP batches of 400,
 * keeping at most 2,000 ahead of what the page has received (the expression
 * count), so the stream is busy when it is cut. Resolves with total.
 */
async function feed(topics, total, count) {
  for (let i = 0; i < total; i += 400) {
    const n = Math.min(400, total - i);
    await received(count, i - 2000);
    await publishBatch(srv.http, Array.from({ length: n }, (_, k) => ({ topic: topics[(i + k) % topics.length], data: { i: i + k } })));
    feed.published = i + n;
  }
  return total;
}

/** Cuts every connection once the page has received at least n; returns what had been published then. */
async function cutAt(n, count) {
  await received(count, n);
  const published = feed.published;
  proxy.cut();
  return published;
}

test('browser EventSource: a stream of 12,000 messages cut twice mid-flight resumes by itself with Last-Event-ID: every seq once, in order', async () => {
  const t = topicPrefix('rawcut');
  const topics = [`${t}.a`, `${t}.b`, `${t}.c`, `${t}.d`];
  const N = 12000;
  const heads0 = proxy.heads(/^GET \/sse/).length;
  await b.page.evaluate((url) => window.openRaw(url), `${proxy.http}/sse?topics=${t}.*`);
  await until(() => window.raw.subs.length === 1);
  feed.published = 0;
  const feeding = feed(topics, N, 'window.raw.n');
  const cut1 = await cutAt(3000, 'window.raw.n');
  await until(() => window.raw.subs.length === 2);
  const cut2 = await cutAt(7000, 'window.raw.n');
  await feeding;
  await until((n) => window.raw.n >= n, N);
  const r = await b.page.evaluate(() => { window.raw.es.close(); return { seqs: window.raw.seqs, subs: window.raw.subs, n: window.raw.n, opens: window.raw.opens, errors: window.raw.errors }; });
  for (const tp of topics) assert.deepEqual(r.seqs[tp], range(1, N / 4), `${tp}: every seq 1..${N / 4} exactly once, in order`);
  assert.equal(r.n, N, 'nothing lost, nothing duplicated');
  assert.ok(cut1 < N && cut2 < N, `the cuts came while publishing went on (${cut1}, ${cut2} of ${N} published)`);
  assert.equal(r.opens, 3);
  assert.deepEqual(r.errors, [0, 0], 'each cut: one error while the EventSource reconnects (CONNECTING)');
  assert.equal(r.subs.length, 3);
  for (const sub of r.subs.slice(1)) {
    assert.deepEqual(Object.keys(sub.topics).sort(), topics);
    for (const st of Object.values(sub.topics)) assert.equal(st.recovered, true);
  }
  // The browser resumed by itself, sending the last id it had seen.
  const heads = proxy.heads(/^GET \/sse/).slice(heads0);
  assert.equal(heads.length, 3);
  assert.equal(header(heads[0], 'Last-Event-ID'), '');
  for (const k of [1, 2]) {
    const id = header(heads[k], 'Last-Event-ID');
    assert.ok(id.startsWith(`${r.subs[0].epoch}/`), id);
    assert.equal(id, r.subs[k].lastEventId);
  }
});

test('browser EventSource: after a server restart the sub event says recovered:false with the new epoch, then the snapshot comes', async () => {
  const t = topicPrefix('rawrs');
  await publish(srv.http, `${t}.a`, 'before');
  await b.page.evaluate((url) => window.openRaw(url), `${proxy.http}/sse?topics=${t}.a,${t}.*`);
  await until(() => window.raw.n === 1);
  await publishBatch(srv.http, range(1, 50).map((i) => ({ topic: `${t}.b`, data: i })));
  await until(() => window.raw.n === 51);
  // The new server takes the proxy's next connections; then the old one dies.
  const old = srv;
  srv = await startServer({ args: ['--demo=false', '--history-size', '20000'] });
  await publish(srv.http, `${t}.a`, 'after');
  proxy.target = srv.port;
  await old.kill();
  await until(() => window.raw.subs.length === 2 && window.raw.snaps.length === 2);
  const r = await b.page.evaluate(() => { window.raw.es.close(); return { subs: window.raw.subs, snaps: window.raw.snaps, n: window.raw.n }; });
  const [sub1, sub2] = r.subs;
  assert.notEqual(sub2.epoch, sub1.epoch, 'a new epoch');
  assert.deepEqual(sub2.topics[`${t}.a`], { epoch: sub2.epoch, seq: 1, recovered: false });
  assert.equal(sub2.topics[`${t}.b`].recovered, false, 'b has no data on the new server');
  assert.ok(sub2.lastEventId.startsWith(`${sub1.epoch}/`), 'the browser sent its last id of the old server');
  assert.deepEqual(r.snaps[1], { topic: `${t}.a`, seq: 1, data: 'after', at: 51 });
  assert.equal(sub2.at, 51, 'the sub event came before the snapshot');
  assert.equal(r.n, 52);
});

test('c1m.js SSE transport in the page: 10,400 messages across two mid-flight cuts, exactly once and in order', async () => {
  const t = topicPrefix('clcut');
  const topics = [`${t}.a`, `${t}.b`, `${t}.c`, `${t}.d`];
  const N = 10400;
  await b.page.evaluate(([url, p]) => window.openClient(url, p), [`${proxy.http}/sse`, [`${t}.a`, `${t}.>`]]);
  feed.published = 0;
  const feeding = feed(topics, N, 'window.cl.n');
  const cut1 = await cutAt(2500, 'window.cl.n');
  await until(() => window.cl.c.state === 'open' && window.cl.c.stats.reconnects === 1);
  const cut2 = await cutAt(6500, 'window.cl.n');
  await feeding;
  await until((n) => window.cl.n >= n, N);
  const r = await b.page.evaluate(async () => {
    const { c, seqs, n, states, topics, errors } = window.cl;
    const out = { seqs, n, states, topics, errors, stats: { ...c.stats }, positions: c.positions(), transport: c.transport };
    await c.close();
    return out;
  });
  for (const tp of topics) assert.deepEqual(r.seqs[tp], range(1, N / 4), `${tp}: every seq once, in order`);
  assert.equal(r.n, N);
  assert.ok(cut1 < N && cut2 < N, `cuts while publishing (${cut1}, ${cut2})`);
  assert.equal(r.transport, 'sse');
  assert.equal(r.stats.delivered, N);
  assert.equal(r.stats.gaps, 0);
  assert.equal(r.stats.duplicates, 0);
  assert.equal(r.stats.reconnects, 2);
  assert.equal(r.stats.notRecovered, 0);
  assert.equal(r.topics.filter((x) => x.recovered === true).length, 8, 'both resumes recovered all four topics');
  assert.deepEqual(r.states, ['open', 'reconnecting', 'open', 'reconnecting', 'open', 'closed']);
  for (const tp of topics) assert.equal(r.positions[tp].seq, N / 4);
  assert.deepEqual(r.errors, []);
});

test('c1m.js SSE transport in the page: a server restart is recovered:false and a new epoch, not a gap', async () => {
  const t = topicPrefix('clrs');
  await publish(srv.http, `${t}.a`, 'before');
  await b.page.evaluate(([url, p]) => window.openClient(url, p), [`${proxy.http}/sse`, `${t}.>`]);
  await until(() => window.cl.n === 1);
  await publishBatch(srv.http, range(2, 40).map((i) => ({ topic: `${t}.a`, data: i })));
  await until(() => window.cl.n === 40);
  const old = srv;
  srv = await startServer({ args: ['--demo=false', '--history-size', '20000'] });
  await publish(srv.http, `${t}.a`, 'after');
  proxy.target = srv.port;
  await old.kill();
  await until(() => window.cl.n === 41 && window.cl.c.state === 'open');
  await publish(srv.http, `${t}.a`, 'live');
  await until(() => window.cl.n === 42);
  const r = await b.page.evaluate(async () => {
    const { c, seqs, topics, snaps, resets, errors } = window.cl;
    const out = { seqs, topics, snaps, resets, errors, stats: { ...c.stats } };
    await c.close();
    return out;
  });
  const a = `${t}.a`;
  assert.deepEqual(r.seqs[a], [-1, ...range(2, 40), -1, 2], 'the snapshot of the new server, then its live seq 2');
  const st = r.topics.filter((x) => x.topic === a).at(-1);
  assert.equal(st.recovered, false);
  assert.equal(st.at, 40, 'reported before the snapshot');
  assert.notEqual(st.epoch, r.snaps[0].epoch);
  assert.equal(r.snaps[1].epoch, st.epoch);
  assert.equal(r.snaps[1].data, 'after');
  assert.deepEqual(r.resets.map((x) => x.topic), [a]);
  assert.equal(r.stats.epochChanges, 1);
  assert.equal(r.stats.notRecovered, 1);
  assert.equal(r.stats.gaps, 0);
  assert.equal(r.stats.duplicates, 0);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(b.errors.map(String), []);
});
