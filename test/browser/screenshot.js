// Takes screenshots of the demo page, fed by the real server's demo feed, for
// a person to look at:
//
//   C1M_BIN=/tmp/c1m node screenshot.js [outdir]   (default /tmp)
//
// Writes c1m-1280.png and c1m-390.png (live over WebSocket, with one symbol
// whose last quote is malformed), c1m-1280-sse.png and c1m-390-sse.png (the
// same over Server-Sent Events, ?transport=sse) and c1m-1280-reconnecting.png
// (the server killed). Not a test.
import path from 'node:path';
import { startServer, publishRaw } from '../node/lib/server.js';
import { launch } from './lib/browser.js';

const out = process.argv[2] || '/tmp';
const srv = await startServer({ args: ['--demo-rate', '200'] });
const b = await launch();
const shot = async (name) => {
  const file = path.join(out, name);
  await b.page.screenshot({ path: file, fullPage: true });
  console.log(file);
};
try {
  await publishRaw(srv.http, 'md.ZBAD.quote', '{"bid":"oops","ask":null,"bsz":100,"asz":200}');
  for (const transport of ['websocket', 'sse']) {
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      await b.page.setViewportSize({ width, height });
      await b.page.goto(`${srv.http}/${transport === 'sse' ? '?transport=sse' : ''}`);
      await b.page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
      // Some seconds of sparkline and two /stats polls.
      await b.page.waitForFunction(() => window.c1m.serverPolls >= 2
        && Number(document.querySelector('#row-AAPL canvas.spark')?.dataset.points) >= 16, null, { timeout: 30000 });
      await shot(`c1m-${width}${transport === 'sse' ? '-sse' : ''}.png`);
    }
  }
  await b.page.setViewportSize({ width: 1280, height: 800 });
  await b.page.goto(`${srv.http}/`);
  await b.page.waitForFunction(() => window.c1m.serverPolls >= 1 && window.c1m.rows.size > 0, null, { timeout: 15000 });
  await srv.kill();
  await b.page.waitForFunction(() => Number(getComputedStyle(document.getElementById('rows')).opacity) < 0.6, null, { timeout: 15000 });
  await shot('c1m-1280-reconnecting.png');
} finally {
  await b.close();
  if (srv.proc.exitCode === null) await srv.kill();
}
