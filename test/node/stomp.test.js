// STOMP 1.2 over WebSocket (/stomp) with the official @stomp/stompjs client,
// unmodified, in Node (its WebSocket is the ws package): CONNECTED and
// heart-beats, wildcard subscriptions, snapshot then live MESSAGEs and their
// headers, receipts, ack modes with prefetch-count, transactions, ERROR
// frames, DISCONNECT with a receipt, and reconnect with x-c1m-since recovery
// over a 10,000-message stream cut twice (zero loss, zero duplicates). A few
// checks that stompjs cannot make (subprotocol, version refusal, the server
// closing a silent client) use ws directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client } from '@stomp/stompjs';
import { waitFor, publish, publishBatch, publishBytes, topicPrefix, testFixtures } from './lib/server.js';
import { startProxy } from './lib/proxy.js';

const { server } = testFixtures();
const PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

// stomp opens a stompjs client on base (ws://host:port) and records what it
// sees; it is deactivated after the test. opts are Client options.
function stomp(t, base, opts = {}) {
  const rec = { frames: [], errors: [], closes: [], connects: [], beats: 0, log: [] };
  const c = new Client({
    webSocketFactory: () => new WebSocket(`${base}/stomp`, PROTOCOLS),
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: (s) => { if (rec.log.length < 2000 && !/^(<<< MESSAGE|Received data)/.test(s)) rec.log.push(s); },
    onConnect: (f) => rec.connects.push(f),
    onStompError: (f) => rec.errors.push(f),
    onWebSocketClose: (e) => rec.closes.push({ code: e.code, reason: e.reason }),
    onHeartbeatReceived: () => { rec.beats++; },
    onUnhandledMessage: (m) => rec.frames.push(m),
    ...opts,
  });
  c.rec = rec;
  t.after(() => c.deactivate({ force: true }));
  return c;
}

async function connected(c) {
  const n = c.rec.connects.length;
  if (!c.active) c.activate();
  await waitFor(() => c.rec.connects.length > n && c.connected, { message: 'CONNECTED' });
  return c.rec.connects.at(-1);
}

// receipt asks for a RECEIPT with id and resolves with its frame.
function receipt(c, id) {
  return new Promise((resolve) => c.watchForReceipt(id, resolve));
}

const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms))]);

// A minimal raw STOMP peer over ws, for frames stompjs would not send.
function raw(base, protocols = PROTOCOLS) {
  const ws = new WebSocket(`${base}/stomp`, protocols);
  const peer = { ws, frames: [], buf: '', closed: null };
  ws.on('message', (d) => {
    peer.buf += d.toString();
    for (let i; (i = peer.buf.indexOf('\0')) >= 0;) {
      const text = peer.buf.slice(0, i).replace(/^\n+/, '');
      peer.buf = peer.buf.slice(i + 1);
      const [head, ...body] = text.split('\n\n');
      const [command, ...lines] = head.split('\n');
      const headers = {};
      for (const l of lines) { const j = l.indexOf(':'); if (!(l.slice(0, j) in headers)) headers[l.slice(0, j)] = l.slice(j + 1); }
      peer.frames.push({ command, headers, body: body.join('\n\n') });
    }
  });
  ws.on('close', (code, reason) => { peer.closed = { code, reason: reason.toString() }; });
  peer.open = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  peer.send = (command, headers = {}, body = '') =>
    ws.send(`${command}\n${Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join('')}\n${body}\0`);
  return peer;
}

test('CONNECTED: version 1.2, session, server, heart-beat offer; heart-beats both ways keep the client connected', async (t) => {
  const srv = await server({ args: ['--stomp-heartbeat', '200ms,200ms'] });
  const c = stomp(t, srv.ws, { heartbeatIncoming: 200, heartbeatOutgoing: 200 });
  const f = await connected(c);
  assert.equal(f.headers.version, '1.2');
  assert.equal(f.headers.server, 'c1m');
  assert.equal(f.headers['heart-beat'], '200,200');
  assert.ok(f.headers.session, 'session header');
  assert.ok(c.rec.log.includes('send PING every 200ms'), c.rec.log.join('\n'));
  assert.ok(c.rec.log.includes('check PONG every 200ms'));
  // Ten server heart-beats: about 2 s, ten times the interval and five times
  // the server's 2x timeout for the client's own beats.
  await waitFor(() => c.rec.beats >= 10, { message: '10 heart-beats from the server' });
  assert.ok(c.connected);
  assert.deepEqual(c.rec.closes, []);
  assert.ok(c.rec.log.filter((l) => l === '>>> PING').length >= 5, 'client sent heart-beats');
  assert.ok(!c.rec.log.some((l) => /did not receive server activity/.test(l)));
});

test('negotiation with ws: subprotocol v12.stomp; none offered is accepted; no common version is an ERROR with version', async () => {
  const srv = await server({ args: ['--stomp-heartbeat', '0,0'] });
  const a = raw(srv.ws);
  await a.open;
  assert.equal(a.ws.protocol, 'v12.stomp');
  a.send('CONNECT', { 'accept-version': '1.1', host: 'x' });
  await waitFor(() => a.frames.length === 1);
  assert.equal(a.frames[0].command, 'CONNECTED');
  assert.equal(a.frames[0].headers.version, '1.1');
  assert.equal(a.frames[0].headers['heart-beat'], '0,0');
  a.ws.close();

  const b = raw(srv.ws, []);
  await b.open;
  assert.equal(b.ws.protocol, '');
  b.send('STOMP', { 'accept-version': '2.0,3.1', host: 'x', receipt: 'r-v' });
  await waitFor(() => b.frames.length === 1 && b.closed, { message: 'ERROR then close' });
  assert.equal(b.frames[0].command, 'ERROR');
  assert.equal(b.frames[0].headers.version, '1.0,1.1,1.2');
  assert.ok(b.frames[0].headers.message);
  assert.ok(b.frames[0].body.length > 0, 'ERROR has a text body');
});

test('a client silent past twice its heart-beat interval is closed with 1008', async () => {
  const srv = await server({ args: ['--stomp-heartbeat', '100ms,100ms'] });
  const a = raw(srv.ws);
  await a.open;
  const t0 = Date.now();
  a.send('CONNECT', { 'accept-version': '1.2', host: 'x', 'heart-beat': '150,0' });
  await waitFor(() => a.closed, { message: 'server closes the silent client' });
  const took = Date.now() - t0;
  assert.equal(a.frames[0].command, 'CONNECTED');
  assert.equal(a.closed.code, 1008);
  // 2 x max(150, 100) = 300 ms, swept every 25 ms.
  assert.ok(took >= 290 && took < 3000, `closed after ${took}ms`);
});

test('wildcard subscriptions: snapshot of each matching topic (x-c1m-snap) then live messages with the contract headers', async (t) => {
  const srv = await server();
  const p = topicPrefix('md');
  await publish(srv.http, `${p}.md.AAA.quote`, { px: 1 });
  await publish(srv.http, `${p}.md.BBB.quote`, { px: 2 });
  await publish(srv.http, `${p}.md.AAA.trade`, { q: 3 });
  await publish(srv.http, `${p}.md.AAA.quote.x`, { no: 1 }); // * is one token
  const c = stomp(t, srv.ws);
  await connected(c);
  const quotes = [];
  const all = [];
  c.subscribe(`/topic/${p}.md.*.quote`, (m) => quotes.push(m));
  const r = receipt(c, 'r-all');
  c.subscribe(`/topic/${p}.md.>`, (m) => all.push(m), { receipt: 'r-all' });
  const rf = await within(r, 5000, 'RECEIPT of SUBSCRIBE');
  assert.ok(rf.headers['x-c1m-epoch'], 'receipt has x-c1m-epoch');
  await waitFor(() => quotes.length === 2 && all.length === 4, { message: 'snapshots' });
  assert.deepEqual(quotes.map((m) => m.headers.destination).sort(), [`/topic/${p}.md.AAA.quote`, `/topic/${p}.md.BBB.quote`]);
  assert.ok(quotes.every((m) => m.headers['x-c1m-snap'] === 'true'));
  assert.ok(all.every((m) => m.headers['x-c1m-snap'] === 'true'));
  assert.deepEqual(all.map((m) => m.headers.destination).sort(),
    [`${p}.md.AAA.quote`, `${p}.md.AAA.quote.x`, `${p}.md.AAA.trade`, `${p}.md.BBB.quote`].map((x) => `/topic/${x}`));

  for (let i = 1; i <= 3; i++) await publish(srv.http, `${p}.md.BBB.quote`, { px: 10 + i });
  await publish(srv.http, `${p}.md.CCC.trade`, 'x');
  await waitFor(() => quotes.length === 5 && all.length === 8, { message: 'live messages' });
  const live = quotes.slice(2);
  assert.deepEqual(live.map((m) => JSON.parse(m.body)), [{ px: 11 }, { px: 12 }, { px: 13 }]);
  assert.deepEqual(live.map((m) => m.headers['x-c1m-seq']), ['2', '3', '4']);
  assert.equal(all.at(-1).body, '"x"');
  const m = live[0];
  assert.ok(!('x-c1m-snap' in m.headers));
  assert.equal(m.headers.subscription, quotes[0].headers.subscription);
  assert.notEqual(m.headers.subscription, all[0].headers.subscription);
  assert.equal(m.headers['message-id'], `${p}.md.BBB.quote/2`);
  assert.equal(m.headers['content-type'], 'application/json');
  assert.equal(m.headers['content-length'], String(Buffer.byteLength(m.body)));
  assert.equal(m.headers['x-c1m-epoch'], rf.headers['x-c1m-epoch']);
  assert.ok(!('ack' in m.headers), 'no ack header with ack auto');
  const ts = BigInt(m.headers['x-c1m-ts']);
  assert.ok(ts > BigInt(Date.now() - 60000) * 1000000n && ts < BigInt(Date.now() + 60000) * 1000000n, `x-c1m-ts ${ts}`);

  // /queue/ names the same topic; a receipt of an exact destination has its seq.
  const q = [];
  const rq = receipt(c, 'r-q');
  c.subscribe(`/queue/${p}.md.BBB.quote`, (x) => q.push(x), { receipt: 'r-q' });
  assert.equal((await within(rq, 5000, 'RECEIPT')).headers['x-c1m-seq'], '4');
  await waitFor(() => q.length === 1);
  assert.equal(q[0].headers.destination, `/queue/${p}.md.BBB.quote`);
  assert.equal(q[0].headers['x-c1m-snap'], 'true');
  assert.equal(q[0].body, '{"px":13}');

  // Binary data: octet-stream, body bytes exact (invalid UTF-8 in a binary frame).
  const bytes = Uint8Array.from([0xff, 0x00, 0xfe, 0x41]);
  await publishBytes(srv.http, `${p}.md.BBB.quote`, bytes);
  await waitFor(() => q.length === 2 && quotes.length === 6);
  assert.equal(q[1].headers['content-type'], 'application/octet-stream');
  assert.deepEqual([...q[1].binaryBody], [...bytes]);
  assert.equal(q[1].headers['content-length'], '4');
  assert.deepEqual(c.rec.errors, []);
});

test('receipts for SUBSCRIBE, UNSUBSCRIBE and SEND; SEND publishes JSON and binary', async (t) => {
  const srv = await server({ args: ['--client-publish'] });
  const p = topicPrefix('rc');
  const c = stomp(t, srv.ws);
  await connected(c);
  const got = [];
  const r1 = receipt(c, 's1');
  const sub = c.subscribe(`/topic/${p}.a`, (m) => got.push(m), { receipt: 's1' });
  const f1 = await within(r1, 5000, 'SUBSCRIBE receipt');
  assert.equal(f1.headers['receipt-id'], 's1');
  assert.equal(f1.headers['x-c1m-seq'], '0');
  const r2 = receipt(c, 'p1');
  c.publish({ destination: `/topic/${p}.a`, body: '{"v":1}', headers: { receipt: 'p1' } });
  await within(r2, 5000, 'SEND receipt');
  c.publish({ destination: `/topic/${p}.a`, body: 'not json' });
  c.publish({ destination: `/topic/${p}.a`, binaryBody: Uint8Array.from([1, 2, 0, 255]) });
  await waitFor(() => got.length === 3);
  assert.equal(got[0].body, '{"v":1}');
  assert.equal(got[0].headers['content-type'], 'application/json');
  assert.equal(got[1].body, 'not json');
  assert.equal(got[1].headers['content-type'], 'application/octet-stream');
  assert.deepEqual([...got[2].binaryBody], [1, 2, 0, 255]);
  assert.deepEqual(got.map((m) => m.headers['x-c1m-seq']), ['1', '2', '3']);
  const r3 = receipt(c, 'u1');
  sub.unsubscribe({ receipt: 'u1' });
  await within(r3, 5000, 'UNSUBSCRIBE receipt');
  const r4 = receipt(c, 'p2');
  c.publish({ destination: `/topic/${p}.a`, body: '2', headers: { receipt: 'p2' } });
  await within(r4, 5000, 'SEND receipt');
  // A sentinel on another subscription: once it is here, nothing more for the old one.
  const s = [];
  c.subscribe(`/topic/${p}.b`, (m) => s.push(m));
  c.publish({ destination: `/topic/${p}.b`, body: '0' });
  await waitFor(() => s.length === 1);
  assert.equal(got.length, 3);
  assert.deepEqual(c.rec.errors, []);
});

test('SEND is refused without --client-publish, and without the token when one is set', async (t) => {
  const off = await server();
  const a = stomp(t, off.ws);
  await connected(a);
  a.publish({ destination: '/topic/x.y', body: '1', headers: { receipt: 'nope' } });
  await waitFor(() => a.rec.errors.length === 1 && a.rec.closes.length === 1);
  assert.equal(a.rec.errors[0].headers.message, 'publish refused');
  assert.equal(a.rec.errors[0].headers['receipt-id'], 'nope');

  const tok = await server({ args: ['--client-publish', '--publish-token', 's3cret'] });
  const b = stomp(t, tok.ws, { connectHeaders: { login: 'u', passcode: 'wrong' } });
  await connected(b);
  b.publish({ destination: '/topic/x.y', body: '1' });
  await waitFor(() => b.rec.errors.length === 1);
  assert.equal(b.rec.errors[0].headers.message, 'publish refused');
  for (const connectHeaders of [{ login: 'u', passcode: 's3cret' }, { authorization: 'Bearer s3cret' }]) {
    const c = stomp(t, tok.ws, { connectHeaders });
    await connected(c);
    const r = receipt(c, 'ok');
    c.publish({ destination: '/topic/x.y', body: '1', headers: { receipt: 'ok' } });
    await within(r, 5000, `SEND receipt with ${JSON.stringify(connectHeaders)}`);
    assert.deepEqual(c.rec.errors, []);
  }
});

test('client-individual with prefetch-count 2: two in flight until acked; NACK frees a slot', async (t) => {
  const srv = await server();
  const p = topicPrefix('ci');
  const c = stomp(t, srv.ws);
  await connected(c);
  const held = [];
  const every = [];
  const r = receipt(c, 'sub');
  c.subscribe(`/topic/${p}.x`, (m) => held.push(m), { ack: 'client-individual', 'prefetch-count': '2', receipt: 'sub' });
  c.subscribe(`/topic/${p}.x`, (m) => every.push(m)); // auto: the sentinel
  await within(r, 5000, 'RECEIPT');
  await publishBatch(srv.http, Array.from({ length: 6 }, (_, i) => ({ topic: `${p}.x`, data: i + 1 })));
  await waitFor(() => every.length === 6, { message: 'all six on the auto subscription' });
  assert.equal(held.length, 2, 'only prefetch-count MESSAGEs in flight');
  assert.deepEqual(held.map((m) => m.body), ['1', '2']);
  assert.equal(held[0].headers.ack, `${p}.x/1/${held[0].headers.subscription}`);

  // ACK the second (individually): exactly one more arrives, before the ACK's receipt.
  let rr = receipt(c, 'a2');
  held[1].ack({ receipt: 'a2' });
  await within(rr, 5000, 'ACK receipt');
  await waitFor(() => held.length === 3);
  assert.equal(held[2].body, '3');
  rr = receipt(c, 'n1');
  held[0].nack({ receipt: 'n1' }); // frees its slot, no redelivery
  await within(rr, 5000, 'NACK receipt');
  await waitFor(() => held.length === 4);
  assert.equal(held[3].body, '4');
  for (const m of held.slice(2)) m.ack();
  await waitFor(() => held.length === 6);
  assert.deepEqual(held.map((m) => m.body), ['1', '2', '3', '4', '5', '6']);
  assert.deepEqual(c.rec.errors, []);

  // ACK of an already acknowledged message: ERROR unknown message, then close.
  held[1].ack({ receipt: 'again' });
  await waitFor(() => c.rec.errors.length === 1 && c.rec.closes.length === 1);
  assert.equal(c.rec.errors[0].headers.message, 'unknown message');
  assert.equal(c.rec.errors[0].headers['receipt-id'], 'again');
  assert.ok(c.rec.errors[0].body.length > 0);
});

test('client (cumulative) ack with prefetch-count 3: acking the third frees all three', async (t) => {
  const srv = await server();
  const p = topicPrefix('cc');
  const c = stomp(t, srv.ws);
  await connected(c);
  const held = [];
  const every = [];
  const r = receipt(c, 'sub');
  c.subscribe(`/topic/${p}.>`, (m) => held.push(m), { ack: 'client', 'prefetch-count': '3', receipt: 'sub' });
  c.subscribe(`/topic/${p}.>`, (m) => every.push(m));
  await within(r, 5000, 'RECEIPT');
  await publishBatch(srv.http, Array.from({ length: 8 }, (_, i) => ({ topic: `${p}.${i % 2 ? 'b' : 'a'}`, data: i })));
  await waitFor(() => every.length === 8);
  assert.equal(held.length, 3);
  const rr = receipt(c, 'c3');
  held[2].ack({ receipt: 'c3' });
  await within(rr, 5000, 'ACK receipt');
  await waitFor(() => held.length === 6);
  assert.deepEqual(held.map((m) => m.body), ['0', '1', '2', '3', '4', '5']);
  held[5].ack();
  await waitFor(() => held.length === 8);
  // The first was acknowledged cumulatively: acking it again is an ERROR.
  held[0].ack();
  await waitFor(() => c.rec.errors.length === 1);
  assert.equal(c.rec.errors[0].headers.message, 'unknown message');
});

test('transactions: SENDs are delivered at COMMIT, all together; ABORT drops them', async (t) => {
  const srv = await server({ args: ['--client-publish'] });
  const p = topicPrefix('tx');
  const sub = stomp(t, srv.ws);
  const pub = stomp(t, srv.ws);
  await connected(sub);
  await connected(pub);
  const got = [];
  const r = receipt(sub, 'sub');
  sub.subscribe(`/topic/${p}.>`, (m) => got.push(m), { receipt: 'sub' });
  await within(r, 5000, 'RECEIPT');

  const tx = pub.begin('tx-1');
  pub.publish({ destination: `/topic/${p}.a`, body: '{"n":1}', headers: { transaction: tx.id } });
  let rr = receipt(pub, 's2');
  pub.publish({ destination: `/topic/${p}.b`, body: 'two', headers: { transaction: tx.id, receipt: 's2' } });
  await within(rr, 5000, 'RECEIPT of the transactional SEND');
  await publish(srv.http, `${p}.sentinel`, 1);
  await waitFor(() => got.length === 1);
  assert.equal(got[0].headers.destination, `/topic/${p}.sentinel`, 'nothing of the transaction before COMMIT');
  tx.commit(); // stompjs takes no headers here: no receipt, wait for the deliveries
  await waitFor(() => got.length === 3, { message: 'the committed SENDs' });
  assert.deepEqual(got.slice(1).map((m) => [m.headers.destination, m.body]), [[`/topic/${p}.a`, '{"n":1}'], [`/topic/${p}.b`, 'two']]);

  const tx2 = pub.begin('tx-2');
  pub.publish({ destination: `/topic/${p}.a`, body: '3', headers: { transaction: tx2.id } });
  tx2.abort();
  rr = receipt(pub, 'after-abort'); // frames are handled in order: ABORT is done at this RECEIPT
  pub.publish({ destination: `/topic/${p}o`, body: '0', headers: { receipt: 'after-abort' } });
  await within(rr, 5000, 'RECEIPT after ABORT');
  await publish(srv.http, `${p}.sentinel`, 2);
  await waitFor(() => got.length === 4);
  assert.equal(got[3].headers.destination, `/topic/${p}.sentinel`, 'the aborted SEND is never delivered');
  // COMMIT of the aborted transaction: ERROR.
  tx2.commit();
  await waitFor(() => pub.rec.errors.length === 1);
  assert.equal(pub.rec.errors[0].headers.message, 'unknown transaction');
  assert.deepEqual(sub.rec.errors, []);
});

test('ERROR on a bad destination (message, receipt-id, text body), then close; other clients unaffected', async (t) => {
  const srv = await server();
  const p = topicPrefix('bd');
  const ok = stomp(t, srv.ws);
  await connected(ok);
  const got = [];
  ok.subscribe(`/topic/${p}.x`, (m) => got.push(m));
  for (const dest of ['/exchange/amq.topic', `/topic/${p}..x`, '/topic/a b', `/topic/${p}.>.x`]) {
    const c = stomp(t, srv.ws);
    await connected(c);
    c.subscribe(dest, () => {}, { receipt: 'bad' });
    await waitFor(() => c.rec.errors.length === 1 && c.rec.closes.length === 1, { message: `ERROR for ${dest}` });
    const e = c.rec.errors[0];
    assert.equal(e.headers.message, 'bad destination', dest);
    assert.equal(e.headers['receipt-id'], 'bad');
    assert.ok(e.body.includes(dest), `body names ${dest}: ${e.body}`);
    assert.notEqual(c.rec.closes[0].code, 1000);
  }
  await publish(srv.http, `${p}.x`, 'still here');
  await waitFor(() => got.length === 1);
  assert.ok(ok.connected);
  assert.deepEqual(ok.rec.errors, []);
});

test('DISCONNECT with a receipt: RECEIPT, then the server closes', async (t) => {
  const srv = await server();
  let disc;
  const c = stomp(t, srv.ws, { disconnectHeaders: { receipt: 'bye-1' }, onDisconnect: (f) => { disc = f; } });
  await connected(c);
  await c.deactivate();
  await waitFor(() => disc && c.rec.closes.length === 1);
  assert.equal(disc.command, 'RECEIPT');
  assert.equal(disc.headers['receipt-id'], 'bye-1');
  assert.ok(c.rec.log.some((l) => l.startsWith('<<< RECEIPT')));
  assert.equal(c.rec.closes[0].code, 1000);
  assert.deepEqual(c.rec.errors, []);
});

// gaps describes what a seq list lacks or repeats against 1, 2, 3, ...
function gaps(seqs) {
  const out = [];
  let want = 1;
  for (const s of seqs) {
    if (s > want) out.push(`missing ${want}..${s - 1}`);
    else if (s < want) out.push(`repeat ${s} after ${want - 1}`);
    want = Math.max(want, s + 1);
  }
  return out.slice(0, 20).join(', ') || 'none';
}

test('reconnect and resubscribe with x-c1m-since: 10,000 messages cut twice, each seq once and in order', async (t) => {
  const srv = await server({ args: ['--history-size', '20000'] });
  const proxy = await startProxy(srv.port);
  const p = topicPrefix('rec');
  const topic = `${p}.px`;
  const N = 10000;
  const seqs = [];
  const bodies = [];
  const receipts = [];
  let epoch = '';
  let n = 0;
  const c = stomp(t, proxy.ws, {
    reconnectDelay: 50,
    onConnect: (f) => {
      c.rec.connects.push(f);
      const id = `sub-r${n++}`;
      const headers = { receipt: id };
      if (epoch) headers['x-c1m-since'] = `${epoch}:${seqs.at(-1) ?? 0}`;
      c.watchForReceipt(id, (f) => receipts.push({ since: headers['x-c1m-since'], ...f.headers }));
      c.subscribe(`/topic/${topic}`, (m) => {
        epoch = m.headers['x-c1m-epoch'];
        seqs.push(Number(m.headers['x-c1m-seq']));
        bodies.push(m.body);
      }, headers);
    },
  });
  c.activate();
  await waitFor(() => receipts.length === 1, { message: 'first subscription' });
  epoch = receipts[0]['x-c1m-epoch'];
  assert.ok(epoch);
  const cuts = [];
  for (let sent = 0; sent < N;) {
    const k = Math.min(250, N - sent);
    await publishBatch(srv.http, Array.from({ length: k }, (_, i) => ({ topic, data: sent + i + 1 })));
    sent += k;
    if ((sent === 3000 || sent === 6500) && cuts.length < 2) {
      // Cut a subscribed connection, while more is published.
      await waitFor(() => c.connected && receipts.length === cuts.length + 1, { message: 'subscribed before the cut' });
      cuts.push({ sent, received: seqs.length, cut: proxy.cut() });
      // Hold the publisher until the client is down, so the gap is real.
      await waitFor(() => !c.connected || receipts.length > cuts.length, { message: 'client saw the cut' });
    }
  }
  await waitFor(() => seqs.length >= N && receipts.length === 3, { timeout: 30000, message: `all ${N}` }).catch((e) => {
    e.message += ` (have ${seqs.length}, gaps ${gaps(seqs)}, cuts ${JSON.stringify(cuts)}, receipts ${JSON.stringify(receipts)}, closes ${JSON.stringify(c.rec.closes)})`;
    throw e;
  });
  assert.equal(cuts.length, 2);
  assert.ok(cuts.every((x) => x.cut === 1), JSON.stringify(cuts));
  const bad = seqs.findIndex((s, i) => s !== i + 1);
  assert.equal(bad, -1, `delivery ${bad} has seq ${seqs[bad]}, want ${bad + 1}`);
  assert.equal(seqs.length, N);
  assert.ok(bodies.every((b, i) => b === String(i + 1)));
  assert.equal(c.rec.connects.length, 3);
  assert.equal(receipts[1]['x-c1m-recovered'], 'true', JSON.stringify(receipts[1]));
  assert.equal(receipts[2]['x-c1m-recovered'], 'true', JSON.stringify(receipts[2]));
  assert.ok(!('x-c1m-unrecovered' in receipts[1]));
  assert.deepEqual(c.rec.errors, []);
});
