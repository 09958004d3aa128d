package loadgen

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// This file is the load generator's client side of SockJS carrying the
// native protocol, the protocol of the sockjs and idle_sockjs scenarios
// (c1m's /sockjs; docs/PROTOCOL.md, "SockJS"). A client picks a server id and
// a session id at random and talks to PREFIX/<server>/<session>/<transport>
// over one receiving transport:
//
//   - xhr_streaming: POST, a chunked response: a prelude line of 2048 'h',
//     then one SockJS frame per line ("frame\n"). The server ends the
//     response after its response limit (128 KiB of frames by default); the
//     client POSTs the next one at once on the same keep-alive connection.
//   - eventsource: GET, a chunked text/event-stream: "\r\n", then one
//     "data: frame\r\n\r\n" event per frame; rotated like xhr_streaming.
//   - xhr (polling): POST, one frame per response ("frame\n", Content-Length);
//     the client POSTs the next poll as soon as one is answered.
//   - websocket: an upgrade of .../websocket; every text message is a frame.
//
// A frame is "o" (open), "h" (heart-beat), a["m1","m2",...] (messages, each a
// JSON string holding one native reply or delivery) or c[code,"reason"]
// (closed). At "o" the client subscribes: over websocket it sends the JSON
// array ["{\"op\":\"sub\",\"id\":1,...}"] as a text message; over HTTP it
// POSTs that array to .../xhr_send on a second, short-lived TCP connection
// (from the same source address; the receiving connection is busy with its
// response), expects 204 and closes it (RST). The client is ready at the
// reply {"op":"ok","id":1,...}. Each message is unescaped into a buffer the
// loop reuses and scanned as the native client scans a WebSocket message: no
// allocation per delivery.

// SockJS receiving transports (Config.SockJS, DialSpec.SockJS).
const (
	SockJSXHRStreaming = "xhr_streaming"
	SockJSEventSource  = "eventsource"
	SockJSXHR          = "xhr"
	SockJSWebSocket    = "websocket"
)

// SockJSTransports lists the transports the client speaks.
var SockJSTransports = []string{SockJSXHRStreaming, SockJSEventSource, SockJSXHR, SockJSWebSocket}

// DefaultSockJSPath is the prefix of c1m's SockJS endpoint for the native protocol.
const DefaultSockJSPath = "/sockjs"

// SockJSError is a response or frame the SockJS client cannot use.
type SockJSError string

func (e SockJSError) Error() string { return "sockjs: " + string(e) }

// Errors of the SockJS client.
const (
	ErrSockJSStatus      SockJSError = "response status is not 200"
	ErrSockJSSendStatus  SockJSError = "xhr_send answer is not 204"
	ErrSockJSNoLength    SockJSError = "response neither chunked nor with Content-Length"
	ErrSockJSBadLength   SockJSError = "malformed Content-Length"
	ErrSockJSBadChunk    SockJSError = "malformed chunk"
	ErrSockJSLineTooLong SockJSError = "frame longer than the configured maximum"
	ErrSockJSBadFrame    SockJSError = "malformed frame"
	ErrSockJSBadString   SockJSError = "malformed JSON string in a message frame"
)

// SockJSResponse is the head of one HTTP response of a SockJS transport.
type SockJSResponse struct {
	Status  int
	Chunked bool
	Length  int64 // Content-Length, -1 when absent
}

// CheckSockJSResponse looks for a complete response header at the start of
// buf. It returns n == 0 and a nil error while the header is incomplete;
// otherwise n is the header's length (the body follows).
func CheckSockJSResponse(buf []byte) (r SockJSResponse, n int, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 8192 {
			return r, 0, ErrHeaderTooLarge
		}
		return r, 0, nil
	}
	n = end + 4
	line, rest, _ := bytes.Cut(buf[:end], []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return r, n, SockJSError("malformed status line: " + string(line[:min(len(line), 100)]))
	}
	st, ok := parseDigits(line[9:12])
	if !ok {
		return r, n, SockJSError("malformed status line: " + string(line[:min(len(line), 100)]))
	}
	r.Status, r.Length = int(st), -1
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, ok := parseDigits(value)
			if !ok {
				return r, n, ErrSockJSBadLength
			}
			r.Length = v
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			r.Chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		}
	}
	return r, n, nil
}

// SockJSBody splits one HTTP response body (chunked or with a
// Content-Length) into lines, incrementally: feed it whatever arrived, in any
// split. A line is returned without its "\n" (and without a "\r" before it),
// in place when it lies in one contiguous piece of p, copied when it is split
// across reads or chunks. Start it with Reset for each response.
type SockJSBody struct {
	MaxLine int // 0: 1 MiB

	chunked   bool
	left      int64 // Content-Length bytes left
	ch        uint8 // chunked decoding state (the chXxx of SSEStream)
	chunkLeft int
	size      int64
	digits    int
	trailer   int    // bytes of the trailer line being read
	line      []byte // a line split across reads or chunks, copied
	done      bool
}

// Reset starts the body of response r.
func (b *SockJSBody) Reset(r SockJSResponse) error {
	switch {
	case r.Chunked:
	case r.Length >= 0:
	default:
		return ErrSockJSNoLength
	}
	*b = SockJSBody{MaxLine: b.MaxLine, chunked: r.Chunked, left: r.Length, line: b.line[:0]}
	b.done = !r.Chunked && r.Length == 0
	return nil
}

// Done tells whether the body has ended.
func (b *SockJSBody) Done() bool { return b.done }

// chTrailer is the state after the last chunk: trailer lines up to a blank one.
const chTrailer = chDone + 1

// Next consumes bytes of p until a line completes, the body ends or p is
// used up. It returns the line (nil when none completed), the bytes of p
// consumed, and whether the body ended (a last line without "\n" is returned
// with it). The line is valid until the next call and until p is modified.
func (b *SockJSBody) Next(p []byte) (line []byte, used int, end bool, err error) {
	line, used, err = b.next(p)
	if err != nil || b.done {
		if line == nil && b.done && len(b.line) > 0 {
			line, b.line = b.line, b.line[:0]
		}
		return line, used, b.done, err
	}
	return line, used, false, nil
}

func (b *SockJSBody) next(p []byte) (line []byte, used int, err error) {
	for used < len(p) && !b.done {
		if !b.chunked {
			seg := p[used:min(int64(len(p)), int64(used)+b.left)]
			l, n, err := b.lines(seg)
			used += n
			b.left -= int64(n)
			b.done = b.left == 0
			if l != nil || err != nil {
				return l, used, err
			}
			continue
		}
		c := p[used]
		switch b.ch {
		case chSize:
			switch v := hexVal(c); {
			case v >= 0:
				if b.digits == 15 {
					return nil, used, ErrSockJSBadChunk
				}
				b.size = b.size<<4 | int64(v)
				b.digits++
				used++
			case c == ';' || c == ' ' || c == '\t' || c == '\r':
				if b.digits == 0 {
					return nil, used, ErrSockJSBadChunk
				}
				b.ch = chExt
			case c == '\n':
				if b.digits == 0 {
					return nil, used, ErrSockJSBadChunk
				}
				used++
				b.endSizeLine()
			default:
				return nil, used, ErrSockJSBadChunk
			}
		case chExt:
			i := bytes.IndexByte(p[used:], '\n')
			if i < 0 {
				used = len(p)
				break
			}
			used += i + 1
			b.endSizeLine()
		case chData:
			seg := p[used:min(len(p), used+b.chunkLeft)]
			l, n, err := b.lines(seg)
			used += n
			b.chunkLeft -= n
			if b.chunkLeft == 0 {
				b.ch = chDataCR
			}
			if l != nil || err != nil {
				return l, used, err
			}
		case chDataCR:
			switch c {
			case '\r':
				b.ch = chDataLF
			case '\n':
				b.ch = chSize
			default:
				return nil, used, ErrSockJSBadChunk
			}
			used++
		case chDataLF:
			if c != '\n' {
				return nil, used, ErrSockJSBadChunk
			}
			b.ch = chSize
			used++
		case chTrailer:
			used++
			switch c {
			case '\n':
				if b.trailer == 0 {
					b.done = true
				}
				b.trailer = 0
			case '\r':
			default:
				b.trailer++
			}
		}
	}
	return nil, used, nil
}

func (b *SockJSBody) endSizeLine() {
	size := b.size
	b.size, b.digits = 0, 0
	if size == 0 {
		b.ch = chTrailer
		return
	}
	b.ch = chData
	b.chunkLeft = int(min(size, 1<<40))
}

// lines returns the first line completed in seg, one contiguous piece of the
// body.
func (b *SockJSBody) lines(seg []byte) (line []byte, used int, err error) {
	maxLine := b.MaxLine
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	i := bytes.IndexByte(seg, '\n')
	if i < 0 {
		if len(b.line)+len(seg) > maxLine {
			return nil, 0, ErrSockJSLineTooLong
		}
		b.line = append(b.line, seg...)
		return nil, len(seg), nil
	}
	if len(b.line) > 0 {
		if len(b.line)+i > maxLine {
			return nil, 0, ErrSockJSLineTooLong
		}
		b.line = append(b.line, seg[:i]...)
		line = b.line
		b.line = b.line[:0] // line stays valid: nothing is appended before the next call
	} else {
		line = seg[:i:i]
	}
	return trimCR(line), i + 1, nil
}

// SockJSUnquote appends the JSON string at the start of p (from its opening
// quote) to dst, unescaped, and returns it with the bytes of p the string
// took. A \u escape of a lone surrogate becomes U+FFFD. It allocates only to
// grow dst.
func SockJSUnquote(dst, p []byte) (out []byte, n int, err error) {
	if len(p) == 0 || p[0] != '"' {
		return dst, 0, ErrSockJSBadString
	}
	i := 1
	for {
		rest := p[i:]
		bs := bytes.IndexByte(rest, '\\')
		run := rest
		if bs >= 0 {
			run = rest[:bs]
		}
		if q := bytes.IndexByte(run, '"'); q >= 0 {
			return append(dst, run[:q]...), i + q + 1, nil
		}
		if bs < 0 {
			return dst, 0, ErrSockJSBadString // no closing quote
		}
		dst = append(dst, run...)
		if dst, i, err = unescape(dst, p, i+bs); err != nil {
			return dst, 0, err
		}
	}
}

// SockJSUnquoteHead is SockJSUnquote for the receive path: it unescapes the
// string only through its first "data" key (ScanMessage looks no further:
// every server puts data last, and it can be long), which it leaves at the
// end of the result, and skips the rest of the string without copying it; a
// string without that key is unescaped whole. n is the bytes of p the whole
// string took.
func SockJSUnquoteHead(dst, p []byte) (out []byte, n int, err error) {
	if len(p) == 0 || p[0] != '"' {
		return dst, 0, ErrSockJSBadString
	}
	for i := 1; i < len(p); {
		switch c := p[i]; c {
		case '"':
			return dst, i + 1, nil
		case '\\':
			if dst, i, err = unescape(dst, p, i); err != nil {
				return dst, 0, err
			}
			if p[i-1] == '"' && bytes.HasSuffix(dst, []byte(`"data"`)) {
				end := stringEnd(p, i)
				if end < 0 {
					return dst, 0, ErrSockJSBadString
				}
				return dst, end + 1, nil
			}
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst, 0, ErrSockJSBadString // no closing quote
}

// stringEnd is the index of the quote closing the JSON string that p[i] is
// inside of (the first quote not escaped by an odd run of backslashes), or -1.
func stringEnd(p []byte, i int) int {
	for i < len(p) {
		q := bytes.IndexByte(p[i:], '"')
		if q < 0 {
			return -1
		}
		q += i
		bs := 0
		for j := q - 1; j >= i && p[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return q
		}
		i = q + 1
	}
	return -1
}

// unescape appends the escape sequence at p[i] (a backslash) unescaped and
// returns the index after it.
func unescape(dst, p []byte, i int) ([]byte, int, error) {
	if i+1 >= len(p) {
		return dst, i, ErrSockJSBadString
	}
	switch c := p[i+1]; c {
	case '"', '\\', '/':
		return append(dst, c), i + 2, nil
	case 'b':
		return append(dst, '\b'), i + 2, nil
	case 'f':
		return append(dst, '\f'), i + 2, nil
	case 'n':
		return append(dst, '\n'), i + 2, nil
	case 'r':
		return append(dst, '\r'), i + 2, nil
	case 't':
		return append(dst, '\t'), i + 2, nil
	case 'u':
		r, ok := hex4(p[i+2:])
		if !ok {
			return dst, i, ErrSockJSBadString
		}
		i += 6
		if utf16.IsSurrogate(r) && i+1 < len(p) && p[i] == '\\' && p[i+1] == 'u' {
			if r2, ok := hex4(p[i+2:]); ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				}
			}
		}
		return utf8.AppendRune(dst, r), i, nil // a lone surrogate becomes U+FFFD
	}
	return dst, i, ErrSockJSBadString
}

func hex4(p []byte) (rune, bool) {
	if len(p) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p[:4] {
		v := hexVal(c)
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// AppendSockJSRequest appends the receiving request of transport at base
// (PREFIX/<server>/<session>/) on host.
func AppendSockJSRequest(dst []byte, transport, host, base string) []byte {
	if transport == SockJSEventSource {
		dst = append(dst, "GET "...)
	} else {
		dst = append(dst, "POST "...)
	}
	dst = append(dst, base...)
	dst = append(dst, transport...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	if transport == SockJSEventSource {
		return append(dst, "\r\nAccept: text/event-stream\r\n\r\n"...)
	}
	return append(dst, "\r\nContent-Length: 0\r\n\r\n"...)
}

// AppendSockJSSend appends the POST of body (a JSON array of strings) to
// base's xhr_send on host.
func AppendSockJSSend(dst []byte, host, base string, body []byte) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, base...)
	dst = append(dst, "xhr_send HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// AppendSockJSSubscribe appends the SockJS message array carrying the native
// subscribe with id 1: ["{\"op\":\"sub\",\"id\":1,\"topics\":[\"TOPIC\"]}"].
func AppendSockJSSubscribe(dst []byte, topic string) []byte {
	t, _ := json.Marshal(topic)
	op := `{"op":"sub","id":1,"topics":[` + string(t) + `]}`
	m, _ := json.Marshal(op)
	dst = append(dst, '[')
	dst = append(dst, m...)
	return append(dst, ']')
}

// SockJSSessionPath returns PREFIX/<server>/<session>/ with a random server
// id (three digits, as sockjs-client picks) and session id (16 hex digits).
func SockJSSessionPath(prefix string) string {
	var raw [10]byte
	rand.Read(raw[:])
	return fmt.Sprintf("%s/%03d/%s/", prefix, (int(raw[0])<<8|int(raw[1]))%1000, hex.EncodeToString(raw[2:]))
}

// sockjsState is the SockJS side of one client connection: a session's
// receiving connection, or (owner set) the short-lived connection of its
// xhr_send.
type sockjsState struct {
	transport string
	addr      string // host:port of the server
	base      string // PREFIX/<server>/<session>/
	topic     string
	owner     *clientConn // a send connection: the session's receiving connection
	sender    *clientConn // the receiving connection's send in flight
	inBody    bool        // reading a response body (HTTP transports)
	body      SockJSBody
	opened    bool   // "o" seen
	heartbeat uint64 // "h" frames seen
	responses uint64 // receiving responses begun
}

func (s *sockjsState) http() bool { return s.transport != SockJSWebSocket }

// sockjsDial opens the TCP connection of a send for the session of owner,
// from owner's source address; it returns the socket, connecting. A test
// replaces it (Loop.sockjsDialer).
func sockjsDial(owner *clientConn) (int, error) {
	dst, err := netip.ParseAddrPort(owner.sockjs.addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if sa, err := unix.Getsockname(owner.fd); err == nil {
		if in4, ok := sa.(*unix.SockaddrInet4); ok && in4.Addr != [4]byte{} {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: in4.Addr}); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("bind: %w", err)
			}
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// sockjsSend sends the messages array body to c's session: a text message
// over websocket, else a POST to xhr_send on a connection of its own.
func (l *Loop) sockjsSend(c *clientConn, body []byte) {
	st := c.sockjs
	if !st.http() {
		l.send(c, OpText, body)
		return
	}
	dial := l.sockjsDialer
	if dial == nil {
		dial = sockjsDial
	}
	fd, err := dial(c)
	if err != nil {
		l.closeConn(c, fmt.Errorf("sockjs xhr_send: %w", err))
		return
	}
	s := &clientConn{fd: fd, state: stConnecting, start: c.start,
		sockjs: &sockjsState{transport: st.transport, owner: c}}
	s.out = AppendSockJSSend(s.out, st.addr, st.base, body)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		l.closeConn(c, fmt.Errorf("sockjs xhr_send: epoll_ctl: %w", err))
		return
	}
	for fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*clientConn, len(l.conns)+1024)...)
	}
	l.conns[fd] = s
	st.sender = s
}

// sockjsClosed is closeConn's part for SockJS connections: a receiving
// connection takes its send along; a send that fails takes its session.
func (l *Loop) sockjsClosed(c *clientConn, err error) {
	st := c.sockjs
	if st.owner != nil {
		o := st.owner
		st.owner = nil
		if o.sockjs.sender == c {
			o.sockjs.sender = nil
		}
		if err != nil {
			l.closeConn(o, fmt.Errorf("sockjs xhr_send: %w", err))
		}
		return
	}
	if s := st.sender; s != nil {
		st.sender = nil
		s.sockjs.owner = nil
		l.closeConn(s, nil)
	}
}

// consumeSockJS parses what an HTTP transport's connection received: the
// answer to an xhr_send on a send connection; else responses of the
// receiving transport, one after another on the keep-alive connection, each
// followed at once by the next request.
func (l *Loop) consumeSockJS(c *clientConn, data []byte, now int64) int {
	st := c.sockjs
	if st.owner != nil {
		r, n, err := CheckSockJSResponse(data)
		switch {
		case err != nil:
			l.closeConn(c, err)
		case n == 0:
			return 0
		case r.Status != 204:
			l.closeConn(c, SockJSError(string(ErrSockJSSendStatus)+": "+strconv.Itoa(r.Status)))
		default:
			l.closeConn(c, nil) // done: RST, no TIME_WAIT
		}
		return len(data)
	}
	used := 0
	for used < len(data) && c.state != stClosed {
		if !st.inBody {
			r, n, err := CheckSockJSResponse(data[used:])
			if err == nil && n > 0 && r.Status != 200 {
				err = SockJSError(string(ErrSockJSStatus) + ": " + strconv.Itoa(r.Status))
			}
			if err == nil && n > 0 {
				st.body.MaxLine = maxFrame
				err = st.body.Reset(r)
			}
			if err != nil {
				l.closeConn(c, err)
				return used
			}
			if n == 0 {
				return used
			}
			used += n
			st.inBody = true
			st.responses++
			if c.state == stHandshaking {
				l.upHist.Record(now - c.start)
				c.state = stSubscribing // until "o" and the subscribe's ok
			}
		}
		for !st.body.Done() && c.state != stClosed {
			line, n, _, err := st.body.Next(data[used:])
			used += n
			if err != nil {
				l.closeConn(c, err)
				return used
			}
			if line != nil {
				l.sockjsLine(c, line, now)
			} else if used == len(data) || n == 0 {
				break
			}
		}
		if c.state == stClosed || !st.body.Done() {
			return used // closed, or the body goes on in a later read
		}
		{
			// The response ended (rotated after the response limit, or a
			// poll answered): the next request on the session at once.
			st.inBody = false
			c.out = AppendSockJSRequest(c.out, st.transport, st.addr, st.base)
			if !l.flush(c) {
				return used
			}
		}
	}
	return used
}

// sockjsLine handles one line of an HTTP transport's body.
func (l *Loop) sockjsLine(c *clientConn, line []byte, now int64) {
	if c.sockjs.transport == SockJSEventSource {
		// "data: frame", then the blank line ending the event; the
		// prelude is a blank line too.
		f, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			return
		}
		if len(f) > 0 && f[0] == ' ' {
			f = f[1:]
		}
		l.sockjsFrame(c, f, now)
		return
	}
	if len(line) > 1 && line[0] == 'h' && line[len(line)-1] == 'h' {
		return // xhr_streaming's prelude: 2048 'h'
	}
	l.sockjsFrame(c, line, now)
}

// sockjsFrame handles one SockJS frame.
func (l *Loop) sockjsFrame(c *clientConn, f []byte, now int64) {
	st := c.sockjs
	if len(f) == 0 {
		l.closeConn(c, ErrSockJSBadFrame)
		return
	}
	switch f[0] {
	case 'o':
		if st.opened || len(f) != 1 {
			l.closeConn(c, SockJSError(fmt.Sprintf("unexpected open frame %.100q", f)))
			return
		}
		st.opened = true
		if st.topic == "" {
			l.subHist.Record(now - c.start)
			l.opened(c)
			return
		}
		l.scratch = AppendSockJSSubscribe(l.scratch[:0], st.topic)
		l.sockjsSend(c, l.scratch)
	case 'h':
		st.heartbeat++
	case 'a':
		if len(f) < 3 || f[1] != '[' || f[len(f)-1] != ']' {
			l.closeConn(c, SockJSError(fmt.Sprintf("malformed message frame %.100q", f)))
			return
		}
		p := f[2 : len(f)-1]
		for len(p) > 0 && c.state != stClosed {
			m, n, err := SockJSUnquoteHead(l.sjBuf[:0], p)
			if err != nil {
				l.closeConn(c, fmt.Errorf("%w: %.100q", err, f))
				return
			}
			l.sjBuf = m
			l.message(c, m, now)
			p = p[n:]
			if len(p) > 0 {
				if p[0] != ',' {
					l.closeConn(c, SockJSError(fmt.Sprintf("malformed message frame %.100q", f)))
					return
				}
				p = p[1:]
			}
		}
	case 'c':
		l.closeConn(c, SockJSError(fmt.Sprintf("closed by server: %.200s", f)))
	default:
		l.closeConn(c, SockJSError(fmt.Sprintf("unknown frame %.100q", f)))
	}
}
