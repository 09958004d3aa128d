package server_test

// STOMP over WebSocket from a Go client against a server started in
// process. The client is a small STOMP 1.2 client written from the
// specification for this test, not go-stomp (github.com/go-stomp/stomp/v3):
// the Go module proxy this project reaches refuses that module (403 "not
// available", for v3 and for the older module path). It shares no code with
// proto/stomp: its own frame encoder (with header escaping), its own stream
// parser (content-length or NUL, heart-beat EOLs between frames), a
// gorilla/websocket connection read as one byte stream, and writes cut into
// small WebSocket messages the way a client built on a net.Conn stream would
// send them through a bridge, so the server must reassemble frames split
// across messages, and split messages holding more than one frame. A client
// from another ecosystem, stomp.py, is in stomp_python_test.go.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

// gsStream is a WebSocket connection as a byte stream: Read goes on across
// messages; Write sends its bytes in messages of at most chunk bytes.
type gsStream struct {
	ws    *websocket.Conn
	r     io.Reader
	wmu   sync.Mutex
	chunk int
}

func (s *gsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (s *gsStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for off := 0; off < len(p); {
		end := min(len(p), off+s.chunk)
		if err := s.ws.WriteMessage(websocket.TextMessage, p[off:end]); err != nil {
			return off, err
		}
		off = end
	}
	return len(p), nil
}

// gsFrame is one STOMP frame.
type gsFrame struct {
	Command string
	Headers [][2]string // in order; the first of a repeated name counts
	Body    []byte
}

func (f *gsFrame) Get(name string) (string, bool) {
	for _, h := range f.Headers {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

func (f *gsFrame) H(name string) string { v, _ := f.Get(name); return v }

func (f *gsFrame) String() string {
	var b strings.Builder
	b.WriteString(f.Command)
	for _, h := range f.Headers {
		b.WriteString(" " + h[0] + ":" + h[1])
	}
	fmt.Fprintf(&b, " body=%q", f.Body)
	return b.String()
}

var gsEscaper = strings.NewReplacer(`\`, `\\`, "\r", `\r`, "\n", `\n`, ":", `\c`)

// encode writes f in STOMP 1.2 form (escaped header values, content-length
// when there is a body).
func (f *gsFrame) encode() []byte {
	var b bytes.Buffer
	b.WriteString(f.Command + "\n")
	for _, h := range f.Headers {
		b.WriteString(gsEscaper.Replace(h[0]) + ":" + gsEscaper.Replace(h[1]) + "\n")
	}
	if len(f.Body) > 0 {
		b.WriteString("content-length:" + strconv.Itoa(len(f.Body)) + "\n")
	}
	b.WriteString("\n")
	b.Write(f.Body)
	b.WriteByte(0)
	return b.Bytes()
}

func gsUnescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("header %q ends in a backslash", s)
		}
		i++
		switch s[i] {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 'c':
			b.WriteByte(':')
		case '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf("undefined escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}

// gsClient is the test's STOMP client.
type gsClient struct {
	t     testing.TB
	ws    *websocket.Conn
	s     *gsStream
	r     *bufio.Reader
	beats atomic.Int64 // heart-beat EOLs received
	stop  chan struct{}
	once  sync.Once
}

// gsDial opens a WebSocket to /stomp offering the STOMP subprotocols; frames
// are written in messages of at most chunk bytes.
func gsDial(t testing.TB, addr string, chunk int) *gsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{"v12.stomp", "v11.stomp", "v10.stomp"}}
	ws, resp, err := d.Dial("ws://"+addr+"/stomp", nil)
	if err != nil {
		t.Fatalf("dial /stomp: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "v12.stomp" {
		t.Errorf("subprotocol %q, want v12.stomp", got)
	}
	s := &gsStream{ws: ws, chunk: chunk}
	c := &gsClient{t: t, ws: ws, s: s, r: bufio.NewReader(s), stop: make(chan struct{})}
	t.Cleanup(func() { c.close() })
	return c
}

func (c *gsClient) close() {
	c.once.Do(func() { close(c.stop) })
	c.ws.Close()
}

func (c *gsClient) send(cmd string, body []byte, kv ...string) {
	c.t.Helper()
	f := &gsFrame{Command: cmd, Body: body}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Headers = append(f.Headers, [2]string{kv[i], kv[i+1]})
	}
	if _, err := c.s.Write(f.encode()); err != nil {
		c.t.Fatalf("write %s: %v", cmd, err)
	}
}

// read returns the next frame, counting heart-beat EOLs before it.
func (c *gsClient) read(timeout time.Duration) (*gsFrame, error) {
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == '\n' {
			c.beats.Add(1)
			continue
		}
		if b == '\r' {
			if b, err = c.r.ReadByte(); err != nil || b != '\n' {
				return nil, fmt.Errorf("CR not followed by LF (%v)", err)
			}
			c.beats.Add(1)
			continue
		}
		c.r.UnreadByte()
		break
	}
	line := func() (string, error) {
		s, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
	}
	cmd, err := line()
	if err != nil {
		return nil, err
	}
	f := &gsFrame{Command: cmd}
	for {
		l, err := line()
		if err != nil {
			return nil, err
		}
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("header line %q has no colon", l)
		}
		if cmd != "CONNECTED" { // CONNECTED headers are not escaped (1.2)
			if k, err = gsUnescape(k); err != nil {
				return nil, err
			}
			if v, err = gsUnescape(v); err != nil {
				return nil, err
			}
		}
		f.Headers = append(f.Headers, [2]string{k, v})
	}
	if cl, ok := f.Get("content-length"); ok {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad content-length %q", cl)
		}
		f.Body = make([]byte, n)
		if _, err := io.ReadFull(c.r, f.Body); err != nil {
			return nil, err
		}
		if b, err := c.r.ReadByte(); err != nil || b != 0 {
			return nil, fmt.Errorf("body of content-length %d not followed by NUL (%q, %v)", n, b, err)
		}
	} else {
		body, err := c.r.ReadBytes(0)
		if err != nil {
			return nil, err
		}
		f.Body = body[:len(body)-1]
	}
	return f, nil
}

func (c *gsClient) expect(cmd string) *gsFrame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("want %s: %v", cmd, err)
	}
	if f.Command != cmd {
		c.t.Fatalf("want %s, got %s", cmd, f)
	}
	return f
}

// connect sends CONNECT with heart-beat cx,cy and returns CONNECTED.
func (c *gsClient) connect(cx, cy int, kv ...string) *gsFrame {
	c.t.Helper()
	hb := strconv.Itoa(cx) + "," + strconv.Itoa(cy)
	c.send("CONNECT", nil, append([]string{"accept-version", "1.0,1.1,1.2", "host", "c1m", "heart-beat", hb}, kv...)...)
	f := c.expect("CONNECTED")
	if cx > 0 {
		go c.heartBeat(time.Duration(cx) * time.Millisecond)
	}
	return f
}

// heartBeat sends an EOL every d/2 (well within the promised d) until the
// client closes.
func (c *gsClient) heartBeat(d time.Duration) {
	t := time.NewTicker(d / 2)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if _, err := c.s.Write([]byte{'\n'}); err != nil {
				return
			}
		}
	}
}

func gsCheck(t *testing.T, f *gsFrame, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := f.Get(k); !ok || got != v {
			t.Errorf("%s: header %s = %q (present %v), want %q\n%s", f.Command, k, got, ok, v, f)
		}
	}
}

func gsPublishBytes(t *testing.T, addr, topic string, data []byte) {
	t.Helper()
	r, err := http.Post("http://"+addr+"/publish?topic="+topic, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish %s: %d", topic, r.StatusCode)
	}
}

func TestStompGoClient(t *testing.T) {
	s, addr := start(t, server.Config{ClientPublish: true, Stomp: server.StompConfig{HeartBeatSend: 50 * time.Millisecond, HeartBeatRecv: 50 * time.Millisecond}})
	epoch := s.Hub().Epoch()
	publish(t, addr, "gs.quote.AAA", `{"px":1}`)

	c := gsDial(t, addr, 7) // 7-byte messages: every frame is split
	cf := c.connect(60, 60, "login", "guest", "passcode", "guest")
	gsCheck(t, cf, map[string]string{"version": "1.2", "server": "c1m", "heart-beat": "50,50"})
	if cf.H("session") == "" {
		t.Errorf("CONNECTED without session: %s", cf)
	}

	t.Run("subscribe client-individual: snapshot then live, acked", func(t *testing.T) {
		c.send("SUBSCRIBE", nil, "id", "s:1", "destination", "/topic/gs.quote.AAA", "ack", "client-individual", "receipt", "r-sub")
		snap := c.expect("MESSAGE")
		gsCheck(t, snap, map[string]string{
			"subscription": "s:1", "message-id": "gs.quote.AAA/1", "destination": "/topic/gs.quote.AAA",
			"ack": "gs.quote.AAA/1/s:1", "content-type": "application/json", "content-length": "8",
			"x-c1m-epoch": epoch, "x-c1m-seq": "1", "x-c1m-snap": "true",
		})
		if string(snap.Body) != `{"px":1}` {
			t.Errorf("snapshot body %q", snap.Body)
		}
		ts, err := strconv.ParseInt(snap.H("x-c1m-ts"), 10, 64)
		if err != nil || time.Since(time.Unix(0, ts)).Abs() > time.Minute {
			t.Errorf("x-c1m-ts %q", snap.H("x-c1m-ts"))
		}
		rc := c.expect("RECEIPT")
		gsCheck(t, rc, map[string]string{"receipt-id": "r-sub", "x-c1m-epoch": epoch, "x-c1m-seq": "1"})

		publish(t, addr, "gs.quote.AAA", `{"px":2}`)
		gsPublishBytes(t, addr, "gs.quote.AAA", []byte{0, 0xff, 'x'})
		live := c.expect("MESSAGE")
		gsCheck(t, live, map[string]string{"x-c1m-seq": "2", "message-id": "gs.quote.AAA/2", "ack": "gs.quote.AAA/2/s:1"})
		if _, ok := live.Get("x-c1m-snap"); ok {
			t.Errorf("live MESSAGE has x-c1m-snap: %s", live)
		}
		bin := c.expect("MESSAGE")
		gsCheck(t, bin, map[string]string{"x-c1m-seq": "3", "content-type": "application/octet-stream", "content-length": "3"})
		if !bytes.Equal(bin.Body, []byte{0, 0xff, 'x'}) {
			t.Errorf("binary body %q", bin.Body)
		}
		for i, m := range []*gsFrame{snap, live, bin} {
			c.send("ACK", nil, "id", m.H("ack"), "receipt", "a"+strconv.Itoa(i))
			gsCheck(t, c.expect("RECEIPT"), map[string]string{"receipt-id": "a" + strconv.Itoa(i)})
		}
	})

	t.Run("SEND with receipt, two frames in one WebSocket message", func(t *testing.T) {
		p := gsDial(t, addr, 1<<20)
		p.connect(0, 0)
		f1 := (&gsFrame{Command: "SEND", Headers: [][2]string{{"destination", "/topic/gs.quote.AAA"}, {"content-type", "application/json"}}, Body: []byte(`{"px":4}`)}).encode()
		f2 := (&gsFrame{Command: "SEND", Headers: [][2]string{{"destination", "/queue/gs.quote.AAA"}, {"receipt", "p-2"}}, Body: []byte("text\x00with NUL")}).encode()
		if err := p.ws.WriteMessage(websocket.TextMessage, append(f1, f2...)); err != nil {
			t.Fatal(err)
		}
		gsCheck(t, p.expect("RECEIPT"), map[string]string{"receipt-id": "p-2"})
		m1, m2 := c.expect("MESSAGE"), c.expect("MESSAGE")
		gsCheck(t, m1, map[string]string{"x-c1m-seq": "4", "content-type": "application/json"})
		gsCheck(t, m2, map[string]string{"x-c1m-seq": "5", "content-type": "application/octet-stream", "destination": "/topic/gs.quote.AAA"})
		if string(m1.Body) != `{"px":4}` || string(m2.Body) != "text\x00with NUL" {
			t.Errorf("bodies %q %q", m1.Body, m2.Body)
		}
		c.send("ACK", nil, "id", m1.H("ack"))
		c.send("ACK", nil, "id", m2.H("ack"), "receipt", "a-sent")
		gsCheck(t, c.expect("RECEIPT"), map[string]string{"receipt-id": "a-sent"})
	})

	t.Run("heart-beats both ways keep the session", func(t *testing.T) {
		n := c.beats.Load()
		// Each read below waits for a heart-beat: a frame would be an error.
		c.send("SUBSCRIBE", nil, "id", "hb", "destination", "/topic/gs.none", "receipt", "r-hb")
		gsCheck(t, c.expect("RECEIPT"), map[string]string{"receipt-id": "r-hb"})
		deadline := time.Now().Add(5 * time.Second)
		for c.beats.Load() < n+8 && time.Now().Before(deadline) {
			c.ws.SetReadDeadline(time.Now().Add(time.Second))
			b, err := c.r.ReadByte()
			if err != nil {
				t.Fatalf("connection ended while idle: %v", err)
			}
			if b != '\n' {
				t.Fatalf("unexpected byte %q while idle", b)
			}
			c.beats.Add(1)
		}
		if got := c.beats.Load() - n; got < 8 {
			t.Fatalf("%d heart-beats from the server in 5s at 60ms", got)
		}
	})

	t.Run("ERROR on a bad destination, then the connection closes", func(t *testing.T) {
		b := gsDial(t, addr, 3)
		b.connect(0, 0)
		b.send("SUBSCRIBE", nil, "id", "x", "destination", "/exchange/gs", "receipt", "r-bad")
		e := b.expect("ERROR")
		gsCheck(t, e, map[string]string{"message": "bad destination", "receipt-id": "r-bad", "content-length": strconv.Itoa(len(e.Body))})
		if !bytes.Contains(e.Body, []byte("/exchange/gs")) {
			t.Errorf("ERROR body %q does not name the destination", e.Body)
		}
		_, err := b.read(5 * time.Second)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code == websocket.CloseNormalClosure {
			t.Errorf("after ERROR: %v, want a close with an error code", err)
		}
		// The first client is unaffected.
		publish(t, addr, "gs.quote.AAA", `{"px":6}`)
		m := c.expect("MESSAGE")
		gsCheck(t, m, map[string]string{"x-c1m-seq": "6"})
		c.send("ACK", nil, "id", m.H("ack"))
	})

	t.Run("DISCONNECT with receipt: RECEIPT, then close", func(t *testing.T) {
		c.send("DISCONNECT", nil, "receipt", "bye")
		gsCheck(t, c.expect("RECEIPT"), map[string]string{"receipt-id": "bye"})
		_, err := c.read(5 * time.Second)
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("after DISCONNECT: %v, want close 1000", err)
		}
		waitFor(t, 5*time.Second, "no STOMP session left", func() bool { return s.Stomp().Stats().Sessions == 0 })
	})
}
