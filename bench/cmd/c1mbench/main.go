// Command c1mbench is c1m's load generator: it opens WebSocket connections
// from worker processes driven by epoll, publishes over HTTP, and prints one
// JSON result per measurement. Subcommands: run (default), report, plot, check,
// centrifugo-config (the configuration bench.sh runs Centrifugo with).
//
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario broadcast -conns 1000 -rates max,half
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario sse -conns 1000 -rates max,half
//	c1mbench -server node-socketio -url http://127.0.0.1:8080 -scenario socketio -conns 1000 -rates max,half
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario idle_sio -sio-transport polling -conns 1000,19000
//	c1mbench -server centrifugo -proto centrifugo -api-key KEY -url http://127.0.0.1:8000 -scenario broadcast
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario stomp -conns 1000 -rates max,half,1000
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario idle_stomp -conns 1000,10000,19000 -workers 2
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario sockjs -sockjs-transport xhr_streaming -conns 1000 -rates max,half,1000
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario idle_sockjs -sockjs-transport xhr -conns 1000,10000 -workers 2
//	c1mbench -server rabbitmq -proto stomp -url http://127.0.0.1:15674 -scenario stomp -conns 1000
//	c1mbench -server c1m -url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 -nats-pid PID -scenario cluster -conns 19000 -topics 20 -rates 100,1000,max -workers 2
//	c1mbench -server c1m -url http://127.0.0.1:8080 -scenario deflate -deflate-mode off -conns 1000 -topics 4 -rates 100 -duration 10s
//	c1mbench -server c1m -url http://127.0.0.1:8080 -tls-addr 127.0.0.1:8443 -scenario idle_tls -conns 1000,10000,19000 -workers 2
//	c1mbench -server c1m -url http://127.0.0.1:8080 -tls-addr 127.0.0.1:8443 -scenario tls_handshake -concurrency 64 -duration 10s -runs 3
//	c1mbench -server c1m -url http://127.0.0.1:8080 -tls-addr 127.0.0.1:8443 -scenario broadcast_tls -conns 1000 -payloads 256 -rates 50 -duration 10s
//	c1mbench tls-ref-server -addr 127.0.0.1:8090 -tls-addr 127.0.0.1:8091 -cert cert.pem -key key.pem   (net/http + crypto/tls, for tls_handshake)
//	c1mbench tls-report -in results.jsonl   (markdown: wss against ws, handshakes, medians of the runs)
//	c1mbench report -in results.jsonl -out bench/results/DATE -baseline c1m
//	c1mbench plot -in bench/results/DATE/results.jsonl -out bench/results/DATE   (*.dat, plots.gp only)
//	c1mbench check -in results.jsonl -servers c1m,gorilla,gws,nbio -scenarios connect,idle,broadcast,slow
//	c1mbench check -in results.jsonl -plan c1m:broadcast,c1m:sse,centrifugo:broadcast,centrifugo:sse
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/c1mhq/c1m/bench/loadgen"
)

func main() {
	loadgen.MaybeRunWorker()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "report":
			os.Exit(report(os.Args[2:]))
		case "plot":
			os.Exit(plot(os.Args[2:]))
		case "check":
			os.Exit(check(os.Args[2:]))
		case "tls-report":
			os.Exit(tlsReport(os.Args[2:]))
		case "tls-ref-server":
			os.Exit(tlsRefServer(os.Args[2:]))
		case "centrifugo-config":
			os.Exit(centrifugoConfig(os.Args[2:]))
		case "run":
			os.Args = append(os.Args[:1], os.Args[2:]...)
		}
	}
	os.Exit(run())
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run() int {
	var (
		cfg                       loadgen.Config
		conns, payloads, rates, o string
		pubTopics                 string
		deflateKinds              string
		tlsOpts                   loadgen.TLSOptions
	)
	flag.StringVar(&cfg.Server, "server", "server", "label of the server under test")
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base URL of the server")
	flag.StringVar(&cfg.Scenario, "scenario", "broadcast", "connect, idle, broadcast, slow, sse (broadcast to event streams), idle_sse (memory per event stream), socketio (broadcast to Socket.IO clients over WebSocket), idle_sio (memory per Socket.IO client, -sio-transport), stomp (broadcast to STOMP clients over WebSocket), idle_stomp (memory per STOMP client), sockjs (broadcast to SockJS sessions, -sockjs-transport), idle_sockjs (memory per SockJS session, -sockjs-transport) hold or cluster (-url NODE,NODE,...: c1m nodes joined by NATS against one standalone node; -nats-pid, -topics, -pub-topics, -publishers) or deflate (a JSON quote feed to WebSocket subscribers offering permessage-deflate, on a server started with deflate off or on: -deflate-mode, -deflate-payloads, -topics; fixed -rates) or idle_tls (idle over wss://), tls_handshake (full TLS handshakes per second), broadcast_tls (ws:// against wss:// subscribers; fixed -rates): -tls-addr")
	flag.StringVar(&conns, "conns", "1000", "comma-separated connection counts")
	flag.StringVar(&payloads, "payloads", "64,256,1024", "broadcast payload sizes, bytes")
	flag.StringVar(&rates, "rates", "max,half", "broadcast rates: msg/s, max, half (of max)")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "publishing time per measurement")
	flag.Float64Var(&cfg.SlowRate, "slow-rate", 200, "slow scenario publish rate, msg/s")
	flag.IntVar(&cfg.Workers, "workers", 1, "minimum worker processes")
	flag.IntVar(&cfg.SrcBase, "src-base", 2, "worker i binds to 127.0.0.(src-base+i)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 100, "handshakes in flight per worker")
	flag.DurationVar(&cfg.Ping, "ping", 0, "client ping interval (0: none)")
	flag.StringVar(&cfg.Proto, "proto", loadgen.ProtoNative, "server protocol: native (c1m, bench/peers), centrifugo (JSON over /connection/websocket, uni_sse, HTTP API) or stomp (a STOMP broker such as RabbitMQ Web-STOMP: publishes with STOMP SEND, samples /proc; stomp scenario only)")
	flag.StringVar(&cfg.APIKey, "api-key", "", "Centrifugo HTTP API key (-proto centrifugo)")
	flag.StringVar(&cfg.SSEPath, "sse-path", "", "event-stream request path and query (default: /sse?topics=TOPIC, or Centrifugo's /connection/uni_sse)")
	flag.StringVar(&cfg.SIOPath, "sio-path", loadgen.DefaultSIOPath, "Socket.IO path (socketio, idle_sio)")
	flag.StringVar(&cfg.SIO, "sio-transport", loadgen.SIOWebSocket, "Socket.IO transport of idle_sio: websocket or polling (socketio: websocket)")
	flag.StringVar(&cfg.STOMPPath, "stomp-path", "", "STOMP over WebSocket path (stomp, idle_stomp; default /stomp, or /ws with -proto stomp)")
	flag.StringVar(&cfg.STOMPHost, "stomp-host", "", "STOMP CONNECT host header (default the server's host:port, or / with -proto stomp: RabbitMQ's default vhost)")
	flag.StringVar(&cfg.SockJSPath, "sockjs-path", loadgen.DefaultSockJSPath, "SockJS prefix carrying the native protocol (sockjs, idle_sockjs)")
	flag.StringVar(&cfg.SockJS, "sockjs-transport", loadgen.SockJSXHRStreaming, "SockJS receiving transport of sockjs and idle_sockjs: xhr_streaming, eventsource, xhr (polling) or websocket")
	flag.IntVar(&cfg.Cluster.NATSPid, "nats-pid", 0, "cluster: pid of nats-server, whose CPU counts with the nodes' (0: a standalone node)")
	flag.IntVar(&cfg.Cluster.Topics, "topics", 10, "cluster, deflate: topics the subscribers are spread over evenly (deflate: the feed, round-robin)")
	flag.StringVar(&pubTopics, "pub-topics", "1,1000", "cluster: publish-throughput steps, topics each (empty: none)")
	flag.IntVar(&cfg.Cluster.Publishers, "publishers", 64, "cluster: concurrent HTTP publishers of the throughput steps")
	flag.DurationVar(&cfg.Cluster.PubDuration, "pub-duration", 0, "cluster: publishing time of a throughput step (default -duration)")
	flag.IntVar(&cfg.Cluster.PacedPaths, "paced-publishers", 3, "cluster: publishers in parallel at a fixed rate, rate/N each (each batches what is due)")
	flag.StringVar(&cfg.Deflate.Mode, "deflate-mode", "", "deflate: label of the server's configuration (off, default, zero), the mode param of its results")
	flag.StringVar(&deflateKinds, "deflate-payloads", "quote,book", "deflate: payloads, quote (~135-byte top of book) and/or book (~600-byte 5-level book)")
	flag.IntVar(&cfg.Deflate.SubTopics, "sub-topics", 2, "deflate: topics each subscriber subscribes to (of -topics)")
	flag.BoolVar(&cfg.Deflate.NoOffer, "no-deflate-offer", false, "deflate: clients do not offer permessage-deflate")
	flag.StringVar(&tlsOpts.Addr, "tls-addr", "", "idle_tls, tls_handshake, broadcast_tls: host:port of the server's TLS listener (wss://, https://); -url stays the plain one (/stats, /publish)")
	flag.StringVar(&tlsOpts.CAFile, "tls-ca", "", "TLS scenarios: PEM certificate to trust (e.g. the one c1m gen-cert wrote); empty: no verification")
	flag.StringVar(&tlsOpts.Version, "tls-version", "1.3", "TLS scenarios: 1.3 or 1.2 (ECDHE, AES-128-GCM)")
	flag.StringVar(&tlsOpts.Curve, "tls-curve", "x25519", "TLS scenarios: key exchange x25519, p256 or mlkem (X25519MLKEM768)")
	flag.StringVar(&tlsOpts.Mode, "tls-mode", "healthz", "tls_handshake: after each handshake, healthz (GET /healthz, Connection: close, to EOF) or close (close_notify, to the server's EOF)")
	flag.IntVar(&tlsOpts.Runs, "runs", 3, "tls_handshake, broadcast_tls: repetitions (report the median)")
	flag.IntVar(&tlsOpts.MaxCount, "max-handshakes", 1000000, "tls_handshake: stop a run after this many handshakes")
	flag.DurationVar(&tlsOpts.Warmup, "tls-warmup", time.Second, "tls_handshake: uncounted handshakes before each run (negative: none)")
	flag.StringVar(&o, "o", "", "append results to this file (default stdout)")
	timeout := flag.Duration("timeout", 30*time.Minute, "abort the run after this long")
	flag.Parse()
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("server", cfg.Server)
	var err error
	if cfg.Conns, err = ints(conns); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench: -conns:", err)
		return 2
	}
	if cfg.Payloads, err = ints(payloads); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench: -payloads:", err)
		return 2
	}
	cfg.Rates = list(rates)
	cfg.Deflate.Kinds = list(deflateKinds)
	if cfg.Scenario == "deflate" {
		cfg.Deflate.Topics = cfg.Cluster.Topics
	}
	if cfg.Cluster.PubTopics, err = ints(pubTopics); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench: -pub-topics:", err)
		return 2
	}
	if cfg.Cluster.PubTopics == nil {
		cfg.Cluster.PubTopics = []int{} // none, not the default
	}
	cfg.Out = os.Stdout
	if o != "" {
		f, err := os.OpenFile(o, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "c1mbench:", err)
			return 1
		}
		defer f.Close()
		cfg.Out = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if loadgen.IsTLSScenario(cfg.Scenario) {
		if err := loadgen.RunTLS(ctx, cfg, tlsOpts); err != nil {
			cfg.Log.Error("run failed", "scenario", cfg.Scenario, "err", err)
			return 1
		}
		return 0
	}
	if err := loadgen.Run(ctx, cfg); err != nil {
		cfg.Log.Error("run failed", "scenario", cfg.Scenario, "err", err)
		return 1
	}
	return 0
}

func readResults(path string) ([]loadgen.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return loadgen.ReadResults(f)
}

func report(args []string) int {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "results.jsonl", "results file")
	out := fs.String("out", ".", "output directory")
	base := fs.String("baseline", "c1m", "server the ratios are computed for")
	headerFile := fs.String("header", "", "markdown file to put at the top of report.md")
	fs.Parse(args)
	res, err := readResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench report:", err)
		return 1
	}
	header := "# c1m benchmark report\n"
	if *headerFile != "" {
		b, err := os.ReadFile(*headerFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "c1mbench report:", err)
			return 1
		}
		header = string(b)
	}
	if err := loadgen.WriteReport(res, *out, *base, header); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench report:", err)
		return 1
	}
	return 0
}

// plot rewrites the gnuplot inputs (*.dat, plots.gp) from a results file and
// leaves report.md alone: a committed report gets new plots without a rerun.
func plot(args []string) int {
	fs := flag.NewFlagSet("plot", flag.ExitOnError)
	in := fs.String("in", "results.jsonl", "results file")
	out := fs.String("out", ".", "output directory")
	base := fs.String("baseline", "c1m", "server plotted first")
	fs.Parse(args)
	res, err := readResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench plot:", err)
		return 1
	}
	if err := loadgen.WritePlots(res, *out, *base); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench plot:", err)
		return 1
	}
	return 0
}

// centrifugoConfig prints the configuration the benchmark runs Centrifugo with.
func centrifugoConfig(args []string) int {
	fs := flag.NewFlagSet("centrifugo-config", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address")
	key := fs.String("api-key", "", "HTTP API key")
	fs.Parse(args)
	host, port, err := net.SplitHostPort(*addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || *key == "" {
		fmt.Fprintln(os.Stderr, "c1mbench centrifugo-config: need -addr HOST:PORT and -api-key")
		return 2
	}
	os.Stdout.Write(loadgen.CentrifugoConfig(host, p, *key))
	return 0
}

func check(args []string) int {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	in := fs.String("in", "results.jsonl", "results file")
	servers := fs.String("servers", "c1m,gorilla,gws,nbio", "servers that must have every number")
	scenarios := fs.String("scenarios", "connect,idle,broadcast,slow", "scenarios that must be present")
	planFlag := fs.String("plan", "", "server:scenario pairs that were run (instead of -servers x -scenarios)")
	fs.Parse(args)
	res, err := readResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench check:", err)
		return 1
	}
	var missing []string
	what := *servers
	if *planFlag != "" {
		plan, err := loadgen.ParsePlan(*planFlag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "c1mbench check: -plan:", err)
			return 2
		}
		missing = loadgen.CheckPlan(res, plan)
		what = "every server that ran it"
	} else {
		missing = loadgen.Check(res, list(*servers), list(*scenarios))
	}
	for _, m := range missing {
		fmt.Println("MISSING", m)
	}
	if len(missing) > 0 {
		return 1
	}
	fmt.Printf("check: %d results, every scenario has every number for %s\n", len(res), what)
	return 0
}

// tlsReport prints the markdown summary of the TLS scenarios (idle over wss
// against idle over ws, handshakes per second, broadcast over wss against ws).
func tlsReport(args []string) int {
	fs := flag.NewFlagSet("tls-report", flag.ExitOnError)
	in := fs.String("in", "results.jsonl", "results file")
	base := fs.String("baseline", "c1m", "server label")
	fs.Parse(args)
	res, err := readResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench tls-report:", err)
		return 1
	}
	s := loadgen.TLSSummary(res, *base)
	if s == "" {
		fmt.Fprintln(os.Stderr, "c1mbench tls-report: no TLS results of", *base, "in", *in)
		return 1
	}
	fmt.Print(s)
	return 0
}

// tlsRefServer runs the reference HTTPS server of the tls_handshake
// scenario (Go's net/http over crypto/tls) until SIGINT or SIGTERM.
func tlsRefServer(args []string) int {
	fs := flag.NewFlagSet("tls-ref-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "plain HTTP listener (/stats)")
	tlsAddr := fs.String("tls-addr", "127.0.0.1:8091", "HTTPS listener (/healthz)")
	cert := fs.String("cert", "cert.pem", "PEM certificate")
	key := fs.String("key", "key.pem", "PEM key")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadgen.RunTLSRefServer(ctx, *addr, *tlsAddr, *cert, *key); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench tls-ref-server:", err)
		return 1
	}
	return 0
}
