// Package httplex scans the lexical pieces of HTTP/1.1 request heads (RFC
// 9110, RFC 9112) without allocating: request and header lines, tokens,
// lists, request targets. It serves both the WebSocket upgrade (wsframe) and
// the reactor's HTTP requests (poller).
//
// Every function is safe for concurrent use. Returned slices alias the input.
package httplex

import "bytes"

// IsTchar reports whether c is a token character (RFC 9110 5.6.2).
func IsTchar(c byte) bool {
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

// IsToken reports whether b is a non-empty token.
func IsToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !IsTchar(c) {
			return false
		}
	}
	return true
}

// CutLine splits b after the first LF; line has the CRLF (or bare LF)
// removed. ok is false when b holds no LF.
func CutLine(b []byte) (line, rest []byte, ok bool) {
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

// ParseRequestLine splits "METHOD SP request-target SP HTTP/d.d".
func ParseRequestLine(line []byte) (method, target []byte, major, minor byte, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, nil, 0, 0, false
	}
	method, line = line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, nil, 0, 0, false
	}
	target, proto := line[:sp], line[sp+1:]
	if !IsToken(method) {
		return nil, nil, 0, 0, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return nil, nil, 0, 0, false
		}
	}
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' ||
		proto[5] < '0' || proto[5] > '9' || proto[7] < '0' || proto[7] > '9' {
		return nil, nil, 0, 0, false
	}
	return method, target, proto[5] - '0', proto[7] - '0', true
}

// ParseHeaderLine splits "name: value" with the optional whitespace around
// the value removed. The name must be a token directly followed by the colon;
// the value must not contain control characters other than HTAB.
func ParseHeaderLine(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !IsToken(line[:colon]) {
		return nil, nil, false
	}
	name, value = line[:colon], line[colon+1:]
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, TrimOWS(value), true
}

// TrimOWS removes the optional whitespace (SP, HTAB) around b.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// NextListElement returns the first element of a comma-separated header
// list (RFC 9110 5.6.1) and the rest; empty elements are returned as empty.
func NextListElement(v []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return TrimOWS(v[:i]), v[i+1:]
	}
	return TrimOWS(v), nil
}

// HasToken reports whether the list v contains token, case-insensitively.
func HasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var e []byte
		e, v = NextListElement(v)
		if EqualFold(e, token) {
			return true
		}
	}
	return false
}

// EqualFold compares b and s ASCII case-insensitively.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// SplitTarget returns the path and raw query of a request target in origin
// form ("/p?q") or absolute form ("http://host/p?q"). Other forms are
// returned whole as the path.
func SplitTarget(target []byte) (path, query []byte) {
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
