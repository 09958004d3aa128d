// SockJS in headless Chromium against the real server: sockjs-client 1.x as
// c1m serves it (/vendor/sockjs.min.js, checked here to be the pinned npm
// package's file byte for byte), unmodified, on a page of the server's
// origin, with each SockJS transport forced in turn, carrying the native
// protocol on /sockjs; @stomp/stompjs over sockjs-client on /stomp-sockjs;
// the demo page switched to SockJS; and c1m.js over SockJS recovering a
// stream cut in the middle (through a TCP proxy) with zero loss.
import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startServer, publish, publishBatch, topicPrefix, waitFor } from '../node/lib/server.js';
import { startProxy } from './lib/proxy.js';
import { launch } from './lib/browser.js';
import { stale, pinned } from '../../web/vendor/update.mjs';

const require = createRequire(import.meta.url);
const stompBundle = readFileSync(fileURLToPath(new URL('node_modules/@stomp/stompjs/bundles/stomp.umd.min.js', import.meta.url)), 'utf8');
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// The demo feed (8 symbols, 200 updates/s) is the live market data; client
// publishing lets the pages publish too (native pub, STOMP SEND).
const serverArgs = ['--demo-rate', '200', '--demo-symbols', '8', '--client-publish', '--history-size', '20000'];

let srv;
let b;
let base; // the origin of the page hostPage() opened, or null
before(async () => {
  srv = await startServer({ args: serverArgs });
  b = await launch();
});
after(async () => {
  await b?.close();
  if (srv && srv.proc.exitCode === null) await srv.kill();
});

const until = (fn, arg, timeout = 20000) => b.page.waitForFunction(fn, arg, { timeout, polling: 20 });

// Every test checks the page errors of its own run.
beforeEach(() => { if (b) b.errors.length = 0; });

/**
 * Opens a page of origin (the server's or the proxy's, a real response from
 * the server: Chromium's local network access checks refuse a loopback
 * WebSocket to a page the test made up) and loads sockjs-client into it from
 * the server's /vendor/sockjs.min.js. The page is the demo page kept quiet:
 * over SSE (no WebSocket of its own) on a pattern nothing is published to.
 */
async function hostPage(origin) {
  await b.page.goto(`${origin}/?sub=zz.quiet.none&transport=sse`);
  await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
  await b.page.addScriptTag({ url: `${origin}/vendor/sockjs.min.js` });
  assert.equal(await b.page.evaluate(() => typeof window.SockJS), 'function');
  base = origin;
}

test('the vendored sockjs-client is the pinned npm package\'s file, served by c1m at /vendor/sockjs.min.js', async () => {
  assert.deepEqual(stale(), [], 'run node web/vendor/update.mjs');
  const dir = require.resolve('sockjs-client/package.json').replace(/package\.json$/, '');
  assert.equal(JSON.parse(readFileSync(`${dir}package.json`, 'utf8')).version, pinned('sockjs-client'));
  assert.match(pinned('sockjs-client'), /^1\.\d+\.\d+$/);
  const want = readFileSync(`${dir}dist/sockjs.min.js`);
  const res = await fetch(`${srv.http}/vendor/sockjs.min.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(want), 'the binary serves the pinned file');
  assert.ok(want.subarray(0, 100).toString().startsWith(`/* sockjs-client v${pinned('sockjs-client')} `));
  // The server's iframe page (the iframe-* transports) loads exactly that URL.
  const iframe = await fetch(`${srv.http}/sockjs/iframe.html`);
  assert.equal(iframe.status, 200);
  const html = await iframe.text();
  assert.match(html, /<script src="\/vendor\/sockjs\.min\.js"><\/script>/, html);
});

// In the page: window.runSock(url, transports) opens a SockJS, records
// everything it gets, and resolves once open; the test then drives it.
const sockHelpers = () => {
  window.runSock = (url, transports) => new Promise((resolve, reject) => {
    const r = { frames: [], replies: {}, live: 0, snaps: 0, closes: [], opened: false, transport: null, topics: new Set() };
    const sock = new window.SockJS(url, null, transports ? { transports } : {});
    r.sock = sock;
    window.sj = r;
    sock.onopen = () => {
      r.opened = true;
      r.transport = sock.transport;
      resolve(sock.transport);
    };
    sock.onmessage = (ev) => {
      if (r.frames.length < 50) r.frames.push(ev.data);
      let m;
      try { m = JSON.parse(ev.data); } catch { r.bad = ev.data; return; }
      if (m.op === 'ok' || m.op === 'err') r.replies[m.id] = m;
      else if (m.op === 'msg') {
        if (m.snap) r.snaps++; else r.live++;
        r.topics.add(m.topic);
        if (m.topic === r.echoTopic) r.echo = m;
      }
    };
    sock.onclose = (ev) => {
      r.closes.push({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
      if (!r.opened) reject(new Error(`closed before open: ${ev.code} ${ev.reason}`));
    };
  });
};

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource', 'iframe-htmlfile', 'jsonp-polling'];

for (const name of TRANSPORTS) {
  test(`sockjs-client forced to ${name}: native subscribe and its ok, live market data, a publish echoed back, a clean close`, async (t) => {
    await hostPage(srv.http);
    await b.page.evaluate(sockHelpers);
    const failed = [];
    const pending = new Set(); // the page's SockJS receiving requests still open
    const onRequest = (req) => { if (/\/sockjs\/[^/]+\/[^/]+\/(xhr|xhr_streaming|eventsource|htmlfile|jsonp)\b/.test(req.url())) pending.add(req); };
    const onDone = (req) => pending.delete(req);
    const onFailed = (req) => {
      pending.delete(req);
      failed.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    };
    b.page.on('request', onRequest);
    b.page.on('requestfinished', onDone);
    b.page.on('requestfailed', onFailed);
    try {
      const used = await b.page.evaluate(([u, t]) => window.runSock(u, t), [`${srv.http}/sockjs`, [name]]);
      assert.equal(used, name, 'the transport actually used');
      // The native subscribe: its ok lists the demo's topics.
      await b.page.evaluate(() => window.sj.sock.send(JSON.stringify({ op: 'sub', id: 1, topics: ['md.>'] })));
      await until(() => window.sj.replies[1]);
      const ok = await b.page.evaluate(() => window.sj.replies[1]);
      assert.equal(ok.op, 'ok', JSON.stringify(ok));
      assert.equal(typeof ok.epoch, 'string');
      assert.ok(Object.keys(ok.topics).length >= 8, `topics in the ok: ${Object.keys(ok.topics)}`);
      // Live data flows (and keeps flowing over polls and rotated responses).
      await until(() => window.sj.live >= 300 && window.sj.topics.size >= 16);
      // A client message with characters JSON and SockJS escape, published and delivered back.
      const topic = `${topicPrefix('sjecho')}.${name.replace(/[^a-z]/g, '')}`;
      const data = { s: 'quote " backslash \\ newline \n tab \t unicode \u00e9\u2028\u4e2d <script>&', n: [1, 2.5, -3] };
      await b.page.evaluate(([t, d]) => {
        window.sj.echoTopic = t;
        window.sj.sock.send(JSON.stringify({ op: 'sub', id: 2, topics: [t] }));
        window.sj.sock.send(JSON.stringify({ op: 'pub', id: 3, topic: t, data: d }));
      }, [topic, data]);
      await until(() => window.sj.replies[2] && window.sj.replies[3] && window.sj.echo);
      const r = await b.page.evaluate(() => ({ replies: window.sj.replies, echo: window.sj.echo, bad: window.sj.bad, frames: window.sj.frames.slice(0, 3) }));
      assert.equal(r.replies[3].op, 'ok', JSON.stringify(r.replies[3]));
      assert.deepEqual(r.echo.data, data);
      assert.equal(r.bad, undefined, 'every message is native JSON');
      assert.equal(await b.page.evaluate(() => window.sj.sock.transport), name);
      assert.deepEqual(b.errors.map(String), []);
      await b.page.evaluate(() => window.sj.sock.close(1000, 'bye'));
      await until(() => window.sj.closes.length === 1);
      assert.deepEqual(await b.page.evaluate(() => window.sj.closes), [{ code: 1000, reason: 'bye', wasClean: true }]);
      // A receiving request still held by the server when the page closed
      // ends with the next frame (the feed goes on until the session times out).
      await waitFor(() => pending.size === 0, { timeout: 10000, message: `the held requests to end: ${[...pending].map((r) => r.url())}` });
    } finally {
      b.page.off('request', onRequest);
      b.page.off('requestfinished', onDone);
      b.page.off('requestfailed', onFailed);
    }
    // Requests the page itself aborted on close are not failures of the server.
    assert.deepEqual(failed.filter((f) => !/ERR_ABORTED/.test(f)), []);
    // sockjs-client's close removes a jsonp poll's callback and script
    // element, but a removed script still runs when its response comes
    // (the HTML spec): the poll the server answers after the close calls a
    // callback that is gone. sockjs-client's doing, not the server's.
    const afterClose = b.errors.map(String);
    const known = afterClose.filter((e) => name === 'jsonp-polling' && /^TypeError: _jp\.\w+ is not a function$/.test(e));
    if (known.length) t.diagnostic(`after close: ${known.length} x "${known[0]}" (sockjs-client's jsonp cleanup)`);
    assert.deepEqual(afterClose.filter((e) => !known.includes(e)), []);
  });
}

test('cross-origin (a page of another origin, the server\'s CORS): every transport, iframe-eventsource and iframe-xhr-polling too, subscribes and gets live data', async () => {
  const proxy = await startProxy(srv.port); // another port: another origin
  try {
    await hostPage(proxy.http);
    const got = {};
    for (const name of [...TRANSPORTS, 'iframe-eventsource', 'iframe-xhr-polling']) {
      got[name] = await b.page.evaluate(([u, tr]) => new Promise((resolve) => {
        const s = new window.SockJS(u, null, { transports: [tr] });
        const r = { via: null, ok: false, live: 0, close: null };
        let timer = null;
        s.onopen = () => { r.via = s.transport; s.send(JSON.stringify({ op: 'sub', id: 1, topics: ['md.>'] })); };
        s.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.op === 'ok' && m.id === 1) r.ok = true;
          // Messages of a response already in flight may still come after
          // close() (a jsonp poll): count up to the 100 asked for.
          if (m.op === 'msg' && !m.snap && r.live < 100 && ++r.live === 100) s.close();
        };
        s.onclose = (e) => { clearTimeout(timer); r.close = e.code; resolve(r); };
        timer = setTimeout(() => s.close(4000, 'deadline'), 15000);
      }), [`${srv.http}/sockjs`, name]);
    }
    for (const [name, r] of Object.entries(got)) assert.deepEqual(r, { via: name, ok: true, live: 100, close: 1000 }, name);
  } finally {
    await proxy.close();
    base = null;
  }
});

// ---- STOMP over SockJS --------------------------------------------------------

const stompHelpers = () => {
  window.mkStomp = (url, transports) => {
    const rec = { connects: [], errors: [], closes: [], msgs: [], receipts: {}, via: null };
    const c = new window.StompJs.Client({
      webSocketFactory: () => {
        const s = new window.SockJS(url, null, transports ? { transports } : {});
        rec.sock = s;
        return s;
      },
      reconnectDelay: 0,
      onConnect: (f) => { rec.connects.push(f.headers); rec.via = rec.sock.transport; },
      onStompError: (f) => rec.errors.push({ headers: f.headers, body: f.body }),
      onWebSocketClose: (e) => rec.closes.push(e.code),
    });
    c.rec = rec;
    window.stomp = c;
    c.activate();
  };
};

for (const name of ['websocket', 'xhr-streaming', 'xhr-polling']) {
  test(`@stomp/stompjs over sockjs-client (${name}) on /stomp-sockjs: CONNECTED, snapshot then live MESSAGEs, SEND with a receipt`, async () => {
    await hostPage(srv.http);
    await b.page.addScriptTag({ content: stompBundle });
    await b.page.evaluate(stompHelpers);
    const p = topicPrefix(`bsjstomp${name.replace(/[^a-z]/g, '')}`);
    await publish(srv.http, `${p}.X.quote`, { px: 1 });
    await publish(srv.http, `${p}.Y.quote`, { px: 2 });
    await b.page.evaluate(([u, t]) => window.mkStomp(u, t), [`${srv.http}/stomp-sockjs`, [name]]);
    await until(() => window.stomp.connected);
    const h = await b.page.evaluate(() => ({ ...window.stomp.rec.connects[0], via: window.stomp.rec.via }));
    assert.equal(h.version, '1.2');
    assert.equal(h.server, 'c1m');
    assert.equal(h.via, name);
    await b.page.evaluate((d) => {
      const c = window.stomp;
      c.got = [];
      c.md = 0;
      c.watchForReceipt('r1', (f) => { c.rec.receipts.r1 = f.headers; });
      c.subscribe(d, (m) => c.got.push({ headers: m.headers, body: m.body }), { receipt: 'r1' });
      // The live market data of the demo feed as well.
      c.subscribe('/topic/md.*.quote', () => { c.md++; });
    }, `/topic/${p}.*.quote`);
    await until(() => window.stomp.got.length === 2 && window.stomp.rec.receipts.r1);
    await publish(srv.http, `${p}.X.quote`, { px: 3 });
    await b.page.evaluate((t) => {
      const c = window.stomp;
      c.watchForReceipt('s1', (f) => { c.rec.receipts.s1 = f.headers; });
      c.publish({ destination: t, body: JSON.stringify({ px: 4, s: 'é"\\\n' }), headers: { receipt: 's1', 'content-type': 'application/json' } });
    }, `/topic/${p}.Y.quote`);
    await until(() => window.stomp.got.length === 4 && window.stomp.rec.receipts.s1 && window.stomp.md >= 50);
    const r = await b.page.evaluate(() => ({ got: window.stomp.got, rc: window.stomp.rec.receipts.r1, errors: window.stomp.rec.errors }));
    assert.ok(r.got.slice(0, 2).every((m) => m.headers['x-c1m-snap'] === 'true'));
    assert.deepEqual(r.got.slice(0, 2).map((m) => m.body).sort(), ['{"px":1}', '{"px":2}']);
    assert.deepEqual(r.got.slice(2).map((m) => [m.headers.destination, JSON.parse(m.body), m.headers['x-c1m-snap']]),
      [[`/topic/${p}.X.quote`, { px: 3 }, undefined], [`/topic/${p}.Y.quote`, { px: 4, s: 'é"\\\n' }, undefined]]);
    assert.ok(r.rc['x-c1m-epoch']);
    assert.equal(r.got[3].headers['message-id'], `${p}.Y.quote/2`);
    assert.deepEqual(r.errors, []);
    await b.page.evaluate(() => window.stomp.deactivate());
    await until(() => !window.stomp.active);
    assert.deepEqual(b.errors.map(String), []);
  });
}

// ---- c1m.js over SockJS -------------------------------------------------------

test('c1m.js over SockJS (xhr-streaming) through a proxy: 8,000 messages across two mid-flight cuts, exactly once and in order', async () => {
  const proxy = await startProxy(srv.port);
  try {
    await hostPage(proxy.http);
    await b.page.evaluate(async ([url, patterns]) => {
      const { Client } = await import('/c1m.js');
      const c = new Client(url, { transport: 'sockjs', sockjsOptions: { transports: ['xhr-streaming'] }, backoffInitial: 50, backoffMax: 300 });
      const r = { c, seqs: {}, n: 0, states: [], vias: [], errors: [] };
      c.on('message', (topic, data, meta) => { (r.seqs[topic] ||= []).push(meta.snap ? -meta.seq : meta.seq); r.n++; });
      c.on('state', (s, info) => { r.states.push(s); if (info.via) r.vias.push(info.via); });
      c.on('error', (e) => r.errors.push(String(e)));
      window.cl = r;
      await c.subscribe(patterns);
    }, [`${proxy.http}/sockjs`, [`${topicPrefix('x')}.none`]]);
    const t = topicPrefix('sjcut');
    const topics = [`${t}.a`, `${t}.b`, `${t}.c`, `${t}.d`];
    await b.page.evaluate((p) => window.cl.c.subscribe(p), `${t}.>`);
    const N = 8000;
    let published = 0;
    const received = (min) => until((m) => window.cl.n >= m, min);
    // The feeder stops at 2,400 and at 5,600 published until that cut is
    // done, so that both cuts fall while messages are still to come.
    let cut1Done, cut2Done;
    const gates = { 2400: new Promise((r) => { cut1Done = r; }), 5600: new Promise((r) => { cut2Done = r; }) };
    const feeding = (async () => {
      for (let i = 0; i < N; i += 400) {
        await received(i - 2000);
        if (gates[i]) await gates[i];
        await publishBatch(srv.http, Array.from({ length: 400 }, (_, k) => ({ topic: topics[(i + k) % 4], data: { i: i + k } })));
        published = i + 400;
      }
    })();
    // A cut can fall between two responses of the session (a streaming
    // response rotated after its byte limit), which loses nothing: cut
    // until the client sees its connection go.
    const cutUntilLost = (reconnects) => waitFor(async () => {
      const s = await b.page.evaluate(() => ({ state: window.cl.c.state, reconnects: window.cl.c.stats.reconnects }));
      if (s.state !== 'open' || s.reconnects > reconnects) return true;
      proxy.cut();
      return false;
    }, { timeout: 10000, interval: 50, message: 'the client to lose its connection to a cut' });
    await received(2000);
    const cut1 = published;
    await cutUntilLost(0);
    cut1Done();
    await until(() => window.cl.c.state === 'open' && window.cl.c.stats.reconnects === 1)
      .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await b.page.evaluate(() => ({ states: window.cl.states, stats: window.cl.c.stats, errors: window.cl.errors, n: window.cl.n })))}`); });
    await received(5000);
    const cut2 = published;
    await cutUntilLost(1);
    cut2Done();
    await feeding;
    await received(N);
    const r = await b.page.evaluate(async () => {
      const { c, seqs, n, states, vias, errors } = window.cl;
      const out = { seqs, n, states, vias, errors, stats: { ...c.stats }, transport: c.transport };
      await c.close();
      return out;
    });
    for (const tp of topics) assert.deepEqual(r.seqs[tp], range(1, N / 4), `${tp}: every seq once, in order`);
    assert.equal(r.n, N);
    assert.ok(cut1 < N && cut2 < N, `cuts while publishing (${cut1}, ${cut2})`);
    assert.equal(r.transport, 'sockjs');
    assert.deepEqual(r.vias, ['xhr-streaming', 'xhr-streaming', 'xhr-streaming']);
    assert.equal(r.stats.gaps, 0);
    assert.equal(r.stats.duplicates, 0);
    assert.equal(r.stats.reconnects, 2);
    assert.equal(r.stats.notRecovered, 0);
    assert.ok(r.stats.recovered >= 8, `recovered ${r.stats.recovered}: ${JSON.stringify({ stats: r.stats, states: r.states, vias: r.vias })}`);
    // (reconnecting is reported when the retry is scheduled and again when it starts)
    assert.deepEqual(r.states.filter((x, i) => x !== r.states[i - 1]), ['open', 'reconnecting', 'open', 'reconnecting', 'open', 'closed']);
    assert.deepEqual(r.errors, []);
  } finally {
    await proxy.close();
    base = null;
  }
});

test('c1m.js with transport \'auto\': WebSocket refused on the way, it falls back to SockJS and gets data', async () => {
  const proxy = await startProxy(srv.port, { refuseUpgrades: true });
  try {
    await hostPage(proxy.http);
    const r = await b.page.evaluate(async ([url]) => {
      const { Client } = await import('/c1m.js');
      // No WebSocket upgrade gets through the proxy: SockJS then opens on a streaming transport.
      const c = new Client(url, { transport: 'auto', backoffInitial: 50 });
      const out = { fell: [], states: [] };
      c.on('transport', (t, info) => out.fell.push({ t, from: info.from }));
      c.on('state', (s, info) => out.states.push([s, info.via || '']));
      let live = 0;
      c.on('message', (topic, data, meta) => { if (!meta.snap) live++; });
      const ok = await c.subscribe('md.>');
      const deadline = Date.now() + 15000;
      while (live < 50 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      out.live = live;
      out.topics = Object.keys(ok.topics).length;
      out.transport = c.transport;
      out.pub = await c.publish(`${'zz'}.auto`, 1);
      out.bin = await c.publishBinary('zz.auto', 'x').catch((e) => e.code);
      await c.close();
      return out;
    }, [`ws://${new URL(proxy.http).host}/ws`]);
    assert.ok(proxy.upgrades >= 1, `a WebSocket was tried: ${JSON.stringify(r)}\n${proxy.heads.map((h) => h.split('\r\n')[0]).join('\n')}`);
    assert.deepEqual(r.fell, [{ t: 'sockjs', from: 'websocket' }]);
    assert.equal(r.transport, 'sockjs');
    assert.ok(r.live >= 50, `${r.live} live messages`);
    assert.ok(r.topics >= 8);
    assert.equal(r.pub.op, 'ok');
    assert.equal(r.bin, 'unsupported');
    assert.equal(r.states[0][0], 'open');
    assert.notEqual(r.states[0][1], 'websocket', 'SockJS did not get a WebSocket through either');
  } finally {
    await proxy.close();
    base = null;
  }
});

// ---- the demo page over SockJS -----------------------------------------------

const snapshot = () => [...document.querySelectorAll('#rows tr')]
  .map((tr) => [...tr.querySelectorAll('td.bid, td.ask, td.px')].map((td) => td.textContent).join('/')).join('|');

async function rowsLiveAndMoving(what) {
  await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 20000 });
  await until(() => document.querySelectorAll('#rows tr').length === 8
    && document.querySelectorAll('#rows td.bid:not(:empty)').length === 8);
  const before = await b.page.evaluate(snapshot);
  await until(([fn, prev]) => new Function(`return (${fn})()`)() !== prev, [snapshot.toString(), before])
    .catch((e) => { throw new Error(`${what}: ${e.message}`); });
}

for (const via of ['', 'xhr-polling', 'jsonp-polling']) {
  test(`the demo page with ?transport=sockjs${via ? `&sockjs=${via}` : ''}: rows fill and update, the switch shows SockJS`, async () => {
    base = null;
    await b.page.setViewportSize({ width: 1280, height: 800 });
    await b.page.goto(`${srv.http}/?transport=sockjs${via ? `&sockjs=${via}` : ''}`);
    await rowsLiveAndMoving('prices over SockJS');
    const r = await b.page.evaluate(() => ({
      transport: window.c1m.client.transport,
      pressed: document.querySelector('#transport button[aria-pressed="true"]').dataset.transport,
      via: document.body.dataset.via,
      log: document.getElementById('log').textContent,
      gaps: window.c1m.client.stats.gaps,
    }));
    assert.equal(r.transport, 'sockjs');
    assert.equal(r.pressed, 'sockjs');
    assert.equal(r.via, via || 'websocket');
    assert.match(r.log, /subscribed to md\.> over SockJS/);
    assert.equal(r.gaps, 0);
    // The server's panel counts the SockJS session (GET /stats every 2 s).
    await until(() => Number(document.getElementById('srv-sockjs').textContent) >= 1, null, 10000);
    assert.deepEqual(b.errors.map(String), []);
  });
}

test('the demo page switches WebSocket -> SockJS -> SSE -> WebSocket and keeps updating', async () => {
  base = null;
  await b.page.goto(`${srv.http}/`);
  await rowsLiveAndMoving('prices over WebSocket');
  for (const t of ['sockjs', 'sse', 'websocket']) {
    await b.page.click(`#transport button[data-transport="${t}"]`);
    await until((x) => window.c1m.client.transport === x && window.c1m.client.state === 'open', t);
    await rowsLiveAndMoving(`prices after switching to ${t}`);
    assert.equal(new URL(b.page.url()).searchParams.get('transport'), t === 'websocket' ? null : t);
  }
  assert.match(await b.page.textContent('#log'), /switched to SockJS \(\/sockjs\)/);
  // At phone width the switch still fits.
  await b.page.setViewportSize({ width: 390, height: 844 });
  await until(() => {
    const r = document.querySelector('#transport').getBoundingClientRect();
    return r.left >= 0 && r.right <= innerWidth && document.documentElement.scrollWidth <= innerWidth;
  });
  await b.page.setViewportSize({ width: 1280, height: 800 });
  assert.deepEqual(b.errors.map(String), []);
});

test('a demo page over SockJS keeps going across a server restart: new epoch, not a gap', async () => {
  base = null;
  const proxy = await startProxy(srv.port);
  try {
    await b.page.goto(`${proxy.http}/?transport=sockjs&backoffMax=500`);
    await rowsLiveAndMoving('prices over SockJS');
    const old = srv;
    srv = await startServer({ args: serverArgs });
    proxy.target = srv.port;
    await old.kill();
    await until(() => window.c1m.client.stats.reconnects >= 1 && window.c1m.client.state === 'open');
    await rowsLiveAndMoving('prices after the restart');
    const s = await b.page.evaluate(() => ({ ...window.c1m.client.stats }));
    assert.equal(s.gaps, 0);
    assert.ok(s.epochChanges >= 1, JSON.stringify(s));
  } finally {
    await proxy.close();
  }
});
