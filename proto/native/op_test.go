package native

import (
	"strings"
	"testing"
)

func TestDecodeOp(t *testing.T) {
	cases := []struct {
		in   string
		id   string // echoed id
		code int    // 0: no error
		msg  string
	}{
		{`{"op":"sub","id":1,"topics":["md.A","md.*"],"conflate":true,"maxRate":2.5,"since":{"md.A":{"epoch":"e","seq":3}}}`, "1", 0, ""},
		{`{"op":"ping","id":"x"}`, `"x"`, 0, ""},
		{`{"op":"ping","id":null}`, "", 0, ""},
		{`{"OP":"ping"}`, "", 0, ""}, // field names match case-insensitively, as in encoding/json
		{`{"op":"sub","id":12,"topics":"md.AAPL.quote"}`, "12", 400, `"topics" must be an array of strings, got a string`},
		{`{"op":"sub","id":2,"topics":[1]}`, "2", 400, `"topics"[0] must be a string, got a number`},
		{`{"op":"pub","id":3,"topic":["a"]}`, "3", 400, `"topic" must be a string, got an array`},
		{`{"op":"sub","id":4,"conflate":1}`, "4", 400, `"conflate" must be true or false, got a number`},
		{`{"op":"sub","id":5,"maxRate":"fast"}`, "5", 400, `"maxRate" must be a number >= 0 (deliveries per second per topic), got "fast"`},
		{`{"op":"sub","id":6,"since":{"md.A":{"seq":-1}}}`, "6", 400, `"since" must be an object mapping topics to {"epoch":"...","seq":N}: "seq" is the number -1`},
		{`{"op":"sub","id":7,"since":[]}`, "7", 400, `"since" must be an object`},
		{`{"op":true,"id":8}`, "8", 400, `"op" must be a string, got a boolean`},
		{`{"id":[1]}`, "", 400, `"id" must be a number or a string, got an array`},
		{`[1,2]`, "", 400, "a message must be a JSON object such as {\"op\":\"ping\"}, got an array"},
		{`"hi"`, "", 400, "got a string"},
		{`{"op":`, "", 400, "invalid JSON at byte"},
		{`nonsense`, "", 400, "invalid JSON at byte 2: invalid character 'o' in literal null (expecting 'u')"},
	}
	for _, tc := range cases {
		var m clientOp
		err := decodeOp([]byte(tc.in), &m)
		if string(m.ID) != tc.id {
			t.Errorf("%s: id %q, want %q", tc.in, m.ID, tc.id)
		}
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: unexpected error %v", tc.in, err)
		case tc.code != 0 && (err == nil || err.Code != tc.code || !strings.Contains(err.Msg, tc.msg)):
			t.Errorf("%s: got %v, want %d containing %q", tc.in, err, tc.code, tc.msg)
		}
		if err != nil && strings.ContainsAny(err.Msg, "\x00") || err != nil && strings.Contains(err.Msg, "Go ") {
			t.Errorf("%s: message leaks internals: %s", tc.in, err.Msg)
		}
	}
}

func TestAppendStringKeepsWildcardsReadable(t *testing.T) {
	got := string(appendString(nil, "md.> <&> \"q\" \\ \n\x01\u2028\xff"))
	want := `"md.> <&> \"q\" \\ \n\u0001\u2028` + "\ufffd\""
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestParseBinaryPublish(t *testing.T) {
	topic, payload, err := parseBinaryPublish(append([]byte{1, 4}, "md.Axyz"...))
	if err != nil || topic != "md.A" || string(payload) != "xyz" {
		t.Fatalf("got %q %q %v", topic, payload, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1, 'a'}, {1, 9, 'a'}, {1, 0x80, 0x80, 0x80, 0x01}} {
		if _, _, err := parseBinaryPublish(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
