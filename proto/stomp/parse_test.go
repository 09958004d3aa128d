package stomp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// event is a copy of what a Parser delivered: a frame, or a heart-beat.
type event struct {
	heartbeat bool
	cmd       Command
	headers   []string // "name" "value" pairs
	body      string
}

func (e event) String() string {
	if e.heartbeat {
		return "heartbeat"
	}
	return fmt.Sprintf("%v %q %q", e.cmd, e.headers, e.body)
}

// result is everything a Parser did with a byte stream.
type result struct {
	events []event
	err    error
}

func (r result) String() string {
	return fmt.Sprintf("%v err=%v", r.events, r.err)
}

func (r result) equal(o result) bool {
	if fmt.Sprint(r.events) != fmt.Sprint(o.events) {
		return false
	}
	if (r.err == nil) != (o.err == nil) {
		return false
	}
	if r.err == nil {
		return true
	}
	var a, b *Error
	if errors.As(r.err, &a) != errors.As(o.err, &b) {
		return false
	}
	if a != nil {
		return *a == *b
	}
	return r.err.Error() == o.err.Error()
}

func copyFrame(f *Frame) event {
	e := event{cmd: f.Command, body: string(f.Body)}
	for _, h := range f.Headers {
		e.headers = append(e.headers, string(h.Name), string(h.Value))
	}
	return e
}

// feedChunks feeds in cut at the given offsets (ascending), each chunk in a
// fresh copy since Feed may write to its input, and checks the parser's
// invariants on the way.
func feedChunks(t testing.TB, lim Limits, in []byte, cuts []int) result {
	t.Helper()
	p := Parser{Limits: lim}
	defer p.Reset()
	var r result
	fn := func(f *Frame) error { r.events = append(r.events, copyFrame(f)); return nil }
	hb := func() { r.events = append(r.events, event{heartbeat: true}) }
	max := lim.withDefaults().MaxFrameBytes
	prev := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(in)
		if i < len(cuts) {
			end = cuts[i]
		}
		chunk := append([]byte(nil), in[prev:end]...)
		prev = end
		if err := p.Feed(chunk, fn, hb); err != nil {
			r.err = err
			if again := p.Feed([]byte("SEND\n\n\x00"), fn, hb); again != err {
				t.Fatalf("Feed after error %v returned %v", err, again)
			}
			if p.Buffered() != 0 {
				t.Fatalf("parser holds %d bytes after an error", p.Buffered())
			}
			return r
		}
		if p.Buffered() > max {
			t.Fatalf("parser holds %d bytes, more than MaxFrameBytes %d", p.Buffered(), max)
		}
		if (p.Buffered() == 0) != (p.buf == nil) {
			t.Fatalf("Buffered %d with buffer %v", p.Buffered(), p.buf != nil)
		}
	}
	return r
}

func feedWhole(t testing.TB, lim Limits, in []byte) result {
	return feedChunks(t, lim, in, nil)
}

func feedBytewise(t testing.TB, lim Limits, in []byte) result {
	cuts := make([]int, 0, len(in))
	for i := 1; i < len(in); i++ {
		cuts = append(cuts, i)
	}
	return feedChunks(t, lim, in, cuts)
}

// checkSplits checks that in gives the same result whole, split in two at
// every offset and byte by byte, and returns it.
func checkSplits(t *testing.T, lim Limits, in []byte) result {
	t.Helper()
	whole := feedWhole(t, lim, in)
	for k := 1; k < len(in); k++ {
		if got := feedChunks(t, lim, in, []int{k}); !got.equal(whole) {
			t.Fatalf("split at %d of %q:\n got %v\nwant %v", k, in, got, whole)
		}
	}
	if got := feedBytewise(t, lim, in); !got.equal(whole) {
		t.Fatalf("byte by byte %q:\n got %v\nwant %v", in, got, whole)
	}
	return whole
}

func frame(cmd Command, body string, headers ...string) event {
	return event{cmd: cmd, headers: headers, body: body}
}

var hb = event{heartbeat: true}

var frameTests = []struct {
	name string
	in   string
	want []event
}{
	{"CONNECT", "CONNECT\naccept-version:1.2\nhost:example.com\nlogin:a\\tb\n\n\x00",
		[]event{frame(CmdConnect, "", "accept-version", "1.2", "host", "example.com", "login", `a\tb`)}},
	{"STOMP CRLF", "STOMP\r\naccept-version:1.2\r\nheart-beat:10000,10000\r\n\r\n\x00",
		[]event{frame(CmdStomp, "", "accept-version", "1.2", "heart-beat", "10000,10000")}},
	{"CONNECTED raw", "CONNECTED\nversion:1.2\nserver:c1m/1\\n\n\n\x00",
		[]event{frame(CmdConnected, "", "version", "1.2", "server", `c1m/1\n`)}},
	{"SEND", "SEND\ndestination:/topic/a\ncontent-type:text/plain\n\nhello\x00",
		[]event{frame(CmdSend, "hello", "destination", "/topic/a", "content-type", "text/plain")}},
	{"SEND content-length NUL", "SEND\ndestination:/q\ncontent-length:5\n\na\x00b\x00c\x00",
		[]event{frame(CmdSend, "a\x00b\x00c", "destination", "/q", "content-length", "5")}},
	{"SEND content-length 0", "SEND\ncontent-length:0\n\n\x00",
		[]event{frame(CmdSend, "", "content-length", "0")}},
	{"SEND leading zeros", "SEND\ncontent-length:003\n\nabc\x00",
		[]event{frame(CmdSend, "abc", "content-length", "003")}},
	{"SEND first content-length wins", "SEND\ncontent-length:2\ncontent-length:x\n\nab\x00",
		[]event{frame(CmdSend, "ab", "content-length", "2", "content-length", "x")}},
	{"SUBSCRIBE", "SUBSCRIBE\nid:0\ndestination:/topic/prices.*\nack:auto\n\n\x00",
		[]event{frame(CmdSubscribe, "", "id", "0", "destination", "/topic/prices.*", "ack", "auto")}},
	{"UNSUBSCRIBE", "UNSUBSCRIBE\nid:0\n\n\x00", []event{frame(CmdUnsubscribe, "", "id", "0")}},
	{"ACK", "ACK\nid:12345\ntransaction:tx1\n\n\x00", []event{frame(CmdAck, "", "id", "12345", "transaction", "tx1")}},
	{"NACK", "NACK\nid:12345\n\n\x00", []event{frame(CmdNack, "", "id", "12345")}},
	{"BEGIN", "BEGIN\ntransaction:tx1\n\n\x00", []event{frame(CmdBegin, "", "transaction", "tx1")}},
	{"COMMIT", "COMMIT\ntransaction:tx1\n\n\x00", []event{frame(CmdCommit, "", "transaction", "tx1")}},
	{"ABORT", "ABORT\ntransaction:tx1\n\n\x00", []event{frame(CmdAbort, "", "transaction", "tx1")}},
	{"DISCONNECT", "DISCONNECT\nreceipt:77\n\n\x00", []event{frame(CmdDisconnect, "", "receipt", "77")}},
	{"MESSAGE escaped", "MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/topic/a\\cb\nx\\\\y:1\\r\\n2\n\n{\"p\":1}\x00",
		[]event{frame(CmdMessage, `{"p":1}`, "subscription", "0", "message-id", "007", "destination", "/topic/a:b", `x\y`, "1\r\n2")}},
	{"RECEIPT", "RECEIPT\nreceipt-id:77\n\n\x00", []event{frame(CmdReceipt, "", "receipt-id", "77")}},
	{"ERROR", "ERROR\nmessage:malformed frame received\ncontent-type:text/plain\n\nThe message:\n-----\nMESSAGE\n\x00",
		[]event{frame(CmdError, "The message:\n-----\nMESSAGE\n", "message", "malformed frame received", "content-type", "text/plain")}},
	{"no headers", "DISCONNECT\n\n\x00", []event{frame(CmdDisconnect, "")}},
	{"colon in value", "SEND\ndestination:a:b::c\n\n\x00", []event{frame(CmdSend, "", "destination", "a:b::c")}},
	{"empty value", "SEND\nreceipt:\n\n\x00", []event{frame(CmdSend, "", "receipt", "")}},
	{"repeated header", "MESSAGE\nfoo:World\nfoo:Hello\n\n\x00", []event{frame(CmdMessage, "", "foo", "World", "foo", "Hello")}},
	{"spaces kept", "SEND\n key : v \n\n\x00", []event{frame(CmdSend, "", " key ", " v ")}},
	{"CR in body", "SEND\n\n\r\n\r\x00", []event{frame(CmdSend, "\r\n\r")}},
	{"several frames", "SEND\n\na\x00SEND\n\nb\x00\nACK\nid:1\n\n\x00",
		[]event{frame(CmdSend, "a"), frame(CmdSend, "b"), hb, frame(CmdAck, "", "id", "1")}},
	{"heart-beats", "\n\r\n\nSEND\n\nx\x00\r\n\n\r\nSEND\n\n\x00\n",
		[]event{hb, hb, hb, frame(CmdSend, "x"), hb, hb, hb, frame(CmdSend, ""), hb}},
}

func TestParseFrames(t *testing.T) {
	for _, tc := range frameTests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkSplits(t, Limits{}, []byte(tc.in))
			if got.err != nil {
				t.Fatal(got.err)
			}
			if fmt.Sprint(got.events) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %v\nwant %v", got.events, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	var p Parser
	defer p.Reset()
	called := false
	err := p.Feed([]byte("MESSAGE\nfoo:World\nfoo:Hello\ndestination:/a\\cb\n\n\x00"), func(f *Frame) error {
		called = true
		if v, ok := f.Get("foo"); !ok || string(v) != "World" {
			t.Errorf("Get(foo) = %q, %v; the first occurrence wins", v, ok)
		}
		if got := f.GetString("destination"); got != "/a:b" {
			t.Errorf("GetString(destination) = %q", got)
		}
		if v, ok := f.Get("bar"); ok || v != nil {
			t.Errorf("Get(bar) = %q, %v", v, ok)
		}
		if got := f.GetString("bar"); got != "" {
			t.Errorf("GetString(bar) = %q", got)
		}
		return nil
	}, nil)
	if err != nil || !called {
		t.Fatal(err, called)
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	values := []string{"", "plain", "a:b", "line1\nline2", "cr\rlf\n", `back\slash`, `\\`, `\n`, "\\c:", "::\r\n\\", "é€"}
	for _, cmd := range []Command{CmdSend, CmdSubscribe, CmdMessage, CmdError, CmdReceipt, CmdAck} {
		for _, v := range values {
			b := AppendCommand(nil, cmd)
			b = AppendHeader(b, "x:"+v+"\n", v)
			b = AppendHeaderBytes(b, "dest", []byte(v))
			b = AppendHeader(b, "k", v)
			b = AppendBody(b, nil)
			want := []event{frame(cmd, "", "x:"+v+"\n", v, "dest", v, "k", v)}
			got := checkSplits(t, Limits{}, b)
			if got.err != nil || fmt.Sprint(got.events) != fmt.Sprint(want) {
				t.Fatalf("%v %q: wire %q\n got %v\nwant %v", cmd, v, b, got, want)
			}
		}
	}
}

func TestConnectNotUnescaped(t *testing.T) {
	for _, cmd := range []string{"CONNECT", "STOMP", "CONNECTED"} {
		in := cmd + "\nlogin:a\\nb\\c\\\\\npasscode:\\t\\\nhost:h\n\n\x00"
		got := checkSplits(t, Limits{}, []byte(in))
		want := []event{frame(lookupCommand([]byte(cmd)), "", "login", `a\nb\c\\`, "passcode", `\t\`, "host", "h")}
		if got.err != nil || fmt.Sprint(got.events) != fmt.Sprint(want) {
			t.Fatalf("%s:\n got %v\nwant %v", cmd, got, want)
		}
	}
	// The raw encoder is what CONNECTED frames use.
	b := AppendCommand(nil, CmdConnected)
	b = AppendHeaderRaw(b, "server", `c1m\1`)
	b = AppendBody(b, nil)
	if string(b) != "CONNECTED\nserver:c1m\\1\n\n\x00" {
		t.Fatalf("AppendHeaderRaw: %q", b)
	}
}

func TestHeartbeatCount(t *testing.T) {
	in := []byte("\n\r\nSEND\n\nx\x00\n\n\r\nSUBSCRIBE\nid:1\n\n\x00\r\n")
	for k := 0; k <= len(in); k++ {
		var p Parser
		frames, beats := 0, 0
		fn := func(*Frame) error { frames++; return nil }
		for _, chunk := range [][]byte{append([]byte(nil), in[:k]...), append([]byte(nil), in[k:]...)} {
			if err := p.Feed(chunk, fn, func() { beats++ }); err != nil {
				t.Fatal(err)
			}
		}
		if frames != 2 || beats != 6 {
			t.Fatalf("split at %d: %d frames, %d heart-beats; want 2, 6", k, frames, beats)
		}
		// A nil heartbeat callback is allowed.
		if err := p.Feed([]byte("\r\n\n"), fn, nil); err != nil {
			t.Fatal(err)
		}
		p.Reset()
	}
}

func TestBuffered(t *testing.T) {
	var p Parser
	defer p.Reset()
	n := 0
	fn := func(*Frame) error { n++; return nil }
	if err := p.Feed([]byte("SEND\nd:1\n\nab"), fn, nil); err != nil {
		t.Fatal(err)
	}
	if p.Buffered() != 12 {
		t.Fatalf("Buffered = %d, want 12", p.Buffered())
	}
	if err := p.Feed([]byte("c\x00SEND\n"), fn, nil); err != nil {
		t.Fatal(err)
	}
	if n != 1 || p.Buffered() != 5 {
		t.Fatalf("%d frames, Buffered = %d; want 1, 5", n, p.Buffered())
	}
	p.Reset()
	if p.Buffered() != 0 || p.buf != nil {
		t.Fatal("Reset kept the buffer")
	}
	// After Reset the parser starts a new stream.
	if err := p.Feed([]byte("SEND\n\n\x00"), fn, nil); err != nil || n != 2 || p.Buffered() != 0 {
		t.Fatal(err, n, p.Buffered())
	}
}

func TestCallbackError(t *testing.T) {
	stop := errors.New("stop")
	var p Parser
	defer p.Reset()
	n := 0
	err := p.Feed([]byte("SEND\n\n\x00SEND\n\n\x00SEND\n\n"), func(*Frame) error { n++; return stop }, nil)
	if err != stop || n != 1 {
		t.Fatalf("Feed = %v after %d frames; want stop after 1", err, n)
	}
	if err := p.Feed([]byte("SEND\n\n\x00"), func(*Frame) error { n++; return nil }, nil); err != stop || n != 1 {
		t.Fatalf("Feed after a callback error = %v, %d frames", err, n)
	}
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxHeaderBytes)
	tests := []struct {
		name string
		lim  Limits
		in   string
		kind ErrorKind
		msg  string
	}{
		{"unknown", Limits{}, "FOO\n\n\x00", ErrUnknownCommand, `unknown command "FOO"`},
		{"lowercase", Limits{}, "send\n\n\x00", ErrUnknownCommand, `unknown command "send"`},
		{"trailing space", Limits{}, "SEND \n\n\x00", ErrUnknownCommand, `unknown command "SEND "`},
		{"leading CR", Limits{}, "\rSEND\n\n\x00", ErrUnknownCommand, `unknown command "\rSEND"`},
		{"long command", Limits{}, "SUBSCRIBERSX", ErrUnknownCommand, `unknown command starting with "SUBSCRIBERSX"`},
		{"long command CR", Limits{}, "UNSUBSCRIBE\r\r", ErrUnknownCommand, `unknown command starting with "UNSUBSCRIBE\r"`},
		{"longest command CRLF", Limits{}, "UNSUBSCRIBE\r\nid:1\n\n\x00NOPE\n", ErrUnknownCommand, `unknown command "NOPE"`},
		{"header line just fits", Limits{MaxHeaderBytes: 4}, "SEND\nab:c\r\nab:cd\r", ErrHeaderTooLong, "header line longer than 4 bytes"},
		{"long command at EOL", Limits{}, "SUBSCRIBERSX\n", ErrUnknownCommand, `unknown command starting with "SUBSCRIBERSX"`},
		{"HTTP", Limits{}, "GET / HTTP/1.1\r\n", ErrUnknownCommand, `unknown command starting with "GET / HTTP/1"`},
		{"missing NUL", Limits{}, "SEND\ncontent-length:2\n\nabc\x00", ErrMissingNUL,
			"the 2-byte body given by content-length is not followed by a NUL octet"},
		{"bad content-length", Limits{}, "SEND\ncontent-length:12a\n\n", ErrBadContentLength,
			`content-length "12a" is not a non-negative decimal integer`},
		{"negative content-length", Limits{}, "SEND\ncontent-length:-1\n\n", ErrBadContentLength,
			`content-length "-1" is not a non-negative decimal integer`},
		{"spaced content-length", Limits{}, "SEND\ncontent-length: 1\n\n", ErrBadContentLength,
			`content-length " 1" is not a non-negative decimal integer`},
		{"empty content-length", Limits{}, "SEND\ncontent-length:\n\n", ErrBadContentLength, "content-length is empty"},
		{"undefined escape", Limits{}, "SEND\ndestination:/a\\tb\n\n\x00", ErrBadEscape,
			`undefined escape sequence \t in header "destination"`},
		{"escape after unescaped name", Limits{}, "SEND\na\\cb:\\x\n\n\x00", ErrBadEscape,
			`undefined escape sequence \x in header "a:b"`},
		{"escape in name", Limits{}, "SEND\nde\\st:1\n\n\x00", ErrBadEscape,
			`undefined escape sequence \s in header name "de\\st"`},
		{"escape of a control byte", Limits{}, "SEND\nd:\\\x01\n\n\x00", ErrBadEscape,
			`undefined escape sequence \ followed by byte 0x1 in header "d"`},
		{"trailing backslash", Limits{}, "SEND\ndestination:/a\\\n\n\x00", ErrBadEscape,
			`header "destination" ends with a backslash, an incomplete escape sequence`},
		{"trailing backslash CRLF", Limits{}, "SEND\r\ndestination:/a\\\r\n\r\n\x00", ErrBadEscape,
			`header "destination" ends with a backslash, an incomplete escape sequence`},
		{"trailing backslash in name", Limits{}, "SEND\nd\\:1\n\n\x00", ErrBadEscape,
			`header name "d\\" ends with a backslash, an incomplete escape sequence`},
		{"no colon", Limits{}, "SEND\ndestination\n\n\x00", ErrBadHeader, `header line "destination" has no ':'`},
		{"empty name", Limits{}, "SEND\n:x\n\n\x00", ErrBadHeader, `header line ":x" has an empty name`},
		{"bare CR", Limits{}, "SEND\nd:a\rb\n\n\x00", ErrBadHeader,
			`header line "d:a\rb" contains a carriage return outside its end of line`},
		{"CR CR LF", Limits{}, "SEND\nd:a\r\r\n\n\x00", ErrBadHeader,
			`header line "d:a\r" contains a carriage return outside its end of line`},
		{"frame too large", Limits{MaxFrameBytes: 16}, "SEND\n\n0123456789\x00", ErrFrameTooLarge,
			"frame exceeds the 16-byte limit"},
		{"frame just fits", Limits{MaxFrameBytes: 16}, "SEND\n\n012345678\x00SEND\n\n0123456789a", ErrFrameTooLarge,
			"frame exceeds the 16-byte limit"},
		{"CL just fits", Limits{MaxFrameBytes: 30}, "SEND\ncontent-length:6\n\n012345\x00SEND\n\n\x00NOPE\n", ErrUnknownCommand, `unknown command "NOPE"`},
		{"frame too large in headers", Limits{MaxFrameBytes: 16}, "SEND\nabc:0123456789\n\n\x00", ErrFrameTooLarge,
			"frame exceeds the 16-byte limit"},
		{"content-length too large", Limits{MaxFrameBytes: 30}, "SEND\ncontent-length:7\n\n", ErrFrameTooLarge,
			"frame with content-length 7 exceeds the 30-byte limit"},
		{"huge content-length", Limits{}, "SEND\ncontent-length:99999999999999999999999999\n\n", ErrFrameTooLarge,
			`content-length "99999999999999999999999999" exceeds the 1114112-byte frame limit`},
		{"default frame limit", Limits{}, "SEND\n\n" + strings.Repeat("y", DefaultMaxFrameBytes), ErrFrameTooLarge,
			"frame exceeds the 1114112-byte limit"},
		{"too many headers", Limits{MaxHeaders: 2}, "SEND\na:1\nb:2\nc:3\n\n\x00", ErrTooManyHeaders, "more than 2 headers"},
		{"default header count", Limits{}, "SEND\n" + strings.Repeat("a:1\n", 65), ErrTooManyHeaders, "more than 64 headers"},
		{"header too long", Limits{}, "SEND\n" + long + "x", ErrHeaderTooLong, "header line longer than 8192 bytes"},
		{"header too long at EOL", Limits{MaxHeaderBytes: 4}, "SEND\nab:cd\n", ErrHeaderTooLong, "header line longer than 4 bytes"},
		{"header too long before frame", Limits{MaxFrameBytes: 14, MaxHeaderBytes: 3}, "SEND\nabcdefghijk", ErrHeaderTooLong,
			"header line longer than 3 bytes"},
		{"frame too large before header", Limits{MaxFrameBytes: 7, MaxHeaderBytes: 3}, "SEND\nabcdefghijk", ErrFrameTooLarge,
			"frame exceeds the 7-byte limit"},
		{"after good frames", Limits{}, "SEND\n\n\x00\n\nNOPE\n", ErrUnknownCommand, `unknown command "NOPE"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			var got result
			if len(in) < 200 {
				got = checkSplits(t, tc.lim, in)
			} else {
				got = feedWhole(t, tc.lim, in)
				if split := feedChunks(t, tc.lim, in, []int{len(in) / 3, len(in) / 2}); !split.equal(got) {
					t.Fatalf("split: %v, whole: %v", split, got)
				}
			}
			var e *Error
			if !errors.As(got.err, &e) {
				t.Fatalf("err = %v, want a *Error", got.err)
			}
			if e.Kind != tc.kind || e.Msg != tc.msg || e.Error() != tc.msg {
				t.Fatalf("got %v %q\nwant %v %q", e.Kind, e.Msg, tc.kind, tc.msg)
			}
		})
	}
}

func TestErrorKindString(t *testing.T) {
	want := map[ErrorKind]string{
		ErrUnknownCommand: "unknown command", ErrMissingNUL: "missing NUL",
		ErrBadContentLength: "bad content-length", ErrBadEscape: "bad escape",
		ErrBadHeader: "bad header", ErrFrameTooLarge: "frame too large",
		ErrTooManyHeaders: "too many headers", ErrHeaderTooLong: "header too long",
		0: "protocol error", 200: "protocol error",
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), s)
		}
	}
}

// TestLimitsBeforeNUL feeds frames that never end, in small pieces: each
// fails as soon as it passes its limit, without waiting for a NUL.
func TestLimitsBeforeNUL(t *testing.T) {
	tests := []struct {
		name   string
		lim    Limits
		head   string
		filler byte
		kind   ErrorKind
		failAt int // bytes fed when the error comes
	}{
		{"body", Limits{MaxFrameBytes: 100}, "SEND\n\n", 'b', ErrFrameTooLarge, 101},
		{"default body", Limits{}, "SEND\ndestination:/a\n\n", 'b', ErrFrameTooLarge, DefaultMaxFrameBytes + 1},
		{"header line", Limits{MaxHeaderBytes: 50}, "SEND\nx:", 'v', ErrHeaderTooLong, 5 + 51},
		{"default header line", Limits{}, "SEND\nx:", 'v', ErrHeaderTooLong, 5 + DefaultMaxHeaderBytes + 1},
		{"command line", Limits{}, "", 'C', ErrUnknownCommand, maxCommandLen + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			p.Limits = tc.lim
			defer p.Reset()
			fn := func(*Frame) error { t.Fatal("frame delivered"); return nil }
			if err := p.Feed([]byte(tc.head), fn, nil); err != nil {
				t.Fatal(err)
			}
			fed := len(tc.head)
			chunk := bytes.Repeat([]byte{tc.filler}, 7)
			for fed < 10*DefaultMaxFrameBytes {
				err := p.Feed(append([]byte(nil), chunk...), fn, nil)
				fed += len(chunk)
				if err == nil {
					continue
				}
				var e *Error
				if !errors.As(err, &e) || e.Kind != tc.kind {
					t.Fatalf("err = %v, want %v", err, tc.kind)
				}
				if fed-len(chunk) >= tc.failAt || fed < tc.failAt {
					t.Fatalf("failed after %d bytes, want in the chunk holding byte %d", fed, tc.failAt)
				}
				return
			}
			t.Fatal("never failed")
		})
	}
}

// sendFrame and subscribeFrame are the frames of the allocation checks and
// benchmarks.
var (
	sendFrame = []byte("SEND\ndestination:/topic/prices.btc\ncontent-type:application/json\ncontent-length:40\nreceipt:r\\c17\n\n" +
		`{"bid":64000.5,"ask":64001.0,"ts":17123}` + "\x00")
	subscribeFrame = []byte("SUBSCRIBE\r\nid:sub-0\r\ndestination:/topic/prices.*\r\nack:auto\r\n\r\n\x00\n")
)

func TestParseDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	for name, in := range map[string][]byte{"SEND": sendFrame, "SUBSCRIBE": subscribeFrame} {
		var p Parser
		work := make([]byte, len(in))
		frames := 0
		fn := func(f *Frame) error {
			if _, ok := f.Get("destination"); !ok {
				t.Fatal("no destination")
			}
			frames++
			return nil
		}
		beat := func() {}
		if n := testing.AllocsPerRun(500, func() {
			copy(work, in)
			if err := p.Feed(work, fn, beat); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocs per Feed, want 0", name, n)
		}
		if frames == 0 || p.Buffered() != 0 {
			t.Fatalf("%s: %d frames, %d bytes buffered", name, frames, p.Buffered())
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{
		{"SEND", sendFrame},
		{"SUBSCRIBE", subscribeFrame},
		{"SEND/64KiB", append(append([]byte("SEND\ndestination:/topic/a\n\n"), bytes.Repeat([]byte("z"), 64<<10)...), 0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var p Parser
			defer p.Reset()
			work := make([]byte, len(bc.in))
			fn := func(*Frame) error { return nil }
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, bc.in)
				if err := p.Feed(work, fn, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("SEND/split", func(b *testing.B) {
		var p Parser
		defer p.Reset()
		work := make([]byte, len(sendFrame))
		fn := func(*Frame) error { return nil }
		half := len(sendFrame) / 2
		b.SetBytes(int64(len(sendFrame)))
		b.ReportAllocs()
		for b.Loop() {
			copy(work, sendFrame)
			if err := p.Feed(work[:half], fn, nil); err != nil {
				b.Fatal(err)
			}
			if err := p.Feed(work[half:], fn, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
