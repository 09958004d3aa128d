// permessage-deflate (RFC 7692) with Node's `ws`, which offers it by
// default: broadcasts reach deflate and plain clients in one run, each
// publish is compressed once however many deflate clients share it
// (/stats), a compression bomb gets 1009, an invalid deflate stream 1007,
// and --deflate=false declines the offer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { startServer, publish, waitFor } from './lib/server.js';
import { frame } from './lib/raw.js';
import { openWS as open, inbox } from './lib/ws.js';

let srv;
let off;
before(async () => {
  srv = await startServer({ args: ['--demo=false', '--max-message-bytes=1048576'] });
  off = await startServer({ args: ['--demo=false', '--deflate=false'] });
});
after(async () => { await srv?.stop(); await off?.stop(); });

function closeEvent(ws, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no close in time')), timeout);
    ws.once('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString() }); });
  });
}

async function stats(base) {
  const res = await fetch(`${base}/stats`);
  return res.json();
}

function quote(i) {
  const levels = [];
  for (let l = 0; l < 10; l++) levels.push({ bid: 190 + l + i / 100, bsz: 100 * (l + 1), ask: 191 + l + i / 100, asz: 200 * (l + 1) });
  return { sym: 'AAPL', levels, n: i };
}

test('broadcasts reach deflate and plain ws clients; each publish is compressed once', async () => {
  const clients = [];
  for (const deflate of [true, true, true, false]) {
    const ws = await open(`${srv.ws}/ws`, { perMessageDeflate: deflate });
    assert.equal(ws.extensions.includes('permessage-deflate'), deflate, `extensions ${ws.extensions}`);
    const box = inbox(ws);
    ws.send(JSON.stringify({ op: 'sub', id: 1, topics: ['nd.q'] }));
    await box.next((m) => m.op === 'ok' && m.id === 1);
    clients.push({ ws, box });
  }
  const before = await stats(srv.http);
  const rounds = 5;
  for (let i = 0; i < rounds; i++) {
    const data = quote(i);
    const { seq } = await publish(srv.http, 'nd.q', data);
    for (const { box } of clients) {
      const m = await box.next((x) => x.op === 'msg' && x.seq === seq);
      assert.deepEqual(m.data, data);
    }
  }
  const afterStats = await stats(srv.http);
  assert.equal(afterStats.deflate.compressed - before.deflate.compressed, rounds, 'compressed once per publish');
  assert.equal(afterStats.poller.deflate_sent - before.poller.deflate_sent, 3 * rounds, 'three deflate clients got compressed frames');
  assert.ok(afterStats.poller.deflate_saved_bytes > before.poller.deflate_saved_bytes);
  for (const { ws } of clients) ws.close();
});

test('compressed client messages echo on /echo, also fragmented', async () => {
  const ws = await open(`${srv.ws}/echo`, { perMessageDeflate: { threshold: 0 } });
  const got = [];
  ws.on('message', (d) => got.push(d.toString()));
  const before = await stats(srv.http);
  const sizes = [16, 300, 5000, 100000];
  for (const n of sizes) ws.send(JSON.stringify({ pad: 'x'.repeat(n) }));
  ws.send('frag-one ', { fin: false });
  ws.send('frag-two', { fin: true });
  await waitFor(() => got.length === sizes.length + 1, { message: 'echoes' });
  sizes.forEach((n, i) => assert.equal(JSON.parse(got[i]).pad.length, n));
  assert.equal(got[sizes.length], 'frag-one frag-two');
  const afterStats = await stats(srv.http);
  assert.ok(afterStats.deflate.inflated - before.deflate.inflated >= sizes.length, 'client messages were inflated');
  ws.close();
});

test('a compression bomb is closed with 1009', async () => {
  const ws = await open(`${srv.ws}/echo`, { perMessageDeflate: true });
  const closed = closeEvent(ws);
  ws.send(Buffer.alloc(32 << 20)); // 32 MiB of zeros, ~32 KB compressed; the limit is 1 MiB
  const { code } = await closed;
  assert.equal(code, 1009);
});

/** A raw client that negotiates deflate, to send an invalid deflate stream. */
function rawDeflate(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    sock.once('error', reject);
    sock.on('connect', () => sock.write(`GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && !sock.head) {
        sock.head = buf.subarray(0, end).toString();
        buf = buf.subarray(end + 4);
        resolve({ sock, head: sock.head, data: () => buf });
      }
    });
  });
}

test('an invalid deflate stream is closed with 1007; RSV1 without deflate stays 1002', async () => {
  const c = await rawDeflate(srv.port);
  assert.match(c.head, /sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/i);
  c.sock.write(frame({ opcode: 2, rsv: 4, payload: Buffer.from([0xff, 0xfe, 0xfd, 0xfc]) }));
  await waitFor(() => c.data().length >= 4, { message: 'close frame' });
  assert.equal(c.data()[0], 0x88);
  assert.equal(c.data().readUInt16BE(2), 1007);
  c.sock.destroy();

  // A valid compressed frame on a connection that did not negotiate deflate.
  const ws = await open(`${off.ws}/echo`);
  assert.equal(ws.extensions, '', 'deflate off: no extension');
  const plain = await new Promise((resolve, reject) => {
    const sock = net.connect(off.port, '127.0.0.1');
    sock.once('error', reject);
    let buf = Buffer.alloc(0);
    sock.on('connect', () => sock.write(`GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`));
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    resolve({ sock, data: () => buf });
  });
  await waitFor(() => plain.data().indexOf('\r\n\r\n') >= 0, { message: '101' });
  const head = plain.data().subarray(0, plain.data().indexOf('\r\n\r\n')).toString();
  assert.doesNotMatch(head, /sec-websocket-extensions/i);
  const start = plain.data().indexOf('\r\n\r\n') + 4;
  const deflated = zlib.deflateRawSync(Buffer.from('hello'), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  plain.sock.write(frame({ opcode: 1, rsv: 4, payload: deflated }));
  await waitFor(() => plain.data().length >= start + 4, { message: 'close frame' });
  assert.equal(plain.data()[start], 0x88);
  assert.equal(plain.data().readUInt16BE(start + 2), 1002);
  plain.sock.destroy();

  // The plain server still echoes for the ws client that asked for deflate.
  const box = [];
  ws.on('message', (d) => box.push(d.toString()));
  ws.send('still works');
  await waitFor(() => box.length === 1, { message: 'echo' });
  assert.equal(box[0], 'still works');
  ws.close();
});
