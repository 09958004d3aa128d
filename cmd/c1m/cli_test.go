package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/client"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// c1mBinary builds the c1m binary once per test run.
func c1mBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "c1m-cli-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "c1m")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, err := exec.Command(goBin, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binPath)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && binErr == nil {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// cliServer starts an in-process server (demo off) on addr.
func cliServer(t *testing.T, addr string, mod func(*server.Config)) (string, func()) {
	t.Helper()
	cfg := server.Config{Addr: addr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.SocketIO.Off, cfg.Stomp.Off, cfg.SockJS.Off = true, true, true
	if mod != nil {
		mod(&cfg)
	}
	var s *server.Server
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for s, err = server.New(cfg); err != nil && time.Now().Before(deadline); s, err = server.New(cfg) {
		time.Sleep(10 * time.Millisecond) // the address of a server just stopped
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.Shutdown(ctx)
		})
	}
	t.Cleanup(stop)
	return "http://" + s.Addr().String(), stop
}

// fresh connections: a kept-alive one may lead to a server the test stopped
var hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func publish(t *testing.T, url, topic, data string) uint64 {
	t.Helper()
	seq, err := client.PublishHTTP(context.Background(), hc, url, "", topic, []byte(data), false)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// runC1M runs the binary to completion (at most 20 s).
func runC1M(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c1mBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// bg is a command running in the background whose output is read as it
// comes.
type bg struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer
	done   chan struct{}
}

func startC1M(t *testing.T, args ...string) *bg {
	t.Helper()
	b := &bg{cmd: exec.Command(c1mBinary(t), args...), done: make(chan struct{})}
	b.cmd.Stderr = &lockedWriter{mu: &b.mu, w: &b.stderr}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.mu.Lock()
			b.lines = append(b.lines, sc.Text())
			b.mu.Unlock()
		}
		b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

func (b *bg) output() ([]string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...), b.stderr.String()
}

// wait waits for the command's exit and returns its code.
func (b *bg) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		_, e := b.output()
		t.Fatalf("c1m did not exit; stderr:\n%s", e)
	}
	return b.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (\S+) seq=(\d+)( snap)? (.*)$`)

func TestCLISubPrintsDeliveries(t *testing.T) {
	url, _ := cliServer(t, "127.0.0.1:0", nil)
	publish(t, url, "md.A.quote", `{"bid":1}`)
	sub := startC1M(t, "sub", "--url", url, "--count", "3", "md.*.quote")
	testutil.WaitFor(t, 10*time.Second, "the snapshot line", func() bool { l, _ := sub.output(); return len(l) == 1 })
	publish(t, url, "md.A.trade", `0`)
	publish(t, url, "md.B.quote", "{\n \"bid\": 2}")
	publish(t, url, "md.A.quote", `{"bid":3}`)
	if code := sub.wait(t); code != 0 {
		_, e := sub.output()
		t.Fatalf("exit %d, stderr %s", code, e)
	}
	lines, stderr := sub.output()
	want := []string{"md.A.quote 1 snap {\"bid\":1}", "md.B.quote 1  {\"bid\":2}", "md.A.quote 2  {\"bid\":3}"}
	if len(lines) != len(want) {
		t.Fatalf("output %q", lines)
	}
	for i, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil || m[1]+" "+m[2]+" "+strings.TrimSpace(m[3])+" "+m[4] != want[i] {
			t.Errorf("line %d: %q, want the fields %q", i, l, want[i])
		}
	}
	if !strings.Contains(stderr, "to resume: --since '") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestCLISubJSONAndSince(t *testing.T) {
	url, _ := cliServer(t, "127.0.0.1:0", nil)
	publish(t, url, "t.x", `"a"`)
	publish(t, url, "t.x", `"b"`)
	r := runC1M(t, "", "sub", "--url", url, "--json", "--count", "1", "t.x")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var m struct {
		Topic string          `json:"topic"`
		Seq   uint64          `json:"seq"`
		TS    int64           `json:"ts"`
		Snap  bool            `json:"snap"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m.Topic != "t.x" || m.Seq != 2 || !m.Snap || string(m.Data) != `"b"` || m.TS == 0 {
		t.Fatalf("json line %q: %v", r.stdout, err)
	}
	since := regexp.MustCompile(`--since '([^']+)'`).FindStringSubmatch(r.stderr)
	if since == nil || !strings.HasSuffix(since[1], "/t.x=2") {
		t.Fatalf("no resume hint in %q", r.stderr)
	}
	publish(t, url, "t.x", `"c"`)
	publish(t, url, "t.x", `"d"`)
	r = runC1M(t, "", "sub", "--url", url, "--json", "--count", "2", "--since", since[1], "t.x")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != `{"topic":"t.x","seq":3,"ts":`+tsOf(t, r.stdout, 0)+`,"data":"c"}`+"\n"+`{"topic":"t.x","seq":4,"ts":`+tsOf(t, r.stdout, 1)+`,"data":"d"}`+"\n" {
		t.Fatalf("resumed output %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "resumed t.x from seq 2: nothing lost") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func tsOf(t *testing.T, out string, i int) string {
	lines := strings.Split(out, "\n")
	if i >= len(lines) {
		return "?"
	}
	m := regexp.MustCompile(`"ts":(\d+)`).FindStringSubmatch(lines[i])
	if m == nil {
		return "?"
	}
	return m[1]
}

func TestCLISubReconnectsByItself(t *testing.T) {
	url, stop := cliServer(t, "127.0.0.1:0", nil)
	publish(t, url, "r.x", `1`)
	sub := startC1M(t, "sub", "--url", url, "--count", "3", "r.x")
	testutil.WaitFor(t, 10*time.Second, "the snapshot", func() bool { l, _ := sub.output(); return len(l) == 1 })
	stop()
	url2, _ := cliServer(t, strings.TrimPrefix(url, "http://"), nil)
	testutil.WaitFor(t, 10*time.Second, "the resubscription", func() bool {
		_, e := sub.output()
		return strings.Contains(e, "could not resume r.x from seq 1")
	})
	publish(t, url2, "r.x", `2`)
	publish(t, url2, "r.x", `3`)
	if code := sub.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines, stderr := sub.output()
	if len(lines) != 3 || !strings.HasSuffix(lines[1], "r.x seq=1 2") || !strings.HasSuffix(lines[2], "r.x seq=2 3") {
		t.Fatalf("output %q", lines)
	}
	for _, w := range []string{"disconnected (connection closed 1001 (going away)", "reconnected to ws://"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

func TestCLIPubOverHTTP(t *testing.T) {
	url, _ := cliServer(t, "127.0.0.1:0", nil)
	r := runC1M(t, "", "pub", "--url", url, "p.x", `{"a":1}`)
	if r.code != 0 || r.stdout != "p.x seq=1\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runC1M(t, "1\n\n\"two\"\n[3]\n", "pub", "--url", url, "--rate", "200", "p.x")
	if r.code != 0 || r.stdout != "p.x seq=2\np.x seq=3\np.x seq=4\n" {
		t.Fatalf("stdin: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runC1M(t, "", "pub", "--url", url, "--binary", "p.bin", "raw bytes")
	if r.code != 0 || r.stdout != "p.bin seq=1\n" {
		t.Fatalf("binary: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	s := runC1M(t, "", "sub", "--url", url, "--count", "2", "p.*")
	if s.code != 0 || !strings.Contains(s.stdout, "p.x seq=4 snap [3]\n") || !strings.Contains(s.stdout, "p.bin seq=1 snap base64:cmF3IGJ5dGVz\n") {
		t.Fatalf("sub after pub: %d %q %q", s.code, s.stdout, s.stderr)
	}
}

func TestCLIPubOverWebSocketWithToken(t *testing.T) {
	url, _ := cliServer(t, "127.0.0.1:0", func(c *server.Config) { c.ClientPublish = true; c.PublishToken = "s3cret" })
	r := runC1M(t, "", "pub", "--url", url, "--ws", "--token", "s3cret", "w.x", `5`)
	if r.code != 0 || r.stdout != "w.x ok\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runC1M(t, "6\n7\n", "pub", "--url", url, "--ws", "--token", "s3cret", "w.x")
	if r.code != 0 || r.stdout != "w.x ok\nw.x ok\n" {
		t.Fatalf("stdin: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if seq := publish2(t, url, "s3cret"); seq != 4 {
		t.Fatalf("seq after three WebSocket publishes: %d", seq)
	}
	// refused: exit 4 with the server's reason
	r = runC1M(t, "", "pub", "--url", url, "--ws", "w.x", `5`)
	if r.code != 4 || !strings.Contains(r.stderr, "error 401") || r.stdout != "" {
		t.Fatalf("no token over WebSocket: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runC1M(t, "", "pub", "--url", url, "--token", "wrong", "w.x", `5`)
	if r.code != 4 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Fatalf("wrong token over HTTP: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("C1M_TOKEN", "s3cret")
	t.Setenv("C1M_URL", url)
	r = runC1M(t, "", "pub", "w.x", `8`)
	if r.code != 0 || r.stdout != "w.x seq=5\n" {
		t.Fatalf("token and URL from the environment: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func publish2(t *testing.T, url, token string) uint64 {
	seq, err := client.PublishHTTP(context.Background(), hc, url, token, "w.x", []byte(`0`), false)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestCLIExitCodes(t *testing.T) {
	url, _ := cliServer(t, "127.0.0.1:0", nil)
	// a port nothing listens on
	dead := "http://127.0.0.1:1"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"sub without pattern", "", []string{"sub", "--url", url}, 2, "no PATTERN"},
		{"sub bad flag", "", []string{"sub", "--nope", "x"}, 2, "flag provided but not defined"},
		{"sub bad since", "", []string{"sub", "--url", url, "--since", "garbage", "x"}, 2, "--since"},
		{"sub bad url", "", []string{"sub", "--url", "ftp://x", "x"}, 2, "--url"},
		{"sub malformed pattern", "", []string{"sub", "--url", url, "md..x"}, 4, "error 422: malformed pattern"},
		{"sub unreachable", "", []string{"sub", "--url", dead, "x"}, 3, "connecting to ws://127.0.0.1:1/ws"},
		{"sub wrong path", "", []string{"sub", "--url", url + "/nope", "x"}, 4, "HTTP 404"},
		{"pub no topic", "", []string{"pub", "--url", url}, 2, "want TOPIC"},
		{"pub not JSON", "", []string{"pub", "--url", url, "x", "hello"}, 2, "DATA is not JSON"},
		{"pub bad stdin line", "1\nnope\n", []string{"pub", "--url", url, "x"}, 2, "line 2 is not JSON"},
		{"pub malformed topic", "", []string{"pub", "--url", url, "x..y", "1"}, 4, "HTTP 400: malformed topic"},
		{"pub ws disabled", "", []string{"pub", "--url", url, "--ws", "x", "1"}, 4, "error 403"},
		{"pub unreachable", "", []string{"pub", "--url", dead, "x", "1"}, 3, "connection refused"},
		{"pub ws unreachable", "", []string{"pub", "--url", dead, "--ws", "x", "1"}, 3, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runC1M(t, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.err) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.err)
			}
		})
	}
	// the refused stdin publish sent nothing after line 1
	r := runC1M(t, "", "sub", "--url", url, "--count", "1", "x")
	if !strings.Contains(r.stdout, "x seq=1 snap 1\n") {
		t.Fatalf("x after the refused line: %q", r.stdout)
	}
}

func TestCLIHelp(t *testing.T) {
	for _, cmd := range []string{"sub", "pub"} {
		r := runC1M(t, "", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stderr, "Usage: c1m "+cmd) || !strings.Contains(r.stderr, "Exit codes:") ||
			!strings.Contains(r.stderr, "-url") || !strings.Contains(r.stderr, "-token") {
			t.Errorf("%s --help: exit %d\n%s", cmd, r.code, r.stderr)
		}
	}
	for _, f := range []string{"-json", "-since", "-count", "-conflate", "-max-rate"} {
		if r := runC1M(t, "", "sub", "--help"); !strings.Contains(r.stderr, f) {
			t.Errorf("sub --help lacks %s", f)
		}
	}
	for _, f := range []string{"-rate", "-ws", "-binary"} {
		if r := runC1M(t, "", "pub", "--help"); !strings.Contains(r.stderr, f) {
			t.Errorf("pub --help lacks %s", f)
		}
	}
	// the server stays the default
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out); code != 0 || !strings.Contains(out.String(), "Usage: c1m [flags]") {
		t.Fatalf("server --help: %d", code)
	}
}

// TestCLITLS: https and wss with --ca (a stand-in TLS server until the
// server terminates TLS itself).
func TestCLITLS(t *testing.T) {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(202)
		io.WriteString(w, `{"seq":7}`)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"ok","id":1,"epoch":"E","topics":{"tls.x":{"epoch":"E","seq":0}}}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`{"op":"msg","topic":"tls.x","seq":1,"ts":1,"data":1}`))
		conn.ReadMessage()
	})
	hs := httptest.NewTLSServer(mux)
	defer hs.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runC1M(t, "", "pub", "--url", hs.URL, "--ca", ca, "t", "1"); r.code != 0 || r.stdout != "t seq=7\n" {
		t.Fatalf("pub with --ca: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runC1M(t, "", "pub", "--url", hs.URL, "t", "1"); r.code != 3 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("pub without --ca: %d %q", r.code, r.stderr)
	}
	if r := runC1M(t, "", "sub", "--url", hs.URL, "--ca", ca, "--count", "1", "tls.x"); r.code != 0 || !strings.HasSuffix(r.stdout, " tls.x seq=1 1\n") {
		t.Fatalf("sub with --ca: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runC1M(t, "", "sub", "--url", strings.Replace(hs.URL, "https", "wss", 1), "--insecure", "--count", "1", "tls.x"); r.code != 0 {
		t.Fatalf("sub --insecure: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runC1M(t, "", "sub", "--url", hs.URL, "--ca", "/nonexistent", "tls.x"); r.code != 2 {
		t.Fatalf("sub with a missing --ca file: %d %q", r.code, r.stderr)
	}
}
