// The operator page of the admin listener (--admin-addr): live charts that
// fill from /stats, and the connection listing, in headless Chromium. With
// C1M_SCREENSHOT_DIR set it also writes operator-1280.png there (the
// screenshot in docs/OPERATIONS.md).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, waitFor } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

test('the operator page draws live charts and lists connections by IP and endpoint', async () => {
  srv = await startServer({ args: ['--demo-rate', '200', '--demo-symbols', '8', '--admin-addr', '127.0.0.1:0'] });
  const admin = await waitFor(() => /admin listener.*?url=(http:\/\/127\.0\.0\.1:\d+)\//.exec(srv.stderr())?.[1],
    { message: 'the admin listener URL in the log' });
  b = await launch();
  // Two demo pages hold WebSocket connections on the public listener.
  const demo1 = await b.context.newPage();
  const demo2 = await b.context.newPage();
  await demo1.goto(`${srv.http}/`);
  await demo2.goto(`${srv.http}/`);
  await demo1.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await demo2.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });

  const page = b.page;
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.goto(`${admin}/`);
  await page.waitForFunction(() => window.c1mCharts
    && window.c1mCharts.conns.points() >= 4 && window.c1mCharts.dps.points() >= 3
    && window.c1mCharts.mem.points() >= 8, null, { timeout: 20000 });
  assert.equal(await page.textContent('#status'), 'live');
  // The demo feed delivers to both pages: deliveries per second above zero.
  await page.waitForFunction(() => Number(document.getElementById('v-dps').textContent.replace(/k$/, '000')) > 0,
    null, { timeout: 15000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#t-path tbody tr')]
    .some((tr) => tr.cells[0].textContent === '/ws' && Number(tr.cells[1].textContent) >= 2), null, { timeout: 15000 });
  const ipRows = await page.$$eval('#t-ip tbody tr', (rows) => rows.map((r) => [r.cells[0].textContent, Number(r.cells[1].textContent)]));
  assert.ok(ipRows.some(([ip, n]) => ip === '127.0.0.1' && n >= 2), `by IP: ${JSON.stringify(ipRows)}`);
  // The charts' canvases were drawn on: some pixel is not transparent.
  const painted = await page.$$eval('canvas', (cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
    return false;
  }));
  assert.deepEqual(painted, [true, true, true, true, true]);
  assert.deepEqual(b.errors, []);
  if (process.env.C1M_SCREENSHOT_DIR) {
    await page.screenshot({ path: path.join(process.env.C1M_SCREENSHOT_DIR, 'operator-1280.png'), fullPage: true });
  }
  // The public listener serves none of it.
  const pub = await fetch(`${srv.http}/connections`);
  assert.equal(pub.status, 404);
});
