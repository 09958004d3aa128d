package sockjs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/proto/sockjs"
)

const noCache = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

func TestInfo(t *testing.T) {
	r := newRig(t, sockjs.Config{WebSocket: true})
	st, h, body := r.do(t, "GET", prefix+"/info", "")
	if st != 200 {
		t.Fatalf("GET /info: %d", st)
	}
	checkHeader(t, "info", h, "Content-Type", "application/json; charset=UTF-8", "Cache-Control", noCache,
		"Access-Control-Allow-Origin", "*", "Access-Control-Allow-Credentials", "true")
	var info struct {
		WebSocket    bool     `json:"websocket"`
		CookieNeeded bool     `json:"cookie_needed"`
		Origins      []string `json:"origins"`
		Entropy      *uint32  `json:"entropy"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || !info.WebSocket || info.CookieNeeded ||
		len(info.Origins) != 1 || info.Origins[0] != "*:*" || info.Entropy == nil {
		t.Fatalf("info %s (%v)", body, err)
	}
	_, h, _ = r.do(t, "GET", prefix+"/info", "", "Origin: http://example.com")
	checkHeader(t, "info with Origin", h, "Access-Control-Allow-Origin", "http://example.com", "Access-Control-Allow-Credentials", "true")

	st, h, _ = r.do(t, "OPTIONS", prefix+"/info", "", "Origin: http://example.com", "Access-Control-Request-Headers: a, b")
	if st != 204 {
		t.Fatalf("OPTIONS /info: %d", st)
	}
	checkHeader(t, "OPTIONS /info", h, "Access-Control-Allow-Methods", "OPTIONS, GET", "Cache-Control", "public, max-age=31536000",
		"Access-Control-Max-Age", "31536000", "Access-Control-Allow-Origin", "http://example.com", "Access-Control-Allow-Headers", "a, b")
	if exp, err := http.ParseTime(h.Get("Expires")); err != nil || time.Until(exp) < 364*24*time.Hour {
		t.Errorf("Expires %q", h.Get("Expires"))
	}
	// A page with an opaque origin (sandboxed, file:) sends "Origin: null",
	// which is echoed (with credentials, "*" would be refused).
	_, h, _ = r.do(t, "OPTIONS", prefix+"/info", "", "Origin: null")
	checkHeader(t, "OPTIONS /info, Origin null", h, "Access-Control-Allow-Origin", "null", "Access-Control-Allow-Credentials", "true")
	if st, _, _ := r.do(t, "POST", prefix+"/info", ""); st != 405 {
		t.Errorf("POST /info: %d, want 405", st)
	}
}

func TestWelcomeAndNotFound(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	for _, p := range []string{prefix, prefix + "/"} {
		st, h, body := r.do(t, "GET", p, "")
		if st != 200 || body != "Welcome to SockJS!\n" || h.Get("Content-Type") != "text/plain; charset=UTF-8" {
			t.Errorf("GET %s: %d %q", p, st, body)
		}
	}
	for _, p := range []string{"/a/b/nope", "/a./b/xhr", "/a/b./xhr", "//b/xhr", "/a//xhr", "/a/b/xhr/x", "/xhr", "/a/xhr", "/iframe-a/b.html", "/infox"} {
		if st, _, _ := r.do(t, "POST", prefix+p, ""); st != 404 {
			t.Errorf("POST %s: %d, want 404", p, st)
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/a/b/xhr", "OPTIONS, POST"},
		{"GET", "/a/b/xhr_send", "OPTIONS, POST"},
		{"POST", "/a/b/eventsource", "GET"},
		{"POST", "/a/b/htmlfile", "GET"},
		{"POST", "/a/b/jsonp", "GET"},
		{"GET", "/a/b/jsonp_send", "POST"},
	} {
		st, h, _ := r.do(t, c.method, prefix+c.path, "")
		if st != 405 || h.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 %q", c.method, c.path, st, h.Get("Allow"), c.allow)
		}
	}
}

func TestIframe(t *testing.T) {
	r := newRig(t, sockjs.Config{WebSocket: true})
	var etag string
	for _, p := range []string{"/iframe.html", "/iframe-1.6.1.html", "/iframe-a1b2c3.html"} {
		st, h, body := r.do(t, "GET", prefix+p, "")
		if st != 200 {
			t.Fatalf("GET %s: %d", p, st)
		}
		checkHeader(t, p, h, "Content-Type", "text/html; charset=UTF-8", "Cache-Control", "public, max-age=31536000")
		if h.Get("Expires") == "" || h.Get("ETag") == "" {
			t.Errorf("%s: no Expires or ETag", p)
		}
		if etag != "" && h.Get("ETag") != etag {
			t.Errorf("%s: ETag %q differs from %q", p, h.Get("ETag"), etag)
		}
		etag = h.Get("ETag")
		if !strings.Contains(body, `<script src="/vendor/sockjs.min.js"></script>`) || !strings.Contains(body, "SockJS.bootstrap_iframe()") ||
			!strings.Contains(body, "<p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>") { // the protocol suite compares the page
			t.Errorf("%s: page %q", p, body)
		}
	}
	st, h, body := r.do(t, "GET", prefix+"/iframe.html", "", "If-None-Match: "+etag)
	if st != 304 || body != "" || h.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d %q", st, body)
	}
	r2 := newRig(t, sockjs.Config{ClientURL: "/static/sockjs-1.6.1.js"})
	if _, _, body := r2.do(t, "GET", prefix+"/iframe.html", ""); !strings.Contains(body, `src="/static/sockjs-1.6.1.js"`) {
		t.Errorf("ClientURL not used: %q", body)
	}
}

func TestXHRPolling(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("poll")
	st, h, body := r.do(t, "POST", u+"/xhr", "", "Origin: http://a.test")
	if st != 200 || body != "o\n" {
		t.Fatalf("first poll: %d %q", st, body)
	}
	checkHeader(t, "xhr", h, "Content-Type", "application/javascript; charset=UTF-8", "Cache-Control", noCache,
		"Access-Control-Allow-Origin", "http://a.test", "Access-Control-Allow-Credentials", "true")
	st, h, body = r.do(t, "POST", u+"/xhr_send", `["a","b\"c"]`)
	if st != 204 || body != "" {
		t.Fatalf("xhr_send: %d %q", st, body)
	}
	checkHeader(t, "xhr_send", h, "Content-Type", "text/plain; charset=UTF-8", "Access-Control-Allow-Origin", "*", "Cache-Control", noCache)
	if _, _, body = r.do(t, "POST", u+"/xhr", ""); body != `a["a","b\"c"]`+"\n" {
		t.Fatalf("poll: %q", body)
	}
	// A held poll is answered by the next message.
	c := r.dial(t)
	c.send("POST", u+"/xhr", "")
	testutil.WaitFor(t, 5*time.Second, "the poll held", func() bool {
		st, _, _ := r.do(t, "POST", u+"/xhr_send", `["x"]`)
		return st == 204
	})
	st, h = c.head()
	if body := c.body(h); st != 200 || !strings.HasPrefix(body, `a["x"`) {
		t.Fatalf("held poll: %d %q", st, body)
	}
	st, h, _ = r.do(t, "OPTIONS", u+"/xhr", "")
	if st != 204 || h.Get("Access-Control-Allow-Methods") != "OPTIONS, POST" || h.Get("Cache-Control") != "public, max-age=31536000" {
		t.Fatalf("OPTIONS xhr: %d %v", st, h)
	}
	for _, tr := range []string{"xhr_send", "xhr_streaming"} {
		if st, h, _ := r.do(t, "OPTIONS", u+"/"+tr, ""); st != 204 || h.Get("Access-Control-Allow-Methods") != "OPTIONS, POST" {
			t.Errorf("OPTIONS %s: %d", tr, st)
		}
	}
}

func TestSendErrors(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("err")
	r.do(t, "POST", u+"/xhr", "")
	for _, c := range []struct{ body, want string }{
		{"", "Payload expected."},
		{"  ", "Payload expected."},
		{`["a"`, "Broken JSON encoding."},
		{`[1]`, "Broken JSON encoding."},
		{`"a"`, "Broken JSON encoding."},
		{`{"a":1}`, "Broken JSON encoding."},
		{`["a"] x`, "Broken JSON encoding."},
		{`["\ud800"]`, "Broken JSON encoding."},
		{"[\"\xff\"]", "Broken JSON encoding."},
	} {
		st, _, body := r.do(t, "POST", u+"/xhr_send", c.body)
		if st != 500 || body != c.want {
			t.Errorf("xhr_send %q: %d %q, want 500 %q", c.body, st, body, c.want)
		}
		st, _, body = r.do(t, "POST", u+"/jsonp_send", c.body)
		if st != 500 || body != c.want {
			t.Errorf("jsonp_send %q: %d %q, want 500 %q", c.body, st, body, c.want)
		}
	}
	if st, _, body := r.do(t, "POST", u+"/jsonp_send", "d=", "Content-Type: application/x-www-form-urlencoded"); st != 500 || body != "Payload expected." {
		t.Errorf("jsonp_send d=: %d %q", st, body)
	}
	if st, _, _ := r.do(t, "POST", sess("nobody")+"/xhr_send", `["x"]`); st != 404 {
		t.Errorf("xhr_send to an unknown session: %d, want 404", st)
	}
	if st, _, _ := r.do(t, "POST", sess("nobody")+"/jsonp_send", `["x"]`); st != 404 {
		t.Errorf("jsonp_send to an unknown session: %d, want 404", st)
	}
	// Nothing got through; the session is fine.
	r.rec.mu.Lock()
	n := len(r.rec.msgs)
	r.rec.mu.Unlock()
	if n != 0 {
		t.Errorf("%d messages delivered from bad sends", n)
	}
	if st, _, _ := r.do(t, "POST", u+"/xhr_send", `["ok"]`); st != 204 {
		t.Errorf("good send after bad ones: %d", st)
	}
}

func TestJSONP(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("jp")
	st, h, body := r.do(t, "GET", u+"/jsonp?c=_jp.a1_b", "")
	if st != 200 || body != "/**/_jp.a1_b(\"o\");\r\n" {
		t.Fatalf("jsonp: %d %q", st, body)
	}
	checkHeader(t, "jsonp", h, "Content-Type", "application/javascript; charset=UTF-8", "Cache-Control", noCache)
	st, _, body = r.do(t, "POST", u+"/jsonp_send", "d=%5B%22x%3C%2Fscript%3E%22%5D", "Content-Type: application/x-www-form-urlencoded")
	if st != 200 || body != "ok" {
		t.Fatalf("jsonp_send form: %d %q", st, body)
	}
	if st, _, body := r.do(t, "POST", u+"/jsonp_send", `["y"]`, "Content-Type: text/plain"); st != 200 || body != "ok" {
		t.Fatalf("jsonp_send raw: %d %q", st, body)
	}
	_, _, body = r.do(t, "GET", u+"/jsonp?c=cb", "")
	if want := `/**/cb("a[\"x\u003c/script\u003e\",\"y\"]");` + "\r\n"; body != want {
		t.Fatalf("jsonp messages %q, want %q", body, want)
	}
	for _, c := range []struct{ q, want string }{
		{"", `"callback" parameter required`},
		{"?c=", `"callback" parameter required`},
		{"?c=a%20b", `invalid "callback" parameter`},
		{"?c=alert(1)", `invalid "callback" parameter`},
		{"?c=a-b", `invalid "callback" parameter`},
	} {
		st, _, body := r.do(t, "GET", sess("cb")+"/jsonp"+c.q, "")
		if st != 500 || body != c.want {
			t.Errorf("jsonp%s: %d %q, want 500 %q", c.q, st, body, c.want)
		}
		st, _, body = r.do(t, "GET", sess("cb")+"/htmlfile"+c.q, "")
		if st != 500 || body != c.want {
			t.Errorf("htmlfile%s: %d %q, want 500 %q", c.q, st, body, c.want)
		}
	}
	if r.srv.Sessions() != 1 {
		t.Errorf("%d sessions: a refused callback must not open one", r.srv.Sessions())
	}
}

func TestXHRStreaming(t *testing.T) {
	r := newRig(t, sockjs.Config{ResponseLimit: 4096})
	u := sess("xs")
	c := r.dial(t)
	c.send("POST", u+"/xhr_streaming", "", "Origin: http://a.test")
	st, h := c.head()
	if st != 200 || h.Get("Transfer-Encoding") != "chunked" {
		t.Fatalf("xhr_streaming: %d %v", st, h)
	}
	checkHeader(t, "xhr_streaming", h, "Content-Type", "application/javascript; charset=UTF-8", "Cache-Control", noCache,
		"Access-Control-Allow-Origin", "http://a.test")
	c.expectChunk(strings.Repeat("h", 2048) + "\n")
	c.expectChunk("o\n")
	r.do(t, "POST", u+"/xhr_send", `["a"]`)
	c.expectChunk(`a["a"]` + "\n")
	// 1000-byte messages: the response ends past 4096 bytes of frames, the
	// rest waits for the next request.
	big := strings.Repeat("x", 1000)
	for i := 0; i < 6; i++ {
		r.do(t, "POST", u+"/xhr_send", `["`+big+`"]`)
	}
	got := 0
	for {
		f, more := c.chunk()
		if !more {
			break
		}
		if f != `a["`+big+`"]`+"\n" {
			t.Fatalf("frame %q", trunc(f))
		}
		got++
	}
	if got != 5 {
		t.Fatalf("%d frames before the response ended, want 5 (2+7+1007*5 >= 4096)", got)
	}
	c2 := r.dial(t)
	c2.send("POST", u+"/xhr_streaming", "")
	c2.head()
	c2.expectChunk(strings.Repeat("h", 2048) + "\n")
	c2.expectChunk(`a["` + big + `"]` + "\n")
	if r.srv.Sessions() != 1 {
		t.Fatalf("%d sessions", r.srv.Sessions())
	}

	// The limit counts SockJS bytes, not the HTTP chunk framing (the
	// protocol suite's case): 2 + 31*134 = 4156 is the first sum past 4096,
	// so all 31 frames of 128-byte messages come on the first response.
	u = sess("xs31")
	c = r.dial(t)
	c.send("POST", u+"/xhr_streaming", "")
	c.head()
	c.expectChunk(strings.Repeat("h", 2048) + "\n")
	c.expectChunk("o\n")
	msg := strings.Repeat("x", 128)
	for i := 0; i < 31; i++ {
		r.do(t, "POST", u+"/xhr_send", `["`+msg+`"]`)
	}
	for i := 0; i < 31; i++ {
		c.expectChunk(`a["` + msg + `"]` + "\n")
	}
	if f, more := c.chunk(); more {
		t.Fatalf("after 31 frames: %q, want the end of the response", trunc(f))
	}
}

func TestEventSource(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("es")
	c := r.dial(t)
	c.send("GET", u+"/eventsource", "")
	st, h := c.head()
	if st != 200 {
		t.Fatalf("eventsource %d", st)
	}
	checkHeader(t, "eventsource", h, "Content-Type", "text/event-stream", "Cache-Control", noCache)
	c.expectChunk("\r\n")
	c.expectChunk("data: o\r\n\r\n")
	r.do(t, "POST", u+"/xhr_send", `["a\nb","\u2028"]`)
	c.expectChunk(`data: a["a\nb"]` + "\r\n\r\n")
	c.expectChunk(`data: a["\u2028"]` + "\r\n\r\n")
}

func TestHTMLFile(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("hf")
	c := r.dial(t)
	c.send("GET", u+"/htmlfile?c=_jp.cb1", "")
	st, h := c.head()
	if st != 200 {
		t.Fatalf("htmlfile %d", st)
	}
	checkHeader(t, "htmlfile", h, "Content-Type", "text/html; charset=UTF-8", "Cache-Control", noCache)
	page, _ := c.chunk()
	if len(page) < 1024 || !strings.Contains(page, "var c = parent._jp.cb1;") || !strings.HasSuffix(page, "\r\n\r\n") {
		t.Fatalf("page (%d bytes) %q", len(page), page)
	}
	c.expectChunk("<script>\np(\"o\");\n</script>\r\n")
	r.do(t, "POST", u+"/xhr_send", `["</script>"]`)
	c.expectChunk("<script>\np(\"a[\\\"\\u003c/script\\u003e\\\"]\");\n</script>\r\n")
}

func TestSecondReceiver(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("two")
	c1 := r.dial(t)
	c1.send("POST", u+"/xhr_streaming", "")
	c1.head()
	c1.expectChunk(strings.Repeat("h", 2048) + "\n")
	c1.expectChunk("o\n")
	c2 := r.dial(t)
	c2.send("POST", u+"/xhr_streaming", "")
	c2.head()
	c2.expectChunk(strings.Repeat("h", 2048) + "\n")
	c2.expectChunk(`c[2010,"Another connection still open"]` + "\n")
	c2.expectEnd()
	st, _, body := r.do(t, "POST", u+"/xhr", "")
	if st != 200 || body != `c[2010,"Another connection still open"]`+"\n" {
		t.Fatalf("a poll beside the stream: %d %q", st, body)
	}
	r.do(t, "POST", u+"/xhr_send", `["still"]`)
	c1.expectChunk(`a["still"]` + "\n")
}

func TestAbortClosesSession(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("abort")
	c1 := r.dial(t)
	c1.send("POST", u+"/xhr_streaming", "")
	c1.head()
	c1.expectChunk(strings.Repeat("h", 2048) + "\n")
	c1.expectChunk("o\n")
	c1.c.Close()
	testutil.WaitFor(t, 5*time.Second, "the session closed", func() bool { return r.srv.Closes(sockjs.ReasonInterrupted) == 1 })
	c2 := r.dial(t)
	c2.send("POST", u+"/xhr_streaming", "")
	c2.head()
	c2.expectChunk(strings.Repeat("h", 2048) + "\n")
	c2.expectChunk(`c[1002,"Connection interrupted"]` + "\n")
	c2.expectEnd()
	testutil.WaitFor(t, 5*time.Second, "Closed called", func() bool { _, closed := r.rec.counts(); return closed == 1 })
}

// TestAbortThenAtOnce: a client that drops its receiving request and sends
// the next one at once (the protocol suite's HandlingClose) gets the
// interrupted session, never "Another connection still open" for a
// connection that is already gone, however quickly it comes.
func TestAbortThenAtOnce(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	for i := range 50 {
		u := sess("again" + strconv.Itoa(i))
		c1 := r.dial(t)
		c1.send("POST", u+"/xhr_streaming", "")
		c1.head()
		c1.expectChunk(strings.Repeat("h", 2048) + "\n")
		c1.expectChunk("o\n")
		c1.c.Close()
		c2 := r.dial(t) // no wait: the reactor may not have seen c1 go
		c2.send("POST", u+"/xhr_streaming", "")
		c2.head()
		c2.expectChunk(strings.Repeat("h", 2048) + "\n")
		c2.expectChunk(`c[1002,"Connection interrupted"]` + "\n")
		c2.expectEnd()
	}
}

func TestSessionTimeout(t *testing.T) {
	r := newRig(t, sockjs.Config{DisconnectDelay: 100 * time.Millisecond})
	u := sess("gone")
	if _, _, body := r.do(t, "POST", u+"/xhr", ""); body != "o\n" {
		t.Fatalf("open: %q", body)
	}
	if r.srv.Sessions() != 1 {
		t.Fatalf("%d sessions", r.srv.Sessions())
	}
	// The client polls no more: the session is reaped, counted, forgotten.
	testutil.WaitFor(t, 5*time.Second, "the timeout", func() bool { return r.srv.Closes(sockjs.ReasonTimeout) == 1 })
	if r.srv.Sessions() != 0 {
		t.Fatalf("%d sessions after the timeout", r.srv.Sessions())
	}
	if opened, closed := r.rec.counts(); opened != 1 || closed != 1 {
		t.Fatalf("Open %d, Closed %d", opened, closed)
	}
	if st, _, _ := r.do(t, "POST", u+"/xhr_send", `["x"]`); st != 404 {
		t.Fatalf("send after the timeout: %d, want 404", st)
	}
	// A session with a receiving request does not time out.
	c := r.dial(t)
	c.send("POST", sess("stays")+"/xhr_streaming", "")
	c.head()
	c.expectChunk(strings.Repeat("h", 2048) + "\n")
	c.expectChunk("o\n")
	// A session opened after it, with no receiving request, times out:
	// by then the one with the open stream would have too.
	if _, _, body := r.do(t, "POST", sess("later")+"/xhr", ""); body != "o\n" {
		t.Fatalf("open: %q", body)
	}
	testutil.WaitFor(t, 5*time.Second, "the later session's timeout", func() bool { return r.srv.Closes(sockjs.ReasonTimeout) == 2 })
	if n := r.srv.Sessions(); n != 1 {
		t.Fatalf("%d sessions, want the one with the open stream", n)
	}
}

func TestHeartbeat(t *testing.T) {
	r := newRig(t, sockjs.Config{Heartbeat: 50 * time.Millisecond})
	c := r.dial(t)
	c.send("POST", sess("hb")+"/xhr_streaming", "")
	c.head()
	c.expectChunk(strings.Repeat("h", 2048) + "\n")
	c.expectChunk("o\n")
	c.expectChunk("h\n")
	c.expectChunk("h\n")
	// A held poll is answered by the heart-beat.
	r.do(t, "POST", sess("hbp")+"/xhr", "")
	if _, _, body := r.do(t, "POST", sess("hbp")+"/xhr", ""); body != "h\n" {
		t.Fatalf("poll: %q, want the heart-beat", body)
	}
}

func TestCloseService(t *testing.T) {
	r := newRig(t, sockjs.Config{Protocol: sockjs.Closer{}})
	u := sess("c")
	if _, _, body := r.do(t, "POST", u+"/xhr", ""); body != "o\n" {
		t.Fatalf("first poll %q", body)
	}
	if _, _, body := r.do(t, "POST", u+"/xhr", ""); body != `c[3000,"Go away!"]`+"\n" {
		t.Fatalf("second poll %q", body)
	}
	c := r.dial(t)
	c.send("POST", sess("c2")+"/xhr_streaming", "")
	c.head()
	c.expectChunk(strings.Repeat("h", 2048) + "\n")
	c.expectChunk("o\n")
	c.expectChunk(`c[3000,"Go away!"]` + "\n")
	c.expectEnd()
}

func TestCookie(t *testing.T) {
	r := newRig(t, sockjs.Config{CookieNeeded: true})
	_, _, body := r.do(t, "GET", prefix+"/info", "")
	if !strings.Contains(body, `"cookie_needed":true`) {
		t.Fatalf("info %s", body)
	}
	_, h, _ := r.do(t, "POST", sess("k")+"/xhr", "")
	if got := h.Get("Set-Cookie"); got != "JSESSIONID=dummy; path=/" {
		t.Errorf("Set-Cookie %q", got)
	}
	_, h, _ = r.do(t, "POST", sess("k")+"/xhr_send", `["x"]`, "Cookie: a=b; JSESSIONID=abcde")
	if got := h.Get("Set-Cookie"); got != "JSESSIONID=abcde; path=/" {
		t.Errorf("Set-Cookie %q", got)
	}
	r2 := newRig(t, sockjs.Config{})
	if _, h, _ := r2.do(t, "POST", sess("k")+"/xhr", ""); h.Get("Set-Cookie") != "" {
		t.Errorf("Set-Cookie without CookieNeeded: %q", h.Get("Set-Cookie"))
	}
}

func dialWS(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readWS(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWebSocket(t *testing.T) {
	r := newRig(t, sockjs.Config{WebSocket: true})
	c := dialWS(t, "ws://"+r.addr+sess("ws")+"/websocket")
	if f := readWS(t, c); f != "o" {
		t.Fatalf("open %q", f)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`["a","b"]`))
	if f := readWS(t, c); f != `a["a"]` {
		t.Fatalf("echo %q", f)
	}
	if f := readWS(t, c); f != `a["b"]` {
		t.Fatalf("echo %q", f)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`"single"`))
	if f := readWS(t, c); f != `a["single"]` {
		t.Fatalf("echo %q", f)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`["broken`))
	if f := readWS(t, c); f != `c[1002,"Broken framing."]` {
		t.Fatalf("broken framing: %q", f)
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("the connection stays open after broken framing")
	}
	testutil.WaitFor(t, 5*time.Second, "counted", func() bool { return r.srv.Closes(sockjs.ReasonBrokenFraming) == 1 })

	// Two websockets with one session id are two sessions (as sockjs-node
	// and the protocol's suite have it: a reconnecting client reuses its URL).
	c1 := dialWS(t, "ws://"+r.addr+sess("ws2")+"/websocket")
	readWS(t, c1)
	c2 := dialWS(t, "ws://"+r.addr+sess("ws2")+"/websocket")
	if f := readWS(t, c2); f != "o" {
		t.Fatalf("second websocket %q", f)
	}
	_ = c1.WriteMessage(websocket.TextMessage, []byte(`["one"]`))
	_ = c2.WriteMessage(websocket.TextMessage, []byte(`["two"]`))
	if f := readWS(t, c1); f != `a["one"]` {
		t.Fatalf("first websocket %q", f)
	}
	if f := readWS(t, c2); f != `a["two"]` {
		t.Fatalf("second websocket %q", f)
	}

	// The raw endpoint: no framing.
	raw := dialWS(t, "ws://"+r.addr+prefix+"/websocket")
	_ = raw.WriteMessage(websocket.TextMessage, []byte("plain text"))
	if f := readWS(t, raw); f != "plain text" {
		t.Fatalf("raw echo %q", f)
	}

	// Not an upgrade.
	if st, _, body := r.do(t, "GET", sess("x")+"/websocket", ""); st != 400 || body != `Can "Upgrade" only to "WebSocket".` {
		t.Errorf("GET websocket without upgrade: %d %q", st, body)
	}
	if st, _, _ := r.do(t, "POST", sess("x")+"/websocket", ""); st != 405 {
		t.Errorf("POST websocket: %d", st)
	}
	// Incomplete upgrade requests are the protocol's to answer (the
	// reactor hands them to the HTTP route, not to the upgrader).
	if st, _, body := r.do(t, "GET", sess("x")+"/websocket", "", "Upgrade: WebSocket", "Connection: close"); st != 400 || body != `"Connection" must be "Upgrade".` {
		t.Errorf("GET websocket with Connection: close: %d %q", st, body)
	}
	st, h, body := r.do(t, "POST", sess("x")+"/websocket", "", "Upgrade: WebSocket", "Connection: Upgrade")
	if st != 405 || h.Get("Allow") != "GET" || h.Get("Content-Type") != "" || body != "" {
		t.Errorf("POST websocket with upgrade headers: %d %v %q", st, h, body)
	}
}

func TestWebSocketDisabled(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	if _, _, body := r.do(t, "GET", prefix+"/info", ""); !strings.Contains(body, `"websocket":false`) {
		t.Fatalf("info %s", body)
	}
	for _, p := range []string{sess("w") + "/websocket", prefix + "/websocket"} {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+r.addr+p, nil)
		if err == nil || resp == nil || resp.StatusCode != 404 {
			t.Errorf("upgrade %s: %v %v, want 404", p, err, resp)
		}
		if st, _, _ := r.do(t, "GET", p, ""); st != 404 {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
}

func TestOversizedPost(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("big")
	r.do(t, "POST", u+"/xhr", "")
	body := `["` + strings.Repeat("x", 70<<10) + `"]`
	if st, _, _ := r.do(t, "POST", u+"/xhr_send", body); st != 413 {
		t.Fatalf("oversized xhr_send: %d, want 413", st)
	}
	if st, _, _ := r.do(t, "POST", u+"/xhr_send", `["fine"]`); st != 204 {
		t.Fatalf("send after: %d", st)
	}
	if _, _, b := r.do(t, "POST", u+"/xhr", ""); b != `a["fine"]`+"\n" {
		t.Fatalf("poll %q", b)
	}
}

// TestSlowLoris: a request whose head, or whose body, trickles in and never
// completes is closed by the reactor's handshake timeout; it costs no
// worker, and the session it names and other clients are unharmed.
func TestSlowLoris(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	u := sess("loris")
	r.do(t, "POST", u+"/xhr", "")
	head := r.dial(t)
	_, _ = head.c.Write([]byte("POST " + u + "/xhr_send HTTP/1.1\r\nHost: x\r\nContent-"))
	body := r.dial(t)
	_, _ = body.c.Write([]byte("POST " + u + "/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[\"par"))
	start := time.Now()
	for _, c := range []*client{head, body} {
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 512)
		for {
			if _, err := c.c.Read(b); err != nil {
				if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
					t.Fatal("a trickled request was not closed")
				}
				break
			}
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
	if st, _, _ := r.do(t, "POST", u+"/xhr_send", `["whole"]`); st != 204 {
		t.Fatalf("send after the slow ones: %d", st)
	}
	if _, _, b := r.do(t, "POST", u+"/xhr", ""); b != `a["whole"]`+"\n" {
		t.Fatalf("poll %q (the partial request must deliver nothing)", b)
	}
}

// TestQueueBound: a session whose client stops polling queues up to
// MaxQueueBytes; past it the session is closed as a slow consumer, and
// its next poll says so. Other sessions are unharmed.
func TestQueueBound(t *testing.T) {
	r := newRig(t, sockjs.Config{MaxQueueBytes: 2000})
	u := sess("slow")
	r.do(t, "POST", u+"/xhr", "")
	r.do(t, "POST", sess("fine")+"/xhr", "")
	msg := `["` + strings.Repeat("y", 500) + `"]`
	for i := 0; i < 5; i++ {
		r.do(t, "POST", u+"/xhr_send", msg) // echoed into the queue: nobody polls
	}
	testutil.WaitFor(t, 5*time.Second, "the slow consumer closed", func() bool { return r.srv.Closes(sockjs.ReasonSlowConsumer) == 1 })
	if _, _, body := r.do(t, "POST", u+"/xhr", ""); body != `c[1008,"slow consumer"]`+"\n" {
		t.Fatalf("poll of the closed session %q", body)
	}
	r.do(t, "POST", sess("fine")+"/xhr_send", `["ok"]`)
	if _, _, body := r.do(t, "POST", sess("fine")+"/xhr", ""); body != `a["ok"]`+"\n" {
		t.Fatalf("the other session %q", body)
	}
}

// TestHTTP10Stream: an HTTP/1.0 client gets a close-delimited stream whose
// frames are re-framed for it.
func TestHTTP10Stream(t *testing.T) {
	r := newRig(t, sockjs.Config{})
	c := r.dial(t)
	_, _ = c.c.Write([]byte("POST " + sess("h10") + "/xhr_streaming HTTP/1.0\r\nContent-Length: 0\r\n\r\n"))
	st, h := c.head()
	if st != 200 || h.Get("Transfer-Encoding") != "" {
		t.Fatalf("%d %v", st, h)
	}
	want := strings.Repeat("h", 2048) + "\n" + "o\n"
	b := make([]byte, len(want))
	if _, err := io.ReadFull(c.br, b); err != nil || string(b) != want {
		t.Fatalf("prelude and open %q %v", trunc(string(b)), err)
	}
	r.do(t, "POST", sess("h10")+"/xhr_send", `["x"]`)
	line, err := c.br.ReadString('\n')
	if err != nil || line != `a["x"]`+"\n" {
		t.Fatalf("frame %q %v", line, err)
	}
}
