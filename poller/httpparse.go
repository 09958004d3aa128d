package poller

import (
	"bytes"
	"net/http"

	"github.com/c1mhq/c1m/internal/httplex"
)

// HTTP/1.x request framing for requests served on the reactor (RFC 9112).
// Everything works on bytes that have arrived: a head is scanned once it is
// complete, a body is measured (Content-Length) or decoded in place (chunked)
// as it arrives, and nothing here allocates.

// reqHead is what parseHead learns about a complete request head. Its slices
// point into the head.
type reqHead struct {
	method, path, query []byte
	minor               byte  // HTTP/1.minor: 0 or 1 (1.x above 1 counts as 1)
	contentLength       int64 // -1 when absent
	chunked             bool  // Transfer-Encoding: chunked
	keepAlive           bool  // the connection may stay open after the response
	closeAsked          bool  // the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)
	expectContinue      bool  // Expect: 100-continue
	upgrade             bool  // an Upgrade header offering websocket
	connUpgrade         bool  // a Connection header with the upgrade token
}

// headEnd returns the length of the request head at the start of b (through
// CRLFCRLF), or 0 when it is not complete yet. from is how much of b an
// earlier call already searched, so a head that trickles in is scanned once.
// ok is false when the head is (or will be) longer than limit.
func headEnd(b []byte, from, limit int) (n int, ok bool) {
	start := max(0, from-3)
	if i := bytes.Index(b[start:], crlfcrlf); i >= 0 {
		n := start + i + 4
		return n, n <= limit
	}
	return 0, len(b) <= limit
}

var crlfcrlf = []byte("\r\n\r\n")

// leadingNewlines counts the empty lines in front of a request line, which a
// server should ignore (RFC 9112 2.2): some clients send CRLF after a body.
func leadingNewlines(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// parseHead checks the syntax of a complete request head (as measured by
// headEnd) and fills rh. It returns 0 when the request can be served, else the
// HTTP status to refuse it with and a reason. rh.method is nil when the
// request line itself is malformed.
func parseHead(head []byte, rh *reqHead) (int, string) {
	*rh = reqHead{contentLength: -1}
	line, rest, _ := httplex.CutLine(head)
	method, target, major, minor, ok := httplex.ParseRequestLine(line)
	if !ok {
		return http.StatusBadRequest, "malformed HTTP request: bad request line"
	}
	rh.method = method
	rh.path, rh.query = httplex.SplitTarget(target)
	if major != 1 {
		return http.StatusHTTPVersionNotSupported, "HTTP version not supported"
	}
	rh.minor = min(minor, 1)
	var hosts, lengths, encodings int
	var keepAliveTok, closeTok bool
	for {
		line, rest, _ = httplex.CutLine(rest)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return http.StatusBadRequest, "malformed HTTP request: obsolete line folding"
		}
		name, value, ok := httplex.ParseHeaderLine(line)
		if !ok {
			return http.StatusBadRequest, "malformed HTTP request: bad header line"
		}
		switch {
		case httplex.EqualFold(name, "Host"):
			hosts++
		case httplex.EqualFold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok || (lengths > 0 && n != rh.contentLength) {
				return http.StatusBadRequest, "malformed HTTP request: bad Content-Length"
			}
			rh.contentLength = n
			lengths++
		case httplex.EqualFold(name, "Transfer-Encoding"):
			encodings++
			if !httplex.EqualFold(value, "chunked") || encodings > 1 {
				return http.StatusNotImplemented, "unsupported Transfer-Encoding"
			}
			rh.chunked = true
		case httplex.EqualFold(name, "Connection"):
			keepAliveTok = keepAliveTok || httplex.HasToken(value, "keep-alive")
			closeTok = closeTok || httplex.HasToken(value, "close")
			rh.connUpgrade = rh.connUpgrade || httplex.HasToken(value, "upgrade")
		case httplex.EqualFold(name, "Expect"):
			if !httplex.EqualFold(value, "100-continue") {
				return http.StatusExpectationFailed, "unsupported expectation"
			}
			rh.expectContinue = rh.minor == 1
		case httplex.EqualFold(name, "Upgrade"):
			rh.upgrade = rh.upgrade || httplex.HasToken(value, "websocket")
		}
	}
	switch {
	case rh.minor == 1 && hosts != 1:
		return http.StatusBadRequest, "malformed HTTP request: HTTP/1.1 needs one Host header"
	case rh.chunked && (lengths > 0 || rh.minor == 0):
		// Both framings, or chunking from an HTTP/1.0 client: the length is
		// ambiguous (request smuggling), RFC 9112 6.1.
		return http.StatusBadRequest, "malformed HTTP request: ambiguous body length"
	}
	if rh.minor == 1 {
		rh.keepAlive = !closeTok
	} else {
		rh.keepAlive = keepAliveTok && !closeTok
	}
	rh.closeAsked = !rh.keepAlive
	return 0, ""
}

// parseLength parses a Content-Length value: decimal digits only, at most 18.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// headerValue returns the value of the first header called name in head
// (case-insensitive), nil if there is none. head is a head parseHead
// accepted.
func headerValue(head []byte, name string) []byte {
	_, rest, _ := httplex.CutLine(head)
	for {
		var line []byte
		line, rest, _ = httplex.CutLine(rest)
		if len(line) == 0 {
			return nil
		}
		i := bytes.IndexByte(line, ':')
		if i > 0 && httplex.EqualFold(line[:i], name) {
			return httplex.TrimOWS(line[i+1:])
		}
	}
}

// methodString returns method as a string without allocating for the
// registered methods.
func methodString(m []byte) string {
	switch string(m) { // no allocation: the compiler compares in place
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	}
	return string(m)
}

// chunkState decodes a chunked request body (RFC 9112 7.1) in place: the data
// of every chunk is moved down to the end of the data decoded so far, so the
// body ends up contiguous behind the head. Offsets are from the start of the
// request.
type chunkState struct {
	scan   int   // next raw byte to read
	out    int   // end of the decoded body
	remain int64 // data bytes left in the current chunk
	phase  chunkPhase
}

type chunkPhase uint8

const (
	ckSize    chunkPhase = iota // expecting a chunk-size line
	ckData                      // inside chunk data
	ckDataEnd                   // expecting the CRLF after chunk data
	ckTrailer                   // after the last chunk: trailer lines until an empty one
)

// maxChunkLine bounds a chunk-size line with its extensions and a trailer line.
const maxChunkLine = 4096

// decode advances over b (the request from its first byte). It returns done
// when the last chunk and trailers are complete, else 0 to wait for more, or
// the status to refuse the request with (400 malformed, 413 over maxBody).
func (ck *chunkState) decode(b []byte, bodyStart, maxBody int) (done bool, status int) {
	for {
		switch ck.phase {
		case ckSize:
			line, n, ok := chunkLine(b[ck.scan:])
			if !ok {
				return false, n
			}
			size, ok := parseChunkSize(line)
			if !ok {
				return false, http.StatusBadRequest
			}
			ck.scan += n
			if size == 0 {
				ck.phase = ckTrailer
				continue
			}
			if int64(ck.out-bodyStart)+size > int64(maxBody) {
				return false, http.StatusRequestEntityTooLarge
			}
			ck.remain, ck.phase = size, ckData
		case ckData:
			k := min(int64(len(b)-ck.scan), ck.remain)
			if k == 0 {
				return false, 0
			}
			copy(b[ck.out:], b[ck.scan:ck.scan+int(k)])
			ck.out += int(k)
			ck.scan += int(k)
			ck.remain -= k
			if ck.remain == 0 {
				ck.phase = ckDataEnd
			}
		case ckDataEnd:
			line, n, ok := chunkLine(b[ck.scan:])
			if !ok {
				return false, n
			}
			if len(line) != 0 {
				return false, http.StatusBadRequest
			}
			ck.scan += n
			ck.phase = ckSize
		case ckTrailer:
			line, n, ok := chunkLine(b[ck.scan:])
			if !ok {
				return false, n
			}
			ck.scan += n
			if len(line) == 0 {
				return true, 0
			}
		}
	}
}

// chunkLine returns the first CRLF-terminated line of b and its length with
// the CRLF. Not ok: n is 0 when the line is incomplete, or 400 when it is
// longer than maxChunkLine.
func chunkLine(b []byte) (line []byte, n int, ok bool) {
	i := bytes.Index(b[:min(len(b), maxChunkLine+2)], []byte("\r\n"))
	if i < 0 {
		if len(b) > maxChunkLine {
			return nil, http.StatusBadRequest, false
		}
		return nil, 0, false
	}
	return b[:i], i + 2, true
}

// parseChunkSize parses "hex [; extensions]"; extensions are ignored.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = httplex.TrimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}
