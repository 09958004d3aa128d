package sockjs

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"github.com/c1mhq/c1m/poller"
)

// info answers GET <prefix>/info: the server's options and some entropy
// for the client's ids.
func (s *Server) info(c *poller.Conn, r *poller.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		s.options(c, r, "OPTIONS, GET")
		return
	default:
		notAllowed(c, "OPTIONS, GET")
		return
	}
	var e [4]byte
	_, _ = rand.Read(e[:])
	b := make([]byte, 0, 96)
	b = append(b, `{"websocket":`...)
	b = strconv.AppendBool(b, s.cfg.WebSocket)
	b = append(b, `,"cookie_needed":`...)
	b = strconv.AppendBool(b, s.cfg.CookieNeeded)
	b = append(b, `,"origins":["*:*"],"entropy":`...)
	b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(e[:])), 10)
	b = append(b, '}')
	_ = c.Respond(http.StatusOK, []byte(hdrJSON+hdrNoCache+cors(r)), b)
}

// isIframe reports whether rest names the iframe page: /iframe.html, or
// /iframe-<version or hash>.html as clients name it to bust caches.
func isIframe(rest string) bool {
	name, ok := strings.CutPrefix(rest, "/iframe")
	if !ok {
		return false
	}
	name, ok = strings.CutSuffix(name, ".html")
	if !ok {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return name == "" || name[0] == '-' || name[0] == '.'
}

// iframePage builds the page the iframe-based transports load: it runs
// sockjs-client (from clientURL) in the server's origin, where it talks to
// the parent page by postMessage.
func iframePage(clientURL string) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n<head>\n")
	b.WriteString("  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n")
	b.WriteString("  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n")
	b.WriteString("  <script src=\"" + htmlAttr(clientURL) + "\"></script>\n")
	b.WriteString("  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n")
	b.WriteString("</head>\n<body>\n  <h2>Don't panic!</h2>\n")
	b.WriteString("  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>")
	return b.Bytes()
}

// htmlAttr escapes s for a double-quoted attribute.
func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// serveIframe answers the iframe page: cached for a year, with an ETag
// and 304 when the client has it.
func (s *Server) serveIframe(c *poller.Conn, r *poller.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		notAllowed(c, "GET")
		return
	}
	h := []byte(cacheYear() + "ETag: " + string(s.etag) + "\r\n")
	if inm := r.HeaderBytes("If-None-Match"); inm != nil && bytes.Equal(bytes.TrimSpace(inm), s.etag) {
		_ = c.Respond(http.StatusNotModified, h, nil)
		return
	}
	_ = c.Respond(http.StatusOK, append([]byte(hdrHTML), h...), s.iframe)
}

// welcome answers GET <prefix> and <prefix>/.
func (s *Server) welcome(c *poller.Conn, r *poller.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		notAllowed(c, "GET")
		return
	}
	_ = c.Respond(http.StatusOK, []byte(hdrText), []byte("Welcome to SockJS!\n"))
}
