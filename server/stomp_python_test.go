package server_test

// STOMP from Python's stomp.py (Debian's python3-stomp 8.0.0, for
// /usr/bin/python3) against a server started in process: a STOMP client from
// another ecosystem, written by other people from the same specification.
// stomp.py 8.0.0 has no WebSocket transport, so the test runs a small
// TCP-to-WebSocket bridge on loopback, as websockify does: each TCP read from
// stomp.py goes to /stomp as one WebSocket message (subprotocol v12.stomp),
// each WebSocket message from the server goes to TCP as is. The bridge only
// frames; every STOMP byte on the wire is stomp.py's or the server's. The
// script prints one JSON line per check; the test asserts those, the
// script's exit status, what the bridge saw (escaped headers on the wire,
// the close codes) and the server's counters.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/server"
)

const pyStompPython = "/usr/bin/python3"

// pyBridge accepts stomp.py's TCP connections on 127.0.0.1 and carries each
// over its own WebSocket to the server's /stomp.
type pyBridge struct {
	ln    net.Listener
	wsURL string
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns []*pyBridgeConn
}

// pyBridgeConn is one bridged connection, with what went through it.
type pyBridgeConn struct {
	tcp   net.Conn
	ws    *websocket.Conn
	proto string        // the negotiated subprotocol
	done  chan struct{} // closed when the server side has ended

	mu         sync.Mutex
	up, down   bytes.Buffer // the first pyBridgeCapture bytes each way
	upMsgs     int          // WebSocket messages sent to the server
	downMsgs   int          // and received from it
	serverDone error        // the error that ended reading the WebSocket
}

const (
	pyBridgeMaxConns = 4
	pyBridgeCapture  = 256 << 10
)

func startPyBridge(t *testing.T, serverAddr string) *pyBridge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &pyBridge{ln: ln, wsURL: "ws://" + serverAddr + "/stomp"}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.tcp.Close()
			c.ws.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *pyBridge) accept() {
	defer b.wg.Done()
	for {
		tcp, err := b.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		b.mu.Lock()
		full := len(b.conns) >= pyBridgeMaxConns
		b.mu.Unlock()
		if full {
			tcp.Close()
			continue
		}
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"v12.stomp"}}
		ws, resp, err := d.Dial(b.wsURL, nil)
		if err != nil {
			tcp.Close()
			continue
		}
		c := &pyBridgeConn{tcp: tcp, ws: ws, proto: resp.Header.Get("Sec-WebSocket-Protocol"), done: make(chan struct{})}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		b.wg.Add(2)
		go func() { defer b.wg.Done(); c.toClient() }()
		go func() { defer b.wg.Done(); c.toServer() }()
	}
}

func capture(buf *bytes.Buffer, p []byte) {
	if room := pyBridgeCapture - buf.Len(); room > 0 {
		buf.Write(p[:min(len(p), room)])
	}
}

// toClient writes each WebSocket message to TCP as is; when the server ends
// the WebSocket (normally with a close frame), it closes the TCP connection,
// which stomp.py sees as the end of the connection.
func (c *pyBridgeConn) toClient() {
	defer close(c.done)
	defer c.tcp.Close()
	for {
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.serverDone = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.downMsgs++
		capture(&c.down, p)
		c.mu.Unlock()
		if _, err := c.tcp.Write(p); err != nil {
			return
		}
	}
}

// toServer sends each TCP read as one WebSocket message: a text message, or
// a binary one when the read does not hold valid UTF-8 (a read may end in
// the middle of a character; STOMP allows frames in either). When stomp.py
// closes its socket, the server is given up to 5 s to close the WebSocket
// itself (as after DISCONNECT or an ERROR), so the bridge records the
// server's close code rather than its own.
func (c *pyBridgeConn) toServer() {
	defer c.ws.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.tcp.Read(buf)
		if n > 0 {
			mt := websocket.TextMessage
			if !utf8.Valid(buf[:n]) {
				mt = websocket.BinaryMessage
			}
			c.mu.Lock()
			c.upMsgs++
			capture(&c.up, buf[:n])
			c.mu.Unlock()
			if werr := c.ws.WriteMessage(mt, buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// closeCode is the code of the server's close frame, or -1.
func (c *pyBridgeConn) closeCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *websocket.CloseError
	if errors.As(c.serverDone, &ce) {
		return ce.Code
	}
	return -1
}

func (b *pyBridge) snapshot() []*pyBridgeConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*pyBridgeConn(nil), b.conns...)
}

// logRaw logs every bridged byte, for a failure report.
func (b *pyBridge) logRaw(t *testing.T) {
	for i, c := range b.snapshot() {
		c.mu.Lock()
		t.Logf("bridge conn %d (%s, %d messages up, %d down, ended by %v)\n  stomp.py -> server: %q\n  server -> stomp.py: %q",
			i, c.proto, c.upMsgs, c.downMsgs, c.serverDone, c.up.Bytes(), c.down.Bytes())
		c.mu.Unlock()
	}
}

// pyStompAvailable reports whether /usr/bin/python3 can import stomp.
func pyStompAvailable(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pyStompPython, "-I", "-c", "import stomp; print(stomp.__version__)").CombinedOutput()
	if err == nil {
		t.Logf("stomp.py %s", strings.TrimSpace(string(out)))
		return
	}
	const install = "apt-get install -y python3-stomp"
	if os.Getenv("C1M_REQUIRE_PYSTOMP") == "1" {
		t.Fatalf("C1M_REQUIRE_PYSTOMP=1 but %s cannot import stomp (%v: %s); install it with `%s`", pyStompPython, err, bytes.TrimSpace(out), install)
	}
	t.Skipf("%s cannot import stomp (%v); install it with `%s` (set C1M_REQUIRE_PYSTOMP=1 to make this a failure)", pyStompPython, err, install)
}

// pyCheck is one JSON line of the script.
type pyCheck map[string]any

// str follows keys through nested objects to a string ("" if absent).
func (c pyCheck) str(keys ...string) string {
	var v any = map[string]any(c)
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func TestStompPython(t *testing.T) {
	pyStompAvailable(t)
	begin := time.Now()

	const nlive = 6
	s, addr := start(t, server.Config{
		ClientPublish: true,
		Hub:           hubCfg{HistorySize: 1024},
		Stomp:         server.StompConfig{HeartBeatSend: 500 * time.Millisecond, HeartBeatRecv: 500 * time.Millisecond},
	})
	h := s.Hub()
	epoch := h.Epoch()
	if _, err := h.Publish("py.last", []byte(`{"px":1}`), time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	b := startPyBridge(t, addr)
	host, port, _ := net.SplitHostPort(b.ln.Addr().String())

	script := filepath.Join(t.TempDir(), "stomp_client.py")
	if err := os.WriteFile(script, []byte(pyStompScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// -I: isolated from PYTHONPATH and user site-packages (a pyenv may be
	// first on PATH and in the environment); Debian's dist-packages stay.
	cmd := exec.CommandContext(ctx, pyStompPython, "-I", script, host, port, epoch, strconv.Itoa(nlive))
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	checks := map[string]pyCheck{}
	var order []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var c pyCheck
		if err := json.Unmarshal(line, &c); err != nil {
			t.Errorf("script printed a line that is not JSON: %q", line)
			continue
		}
		name := c.str("check")
		checks[name] = c
		order = append(order, name)
		if c["ok"] != true {
			t.Errorf("python check %s failed: %s", name, line)
		} else {
			t.Logf("python: %s", line)
		}
		if c.str("await") == "live" {
			// The subscription is in place (its RECEIPT arrived): publish from
			// the Go side, alternating two topics the pattern matches.
			for i := range nlive {
				topic := "py.a"
				if i%2 == 1 {
					topic = "py.b"
				}
				if _, err := h.Publish(topic, []byte(`{"i":`+strconv.Itoa(i)+`}`), time.Now().UnixNano()); err != nil {
					t.Errorf("publish %s: %v", topic, err)
				}
			}
		}
	}
	werr := cmd.Wait()
	t.Logf("script done after %v", time.Since(begin).Round(time.Millisecond))
	if werr != nil || ctx.Err() != nil {
		t.Errorf("script: %v (context: %v)\nstderr:\n%s", werr, ctx.Err(), stderr.String())
	}

	want := []string{"connect", "subscribe", "live", "send", "transaction", "unsubscribe", "error", "heartbeat", "disconnect", "done"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("checks %v, want %v", order, want)
	}
	eq := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	if c := checks["connect"]; c != nil {
		eq("CONNECTED version", c.str("headers", "version"), "1.2")
		eq("CONNECTED server", c.str("headers", "server"), "c1m")
		eq("CONNECTED heart-beat", c.str("headers", "heart-beat"), "500,500")
	}
	if c := checks["subscribe"]; c != nil {
		for k, v := range map[string]string{
			"subscription": "py:sub", "message-id": "py.last/1", "destination": "/topic/py.last",
			"ack": "py.last/1/py:sub", "content-type": "application/json", "x-c1m-seq": "1",
			"x-c1m-epoch": epoch, "x-c1m-snap": "true",
		} {
			eq("snapshot "+k, c.str("snapshot", k), v)
		}
		eq("snapshot body", c.str("body"), `{"px":1}`)
		eq("subscribe RECEIPT x-c1m-epoch", c.str("receipt", "x-c1m-epoch"), epoch)
		eq("snapshot before RECEIPT", c.str("snapshot_before_receipt"), "true")
	}
	if c := checks["live"]; c != nil {
		eq("live count", c.str("count"), strconv.Itoa(nlive))
		eq("live acked", c.str("acked"), strconv.Itoa(nlive))
		for k, v := range map[string]string{
			"subscription": "py:sub", "message-id": "py.a/1", "destination": "/topic/py.a",
			"ack": "py.a/1/py:sub", "content-type": "application/json", "x-c1m-seq": "1", "x-c1m-epoch": epoch,
		} {
			eq("first live "+k, c.str("first", k), v)
		}
		eq("last live message-id", c.str("last", "message-id"), fmt.Sprintf("py.b/%d", nlive/2))
	}
	if c := checks["send"]; c != nil {
		eq("sent JSON message-id", c.str("json", "message-id"), "py.sent/1")
		eq("sent JSON content-type", c.str("json", "content-type"), "application/json")
		eq("sent text content-type", c.str("text", "content-type"), "application/octet-stream")
	}
	if c := checks["transaction"]; c != nil {
		eq("py.tx in seq order", c.str("got"), `[["1","{\"tx\":0}"],["2","{\"tx\":1}"],["3","{\"tx\":2}"]]`)
	}
	if c := checks["error"]; c != nil {
		eq("ERROR message", c.str("headers", "message"), "bad destination")
		eq("ERROR receipt-id", c.str("headers", "receipt-id"), "r-bad")
	}

	// The server's side of it.
	published := uint64(1 + nlive + 2 + 3 + 1) // last value, live, send (JSON and text), transaction, after unsubscribe
	if got := h.Stats().Published; got != published {
		t.Errorf("hub published %d, want %d", got, published)
	}
	waitFor(t, 5*time.Second, "no STOMP session left", func() bool { return s.Stomp().Stats().Sessions == 0 })
	st := s.Stomp().Stats()
	if st.Subscriptions != 0 || st.Errors != 1 || st.HeartbeatLost != 0 || st.SlowConsumers != 0 || st.Dropped != 0 {
		t.Errorf("STOMP stats %+v, want no subscriptions, 1 error, nothing lost", st)
	}

	// What the bridge carried: two connections, both v12.stomp; escaped
	// headers on the wire both ways; the server closed the first with 1000
	// after the DISCONNECT receipt and the second with an error code after
	// the ERROR.
	conns := b.snapshot()
	if len(conns) != 2 {
		t.Errorf("bridge carried %d connections, want 2", len(conns))
	}
	for i, c := range conns {
		if c.proto != "v12.stomp" {
			t.Errorf("bridge conn %d subprotocol %q", i, c.proto)
		}
		// Ended by now: the script has exited and stomp.py closed its sockets.
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Errorf("bridge conn %d still open", i)
		}
	}
	if len(conns) == 2 {
		if code := conns[0].closeCode(); code != websocket.CloseNormalClosure {
			t.Errorf("server closed the main connection with %d (%v), want 1000", code, conns[0].serverDone)
		}
		if code := conns[1].closeCode(); code != websocket.CloseProtocolError && code != websocket.ClosePolicyViolation {
			t.Errorf("server closed the ERROR connection with %d (%v), want 1002 or 1008", code, conns[1].serverDone)
		}
		c := conns[0]
		c.mu.Lock()
		up, down := c.up.String(), c.down.String()
		c.mu.Unlock()
		for _, w := range []string{"\nid:py\\csub\n", "\ntransaction:py\\ctx\n", "\nid:py.a/1/py\\csub\n"} {
			if !strings.Contains(up, w) {
				t.Errorf("stomp.py did not send %q", w)
			}
		}
		for _, w := range []string{"\nsubscription:py\\csub\n", "\nack:py.a/1/py\\csub\n", "\nack:py.last/1/py\\csub\n"} {
			if !strings.Contains(down, w) {
				t.Errorf("the server did not send %q", w)
			}
		}
	}
	if t.Failed() {
		b.logRaw(t)
		t.Logf("script stderr:\n%s", stderr.String())
	}
	t.Logf("%d checks, %d published, %v", len(order), published, time.Since(begin).Round(time.Millisecond))
}

// pyStompScript is the stomp.py side: python3 script.py host port epoch nlive.
const pyStompScript = `"""c1m's STOMP test client: stomp.py over the Go test's TCP-to-WebSocket bridge.

Prints one JSON line per check and exits 1 if any failed.
"""
import json
import sys
import threading
import time
import traceback

import stomp

HOST, PORT, EPOCH, NLIVE = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
SUB = "py:sub"  # the ':' travels as \c both ways, in SUBSCRIBE id, MESSAGE subscription and ack, ACK id
WAIT = 10.0
failures = []


def report(check, ok, **fields):
    if not ok:
        failures.append(check)
    print(json.dumps(dict(fields, check=check, ok=bool(ok)), sort_keys=True), flush=True)


def diff(headers, want):
    """The headers that differ from want: {name: [got, want]}."""
    if headers is None:
        return {"frame": "missing"}
    return {k: [headers.get(k), v] for k, v in want.items() if headers.get(k) != v}


def shown(frame):
    """A frame's headers without the publish time, for the report."""
    if frame is None:
        return None
    return {k: v for k, v in frame[1].items() if k != "x-c1m-ts"}


class Collector(stomp.ConnectionListener):
    """Every frame stomp.py hands its listener, in arrival order."""

    def __init__(self):
        self.cond = threading.Condition()
        self.frames = []  # (command, headers, body)
        self.heartbeats = 0
        self.disconnected = False

    def _add(self, cmd, frame):
        with self.cond:
            self.frames.append((cmd, dict(frame.headers), frame.body))
            self.cond.notify_all()

    def on_connected(self, frame):
        self._add("CONNECTED", frame)

    def on_message(self, frame):
        self._add("MESSAGE", frame)

    def on_receipt(self, frame):
        self._add("RECEIPT", frame)

    def on_error(self, frame):
        self._add("ERROR", frame)

    def on_heartbeat(self):
        with self.cond:
            self.heartbeats += 1
            self.cond.notify_all()

    def on_disconnected(self):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()

    def wait(self, pred, timeout=WAIT):
        """pred() (called with the lock held) once truthy, or None at the deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = pred()
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def select(self, cmd, where):
        return [f for f in self.frames if f[0] == cmd and all(f[1].get(k) == v for k, v in where.items())]

    def first(self, cmd, where=None, timeout=WAIT):
        return self.wait(lambda: (self.select(cmd, where or {}) or [None])[0], timeout)

    def at_least(self, n, cmd, where, timeout=WAIT):
        got = self.wait(lambda: len(self.select(cmd, where)) >= n, timeout)
        with self.cond:
            return self.select(cmd, where) if got else None

    def index(self, frame):
        with self.cond:
            return next(i for i, f in enumerate(self.frames) if f is frame)

    def receipts(self, *ids):
        """True once every receipt in ids has arrived."""
        return all(self.first("RECEIPT", {"receipt-id": r}) for r in ids)


def ack_all(conn, lst, frames, prefix):
    """ACKs each frame by its ack header with a receipt; the number acknowledged."""
    ids = []
    for i, f in enumerate(frames):
        rid = "%s-%d" % (prefix, i)
        conn.ack(id=f[1]["ack"], receipt=rid)
        ids.append(rid)
    return sum(1 for r in ids if lst.first("RECEIPT", {"receipt-id": r}))


def connect(lst, heartbeats):
    conn = stomp.Connection12([(HOST, PORT)], heartbeats=heartbeats, reconnect_attempts_max=1)
    conn.set_listener("collector", lst)
    conn.connect(wait=False)  # a STOMP frame with accept-version:1.2, host, heart-beat
    return conn, lst.first("CONNECTED")


def run():
    lst = Collector()
    conn, cf = connect(lst, (2000, 2000))
    report("connect", cf is not None and cf[1].get("version") == "1.2", headers=cf and cf[1])
    if cf is None:
        return

    # A pattern subscription with client-individual acks: the last value
    # first (x-c1m-snap), then its RECEIPT.
    conn.subscribe("/topic/py.*", id=SUB, ack="client-individual", receipt="r-sub")
    rc = lst.first("RECEIPT", {"receipt-id": "r-sub"})
    snap = lst.first("MESSAGE", {"x-c1m-snap": "true"})
    d = diff(snap and snap[1], {
        "subscription": SUB, "message-id": "py.last/1", "destination": "/topic/py.last",
        "ack": "py.last/1/" + SUB, "content-type": "application/json", "x-c1m-seq": "1",
        "x-c1m-epoch": EPOCH, "x-c1m-snap": "true",
    })
    before = bool(snap and rc and lst.index(snap) < lst.index(rc))
    acked = ack_all(conn, lst, [snap] if snap else [], "a-snap")
    report("subscribe", rc is not None and not d and snap[2] == '{"px":1}' and before and acked == 1,
           snapshot=shown(snap), body=snap and snap[2], receipt=rc and rc[1], diff=d,
           snapshot_before_receipt=before, **{"await": "live"})

    # Live messages the Go side publishes on seeing "await": "live".
    def live_frames():
        fs = [f for f in lst.select("MESSAGE", {"subscription": SUB})
              if f[1].get("destination") in ("/topic/py.a", "/topic/py.b")]
        return fs[:NLIVE] if len(fs) >= NLIVE else None
    live = lst.wait(live_frames) or []
    diffs = []
    for i, f in enumerate(live):
        topic = "py.a" if i % 2 == 0 else "py.b"
        seq = str(i // 2 + 1)
        d = diff(f[1], {
            "subscription": SUB, "message-id": topic + "/" + seq, "destination": "/topic/" + topic,
            "ack": topic + "/" + seq + "/" + SUB, "content-type": "application/json",
            "x-c1m-seq": seq, "x-c1m-epoch": EPOCH,
        })
        if "x-c1m-snap" in f[1]:
            d["x-c1m-snap"] = [f[1]["x-c1m-snap"], None]
        if json.loads(f[2]) != {"i": i}:
            d["body"] = [f[2], {"i": i}]
        if d:
            diffs.append(d)
    acked = ack_all(conn, lst, live, "a-live")
    report("live", len(live) == NLIVE and not diffs and acked == NLIVE, count=len(live), acked=acked,
           first=shown(live[0]) if live else None, last=shown(live[-1]) if live else None, diffs=diffs)

    # SEND with a receipt, delivered back on the subscription: JSON, and a
    # UTF-8 text that is not JSON (published as binary, given back as is).
    text = "h\u00e9llo, w\u00f6rld \u2603"
    conn.send("/topic/py.sent", '{"from":"python"}', content_type="application/json", receipt="r-send")
    conn.send("/queue/py.text", text, receipt="r-text")
    got_receipts = lst.receipts("r-send", "r-text")
    mj = lst.first("MESSAGE", {"destination": "/topic/py.sent"})
    mt = lst.first("MESSAGE", {"destination": "/topic/py.text"})
    dj = diff(mj and mj[1], {"subscription": SUB, "message-id": "py.sent/1", "ack": "py.sent/1/" + SUB,
                             "content-type": "application/json", "x-c1m-seq": "1", "x-c1m-epoch": EPOCH})
    dt = diff(mt and mt[1], {"subscription": SUB, "message-id": "py.text/1", "content-type": "application/octet-stream",
                             "content-length": str(len(text.encode("utf-8")))})
    bodies_ok = bool(mj and mt and mj[2] == '{"from":"python"}' and mt[2] == text)
    acked = ack_all(conn, lst, [f for f in (mj, mt) if f], "a-send")
    report("send", got_receipts and not dj and not dt and bodies_ok and acked == 2,
           json=shown(mj), text=shown(mt), bodies=[mj and mj[2], mt and mt[2]], diffs=[dj, dt])

    # A transaction: its SENDs wait for the COMMIT, so a SEND outside it,
    # made after them but before the COMMIT, is published first.
    conn.begin(transaction="py:tx", receipt="r-begin")
    conn.send("/topic/py.tx", '{"tx":1}', content_type="application/json", transaction="py:tx", receipt="r-tx1")
    conn.send("/topic/py.tx", '{"tx":2}', content_type="application/json", transaction="py:tx", receipt="r-tx2")
    r1 = lst.receipts("r-begin", "r-tx1", "r-tx2")
    conn.send("/topic/py.tx", '{"tx":0}', content_type="application/json", receipt="r-tx0")
    r2 = lst.receipts("r-tx0")
    conn.commit(transaction="py:tx", receipt="r-commit")
    r3 = lst.receipts("r-commit")
    tx = lst.at_least(3, "MESSAGE", {"destination": "/topic/py.tx"}) or []
    got = [[f[1].get("x-c1m-seq"), f[2]] for f in tx]
    acked = ack_all(conn, lst, tx, "a-tx")
    report("transaction", r1 and r2 and r3 and got == [["1", '{"tx":0}'], ["2", '{"tx":1}'], ["3", '{"tx":2}']] and acked == 3,
           got=got, receipts=[r1, r2, r3])

    # UNSUBSCRIBE: a message matching the old pattern reaches only the other
    # subscription.
    conn.subscribe("/topic/py.after", id="py:after", receipt="r-sub2")
    r1 = lst.receipts("r-sub2")
    conn.unsubscribe(id=SUB, receipt="r-unsub")
    r2 = lst.receipts("r-unsub")
    conn.send("/topic/py.after", '{"after":true}', content_type="application/json", receipt="r-after")
    r3 = lst.receipts("r-after")
    m = lst.first("MESSAGE", {"subscription": "py:after", "destination": "/topic/py.after"})
    conn.unsubscribe(id="py:none", receipt="r-sync")  # a round trip after the delivery
    r4 = lst.receipts("r-sync")
    with lst.cond:
        stray = [shown(f) for f in lst.select("MESSAGE", {"subscription": SUB, "destination": "/topic/py.after"})]
    report("unsubscribe", r1 and r2 and r3 and r4 and m is not None and not stray, delivered=shown(m), stray=stray)

    # A SUBSCRIBE to a bad destination, on a second connection: an ERROR,
    # then the server closes that connection.
    lst2 = Collector()
    conn2, cf2 = connect(lst2, (0, 0))
    if cf2 is not None:
        conn2.subscribe("/exchange/py", id="bad", receipt="r-bad")
    e = lst2.first("ERROR")
    closed = lst2.wait(lambda: lst2.disconnected)
    with lst2.cond:
        others = [f[0] for f in lst2.frames if f[0] not in ("CONNECTED", "ERROR")]
    report("error", cf2 is not None and e is not None and e[1].get("message") == "bad destination"
           and e[1].get("receipt-id") == "r-bad" and "/exchange/py" in e[2] and bool(closed) and not others,
           headers=e and e[1], body=e and e[2], closed=bool(closed), others=others)

    # The main connection lives on: the server's heart-beats (every 2 s,
    # the larger of its 500 ms and our 2000) reach stomp.py.
    hb = lst.wait(lambda: lst.heartbeats >= 1, timeout=3 * 2.0 + 2)
    report("heartbeat", bool(hb), received=lst.heartbeats)

    # DISCONNECT with a receipt (stomp.py then waits for the socket to end:
    # in a thread, bounded).
    t = threading.Thread(target=conn.disconnect, kwargs={"receipt": "bye"}, daemon=True)
    t.start()
    rc = lst.first("RECEIPT", {"receipt-id": "bye"})
    closed = lst.wait(lambda: lst.disconnected)
    t.join(WAIT)
    with lst.cond:
        errors = [[f[1], f[2]] for f in lst.frames if f[0] == "ERROR"]
    report("disconnect", rc is not None and bool(closed) and not t.is_alive() and not errors,
           receipt=rc and rc[1], closed=bool(closed), errors=errors)


try:
    run()
except Exception:
    report("exception", False, error=traceback.format_exc())
failed = list(failures)
report("done", not failed, failures=failed)
sys.exit(1 if failed else 0)
`
