package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Byte sequences recorded from c1m's /sockjs (the response heads, the
// preludes, the open frame, the subscribe's ok reply and its framing, and the
// delivery framing of each transport; deliveries are built by sjDelivery in
// the recorded format with small timestamps, so that latency is measurable).
const (
	sjHeadXHR = "HTTP/1.1 200 OK\r\nContent-Type: application/javascript; charset=UTF-8\r\n" +
		"Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\nAccess-Control-Allow-Origin: *\r\n" +
		"Vary: Origin\r\nAccess-Control-Allow-Credentials: true\r\nTransfer-Encoding: chunked\r\n\r\n"
	sjHeadES = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" +
		"Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\nAccess-Control-Allow-Origin: *\r\n" +
		"Vary: Origin\r\nAccess-Control-Allow-Credentials: true\r\nTransfer-Encoding: chunked\r\n\r\n"
	sjSend204 = "HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=UTF-8\r\nAccess-Control-Allow-Origin: *\r\n" +
		"Vary: Origin\r\nAccess-Control-Allow-Credentials: true\r\n\r\n"
	sjOK = `a["{\"op\":\"ok\",\"id\":1,\"epoch\":\"M6BX2WVQFB7Q2LMZ\",\"topics\":{\"bench.0\":{\"epoch\":\"M6BX2WVQFB7Q2LMZ\",\"seq\":0}}}"]`
	// A delivery with escapes in its data ({"p":"x\u00e9\"y"}), recorded.
	sjEscaped = `a["{\"op\":\"msg\",\"topic\":\"bench.0\",\"seq\":1,\"ts\":1000,\"data\":{\"p\":\"x\\u00e9\\\"y\"}}"]`
	// A snapshot, recorded (before the ok reply, as c1m queues it).
	sjSnap = `a["{\"op\":\"msg\",\"topic\":\"bench.0\",\"seq\":10,\"ts\":1000,\"snap\":true,\"data\":{\"p\":\"xy\"}}"]`
)

var sjPrelude = strings.Repeat("h", 2048)

func sjXHRPollHead(n int) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/javascript; charset=UTF-8\r\n" +
		"Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\nAccess-Control-Allow-Origin: *\r\n" +
		"Vary: Origin\r\nAccess-Control-Allow-Credentials: true\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n"
}

// sjElem is one native message as an element of a SockJS message frame.
func sjElem(native string) string {
	b, _ := json.Marshal(native)
	return string(b)
}

// sjDelivery is a[...] of native deliveries seq..seq+n-1 as c1m frames them.
func sjDelivery(seq, n int, ts int64, pad int) string {
	var el []string
	for i := 0; i < n; i++ {
		el = append(el, sjElem(`{"op":"msg","topic":"bench.0","seq":`+strconv.Itoa(seq+i)+`,"ts":`+strconv.FormatInt(ts, 10)+
			`,"data":{"p":"`+strings.Repeat("x", pad)+`"}}`))
	}
	return "a[" + strings.Join(el, ",") + "]"
}

// hexChunk is s as one HTTP chunk, as c1m writes it (lower-case hex size).
func hexChunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

func TestSockJSUnquote(t *testing.T) {
	for _, tc := range []struct{ in, want, rest string }{
		{`"abc"`, "abc", ""},
		{`""x`, "", "x"},
		{`"{\"op\":\"ok\"}","b"`, `{"op":"ok"}`, `,"b"`},
		{`"a\\b\/c\b\f\n\r\t"`, "a\\b/c\b\f\n\r\t", ""},
		{`"\u00e9\u2028\u0000"`, "é\u2028\x00", ""},
		{`"\ud83d\ude00!"`, "😀!", ""},
		{`"\ud83dx"`, "\uFFFDx", ""},
		{`"\ude00\u0041"`, "\uFFFDA", ""},
		{`"é\\"`, "é\\", ""},
	} {
		got, n, err := SockJSUnquote([]byte("keep"), []byte(tc.in))
		if err != nil || string(got) != "keep"+tc.want || tc.in[n:] != tc.rest {
			t.Errorf("SockJSUnquote(%s) = %q, rest %q, %v; want %q, %q", tc.in, got, tc.in[n:], err, tc.want, tc.rest)
		}
	}
	for _, in := range []string{``, `x`, `"abc`, `"a\`, `"a\x"`, `"\u12"`, `"\u12g4"`, `"abc\"`, `"{\"data\":1`, `"{\"data\":\"a\\\"`} {
		if _, _, err := SockJSUnquote(nil, []byte(in)); !errors.Is(err, ErrSockJSBadString) {
			t.Errorf("SockJSUnquote(%s): err %v", in, err)
		}
		if _, _, err := SockJSUnquoteHead(nil, []byte(in)); !errors.Is(err, ErrSockJSBadString) {
			t.Errorf("SockJSUnquoteHead(%s): err %v", in, err)
		}
	}
	// The head form: the same string through the first "data" key, the same
	// length taken; without the key, the same as SockJSUnquote.
	for _, in := range []string{
		`"abc"x`, `"a\\b\/c\b\f\n\r\t"`, `"\ud83d\ude00!"`, `"{\"op\":\"ok\",\"id\":1}",`,
		sjEscaped[2 : len(sjEscaped)-1], sjSnap[2 : len(sjSnap)-1], sjDelivery(7, 1, 9, 300)[2:],
		`"{\"op\":\"msg\",\"data\":\"\\\\\"}"]`, // data ending in an escaped backslash
		`"{\"op\":\"msg\",\"data\":\"x\\\"\"}"`, // an escaped quote in data
	} {
		full, n, err := SockJSUnquote(nil, []byte(in))
		head, hn, herr := SockJSUnquoteHead([]byte("keep"), []byte(in))
		want := full
		if i := strings.Index(string(full), `"data"`); i >= 0 {
			want = full[:i+6]
		}
		if err != nil || herr != nil || hn != n || string(head) != "keep"+string(want) {
			t.Errorf("SockJSUnquoteHead(%s) = %q, %d, %v; want %q, %d (%v)", in, head, hn, herr, want, n, err)
		}
		k, seq, ts := ScanMessage(full)
		hk, hseq, hts := ScanMessage(head[4:])
		if k != hk || seq != hseq || ts != hts {
			t.Errorf("ScanMessage of the head of %s: %d %d %d, of the whole: %d %d %d", in, hk, hseq, hts, k, seq, ts)
		}
	}
	p := []byte(sjDelivery(1, 1, 100, 1000)[2:])
	buf := make([]byte, 0, 2048)
	if a := testing.AllocsPerRun(100, func() { SockJSUnquote(buf[:0], p) }); a != 0 {
		t.Errorf("SockJSUnquote allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { SockJSUnquoteHead(buf[:0], p) }); a != 0 {
		t.Errorf("SockJSUnquoteHead allocates %v times", a)
	}
}

func TestSockJSRequests(t *testing.T) {
	base := "/sockjs/123/abc/"
	for tr, want := range map[string]string{
		SockJSXHRStreaming: "POST /sockjs/123/abc/xhr_streaming HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n",
		SockJSXHR:          "POST /sockjs/123/abc/xhr HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n",
		SockJSEventSource:  "GET /sockjs/123/abc/eventsource HTTP/1.1\r\nHost: h:1\r\nAccept: text/event-stream\r\n\r\n",
	} {
		if got := string(AppendSockJSRequest(nil, tr, "h:1", base)); got != want {
			t.Errorf("%s: %q, want %q", tr, got, want)
		}
	}
	sub := string(AppendSockJSSubscribe(nil, "bench.0"))
	if sub != `["{\"op\":\"sub\",\"id\":1,\"topics\":[\"bench.0\"]}"]` {
		t.Errorf("subscribe %s", sub)
	}
	if got := string(AppendSockJSSend(nil, "h:1", base, []byte(sub))); got != "POST /sockjs/123/abc/xhr_send HTTP/1.1\r\nHost: h:1\r\n"+
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: "+strconv.Itoa(len(sub))+"\r\n\r\n"+sub {
		t.Errorf("send %q", got)
	}
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		p := SockJSSessionPath("/sockjs")
		parts := strings.Split(p, "/")
		if len(parts) != 5 || parts[1] != "sockjs" || len(parts[2]) != 3 || len(parts[3]) != 16 || parts[4] != "" || strings.Contains(p, ".") || seen[p] {
			t.Fatalf("session path %q", p)
		}
		seen[p] = true
	}
}

func TestCheckSockJSResponse(t *testing.T) {
	for cut := 0; cut < len(sjHeadXHR); cut++ {
		if _, n, err := CheckSockJSResponse([]byte(sjHeadXHR[:cut])); n != 0 || err != nil {
			t.Fatalf("cut %d: n %d err %v", cut, n, err)
		}
	}
	r, n, err := CheckSockJSResponse([]byte(sjHeadXHR + "801\r\n"))
	if err != nil || n != len(sjHeadXHR) || r != (SockJSResponse{Status: 200, Chunked: true, Length: -1}) {
		t.Errorf("xhr_streaming head: %+v %d %v", r, n, err)
	}
	r, _, err = CheckSockJSResponse([]byte(sjXHRPollHead(2)))
	if err != nil || r != (SockJSResponse{Status: 200, Length: 2}) {
		t.Errorf("xhr head: %+v %v", r, err)
	}
	r, _, err = CheckSockJSResponse([]byte(sjSend204))
	if err != nil || r.Status != 204 {
		t.Errorf("204: %+v %v", r, err)
	}
	for _, bad := range []string{"HTTP/1.1 2x0 OK\r\n\r\n", "HTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"} {
		if _, _, err := CheckSockJSResponse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// sjRig is sioRig with a SockJS client connection whose xhr_send
// connections are socketpairs too: sends collects the server ends.
type sjRig struct {
	*sioRig
	sends []int
}

func newSJRig(t *testing.T, transport string) *sjRig {
	r := &sjRig{sioRig: newSIORig(t, false)}
	r.c.sio = nil
	r.c.sockjs = &sockjsState{transport: transport, addr: "127.0.0.1:9", base: "/sockjs/123/abc/", topic: "bench.0"}
	r.l.sockjsDialer = func(owner *clientConn) (int, error) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		r.sends = append(r.sends, fds[1])
		t.Cleanup(func() { unix.Close(fds[1]) })
		return fds[0], nil
	}
	return r
}

// answerSend runs the send connection's write, checks its request and
// answers it with answer.
func (r *sjRig) answerSend(answer string) *clientConn {
	r.t.Helper()
	if len(r.sends) != 1 {
		r.t.Fatalf("%d send connections, want 1", len(r.sends))
	}
	s := r.c.sockjs.sender
	if s == nil {
		r.t.Fatal("no send connection in flight")
	}
	r.l.handle(s, unix.EPOLLOUT)
	buf := make([]byte, 4096)
	n, _ := unix.Read(r.sends[0], buf)
	sub := string(AppendSockJSSubscribe(nil, "bench.0"))
	want := string(AppendSockJSSend(nil, "127.0.0.1:9", "/sockjs/123/abc/", []byte(sub)))
	if got := string(buf[:max(n, 0)]); got != want {
		r.t.Fatalf("send request %q, want %q", got, want)
	}
	for _, b := range []byte(answer) { // byte by byte: every cut
		unix.Write(r.sends[0], []byte{b})
		r.l.handle(s, unix.EPOLLIN)
	}
	return s
}

// sjWire is what each HTTP transport's test server sends: two responses (a
// rotation, or two polls) carrying "o", a heart-beat, a snapshot, the ok
// reply, deliveries 1..7 (one with escaped data, three in one frame, one of
// 300 bytes), and what the client must have requested after each response.
func sjWire(transport string) (wire string, requests string) {
	next := AppendSockJSRequest(nil, transport, "127.0.0.1:9", "/sockjs/123/abc/")
	switch transport {
	case SockJSXHRStreaming:
		line := func(f string) string { return hexChunk(f + "\n") }
		wire = sjHeadXHR + hexChunk(sjPrelude+"\n") + line("o") + line("h") + line(sjSnap) + line(sjOK) + line(sjEscaped) +
			line(sjDelivery(2, 3, 1001, 10)) + "0\r\n\r\n" +
			sjHeadXHR + hexChunk(sjPrelude+"\n") + line(sjDelivery(5, 1, 1002, 300)) + line(sjDelivery(6, 2, 1003, 0))
		return wire, string(next)
	case SockJSEventSource:
		ev := func(f string) string { return hexChunk("data: " + f + "\r\n\r\n") }
		wire = sjHeadES + hexChunk("\r\n") + ev("o") + ev("h") + ev(sjSnap) + ev(sjOK) + ev(sjEscaped) +
			ev(sjDelivery(2, 3, 1001, 10)) + "0\r\n\r\n" +
			sjHeadES + hexChunk("\r\n") + ev(sjDelivery(5, 1, 1002, 300)) + ev(sjDelivery(6, 2, 1003, 0))
		return wire, string(next)
	default: // xhr: one frame per response; the snapshot and the ok reply merged, as c1m merges what waited
		var n int
		for _, f := range []string{"o", "h", `a["` + sjSnap[3:len(sjSnap)-2] + `",` + sjOK[2:], sjEscaped, sjDelivery(2, 3, 1001, 10),
			sjDelivery(5, 1, 1002, 300), sjDelivery(6, 2, 1003, 0)} {
			wire += sjXHRPollHead(len(f)+1) + f + "\n"
			n++
		}
		return wire, strings.Repeat(string(next), n)
	}
}

func TestSockJSClientEverySplit(t *testing.T) {
	for _, tr := range []string{SockJSXHRStreaming, SockJSEventSource, SockJSXHR} {
		wire, requests := sjWire(tr)
		for name, split := range splits() {
			t.Run(tr+"/"+name, func(t *testing.T) {
				r := newSJRig(t, tr)
				r.feed([]byte(wire), split)
				s := r.answerSend(sjSend204)
				if s.state != stClosed || r.c.sockjs.sender != nil {
					t.Errorf("send connection state %d after its 204", s.state)
				}
				if r.c.state != stOpen {
					t.Fatalf("state %d, want open (first error %q)", r.c.state, r.l.dialRes.FirstErr)
				}
				if got := string(r.sent()); got != requests {
					t.Errorf("client requested\n%q\nwant\n%q", got, requests)
				}
				rep := r.l.Report(true)
				if rep.Deliveries != 7 || rep.Snaps != 1 || rep.BaseSeq != 1 || len(rep.SeqCount) != 7 || r.l.dialRes.OK != 1 || r.c.sockjs.heartbeat != 1 {
					t.Errorf("report %+v, dial %+v, heart-beats %d", rep, r.l.dialRes, r.c.sockjs.heartbeat)
				}
				for i, n := range rep.SeqCount {
					if n != 1 {
						t.Errorf("seq %d received %d times", i+1, n)
					}
				}
				lo, hi := float64(rep.FirstRecv-1003), float64(rep.LastRecv-1000)
				if got := float64(r.l.lat.Max()); got < lo*(1-1.0/64) || got > hi*(1+1.0/64) {
					t.Errorf("latency max %v, want within [%v, %v]", got, lo, hi)
				}
			})
		}
	}
}

func TestSockJSWebSocketClientEverySplit(t *testing.T) {
	wire := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n")
	for _, f := range []string{"o", "h", sjSnap, sjOK, sjEscaped, sjDelivery(2, 3, 1001, 10), sjDelivery(5, 1, 1002, 300), sjDelivery(6, 2, 1003, 0)} {
		wire = append(wire, serverFrame(true, OpText, []byte(f))...)
	}
	for name, split := range splits() {
		t.Run(name, func(t *testing.T) {
			r := newSJRig(t, SockJSWebSocket)
			r.feed(wire, split)
			if r.c.state != stOpen {
				t.Fatalf("state %d, want open (first error %q)", r.c.state, r.l.dialRes.FirstErr)
			}
			if got := clientTexts(t, r.sent()); len(got) != 1 || got[0] != string(AppendSockJSSubscribe(nil, "bench.0")) {
				t.Errorf("client sent %q", got)
			}
			if len(r.sends) != 0 {
				t.Errorf("an xhr_send connection over websocket")
			}
			rep := r.l.Report(true)
			if rep.Deliveries != 7 || rep.Snaps != 1 || len(rep.SeqCount) != 7 || r.l.dialRes.OK != 1 {
				t.Errorf("report %+v, dial %+v", rep, r.l.dialRes)
			}
		})
	}
}

// Gaps and duplicates are seen by seq, as over the native protocol.
func TestSockJSClientGapsAndDuplicates(t *testing.T) {
	line := func(f string) string { return hexChunk(f + "\n") }
	wire := sjHeadXHR + hexChunk(sjPrelude+"\n") + line("o") + line(sjOK) + line(sjDelivery(1, 2, 1000, 1)) +
		line(sjDelivery(2, 1, 1000, 1)) + line(sjDelivery(5, 1, 1000, 1))
	r := newSJRig(t, SockJSXHRStreaming)
	r.feed([]byte(wire), func() int { return 1 << 20 })
	rep := r.l.Report(true)
	if got := fmt.Sprint(rep.SeqCount); got != "[1 2 0 0 1]" || rep.Deliveries != 4 {
		t.Errorf("per-seq counts %s, deliveries %d", got, rep.Deliveries)
	}
}

func TestSockJSClientErrors(t *testing.T) {
	line := func(f string) string { return hexChunk(f + "\n") }
	open := sjHeadXHR + hexChunk(sjPrelude+"\n") + line("o")
	for _, tc := range []struct {
		name, wire, send, err string
	}{
		{"404", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 9\r\n\r\nNot Found", "", "response status is not 200: 404"},
		{"another connection", sjHeadXHR + hexChunk(sjPrelude+"\n") + line(`c[2010,"Another connection still open"]`), "", `closed by server: c[2010,"Another connection still open"]`},
		{"go away", open + line(`c[3000,"Go away!"]`), sjSend204, `closed by server: c[3000,"Go away!"]`},
		{"bad chunk", sjHeadXHR + "zz\r\n", "", "malformed chunk"},
		{"bad frame", open + line(`x`), sjSend204, "unknown frame"},
		{"bad string", open + line(`a["abc]`), sjSend204, "malformed JSON string"},
		{"no length", "HTTP/1.1 200 OK\r\n\r\no\n", "", "neither chunked nor with Content-Length"},
		{"send refused", open, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "xhr_send answer is not 204: 404"},
		{"send cut", open, "HTTP/1.1 2", "sockjs xhr_send: EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSJRig(t, SockJSXHRStreaming)
			r.feed([]byte(tc.wire), func() int { return 3 })
			if tc.send != "" && r.c.state != stClosed {
				s := r.answerSend(tc.send)
				if tc.name == "send cut" {
					unix.Shutdown(r.sends[0], unix.SHUT_WR)
					r.l.handle(s, unix.EPOLLIN|unix.EPOLLRDHUP)
				}
			}
			if r.c.state != stClosed || r.l.dialRes.Failed != 1 || !strings.Contains(r.l.dialRes.FirstErr, tc.err) {
				t.Errorf("state %d, dial %+v; want closed with %q", r.c.state, r.l.dialRes, tc.err)
			}
			if s := r.c.sockjs.sender; s != nil {
				t.Errorf("send connection left in state %d", s.state)
			}
		})
	}
	// A session closed while its send is in flight takes the send along.
	r := newSJRig(t, SockJSXHRStreaming)
	r.feed([]byte(open), func() int { return 1 << 20 })
	s := r.c.sockjs.sender
	r.l.closeConn(r.c, errors.New("test"))
	if s == nil || s.state != stClosed || r.l.conns[s.fd] != nil {
		t.Errorf("send connection not closed with its session")
	}
}

func TestSockJSBodyLines(t *testing.T) {
	// Every cut of a chunked body whose lines span chunks, with a trailer.
	body := "801\r\n" + sjPrelude + "\n\r\n" + "3\r\nab\n\r\n" + "2\r\ncd\r\n" + "3\r\nef\n\r\n" + "4\r\ngh\r\n\r\n" + "0\r\nX-T: 1\r\n\r\n"
	want := []string{sjPrelude, "ab", "cdef", "gh"}
	for cut := 0; cut <= len(body); cut++ {
		for _, step := range []int{1, 2, 5, 1 << 20} {
			var b SockJSBody
			b.Reset(SockJSResponse{Status: 200, Chunked: true, Length: -1})
			var got []string
			ended := false
			parts := []string{body[:cut], body[cut:]}
			for _, part := range parts {
				for off := 0; off < len(part); {
					piece := []byte(part[off:min(len(part), off+step)])
					off += len(piece)
					for p := piece; len(p) > 0; {
						line, n, end, err := b.Next(p)
						if err != nil {
							t.Fatalf("cut %d step %d: %v", cut, step, err)
						}
						if line != nil {
							got = append(got, string(line))
						}
						ended = ended || end
						p = p[n:]
						if n == 0 && line == nil {
							t.Fatalf("cut %d step %d: no progress", cut, step)
						}
					}
					clear(piece) // the caller reuses its buffer
				}
			}
			if !ended || strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("cut %d step %d: lines %q ended %v", cut, step, got, ended)
			}
		}
	}
	var b SockJSBody
	b.Reset(SockJSResponse{Status: 200, Length: 4})
	if line, n, end, err := b.Next([]byte("o\nh\nX")); string(line) != "o" || n != 2 || end || err != nil {
		t.Errorf("length body: %q %d %v %v", line, n, end, err)
	}
	if line, n, end, err := b.Next([]byte("h\nX")); string(line) != "h" || n != 2 || !end || err != nil {
		t.Errorf("length body end: %q %d %v %v", line, n, end, err)
	}
	b = SockJSBody{MaxLine: 4}
	b.Reset(SockJSResponse{Status: 200, Length: 100})
	if _, _, _, err := b.Next([]byte("abcdefgh")); !errors.Is(err, ErrSockJSLineTooLong) {
		t.Errorf("line over MaxLine: %v", err)
	}
}

// The receive path allocates nothing per delivery over xhr_streaming.
func TestSockJSConsumeNoAllocs(t *testing.T) {
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen, sockjs: &sockjsState{transport: SockJSXHRStreaming, opened: true, inBody: true}}
	c.sockjs.body.Reset(SockJSResponse{Status: 200, Chunked: true, Length: -1})
	var wire []byte
	for i := 0; i < 64; i++ {
		wire = append(wire, hexChunk(sjDelivery(1000+i, 1, 1, 200)+"\n")...)
	}
	l.consume(c, wire, 2)
	if a := testing.AllocsPerRun(50, func() {
		if n := l.consume(c, wire, 2); n != len(wire) {
			t.Fatal(n)
		}
	}); a != 0 {
		t.Errorf("%v allocations per 64 deliveries", a)
	}
}

// BenchmarkLoopConsumeSockJS is BenchmarkLoopConsume for SockJS over
// xhr_streaming: the per-delivery receive path of a worker (chunk, line,
// unescape, scan).
func BenchmarkLoopConsumeSockJS(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen, sockjs: &sockjsState{transport: SockJSXHRStreaming, opened: true, inBody: true}}
	c.sockjs.body.Reset(SockJSResponse{Status: 200, Chunked: true, Length: -1})
	var wire []byte
	const perRead = 64
	for i := 0; i < perRead; i++ {
		wire = append(wire, hexChunk(sjDelivery(1000+i, 1, 1, 200)+"\n")...)
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
