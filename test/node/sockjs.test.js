// SockJS in Node against the real server, with the official sockjs-client
// 1.x from npm, unmodified (in Node it has the websocket, xhr-streaming,
// xhr-polling and eventsource transports): the reference client (c1m.js)
// over each of them on /sockjs, with recovery across cuts by a TCP proxy
// (lib/proxy.js) over a 10,000-message stream, transport 'auto' falling back
// from a WebSocket that fails to open, the declarations of the SockJS
// options type-checked; and @stomp/stompjs over sockjs-client on
// /stomp-sockjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Client as Stomp } from '@stomp/stompjs';
import { Client, Transport } from '../../web/c1m.js';
import { waitFor, publish, publishBatch, publishBytes, topicPrefix, testFixtures } from './lib/server.js';
import { startProxy } from './lib/proxy.js';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
const { server, clients } = testFixtures();
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// Records what a c1m.js client sees.
function record(c) {
  const r = { c, seqs: {}, msgs: [], n: 0, states: [], vias: [], errors: [], topics: [] };
  c.on('message', (topic, data, meta) => {
    (r.seqs[topic] ||= []).push(meta.snap ? -meta.seq : meta.seq);
    if (r.msgs.length < 1000) r.msgs.push({ topic, data, meta });
    r.n++;
  });
  c.on('state', (s, info) => { r.states.push(s); if (info.via) r.vias.push(info.via); });
  c.on('topic', (topic, st) => r.topics.push({ topic, ...st }));
  c.on('error', (e) => r.errors.push(String(e)));
  return r;
}

const NODE_TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];

for (const name of NODE_TRANSPORTS) {
  test(`c1m.js over sockjs-client (${name}): subscribe with snapshots, live JSON and binary deliveries, publish and ping, publishBinary refused`, async () => {
    const srv = await server({ args: ['--client-publish'] });
    const p = topicPrefix(`nsj${name.replace(/[^a-z]/g, '')}`);
    await publish(srv.http, `${p}.a`, { v: 0 });
    const c = new Client(`${srv.http}/sockjs`, { transport: 'sockjs', SockJS, sockjsOptions: { transports: [name] } });
    clients.push(c);
    const r = record(c);
    assert.equal(c.transport, 'sockjs');
    const ok = await c.subscribe(`${p}.>`);
    assert.deepEqual(Object.keys(ok.topics), [`${p}.a`]);
    assert.equal(typeof ok.epoch, 'string');
    assert.deepEqual(r.vias, [name], 'the SockJS transport used');
    await waitFor(() => r.n === 1, { message: 'the snapshot' });
    assert.deepEqual(r.msgs[0].data, { v: 0 });
    assert.equal(r.msgs[0].meta.snap, true);
    // Live: HTTP publishes, one over the client itself, one binary.
    await publishBatch(srv.http, range(1, 300).map((i) => ({ topic: `${p}.b`, data: { i, s: 'é"\\\n\u2028' } })));
    const pub = await c.publish(`${p}.a`, { v: 1, s: '<script>&' });
    assert.equal(pub.op, 'ok');
    const bytes = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 0x80, 10, 13]);
    await publishBytes(srv.http, `${p}.a`, bytes);
    await waitFor(() => r.n === 303, { message: `303 deliveries (have ${r.n})` });
    assert.deepEqual(r.seqs[`${p}.b`], range(1, 300));
    assert.deepEqual(r.seqs[`${p}.a`], [-1, 2, 3]);
    assert.deepEqual(r.msgs.find((m) => m.meta.seq === 2 && m.topic === `${p}.a`).data, { v: 1, s: '<script>&' });
    assert.deepEqual(r.msgs.find((m) => m.meta.seq === 150).data, { i: 150, s: 'é"\\\n\u2028' });
    const bin = r.msgs.find((m) => m.meta.binary);
    assert.ok(bin.data instanceof Uint8Array);
    assert.deepEqual([...bin.data], [...bytes]);
    assert.equal(typeof bin.meta.tsBig, 'bigint');
    assert.equal((await c.ping()).op, 'ok');
    await assert.rejects(c.publishBinary(`${p}.a`, bytes), (e) => e.code === 'unsupported');
    assert.deepEqual(r.errors, []);
    assert.equal(c.stats.gaps + c.stats.duplicates, 0);
    await c.close();
    assert.equal(c.state, 'closed');
  });
}

for (const name of ['websocket', 'xhr-polling']) {
  test(`c1m.js over sockjs-client (${name}) through a proxy: 10,000 messages across two mid-flight cuts, exactly once and in order`, async () => {
    const srv = await server({ args: ['--history-size', '20000'] });
    const proxy = await startProxy(srv.port);
    const t = topicPrefix(`nsjcut${name.replace(/[^a-z]/g, '')}`);
    const topics = [`${t}.a`, `${t}.b`, `${t}.c`, `${t}.d`];
    const c = new Client(`http://127.0.0.1:${proxy.port}/sockjs`, {
      transport: 'sockjs', SockJS, sockjsOptions: { transports: [name] }, backoffInitial: 50, backoffMax: 300,
    });
    clients.push(c);
    const r = record(c);
    await c.subscribe(`${t}.>`);
    const N = 10000;
    let published = 0;
    // The feeder stops at 4,000 and at 7,500 published until that cut is
    // done, so that both cuts fall while messages are still to come.
    let cut1Done, cut2Done;
    const gates = { 4000: new Promise((res) => { cut1Done = res; }), 7500: new Promise((res) => { cut2Done = res; }) };
    const feeding = (async () => {
      for (let i = 0; i < N; i += 500) {
        await waitFor(() => r.n >= i - 2000, { timeout: 30000, message: `the client to catch up to ${i - 2000} (has ${r.n})` });
        if (gates[i]) await gates[i];
        await publishBatch(srv.http, Array.from({ length: 500 }, (_, k) => ({ topic: topics[(i + k) % 4], data: { i: i + k } })));
        published = i + 500;
      }
    })();
    // A cut can fall between two polls of the session, which loses nothing:
    // cut until the client sees its connection go.
    const cutUntilLost = (reconnects) => waitFor(() => {
      if (c.state !== 'open' || c.stats.reconnects > reconnects) return true;
      proxy.cut();
      return false;
    }, { timeout: 10000, interval: 50, message: 'the client to lose its connection to a cut' });
    await waitFor(() => r.n >= 3000, { timeout: 30000, message: '3000 deliveries' });
    const cut1 = published;
    await cutUntilLost(0);
    cut1Done();
    await waitFor(() => c.state === 'open' && c.stats.reconnects === 1, { timeout: 15000, message: 'the first reconnect' });
    await waitFor(() => r.n >= 6500, { timeout: 30000, message: '6500 deliveries' });
    const cut2 = published;
    await cutUntilLost(1);
    cut2Done();
    await feeding;
    await waitFor(() => r.n >= N, { timeout: 30000, message: `${N} deliveries (have ${r.n})` });
    for (const tp of topics) assert.deepEqual(r.seqs[tp], range(1, N / 4), `${tp}: every seq once, in order`);
    assert.equal(r.n, N);
    assert.ok(cut1 < N && cut2 < N, `cuts while publishing (${cut1}, ${cut2})`);
    assert.equal(c.stats.gaps, 0);
    assert.equal(c.stats.duplicates, 0);
    assert.equal(c.stats.reconnects, 2);
    assert.equal(c.stats.notRecovered, 0);
    assert.equal(r.topics.filter((x) => x.recovered === true).length, 8, 'both resumes recovered all four topics');
    assert.deepEqual(r.vias, [name, name, name]);
    assert.deepEqual(r.errors, []);
    await c.close();
    await proxy.close();
  });
}

test('transport \'auto\': a WebSocket refused (404) or one that never opens falls back to SockJS for good, with data and publishing', async () => {
  const srv = await server({ args: ['--client-publish'] });
  // A network that answers the upgrade of /ws with an error: the client's
  // WebSocket goes to a path the server does not upgrade.
  class Refused extends WebSocket {
    constructor(url) { super(url.replace(/\/ws$/, '/not-a-websocket')); }
  }
  // A network that swallows the upgrade: the WebSocket never opens.
  class Hanging {
    constructor(url) { this.url = url; this.readyState = 0; Hanging.made++; }
    send() { throw new Error('not open'); }
    close() { this.readyState = 3; }
  }
  Hanging.made = 0;
  for (const [WS, openTimeout] of [[Refused, 5000], [Hanging, 300]]) {
    const p = topicPrefix('nsjauto');
    await publish(srv.http, `${p}.x`, 1);
    const c = new Client(`${srv.ws}/ws`, { transport: Transport.AUTO, WebSocket: WS, SockJS, openTimeout, backoffInitial: 50 });
    clients.push(c);
    const r = record(c);
    const fell = [];
    c.on('transport', (tr, info) => fell.push({ tr, ...info }));
    assert.equal(c.transport, 'websocket', 'auto starts on WebSocket');
    const ok = await c.subscribe(`${p}.>`);
    assert.deepEqual(Object.keys(ok.topics), [`${p}.x`]);
    assert.equal(c.transport, 'sockjs');
    assert.equal(fell.length, 1, JSON.stringify(fell));
    assert.equal(fell[0].tr, 'sockjs');
    assert.equal(fell[0].from, 'websocket');
    if (WS === Hanging) assert.match(fell[0].reason, /not open after 300 ms/);
    assert.equal(r.states[0], 'open', 'the fallback is part of connecting, not a reconnect');
    assert.equal(r.vias[0], 'websocket', 'SockJS itself uses its websocket transport where it can');
    await c.publish(`${p}.x`, 2);
    await waitFor(() => r.n === 2, { message: 'snapshot and the publish' });
    assert.deepEqual(r.seqs[`${p}.x`], [-1, 2]);
    // It stays on SockJS across a reconnect.
    c.reconnect();
    await waitFor(() => c.state === 'open' && c.stats.reconnects === 1, { message: 'reconnected' });
    assert.equal(c.transport, 'sockjs');
    assert.equal(fell.length, 1);
    await publish(srv.http, `${p}.x`, 3);
    await waitFor(() => r.n === 3, { message: 'the live message after the reconnect' });
    assert.equal(c.stats.recovered, 1);
    assert.deepEqual(r.errors, []);
    await c.close();
  }
  assert.equal(Hanging.made, 1);
});

test('ClientOptions for SockJS type-check (tsc --noEmit, strict) and a missing SockJS is reported', async () => {
  assert.throws(() => new Client('http://127.0.0.1:1/sockjs', { transport: 'sockjs', autoConnect: false }), /no SockJS implementation/);
  const dir = mkdtempSync(path.join(tmpdir(), 'c1m-sockjs-types-'));
  try {
    const web = path.relative(dir, fileURLToPath(new URL('../../web/c1m.js', import.meta.url))).split(path.sep).join('/');
    writeFileSync(path.join(dir, 'consumer.mts'), `
import { Client, Transport, type ActiveTransport, type SockJSConstructor } from '${web.startsWith('.') ? web : `./${web}`}';
declare const SockJS: SockJSConstructor;
const c = new Client('http://127.0.0.1:8080/sockjs', { transport: 'sockjs', SockJS, sockjsOptions: { transports: ['xhr-streaming'], timeout: 5000 } });
const a = new Client('ws://127.0.0.1:8080/ws', { transport: Transport.AUTO, SockJS, openTimeout: 2000, sockjsUrl: 'http://127.0.0.1:8080/sockjs' });
const t: ActiveTransport = a.transport;
a.on('transport', (to, info) => { const from: ActiveTransport = info.from; console.log(to, from, info.code, info.reason); });
c.on('state', (s, info) => console.log(s, info.via?.toUpperCase()));
// @ts-expect-error: 'auto' is never the transport in use
const bad: 'auto' = c.transport;
console.log(t, bad);
`);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['es2022', 'dom'], types: [],
        strict: true, noEmit: true, skipLibCheck: false, exactOptionalPropertyTypes: true,
      },
      files: ['consumer.mts'],
    }));
    const tsc = require.resolve('typescript/bin/tsc');
    await new Promise((resolve, reject) => execFile(process.execPath, [tsc, '-p', dir], { timeout: 60000 }, (err, stdout, stderr) => (err ? reject(new Error(`tsc failed:\n${stdout}${stderr}`)) : resolve())));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- STOMP over SockJS --------------------------------------------------------

for (const name of ['websocket', 'xhr-streaming', 'xhr-polling']) {
  test(`@stomp/stompjs over sockjs-client (${name}) on /stomp-sockjs: CONNECTED, snapshot then live MESSAGEs, SEND with a receipt, DISCONNECT`, async (t) => {
    const srv = await server({ args: ['--client-publish'] });
    const p = topicPrefix(`nsjstomp${name.replace(/[^a-z]/g, '')}`);
    await publish(srv.http, `${p}.X.quote`, { px: 1 });
    await publish(srv.http, `${p}.Y.quote`, { px: 2 });
    const rec = { connects: [], errors: [], closes: [], got: [], receipts: {}, via: null };
    let sock;
    const c = new Stomp({
      webSocketFactory: () => (sock = new SockJS(`${srv.http}/stomp-sockjs`, null, { transports: [name] })),
      reconnectDelay: 0,
      onConnect: (f) => { rec.connects.push(f.headers); rec.via = sock.transport; },
      onStompError: (f) => rec.errors.push({ headers: f.headers, body: f.body }),
      onWebSocketClose: (e) => rec.closes.push(e.code),
    });
    t.after(() => c.deactivate({ force: true }));
    c.activate();
    await waitFor(() => c.connected, { message: 'CONNECTED' });
    assert.equal(rec.connects[0].version, '1.2');
    assert.equal(rec.connects[0].server, 'c1m');
    assert.equal(rec.via, name);
    c.watchForReceipt('r1', (f) => { rec.receipts.r1 = f.headers; });
    c.subscribe(`/topic/${p}.*.quote`, (m) => rec.got.push({ headers: m.headers, body: m.body }), { receipt: 'r1' });
    await waitFor(() => rec.got.length === 2 && rec.receipts.r1, { message: 'the snapshots and the receipt' });
    await publishBatch(srv.http, range(3, 200).map((i) => ({ topic: `${p}.X.quote`, data: { px: i } })));
    c.watchForReceipt('s1', (f) => { rec.receipts.s1 = f.headers; });
    c.publish({ destination: `/topic/${p}.Y.quote`, body: JSON.stringify({ px: 'sent', s: 'é"\\\n' }), headers: { receipt: 's1', 'content-type': 'application/json' } });
    await waitFor(() => rec.got.length === 2 + 198 + 1 && rec.receipts.s1, { message: `all MESSAGEs (have ${rec.got.length})` });
    assert.ok(rec.got.slice(0, 2).every((m) => m.headers['x-c1m-snap'] === 'true'));
    assert.deepEqual(rec.got.slice(0, 2).map((m) => m.body).sort(), ['{"px":1}', '{"px":2}']);
    const xs = rec.got.filter((m) => m.headers.destination === `/topic/${p}.X.quote` && !m.headers['x-c1m-snap']);
    assert.deepEqual(xs.map((m) => JSON.parse(m.body).px), range(3, 200));
    assert.deepEqual(xs.map((m) => Number(m.headers['x-c1m-seq'])), range(2, 199));
    const sent = rec.got.find((m) => m.headers.destination === `/topic/${p}.Y.quote` && !m.headers['x-c1m-snap']);
    assert.deepEqual(JSON.parse(sent.body), { px: 'sent', s: 'é"\\\n' });
    assert.equal(sent.headers['message-id'], `${p}.Y.quote/2`);
    assert.ok(rec.receipts.r1['x-c1m-epoch']);
    assert.deepEqual(rec.errors, []);
    await c.deactivate();
    assert.equal(c.connected, false);
    await waitFor(() => rec.closes.length === 1, { message: 'the close' });
  });
}
