package auth

import "testing"

func TestCredsToken(t *testing.T) {
	cases := []struct {
		c    Creds
		want string
	}{
		{Creds{Authorization: "Bearer abc"}, "abc"},
		{Creds{Authorization: "bearer  abc "}, "abc"},
		{Creds{Authorization: "Basic abc"}, ""},
		{Creds{Query: "topics=a&token=q%2Eq"}, "q.q"},
		{Creds{Query: "x=%zz&token=qq"}, "qq"}, // a malformed neighbour does not hide it
		{Creds{Query: "topics=a"}, ""},
		{Creds{Cookie: "a=1; c1m_token=ck; b=2"}, "ck"},
		{Creds{Cookie: `c1m_token="ck"`}, "ck"},
		{Creds{Cookie: "other_token=x"}, ""},
		// Order: header, query, cookie.
		{Creds{Authorization: "Bearer h", Query: "token=q", Cookie: "c1m_token=c"}, "h"},
		{Creds{Query: "token=q", Cookie: "c1m_token=c"}, "q"},
	}
	for _, c := range cases {
		if got := c.c.Token(DefaultCookie); got != c.want {
			t.Errorf("%+v: token %q, want %q", c.c, got, c.want)
		}
	}
	if got := (Creds{Cookie: "sess=x; jwt=y"}).Token("jwt"); got != "y" {
		t.Errorf("configured cookie: %q", got)
	}
}
