package wsframe

import (
	"bytes"

	"github.com/c1mhq/c1m/internal/httplex"
)

// Zero-allocation scanning of HTTP/1.1 request heads (RFC 9110, RFC 9112).
// gobwas/ws parses the head again during Upgrade; this scanner adds the
// strictness it lacks (well-formed request line and header lines, one
// Sec-WebSocket-Key that decodes to 16 bytes, 426 for a missing version).

// headInfo is what scanHead learns about a request head.
type headInfo struct {
	key        []byte // the Sec-WebSocket-Key value
	keys       int    // how many Sec-WebSocket-Key headers
	hasVersion bool   // a Sec-WebSocket-Version header is present
	hasUpgrade bool   // an Upgrade header is present
	// wantDeflate is set by the caller when permessage-deflate may be
	// negotiated; deflate is then the first acceptable offer, if any
	// (deflate.mode != DeflateOff).
	wantDeflate bool
	deflate     deflateOffer
}

// scanHead checks the syntax of a complete request head and fills hi. It
// returns "" when the head is well formed, else the reason for a 400.
func scanHead(head []byte, hi *headInfo) string {
	line, rest, ok := httplex.CutLine(head)
	if !ok {
		return "malformed HTTP request: incomplete request head"
	}
	if _, _, _, _, ok := httplex.ParseRequestLine(line); !ok {
		return "malformed HTTP request: bad request line"
	}
	for {
		line, rest, ok = httplex.CutLine(rest)
		if !ok {
			return "malformed HTTP request: incomplete request head"
		}
		if len(line) == 0 {
			return ""
		}
		name, value, ok := httplex.ParseHeaderLine(line)
		if !ok {
			return "malformed HTTP request: bad header line"
		}
		switch {
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			hi.key = value
			hi.keys++
			if hi.keys > 1 {
				return "malformed HTTP request: repeated Sec-WebSocket-Key header"
			}
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Version")):
			hi.hasVersion = true
		case bytes.EqualFold(name, []byte("Upgrade")):
			hi.hasUpgrade = true
		case hi.wantDeflate && hi.deflate.mode == DeflateOff && bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			hi.deflate, _ = negotiateDeflate(value)
		}
	}
}
