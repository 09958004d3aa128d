package poller

import "testing"

func TestHeaderValue(t *testing.T) {
	head := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-Token:  abc \r\nx-token: second\r\nEmpty:\r\n\r\n")
	r := &Request{head: head}
	if got := r.Header("x-TOKEN"); got != "abc" {
		t.Errorf("first X-Token: %q", got)
	}
	if got := r.HeaderBytes("Empty"); got == nil || len(got) != 0 {
		t.Errorf("empty value: %q (nil %v)", got, got == nil)
	}
	if got := r.Header("Missing"); got != "" {
		t.Errorf("missing: %q", got)
	}
}
