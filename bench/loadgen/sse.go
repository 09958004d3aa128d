package loadgen

import "bytes"

// This file is the load generator's client side of Server-Sent Events over
// HTTP/1.1: the GET request, the response header check, and an incremental
// parser for a (possibly chunked) text/event-stream body. Like the WebSocket
// codec it parses straight out of the caller's read buffer: an event's data
// is returned in place when the event lies in one contiguous piece of the
// buffer, and copied only when it is split across reads or chunks.

// SSEError is a violation of HTTP/1.1 chunked encoding or of the SSE stream
// setup by the server.
type SSEError string

func (e SSEError) Error() string { return "sse: " + string(e) }

// Errors reported by CheckSSEResponse and SSEStream.
const (
	ErrSSEStatus      SSEError = "response status is not 200"
	ErrSSEContentType SSEError = "response Content-Type is not text/event-stream"
	ErrSSEBadChunk    SSEError = "malformed chunk size line"
	ErrSSEChunkCRLF   SSEError = "chunk data not followed by CRLF"
	ErrSSELineTooLong SSEError = "line longer than the configured maximum"
	ErrSSEEnded       SSEError = "server ended the stream"
)

// AppendSSERequest appends an HTTP/1.1 GET request for an event stream at
// path (with its query) on host.
func AppendSSERequest(dst []byte, host, path string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"...)
	return dst
}

// CheckSSEResponse looks for a complete response header at the start of buf.
// It returns n == 0 and a nil error while the header is incomplete; otherwise
// n is the header's length (the body follows) and chunked tells whether the
// body uses chunked transfer encoding. The response must be 200 with a
// text/event-stream Content-Type.
func CheckSSEResponse(buf []byte) (n int, chunked bool, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 8192 {
			return 0, false, ErrHeaderTooLarge
		}
		return 0, false, nil
	}
	n = end + 4
	line, rest, _ := bytes.Cut(buf[:end], []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(line, []byte("HTTP/1.0 200")) {
		return n, false, ErrSSEStatus
	}
	ctype := false
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Type")):
			ctype = len(value) >= 17 && bytes.EqualFold(value[:17], []byte("text/event-stream"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		}
	}
	if !ctype {
		return n, chunked, ErrSSEContentType
	}
	return n, chunked, nil
}

// Chunked transfer decoding states of SSEStream.
const (
	chSize   uint8 = iota // hex digits of a chunk size
	chExt                 // chunk extension up to the end of the size line
	chData                // chunkLeft bytes of data
	chDataCR              // the CR after chunk data
	chDataLF              // the LF after chunk data
	chDone                // the body has ended
)

// SSEStream decodes one event-stream body incrementally: feed it whatever
// arrived, in any split, and it returns the data of each complete event. The
// zero value parses a body without transfer encoding; set Chunked for a
// chunked one. MaxLine bounds one line (0: 1 MiB).
//
// Only the "data" field matters to the load generator: comments (":"
// heartbeats), "id", "event" and "retry" lines are skipped, and an event
// with no data line (a blank line alone) dispatches nothing, as in the
// EventSource specification. Several data lines are joined with "\n".
type SSEStream struct {
	Chunked bool
	MaxLine int

	ch        uint8
	chunkLeft int   // data bytes left in the current chunk
	size      int64 // chunk size being read
	digits    int   // hex digits read for size

	skipLF  bool   // the last line ended with CR: a leading LF belongs to it
	line    []byte // a line split across reads or chunks, copied
	inPlace []byte // the event's only data line so far, in the p of this Next call
	data    []byte // data of an event split across reads, copied
	hasData bool   // data holds the event's data so far (it may be empty)

	Comments uint64 // comment lines seen (heartbeats)
}

// Next consumes bytes from p until one event completes or p is used up. It
// returns the event's data (nil when no event completed), the number of
// bytes of p consumed, and an error for a malformed or ended stream. The
// data is valid until the next call and until p is modified: it points into
// p when the event's one data line is in p (the rest of the event, such as
// an id line in a later chunk, may be anywhere in p), into the stream's own
// buffer when the event began in an earlier p or has several data lines.
// Call it again with p[used:] until used == len(p) and data is nil.
func (s *SSEStream) Next(p []byte) (data []byte, used int, err error) {
	data, used, err = s.next(p)
	if data == nil && s.inPlace != nil {
		// The event goes on after p, which the caller will reuse: copy.
		s.appendData(s.inPlace)
		s.inPlace = nil
	}
	return data, used, err
}

func (s *SSEStream) next(p []byte) (data []byte, used int, err error) {
	for used < len(p) {
		if !s.Chunked {
			d, n, err := s.events(p[used:])
			used += n
			if d != nil || err != nil {
				return d, used, err
			}
			continue
		}
		b := p[used]
		switch s.ch {
		case chSize:
			switch v := hexVal(b); {
			case v >= 0:
				if s.digits == 15 {
					return nil, used, ErrSSEBadChunk
				}
				s.size = s.size<<4 | int64(v)
				s.digits++
				used++
			case b == ';' || b == ' ' || b == '\t' || b == '\r':
				if s.digits == 0 {
					return nil, used, ErrSSEBadChunk
				}
				s.ch = chExt
			case b == '\n':
				if s.digits == 0 {
					return nil, used, ErrSSEBadChunk
				}
				used++
				if s.endSizeLine() {
					return nil, used, ErrSSEEnded
				}
			default:
				return nil, used, ErrSSEBadChunk
			}
		case chExt:
			i := bytes.IndexByte(p[used:], '\n')
			if i < 0 {
				used = len(p)
				break
			}
			used += i + 1
			if s.endSizeLine() {
				return nil, used, ErrSSEEnded
			}
		case chData:
			seg := p[used:min(len(p), used+s.chunkLeft)]
			d, n, err := s.events(seg)
			used += n
			s.chunkLeft -= n
			if s.chunkLeft == 0 {
				s.ch = chDataCR
			}
			if d != nil || err != nil {
				return d, used, err
			}
		case chDataCR:
			switch b {
			case '\r':
				s.ch = chDataLF
			case '\n':
				s.ch = chSize
			default:
				return nil, used, ErrSSEChunkCRLF
			}
			used++
		case chDataLF:
			if b != '\n' {
				return nil, used, ErrSSEChunkCRLF
			}
			s.ch = chSize
			used++
		case chDone:
			return nil, used, ErrSSEEnded
		}
	}
	return nil, used, nil
}

// endSizeLine starts the chunk whose size was read; true means it was the
// last chunk: the stream is over (trailers do not matter).
func (s *SSEStream) endSizeLine() (last bool) {
	size := s.size
	s.size, s.digits = 0, 0
	if size == 0 {
		s.ch = chDone
		return true
	}
	s.ch = chData
	s.chunkLeft = int(min(size, 1<<40))
	return false
}

func hexVal(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// events parses event-stream lines out of seg, one contiguous piece of the
// body, until an event completes. A data line found in seg is kept in place
// until the blank line ending its event (Next copies it if p ends first).
func (s *SSEStream) events(seg []byte) (data []byte, used int, err error) {
	maxLine := s.MaxLine
	if maxLine <= 0 {
		maxLine = 1 << 20
	}
	for used < len(seg) {
		if s.skipLF {
			s.skipLF = false
			if seg[used] == '\n' {
				used++
				continue
			}
		}
		rest := seg[used:]
		i := lineEnd(rest)
		if i < 0 {
			if len(s.line)+len(rest) > maxLine {
				return nil, used, ErrSSELineTooLong
			}
			s.line = append(s.line, rest...)
			used = len(seg)
			break
		}
		var line []byte
		copied := len(s.line) > 0
		if copied {
			if len(s.line)+i > maxLine {
				return nil, used, ErrSSELineTooLong
			}
			s.line = append(s.line, rest[:i]...)
			line = s.line
		} else {
			line = rest[:i]
		}
		s.skipLF = rest[i] == '\r'
		used += i + 1
		if len(line) == 0 {
			// Blank line: dispatch the event, if it has data.
			if d := s.inPlace; d != nil {
				// The event's only data line, in place: no copy.
				s.inPlace = nil
				return d, used, nil
			}
			if s.hasData {
				d := s.data
				s.data, s.hasData = s.data[:0], false
				return d, used, nil
			}
			continue
		}
		if line[0] == ':' {
			s.Comments++
			s.line = s.line[:0]
			continue
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			value = line[len(line):] // empty but not nil: nil means no event
		} else if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if string(name) == "data" {
			switch {
			case !copied && s.inPlace == nil && !s.hasData:
				s.inPlace = value[:len(value):len(value)]
			default:
				if s.inPlace != nil {
					s.appendData(s.inPlace)
					s.inPlace = nil
				}
				s.appendData(value)
			}
		}
		// id, event, retry and unknown fields are ignored.
		s.line = s.line[:0]
	}
	return nil, used, nil
}

// lineEnd is the index of the first CR or LF in b, or -1: two vectorised
// scans (IndexByte) instead of a byte-by-byte IndexAny.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// appendData adds one data line's value to the event being assembled.
func (s *SSEStream) appendData(v []byte) {
	switch {
	case s.hasData:
		s.data = append(s.data, '\n')
	case s.data == nil:
		s.data = make([]byte, 0, max(len(v), 256)) // not nil even for empty data
	default:
		s.data = s.data[:0]
	}
	s.data = append(s.data, v...)
	s.hasData = true
}
