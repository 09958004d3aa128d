package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// sseBody is an event stream with every line form the parser must handle:
// a leading blank CRLF line (Centrifugo's), retry and comment lines, id lines
// before and after data, CRLF and lone-CR line ends, an event type, a field
// without a colon, several data lines, and data with and without the space
// after the colon.
const sseBody = "\r\n" +
	"retry: 1000\n\n" +
	": heartbeat\n\n" +
	`data: {"op":"msg","topic":"bench.0","seq":1,"ts":100,"data":{"p":"x"}}` + "\nid: 1\n\n" +
	"id: 2\r\n" + `data: {"op":"msg","seq":2,"ts":200,"data":{}}` + "\r\n\r\n" +
	":\n" +
	"data:no-space\r\r" +
	"event: other\ndata: typed\n\n" +
	"data: first\ndata: second\n\n" +
	"data: crlf1\r\ndata: crlf2\r\n\r\n" +
	"data\n\n" +
	"id: 3\n\n" +
	"data: " + "long-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\n\n" +
	"data: last\n\n"

var sseWant = []string{
	`{"op":"msg","topic":"bench.0","seq":1,"ts":100,"data":{"p":"x"}}`,
	`{"op":"msg","seq":2,"ts":200,"data":{}}`,
	"no-space",
	"typed",
	"first\nsecond",
	"crlf1\ncrlf2",
	"",
	"long-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"last",
}

const sseComments = 2 // ": heartbeat" and ":"

// chunk encodes body with chunked transfer encoding, cutting it into chunks
// of the sizes returned by next (which must be > 0), with the terminal chunk
// when last is set.
func chunk(body string, next func() int, ext bool, last bool) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		n := min(next(), len(body))
		if ext {
			fmt.Fprintf(&b, "%X;name=value\r\n", n)
		} else {
			fmt.Fprintf(&b, "%x\r\n", n)
		}
		b.WriteString(body[:n])
		b.WriteString("\r\n")
		body = body[n:]
	}
	if last {
		b.WriteString("0\r\n\r\n")
	}
	return b.Bytes()
}

// feed gives wire to a fresh stream in pieces whose sizes come from split
// and collects the events (copied: data is only valid until the next call).
func feed(t *testing.T, chunked bool, wire []byte, split func() int) (events []string, err error, s *SSEStream) {
	t.Helper()
	s = &SSEStream{Chunked: chunked}
	for off := 0; off < len(wire); {
		// A fresh copy of each piece: the parser must not keep pointers into
		// an earlier read buffer.
		end := min(len(wire), off+max(1, split()))
		piece := append([]byte(nil), wire[off:end]...)
		off = end
		for p := piece; len(p) > 0; {
			d, n, e := s.Next(p)
			if n < 0 || n > len(p) {
				t.Fatalf("used %d of %d", n, len(p))
			}
			if d != nil {
				events = append(events, string(d))
			} else if e == nil && n != len(p) {
				t.Fatalf("no event and no error but only %d of %d bytes used", n, len(p))
			}
			if e != nil {
				return events, e, s
			}
			p = p[n:]
			for i := range piece[:len(piece)-len(p)] {
				piece[i] = '#' // consumed bytes are reused by the caller's next read
			}
		}
	}
	return events, nil, s
}

func sameEvents(t *testing.T, what string, got []string) {
	t.Helper()
	if len(got) != len(sseWant) {
		t.Fatalf("%s: %d events, want %d:\n%q", what, len(got), len(sseWant), got)
	}
	for i := range got {
		if got[i] != sseWant[i] {
			t.Fatalf("%s: event %d = %q, want %q", what, i, got[i], sseWant[i])
		}
	}
}

func TestSSEStreamEverySplit(t *testing.T) {
	fixed := func(n int) func() int { return func() int { return n } }
	bodies := map[string]struct {
		chunked bool
		wire    []byte
	}{
		"identity":           {false, []byte(sseBody)},
		"one chunk":          {true, chunk(sseBody, fixed(1<<20), false, false)},
		"1-byte chunks":      {true, chunk(sseBody, fixed(1), false, false)},
		"7-byte chunks, ext": {true, chunk(sseBody, fixed(7), true, false)},
		"64-byte chunks":     {true, chunk(sseBody, fixed(64), false, false)},
	}
	r := rand.New(rand.NewPCG(1, 2))
	bodies["random chunks"] = struct {
		chunked bool
		wire    []byte
	}{true, chunk(sseBody, func() int { return 1 + r.IntN(40) }, false, false)}
	for name, b := range bodies {
		t.Run(name, func(t *testing.T) {
			for size := 1; size <= 19; size++ {
				ev, err, s := feed(t, b.chunked, b.wire, fixed(size))
				if err != nil {
					t.Fatalf("reads of %d: %v", size, err)
				}
				sameEvents(t, fmt.Sprintf("reads of %d", size), ev)
				if s.Comments != sseComments {
					t.Errorf("reads of %d: %d comments, want %d", size, s.Comments, sseComments)
				}
			}
			rr := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 50; i++ {
				ev, err, _ := feed(t, b.chunked, b.wire, func() int { return 1 + rr.IntN(100) })
				if err != nil {
					t.Fatal(err)
				}
				sameEvents(t, "random reads", ev)
			}
			ev, err, _ := feed(t, b.chunked, b.wire, fixed(len(b.wire)))
			if err != nil {
				t.Fatal(err)
			}
			sameEvents(t, "one read", ev)
		})
	}
}

func TestSSEStreamInPlaceWhenContiguous(t *testing.T) {
	wire := chunk("data: abc\n\ndata: defg\nid: 9\n\n", func() int { return 12 }, false, false)
	// Chunks: "data: abc\n\nd" and "ata: defg\nid" and ": 9\n\n": the first
	// event lies in one chunk (in place), the second spans chunks (copied).
	s := &SSEStream{Chunked: true}
	inside := func(d []byte) bool {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
		base := uintptr(unsafe.Pointer(unsafe.SliceData(wire)))
		return p >= base && p < base+uintptr(len(wire))
	}
	d, n, err := s.Next(wire)
	if err != nil || string(d) != "abc" || !inside(d) {
		t.Fatalf("first event %q (in place %v), err %v", d, inside(d), err)
	}
	d, m, err := s.Next(wire[n:])
	if err != nil || string(d) != "defg" || inside(d) {
		t.Fatalf("second event %q (in place %v), err %v", d, inside(d), err)
	}
	d, k, err := s.Next(wire[n+m:]) // the chunk's CRLF
	if d != nil || err != nil || n+m+k != len(wire) {
		t.Fatalf("after the events: %q, err %v, used %d of %d", d, err, n+m+k, len(wire))
	}

	// c1m's framing: the delivery's data line in one chunk, the stream's id
	// line ending the event in the next. Read together, the data stays in place.
	wire = append(chunk("data: {\"seq\":1}\n", func() int { return 100 }, false, false),
		chunk("id: 0/bench.0=1\n\n", func() int { return 100 }, false, false)...)
	s = &SSEStream{Chunked: true}
	d, _, err = s.Next(wire)
	if err != nil || string(d) != `{"seq":1}` || !inside(d) {
		t.Fatalf("c1m event %q (in place %v), err %v", d, inside(d), err)
	}
	// Read apart, the data line is copied before the caller reuses its buffer.
	first := len(chunk("data: {\"seq\":1}\n", func() int { return 100 }, false, false))
	s = &SSEStream{Chunked: true}
	a := append([]byte(nil), wire[:first]...)
	if d, n, err := s.Next(a); d != nil || err != nil || n != first {
		t.Fatalf("first read: %q %d %v", d, n, err)
	}
	clear(a)
	if d, _, err := s.Next(wire[first:]); err != nil || string(d) != `{"seq":1}` {
		t.Fatalf("second read: %q %v", d, err)
	}
}

func TestSSEStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chunked bool
		wire    string
		events  int
		err     error
	}{
		{"last chunk", true, "7\r\ndata:1\n\r\n1\r\n\n\r\n0\r\n\r\n", 1, ErrSSEEnded},
		{"last chunk, extension", true, "0;x=y\r\n", 0, ErrSSEEnded},
		{"size not hex", true, "g\r\n", 0, ErrSSEBadChunk},
		{"no size", true, "\r\n", 0, ErrSSEBadChunk},
		{"size too long", true, "1000000000000000\r\n", 0, ErrSSEBadChunk},
		{"no CRLF after data", true, "3\r\nabcX", 0, ErrSSEChunkCRLF},
		{"CR without LF after data", true, "3\r\nabc\rX", 0, ErrSSEChunkCRLF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= len(tc.wire); size++ {
				ev, err, _ := feed(t, tc.chunked, []byte(tc.wire), func() int { return size })
				if !errors.Is(err, tc.err) || len(ev) != tc.events {
					t.Fatalf("reads of %d: %d events, err %v; want %d, %v", size, len(ev), err, tc.events, tc.err)
				}
			}
		})
	}
	s := &SSEStream{MaxLine: 8}
	if _, _, err := s.Next([]byte("data: 12")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next([]byte("3456789\n")); !errors.Is(err, ErrSSELineTooLong) {
		t.Fatalf("line over MaxLine: %v", err)
	}
}

func TestSSEStreamNoAllocs(t *testing.T) {
	// c1m's framing: a chunk with the data line, a chunk with the id line.
	data := `data: {"op":"msg","topic":"bench.0","seq":1,"ts":100,"data":{"p":"xxxxxxxxxxxxxxxxxxxx"}}` + "\n"
	id := "id: 0/bench.0=1\n\n"
	one := append(chunk(data, func() int { return len(data) }, false, false), chunk(id, func() int { return len(id) }, false, false)...)
	wire := bytes.Repeat(one, 20)
	s := &SSEStream{Chunked: true}
	allocs := testing.AllocsPerRun(100, func() {
		for p := wire; len(p) > 0; {
			d, n, err := s.Next(p)
			if err != nil {
				t.Fatal(err)
			}
			if d != nil {
				if k, _, _ := ScanMessage(d); k != KindMsg {
					t.Fatalf("event %q", d)
				}
			}
			p = p[n:]
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per stream of one event per chunk", allocs)
	}
}

func TestCheckSSEResponse(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	for cut := 0; cut < len(ok); cut++ {
		if n, _, err := CheckSSEResponse([]byte(ok[:cut])); n != 0 || err != nil {
			t.Fatalf("cut %d: n=%d err=%v, want incomplete", cut, n, err)
		}
	}
	n, chunked, err := CheckSSEResponse([]byte(ok + "5\r\n"))
	if n != len(ok) || !chunked || err != nil {
		t.Fatalf("n=%d chunked=%v err=%v", n, chunked, err)
	}
	n, chunked, err = CheckSSEResponse([]byte("HTTP/1.1 200 OK\r\ncontent-type: TEXT/EVENT-STREAM\r\n\r\n"))
	if n == 0 || chunked || err != nil {
		t.Fatalf("identity body: n=%d chunked=%v err=%v", n, chunked, err)
	}
	if _, _, err := CheckSSEResponse([]byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n")); err != ErrSSEStatus {
		t.Fatalf("404: %v", err)
	}
	if _, _, err := CheckSSEResponse([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")); err != ErrSSEContentType {
		t.Fatalf("json: %v", err)
	}
	if _, _, err := CheckSSEResponse(bytes.Repeat([]byte("x"), 9000)); err != ErrHeaderTooLarge {
		t.Fatalf("huge header: %v", err)
	}
	req := string(AppendSSERequest(nil, "127.0.0.1:9", "/sse?topics=bench.0"))
	if req != "GET /sse?topics=bench.0 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n" {
		t.Fatalf("request %q", req)
	}
}

// BenchmarkSSEStream is the client's cost per c1m SSE delivery (data chunk,
// id chunk, scan), to set beside BenchmarkParseFrame's per WebSocket frame.
func BenchmarkSSEStream(b *testing.B) {
	data := `data: {"op":"msg","topic":"bench.0","seq":1,"ts":100,"data":{"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}` + "\n"
	id := "id: XCGTVV6RDS2EPDSX/bench.0=1\n\n"
	one := append(chunk(data, func() int { return len(data) }, false, false), chunk(id, func() int { return len(id) }, false, false)...)
	wire := bytes.Repeat(one, 100)
	s := &SSEStream{Chunked: true}
	b.SetBytes(int64(len(wire))) // 100 events per op
	b.ReportAllocs()
	for b.Loop() {
		for p := wire; len(p) > 0; {
			d, n, err := s.Next(p)
			if err != nil {
				b.Fatal(err)
			}
			if d != nil {
				ScanMessage(d)
			}
			p = p[n:]
		}
	}
}

// BenchmarkLoopConsumeSSE is BenchmarkLoopConsume for c1m's SSE framing: the
// per-delivery receive path of a worker over an event stream.
func BenchmarkLoopConsumeSSE(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen, isSSE: true, sse: &SSEStream{Chunked: true}}
	var wire []byte
	const perRead = 64
	for i := 0; i < perRead; i++ {
		data := `data: {"op":"msg","topic":"bench.0","seq":` + strconv.Itoa(1000+i) + `,"ts":1,"data":{"p":"` + strings.Repeat("x", 200) + `"}}` + "\n"
		id := "id: XCGTVV6RDS2EPDSX/bench.0=" + strconv.Itoa(1000+i) + "\n\n"
		wire = append(wire, chunk(data, func() int { return len(data) }, false, false)...)
		wire = append(wire, chunk(id, func() int { return len(id) }, false, false)...)
	}
	l.consume(c, wire, 2) // grow the per-seq table once
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if n := l.consume(c, wire, 2); n != len(wire) {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.N*perRead)/b.Elapsed().Seconds(), "deliveries/s")
}
