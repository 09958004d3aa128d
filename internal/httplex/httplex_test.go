package httplex

import "testing"

func TestParseRequestLine(t *testing.T) {
	for _, tc := range []struct {
		line, method, target string
		major, minor         byte
		ok                   bool
	}{
		{"GET /ws?x=1 HTTP/1.1", "GET", "/ws?x=1", 1, 1, true},
		{"POST http://h/p HTTP/1.0", "POST", "http://h/p", 1, 0, true},
		{"GET /ws HTTP/1.1 ", "", "", 0, 0, false},
		{"GET  /ws HTTP/1.1", "", "", 0, 0, false},
		{"G(T /ws HTTP/1.1", "", "", 0, 0, false},
		{"GET /w\x01s HTTP/1.1", "", "", 0, 0, false},
		{"GET /ws HTTP/11", "", "", 0, 0, false},
		{"GET /ws", "", "", 0, 0, false},
	} {
		m, tg, major, minor, ok := ParseRequestLine([]byte(tc.line))
		if ok != tc.ok || string(m) != tc.method || string(tg) != tc.target || major != tc.major || minor != tc.minor {
			t.Errorf("%q: %q %q %d.%d %v", tc.line, m, tg, major, minor, ok)
		}
	}
}

func TestHeaderLineAndLists(t *testing.T) {
	n, v, ok := ParseHeaderLine([]byte("Connection: \t keep-alive, Upgrade \t"))
	if !ok || string(n) != "Connection" || string(v) != "keep-alive, Upgrade" {
		t.Fatalf("%q %q %v", n, v, ok)
	}
	for _, bad := range []string{": x", "Na me: x", "Name : x", "Name: a\x00b"} {
		if _, _, ok := ParseHeaderLine([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if !HasToken(v, "upgrade") || HasToken(v, "close") {
		t.Error("HasToken")
	}
	if !EqualFold([]byte("WebSocket"), "websocket") || EqualFold([]byte("websockets"), "websocket") {
		t.Error("EqualFold")
	}
}

func TestCutLineAndSplitTarget(t *testing.T) {
	line, rest, ok := CutLine([]byte("a\r\nb\nc"))
	if !ok || string(line) != "a" || string(rest) != "b\nc" {
		t.Fatalf("%q %q %v", line, rest, ok)
	}
	if _, _, ok := CutLine([]byte("no end")); ok {
		t.Fatal("a line without LF")
	}
	for target, want := range map[string][2]string{
		"/p?q=1":       {"/p", "q=1"},
		"/p":           {"/p", ""},
		"http://h/p?q": {"/p", "q"},
		"http://h":     {"/", ""},
		"http://h?q":   {"/", "q"},
		"*":            {"*", ""},
	} {
		p, q := SplitTarget([]byte(target))
		if string(p) != want[0] || string(q) != want[1] {
			t.Errorf("%q: %q %q", target, p, q)
		}
	}
}
