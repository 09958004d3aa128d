// Clients that keep their connections alive send requests of every kind on
// one socket: a keep-alive agent (Node's http.Agent, Java's HttpClient,
// aiohttp) may send a WebSocket upgrade, an SSE request or a Socket.IO poll
// on a socket that served the page or /healthz (requests c1m hands to
// net/http). Each must be served on that socket as on a fresh one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import { waitFor, publish, topicPrefix, testFixtures } from './lib/server.js';

const { server } = testFixtures();

/** GET url on agent; resolves with the status, body and the socket's local port. */
function get(url, agent) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      const port = res.socket.localPort;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, port }));
    }).once('error', reject);
  });
}

test('ws on a keep-alive agent: the upgrade rides the socket that served GET /healthz and the page, and the socket then streams', async () => {
  const s = await server();
  const t = topicPrefix('keepalive');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const health = await get(`${s.http}/healthz`, agent);
    assert.equal(health.status, 200);
    const page = await get(`${s.http}/`, agent);
    assert.equal(page.status, 200);
    assert.equal(page.port, health.port, 'the agent reused its socket');

    const ws = new WebSocket(`${s.ws}/ws`, { agent });
    const got = [];
    ws.on('message', (m) => got.push(JSON.parse(m)));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    assert.equal(ws._socket.localPort, health.port, 'the upgrade went out on the socket net/http served');
    ws.send(JSON.stringify({ op: 'sub', id: 1, topics: [`${t}.a`] }));
    await waitFor(() => got.some((m) => m.op === 'ok' && m.id === 1), { message: 'the subscription ack' });
    for (let i = 1; i <= 3; i++) await publish(s.http, `${t}.a`, { i });
    await waitFor(() => got.filter((m) => m.op === 'msg').length === 3, { message: 'three messages' });
    assert.deepEqual(got.filter((m) => m.op === 'msg').map((m) => m.data.i), [1, 2, 3]);
    ws.close(1000);
    await new Promise((resolve) => ws.once('close', resolve));
  } finally {
    agent.destroy();
  }
});

test('an upgrade to an unknown path on a reused socket gets the 404 a fresh socket gets', async () => {
  const s = await server();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const health = await get(`${s.http}/healthz`, agent);
    const ws = new WebSocket(`${s.ws}/no-such-endpoint`, { agent });
    const status = await new Promise((resolve) => {
      ws.once('unexpected-response', (req, res) => { resolve({ code: res.statusCode, port: req.socket.localPort }); res.resume(); });
      ws.once('open', () => resolve({ code: 101 }));
      ws.once('error', () => {});
    });
    assert.deepEqual(status, { code: 404, port: health.port });
    assert.equal((await get(`${s.http}/healthz`, new http.Agent())).status, 200, 'the server still serves');
  } finally {
    agent.destroy();
  }
});
