package engineio

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/c1mhq/c1m/poller"
)

// pollingHandler is the HTTP long-polling transport on the reactor: a GET
// is held (no goroutine) until the session has packets, a POST carries the
// client's packets.
type pollingHandler struct{ srv *Server }

// query holds the Engine.IO query parameters of a request.
type query struct {
	eio, transport, sid string
}

func parseQuery(raw string) (query, bool) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, false
	}
	return query{eio: v.Get("EIO"), transport: v.Get("transport"), sid: v.Get("sid")}, true
}

// ServeHTTP implements poller.HTTPHandler. The order of the checks is the
// reference server's (verify, then handshake).
func (h *pollingHandler) ServeHTTP(c *poller.Conn, r *poller.Request) {
	s := h.srv
	cors, ok := s.cors(r)
	if !ok {
		refuse(c, CodeForbidden, "", "")
		return
	}
	if r.Method == http.MethodOptions {
		hdr := cors
		if cors != "" {
			hdr += "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
			if rh := r.Header("Access-Control-Request-Headers"); rh != "" && validHeaderList(rh) {
				hdr += "Access-Control-Allow-Headers: " + rh + "\r\n"
			}
			hdr += "Access-Control-Max-Age: 600\r\n"
		}
		_ = c.Respond(http.StatusNoContent, []byte(hdr), nil)
		return
	}
	q, ok := parseQuery(r.RawQuery)
	switch {
	case !ok:
		refuse(c, CodeBadRequest, "", cors)
		return
	case q.transport != Polling && q.transport != WebSocket:
		refuse(c, CodeUnknownTransport, "", cors)
		return
	}
	if q.sid == "" {
		h.handshake(c, r, q, cors)
		return
	}
	ss := s.lookup(q.sid)
	if ss == nil || ss.pongLate() {
		refuse(c, CodeUnknownSID, "", cors)
		return
	}
	ss.mu.Lock()
	cur := ss.transport
	ss.mu.Unlock()
	if q.transport != cur {
		refuse(c, CodeBadRequest, "", cors) // TRANSPORT_MISMATCH
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.get(c, ss, cors)
	case http.MethodPost:
		h.post(c, r, ss, cors)
	default:
		refuse(c, CodeBadRequest, "", cors)
	}
}

func (h *pollingHandler) handshake(c *poller.Conn, r *poller.Request, q query, cors string) {
	s := h.srv
	switch {
	case r.Method != http.MethodGet:
		refuse(c, CodeBadHandshakeMethod, "", cors)
		return
	case q.transport != Polling:
		refuse(c, CodeBadRequest, "", cors) // TRANSPORT_HANDSHAKE_ERROR
		return
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			refuse(c, CodeForbidden, err.Error(), cors)
			return
		}
	}
	if q.eio != "4" {
		refuse(c, CodeUnsupportedVersion, "", cors)
		return
	}
	ss := s.newSession(Polling)
	if s.debug() {
		s.log.Debug("engine.io open", "sid", ss.id, "transport", Polling)
	}
	// OnOpen first: the client can send nothing before it has the sid.
	s.h.OnOpen(ss)
	_ = c.Respond(200, textHeader(cors), s.openPacket(ss, s.cfg.WebSocket))
}

// get holds the GET until the session has packets, or answers at once.
func (h *pollingHandler) get(c *poller.Conn, ss *Session, cors string) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		refuse(c, CodeUnknownSID, "", cors)
		return
	}
	if ss.get != nil {
		// The reference answers an overlapping GET 400 and closes the
		// session; the held GET gets the close packet.
		ss.mu.Unlock()
		ss.close("transport error", TypeClose)
		_ = c.Respond(http.StatusBadRequest, []byte(cors), nil)
		return
	}
	if len(ss.q) > 0 {
		bp := bodyPool.Get().(*[]byte)
		body := ss.drainLocked((*bp)[:0])
		ss.mu.Unlock()
		ss.answer(c, body, cors)
		return
	}
	if ss.probe != nil {
		// An upgrade is under way: release the client's poll at once so it
		// can pause polling (the reference sends this noop within 100ms).
		ss.mu.Unlock()
		ss.answer(c, []byte{TypeNoop}, cors)
		return
	}
	ss.get, ss.getCORS = c, cors
	c.SetValue(ss)
	ss.mu.Unlock()
}

// post takes the client's packets.
func (h *pollingHandler) post(c *poller.Conn, r *poller.Request, ss *Session, cors string) {
	s := h.srv
	if len(r.Body) > s.cfg.MaxPayload {
		ss.close("transport error", TypeClose)
		_ = c.Respond(http.StatusRequestEntityTooLarge, []byte(cors), nil)
		return
	}
	if strings.HasPrefix(r.Header("Content-Type"), "application/octet-stream") {
		// Engine.IO v4 polling payloads are text.
		ss.close("transport error", TypeClose)
		refuse(c, CodeBadRequest, "", cors)
		return
	}
	ss.mu.Lock()
	if ss.posting {
		ss.mu.Unlock()
		ss.close("transport error", TypeClose)
		_ = c.Respond(http.StatusBadRequest, []byte(cors), nil)
		return
	}
	ss.posting = true
	ss.mu.Unlock()
	err := splitPayload(r.Body, func(p packet) error {
		if !ss.onPacket(p) {
			return ErrClosed
		}
		return nil
	})
	ss.mu.Lock()
	ss.posting = false
	ss.mu.Unlock()
	if err == errParse {
		ss.close("parse error", TypeClose)
	}
	_ = c.Respond(200, []byte("Content-Type: text/html\r\n"+cors), okBody)
}

var okBody = []byte("ok")

// OnClose implements poller.HTTPHandler: the connection of a held GET
// closed, which the reference takes as the transport's end.
func (h *pollingHandler) OnClose(c *poller.Conn, _ poller.CloseReason) {
	ss, ok := c.Value().(*Session)
	if !ok {
		return
	}
	ss.mu.Lock()
	held := ss.get == c
	if held {
		ss.get = nil
	}
	ss.mu.Unlock()
	if held {
		ss.close("transport error", TypeClose)
	}
}

// cors returns the CORS header lines for r and false when r comes from an
// origin that is not allowed.
func (s *Server) cors(r *poller.Request) (string, bool) {
	origin := r.Header("Origin")
	if origin == "" || len(s.cfg.Origins) == 0 {
		return "", true
	}
	if !validHeaderValue(origin) {
		return "", false
	}
	for _, o := range s.cfg.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return "Access-Control-Allow-Origin: " + origin + "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n", true
		}
	}
	return "", false
}

// validHeaderValue reports whether v can be echoed in a header line.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderList reports whether v is a list of header names.
func validHeaderList(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c == ',' || c == ' ' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
