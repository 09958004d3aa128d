// A TCP proxy on 127.0.0.1 between a client (Node or the browser) and the
// server, for tests that need to break connections under the client:
//
//   const p = await startProxy(server.port);
//   p.cut();            // destroys every open connection (mid-stream)
//   p.refuse = true;    // new connections are closed at once (server unreachable)
//   p.target = port2;   // later connections go to another server (a restart)
//   p.requests          // the request head of every connection, in order
//
// No dependencies beyond Node 20.
import net from 'node:net';
import { after } from 'node:test';

const live = new Set();
after(() => Promise.all([...live].map((p) => p.close())));

/** Starts a proxy to 127.0.0.1:target; it is closed after the test file. */
export async function startProxy(target) {
  const pairs = new Set(); // [client, upstream]
  const requests = [];
  const server = net.createServer((client) => {
    client.on('error', () => {});
    if (proxy.refuse) {
      proxy.refused++;
      client.destroy();
      return;
    }
    const upstream = net.connect(proxy.target, '127.0.0.1');
    upstream.on('error', () => {});
    const pair = [client, upstream];
    pairs.add(pair);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', done);
    upstream.once('close', done);
    // Record the head of the first request on the connection (the SSE GET).
    let head = '';
    const sniff = (chunk) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0 || head.length > 16384) {
        client.off('data', sniff);
        requests.push(head.slice(0, end >= 0 ? end : head.length));
      }
    };
    client.on('data', sniff);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const proxy = {
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    target,
    refuse: false,
    refused: 0,
    requests,
    /** Connections open through the proxy. */
    get open() { return pairs.size; },
    /** Destroys every open connection; returns how many. */
    cut() {
      const n = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    /** The request heads whose request line matches re. */
    heads(re) { return requests.filter((h) => re.test(h.slice(0, h.indexOf('\r\n')))); },
    close() {
      live.delete(proxy);
      proxy.cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
  live.add(proxy);
  return proxy;
}

/** The value of header name in a request head ('' if absent). */
export function header(head, name) {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m ? m[1].trim() : '';
}

/** The decoded query parameters of a request head's request line. */
export function query(head) {
  const target = head.slice(0, head.indexOf('\r\n')).split(' ')[1] || '';
  return new URL(target, 'http://x').searchParams;
}
