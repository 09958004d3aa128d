package loadgen

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The TLS scenarios measure what wss:// and https:// cost a server that
// serves both a plain listener (-url, where /stats and /publish are) and a
// TLS one (TLSOptions.Addr):
//
//   - idle_tls: the idle scenario over wss://: N connections, each a full
//     TLS handshake then the WebSocket upgrade, held idle; heap, RSS and
//     goroutines per connection from /stats and /proc like idle. The clients
//     are crypto/tls connections in worker processes (TLSWorkerEnv), held
//     with no goroutine and no read pending: a Go TLS client is heavier than
//     the epoll loop's raw sockets, and a worker stays below the per-process
//     open-file limit (MaxPerWorker).
//   - tls_handshake: full handshakes per second (no resumption: no client
//     session cache) from many concurrent dialers for a bounded time, per run
//     the server's CPU seconds per handshake; each handshake is followed by
//     one HTTPS GET /healthz with Connection: close (read to EOF), which
//     proves the server finished it (TLSOptions.Mode "close": close_notify
//     and wait for the server's EOF instead).
//   - broadcast_tls: the same subscribers and publisher over ws:// and over
//     wss:// (gorilla/websocket clients in this process, both sets connected
//     at once on their own topics), measured alternately: deliveries per
//     server CPU-second, latency and wire bytes per delivery, so the ratio
//     wss/ws is the TLS record layer's cost per delivery.

// TLS scenario names.
const (
	ScenarioIdleTLS      = "idle_tls"
	ScenarioTLSHandshake = "tls_handshake"
	ScenarioBroadcastTLS = "broadcast_tls"
)

// IsTLSScenario tells whether RunTLS (not Run) runs the scenario.
func IsTLSScenario(s string) bool {
	return s == ScenarioIdleTLS || s == ScenarioTLSHandshake || s == ScenarioBroadcastTLS
}

// TLSOptions are the TLS scenarios' own settings.
type TLSOptions struct {
	Addr     string        // host:port of the server's TLS listener
	CAFile   string        // PEM certificate(s) to trust; "" skips verification (InsecureSkipVerify)
	Version  string        // "1.3" (default) or "1.2" (ECDHE with AES-128-GCM)
	Curve    string        // key exchange: x25519 (default), p256, mlkem (X25519MLKEM768, Go's and browsers' default)
	Mode     string        // tls_handshake: "healthz" (default) or "close"
	Runs     int           // tls_handshake, broadcast_tls: repetitions; default 3
	MaxCount int           // tls_handshake: stop a run after this many handshakes; default 1,000,000
	Warmup   time.Duration // tls_handshake: handshakes before each run, not counted; default 1s
}

func (o *TLSOptions) defaults() {
	if o.Version == "" {
		o.Version = "1.3"
	}
	if o.Curve == "" {
		o.Curve = "x25519"
	}
	if o.Mode == "" {
		o.Mode = "healthz"
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.MaxCount <= 0 {
		o.MaxCount = 1_000_000
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
}

// tlsSpec is what a client needs to build its tls.Config (also sent to
// worker processes).
type tlsSpec struct {
	CA         string `json:"ca,omitempty"` // PEM
	Version    string `json:"version"`
	Curve      string `json:"curve"`
	ServerName string `json:"server_name"`
}

// clientConfig builds a client configuration with no session cache: every
// handshake is a full one.
func (s tlsSpec) clientConfig() (*tls.Config, error) {
	c := &tls.Config{ServerName: s.ServerName, ClientSessionCache: nil}
	if s.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.CA)) {
			return nil, errors.New("tls: no certificate in the CA file")
		}
		c.RootCAs = pool
	} else {
		c.InsecureSkipVerify = true
	}
	switch s.Version {
	case "1.3", "":
		c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	case "1.2":
		c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	default:
		return nil, fmt.Errorf("tls: version %q (1.3 or 1.2)", s.Version)
	}
	switch s.Curve {
	case "x25519", "":
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	case "p256":
		c.CurvePreferences = []tls.CurveID{tls.CurveP256}
	case "mlkem":
		c.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768}
	default:
		return nil, fmt.Errorf("tls: curve %q (x25519, p256 or mlkem)", s.Curve)
	}
	return c, nil
}

func (o TLSOptions) spec() (tlsSpec, error) {
	s := tlsSpec{Version: o.Version, Curve: o.Curve}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return s, fmt.Errorf("-tls-addr %q: %w", o.Addr, err)
	}
	s.ServerName = host
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return s, err
		}
		s.CA = string(b)
	}
	_, err = s.clientConfig()
	return s, err
}

// CertLabel names a certificate's key: ecdsa-p256, rsa-2048, ...
func CertLabel(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case *rsa.PublicKey:
		return "rsa-" + strconv.Itoa(k.N.BitLen())
	}
	return strings.ToLower(c.PublicKeyAlgorithm.String())
}

// tlsVersionName is 1.3 or 1.2 for a negotiated version.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "1.3"
	case tls.VersionTLS12:
		return "1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}

// wssDial opens one wss:// connection from src (may be nil): TCP, the full
// TLS handshake, the WebSocket upgrade of path and, when topic is not empty,
// the bench protocol's subscription (until its ok). Deadlines are cleared
// before it returns: the connection is left with no read pending.
func wssDial(ctx context.Context, src *net.TCPAddr, addr, path, topic string, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if src != nil {
		d.LocalAddr = src
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if err := wsUpgradeSub(tc, addr, path, topic); err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// wsUpgradeSub upgrades conn to a WebSocket at path and subscribes to topic
// (when not empty), reading no further than the answers.
func wsUpgradeSub(conn net.Conn, host, path, topic string) error {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	if _, err := conn.Write(AppendUpgradeRequest(nil, host, path, key)); err != nil {
		return fmt.Errorf("upgrade request: %w", err)
	}
	buf := make([]byte, 0, 512)
	var n int
	for n == 0 {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
		m, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if n, err = checkUpgrade(buf, key, err); err != nil {
			return err
		}
	}
	rest := buf[n:]
	if topic == "" {
		return nil
	}
	sub := fmt.Appendf(nil, `{"op":"sub","id":1,"topics":[%q]}`, topic)
	if _, err := conn.Write(AppendFrame(nil, OpText, sub, [4]byte{1, 2, 3, 4})); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	rd := make([]byte, 4096)
	for {
		for {
			f, m, err := ParseFrame(rest, maxFrame)
			if err != nil {
				return err
			}
			if m == 0 {
				break
			}
			if f.Op == OpText {
				if kind, id, _ := ScanMessage(f.Payload); kind == KindOK && id == 1 {
					return nil
				}
			}
			rest = rest[m:]
		}
		m, err := conn.Read(rd)
		if err != nil {
			return fmt.Errorf("waiting for the sub reply: %w", err)
		}
		rest = append(rest, rd[:m]...)
	}
}

func checkUpgrade(buf []byte, key string, readErr error) (int, error) {
	n, err := CheckUpgradeResponse(buf, AcceptKey(key))
	if err != nil {
		line, _, _ := strings.Cut(string(buf), "\r\n")
		return 0, fmt.Errorf("upgrade: %w (%q)", err, line)
	}
	if n == 0 && readErr != nil {
		return 0, fmt.Errorf("upgrade response: %w", readErr)
	}
	return n, nil
}

// TLS worker processes: the executable re-executed with TLSWorkerEnv set
// (an init function turns it into a worker, in c1mbench and in the test
// binary alike). A worker reads one JSON request per line on stdin and
// answers each with one line on stdout. It holds its connections with no
// goroutine each.

// TLSWorkerEnv is the environment variable that turns the executable into a
// TLS worker.
const TLSWorkerEnv = "C1MBENCH_TLS_WORKER"

func init() {
	if os.Getenv(TLSWorkerEnv) == "" {
		return
	}
	if err := runTLSWorker(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "c1mbench tls worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type tlsWorkerReq struct {
	Op          string  `json:"op"` // dial, close
	Spec        tlsSpec `json:"spec"`
	Addr        string  `json:"addr"`
	Path        string  `json:"path"`
	Topic       string  `json:"topic"`
	Source      string  `json:"source"`
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	TimeoutMs   int     `json:"timeout_ms"`
}

type tlsWorkerResp struct {
	Err       string     `json:"err,omitempty"`
	OK        int        `json:"ok"`
	Failed    int        `json:"failed"`
	FirstErr  string     `json:"first_err,omitempty"`
	Open      int        `json:"open"`
	ElapsedNs int64      `json:"elapsed_ns"`
	Dial      SparseHist `json:"dial"` // TCP connect to upgrade (and sub) done, ns
	Cert      string     `json:"cert,omitempty"`
	Version   string     `json:"version,omitempty"`
}

func runTLSWorker(r io.Reader, w io.Writer) error {
	var conns []*tls.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	enc := json.NewEncoder(w)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var req tlsWorkerReq
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("bad request: %w", err)
		}
		switch req.Op {
		case "dial":
			resp, held := tlsWorkerDial(req)
			conns = append(conns, held...)
			resp.Open = len(conns)
			if err := enc.Encode(resp); err != nil {
				return err
			}
		case "close":
			for _, c := range conns {
				c.Close()
			}
			conns = nil
			return enc.Encode(tlsWorkerResp{})
		default:
			if err := enc.Encode(tlsWorkerResp{Err: "unknown op " + req.Op}); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// tlsWorkerDial opens req.N wss connections, req.Concurrency at a time.
func tlsWorkerDial(req tlsWorkerReq) (tlsWorkerResp, []*tls.Conn) {
	var resp tlsWorkerResp
	cfg, err := req.Spec.clientConfig()
	if err != nil {
		resp.Err = err.Error()
		return resp, nil
	}
	var src *net.TCPAddr
	if req.Source != "" {
		src = &net.TCPAddr{IP: net.ParseIP(req.Source)}
	}
	timeout := time.Duration(max(req.TimeoutMs, 1000)) * time.Millisecond
	var (
		mu    sync.Mutex
		held  = make([]*tls.Conn, 0, req.N)
		hist  Histogram
		next  atomic.Int64
		wg    sync.WaitGroup
		start = time.Now()
	)
	for range max(1, min(req.Concurrency, req.N)) {
		wg.Go(func() {
			for next.Add(1) <= int64(req.N) {
				t0 := time.Now()
				c, err := wssDial(context.Background(), src, req.Addr, req.Path, req.Topic, cfg, timeout)
				el := time.Since(t0).Nanoseconds()
				mu.Lock()
				if err != nil {
					resp.Failed++
					if resp.FirstErr == "" {
						resp.FirstErr = err.Error()
					}
				} else {
					resp.OK++
					held = append(held, c)
					hist.Record(el)
					if resp.Cert == "" {
						st := c.ConnectionState()
						resp.Version = tlsVersionName(st.Version)
						if len(st.PeerCertificates) > 0 {
							resp.Cert = CertLabel(st.PeerCertificates[0])
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	resp.ElapsedNs = time.Since(start).Nanoseconds()
	resp.Dial = hist.Sparse()
	return resp, held
}

type tlsWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	src string
}

// tlsPool is a set of TLS worker processes; worker i dials from
// 127.0.0.(srcBase+i).
type tlsPool struct{ workers []*tlsWorker }

func newTLSPool(n, srcBase int) (*tlsPool, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &tlsPool{}
	for i := range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), TLSWorkerEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.Close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.Close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.Close()
			return nil, fmt.Errorf("start tls worker: %w", err)
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		p.workers = append(p.workers, &tlsWorker{cmd: cmd, in: in, out: sc, src: fmt.Sprintf("127.0.0.%d", srcBase+i)})
	}
	return p, nil
}

func (w *tlsWorker) call(req tlsWorkerReq) (tlsWorkerResp, error) {
	var resp tlsWorkerResp
	b, _ := json.Marshal(req)
	if _, err := w.in.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("tls worker %d: %w", w.cmd.Process.Pid, err)
	}
	if !w.out.Scan() {
		err := w.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return resp, fmt.Errorf("tls worker %d: %w", w.cmd.Process.Pid, err)
	}
	if err := json.Unmarshal(w.out.Bytes(), &resp); err != nil {
		return resp, err
	}
	if resp.Err != "" {
		return resp, errors.New(resp.Err)
	}
	return resp, nil
}

// Dial opens total more wss connections split evenly over the workers.
func (p *tlsPool) Dial(req tlsWorkerReq, total int) (tlsWorkerResp, error) {
	var (
		mu   sync.Mutex
		all  tlsWorkerResp
		hist Histogram
		errs = make([]error, len(p.workers))
		wg   sync.WaitGroup
	)
	start := time.Now()
	for i, w := range p.workers {
		r := req
		r.Op, r.Source = "dial", w.src
		r.N = total / len(p.workers)
		if i < total%len(p.workers) {
			r.N++
		}
		if r.N == 0 {
			continue
		}
		wg.Go(func() {
			resp, err := w.call(r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = err
				return
			}
			all.OK += resp.OK
			all.Failed += resp.Failed
			all.Open += resp.Open
			if all.FirstErr == "" {
				all.FirstErr = resp.FirstErr
			}
			if all.Cert == "" {
				all.Cert, all.Version = resp.Cert, resp.Version
			}
			hist.MergeSparse(resp.Dial)
		})
	}
	wg.Wait()
	all.ElapsedNs = time.Since(start).Nanoseconds()
	all.Dial = hist.Sparse()
	return all, errors.Join(errs...)
}

// Close asks every worker to close its connections and exit, then waits
// (killing a worker that takes more than 10 s).
func (p *tlsPool) Close() {
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() { stopWorker(w.cmd, w.in, func() { w.call(tlsWorkerReq{Op: "close"}) }) })
	}
	wg.Wait()
}

// RunTLS executes one of the TLS scenarios (see IsTLSScenario) and writes
// one Result per measurement to cfg.Out.
func RunTLS(ctx context.Context, cfg Config, o TLSOptions) error {
	cfg.defaults()
	o.defaults()
	if !IsTLSScenario(cfg.Scenario) {
		return fmt.Errorf("RunTLS: %q is not a TLS scenario", cfg.Scenario)
	}
	if cfg.Proto != ProtoNative {
		return fmt.Errorf("scenario %s: native protocol (c1m) only", cfg.Scenario)
	}
	if o.Addr == "" {
		return fmt.Errorf("scenario %s needs -tls-addr", cfg.Scenario)
	}
	spec, err := o.spec()
	if err != nil {
		return err
	}
	u := strings.TrimPrefix(strings.TrimPrefix(cfg.URL, "http://"), "https://")
	r := &runner{
		cfg:  cfg,
		addr: strings.TrimSuffix(u, "/"),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	r.stats = &nativeStats{client: r.http, url: cfg.URL}
	t := &tlsRunner{runner: r, o: o, spec: spec}
	switch cfg.Scenario {
	case ScenarioIdleTLS:
		if len(cfg.Conns) == 0 {
			return errors.New("no connection counts")
		}
		return t.idle(ctx)
	case ScenarioTLSHandshake:
		return t.handshakes(ctx)
	default:
		if len(cfg.Conns) == 0 {
			return errors.New("no connection counts")
		}
		return t.broadcast(ctx)
	}
}

type tlsRunner struct {
	*runner
	o    TLSOptions
	spec tlsSpec
}

func (t *tlsRunner) params(extra map[string]string) map[string]string {
	p := map[string]string{"tls_version": t.o.Version, "curve": t.o.Curve}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// idle is idle_tls: the idle scenario's steps and metrics over wss://.
func (t *tlsRunner) idle(ctx context.Context) error {
	base, err := t.settleEmpty(ctx)
	if err != nil {
		return fmt.Errorf("empty server: %w", err)
	}
	maxN := slices.Max(t.cfg.Conns)
	p, err := newTLSPool(workersFor(maxN, t.cfg.Workers), t.cfg.SrcBase)
	if err != nil {
		return err
	}
	defer p.Close()
	held := 0
	for _, step := range t.cfg.Conns {
		if step <= held {
			continue
		}
		res, err := p.Dial(tlsWorkerReq{Spec: t.spec, Addr: t.o.Addr, Path: t.cfg.wsPath(),
			Concurrency: t.cfg.Concurrency, TimeoutMs: 30000}, step-held)
		if err != nil {
			return err
		}
		held += res.OK
		if res.Failed > 0 {
			t.cfg.Log.Warn("wss dial failures", "failed", res.Failed, "first", res.FirstErr)
		}
		s, err := waitConns(ctx, t.stats, func(n int64) bool { return n >= int64(held) }, 60*time.Second)
		if err != nil {
			return fmt.Errorf("server did not reach %d conns: %w", held, err)
		}
		var dial Histogram
		dial.MergeSparse(res.Dial)
		n := float64(held)
		met := map[string]float64{
			"held":                 n,
			"failed":               float64(res.Failed),
			"heap_alloc_per_conn":  (float64(s.HeapAlloc) - float64(base.HeapAlloc)) / n,
			"heap_inuse_per_conn":  (float64(s.HeapInuse) - float64(base.HeapInuse)) / n,
			"rss_per_conn":         (float64(s.RSS) - float64(base.RSS)) / n,
			"kernel_slab_per_conn": (float64(s.Slab) - float64(base.Slab)) / n,
			"goroutines_per_conn":  (float64(s.Goroutines) - float64(base.Goroutines)) / n,
			"server_goroutines":    float64(s.Goroutines),
			"base_goroutines":      float64(base.Goroutines),
			"server_rss_mb":        float64(s.RSS) / (1 << 20),
			"server_heap_alloc_mb": float64(s.HeapAlloc) / (1 << 20),
			"dials_per_s":          float64(res.OK) / (float64(res.ElapsedNs) / 1e9),
			"dial_p50_us":          us(dial.Quantile(.5)),
			"dial_p99_us":          us(dial.Quantile(.99)),
		}
		if e := t.extras(ctx); e.TLS != nil || e.StackInuse != nil {
			if e.StackInuse != nil {
				met["server_stack_inuse_mb"] = *e.StackInuse / (1 << 20)
			}
			if e.HeapSys != nil {
				met["server_heap_sys_mb"] = *e.HeapSys / (1 << 20)
			}
			if e.TLS != nil && e.TLS.Conns != nil {
				met["server_tls_conns"] = *e.TLS.Conns
			}
			if e.TLS != nil && e.TLS.Resumed != nil {
				met["server_tls_resumed"] = *e.TLS.Resumed
			}
		}
		t.emit(Result{Scenario: ScenarioIdleTLS, Params: t.params(map[string]string{"conns": strconv.Itoa(step), "cert": res.Cert}), Metrics: met, Note: "each connection: TCP, a full TLS " + res.Version + " handshake (" + res.Cert + "), the WebSocket upgrade; held with no client goroutine" + noteErr(res.FirstErr)})
	}
	return nil
}

// tlsExtras is what the TLS scenarios read from a c1m /stats beyond
// ServerSample: its TLS counters and memory figures (nil when absent).
type tlsExtras struct {
	StackInuse *float64 `json:"stack_inuse"`
	HeapSys    *float64 `json:"heap_sys"`
	TLS        *struct {
		Conns      *float64 `json:"conns"`
		Handshakes *float64 `json:"handshakes"`
		Resumed    *float64 `json:"resumed"`
		Errors     *float64 `json:"handshake_errors"`
		Timeouts   *float64 `json:"handshake_timeouts"`
		TLS13      *float64 `json:"tls13"`
		TLS12      *float64 `json:"tls12"`
	} `json:"tls"`
}

// extras GETs /stats (no GC) for the TLS figures; an error leaves them out.
func (t *tlsRunner) extras(ctx context.Context) tlsExtras {
	var e tlsExtras
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.cfg.URL+"/stats", nil)
	if err != nil {
		return e
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode == http.StatusOK {
		json.Unmarshal(body, &e)
	}
	return e
}

// tlsCounterDeltas adds the server's TLS counters, after minus before, to met.
func tlsCounterDeltas(met map[string]float64, before, after tlsExtras) {
	if before.TLS == nil || after.TLS == nil {
		return
	}
	d := func(name string, b, a *float64) {
		if a != nil && b != nil {
			met[name] = *a - *b
		}
	}
	d("server_tls_handshakes", before.TLS.Handshakes, after.TLS.Handshakes)
	d("server_tls_resumed", before.TLS.Resumed, after.TLS.Resumed)
	d("server_tls_handshake_errors", before.TLS.Errors, after.TLS.Errors)
	d("server_tls_handshake_timeouts", before.TLS.Timeouts, after.TLS.Timeouts)
	d("server_tls13", before.TLS.TLS13, after.TLS.TLS13)
	d("server_tls12", before.TLS.TLS12, after.TLS.TLS12)
}

func noteErr(e string) string {
	if e == "" {
		return ""
	}
	return "; first error: " + e
}

// hsStats is one handshake run's client-side counts.
type hsStats struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	cert, ver  atomic.Value
	mu         sync.Mutex
	lat        Histogram
}

// handshakeOnce does one full handshake from src and proves the server
// finished it (GET /healthz, Connection: close, read to EOF; or
// close_notify and the server's EOF).
func handshakeOnce(ctx context.Context, src *net.TCPAddr, addr string, cfg *tls.Config, mode string, st *hsStats) error {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: src}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if st.cert.Load() == nil {
		cs := tc.ConnectionState()
		st.ver.Store(tlsVersionName(cs.Version))
		if len(cs.PeerCertificates) > 0 {
			st.cert.Store(CertLabel(cs.PeerCertificates[0]))
		}
	}
	switch mode {
	case "close":
		if err := tc.CloseWrite(); err != nil {
			return err
		}
	default:
		if _, err := io.WriteString(tc, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
			return err
		}
	}
	var buf [1024]byte
	var got []byte
	for {
		n, err := tc.Read(buf[:])
		if len(got) < 16 {
			got = append(got, buf[:n]...)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || (mode == "close" && isReset(err)) {
				break
			}
			return fmt.Errorf("after the handshake: %w", err)
		}
	}
	if mode != "close" && !strings.HasPrefix(string(got), "HTTP/1.1 200") {
		return fmt.Errorf("GET /healthz: %q", got)
	}
	return nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// hsLoop runs conc dialers, each a fresh connection per handshake from the
// given source addresses in turn, starting handshakes for d (or until
// maxCount were started); the ones in flight at the end are finished and
// counted, so the caller's wall time and server CPU cover all of them.
func hsLoop(ctx context.Context, addr string, cfg *tls.Config, mode string, srcs []*net.TCPAddr, conc, maxCount int, d time.Duration) *hsStats {
	st := &hsStats{}
	end := time.Now().Add(d)
	var started atomic.Int64
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			for k := i; time.Now().Before(end) && ctx.Err() == nil && started.Add(1) <= int64(maxCount); k += conc {
				t0 := time.Now()
				err := handshakeOnce(ctx, srcs[k%len(srcs)], addr, cfg, mode, st)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					st.failed.Add(1)
					st.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				st.ok.Add(1)
				st.mu.Lock()
				st.lat.Record(time.Since(t0).Nanoseconds())
				st.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return st
}

// handshakes is tls_handshake: o.Runs bounded runs of Concurrency dialers.
func (t *tlsRunner) handshakes(ctx context.Context) error {
	cfg, err := t.spec.clientConfig()
	if err != nil {
		return err
	}
	s, err := t.stats.Sample(ctx)
	if err != nil {
		return err
	}
	pid := s.Pid
	var srcs []*net.TCPAddr
	for i := range 8 {
		srcs = append(srcs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(t.cfg.SrcBase+i))})
	}
	conc := max(1, t.cfg.Concurrency)
	for run := 1; run <= t.o.Runs; run++ {
		if t.o.Warmup > 0 {
			w := hsLoop(ctx, t.o.Addr, cfg, t.o.Mode, srcs, conc, t.o.MaxCount, t.o.Warmup)
			if w.ok.Load() == 0 {
				e, _ := w.firstErr.Load().(string)
				return fmt.Errorf("warm-up: no handshake succeeded: %s", e)
			}
		}
		x0 := t.extras(ctx)
		c0, err := procCPUTicks(pid)
		if err != nil {
			return err
		}
		g0, _ := procCPUTicks(os.Getpid())
		start := time.Now()
		st := hsLoop(ctx, t.o.Addr, cfg, t.o.Mode, srcs, conc, t.o.MaxCount, t.cfg.Duration)
		secs := time.Since(start).Seconds()
		c1, err := procCPUTicks(pid)
		if err != nil {
			return err
		}
		g1, _ := procCPUTicks(os.Getpid())
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x1 := t.extras(ctx)
		ok := float64(st.ok.Load())
		cpu := float64(c1-c0) / ClockTicks
		cert, _ := st.cert.Load().(string)
		ver, _ := st.ver.Load().(string)
		e, _ := st.firstErr.Load().(string)
		met := map[string]float64{
			"handshakes":                float64(st.ok.Load()),
			"failed":                    float64(st.failed.Load()),
			"handshakes_per_s":          ok / secs,
			"server_cpu_s":              cpu,
			"server_cpu_cores":          cpu / secs,
			"server_cpu_us_per_hs":      cpu / ok * 1e6,
			"handshakes_per_server_cpu": ok / cpu,
			"hs_p50_us":                 us(st.lat.Quantile(.5)),
			"hs_p99_us":                 us(st.lat.Quantile(.99)),
			"loadgen_cpu_cores":         float64(g1-g0) / ClockTicks / secs,
			"wall_s":                    secs,
		}
		tlsCounterDeltas(met, x0, x1) // the server's own count (c1m's /stats tls), resumptions included
		t.emit(Result{Scenario: ScenarioTLSHandshake, Params: t.params(map[string]string{
			"cert": cert, "run": strconv.Itoa(run), "concurrency": strconv.Itoa(conc), "mode": t.o.Mode,
		}), Metrics: met, Note: "TLS " + ver + " full handshakes (no session cache), " + t.o.Mode + " after each" + noteErr(e)})
	}
	return nil
}
