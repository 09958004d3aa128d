package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is what the load generator needs to speak to Centrifugo (v6), the
// server c1m's users compare it with: its JSON client protocol over WebSocket
// (connect and subscribe commands, publications as push messages, ping
// replies), its unidirectional SSE transport, publishing over its HTTP API,
// and server samples without a /stats endpoint.
//
// Centrifugo does not stamp publications with a usable time (Publication.time
// is in milliseconds and optional), so the publisher puts the latency
// timestamp and a sequence number at the start of the data it publishes:
// {"ts":<unix ns>,"seq":N,"p":"xxx..."}. The timestamp is taken when the
// publish request is built, so Centrifugo's latency includes the HTTP API
// request; c1m's and the peers' ts is taken by the server when it publishes.

// Protocols a server under test speaks (Config.Proto, DialSpec.Proto).
const (
	ProtoNative     = "native"     // the bench protocol of c1m and bench/peers
	ProtoCentrifugo = "centrifugo" // Centrifugo's JSON protocol and HTTP API
)

// Message kinds of Centrifugo's protocol returned by ScanCentrifugo, beyond
// those of ScanMessage.
const (
	KindPing    = iota + 4 // {}: a server ping; a bidirectional client answers {}
	KindError              // a reply with an error
	KindConnect            // a unidirectional connect push: the stream is subscribed
	KindClose              // a disconnect push
)

// ScanCentrifugo classifies one message of Centrifugo's JSON protocol (one
// line of a WebSocket frame or one SSE event's data) without decoding it. A
// publication push, bidirectional {"push":{"channel":..,"pub":{"data":..}}}
// or unidirectional {"channel":..,"pub":{"data":..}}, is KindMsg with the seq
// and ts the publisher put in the data; a reply {"id":N,...} is KindOK with
// N in seq, or KindError. It allocates nothing.
func ScanCentrifugo(p []byte) (kind int, seq uint64, ts int64) {
	p = bytes.TrimSpace(p)
	if len(p) < 2 || p[0] != '{' {
		return KindOther, 0, 0
	}
	if bytes.Equal(p, []byte("{}")) {
		return KindPing, 0, 0
	}
	if i := bytes.Index(p, []byte(`"pub"`)); i >= 0 {
		d := rawValue(p[i+5:], `"data"`)
		if len(d) == 0 || d[0] != '{' {
			return KindOther, 0, 0
		}
		t, ok1 := intValue(d, `"ts"`)
		s, ok2 := intValue(d, `"seq"`)
		if !ok1 || !ok2 || s < 0 {
			return KindOther, 0, 0
		}
		return KindMsg, uint64(s), t
	}
	// Replies and other pushes: keys before any "data" only.
	head := p
	if i := bytes.Index(p, []byte(`"data"`)); i > 0 {
		head = p[:i]
	}
	if id, ok := intValue(head, `"id"`); ok && id > 0 {
		if rawValue(head, `"error"`) != nil {
			return KindError, uint64(id), 0
		}
		return KindOK, uint64(id), 0
	}
	switch {
	case rawValue(head, `"disconnect"`) != nil:
		return KindClose, 0, 0
	case bytes.HasPrefix(p, []byte(`{"connect"`)):
		return KindConnect, 0, 0
	}
	return KindOther, 0, 0
}

// AppendCentrifugoConnect appends the first frame of a bidirectional client:
// a connect command (id 1) and, with a channel, a subscribe command (id 2),
// newline-separated as Centrifugo's JSON protocol allows. The connection is
// ready when the reply to the last id arrives; that id is returned.
func AppendCentrifugoConnect(dst []byte, channel string) ([]byte, uint64) {
	dst = append(dst, `{"id":1,"connect":{}}`...)
	if channel == "" {
		return dst, 1
	}
	dst = append(dst, "\n{\"id\":2,\"subscribe\":{\"channel\":"...)
	dst = strconv.AppendQuote(dst, channel)
	dst = append(dst, "}}"...)
	return dst, 2
}

// CentrifugoUniSSEPath is the request path of a unidirectional SSE client
// subscribed to channel: an anonymous connect request naming the channel in
// "subs", which Centrifugo grants as a server-side subscription when the
// channel allows anonymous subscribers.
func CentrifugoUniSSEPath(channel string) string {
	req, _ := json.Marshal(map[string]any{"subs": map[string]any{channel: map[string]any{}}})
	return "/connection/uni_sse?cf_connect=" + url.QueryEscape(string(req))
}

// appendCentrifugoData appends the data of one publication: exactly size
// bytes (when size allows) of {"ts":..,"seq":..,"p":"xxx"}.
func appendCentrifugoData(dst []byte, size int, seq uint64, ts int64) []byte {
	start := len(dst)
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"p":"`...)
	for pad := size - (len(dst) - start) - 2; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// centrifugoBody is the HTTP API request publishing n messages to channel:
// /api/publish for one, /api/batch (sequential, so in order) for more.
func centrifugoBody(dst []byte, channel string, n, size int, firstSeq uint64, ts int64) (path string, body []byte) {
	one := func(dst []byte, seq uint64) []byte {
		dst = append(dst, `{"channel":`...)
		dst = strconv.AppendQuote(dst, channel)
		dst = append(dst, `,"data":`...)
		dst = appendCentrifugoData(dst, size, seq, ts)
		return append(dst, '}')
	}
	if n == 1 {
		return "/api/publish", one(dst, firstSeq)
	}
	dst = append(dst, `{"commands":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"publish":`...)
		dst = one(dst, firstSeq+uint64(i))
		dst = append(dst, '}')
	}
	return "/api/batch", append(dst, "]}"...)
}

// centrifugoReplyError finds an error in an HTTP API reply ({"error":..} or a
// batch reply with one).
func centrifugoReplyError(body []byte) error {
	if i := bytes.Index(body, []byte(`"error"`)); i >= 0 {
		return fmt.Errorf("centrifugo API: %s", bytes.TrimSpace(body[i:min(len(body), i+200)]))
	}
	return nil
}

// statsSource samples the server under test.
type statsSource interface {
	// Sample is a full look at the server (live heap after a GC where the
	// server allows it, /proc figures).
	Sample(ctx context.Context) (ServerSample, error)
	// Conns is the server's own count of its clients (connections or SSE
	// streams, see ServerSample.Clients), cheaply.
	Conns(ctx context.Context) (int64, error)
}

// nativeStats reads /stats?gc=1 (c1m and bench/peers).
//
// Once it knows the server's pid, a sample's CPU time is read before the
// request, so that the GC the request asks for is not counted in the CPU a
// measurement used (the same for every server, and for Centrifugo's heap
// profile below).
type nativeStats struct {
	client *http.Client
	url    string
	pid    int
}

func (s *nativeStats) Sample(ctx context.Context) (ServerSample, error) {
	var cpu uint64
	cpuErr := errors.New("pid not known yet")
	if s.pid > 0 {
		cpu, cpuErr = procCPUTicks(s.pid)
	}
	v, err := SampleServer(ctx, s.client, s.url)
	if err != nil {
		return v, err
	}
	if cpuErr == nil && v.Pid == s.pid {
		v.CPUTicks = cpu
	}
	s.pid = v.Pid
	return v, nil
}

func (s *nativeStats) Conns(ctx context.Context) (int64, error) {
	v, err := SampleServer(ctx, s.client, s.url)
	return v.Clients(), err
}

// centrifugoStats samples Centrifugo: connections from its server API (info:
// num_clients, refreshed by Centrifugo every 3 s), the Go heap and goroutines
// from its debug endpoint (/debug/pprof/heap?gc=1 runs a GC first, like
// /stats?gc=1 elsewhere), and the pid from the socket listening on the port.
type centrifugoStats struct {
	client *http.Client
	url    string
	key    string
	port   int

	mu  sync.Mutex
	pid int
}

func (s *centrifugoStats) Conns(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/info", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-API-Key", s.key)
	req.Header.Set("Content-Type", "application/json")
	body, err := doRead(s.client, req)
	if err != nil {
		return 0, fmt.Errorf("centrifugo /api/info: %w", err)
	}
	var info struct {
		Result struct {
			Nodes []struct {
				NumClients int64 `json:"num_clients"`
			} `json:"nodes"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return 0, fmt.Errorf("centrifugo /api/info: %w", err)
	}
	if len(info.Result.Nodes) == 0 {
		return 0, fmt.Errorf("centrifugo /api/info: no nodes yet: %s", body)
	}
	var n int64
	for _, nd := range info.Result.Nodes {
		n += nd.NumClients
	}
	return n, nil
}

func (s *centrifugoStats) Sample(ctx context.Context) (ServerSample, error) {
	var v ServerSample
	var err error
	if v.Conns, err = s.Conns(ctx); err != nil {
		return v, err
	}
	s.mu.Lock()
	if s.pid == 0 {
		s.pid, err = listenerPid(s.port)
	}
	v.Pid = s.pid
	s.mu.Unlock()
	if err != nil {
		return v, err
	}
	// CPU time before the profile's GC and formatting (see nativeStats).
	cpu, err := procCPUTicks(v.Pid)
	if err != nil {
		return v, err
	}
	heap, err := s.get(ctx, "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return v, err
	}
	fields := memStatsFields(heap)
	var ok1, ok2, ok3 bool
	v.HeapAlloc, ok1 = fields["HeapAlloc"]
	v.HeapInuse, ok2 = fields["HeapInuse"]
	v.HeapSys, ok3 = fields["HeapSys"]
	if !ok1 || !ok2 || !ok3 {
		return v, fmt.Errorf("centrifugo heap profile: no runtime.MemStats (is debug.enabled on?)")
	}
	gor, err := s.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return v, err
	}
	line, _, _ := bytes.Cut(gor, []byte("\n"))
	total, ok := bytes.CutPrefix(line, []byte("goroutine profile: total "))
	if !ok {
		return v, fmt.Errorf("centrifugo goroutine profile: %q", line)
	}
	if v.Goroutines, err = strconv.ParseInt(string(bytes.TrimSpace(total)), 10, 64); err != nil {
		return v, err
	}
	err = fillProc(&v)
	v.CPUTicks = cpu
	return v, err
}

func (s *centrifugoStats) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return nil, err
	}
	b, err := doRead(s.client, req)
	if err != nil {
		return nil, fmt.Errorf("centrifugo %s: %w", path, err)
	}
	return b, nil
}

func doRead(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.200s", resp.Status, body)
	}
	return body, nil
}

// memStatsFields reads the "# Name = value" lines runtime/pprof appends to a
// debug=1 heap profile (runtime.MemStats, read after the profile's GC).
func memStatsFields(profile []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(profile))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("# "))
		if !ok {
			continue
		}
		name, val, ok := bytes.Cut(rest, []byte(" = "))
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64); err == nil {
			out[string(name)] = v
		}
	}
	return out
}

// listenerPid finds the process holding the TCP socket that listens on port
// (IPv4 or IPv6), through /proc/net/tcp* and every process's fds.
func listenerPid(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && inodes[l] {
				return strconv.Atoi(filepath.Base(dir))
			}
		}
	}
	return 0, fmt.Errorf("no process holds the socket listening on port %d", port)
}

// waitConns polls src's connection count until ok, then takes a full sample.
func waitConns(ctx context.Context, src statsSource, ok func(int64) bool, timeout time.Duration) (ServerSample, error) {
	if ns, native := src.(*nativeStats); native {
		s, err := WaitConns(ctx, ns.client, ns.url, ok, timeout) // one /stats call per poll, as ever
		if err == nil {
			ns.pid = s.Pid
		}
		return s, err
	}
	deadline := time.Now().Add(timeout)
	for {
		n, err := src.Conns(ctx)
		if err == nil && ok(n) {
			return src.Sample(ctx)
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("server reports %d conns after %v", n, timeout)
			}
			return ServerSample{}, err
		}
		select {
		case <-ctx.Done():
			return ServerSample{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CentrifugoConfig is the configuration (v6 JSON) the benchmark runs
// Centrifugo with, listening on host:port: anonymous clients may connect
// without a token and subscribe to channels without a namespace (the same
// access c1m's and the peers' clients have, without Centrifugo's insecure
// mode), so the unidirectional SSE transport can name its channel in the
// connect request; publishing over the HTTP API with apiKey; no history or
// recovery (c1m keeps none either in the bench); JSON WebSocket at
// /connection/websocket and unidirectional SSE at /connection/uni_sse; the
// debug endpoint (/debug/pprof, for GC'd heap figures) and /health on;
// usage statistics off (no traffic leaves the machine); logs at error level.
// Everything else is Centrifugo's default.
func CentrifugoConfig(host string, port int, apiKey string) []byte {
	cfg := map[string]any{
		"http_server": map[string]any{"address": host, "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"allowed_origins":                       []string{"*"},
			"allow_anonymous_connect_without_token": true,
		},
		"channel": map[string]any{
			"without_namespace": map[string]any{
				"allow_subscribe_for_client":    true,
				"allow_subscribe_for_anonymous": true,
				"history_size":                  0,
				"history_ttl":                   "0s",
				"force_recovery":                false,
				"presence":                      false,
				"join_leave":                    false,
			},
		},
		"http_api":    map[string]any{"key": apiKey},
		"websocket":   map[string]any{"disabled": false},
		"uni_sse":     map[string]any{"enabled": true},
		"debug":       map[string]any{"enabled": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n')
}
