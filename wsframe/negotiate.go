package wsframe

import (
	"io"

	"github.com/c1mhq/c1m/internal/httplex"
)

// deflateOffer is the permessage-deflate offer a request's
// Sec-WebSocket-Extensions headers settled on.
type deflateOffer struct {
	mode DeflateMode
	// bits is the server_max_window_bits the client asked for (8..15), to
	// be confirmed in the response (RFC 7692 7.1.2.1); 0 when not asked.
	bits uint8
}

// Parameters of permessage-deflate (RFC 7692 7.1).
const (
	extDeflate              = "permessage-deflate"
	paramServerNoTakeover   = "server_no_context_takeover"
	paramClientNoTakeover   = "client_no_context_takeover"
	paramServerMaxWindow    = "server_max_window_bits"
	paramClientMaxWindow    = "client_max_window_bits"
	maxDeflateParamValueLen = 8 // longest window-bits value worth reading ("15", quoted or not)
)

// negotiateDeflate reads one Sec-WebSocket-Extensions header value (a list
// of offers, RFC 6455 9.1) and returns the first permessage-deflate offer
// the server can accept, or ok false. Offers with an unknown parameter, a
// repeated one or an invalid value are declined (RFC 7692 5, 7.1), and the
// next one is considered. A malformed list is declined from the point where
// it stops parsing. It does not allocate.
//
// Every acceptable offer is accepted: server_max_window_bits below 15 gets
// DeflateHuffman (no back-references at all honours any window), and
// client_max_window_bits needs no answer since the inflater takes any window.
func negotiateDeflate(v []byte) (deflateOffer, bool) {
	s := extScanner{b: v}
	for !s.done() {
		name, ok := s.token()
		if !ok {
			return deflateOffer{}, false
		}
		isDeflate := httplex.EqualFold(name, extDeflate)
		offer := deflateOffer{mode: DeflateOn}
		valid := true
		var seen uint8
		for s.param() {
			pname, ok := s.token()
			if !ok {
				return deflateOffer{}, false
			}
			var val [maxDeflateParamValueLen]byte
			vlen, hasVal, ok := s.value(val[:])
			if !ok {
				return deflateOffer{}, false
			}
			if !isDeflate || !valid {
				continue
			}
			var bit uint8
			switch {
			case httplex.EqualFold(pname, paramServerNoTakeover):
				bit, valid = 1, !hasVal
			case httplex.EqualFold(pname, paramClientNoTakeover):
				bit, valid = 2, !hasVal
			case httplex.EqualFold(pname, paramServerMaxWindow):
				bit = 4
				b, okb := windowBits(val[:min(vlen, len(val))], vlen)
				valid = hasVal && okb
				offer.bits = b
			case httplex.EqualFold(pname, paramClientMaxWindow):
				bit = 8
				if hasVal {
					_, valid = windowBits(val[:min(vlen, len(val))], vlen)
				}
			default:
				valid = false
			}
			if seen&bit != 0 {
				valid = false
			}
			seen |= bit
		}
		if !s.next() {
			return deflateOffer{}, false
		}
		if isDeflate && valid {
			if offer.bits != 0 && offer.bits < 15 {
				offer.mode = DeflateHuffman
			}
			return offer, true
		}
	}
	return deflateOffer{}, false
}

// windowBits parses a window-bits value: a decimal 8 to 15. n is the
// value's full length (longer than the buffer means invalid).
func windowBits(v []byte, n int) (uint8, bool) {
	if n == 0 || n > 2 || len(v) != n {
		return 0, false
	}
	x := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	if x < 8 || x > 15 {
		return 0, false
	}
	return uint8(x), true
}

// extScanner walks a Sec-WebSocket-Extensions value:
//
//	extension-list = 1#( token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] ) )
type extScanner struct {
	b []byte
	i int
}

func (s *extScanner) ows() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t') {
		s.i++
	}
}

// done skips empty list elements and reports whether the list ended.
func (s *extScanner) done() bool {
	for {
		s.ows()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		return s.i >= len(s.b)
	}
}

func (s *extScanner) token() ([]byte, bool) {
	s.ows()
	j := s.i
	for s.i < len(s.b) && httplex.IsTchar(s.b[s.i]) {
		s.i++
	}
	return s.b[j:s.i], s.i > j
}

// param reports whether a ";" follows (and consumes it).
func (s *extScanner) param() bool {
	s.ows()
	if s.i < len(s.b) && s.b[s.i] == ';' {
		s.i++
		return true
	}
	return false
}

// value reads an optional "=" value (token or quoted-string, unescaped into
// buf up to its length). n is the value's length, which may exceed len(buf).
func (s *extScanner) value(buf []byte) (n int, has, ok bool) {
	s.ows()
	if s.i >= len(s.b) || s.b[s.i] != '=' {
		return 0, false, true
	}
	s.i++
	s.ows()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		s.i++
		for s.i < len(s.b) {
			c := s.b[s.i]
			s.i++
			switch c {
			case '"':
				return n, true, true
			case '\\':
				if s.i >= len(s.b) {
					return 0, false, false
				}
				c = s.b[s.i]
				s.i++
			}
			if n < len(buf) {
				buf[n] = c
			}
			n++
		}
		return 0, false, false // unterminated
	}
	tok, okt := s.token()
	if !okt {
		return 0, false, false
	}
	n = copy(buf, tok)
	if len(tok) > len(buf) {
		n = len(tok)
	}
	return n, true, true
}

// next ends an extension: at a "," (consumed) or the end of the value.
func (s *extScanner) next() bool {
	s.ows()
	if s.i >= len(s.b) {
		return true
	}
	if s.b[s.i] == ',' {
		s.i++
		return true
	}
	return false
}

// writeDeflateResponse writes the Sec-WebSocket-Extensions header that
// accepts o. It always agrees no context takeover in both directions:
// server_no_context_takeover because a broadcast is compressed once for
// every connection, client_no_context_takeover (which RFC 7692 7.1.1.2
// lets a server add to any offer) so that no connection keeps an inflate
// window between messages.
func writeDeflateResponse(w io.Writer, o deflateOffer) (int64, error) {
	parts := [...]string{"Sec-WebSocket-Extensions: " + extDeflate + "; " + paramServerNoTakeover + "; " + paramClientNoTakeover, "", "\r\n"}
	if o.bits >= 8 && o.bits <= 15 {
		parts[1] = windowBitsParam[o.bits-8]
	}
	var total int64
	for _, s := range parts {
		n, err := io.WriteString(w, s)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// windowBitsParam confirms server_max_window_bits 8..15 in a response.
var windowBitsParam = [...]string{
	"; " + paramServerMaxWindow + "=8", "; " + paramServerMaxWindow + "=9",
	"; " + paramServerMaxWindow + "=10", "; " + paramServerMaxWindow + "=11",
	"; " + paramServerMaxWindow + "=12", "; " + paramServerMaxWindow + "=13",
	"; " + paramServerMaxWindow + "=14", "; " + paramServerMaxWindow + "=15",
}
