package sse_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/server"
)

// start runs a real server on 127.0.0.1 without the demo feed.
func start(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, s.Addr().String()
}

// event is one parsed SSE event.
type event struct {
	Name string // "" for message
	Data string
	ID   string // the stream's last event id after this event
}

// msg is the native delivery object.
type msg struct {
	Op     string          `json:"op"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	TS     int64           `json:"ts"`
	Snap   bool            `json:"snap"`
	Binary bool            `json:"binary"`
	Data   json.RawMessage `json:"data"`
}

type subEvent struct {
	Op     string `json:"op"`
	Epoch  string `json:"epoch"`
	Topics map[string]struct {
		Epoch     string `json:"epoch"`
		Seq       uint64 `json:"seq"`
		Recovered *bool  `json:"recovered"`
	} `json:"topics"`
}

// sseClient reads an event stream the way EventSource does (field parsing
// of the HTML standard), over net/http (which undoes the chunking).
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	r      *bufio.Reader
	lastID string
	retry  int
}

func openSSE(t testing.TB, url string, header http.Header) *sseClient {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %q %s", url, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	c := &sseClient{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
	t.Cleanup(func() { resp.Body.Close() })
	return c
}

// next returns the next dispatched event (comments and id-only blocks
// update state but are not events, as in EventSource).
func (c *sseClient) next() event {
	c.t.Helper()
	ev, err := c.read()
	if err != nil {
		c.t.Fatal(err)
	}
	return ev
}

// read is next for other goroutines than the test's: it returns the error.
func (c *sseClient) read() (event, error) {
	var ev event
	var data []string
	hasData := false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ev, fmt.Errorf("reading stream: %v (partial %q)", err, line)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if hasData {
				ev.Data = strings.Join(data, "\n")
				ev.ID = c.lastID
				return ev, nil
			}
			ev = event{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Name = value
		case "data":
			data = append(data, value)
			hasData = true
		case "id":
			c.lastID = value
		case "retry":
			c.retry, _ = strconv.Atoi(value)
		}
	}
}

func (c *sseClient) nextSub() subEvent {
	c.t.Helper()
	ev := c.next()
	var s subEvent
	if ev.Name != "sub" || json.Unmarshal([]byte(ev.Data), &s) != nil || s.Op != "ok" {
		c.t.Fatalf("want the sub event first, got %+v", ev)
	}
	return s
}

func (c *sseClient) nextMsg() msg {
	c.t.Helper()
	ev := c.next()
	var m msg
	if ev.Name != "" || json.Unmarshal([]byte(ev.Data), &m) != nil || m.Op != "msg" {
		c.t.Fatalf("want a delivery, got %+v", ev)
	}
	return m
}

func publish(t testing.TB, s *server.Server, topic, data string) uint64 {
	t.Helper()
	seq, err := s.Hub().Publish(topic, []byte(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestStreamSnapshotLiveAndIDs(t *testing.T) {
	s, addr := start(t, server.Config{})
	publish(t, s, "md.A.quote", `{"bid":1}`)
	if _, err := s.Hub().PublishBinary("md.B.quote", []byte{0xff, 0}, 0); err != nil {
		t.Fatal(err)
	}
	c := openSSE(t, "http://"+addr+"/sse?topics=md.A.quote,md.*.trade,md.B.quote", nil)
	sub := c.nextSub()
	if c.retry < 1000 || c.retry > 2000 || sub.Epoch != s.Hub().Epoch() || sub.Topics["md.A.quote"].Seq != 1 {
		t.Fatalf("retry %d, sub %+v", c.retry, sub)
	}
	snaps := map[string]msg{}
	for range 2 {
		m := c.nextMsg()
		snaps[m.Topic] = m
	}
	if a := snaps["md.A.quote"]; !a.Snap || a.Seq != 1 || string(a.Data) != `{"bid":1}` {
		t.Fatalf("snapshot A %+v", a)
	}
	if b := snaps["md.B.quote"]; !b.Snap || !b.Binary || string(b.Data) != `"/wA="` {
		t.Fatalf("snapshot B %+v", b)
	}
	publish(t, s, "md.X.trade", `[1,2]`)
	m := c.nextMsg()
	if m.Topic != "md.X.trade" || m.Seq != 1 || m.Snap || string(m.Data) != `[1,2]` {
		t.Fatalf("live %+v", m)
	}
	epoch := s.Hub().Epoch()
	for _, part := range []string{epoch + "/", "md.A.quote=1", "md.B.quote=1", "md.X.trade=1"} {
		if !strings.Contains(c.lastID, part) {
			t.Fatalf("last id %q lacks %q", c.lastID, part)
		}
	}
}

// A stream over three topics is cut several times mid-flight (the client
// drops the connection and whatever it had not read); each reconnect with
// the last id it saw gets exactly the rest: no loss, no duplicate, in order.
func TestResumeIsExact(t *testing.T) {
	cfg := server.Config{}
	cfg.Hub.HistorySize = 4000 // every cut is within history
	s, addr := start(t, cfg)
	topics := []string{"rx.a", "rx.b", "rx.c"}
	const total = 3000
	done := make(chan error, 1)
	go func() {
		// Start once the first stream has subscribed, then publish as fast
		// as the hub takes it, while the reader cuts and resumes.
		for s.Hub().Stats().Subscriptions < 3 {
			runtime.Gosched()
		}
		for i := 0; i < total; i++ {
			if _, err := s.Hub().Publish(topics[i%3], []byte(strconv.Itoa(i)), 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	url := "http://" + addr + "/sse?topics=rx.a,rx.b,rx.*"
	last := map[string]uint64{}
	got := 0
	var lastID string
	for cut := 0; got < total; cut++ {
		var h http.Header
		if lastID != "" {
			h = http.Header{"Last-Event-ID": {lastID}}
		}
		c := openSSE(t, url, h)
		sub := c.nextSub()
		for tp, st := range sub.Topics {
			if lastID != "" && (st.Recovered == nil || !*st.Recovered) {
				t.Fatalf("cut %d: topic %s not recovered: %+v", cut, tp, st)
			}
		}
		// Read a random-ish share of what is coming, then cut.
		for n := 0; n < 200+cut*37 && got < total; n++ {
			m := c.nextMsg()
			if m.Snap {
				continue // the first connection starts from the last values
			}
			if want := last[m.Topic] + 1; last[m.Topic] != 0 && m.Seq != want {
				t.Fatalf("cut %d: %s seq %d, want %d", cut, m.Topic, m.Seq, want)
			}
			last[m.Topic] = m.Seq
			got = int(last["rx.a"] + last["rx.b"] + last["rx.c"])
		}
		lastID = c.lastID
		c.resp.Body.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, tp := range topics {
		if want := uint64(total/3 + map[bool]int{true: 1}[i < total%3]); last[tp] != want {
			t.Errorf("%s ended at seq %d, want %d", tp, last[tp], want)
		}
	}
}

func TestResumeAfterRestartIsNotRecovered(t *testing.T) {
	s1, addr := start(t, server.Config{})
	publish(t, s1, "rs.a", "1")
	c := openSSE(t, "http://"+addr+"/sse?topics=rs.a", nil)
	c.nextSub()
	c.nextMsg()
	id := c.lastID
	c.resp.Body.Close()

	s2, addr2 := start(t, server.Config{}) // a restart: a new epoch
	publish(t, s2, "rs.a", "2")
	c2 := openSSE(t, "http://"+addr2+"/sse?topics=rs.a", http.Header{"Last-Event-ID": {id}})
	sub := c2.nextSub()
	st := sub.Topics["rs.a"]
	if st.Recovered == nil || *st.Recovered || sub.Epoch == strings.Split(id, "/")[0] {
		t.Fatalf("after restart: %+v (old id %s)", sub, id)
	}
	if m := c2.nextMsg(); !m.Snap || string(m.Data) != "2" {
		t.Fatalf("want the snapshot after the recovered:false event, got %+v", m)
	}
}

func TestResumeBeyondHistoryIsNotRecovered(t *testing.T) {
	cfg := server.Config{}
	cfg.Hub.HistorySize = 4
	s, addr := start(t, cfg)
	publish(t, s, "rh.a", "1")
	c := openSSE(t, "http://"+addr+"/sse?topics=rh.a", nil)
	c.nextSub()
	c.nextMsg()
	id := c.lastID
	c.resp.Body.Close()
	for i := 2; i <= 10; i++ {
		publish(t, s, "rh.a", strconv.Itoa(i))
	}
	c2 := openSSE(t, "http://"+addr+"/sse?topics=rh.a", http.Header{"Last-Event-ID": {id}})
	if st := c2.nextSub().Topics["rh.a"]; st.Recovered == nil || *st.Recovered {
		t.Fatalf("history too short: %+v", st)
	}
	if m := c2.nextMsg(); !m.Snap || m.Seq != 10 {
		t.Fatalf("want the snapshot, got %+v", m)
	}
}

func rawRequest(t testing.TB, addr, req string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(nc)
	return string(b)
}

func TestBadRequestsGetClearAnswers(t *testing.T) {
	cfg := server.Config{Origins: []string{"https://desk.example"}}
	_, addr := start(t, cfg)
	many := strings.Repeat("a.b,", 65)
	cases := []struct {
		req, status, body string
	}{
		{"GET /sse?topics=md..x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", `malformed pattern "md..x": empty token at byte 3`},
		{"GET /sse?topics=md.>.x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", "> must be the last token"},
		{"GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", `missing "topics"`},
		{"GET /sse?topics=" + many + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", "too many topics: 65 (at most 64 per stream)"},
		{"GET /sse?topics=a&maxRate=-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", `"maxRate" must be a number >= 0`},
		{"GET /sse?topics=a&conflate=maybe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "400", `"conflate" must be true or false`},
		{"POST /sse?topics=a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "405", "Allow: GET"},
		{"GET /sse?topics=a HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n", "403", `origin "https://evil.example" is not allowed`},
	}
	for _, tc := range cases {
		got := rawRequest(t, addr, tc.req)
		if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") || !strings.Contains(got, tc.body) {
			t.Errorf("%q:\n got %q\nwant %s with %q", tc.req, got, tc.status, tc.body)
		}
	}
	// CORS from an allowed origin, with credentials; its preflight.
	c := openSSE(t, "http://"+addr+"/sse?topics=a", http.Header{"Origin": {"https://desk.example"}})
	if c.resp.Header.Get("Access-Control-Allow-Origin") != "https://desk.example" || c.resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers %v", c.resp.Header)
	}
	pre := rawRequest(t, addr, "OPTIONS /sse?topics=a HTTP/1.1\r\nHost: x\r\nOrigin: https://desk.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: last-event-id\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(pre, "HTTP/1.1 204") || !strings.Contains(pre, "Access-Control-Allow-Headers: Last-Event-ID") {
		t.Fatalf("preflight: %q", pre)
	}
}

func TestConnectionLimitIs503WithRetryAfter(t *testing.T) {
	cfg := server.Config{}
	cfg.Poller.MaxConns = 1
	_, addr := start(t, cfg)
	openSSE(t, "http://"+addr+"/sse?topics=a", nil).nextSub()
	got := rawRequest(t, addr, "GET /sse?topics=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "Retry-After: ") {
		t.Fatalf("past the limit: %q", got)
	}
}

// An HTTP/1.0 client gets a close-delimited stream: no chunk framing.
func TestHTTP10Stream(t *testing.T) {
	s, addr := start(t, server.Config{})
	publish(t, s, "h10.a", `"x"`)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET /sse?topics=h10.a HTTP/1.0\r\n\r\n")
	r := bufio.NewReader(nc)
	var head strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	if h := head.String(); !strings.HasPrefix(h, "HTTP/1.0 200 ") || strings.Contains(h, "Transfer-Encoding") || !strings.Contains(h, "Connection: close") {
		t.Fatalf("head %q", h)
	}
	for _, want := range []string{"retry: 1", "\n", "event: sub\n"} {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			t.Fatalf("body line %q (%v), want %q...", line, err, want)
		}
	}
}

// Native WebSocket and SSE subscribers of the same topics get the same
// messages in the same order.
func TestMixedFormatsSameOrder(t *testing.T) {
	s, addr := start(t, server.Config{})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","id":1,"topics":["mx.*"]}`))
	if _, b, err := ws.ReadMessage(); err != nil || !strings.Contains(string(b), `"op":"ok"`) {
		t.Fatalf("sub: %s %v", b, err)
	}
	c := openSSE(t, "http://"+addr+"/sse?topics=mx.*", nil)
	c.nextSub()
	const n = 600
	for i := 0; i < n; i++ {
		publish(t, s, "mx."+strconv.Itoa(i%5), strconv.Itoa(i))
	}
	for i := 0; i < n; i++ {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var w msg
		json.Unmarshal(b, &w)
		e := c.nextMsg()
		if w.Topic != e.Topic || w.Seq != e.Seq || string(w.Data) != string(e.Data) || w.TS != e.TS {
			t.Fatalf("message %d: websocket %+v, sse %+v", i, w, e)
		}
	}
}

// Idle streams cost no goroutine; a stalled reader is bounded and closed as
// a slow consumer while the other streams get everything.
func TestIdleStreamsAndSlowConsumer(t *testing.T) {
	s, addr := start(t, server.Config{}) // MaxQueueBytes 4 MiB
	before := runtime.NumGoroutine()
	const idle = 5000
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		io.WriteString(nc, "GET /sse?topics=idle.x HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, nc)
	}
	testutil.WaitFor(t, 30*time.Second, "5,000 open streams", func() bool { return s.Poller().Stats().Streams == idle })
	// netpoll's pooled workers that served the requests exit shortly after;
	// what must not stay is a goroutine per stream.
	deadline := time.Now().Add(10 * time.Second)
	for d := runtime.NumGoroutine() - before; d > 20; d = runtime.NumGoroutine() - before {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle streams added %d goroutines", idle, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, nc := range conns {
		nc.Close()
	}
	conns = conns[:0]
	testutil.WaitFor(t, 30*time.Second, "streams closed", func() bool { return s.Poller().Stats().Streams == 0 })

	// One stalled reader (never reads) and three that keep up.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(stalled, "GET /sse?topics=slow.x HTTP/1.1\r\nHost: x\r\n\r\n")
	var readers []*sseClient
	for range 3 {
		c := openSSE(t, "http://"+addr+"/sse?topics=slow.x", nil)
		c.nextSub()
		readers = append(readers, c)
	}
	testutil.WaitFor(t, 10*time.Second, "4 streams", func() bool { return s.Poller().Stats().Streams == 4 })
	payload := `"` + strings.Repeat("x", 4000) + `"`
	const n, batch = 4000, 20
	var wg sync.WaitGroup
	errs := make(chan error, len(readers))
	for _, c := range readers {
		wg.Add(1)
		go func(c *sseClient) {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				ev, err := c.read()
				if err != nil {
					errs <- err
					return
				}
				var m msg
				json.Unmarshal([]byte(ev.Data), &m)
				if m.Seq != uint64(i) {
					errs <- fmt.Errorf("reader got seq %d, want %d", m.Seq, i)
					return
				}
			}
		}(c)
	}
	// Publish over HTTP in batches, as a feed handler would: 16 MB in all,
	// far more than the stalled stream's queue bound and socket buffers.
	body := []byte(`[`)
	for k := 0; k < batch; k++ {
		if k > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"topic":"slow.x","data":`+payload+`}`...)
	}
	body = append(body, ']')
	maxQueued := int64(0)
	for k := 0; k < n/batch; k++ {
		r, err := http.Post("http://"+addr+"/publish", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if q := s.Poller().Stats().QueuedBytes; q > maxQueued {
			maxQueued = q
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the stalled stream closed as a slow consumer", func() bool {
		return s.Poller().Stats().Closes["slow_consumer"] == 1
	})
	// Bounded: no stream held much more than MaxQueueBytes.
	if limit := int64(4 * (4<<20 + 8192)); maxQueued > limit {
		t.Fatalf("queued bytes peaked at %d, want under %d", maxQueued, limit)
	}
}
