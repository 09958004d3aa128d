// Renders web/favicon.svg with chromium into web/favicon.ico (an ICO holding
// 16, 32 and 48 px PNGs), for browsers that ask for /favicon.ico without
// reading the page's <link rel="icon">. Run after changing favicon.svg:
//
//   node favicon-ico.js
//
// Not a test.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch } from './lib/browser.js';

const web = new URL('../../web/', import.meta.url);
const svg = readFileSync(new URL('favicon.svg', web), 'utf8');
const b = await launch();
const pngs = [];
try {
  for (const size of [16, 32, 48]) {
    await b.page.setViewportSize({ width: size, height: size });
    await b.page.setContent(`<body style="margin:0">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body>`);
    pngs.push({ size, png: await b.page.screenshot({ omitBackground: true }) });
  }
} finally {
  await b.close();
}
// ICONDIR, one ICONDIRENTRY per image, then the PNGs.
const head = Buffer.alloc(6 + 16 * pngs.length);
head.writeUInt16LE(0, 0);
head.writeUInt16LE(1, 2); // icon
head.writeUInt16LE(pngs.length, 4);
let offset = head.length;
pngs.forEach(({ size, png }, i) => {
  const e = 6 + 16 * i;
  head.writeUInt8(size, e);
  head.writeUInt8(size, e + 1);
  head.writeUInt16LE(1, e + 4); // colour planes
  head.writeUInt16LE(32, e + 6); // bits per pixel
  head.writeUInt32LE(png.length, e + 8);
  head.writeUInt32LE(offset, e + 12);
  offset += png.length;
});
const out = fileURLToPath(new URL('favicon.ico', web));
writeFileSync(out, Buffer.concat([head, ...pngs.map((p) => p.png)]));
console.log(out);
