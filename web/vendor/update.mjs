// Copies the official Socket.IO browser client into this directory from the
// socket.io-client package pinned (exact version) in test/browser/package.json,
// so that c1m serves it itself (/vendor/socket.io.esm.min.js) and no page
// depends on a CDN. The files are copied byte for byte, never edited:
//
//   socket.io.esm.min.js       the package's dist/socket.io.esm.min.js (ES module,
//                              MIT licence header at the top)
//   socket.io-client.LICENSE   the package's LICENSE
//
// To move to another version: change the pin in test/browser/package.json,
// then
//
//   (cd test/browser && npm install)
//   node web/vendor/update.mjs           copy the files
//   node web/vendor/update.mjs --check   exit 1 if a copy differs from the pinned
//                                        package's file (test/browser checks this too)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const tests = (name) => here(`../../test/browser/${name}`);

/** The pinned version: test/browser/package.json, an exact version. */
export function pinned() {
  const pkg = JSON.parse(readFileSync(tests('package.json'), 'utf8'));
  const v = pkg.devDependencies?.['socket.io-client'] ?? pkg.dependencies?.['socket.io-client'];
  if (!/^\d+\.\d+\.\d+$/.test(v ?? '')) throw new Error(`test/browser/package.json: socket.io-client must be pinned to an exact version, not ${v}`);
  return v;
}

/** The vendored files: name -> {from, bytes}, read from the installed pinned package. */
export function sources() {
  const version = pinned();
  const dir = tests('node_modules/socket.io-client/');
  let installed;
  try {
    installed = JSON.parse(readFileSync(`${dir}package.json`, 'utf8')).version;
  } catch {
    throw new Error('socket.io-client is not installed: run npm ci in test/browser');
  }
  if (installed !== version) {
    throw new Error(`test/browser/node_modules has socket.io-client ${installed}, package.json pins ${version}: run npm ci in test/browser`);
  }
  return {
    'socket.io.esm.min.js': { from: `socket.io-client@${version}/dist/socket.io.esm.min.js`, bytes: readFileSync(`${dir}dist/socket.io.esm.min.js`) },
    'socket.io-client.LICENSE': { from: `socket.io-client@${version}/LICENSE`, bytes: readFileSync(`${dir}LICENSE`) },
  };
}

/** The names of the vendored copies that differ from the pinned package's files. */
export function stale() {
  const out = [];
  for (const [name, { bytes }] of Object.entries(sources())) {
    let old = null;
    try { old = readFileSync(here(name)); } catch { /* missing */ }
    if (!old || !old.equals(bytes)) out.push(name);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const src = sources();
  if (process.argv.includes('--check')) {
    const bad = stale();
    for (const name of bad) console.error(`web/vendor/${name} differs from ${src[name].from}: run node web/vendor/update.mjs`);
    process.exit(bad.length ? 1 : 0);
  }
  for (const [name, { from, bytes }] of Object.entries(src)) {
    writeFileSync(here(name), bytes);
    console.log(`web/vendor/${name} <- ${from}`);
  }
}
