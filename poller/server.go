package poller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/netpoll"
	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/c1mhq/c1m/wsframe"
)

// SlowPolicy decides what happens to a connection whose queue exceeds
// Config.MaxQueueBytes.
type SlowPolicy uint8

const (
	// SlowDisconnect closes the connection with 1008 "slow consumer".
	SlowDisconnect SlowPolicy = iota
	// SlowDrop drops the oldest queued frames until the new one fits; the
	// client sees the gap in seq.
	SlowDrop
)

// ParseSlowPolicy parses "disconnect" or "drop".
func ParseSlowPolicy(s string) (SlowPolicy, error) {
	switch s {
	case "disconnect", "":
		return SlowDisconnect, nil
	case "drop":
		return SlowDrop, nil
	}
	return 0, fmt.Errorf("poller: unknown slow consumer policy %q (want disconnect or drop)", s)
}

// Handler receives the events of upgraded connections. Calls for one connection
// are serial; OnOpen and OnMessage run on netpoll workers and must not block
// for long.
type Handler interface {
	// OnOpen is called once the 101 response is queued.
	OnOpen(c *Conn)
	// OnMessage is called for every complete text or binary message. data is
	// only valid until OnMessage returns.
	OnMessage(c *Conn, op ws.OpCode, data []byte)
	// OnClose is called exactly once, after the connection is closed, for every
	// connection OnOpen was called for.
	OnClose(c *Conn, reason CloseReason)
}

// Config configures a Server. The zero value of every field except Handler
// means the documented default.
type Config struct {
	// Handler handles WebSocket connections. Required.
	Handler Handler
	// Routes returns the Handler for a WebSocket path, or nil for 404. Nil means
	// Handler serves every path accepted by Upgrader.Route.
	Routes func(path string) Handler
	// Upgrader checks and answers upgrade requests (Origins, Protocols, Route).
	// Admit is wrapped by the server's connection limit.
	Upgrader wsframe.Upgrader
	// HTTP serves requests that are not WebSocket upgrades and that
	// HTTPRoutes does not claim. Nil answers 404.
	HTTP http.Handler
	// HTTPRoutes claims plain HTTP requests for the reactor: it returns the
	// HTTPHandler for a request's method and raw path (not percent-decoded),
	// or nil to leave the request to HTTP. Claimed requests are parsed and
	// answered by the reactor without a goroutine (Server-Sent Events,
	// long-polling). It is called on a netpoll worker, or on the net/http
	// goroutine of a kept-alive connection that net/http serves (the
	// connection then comes back to the reactor), and must not block. Upgrade
	// requests and WebSocket paths (Routes, Upgrader.Route) never reach it.
	// Nil claims nothing.
	HTTPRoutes func(method, path string) HTTPHandler
	// Logger, nil means slog.Default().
	Logger *slog.Logger

	// MaxConns is the maximum number of upgraded connections, reactor HTTP
	// streams and held reactor HTTP requests together; past it upgrades and
	// reactor HTTP requests get 503. Zero means the open-file limit minus a
	// reserve of 256.
	MaxConns int
	// MaxConnsPerIP bounds the TCP connections one client address holds
	// at once, and ConnectRatePerIP the new ones it opens per second (a
	// token bucket of ConnectBurstPerIP, zero meaning max(rate, 1)). A
	// connection past either gets 429 with Retry-After at its first request
	// head, before any upgrade or stream; counted in Stats. Zero turns
	// each off.
	MaxConnsPerIP     int
	ConnectRatePerIP  float64
	ConnectBurstPerIP int
	// HandshakeTimeout bounds the time from accept to a complete request head,
	// and on a kept-alive reactor HTTP connection from the first byte of a
	// request to its complete head and body. Zero means 10s.
	HandshakeTimeout time.Duration
	// PingInterval is how long a connection may stay silent before the server
	// pings it, and how long a reactor HTTP stream may go without a frame
	// before its handler's Heartbeat is queued. Zero means 30s.
	PingInterval time.Duration
	// IdleTimeout closes a connection from which nothing (not even a pong) has
	// arrived for this long, and a kept-alive reactor HTTP connection that
	// waits this long for its next request. Streams and held requests are
	// not subject to it. Zero means 2*PingInterval+10s.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose queue made no progress for this
	// long. Zero means 10s.
	WriteTimeout time.Duration
	// CloseTimeout bounds the close handshake after the server sent a close
	// frame. Zero means 3s.
	CloseTimeout time.Duration
	// DrainBatch and DrainInterval pace Shutdown: it sends close 1001 to
	// DrainBatch connections every DrainInterval, so that clients moving to
	// other nodes arrive there as a stream, not a stampede. Zero means 500
	// and 5ms.
	DrainBatch    int
	DrainInterval time.Duration
	// MaxQueueBytes bounds the bytes queued per connection. Zero means 4 MiB.
	MaxQueueBytes int
	// SlowPolicy applies when MaxQueueBytes is exceeded. Zero is SlowDisconnect.
	SlowPolicy SlowPolicy
	// MaxHeadSize bounds an HTTP request head. Zero means 8 KiB.
	MaxHeadSize int
	// MaxBodySize bounds the body of a reactor HTTP request; a larger one gets
	// 413 and the connection closes. Input buffered behind a held request or
	// an open stream is bounded by MaxHeadSize+MaxBodySize. Zero means 1 MiB.
	MaxBodySize int
	// Parser configures frame parsing (MaxMessageSize). Its Deflate is set
	// per connection, from the handshake.
	Parser wsframe.ParserConfig
	// DeflateThreshold is the smallest payload, in bytes, that a connection
	// which negotiated permessage-deflate (Upgrader.Deflate) sends
	// compressed; smaller frames go uncompressed (RSV1 clear). Zero
	// compresses every data frame that gets smaller.
	DeflateThreshold int
	// Flushers is the number of flusher goroutines. Zero means GOMAXPROCS.
	Flushers int
	// ReadBufferSize is netpoll's initial per-connection buffer (netpoll
	// Config.BufferSize and LinkBufferCap). Zero means 128; it is a process-wide
	// netpoll setting applied by the first New.
	ReadBufferSize int
	// Pollers is the number of netpoll epoll loops. Zero means netpoll's default.
	Pollers int
	// TLSHandshakeWorkers bounds the goroutines running TLS handshakes on
	// the ListenTLS listener; connections past it wait in a queue (their
	// HandshakeTimeout runs meanwhile). Zero means 1024.
	TLSHandshakeWorkers int
	// KeepNetpollBarrier keeps netpoll's 1.3 KB per-connection write scratch
	// that c1m trims from idle connections (see trim.go).
	KeepNetpollBarrier bool
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2*c.PingInterval + 10*time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.DrainBatch <= 0 {
		c.DrainBatch = 500
	}
	if c.DrainInterval <= 0 {
		c.DrainInterval = 5 * time.Millisecond
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 3 * time.Second
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 4 << 20
	}
	if c.MaxHeadSize <= 0 {
		c.MaxHeadSize = 8 << 10
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 1 << 20
	}
	if c.Flushers <= 0 {
		c.Flushers = runtime.GOMAXPROCS(0)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 128
	}
	if c.TLSHandshakeWorkers <= 0 {
		c.TLSHandshakeWorkers = defaultTLSHandshakeWorkers
	}
}

var configureOnce sync.Once

// Server is a WebSocket server on netpoll. Create it with New, run it with
// Serve, stop it with Shutdown.
type Server struct {
	cfg      Config
	log      *slog.Logger
	upgrader wsframe.Upgrader
	loop     netpoll.EventLoop
	ln       netpoll.Listener
	tloop    netpoll.EventLoop // the TLS listener's
	tln      netpoll.Listener
	tlsCfg   *tls.Config
	tlsHS    tlsHandshakers
	flushers []*flusher
	reg      registry
	ipl      ipLimits
	http     *handoff
	stats    counters
	rlimit   uint64
	clock    atomic.Int64 // coarse unix nanoseconds, updated by the sweeper
	closing  atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
	ping     *wsframe.Prepared // compiled ping, never released

	// Reactor HTTP's fixed frames, never released.
	lastChunk   *wsframe.Prepared // "0\r\n\r\n"
	continue100 *wsframe.Prepared // "HTTP/1.1 100 Continue\r\n\r\n"
	shutdown503 *wsframe.Prepared // the answer of a request held at shutdown
}

// New validates cfg, raises RLIMIT_NOFILE and prepares a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil && cfg.Routes == nil {
		return nil, errors.New("poller: Config.Handler or Config.Routes is required")
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	s.rlimit = raiseNofile(s.log)
	if s.cfg.MaxConns <= 0 {
		n := int(s.rlimit) - 256
		if n < 16 {
			n = 16
		}
		s.cfg.MaxConns = n
	} else if s.rlimit > 0 && uint64(s.cfg.MaxConns)+256 > s.rlimit {
		s.log.Warn("max conns exceeds what the open-file limit allows: upgrades will fail with EMFILE before the limit is reached; raise the limit (scripts/tune-kernel.sh) or lower --max-conns",
			"max_conns", s.cfg.MaxConns, "rlimit_nofile", s.rlimit, "reserve", 256)
	}
	var err error
	configureOnce.Do(func() {
		netpoll.LinkBufferCap = cfg.ReadBufferSize
		err = netpoll.Configure(netpoll.Config{
			PollerNum:    cfg.Pollers,
			BufferSize:   cfg.ReadBufferSize,
			LoggerOutput: slogWriter{s.log},
		})
	})
	if err != nil {
		return nil, fmt.Errorf("poller: configure netpoll: %w", err)
	}
	s.upgrader = cfg.Upgrader
	appAdmit := cfg.Upgrader.Admit
	s.upgrader.Admit = func() error {
		if s.closing.Load() {
			s.stats.refused503.Add(1)
			return wsframe.RejectRetry(http.StatusServiceUnavailable, retryAfter, "server shutting down")
		}
		if s.atCapacity() {
			s.stats.refused503.Add(1)
			return wsframe.RejectRetry(http.StatusServiceUnavailable, retryAfter, "connection limit reached")
		}
		if appAdmit != nil {
			return appAdmit()
		}
		return nil
	}
	s.ping = wsframe.NewPrepared(ws.OpPing, nil)
	s.lastChunk = rawPrepared("0\r\n\r\n")
	s.continue100 = rawPrepared("HTTP/1.1 100 Continue\r\n\r\n")
	const bye = "server shutting down"
	s.shutdown503 = rawPrepared("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\nRetry-After: " + retryAfter + "\r\nContent-Length: " + strconv.Itoa(len(bye)) + "\r\n\r\n" + bye)
	s.clock.Store(time.Now().UnixNano())
	s.reg.init()
	s.ipl.init(cfg.MaxConnsPerIP, cfg.ConnectRatePerIP, cfg.ConnectBurstPerIP)
	s.flushers = make([]*flusher, cfg.Flushers)
	for i := range s.flushers {
		s.flushers[i] = newFlusher(s)
	}
	s.http = newHandoff(s)
	s.tlsHS.max = s.cfg.TLSHandshakeWorkers
	return s, nil
}

// Capacity reports the effective connection capacity: the smaller of MaxConns
// and the open-file limit minus a reserve.
func (s *Server) Capacity() int { return s.cfg.MaxConns }

// Listen binds addr ("host:port"; port 0 picks one) without serving yet.
func (s *Server) Listen(addr string) error {
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return fmt.Errorf("poller: listen %s: %w", addr, err)
	}
	s.ln = ln
	return nil
}

// ListenTLS binds addr for TLS (wss:// and https://) without serving yet:
// every connection it accepts is served as the plain listener's are, over
// TLS 1.2 or 1.3 terminated on the reactor (tls.go). cfg is used as it is
// for every handshake, so that its GetCertificate or GetConfigForClient
// can change certificates while the server runs. Listen and ListenTLS may
// both be called; Serve serves both.
func (s *Server) ListenTLS(addr string, cfg *tls.Config) error {
	if cfg == nil {
		return errors.New("poller: ListenTLS needs a tls.Config")
	}
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return fmt.Errorf("poller: listen tls %s: %w", addr, err)
	}
	s.tln, s.tlsCfg = ln, cfg
	return nil
}

// Addr returns the bound address after Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// TLSAddr returns the TLS listener's address after ListenTLS, nil without.
func (s *Server) TLSAddr() net.Addr {
	if s.tln == nil {
		return nil
	}
	return s.tln.Addr()
}

// Serve runs the reactor on the listeners bound by Listen and ListenTLS
// until Shutdown. It returns nil after a Shutdown.
func (s *Server) Serve() error {
	if s.ln == nil && s.tln == nil {
		return errors.New("poller: Serve before Listen")
	}
	var err error
	if s.ln != nil {
		if s.loop, err = netpoll.NewEventLoop(s.onRequest, netpoll.WithOnPrepare(s.onPrepare)); err != nil {
			return fmt.Errorf("poller: event loop: %w", err)
		}
	}
	if s.tln != nil {
		if s.tloop, err = netpoll.NewEventLoop(s.onRequest, netpoll.WithOnPrepare(s.onPrepareTLS)); err != nil {
			return fmt.Errorf("poller: tls event loop: %w", err)
		}
	}
	for _, f := range s.flushers {
		s.wg.Add(1)
		go f.run()
	}
	s.wg.Add(2)
	go s.sweep()
	go s.http.serve()
	errc := make(chan error, 2)
	if s.tln != nil {
		s.log.Info("listening tls", "addr", s.tln.Addr().String(), "handshake_workers", s.cfg.TLSHandshakeWorkers)
		go func() { errc <- s.tloop.Serve(s.tln) }()
	}
	if s.ln != nil {
		s.log.Info("listening", "addr", s.ln.Addr().String(), "max_conns", s.cfg.MaxConns,
			"rlimit_nofile", s.rlimit, "flushers", len(s.flushers), "read_buffer", s.cfg.ReadBufferSize)
		go func() { errc <- s.loop.Serve(s.ln) }()
	}
	err = <-errc
	if s.closing.Load() {
		return nil
	}
	return err
}

// Shutdown stops accepting, sends close 1001 to every WebSocket connection in
// paced batches (reactor HTTP streams get their last chunk, held requests 503,
// and close; requests net/http is serving get their responses, as with
// http.Server.Shutdown), waits for them to close until ctx is done, then
// closes the rest and stops every goroutine the server started.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		return errors.New("poller: already shut down")
	}
	if s.ln != nil {
		_ = s.ln.Close() // stop accepting; netpoll's accept loop sees a closed fd
	}
	if s.tln != nil {
		_ = s.tln.Close()
	}
	// net/http finishes the requests it is serving on handed-off connections
	// and closes them once idle (their clients get the responses of
	// requests already taken, a publish among them); Conn.shutdown
	// leaves those connections to it.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.http.shutdown(ctx)
	}()
	batch := s.cfg.DrainBatch
	conns := s.reg.snapshot()
	s.log.Info("shutdown: closing connections", "conns", len(conns), "batch", batch, "interval", s.cfg.DrainInterval)
	tick := time.NewTicker(s.cfg.DrainInterval)
	for i := 0; i < len(conns); i += batch {
		end := min(i+batch, len(conns))
		for _, c := range conns[i:end] {
			c.shutdown()
		}
		if end < len(conns) {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}
	tick.Stop()
	// Wait until every connection is gone or ctx ends.
	wait := time.NewTicker(10 * time.Millisecond)
	for s.stats.tcpConns.Load() > 0 && ctx.Err() == nil {
		select {
		case <-wait.C:
		case <-ctx.Done():
		}
	}
	wait.Stop()
	for _, c := range s.reg.snapshot() {
		c.hardClose(ReasonShutdown)
	}
	var err error
	for _, loop := range []netpoll.EventLoop{s.loop, s.tloop} {
		if loop != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if e := loop.Shutdown(sctx); err == nil {
				err = e
			}
			cancel()
		}
	}
	close(s.done)
	for _, f := range s.flushers {
		f.wake()
	}
	s.http.close()
	s.wg.Wait()
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // connections left to netpoll's own close
	}
	return err
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Conns:          s.stats.conns.Load(),
		TCPConns:       s.stats.tcpConns.Load(),
		Accepted:       s.stats.accepted.Load(),
		Upgraded:       s.stats.upgraded.Load(),
		Rejected:       s.stats.rejected.Load(),
		Refused503:     s.stats.refused503.Load(),
		Backlogged:     s.stats.backlogged.Load(),
		QueuedBytes:    s.stats.queuedBytes.Load(),
		Dropped:        s.stats.dropped.Load(),
		FramesOut:      s.stats.framesOut.Load(),
		Writes:         s.stats.writes.Load(),
		MessagesIn:     s.stats.messagesIn.Load(),
		DeflateConns:   s.stats.deflateConns.Load(),
		DeflateSent:    s.stats.deflateSent.Load(),
		DeflateSaved:   s.stats.deflateSaved.Load(),
		Streams:        s.stats.streams.Load(),
		HeldRequests:   s.stats.held.Load(),
		HTTPRequests:   s.stats.httpRequests.Load(),
		Closes:         make(map[string]uint64, numReasons),
		MaxConns:       s.cfg.MaxConns,
		RefusedIPConns: s.stats.refusedIPConns.Load(),
		RefusedIPRate:  s.stats.refusedIPRate.Load(),
		TrackedIPs:     s.ipl.addrs(),
		RlimitNofile:   s.rlimit,

		TLSConns:             s.stats.tlsConns.Load(),
		TLSHandshakes:        s.stats.tlsHandshakes.Load(),
		TLSResumed:           s.stats.tlsResumed.Load(),
		TLS13:                s.stats.tls13.Load(),
		TLS12:                s.stats.tls12.Load(),
		TLSHandshakeErrors:   s.stats.tlsHandshakeErrors.Load(),
		TLSHandshakeTimeouts: s.stats.tlsHandshakeTimeouts.Load(),
		TLSHandshaking:       s.stats.tlsHandshaking.Load(),
		TLSHandshakeWorkers:  s.tlsHS.workers(),
		TLSTrims:             s.stats.tlsTrims.Load(),
	}
	for i := range s.stats.closes {
		st.Closes[CloseReason(i).String()] = s.stats.closes[i].Load()
	}
	return st
}

// shutdown closes c for Shutdown: close 1001 for a WebSocket, the end of the
// response for reactor HTTP; a connection net/http serves is left to its
// Shutdown.
func (c *Conn) shutdown() {
	c.mu.Lock()
	if c.upgrading {
		// Its 101 may be on the wire already: the client expects a close
		// frame, which the upgrade sends once the connection is open.
		c.shutdownAsked = true
		c.mu.Unlock()
		return
	}
	if c.h != nil && (c.state == stHandshake || c.state == stHeld || c.state == stStream) {
		sched := c.shutdownHTTPLocked()
		c.mu.Unlock()
		c.pushIf(sched)
		return
	}
	if c.state == stHTTP {
		c.mu.Unlock()
		return // net/http's Shutdown ends it after its response (Server.Shutdown)
	}
	c.mu.Unlock()
	c.CloseWith(wsframe.StatusGoingAway, "server shutting down", ReasonShutdown)
}

// rawPrepared returns a sealed Prepared holding b as it is.
func rawPrepared(b string) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, b...)
	p.SealRaw()
	return p
}

// now returns the coarse clock (unix ns), precise to the sweeper's tick.
func (s *Server) now() int64 { return s.clock.Load() }

// raiseNofile raises the soft RLIMIT_NOFILE to the hard limit and returns the
// resulting soft limit.
func raiseNofile(log *slog.Logger) uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("getrlimit failed", "err", err)
		return 1024
	}
	if rl.Cur < rl.Max {
		old := rl.Cur
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			log.Warn("raising RLIMIT_NOFILE failed", "err", err, "soft", old, "hard", rl.Max)
			rl.Cur = old
		}
	}
	return rl.Cur
}

// slogWriter routes netpoll's logger into slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("netpoll", "detail", string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogWriter{}
