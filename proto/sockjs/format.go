package sockjs

import (
	"encoding/base64"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// wrapKey names a wrapped format: the protocol's format and the SockJS
// encoding.
type wrapKey struct {
	f hub.Format
	e enc
}

// wrapped is a protocol's hub.Format wrapped in SockJS message frames of
// one encoding: Encode runs the protocol's Encode into a scratch frame,
// takes its payload and writes a["<payload as a JSON string>"] framed for
// the encoding (a WebSocket text frame, an xhr_streaming line or an
// EventSource event as an HTTP chunk, or bare for the transports that
// re-frame every response). One wrapped value exists per (format,
// encoding) and Server: the hub encodes a publish once per wrapped format
// and variant, shared by every session of that encoding.
type wrapped struct {
	inner hub.Format
	e     enc
}

// wrap returns the wrapped format for (f, e), the same value every time.
func (s *Server) wrap(f hub.Format, e enc) hub.Format {
	k := wrapKey{f, e}
	s.wrapMu.Lock()
	defer s.wrapMu.Unlock()
	w := s.wraps[k]
	if w == nil {
		w = &wrapped{inner: f, e: e}
		s.wraps[k] = w
	}
	return w
}

// Encode implements hub.Format. A binary delivery of the native protocol
// cannot be a SockJS message (a JSON string): it is carried as the SSE
// transport carries it, the native delivery object with "binary":true and
// the data in base64. Any other protocol's binary frame is carried as its
// payload in a JSON string (bytes that are not UTF-8 as \u00XX).
func (w *wrapped) Encode(p *wsframe.Prepared, m *hub.Msg, variant string) {
	sc := wsframe.AcquirePrepared()
	var payload []byte
	if w.inner == hub.NativeFormat && m.Binary {
		sc.B = native.AppendDeliveryHead(sc.B, m)
		sc.B = append(sc.B, `,"binary":true,"data":"`...)
		sc.B = base64.StdEncoding.AppendEncode(sc.B, m.Data)
		sc.B = append(sc.B, `"}`...)
		payload = sc.B
	} else {
		w.inner.Encode(sc, m, variant)
		payload = firstMessage(sc.Bytes())
	}
	p.B = append(p.B, w.e.head()...)
	p.B = append(p.B, "a["...)
	p.B = appendJSONString(p.B, payload)
	p.B = append(p.B, ']')
	p.B = append(p.B, w.e.tail()...)
	w.e.seal(p)
	sc.SealRaw()
	sc.Release()
}

// firstMessage returns the payload of the first data frame in b (server
// WebSocket frames), nil if there is none.
func firstMessage(b []byte) []byte {
	for len(b) >= 2 {
		op := b[0] & 0x0f
		n, h := int(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return nil
			}
			n, h = int(b[2])<<8|int(b[3]), 4
		case 127:
			if len(b) < 10 {
				return nil
			}
			var v uint64
			for _, c := range b[2:10] {
				v = v<<8 | uint64(c)
			}
			if v > uint64(len(b)) {
				return nil
			}
			n, h = int(v), 10
		}
		if len(b) < h+n {
			return nil
		}
		if op <= 2 {
			return b[h : h+n]
		}
		b = b[h+n:]
	}
	return nil
}
