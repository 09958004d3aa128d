// Package server wires c1m together: the poller reactor, the hub, the native
// pub/sub protocol on /ws, Server-Sent Events on /sse (on the reactor),
// Socket.IO on /socket.io/ (both transports, on the reactor), STOMP over
// WebSocket on /stomp, SockJS on /sockjs (native) and /stomp-sockjs
// (STOMP), the echo
// endpoint on /echo, and the HTTP endpoints
// (/publish, /healthz, /stats, /metrics and the demo page at /). With
// Config.TLS it serves all of it on a TLS listener too (server/tls.go).
//
// A Server is started once with Start and stopped once with Shutdown; its
// methods are safe for concurrent use.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/cluster"
	"github.com/c1mhq/c1m/feed"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/certs"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/proto/sockjs"
	"github.com/c1mhq/c1m/proto/sse"
	"github.com/c1mhq/c1m/proto/stomp"
	"github.com/c1mhq/c1m/web"
)

// Config configures a Server. The zero value serves on :8080 with defaults.
type Config struct {
	// Addr is the listen address. Empty means ":8080".
	Addr string
	// Poller configures the reactor; its Handler, Routes, HTTP and Upgrader.Route
	// are set by the server.
	Poller poller.Config
	// Hub configures topics, history and conflation.
	Hub hub.Config
	// Origins is the Origin allow-list for WebSocket upgrades; empty allows all.
	Origins []string
	// PublishToken, when set, is required as "Authorization: Bearer <token>" by
	// POST /publish.
	PublishToken string
	// Auth configures JWT authentication and per-topic permissions
	// (server/auth.go); the zero value is off.
	Auth AuthConfig
	// ClientPublish enables {"op":"pub"} and binary publishes over WebSocket.
	ClientPublish bool
	// MaxPublishBytes bounds one published payload. Zero means 1 MiB.
	MaxPublishBytes int
	// Demo runs the simulated market-data feed.
	Demo       bool
	DemoRate   float64
	DemoCount  int
	DemoSymbol []string
	// SocketIO configures Socket.IO at /socket.io/ (server/socketio.go).
	SocketIO SocketIOConfig
	// Stomp configures STOMP over WebSocket at /stomp (server/stomp.go).
	Stomp StompConfig
	// SockJS configures SockJS at /sockjs and /stomp-sockjs
	// (server/sockjs.go).
	SockJS SockJSConfig
	// ConformanceAddr, when set, is the address of a second listener that
	// behaves like the reference servers of the Engine.IO and Socket.IO test
	// suites (server/conformance.go).
	ConformanceAddr string
	// Deflate configures permessage-deflate, on by default
	// (server/deflate.go).
	Deflate DeflateConfig
	// TLS, when its CertFile is set, opens a TLS listener (wss://,
	// https://) beside the plain one (server/tls.go).
	TLS TLSConfig
	// Cluster joins a NATS JetStream cluster when its URLs are set
	// (cluster package, docs/CLUSTER.md); empty: the server runs alone.
	// Name, HistorySize and MaxAge default to NodeName, Hub.HistorySize and
	// max(Hub.LastValueTTL, Hub.HistoryTTL).
	Cluster cluster.Config
	// NodeName names this server in /stats, logs and NATS. Empty: the
	// host name and the bound port ("host:8080").
	NodeName string
	// Ops limits the client operations one connection may send per
	// second on every protocol (native ops and binary publishes, Socket.IO
	// market events, STOMP SUBSCRIBE/UNSUBSCRIBE/SEND/transactions): err
	// 429 past it (STOMP: ERROR), close 1008 after persistent abuse. The
	// zero value is no limit. Native over SockJS is not limited.
	Ops oprate.Limit
	// AdminAddr, when set, is the address of the operator listener:
	// net/http/pprof, /metrics, /stats, /connections (counts per client IP,
	// endpoint and user) and the operator page with live charts
	// (server/admin.go). Keep it off the public network.
	AdminAddr string
	// Pprof mounts net/http/pprof under /debug/pprof/ on the public
	// listener (prefer AdminAddr).
	Pprof bool
	// LogSummary is the interval of the info-level summary line
	// (connections, deliveries/s, closes by reason); zero turns it off.
	LogSummary time.Duration
	// Logger, nil means slog.Default().
	Logger *slog.Logger
}

// Server is a running c1m instance.
type Server struct {
	cfg    Config
	log    *slog.Logger
	poller *poller.Server
	hub    *hub.Hub
	native *native.Handler
	sse    *sse.Handler
	eio    *engineio.Server // nil when Socket.IO is off
	stomp  *stomp.Handler   // nil when STOMP is off
	sockjs []*sockjs.Server // native, then STOMP; empty when SockJS is off
	conf   *conformance     // nil without ConformanceAddr
	node   *cluster.Node    // nil when the server runs alone
	admin  *admin           // nil without AdminAddr
	certs  *certs.Reloader  // nil without TLS
	// userOf names the authenticated user of a connection for the admin
	// listing ("" for none); nil without authentication.
	userOf func(poller.Peer) string
	// draining is set when Shutdown starts: /readyz fails from then on.
	draining atomic.Bool
	started  time.Time
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	serveC   chan error

	auth *auth.Authenticator // nil when auth is off
}

// New builds a Server and binds its listener.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":8080"
	}
	if cfg.MaxPublishBytes <= 0 {
		cfg.MaxPublishBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	nameless := cfg.NodeName == ""
	if nameless {
		cfg.NodeName, _ = os.Hostname() // the port is added once bound
	}
	s := &Server{cfg: cfg, log: cfg.Logger, started: time.Now(), serveC: make(chan error, 1)}
	if err := s.openTLS(); err != nil { // loads the certificate: nothing to undo
		return nil, err
	}
	if err := s.openAuth(); err != nil {
		return nil, err
	}
	if err := s.openCluster(); err != nil {
		return nil, err
	}
	cfg = s.cfg // the cluster's epoch and broker
	s.hub = hub.New(cfg.Hub)
	if s.node != nil {
		s.node.Attach(s.hub)
	}
	s.native = native.New(native.Config{
		Hub:             s.hub,
		ClientPublish:   cfg.ClientPublish,
		PublishAllowed:  s.publishAllowed,
		MaxPublishBytes: cfg.MaxPublishBytes,
		Auth:            s.auth,
		Ops:             cfg.Ops,
		MaxSubs:         cfg.Hub.MaxSubsPerConn,
		MaxTopics:       cfg.Hub.MaxTopics,
		Logger:          cfg.Logger,
	})
	nat := s.native
	// Socket.IO: polling requests go to HTTPRoutes, upgrades to Routes, on
	// the same path.
	var eioPolling poller.HTTPHandler
	var eioWS poller.Handler
	if !cfg.SocketIO.Off {
		s.eio = s.newSocketIO()
		eioPolling, eioWS = s.eio.Polling(), s.eio.WebSocket()
	}
	sioPath := s.sioPath()
	var stompH poller.Handler
	stompPath := s.stompPath()
	if !cfg.Stomp.Off {
		s.stomp = s.newStomp()
		stompH = s.stomp
	}
	s.newSockJS()
	pc := cfg.Poller
	pc.Logger = cfg.Logger
	if cfg.TLS.HandshakeWorkers > 0 {
		pc.TLSHandshakeWorkers = cfg.TLS.HandshakeWorkers
	}
	pc.Routes = func(path string) poller.Handler {
		switch path {
		case "/ws":
			return nat
		case "/echo":
			return echo{}
		}
		if stompH != nil && path == stompPath {
			return stompH
		}
		if eioWS != nil && strings.HasPrefix(path, sioPath) {
			return eioWS
		}
		return s.sockjsRoute(path)
	}
	pc.Upgrader.Origins = cfg.Origins
	if s.auth != nil {
		pc.Upgrader.Authorize = s.authorizeUpgrade
	}
	deflatePoller(cfg.Deflate, &pc)
	pc.Upgrader.Route = func(path string) bool {
		return path == "/ws" || path == "/echo" || eioWS != nil && strings.HasPrefix(path, sioPath) ||
			stompH != nil && path == stompPath || s.sockjsRoute(path) != nil
	}
	if stompH != nil {
		pc.Upgrader.ProtocolsFor = func(path string) []string {
			if path == stompPath {
				return stomp.Subprotocols
			}
			return nil
		}
	}
	if s.eio != nil {
		pc.Upgrader.Check = func(path, query string) error {
			if strings.HasPrefix(path, sioPath) {
				return s.eio.CheckUpgrade(path, query)
			}
			return nil
		}
	}
	s.sse = sse.New(sse.Config{Hub: s.hub, Origins: cfg.Origins, Logger: cfg.Logger, Auth: s.auth})
	pc.HTTPRoutes = func(method, path string) poller.HTTPHandler {
		if path == "/sse" {
			return s.sse
		}
		if eioPolling != nil && strings.HasPrefix(path, sioPath) {
			return eioPolling
		}
		if sj := s.sockjsFor(path); sj != nil {
			return sj.HTTP()
		}
		return nil
	}
	pc.HTTP = s.routes()
	p, err := poller.New(pc)
	if err != nil {
		s.closeProtocols()
		s.closeHub()
		return nil, err
	}
	if err := p.Listen(cfg.Addr); err != nil {
		s.closeProtocols()
		s.closeHub()
		return nil, err
	}
	s.poller = p
	if err := s.listenTLS(p); err != nil {
		s.undoStart()
		return nil, err
	}
	if nameless {
		if _, port, err := net.SplitHostPort(p.Addr().String()); err == nil {
			s.cfg.NodeName += ":" + port
		}
	}
	if err := s.openConformance(); err != nil {
		s.undoStart()
		return nil, err
	}
	if err := s.openAdmin(); err != nil {
		s.undoStart()
		return nil, err
	}
	return s, nil
}

// undoStart stops what New started once the poller listens, when a later
// step fails: the conformance listeners (if any), the poller, the protocols
// and the hub.
func (s *Server) undoStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.shutdownConformance(ctx)
	_ = s.poller.Shutdown(ctx)
	s.closeProtocols()
	s.closeHub()
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.poller.Addr() }

// Start serves in the background and starts the demo feed when configured.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.serveC <- s.poller.Serve() }()
	s.log.Info("serving", "url", s.URL())
	s.startTLS(ctx)
	s.startConformance()
	s.startAdmin()
	if s.cfg.LogSummary > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.summarize(ctx, s.cfg.LogSummary)
		}()
	}
	if s.cfg.Demo {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			fc := feed.Config{Symbols: s.cfg.DemoSymbol, Count: s.cfg.DemoCount, Rate: s.cfg.DemoRate}
			err := feed.Run(ctx, fc, func(topic string, data []byte) error {
				_, err := s.hub.Publish(topic, data, 0)
				if errors.Is(err, hub.ErrUnavailable) {
					return nil // NATS is away: this tick is lost, the feed goes on
				}
				return err
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("demo feed stopped", "err", err)
			}
		}()
		s.log.Info("demo feed running: open the URL for the live page", "rate", s.cfg.DemoRate, "url", s.URL())
	}
}

// publishAllowed reports whether a WebSocket connection may publish: with a
// publish token, only if its upgrade presented it (header or ?token=).
func (s *Server) publishAllowed(c poller.Peer) bool {
	if s.auth != nil {
		return true // the token's pubs decide, per topic
	}
	return s.cfg.PublishToken == "" || s.tokenOK(c.Authorization(), c.Query())
}

// URL returns the server's base URL for a person to open: an unspecified
// listen address (":8080", "0.0.0.0", "::") becomes localhost.
func (s *Server) URL() string {
	host, port, err := net.SplitHostPort(s.Addr().String())
	if err != nil {
		return "http://" + s.Addr().String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// Done returns a channel that yields Serve's result when the reactor stops.
func (s *Server) Done() <-chan error { return s.serveC }

// Shutdown stops the feed, closes every connection with 1001 in paced batches
// and stops the reactor, within ctx.
//
// In a cluster this is the drain of a node: /readyz fails at once, the
// listener stops accepting, and the clients, closed with 1001 in batches
// (poller.Config.DrainBatch every DrainInterval), reconnect to other nodes
// and resume there from the cluster's history. The node keeps receiving
// from NATS until its last client is closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.node != nil {
		s.node.Drain()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.shutdownConformance(ctx)
	err := s.poller.Shutdown(ctx)
	s.shutdownAdmin(ctx) // after the drain: operators watch it
	s.closeProtocols()
	s.closeHub()
	return err
}

// closeHub closes the hub, then the cluster node that feeds it.
func (s *Server) closeHub() {
	s.hub.Close()
	if s.node != nil {
		s.node.Close()
	}
}

// Node returns the cluster node, nil when the server runs alone.
func (s *Server) Node() *cluster.Node { return s.node }

// NodeName is the name the server goes by in /stats and in the cluster.
func (s *Server) NodeName() string { return s.cfg.NodeName }

// closeProtocols stops the protocols' own goroutines (the Engine.IO
// sweeper, STOMP's heart-beats).
func (s *Server) closeProtocols() {
	s.closeSocketIO()
	s.closeSockJS()
	if s.stomp != nil {
		s.stomp.Close()
	}
}

// Hub returns the server's hub (for embedding and tests).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Poller returns the server's reactor (for embedding and tests).
func (s *Server) Poller() *poller.Server { return s.poller }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/publish", s.handlePublish)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.Handle("/", http.FileServerFS(web.Static()))
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
