package cluster_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The tests of this file prove for Server-Sent Events, Socket.IO and STOMP
// what TestPublishReachesEveryNode proves for the native protocol: a publish
// on node A reaches the subscribers of nodes B and C, exact and wildcard,
// every message once, in seq order, with the data published. Each scenario
// publishes 300 messages on one topic and, concurrently, 100 on a second
// topic that only the wildcard subscriptions match, then one more message on
// each (so that a duplicate of a first-round message shows up as an
// unexpected delivery in the second round).

// protoDelivery is one delivery as a client of any protocol saw it.
type protoDelivery struct {
	Sub   string // the STOMP subscription id; "" for the other protocols
	Topic string
	Seq   uint64
	Snap  bool
	Data  string
}

// protoClient is one subscribed connection. next returns the next delivery
// within d, or the error that ended the connection (it never calls t.Fatal:
// it runs on goroutines of its own).
type protoClient interface {
	next(d time.Duration) (protoDelivery, error)
}

// protoKey names one stream of deliveries a connection must receive: a
// topic, through one subscription (Sub, STOMP only).
type protoKey struct{ Sub, Topic string }

// protoSubscriber is a connection and the streams it must receive.
type protoSubscriber struct {
	name string
	c    protoClient
	want []protoKey
}

// protoPub is one acknowledged publish.
type protoPub struct {
	seq  uint64
	data string
}

const protoReadTimeout = 10 * time.Second

var protoHTTP = &http.Client{Timeout: 10 * time.Second}

// protoPublish publishes data on topic through addr's /publish (safe on any
// goroutine: it returns errors).
func protoPublish(addr, topic, data string) (uint64, error) {
	r, err := protoHTTP.Post("http://"+addr+"/publish?topic="+url.QueryEscape(topic), "application/json", strings.NewReader(data))
	if err != nil {
		return 0, err
	}
	defer r.Body.Close()
	var v struct{ Seq uint64 }
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("publish %s: status %d, decode %v", topic, r.StatusCode, err)
	}
	return v.Seq, nil
}

// protoPublishRound publishes counts[topic] messages per topic on a, the
// topics concurrently, each topic's in order, and returns what was
// published, per topic in seq order. Each topic's seqs must be consecutive
// (one publisher per topic).
func protoPublishRound(t *testing.T, a *node, round int, counts map[string]int) map[string][]protoPub {
	t.Helper()
	out := make(map[string][]protoPub, len(counts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for topic, n := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pubs := make([]protoPub, 0, n)
			for i := range n {
				data := fmt.Sprintf(`{"r":%d,"i":%d,"t":%q}`, round, i, topic)
				seq, err := protoPublish(a.addr, topic, data)
				if err != nil {
					t.Errorf("round %d, %s message %d: %v", round, topic, i, err)
					return
				}
				if i > 0 && seq != pubs[i-1].seq+1 {
					t.Errorf("round %d, %s message %d: seq %d after %d", round, topic, i, seq, pubs[i-1].seq)
					return
				}
				pubs = append(pubs, protoPub{seq, data})
			}
			mu.Lock()
			out[topic] = pubs
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// protoExpect reads, on every subscriber at once, exactly the deliveries
// pubs gives its streams: per stream every seq once, in order, with its
// data, no snapshot, and nothing that belongs to no stream of it. Deliveries
// of different streams may interleave in any order.
func protoExpect(t *testing.T, round int, subs []protoSubscriber, pubs map[string][]protoPub) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := make(map[protoKey]int, len(s.want))
			total := 0
			for _, k := range s.want {
				pos[k] = 0
				total += len(pubs[k.Topic])
			}
			for got := range total {
				d, err := s.c.next(protoReadTimeout)
				if err != nil {
					t.Errorf("%s, round %d: after %d of %d deliveries (%v): %v", s.name, round, got, total, pos, err)
					return
				}
				k := protoKey{d.Sub, d.Topic}
				i, ok := pos[k]
				if !ok {
					t.Errorf("%s, round %d: delivery for no stream of it: %+v", s.name, round, d)
					return
				}
				want := pubs[k.Topic]
				if i >= len(want) {
					t.Errorf("%s, round %d: %v: extra delivery after the %d published: %+v", s.name, round, k, len(want), d)
					return
				}
				if d.Seq != want[i].seq || d.Data != want[i].data || d.Snap {
					t.Errorf("%s, round %d: %v: delivery %d: want seq %d data %s, got %+v", s.name, round, k, i, want[i].seq, want[i].data, d)
					return
				}
				pos[k] = i + 1
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// protoRun publishes the two rounds on a and checks every subscriber.
func protoRun(t *testing.T, a *node, exact, side string, subs []protoSubscriber) {
	t.Helper()
	start := time.Now()
	protoExpect(t, 1, subs, protoPublishRound(t, a, 1, map[string]int{exact: 300, side: 100}))
	protoExpect(t, 2, subs, protoPublishRound(t, a, 2, map[string]int{exact: 1, side: 1}))
	t.Logf("%d subscribers, 402 publishes: %v", len(subs), time.Since(start))
}

// protoCluster starts NATS and nodes a, b and c.
func protoCluster(t *testing.T) (a, b, c *node) {
	t.Helper()
	ns := startNATS(t)
	return startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
}

// ---- Server-Sent Events ----

// sseStream reads an event stream over a raw TCP connection, so that every
// read has a deadline.
type sseStream struct {
	conn net.Conn
	r    *bufio.Reader // the response body (de-chunked)
}

// sseEvent is one dispatched event.
type sseEvent struct {
	name, data, id string
}

// dialSSE opens /sse?topics=patterns on addr and reads the sub event.
func dialSSE(t *testing.T, addr string, patterns ...string) *sseStream {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := "/sse?" + url.Values{"topics": {strings.Join(patterns, ",")}}.Encode()
	req, _ := http.NewRequest("GET", "http://"+addr+u, nil)
	req.Header.Set("Accept", "text/event-stream")
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(protoReadTimeout))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %s %q", u, resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{conn: conn, r: bufio.NewReader(resp.Body)}
	ev, err := s.event(protoReadTimeout)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	var ok struct{ Op string }
	if ev.name != "sub" || json.Unmarshal([]byte(ev.data), &ok) != nil || ok.Op != "ok" {
		t.Fatalf("GET %s: want the sub event first, got %+v", u, ev)
	}
	return s
}

// event returns the next dispatched event, parsing fields as EventSource
// does (comments are heartbeats, skipped).
func (s *sseStream) event(d time.Duration) (sseEvent, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	var ev sseEvent
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, fmt.Errorf("reading the stream: %v (partial %q)", err, line)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if data != nil {
				ev.data = strings.Join(data, "\n")
				return ev, nil
			}
			ev = sseEvent{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "data":
			data = append(data, value)
		case "id":
			ev.id = value
		}
	}
}

// protoNative is the native delivery object (SSE data, Socket.IO msg
// argument, /ws message).
type protoNative struct {
	Op    string          `json:"op"`
	Topic string          `json:"topic"`
	Seq   uint64          `json:"seq"`
	Snap  bool            `json:"snap"`
	Data  json.RawMessage `json:"data"`
}

func (m protoNative) delivery() (protoDelivery, error) {
	if m.Op != "msg" {
		return protoDelivery{}, fmt.Errorf("want a msg, got %+v", m)
	}
	return protoDelivery{Topic: m.Topic, Seq: m.Seq, Snap: m.Snap, Data: string(m.Data)}, nil
}

func (s *sseStream) next(d time.Duration) (protoDelivery, error) {
	ev, err := s.event(d)
	if err != nil {
		return protoDelivery{}, err
	}
	if ev.name != "" {
		return protoDelivery{}, fmt.Errorf("want an unnamed event, got %+v", ev)
	}
	var m protoNative
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		return protoDelivery{}, fmt.Errorf("event data %q: %v", ev.data, err)
	}
	// The event id names the stream's position in every topic: this
	// delivery's at least (exact resume).
	if _, pos, _ := strings.Cut(ev.id, "/"); !strings.Contains(","+pos+",", fmt.Sprintf(",%s=%d,", m.Topic, m.Seq)) {
		return protoDelivery{}, fmt.Errorf("event id %q does not name %s=%d", ev.id, m.Topic, m.Seq)
	}
	return m.delivery()
}

// ---- Socket.IO (Engine.IO v4 over WebSocket) ----

type sioConn struct {
	ws *websocket.Conn
}

// dialSIO opens a Socket.IO session over WebSocket on addr, joins "/" and
// subscribes to patterns (one subscribe event, acked).
func dialSIO(t *testing.T, addr string, patterns ...string) *sioConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial socket.io: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &sioConn{ws: ws}
	if p, err := c.packet(protoReadTimeout); err != nil || !strings.HasPrefix(p, `0{"sid":"`) {
		t.Fatalf("engine.io open: %q, %v", p, err)
	}
	c.send(t, "40")
	if p, err := c.packet(protoReadTimeout); err != nil || !strings.HasPrefix(p, `40{"sid":"`) {
		t.Fatalf("socket.io connect: %q, %v", p, err)
	}
	arg, _ := json.Marshal(map[string][]string{"topics": patterns})
	c.send(t, `421["subscribe",`+string(arg)+`]`)
	p, err := c.packet(protoReadTimeout)
	if err != nil || !strings.HasPrefix(p, "431[") {
		t.Fatalf("subscribe %v: want the ack 431[...], got %q, %v", patterns, p, err)
	}
	var ack []struct{ Op string }
	if err := json.Unmarshal([]byte(p[3:]), &ack); err != nil || len(ack) != 1 || ack[0].Op != "ok" {
		t.Fatalf("subscribe %v: ack %q, %v", patterns, p, err)
	}
	return c
}

func (c *sioConn) send(t *testing.T, p string) {
	t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(p)); err != nil {
		t.Fatalf("write %q: %v", p, err)
	}
}

// packet returns the next Engine.IO packet other than ping (answered) and
// noop.
func (c *sioConn) packet(d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			return "", err
		}
		if typ != websocket.TextMessage {
			return "", fmt.Errorf("unexpected binary packet % x", b)
		}
		switch p := string(b); p {
		case "2":
			_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				return "", err
			}
		case "6":
		default:
			return p, nil
		}
	}
}

// next returns the next msg event: 42["msg",{...}(,"<offset>")].
func (c *sioConn) next(d time.Duration) (protoDelivery, error) {
	p, err := c.packet(d)
	if err != nil {
		return protoDelivery{}, err
	}
	var args []json.RawMessage
	if !strings.HasPrefix(p, "42[") || json.Unmarshal([]byte(p[2:]), &args) != nil || len(args) < 2 || string(args[0]) != `"msg"` {
		return protoDelivery{}, fmt.Errorf("want a msg event, got %q", p)
	}
	var m protoNative
	if err := json.Unmarshal(args[1], &m); err != nil {
		return protoDelivery{}, fmt.Errorf("msg %q: %v", p, err)
	}
	return m.delivery()
}

// ---- STOMP 1.2 over WebSocket ----

type stompConn struct {
	ws  *websocket.Conn
	buf []byte // received bytes not yet parsed into frames
}

// stompFrame is one parsed frame (headers unescaped, first occurrence wins).
type stompFrame struct {
	cmd     string
	headers map[string]string
	body    []byte
}

func dialSTOMP(t *testing.T, addr string) *stompConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"v12.stomp"}}
	ws, resp, err := d.Dial("ws://"+addr+"/stomp", nil)
	if err != nil {
		t.Fatalf("dial /stomp: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "v12.stomp" {
		t.Fatalf("/stomp selected %q", p)
	}
	c := &stompConn{ws: ws}
	c.send(t, "CONNECT\naccept-version:1.2\nhost:c1m\nheart-beat:0,0\n\n\x00")
	f, err := c.frame(protoReadTimeout)
	if err != nil || f.cmd != "CONNECTED" || f.headers["version"] != "1.2" {
		t.Fatalf("CONNECT: %+v, %v", f, err)
	}
	return c
}

func (c *stompConn) send(t *testing.T, frame string) {
	t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// subscribe subscribes id to /topic/pattern and waits for its RECEIPT.
func (c *stompConn) subscribe(t *testing.T, id, pattern string) {
	t.Helper()
	c.send(t, "SUBSCRIBE\nid:"+id+"\ndestination:/topic/"+pattern+"\nack:auto\nreceipt:r-"+id+"\n\n\x00")
	f, err := c.frame(protoReadTimeout)
	if err != nil || f.cmd != "RECEIPT" || f.headers["receipt-id"] != "r-"+id {
		t.Fatalf("SUBSCRIBE %s %s: want its RECEIPT, got %+v (%q), %v", id, pattern, f, f.body, err)
	}
}

var stompUnescape = strings.NewReplacer(`\r`, "\r", `\n`, "\n", `\c`, ":", `\\`, `\`)

// frame returns the next frame, skipping heart-beat EOLs; frames may span
// or share WebSocket messages.
func (c *stompConn) frame(d time.Duration) (stompFrame, error) {
	deadline := time.Now().Add(d)
	for {
		for len(c.buf) > 0 && (c.buf[0] == '\n' || c.buf[0] == '\r') {
			c.buf = c.buf[1:]
		}
		if f, n, err := parseStompFrame(c.buf); err != nil {
			return f, err
		} else if n > 0 {
			c.buf = c.buf[n:]
			return f, nil
		}
		_ = c.ws.SetReadDeadline(deadline)
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return stompFrame{}, err
		}
		c.buf = append(c.buf, b...)
	}
}

// parseStompFrame parses one frame at the start of b and returns it and its
// length, or a length of 0 if b holds only part of it.
func parseStompFrame(b []byte) (stompFrame, int, error) {
	f := stompFrame{headers: map[string]string{}}
	pos := 0
	line := func() (string, bool) {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return "", false
		}
		l := strings.TrimSuffix(string(b[pos:pos+i]), "\r")
		pos += i + 1
		return l, true
	}
	cmd, ok := line()
	if !ok {
		return f, 0, nil
	}
	f.cmd = cmd
	for {
		l, ok := line()
		if !ok {
			return f, 0, nil
		}
		if l == "" {
			break
		}
		k, v, found := strings.Cut(l, ":")
		if !found {
			return f, 0, fmt.Errorf("bad header line %q in %s", l, cmd)
		}
		if cmd != "CONNECTED" {
			k, v = stompUnescape.Replace(k), stompUnescape.Replace(v)
		}
		if _, dup := f.headers[k]; !dup {
			f.headers[k] = v
		}
	}
	if cl, ok := f.headers["content-length"]; ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return f, 0, fmt.Errorf("bad content-length %q", cl)
		}
		if len(b) < pos+n+1 {
			return f, 0, nil
		}
		if b[pos+n] != 0 {
			return f, 0, errors.New("no NUL after content-length octets")
		}
		f.body = append([]byte(nil), b[pos:pos+n]...)
		return f, pos + n + 1, nil
	}
	i := bytes.IndexByte(b[pos:], 0)
	if i < 0 {
		return f, 0, nil
	}
	f.body = append([]byte(nil), b[pos:pos+i]...)
	return f, pos + i + 1, nil
}

// next returns the next MESSAGE, checking its message-id and content-type.
func (c *stompConn) next(d time.Duration) (protoDelivery, error) {
	f, err := c.frame(d)
	if err != nil {
		return protoDelivery{}, err
	}
	if f.cmd != "MESSAGE" {
		return protoDelivery{}, fmt.Errorf("want a MESSAGE, got %s %v %q", f.cmd, f.headers, f.body)
	}
	topic, ok := strings.CutPrefix(f.headers["destination"], "/topic/")
	seq, err := strconv.ParseUint(f.headers["x-c1m-seq"], 10, 64)
	if !ok || err != nil || f.headers["message-id"] != topic+"/"+f.headers["x-c1m-seq"] || f.headers["content-type"] != "application/json" {
		return protoDelivery{}, fmt.Errorf("MESSAGE headers %v", f.headers)
	}
	return protoDelivery{Sub: f.headers["subscription"], Topic: topic, Seq: seq, Snap: f.headers["x-c1m-snap"] == "true", Data: string(f.body)}, nil
}

// ---- the native protocol, for the mixed test ----

type nativeConn struct{ c *wsClient }

func (n nativeConn) next(d time.Duration) (protoDelivery, error) {
	_ = n.c.ws.SetReadDeadline(time.Now().Add(d))
	_, b, err := n.c.ws.ReadMessage()
	if err != nil {
		return protoDelivery{}, err
	}
	var m protoNative
	if err := json.Unmarshal(b, &m); err != nil {
		return protoDelivery{}, fmt.Errorf("message %q: %v", b, err)
	}
	return m.delivery()
}

// ---- the tests ----

func TestClusterSSE(t *testing.T) {
	a, b, c := protoCluster(t)
	exact, side := "sse.AAPL", "sse.MSFT"
	both := []protoKey{{"", exact}, {"", side}}
	protoRun(t, a, exact, side, []protoSubscriber{
		{"sse b exact", dialSSE(t, b.addr, exact), []protoKey{{"", exact}}},
		{"sse c exact", dialSSE(t, c.addr, exact), []protoKey{{"", exact}}},
		{"sse b sse.>", dialSSE(t, b.addr, "sse.>"), both},
		{"sse c sse.*", dialSSE(t, c.addr, "sse.*"), both},
		// Exact and wildcard on one stream: each message once.
		{"sse c exact+sse.*", dialSSE(t, c.addr, exact, "sse.*"), both},
	})
}

func TestClusterSocketIO(t *testing.T) {
	a, b, c := protoCluster(t)
	exact, side := "sio.AAPL", "sio.MSFT"
	both := []protoKey{{"", exact}, {"", side}}
	protoRun(t, a, exact, side, []protoSubscriber{
		{"socket.io b exact", dialSIO(t, b.addr, exact), []protoKey{{"", exact}}},
		{"socket.io c exact", dialSIO(t, c.addr, exact), []protoKey{{"", exact}}},
		{"socket.io b sio.>", dialSIO(t, b.addr, "sio.>"), both},
		{"socket.io c sio.*", dialSIO(t, c.addr, "sio.*"), both},
		// Exact and wildcard on one socket: each message once.
		{"socket.io b exact+sio.>", dialSIO(t, b.addr, exact, "sio.>"), both},
	})
}

func TestClusterSTOMP(t *testing.T) {
	a, b, c := protoCluster(t)
	exact, side := "stomp.AAPL", "stomp.MSFT"
	sub := func(addr string, ids ...string) *stompConn {
		s := dialSTOMP(t, addr)
		for i := 0; i < len(ids); i += 2 {
			s.subscribe(t, ids[i], ids[i+1])
		}
		return s
	}
	protoRun(t, a, exact, side, []protoSubscriber{
		{"stomp b exact", sub(b.addr, "sub-0", exact), []protoKey{{"sub-0", exact}}},
		{"stomp c exact", sub(c.addr, "sub-0", exact), []protoKey{{"sub-0", exact}}},
		{"stomp b stomp.>", sub(b.addr, "sub-0", "stomp.>"), []protoKey{{"sub-0", exact}, {"sub-0", side}}},
		{"stomp c stomp.*", sub(c.addr, "sub-0", "stomp.*"), []protoKey{{"sub-0", exact}, {"sub-0", side}}},
		// Two subscriptions of one connection matching one topic each get
		// its MESSAGE.
		{"stomp c exact+stomp.*", sub(c.addr, "e", exact, "w", "stomp.*"), []protoKey{{"e", exact}, {"w", exact}, {"w", side}}},
	})
}

// Every protocol at once, on the same topics: every client of B and C gets
// the same messages, seqs and data.
func TestClusterProtocolsAlike(t *testing.T) {
	a, b, c := protoCluster(t)
	exact, side := "all.AAPL", "all.MSFT"
	one := []protoKey{{"", exact}}
	both := []protoKey{{"", exact}, {"", side}}
	var subs []protoSubscriber
	for name, n := range map[string]*node{"b": b, "c": c} {
		nb := dialWS(t, n.addr)
		nb.sub(1, []string{exact}, "")
		nw := dialWS(t, n.addr)
		nw.sub(1, []string{"all.*"}, "")
		se := dialSTOMP(t, n.addr)
		se.subscribe(t, "sub-0", exact)
		sw := dialSTOMP(t, n.addr)
		sw.subscribe(t, "sub-0", "all.>")
		subs = append(subs,
			protoSubscriber{"native " + name + " exact", nativeConn{nb}, one},
			protoSubscriber{"native " + name + " all.*", nativeConn{nw}, both},
			protoSubscriber{"sse " + name + " exact", dialSSE(t, n.addr, exact), one},
			protoSubscriber{"sse " + name + " all.>", dialSSE(t, n.addr, "all.>"), both},
			protoSubscriber{"socket.io " + name + " exact", dialSIO(t, n.addr, exact), one},
			protoSubscriber{"socket.io " + name + " all.*", dialSIO(t, n.addr, "all.*"), both},
			protoSubscriber{"stomp " + name + " exact", se, []protoKey{{"sub-0", exact}}},
			protoSubscriber{"stomp " + name + " all.>", sw, []protoKey{{"sub-0", exact}, {"sub-0", side}}},
		)
	}
	protoRun(t, a, exact, side, subs)
}
