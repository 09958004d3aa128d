package stomp

import (
	"bytes"
	"strconv"
	"sync"

	"github.com/valyala/bytebufferpool"
)

// bufPool holds the buffers of frames split over several Feed calls.
var bufPool bytebufferpool.Pool

// Parser phases.
const (
	phaseCommand uint8 = iota // a command line or an EOL heart-beat
	phaseHeaders              // a header line or the blank line ending the headers
	phaseBody                 // the body and its NUL
)

// Results of scan.
const (
	needMore = iota
	gotFrame
	gotHeartbeat
)

// span locates one unescaped header as offsets from the frame's first byte,
// so that it survives the parser's buffer growing.
type span struct{ name, nameEnd, value, valueEnd int }

// Parser parses the client-to-server byte stream of one connection: several
// frames per WebSocket message, one frame split over several messages, and
// EOL heart-beats (\n or \r\n) between frames. A zero Parser is ready to use
// with the default Limits. A Parser is not safe for concurrent use.
//
// A frame that lies entirely in one Feed is parsed in place, without a copy;
// only the head of a split frame is copied into a pooled buffer, which goes
// back to the pool as soon as the frame completes.
//
// Errors are reported where the stream first becomes invalid, so the same
// bytes give the same error however they are split into messages.
type Parser struct {
	// Limits bounds frames. It is read by the first Feed; later changes
	// take effect after Reset.
	Limits Limits

	lim   Limits // Limits with defaults applied; zero before the first Feed
	buf   *bytebufferpool.ByteBuffer
	frame Frame  // its Headers are sc's, while p holds sc
	spans []span // sc's, while p holds sc
	sc    *scratch
	err   error // the error that made the parser unusable

	// State of the frame in progress; offsets count from its first byte.
	phase   uint8
	cmd     Command
	line    int // start of the current line; in phaseBody, start of the body
	scanned int // no delimiter between line (or the body) and scanned
	clen    int // content-length; -1 when absent (valid from phaseHeaders on)
}

// Feed parses data, one WebSocket message's payload, calling fn for each
// complete frame and heartbeat (which may be nil) for each EOL heart-beat
// between frames.
//
// Feed unescapes headers in place, so it may modify data; data is not retained
// after Feed returns: the head of a frame left incomplete is copied into the
// parser's own buffer. The *Frame and everything it points to are valid only
// until fn returns. fn and heartbeat must not call back into p.
//
// Feed returns the first error from fn, or a *Error for a malformed or
// oversized frame. After an error the Parser is unusable (every later Feed
// returns the same error): the connection gets an ERROR frame and is closed.
func (p *Parser) Feed(data []byte, fn func(*Frame) error, heartbeat func()) error {
	if p.err != nil {
		return p.err
	}
	if p.lim.MaxFrameBytes == 0 {
		p.lim = p.Limits.withDefaults()
	}
	if p.sc == nil {
		p.sc = scratchPool.Get().(*scratch)
		p.frame.Headers, p.spans = p.sc.headers[:0], p.sc.spans[:0]
	}
	defer p.idle()
	for len(data) > 0 {
		var (
			n, res int
			err    error
		)
		if p.buf == nil {
			// Parse in place; keep a copy only of an incomplete frame.
			n, res, err = p.scan(data)
			if err != nil {
				return p.fail(err)
			}
			if res == needMore {
				p.buf = bufPool.Get()
				p.buf.B = append(p.buf.B[:0], data...)
				return nil
			}
			data = data[n:]
		} else {
			// Complete the buffered frame, taking from data only what it
			// needs to reach its next line or its end.
			k := p.want(data)
			p.buf.B = append(p.buf.B, data[:k]...)
			data = data[k:]
			_, res, err = p.scan(p.buf.B)
			if err != nil {
				return p.fail(err)
			}
			if res == needMore {
				continue
			}
		}
		if res == gotHeartbeat {
			if heartbeat != nil {
				heartbeat()
			}
		} else if err = fn(&p.frame); err != nil {
			return p.fail(err)
		}
		p.next()
	}
	return nil
}

// scratch is the header slices a Parser uses while it parses. An idle
// Parser (no frame in progress) gives them back, so that the many idle
// connections of a server hold none.
type scratch struct {
	headers []Header
	spans   []span
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// idle gives the scratch slices back when no frame is in progress.
func (p *Parser) idle() {
	if p.buf != nil || p.sc == nil {
		return
	}
	clear(p.frame.Headers)
	p.sc.headers, p.sc.spans = p.frame.Headers[:0], p.spans[:0]
	scratchPool.Put(p.sc)
	p.sc, p.frame.Headers, p.spans = nil, nil, nil
}

// Buffered returns the number of bytes of an incomplete frame the parser
// holds.
func (p *Parser) Buffered() int {
	if p.buf == nil {
		return 0
	}
	return len(p.buf.B)
}

// Reset releases the parser's buffers (call it when the connection closes)
// and makes p a fresh Parser with the same Limits.
func (p *Parser) Reset() {
	if p.buf != nil {
		bufPool.Put(p.buf)
		p.buf = nil
	}
	p.idle()
	*p = Parser{Limits: p.Limits}
}

// next prepares for the next frame once the current one was delivered.
func (p *Parser) next() {
	clear(p.frame.Headers) // drop references into the caller's data
	p.frame = Frame{Headers: p.frame.Headers[:0]}
	p.spans = p.spans[:0]
	p.phase, p.cmd, p.line, p.scanned = phaseCommand, CmdUnknown, 0, 0
	if p.buf != nil {
		bufPool.Put(p.buf)
		p.buf = nil
	}
}

// fail makes the parser unusable and returns err.
func (p *Parser) fail(err error) error {
	p.next()
	p.err = err
	return err
}

// want returns how many bytes of data the buffered frame takes next: up to
// and including the next LF (line phases), the rest of its body and NUL, or
// the next NUL (body without content-length); never more than it takes to go
// past MaxFrameBytes.
func (p *Parser) want(data []byte) int {
	k := 0
	switch {
	case p.phase != phaseBody:
		k = bytes.IndexByte(data, '\n') + 1
	case p.clen >= 0:
		k = p.line + p.clen + 1 - len(p.buf.B)
	default:
		k = bytes.IndexByte(data, 0) + 1
	}
	if k <= 0 || k > len(data) {
		k = len(data)
	}
	return min(k, p.lim.MaxFrameBytes+1-len(p.buf.B))
}

// scan parses the frame that starts at w[0], resuming from the parser's
// state. It returns the length of the frame (or heart-beat) and gotFrame (with
// p.frame filled in) or gotHeartbeat, or needMore when w ends first.
func (p *Parser) scan(w []byte) (int, int, error) {
	for p.phase != phaseBody {
		s := p.line
		from := max(s, p.scanned)
		k := bytes.IndexByte(w[from:], '\n')
		if k < 0 {
			p.scanned = len(w)
			n, lim := len(w), p.lineLimit()
			long := n > s+lim+1 || n == s+lim+1 && w[s+lim] != '\r'
			return 0, needMore, p.limitError(w, s, n > p.lim.MaxFrameBytes, long)
		}
		nl := from + k
		end := nl
		if end > s && w[end-1] == '\r' {
			end--
		}
		if p.phase == phaseCommand && end == s {
			return nl + 1, gotHeartbeat, nil
		}
		if err := p.limitError(w, s, nl >= p.lim.MaxFrameBytes, end-s > p.lineLimit()); err != nil {
			return 0, needMore, err
		}
		p.line, p.scanned = nl+1, nl+1
		var err error
		if p.phase == phaseCommand {
			err = p.commandLine(w[s:end])
		} else {
			err = p.headerLine(w, s, end)
		}
		if err != nil {
			return 0, needMore, err
		}
	}
	return p.scanBody(w)
}

// lineLimit is the longest line content (without EOL) of the current phase.
func (p *Parser) lineLimit() int {
	if p.phase == phaseCommand {
		return maxCommandLen
	}
	return p.lim.MaxHeaderBytes
}

// limitError reports a frame past MaxFrameBytes (large) or a line past the
// line limit (long; the line starts at w[s]), whichever comes first in the
// stream. A frame is too large from its byte MaxFrameBytes (counting from 0)
// on; a line is too long from its byte lineLimit on, or lineLimit+1 when that
// byte is a CR that might start its EOL. Both are judged the same way whether
// the line is complete or not, so the error does not depend on where the
// stream was split.
func (p *Parser) limitError(w []byte, s int, large, long bool) error {
	lim := p.lineLimit()
	longAt := s + lim
	if long && w[longAt] == '\r' {
		longAt++
	}
	if large && (!long || p.lim.MaxFrameBytes <= longAt) {
		return p.errf(ErrFrameTooLarge, "frame exceeds the ", p.lim.MaxFrameBytes, "-byte limit")
	}
	if !long {
		return nil
	}
	if p.phase == phaseCommand {
		return &Error{ErrUnknownCommand, "unknown command starting with " + quote(w[s:s+lim+1])}
	}
	return p.errf(ErrHeaderTooLong, "header line longer than ", lim, " bytes")
}

// commandLine starts a frame.
func (p *Parser) commandLine(line []byte) error {
	p.cmd = lookupCommand(line)
	if p.cmd == CmdUnknown {
		return &Error{ErrUnknownCommand, "unknown command " + quote(line)}
	}
	p.phase = phaseHeaders
	p.clen = -1
	return nil
}

// headerLine handles the header line w[s:end] (end == s: the blank line that
// ends the headers).
func (p *Parser) headerLine(w []byte, s, end int) error {
	if end == s {
		p.phase = phaseBody
		if p.clen >= 0 && p.clen > p.lim.MaxFrameBytes-p.line-1 {
			return &Error{ErrFrameTooLarge, "frame with content-length " + strconv.Itoa(p.clen) +
				" exceeds the " + strconv.Itoa(p.lim.MaxFrameBytes) + "-byte limit"}
		}
		return nil
	}
	if len(p.spans) >= p.lim.MaxHeaders {
		return p.errf(ErrTooManyHeaders, "more than ", p.lim.MaxHeaders, " headers")
	}
	line := w[s:end]
	if bytes.IndexByte(line, '\r') >= 0 {
		return &Error{ErrBadHeader, "header line " + quote(line) + " contains a carriage return outside its end of line"}
	}
	c := bytes.IndexByte(line, ':')
	if c < 0 {
		return &Error{ErrBadHeader, "header line " + quote(line) + " has no ':'"}
	}
	if c == 0 {
		return &Error{ErrBadHeader, "header line " + quote(line) + " has an empty name"}
	}
	name, value := line[:c], line[c+1:]
	nlen, vlen := len(name), len(value)
	if p.cmd.escaped() {
		if i := badEscape(name); i >= 0 {
			return escapeError(name, i, "header name "+quote(name))
		}
		nlen = unescape(name)
		if i := badEscape(value); i >= 0 {
			return escapeError(value, i, "header "+quote(name[:nlen]))
		}
		vlen = unescape(value)
	}
	v := s + c + 1
	p.spans = append(p.spans, span{s, s + nlen, v, v + vlen})
	if p.clen < 0 && string(name[:nlen]) == "content-length" {
		return p.contentLength(value[:vlen])
	}
	return nil
}

// contentLength parses the first content-length header. Values beyond
// MaxFrameBytes saturate: the frame is refused as too large anyway.
func (p *Parser) contentLength(v []byte) error {
	if len(v) == 0 {
		return &Error{ErrBadContentLength, "content-length is empty"}
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return &Error{ErrBadContentLength, "content-length " + quote(v) + " is not a non-negative decimal integer"}
		}
		if n <= p.lim.MaxFrameBytes {
			n = n*10 + int(c-'0')
		}
	}
	if n > p.lim.MaxFrameBytes {
		return &Error{ErrFrameTooLarge, "content-length " + quote(v) + " exceeds the " +
			strconv.Itoa(p.lim.MaxFrameBytes) + "-byte frame limit"}
	}
	p.clen = n
	return nil
}

// scanBody looks for the end of the body, which starts at w[p.line].
func (p *Parser) scanBody(w []byte) (int, int, error) {
	b := p.line
	if p.clen >= 0 {
		e := b + p.clen
		if len(w) <= e {
			return 0, needMore, nil
		}
		if w[e] != 0 {
			return 0, needMore, &Error{ErrMissingNUL, "the " + strconv.Itoa(p.clen) +
				"-byte body given by content-length is not followed by a NUL octet"}
		}
		return p.finish(w, e), gotFrame, nil
	}
	from := max(b, p.scanned)
	k := bytes.IndexByte(w[from:], 0)
	if k < 0 {
		p.scanned = len(w)
		if len(w) > p.lim.MaxFrameBytes {
			return 0, needMore, p.errf(ErrFrameTooLarge, "frame exceeds the ", p.lim.MaxFrameBytes, "-byte limit")
		}
		return 0, needMore, nil
	}
	e := from + k
	if e >= p.lim.MaxFrameBytes {
		return 0, needMore, p.errf(ErrFrameTooLarge, "frame exceeds the ", p.lim.MaxFrameBytes, "-byte limit")
	}
	return p.finish(w, e), gotFrame, nil
}

// finish fills in p.frame for the frame in w whose NUL is at w[e] and returns
// the frame's length.
func (p *Parser) finish(w []byte, e int) int {
	p.frame.Command = p.cmd
	hs := p.frame.Headers[:0]
	for _, sp := range p.spans {
		hs = append(hs, Header{
			Name:  w[sp.name:sp.nameEnd:sp.nameEnd],
			Value: w[sp.value:sp.valueEnd:sp.valueEnd],
		})
	}
	p.frame.Headers = hs
	p.frame.Body = w[p.line:e:e]
	return e + 1
}

func (p *Parser) errf(k ErrorKind, before string, n int, after string) error {
	return &Error{k, before + strconv.Itoa(n) + after}
}

// badEscape returns the index of the first backslash in b that does not
// start one of STOMP's escape sequences (\r \n \c \\), or -1.
func badEscape(b []byte) int {
	for i := 0; ; i += 2 {
		k := bytes.IndexByte(b[i:], '\\')
		if k < 0 {
			return -1
		}
		i += k
		if i+1 == len(b) {
			return i
		}
		switch b[i+1] {
		case 'r', 'n', 'c', '\\':
		default:
			return i
		}
	}
}

// unescape decodes the escape sequences of b, which badEscape accepted, in
// place and returns the decoded length.
func unescape(b []byte) int {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return len(b)
	}
	j := i
	for ; i < len(b); i, j = i+1, j+1 {
		c := b[i]
		if c == '\\' {
			i++
			switch b[i] {
			case 'r':
				c = '\r'
			case 'n':
				c = '\n'
			case 'c':
				c = ':'
			}
		}
		b[j] = c
	}
	return j
}

// escapeError describes the bad escape at b[i] in what.
func escapeError(b []byte, i int, what string) error {
	if i+1 == len(b) {
		return &Error{ErrBadEscape, what + " ends with a backslash, an incomplete escape sequence"}
	}
	seq := ""
	if c := b[i+1]; c > ' ' && c < 0x7f {
		seq = `\` + string(rune(c))
	} else {
		seq = `\` + " followed by byte 0x" + strconv.FormatUint(uint64(c), 16)
	}
	return &Error{ErrBadEscape, "undefined escape sequence " + seq + " in " + what}
}

// maxQuoted bounds the bytes of wire text quoted in error messages.
const maxQuoted = 64

// quote returns b as a Go string literal, cut to maxQuoted bytes.
func quote(b []byte) string {
	if len(b) > maxQuoted {
		return strconv.Quote(string(b[:maxQuoted])) + "..."
	}
	return strconv.Quote(string(b))
}
