package auth

import (
	"net/url"
	"strings"
)

// DefaultCookie is the name of the cookie a token is read from by default.
const DefaultCookie = "c1m_token"

// Creds are where a request may carry a token: its Authorization header
// value, its raw query and its Cookie header value.
type Creds struct {
	Authorization string
	Query         string
	Cookie        string
}

// Token returns the token of c, looked for in this order: an
// "Authorization: Bearer" header, a token query parameter, the cookie
// called cookie. It returns "" when none carries one.
func (c Creds) Token(cookie string) string {
	if t := FromAuthorization(c.Authorization); t != "" {
		return t
	}
	if t := FromQuery(c.Query); t != "" {
		return t
	}
	return FromCookie(c.Cookie, cookie)
}

// FromAuthorization returns the token of an Authorization header value
// "Bearer <token>" (the scheme is case-insensitive), else "".
func FromAuthorization(h string) string {
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// FromQuery returns the token query parameter of a raw query, else "".
func FromQuery(rawQuery string) string {
	if !strings.Contains(rawQuery, "token=") {
		return ""
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// A malformed other parameter does not hide the token.
		for _, kv := range strings.Split(rawQuery, "&") {
			if v, ok := strings.CutPrefix(kv, "token="); ok {
				t, _ := url.QueryUnescape(v)
				return t
			}
		}
		return ""
	}
	return q.Get("token")
}

// FromCookie returns the value of the cookie called name in a Cookie
// header value ("a=1; b=2"), else "".
func FromCookie(header, name string) string {
	if header == "" || name == "" {
		return ""
	}
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
