// The reference client (served /c1m.js) running in the browser: recovery of
// messages published while it was disconnected, and a server restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publish, publishBatch, topicPrefix } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
before(async () => {
  srv = await startServer({ args: ['--demo=false'] });
  b = await launch();
  await b.page.goto(`${srv.http}/`);
  // A client whose reconnects the test can hold back (gate), exposed on window.
  await b.page.evaluate(async () => {
    const { Client } = await import('/c1m.js');
    const gate = { open: true };
    class Gated extends WebSocket {
      constructor(url) { super(gate.open ? url : 'ws://127.0.0.1:9/'); }
    }
    window.gate = gate;
    window.makeClient = (pattern) => {
      const c = new Client(`ws://${location.host}/ws`, { WebSocket: Gated, backoffInitial: 50, backoffMax: 300 });
      c.got = [];
      c.topicStates = [];
      c.on('message', (topic, data, meta) => c.got.push({ topic, data, ...meta }));
      c.on('topic', (topic, st) => c.topicStates.push({ topic, ...st }));
      window.tc = c;
      return c.subscribe(pattern);
    };
  });
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

const until = (fn, arg, timeout = 15000) => b.page.waitForFunction(fn, arg, { timeout });

test('messages published while the page is disconnected are recovered: no loss, no duplicate', async () => {
  const t = topicPrefix('br');
  const topic = `${t}.x`;
  await publish(srv.http, topic, 0);
  await b.page.evaluate((p) => window.makeClient(p), `${t}.>`);
  await until(() => window.tc.got.length === 1); // the snapshot
  let n = 0;
  for (let round = 0; round < 3; round++) {
    await publishBatch(srv.http, Array.from({ length: 20 }, () => ({ topic, data: ++n })));
    // Cut the connection and hold the reconnect back while more is published.
    await b.page.evaluate(() => { window.gate.open = false; window.tc.reconnect(); });
    await until(() => window.tc.stats.attempts >= 2);
    await publishBatch(srv.http, Array.from({ length: 30 }, () => ({ topic, data: ++n })));
    await b.page.evaluate(() => { window.gate.open = true; });
    await until(([tp, last]) => window.tc.state === 'open' && window.tc.got.at(-1)?.data === last, [topic, n]);
  }
  const r = await b.page.evaluate(() => ({ got: window.tc.got, stats: window.tc.stats, states: window.tc.topicStates }));
  assert.deepEqual(r.got.map((m) => m.data), Array.from({ length: n + 1 }, (_, i) => i));
  assert.deepEqual(r.got.map((m) => m.seq), Array.from({ length: n + 1 }, (_, i) => i + 1));
  assert.equal(r.stats.gaps, 0);
  assert.equal(r.stats.duplicates, 0);
  assert.equal(r.stats.reconnects, 3);
  assert.equal(r.states.filter((s) => s.recovered === true).length, 3);
  assert.ok(r.states.every((s) => s.recovered !== false));
});

test('after a server restart the page client reports recovered:false and a new epoch', async () => {
  const t = topicPrefix('brr');
  const topic = `${t}.x`;
  await publish(srv.http, topic, 'before');
  await b.page.evaluate(async (p) => { await window.tc.close(); await window.makeClient(p); }, `${t}.>`);
  await until(() => window.tc.got.length === 1);
  const epoch1 = await b.page.evaluate(() => window.tc.got[0].epoch);
  await b.page.evaluate(() => { window.gate.open = false; });
  const port = srv.port;
  await srv.kill();
  await until(() => window.tc.state === 'reconnecting');
  srv = await startServer({ port, args: ['--demo=false'] });
  await publish(srv.http, topic, 'after');
  await b.page.evaluate(() => { window.gate.open = true; });
  await until(() => window.tc.state === 'open' && window.tc.got.length === 2);
  const r = await b.page.evaluate(() => ({ got: window.tc.got, stats: window.tc.stats, states: window.tc.topicStates }));
  const last = r.got[1];
  assert.equal(last.data, 'after');
  assert.equal(last.snap, true);
  assert.equal(last.seq, 1);
  assert.notEqual(last.epoch, epoch1);
  const st = r.states.at(-1);
  assert.equal(st.recovered, false);
  assert.notEqual(st.epoch, epoch1);
  assert.equal(r.stats.epochChanges, 1);
  assert.equal(r.stats.duplicates, 0);
  assert.deepEqual(b.errors.map(String), []);
});
