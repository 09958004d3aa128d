package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// handlePublish serves POST /publish?topic=T (one message: the body is the
// JSON data, or raw bytes with Content-Type application/octet-stream) and
// POST /publish with a JSON array [{"topic":...,"data":...}, ...], which is
// published all or nothing. OPTIONS answers CORS preflights from the
// configured origins.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var sess *auth.Session // with --auth: the request's token
	if s.auth != nil {
		var ok bool
		if sess, ok = s.httpAuth(w, r); !ok {
			return
		}
		defer sess.Stop()
	} else if s.cfg.PublishToken != "" && !s.tokenOK(r.Header.Get("Authorization"), "") {
		s.refused(r, http.StatusUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer realm="c1m publish"`)
		httpError(w, http.StatusUnauthorized, "missing or wrong bearer token (send Authorization: Bearer <publish token>)")
		return
	}
	limit := int64(s.cfg.MaxPublishBytes)
	topic := r.URL.Query().Get("topic")
	if topic != "" && s.auth != nil && !s.httpPermit(w, r, sess, topic) {
		return
	}
	if topic == "" {
		limit *= 64 // a batch
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		httpError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if topic != "" {
		s.publishOne(w, r, topic, body)
		return
	}
	batch, perr := s.native.DecodeBatch(body)
	if perr != nil {
		s.httpProtocolError(w, r, perr)
		return
	}
	for i := 0; s.auth != nil && i < len(batch); i++ { // all or nothing
		if !s.httpPermit(w, r, sess, batch[i].Topic) {
			return
		}
	}
	seqs, err := s.hub.PublishBatch(batch)
	if err != nil {
		s.httpProtocolError(w, r, s.native.HubError(err, "", false).(*native.ProtocolError))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string][]uint64{"seqs": seqs})
}

func (s *Server) publishOne(w http.ResponseWriter, r *http.Request, topic string, body []byte) {
	var seq uint64
	var err error
	if isBinary(r.Header.Get("Content-Type")) {
		seq, err = s.hub.PublishBinary(topic, body, 0)
	} else {
		if !json.Valid(body) {
			httpError(w, http.StatusBadRequest, "body is not valid JSON (send Content-Type: application/octet-stream for binary data)")
			return
		}
		seq, err = s.hub.Publish(topic, bytes.TrimSpace(body), 0)
	}
	if err != nil {
		s.httpProtocolError(w, r, s.native.HubError(err, topic, false).(*native.ProtocolError))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]uint64{"seq": seq})
}

// httpProtocolError answers a publish error with the HTTP status of its
// code: 413, 500, 503 and 507 as they are, everything else 400.
func (s *Server) httpProtocolError(w http.ResponseWriter, r *http.Request, pe *native.ProtocolError) {
	status := http.StatusBadRequest
	switch pe.Code {
	case native.CodeTooLarge, native.CodeInternal:
		status = pe.Code
	case native.CodeUnavailable:
		status = pe.Code
		w.Header().Set("Retry-After", "1")
	case native.CodeTooManyTopics:
		status = pe.Code
		s.refused(r, status)
	}
	httpError(w, status, pe.Msg)
}

// cors handles CORS for /publish: requests from an origin in Config.Origins
// get Access-Control-Allow-Origin, and their preflights (OPTIONS) are
// answered here. It reports whether the handler should go on.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" || len(s.cfg.Origins) == 0 {
		if preflight {
			httpError(w, http.StatusForbidden, "cross-origin publishing is not enabled (start the server with --origins)")
			return false
		}
		return true
	}
	if !s.originAllowed(origin) {
		if preflight {
			s.refused(r, http.StatusForbidden)
			httpError(w, http.StatusForbidden, "origin "+strconv.Quote(origin)+" is not allowed")
			return false
		}
		return true // no CORS headers: the browser keeps the answer from the page
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if !preflight {
		return true
	}
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.Origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func isBinary(ct string) bool {
	return strings.HasPrefix(ct, "application/octet-stream")
}

// tokenOK reports whether an Authorization header value ("Bearer T") or a
// raw query with token=T presents the publish token.
func (s *Server) tokenOK(authorization, rawQuery string) bool {
	want := []byte(s.cfg.PublishToken)
	const prefix = "Bearer "
	if len(authorization) > len(prefix) && strings.EqualFold(authorization[:len(prefix)], prefix) {
		return subtle.ConstantTimeCompare([]byte(authorization[len(prefix):]), want) == 1
	}
	if rawQuery != "" {
		if q, err := url.ParseQuery(rawQuery); err == nil && q.Has("token") {
			return subtle.ConstantTimeCompare([]byte(q.Get("token")), want) == 1
		}
	}
	return false
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "status": status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "md.>" stays readable
	_ = enc.Encode(v)
}

// StatsReply is the body of GET /stats.
type StatsReply struct {
	PID         int     `json:"pid"`
	Node        string  `json:"node"` // the server's name (--node-name)
	UptimeSec   float64 `json:"uptime_sec"`
	Conns       int64   `json:"conns"`
	Goroutines  int     `json:"goroutines"`
	HeapAlloc   uint64  `json:"heap_alloc"`
	HeapInuse   uint64  `json:"heap_inuse"`
	HeapSys     uint64  `json:"heap_sys"`
	StackInuse  uint64  `json:"stack_inuse"`
	Sys         uint64  `json:"sys"`
	RSS         uint64  `json:"rss"`
	NumGC       uint32  `json:"num_gc"`
	EIOSessions int     `json:"eio_sessions"`    // Engine.IO (Socket.IO) sessions, either transport
	Stomp       any     `json:"stomp"`           // STOMP sessions, subscriptions and errors (stomp.Stats)
	SockJS      int64   `json:"sockjs_sessions"` // open SockJS sessions, /sockjs and /stomp-sockjs
	Poller      any     `json:"poller"`
	Hub         any     `json:"hub"`
	Pool        any     `json:"pool"`
	Auth        any     `json:"auth,omitempty"` // with --auth: sessions, users connected now, refusals (auth.Stats)
	// NATS is the cluster node's state (cluster.Stats); null when the
	// server runs alone.
	NATS any `json:"nats"`
	// Deflate counts permessage-deflate work (wsframe.DeflateStats); the
	// connections and bytes saved are in Poller.
	Deflate wsframe.DeflateStats `json:"deflate"`
	// TLS is the TLS listener's state (TLSStats); null without TLS.
	TLS *TLSStats `json:"tls"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC() // for benchmarks measuring live heap
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ps := s.poller.Stats()
	writeJSON(w, http.StatusOK, StatsReply{
		PID:         os.Getpid(),
		Node:        s.cfg.NodeName,
		UptimeSec:   time.Since(s.started).Seconds(),
		Conns:       ps.Conns,
		Goroutines:  runtime.NumGoroutine(),
		HeapAlloc:   ms.HeapAlloc,
		HeapInuse:   ms.HeapInuse,
		HeapSys:     ms.HeapSys,
		StackInuse:  ms.StackInuse,
		Sys:         ms.Sys,
		RSS:         readRSS(),
		NumGC:       ms.NumGC,
		EIOSessions: s.eioSessions(),
		Stomp:       s.stompStats(),
		SockJS:      s.sockjsSessions(),
		Poller:      ps,
		Hub:         s.hub.Stats(),
		Pool:        wsframe.ReadPoolStats(),
		Auth:        s.authStats(),
		NATS:        s.clusterStats(),
		Deflate:     wsframe.ReadDeflateStats(),
		TLS:         s.tlsStats(ps),
	})
}

// readRSS returns VmRSS from /proc/self/status in bytes (0 if unavailable).
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// metricsHandler exposes the counters in Prometheus format.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{s: s})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct{ s *Server }

var (
	descConns       = prometheus.NewDesc("c1m_connections", "Open WebSocket connections.", nil, nil)
	descTCPConns    = prometheus.NewDesc("c1m_tcp_connections", "Open TCP connections, including handshakes and HTTP.", nil, nil)
	descUpgrades    = prometheus.NewDesc("c1m_upgrades_total", "Successful WebSocket upgrades.", nil, nil)
	descRejected    = prometheus.NewDesc("c1m_upgrades_rejected_total", "Upgrades refused with an HTTP error.", nil, nil)
	descCloses      = prometheus.NewDesc("c1m_closes_total", "Closed WebSocket connections by reason.", []string{"reason"}, nil)
	descDropped     = prometheus.NewDesc("c1m_dropped_frames_total", "Frames dropped by the drop slow-consumer policy.", nil, nil)
	descFramesOut   = prometheus.NewDesc("c1m_frames_out_total", "Frames written to sockets.", nil, nil)
	descWrites      = prometheus.NewDesc("c1m_writes_total", "writev calls (frames_out/writes is the coalescing factor).", nil, nil)
	descQueued      = prometheus.NewDesc("c1m_queued_bytes", "Bytes queued on all connections.", nil, nil)
	descBacklogged  = prometheus.NewDesc("c1m_backlogged_connections", "Connections waiting for the kernel to take bytes.", nil, nil)
	descPublished   = prometheus.NewDesc("c1m_published_total", "Messages published.", nil, nil)
	descDeliveries  = prometheus.NewDesc("c1m_deliveries_total", "Messages queued to subscribers.", nil, nil)
	descStreams     = prometheus.NewDesc("c1m_http_streams", "Open HTTP streams on the reactor (SSE).", nil, nil)
	descHeld        = prometheus.NewDesc("c1m_http_held_requests", "HTTP requests held on the reactor, waiting for their answer (long-polling).", nil, nil)
	descEIO         = prometheus.NewDesc("c1m_engineio_sessions", "Open Engine.IO (Socket.IO) sessions, over polling or WebSocket.", nil, nil)
	descStomp       = prometheus.NewDesc("c1m_stomp_sessions", "Connected STOMP sessions.", nil, nil)
	descSockJS      = prometheus.NewDesc("c1m_sockjs_sessions", "Open SockJS sessions (/sockjs and /stomp-sockjs), any transport.", nil, nil)
	descStompErrors = prometheus.NewDesc("c1m_stomp_errors_total", "STOMP ERROR frames sent (each closed its connection).", nil, nil)
	descTopics      = prometheus.NewDesc("c1m_topics", "Topics that hold data (published to; counted against --max-topics).", nil, nil)
	descEmptyTopics = prometheus.NewDesc("c1m_empty_topics", "Topics that exist only for exact subscriptions (never published).", nil, nil)
	descReclaimed   = prometheus.NewDesc("c1m_topics_reclaimed_total", "Idle topics reclaimed (no subscriber, history expired, last value older than --last-value-ttl).", nil, nil)
	descSubs        = prometheus.NewDesc("c1m_subscriptions", "Subscriptions.", nil, nil)
	descHistory     = prometheus.NewDesc("c1m_history_bytes", "Bytes held by history and last values.", nil, nil)
	descPoolOutSize = prometheus.NewDesc("c1m_prepared_outstanding", "Prepared frame buffers not yet returned to the pool.", nil, nil)
)

var allDescs = []*prometheus.Desc{descConns, descTCPConns, descUpgrades, descRejected, descCloses,
	descDropped, descFramesOut, descWrites, descQueued, descBacklogged, descPublished, descDeliveries,
	descStreams, descHeld, descEIO, descStomp, descSockJS, descStompErrors, descTopics, descEmptyTopics, descReclaimed, descSubs, descHistory, descPoolOutSize}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	for _, d := range clusterDescs {
		ch <- d
	}
	for _, d := range limitDescs {
		ch <- d
	}
	for _, d := range deflateDescs {
		ch <- d
	}
	for _, d := range tlsDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ps := c.s.poller.Stats()
	hs := c.s.hub.Stats()
	pool := wsframe.ReadPoolStats()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	ct := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(descConns, float64(ps.Conns))
	g(descTCPConns, float64(ps.TCPConns))
	ct(descUpgrades, float64(ps.Upgraded))
	ct(descRejected, float64(ps.Rejected))
	for reason, n := range ps.Closes {
		ch <- prometheus.MustNewConstMetric(descCloses, prometheus.CounterValue, float64(n), reason)
	}
	ct(descDropped, float64(ps.Dropped))
	ct(descFramesOut, float64(ps.FramesOut))
	ct(descWrites, float64(ps.Writes))
	g(descQueued, float64(ps.QueuedBytes))
	g(descBacklogged, float64(ps.Backlogged))
	ct(descPublished, float64(hs.Published))
	ct(descDeliveries, float64(hs.Deliveries))
	g(descStreams, float64(ps.Streams))
	g(descHeld, float64(ps.HeldRequests))
	g(descEIO, float64(c.s.eioSessions()))
	st := c.s.stompStats()
	g(descStomp, float64(st.Sessions))
	g(descSockJS, float64(c.s.sockjsSessions()))
	ct(descStompErrors, float64(st.Errors))
	g(descTopics, float64(hs.Topics))
	g(descEmptyTopics, float64(hs.EmptyTopics))
	ct(descReclaimed, float64(hs.Reclaimed))
	g(descSubs, float64(hs.Subscriptions))
	g(descHistory, float64(hs.HistoryBytes))
	g(descPoolOutSize, float64(pool.Acquired-pool.Returned))
	c.s.collectCluster(ch)
	c.s.collectLimits(ch)
	c.s.collectDeflate(ch, ps)
	c.s.collectTLS(ch, ps)
}

// eioSessions returns the open Engine.IO sessions (0 with Socket.IO off).
func (s *Server) eioSessions() int {
	if s.eio == nil {
		return 0
	}
	return s.eio.Sessions()
}
