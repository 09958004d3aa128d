// The demo page served by the real server: live prices, and reconnection on
// its own after the server is killed and restarted on the same port, over
// WebSocket and over Server-Sent Events; the transport switch in its header.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

async function fresh() {
  if (srv && srv.proc.exitCode === null) await srv.kill();
  await b?.close();
  srv = await startServer({ args: demoArgs });
  b = await launch();
  return b.page;
}

const demoArgs = ['--demo-rate', '100', '--demo-symbols', '8'];

// Serialises every price cell of the ticker table.
const snapshot = () => [...document.querySelectorAll('#rows tr')]
  .map((tr) => [...tr.querySelectorAll('td.bid, td.ask, td.px')].map((td) => td.textContent).join('/')).join('|');

async function waitPricesChange(page, what) {
  const before = await page.evaluate(snapshot);
  await page.waitForFunction(([fn, prev]) => {
    const now = new Function(`return (${fn})()`)();
    return now !== prev && document.querySelectorAll('#rows td.bid:not(:empty)').length >= 8;
  }, [snapshot.toString(), before], { timeout: 15000 }).catch((e) => { throw new Error(`${what}: ${e.message}`); });
}

for (const transport of ['websocket', 'sse']) {
test(`the demo page over ${transport} shows live prices and recovers from a server restart by itself`, async () => {
  const page = await fresh();
  await page.goto(`${srv.http}/?backoffMax=1000${transport === 'sse' ? '&transport=sse' : ''}`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.c1m.client.transport), transport);
  assert.equal(await page.getAttribute(`#transport button[data-transport="${transport}"]`, 'aria-pressed'), 'true');
  await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 8, null, { timeout: 15000 });
  const syms = await page.$$eval('#rows tr', (trs) => trs.map((tr) => tr.dataset.sym));
  assert.deepEqual(syms, [...syms].sort(), 'rows sorted by symbol');
  assert.ok(syms.includes('AAPL'));
  await waitPricesChange(page, 'prices before the restart');
  await page.waitForFunction(() => Number(document.getElementById('rate').textContent) > 0, null, { timeout: 5000 });
  const epoch1 = await page.textContent('#epoch');
  assert.match(epoch1, /\S/);
  assert.notEqual(epoch1, '-');

  const port = srv.port;
  await srv.kill();
  await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10000 });
  srv = await startServer({ port, args: demoArgs });
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 20000 });
  await page.waitForFunction((e1) => {
    const e = document.getElementById('epoch').textContent;
    return e !== e1 && e !== '-';
  }, epoch1, { timeout: 10000 });
  await waitPricesChange(page, 'prices after the restart');
  const stats = await page.evaluate(() => window.c1m.client.stats);
  assert.ok(stats.reconnects >= 1, `reconnects ${stats.reconnects}`);
  assert.ok(stats.epochChanges > 0, 'epoch change noticed');
  assert.ok(stats.notRecovered > 0, 'topics reported as not recovered after the restart');
  assert.equal(stats.gaps, 0, 'no gaps while the server ran (a restart resets, it is not a gap)');
  assert.equal(stats.duplicates, 0);
  await page.waitForFunction(() => document.getElementById('reconnects').textContent !== '0', null, { timeout: 5000 });
  // The page counts the restart where its footer says it does: as topics not
  // recovered (a new epoch), not as gaps.
  await page.waitForFunction(() => Number(document.getElementById('notRecovered').textContent) > 0, null, { timeout: 5000 });
  assert.equal(await page.textContent('#gaps'), '0');
  const footer = (await page.textContent('footer')).replace(/\s+/g, ' ');
  assert.match(footer, /restart[^.]*not recovered/i, footer);
  assert.doesNotMatch(footer, /gaps?[^.]*restart/i, footer);
  // The server panel counts this page's connection where it belongs.
  const conn = transport === 'sse' ? '#srv-streams' : '#srv-conns';
  await page.waitForFunction((sel) => Number(document.querySelector(sel).textContent) >= 1, conn, { timeout: 5000 });
  assert.deepEqual(b.errors.map(String), []);
});
}

test('the transport switch in the header moves the page between WebSocket and SSE; rows keep updating', async () => {
  const page = await fresh();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${srv.http}/`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelectorAll('#rows td.bid:not(:empty)').length === 8, null, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.c1m.client.transport), 'websocket');

  await page.click('#transport button[data-transport="sse"]');
  await page.waitForFunction(() => window.c1m.client.transport === 'sse' && window.c1m.client.state === 'open'
    && window.c1m.client.stats.delivered > 20, null, { timeout: 15000 });
  assert.equal(new URL(page.url()).searchParams.get('transport'), 'sse');
  assert.equal(await page.getAttribute('#transport button[data-transport="sse"]', 'aria-pressed'), 'true');
  assert.equal(await page.getAttribute('#transport button[data-transport="websocket"]', 'aria-pressed'), 'false');
  await waitPricesChange(page, 'prices over SSE');
  // The WebSocket client is closed; the server sees one SSE stream, no WebSocket.
  await page.waitForFunction(() => document.getElementById('srv-streams').textContent === '1'
    && document.getElementById('srv-conns').textContent === '0', null, { timeout: 10000 });
  assert.match(await page.textContent('#log'), /switched to SSE/);

  await page.click('#transport button[data-transport="websocket"]');
  await page.waitForFunction(() => window.c1m.client.transport === 'websocket' && window.c1m.client.state === 'open'
    && window.c1m.client.stats.delivered > 20, null, { timeout: 15000 });
  assert.equal(new URL(page.url()).searchParams.get('transport'), null);
  await waitPricesChange(page, 'prices over WebSocket again');
  const stats = await page.evaluate(() => window.c1m.client.stats);
  assert.equal(stats.gaps, 0);
  assert.equal(stats.duplicates, 0);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#rows tr').length), 8, 'the rows stayed');
  // Sparklines fill their column: the drawn line spans the canvas.
  const spans = await page.$$eval('#rows canvas.spark', (cs) => cs.map((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let lo = c.width;
    let hi = -1;
    for (let i = 3; i < data.length; i += 4) {
      if (!data[i]) continue;
      const x = ((i - 3) / 4) % c.width;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return { w: c.getBoundingClientRect().width, td: c.parentElement.getBoundingClientRect().width, frac: (hi - lo + 1) / c.width };
  }));
  for (const s of spans) {
    assert.ok(s.w >= s.td - 10, `canvas ${s.w}px in a ${s.td}px column`);
    assert.ok(s.frac > 0.9, `the line spans ${Math.round(s.frac * 100)}% of the canvas`);
  }
  assert.deepEqual(b.errors.map(String), []);
});
