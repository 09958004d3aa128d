package sockjs

import (
	"net/http"
	"strings"
	"time"

	"github.com/c1mhq/c1m/poller"
)

// Header lines of the reference server's answers.
const (
	hdrNoCache    = "Cache-Control: no-store, no-cache, no-transform, must-revalidate, max-age=0\r\n"
	hdrJS         = "Content-Type: application/javascript; charset=UTF-8\r\n"
	hdrText       = "Content-Type: text/plain; charset=UTF-8\r\n"
	hdrHTML       = "Content-Type: text/html; charset=UTF-8\r\n"
	hdrJSON       = "Content-Type: application/json; charset=UTF-8\r\n"
	hdrEvents     = "Content-Type: text/event-stream\r\n"
	hdrCacheYear  = "Cache-Control: public, max-age=31536000\r\n"
	yearSeconds   = "31536000"
	jsessionid    = "JSESSIONID"
	cookieDefault = "dummy"
)

// cors returns the CORS header lines the reference sends on xhr and /info
// answers: the request's Origin echoed (any origin: SockJS is cross-domain
// by design; authorise in the protocol), or * without one, always with
// credentials, and the requested headers allowed.
func cors(r *poller.Request) string {
	origin := r.Header("Origin")
	if origin == "" || !headerSafe(origin) {
		origin = "*" // "null" (a sandboxed page, a file: URL) is echoed, as the protocol's suite expects
	}
	h := "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\nAccess-Control-Allow-Credentials: true\r\n"
	if rh := r.Header("Access-Control-Request-Headers"); rh != "" && headerSafe(rh) {
		h += "Access-Control-Allow-Headers: " + rh + "\r\n"
	}
	return h
}

// headerSafe reports whether v can be echoed in a header line.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// cookie returns the Set-Cookie line when the server needs JSESSIONID:
// the client's value, or "dummy".
func (s *Server) cookie(r *poller.Request) string {
	if !s.cfg.CookieNeeded {
		return ""
	}
	v := cookieDefault
	for _, part := range strings.Split(r.Header("Cookie"), ";") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && name == jsessionid && val != "" && cookieSafe(val) {
			v = val
			break
		}
	}
	return "Set-Cookie: " + jsessionid + "=" + v + "; path=/\r\n"
}

// cookieSafe reports whether v is a cookie-octet string (RFC 6265).
func cookieSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// cacheYear returns the header lines of an answer cached for a year.
func cacheYear() string {
	return hdrCacheYear + "Expires: " + time.Now().Add(365*24*time.Hour).UTC().Format(http.TimeFormat) + "\r\n"
}

// options answers a CORS preflight (OPTIONS) with the methods allowed.
func (s *Server) options(c *poller.Conn, r *poller.Request, methods string) {
	h := cacheYear() + "Access-Control-Max-Age: " + yearSeconds + "\r\nAccess-Control-Allow-Methods: " + methods + "\r\n" +
		cors(r) + s.cookie(r)
	_ = c.Respond(http.StatusNoContent, []byte(h), nil)
}

// notFound answers 404.
func notFound(c *poller.Conn) {
	_ = c.Respond(http.StatusNotFound, []byte(hdrText), []byte("Not found"))
}

// notAllowed answers 405 with the methods allowed.
func notAllowed(c *poller.Conn, methods string) {
	_ = c.Respond(http.StatusMethodNotAllowed, []byte("Allow: "+methods+"\r\n"), nil)
}

// serverError answers 500 with msg, as the reference answers bad input.
func serverError(c *poller.Conn, hdr, msg string) {
	_ = c.Respond(http.StatusInternalServerError, []byte(hdrText+hdr), []byte(msg))
}
