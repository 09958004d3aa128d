// TLS in headless Chromium: the server's TLS listener (--tls-addr) with a
// certificate from `c1m gen-cert`, which the browser accepts only because it
// runs with --ignore-certificate-errors. The demo page loads over https:// and
// its own client connects over wss:// (and over https:// SSE); in the page a
// raw `new WebSocket('wss://...')` and `new EventSource('https://...')`
// receive publishes made over plain HTTP from the test, a 100 KB one too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, genCert, publish, topicPrefix, waitFor } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let dir;
let srv;
let b;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'c1m-tls-browser-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await genCert({ cert, key });
  srv = await startServer({ args: ['--demo-rate', '100', '--demo-symbols', '8'], tls: { cert, key } });
  b = await launch({ args: ['--ignore-certificate-errors'] });
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const transport of ['websocket', 'sse']) {
  test(`the demo page over https:// connects its client over ${transport === 'sse' ? 'https:// SSE' : 'wss://'} and shows live prices`, async () => {
    const res = await b.page.goto(`${srv.https}/${transport === 'sse' ? '?transport=sse' : ''}`);
    assert.equal(res.status(), 200);
    assert.ok(b.page.url().startsWith(`${srv.https}/`), b.page.url());
    const sec = await res.securityDetails();
    assert.ok(sec, 'the page came over TLS');
    assert.match(sec.protocol, /^TLS 1\.[23]$/);
    assert.equal(sec.subjectName, 'c1m self-signed');
    await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    assert.equal(await b.page.evaluate(() => window.c1m.client.transport), transport);
    const url = await b.page.evaluate(() => window.c1m.client.url);
    assert.equal(url, transport === 'sse' ? `${srv.https}/sse` : `${srv.wss}/ws`);
    await b.page.waitForFunction(() => document.querySelectorAll('#rows td.bid:not(:empty)').length >= 8, null, { timeout: 15000 });
    assert.deepEqual(b.errors.map(String), []);
  });
}

test('in the page, new WebSocket(wss://...) and new EventSource(https://...) receive publishes, 100 KB too', async () => {
  // A same-origin page of the server without the demo client: /healthz. (A
  // page fulfilled by page.route would not do: Chromium's local network
  // access checks block its connections to 127.0.0.1.)
  const res = await b.page.goto(`${srv.https}/healthz`);
  assert.equal(res.status(), 200);
  assert.equal(await b.page.evaluate(() => window.isSecureContext && location.protocol), 'https:');
  const t = topicPrefix('tls');
  await b.page.evaluate(({ wss, https, topic }) => {
    const r = { ws: [], sse: [], wsOk: null, sseSub: null, errors: [] };
    window.r = r;
    const ws = new WebSocket(`${wss}/ws`);
    ws.onopen = () => ws.send(JSON.stringify({ op: 'sub', id: 1, topics: [topic] }));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.op === 'ok' && m.id === 1) r.wsOk = m;
      else if (m.op === 'msg') r.ws.push(m);
    };
    ws.onerror = () => r.errors.push('ws error');
    const es = new EventSource(`${https}/sse?topics=${encodeURIComponent(topic)}`);
    es.addEventListener('sub', (e) => { r.sseSub = JSON.parse(e.data); });
    es.onmessage = (e) => r.sse.push(JSON.parse(e.data));
    es.onerror = () => r.errors.push(`sse error, readyState ${es.readyState}`);
    window.streams = { ws, es };
  }, { wss: srv.wss, https: srv.https, topic: t });
  await waitFor(() => b.page.evaluate(() => window.r.wsOk && window.r.sseSub), { message: 'both subscribed' })
    .catch(async (e) => { e.message += ` (in the page: ${JSON.stringify(await b.page.evaluate(() => window.r))})`; throw e; });

  const { seq } = await publish(srv.http, t, { bid: 101.25 });
  const pad = crypto.randomBytes(75000).toString('base64'); // 100,000 incompressible characters
  const big = await publish(srv.http, t, { pad });
  const got = await waitFor(() => b.page.evaluate(() => (window.r.ws.length >= 2 && window.r.sse.length >= 2 ? window.r : null)),
    { message: 'both deliveries on both streams' });
  for (const [name, list] of [['wss', got.ws], ['https sse', got.sse]]) {
    assert.deepEqual(list.map((m) => [m.topic, m.seq]), [[t, seq], [t, big.seq]], name);
    assert.deepEqual(list[0].data, { bid: 101.25 }, name);
    assert.equal(list[1].data.pad.length, pad.length, name);
    assert.equal(list[1].data.pad, pad, `${name}: 100 KB intact`);
  }
  assert.deepEqual(got.errors, []);
  assert.equal(await b.page.evaluate(() => window.streams.ws.readyState), 1);
  assert.equal(await b.page.evaluate(() => window.streams.es.readyState), 1);
  await b.page.evaluate(() => { window.streams.ws.close(); window.streams.es.close(); });
  assert.deepEqual(b.errors.map(String), []);
});
