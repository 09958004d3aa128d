package server

import (
	"time"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/stomp"
)

// StompConfig configures STOMP over WebSocket. The zero value serves it at
// /stomp with the defaults of stomp.Config.
type StompConfig struct {
	// Off turns STOMP off.
	Off bool
	// Path is the WebSocket endpoint. Empty means "/stomp".
	Path string
	// HeartBeatSend and HeartBeatRecv are the server's heart-beat offer
	// (zero: 10s each; negative: off).
	HeartBeatSend, HeartBeatRecv time.Duration
	// MaxUnacked is the ceiling and default of prefetch-count for client
	// acks; MaxPending bounds the MESSAGEs waiting behind it (zero: 1024,
	// 4096).
	MaxUnacked, MaxPending int
}

// newStomp builds the STOMP handler.
func (s *Server) newStomp() *stomp.Handler {
	c := s.cfg.Stomp
	return stomp.New(stomp.Config{
		Hub:             s.hub,
		ClientPublish:   s.cfg.ClientPublish,
		Ops:             s.cfg.Ops,
		Connect:         s.stompConnect,
		MaxPublishBytes: s.cfg.MaxPublishBytes,
		MaxSubs:         s.cfg.Hub.MaxSubsPerConn,
		HeartBeatSend:   c.HeartBeatSend,
		HeartBeatRecv:   c.HeartBeatRecv,
		MaxUnacked:      c.MaxUnacked,
		MaxPending:      c.MaxPending,
		SlowPolicy:      s.cfg.Poller.SlowPolicy,
		Server:          "c1m",
		Logger:          s.log,
		Auth:            s.auth,
	})
}

// stompConnect is the CONNECT hook: any login is accepted (authentication
// is off); with a publish token, a session may SEND only if its CONNECT
// carried the token as passcode or as "authorization: Bearer <token>" (or
// its upgrade request did).
func (s *Server) stompConnect(c poller.Peer, info *stomp.ConnectInfo) (stomp.Grant, error) {
	if s.cfg.PublishToken == "" || s.auth != nil { // with --auth the token's pubs decide, per topic
		return stomp.Grant{Publish: true}, nil
	}
	ok := s.tokenOK(info.Authorization, c.Query()) || (info.Passcode != "" && s.tokenOK("Bearer "+info.Passcode, ""))
	return stomp.Grant{Publish: ok}, nil
}

// stompPath returns the STOMP endpoint's path.
func (s *Server) stompPath() string {
	if s.cfg.Stomp.Path == "" {
		return "/stomp"
	}
	return s.cfg.Stomp.Path
}

// Stomp returns the STOMP handler, nil when STOMP is off (for tests and
// embedding).
func (s *Server) Stomp() *stomp.Handler { return s.stomp }

// stompStats returns the STOMP counters (zero with STOMP off).
func (s *Server) stompStats() stomp.Stats {
	if s.stomp == nil {
		return stomp.Stats{}
	}
	return s.stomp.Stats()
}
