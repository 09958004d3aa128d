package wsframe

import "unicode/utf8"

// Incremental UTF-8 validation for text messages that arrive in pieces
// (fragments, or one frame over several reads).
//
// The state between pieces is one byte: what the next byte must be to continue
// the code point that the previous piece left incomplete. A byte that makes
// the text impossible to complete as valid UTF-8 fails at once (overlong
// encodings, surrogates and code points above U+10FFFF included), exactly where
// unicode/utf8 would reject the whole text.

// utf8State is the carry between pieces; utf8Accept means "at a code point
// boundary".
type utf8State = uint8

const (
	utf8Accept  utf8State = iota
	utf8Need1             // one more continuation byte 80..BF
	utf8Need2             // two more continuation bytes 80..BF
	utf8Need3             // three more continuation bytes 80..BF
	utf8AfterE0           // next A0..BF, then one more
	utf8AfterED           // next 80..9F, then one more
	utf8AfterF0           // next 90..BF, then two more
	utf8AfterF4           // next 80..8F, then two more
	utf8Reject
)

// utf8Step advances s by one byte. It returns utf8Reject when no continuation
// could make the text valid.
func utf8Step(s utf8State, c byte) utf8State {
	switch s {
	case utf8Accept:
		switch {
		case c < 0x80:
			return utf8Accept
		case c < 0xC2: // continuation byte or overlong 2-byte lead
			return utf8Reject
		case c < 0xE0:
			return utf8Need1
		case c == 0xE0:
			return utf8AfterE0
		case c == 0xED:
			return utf8AfterED
		case c < 0xF0:
			return utf8Need2
		case c == 0xF0:
			return utf8AfterF0
		case c < 0xF4:
			return utf8Need3
		case c == 0xF4:
			return utf8AfterF4
		}
		return utf8Reject
	case utf8Need1, utf8Need2, utf8Need3:
		if c&0xC0 != 0x80 {
			return utf8Reject
		}
		return s - 1
	case utf8AfterE0:
		if c < 0xA0 || c > 0xBF {
			return utf8Reject
		}
		return utf8Need1
	case utf8AfterED:
		if c < 0x80 || c > 0x9F {
			return utf8Reject
		}
		return utf8Need1
	case utf8AfterF0:
		if c < 0x90 || c > 0xBF {
			return utf8Reject
		}
		return utf8Need2
	case utf8AfterF4:
		if c < 0x80 || c > 0x8F {
			return utf8Reject
		}
		return utf8Need2
	}
	return utf8Reject
}

// validUTF8 reports whether p is complete, valid UTF-8.
func validUTF8(p []byte) bool { return utf8.Valid(p) }

// utf8Continue validates the next piece p of a text whose state after the
// previous pieces is s. It returns the new state, utf8Reject as soon as the
// text cannot be valid. The text is valid when the last piece leaves
// utf8Accept.
func utf8Continue(s utf8State, p []byte) utf8State {
	i := 0
	// Finish the code point the previous piece left open.
	for s != utf8Accept && i < len(p) {
		s = utf8Step(s, p[i])
		if s == utf8Reject {
			return s
		}
		i++
	}
	p = p[i:]
	if len(p) == 0 {
		return s
	}
	// At a boundary: the complete code points go through utf8.Valid (fast for
	// ASCII), the possibly incomplete last one byte by byte.
	cut := len(p)
	for k := 1; k <= 3 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < 0x80 {
			break // ASCII: nothing open at the end
		}
		if c >= 0xC0 { // a lead byte
			if c >= 0xC2 && c <= 0xF4 && leadLen(c) > k {
				cut = len(p) - k
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return utf8Reject
	}
	for _, c := range p[cut:] {
		s = utf8Step(s, c)
		if s == utf8Reject {
			return s
		}
	}
	return s
}

// leadLen returns the length of the sequence that the valid lead byte c starts.
func leadLen(c byte) int {
	switch {
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}
