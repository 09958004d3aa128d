package sockjs

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Decoded is the messages of one client frame, decoded from JSON: the
// strings one after another in Buf, Ends[i] the end of message i. Reuse a
// Decoded across calls to decode without allocating.
type Decoded struct {
	Buf  []byte
	Ends []int
}

// Len returns the number of messages.
func (d *Decoded) Len() int { return len(d.Ends) }

// Msg returns message i, valid until the next Decode into d.
func (d *Decoded) Msg(i int) []byte {
	start := 0
	if i > 0 {
		start = d.Ends[i-1]
	}
	return d.Buf[start:d.Ends[i]]
}

// Decode parses data, what a client sent: a JSON array of strings
// (xhr_send, jsonp_send, websocket) or, when single is set, also one JSON
// string (the websocket transport). Whitespace around tokens is allowed;
// anything else (another JSON type in the array, invalid UTF-8, an
// unpaired surrogate escape, trailing bytes) is ErrBrokenJSON; empty or
// all-whitespace data is ErrPayloadExpected. On error d holds no messages.
func (d *Decoded) Decode(data []byte, single bool) error {
	d.Buf, d.Ends = d.Buf[:0], d.Ends[:0]
	i := skipSpace(data, 0)
	if i == len(data) {
		return ErrPayloadExpected
	}
	var ok bool
	switch {
	case data[i] == '"' && single:
		if i, ok = d.str(data, i); !ok {
			return d.fail()
		}
	case data[i] == '[':
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			i++
			break
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return d.fail()
			}
			if i, ok = d.str(data, i); !ok {
				return d.fail()
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return d.fail()
			}
			if data[i] == ']' {
				i++
				break
			}
			if data[i] != ',' {
				return d.fail()
			}
			i = skipSpace(data, i+1)
		}
	default:
		return d.fail()
	}
	if skipSpace(data, i) != len(data) {
		return d.fail()
	}
	return nil
}

func (d *Decoded) fail() error {
	d.Buf, d.Ends = d.Buf[:0], d.Ends[:0]
	return ErrBrokenJSON
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// str decodes the JSON string at data[i] (a quote) onto d.Buf and returns
// the index after its closing quote.
func (d *Decoded) str(data []byte, i int) (int, bool) {
	i++
	b := d.Buf
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.Buf = b
			d.Ends = append(d.Ends, len(b))
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i+1 >= len(data) {
				return i, false
			}
			i++
			switch data[i] {
			case '"', '\\', '/':
				b = append(b, data[i])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(data, i+1)
				if !ok {
					return i, false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r >= 0xdc00 || i+6 >= len(data) || data[i+1] != '\\' || data[i+2] != 'u' {
						return i, false
					}
					r2, ok := hex4(data, i+3)
					if !ok || r2 < 0xdc00 || r2 > 0xdfff {
						return i, false
					}
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
				b = utf8.AppendRune(b, r)
			default:
				return i, false
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				return i, false
			}
			b = append(b, data[i:i+n]...)
			i += n
		}
	}
	return i, false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
