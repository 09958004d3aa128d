package poller

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	cases := []struct {
		name, head string
		status     int
		check      func(rh *reqHead) bool
	}{
		{"get 1.1", "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", 0, func(rh *reqHead) bool {
			return string(rh.method) == "GET" && string(rh.path) == "/a/b" && string(rh.query) == "x=1" &&
				rh.minor == 1 && rh.keepAlive && !rh.closeAsked && rh.contentLength == -1 && !rh.chunked
		}},
		{"absolute form", "GET http://h:80/p?q HTTP/1.1\r\nHost: h\r\n\r\n", 0, func(rh *reqHead) bool {
			return string(rh.path) == "/p" && string(rh.query) == "q"
		}},
		{"close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", 0, func(rh *reqHead) bool {
			return !rh.keepAlive && rh.closeAsked
		}},
		{"1.0", "GET / HTTP/1.0\r\n\r\n", 0, func(rh *reqHead) bool { return rh.minor == 0 && !rh.keepAlive }},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n", 0, func(rh *reqHead) bool { return rh.keepAlive }},
		{"1.2 is 1.1", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 0, func(rh *reqHead) bool { return rh.minor == 1 }},
		{"length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\n", 0, func(rh *reqHead) bool { return rh.contentLength == 12 }},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n", 0, func(rh *reqHead) bool {
			return rh.chunked && rh.expectContinue
		}},
		{"websocket", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: foo, WebSocket\r\n\r\n", 0, func(rh *reqHead) bool { return rh.upgrade }},
		{"bare LF", "GET / HTTP/1.1\nHost: h\n\r\n", 0, nil},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, nil},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, nil},
		{"http/2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, nil},
		{"bad request line", "GET /\r\n\r\n", 400, nil},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400, nil},
		{"obs fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, nil},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, nil},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400, nil},
		{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400, nil},
		{"length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400, nil},
		{"differing lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, nil},
		{"huge length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999999999999\r\n\r\n", 400, nil},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, nil},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, nil},
		{"gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501, nil},
		{"chunked 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, nil},
		{"expectation", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417, nil},
	}
	for _, tc := range cases {
		var rh reqHead
		status, reason := parseHead([]byte(tc.head), &rh)
		if status != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, reason, tc.status)
			continue
		}
		if tc.check != nil && !tc.check(&rh) {
			t.Errorf("%s: %+v", tc.name, rh)
		}
	}
}

func TestHeadEndResumes(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: h\r\n\r\nrest"
	scanned := 0
	for i := 1; i <= len(head); i++ {
		n, ok := headEnd([]byte(head[:i]), scanned, 100)
		if !ok {
			t.Fatal("too large")
		}
		if n > 0 {
			if n != len(head)-4 || i != n {
				t.Fatalf("end %d found at %d bytes", n, i)
			}
			return
		}
		scanned = i
	}
	t.Fatal("end not found")
}

// decodeAll runs the chunk decoder over b the way the reactor does: the
// request grows by arrivals (here split at cut), each decode resumes.
func decodeAll(b []byte, cut int, maxBody int) (body string, consumed int, status int, done bool) {
	buf := append([]byte(nil), b[:cut]...)
	ck := chunkState{}
	for _, more := range [][]byte{nil, b[cut:]} {
		buf = append(buf, more...)
		done, status = ck.decode(buf, 0, maxBody)
		if status != 0 || done {
			break
		}
	}
	return string(buf[:ck.out]), ck.scan, status, done
}

func TestChunkedDecode(t *testing.T) {
	cases := []struct {
		name, in, body string
		status         int
		done           bool
	}{
		{"simple", "5\r\nhello\r\n0\r\n\r\n", "hello", 0, true},
		{"several", "3\r\nabc\r\nA;x=y\r\n0123456789\r\n0\r\n\r\n", "abc0123456789", 0, true},
		{"upper hex and trailers", "C\r\n" + strings.Repeat("z", 12) + "\r\n0\r\nA: b\r\nC: d\r\n\r\n", strings.Repeat("z", 12), 0, true},
		{"incomplete", "5\r\nhel", "hel", 0, false},
		{"no last chunk", "5\r\nhello\r\n", "hello", 0, false},
		{"bad size", "g\r\n", "", 400, false},
		{"missing CRLF after data", "2\r\nabX\r\n", "ab", 400, false},
		{"too large", "10\r\n" + strings.Repeat("x", 16) + "\r\n0\r\n\r\n", "", 413, false},
		{"size overflow", "1000000000000000\r\n", "", 400, false},
	}
	for _, tc := range cases {
		for cut := 0; cut <= len(tc.in); cut++ {
			body, consumed, status, done := decodeAll([]byte(tc.in), cut, 15)
			if status != tc.status || done != tc.done || (status == 0 && body != tc.body) {
				t.Fatalf("%s cut %d: body %q status %d done %v, want %q %d %v", tc.name, cut, body, status, done, tc.body, tc.status, tc.done)
			}
			if done && consumed != len(tc.in) {
				t.Fatalf("%s cut %d: consumed %d of %d", tc.name, cut, consumed, len(tc.in))
			}
		}
	}
}

// FuzzChunked: decoding in two pieces gives what decoding at once gives, and
// a body decoded completely is what net/http's chunked reader reads.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\n\r\n", "0\r\nT: v\r\n\r\n", "ff\r\n", "3\r\nab"} {
		f.Add([]byte(s), uint16(2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		c := int(cut) % (len(in) + 1)
		body, consumed, status, done := decodeAll(in, len(in), 1<<16)
		body2, consumed2, status2, done2 := decodeAll(in, c, 1<<16)
		if body != body2 || consumed != consumed2 || status != status2 || done != done2 {
			t.Fatalf("whole: %q %d %d %v; split at %d: %q %d %d %v", body, consumed, status, done, c, body2, consumed2, status2, done2)
		}
		if !done || bytes.Contains(in[:consumed], []byte(";")) {
			return
		}
		// Trailers are beyond httputil's reader: compare bodies only.
		got, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(in[:consumed])))
		if err == nil && string(got) != body {
			t.Fatalf("net/http reads %q, we decoded %q", got, body)
		}
	})
}
