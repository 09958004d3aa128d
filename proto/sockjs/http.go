package sockjs

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/c1mhq/c1m/poller"
)

// httpHandler serves every plain HTTP request under the prefix on the
// reactor: the held and streamed receiving requests cost no goroutine.
type httpHandler struct{ srv *Server }

// ServeHTTP implements poller.HTTPHandler.
func (h *httpHandler) ServeHTTP(c *poller.Conn, r *poller.Request) {
	s := h.srv
	rest, ok := s.under(r.Path)
	switch {
	case !ok:
		notFound(c)
	case rest == "" || rest == "/":
		s.welcome(c, r)
	case rest == "/info":
		s.info(c, r)
	case isIframe(rest):
		s.serveIframe(c, r)
	case rest == "/websocket":
		s.websocketOverHTTP(c, r)
	default:
		_, id, t, ok := splitSession(rest)
		if !ok {
			notFound(c)
			return
		}
		s.transport(c, r, id, t)
	}
}

// transport serves <prefix>/<server>/<id>/<t>.
func (s *Server) transport(c *poller.Conn, r *poller.Request, id, t string) {
	var methods string
	switch t {
	case "xhr", "xhr_streaming", "xhr_send":
		methods = "OPTIONS, POST"
		switch r.Method {
		case http.MethodOptions:
			s.options(c, r, methods)
			return
		case http.MethodPost:
			switch t {
			case "xhr":
				s.receive(c, r, id, framer{k: kindXHR}, hdrJS+hdrNoCache+cors(r)+s.cookie(r))
			case "xhr_streaming":
				s.stream(c, r, id, kindXHRStreaming, hdrJS+hdrNoCache+cors(r)+s.cookie(r), "")
			default:
				s.xhrSend(c, r, id)
			}
			return
		}
	case "eventsource", "htmlfile", "jsonp":
		methods = "GET"
		if r.Method == http.MethodGet {
			switch t {
			case "eventsource":
				s.stream(c, r, id, kindEventSource, hdrEvents+hdrNoCache+cors(r)+s.cookie(r), "")
			case "htmlfile":
				if cb, ok := callback(c, r); ok {
					s.stream(c, r, id, kindHTMLFile, hdrHTML+hdrNoCache+s.cookie(r), cb)
				}
			default:
				if cb, ok := callback(c, r); ok {
					s.receive(c, r, id, framer{k: kindJSONP, callback: cb}, hdrJS+hdrNoCache+s.cookie(r))
				}
			}
			return
		}
	case "jsonp_send":
		methods = "POST"
		if r.Method == http.MethodPost {
			s.jsonpSend(c, r, id)
			return
		}
	case "websocket":
		s.websocketOverHTTP(c, r)
		return
	default:
		notFound(c)
		return
	}
	notAllowed(c, methods)
}

// websocketOverHTTP answers a websocket endpoint asked without an upgrade.
func (s *Server) websocketOverHTTP(c *poller.Conn, r *poller.Request) {
	switch {
	case !s.cfg.WebSocket:
		notFound(c)
	case r.Method != http.MethodGet:
		notAllowed(c, "GET")
	case strings.Contains(strings.ToLower(r.Header("Upgrade")), "websocket"):
		// The upgrade was asked for, but not with "Connection: upgrade".
		_ = c.Respond(http.StatusBadRequest, []byte(hdrText), []byte(`"Connection" must be "Upgrade".`))
	default:
		_ = c.Respond(http.StatusBadRequest, []byte(hdrText), []byte(`Can "Upgrade" only to "WebSocket".`))
	}
}

// callback returns the callback a jsonp or htmlfile request names (query
// parameter c), answering 500 when it is missing or not
// [a-zA-Z0-9_.]+.
func callback(c *poller.Conn, r *poller.Request) (string, bool) {
	q, _ := url.ParseQuery(r.RawQuery)
	cb := q.Get("c")
	if cb == "" {
		cb = q.Get("callback")
	}
	if cb == "" {
		serverError(c, "", `"callback" parameter required`)
		return "", false
	}
	for i := 0; i < len(cb); i++ {
		ch := cb[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.') {
			serverError(c, "", `invalid "callback" parameter`)
			return "", false
		}
	}
	return cb, true
}

// receive serves a polling receiving request (xhr, jsonp): it is held
// until the session has a frame for it.
func (s *Server) receive(c *poller.Conn, r *poller.Request, id string, fr framer, hdr string) {
	ss, _ := s.lookupOrCreate(id, r.Header("Authorization"), r.RawQuery, c.RemoteAddr(), encPlain)
	ss.attach(c, fr, hdr)
}

// Preludes of the streaming transports.
var (
	// xhr_streaming: 2 KiB of 'h' and a newline, which old browsers need
	// before they hand a response to the page as it arrives.
	preludeXHR = append(bytes.Repeat([]byte{'h'}, 2048), '\n')
	// eventsource: an empty line.
	preludeES = []byte("\r\n")
)

// stream serves a streaming receiving request (xhr_streaming,
// eventsource, htmlfile): the response head and the prelude, then the
// session's frames until ResponseLimit.
func (s *Server) stream(c *poller.Conn, r *poller.Request, id string, k kind, hdr, cb string) {
	chunked, err := c.StartStream(http.StatusOK, []byte(hdr))
	if err != nil {
		return // HEAD, or the connection went
	}
	fr := framer{k: k, chunked: chunked, callback: cb}
	var prelude []byte
	switch k {
	case kindXHRStreaming:
		prelude = preludeXHR
	case kindEventSource:
		prelude = preludeES
	case kindHTMLFile:
		prelude = htmlfilePage(cb)
	}
	p := rawFrame(prelude, chunked)
	if c.Send(p) != nil {
		return
	}
	ss, _ := s.lookupOrCreate(id, r.Header("Authorization"), r.RawQuery, c.RemoteAddr(), encFor(k, chunked))
	ss.attach(c, fr, "")
}

// OnClose implements poller.HTTPHandler: the connection of a receiving
// request closed before its response ended.
func (h *httpHandler) OnClose(c *poller.Conn, _ poller.CloseReason) {
	if ss, ok := c.Value().(*Session); ok {
		ss.receiverGone(c)
	}
}

// decodedPool holds the decoders of xhr_send and jsonp_send.
var decodedPool = sync.Pool{New: func() any { return new(Decoded) }}

// xhrSend takes the client's messages: a JSON array of strings.
func (s *Server) xhrSend(c *poller.Conn, r *poller.Request, id string) {
	hdr := cors(r) + s.cookie(r)
	s.send(c, id, r.Body, hdr, func() {
		_ = c.Respond(http.StatusNoContent, []byte(hdrText+hdrNoCache+hdr), nil)
	})
}

// jsonpSend takes the client's messages: d=<JSON> form-encoded, or the raw
// JSON.
func (s *Server) jsonpSend(c *poller.Conn, r *poller.Request, id string) {
	hdr := s.cookie(r)
	body := r.Body
	if bytes.HasPrefix(r.HeaderBytes("Content-Type"), []byte("application/x-www-form-urlencoded")) {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			body = nil
		} else {
			body = []byte(q.Get("d"))
		}
	}
	s.send(c, id, body, hdr, func() {
		_ = c.Respond(http.StatusOK, []byte(hdrText+hdrNoCache+hdr), []byte("ok"))
	})
}

// send decodes body and hands its messages to session id, answering
// ok(), 500 with the reference's message for a bad body, 404 for an
// unknown or closed session.
func (s *Server) send(c *poller.Conn, id string, body []byte, hdr string, ok func()) {
	d := decodedPool.Get().(*Decoded)
	defer func() {
		if cap(d.Buf) <= maxPooledBody {
			decodedPool.Put(d)
		}
	}()
	if err := d.Decode(body, false); err != nil {
		serverError(c, hdr, err.Error())
		return
	}
	ss := s.lookup(id)
	if ss == nil || !ss.deliver(d) {
		notFound(c)
		return
	}
	ok()
}
