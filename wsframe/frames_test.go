package wsframe

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// validFrames is the one table of valid frames shared by the encoder tests
// (server frames, checked against gobwas/ws) and the decoder tests (the same
// frames sent masked by a client through the Parser).
var validFrames = []struct {
	name    string
	op      ws.OpCode
	payload []byte
}{
	{"text empty", ws.OpText, nil},
	{"text ascii", ws.OpText, []byte("hello")},
	{"text multibyte", ws.OpText, []byte("héllo wörld € 𝄞 日本語")},
	{"text 125", ws.OpText, bytes.Repeat([]byte("a"), 125)},
	{"text 126", ws.OpText, bytes.Repeat([]byte("b"), 126)},
	{"text 65535 utf8", ws.OpText, []byte(strings.Repeat("€", 21845))},
	{"binary empty", ws.OpBinary, nil},
	{"binary all bytes", ws.OpBinary, allBytes(256)},
	{"binary 65536", ws.OpBinary, allBytes(65536)},
	{"binary 70000", ws.OpBinary, allBytes(70000)},
	{"ping empty", ws.OpPing, nil},
	{"ping payload", ws.OpPing, []byte("are you there")},
	{"ping 125", ws.OpPing, allBytes(125)},
	{"pong payload", ws.OpPong, []byte("yes")},
	{"close empty", ws.OpClose, nil},
	{"close normal", ws.OpClose, []byte(closePayload(1000, "bye"))},
	{"close 4999 utf8 reason", ws.OpClose, []byte(closePayload(4999, "über"))},
}

func allBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// encodeServer encodes a table entry with the package's encoders.
func encodeServer(t *testing.T, op ws.OpCode, payload []byte) []byte {
	t.Helper()
	switch op {
	case ws.OpPing:
		return AppendPing(nil, payload)
	case ws.OpPong:
		return AppendPong(nil, payload)
	case ws.OpClose:
		if len(payload) == 0 {
			p := ClosePrepared(StatusNoStatusReceived, "")
			defer p.Release()
			return append([]byte(nil), p.Bytes()...)
		}
		code := StatusCode(uint16(payload[0])<<8 | uint16(payload[1]))
		p := ClosePrepared(code, string(payload[2:]))
		defer p.Release()
		return append([]byte(nil), p.Bytes()...)
	}
	p := NewPrepared(op, payload)
	defer p.Release()
	return append([]byte(nil), p.Bytes()...)
}

func TestEncodeValidFrames(t *testing.T) {
	for _, tc := range validFrames {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeServer(t, tc.op, tc.payload)
			// gobwas/ws is the independent encoder...
			want, err := ws.CompileFrame(ws.NewFrame(tc.op, true, tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from gobwas/ws:\n got % x\nwant % x", head(got), head(want))
			}
			// ...and decoder.
			f, err := ws.ReadFrame(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if !f.Header.Fin || f.Header.Masked || f.Header.Rsv != 0 || f.Header.OpCode != tc.op || !bytes.Equal(f.Payload, tc.payload) {
				t.Fatalf("gobwas decodes %+v (%d bytes)", f.Header, len(f.Payload))
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

func TestDecodeValidFrames(t *testing.T) {
	for _, tc := range validFrames {
		t.Run(tc.name, func(t *testing.T) {
			in := encodeClient(frameSpec{fin: true, op: tc.op, payload: tc.payload})
			// A second frame behind each one checks that the parser resumes
			// at the right byte.
			in = append(in, cf(ws.OpBinary, "next")...)
			got := feedEveryWay(t, ParserConfig{}, in)
			want := outcome{}
			switch tc.op {
			case ws.OpText, ws.OpBinary:
				want.events = []event{{"msg", tc.op, string(tc.payload)}, {"msg", ws.OpBinary, "next"}}
			case ws.OpPing:
				want.events = []event{{"ping", ws.OpPing, string(tc.payload)}, {"msg", ws.OpBinary, "next"}}
			case ws.OpPong:
				want.events = []event{{"pong", ws.OpPong, string(tc.payload)}, {"msg", ws.OpBinary, "next"}}
			case ws.OpClose:
				want.err = &CloseError{Code: StatusNoStatusReceived, Remote: true}
				if len(tc.payload) > 0 {
					want.err = &CloseError{
						Code:   StatusCode(uint16(tc.payload[0])<<8 | uint16(tc.payload[1])),
						Reason: string(tc.payload[2:]),
						Remote: true,
					}
				}
			}
			if !got.equal(want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

// TestDecodeGobwasClientFrames feeds frames masked by gobwas/ws, a second
// independent encoder.
func TestDecodeGobwasClientFrames(t *testing.T) {
	for _, tc := range validFrames {
		if tc.op != ws.OpText && tc.op != ws.OpBinary {
			continue
		}
		f := ws.MaskFrameWith(ws.NewFrame(tc.op, true, append([]byte(nil), tc.payload...)), [4]byte{1, 2, 3, 4})
		b, err := ws.CompileFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		got := feedWhole(t, ParserConfig{}, b)
		want := outcome{events: []event{{"msg", tc.op, string(tc.payload)}}}
		if !got.equal(want) {
			t.Fatalf("%s: got %v", tc.name, got)
		}
	}
}
