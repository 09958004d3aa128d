package sse

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// MaxPatterns bounds the topics and patterns of one stream (the topics
// query parameter).
const MaxPatterns = 64

// Config configures a Handler.
type Config struct {
	// Hub routes the subscriptions. Required.
	Hub *hub.Hub
	// Origins lists the origins allowed to open a stream cross-origin (CORS,
	// with credentials); "*" allows any. Empty sends no CORS headers, so
	// browsers allow only same-origin pages.
	Origins []string
	// Retry is the reconnection delay suggested to EventSource (the retry
	// field). Zero means 1s.
	Retry time.Duration
	// Logger gets debug lines for streams. Nil means slog.Default().
	Logger *slog.Logger
	// Auth, when set, authenticates a stream request (Bearer, ?token=,
	// cookie) before the stream starts: 401 for a refused token, 403 for
	// a pattern the token's subs do not cover. A stream whose token
	// expires ends with an "end" event {"reason":"token expired"}. Nil
	// (auth off) allows everything.
	Auth *auth.Authenticator
}

// Handler serves Server-Sent Events streams on the reactor. It is a
// poller.HTTPHandler and a poller.Heartbeater. Safe for concurrent use.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	format *Format
	// Heartbeat comments, shared by every stream (one per framing).
	hbChunked, hbRaw *wsframe.Prepared
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, format: NewFormat(cfg.Hub.Epoch())}
	h.hbChunked = comment(true)
	h.hbRaw = comment(false)
	return h
}

func comment(chunked bool) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, ":\n\n"...)
	seal(p, chunked)
	return p
}

// request is a parsed stream request.
type request struct {
	patterns []string
	opt      hub.SubOptions
	resume   bool // Last-Event-ID (or since) named positions
}

// ServeHTTP implements poller.HTTPHandler: GET /sse?topics=...[&conflate=]
// [&maxRate=][&since=], with Last-Event-ID on a reconnect.
func (h *Handler) ServeHTTP(c *poller.Conn, r *poller.Request) {
	cors, ok := h.cors(c, r)
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.preflight(c, cors)
		return
	default:
		_ = c.Respond(http.StatusMethodNotAllowed, []byte("Allow: GET, HEAD, OPTIONS\r\n"+cors), textBody("use GET"))
		return
	}
	req, msg := parseRequest(r)
	if msg != "" {
		h.refuse(c, r, http.StatusBadRequest, msg, cors)
		return
	}
	if old, ok := c.Value().(*stream); ok {
		old.sess.Stop() // a keep-alive connection's earlier stream
	}
	sess, ok := h.authenticate(c, r, req.patterns, cors)
	if !ok {
		return
	}
	chunked, err := c.StartStream(http.StatusOK, []byte("Content-Type: text/event-stream; charset=utf-8\r\n"+
		"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"+cors))
	if err != nil {
		sess.Stop()
		return // HEAD (ErrNoBody), or the connection is gone
	}
	exact := req.opt.MaxRate == 0 && (req.opt.Conflate == nil || !*req.opt.Conflate)
	ending := byte(terminated)
	switch {
	case exact && len(req.patterns) == 1 && hub.CheckTopic(req.patterns[0], false) == "":
		ending = withID // one exact topic: the id is the message's own position
		exact = false   // so the stream adds no trailer
	case exact:
		ending = open
	}
	s := &stream{c: c, chunked: chunked, exact: exact, holding: true, sess: sess}
	s.pos.epoch = h.cfg.Hub.Epoch()
	c.SetValue(s)
	req.opt.Format, req.opt.Variant = h.format, variant(chunked, ending)
	states := make(map[string]hub.TopicState)
	for _, pat := range req.patterns {
		st, err := h.cfg.Hub.Subscribe(s, pat, req.opt)
		if err != nil { // ErrClosed: the server is stopping; ErrUnavailable: its cluster is unreachable
			h.cfg.Hub.UnsubscribeAll(s)
			reason := []byte(`{"reason":"server shutting down"}`)
			if errors.Is(err, hub.ErrUnavailable) {
				reason = []byte(`{"reason":"cluster unavailable"}`)
			}
			// Not "error": that name is EventSource's own error event.
			_ = s.release(h.event("end", reason, chunked))
			_ = c.EndStream()
			return
		}
		for t, v := range st {
			if req.resume && v.Recovered == nil {
				no := false
				v.Recovered = &no // not in the id: not resumed exactly
			}
			states[t] = v
		}
	}
	// The stream's positions start where the client is: what its id said
	// (recovered frames follow in the queue), else the topic's seq for a
	// topic that queued nothing. A topic whose snapshot or first message is
	// held gets its position from that frame, in queue order.
	s.mu.Lock()
	for t, p := range req.opt.Since {
		if !s.exact {
			break // no trailer ids: no positions to keep
		}
		if p.Epoch == s.pos.epoch {
			if st, ok := states[t]; ok && st.Recovered != nil && *st.Recovered {
				s.pos.set(t, p.Seq)
			}
		}
	}
	for t, v := range states {
		if s.exact && !s.tracked(t) && v.Epoch == s.pos.epoch {
			s.pos.set(t, v.Seq)
		}
	}
	s.mu.Unlock()
	sub, _ := json.Marshal(struct {
		Op     string                    `json:"op"`
		Epoch  string                    `json:"epoch"`
		Topics map[string]hub.TopicState `json:"topics"`
	}{"ok", h.cfg.Hub.Epoch(), states})
	first := wsframe.AcquirePrepared()
	first.B = h.appendRetry(first.B)
	first.B = append(first.B, "event: sub\ndata: "...)
	first.B = append(first.B, sub...)
	first.B = append(first.B, "\n\n"...)
	seal(first, chunked)
	if err := s.release(first); err != nil {
		return // closed: OnClose unsubscribes
	}
	sess.Watch(func() { h.expire(s) })
	if h.debug() {
		h.log.Debug("sse open", "remote", remote(c), "topics", req.patterns, "resume", req.resume, "chunked", chunked)
	}
}

// OnClose implements poller.HTTPHandler: the stream's subscriptions go.
func (h *Handler) OnClose(c *poller.Conn, reason poller.CloseReason) {
	if s, ok := c.Value().(*stream); ok {
		h.cfg.Hub.UnsubscribeAll(s)
		s.sess.Stop()
		s.mu.Lock()
		for _, p := range s.held {
			p.Release()
		}
		s.held = nil
		s.mu.Unlock()
	}
	if h.debug() {
		h.log.Debug("sse close", "remote", remote(c), "reason", reason.String())
	}
}

// Heartbeat implements poller.Heartbeater: a comment line.
func (h *Handler) Heartbeat(c *poller.Conn) *wsframe.Prepared {
	p := h.hbRaw
	if s, ok := c.Value().(*stream); ok && s.chunked {
		p = h.hbChunked
	}
	p.Retain(1)
	return p
}

// appendRetry appends the retry field: Config.Retry plus up to as much
// again at random, so that browsers cut at the same moment (a restart) do not
// all come back in the same millisecond.
func (h *Handler) appendRetry(b []byte) []byte {
	ms := h.cfg.Retry.Milliseconds()
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, ms+rand.Int64N(ms+1), 10)
	return append(b, "\n\n"...)
}

// event encodes a complete named event.
func (h *Handler) event(name string, data []byte, chunked bool) *wsframe.Prepared {
	p := wsframe.AcquirePrepared()
	p.B = append(p.B, "event: "...)
	p.B = append(p.B, name...)
	p.B = append(p.B, "\ndata: "...)
	p.B = append(p.B, data...)
	p.B = append(p.B, "\n\n"...)
	seal(p, chunked)
	return p
}

// parseRequest reads the query and Last-Event-ID; msg says what is wrong.
func parseRequest(r *poller.Request) (req request, msg string) {
	q, err := url.ParseQuery(r.RawQuery)
	if err != nil {
		return req, "malformed query: " + err.Error()
	}
	for _, t := range strings.Split(q.Get("topics"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			req.patterns = append(req.patterns, t)
		}
	}
	if len(req.patterns) == 0 {
		return req, `missing "topics": a comma-separated list of topics or patterns, e.g. /sse?topics=md.AAPL.quote,md.*.trade`
	}
	if len(req.patterns) > MaxPatterns {
		return req, "too many topics: " + strconv.Itoa(len(req.patterns)) + " (at most " + strconv.Itoa(MaxPatterns) + " per stream)"
	}
	for _, t := range req.patterns {
		if why := hub.CheckTopic(t, true); why != "" {
			return req, "malformed pattern " + strconv.Quote(t) + ": " + why
		}
	}
	if v := q.Get("conflate"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return req, `"conflate" must be true or false, got ` + strconv.Quote(v)
		}
		req.opt.Conflate = &b
	}
	if v := q.Get("maxRate"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsNaN(f) {
			return req, `"maxRate" must be a number >= 0 (deliveries per second per topic), got ` + strconv.Quote(v)
		}
		req.opt.MaxRate = f
	}
	// Positions: the browser's Last-Event-ID on a reconnect wins over a
	// since parameter (an event id, or the native protocol's JSON map).
	last := r.Header("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventId") // EventSource polyfills that cannot set the header
	}
	since := q.Get("since")
	switch {
	case last != "":
		req.resume = true
		req.opt.Since, _ = parseID(last) // a foreign id resumes nothing: every topic recovered:false
	case strings.HasPrefix(since, "{"):
		if err := json.Unmarshal([]byte(since), &req.opt.Since); err != nil {
			return req, `"since" must be an event id or a JSON object mapping topics to {"epoch":"...","seq":N}`
		}
		req.resume = true
	case since != "":
		s, ok := parseID(since)
		if !ok {
			return req, `"since" must be an event id or a JSON object mapping topics to {"epoch":"...","seq":N}`
		}
		req.opt.Since, req.resume = s, true
	}
	return req, ""
}

// cors returns the CORS header lines for r's origin, and false (after
// answering 403) when a cross-origin request comes from an origin not
// allowed.
func (h *Handler) cors(c *poller.Conn, r *poller.Request) (string, bool) {
	origin := r.Header("Origin")
	if origin == "" || len(h.cfg.Origins) == 0 {
		return "", true
	}
	for _, o := range h.cfg.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return "Access-Control-Allow-Origin: " + origin + "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n", true
		}
	}
	h.refuse(c, r, http.StatusForbidden, "origin "+strconv.Quote(origin)+" is not allowed", "")
	return "", false
}

func (h *Handler) preflight(c *poller.Conn, cors string) {
	_ = c.Respond(http.StatusNoContent, []byte(cors+"Access-Control-Allow-Methods: GET\r\n"+
		"Access-Control-Allow-Headers: Last-Event-ID, Cache-Control\r\nAccess-Control-Max-Age: 600\r\n"), nil)
}

func (h *Handler) refuse(c *poller.Conn, r *poller.Request, status int, msg, cors string) {
	if h.debug() {
		h.log.Debug("sse refused", "remote", remote(c), "status", status, "msg", msg, "query", r.RawQuery)
	}
	_ = c.Respond(status, []byte("Content-Type: text/plain; charset=utf-8\r\n"+cors), textBody(msg))
}

// authenticate opens the request's auth session and checks every pattern
// against it; on a refusal it answers 401 or 403 and returns false. With
// auth off it returns nil, true.
func (h *Handler) authenticate(c *poller.Conn, r *poller.Request, patterns []string, cors string) (*auth.Session, bool) {
	a := h.cfg.Auth
	if a == nil {
		return nil, true
	}
	sess, err := a.OpenCreds(auth.Creds{Authorization: r.Header("Authorization"), Query: r.RawQuery, Cookie: r.Header("Cookie")})
	if err != nil {
		h.refuseAuth(c, r, http.StatusUnauthorized, err.Error(), cors)
		return nil, false
	}
	for _, pat := range patterns {
		if err := a.Check(sess, pat, false); err != nil {
			status, msg := http.StatusForbidden, err.Error()+" (the token's subs do not cover it)"
			if sess.Sub() == "" {
				status, msg = http.StatusUnauthorized, err.Error()+" without a token"
			}
			sess.Stop()
			h.refuseAuth(c, r, status, msg, cors)
			return nil, false
		}
	}
	return sess, true
}

// refuseAuth answers 401 (with WWW-Authenticate) or 403 before the stream.
func (h *Handler) refuseAuth(c *poller.Conn, r *poller.Request, status int, msg, cors string) {
	if status == http.StatusUnauthorized {
		cors += "WWW-Authenticate: Bearer realm=\"c1m\", error=\"invalid_token\"\r\n"
	}
	h.refuse(c, r, status, msg, cors)
}

// expired is the end event of a stream whose token expired.
var expired = []byte(`{"reason":"token expired"}`)

// expire ends stream s, whose token expired without a refresh (SSE has no
// way to send one: the client reconnects with a new token and resumes with
// Last-Event-ID): its subscriptions go, an "end" event says why, and the
// stream ends.
func (h *Handler) expire(s *stream) {
	if s.c.Value() != s {
		return // the connection serves a later stream
	}
	h.cfg.Hub.UnsubscribeAll(s)
	_ = s.Send(h.event("end", expired, s.chunked))
	_ = s.c.EndStream()
}

func textBody(msg string) []byte { return []byte(msg + "\n") }

func (h *Handler) debug() bool { return h.log.Enabled(context.Background(), slog.LevelDebug) }

func remote(c *poller.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
