package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strconv"
	"time"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/web"
)

// admin is the operator listener (Config.AdminAddr): net/http/pprof,
// /metrics, /stats, the connection listing and the operator page. It runs
// on net/http, not the reactor: it serves a handful of operators, and a
// profile must be reachable when the reactor is the thing in trouble.
type admin struct {
	srv *http.Server
	ln  net.Listener
}

// openAdmin binds the admin listener when Config.AdminAddr is set.
func (s *Server) openAdmin() error {
	if s.cfg.AdminAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.AdminAddr)
	if err != nil {
		return err
	}
	if s.auth != nil {
		// A WebSocket connection authenticated at its upgrade keeps its
		// session as its value (native /ws); STOMP and Socket.IO sessions
		// authenticate later, inside their protocol, and are not named.
		s.userOf = func(p poller.Peer) string {
			if ss := sessionOf(p); ss != nil {
				return ss.Sub()
			}
			return ""
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /connections", s.handleConnections)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("/", http.FileServerFS(web.Admin()))
	s.admin = &admin{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	return nil
}

// AdminAddr returns the admin listener's address, nil without one.
func (s *Server) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.ln.Addr()
}

func (s *Server) startAdmin() {
	if s.admin == nil {
		return
	}
	go func() {
		if err := s.admin.srv.Serve(s.admin.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "err", err)
		}
	}()
	s.log.Info("admin listener: operator page, pprof, metrics", "url", "http://"+s.admin.ln.Addr().String()+"/")
}

func (s *Server) shutdownAdmin(ctx context.Context) {
	if s.admin == nil {
		return
	}
	if err := s.admin.srv.Shutdown(ctx); err != nil {
		_ = s.admin.srv.Close()
	}
}

// Connections is the body of the admin listener's GET /connections: the
// upgraded connections (WebSocket, all protocols) counted per client IP
// (the top ones), per endpoint path and per authenticated user, and the
// reactor's HTTP streams and held requests (SSE, polling), which the
// listing does not break down.
type Connections struct {
	Total   int            `json:"total"`
	IPs     int            `json:"ips"`   // distinct client addresses
	ByIP    []IPCount      `json:"by_ip"` // the top ?top= (default 50), most connections first
	ByPath  map[string]int `json:"by_path"`
	ByUser  []UserCount    `json:"by_user"` // connections with an authenticated user; empty without authentication
	Streams int64          `json:"http_streams"`
	Held    int64          `json:"http_held_requests"`
}

// IPCount is one client address of Connections.
type IPCount struct {
	IP    string `json:"ip"`
	Conns int    `json:"conns"`
}

// UserCount is one user of Connections.
type UserCount struct {
	User  string `json:"user"`
	Conns int    `json:"conns"`
}

func (s *Server) handleConnections(w http.ResponseWriter, r *http.Request) {
	top := 50
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpError(w, http.StatusBadRequest, "top must be a positive integer")
			return
		}
		top = n
	}
	writeJSON(w, http.StatusOK, s.listConnections(top))
}

// listConnections counts the upgraded connections; top bounds ByIP and
// ByUser.
func (s *Server) listConnections(top int) Connections {
	byIP := make(map[string]int)
	byUser := make(map[string]int)
	out := Connections{ByPath: make(map[string]int)}
	s.poller.EachConn(func(c *poller.Conn) {
		if c.Kind() != "websocket" {
			return // HTTP between requests, streams and held requests are counted apart
		}
		out.Total++
		ip := "?"
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = a.IP.String()
		}
		byIP[ip]++
		out.ByPath[c.Path()]++
		if s.userOf != nil {
			if u := s.userOf(c); u != "" {
				byUser[u]++
			}
		}
	})
	ps := s.poller.Stats()
	out.Streams, out.Held = ps.Streams, ps.HeldRequests
	out.IPs = len(byIP)
	for ip, n := range byIP {
		out.ByIP = append(out.ByIP, IPCount{ip, n})
	}
	sort.Slice(out.ByIP, func(i, j int) bool {
		a, b := out.ByIP[i], out.ByIP[j]
		return a.Conns > b.Conns || a.Conns == b.Conns && a.IP < b.IP
	})
	out.ByIP = out.ByIP[:min(top, len(out.ByIP))]
	out.ByUser = []UserCount{}
	for u, n := range byUser {
		out.ByUser = append(out.ByUser, UserCount{u, n})
	}
	sort.Slice(out.ByUser, func(i, j int) bool {
		a, b := out.ByUser[i], out.ByUser[j]
		return a.Conns > b.Conns || a.Conns == b.Conns && a.User < b.User
	})
	out.ByUser = out.ByUser[:min(top, len(out.ByUser))]
	return out
}
