// Node's own socket.io server (npm socket.io, pinned in package.json) speaking
// the c1m bench protocol over Socket.IO, the peer of c1m's socketio and
// idle_sio scenarios (bench/README.md):
//
//   - Socket.IO at /socket.io/, both transports, every option default
//     (pingInterval 25000, pingTimeout 20000, no compression of WebSocket
//     frames);
//   - a client emits `subscribe` with a topic, an array of topics or
//     {"topics":[...]} and an optional ack, which gets {"op":"ok"}; topics are
//     rooms; `unsubscribe` likewise;
//   - POST /publish?topic=T (body: JSON data) or POST /publish (body:
//     [{"topic","data"},...]) -> 202: each message is numbered per topic and
//     broadcast to the room as the event
//     `msg` {"op":"msg","topic":T,"seq":N,"ts":<unix ns at publish>,"data":D}
//     with io.to(T).emit, which encodes the packet once per broadcast;
//   - GET /stats[?gc=1] -> {"pid","conns","goroutines":0,"heap_alloc",
//     "heap_inuse","heap_sys"}: conns is the Engine.IO client count; heap_alloc
//     is V8's heapUsed plus external memory (Buffers), heap_inuse heapTotal
//     plus external, after a full GC when gc=1 (run with --expose-gc).
//
//   node --expose-gc server.js --addr 127.0.0.1:9110
import http from "node:http";
import { performance } from "node:perf_hooks";
import { Server } from "socket.io";

let addr = "127.0.0.1:9110";
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--addr" && i + 1 < argv.length) addr = argv[++i];
  else if (argv[i].startsWith("--addr=")) addr = argv[i].slice(7);
  else {
    console.error(`node-socketio: unknown argument ${argv[i]}`);
    process.exit(2);
  }
}
const colon = addr.lastIndexOf(":");
const host = addr.slice(0, colon);
const port = Number(addr.slice(colon + 1));

// Unix time in nanoseconds as a Number (exact to a few hundred ns, which
// latency in microseconds does not notice; JSON prints it as an integer).
const nowNs = () => Math.round((performance.timeOrigin + performance.now()) * 1e6);

const seqs = new Map();

function publish(topic, data) {
  const seq = (seqs.get(topic) ?? 0) + 1;
  seqs.set(topic, seq);
  io.to(topic).emit("msg", { op: "msg", topic, seq, ts: nowNs(), data });
  return seq;
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on("data", (c) => {
      n += c.length;
      if (n > limit) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const badBody = "body must be JSON data (with ?topic=) or an array of {topic,data}\n";

async function handle(req, res) {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/publish") {
    if (req.method !== "POST") {
      res.writeHead(405).end("POST only\n");
      return;
    }
    let body;
    try {
      body = JSON.parse(await readBody(req, 16 << 20));
    } catch {
      res.writeHead(400).end(badBody);
      return;
    }
    const topic = url.searchParams.get("topic");
    let reply;
    if (topic) {
      reply = { seq: publish(topic, body) };
    } else if (Array.isArray(body) && body.every((m) => m && typeof m.topic === "string" && m.topic !== "" && m.data !== undefined)) {
      reply = { seqs: body.map((m) => publish(m.topic, m.data)) };
    } else {
      res.writeHead(400).end(badBody);
      return;
    }
    res.writeHead(202, { "Content-Type": "application/json" }).end(JSON.stringify(reply));
    return;
  }
  if (url.pathname === "/stats") {
    if (url.searchParams.get("gc") === "1" && typeof globalThis.gc === "function") globalThis.gc();
    const m = process.memoryUsage();
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({
      pid: process.pid,
      conns: io.engine.clientsCount,
      goroutines: 0,
      heap_alloc: m.heapUsed + m.external,
      heap_inuse: m.heapTotal + m.external,
      heap_sys: m.heapTotal + m.external,
      rss: m.rss,
    }));
    return;
  }
  res.writeHead(404).end("not found\n");
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(String(err) + "\n");
  });
});
// No idle or request timeouts: the publisher keeps its connections alive
// between measurements and polling clients hold a GET.
httpServer.keepAliveTimeout = 0;
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 0;

const io = new Server(httpServer, { serveClient: false });

function topicsOf(arg) {
  if (typeof arg === "string") return [arg];
  if (Array.isArray(arg)) return arg.filter((t) => typeof t === "string");
  if (arg && Array.isArray(arg.topics)) return arg.topics.filter((t) => typeof t === "string");
  return [];
}

io.on("connection", (socket) => {
  socket.on("subscribe", (arg, ack) => {
    for (const t of topicsOf(arg)) socket.join(t);
    if (typeof ack === "function") ack({ op: "ok" });
  });
  socket.on("unsubscribe", (arg, ack) => {
    for (const t of topicsOf(arg)) socket.leave(t);
    if (typeof ack === "function") ack({ op: "ok" });
  });
});

httpServer.listen(port, host, () => {
  console.error(`node-socketio: listening addr=${addr} node=${process.version}`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
