// permessage-deflate with Chromium, which offers it on every WebSocket: the
// demo page keeps working with its deliveries compressed (the server's
// /stats count them), the browser's own WebSocket reports the extension,
// and its compressed messages (Chromium compresses everything) echo.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
before(async () => {
  // Threshold 0: the demo's 135-byte quotes go compressed too (the default
  // of 256 bytes would leave them plain).
  srv = await startServer({ args: ['--demo-rate', '100', '--demo-symbols', '8', '--deflate-threshold', '0'] });
  b = await launch();
});
after(async () => {
  await b?.close();
  await srv?.stop();
});

async function stats() {
  const res = await fetch(`${srv.http}/stats`);
  return res.json();
}

test('the demo page works over a deflate WebSocket and its deliveries are compressed', async () => {
  const page = b.page;
  const before = await stats();
  await page.goto(`${srv.http}/`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll('#rows td.bid:not(:empty)').length === 8, null, { timeout: 15000 });
  await page.waitForFunction(() => window.c1m.client.stats.delivered > 50, null, { timeout: 15000 });
  const st = await stats();
  assert.ok(st.poller.deflate_conns > before.poller.deflate_conns, 'the page negotiated permessage-deflate');
  assert.ok(st.poller.deflate_sent - before.poller.deflate_sent > 20, `compressed frames sent: ${st.poller.deflate_sent}`);
  assert.ok(st.deflate.compressed > before.deflate.compressed);
  assert.ok(st.poller.deflate_saved_bytes > before.poller.deflate_saved_bytes);
  const cs = await page.evaluate(() => window.c1m.client.stats);
  assert.equal(cs.gaps, 0);
  assert.equal(cs.duplicates, 0);
  assert.deepEqual(b.errors.map(String), []);
});

test('a browser WebSocket negotiates deflate; broadcasts and compressed echoes arrive intact', async () => {
  const page = b.page;
  const r = await page.evaluate(async ({ ws: base }) => {
    const open = (url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const inbox = [];
      const waiters = [];
      ws.onmessage = (e) => { inbox.push(e.data); while (waiters.length && inbox.length) waiters.shift()(inbox.shift()); };
      ws.next = () => new Promise((res) => (inbox.length ? res(inbox.shift()) : waiters.push(res)));
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error('websocket error'));
    });
    const out = {};
    const sub = await open(`${base}/ws`);
    out.extensions = sub.extensions;
    sub.send(JSON.stringify({ op: 'sub', id: 1, topics: ['br.deflate'] }));
    out.subReply = JSON.parse(await sub.next()).op;
    window.deflateSub = sub;
    const echo = await open(`${base}/echo`);
    out.echo = [];
    for (const n of [1, 100, 5000, 200000]) {
      const text = JSON.stringify({ pad: 'q'.repeat(n), n });
      echo.send(text);
      out.echo.push((await echo.next()) === text);
    }
    echo.close();
    return out;
  }, { ws: srv.ws });
  assert.match(r.extensions, /^permessage-deflate/);
  assert.equal(r.subReply, 'ok');
  assert.deepEqual(r.echo, [true, true, true, true]);

  const data = { levels: Array.from({ length: 20 }, (_, i) => ({ bid: 100 + i, ask: 101 + i, size: 1000 * i })) };
  const { seq } = await publish(srv.http, 'br.deflate', data);
  const got = await page.evaluate(async () => {
    for (;;) {
      const m = JSON.parse(await window.deflateSub.next());
      if (m.op === 'msg') return m;
    }
  });
  assert.equal(got.seq, seq);
  assert.deepEqual(got.data, data);
  const st = await stats();
  assert.ok(st.deflate.inflated > 0, 'the browser sent compressed messages');
  assert.deepEqual(b.errors.map(String), []);
});
