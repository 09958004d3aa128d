// A CommonJS consumer of c1m-client (require resolves to c1m.cjs and its
// declarations c1m.d.cts). Compiled with tsc --noEmit by test/node/package.test.js; never run.
import c1m = require('c1m-client');

const c = new c1m.Client('ws://127.0.0.1:8080/ws', { WebSocket: globalThis.WebSocket, autoConnect: false });
c.on('message', (topic, data, meta) => console.log(topic, data, meta.seq, meta.snap));
c.on('error', (e) => { if (e instanceof c1m.C1MError) console.log(e.code); });
c.connect();
const s: 'open' | 'connecting' | 'reconnecting' | 'closed' = c.state;
const p: Promise<c1m.SubscribeReply> = c.subscribe('md.>');
console.log(s, p, c1m.matchTopic('a.*', 'a.b'), c1m.State.CLOSED);
// @ts-expect-error wrong option type
new c1m.Client('ws://x', { backoffMax: '1s' });
