// Binary deliveries in the browser: the reference client (served /c1m.js)
// decodes binary frames of the native WebSocket into 'message' events, and
// publishBinary from the page round-trips through the server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, publishBytes, topicPrefix } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

test('the page client receives binary deliveries (HTTP octet-stream and its own publishBinary) in seq order with JSON ones', async () => {
  srv = await startServer({ args: ['--demo=false', '--client-publish'] });
  b = await launch();
  await b.page.goto(`${srv.http}/`);
  const t = topicPrefix('brbin');
  const topic = `${t}.x`;
  await publishBytes(srv.http, topic, Uint8Array.from([7, 0, 255])); // the last value: a binary snapshot
  await b.page.evaluate(async (pattern) => {
    const { Client } = await import('/c1m.js');
    const c = new Client(`ws://${location.host}/ws`);
    c.got = [];
    c.errors = [];
    c.on('message', (tp, data, meta) => c.got.push({
      topic: tp, seq: meta.seq, snap: meta.snap, binary: meta.binary,
      isBytes: data instanceof Uint8Array, bytes: data instanceof Uint8Array ? [...data] : data,
      tsBig: typeof meta.tsBig === 'bigint' ? String(meta.tsBig) : null,
    }));
    c.on('error', (e) => c.errors.push(String(e)));
    window.bc = c;
    await c.subscribe(pattern);
  }, `${t}.>`);
  await publish(srv.http, topic, { json: 2 });
  const big = Uint8Array.from({ length: 70000 }, (_, i) => (i * 31) & 255); // a 64-bit length WebSocket frame
  await publishBytes(srv.http, topic, big);
  await b.page.evaluate((tp) => window.bc.publishBinary(tp, new TextEncoder().encode('from the page')), topic);
  await b.page.waitForFunction(() => window.bc.got.length === 4, null, { timeout: 15000 });
  const r = await b.page.evaluate(() => ({ got: window.bc.got, stats: window.bc.stats, errors: window.bc.errors }));
  assert.deepEqual(r.got.map((m) => [m.seq, m.snap, m.binary, m.isBytes]),
    [[1, true, true, true], [2, false, false, false], [3, false, true, true], [4, false, true, true]]);
  assert.deepEqual(r.got[0].bytes, [7, 0, 255]);
  assert.deepEqual(r.got[1].bytes, { json: 2 });
  assert.ok(r.got[2].bytes.length === big.length && r.got[2].bytes.every((v, i) => v === big[i]), '70000 bytes intact');
  assert.equal(Buffer.from(r.got[3].bytes).toString(), 'from the page');
  const tsMs = Number(BigInt(r.got[3].tsBig) / 1000000n);
  assert.ok(Math.abs(tsMs - Date.now()) < 60000, `tsBig ${r.got[3].tsBig}`);
  assert.equal(r.stats.gaps, 0);
  assert.equal(r.stats.duplicates, 0);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(b.errors.map(String), []);
});
