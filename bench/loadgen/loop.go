package loadgen

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

type connState uint8

const (
	stConnecting connState = iota
	stHandshaking
	stSubscribing
	stOpen
	stClosed
)

type clientConn struct {
	fd      int
	state   connState
	slow    bool // selected to stop reading in the slow-consumer scenario
	cent    bool // speaks Centrifugo's protocol, not the bench protocol
	isSSE   bool // an HTTP event stream, not a WebSocket
	wantID  uint64
	start   int64
	accept  string
	sse     *SSEStream   // the event-stream body parser, once the header is in
	sio     *sioState    // Socket.IO client state (nil: not Socket.IO)
	stomp   *stompState  // STOMP client state (nil: not STOMP)
	sockjs  *sockjsState // SockJS client state (nil: not SockJS)
	pending []byte       // unparsed bytes carried over between reads
	out     []byte       // bytes not yet written (EAGAIN)
	frag    []byte       // payload of a fragmented message being assembled
	fragOp  byte
}

// DialSpec is one "open N more connections" order for a worker.
type DialSpec struct {
	Addrs       []string `json:"addrs"`       // host:port of servers; connection i goes to Addrs[i%len]
	Path        string   `json:"path"`        // request path (and query), e.g. /ws
	Proto       string   `json:"proto"`       // ProtoNative (default) or ProtoCentrifugo
	SSE         bool     `json:"sse"`         // GET an event stream at Path instead of a WebSocket upgrade
	SIO         string   `json:"sio"`         // Socket.IO at Path over SIOWebSocket or SIOPolling ("": not Socket.IO)
	STOMP       bool     `json:"stomp"`       // STOMP over WebSocket at Path (subscribes to Topic at CONNECTED)
	STOMPHost   string   `json:"stomp_host"`  // STOMP CONNECT's host header ("": the server's host:port)
	SockJS      string   `json:"sockjs"`      // SockJS at the prefix Path over this receiving transport ("": not SockJS)
	Sources     []string `json:"sources"`     // local source addresses, bound before connect
	N           int      `json:"n"`           // connections to open
	Topic       string   `json:"topic"`       // subscribe to this topic when not empty
	Concurrency int      `json:"concurrency"` // handshakes in flight at most
	SlowEvery   int      `json:"slow_every"`  // every SlowEvery-th connection is a slow consumer (0: none)
	SlowRcvBuf  int      `json:"slow_rcvbuf"` // SO_RCVBUF of slow consumers (0: default)
	TimeoutMs   int      `json:"timeout_ms"`  // per-connection dial+upgrade(+subscribe) timeout
}

// DialResult reports a DialSpec's outcome.
type DialResult struct {
	OK        int        `json:"ok"`
	Failed    int        `json:"failed"`
	FirstErr  string     `json:"first_err,omitempty"`
	Upgrade   SparseHist `json:"upgrade"`    // dial start to 101 (SSE: 200 header) received, ns
	Subscribe SparseHist `json:"subscribe"`  // dial start to sub ok (Centrifugo: connect/subscribe reply) received, ns
	ElapsedNs int64      `json:"elapsed_ns"` // wall time of the whole order
	Open      int        `json:"open"`       // connections open in this worker afterwards
	Slow      int        `json:"slow"`       // of OK, slow consumers
}

// RecvReport is a snapshot of what the worker received since the last reset.
type RecvReport struct {
	Deliveries uint64     `json:"deliveries"` // msg frames since reset (fast consumers)
	SlowDeliv  uint64     `json:"slow_deliveries"`
	Stale      uint64     `json:"stale"` // published before the reset
	Snaps      uint64     `json:"snaps"`
	Latency    SparseHist `json:"latency"` // receipt - ts of fast consumers, ns
	FirstRecv  int64      `json:"first_recv"`
	LastRecv   int64      `json:"last_recv"`
	BaseSeq    uint64     `json:"base_seq"`
	SeqCount   []uint32   `json:"seq_count,omitempty"` // per seq (BaseSeq+i): fast receipts
	SeqLast    []int64    `json:"seq_last,omitempty"`  // per seq: latest fast receipt - ts, ns
	Open       int        `json:"open"`
	Closed     int        `json:"closed"` // connections lost since start
	SlowClosed int        `json:"slow_closed"`
	FirstErr   string     `json:"first_err,omitempty"`
}

// maxSeqTrack bounds the per-seq fan-out table of a worker.
const maxSeqTrack = 1 << 18

// maxFrame bounds one server frame.
const maxFrame = 1 << 20

// Loop drives many client WebSocket connections (or SSE streams) from one
// goroutine with epoll (edge-triggered) and non-blocking sockets: no
// goroutine per connection. All methods must be called from the goroutine running Run,
// except Do, which is safe from any goroutine.
//
// Received frames are parsed from one shared read buffer; only the tail of a
// frame split across reads is copied into the connection's own buffer.
type Loop struct {
	epfd   int
	conns  []*clientConn // by fd
	open   int
	buf    []byte
	events []unix.EpollEvent
	cmds   chan func()
	wake   int // eventfd

	// dial order in progress
	dial      *DialSpec
	dialDone  func(DialResult)
	dialRes   DialResult
	dialStart time.Time
	started   int
	inflight  map[int]*clientConn
	upHist    Histogram
	subHist   Histogram
	nextSrc   int

	// receive statistics since the last reset
	resetNs    int64
	paused     bool
	rx         RecvReport
	lat        Histogram
	seqBase    uint64
	seqSet     bool
	seqCount   []uint32
	seqLast    []int64
	closed     int
	slowClosed int
	firstErr   string

	pingEvery time.Duration
	lastPing  time.Time
	scratch   []byte

	sjBuf        []byte                               // a SockJS message, unescaped
	sockjsDialer func(owner *clientConn) (int, error) // nil: sockjsDial (tests replace it)
}

// NewLoop creates an epoll instance. Close releases it and every connection.
func NewLoop() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	return &Loop{
		epfd:     epfd,
		wake:     wake,
		buf:      make([]byte, 256<<10),
		events:   make([]unix.EpollEvent, 1024),
		cmds:     make(chan func(), 16),
		inflight: make(map[int]*clientConn),
	}, nil
}

// Do runs f on the loop goroutine. It is safe for concurrent use.
func (l *Loop) Do(f func()) {
	l.cmds <- f
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

// SetPing makes the loop send a ping on every open connection each interval (0: never).
func (l *Loop) SetPing(d time.Duration) { l.pingEvery = d }

// Run processes events until stop is closed.
func (l *Loop) Run(stop <-chan struct{}) error {
	tick := time.Now()
	for {
		n, err := unix.EpollWait(l.epfd, l.events, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			ev := l.events[i]
			fd := int(ev.Fd)
			if fd == l.wake {
				var b [8]byte
				unix.Read(l.wake, b[:])
				continue
			}
			if fd < len(l.conns) && l.conns[fd] != nil {
				l.handle(l.conns[fd], ev.Events)
			}
		}
		for drained := false; !drained; {
			select {
			case f := <-l.cmds:
				f()
			case <-stop:
				return nil
			default:
				drained = true
			}
		}
		if l.dial != nil {
			l.startDials()
		}
		if now := time.Now(); now.Sub(tick) > 100*time.Millisecond {
			tick = now
			l.expireDials(now)
			if l.pingEvery > 0 && now.Sub(l.lastPing) > l.pingEvery {
				l.lastPing = now
				l.pingAll()
			}
		}
	}
}

// Dial starts a dial order; done is called on the loop goroutine when every
// connection of the order is open (and subscribed) or failed.
func (l *Loop) Dial(spec DialSpec, done func(DialResult)) {
	if spec.Concurrency <= 0 {
		spec.Concurrency = 100
	}
	if spec.TimeoutMs <= 0 {
		spec.TimeoutMs = 10000
	}
	l.dial, l.dialDone = &spec, done
	l.dialRes = DialResult{}
	l.dialStart = time.Now()
	l.started = 0
	l.upHist.Reset()
	l.subHist.Reset()
	l.startDials()
}

func (l *Loop) startDials() {
	d := l.dial
	for l.started < d.N && len(l.inflight) < d.Concurrency {
		idx := l.started
		l.started++
		c, err := l.connect(d, idx)
		if err != nil {
			l.dialFailed(err)
			continue
		}
		l.inflight[c.fd] = c
	}
	l.maybeDialDone()
}

func (l *Loop) dialFailed(err error) {
	l.dialRes.Failed++
	if l.dialRes.FirstErr == "" {
		l.dialRes.FirstErr = err.Error()
	}
}

func (l *Loop) maybeDialDone() {
	d := l.dial
	if d == nil || l.started < d.N || len(l.inflight) > 0 {
		return
	}
	l.dialRes.Upgrade = l.upHist.Sparse()
	l.dialRes.Subscribe = l.subHist.Sparse()
	l.dialRes.ElapsedNs = time.Since(l.dialStart).Nanoseconds()
	l.dialRes.Open = l.open
	done := l.dialDone
	l.dial, l.dialDone = nil, nil
	done(l.dialRes)
}

func (l *Loop) expireDials(now time.Time) {
	if l.dial == nil {
		return
	}
	limit := now.UnixNano() - int64(l.dial.TimeoutMs)*1e6
	for _, c := range l.inflight {
		if c.start < limit {
			l.closeConn(c, fmt.Errorf("dial timeout in state %d", c.state))
		}
	}
	l.maybeDialDone()
}

func (l *Loop) connect(d *DialSpec, idx int) (*clientConn, error) {
	dst, err := netip.ParseAddrPort(d.Addrs[idx%len(d.Addrs)])
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (*clientConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	slow := d.SlowEvery > 0 && idx%d.SlowEvery == d.SlowEvery-1
	if slow && d.SlowRcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, d.SlowRcvBuf); err != nil {
			return fail("SO_RCVBUF", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if len(d.Sources) > 0 {
		src, err := netip.ParseAddr(d.Sources[l.nextSrc%len(d.Sources)])
		l.nextSrc++
		if err != nil {
			return fail("source address", err)
		}
		// Let connect pick the port per destination: the 4-tuple, not the
		// source port alone, must be unique.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
			return fail("bind "+src.String(), err)
		}
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return fail("connect", err)
	}
	c := &clientConn{fd: fd, state: stConnecting, slow: slow, start: time.Now().UnixNano(),
		cent: d.Proto == ProtoCentrifugo, isSSE: d.SSE}
	host := d.Addrs[idx%len(d.Addrs)]
	switch {
	case d.SockJS != "" && d.SockJS != SockJSWebSocket:
		c.sockjs = &sockjsState{transport: d.SockJS, addr: host, base: SockJSSessionPath(d.Path), topic: d.Topic}
		c.out = AppendSockJSRequest(c.out, d.SockJS, host, c.sockjs.base)
	case d.SIO == SIOPolling:
		c.sio = &sioState{polling: true, topic: d.Topic, host: host, path: d.Path}
		c.out = AppendPollRequest(c.out, host, d.Path, "", nil)
	case d.SSE:
		c.out = AppendSSERequest(c.out, host, d.Path)
	default:
		path := d.Path
		if d.SIO != "" {
			c.sio = &sioState{topic: d.Topic, host: host, path: d.Path}
			path = sioWSPath(d.Path)
		}
		if d.SockJS != "" {
			c.sockjs = &sockjsState{transport: d.SockJS, addr: host, base: SockJSSessionPath(d.Path), topic: d.Topic}
			path = c.sockjs.base + SockJSWebSocket
		}
		var raw [16]byte
		rand.Read(raw[:])
		key := base64.StdEncoding.EncodeToString(raw[:])
		c.accept = AcceptKey(key)
		if d.STOMP {
			c.stomp = &stompState{host: cmp.Or(d.STOMPHost, host), topic: d.Topic}
			c.out = AppendSTOMPUpgradeRequest(c.out, host, path, key)
		} else {
			c.out = AppendUpgradeRequest(c.out, host, path, key)
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fail("epoll_ctl", err)
	}
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*clientConn, len(l.conns)+1024)...)
	}
	l.conns[fd] = c
	return c, nil
}

func (l *Loop) handle(c *clientConn, events uint32) {
	if c.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if errno, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || errno != 0 {
			l.closeConn(c, fmt.Errorf("connect: %w", unix.Errno(errno)))
			return
		}
		c.state = stHandshaking
	}
	if events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !l.flush(c) {
			return
		}
	}
	hup := events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	if events&unix.EPOLLIN != 0 || hup {
		if c.slow && l.paused {
			// A slow consumer leaves the bytes in the kernel, but notices
			// when the server gives up on it.
			if hup {
				l.closeConn(c, errors.New("closed by server while not reading"))
			}
			return
		}
		l.readAll(c, hup)
	}
}

// flush writes c.out; false means the connection was closed.
func (l *Loop) flush(c *clientConn) bool {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return true
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.closeConn(c, fmt.Errorf("write: %w", err))
			return false
		}
		c.out = c.out[n:]
	}
	c.out = c.out[:0:0]
	return true
}

func (l *Loop) send(c *clientConn, op byte, payload []byte) {
	var mask [4]byte
	rand.Read(mask[:])
	c.out = AppendFrame(c.out, op, payload, mask)
	l.flush(c)
}

// readAll reads until the socket is drained. With edge-triggered epoll a
// short read means the socket was empty at that moment (new data raises a new
// edge), so it stops there without the extra read that would return EAGAIN,
// unless the peer hung up and the EOF is still to be read.
func (l *Loop) readAll(c *clientConn, hup bool) {
	for c.state != stClosed {
		n, err := unix.Read(c.fd, l.buf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.closeConn(c, fmt.Errorf("read: %w", err))
			return
		}
		if n == 0 {
			l.closeConn(c, errors.New("EOF"))
			return
		}
		now := time.Now().UnixNano()
		data := l.buf[:n]
		if len(c.pending) > 0 {
			c.pending = append(c.pending, data...)
			data = c.pending
		}
		used := l.consume(c, data, now)
		if c.state == stClosed {
			return
		}
		rest := data[used:]
		switch {
		case len(rest) == 0:
			c.pending = c.pending[:0:0]
		case len(c.pending) > 0:
			c.pending = append(c.pending[:0], rest...)
		default:
			c.pending = append([]byte(nil), rest...)
		}
		if n < len(l.buf) && !hup {
			return
		}
	}
}

// consume parses as much of data as possible and returns the bytes used.
func (l *Loop) consume(c *clientConn, data []byte, now int64) int {
	if c.isSSE {
		return l.consumeSSE(c, data, now)
	}
	if c.sio != nil && c.sio.polling {
		return l.consumePoll(c, data, now)
	}
	if c.sockjs != nil && c.sockjs.http() {
		return l.consumeSockJS(c, data, now)
	}
	used := 0
	if c.state == stHandshaking {
		n, err := CheckUpgradeResponse(data, c.accept)
		if err != nil {
			l.closeConn(c, err)
			return 0
		}
		if n == 0 {
			return 0
		}
		used = n
		l.upHist.Record(now - c.start)
		topic := ""
		if l.dial != nil {
			topic = l.dial.Topic
		}
		if c.sio != nil {
			c.state = stSubscribing // until CONNECT (and subscribe) are answered
		} else if c.sockjs != nil {
			c.state = stSubscribing // until "o" (and the subscribe's ok)
		} else if c.stomp != nil {
			c.state = stSubscribing // until CONNECTED
			l.scratch = AppendSTOMPConnect(l.scratch[:0], c.stomp.host)
			l.send(c, OpText, l.scratch)
			if c.state == stClosed {
				return 0
			}
		} else if c.cent {
			// Centrifugo closes a connection that does not connect: connect
			// (and subscribe) in the first frame; ready at the last reply.
			c.state = stSubscribing
			l.scratch, c.wantID = AppendCentrifugoConnect(l.scratch[:0], topic)
			l.send(c, OpText, l.scratch)
			if c.state == stClosed {
				return 0
			}
		} else if topic != "" {
			c.state = stSubscribing
			l.scratch = append(l.scratch[:0], `{"op":"sub","id":1,"topics":["`...)
			l.scratch = append(l.scratch, l.dial.Topic...)
			l.scratch = append(l.scratch, `"]}`...)
			l.send(c, OpText, l.scratch)
			if c.state == stClosed {
				return 0
			}
		} else {
			l.opened(c)
		}
	}
	for used < len(data) {
		f, n, err := ParseFrame(data[used:], maxFrame)
		if err != nil {
			l.closeConn(c, err)
			return used
		}
		if n == 0 {
			break
		}
		used += n
		switch f.Op {
		case OpText, OpBinary, OpContinuation:
			if !f.Fin || len(c.frag) > 0 {
				if f.Op != OpContinuation {
					c.fragOp = f.Op
					c.frag = c.frag[:0]
				}
				c.frag = append(c.frag, f.Payload...)
				if !f.Fin {
					continue
				}
				f.Payload = c.frag
				c.frag = c.frag[:0:0]
			}
			switch {
			case c.sio != nil:
				l.sioPacket(c, f.Payload, now)
			case c.stomp != nil:
				l.stompMessage(c, f.Payload, now)
			case c.sockjs != nil:
				l.sockjsFrame(c, f.Payload, now)
			case c.cent:
				l.centMessages(c, f.Payload, now)
			default:
				l.message(c, f.Payload, now)
			}
		case OpPing:
			l.send(c, OpPong, f.Payload)
		case OpClose:
			l.closeConn(c, errClosed)
			return used
		}
		if c.state == stClosed {
			return used
		}
	}
	return used
}

// consumeSSE parses an event stream: the response header, then the body,
// which it always consumes whole (the SSEStream keeps what it needs).
func (l *Loop) consumeSSE(c *clientConn, data []byte, now int64) int {
	used := 0
	if c.state == stHandshaking {
		n, chunked, err := CheckSSEResponse(data)
		if err != nil {
			l.closeConn(c, err)
			return 0
		}
		if n == 0 {
			return 0
		}
		used = n
		l.upHist.Record(now - c.start)
		c.sse = &SSEStream{Chunked: chunked, MaxLine: maxFrame}
		if c.cent {
			c.state = stSubscribing // until Centrifugo's connect push
		} else {
			l.opened(c) // the server subscribed the stream before its header
		}
	}
	for used < len(data) {
		ev, n, err := c.sse.Next(data[used:])
		used += n
		if err != nil {
			l.closeConn(c, err)
			return used
		}
		if ev == nil {
			continue
		}
		if c.cent {
			l.centMessage(c, ev, now)
		} else {
			l.message(c, ev, now)
		}
		if c.state == stClosed {
			return used
		}
	}
	return used
}

// centMessages handles one Centrifugo WebSocket frame: newline-separated
// messages (Centrifugo puts up to 16 in a frame).
func (l *Loop) centMessages(c *clientConn, p []byte, now int64) {
	for len(p) > 0 && c.state != stClosed {
		var m []byte
		m, p, _ = bytes.Cut(p, []byte{'\n'})
		l.centMessage(c, m, now)
	}
}

var centPong = []byte("{}")

func (l *Loop) centMessage(c *clientConn, p []byte, now int64) {
	kind, seq, ts := ScanCentrifugo(p)
	switch kind {
	case KindMsg:
		l.deliver(c, seq, ts, now)
	case KindOK:
		if c.state == stSubscribing && seq == c.wantID {
			l.subHist.Record(now - c.start)
			l.opened(c)
		}
	case KindConnect:
		if c.state == stSubscribing && c.isSSE {
			l.subHist.Record(now - c.start)
			l.opened(c)
		}
	case KindPing:
		if !c.isSSE {
			l.send(c, OpText, centPong) // Centrifugo disconnects a client that does not answer
		}
	case KindError:
		l.closeConn(c, fmt.Errorf("centrifugo error reply: %.200s", p))
	case KindClose:
		l.closeConn(c, fmt.Errorf("centrifugo disconnect: %.200s", p))
	}
}

func (l *Loop) opened(c *clientConn) {
	c.state = stOpen
	l.open++
	if _, ok := l.inflight[c.fd]; ok {
		delete(l.inflight, c.fd)
		l.dialRes.OK++
		if c.slow {
			l.dialRes.Slow++
		}
		l.maybeDialDone()
	}
}

func (l *Loop) message(c *clientConn, p []byte, now int64) {
	kind, seq, ts := ScanMessage(p)
	switch kind {
	case KindOK:
		if c.state == stSubscribing && seq == 1 {
			l.subHist.Record(now - c.start)
			l.opened(c)
		}
	case KindSnap:
		l.rx.Snaps++
	case KindMsg:
		l.deliver(c, seq, ts, now)
	}
}

// deliver records one publication received by c.
func (l *Loop) deliver(c *clientConn, seq uint64, ts, now int64) {
	if ts < l.resetNs {
		l.rx.Stale++
		return
	}
	if c.slow {
		l.rx.SlowDeliv++
		return
	}
	l.rx.Deliveries++
	if l.rx.FirstRecv == 0 {
		l.rx.FirstRecv = now
	}
	l.rx.LastRecv = now
	d := now - ts
	l.lat.Record(d)
	if !l.seqSet {
		l.seqBase, l.seqSet = seq, true
	}
	if seq < l.seqBase {
		return
	}
	i := seq - l.seqBase
	if i >= maxSeqTrack {
		return
	}
	for uint64(len(l.seqCount)) <= i {
		l.seqCount = append(l.seqCount, 0)
		l.seqLast = append(l.seqLast, 0)
	}
	l.seqCount[i]++
	if d > l.seqLast[i] {
		l.seqLast[i] = d
	}
}

func (l *Loop) closeConn(c *clientConn, err error) {
	if c.state == stClosed {
		return
	}
	wasOpen := c.state == stOpen
	c.state = stClosed
	// RST instead of FIN: no TIME_WAIT left behind on the client's 4-tuples.
	_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	l.conns[c.fd] = nil
	if c.sockjs != nil {
		l.sockjsClosed(c, err)
	}
	if _, ok := l.inflight[c.fd]; ok {
		delete(l.inflight, c.fd)
		l.dialFailed(err)
		l.maybeDialDone()
		return
	}
	if wasOpen {
		l.open--
		l.closed++
		if c.slow {
			l.slowClosed++
		}
		if l.firstErr == "" && err != nil {
			l.firstErr = err.Error()
		}
	}
}

func (l *Loop) pingAll() {
	for _, c := range l.conns {
		if c != nil && c.state == stOpen && !c.isSSE && (c.sio == nil || !c.sio.polling) && (c.sockjs == nil || !c.sockjs.http()) && !(c.slow && l.paused) {
			l.send(c, OpPing, nil)
		}
	}
}

// ResetRecv clears receive statistics; messages published before now are
// counted as stale afterwards.
func (l *Loop) ResetRecv() {
	l.resetNs = time.Now().UnixNano()
	l.rx = RecvReport{}
	l.lat.Reset()
	l.seqSet = false
	l.seqCount = l.seqCount[:0]
	l.seqLast = l.seqLast[:0]
}

// PauseSlow makes slow consumers stop reading.
func (l *Loop) PauseSlow() { l.paused = true }

// Report returns the receive statistics; withSeqs includes the per-seq table.
func (l *Loop) Report(withSeqs bool) RecvReport {
	r := l.rx
	r.Latency = l.lat.Sparse()
	r.BaseSeq = l.seqBase
	if withSeqs {
		r.SeqCount = append([]uint32(nil), l.seqCount...)
		r.SeqLast = append([]int64(nil), l.seqLast...)
	}
	r.Open = l.open
	r.Closed = l.closed
	r.SlowClosed = l.slowClosed
	r.FirstErr = l.firstErr
	return r
}

// Close closes every connection and the epoll instance.
func (l *Loop) Close() {
	for _, c := range l.conns {
		if c != nil {
			l.closeConn(c, nil)
		}
	}
	unix.Close(l.epfd)
	unix.Close(l.wake)
}
