// The Socket.IO page (web/socketio.html): the demo's live ticker fed by the
// official socket.io-client, served by c1m from web/vendor (checked here to be
// the pinned npm package's file, byte for byte). In headless Chromium through
// a TCP proxy: normally (polling, then the upgrade to WebSocket), with
// WebSocket refused by the network, with ?transport=polling, and with no
// WebSocket in the browser at all; each time the rows fill and update, and
// after a cut the page reconnects by itself (and subscribes again unless the
// server recovered its session), and after a server restart it subscribes again.
// Screenshots go to /tmp/sio-*.png.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer } from '../node/lib/server.js';
import { launch } from './lib/browser.js';
import { startProxy } from './lib/proxy.js';
import { stale, pinned } from '../../web/vendor/update.mjs';

const demoArgs = ['--demo-rate', '100', '--demo-symbols', '8'];
const SHOTS = process.env.SIO_SHOTS || '/tmp';

let srv;
let b;
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

/** A fresh server, proxy and browser (whose pages lack WebSocket with noWebSocket). */
async function fresh({ refuseUpgrades = false, noWebSocket = false } = {}) {
  await b?.close();
  b = null;
  if (!srv || srv.proc.exitCode !== null) srv = await startServer({ args: demoArgs });
  const proxy = await startProxy(srv.port, { refuseUpgrades });
  b = await launch();
  await b.page.setViewportSize({ width: 1280, height: 720 });
  if (noWebSocket) await b.page.addInitScript(() => { delete window.WebSocket; });
  return { page: b.page, proxy };
}

// Serialises every price cell of the ticker.
const snapshot = () => [...document.querySelectorAll('#rows tr')]
  .map((tr) => [...tr.querySelectorAll('td.bid, td.ask, td.px')].map((td) => td.textContent).join('/')).join('|');

async function waitPricesChange(page, what) {
  const before = await page.evaluate(snapshot);
  await page.waitForFunction(([fn, prev]) => {
    const now = new Function(`return (${fn})()`)();
    return now !== prev && document.querySelectorAll('#rows td.bid:not(:empty)').length >= 8;
  }, [snapshot.toString(), before], { timeout: 15000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });
}

const transportShown = (page) => page.textContent('#transport');

/** Waits for the page to be connected with 8 rows whose prices move. */
async function live(page, what) {
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 8
    && document.querySelectorAll('#rows td.bid:not(:empty)').length === 8, null, { timeout: 15000 });
  const syms = await page.$$eval('#rows tr', (trs) => trs.map((tr) => tr.dataset.sym));
  assert.deepEqual(syms, [...syms].sort(), 'rows sorted by symbol');
  await waitPricesChange(page, what);
}

/**
 * Cuts every connection through the proxy while it refuses new ones, so that
 * the page shows "reconnecting" (screenshot shot), then lets it back in: the
 * page must reconnect, subscribe again (or be recovered) and update.
 */
async function cutAndRecover(page, proxy, shot) {
  const before = await page.evaluate(() => ({ states: window.sio.states.length, subscribes: window.sio.subscribes }));
  proxy.refuse = true;
  assert.ok(proxy.cut() >= 1, 'the page had connections through the proxy');
  await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 15000 });
  await page.waitForFunction(() => /attempt \d+/.test(document.getElementById('state').textContent), null, { timeout: 15000 });
  await page.screenshot({ path: `${SHOTS}/${shot}`, fullPage: true });
  proxy.refuse = false;
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 20000 });
  await page.waitForFunction((n) => window.sio.subscribes > n || window.sio.socket.recovered, before.subscribes, { timeout: 10000 });
  const states = await page.evaluate((n) => window.sio.states.slice(n), before.states);
  assert.equal(states[0], 'reconnecting', `states after the cut: ${states}`);
  assert.equal(states.at(-1), 'open', `states after the cut: ${states}`);
  assert.match(await page.textContent('#log'), /disconnected: transport (close|error)/);
  await waitPricesChange(page, 'prices after the cut');
  return page.evaluate(() => (window.sio.socket.recovered ? 'recovered' : 'subscribed again'));
}

/**
 * Kills the server and starts another behind the proxy: nothing to recover
 * from (a new epoch, no session), so the page must subscribe again by itself.
 */
async function restartAndResubscribe(page, proxy) {
  const n = await page.evaluate(() => window.sio.subscribes);
  await srv.kill();
  await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 15000 });
  srv = await startServer({ args: demoArgs });
  proxy.target = srv.port;
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 20000 });
  await page.waitForFunction((k) => window.sio.subscribes > k, n, { timeout: 10000 });
  assert.ok(!(await page.evaluate(() => window.sio.socket.recovered)), 'nothing to recover after a restart');
  await waitPricesChange(page, 'prices after the restart');
}

test('the vendored socket.io-client is the pinned npm package\'s file, served by c1m', async () => {
  assert.deepEqual(stale(), [], 'run node web/vendor/update.mjs');
  const require = createRequire(import.meta.url);
  const dir = require.resolve('socket.io-client/package.json').replace(/package\.json$/, '');
  assert.equal(JSON.parse(readFileSync(`${dir}package.json`, 'utf8')).version, pinned());
  const want = readFileSync(`${dir}dist/socket.io.esm.min.js`);
  if (!srv || srv.proc.exitCode !== null) srv = await startServer({ args: demoArgs });
  const res = await fetch(`${srv.http}/vendor/socket.io.esm.min.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(want), 'the binary serves the pinned file');
  assert.match(want.subarray(0, 200).toString(), new RegExp(`Socket\\.IO v${pinned().replace(/\./g, '\\.')}[\\s\\S]*MIT License`));
});

test('the Socket.IO page upgrades to WebSocket, shows the live ticker and reconnects by itself after a cut and a restart', async (t) => {
  const { page, proxy } = await fresh();
  await page.goto(`${proxy.http}/socketio.html`);
  await live(page, 'prices over Socket.IO');
  // The client opens over polling and upgrades: the page shows it.
  await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket', null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.sio.socket.io.engine.transport.name), 'websocket');
  assert.ok(proxy.upgrades >= 1);
  assert.match(await page.textContent('#log'), /subscribed to md\.>: \d+ topics/);
  await page.screenshot({ path: `${SHOTS}/sio-websocket.png`, fullPage: true });

  t.diagnostic(`after the cut: ${await cutAndRecover(page, proxy, 'sio-websocket-reconnecting.png')}`);
  await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket', null, { timeout: 10000 });
  await page.screenshot({ path: `${SHOTS}/sio-websocket-after-cut.png`, fullPage: true });
  await restartAndResubscribe(page, proxy);
  await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket', null, { timeout: 10000 });
  assert.deepEqual(b.errors.map(String), []);
});

test('with WebSocket refused on the way, the Socket.IO page stays on polling, shows the ticker and reconnects after a cut and a restart', async (t) => {
  const { page, proxy } = await fresh({ refuseUpgrades: true });
  await page.goto(`${proxy.http}/socketio.html`);
  await live(page, 'prices over polling');
  // The upgrade was tried and refused: the page says polling.
  assert.ok(proxy.upgrades >= 1, 'the client tried to upgrade');
  assert.equal(await transportShown(page), 'polling');
  assert.equal(await page.evaluate(() => window.sio.socket.io.engine.transport.name), 'polling');
  await page.screenshot({ path: `${SHOTS}/sio-polling.png`, fullPage: true });

  t.diagnostic(`after the cut: ${await cutAndRecover(page, proxy, 'sio-polling-reconnecting.png')}`);
  assert.equal(await transportShown(page), 'polling');
  assert.equal(await page.evaluate(() => window.sio.socket.io.engine.transport.name), 'polling');
  await page.screenshot({ path: `${SHOTS}/sio-polling-after-cut.png`, fullPage: true });
  await restartAndResubscribe(page, proxy);
  assert.equal(await transportShown(page), 'polling');
  assert.deepEqual(b.errors.map(String), []);
});

test('?transport=polling keeps the Socket.IO page on polling: no upgrade is asked for', async () => {
  const { page, proxy } = await fresh();
  await page.goto(`${proxy.http}/socketio.html?transport=polling`);
  await live(page, 'prices over polling only');
  await waitPricesChange(page, 'prices over polling only, later');
  assert.equal(proxy.upgrades, 0);
  assert.equal(await transportShown(page), 'polling');
  assert.ok(proxy.heads.every((h) => /^(GET|POST) \/(socket\.io\/\?EIO=4&transport=polling|socketio\.(html|js)|vendor\/|style\.css|favicon)/.test(h)),
    proxy.heads.map((h) => h.split('\r\n')[0]).join('\n'));
  // On a phone the header and the table fit the width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => ['#pattern', '#transport', '#conn', '#ticker'].every((s) => {
    const r = document.querySelector(s).getBoundingClientRect();
    return r.left >= 0 && r.right <= innerWidth && r.width >= 30;
  }), null, { timeout: 5000 });
  await page.screenshot({ path: `${SHOTS}/sio-390.png`, fullPage: true });
  assert.deepEqual(b.errors.map(String), []);
});

test('in a browser without WebSocket the Socket.IO page runs on polling and reconnects after a cut', async (t) => {
  const { page, proxy } = await fresh({ noWebSocket: true });
  await page.goto(`${proxy.http}/socketio.html`);
  assert.equal(await page.evaluate(() => typeof window.WebSocket), 'undefined');
  await live(page, 'prices without WebSocket');
  assert.equal(await transportShown(page), 'polling');
  assert.equal(proxy.upgrades, 0, 'no WebSocket, no upgrade request');
  t.diagnostic(`after the cut: ${await cutAndRecover(page, proxy, 'sio-nows-reconnecting.png')}`);
  assert.equal(await transportShown(page), 'polling');
  assert.deepEqual(b.errors.map(String), []);
});

test('the demo page links to the Socket.IO page and back', async () => {
  const { page } = await fresh();
  await page.goto(`${srv.http}/`);
  await page.click('#socketio-link');
  await page.waitForURL(/\/socketio\.html$/);
  await live(page, 'prices on the linked page');
  await page.click('header a.navlink');
  await page.waitForURL((u) => u.pathname === '/');
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  assert.deepEqual(b.errors.map(String), []);
});
