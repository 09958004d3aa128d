package loadgen

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestScanSIO(t *testing.T) {
	for _, tc := range []struct {
		in       string
		kind     int
		seq      uint64
		ts       int64
		sidFound string
	}{
		{in: `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, kind: KindEIOOpen, sidFound: "lv_VI97HAXpY6yYWAAAC"},
		{in: `1`, kind: KindEIOClose},
		{in: `2`, kind: KindEIOPing},
		{in: `2probe`, kind: KindOther},
		{in: `3`, kind: KindOther},
		{in: `6`, kind: KindOther},
		{in: ``, kind: KindOther},
		{in: `4`, kind: KindOther},
		{in: `40{"sid":"wZX3oN0bSVIhsaknAAAI"}`, kind: KindSIOConnect},
		{in: `40`, kind: KindSIOConnect},
		{in: `40/md,{"sid":"x"}`, kind: KindOther},
		{in: `41`, kind: KindSIOError},
		{in: `44{"message":"Invalid namespace"}`, kind: KindSIOError},
		{in: `431[{"op":"ok","epoch":"k3v9","topics":{"bench.0":{"epoch":"k3v9","seq":0}}}]`, kind: KindSIOAck, seq: 1},
		{in: `4312[{"op":"ok"}]`, kind: KindSIOAck, seq: 12},
		{in: `43[{"op":"ok"}]`, kind: KindOther},
		{in: `42["msg",{"op":"msg","topic":"bench.0","seq":7,"ts":1764491357123456789,"data":{"p":"xx\"seq\":1"}}]`, kind: KindMsg, seq: 7, ts: 1764491357123456789},
		{in: `42["msg",{"op":"msg","topic":"bench.0","seq":8,"ts":5,"snap":true,"data":{}}]`, kind: KindSnap, seq: 8, ts: 5},
		{in: `425["msg",{"op":"msg","topic":"bench.0","seq":9,"ts":6,"data":1}]`, kind: KindMsg, seq: 9, ts: 6},
		{in: `42/md,["msg",{"op":"msg","topic":"bench.0","seq":9,"ts":6,"data":1}]`, kind: KindOther},
		{in: `42["other",{"op":"msg","topic":"bench.0","seq":9,"ts":6,"data":1}]`, kind: KindOther},
		{in: `42["msg",{"op":"msg","topic":"bench.0","data":1}]`, kind: KindOther},
		{in: `451-["msg",{"_placeholder":true,"num":0}]`, kind: KindOther},
	} {
		k, s, ts := ScanSIO([]byte(tc.in))
		if k != tc.kind || s != tc.seq || ts != tc.ts {
			t.Errorf("ScanSIO(%q) = %d,%d,%d; want %d,%d,%d", tc.in, k, s, ts, tc.kind, tc.seq, tc.ts)
		}
		if sid := string(SIOSid([]byte(tc.in))); sid != tc.sidFound {
			t.Errorf("SIOSid(%q) = %q; want %q", tc.in, sid, tc.sidFound)
		}
	}
	msg := []byte(`42["msg",{"op":"msg","topic":"bench.0","seq":7,"ts":17,"data":{"p":"` + strings.Repeat("x", 200) + `"}}]`)
	if a := testing.AllocsPerRun(100, func() { ScanSIO(msg) }); a != 0 {
		t.Errorf("ScanSIO allocates %v times", a)
	}
}

func TestPollRequests(t *testing.T) {
	got := string(AppendPollRequest(nil, "127.0.0.1:9", "/socket.io/", "", nil))
	want := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"
	if got != want {
		t.Errorf("handshake:\n%q\nwant\n%q", got, want)
	}
	got = string(AppendPollRequest(nil, "h", "/socket.io/", "S1", []byte("3\x1e40")))
	want = "POST /socket.io/?EIO=4&transport=polling&sid=S1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 4\r\n\r\n3\x1e40"
	if got != want {
		t.Errorf("post:\n%q\nwant\n%q", got, want)
	}
	if got := sioWSPath("/socket.io/"); got != "/socket.io/?EIO=4&transport=websocket" {
		t.Errorf("sioWSPath = %q", got)
	}
	if got := string(AppendSIOSubscribe(nil, "bench.0")); got != `421["subscribe","bench.0"]` {
		t.Errorf("subscribe = %q", got)
	}
}

func pollResponse(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\ncontent-length: " + strconv.Itoa(len(body)) + "\r\nConnection: keep-alive\r\n\r\n" + body
}

func TestParsePollResponse(t *testing.T) {
	bodies := []string{`0{"sid":"a"}`, "ok", "", "2\x1e42[\"msg\",{}]"}
	var wire string
	for _, b := range bodies {
		wire += pollResponse(b)
	}
	// Every prefix: incomplete until a whole response is in.
	for cut := 0; cut <= len(wire); cut++ {
		var got []string
		buf := []byte(wire[:cut])
		for {
			body, n, err := ParsePollResponse(buf, 1<<20)
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			if n == 0 {
				break
			}
			got = append(got, string(body))
			buf = buf[n:]
		}
		want := 0
		for end := 0; want < len(bodies); want++ {
			end += len(pollResponse(bodies[want]))
			if end > cut {
				break
			}
		}
		if len(got) != want || (want > 0 && got[want-1] != bodies[want-1]) {
			t.Fatalf("cut %d: got %q, want the first %d of %q", cut, got, want, bodies)
		}
	}
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}", ErrPollStatus},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", ErrPollNoLength},
		{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ErrPollBadLength},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", ErrPollBodyTooLong},
	} {
		_, _, err := ParsePollResponse([]byte(tc.in), 10)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err.Error()) {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
		}
	}
	pkt, rest := NextPollPacket([]byte("2\x1e40\x1e"))
	if string(pkt) != "2" || string(rest) != "40\x1e" {
		t.Errorf("NextPollPacket: %q %q", pkt, rest)
	}
}

// sioRig is a Loop with one Socket.IO client connection whose socket is one
// end of a socketpair: the test writes the server's bytes to the other end in
// the splits it chooses, runs the Loop's real read path after each write,
// and reads back what the client sent.
type sioRig struct {
	t      *testing.T
	l      *Loop
	c      *clientConn
	server int
}

func newSIORig(t *testing.T, polling bool) *sioRig {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Large buffers, so that a whole test stream fits without blocking.
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	c := &clientConn{fd: fds[0], state: stHandshaking, accept: "ACCEPT",
		sio: &sioState{polling: polling, topic: "bench.0", host: "h", path: "/socket.io/"}}
	for c.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*clientConn, 64)...)
	}
	l.conns[c.fd] = c
	l.inflight[c.fd] = c
	l.ResetRecv()
	l.resetNs = 0
	t.Cleanup(func() { l.Close(); unix.Close(fds[1]) })
	return &sioRig{t: t, l: l, c: c, server: fds[1]}
}

// feed writes wire in pieces whose sizes split() chooses, running the read
// path after each.
func (r *sioRig) feed(wire []byte, split func() int) {
	for len(wire) > 0 && r.c.state != stClosed {
		n := min(max(split(), 1), len(wire))
		if _, err := unix.Write(r.server, wire[:n]); err != nil {
			r.t.Fatal(err)
		}
		wire = wire[n:]
		r.l.readAll(r.c, false)
	}
}

// sent is everything the client wrote so far.
func (r *sioRig) sent() []byte {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(r.server, buf)
		if n <= 0 || err != nil {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// clientTexts unmasks the client's text frames.
func clientTexts(t *testing.T, b []byte) []string {
	var out []string
	for len(b) > 0 {
		if len(b) < 6 || b[1]&0x80 == 0 {
			t.Fatalf("bad client frame %q", b)
		}
		n, hl := int(b[1]&0x7f), 2
		if n == 126 {
			n, hl = int(binary.BigEndian.Uint16(b[2:])), 4
		}
		mask := b[hl : hl+4]
		p := append([]byte(nil), b[hl+4:hl+4+n]...)
		for i := range p {
			p[i] ^= mask[i&3]
		}
		if b[0] != 0x80|OpText {
			t.Fatalf("client frame op %x", b[0])
		}
		out = append(out, string(p))
		b = b[hl+4+n:]
	}
	return out
}

func sioMsg(seq int, ts int64, pad int) string {
	return `42["msg",{"op":"msg","topic":"bench.0","seq":` + strconv.Itoa(seq) + `,"ts":` + strconv.FormatInt(ts, 10) +
		`,"data":{"p":"` + strings.Repeat("x", pad) + `"}}]`
}

// splits are the ways the tests cut a server's byte stream: whole, byte by
// byte, in twos, threes and sevens, and deterministic random sizes.
func splits() map[string]func() int {
	rng := rand.New(rand.NewPCG(1, 2))
	return map[string]func() int{
		"whole":  func() int { return 1 << 30 },
		"bytes":  func() int { return 1 },
		"twos":   func() int { return 2 },
		"threes": func() int { return 3 },
		"sevens": func() int { return 7 },
		"random": func() int { return 1 + rng.IntN(300) },
	}
}

func TestSIOWebSocketClientEverySplit(t *testing.T) {
	var wire []byte
	wire = append(wire, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n"...)
	for _, p := range []string{
		`0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		`40{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		`42["msg",{"op":"msg","topic":"bench.0","seq":1,"ts":100,"snap":true,"data":{}}]`,
		`431[{"op":"ok","epoch":"e","topics":{"bench.0":{"epoch":"e","seq":1}}}]`,
		sioMsg(2, 1000, 10),
		`2`,
		sioMsg(3, 1001, 300), // a 16-bit length frame
		`6`,
		sioMsg(4, 1002, 0),
	} {
		wire = append(wire, serverFrame(true, OpText, []byte(p))...)
	}
	for name, split := range splits() {
		t.Run(name, func(t *testing.T) {
			r := newSIORig(t, false)
			r.feed(wire, split)
			if r.c.state != stOpen {
				t.Fatalf("state %d, want open (first error %q)", r.c.state, r.l.dialRes.FirstErr)
			}
			got := clientTexts(t, r.sent())
			want := []string{"40", `421["subscribe","bench.0"]`, "3"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("client sent %q, want %q", got, want)
			}
			rep := r.l.Report(true)
			if rep.Deliveries != 3 || rep.Snaps != 1 || rep.BaseSeq != 2 || len(rep.SeqCount) != 3 || r.l.dialRes.OK != 1 {
				t.Errorf("report %+v, dial %+v", rep, r.l.dialRes)
			}
			// Latency is receipt time - ts (1000..1002): within the histogram's precision.
			lo, hi := float64(rep.FirstRecv-1002), float64(rep.LastRecv-1000)
			if got := float64(r.l.lat.Max()); got < lo*(1-1.0/64) || got > hi*(1+1.0/64) {
				t.Errorf("latency max %v, want within [%v, %v]", got, lo, hi)
			}
		})
	}
}

func TestSIOPollingClientEverySplit(t *testing.T) {
	var wire []byte
	for _, b := range []string{
		`0{"sid":"S-1_x","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`,
		"ok", // POST 40
		`40{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		"ok", // POST subscribe
		"431[{\"op\":\"ok\"}]\x1e" + sioMsg(1, 1000, 5),
		"2",
		"ok", // POST 3
		sioMsg(2, 1001, 500) + "\x1e" + sioMsg(3, 1002, 0) + "\x1e6",
	} {
		wire = append(wire, pollResponse(b)...)
	}
	get := "GET /socket.io/?EIO=4&transport=polling&sid=S-1_x HTTP/1.1\r\nHost: h\r\n\r\n"
	post := func(body string) string {
		return "POST /socket.io/?EIO=4&transport=polling&sid=S-1_x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	// The handshake GET is written by connect; the rig starts after it.
	want := post("40") + get + post(`421["subscribe","bench.0"]`) + get + get + post("3") + get + get
	for name, split := range splits() {
		t.Run(name, func(t *testing.T) {
			r := newSIORig(t, true)
			r.feed(wire, split)
			if r.c.state != stOpen {
				t.Fatalf("state %d, want open (first error %q)", r.c.state, r.l.dialRes.FirstErr)
			}
			if got := string(r.sent()); got != want {
				t.Errorf("client sent\n%q\nwant\n%q", got, want)
			}
			rep := r.l.Report(true)
			if rep.Deliveries != 3 || rep.BaseSeq != 1 || len(rep.SeqCount) != 3 || r.l.dialRes.OK != 1 {
				t.Errorf("report %+v, dial %+v", rep, r.l.dialRes)
			}
		})
	}
}

func TestSIOClientClosedByServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		polling bool
		wire    []byte
		err     string
	}{
		{"connect_error", false, append([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n"),
			append(serverFrame(true, OpText, []byte(`0{"sid":"a"}`)), serverFrame(true, OpText, []byte(`44{"message":"Invalid namespace"}`))...)...), "socket.io: closed by server"},
		{"polling 400", true, []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}"), "engine.io polling: response status is not 200"},
		{"polling no sid", true, []byte(pollResponse(`0{"upgrades":[]}`)), "engine.io open packet without sid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSIORig(t, tc.polling)
			r.feed(tc.wire, func() int { return 5 })
			if r.c.state != stClosed || r.l.dialRes.Failed != 1 || !strings.Contains(r.l.dialRes.FirstErr, tc.err) {
				t.Errorf("state %d, dial %+v; want closed with %q", r.c.state, r.l.dialRes, tc.err)
			}
		})
	}
}

// BenchmarkLoopConsumeSIO is BenchmarkLoopConsume for Socket.IO over
// WebSocket: the per-delivery receive path of a worker.
func BenchmarkLoopConsumeSIO(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen, sio: &sioState{connected: true}}
	var wire []byte
	const perRead = 64
	for i := 0; i < perRead; i++ {
		wire = append(wire, serverFrame(true, OpText, []byte(sioMsg(1000+i, 1, 200)))...)
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
