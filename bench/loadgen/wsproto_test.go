package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// serverFrame builds an unmasked server frame the naive way (the oracle).
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, byte(n))
	case n <= 65535:
		out = append(out, 126, 0, 0)
		binary.BigEndian.PutUint16(out[2:], uint16(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(out[2:], uint64(n))
	}
	return append(out, payload...)
}

var frameTable = []struct {
	name string
	fin  bool
	op   byte
	size int
}{
	{"empty-text", true, OpText, 0},
	{"small-text", true, OpText, 64},
	{"125", true, OpBinary, 125},
	{"126", true, OpText, 126},
	{"64k-1", true, OpText, 65535},
	{"64k", true, OpBinary, 65536},
	{"fragment", false, OpText, 300},
	{"ping", true, OpPing, 4},
	{"close", true, OpClose, 2},
}

func TestParseFrameWholeAndSplit(t *testing.T) {
	for _, tc := range frameTable {
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'x'}, tc.size)
			wire := serverFrame(tc.fin, tc.op, payload)
			wire = append(wire, 0x81, 0x00) // a following frame must not be consumed
			full := len(wire) - 2
			for cut := 0; cut <= full; cut++ {
				_, n, err := ParseFrame(wire[:cut], 1<<20)
				if err != nil || (cut < full && n != 0) {
					t.Fatalf("cut %d: n=%d err=%v, want incomplete", cut, n, err)
				}
				if cut > 20 && cut < full-2 {
					cut = full - 2 // skip the middle of large payloads
				}
			}
			f, n, err := ParseFrame(wire, 1<<20)
			if err != nil || n != full || f.Fin != tc.fin || f.Op != tc.op || !bytes.Equal(f.Payload, payload) {
				t.Fatalf("got fin=%v op=%d n=%d len=%d err=%v", f.Fin, f.Op, n, len(f.Payload), err)
			}
		})
	}
}

func TestParseFrameErrors(t *testing.T) {
	cases := map[string]struct {
		wire []byte
		want error
	}{
		"masked":      {[]byte{0x81, 0x81, 1, 2, 3, 4, 'a'}, ErrMaskedServerFrame},
		"rsv":         {[]byte{0xC1, 0x00}, ErrReservedBits},
		"long-ping":   {serverFrame(true, OpPing, make([]byte, 126)), ErrControlTooLong},
		"frag-close":  {serverFrame(false, OpClose, nil), ErrControlTooLong},
		"over-budget": {serverFrame(true, OpText, make([]byte, 2000)), ErrFrameTooLarge},
	}
	for name, tc := range cases {
		if _, _, err := ParseFrame(tc.wire, 1024); !errors.Is(err, tc.want) {
			t.Errorf("%s: err=%v want %v", name, err, tc.want)
		}
	}
}

func TestAppendFrameMasksAndRoundTrips(t *testing.T) {
	mask := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	for _, tc := range frameTable {
		payload := bytes.Repeat([]byte{'y'}, tc.size)
		wire := AppendFrame(nil, tc.op, payload, mask)
		if wire[0] != 0x80|tc.op || wire[1]&0x80 == 0 {
			t.Fatalf("%s: header %x %x", tc.name, wire[0], wire[1])
		}
		// Unmask with the naive loop and reparse as if unmasked.
		hl := 2
		switch wire[1] & 0x7F {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		unmasked := append([]byte{wire[0], wire[1] & 0x7F}, wire[2:hl]...)
		for i, b := range wire[hl+4:] {
			unmasked = append(unmasked, b^mask[i%4])
		}
		f, n, err := ParseFrame(unmasked, 1<<20)
		if err != nil || n != len(unmasked) || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%s: round trip failed n=%d err=%v", tc.name, n, err)
		}
	}
}

func TestUpgradeResponse(t *testing.T) {
	// RFC 6455 section 1.3 example.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
	acc := "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	good := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept: " + acc + "\r\n\r\n\x81\x00"
	for cut := 0; cut < len(good)-2; cut++ {
		if n, err := CheckUpgradeResponse([]byte(good[:cut]), acc); n != 0 || err != nil {
			t.Fatalf("cut %d: n=%d err=%v", cut, n, err)
		}
	}
	if n, err := CheckUpgradeResponse([]byte(good), acc); err != nil || n != len(good)-2 {
		t.Fatalf("good: n=%d err=%v", n, err)
	}
	if _, err := CheckUpgradeResponse([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), acc); !errors.Is(err, ErrBadStatus) {
		t.Fatalf("400: %v", err)
	}
	bad := "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n"
	if _, err := CheckUpgradeResponse([]byte(bad), acc); !errors.Is(err, ErrBadAccept) {
		t.Fatalf("bad accept: %v", err)
	}
	req := string(AppendUpgradeRequest(nil, "127.0.0.1:80", "/ws", "dGhlIHNhbXBsZSBub25jZQ=="))
	if req != "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" {
		t.Fatalf("request = %q", req)
	}
}

func TestScanMessage(t *testing.T) {
	cases := []struct {
		in   string
		kind int
		seq  uint64
		ts   int64
	}{
		{`{"op":"msg","topic":"bench.0","seq":42,"ts":1700000000123456789,"data":{"p":"xx"}}`, KindMsg, 42, 1700000000123456789},
		{`{"op": "msg", "topic":"t", "ts": 5, "seq": 7, "data":1}`, KindMsg, 7, 5},
		{`{"op":"msg","topic":"bench.0","seq":3,"ts":9,"snap":true,"data":{}}`, KindSnap, 3, 9},
		{`{"op":"msg","topic":"bench.0","seq":3,"ts":9,"snap":false,"data":{}}`, KindMsg, 3, 9},
		{`{"op":"ok","id":1,"topics":["bench.0"]}`, KindOK, 1, 0},
		{`{"op":"error","id":1}`, KindOther, 0, 0},
		{`{"op":"msg","topic":"seq"}`, KindOther, 0, 0},
		{`not json`, KindOther, 0, 0},
	}
	for _, c := range cases {
		k, s, ts := ScanMessage([]byte(c.in))
		if k != c.kind || s != c.seq || ts != c.ts {
			t.Errorf("%s: got (%d,%d,%d) want (%d,%d,%d)", c.in, k, s, ts, c.kind, c.seq, c.ts)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, tc := range frameTable {
		f.Add(serverFrame(tc.fin, tc.op, make([]byte, tc.size%200)), 3)
	}
	f.Fuzz(func(t *testing.T, wire []byte, cut int) {
		whole, n, err := ParseFrame(wire, 1<<16)
		if err != nil || n == 0 {
			return
		}
		// Feeding the frame in two pieces must give the same result.
		cut = min(max(cut, 0), n)
		if _, n1, err1 := ParseFrame(wire[:cut], 1<<16); cut < n && (n1 != 0 || err1 != nil) {
			t.Fatalf("prefix %d of %d: n=%d err=%v", cut, n, n1, err1)
		}
		if whole.Op >= OpClose && len(whole.Payload) > 125 {
			t.Fatalf("control frame with %d bytes accepted", len(whole.Payload))
		}
	})
}

func BenchmarkScanMessage(b *testing.B) {
	msg := []byte(`{"op":"msg","topic":"bench.0","seq":123456,"ts":1700000000123456789,"data":{"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if k, _, _ := ScanMessage(msg); k != KindMsg {
			b.Fatal(k)
		}
	}
}

func BenchmarkParseFrame(b *testing.B) {
	wire := serverFrame(true, OpText, make([]byte, 256))
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, n, _ := ParseFrame(wire, 1<<20); n != len(wire) {
			b.Fatal(n)
		}
	}
}

// BenchmarkLoopConsume measures the per-delivery receive path of a worker:
// frame parsing, message scanning, histogram and fan-out bookkeeping.
func BenchmarkLoopConsume(b *testing.B) {
	l, err := NewLoop()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := &clientConn{state: stOpen}
	var wire []byte
	const perRead = 64
	for i := 0; i < perRead; i++ {
		msg := `{"op":"msg","topic":"bench.0","seq":` + strconv.Itoa(1000+i) + `,"ts":1,"data":{"p":"` + strings.Repeat("x", 200) + `"}}`
		wire = append(wire, serverFrame(true, OpText, []byte(msg))...)
	}
	l.consume(c, wire, 2) // grow the per-seq table once
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if n := l.consume(c, wire, 2); n != len(wire) {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.N*perRead)/b.Elapsed().Seconds(), "deliveries/s")
}
