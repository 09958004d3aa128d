// The demo page survives any JSON published on the topics it shows: strings,
// null, nested objects, arrays, huge numbers and non-object data on some
// md.X.quote / md.X.trade topics, published before the page loads (replayed
// to it as last values) and while the demo feed runs. The other symbols keep
// updating, nothing throws, and what cannot be shown is marked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, publishRaw } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

let srv;
let b;
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

// The demo feed's first 8 symbols; the bad values go to AAPL and MSFT (which
// the feed also updates) and to symbols of their own.
const demo = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'AVGO'];
const hit = ['AAPL', 'MSFT'];
const healthy = demo.filter((s) => !hit.includes(s));

// JSON texts, published as they are.
const badQuotes = [
  '{"bid":"oops","ask":null}', '{"bid":{"px":1},"ask":[1,2],"bsz":"many","asz":-1e400}',
  '{"bid":1e308,"ask":1e400}', '{"bid":123456789012345678901234567890,"ask":-5}',
  '"just a string"', '42', 'null', 'true', '[1,2,3]', '[]', '{}', '{"bid":[],"ask":{}}',
];
const badTrades = [
  '{"px":"x","qty":{},"side":7}', '{"px":null,"qty":null,"side":null}', '{"px":1e400,"qty":-1e400}',
  '"trade"', '[{"px":1}]', '0', '{"px":0,"qty":100,"side":"B"}',
];

async function publishBad() {
  for (const body of badQuotes) {
    for (const s of hit) await publishRaw(srv.http, `md.${s}.quote`, body);
    await publishRaw(srv.http, 'md.ZBAD.quote', body);
  }
  for (const body of badTrades) {
    for (const s of hit) await publishRaw(srv.http, `md.${s}.trade`, body);
    await publishRaw(srv.http, 'md.ZBAD.trade', body);
  }
}

// Serialises the price cells of the given symbols' rows.
function prices(syms) {
  return syms.map((s) => [...document.querySelectorAll(`#row-${s} td.bid, #row-${s} td.ask, #row-${s} td.px`)]
    .map((td) => td.textContent).join('/')).join('|');
}

test('malformed values on some topics: the page keeps rendering every other symbol and marks what it cannot show', async () => {
  srv = await startServer({ args: ['--demo-rate', '100', '--demo-symbols', '8'] });
  // Last values the server replays to the page when it subscribes.
  await publishRaw(srv.http, 'md.ZBAD.quote', '{"bid":"oops","ask":null}');
  await publishRaw(srv.http, 'md.ZARR.quote', '[1,2,3]');
  await publishRaw(srv.http, 'md.AAPL.quote', '{"bid":"oops","ask":null}');
  b = await launch();
  const { page } = b;
  await page.goto(`${srv.http}/`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await page.waitForFunction((syms) => syms.every((s) => /\d/.test(document.querySelector(`#row-${s} td.bid`)?.textContent || '')),
    healthy, { timeout: 15000 });
  // The replayed bad last values are marked, not shown.
  await page.waitForFunction(() => document.querySelector('#row-ZBAD td.bid.bad') && document.querySelector('#row-ZBAD td.ask.bad'),
    null, { timeout: 5000 });
  await page.waitForFunction(() => document.getElementById('row-ZARR')?.classList.contains('malformed'), null, { timeout: 5000 });

  // Keep publishing bad values while the feed runs, and wait for every healthy
  // symbol's prices to change twice meanwhile.
  let stop = false;
  let rounds = 0;
  const bad = (async () => {
    while (!stop) {
      await publishBad();
      rounds++;
      await new Promise((r) => setTimeout(r, 20)); // pace the loop; not a wait for a condition
    }
  })();
  try {
    for (let i = 0; i < 2; i++) {
      const before = await page.evaluate(prices, healthy);
      await page.waitForFunction(([fn, syms, prev]) => {
        const now = new Function(`return (${fn})`)()(syms);
        return now.split('|').every((row, k) => row !== prev.split('|')[k]);
      }, [prices.toString(), healthy, before], { timeout: 15000 });
    }
  } finally {
    stop = true;
    await bad;
  }
  assert.ok(rounds >= 1);
  // The symbols that got bad values show good ones again once the feed sends them.
  await page.waitForFunction((syms) => syms.every((s) => {
    const td = document.querySelector(`#row-${s} td.bid`);
    return td && !td.classList.contains('bad') && /^\d/.test(td.textContent);
  }), hit, { timeout: 15000 });
  // Huge numbers do not widen the page.
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  const stats = await page.evaluate(() => window.c1m.client.stats);
  assert.equal(stats.gaps, 0);
  assert.deepEqual(b.errors.map(String), [], 'no uncaught errors in the page');
  const log = await page.textContent('#log');
  assert.doesNotMatch(log, /listener threw/, 'no listener of the page threw');
});
