package loadgen

import (
	"strconv"
	"strings"
	"testing"
)

// c1mMessage is a MESSAGE frame as c1m's /stomp sends one: its headers, and
// the published JSON data as the body.
func c1mMessage(seq int, ts int64, pad int) string {
	body := `{"p":"` + strings.Repeat("x", pad) + `"}`
	return "MESSAGE\nsubscription:sub-0\nmessage-id:" + strconv.Itoa(seq) + "\ndestination:/topic/bench.0\ncontent-type:application/json\ncontent-length:" +
		strconv.Itoa(len(body)) + "\nx-c1m-seq:" + strconv.Itoa(seq) + "\nx-c1m-epoch:k3v9\nx-c1m-ts:" + strconv.FormatInt(ts, 10) + "\n\n" + body + "\x00"
}

// rabbitMessage is a MESSAGE frame recorded from RabbitMQ 3.10.8's Web-STOMP
// (one per WebSocket message, followed by an EOL), carrying a body the load
// generator's STOMP publisher stamped.
const rabbitMessage = "MESSAGE\nsubscription:sub-0\ndestination:/topic/bench.0\nmessage-id:T_sub-0@@session-uSKRnwZVlJBg6WwTJDprCA@@1\n" +
	"redelivered:false\ncontent-type:application/json\ncontent-length:45\n\n{\"ts\":1764491357123456789,\"seq\":7,\"p\":\"xxxx\"}\x00\n"

// rabbitConnected is RabbitMQ's answer to the client's CONNECT (recorded).
const rabbitConnected = "CONNECTED\nserver:RabbitMQ/3.10.8\nsession:session-uSKRnwZVlJBg6WwTJDprCA\nheart-beat:0,0\nversion:1.2\n\n\x00\n"

func TestParseSTOMPFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		kind int
		seq  uint64
		ts   int64
		body string
		n    int // bytes used; -1: all of in
		err  error
	}{
		{name: "c1m message", in: c1mMessage(42, 1764491357123456789, 3), kind: KindMsg, seq: 42, ts: 1764491357123456789, body: `{"p":"xxx"}`, n: -1},
		{name: "rabbit message", in: rabbitMessage, kind: KindMsg, seq: 7, ts: 1764491357123456789, body: `{"ts":1764491357123456789,"seq":7,"p":"xxxx"}`, n: len(rabbitMessage) - 1},
		{name: "connected", in: rabbitConnected, kind: KindSTOMPConnected, n: len(rabbitConnected) - 1},
		{name: "connected minimal", in: "CONNECTED\nversion:1.2\n\n\x00", kind: KindSTOMPConnected, n: -1},
		{name: "receipt", in: "RECEIPT\nreceipt-id:1\n\n\x00", kind: KindSTOMPReceipt, n: -1},
		{name: "error", in: "ERROR\nmessage:bad\ncontent-length:3\n\nbad\x00", kind: KindSTOMPError, body: "bad", n: -1},
		{name: "heart-beat LF", in: "\n\nMESSAGE", kind: KindSTOMPHeartbeat, n: 2},
		{name: "heart-beat CRLF", in: "\r\n\r\nX", kind: KindSTOMPHeartbeat, n: 4},
		{name: "lone CR waits", in: "\r", n: 0},
		{name: "CRLF lines", in: "MESSAGE\r\nx-c1m-seq:3\r\nx-c1m-ts:9\r\n\r\n{}\x00", kind: KindMsg, seq: 3, ts: 9, body: "{}", n: -1},
		{name: "no content-length", in: "MESSAGE\nx-c1m-seq:3\nx-c1m-ts:9\n\n{}\x00MESSAGE\n", kind: KindMsg, seq: 3, ts: 9, body: "{}", n: 35},
		{name: "NUL inside a counted body", in: "MESSAGE\nx-c1m-seq:3\nx-c1m-ts:9\ncontent-length:3\n\na\x00b\x00", kind: KindMsg, seq: 3, ts: 9, body: "a\x00b", n: -1},
		{name: "first header wins", in: "MESSAGE\nx-c1m-seq:3\nx-c1m-seq:4\nx-c1m-ts:9\nx-c1m-ts:10\ncontent-length:2\ncontent-length:9\n\n{}\x00", kind: KindMsg, seq: 3, ts: 9, body: "{}", n: -1},
		{name: "headers over body", in: "MESSAGE\nx-c1m-seq:3\nx-c1m-ts:9\n\n{\"ts\":1,\"seq\":2}\x00", kind: KindMsg, seq: 3, ts: 9, body: `{"ts":1,"seq":2}`, n: -1},
		{name: "message without timing", in: "MESSAGE\ndestination:/topic/bench.0\n\n{}\x00", kind: KindSnap, body: "{}", n: -1},
		{name: "bad seq header", in: "MESSAGE\nx-c1m-seq:-3\nx-c1m-ts:9\n\n{}\x00", kind: KindSnap, body: "{}", n: -1},
		{name: "ts beyond int64", in: "MESSAGE\nx-c1m-seq:3\nx-c1m-ts:9999999999999999999\n\n{}\x00", kind: KindSnap, body: "{}", n: -1},
		{name: "other command", in: "PONG\n\n\x00", kind: KindOther, n: -1},
		{name: "incomplete command", in: "MESSA", n: 0},
		{name: "incomplete headers", in: "MESSAGE\nx-c1m-seq:3", n: 0},
		{name: "incomplete counted body", in: "MESSAGE\ncontent-length:5\n\nabc", n: 0},
		{name: "counted body without NUL yet", in: "MESSAGE\ncontent-length:3\n\nabc", n: 0},
		{name: "incomplete body", in: "MESSAGE\n\nabc", n: 0},
		{name: "no NUL after counted body", in: "MESSAGE\ncontent-length:2\n\nabc\x00", err: ErrSTOMPNoNUL},
		{name: "bad content-length", in: "MESSAGE\ncontent-length:x\n\n\x00", err: ErrSTOMPBadLength},
		{name: "header without colon", in: "MESSAGE\nfoo\n\n\x00", err: ErrSTOMPBadHeader},
		{name: "too long", in: "MESSAGE\ncontent-length:100\n\n", err: ErrSTOMPFrameTooLarge},
		{name: "too long uncounted", in: "MESSAGE\n\n" + strings.Repeat("x", 80), err: ErrSTOMPFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := ParseSTOMPFrame([]byte(tc.in), 64)
			if tc.err != nil {
				if err != tc.err {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.n
			if want < 0 {
				want = len(tc.in)
			}
			if n != want {
				t.Fatalf("n %d, want %d", n, want)
			}
			if n == 0 {
				return
			}
			if f.Kind != tc.kind || f.Seq != tc.seq || f.Ts != tc.ts || string(f.Body) != tc.body {
				t.Errorf("got kind %d seq %d ts %d body %q; want %d %d %d %q", f.Kind, f.Seq, f.Ts, f.Body, tc.kind, tc.seq, tc.ts, tc.body)
			}
		})
	}
	// Every proper prefix of a frame is incomplete, never an error.
	for _, fr := range []string{c1mMessage(1, 2, 300), rabbitMessage[:len(rabbitMessage)-1], "MESSAGE\nx-c1m-seq:3\nx-c1m-ts:9\n\n{}\x00"} {
		for i := 1; i < len(fr); i++ {
			if _, n, err := ParseSTOMPFrame([]byte(fr[:i]), maxFrame); n != 0 || err != nil {
				t.Fatalf("prefix %q: n %d err %v", fr[:i], n, err)
			}
		}
	}
	for _, in := range []string{c1mMessage(1, 2, 200), rabbitMessage} {
		b := []byte(in)
		if a := testing.AllocsPerRun(100, func() { ParseSTOMPFrame(b, maxFrame) }); a != 0 {
			t.Errorf("ParseSTOMPFrame allocates %v times", a)
		}
	}
}

func TestSTOMPFramesOut(t *testing.T) {
	if got := string(AppendSTOMPConnect(nil, "127.0.0.1:9700")); got != "CONNECT\naccept-version:1.2\nhost:127.0.0.1:9700\nheart-beat:0,0\n\n\x00" {
		t.Errorf("CONNECT %q", got)
	}
	if got := string(AppendSTOMPSubscribe(nil, "bench.0")); got != "SUBSCRIBE\nid:sub-0\ndestination:/topic/bench.0\nack:auto\n\n\x00" {
		t.Errorf("SUBSCRIBE %q", got)
	}
	if got := string(AppendSTOMPSend(nil, "bench.0", []byte(`{"a":1}`))); got != "SEND\ndestination:/topic/bench.0\ncontent-type:application/json\ncontent-length:7\n\n{\"a\":1}\x00" {
		t.Errorf("SEND %q", got)
	}
	req := string(AppendSTOMPUpgradeRequest(nil, "h:1", "/stomp", "KEY"))
	if !strings.HasPrefix(req, "GET /stomp HTTP/1.1\r\nHost: h:1\r\n") || !strings.Contains(req, "\r\nSec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n") ||
		!strings.Contains(req, "\r\nSec-WebSocket-Key: KEY\r\n") || !strings.HasSuffix(req, "\r\n\r\n") {
		t.Errorf("upgrade request %q", req)
	}
}

// newSTOMPRig is sioRig (sio_test.go) with a STOMP client connection.
func newSTOMPRig(t *testing.T) *sioRig {
	r := newSIORig(t, false)
	r.c.sio = nil
	r.c.stomp = &stompState{host: "127.0.0.1:9700", topic: "bench.0"}
	return r
}

const stompUpgradeAnswer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n"

func TestSTOMPClientEverySplit(t *testing.T) {
	wire := []byte(stompUpgradeAnswer)
	m := func(seq int, pad int) string { return c1mMessage(seq, int64(1000+seq), pad) }
	for _, p := range []string{
		"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00",
		"\n", // a heart-beat
		"MESSAGE\ndestination:/topic/bench.0\n\n{}\x00", // no timing: counted as a snapshot
		m(1, 10),
		m(2, 300) + "\n" + m(3, 0) + "\r\n" + m(4, 5), // several frames in one message, a 16-bit length frame
		m(5, 20)[:30], // a frame split across two WebSocket messages
		m(5, 20)[30:] + m(6, 1)[:7],
		m(6, 1)[7:],
		"RECEIPT\nreceipt-id:x\n\n\x00",
		m(7, 0),
	} {
		wire = append(wire, serverFrame(true, OpText, []byte(p))...)
	}
	wire = append(wire, serverFrame(true, OpPing, []byte("p"))...)
	// A message in fragments.
	last := m(8, 40)
	wire = append(wire, serverFrame(false, OpText, []byte(last[:20]))...)
	wire = append(wire, serverFrame(true, OpContinuation, []byte(last[20:]))...)
	for name, split := range splits() {
		t.Run(name, func(t *testing.T) {
			r := newSTOMPRig(t)
			r.feed(wire, split)
			if r.c.state != stOpen {
				t.Fatalf("state %d, want open (first error %q)", r.c.state, r.l.dialRes.FirstErr)
			}
			sent := r.sent()
			got := clientTexts(t, sent[:len(sent)-7]) // the pong is last: 2 + 4 mask + 1
			want := []string{"CONNECT\naccept-version:1.2\nhost:127.0.0.1:9700\nheart-beat:0,0\n\n\x00", "SUBSCRIBE\nid:sub-0\ndestination:/topic/bench.0\nack:auto\n\n\x00"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("client sent %q, want %q", got, want)
			}
			if sent[len(sent)-7] != 0x80|OpPong {
				t.Errorf("no pong at the end: %q", sent[len(sent)-7:])
			}
			rep := r.l.Report(true)
			if rep.Deliveries != 8 || rep.Snaps != 1 || rep.BaseSeq != 1 || len(rep.SeqCount) != 8 || r.l.dialRes.OK != 1 {
				t.Errorf("report %+v, dial %+v", rep, r.l.dialRes)
			}
			for i, c := range rep.SeqCount {
				if c != 1 {
					t.Errorf("seq %d received %d times", i+1, c)
				}
			}
			lo, hi := float64(rep.FirstRecv-1008), float64(rep.LastRecv-1001)
			if got := float64(r.l.lat.Max()); got < lo*(1-1.0/64) || got > hi*(1+1.0/64) {
				t.Errorf("latency max %v, want within [%v, %v]", got, lo, hi)
			}
			if len(r.c.stomp.partial) != 0 {
				t.Errorf("partial frame left: %q", r.c.stomp.partial)
			}
		})
	}
}

// The client against RabbitMQ's recorded frames: host "/" and deliveries
// timed by the body the publisher stamped.
func TestSTOMPClientRabbitMQ(t *testing.T) {
	wire := []byte(stompUpgradeAnswer)
	wire = append(wire, serverFrame(true, OpText, []byte(rabbitConnected))...)
	wire = append(wire, serverFrame(true, OpText, []byte(rabbitMessage))...)
	wire = append(wire, serverFrame(true, OpText, []byte(strings.Replace(rabbitMessage, `"seq":7`, `"seq":8`, 1)))...)
	r := newSTOMPRig(t)
	r.c.stomp.host = "/"
	r.feed(wire, func() int { return 13 })
	if r.c.state != stOpen {
		t.Fatalf("state %d (first error %q)", r.c.state, r.l.dialRes.FirstErr)
	}
	if got := clientTexts(t, r.sent()); len(got) != 2 || !strings.Contains(got[0], "\nhost:/\n") {
		t.Errorf("client sent %q", got)
	}
	if rep := r.l.Report(true); rep.Deliveries != 2 || rep.BaseSeq != 7 || len(rep.SeqCount) != 2 {
		t.Errorf("report %+v", rep)
	}
}

func TestSTOMPClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame string
		err   string
	}{
		{"error frame", "ERROR\nmessage:Virtual host '127.0.0.1:9700' access denied\n\n\x00", "stomp ERROR from server"},
		{"malformed", "CONNECTED\nversion\n\n\x00", string(ErrSTOMPBadHeader)},
		{"no NUL", "CONNECTED\ncontent-length:0\n\nX", string(ErrSTOMPNoNUL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSTOMPRig(t)
			r.feed(append([]byte(stompUpgradeAnswer), serverFrame(true, OpText, []byte(tc.frame))...), func() int { return 5 })
			if r.c.state != stClosed || r.l.dialRes.Failed != 1 || !strings.Contains(r.l.dialRes.FirstErr, tc.err) {
				t.Errorf("state %d, dial %+v; want closed with %q", r.c.state, r.l.dialRes, tc.err)
			}
		})
	}
	// A frame that never ends is bounded by maxFrame.
	r := newSTOMPRig(t)
	wire := []byte(stompUpgradeAnswer)
	wire = append(wire, serverFrame(true, OpText, []byte("CONNECTED\n\n\x00"))...)
	chunk := strings.Repeat("x", 60000)
	wire = append(wire, serverFrame(true, OpText, []byte("MESSAGE\n\n"+chunk))...)
	for range maxFrame/len(chunk) + 1 {
		wire = append(wire, serverFrame(true, OpText, []byte(chunk))...)
	}
	r.feed(wire, func() int { return 1 << 30 })
	if r.c.state != stClosed || !strings.Contains(r.l.firstErr, string(ErrSTOMPFrameTooLarge)) {
		t.Errorf("state %d, first error %q", r.c.state, r.l.firstErr)
	}
}

// BenchmarkLoopConsumeSTOMP is BenchmarkLoopConsume for STOMP over
// WebSocket with c1m's MESSAGE frames: the per-delivery receive path.
func BenchmarkLoopConsumeSTOMP(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen, stomp: &stompState{connected: true}}
	var wire []byte
	const perRead = 64
	for i := 0; i < perRead; i++ {
		wire = append(wire, serverFrame(true, OpText, []byte(c1mMessage(1000+i, 1, 200)))...)
	}
	l.consume(c, wire, 2)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if n := l.consume(c, wire, 2); n != len(wire) {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.N*perRead)/b.Elapsed().Seconds(), "deliveries/s")
}
