// Listener failures in the reference client (web/c1m.js) against the real
// server: a 'message' listener that throws must not break the client's
// dispatch loop, its sequence tracking or the other listeners, and the
// failure is reported: through 'error' when someone listens, else on
// console.error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, C1MError } from '../../web/c1m.js';
import { waitFor, publish, publishBatch, topicPrefix, testFixtures } from './lib/server.js';

const { server, clients } = testFixtures();

function client(s) {
  const c = new Client(`${s.ws}/ws`, { WebSocket, backoffInitial: 50, backoffMax: 400, ackTimeout: 5000 });
  clients.push(c);
  return c;
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('a throwing message listener: the other listeners get every message in order, errors go to the error event', async () => {
  const s = await server();
  const t = topicPrefix('throw');
  const c = client(s);
  const boom = new Error('listener bug');
  const before = [];
  const after = [];
  const errors = [];
  c.on('message', (topic, data, meta) => { before.push(meta.seq); });
  c.on('message', (topic, data) => { if (data % 2 === 0) throw boom; });
  c.on('message', (topic, data, meta) => { after.push(meta.seq); });
  c.on('error', (e) => errors.push(e));
  await c.subscribe(`${t}.>`);
  await publishBatch(s.http, range(1, 20).map((i) => ({ topic: `${t}.x`, data: i })));
  await waitFor(() => after.length === 20, { message: '20 messages to the listener after the throwing one' });
  assert.deepEqual(before, range(1, 20));
  assert.deepEqual(after, range(1, 20));
  assert.equal(errors.length, 10);
  for (const e of errors) {
    assert.ok(e instanceof C1MError, String(e));
    assert.equal(e.code, 'listener');
    assert.equal(e.cause, boom);
    assert.match(e.message, /'message' listener threw: listener bug/);
  }
  assert.equal(c.stats.delivered, 20);
  assert.equal(c.stats.gaps, 0);
  assert.equal(c.stats.duplicates, 0);
  assert.equal(c.positions()[`${t}.x`].seq, 20);
  // The connection is fine: operations still work.
  await c.ping();
  await publish(s.http, `${t}.x`, 21);
  await waitFor(() => after.length === 21, { message: 'a message after the errors' });
});

test('without an error listener, listener errors go to console.error; so do errors of error listeners', async (ctx) => {
  const logged = [];
  ctx.mock.method(console, 'error', (...args) => logged.push(args));
  const s = await server();
  const t = topicPrefix('unheard');
  const c = client(s);
  const got = [];
  c.on('message', () => { throw new TypeError('x.toFixed is not a function'); });
  c.on('message', (topic, data) => got.push(data));
  await c.subscribe(`${t}.>`);
  await publishBatch(s.http, range(1, 3).map((i) => ({ topic: `${t}.x`, data: i })));
  await waitFor(() => got.length === 3, { message: 'three messages' });
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(logged.length, 3, JSON.stringify(logged.map(String)));
  for (const args of logged) {
    const e = args.find((a) => a instanceof C1MError);
    assert.ok(e, `console.error(${args.map(String).join(', ')}) names the C1MError`);
    assert.ok(e.cause instanceof TypeError);
  }

  // An error listener that throws itself is reported on console.error too
  // (not to itself, which could loop).
  logged.length = 0;
  const seen = [];
  c.on('error', (e) => { seen.push(e); throw new Error('error listener bug'); });
  await publish(s.http, `${t}.x`, 4);
  await waitFor(() => got.length === 4 && logged.length === 1, { message: 'the fourth message and one console.error' });
  assert.equal(seen.length, 1);
  assert.ok(logged[0].some((a) => a instanceof Error && a.message === 'error listener bug'), String(logged[0]));
});
