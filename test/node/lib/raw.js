// A raw RFC 6455 client over net.Socket, for sending frames a conforming
// client library refuses to send (unmasked, invalid UTF-8, oversize headers).
import net from 'node:net';
import crypto from 'node:crypto';

/** Connects and performs the upgrade; resolves with a RawConn. */
export function rawConnect(port, path = '/echo') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    sock.once('error', reject);
    sock.on('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const head = buf.subarray(0, end).toString();
      if (!/^HTTP\/1\.1 101/.test(head)) { sock.destroy(); reject(new Error(`upgrade failed: ${head}`)); return; }
      const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
        sock.destroy(); reject(new Error(`bad accept in ${head}`)); return;
      }
      resolve(new RawConn(sock, buf.subarray(end + 4)));
    };
    sock.on('data', onData);
  });
}

/**
 * Encodes one frame. opcode: 0 cont, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
 * length overrides the length field (to send only a header).
 */
export function frame({ fin = true, rsv = 0, opcode, payload = Buffer.alloc(0), mask = true, length }) {
  payload = Buffer.from(payload);
  const len = length ?? payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** Close frame payload: code + reason. */
export function closePayload(code, reason = '') {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code);
  b.write(reason, 2);
  return b;
}

export class RawConn {
  constructor(sock, rest) {
    this.sock = sock;
    this.buf = Buffer.from(rest);
    this.frames = []; // parsed server frames {fin, opcode, payload}
    this.ended = false;
    this.waiters = [];
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._parse(); this._wake(); });
    sock.on('close', () => { this.ended = true; this._wake(); });
    sock.on('error', () => {});
    this._parse();
  }

  send(...frames) { this.sock.write(Buffer.concat(frames)); }

  _parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b[1] & 0x80) throw new Error('server sent a masked frame');
      if (b.length < off + len) return;
      this.frames.push({ fin: !!(b[0] & 0x80), opcode: b[0] & 0x0f, payload: b.subarray(off, off + len) });
      this.buf = b.subarray(off + len);
    }
  }

  _wake() { for (const w of this.waiters.splice(0)) w(); }

  /** Resolves with the first frame matching pred (removing it), or throws on timeout/close. */
  async next(pred = () => true, timeout = 10000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.ended) throw new Error('connection closed before the expected frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, left); });
    }
  }

  /**
   * Waits for the server's close frame and the TCP close; resolves with
   * {code, reason} (code 1005 for an empty close payload).
   */
  async closed(timeout = 10000) {
    const f = await this.next((f) => f.opcode === 8, timeout);
    const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    const reason = f.payload.subarray(2).toString();
    // Complete the closing handshake as a client would, then expect the server
    // to close the TCP connection.
    if (!this.ended) try { this.send(frame({ opcode: 8, payload: closePayload(1000) })); } catch { /* gone */ }
    const deadline = Date.now() + timeout;
    while (!this.ended && Date.now() < deadline) {
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, deadline - Date.now()); });
    }
    if (!this.ended) throw new Error(`server sent close ${code} but kept the TCP connection open`);
    return { code, reason };
  }

  destroy() { this.sock.destroy(); }
}
