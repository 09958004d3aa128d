package wsframe

import (
	"math/rand/v2"
	"sync"
	"testing"
	"unicode/utf8"
)

// utf8Prefixes is the naive oracle for "can this still become valid": every
// proper prefix of the encoding of every valid code point.
var utf8Prefixes = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	var b [4]byte
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		n := utf8.EncodeRune(b[:], r)
		for k := 1; k < n; k++ {
			m[string(b[:k])] = true
		}
	}
	return m
})

// possible reports, naively, whether p can be completed to valid UTF-8.
func possible(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for k := 1; k <= 3 && k <= len(p); k++ {
		if utf8.Valid(p[:len(p)-k]) && utf8Prefixes()[string(p[len(p)-k:])] {
			return true
		}
	}
	return false
}

// utf8ish returns bytes that are often, but not always, UTF-8.
func utf8ish(rng *rand.Rand, n int) []byte {
	interesting := []byte{0x00, 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff}
	var b []byte
	for len(b) < n {
		switch rng.IntN(3) {
		case 0:
			b = append(b, interesting[rng.IntN(len(interesting))])
		case 1:
			b = utf8.AppendRune(b, rune(rng.IntN(utf8.MaxRune+1)))
		default:
			b = append(b, byte('a'+rng.IntN(26)))
		}
	}
	return b[:n]
}

// TestUTF8ContinueOracle: for any chunking, utf8Continue agrees with
// utf8.Valid on the whole text and fails exactly at the first byte after which
// the naive oracle says the text can no longer be valid.
func TestUTF8ContinueOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 20000; iter++ {
		p := utf8ish(rng, rng.IntN(24))
		// Where must it fail? The first i with !possible(p[:i+1]).
		failAt := -1
		for i := range p {
			if !possible(p[:i+1]) {
				failAt = i
				break
			}
		}
		// Byte by byte.
		s := utf8Accept
		gotFail := -1
		for i, c := range p {
			s = utf8Continue(s, []byte{c})
			if s == utf8Reject {
				gotFail = i
				break
			}
		}
		if gotFail != failAt {
			t.Fatalf("% x: byte-wise fails at %d, oracle at %d", p, gotFail, failAt)
		}
		if failAt < 0 && (s == utf8Accept) != utf8.Valid(p) {
			t.Fatalf("% x: complete=%v, utf8.Valid=%v", p, s == utf8Accept, utf8.Valid(p))
		}
		// Random chunks: rejected in the chunk holding the failing byte,
		// never before.
		s = utf8Accept
		for i := 0; i < len(p); {
			j := i + 1 + rng.IntN(len(p)-i)
			s = utf8Continue(s, p[i:j])
			rejected := s == utf8Reject
			wantRejected := failAt >= 0 && failAt < j
			if rejected != wantRejected {
				t.Fatalf("% x: chunk [%d:%d) rejected=%v, oracle fails at %d", p, i, j, rejected, failAt)
			}
			if rejected {
				break
			}
			i = j
		}
		if failAt < 0 && (s == utf8Accept) != utf8.Valid(p) {
			t.Fatalf("% x: chunked complete=%v, utf8.Valid=%v", p, s == utf8Accept, utf8.Valid(p))
		}
	}
}

// TestUTF8StepAllPairs checks every two-byte prefix against the oracle.
func TestUTF8StepAllPairs(t *testing.T) {
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			p := []byte{byte(a), byte(b)}
			s := utf8Step(utf8Accept, p[0])
			if (s != utf8Reject) != possible(p[:1]) {
				t.Fatalf("% x: step says possible=%v", p[:1], s != utf8Reject)
			}
			if s == utf8Reject {
				continue
			}
			s = utf8Step(s, p[1])
			if (s != utf8Reject) != possible(p) {
				t.Fatalf("% x: step says possible=%v", p, s != utf8Reject)
			}
		}
	}
}
