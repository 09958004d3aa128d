// Helpers shared by the Node and browser suites: start the real c1m binary
// (C1M_BIN) on 127.0.0.1, wait for conditions with deadlines, publish over HTTP.
// No dependencies beyond Node 20.
import { spawn } from 'node:child_process';
import { after } from 'node:test';

const live = new Set();
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL'); } catch { /* gone */ } });

/** Path of the server binary under test. */
export function binary() {
  const bin = process.env.C1M_BIN;
  if (!bin) throw new Error('set C1M_BIN to the c1m binary (go build -o /tmp/c1m ./cmd/c1m)');
  return bin;
}

/**
 * Polls cond() (sync or async) until it returns a truthy value or timeout ms
 * pass; returns that value or throws with message.
 */
export async function waitFor(cond, { timeout = 10000, interval = 10, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout}ms waiting for ${message}${last ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Starts c1m on 127.0.0.1:port (0 = any) with extra args and resolves once it
 * logs "msg=listening addr=...". With a fixed port it retries while the port
 * is still busy (restart on the same port), until timeout.
 *
 * With tls: {cert, key, port = 0} it also passes --tls-addr 127.0.0.1:port
 * --tls-cert cert --tls-key key, waits for the "listening tls" line as well,
 * and the result has tlsPort and the https and wss base URLs.
 */
export async function startServer({ args = [], port = 0, tls = null, timeout = 15000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await startOnce(args, port, tls, deadline);
    } catch (e) {
      if ((port === 0 && !tls?.port) || Date.now() > deadline || !/address already in use/i.test(e.message)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function startOnce(args, port, tls, deadline) {
  return new Promise((resolve, reject) => {
    const tlsArgs = tls ? ['--tls-addr', `127.0.0.1:${tls.port || 0}`, '--tls-cert', tls.cert, '--tls-key', tls.key] : [];
    const proc = spawn(binary(), ['--addr', `127.0.0.1:${port}`, ...tlsArgs, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(proc);
    let stderr = '';
    let done = false;
    const exited = new Promise((r) => proc.once('exit', (code, signal) => { live.delete(proc); r({ code, signal }); }));
    const timer = setTimeout(() => fail(new Error('server did not log "listening" in time')), Math.max(0, deadline - Date.now()));
    function fail(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      err.message += `\nstderr:\n${stderr}`;
      reject(err);
    }
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
      const m = /msg=listening\b.*?\baddr=127\.0\.0\.1:(\d+)/.exec(stderr) || /"msg":"listening".*?"addr":"127\.0\.0\.1:(\d+)"/.exec(stderr);
      // The TLS listener's line: msg="listening tls" addr=127.0.0.1:PORT.
      const mt = tls && (/msg="listening tls".*?\baddr=127\.0\.0\.1:(\d+)/.exec(stderr) || /"msg":"listening tls".*?"addr":"127\.0\.0\.1:(\d+)"/.exec(stderr));
      if (m && (!tls || mt) && !done) {
        done = true;
        clearTimeout(timer);
        const p = Number(m[1]);
        const tp = mt ? Number(mt[1]) : undefined;
        resolve({
          proc,
          port: p,
          http: `http://127.0.0.1:${p}`,
          ws: `ws://127.0.0.1:${p}`,
          ...(tls ? { tlsPort: tp, https: `https://127.0.0.1:${tp}`, wss: `wss://127.0.0.1:${tp}` } : {}),
          exited,
          stderr: () => stderr,
          /** SIGKILL: no graceful close, history lost. Resolves on exit. */
          kill: () => { proc.kill('SIGKILL'); return exited; },
          /** SIGTERM: graceful shutdown. Resolves on exit. */
          stop: () => { proc.kill('SIGTERM'); return exited; },
        });
      }
    });
    proc.once('exit', (code, signal) => fail(new Error(`server exited early (code ${code}, signal ${signal})`)));
  });
}

/**
 * Runs `C1M_BIN gen-cert` to write a self-signed certificate (its own CA) and
 * its key to cert and key; hosts is a list of names and IPs (the server's
 * default when omitted), rsa asks for an RSA key. Resolves when it exits 0.
 */
export function genCert({ cert, key, hosts, rsa = false, timeout = 15000 }) {
  const args = ['gen-cert', '--cert', cert, '--key', key];
  if (hosts) args.push('--hosts', hosts.join(','));
  if (rsa) args.push('--rsa');
  return new Promise((resolve, reject) => {
    const proc = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`gen-cert did not exit within ${timeout}ms:\n${out}`)); }, timeout);
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${binary()} ${args.join(' ')}: exit ${code} ${signal || ''}\n${out}`));
    });
  });
}

/** POST /publish?topic=T with JSON data; resolves with the reply ({seq}). */
export async function publish(base, topic, data) {
  const res = await fetch(`${base}/publish?topic=${encodeURIComponent(topic)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(data),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) throw new Error(`publish ${topic}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * POST /publish?topic=T with body, a JSON text sent as is (for values
 * JSON.stringify cannot make, such as 1e400); resolves with the reply ({seq}).
 */
export async function publishRaw(base, topic, body) {
  const res = await fetch(`${base}/publish?topic=${encodeURIComponent(topic)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
  });
  const reply = await res.json().catch(() => ({}));
  if (res.status !== 202) throw new Error(`publish ${topic} ${body}: HTTP ${res.status} ${JSON.stringify(reply)}`);
  return reply;
}

/** POST /publish with a JSON array of {topic, data}; resolves with {seqs}. */
export async function publishBatch(base, items) {
  const res = await fetch(`${base}/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(items),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) throw new Error(`publish batch: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** A unique topic prefix per test so tests never see each other's messages. */
let uniq = 0;
export function topicPrefix(name) {
  return `t${process.pid}x${Date.now().toString(36)}x${uniq++}.${name}`;
}

/**
 * POST /publish?topic=T with Content-Type application/octet-stream: the body
 * is published as binary. Resolves with the reply ({seq}).
 */
export async function publishBytes(base, topic, bytes) {
  const res = await fetch(`${base}/publish?topic=${encodeURIComponent(topic)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: bytes,
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) throw new Error(`publish bytes ${topic}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** Reads the value of an unlabelled metric from GET /metrics (NaN if absent). */
export async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/**
 * Per-file fixtures: server(opts) starts c1m with --demo=false (plus
 * opts.args) and remembers it; clients collects c1m.js clients. Everything is
 * closed after the file's tests.
 */
export function testFixtures() {
  const servers = [];
  const clients = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => (s.proc.exitCode === null ? s.kill() : null)));
  });
  async function server(opts = {}) {
    const s = await startServer({ ...opts, args: ['--demo=false', ...(opts.args || [])] });
    servers.push(s);
    return s;
  }
  return { server, servers, clients };
}
