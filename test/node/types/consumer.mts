// An ES module consumer of c1m-client: every export, used as documented.
// Compiled with tsc --noEmit by test/node/package.test.js; never run.
import {
  Client, C1MError, State, Transport, matchTopic, checkTopic, decodeDelivery, encodePublish, KIND_MESSAGE, KIND_SNAPSHOT,
  KIND_PUBLISH, type ClientOptions, type MessageMeta, type StateName, type Position, type SubscribeReply, type ClientStats,
  type TransportName,
} from 'c1m-client';
import { EventSource as NodeEventSource } from 'eventsource';

const opts: ClientOptions = { WebSocket, backoffInitial: 100, backoffMax: 2000, ackTimeout: 5000, pingInterval: 0,
  shouldReconnect: (code: number) => code !== 1008 };
const c = new Client('ws://127.0.0.1:8080/ws', opts);
const off: () => void = c.on('message', (topic: string, data: unknown, meta: MessageMeta) => {
  const seq: number = meta.seq;
  const ts: number = meta.ts;
  if (meta.binary && data instanceof Uint8Array) console.log(topic, seq, ts, data.byteLength, meta.tsBig);
  else if (typeof data === 'object' && data !== null && 'bid' in data) console.log(topic, data.bid);
});
off();
c.on('state', (s: StateName, info) => { if (s === State.RECONNECTING) console.log(info.attempt, info.delay, info.code); });
c.on('gap', (topic, g) => console.log(topic, g.expected, g.got, g.missed));
c.on('topic', (topic, st) => console.log(topic, st.epoch, st.seq, st.recovered));
c.on('reset', (topic, r) => console.log(topic, r.oldEpoch, r.epoch));
c.on('error', (e) => { if (e instanceof C1MError) console.log(e.code, e.msg, e.op, e.cause); });

async function main(): Promise<void> {
  const since: Record<string, Position> = { 'md.AAPL.quote': { epoch: 'x', seq: 1 } };
  const ok: SubscribeReply = await c.subscribe(['md.>'], { conflate: true, maxRate: 4, since });
  console.log(ok.epoch, ok.topics?.['md.AAPL.quote']?.seq);
  await c.subscribe('md.MSFT.quote');
  await c.unsubscribe('md.MSFT.quote');
  await c.publish('md.X', { any: ['json'] });
  await c.publishBinary('md.X', new Uint8Array([1, 2]));
  await c.ping();
  const stats: Readonly<ClientStats> = c.stats;
  console.log(stats.gaps, stats.notRecovered, stats.epochChanges, c.state === State.OPEN, c.positions());
  c.reconnect();
  await c.close(1000, 'bye');
  try {
    await c.ping();
  } catch (e) {
    if (e instanceof C1MError && e.code === 'closed') console.log('closed');
  }
  const d = decodeDelivery(encodePublish('md.X', 'hi'));
  const bytes: Uint8Array = d.data;
  const big: bigint = d.tsBig;
  console.log(matchTopic('md.>', d.topic), bytes, big, KIND_MESSAGE + KIND_SNAPSHOT + KIND_PUBLISH);
  // @ts-expect-error topics are strings
  await c.subscribe(42);
  // @ts-expect-error no such event
  c.on('msg', () => {});
  // @ts-expect-error listener arguments are typed
  c.on('gap', (topic: number) => topic);
  // @ts-expect-error stats are read only
  c.stats.gaps = 0;
  // @ts-expect-error message data is unknown until checked
  c.on('message', (t, data) => data.toFixed(2));
}
void main;

// Server-Sent Events: the browser's EventSource (the default) or the
// "eventsource" package's in Node.
const sse = new Client('http://127.0.0.1:8080/sse', { transport: Transport.SSE, withCredentials: true });
const inNode = new Client('http://127.0.0.1:8080/sse', { transport: 'sse', EventSource: NodeEventSource, fetch });
const browser = new Client('http://127.0.0.1:8080/sse', { transport: 'sse', EventSource: globalThis.EventSource });
const tn: TransportName = sse.transport;
const why: string = checkTopic('md..x', true);
console.log(tn, why, inNode.state, browser.positions());
sse.publish('md.X', 1).catch((e: unknown) => { if (e instanceof C1MError && e.code === 'unsupported') console.log(e.msg); });
// @ts-expect-error unknown transport
new Client('http://x/sse', { transport: 'smoke' });
