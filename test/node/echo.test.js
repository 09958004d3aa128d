// /echo over real sockets: the `ws` client for conforming traffic, a raw
// net.Socket client (lib/raw.js) for frames a conforming client cannot send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { startServer } from './lib/server.js';
import { rawConnect, frame, closePayload } from './lib/raw.js';

let srv;
before(async () => { srv = await startServer({ args: ['--demo=false'] }); });
after(async () => { await srv?.stop(); });

function open(path = '/echo', opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${srv.ws}${path}`, { maxPayload: 64 << 20, ...opts });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws, timeout = 20000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message in time')), timeout);
    ws.once('message', (data, isBinary) => { clearTimeout(t); resolve({ data, isBinary }); });
  });
}

function closeEvent(ws, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no close in time')), timeout);
    ws.once('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString() }); });
  });
}

test('text messages echo unchanged, including multi-byte UTF-8', async () => {
  const ws = await open();
  for (const s of ['hello', '', 'h\u00e9llo w\u00f6rld \u20ac \ud83d\ude80', 'x'.repeat(70000)]) {
    const p = nextMessage(ws);
    ws.send(s);
    const { data, isBinary } = await p;
    assert.equal(isBinary, false);
    assert.equal(data.toString('utf8'), s);
  }
  ws.close();
});

test('binary messages echo byte for byte at every length encoding up to 16 MiB', async () => {
  const ws = await open();
  for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]) {
    const payload = crypto.randomBytes(n);
    const p = nextMessage(ws, 60000);
    ws.send(payload, { binary: true });
    const { data, isBinary } = await p;
    assert.equal(isBinary, true, `length ${n}`);
    assert.equal(data.length, n);
    assert.ok(data.equals(payload), `payload of ${n} bytes differs`);
  }
  ws.close();
});

test('fragmented messages are reassembled (ws client fragments)', async () => {
  const ws = await open();
  const parts = [crypto.randomBytes(10), crypto.randomBytes(70000), crypto.randomBytes(1)];
  const p = nextMessage(ws);
  ws.send(parts[0], { binary: true, fin: false });
  ws.send(parts[1], { binary: true, fin: false });
  ws.send(parts[2], { binary: true, fin: true });
  const { data, isBinary } = await p;
  assert.equal(isBinary, true);
  assert.ok(data.equals(Buffer.concat(parts)));

  const q = nextMessage(ws);
  ws.send('frag', { fin: false });
  ws.send('ment', { fin: false });
  ws.send('ed', { fin: true });
  assert.equal((await q).data.toString(), 'fragmented');
  ws.close();
});

test('a UTF-8 character split across fragments is valid; a ping between fragments is answered', async () => {
  const c = await rawConnect(srv.port);
  const euro = Buffer.from('a\u20acb'); // 61 e2 82 ac 62
  c.send(
    frame({ fin: false, opcode: 1, payload: euro.subarray(0, 2) }),
    frame({ opcode: 9, payload: Buffer.from('mid') }),
    frame({ fin: false, opcode: 0, payload: euro.subarray(2, 4) }),
    frame({ fin: true, opcode: 0, payload: euro.subarray(4) }),
  );
  const pong = await c.next((f) => f.opcode === 10);
  assert.equal(pong.payload.toString(), 'mid');
  const text = await c.next((f) => f.opcode === 1);
  assert.equal(text.fin, true);
  assert.equal(text.payload.toString(), 'a\u20acb');
  c.send(frame({ opcode: 8, payload: closePayload(1000) }));
  assert.equal((await c.closed()).code, 1000);
});

test('ping is answered with a pong carrying the same payload', async () => {
  const ws = await open();
  const payload = Buffer.from('are you there?');
  const p = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(payload);
  assert.ok((await p).equals(payload));
  ws.close();
});

test('client close: the server echoes the close code', async () => {
  for (const [code, reason] of [[1000, 'bye'], [4001, 'app reason'], [1001, '']]) {
    const ws = await open();
    const p = closeEvent(ws);
    ws.close(code, reason);
    const got = await p;
    assert.equal(got.code, code);
  }
});

test('client close without a status code: the server answers and closes', async () => {
  const c = await rawConnect(srv.port);
  c.send(frame({ opcode: 8 }));
  const { code } = await c.closed();
  assert.ok(code === 1000 || code === 1005, `close code ${code}`);
});

// Each case sends bad bytes on a fresh raw connection and expects the server to
// close with the given code and then drop the TCP connection.
const violations = [
  ['invalid UTF-8 in a text frame', 1007, () => [frame({ opcode: 1, payload: Buffer.from([0x68, 0xc3, 0x28]) })]],
  ['invalid UTF-8 across fragments', 1007, () => [
    frame({ fin: false, opcode: 1, payload: Buffer.from([0x61, 0xe2]) }),
    frame({ fin: true, opcode: 0, payload: Buffer.from([0x28, 0x62]) })]],
  ['a surrogate encoded in UTF-8', 1007, () => [frame({ opcode: 1, payload: Buffer.from([0xed, 0xa0, 0x80]) })]],
  ['invalid UTF-8 in a close reason', 1007, () => [frame({ opcode: 8, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff])]) })]],
  ['an unmasked client frame', 1002, () => [frame({ opcode: 1, payload: Buffer.from('hi'), mask: false })]],
  ['a message over the size limit (header only)', 1009, () => [frame({ opcode: 2, length: (16 << 20) + 1 })]],
  ['a fragmented message over the size limit', 1009, () => [
    frame({ fin: false, opcode: 2, payload: Buffer.alloc(8 << 20) }),
    frame({ fin: false, opcode: 0, payload: Buffer.alloc(8 << 20) }),
    frame({ fin: true, opcode: 0, length: 1 })]],
  ['reserved bits without an extension', 1002, () => [frame({ rsv: 4, opcode: 1, payload: Buffer.from('x') })]],
  ['an unknown opcode', 1002, () => [frame({ opcode: 3, payload: Buffer.from('x') })]],
  ['a continuation without a start', 1002, () => [frame({ opcode: 0, payload: Buffer.from('x') })]],
  ['a new message inside a fragmented one', 1002, () => [
    frame({ fin: false, opcode: 1, payload: Buffer.from('a') }),
    frame({ opcode: 1, payload: Buffer.from('b') })]],
  ['a fragmented control frame', 1002, () => [frame({ fin: false, opcode: 9, payload: Buffer.from('x') })]],
  ['a control frame over 125 bytes', 1002, () => [frame({ opcode: 9, payload: Buffer.alloc(126) })]],
  ['a close code that must not be sent (1005)', 1002, () => [frame({ opcode: 8, payload: closePayload(1005) })]],
  ['a one-byte close payload', 1002, () => [frame({ opcode: 8, payload: Buffer.from([3]) })]],
];

for (const [name, want, frames] of violations) {
  test(`protocol violation: ${name} -> close ${want}`, async () => {
    const c = await rawConnect(srv.port);
    c.send(...frames());
    const { code } = await c.closed();
    assert.equal(code, want);
  });
}

test('the server stays healthy after all of the above', async () => {
  const res = await fetch(`${srv.http}/healthz`);
  assert.equal(res.status, 200);
  const ws = await open();
  const p = nextMessage(ws);
  ws.send('still here');
  assert.equal((await p).data.toString(), 'still here');
  ws.close();
});
