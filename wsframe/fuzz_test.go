package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzParser feeds random bytes whole, in two pieces at a fuzzed boundary and
// byte by byte: the parser must never panic and the three must agree.
func FuzzParser(f *testing.F) {
	for _, tc := range validFrames {
		if len(tc.payload) < 1000 {
			f.Add(encodeClient(frameSpec{fin: true, op: tc.op, payload: tc.payload}), uint16(3), uint16(0))
		}
	}
	f.Add(cat(frag(false, ws.OpText, "\xe2\x82"), cf(ws.OpPing, "x"), frag(true, ws.OpContinuation, "\xac")), uint16(9), uint16(0))
	f.Add(cat(frag(false, ws.OpBinary, "12345"), frag(true, ws.OpContinuation, "678901")), uint16(7), uint16(10))
	f.Add(encodeClient(frameSpec{fin: true, op: ws.OpBinary, lenForm: 127, rawLen: 1 << 40}), uint16(5), uint16(100))
	f.Add(encodeClient(frameSpec{fin: true, op: ws.OpText, payload: []byte("x"), unmasked: true}), uint16(1), uint16(0))
	f.Add(encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpText}), uint16(1), uint16(0))
	f.Add(cf(ws.OpClose, closePayload(1005, "")), uint16(2), uint16(0))
	f.Add(cf(ws.OpClose, closePayload(1000, "\xff")), uint16(2), uint16(0))
	f.Add(cf(ws.OpClose, "\x03"), uint16(2), uint16(0))
	f.Add([]byte{}, uint16(0), uint16(0))
	// Compressed messages (RSV1): whole, fragmented, invalid, a bomb.
	f.Add(encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpText, payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}), uint16(3), uint16(0))
	f.Add(cat(encodeClient(frameSpec{fin: false, rsv: 4, op: ws.OpBinary, payload: []byte{0xf2, 0x48, 0xcd}}),
		cf(ws.OpPing, "p"), frag(true, ws.OpContinuation, "\xc9\xc9\x07\x00")), uint16(5), uint16(0))
	f.Add(encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary, payload: []byte{0xff, 0xfe, 0xfd}}), uint16(2), uint16(0))
	f.Add(encodeClient(frameSpec{fin: true, rsv: 4, op: ws.OpBinary, payload: []byte{0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0xf7, 0x4f, 0x6d, 0x0e, 0x37, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xb7, 0x01}}), uint16(4), uint16(1000))
	f.Fuzz(func(t *testing.T, in []byte, split, max uint16) {
		// Without deflate (RSV1 is 1002), and with it: a compressed message
		// is inflated, at most 64 KiB (a bomb stops there).
		fuzzParser(t, ParserConfig{MaxMessageSize: int64(max)}, in, split)
		dmax := int64(max)
		if dmax == 0 {
			dmax = 1 << 16
		}
		fuzzParser(t, ParserConfig{MaxMessageSize: dmax, Deflate: true}, in, split)
	})
}

// fuzzParser is one FuzzParser run with cfg.
func fuzzParser(t *testing.T, cfg ParserConfig, in []byte, split uint16) {
	{
		whole := feedWhole(t, cfg, in)
		if len(in) > 0 {
			k := int(split) % len(in)
			if got := feedChunks(t, cfg, in, []int{k}); !got.equal(whole) {
				t.Fatalf("split at %d:\n got %v\nwant %v", k, got, whole)
			}
		}
		if got := feedBytewise(t, cfg, in); !got.equal(whole) {
			t.Fatalf("byte by byte:\n got %v\nwant %v", got, whole)
		}
		for _, e := range whole.events {
			if e.op == ws.OpText && !validUTF8([]byte(e.payload)) {
				t.Fatalf("invalid UTF-8 delivered as text: %q", e.payload)
			}
			if e.kind != "msg" && len(e.payload) > 125 {
				t.Fatalf("control payload of %d bytes", len(e.payload))
			}
		}
		if whole.err != nil && !whole.err.Remote {
			switch whole.err.Code {
			case StatusProtocolError, StatusInvalidPayload, StatusMessageTooBig:
			default:
				t.Fatalf("violation with code %d", whole.err.Code)
			}
		}
		for _, e := range whole.events {
			if e.kind == "msg" && int64(len(e.payload)) > cfg.MaxMessageSize && cfg.MaxMessageSize > 0 {
				t.Fatalf("message of %d bytes over the limit %d", len(e.payload), cfg.MaxMessageSize)
			}
		}
	}
}

// FuzzHandshake runs RequestHeadLen and Upgrade on random heads: no panic,
// RequestHeadLen agrees between whole and split input, and Upgrade always
// writes exactly one well-formed response whose status matches its error.
func FuzzHandshake(f *testing.F) {
	f.Add(request(), uint16(10))
	f.Add(request("-Sec-WebSocket-Version"), uint16(30))
	f.Add(request("Sec-WebSocket-Protocol: v1, v2", "Origin: https://good.example"), uint16(50))
	f.Add(request("GET /other HTTP/1.1"), uint16(3))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), uint16(5))
	f.Add([]byte("\r\n\r\n"), uint16(1))
	f.Add([]byte("GET http://x/ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), uint16(7))
	// A client frame pipelined right behind the head (the head ends before it).
	f.Add(append(request(), cf(ws.OpText, "hi")...), uint16(200))
	// Bare LF line endings: no CRLFCRLF, so the head never completes.
	f.Add(bytes.ReplaceAll(request(), []byte("\r\n"), []byte("\n")), uint16(40))
	// A head just over the 1024-byte limit (ErrHeadTooLarge), and a
	// duplicated key.
	f.Add(request("X-Pad: "+strings.Repeat("p", 1000)), uint16(1000))
	f.Add(bytes.Replace(request(), []byte("Sec-WebSocket-Version"), []byte("Sec-WebSocket-Key: "+rfcKey+"\r\nSec-WebSocket-Version"), 1), uint16(60))
	f.Add(request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"), uint16(80))
	f.Add(request(`Sec-WebSocket-Extensions: foo; bar="a,\"b", permessage-deflate; server_no_context_takeover=1, permessage-deflate`), uint16(80))
	u := &Upgrader{
		Route:     func(p string) bool { return strings.HasPrefix(p, "/ws") },
		Origins:   []string{"https://good.example"},
		Protocols: []string{"v2", "v1"},
		Deflate:   true,
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		const max = 1024
		n, err := RequestHeadLen(in, max)
		if err != nil && !errors.Is(err, ErrHeadTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
		// Split feeding: the poller calls again on the grown buffer.
		k := 0
		if len(in) > 0 {
			k = int(split) % (len(in) + 1)
		}
		n1, err1 := RequestHeadLen(in[:k], max)
		switch {
		case n > 0 && k >= n && (n1 != n || err1 != nil):
			t.Fatalf("prefix %d: %d %v, whole: %d", k, n1, err1, n)
		case n > 0 && k < n && (n1 != 0 || err1 != nil):
			t.Fatalf("prefix %d of a %d-byte head: %d %v", k, n, n1, err1)
		case err != nil && n1 > 0:
			t.Fatalf("prefix %d complete (%d) but whole too large", k, n1)
		}
		IsUpgradeRequest(in)
		head := in
		if n > 0 {
			head = in[:n]
		}
		var out bytes.Buffer
		hs, uerr := u.Upgrade(head, &out)
		resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(out.Bytes())), nil)
		if rerr != nil {
			t.Fatalf("response does not parse: %v\n%q", rerr, out.Bytes())
		}
		if (resp.StatusCode == 101) != (uerr == nil) {
			t.Fatalf("status %d with error %v", resp.StatusCode, uerr)
		}
		if uerr == nil && (!strings.HasPrefix(hs.Path, "/ws") || resp.Header.Get("Sec-WebSocket-Accept") == "") {
			t.Fatalf("accepted %+v", hs)
		}
		if ext := resp.Header.Values("Sec-WebSocket-Extensions"); uerr == nil && (len(ext) > 0) != (hs.Deflate != DeflateOff) ||
			len(ext) > 1 || len(ext) == 1 && !strings.HasPrefix(ext[0], "permessage-deflate; server_no_context_takeover; client_no_context_takeover") {
			t.Fatalf("deflate %v with extensions %q", hs.Deflate, ext)
		}
	})
}
