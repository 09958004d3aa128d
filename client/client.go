package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Options configure a Client. The zero value works.
type Options struct {
	// Token, when set, is sent as "Authorization: Bearer <Token>" on every
	// upgrade: the server's --publish-token for publishing over WebSocket.
	Token string
	// Header is added to every upgrade request.
	Header http.Header
	// TLSConfig is used for wss:// (and https://) URLs.
	TLSConfig *tls.Config
	// OnEvent, when set, receives the connection's events (EventKind) on
	// the client's reading goroutine, in order with the deliveries.
	OnEvent func(Event)
	// MinBackoff and MaxBackoff bound the reconnection delay: before
	// attempt n the client waits a random time in [0, min(MaxBackoff,
	// MinBackoff*2^n)) ("full jitter"). Zero: 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// PublishBuffer is how many publishes may wait for a connection while
	// the client is disconnected. Zero means 1024; negative means none
	// (Publish then fails at once with ErrNotBuffered). Past the bound,
	// Publish fails at once with ErrBufferFull: the new message is not
	// queued and nothing queued is dropped.
	PublishBuffer int
	// HandshakeTimeout bounds one connection attempt. Zero: 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write to the server. Zero: 10 s.
	WriteTimeout time.Duration
	// PingInterval: when nothing arrived for this long the client sends a
	// WebSocket ping, and it gives the connection up (and reconnects) when
	// nothing arrived for two more intervals. Zero: 15 s; negative: off.
	PingInterval time.Duration
	// MaxMessageBytes bounds one message from the server. Zero: 64 MiB.
	MaxMessageBytes int64
}

// Position is where a client is in a topic's stream: the server's epoch
// and the last seq received. Subscribe resumes from it (SubOptions.Since).
type Position struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Stats counts what a client received.
type Stats struct {
	Delivered  uint64 // messages handed to the application (snapshots included)
	Missed     uint64 // seqs reported missing in EventGap events
	Duplicates uint64 // deliveries dropped because their seq was not new (never expected)
	Reconnects uint64 // connections made after the first
	NotRouted  uint64 // deliveries that matched no subscription (late, after Unsubscribe)
	Buffered   int    // publishes waiting for a connection now
}

// Client is a connection to a c1m server that reconnects by itself. Its
// methods are safe for concurrent use.
type Client struct {
	url    string
	opts   Options
	dialer websocket.Dialer
	header http.Header

	// writeMu serializes writes; it is taken before mu when both are held.
	writeMu sync.Mutex
	wbuf    []byte

	mu       sync.Mutex
	conn     *websocket.Conn // nil while disconnected
	gen      uint64          // connection count
	ready    bool            // conn set, every subscription and buffered publish written
	closed   bool
	err      error  // why the client ended (ErrClosed after Close)
	epoch    string // epoch of the current connection, from its first ok
	nextID   uint64
	pending  map[uint64]*call
	binFIFO  []*call // binary publishes whose ping was not answered yet
	pubQ     []*call // publishes waiting for a connection
	subs     []*Subscription
	routeGen uint64
	topics   map[string]*topicState
	stats    Stats

	activity atomic.Uint64 // frames read, for the keepalive
	closeC   chan struct{}
	done     chan struct{}
	msg      Message // the reused delivery for handlers
}

type topicState struct {
	name     string
	epoch    string
	seq      uint64
	known    bool // seq is a position
	sub      *Subscription
	routeGen uint64
	// while resuming (from a sub with since until its ok):
	resuming    bool
	resumeFrom  uint64
	resumeEpoch string
	gotDuring   bool // a delivery came while resuming
	broken      bool // ... and it did not continue from resumeFrom
	gapFrom     uint64
	gapTo       uint64
}

const (
	callPub = iota
	callBin
	callSub
	callUnsub
	callPing
	callRefresh
)

type call struct {
	kind   int
	id     uint64
	topic  string
	data   []byte
	sub    *Subscription
	resume []string // topics named in since
	binErr error
	done   chan error // capacity 1
}

// Dial connects to the server at rawURL (ws://, wss://, http:// or
// https://; the path defaults to /ws) and returns a Client that keeps the
// connection up until Close. It makes one attempt: a refused upgrade is a
// *HandshakeError, a network failure the dialer's error. ctx bounds the
// attempt only.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	u, err := WebSocketURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.PublishBuffer == 0 {
		opts.PublishBuffer = 1024
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 15 * time.Second
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 64 << 20
	}
	c := &Client{
		url:  u,
		opts: opts,
		dialer: websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: opts.HandshakeTimeout,
			TLSClientConfig:  opts.TLSConfig,
			ReadBufferSize:   64 << 10,
			WriteBufferSize:  16 << 10,
		},
		header:  http.Header{},
		pending: map[uint64]*call{},
		topics:  map[string]*topicState{},
		closeC:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	for k, v := range opts.Header {
		c.header[k] = append([]string(nil), v...)
	}
	if opts.Token != "" {
		c.header.Set("Authorization", "Bearer "+opts.Token)
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.attach(conn)
	c.ready = true // nothing to subscribe again or to flush yet
	go c.run(conn)
	return c, nil
}

// WebSocketURL turns a server URL into its WebSocket URL: http becomes ws,
// https wss, and an empty path /ws.
func WebSocketURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("c1m: bad URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("c1m: bad URL %q: the scheme must be ws, wss, http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("c1m: bad URL %q: no host", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u.String(), nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	c.mu.Lock()
	header := c.header.Clone() // Refresh may change it
	c.mu.Unlock()
	conn, resp, err := c.dialer.DialContext(ctx, c.url, header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return nil, &HandshakeError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body)), RetryAfter: resp.Header.Get("Retry-After")}
		}
		return nil, fmt.Errorf("c1m: connecting to %s: %w", c.url, err)
	}
	conn.SetReadLimit(c.opts.MaxMessageBytes)
	return conn, nil
}

// Done is closed when the client has ended: after Close, or when a
// reconnection was refused for good (Err says why).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client ended (ErrClosed after Close), nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection (close code 1000) and stops reconnecting.
// Calls waiting for a reply or a connection return ErrClosed. It waits for
// the reading goroutine to end, so it must not be called from a handler or
// OnEvent (use go c.Close() there).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	conn := c.conn
	close(c.closeC)
	c.mu.Unlock()
	if conn != nil {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
		_ = conn.Close()
	}
	<-c.done
	return nil
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Buffered = len(c.pubQ)
	return s
}

// Positions returns the position of every topic the client follows that
// has one (the last seq received, with its epoch).
func (c *Client) Positions() map[string]Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Position, len(c.topics))
	for name, t := range c.topics {
		if t.known && t.epoch != "" {
			out[name] = Position{t.epoch, t.seq}
		}
	}
	return out
}

// Epoch is the server's epoch as of the current connection's latest
// subscribe reply ("" before the first one).
func (c *Client) Epoch() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *Client) emit(e Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
}

// run reads connection after connection until the client ends.
func (c *Client) run(conn *websocket.Conn) {
	defer close(c.done)
	for {
		err := c.serve(conn)
		if !c.lost(conn, err) {
			return
		}
		for attempt := 1; ; attempt++ {
			wait := c.opts.MinBackoff << min(attempt, 30)
			if wait > c.opts.MaxBackoff || wait <= 0 {
				wait = c.opts.MaxBackoff
			}
			t := time.NewTimer(rand.N(wait) + time.Millisecond)
			select {
			case <-c.closeC:
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.HandshakeTimeout)
			go func() {
				select {
				case <-c.closeC:
					cancel()
				case <-ctx.Done():
				}
			}()
			conn, err = c.dial(ctx)
			cancel()
			if err == nil {
				if !c.attach(conn) {
					return
				}
				break
			}
			var he *HandshakeError
			permanent := errors.As(err, &he) && he.Permanent()
			c.emit(Event{Kind: EventReconnectFailed, Err: err, Attempt: attempt})
			if permanent {
				c.mu.Lock()
				if c.err == nil {
					c.err = err
				}
				c.closed = true
				q := c.pubQ
				c.pubQ = nil
				c.mu.Unlock()
				for _, p := range q {
					p.done <- err
				}
				c.failSubs(err)
				return
			}
			if c.isClosed() {
				return
			}
		}
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// failSubs ends the Subscribe calls still waiting when the client ends.
func (c *Client) failSubs(err error) {
	c.mu.Lock()
	subs := c.subs
	c.mu.Unlock()
	for _, s := range subs {
		s.confirm(err)
	}
}

// attach makes conn the client's connection; false if the client closed.
func (c *Client) attach(conn *websocket.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return false
	}
	c.conn = conn
	c.gen++
	c.ready = false
	c.epoch = ""
	if c.gen > 1 {
		c.stats.Reconnects++
	}
	return true
}

// serve runs attached connection conn: it starts the resubscription and
// reads until the connection ends.
func (c *Client) serve(conn *websocket.Conn) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	c.emit(Event{Kind: EventConnected, Reconnect: gen > 1, URL: c.url})

	conn.SetPingHandler(func(data string) error {
		c.activity.Add(1)
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		var ne interface{ Timeout() bool }
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil // as gorilla's default handler: the keepalive judges the connection
		}
		return err
	})
	conn.SetPongHandler(func(string) error { c.activity.Add(1); return nil })
	var keepalive *time.Timer
	var kmu sync.Mutex // keepalive is set before tick reads it
	if iv := c.opts.PingInterval; iv > 0 {
		var last uint64
		idle := 0
		var tick func()
		tick = func() {
			kmu.Lock()
			defer kmu.Unlock()
			if a := c.activity.Load(); a != last {
				last, idle = a, 0
			} else {
				idle++
				if idle > 2 {
					conn.Close() // dead: the reader sees 1006 and reconnects
					return
				}
				_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(iv))
			}
			keepalive.Reset(iv)
		}
		kmu.Lock()
		keepalive = time.AfterFunc(iv, tick)
		kmu.Unlock()
		defer func() {
			kmu.Lock()
			keepalive.Stop()
			kmu.Unlock()
		}()
	}

	go c.resubscribe(conn, gen)

	buf := make([]byte, 0, 4096)
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		c.activity.Add(1)
		if typ == websocket.BinaryMessage {
			topic, seq, ts, snap, data, err := parseBinary(buf)
			if err != nil {
				c.emit(Event{Kind: EventError, Err: err})
				continue
			}
			c.deliver(topic, seq, ts, snap, true, data)
			continue
		}
		if topic, seq, ts, snap, data, ok := parseMsg(buf); ok {
			c.deliver(topic, seq, ts, snap, false, data)
			continue
		}
		var r2 reply
		if err := json.Unmarshal(buf, &r2); err != nil {
			c.emit(Event{Kind: EventError, Err: fmt.Errorf("%w: %v", errBadFrame, err)})
			continue
		}
		c.onReply(&r2)
	}
}

// lost ends connection conn after err; it reports whether to reconnect.
func (c *Client) lost(conn *websocket.Conn, err error) bool {
	conn.Close()
	var ce *websocket.CloseError
	var cerr error
	switch {
	case errors.As(err, &ce):
		cerr = &CloseError{Code: ce.Code, Text: ce.Text}
	default:
		cerr = &CloseError{Code: 1006, Err: err}
	}
	c.mu.Lock()
	closed := c.closed
	if closed {
		cerr = ErrClosed
	}
	c.conn = nil
	c.ready = false
	pending := c.pending
	c.pending = map[uint64]*call{}
	c.binFIFO = nil
	for _, t := range c.topics {
		t.resuming = false
	}
	var q []*call
	if closed {
		q, c.pubQ = c.pubQ, nil
	}
	c.mu.Unlock()
	for _, p := range pending {
		switch p.kind {
		case callSub:
			// sent again on the next connection
		case callUnsub, callRefresh:
			p.done <- nil // the server forgets subscriptions with the connection; the next one presents the new token
		default:
			if closed {
				p.done <- ErrClosed
			} else {
				p.done <- &ConnectionLostError{Cause: cerr}
			}
		}
	}
	for _, p := range q {
		p.done <- ErrClosed
	}
	if closed {
		c.failSubs(ErrClosed)
		return false
	}
	c.emit(Event{Kind: EventDisconnected, Err: cerr})
	return true
}

// resubscribe writes, on a new connection, every subscription (resuming
// each topic from its position) and then the buffered publishes, in order;
// then the connection is ready for direct writes.
func (c *Client) resubscribe(conn *websocket.Conn, gen uint64) {
	for {
		c.writeMu.Lock()
		c.mu.Lock()
		if c.gen != gen || c.conn != conn {
			c.mu.Unlock()
			c.writeMu.Unlock()
			return
		}
		var frame []byte
		for _, s := range c.subs {
			if s.sentGen != gen {
				frame = c.subFrameLocked(s, gen)
				break
			}
		}
		var pub *call
		if frame == nil && len(c.pubQ) > 0 {
			pub = c.pubQ[0]
			c.pubQ[0] = nil
			c.pubQ = c.pubQ[1:]
			c.registerPubLocked(pub)
		}
		if frame == nil && pub == nil {
			c.ready = true
			c.pubQ = nil
			c.mu.Unlock()
			c.writeMu.Unlock()
			return
		}
		c.mu.Unlock()
		var err error
		if pub != nil {
			err = c.writePubLocked(conn, pub)
		} else {
			err = c.writeLocked(conn, websocket.TextMessage, frame)
		}
		c.writeMu.Unlock()
		if err != nil {
			return // the reader sees the failure
		}
	}
}

// writeLocked writes one frame; writeMu is held.
func (c *Client) writeLocked(conn *websocket.Conn, typ int, frame []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	err := conn.WriteMessage(typ, frame)
	if err != nil {
		conn.Close() // the reader ends the connection and reconnects
	}
	return err
}

// registerLocked gives p an id and makes it wait for its reply; mu is held.
func (c *Client) registerLocked(p *call) uint64 {
	c.nextID++
	p.id = c.nextID
	c.pending[p.id] = p
	return p.id
}

// registerPubLocked registers publish p before it is written; writeMu and
// mu are held. A binary publish waits for the ok of the ping written after
// it, and takes an err without id that comes before that ok.
func (c *Client) registerPubLocked(p *call) {
	c.registerLocked(p)
	if p.kind == callBin {
		c.binFIFO = append(c.binFIFO, p)
	}
}

// writePubLocked writes registered publish p; writeMu is held.
func (c *Client) writePubLocked(conn *websocket.Conn, p *call) error {
	b := c.wbuf[:0]
	if p.kind == callBin {
		b = append(b, 1)
		b = appendUvarint(b, uint64(len(p.topic)))
		b = append(b, p.topic...)
		b = append(b, p.data...)
		c.wbuf = b
		if err := c.writeLocked(conn, websocket.BinaryMessage, b); err != nil {
			return err
		}
		b = append(b[:0], `{"op":"ping","id":`...)
		b = appendUint(b, p.id)
		b = append(b, '}')
		c.wbuf = b
		return c.writeLocked(conn, websocket.TextMessage, b)
	}
	b = append(b, `{"op":"pub","id":`...)
	b = appendUint(b, p.id)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, p.topic)
	b = append(b, `,"data":`...)
	b = append(b, p.data...)
	b = append(b, '}')
	c.wbuf = b
	return c.writeLocked(conn, websocket.TextMessage, b)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// onReply handles an ok or err reply, or a delivery not in the fast form.
func (c *Client) onReply(r *reply) {
	switch r.Op {
	case "msg":
		c.deliver([]byte(r.Topic), r.Seq, r.TS, r.Snap, false, r.Data)
		return
	case "ok", "err":
	default:
		return // unknown operations are ignored
	}
	var err error
	if r.Op == "err" {
		err = &Error{Code: r.Code, Msg: r.Msg}
	}
	c.mu.Lock()
	if r.ID == nil {
		// an err without id answers a binary publish (the oldest unacknowledged)
		if err != nil && len(c.binFIFO) > 0 && c.binFIFO[0].binErr == nil {
			c.binFIFO[0].binErr = err
		} else if err != nil {
			c.mu.Unlock()
			c.emit(Event{Kind: EventError, Err: err})
			return
		}
		c.mu.Unlock()
		return
	}
	p := c.pending[*r.ID]
	delete(c.pending, *r.ID)
	if p == nil {
		c.mu.Unlock()
		return
	}
	switch p.kind {
	case callSub:
		evs := c.subReplyLocked(p, r, err)
		c.mu.Unlock()
		for _, e := range evs {
			c.emit(e)
		}
		return
	case callBin:
		if len(c.binFIFO) > 0 && c.binFIFO[0] == p {
			c.binFIFO[0] = nil
			c.binFIFO = c.binFIFO[1:]
		}
		if err == nil {
			err = p.binErr
		}
	}
	c.mu.Unlock()
	p.done <- err
}
