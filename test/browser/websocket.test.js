// The browser's native WebSocket API against /echo on the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
before(async () => {
  srv = await startServer({ args: ['--demo=false'] });
  b = await launch();
  await b.page.goto(`${srv.http}/`); // same origin as the server
});
after(async () => {
  await b?.close();
  await srv?.stop();
});

// Runs in the page: opens /echo and returns helpers' results.
const openEcho = `
  window.openEcho = (url) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const inbox = [];
    const waiters = [];
    ws.onmessage = (e) => { inbox.push(e.data); while (waiters.length && inbox.length) waiters.shift()(inbox.shift()); };
    ws.next = () => new Promise((r) => (inbox.length ? r(inbox.shift()) : waiters.push(r)));
    ws.closed = new Promise((r) => ws.addEventListener('close', (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('websocket error'));
  });
  window.randomBytes = (n) => {
    const a = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(a.subarray(i, Math.min(n, i + 65536)));
    return a;
  };
`;

test('text and binary messages echo through the browser WebSocket', async () => {
  await b.page.addScriptTag({ content: openEcho });
  const r = await b.page.evaluate(async (url) => {
    const ws = await window.openEcho(url);
    const out = {};
    const text = 'h\u00e9llo \u20ac \ud83d\ude80 ' + 'x'.repeat(100000);
    ws.send(text);
    out.text = (await ws.next()) === text;
    out.binary = [];
    out.ms = [];
    for (const n of [0, 1, 126, 65536, 4 << 20]) {
      const bytes = window.randomBytes(n);
      const t0 = performance.now();
      ws.send(bytes);
      const got = new Uint8Array(await ws.next());
      out.ms.push(performance.now() - t0);
      out.binary.push(got.length === n && got.every((v, i) => v === bytes[i]));
    }
    ws.close(1000, 'done');
    out.close = await ws.closed;
    return out;
  }, `${srv.ws}/echo`);
  console.log('echo round trips (ms):', r.ms.map((x) => x.toFixed(1)).join(' '));
  assert.equal(r.text, true);
  assert.deepEqual(r.binary, [true, true, true, true, true]);
  // RFC 6455 5.5.1: the server echoes the status code (the reason is optional).
  assert.equal(r.close.code, 1000);
  assert.equal(r.close.wasClean, true);
});

test('an application close code is echoed back to the browser', async () => {
  const r = await b.page.evaluate(async (url) => {
    const ws = await window.openEcho(url);
    ws.close(4321, 'app-defined');
    return ws.closed;
  }, `${srv.ws}/echo`);
  assert.equal(r.code, 4321);
  assert.equal(r.wasClean, true);
});

test('a message over the size limit is closed by the server with 1009', async () => {
  const r = await b.page.evaluate(async (url) => {
    const ws = await window.openEcho(url);
    ws.send(new Uint8Array((16 << 20) + 1));
    return ws.closed;
  }, `${srv.ws}/echo`);
  // The code always arrives; wasClean may be false because the server closes
  // the TCP connection while the browser is still sending the 16 MiB message
  // (unread data makes the kernel send a reset).
  assert.equal(r.code, 1009);
});

test('a graceful server shutdown closes browser connections with 1001', async () => {
  const own = await startServer({ args: ['--demo=false'] });
  try {
    await b.page.evaluate(async (url) => { window.goingAway = await window.openEcho(url); }, `${own.ws}/echo`);
    const closed = b.page.evaluate(() => window.goingAway.closed);
    await own.stop();
    const r = await closed;
    assert.equal(r.code, 1001);
  } finally {
    if (own.proc.exitCode === null) await own.kill();
  }
});

test('the page saw no script errors', () => {
  assert.deepEqual(b.errors.map(String), []);
});
