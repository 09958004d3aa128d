package sockjs

import (
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/wsframe"
)

// A SockJS frame (the text a transport carries, before its own framing) is
// one of
//
//	o                      the session is open
//	h                      heart-beat
//	a["m1","m2",...]       messages, each a JSON string
//	c[code,"reason"]       the session is closed
//
// Every transport frames it its own way: a WebSocket text frame, a line of
// an xhr response, an EventSource event, a script tag, a JSONP call.

// Frames with a fixed text.
var (
	frameOpen      = []byte("o")
	frameHeartbeat = []byte("h")
)

// appendCloseFrame appends c[code,"reason"].
func appendCloseFrame(b []byte, code int, reason string) []byte {
	b = append(b, "c["...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ',')
	b = appendJSONString(b, reason)
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Besides what JSON requires
// (quote, backslash, control characters), it escapes the characters the
// SockJS reference escapes because browsers or proxies mangle them (U+2028,
// U+2029, the BOM and the other invisible formatting characters,
// surrogates), and a byte that is not part of valid UTF-8 as \u00XX (its
// Latin-1 character): the result is always valid UTF-8 and valid JSON.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		case escapedRune(r):
			b = append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.RuneError, 1
}

// escapedRune reports the runes the SockJS reference server escapes.
func escapedRune(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x2028 && r <= 0x202f ||
		r >= 0x2060 && r <= 0x206f || r >= 0xfff0 && r <= 0xffff
}

// appendJSString appends s as a JavaScript string literal safe inside an
// HTML script element: JSON escaping, and '<', '>', '&' as \u003c... so that
// a frame can never close the script tag.
func appendJSString(b, s []byte) []byte {
	start := len(b)
	b = appendJSONString(b, s)
	for i := start; i < len(b); i++ {
		switch c := b[i]; c {
		case '<', '>', '&':
			b = append(b, 0, 0, 0, 0, 0)
			copy(b[i+6:], b[i+1:])
			b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5] = '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf]
			i += 5
		}
	}
	return b
}

// forEachMessage calls fn with the opcode and payload of every data frame in
// b, a sequence of unmasked server WebSocket frames as wsframe.Prepared.Seal
// makes them; control frames are skipped. It reports false when b is not
// such a sequence.
func forEachMessage(b []byte, fn func(op ws.OpCode, payload []byte)) bool {
	for len(b) > 0 {
		if len(b) < 2 || b[1]&0x80 != 0 {
			return false
		}
		op := ws.OpCode(b[0] & 0x0f)
		n, h := int(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return false
			}
			n, h = int(b[2])<<8|int(b[3]), 4
		case 127:
			if len(b) < 10 {
				return false
			}
			var v uint64
			for _, c := range b[2:10] {
				v = v<<8 | uint64(c)
			}
			if v > uint64(len(b)) {
				return false
			}
			n, h = int(v), 10
		}
		if len(b) < h+n {
			return false
		}
		if op == ws.OpText || op == ws.OpBinary || op == ws.OpContinuation {
			fn(op, b[h:h+n])
		}
		b = b[h+n:]
	}
	return true
}

// kind is a receiving transport.
type kind uint8

const (
	kindWebSocket kind = iota // framed WebSocket
	kindXHRStreaming
	kindEventSource
	kindHTMLFile
	kindXHR   // polling
	kindJSONP // polling
	numKinds
)

var kindNames = [numKinds]string{"websocket", "xhr_streaming", "eventsource", "htmlfile", "xhr", "jsonp"}

func (k kind) String() string { return kindNames[k] }

// polling reports whether a receiving request of k carries one frame.
func (k kind) polling() bool { return k == kindXHR || k == kindJSONP }

// enc is the framing in which a session's deliveries are encoded (once per
// publish for every session of that framing), chosen when the session opens
// from its first receiving request.
type enc uint8

const (
	encPlain    enc = iota // the bare SockJS frame, sealed raw: re-framed for every response
	encWS                  // a WebSocket text frame
	encXHRChunk            // "frame\n" as an HTTP/1.1 chunk
	encESChunk             // "data: frame\r\n\r\n" as an HTTP/1.1 chunk
	numEncs
)

// encFor returns the encoding for a receiving request of k (chunked: its
// response is an HTTP/1.1 chunked stream).
func encFor(k kind, chunked bool) enc {
	switch {
	case k == kindWebSocket:
		return encWS
	case k == kindXHRStreaming && chunked:
		return encXHRChunk
	case k == kindEventSource && chunked:
		return encESChunk
	}
	return encPlain
}

// frameHead and frameTail are what encoding e puts around a SockJS frame
// before sealing.
func (e enc) head() string {
	if e == encESChunk {
		return "data: "
	}
	return ""
}

func (e enc) tail() string {
	switch e {
	case encXHRChunk:
		return "\n"
	case encESChunk:
		return "\r\n\r\n"
	}
	return ""
}

func (e enc) seal(p *wsframe.Prepared) {
	switch e {
	case encWS:
		p.Seal(ws.OpText)
	case encXHRChunk, encESChunk:
		p.SealChunk()
	default:
		p.SealRaw()
	}
}

// encode returns frame f encoded as e, with one reference.
func (e enc) encode(f []byte) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, e.head()...)
	p.B = append(p.B, f...)
	p.B = append(p.B, e.tail()...)
	e.seal(p)
	return p
}

// frame returns the SockJS frame inside b, the bytes of a Prepared encoded
// as e.
func (e enc) frame(b []byte) []byte {
	switch e {
	case encWS:
		var f []byte
		forEachMessage(b, func(_ ws.OpCode, payload []byte) { f = payload })
		return f
	case encXHRChunk, encESChunk:
		for i := 0; i+1 < len(b); i++ {
			if b[i] == '\r' && b[i+1] == '\n' {
				b = b[i+2:]
				break
			}
		}
		b = b[:max(len(b)-2, 0)] // the chunk's CRLF
		b = b[min(len(e.head()), len(b)):]
		return b[:max(len(b)-len(e.tail()), 0)]
	}
	return b
}

// messages returns the elements of a message frame a[...] without the
// brackets ("m1","m2"), nil for other frames.
func messages(f []byte) []byte {
	if len(f) < 3 || f[0] != 'a' || f[1] != '[' || f[len(f)-1] != ']' {
		return nil
	}
	return f[2 : len(f)-1]
}

// framer frames SockJS frames for one receiving request.
type framer struct {
	k        kind
	chunked  bool
	callback string // htmlfile and jsonp
}

// appendFrame appends f framed for the receiving request (the bytes of the
// body, before the chunk framing).
func (r *framer) appendFrame(b, f []byte) []byte {
	switch r.k {
	case kindXHRStreaming, kindXHR:
		b = append(b, f...)
		return append(b, '\n')
	case kindEventSource:
		b = append(b, "data: "...)
		b = append(b, f...)
		return append(b, "\r\n\r\n"...)
	case kindHTMLFile:
		b = append(b, "<script>\np("...)
		b = appendJSString(b, f)
		return append(b, ");\n</script>\r\n"...)
	case kindJSONP:
		b = append(b, "/**/"...)
		b = append(b, r.callback...)
		b = append(b, '(')
		b = appendJSString(b, f)
		return append(b, ");\r\n"...)
	}
	return append(b, f...)
}

// frame returns f framed for a streaming receiving request, sealed, with one
// reference.
func (r *framer) frame(f []byte) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = r.appendFrame(p.B, f)
	r.seal(p)
	return p
}

func (r *framer) seal(p *wsframe.Prepared) {
	switch {
	case r.k == kindWebSocket:
		p.Seal(ws.OpText)
	case r.chunked:
		p.SealChunk()
	default:
		p.SealRaw()
	}
}

// enc is the encoding whose frames this request writes as they are.
func (r *framer) enc() enc { return encFor(r.k, r.chunked) }
