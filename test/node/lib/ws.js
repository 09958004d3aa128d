// Helpers for tests that drive the server with the `ws` package.
import WebSocket from 'ws';

/**
 * Opens a ws client; resolves once open, rejects with the connection error.
 * track, when given, gets the socket as soon as it exists (to close it after
 * the tests, opened or not).
 */
export function openWS(url, opts = {}, protocols = undefined, track = undefined) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    track?.(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * Collects the messages of ws (JSON text parsed, binary as a Buffer);
 * next(pred) resolves with the first match, now or when it comes, and
 * rejects after timeout ms.
 */
export function inbox(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? data : JSON.parse(data.toString());
    const i = waiters.findIndex((w) => w.pred(m));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queue.push(m);
  });
  return {
    next(pred = () => true, timeout = 10000) {
      const i = queue.findIndex(pred);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { const k = waiters.indexOf(w); if (k >= 0) { waiters.splice(k, 1); reject(new Error('no message in time')); } }, timeout);
        const w = { pred, resolve: (m) => { clearTimeout(timer); resolve(m); } };
        waiters.push(w);
      });
    },
  };
}
