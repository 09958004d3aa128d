package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost
// with an ECDSA P-256 key, or an RSA key of rsaBits when rsaBits > 0.
func selfSigned(t *testing.T, rsaBits int) (tls.Certificate, []byte) {
	t.Helper()
	var key any
	var pub any
	if rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "c1mbench test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLSClientConfig(t *testing.T) {
	for _, tc := range []struct {
		spec    tlsSpec
		min     uint16
		curve   tls.CurveID
		wantErr bool
	}{
		{spec: tlsSpec{}, min: tls.VersionTLS13, curve: tls.X25519},
		{spec: tlsSpec{Version: "1.2", Curve: "p256"}, min: tls.VersionTLS12, curve: tls.CurveP256},
		{spec: tlsSpec{Version: "1.3", Curve: "mlkem"}, min: tls.VersionTLS13, curve: tls.X25519MLKEM768},
		{spec: tlsSpec{Version: "1.1"}, wantErr: true},
		{spec: tlsSpec{Curve: "p384"}, wantErr: true},
		{spec: tlsSpec{CA: "not a pem"}, wantErr: true},
	} {
		c, err := tc.spec.clientConfig()
		if tc.wantErr {
			if err == nil {
				t.Errorf("%+v: no error", tc.spec)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc.spec, err)
		}
		if c.MinVersion != tc.min || c.MaxVersion != tc.min || len(c.CurvePreferences) != 1 || c.CurvePreferences[0] != tc.curve {
			t.Errorf("%+v: versions %x-%x curves %v", tc.spec, c.MinVersion, c.MaxVersion, c.CurvePreferences)
		}
		if c.ClientSessionCache != nil || !c.InsecureSkipVerify {
			t.Errorf("%+v: a session cache or verification", tc.spec)
		}
	}
	_, caPEM := selfSigned(t, 0)
	c, err := tlsSpec{CA: string(caPEM)}.clientConfig()
	if err != nil || c.InsecureSkipVerify || c.RootCAs == nil {
		t.Fatalf("with a CA: %v, skip verify %v", err, c != nil && c.InsecureSkipVerify)
	}
}

func TestCertLabel(t *testing.T) {
	ec, _ := selfSigned(t, 0)
	rs, _ := selfSigned(t, 2048)
	if got := CertLabel(ec.Leaf); got != "ecdsa-p256" {
		t.Errorf("ECDSA P-256: %q", got)
	}
	if got := CertLabel(rs.Leaf); got != "rsa-2048" {
		t.Errorf("RSA 2048: %q", got)
	}
}

func TestMedianOf(t *testing.T) {
	if m := medianOf([]float64{3, 1, 2}); m != 2 {
		t.Errorf("odd: %v", m)
	}
	if m := medianOf([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
	if m := medianOf(nil); m == m {
		t.Errorf("none: %v, want NaN", m)
	}
}

// tlsBenchServer is the test bench server (newBenchServer) on a plain and a
// TLS listener sharing its state, plus GET /healthz on both.
func tlsBenchServer(t *testing.T, cert tls.Certificate) (plainURL, tlsAddr string) {
	t.Helper()
	srv := newBenchServer(t)
	inner := srv.Config.Handler
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		inner.ServeHTTP(w, r)
	})
	srv.Config.Handler = h
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return srv.URL, ts.Listener.Addr().String()
}

func runTLSScenario(t *testing.T, url string, cfg Config, o TLSOptions) []Result {
	t.Helper()
	var out bytes.Buffer
	cfg.Server, cfg.URL, cfg.Out = "test", url, &out
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := RunTLS(ctx, cfg, o); err != nil {
		t.Fatalf("%s: %v", cfg.Scenario, err)
	}
	res, err := ReadResults(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatalf("%s: no results", cfg.Scenario)
	}
	return res
}

func TestWSSDial(t *testing.T) {
	cert, caPEM := selfSigned(t, 0)
	_, addr := tlsBenchServer(t, cert)
	cfg, err := tlsSpec{CA: string(caPEM), ServerName: "127.0.0.1"}.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := wssDial(context.Background(), nil, addr, "/ws", "bench.0", cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.ConnectionState(); st.Version != tls.VersionTLS13 || st.DidResume {
		t.Errorf("version %x resumed %v", st.Version, st.DidResume)
	}
	if _, err := wssDial(context.Background(), nil, addr, "/nope", "", cfg, 5*time.Second); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("upgrade of a 404 path: %v", err)
	}
	bad, _ := selfSigned(t, 0)
	_, badPEM := bad, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bad.Certificate[0]})
	cfg2, _ := tlsSpec{CA: string(badPEM), ServerName: "127.0.0.1"}.clientConfig()
	if _, err := wssDial(context.Background(), nil, addr, "/ws", "", cfg2, 5*time.Second); err == nil {
		t.Error("a certificate signed by another key was trusted")
	}
}

func TestTLSScenariosEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes and opens TLS connections")
	}
	cert, _ := selfSigned(t, 0)
	url, addr := tlsBenchServer(t, cert)
	o := TLSOptions{Addr: addr, Runs: 2, Warmup: -1}

	t.Run("idle_tls", func(t *testing.T) {
		res := runTLSScenario(t, url, Config{Scenario: ScenarioIdleTLS, Conns: []int{20, 60}, Workers: 2, Concurrency: 8}, o)
		if len(res) != 2 {
			t.Fatalf("want 2 results, got %d", len(res))
		}
		for i, want := range []float64{20, 60} {
			r := res[i]
			if got := metric(t, r, "held"); got != want || metric(t, r, "failed") != 0 {
				t.Errorf("held %v failed %v, want %v", got, r.Metrics["failed"], want)
			}
			if r.Params["cert"] != "ecdsa-p256" || r.Params["tls_version"] != "1.3" {
				t.Errorf("params %v", r.Params)
			}
			metric(t, r, "heap_alloc_per_conn")
			metric(t, r, "rss_per_conn")
			if metric(t, r, "server_goroutines") < metric(t, r, "held") {
				t.Errorf("the test server has a goroutine per connection: %v", r.Metrics)
			}
		}
	})
	t.Run("tls_handshake", func(t *testing.T) {
		for _, mode := range []string{"healthz", "close"} {
			for _, ver := range []string{"1.3", "1.2"} {
				o := o
				o.Mode, o.Version = mode, ver
				res := runTLSScenario(t, url, Config{Scenario: ScenarioTLSHandshake, Duration: 300 * time.Millisecond, Concurrency: 4}, o)
				if len(res) != 2 {
					t.Fatalf("want 2 runs, got %d", len(res))
				}
				for _, r := range res {
					if metric(t, r, "handshakes") < 5 || metric(t, r, "failed") != 0 {
						t.Errorf("%s %s: %v (%s)", mode, ver, r.Metrics, r.Note)
					}
					if r.Params["cert"] != "ecdsa-p256" || r.Params["mode"] != mode || !strings.Contains(r.Note, "TLS "+ver) {
						t.Errorf("params %v note %q", r.Params, r.Note)
					}
					metric(t, r, "server_cpu_us_per_hs")
				}
			}
		}
	})
	t.Run("broadcast_tls", func(t *testing.T) {
		res := runTLSScenario(t, url, Config{Scenario: ScenarioBroadcastTLS, Conns: []int{10}, Payloads: []int{64},
			Rates: []string{"100"}, Duration: 300 * time.Millisecond}, o)
		if len(res) != 4 {
			t.Fatalf("want 4 results (2 runs x ws, wss), got %d", len(res))
		}
		wire := map[string]float64{}
		for _, r := range res {
			if metric(t, r, "delivered_ratio") != 1 || metric(t, r, "published") < 10 {
				t.Errorf("%v: %v", r.Params, r.Metrics)
			}
			wire[r.Params["mode"]] = metric(t, r, "wire_bytes_per_deliv")
		}
		if !(wire["wss"] > wire["ws"]) {
			t.Errorf("wire bytes per delivery: wss %v, ws %v: no record overhead?", wire["wss"], wire["ws"])
		}
		s := TLSSummary(res, "test")
		if !strings.Contains(s, "## Broadcast over wss") || !strings.Contains(s, "| wss/ws |") {
			t.Errorf("summary:\n%s", s)
		}
	})
}

func TestTLSSummary(t *testing.T) {
	idle := func(sc, conns string, heap float64) Result {
		return Result{Server: "c1m", Scenario: sc, Params: map[string]string{"conns": conns, "cert": "ecdsa-p256"},
			Metrics: map[string]float64{"heap_alloc_per_conn": heap, "heap_inuse_per_conn": heap, "rss_per_conn": 2 * heap,
				"server_goroutines": 20, "base_goroutines": 18, "goroutines_per_conn": 0}}
	}
	hs := func(run string, rate float64) Result {
		return Result{Server: "c1m", Scenario: ScenarioTLSHandshake, Params: map[string]string{"cert": "rsa-2048", "tls_version": "1.3", "curve": "x25519", "mode": "healthz", "run": run},
			Metrics: map[string]float64{"handshakes_per_s": rate, "server_cpu_us_per_hs": 1e6 / rate}}
	}
	res := []Result{idle("idle", "19000", 2000), idle(ScenarioIdleTLS, "19000", 6000), hs("1", 900), hs("2", 1000), hs("3", 5000),
		{Server: "other", Scenario: ScenarioIdleTLS, Params: map[string]string{"conns": "5"}}}
	s := TLSSummary(res, "c1m")
	for _, want := range []string{"## Idle connections", "| 19000 | wss/ws | | | 3.00x |", "20 (18)", "## Full TLS handshakes", "| c1m | rsa-2048 | 1.3 | x25519 | healthz | 3 | 1000 | 1000 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "| 5 |") {
		t.Errorf("another server's rows:\n%s", s)
	}
	if TLSSummary(res[:1], "c1m") != "" {
		t.Error("a summary without TLS rows")
	}
}

// startC1MTLS builds c1m and starts it with a plain and a TLS listener on a
// certificate from its gen-cert (skips when this c1m has no TLS yet).
func startC1MTLS(t *testing.T) (url, tlsAddr, caFile string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "c1m")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/c1mhq/c1m/cmd/c1m")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build c1m: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	if !bytes.Contains(help, []byte("-tls-addr")) {
		t.Skip("this c1m has no --tls-addr")
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command(bin, "gen-cert", "--cert", cert, "--key", key).CombinedOutput(); err != nil {
		t.Fatalf("c1m gen-cert: %v\n%s", err, out)
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addr, tlsAddr := free(), free()
	cmd := exec.Command(bin, "--addr", addr, "--tls-addr", tlsAddr, "--tls-cert", cert, "--tls-key", key, "--demo=false", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url = "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/stats"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", tlsAddr); err == nil {
				c.Close()
				return url, tlsAddr, cert
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("c1m did not start")
		}
	}
}

// The TLS scenarios against c1m itself, trusting the certificate its
// gen-cert wrote.
func TestTLSScenariosC1M(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts c1m")
	}
	url, addr, ca := startC1MTLS(t)
	o := TLSOptions{Addr: addr, CAFile: ca, Runs: 1, Warmup: -1}
	res := runTLSScenario(t, url, Config{Scenario: ScenarioIdleTLS, Conns: []int{50}, Concurrency: 10}, o)
	if r := res[0]; metric(t, r, "held") != 50 || metric(t, r, "failed") != 0 || r.Params["cert"] != "ecdsa-p256" {
		t.Errorf("idle_tls: %v %v (%s)", r.Params, r.Metrics, r.Note)
	}
	if g := metric(t, res[0], "goroutines_per_conn"); g > 0.5 {
		t.Errorf("c1m: %v goroutines per idle wss connection", g)
	}
	res = runTLSScenario(t, url, Config{Scenario: ScenarioTLSHandshake, Duration: 300 * time.Millisecond, Concurrency: 4}, o)
	if r := res[0]; metric(t, r, "handshakes") < 5 || metric(t, r, "failed") != 0 {
		t.Errorf("tls_handshake: %v (%s)", r.Metrics, r.Note)
	}
	// c1m counts the handshakes too (the run's, finished before the sample) and resumed none.
	if r := res[0]; metric(t, r, "server_tls_handshakes") < metric(t, r, "handshakes") || metric(t, r, "server_tls_resumed") != 0 {
		t.Errorf("tls_handshake: server counters %v", r.Metrics)
	}
	res = runTLSScenario(t, url, Config{Scenario: ScenarioBroadcastTLS, Conns: []int{10}, Payloads: []int{64},
		Rates: []string{"200"}, Duration: 300 * time.Millisecond}, o)
	for _, r := range res {
		if metric(t, r, "delivered_ratio") != 1 || metric(t, r, "published") < 20 {
			t.Errorf("broadcast_tls %s: %v (%s)", r.Params["mode"], r.Metrics, r.Note)
		}
	}
}

// tls_handshake against the reference server (net/http over crypto/tls).
func TestTLSRefServer(t *testing.T) {
	if testing.Short() {
		t.Skip("opens TLS connections")
	}
	cert, caPEM := selfSigned(t, 0)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, caPEM, 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addr, tlsAddr := free(), free()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunTLSRefServer(ctx, addr, tlsAddr, certFile, keyFile) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", tlsAddr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("reference server did not start")
		}
	}
	res := runTLSScenario(t, "http://"+addr, Config{Scenario: ScenarioTLSHandshake, Duration: 300 * time.Millisecond, Concurrency: 4},
		TLSOptions{Addr: tlsAddr, CAFile: certFile, Runs: 1, Warmup: -1})
	if r := res[0]; metric(t, r, "handshakes") < 5 || metric(t, r, "failed") != 0 || r.Params["cert"] != "ecdsa-p256" {
		t.Errorf("%v %v (%s)", r.Params, r.Metrics, r.Note)
	}
}
