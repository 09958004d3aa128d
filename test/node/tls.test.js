// TLS (wss:// and https://) against the real server: a certificate made by
// `c1m gen-cert` (self-signed, its own CA) in a temp directory, the server
// started with --tls-addr beside its plain --addr, and clients that trust that
// certificate through `ca` (never rejectUnauthorized: false): Node's ws on
// /ws and /echo (messages spanning many TLS records, TLS 1.3 and 1.2), an
// https SSE stream, socket.io-client over websocket and over polling,
// @stomp/stompjs, POST /publish over https; clients that do not trust it
// fail with a certificate error; plain HTTP on the TLS port; a certificate
// reload on SIGHUP that new connections see while connections opened before
// it keep streaming; /stats, session resumption, records cut into tiny TCP
// pieces, and 200 clients handshaking at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { Client } from '@stomp/stompjs';
import { startServer, genCert, publish, publishBytes, waitFor, topicPrefix } from './lib/server.js';
import { openWS, inbox } from './lib/ws.js';

const dirs = [];
const servers = [];
const closers = [];
process.on('exit', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A fresh temp dir with cert.pem and key.pem from gen-cert; resolves with their paths and the cert's bytes. */
async function freshCert(opts = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'c1m-tls-test-'));
  dirs.push(dir);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await genCert({ cert, key, ...opts });
  return { dir, cert, key, ca: readFileSync(cert) };
}

async function tlsServer(pem, args = []) {
  const s = await startServer({ args: ['--demo=false', ...args], tls: { cert: pem.cert, key: pem.key } });
  servers.push(s);
  return s;
}

let pem;
let srv;
before(async () => {
  pem = await freshCert();
  srv = await tlsServer(pem);
});
after(async () => {
  for (const c of closers) await c();
  await Promise.all(servers.map((s) => (s.proc.exitCode === null ? s.stop() : null)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** openWS, the socket closed after the file's tests. */
const open = (url, opts = {}, protocols = undefined) => openWS(url, opts, protocols, (ws) => closers.push(() => ws.terminate()));

/** A wss /ws client trusting ca, subscribed to topics; resolves with {ws, box}. */
async function subscriber(s, ca, topics, opts = {}) {
  const ws = await open(`${s.wss}/ws`, { ca, ...opts });
  const box = inbox(ws);
  ws.send(JSON.stringify({ op: 'sub', id: 1, topics }));
  const ok = await box.next((m) => m.op === 'ok' && m.id === 1);
  assert.equal(typeof ok.epoch, 'string');
  return { ws, box };
}

/** A TLS handshake with 127.0.0.1:port; resolves with {cert, protocol, alpn} or rejects with the verification error. */
function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ...opts });
    const t = setTimeout(() => { sock.destroy(); reject(new Error('no TLS handshake within 10s')); }, 10000);
    sock.once('secureConnect', () => {
      clearTimeout(t);
      const r = { cert: sock.getPeerCertificate(), protocol: sock.getProtocol(), alpn: sock.alpnProtocol, authorized: sock.authorized };
      sock.end();
      resolve(r);
    });
    sock.once('error', (e) => { clearTimeout(t); sock.destroy(); reject(e); });
  });
}

/** Fingerprint of a PEM certificate file's bytes, as getPeerCertificate().fingerprint256 spells it. */
const pemFingerprint = (bytes) => new crypto.X509Certificate(bytes).fingerprint256;

const CERT_ERROR = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_SIGNATURE_FAILURE)$/;

/** The "tls" object of GET /stats (on the plain listener). */
const tlsStats = async (s) => (await (await fetch(`${s.http}/stats`)).json()).tls;

/** A serial number as c1m prints it: upper-case hex in whole bytes, like `openssl x509 -serial` (Node's strings may or may not carry a leading zero). */
const serialHex = (sn) => {
  const h = sn.toUpperCase().replace(/^0+(?=.)/, '');
  return h.length % 2 ? `0${h}` : h;
};

test('gen-cert writes a self-signed CA certificate for localhost, 127.0.0.1 and ::1; the TLS listener presents it', async () => {
  const x = new crypto.X509Certificate(pem.ca);
  assert.equal(x.ca, true, 'the certificate is its own CA (basicConstraints CA:TRUE)');
  assert.equal(x.issuer, x.subject, 'self-signed');
  assert.ok(x.checkIssued(x) && x.verify(x.publicKey), 'signed by its own key');
  assert.match(x.subjectAltName, /DNS:localhost/);
  assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.match(x.subjectAltName, /IP Address:(0:0:0:0:0:0:0:1|::1)/);
  assert.ok(new Date(x.validFrom) <= new Date() && new Date(x.validTo) > new Date(), `valid now: ${x.validFrom} .. ${x.validTo}`);
  assert.ok(x.checkPrivateKey(crypto.createPrivateKey(readFileSync(pem.key))), 'the key file matches the certificate');

  assert.notEqual(srv.tlsPort, srv.port);
  const h = await handshake(srv.tlsPort, { ca: pem.ca });
  assert.equal(h.authorized, true);
  assert.equal(h.cert.fingerprint256, x.fingerprint256);
  assert.match(h.protocol, /^TLSv1\.[23]$/);
  // By name as well as by IP, and through SNI: the SAN matches.
  const byName = await handshake(srv.tlsPort, { ca: pem.ca, servername: 'localhost' });
  assert.equal(byName.cert.fingerprint256, x.fingerprint256);
  // A client offering h2 first must not be talked into it (the server speaks HTTP/1.1).
  const alpn = await handshake(srv.tlsPort, { ca: pem.ca, ALPNProtocols: ['h2', 'http/1.1'] });
  assert.ok(alpn.alpn === 'http/1.1' || alpn.alpn === false, `ALPN chose ${alpn.alpn}`);
});

test('wss:// /ws with ca: subscribe, then a publish over plain HTTP arrives', async () => {
  const t = topicPrefix('wss');
  const ws = await open(`${srv.wss}/ws`, { ca: pem.ca });
  const box = inbox(ws);
  ws.send(JSON.stringify({ op: 'sub', id: 1, topics: [`${t}.x`] }));
  const ok = await box.next((m) => m.op === 'ok' && m.id === 1);
  assert.equal(typeof ok.epoch, 'string');
  const { seq } = await publish(srv.http, `${t}.x`, { bid: 1.5 });
  const m = await box.next((x) => x.op === 'msg');
  assert.equal(m.topic, `${t}.x`);
  assert.equal(m.seq, seq);
  assert.deepEqual(m.data, { bid: 1.5 });
  // A binary publish arrives as a binary frame: kind 1, topic, seq, ts, payload.
  const bin = await publishBytes(srv.http, `${t}.x`, Uint8Array.from([1, 2, 3, 0, 255]));
  const b = await box.next((x) => Buffer.isBuffer(x));
  const topic = Buffer.from(`${t}.x`);
  assert.equal(b[0], 1);
  assert.equal(b[1], topic.length);
  assert.ok(b.subarray(2, 2 + topic.length).equals(topic));
  assert.equal(b.readBigUInt64BE(2 + topic.length), BigInt(bin.seq));
  assert.deepEqual([...b.subarray(18 + topic.length)], [1, 2, 3, 0, 255]);
  ws.close();
});

for (const version of ['TLSv1.3', 'TLSv1.2']) {
  test(`${version}: a 100 KB publish arrives intact over wss (many TLS records), and 1 MiB echoes both ways`, async () => {
    const t = topicPrefix('big');
    const tlsOpts = { ca: pem.ca, perMessageDeflate: false, minVersion: version, maxVersion: version };
    const { ws, box } = await subscriber(srv, pem.ca, [`${t}.big`], tlsOpts);
    assert.equal(ws._socket.getProtocol(), version);
    // Random base64: incompressible, so the frame really is ~100 KB on the wire.
    const pad = crypto.randomBytes(75000).toString('base64');
    assert.equal(pad.length, 100000);
    await publish(srv.http, `${t}.big`, { pad });
    await publish(srv.http, `${t}.big`, { after: true });
    const m = await box.next((x) => x.op === 'msg' && x.data.pad !== undefined);
    assert.equal(m.data.pad.length, pad.length);
    assert.equal(m.data.pad, pad);
    const next = await box.next((x) => x.op === 'msg');
    assert.deepEqual(next.data, { after: true }, 'the stream goes on after the big message');
    ws.close();

    // Client to server as well: /echo a 1 MiB binary and a 100 KB text message.
    const echo = await open(`${srv.wss}/echo`, tlsOpts);
    const got = [];
    echo.on('message', (d, isBinary) => got.push({ d, isBinary }));
    const bytes = crypto.randomBytes(1 << 20);
    const text = crypto.randomBytes(75000).toString('base64');
    echo.send(bytes);
    echo.send(text);
    await waitFor(() => got.length === 2, { message: 'two echoes' });
    assert.equal(got[0].isBinary, true);
    assert.ok(Buffer.from(got[0].d).equals(bytes), '1 MiB binary echoed intact');
    assert.equal(got[1].isBinary, false);
    assert.equal(got[1].d.toString(), text);
    echo.close();
  });
}

test('an https:// SSE stream read with https.get and ca receives a publish', async () => {
  const t = topicPrefix('sse');
  const ctl = new AbortController();
  const res = await new Promise((resolve, reject) => {
    const req = https.get(`${srv.https}/sse?topics=${t}.a`, { ca: pem.ca, signal: ctl.signal }, resolve);
    req.once('error', reject);
  });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'], /^text\/event-stream/);
  assert.equal(res.socket.authorized, true);
  let raw = '';
  res.setEncoding('utf8');
  res.on('data', (d) => { raw += d; });
  res.on('error', () => {});
  await waitFor(() => /event: sub\ndata: \{"op":"ok"/.test(raw), { message: 'the sub event' });
  const { seq } = await publish(srv.http, `${t}.a`, { px: 42 });
  const frame = await waitFor(() => /\ndata: (\{"op":"msg"[^\n]*\})\nid: [^\n]+\n\n/.exec(raw), { message: 'the delivery' });
  const m = JSON.parse(frame[1]);
  assert.equal(m.topic, `${t}.a`);
  assert.equal(m.seq, seq);
  assert.deepEqual(m.data, { px: 42 });
  ctl.abort();
});

for (const transport of ['websocket', 'polling']) {
  test(`socket.io-client over ${transport} on TLS with ca receives a publish`, async () => {
    const t = topicPrefix(`sio-${transport}`);
    const s = io(srv.https, { transports: [transport], ca: pem.ca, reconnection: false });
    closers.push(() => s.disconnect());
    s.got = [];
    s.on('msg', (m) => s.got.push(m));
    await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
    assert.equal(s.io.engine.transport.name, transport);
    const ok = await s.timeout(5000).emitWithAck('subscribe', { topics: [`${t}.q`] });
    assert.equal(ok.op, 'ok');
    const { seq } = await publish(srv.http, `${t}.q`, { n: 7 });
    await waitFor(() => s.got.length === 1, { message: 'the delivery' });
    assert.equal(s.got[0].topic, `${t}.q`);
    assert.equal(s.got[0].seq, seq);
    assert.deepEqual(s.got[0].data, { n: 7 });
    s.disconnect();
  });
}

test('@stomp/stompjs over wss with ca receives a publish', async () => {
  const t = topicPrefix('stomp');
  const frames = [];
  let connected = false;
  const c = new Client({
    webSocketFactory: () => new WebSocket(`${srv.wss}/stomp`, ['v12.stomp', 'v11.stomp', 'v10.stomp'], { ca: pem.ca }),
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    onConnect: () => { connected = true; },
  });
  closers.push(() => c.deactivate({ force: true }));
  c.activate();
  await waitFor(() => connected && c.connected, { message: 'CONNECTED' });
  const subscribed = new Promise((resolve) => c.watchForReceipt('r1', resolve));
  c.subscribe(`/topic/${t}.s`, (f) => frames.push(f), { receipt: 'r1' });
  await subscribed;
  const { seq } = await publish(srv.http, `${t}.s`, { last: 3 });
  await waitFor(() => frames.some((f) => f.body && JSON.parse(f.body).last === 3), { message: 'the MESSAGE' });
  const f = frames.find((x) => JSON.parse(x.body).last === 3);
  assert.equal(f.headers['x-c1m-seq'], String(seq));
  await c.deactivate();
});

test('a client that does not trust the certificate fails with a certificate error; a trusting one connects', async () => {
  const before = await tlsStats(srv);
  const untrusted = await open(`${srv.wss}/ws`).then(() => null, (e) => e);
  assert.ok(untrusted, 'ws without ca must not connect');
  assert.match(untrusted.code, CERT_ERROR, `error ${untrusted.code} ${untrusted.message}`);

  const httpsErr = await new Promise((resolve) => {
    https.get(`${srv.https}/healthz`, (res) => { res.resume(); resolve(null); }).once('error', resolve);
  });
  assert.ok(httpsErr, 'https without ca must not connect');
  assert.match(httpsErr.code, CERT_ERROR);

  // A CA of somebody else does not help either.
  const other = await freshCert();
  const wrongCA = await handshake(srv.tlsPort, { ca: other.ca }).then(() => null, (e) => e);
  assert.ok(wrongCA, 'a different CA must not verify');
  assert.match(wrongCA.code, CERT_ERROR);

  // The name checked against the SAN: 127.0.0.1 and localhost pass, another does not.
  const wrongName = await handshake(srv.tlsPort, { ca: pem.ca, servername: 'example.com' }).then(() => null, (e) => e);
  assert.ok(wrongName, 'a name outside the SAN must not verify');
  assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  // The server counts the handshakes the clients broke off (an alert instead of their Finished).
  await waitFor(async () => (await tlsStats(srv)).handshake_errors >= before.handshake_errors + 2,
    { message: '/stats tls.handshake_errors counting the refused handshakes' });

  // The server is unharmed by the aborted handshakes: a trusting client subscribes and receives.
  const t = topicPrefix('trust');
  const { ws, box } = await subscriber(srv, pem.ca, [`${t}.a`]);
  await publish(srv.http, `${t}.a`, 1);
  assert.equal((await box.next((m) => m.op === 'msg')).data, 1);
  ws.close();
});

/** Sends text on a plain TCP connection to port; resolves with everything read until the server closes. */
function plainExchange(port, text, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`server did not close within ${timeout}ms; read ${Buffer.concat(chunks).toString('latin1')}`)); }, timeout);
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => chunks.push(d));
    sock.once('close', () => { clearTimeout(t); resolve(Buffer.concat(chunks).toString('latin1')); });
    sock.on('error', () => {}); // a reset after the answer still ends in close
  });
}

test('plain HTTP on the TLS port gets 400 "Client sent an HTTP request to an HTTPS server"; others are served meanwhile', async () => {
  const t = topicPrefix('plain');
  const { ws, box } = await subscriber(srv, pem.ca, [`${t}.a`]);

  const answer = await plainExchange(srv.tlsPort, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.[01] 400 /, `answer: ${JSON.stringify(answer.slice(0, 300))}`);
  assert.match(answer, /Client sent an HTTP request to an HTTPS server/);
  // A plain WebSocket upgrade on the TLS port does not open either.
  const upgrade = await open(`ws://127.0.0.1:${srv.tlsPort}/ws`).then(() => null, (e) => e);
  assert.ok(upgrade, 'ws:// on the TLS port must not open');
  // Nor do garbage bytes, or a ClientHello record cut short (the server may
  // wait for its rest until a timeout: only its serving the others matters).
  const cut = net.connect(srv.tlsPort, '127.0.0.1', () => cut.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])));
  cut.on('error', () => {});
  closers.push(() => cut.destroy());
  const garbage = await plainExchange(srv.tlsPort, '\0\0\0\0garbage\r\n\r\n');
  assert.doesNotMatch(garbage, /^HTTP\/1\.[01] 2/, 'garbage is not served');

  // Meanwhile and afterwards: the existing wss client receives, a new one connects, plain HTTP serves.
  await publish(srv.http, `${t}.a`, { still: 1 });
  assert.deepEqual((await box.next((m) => m.op === 'msg')).data, { still: 1 });
  const fresh = await subscriber(srv, pem.ca, [`${t}.b`]);
  await publish(srv.http, `${t}.b`, { still: 2 });
  assert.deepEqual((await fresh.box.next((m) => m.op === 'msg')).data, { still: 2 });
  const health = await new Promise((resolve, reject) => {
    https.get(`${srv.https}/healthz`, { ca: pem.ca }, (res) => { res.resume(); resolve(res.statusCode); }).once('error', reject);
  });
  assert.equal(health, 200);
  assert.equal(srv.proc.exitCode, null, 'server still running');
  ws.close();
  fresh.ws.close();
});

test('SIGHUP reloads the certificate: new connections see the new one, connections opened before keep streaming', async () => {
  const first = await freshCert();
  // The file watcher off: the reload below is SIGHUP's alone.
  const s = await tlsServer(first, ['--tls-reload-interval', '0']);
  const t = topicPrefix('reload');
  const before1 = await handshake(s.tlsPort, { ca: first.ca });
  assert.equal(before1.cert.fingerprint256, pemFingerprint(first.ca));
  const old = await subscriber(s, first.ca, [`${t}.a`], { perMessageDeflate: false });
  await publish(s.http, `${t}.a`, { n: 1 });
  assert.deepEqual((await old.box.next((m) => m.op === 'msg')).data, { n: 1 });

  // Regenerate the files in place and signal.
  await genCert({ cert: first.cert, key: first.key });
  const second = readFileSync(first.cert);
  assert.notEqual(pemFingerprint(second), pemFingerprint(first.ca), 'gen-cert made a new certificate');
  s.proc.kill('SIGHUP');

  // A new connection trusting the new CA sees the new certificate (a reload is not instant: wait).
  const after2 = await waitFor(() => handshake(s.tlsPort, { ca: second }), { message: 'a handshake with the new certificate' });
  assert.equal(after2.cert.fingerprint256, pemFingerprint(second));
  assert.notEqual(after2.cert.serialNumber, before1.cert.serialNumber);
  // The server logs the reload with the new serial (upper-case hex in whole bytes).
  const want = serialHex(after2.cert.serialNumber);
  const logged = await waitFor(() => [...s.stderr().matchAll(/msg="tls certificate reloaded".*?\bserial=([0-9A-F]+)/g)].some((m) => m[1] === want),
    { message: `the log line "tls certificate reloaded" serial=${want}` });
  assert.equal(logged, true);
  // The old CA no longer verifies new connections.
  const stale = await handshake(s.tlsPort, { ca: first.ca }).then(() => null, (e) => e);
  assert.ok(stale, 'the old CA must not verify the new certificate');
  assert.match(stale.code, CERT_ERROR);
  // And wss with the new CA works end to end.
  const fresh = await subscriber(s, second, [`${t}.a`]);

  // The connection opened before the reload keeps its session and keeps receiving, big messages too.
  const pad = crypto.randomBytes(30000).toString('base64');
  await publish(s.http, `${t}.a`, { n: 2, pad });
  for (const box of [old.box, fresh.box]) {
    const m = await box.next((x) => x.op === 'msg' && x.data.n === 2);
    assert.equal(m.data.pad, pad);
  }
  assert.equal(old.ws.readyState, WebSocket.OPEN);
  assert.equal(s.proc.exitCode, null, 'SIGHUP did not stop the server');

  // A reload from broken files keeps the certificate in use (and the server up).
  writeFileSync(first.cert, 'not a certificate\n');
  s.proc.kill('SIGHUP');
  const errLine = await waitFor(() => s.stderr().split('\n').find((l) => /level=ERROR/.test(l) && /tls certificate reload failed/.test(l)),
    { message: 'a logged reload error' });
  assert.match(errLine, new RegExp(`serial=${serialHex(after2.cert.serialNumber)}\\b`), 'it names the certificate kept');
  const kept = await handshake(s.tlsPort, { ca: second });
  assert.equal(kept.cert.fingerprint256, pemFingerprint(second));
  await publish(s.http, `${t}.a`, { n: 3 });
  assert.deepEqual((await old.box.next((m) => m.op === 'msg' && m.data.n === 3)).data, { n: 3 });
  assert.equal(s.proc.exitCode, null, 'a failed reload did not stop the server');
  old.ws.close();
  fresh.ws.close();
});

test('gen-cert --rsa: an RSA certificate works the same way', async () => {
  const rsa = await freshCert({ rsa: true, hosts: ['127.0.0.1'] });
  const x = new crypto.X509Certificate(rsa.ca);
  assert.equal(x.publicKey.asymmetricKeyType, 'rsa');
  assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.doesNotMatch(x.subjectAltName, /DNS:localhost/, '--hosts replaces the default names');
  const s = await tlsServer(rsa);
  const h = await handshake(s.tlsPort, { ca: rsa.ca });
  assert.ok(h.cert.modulus, 'an RSA certificate is presented');
  const t = topicPrefix('rsa');
  const { ws, box } = await subscriber(s, rsa.ca, [`${t}.a`]);
  await publish(s.http, `${t}.a`, 'rsa');
  assert.equal((await box.next((m) => m.op === 'msg')).data, 'rsa');
  ws.close();
});

test('/stats has the served certificate and counts handshakes by version', async () => {
  const before = await tlsStats(srv);
  assert.equal(before.addr, `127.0.0.1:${srv.tlsPort}`);
  assert.equal(before.cert.cert_file, pem.cert);
  assert.equal(before.cert.subject, 'CN=c1m self-signed,O=c1m');
  const x = new crypto.X509Certificate(pem.ca);
  assert.equal(serialHex(before.cert.serial), serialHex(x.serialNumber));
  assert.equal(Date.parse(before.cert.not_after), Date.parse(x.validTo));
  await handshake(srv.tlsPort, { ca: pem.ca, maxVersion: 'TLSv1.2' });
  await handshake(srv.tlsPort, { ca: pem.ca, minVersion: 'TLSv1.3' });
  const now = await waitFor(async () => {
    const st = await tlsStats(srv);
    return st.tls12 >= before.tls12 + 1 && st.tls13 >= before.tls13 + 1 && st;
  }, { message: 'tls12 and tls13 counted' });
  assert.ok(now.handshakes >= before.handshakes + 2);
  const metrics = await (await fetch(`${srv.http}/metrics`)).text();
  assert.match(metrics, new RegExp(`^c1m_tls_handshakes_by_version_total\\{version="1\\.2"\\} ${now.tls12}$`, 'm'));
  assert.match(metrics, /^c1m_tls_cert_not_after_seconds \S+$/m);
});

for (const version of ['TLSv1.3', 'TLSv1.2']) {
  test(`${version}: a client resumes its session with the ticket it was given`, async () => {
    const before = await tlsStats(srv);
    const opts = { ca: pem.ca, minVersion: version, maxVersion: version };
    // The first connection: wait for the session (TLS 1.3 sends the ticket after the handshake).
    const session = await new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: srv.tlsPort, ...opts });
      const t = setTimeout(() => { sock.destroy(); reject(new Error('no session ticket within 10s')); }, 10000);
      sock.once('session', (sess) => { clearTimeout(t); sock.end(); resolve(sess); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
      // A request so that TLS 1.3's post-handshake ticket is read along with the answer.
      sock.once('secureConnect', () => sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      sock.on('data', () => {});
    });
    const resumed = await new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: srv.tlsPort, session, ...opts });
      sock.once('secureConnect', () => {
        const r = { reused: sock.isSessionReused(), protocol: sock.getProtocol() };
        sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        let body = '';
        sock.setEncoding('utf8').on('data', (d) => { body += d; });
        sock.once('end', () => resolve({ ...r, body }));
      });
      sock.once('error', reject);
    });
    assert.equal(resumed.protocol, version);
    assert.equal(resumed.reused, true, 'the session was resumed');
    assert.match(resumed.body, /^HTTP\/1\.1 200 /, 'a resumed connection is served');
    await waitFor(async () => (await tlsStats(srv)).resumed >= before.resumed + 1, { message: '/stats tls.resumed' });
  });
}

test('POST /publish over https: 200 KB bodies, three requests on one kept-alive connection', async () => {
  const t = topicPrefix('httpspub');
  const { ws, box } = await subscriber(srv, pem.ca, [`${t}.p`], { perMessageDeflate: false });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pem.ca });
  const post = (body) => new Promise((resolve, reject) => {
    const req = https.request(`${srv.https}/publish?topic=${t}.p`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; }).once('end', () => resolve({ status: res.statusCode, body: text, reused: req.reusedSocket }));
    });
    req.once('error', reject);
    req.end(body);
  });
  // A small request first: the big ones then go on the established
  // connection (a big one right after the handshake is the next test).
  const pads = ['small', ...[0, 1, 2].map(() => crypto.randomBytes(150000).toString('base64'))];
  const replies = [];
  for (const pad of pads) replies.push(await post(JSON.stringify({ pad })));
  agent.destroy();
  assert.deepEqual(replies.map((r) => r.status), [202, 202, 202, 202], JSON.stringify(replies));
  assert.deepEqual(replies.map((r) => r.reused), [false, true, true, true], 'one connection, kept alive');
  const seqs = replies.map((r) => JSON.parse(r.body).seq);
  for (let i = 0; i < pads.length; i++) {
    const m = await box.next((x) => x.op === 'msg');
    assert.equal(m.seq, seqs[i]);
    assert.equal(m.data.pad, pads[i], `delivery ${i} intact`);
  }
  ws.close();
});

// In TLS 1.3 a client sends its request right behind its Finished, in the
// same flight: a first request of 100 KB on a fresh connection arrives
// while the server's handshake worker still runs, and must be served (the
// poller once refused such input past 64 KB as a handshake error).
test('TLSv1.3: a 100 KB POST on a fresh connection, sent right behind the client Finished, is served', async () => {
  const t = topicPrefix('firstflight');
  const post = (body) => new Promise((resolve) => {
    const req = https.request(`${srv.https}/publish?topic=${t}.p`, {
      method: 'POST', agent: false, ca: pem.ca, minVersion: 'TLSv1.3', headers: { 'Content-Type': 'application/json' },
    }, (res) => { res.resume(); res.once('end', () => resolve(res.statusCode)); });
    req.once('error', (e) => resolve(e.code));
    req.end(body);
  });
  const results = [];
  for (let i = 0; i < 10; i++) results.push(await post(JSON.stringify({ pad: crypto.randomBytes(75000).toString('base64') })));
  assert.deepEqual(results, Array(10).fill(202));
});

/**
 * A Duplex over a TCP connection to port that writes what it is given in
 * pieces of a few bytes, one per event-loop turn, with Nagle off: TLS records
 * (the client hello too) reach the server cut at arbitrary places.
 */
function trickle(port) {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  const d = new Duplex({
    read() { sock.resume(); },
    write(chunk, _enc, cb) {
      (async () => {
        for (let i = 0; i < chunk.length;) {
          const n = 1 + crypto.randomInt(chunk.length < 4096 ? 7 : 700);
          sock.write(chunk.subarray(i, i + n));
          i += n;
          await new Promise((r) => setImmediate(r));
        }
      })().then(() => cb(), cb);
    },
    final(cb) { sock.end(); cb(); },
    destroy(err, cb) { sock.destroy(); cb(err); },
  });
  sock.on('data', (b) => { if (!d.push(b)) sock.pause(); });
  sock.on('end', () => d.push(null));
  sock.on('error', (e) => d.destroy(e));
  return d;
}

test('TLS records cut into pieces of a few bytes: handshake, subscribe and a 100 KB echo still work', async () => {
  const t = topicPrefix('trickle');
  const ws = await open(`${srv.wss}/ws`, {
    perMessageDeflate: false,
    createConnection: () => tls.connect({ socket: trickle(srv.tlsPort), host: '127.0.0.1', ca: pem.ca }),
  });
  const box = inbox(ws);
  ws.send(JSON.stringify({ op: 'sub', id: 1, topics: [`${t}.a`] }));
  await box.next((m) => m.op === 'ok' && m.id === 1);
  await publish(srv.http, `${t}.a`, { n: 1 });
  assert.deepEqual((await box.next((m) => m.op === 'msg')).data, { n: 1 });

  const echo = await open(`${srv.wss}/echo`, {
    perMessageDeflate: false,
    createConnection: () => tls.connect({ socket: trickle(srv.tlsPort), host: '127.0.0.1', ca: pem.ca, maxVersion: 'TLSv1.2' }),
  });
  const got = [];
  echo.on('message', (d) => got.push(d.toString()));
  const text = crypto.randomBytes(75000).toString('base64');
  echo.send(text);
  echo.send('small');
  await waitFor(() => got.length === 2, { message: 'two echoes', timeout: 20000 });
  assert.equal(got[0], text);
  assert.equal(got[1], 'small');
  ws.close();
  echo.close();
});

test('200 wss clients connecting at once each receive every broadcast, in order', async () => {
  const t = topicPrefix('many');
  const before = await tlsStats(srv);
  const clients = await Promise.all(Array.from({ length: 200 }, () => subscriber(srv, pem.ca, [`${t}.m`])));
  const st = await tlsStats(srv);
  assert.ok(st.conns >= 200, `tls conns ${st.conns}`);
  assert.ok(st.handshakes >= before.handshakes + 200);
  const n = 50;
  const seqs = [];
  for (let i = 0; i < n; i++) seqs.push((await publish(srv.http, `${t}.m`, { i, pad: 'p'.repeat(i * 97) })).seq);
  for (const { box } of clients) {
    const got = [];
    for (let i = 0; i < n; i++) got.push(await box.next((m) => m.op === 'msg'));
    assert.deepEqual(got.map((m) => m.seq), seqs);
    assert.deepEqual(got.map((m) => m.data.i), Array.from({ length: n }, (_, i) => i));
  }
  for (const { ws } of clients) ws.close();
  await waitFor(async () => (await tlsStats(srv)).conns < 10, { message: 'the 200 connections closed' });
});

test('wss on a keep-alive https agent: the upgrade rides the socket that served GET /healthz', async () => {
  const t = topicPrefix('tls-keepalive');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pem.ca });
  closers.push(() => agent.destroy());
  const port = await new Promise((resolve, reject) => {
    https.get(`${srv.https}/healthz`, { agent }, (res) => {
      const p = res.socket.localPort;
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200 ? p : -res.statusCode));
    }).once('error', reject);
  });
  assert.ok(port > 0, `GET /healthz: ${-port}`);
  const ws = await open(`${srv.wss}/ws`, { agent });
  assert.equal(ws._socket.localPort, port, 'the upgrade went out on the TLS socket net/http served');
  const box = inbox(ws);
  ws.send(JSON.stringify({ op: 'sub', id: 1, topics: [`${t}.a`] }));
  await box.next((m) => m.op === 'ok' && m.id === 1);
  await publish(srv.http, `${t}.a`, { over: 'reused tls' });
  assert.deepEqual((await box.next((m) => m.op === 'msg')).data, { over: 'reused tls' });
  ws.close();
});
