// A TCP proxy on 127.0.0.1 in front of the server for the browser tests, like
// test/node/lib/proxy.js, that can also play a network that blocks WebSocket:
//
//   const p = await startProxy(server.port, { refuseUpgrades: true });
//   p.cut();          // destroys every open connection (mid-stream)
//   p.refuse = true;  // new connections are closed at once (server unreachable)
//   p.heads           // the first request head of every connection, in order
//   p.upgrades        // how many WebSocket upgrades were asked for
//
// With refuseUpgrades a connection whose first request asks for an upgrade
// gets "403 Forbidden" from the proxy and never reaches the server, as from a
// proxy that only lets plain HTTP through. Chromium opens a new connection
// for every WebSocket, so the first request of a connection is the one to look at.
import net from 'node:net';
import { after } from 'node:test';

const live = new Set();
after(() => Promise.all([...live].map((p) => p.close())));

/** Starts a proxy to 127.0.0.1:target; it is closed after the test file. */
export async function startProxy(target, { refuseUpgrades = false } = {}) {
  const pairs = new Set(); // [client, upstream?]
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (proxy.refuse) {
      proxy.refused++;
      client.destroy();
      return;
    }
    const pair = [client, null];
    pairs.add(pair);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      pair[1]?.destroy();
    };
    client.once('close', done);
    // Hold the bytes until the first request head is complete.
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length <= 16384) return;
      client.off('data', onData);
      const text = head.subarray(0, end >= 0 ? end : head.length).toString('latin1');
      proxy.heads.push(text);
      const upgrade = /^upgrade:[ \t]*websocket/im.test(text);
      if (upgrade) proxy.upgrades++;
      if (upgrade && proxy.refuseUpgrades) {
        const body = 'WebSocket not allowed';
        client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      const upstream = net.connect(proxy.target, '127.0.0.1');
      pair[1] = upstream;
      upstream.on('error', () => {});
      upstream.once('close', done);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onData);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const proxy = {
    port,
    http: `http://127.0.0.1:${port}`,
    target,
    refuseUpgrades,
    refuse: false,
    refused: 0,
    upgrades: 0,
    heads: [],
    /** Connections open through the proxy. */
    get open() { return pairs.size; },
    /** Destroys every open connection; returns how many. */
    cut() {
      const n = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream?.destroy();
      }
      pairs.clear();
      return n;
    },
    close() {
      live.delete(proxy);
      proxy.cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
  live.add(proxy);
  return proxy;
}
