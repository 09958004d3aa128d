package stomp

import (
	"fmt"
	"testing"
)

// codecTests is shared by the encoder and the parser: encoding the frame must
// give wire, and parsing wire must give the frame back.
var codecTests = []struct {
	name    string
	cmd     Command
	raw     bool     // headers without escaping (CONNECT, STOMP, CONNECTED)
	headers []string // name, value pairs
	length  bool     // add content-length
	body    string
	wire    string
}{
	{"CONNECTED", CmdConnected, true, []string{"version", "1.2", "server", `c1m\1`, "heart-beat", "0,10000"}, false, "",
		"CONNECTED\nversion:1.2\nserver:c1m\\1\nheart-beat:0,10000\n\n\x00"},
	{"CONNECT", CmdConnect, true, []string{"accept-version", "1.2", "host", "h:1"}, false, "",
		"CONNECT\naccept-version:1.2\nhost:h:1\n\n\x00"},
	{"MESSAGE", CmdMessage, false, []string{"subscription", "0", "message-id", "1", "destination", "/topic/a:b"}, true, `{"x":1}`,
		"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/a\\cb\ncontent-length:7\n\n{\"x\":1}\x00"},
	{"MESSAGE NUL body", CmdMessage, false, []string{"destination", "/b"}, true, "\x00\x00",
		"MESSAGE\ndestination:/b\ncontent-length:2\n\n\x00\x00\x00"},
	{"ERROR", CmdError, false, []string{"message", "bad escape", "receipt-id", "line1\nline2\r\\"}, true, "undefined escape sequence",
		"ERROR\nmessage:bad escape\nreceipt-id:line1\\nline2\\r\\\\\ncontent-length:25\n\nundefined escape sequence\x00"},
	{"RECEIPT", CmdReceipt, false, []string{"receipt-id", "77"}, false, "", "RECEIPT\nreceipt-id:77\n\n\x00"},
	{"escaped name", CmdSend, false, []string{"a:b\n", "c"}, false, "x", "SEND\na\\cb\\n:c\n\nx\x00"},
}

func encodeCase(cmd Command, raw bool, headers []string, length bool, body string) []byte {
	b := AppendCommand(nil, cmd)
	for i := 0; i < len(headers); i += 2 {
		if raw {
			b = AppendHeaderRaw(b, headers[i], headers[i+1])
		} else if i%4 == 0 {
			b = AppendHeader(b, headers[i], headers[i+1])
		} else {
			b = AppendHeaderBytes(b, headers[i], []byte(headers[i+1]))
		}
	}
	if length {
		b = AppendHeaderUint(b, "content-length", uint64(len(body)))
	}
	return AppendBody(b, []byte(body))
}

func TestCodecTable(t *testing.T) {
	for _, tc := range codecTests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeCase(tc.cmd, tc.raw, tc.headers, tc.length, tc.body)
			if string(b) != tc.wire {
				t.Fatalf("encoded %q\nwant    %q", b, tc.wire)
			}
			headers := tc.headers
			if tc.length {
				headers = append(headers[:len(headers):len(headers)], "content-length", fmt.Sprint(len(tc.body)))
			}
			want := []event{frame(tc.cmd, tc.body, headers...)}
			got := checkSplits(t, Limits{}, b)
			if got.err != nil || fmt.Sprint(got.events) != fmt.Sprint(want) {
				t.Fatalf("parsed %v\nwant   %v", got, want)
			}
		})
	}
}

func TestCommandString(t *testing.T) {
	for c := CmdConnect; c <= CmdError; c++ {
		s := c.String()
		if lookupCommand([]byte(s)) != c {
			t.Errorf("%d: %q does not parse back", c, s)
		}
		if got := string(AppendCommand([]byte("x"), c)); got != "x"+s+"\n" {
			t.Errorf("AppendCommand(%v) = %q", c, got)
		}
		if len(s) > maxCommandLen {
			t.Errorf("%q is longer than maxCommandLen", s)
		}
	}
	if CmdUnknown.String() != "UNKNOWN" || Command(99).String() != "Command(99)" {
		t.Errorf("%q %q", CmdUnknown.String(), Command(99).String())
	}
	for c := CmdUnknown; c <= CmdError+1; c++ {
		want := c == CmdSend || c == CmdMessage || c == CmdError
		if c.BodyAllowed() != want {
			t.Errorf("%v.BodyAllowed() = %v", c, !want)
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain/topic.a", "plain/topic.a"},
		{":", `\c`},
		{"\n", `\n`},
		{"\r", `\r`},
		{`\`, `\\`},
		{"a:b\r\nc\\d", `a\cb\r\nc\\d`},
		{`\n`, `\\n`},
		{"é:€", `é\c€`},
	}
	for _, tc := range tests {
		if got := string(AppendEscaped([]byte("<"), tc.in)); got != "<"+tc.want {
			t.Errorf("AppendEscaped(%q) = %q, want %q", tc.in, got, "<"+tc.want)
		}
		if got := string(AppendHeaderBytes(nil, "n", []byte(tc.in))); got != "n:"+tc.want+"\n" {
			t.Errorf("AppendHeaderBytes(%q) = %q", tc.in, got)
		}
	}
	if got := string(AppendHeaderUint(nil, "content-length", 18446744073709551615)); got != "content-length:18446744073709551615\n" {
		t.Errorf("AppendHeaderUint = %q", got)
	}
	if got := string(AppendBody(nil, nil)); got != "\n\x00" {
		t.Errorf("AppendBody(nil) = %q", got)
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 512)
	value := []byte("/topic/a:b")
	body := []byte(`{"bid":1}`)
	if n := testing.AllocsPerRun(200, func() {
		b := AppendCommand(buf[:0], CmdMessage)
		b = AppendHeader(b, "destination", "/topic/prices:btc")
		b = AppendHeaderBytes(b, "subscription", value)
		b = AppendHeaderRaw(b, "server", "c1m")
		b = AppendHeaderUint(b, "content-length", uint64(len(body)))
		b = AppendEscaped(b, "x\n")
		b = AppendBody(b, body)
		buf = b
	}); n != 0 {
		t.Errorf("%v allocs per encoded frame, want 0", n)
	}
}

func BenchmarkEncodeMessage(b *testing.B) {
	buf := make([]byte, 0, 512)
	body := []byte(`{"bid":64000.5,"ask":64001.0,"ts":17123}`)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCommand(buf[:0], CmdMessage)
		buf = AppendHeader(buf, "subscription", "sub-0")
		buf = AppendHeaderUint(buf, "message-id", 123456)
		buf = AppendHeader(buf, "destination", "/topic/prices.btc")
		buf = AppendHeaderUint(buf, "content-length", uint64(len(body)))
		buf = AppendBody(buf, body)
	}
}
