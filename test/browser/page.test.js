// The demo page as a person sees it, served by the real server with its demo
// feed: layout at a desktop and a phone width, favicon, the error state of a
// refused subscription, stale prices while reconnecting, sparklines, the
// latency card and the server's own numbers from GET /stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

const demoArgs = ['--demo-rate', '200', '--demo-symbols', '12'];
let srv;
let b;
before(async () => {
  srv = await startServer({ args: demoArgs });
  b = await launch();
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

const until = (fn, arg, timeout = 15000) => b.page.waitForFunction(fn, arg, { timeout });

async function open(path = '/', width = 1280, height = 800) {
  await b.page.setViewportSize({ width, height });
  await b.page.goto(`${srv.http}${path}`);
}

async function openLive(width, height) {
  await open('/', width, height);
  await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await until(() => document.querySelectorAll('#rows td.bid:not(:empty)').length === 12);
}

test('at 1280 px the client stat cards sit on one line and the table columns keep their widths as prices change', async () => {
  await openLive(1280, 800);
  const tops = await b.page.$$eval('.stats > div', (els) => els.map((e) => e.offsetTop));
  assert.ok(tops.length >= 8, `${tops.length} stat cards`);
  assert.equal(new Set(tops).size, 1, `cards' offsetTop ${tops}`);
  const widths = () => b.page.$$eval('#ticker th', (ths) => ths.map((th) => th.offsetWidth).join(','));
  const w1 = await widths();
  const prices = await b.page.$eval('#rows', (el) => el.textContent);
  await until((p) => document.getElementById('rows').textContent !== p, prices);
  // A price with more digits than the others does not move the columns either.
  await b.page.evaluate(() => {
    const r = window.c1m.rows.get('AAPL');
    r.cells.bid.textContent = '123456789.12';
  });
  assert.equal(await widths(), w1);
  assert.ok(await b.page.evaluate(() => document.documentElement.scrollWidth <= innerWidth));
});

test('at 390 px the page does not scroll sideways', async () => {
  await openLive(390, 844);
  const r = await b.page.evaluate(() => ({
    doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, inner: innerWidth,
    widest: Math.max(...[...document.querySelectorAll('body *')].map((e) => e.getBoundingClientRect().right)),
  }));
  assert.ok(r.doc <= r.inner && r.body <= r.inner, JSON.stringify(r));
  assert.ok(r.widest <= r.inner + 0.5, `an element reaches ${r.widest}px of ${r.inner}`);
  // The columns shown stay readable: symbol, bid, ask and change are shown whole.
  const clipped = await b.page.$$eval('#rows td.sym, #rows td.bid, #rows td.ask, #rows td.chg',
    (tds) => tds.filter((td) => td.scrollWidth > td.clientWidth).map((td) => td.textContent));
  assert.deepEqual(clipped, []);
});

test('the favicon is served and no request of the page fails', async () => {
  const failed = [];
  const onResponse = (res) => { if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`); };
  b.page.on('response', onResponse);
  try {
    await openLive(1280, 800);
    const icon = await b.page.evaluate(async () => {
      const link = document.querySelector('link[rel~="icon"]');
      if (!link) return null;
      const res = await fetch(link.href);
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    });
    assert.ok(icon, 'a <link rel="icon">');
    assert.equal(icon.status, 200);
    assert.match(icon.type, /^image\//);
    assert.match(icon.body, /<svg/);
    // What a browser asks for without looking at the page.
    const ico = await fetch(`${srv.http}/favicon.ico`);
    await ico.arrayBuffer();
    assert.notEqual(ico.status, 404, 'GET /favicon.ico');
    // Wait for one /stats poll so that request is checked too.
    await until(() => document.getElementById('srv-conns').textContent !== '\u2013');
  } finally {
    b.page.off('response', onResponse);
  }
  assert.deepEqual(failed, []);
});

test('a subscription refused with 422 shows the error instead of "open" and "waiting for data"', async () => {
  await open('/?sub=bad..pattern');
  await b.page.waitForSelector('#conn[data-state="error"]', { timeout: 15000 });
  const r = await b.page.evaluate(() => ({
    state: document.getElementById('state').textContent,
    empty: document.getElementById('empty').textContent,
    emptyShown: !document.getElementById('empty').hidden,
    banner: document.getElementById('banner').hidden ? '' : document.getElementById('banner').textContent,
    text: document.body.innerText,
  }));
  assert.doesNotMatch(r.state, /open|live/i);
  assert.ok(r.emptyShown);
  assert.match(r.empty, /422/);
  assert.match(r.empty, /bad\.\.pattern/);
  assert.match(r.banner, /refused/);
  assert.doesNotMatch(r.text, /waiting for data/i);
});

test('sparklines of the last minute are drawn for every symbol', async () => {
  await openLive(1280, 800);
  await until(() => [...document.querySelectorAll('#rows tr')].every((tr) => Number(tr.querySelector('canvas.spark')?.dataset.points) >= 3));
  const drawn = await b.page.$$eval('#rows canvas.spark', (cs) => cs.map((c) => {
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
    return n;
  }));
  assert.equal(drawn.length, 12);
  assert.ok(drawn.every((n) => n > 10), `painted pixels per sparkline: ${drawn}`);
  // Bounded: one minute of fixed slots per symbol, however many messages came.
  const points = await b.page.$$eval('#rows canvas.spark', (cs) => cs.map((c) => Number(c.dataset.points)));
  assert.ok(points.every((n) => n <= 120), String(points));
});

test('the server panel shows the numbers of GET /stats; the latency card shows p50 and p99 of publish to receive', async () => {
  await openLive(1280, 800);
  // deliveries/s needs two polls (2 s apart).
  await until(() => Number(document.getElementById('srv-dps').textContent.replace(/,/g, '')) > 0);
  const t = await b.page.evaluate(() => Object.fromEntries(['conns', 'dps', 'pps', 'topics', 'rss', 'heap', 'goroutines', 'uptime']
    .map((k) => [k, document.getElementById(`srv-${k}`).textContent])));
  assert.match(t.conns, /^[1-9]\d*$/, t.conns);
  assert.match(t.dps, /^[\d,]+$/, t.dps);
  assert.match(t.pps, /^[\d,]+$/, t.pps);
  assert.match(t.topics, /^[1-9][\d,]*$/, t.topics);
  assert.match(t.rss, /^\d+(\.\d)? (MiB|KiB|GiB)$/, t.rss);
  assert.match(t.heap, /^\d+(\.\d)? (MiB|KiB|GiB)$/, t.heap);
  assert.match(t.goroutines, /^[1-9]\d*$/, t.goroutines);
  assert.match(t.uptime, /\d/, t.uptime);
  const s = await (await fetch(`${srv.http}/stats`)).json();
  const rssMiB = s.rss / 1048576;
  const shownMiB = parseFloat(t.rss) * { KiB: 1 / 1024, MiB: 1, GiB: 1024 }[t.rss.split(' ')[1]];
  assert.ok(Math.abs(shownMiB - rssMiB) < Math.max(8, rssMiB * 0.5), `rss shown ${t.rss}, server says ${rssMiB} MiB`);

  await until(() => window.c1m.latency && window.c1m.latency.n >= 100 && document.getElementById('latency').textContent !== '\u2013');
  const lat = await b.page.evaluate(() => ({
    q: window.c1m.latency, label: document.querySelector('.stats .lat label').textContent,
    p50: document.getElementById('latency').textContent, p99: document.getElementById('latency99').textContent,
  }));
  assert.match(lat.label, /p50/);
  assert.match(lat.label, /p99/);
  assert.ok(lat.q.p50 <= lat.q.p99);
  assert.ok(lat.q.p50 > -50 && lat.q.p50 < 1000, `p50 ${lat.q.p50} ms`);
  assert.match(lat.p50, /^-?\d/);
});

test('latency is sampled where messages arrive: with no animation frame ever running it is still measured', async () => {
  const page = await b.context.newPage();
  try {
    await page.addInitScript(() => { window.requestAnimationFrame = () => 0; });
    await page.goto(`${srv.http}/`);
    // Polled by a timer: this page has no animation frames.
    await page.waitForFunction(() => window.c1m?.latency?.n >= 50, null, { timeout: 15000, polling: 100 });
    // Nothing was rendered, yet the latency card (updated by a timer) has numbers.
    const r = await page.evaluate(() => ({ rows: document.querySelectorAll('#rows td.bid:not(:empty)').length,
      p50: document.getElementById('latency').textContent }));
    assert.equal(r.rows, 0);
    assert.match(r.p50, /^-?\d/);
  } finally {
    await page.close();
  }
});

test('a missing or broken /stats is shown as such, not as numbers and not as an error', async () => {
  await b.page.route('**/stats', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '{"conns":"x","hub":null}' }));
  try {
    await openLive(1280, 800);
    await until(() => window.c1m.serverPolls >= 1);
    const t = await b.page.$eval('#server', (el) => [...el.querySelectorAll('dd')].map((dd) => dd.textContent));
    assert.ok(t.slice(0, 8).every((v) => v === '\u2013'), String(t));
  } finally {
    await b.page.unroute('**/stats');
  }
  assert.deepEqual(b.errors.map(String), []);
});

test('no attempt counter while connected; while reconnecting the prices are dimmed and marked stale', async () => {
  await openLive(1280, 800);
  const shown = () => b.page.evaluate(() => ({
    attempt: !document.getElementById('attempt').hidden, text: document.body.innerText,
    opacity: Number(getComputedStyle(document.getElementById('rows')).opacity),
    banner: document.getElementById('banner').hidden ? '' : document.getElementById('banner').textContent,
  }));
  let s = await shown();
  assert.equal(s.attempt, false);
  assert.doesNotMatch(s.text, /attempt/i);
  assert.equal(s.opacity, 1);
  assert.equal(s.banner, '');

  const port = srv.port;
  await srv.kill();
  await b.page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10000 });
  await until(() => Number(getComputedStyle(document.getElementById('rows')).opacity) < 0.6);
  s = await shown();
  assert.equal(s.attempt, true);
  assert.match(s.banner, /stale/i);
  assert.match(await b.page.textContent('#attempt'), /attempt \d+/);

  srv = await startServer({ port, args: demoArgs });
  await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 20000 });
  await until(() => Number(getComputedStyle(document.getElementById('rows')).opacity) === 1);
  s = await shown();
  assert.equal(s.attempt, false);
  assert.equal(s.banner, '');
  assert.deepEqual(b.errors.map(String), []);
});
