// Copies the official browser clients c1m serves itself into this directory,
// from the packages pinned (exact versions) in test/browser/package.json, so
// that no page depends on a CDN. The files are copied byte for byte, never
// edited:
//
//   socket.io.esm.min.js       socket.io-client's dist/socket.io.esm.min.js (ES
//                              module, MIT licence header at the top), served at
//                              /vendor/socket.io.esm.min.js (socketio.html)
//   socket.io-client.LICENSE   socket.io-client's LICENSE
//   sockjs.min.js              sockjs-client's dist/sockjs.min.js (UMD: a script
//                              tag defines window.SockJS; MIT licence header),
//                              served at /vendor/sockjs.min.js, the URL the
//                              demo page and the server's SockJS iframe page
//                              (<prefix>/iframe.html) load it from
//   sockjs-client.LICENSE      sockjs-client's LICENSE
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

/** The vendored packages: npm name -> {copy name: file in the package}. */
export const PACKAGES = {
  'socket.io-client': {
    'socket.io.esm.min.js': 'dist/socket.io.esm.min.js',
    'socket.io-client.LICENSE': 'LICENSE',
  },
  'sockjs-client': {
    'sockjs.min.js': 'dist/sockjs.min.js',
    'sockjs-client.LICENSE': 'LICENSE',
  },
};

/**
 * The pinned version of package (default socket.io-client):
 * test/browser/package.json, an exact version.
 */
export function pinned(pkgName = 'socket.io-client') {
  const pkg = JSON.parse(readFileSync(tests('package.json'), 'utf8'));
  const v = pkg.devDependencies?.[pkgName] ?? pkg.dependencies?.[pkgName];
  if (!/^\d+\.\d+\.\d+$/.test(v ?? '')) throw new Error(`test/browser/package.json: ${pkgName} must be pinned to an exact version, not ${v}`);
  return v;
}

/** The vendored files: name -> {from, bytes}, read from the installed pinned packages. */
export function sources() {
  const out = {};
  for (const [pkgName, files] of Object.entries(PACKAGES)) {
    const version = pinned(pkgName);
    const dir = tests(`node_modules/${pkgName}/`);
    let installed;
    try {
      installed = JSON.parse(readFileSync(`${dir}package.json`, 'utf8')).version;
    } catch {
      throw new Error(`${pkgName} is not installed: run npm ci in test/browser`);
    }
    if (installed !== version) {
      throw new Error(`test/browser/node_modules has ${pkgName} ${installed}, package.json pins ${version}: run npm ci in test/browser`);
    }
    for (const [name, file] of Object.entries(files)) {
      out[name] = { from: `${pkgName}@${version}/${file}`, bytes: readFileSync(`${dir}${file}`) };
    }
  }
  return out;
}

/** The names of the vendored copies that differ from the pinned packages' files. */
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
