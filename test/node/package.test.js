// The reference client as the npm package c1m-client (web/package.json,
// installed here as a link by `npm ci`): import and require both load it and
// work against the real server, the CommonJS copy is current, the TypeScript
// declarations match the code and type-check consumers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { waitFor, publish, topicPrefix, testFixtures } from './lib/server.js';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
const web = (name) => fileURLToPath(new URL(`../../web/${name}`, import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));

const { server, clients } = testFixtures();

test('c1m.cjs and c1m.d.cts are current: what gen-cjs.mjs makes of c1m.js and c1m.d.ts', async () => {
  const { outputs, toCommonJS } = await import('../../web/gen-cjs.mjs');
  for (const [name, { from, text }] of Object.entries(outputs())) {
    assert.ok(readFileSync(web(name), 'utf8') === text, `web/${name} is stale: run "node gen-cjs.mjs" in web/ after editing ${from}`);
  }
  // Module syntax the conversion cannot carry over is refused, not copied.
  for (const src of ['import x from "y";\nexport const a = 1;', 'export default 1;', 'export { a };', 'const u = import.meta.url;\nexport const a = 1;']) {
    assert.throws(() => toCommonJS(src), /supported|no exports/, src);
  }
});

test('import and require of c1m-client load the ES module and its CommonJS copy, with the same API', async () => {
  assert.equal(fileURLToPath(import.meta.resolve('c1m-client')), web('c1m.js'));
  assert.equal(require.resolve('c1m-client'), web('c1m.cjs'));
  const esm = await import('c1m-client');
  const cjs = require('c1m-client');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  const methods = (C) => Object.getOwnPropertyNames(C.prototype).filter((n) => !n.startsWith('_')).sort();
  assert.deepEqual(methods(cjs.Client), methods(esm.Client));
  assert.deepEqual(cjs.State, esm.State);
  assert.notEqual(cjs.Client, esm.Client, 'two copies of the code');
  // The copy runs in strict mode, as the module does.
  assert.throws(() => { cjs.State.OPEN = 'x'; }, TypeError);
});

for (const kind of ['import', 'require']) {
  test(`c1m-client through ${kind}: snapshot, live messages, publish and a 422 against the real server`, async () => {
    const m = kind === 'import' ? await import('c1m-client') : require('c1m-client');
    const s = await server({ args: ['--client-publish'] });
    const t = topicPrefix(kind);
    await publish(s.http, `${t}.a`, { n: 1 });
    const c = new m.Client(`${s.ws}/ws`, { WebSocket, ackTimeout: 5000 });
    clients.push(c);
    const got = [];
    c.on('message', (topic, data, meta) => got.push({ topic, data, seq: meta.seq, snap: meta.snap }));
    const ok = await c.subscribe(`${t}.>`);
    assert.equal(ok.topics[`${t}.a`].seq, 1);
    await publish(s.http, `${t}.a`, { n: 2 });
    await c.publish(`${t}.b`, 'over ws');
    await waitFor(() => got.length === 3, { message: 'three messages' });
    assert.deepEqual(got, [
      { topic: `${t}.a`, data: { n: 1 }, seq: 1, snap: true },
      { topic: `${t}.a`, data: { n: 2 }, seq: 2, snap: false },
      { topic: `${t}.b`, data: 'over ws', seq: 1, snap: false },
    ]);
    await assert.rejects(c.subscribe('bad..pattern'), (e) => e instanceof m.C1MError && e.code === 422);
    assert.equal(c.state, m.State.OPEN);
  });
}

// Node >= 22 has a global WebSocket; Node 20 has it behind a flag.
const globalWsFlags = typeof globalThis.WebSocket === 'function' ? [] : ['--experimental-websocket'];

test('without a WebSocket option the client uses the global WebSocket (Node >= 22), both as ES module and CommonJS', async () => {
  const s = await server();
  const t = topicPrefix('global');
  await publish(s.http, `${t}.x`, 'hello');
  const body = `
    const c = new Client(process.env.C1M_URL, { ackTimeout: 5000 });
    c.on('message', async (topic, data, meta) => {
      console.log(JSON.stringify({ topic, data, seq: meta.seq, ws: typeof WebSocket }));
      await c.close();
    });
    c.subscribe(process.env.C1M_TOPIC).catch((e) => { console.error(e); process.exit(1); });`;
  const env = { ...process.env, C1M_URL: `${s.ws}/ws`, C1M_TOPIC: `${t}.>` };
  const scripts = {
    esm: ['--input-type=module', '-e', `import { Client } from 'c1m-client';\n${body}`],
    cjs: ['--input-type=commonjs', '-e', `const { Client } = require('c1m-client');\n${body}`],
  };
  for (const [name, args] of Object.entries(scripts)) {
    const { stdout } = await run(process.execPath, [...globalWsFlags, ...args], { cwd: here, env, timeout: 20000 });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)), { topic: `${t}.x`, data: 'hello', seq: 1, ws: 'function' }, name);
  }
});

test('c1m.d.ts declares every export and every public method of c1m.js, and nothing else', async () => {
  const dts = readFileSync(web('c1m.d.ts'), 'utf8');
  const esm = await import('c1m-client');
  const declared = [...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(esm).sort());
  const body = dts.slice(dts.indexOf('export declare class Client'));
  const methods = [...body.matchAll(/^ {2}(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]).filter((n) => n !== 'constructor');
  const actual = Object.getOwnPropertyNames(esm.Client.prototype).filter((n) => n !== 'constructor' && !n.startsWith('_'));
  assert.deepEqual(methods.sort(), actual.sort());
  const c = new esm.Client('ws://127.0.0.1:9/ws', { WebSocket, autoConnect: false });
  const stats = [...dts.slice(dts.indexOf('interface ClientStats')).split('}')[0].matchAll(/^ {2}(\w+): number;/gm)].map((m) => m[1]);
  assert.deepEqual(stats.sort(), Object.keys(c.stats).sort());
  await c.close();
});

test('the declarations type-check an ES module and a CommonJS consumer (tsc --noEmit, strict)', async () => {
  const tsc = require.resolve('typescript/bin/tsc');
  try {
    await run(process.execPath, [tsc, '-p', 'types'], { cwd: here, timeout: 60000 });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});
