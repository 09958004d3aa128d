package wsframe

import "bytes"

// Zero-allocation scanning of HTTP/1.1 request heads (RFC 9110, RFC 9112).
// gobwas/ws parses the head again during Upgrade; this scanner adds the
// strictness it lacks (well-formed request line and header lines, one
// Sec-WebSocket-Key that decodes to 16 bytes, 426 for a missing version).

// isTchar reports whether c is a token character (RFC 9110 5.6.2).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// cutLine splits b after the first LF; line has the CRLF (or bare LF) removed.
// ok is false when b holds no LF.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest, true
}

// parseRequestLine splits "METHOD SP request-target SP HTTP/d.d".
func parseRequestLine(line []byte) (method, target []byte, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, nil, false
	}
	method, line = line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, nil, false
	}
	target, proto := line[:sp], line[sp+1:]
	if !isToken(method) {
		return nil, nil, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return nil, nil, false
		}
	}
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		proto[5] < '0' || proto[5] > '9' || proto[7] < '0' || proto[7] > '9' {
		return nil, nil, false
	}
	return method, target, true
}

// parseHeaderLine splits "name: value" with the optional whitespace around the
// value removed. The name must be a token directly followed by the colon; the
// value must not contain control characters other than HTAB.
func parseHeaderLine(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return nil, nil, false
	}
	name, value = line[:colon], line[colon+1:]
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, trimOWS(value), true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElement returns the first element of a comma-separated header list
// (RFC 9110 5.6.1) and the rest; empty elements are returned as empty.
func nextListElement(v []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// hasToken reports whether the list v contains token, case-insensitively.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var e []byte
		e, v = nextListElement(v)
		if len(e) == len(token) && bytes.EqualFold(e, []byte(token)) {
			return true
		}
	}
	return false
}

// splitTarget returns the path and raw query of a request target in origin
// form ("/p?q") or absolute form ("http://host/p?q"). Other forms are returned
// whole as the path.
func splitTarget(target []byte) (path, query []byte) {
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i > 0 {
			rest := target[i+3:]
			j := bytes.IndexAny(rest, "/?")
			switch {
			case j < 0:
				return []byte("/"), nil
			case rest[j] == '?':
				return []byte("/"), rest[j+1:]
			}
			target = rest[j:]
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		return target[:i], target[i+1:]
	}
	return target, nil
}

// headInfo is what scanHead learns about a request head.
type headInfo struct {
	key        []byte // the Sec-WebSocket-Key value
	keys       int    // how many Sec-WebSocket-Key headers
	hasVersion bool   // a Sec-WebSocket-Version header is present
	hasUpgrade bool   // an Upgrade header is present
}

// scanHead checks the syntax of a complete request head and fills hi. It
// returns "" when the head is well formed, else the reason for a 400.
func scanHead(head []byte, hi *headInfo) string {
	line, rest, ok := cutLine(head)
	if !ok {
		return "malformed HTTP request: incomplete request head"
	}
	if _, _, ok := parseRequestLine(line); !ok {
		return "malformed HTTP request: bad request line"
	}
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return "malformed HTTP request: incomplete request head"
		}
		if len(line) == 0 {
			return ""
		}
		name, value, ok := parseHeaderLine(line)
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
		}
	}
}
