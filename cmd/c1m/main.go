// Command c1m runs the c1m WebSocket market-data fanout server.
//
// Every flag has an environment fallback (C1M_<NAME>, upper case, '-' as '_');
// a flag given on the command line wins. `c1m --help` lists them all.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/c1mhq/c1m/cluster"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// envFlags registers flags whose defaults come from C1M_* variables.
type envFlags struct {
	fs   *flag.FlagSet
	errs []string
}

func envName(name string) string {
	return "C1M_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (e *envFlags) str(name, def, usage string) *string {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	return e.fs.String(name, def, usage+" (env "+envName(name)+")")
}

func (e *envFlags) integer(name string, def int, usage string) *int {
	if v, ok := os.LookupEnv(envName(name)); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, envName(name)+": "+err.Error())
		}
		def = n
	}
	return e.fs.Int(name, def, usage+" (env "+envName(name)+")")
}

func (e *envFlags) float(name string, def float64, usage string) *float64 {
	if v, ok := os.LookupEnv(envName(name)); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.errs = append(e.errs, envName(name)+": "+err.Error())
		}
		def = n
	}
	return e.fs.Float64(name, def, usage+" (env "+envName(name)+")")
}

func (e *envFlags) boolean(name string, def bool, usage string) *bool {
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, envName(name)+": "+err.Error())
		}
		def = b
	}
	return e.fs.Bool(name, def, usage+" (env "+envName(name)+")")
}

func (e *envFlags) duration(name string, def time.Duration, usage string) *time.Duration {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, envName(name)+": "+err.Error())
		}
		def = d
	}
	return e.fs.Duration(name, def, usage+" (env "+envName(name)+")")
}

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gen-token" {
		return runGenToken(args[1:], os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "gen-cert" {
		return runGenCert(args[1:], os.Stdout, stderr)
	}
	if len(args) > 0 { // subcommands; the server is the default
		switch args[0] {
		case "sub":
			return runSub(args[1:], os.Stdout, stderr)
		case "pub":
			return runPub(args[1:], os.Stdin, os.Stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("c1m", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	addr := e.str("addr", ":8080", "listen address host:port (port 0 picks a free port)")
	logLevel := e.str("log-level", "info", "log level: debug, info, warn, error")
	logFormat := e.str("log-format", "text", "log format: text or json")
	logSummary := e.duration("log-summary", time.Minute, "interval of the info-level summary line (connections, deliveries/s, closes by reason); 0 turns it off")
	maxConns := e.integer("max-conns", 0, "maximum WebSocket connections, 503 beyond (0 = open-file limit minus 256)")
	maxConnsPerIP := e.integer("max-conns-per-ip", 0, "connections one client address may hold at once, 429 with Retry-After beyond, before any upgrade or stream (0 = no limit)")
	connectRate := e.float("connect-rate-per-ip", 0, "new connections one client address may open per second, 429 with Retry-After beyond (0 = no limit)")
	connectBurst := e.integer("connect-burst-per-ip", 0, "burst of --connect-rate-per-ip (0 = max(rate, 1))")
	maxOps := e.float("max-ops-per-sec", 0, "client operations (subscribe, unsubscribe, publish, refresh) one connection may send per second on every protocol: err 429 past it, close 1008 when it goes on (STOMP: ERROR); 0 = no limit")
	opsBurst := e.integer("ops-burst", 0, "burst of --max-ops-per-sec (0 = max(rate, 1))")
	handshakeTimeout := e.duration("handshake-timeout", 10*time.Second, "time allowed for a complete HTTP request head")
	pingInterval := e.duration("ping-interval", 30*time.Second, "ping a connection silent for this long")
	idleTimeout := e.duration("idle-timeout", 0, "close a connection silent for this long (0 = 2*ping-interval+10s)")
	writeTimeout := e.duration("write-timeout", 10*time.Second, "close a connection whose queue makes no progress for this long")
	shutdownTimeout := e.duration("shutdown-timeout", 10*time.Second, "bound on graceful shutdown")
	maxQueue := e.integer("max-queue-bytes", 4<<20, "bytes queued per connection before the slow-consumer policy applies")
	slowPolicy := e.str("slow-policy", "disconnect", "slow consumer policy: disconnect (close 1008) or drop (drop oldest, client sees the seq gap)")
	maxMessage := e.integer("max-message-bytes", 16<<20, "largest client message; larger gets close 1009")
	deflate := e.boolean("deflate", true, "permessage-deflate (RFC 7692) for clients that offer it, on every WebSocket endpoint: each broadcast is compressed once per wire format and shared by every deflate connection")
	deflateThreshold := e.integer("deflate-threshold", server.DefaultDeflateThreshold, "smallest payload in bytes sent compressed on a deflate connection; smaller frames go uncompressed (0: compress every frame that gets smaller)")
	readBuffer := e.integer("read-buffer", 128, "netpoll initial per-connection read buffer (bytes)")
	flushers := e.integer("flushers", 0, "flusher goroutines (0 = GOMAXPROCS)")
	pollers := e.integer("pollers", 0, "netpoll epoll loops (0 = netpoll's default, GOMAXPROCS/20+1)")
	origins := e.str("origins", "", "comma-separated Origin allow-list for WebSocket upgrades (empty = any)")
	token := e.str("publish-token", "", "bearer token required by POST /publish (empty = none)")
	clientPub := e.boolean("client-publish", false, "allow clients to publish over WebSocket (op pub, binary frames)")
	maxPub := e.integer("max-publish-bytes", 1<<20, "largest published payload")
	maxSubs := e.integer("max-subs", 1024, "subscriptions per connection")
	historySize := e.integer("history-size", 256, "messages of history per topic for recovery (negative disables)")
	historyTTL := e.duration("history-ttl", 5*time.Minute, "history entries older than this are dropped")
	historyMax := e.integer("history-max-bytes", 512<<20, "wire bytes of history kept over all topics (heap use is up to ~2x for small frames); past it a publish trims its own topic's history")
	maxTopics := e.integer("max-topics", 1_000_000, "maximum topics that hold data (published to); past it a publish to a new topic gets 507. Subscriptions to unpublished topics never count")
	lastValueTTL := e.duration("last-value-ttl", 24*time.Hour, "a topic nobody subscribes to is reclaimed once its last publish is older than this and its history expired (negative: keep published topics for ever)")
	conflate := e.str("conflate", "", "comma-separated topic patterns whose subscriptions conflate by default")
	demo := e.boolean("demo", true, "run the simulated market-data feed")
	demoRate := e.float("demo-rate", 200, "demo feed messages per second (all symbols)")
	demoSymbols := e.integer("demo-symbols", 0, "number of demo symbols (0 = the built-in list)")
	pprofOn := e.boolean("pprof", false, "serve net/http/pprof under /debug/pprof/ on the public listener (prefer --admin-addr)")
	adminAddr := e.str("admin-addr", "", "address of the operator listener: pprof, /metrics, /stats, /connections and the operator page with live charts (empty = off; keep it private, e.g. 127.0.0.1:9090)")
	sioOff := e.boolean("sio-off", false, "turn Socket.IO (Engine.IO v4 at --sio-path) off")
	sioPath := e.str("sio-path", "/socket.io/", "Engine.IO path of Socket.IO")
	sioNamespaces := e.str("sio-namespaces", "/", "comma-separated Socket.IO namespaces clients may connect to")
	sioConnectTimeout := e.duration("sio-connect-timeout", 45*time.Second, "close a Socket.IO connection that joins no namespace in this time")
	sioRecovery := e.duration("sio-recovery", 2*time.Minute, "Socket.IO connection state recovery: how long a disconnected socket's subscriptions and position wait for its client (maxDisconnectionDuration); 0 = off (no pid, no offsets)")
	sioRecoveryLog := e.integer("sio-recovery-log", 1024, "Socket.IO recovery: deliveries each socket remembers (16 bytes each); a client cut with more queued after its last one resubscribes")
	eioPingInterval := e.duration("eio-ping-interval", 25*time.Second, "Engine.IO ping interval")
	eioPingTimeout := e.duration("eio-ping-timeout", 20*time.Second, "Engine.IO: close a session that does not answer a ping in this time")
	conformanceAddr := e.str("conformance-addr", "", "address of a second listener that behaves like the reference servers of the Engine.IO, Socket.IO and SockJS test suites (/engine.io/ echo, /socket.io/, SockJS /echo, /close, /disabled_websocket_echo, /cookie_needed_echo); empty = off")
	stompOff := e.boolean("stomp-off", false, "turn STOMP over WebSocket (at --stomp-path) off")
	stompPath := e.str("stomp-path", "/stomp", "WebSocket path of STOMP 1.2 (subprotocols v12.stomp, v11.stomp, v10.stomp)")
	stompHB := e.str("stomp-heartbeat", "10s,10s", "STOMP heart-beat offer \"send,receive\": the server sends every send and wants the client's every receive (0 = that direction off); a client silent for twice the negotiated interval is closed")
	stompPrefetch := e.integer("stomp-max-unacked", 1024, "STOMP client/client-individual acks: unacknowledged MESSAGEs in flight per subscription (the default and ceiling of prefetch-count)")
	stompPending := e.integer("stomp-max-pending", 4096, "STOMP: MESSAGEs waiting behind a full prefetch window per subscription before the slow-consumer policy applies")
	sockjsOff := e.boolean("sockjs-off", false, "turn SockJS (native protocol at /sockjs, STOMP at /stomp-sockjs) off")
	sockjsHB := e.duration("sockjs-heartbeat", 25*time.Second, "SockJS: send an \"h\" frame on a receiving request silent for this long")
	sockjsDelay := e.duration("sockjs-disconnect-delay", 5*time.Second, "SockJS: close a session this long after its last receiving request ended (the client vanished)")
	sockjsLimit := e.integer("sockjs-response-limit", 128<<10, "SockJS: end an xhr_streaming, eventsource or htmlfile response after this many bytes (the client opens the next)")
	sockjsCookie := e.boolean("sockjs-cookie-needed", false, "SockJS: set the JSESSIONID cookie for sticky load balancers (/info says cookie_needed)")
	sockjsClientURL := e.str("sockjs-client-url", "/vendor/sockjs.min.js", "SockJS: the sockjs-client script the iframe page loads (served by c1m; never a CDN)")
	natsURLs := e.str("nats", "", "comma-separated NATS server URLs: join a cluster of c1m nodes sharing one topic space, seq and history on JetStream (empty = run alone; see README \"Cluster\")")
	natsPrefix := e.str("nats-prefix", "c1m.", "NATS subject prefix of topics (topic md.AAPL is subject <prefix>md.AAPL)")
	natsStream := e.str("nats-stream", "C1M", "JetStream stream holding last values and history (created or updated at start)")
	natsReplicas := e.integer("nats-replicas", 1, "replicas of the stream (clustered JetStream)")
	natsMemory := e.boolean("nats-memory", false, "keep the stream in memory instead of files (history lost when NATS restarts)")
	natsCreds := e.str("nats-creds", "", "NATS credentials file (JWT and nkey)")
	natsToken := e.str("nats-token", "", "NATS authentication token")
	natsUser := e.str("nats-user", "", "NATS user name (with --nats-password)")
	natsPassword := e.str("nats-password", "", "NATS password")
	natsCA := e.str("nats-ca", "", "PEM file of CAs that sign the NATS servers' certificates (TLS)")
	natsCert := e.str("nats-cert", "", "PEM client certificate for NATS (TLS, with --nats-key)")
	natsKey := e.str("nats-key", "", "PEM client key for NATS (TLS, with --nats-cert)")
	natsTimeout := e.duration("nats-connect-timeout", 10*time.Second, "how long to wait for NATS at start")
	nodeName := e.str("node-name", "", "this node's name in /stats, logs and NATS (empty = host:port)")
	drainBatch := e.integer("drain-batch", 500, "on SIGTERM, close this many connections with 1001 per --drain-interval (clients move to other nodes as a stream, not a stampede)")
	drainInterval := e.duration("drain-interval", 5*time.Millisecond, "pace of --drain-batch")
	eioMaxPayload := e.integer("eio-max-payload", 1_000_000, "Engine.IO maxPayload: largest POST body or WebSocket message, in bytes")
	tlsAddr := e.str("tls-addr", "", "TLS listen address host:port for wss:// and https://, beside --addr (empty = :8443 when --tls-cert is given)")
	tlsCert := e.str("tls-cert", "", "PEM certificate (chain) file: turns the TLS listener on (with --tls-key; c1m gen-cert writes one to try)")
	tlsKey := e.str("tls-key", "", "PEM private key file of --tls-cert")
	tlsWorkers := e.integer("tls-handshake-workers", 1024, "TLS handshakes run at once; more wait in a queue (each is a goroutine while it runs)")
	tlsReload := e.duration("tls-reload-interval", server.DefaultTLSReloadInterval, "check the certificate and key files this often and load them when they changed (0 = off; SIGHUP reloads too)")
	authOpts := addAuthFlags(e)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "c1m: WebSocket market-data fanout server\n\nUsage: c1m [flags]\n\nEvery flag can also be set with the environment variable named after it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "c1m: unexpected argument %q: c1m takes only flags (see c1m --help)\n", fs.Arg(0))
		return 2
	}
	if len(e.errs) > 0 {
		fmt.Fprintln(stderr, "c1m: bad environment:", strings.Join(e.errs, "; "))
		return 2
	}
	log, err := newLogger(*logLevel, *logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "c1m:", err)
		return 2
	}
	slog.SetDefault(log)
	policy, err := poller.ParseSlowPolicy(*slowPolicy)
	if err != nil {
		fmt.Fprintln(stderr, "c1m:", err)
		return 2
	}
	cfg := server.Config{
		Addr:            *addr,
		Origins:         splitList(*origins),
		PublishToken:    *token,
		ClientPublish:   *clientPub,
		MaxPublishBytes: *maxPub,
		Demo:            *demo,
		DemoRate:        *demoRate,
		DemoCount:       *demoSymbols,
		Pprof:           *pprofOn,
		AdminAddr:       *adminAddr,
		LogSummary:      *logSummary,
		Logger:          log,
	}
	cfg.Poller.MaxConns = *maxConns
	cfg.Ops = oprate.Limit{Rate: *maxOps, Burst: float64(*opsBurst)}
	cfg.Poller.MaxConnsPerIP = *maxConnsPerIP
	cfg.Poller.ConnectRatePerIP = *connectRate
	cfg.Poller.ConnectBurstPerIP = *connectBurst
	cfg.Poller.HandshakeTimeout = *handshakeTimeout
	cfg.Poller.PingInterval = *pingInterval
	cfg.Poller.IdleTimeout = *idleTimeout
	cfg.Poller.WriteTimeout = *writeTimeout
	cfg.Poller.MaxQueueBytes = *maxQueue
	cfg.Poller.SlowPolicy = policy
	cfg.Poller.Parser.MaxMessageSize = int64(*maxMessage)
	cfg.Deflate = server.DeflateConfig{Off: !*deflate, Threshold: *deflateThreshold}
	if *deflateThreshold <= 0 {
		cfg.Deflate.Threshold = -1 // every frame that gets smaller
	}
	cfg.Poller.ReadBufferSize = *readBuffer
	cfg.Poller.Flushers = *flushers
	cfg.Poller.Pollers = *pollers
	cfg.Poller.DrainBatch = *drainBatch
	cfg.Poller.DrainInterval = *drainInterval
	cfg.Hub.MaxSubsPerConn = *maxSubs
	cfg.Hub.HistorySize = *historySize
	cfg.Hub.HistoryTTL = *historyTTL
	cfg.Hub.HistoryMaxBytes = int64(*historyMax)
	cfg.Hub.MaxTopics = *maxTopics
	cfg.Hub.LastValueTTL = *lastValueTTL
	cfg.Hub.ConflateDefault = splitList(*conflate)
	cfg.ConformanceAddr = *conformanceAddr
	cfg.SocketIO = server.SocketIOConfig{Off: *sioOff, Path: *sioPath, Namespaces: splitList(*sioNamespaces),
		ConnectTimeout: *sioConnectTimeout, PingInterval: *eioPingInterval, PingTimeout: *eioPingTimeout, MaxPayload: *eioMaxPayload,
		Recovery: *sioRecovery, RecoveryLog: *sioRecoveryLog}

	hbSend, hbRecv, err := parseHeartBeat(*stompHB)
	if err != nil {
		fmt.Fprintln(stderr, "c1m: --stomp-heartbeat:", err)
		return 2
	}
	cfg.Stomp = server.StompConfig{Off: *stompOff, Path: *stompPath, HeartBeatSend: hbSend, HeartBeatRecv: hbRecv,
		MaxUnacked: *stompPrefetch, MaxPending: *stompPending}

	cfg.SockJS = server.SockJSConfig{Off: *sockjsOff, Heartbeat: *sockjsHB, DisconnectDelay: *sockjsDelay,
		ResponseLimit: *sockjsLimit, CookieNeeded: *sockjsCookie, ClientURL: *sockjsClientURL}
	if cfg.Auth, err = authOpts.config(); err != nil {
		fmt.Fprintln(stderr, "c1m:", err)
		return 2
	}

	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(stderr, "c1m: --tls-cert and --tls-key go together: give both files or neither")
		return 2
	}
	if *tlsCert == "" && *tlsAddr != "" {
		fmt.Fprintln(stderr, "c1m: --tls-addr needs --tls-cert and --tls-key")
		return 2
	}
	if *tlsWorkers < 1 {
		fmt.Fprintln(stderr, "c1m: --tls-handshake-workers must be at least 1")
		return 2
	}
	cfg.TLS = server.TLSConfig{Addr: *tlsAddr, CertFile: *tlsCert, KeyFile: *tlsKey, HandshakeWorkers: *tlsWorkers, ReloadInterval: *tlsReload}
	if *tlsReload <= 0 {
		cfg.TLS.ReloadInterval = -1 // off
	}

	cfg.NodeName = *nodeName // empty: host:port, chosen by the server once it listens
	if urls := splitList(*natsURLs); len(urls) > 0 {
		var opts []nats.Option
		if *natsCreds != "" {
			opts = append(opts, nats.UserCredentials(*natsCreds))
		}
		if *natsToken != "" {
			opts = append(opts, nats.Token(*natsToken))
		}
		if *natsUser != "" {
			opts = append(opts, nats.UserInfo(*natsUser, *natsPassword))
		}
		if *natsCA != "" {
			opts = append(opts, nats.RootCAs(*natsCA))
		}
		if *natsCert != "" || *natsKey != "" {
			opts = append(opts, nats.ClientCert(*natsCert, *natsKey))
		}
		cfg.Cluster = cluster.Config{URLs: urls, Prefix: *natsPrefix, Stream: *natsStream, Replicas: *natsReplicas,
			Memory: *natsMemory, Options: opts, ConnectTimeout: *natsTimeout}
	}
	// SIGHUP is caught from before the listeners open: one sent once the
	// log says "listening" reloads, it does not kill the process. SIGINT and
	// SIGTERM still end a start that hangs (waiting for NATS, say).
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	srv, err := server.New(cfg)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	srv.Start()
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reloadOnHUP(srv, log)
				continue
			}
			log.Info("shutting down", "signal", s.String(), "timeout_s", shutdownTimeout.Seconds())
			break wait
		case err := <-srv.Done():
			if err != nil {
				log.Error("reactor stopped", "err", err)
				return 1
			}
			return 0
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("bye")
	return 0
}

// reloadOnHUP is SIGHUP: load the TLS certificate files again (the
// reloader logs the result). Without TLS it is ignored, not fatal.
func reloadOnHUP(srv *server.Server, log *slog.Logger) {
	if srv.TLSAddr() == nil {
		log.Info("SIGHUP: nothing to reload (no --tls-cert)")
		return
	}
	log.Info("SIGHUP: reloading the TLS certificate")
	_ = srv.ReloadTLS() // logged by the reloader; the current certificate stays on error
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q (text or json)", format)
}

// parseHeartBeat parses --stomp-heartbeat, "send,receive" durations; 0
// turns a direction off.
func parseHeartBeat(v string) (send, recv time.Duration, err error) {
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return 0, 0, fmt.Errorf("%q must be two durations, \"send,receive\" (e.g. 10s,10s; 0 for off)", v)
	}
	parse := func(s string) (time.Duration, error) {
		s = strings.TrimSpace(s)
		if s == "0" {
			return -1, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q must be two durations, \"send,receive\" (e.g. 10s,10s; 0 for off)", v)
		}
		if d == 0 {
			return -1, nil
		}
		return d, nil
	}
	if send, err = parse(a); err != nil {
		return 0, 0, err
	}
	recv, err = parse(b)
	return send, recv, err
}
