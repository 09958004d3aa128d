// TypeScript declarations of the c1m reference client (c1m.js; c1m.cjs for
// require() has the same API). The wire protocol is described in
// docs/PROTOCOL.md of the c1m repository.

/** Connection states reported by the 'state' event. */
export declare const State: Readonly<{
  /** First connection attempt. */
  CONNECTING: 'connecting';
  OPEN: 'open';
  /** Connection lost; waiting to retry or retrying. */
  RECONNECTING: 'reconnecting';
  /** close() was called (or shouldReconnect said no); terminal. */
  CLOSED: 'closed';
}>;
export type StateName = (typeof State)[keyof typeof State];

/**
 * Codes of a C1MError: the server's numeric code for an {"op":"err"} reply
 * (400, 403, 404, 413, 422, 429, 507, 500), or one of the client's own.
 */
export type ErrorCode = number | 'timeout' | 'closed' | 'disconnected' | 'buffer_full' | 'bad_frame' | 'listener' | 'unsupported';

/** The error a promise of Client rejects with, and the payload of 'error' events. */
export declare class C1MError extends Error {
  constructor(code: ErrorCode, msg: string, op?: string);
  readonly name: 'C1MError';
  code: ErrorCode;
  /** The message without the "c1m: op:" prefix and the code. */
  msg: string;
  /** The operation that failed: 'sub', 'unsub', 'pub' or 'ping'. */
  op?: string;
  /** For code 'listener': what the listener threw. */
  cause?: unknown;
}

/**
 * Reports whether topic matches pattern: tokens are separated by '.', '*'
 * matches exactly one token, '>' (last token only) matches one or more.
 */
export declare function matchTopic(pattern: string, topic: string): boolean;

/**
 * Reports why s is not a valid subscription pattern (wildcard true, the
 * default) or publish topic (wildcard false), in the server's words; '' when
 * it is valid.
 */
export declare function checkTopic(s: string, wildcard?: boolean): string;

/** The transports a Client can use (ClientOptions.transport). */
export declare const Transport: Readonly<{
  /** GET /ws: two-way, the default. */
  WEBSOCKET: 'websocket';
  /** GET /sse (Server-Sent Events): receive only. */
  SSE: 'sse';
  /** /sockjs through sockjs-client: two-way, text only, over whichever HTTP transport works. */
  SOCKJS: 'sockjs';
  /** WebSocket, falling back to SockJS for good when a WebSocket fails to open. */
  AUTO: 'auto';
}>;
/** What ClientOptions.transport takes. */
export type TransportName = (typeof Transport)[keyof typeof Transport];
/** The transport a Client uses (Client.transport): 'auto' is 'websocket' until it falls back to 'sockjs'. */
export type ActiveTransport = Exclude<TransportName, 'auto'>;

/** Kind byte of a binary delivery: a live or recovered message. */
export declare const KIND_MESSAGE: 1;
/** Kind byte of a binary delivery: the last value sent on subscribe. */
export declare const KIND_SNAPSHOT: 2;
/** First byte of a binary publish from a client. */
export declare const KIND_PUBLISH: 1;

/** A decoded binary delivery, shaped like a JSON {"op":"msg"} frame. */
export interface BinaryDelivery {
  op: 'msg';
  topic: string;
  seq: number;
  /** Publish time, Unix nanoseconds (a Number: ~256 ns precision). */
  ts: number;
  /** The exact publish time. */
  tsBig: bigint;
  snap: boolean;
  /** A view of the frame's payload (no copy). */
  data: Uint8Array;
  binary: true;
}

/**
 * Decodes the payload of a binary delivery frame. Throws a C1MError with code
 * 'bad_frame' for an unknown kind or a truncated frame.
 */
export declare function decodeDelivery(buf: ArrayBuffer | ArrayBufferView): BinaryDelivery;

/** Encodes a binary publish: byte 1, uvarint topic length, topic, payload (strings as UTF-8). */
export declare function encodePublish(topic: string, payload: Uint8Array | ArrayBuffer | ArrayBufferView | string): Uint8Array;

/**
 * What the client needs of a WebSocket: the browser's, Node's global one
 * (Node >= 22) and the "ws" package's all fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: any) => any) | null;
  onclose: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * What the client needs of an EventSource: the browser's and the
 * "eventsource" package's (Node) fit.
 */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: any) => any) | null;
  addEventListener(type: string, listener: (ev: any) => any): void;
}
export type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/**
 * What the client needs of sockjs-client's SockJS (1.x): a WebSocket-like
 * object carrying text; transport names the SockJS transport in use once open.
 */
export interface SockJSLike {
  readonly readyState: number;
  readonly transport?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: any) => any) | null;
  onclose: ((ev: any) => any) | null;
}
/** The options argument of new SockJS() (sockjs-client 1.x). */
export interface SockJSOptions {
  /** The SockJS transports allowed, in sockjs-client's order of preference: 'websocket', 'xhr-streaming', 'xdr-streaming', 'eventsource', 'iframe-eventsource', 'htmlfile', 'iframe-htmlfile', 'xhr-polling', 'xdr-polling', 'iframe-xhr-polling', 'jsonp-polling'. */
  transports?: string | string[];
  /** ms to wait for a transport to open before trying the next; default computed from the /info round trip. */
  timeout?: number;
  /** Length of the generated session id, or a function returning one. */
  sessionId?: number | (() => string);
  /** The server id segment of the URLs; default random. */
  server?: string;
  /** Per-transport options. */
  transportOptions?: Record<string, unknown>;
  [key: string]: unknown;
}
export type SockJSConstructor = new (url: string, reserved?: undefined | null, options?: SockJSOptions) => SockJSLike;

export interface ClientOptions {
  /** WebSocket constructor; default globalThis.WebSocket (browsers, Node >= 22). */
  WebSocket?: WebSocketConstructor;
  /** ms until an operation without a reply rejects with code 'timeout'; default 10000. */
  ackTimeout?: number;
  /** ms; first reconnect delay cap; default 500. */
  backoffInitial?: number;
  /** ms; the delay cap doubles per failed attempt up to this; default 10000. The delay is random in [0, cap]. */
  backoffMax?: number;
  /** ms a connection must stay up before the backoff is reset; default 2000. */
  stableAfter?: number;
  /** ms between heartbeat pings while open; 0 disables; default 20000. */
  pingInterval?: number;
  /** Operations kept while disconnected; default 1024. */
  maxBuffered?: number;
  /** Connect in the constructor; default true. */
  autoConnect?: boolean;
  /**
   * Called when the connection closes; false stops reconnecting (state closed).
   * Over SSE code is the HTTP status of a refused stream, else 1006 (lost).
   */
  shouldReconnect?: (code: number, reason: string) => boolean;
  /**
   * 'websocket' (the default): the native protocol on /ws. 'sockjs': the
   * same native protocol through sockjs-client on /sockjs (url is then its
   * http:// or https:// URL; ws:// and wss:// are taken as such), over
   * whichever SockJS transport works: the same API, recovery and
   * reconnection; text only, so publishBinary() rejects with code
   * 'unsupported'. 'auto': a WebSocket on url (the ws:// URL of /ws), and
   * SockJS (sockjsUrl) for the rest of the client's life once a WebSocket
   * fails to open ('transport' event). 'sse': one
   * Server-Sent Events stream on /sse carrying every subscription (url is then
   * its http:// or https:// URL): the same events, meta and recovery; a change
   * of the subscription set reopens the stream (with since = the positions
   * seen), every subscription shares one conflate/maxRate, at most 64
   * patterns, and publish(), publishBinary() and ping() reject with code
   * 'unsupported' (the stream is one-way).
   */
  transport?: TransportName;
  /** EventSource constructor for transport 'sse'; default globalThis.EventSource (browsers; in Node pass the "eventsource" package's). */
  EventSource?: EventSourceConstructor;
  /** SSE only: send cookies on a cross-origin stream (the server's --origins must list the page's origin). */
  withCredentials?: boolean;
  /** SSE only: used once after a stream was refused, to read the server's reason (EventSource hides it); default globalThis.fetch. */
  fetch?: (url: string, init?: any) => Promise<any>;
  /** sockjs-client's constructor for 'sockjs' and 'auto'; default globalThis.SockJS (a page that loaded /vendor/sockjs.min.js). In Node: require('sockjs-client'). */
  SockJS?: SockJSConstructor;
  /** The options of new SockJS(), e.g. { transports: ['xhr-streaming', 'xhr-polling'] }. */
  sockjsOptions?: SockJSOptions;
  /** 'auto': the http(s):// URL of the SockJS endpoint; default url with ws(s) as http(s) and a final /ws as /sockjs. */
  sockjsUrl?: string;
  /** 'auto' only: ms a WebSocket may take to open before the client falls back to SockJS; 0 waits for the browser; default 5000. */
  openTimeout?: number;
}

/** A position in a topic's stream, for recovery. */
export interface Position {
  epoch: string;
  seq: number;
}

export interface SubscribeOptions {
  /** Newest value only when the connection falls behind. */
  conflate?: boolean;
  /** At most this many updates per second per topic (implies conflation). */
  maxRate?: number;
  /** Recovery positions of concrete topics not seen yet, e.g. from positions() of an earlier session. */
  since?: Record<string, Position>;
}

/** Per topic of a subscribe reply. */
export interface TopicState {
  epoch: string;
  /** The topic's latest seq at subscribe time. */
  seq: number;
  /** Set for topics named in since: true if every missed message is replayed. */
  recovered?: boolean;
}

/** An {"op":"ok"} reply. */
export interface OkReply {
  op: 'ok';
  id: number;
  [key: string]: unknown;
}

/** The ok reply of a subscribe. */
export interface SubscribeReply extends OkReply {
  /** The server's history epoch. */
  epoch?: string;
  topics?: Record<string, TopicState>;
}

export interface MessageMeta {
  /** Per-topic sequence number (JSON and binary publishes of a topic share it). */
  seq: number;
  /** Publish time, Unix nanoseconds (a Number: ~256 ns precision). */
  ts: number;
  /** The exact publish time; binary deliveries only. */
  tsBig?: bigint;
  /** True for the last value sent on subscribe. */
  snap: boolean;
  /** True for a binary delivery (data is a Uint8Array); false for JSON (data is the parsed value). */
  binary: boolean;
  /** The server history epoch, when known. */
  epoch: string | undefined;
}

export interface StateInfo {
  attempt?: number;
  /** ms until the next attempt (when one is scheduled). */
  delay?: number;
  /** Close code of the connection that was lost (SSE: 1006, or the HTTP status of a refused stream). */
  code?: number;
  reason?: string;
  /** SockJS, on 'open': the SockJS transport of the session ('websocket', 'xhr-streaming', 'eventsource', 'iframe-htmlfile', 'xhr-polling', 'jsonp-polling', ...). */
  via?: string;
}

export interface GapInfo {
  expected: number;
  got: number;
  missed: number;
}

export interface TransportInfo {
  /** The transport left. */
  from: ActiveTransport;
  /** Close code of the WebSocket that failed to open (1006 for the open timeout). */
  code?: number;
  reason?: string;
}

export interface ResetInfo {
  oldEpoch: string | undefined;
  epoch: string | undefined;
}

/** Listener signatures per event. */
export interface ClientEvents {
  state: (state: StateName, info: StateInfo) => void;
  /**
   * Every delivery, JSON or binary, once, in order. data is whatever was
   * published (any JSON value) or a Uint8Array when meta.binary: check it
   * before use.
   */
  message: (topic: string, data: unknown, meta: MessageMeta) => void;
  /** seq jumped on a non-conflated subscription: messages lost. */
  gap: (topic: string, info: GapInfo) => void;
  /** Per topic of a subscribe reply. */
  topic: (topic: string, state: TopicState) => void;
  /** The server's history epoch changed (a restart): the topic is tracked afresh. */
  reset: (topic: string, info: ResetInfo) => void;
  /** Transport 'auto' fell back to SockJS: a WebSocket failed to open. */
  transport: (transport: ActiveTransport, info: TransportInfo) => void;
  /**
   * A failed resubscription, an undecodable frame ('bad_frame'), an error reply
   * no operation owns, a listener that threw ('listener'), a WebSocket or
   * EventSource constructor that threw, or an SSE stream the server refused
   * (its HTTP status and reason) while no subscribe was waiting for it.
   * Without an 'error' listener these go to console.error.
   */
  error: (error: C1MError | Error) => void;
}

/** Counters; read freely, never written by the caller. */
export interface ClientStats {
  /** msg frames received (JSON and binary). */
  received: number;
  /** 'message' events emitted. */
  delivered: number;
  /** msg frames dropped as already seen. */
  duplicates: number;
  /** seq jumps on non-conflated subscriptions. */
  gaps: number;
  /** Messages missing in those jumps. */
  missed: number;
  /** seq jumps on conflated subscriptions (expected). */
  skipped: number;
  /** Snapshot deliveries. */
  snapshots: number;
  /** Topics a resubscription recovered. */
  recovered: number;
  /** Topics it could not (last value sent instead). */
  notRecovered: number;
  /** Topics whose epoch changed (server restarted). */
  epochChanges: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** Connection attempts since the last stable connection. */
  attempts: number;
}

/** A c1m connection with automatic reconnection and recovery. */
export declare class Client {
  /** url: ws:// or wss:// URL of the /ws endpoint (also for 'auto'); for transport 'sse' the http:// or https:// URL of /sse, for 'sockjs' that of /sockjs. */
  constructor(url: string, opts?: ClientOptions);
  readonly url: string;
  /** The transport in use ('auto': 'websocket', then 'sockjs' after a fallback). */
  readonly transport: ActiveTransport;
  readonly state: StateName;
  readonly stats: Readonly<ClientStats>;
  /** Registers fn for event; returns a function that removes it. */
  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): () => void;
  /** Starts connecting (only needed with autoConnect: false). */
  connect(): void;
  /** Subscribes to topics or patterns; kept across reconnects until unsubscribe or close. */
  subscribe(topics: string | string[], opts?: SubscribeOptions): Promise<SubscribeReply>;
  /** Removes subscriptions. */
  unsubscribe(topics: string | string[]): Promise<OkReply>;
  /** Publishes any JSON value; needs --client-publish on the server. At most once. Over SSE: rejects ('unsupported'). */
  publish(topic: string, data: unknown): Promise<OkReply>;
  /** Publishes bytes as a binary frame, acknowledged by a ping; needs --client-publish. Over SSE and SockJS: rejects ('unsupported'). */
  publishBinary(topic: string, bytes: Uint8Array | ArrayBuffer | ArrayBufferView | string): Promise<OkReply>;
  /** Round trip to the server. Over SSE: rejects ('unsupported'). */
  ping(): Promise<OkReply>;
  /** Drops the connection (as a network failure would) and reconnects with recovery. */
  reconnect(): void;
  /** Closes for good; pending operations reject with code 'closed'. */
  close(code?: number, reason?: string): Promise<void>;
  /** The last position seen per concrete topic. */
  positions(): Record<string, Position>;
}
