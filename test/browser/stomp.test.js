// STOMP over WebSocket (/stomp) with @stomp/stompjs in headless Chromium: the
// package's UMD bundle, unmodified, injected into a page served by c1m (no
// CDN). Pattern subscription with snapshot then live MESSAGEs, receipts,
// client-individual acks with prefetch-count, ERROR on a bad destination, and
// reconnect with x-c1m-since recovery (the pattern form, <epoch>:<topic>=<seq>,...)
// over a 2,000-message stream cut twice: once by the page (forceDisconnect),
// once under it (a TCP proxy); zero loss, zero duplicates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer, publish, publishBatch, topicPrefix, waitFor } from '../node/lib/server.js';
import { startProxy } from '../node/lib/proxy.js';
import { launch } from './lib/browser.js';

// The package exports no bundle path: read it from this suite's node_modules.
const bundle = readFileSync(fileURLToPath(new URL('node_modules/@stomp/stompjs/bundles/stomp.umd.min.js', import.meta.url)), 'utf8');

let srv;
let b;
before(async () => {
  srv = await startServer({ args: ['--demo=false', '--history-size', '4096'] });
  b = await launch();
  await b.page.goto(`${srv.http}/`);
  await b.page.addScriptTag({ content: bundle });
  // window.mk(name, url, opts) makes a stompjs client that records its frames.
  await b.page.evaluate(() => {
    window.clients = {};
    window.mk = (name, url, opts = {}) => {
      const rec = { connects: [], errors: [], closes: [], msgs: [], receipts: {} };
      const c = new window.StompJs.Client({
        brokerURL: url,
        reconnectDelay: 0,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        onConnect: (f) => rec.connects.push(f.headers),
        onStompError: (f) => rec.errors.push({ headers: f.headers, body: f.body }),
        onWebSocketClose: (e) => rec.closes.push(e.code),
        ...opts,
      });
      c.rec = rec;
      c.msg = (m) => ({ headers: m.headers, body: m.body });
      c.receipt = (id) => c.watchForReceipt(id, (f) => { rec.receipts[id] = f.headers; });
      window.clients[name] = c;
      c.activate();
      return true;
    };
  });
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

const until = (fn, arg, timeout = 15000) => b.page.waitForFunction(fn, arg, { timeout });
const page = (fn, arg) => b.page.evaluate(fn, arg);

test('the bundle is loaded from the package and a client connects with STOMP 1.2', async () => {
  assert.equal(await page(() => typeof window.StompJs.Client), 'function');
  await page((u) => window.mk('a', u), `ws://${new URL(srv.http).host}/stomp`);
  await until(() => window.clients.a.connected);
  const h = await page(() => window.clients.a.rec.connects[0]);
  assert.equal(h.version, '1.2');
  assert.equal(h.server, 'c1m');
});

test('pattern subscription: snapshot of each topic, then live messages; receipt with the epoch', async () => {
  const p = topicPrefix('bmd');
  await publish(srv.http, `${p}.md.X.quote`, { px: 1 });
  await publish(srv.http, `${p}.md.Y.quote`, { px: 2 });
  await publish(srv.http, `${p}.md.Y.trade`, { q: 1 });
  await page((d) => {
    const c = window.clients.a;
    c.got = [];
    c.receipt('r1');
    c.subscribe(d, (m) => c.got.push(c.msg(m)), { receipt: 'r1' });
  }, `/topic/${p}.md.*.quote`);
  await until(() => window.clients.a.got.length === 2 && window.clients.a.rec.receipts.r1);
  await publish(srv.http, `${p}.md.X.quote`, { px: 3 });
  await publish(srv.http, `${p}.md.Y.trade`, { q: 2 }); // not matched
  await publish(srv.http, `${p}.md.Y.quote`, { px: 4 });
  await until(() => window.clients.a.got.length === 4);
  const r = await page(() => ({ got: window.clients.a.got, rc: window.clients.a.rec.receipts.r1 }));
  assert.ok(r.got.slice(0, 2).every((m) => m.headers['x-c1m-snap'] === 'true'));
  assert.deepEqual(r.got.slice(0, 2).map((m) => m.body).sort(), ['{"px":1}', '{"px":2}']);
  assert.deepEqual(r.got.slice(2).map((m) => [m.headers.destination, m.body, m.headers['x-c1m-snap']]),
    [[`/topic/${p}.md.X.quote`, '{"px":3}', undefined], [`/topic/${p}.md.Y.quote`, '{"px":4}', undefined]]);
  assert.ok(r.rc['x-c1m-epoch']);
  assert.ok(r.got.every((m) => m.headers['x-c1m-epoch'] === r.rc['x-c1m-epoch']));
  assert.equal(r.got[2].headers['message-id'], `${p}.md.X.quote/2`);
});

test('client-individual with prefetch-count 2: two in flight until one is acked', async () => {
  const p = topicPrefix('back');
  await page((t) => {
    const c = window.clients.a;
    c.held = [];
    c.every = [];
    c.heldRaw = [];
    c.receipt('r2');
    c.subscribe(`/topic/${t}`, (m) => { c.heldRaw.push(m); c.held.push(c.msg(m)); }, { ack: 'client-individual', 'prefetch-count': '2', receipt: 'r2' });
    c.subscribe(`/topic/${t}`, (m) => c.every.push(c.msg(m)));
  }, `${p}.x`);
  await until(() => window.clients.a.rec.receipts.r2);
  await publishBatch(srv.http, Array.from({ length: 5 }, (_, i) => ({ topic: `${p}.x`, data: i + 1 })));
  await until(() => window.clients.a.every.length === 5);
  assert.equal(await page(() => window.clients.a.held.length), 2);
  await page(() => { const c = window.clients.a; c.receipt('a1'); c.heldRaw[0].ack({ receipt: 'a1' }); });
  await until(() => window.clients.a.rec.receipts.a1 && window.clients.a.held.length === 3);
  await page(() => { const c = window.clients.a; c.heldRaw[1].ack(); c.heldRaw[2].ack(); });
  await until(() => window.clients.a.held.length === 5);
  const held = await page(() => window.clients.a.held);
  assert.deepEqual(held.map((m) => m.body), ['1', '2', '3', '4', '5']);
  assert.ok(held.every((m) => m.headers.ack === `${p}.x/${m.headers['x-c1m-seq']}/${m.headers.subscription}`));
  assert.deepEqual(await page(() => window.clients.a.rec.errors), []);
});

test('ERROR on a bad destination, then the connection closes; the other client goes on', async () => {
  const host = new URL(srv.http).host;
  await page((u) => window.mk('bad', u), `ws://${host}/stomp`);
  await until(() => window.clients.bad.connected);
  await page(() => window.clients.bad.subscribe('/amq/queue/x', () => {}, { receipt: 'rb' }));
  await until(() => window.clients.bad.rec.errors.length === 1 && window.clients.bad.rec.closes.length === 1);
  const e = await page(() => window.clients.bad.rec.errors[0]);
  assert.equal(e.headers.message, 'bad destination');
  assert.equal(e.headers['receipt-id'], 'rb');
  assert.match(e.body, /\/amq\/queue\/x/);
  await page(() => window.clients.bad.deactivate());
  assert.ok(await page(() => window.clients.a.connected));
});

test('reconnect with x-c1m-since (pattern form): 2,000 messages on two topics cut twice, none lost or repeated', async () => {
  const proxy = await startProxy(srv.port);
  const p = topicPrefix('brec');
  const topics = [`${p}.a`, `${p}.b`];
  // The page resubscribes in onConnect, naming each topic's last seq seen.
  await page(({ url, pattern }) => {
    const got = {};
    let epoch = '';
    let n = 0;
    window.rec2 = { got, receipts: [] };
    window.mk('r', url, {
      reconnectDelay: 50,
      onConnect: (f) => {
        const c = window.clients.r;
        c.rec.connects.push(f.headers);
        const id = `rs-${n++}`;
        const headers = { receipt: id };
        const pos = Object.entries(got).map(([t, s]) => `${t}=${s.at(-1)}`);
        if (epoch && pos.length) headers['x-c1m-since'] = `${epoch}:${pos.join(',')}`;
        c.watchForReceipt(id, (r) => window.rec2.receipts.push({ since: headers['x-c1m-since'], ...r.headers }));
        c.subscribe(pattern, (m) => {
          epoch = m.headers['x-c1m-epoch'];
          const t = m.headers.destination.slice('/topic/'.length);
          (got[t] ||= []).push(Number(m.headers['x-c1m-seq']));
          if (String(m.body) !== String(got[t].at(-1))) window.rec2.bad = `${t}: body ${m.body} seq ${got[t].at(-1)}`;
        }, headers);
      },
    });
  }, { url: `ws://127.0.0.1:${proxy.port}/stomp`, pattern: `/topic/${p}.>` });
  await until(() => window.rec2.receipts.length === 1);
  const N = 1000; // per topic
  const cuts = [];
  const total = () => page(() => Object.values(window.rec2.got).reduce((n, s) => n + s.length, 0));
  for (let sent = 0; sent < N;) {
    const k = 50;
    await publishBatch(srv.http, topics.flatMap((topic) => Array.from({ length: k }, (_, i) => ({ topic, data: sent + i + 1 }))));
    sent += k;
    if ((sent === 300 || sent === 650) && cuts.length < 2) {
      await until((n) => window.clients.r.connected && window.rec2.receipts.length === n + 1, cuts.length);
      const received = await total();
      if (cuts.length === 0) await page(() => window.clients.r.forceDisconnect()); // by the page
      else proxy.cut(); // under it
      cuts.push({ sent, received });
      await until(() => !window.clients.r.connected);
    }
  }
  await until((n) => Object.values(window.rec2.got).reduce((a, s) => a + s.length, 0) >= n && window.rec2.receipts.length === 3, 2 * N, 30000)
    .catch(async (e) => { e.message += ` ${JSON.stringify(await page(() => ({ n: Object.values(window.rec2.got).map((s) => s.length), r: window.rec2.receipts })))} cuts ${JSON.stringify(cuts)}`; throw e; });
  const r = await page(() => ({ ...window.rec2, connects: window.clients.r.rec.connects.length, errors: window.clients.r.rec.errors }));
  for (const t of topics) {
    const seqs = r.got[t];
    const bad = seqs.findIndex((s, i) => s !== i + 1);
    assert.equal(bad, -1, `${t}: delivery ${bad} has seq ${seqs[bad]}, want ${bad + 1}`);
    assert.equal(seqs.length, N, t);
  }
  assert.equal(r.bad, undefined);
  assert.equal(r.connects, 3);
  assert.equal(cuts.length, 2);
  for (const rc of r.receipts.slice(1)) {
    assert.match(rc.since, new RegExp(`^${rc['x-c1m-epoch']}:`));
    assert.equal(rc['x-c1m-recovered'], 'true', JSON.stringify(rc));
  }
  assert.deepEqual(r.errors, []);
  await page(() => window.clients.r.deactivate());
  await waitFor(() => proxy.open === 0, { message: 'page client closed' });
});
