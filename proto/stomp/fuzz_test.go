package stomp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes whole, in two pieces at a fuzzed offset and
// byte by byte, under default or small limits: the parser must never panic,
// the three must agree on frames and error, and every error must be a *Error
// of a known kind. It also encodes a frame from the fuzzed name, value and
// body and checks that it parses back identically.
func FuzzParse(f *testing.F) {
	for _, tc := range frameTests {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2), uint8(0), "destination", "/topic/a", []byte("body"))
	}
	for _, tc := range codecTests {
		f.Add([]byte(tc.wire), uint16(3), uint8(1), "a:b", "c\r\nd\\", []byte("x\x00y"))
	}
	f.Add([]byte("SEND\ncontent-length:3\n\na\x00b\x00\r\nSEND\n\nxyz"), uint16(20), uint8(2), "", "", []byte{})
	f.Add([]byte("SEND\nd:\\t\n\n\x00"), uint16(8), uint8(0), "\\", "\\t", []byte(nil))
	f.Add([]byte("CONNECT\nlogin:\\t\n\n\x00"), uint16(8), uint8(3), "login", "\\", []byte(nil))
	f.Add([]byte("SEND\n"+strings.Repeat("h:1\n", 70)), uint16(100), uint8(0), "h", "v", []byte(nil))
	f.Add([]byte("UNSUBSCRIBE\r\r\n"), uint16(12), uint8(0), "n", "v", []byte(nil))
	f.Add([]byte("\r"), uint16(0), uint8(0), "n", "", []byte(nil))
	f.Fuzz(func(t *testing.T, in []byte, split uint16, limits uint8, name, value string, body []byte) {
		lim := fuzzLimits(limits)
		whole := feedWhole(t, lim, in)
		if len(in) > 0 {
			k := int(split) % len(in)
			if got := feedChunks(t, lim, in, []int{k}); !got.equal(whole) {
				t.Fatalf("split at %d:\n got %v\nwant %v", k, got, whole)
			}
		}
		if len(in) < 4096 {
			if got := feedBytewise(t, lim, in); !got.equal(whole) {
				t.Fatalf("byte by byte:\n got %v\nwant %v", got, whole)
			}
		}
		if whole.err != nil {
			var e *Error
			if !errors.As(whole.err, &e) || e.Kind.String() == "protocol error" || e.Msg == "" {
				t.Fatalf("error %#v", whole.err)
			}
		}
		max := lim.withDefaults().MaxFrameBytes
		for _, e := range whole.events {
			if !e.heartbeat && (e.cmd == CmdUnknown || len(e.body) >= max) {
				t.Fatalf("delivered %v", e)
			}
		}
		checkRoundTrip(t, in, name, value, body)
	})
}

// fuzzLimits picks small limits for some inputs so that limit paths are hit.
func fuzzLimits(b uint8) Limits {
	if b&3 == 0 {
		return Limits{}
	}
	return Limits{MaxFrameBytes: int(b) + 1, MaxHeaders: int(b&7) + 1, MaxHeaderBytes: int(b>>3) + 1}
}

// checkRoundTrip encodes a frame with the fuzzed header and body (the command
// chosen by in) and checks that the parser returns exactly that frame.
func checkRoundTrip(t *testing.T, in []byte, name, value string, body []byte) {
	if name == "" {
		return
	}
	cmd := CmdSend
	if len(in) > 0 {
		cmd = Command(in[0]%uint8(CmdError) + 1)
	}
	raw := !cmd.escaped()
	if raw && (strings.ContainsAny(name, "\r\n:") || strings.ContainsAny(value, "\r\n")) {
		return // not expressible without escaping
	}
	var headers []string
	if raw {
		headers = []string{name, value}
	} else {
		headers = []string{name, value, name + "2", value}
	}
	b := encodeCase(cmd, raw, headers, true, string(body))
	headers = append(headers, "content-length", fmt.Sprint(len(body)))
	want := []event{frame(cmd, string(body), headers...)}
	lim := Limits{MaxFrameBytes: 1 << 30, MaxHeaderBytes: 1 << 30}
	got := feedWhole(t, lim, b)
	if len(b) > 1 {
		if split := feedChunks(t, lim, b, []int{len(b) / 2}); !split.equal(got) {
			t.Fatalf("round trip split:\n got %v\nwant %v", split, got)
		}
	}
	if got.err != nil || fmt.Sprint(got.events) != fmt.Sprint(want) {
		// The first content-length wins: a fuzzed header of that name with
		// another value legitimately changes the body.
		if name == "content-length" {
			return
		}
		t.Fatalf("round trip of %q:\n got %v\nwant %v", b, got, want)
	}
}
