// The demo page served by the real server: live prices, and reconnection on
// its own after the server is killed and restarted on the same port.
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

test('the demo page shows live prices and recovers from a server restart by itself', async () => {
  srv = await startServer({ args: demoArgs });
  b = await launch();
  const { page } = b;
  await page.goto(`${srv.http}/?backoffMax=1000`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
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
  assert.deepEqual(b.errors.map(String), []);
});
