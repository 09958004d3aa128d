package server

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/socketio"
)

// SocketIOConfig configures Socket.IO (Engine.IO v4, Socket.IO v5) on the
// reactor. The zero value serves it at /socket.io/ with the reference
// server's timeouts.
type SocketIOConfig struct {
	// Off turns Socket.IO off.
	Off bool
	// Path is the Engine.IO path; requests under it are Engine.IO's. Empty
	// means "/socket.io/".
	Path string
	// PingInterval, PingTimeout and MaxPayload are Engine.IO's; zero means
	// 25s, 20s and 1,000,000 bytes.
	PingInterval, PingTimeout time.Duration
	MaxPayload                int
	// ConnectTimeout closes a session that connects to no namespace in
	// time. Zero means 45s.
	ConnectTimeout time.Duration
	// Namespaces lists the namespaces clients may connect to; empty means
	// "/" only.
	Namespaces []string
	// Recovery is connection state recovery's maxDisconnectionDuration
	// (socketio.Config.Recovery); zero means off. RecoveryLog bounds the
	// deliveries a socket remembers (zero: 1024).
	Recovery    time.Duration
	RecoveryLog int
}

// newSocketIO builds the Engine.IO server with the Socket.IO layer on top.
func (s *Server) newSocketIO() *engineio.Server {
	c := s.cfg.SocketIO
	sio := socketio.New(socketio.Config{
		Hub:             s.hub,
		Errors:          s.native,
		Ops:             s.cfg.Ops,
		Namespaces:      c.Namespaces,
		ClientPublish:   s.cfg.ClientPublish,
		MaxPublishBytes: s.cfg.MaxPublishBytes,
		ConnectTimeout:  c.ConnectTimeout,
		Recovery:        c.Recovery,
		RecoveryLog:     c.RecoveryLog,
		Connect:         s.sioConnect,
		Logger:          s.log,
		Auth:            s.auth,
	})
	return engineio.New(engineio.Config{
		Handler:      sio,
		PingInterval: c.PingInterval,
		PingTimeout:  c.PingTimeout,
		MaxPayload:   c.MaxPayload,
		WebSocket:    true, // routed on the same path (server.go)
		Origins:      s.cfg.Origins,
		Logger:       s.log,
	})
}

// sioPath returns the Engine.IO path prefix, with its final slash.
func (s *Server) sioPath() string {
	p := s.cfg.SocketIO.Path
	if p == "" {
		p = "/socket.io/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// sioConnect is the CONNECT hook: with a publish token, a socket may
// publish only if its auth payload carries it ({"token":"..."}).
func (s *Server) sioConnect(nsp string, auth json.RawMessage) (socketio.Grant, error) {
	if s.cfg.PublishToken == "" || s.auth != nil { // with --auth the token's pubs decide, per topic
		return socketio.Grant{Publish: true}, nil
	}
	var a struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(auth, &a)
	return socketio.Grant{Publish: s.tokenOK("Bearer "+a.Token, "")}, nil
}

// closeSocketIO stops the Engine.IO sweeper and ends every session.
func (s *Server) closeSocketIO() {
	if s.eio != nil {
		s.eio.Close()
	}
}

// EngineIO returns the Engine.IO server, nil when Socket.IO is off (for
// tests and embedding).
func (s *Server) EngineIO() *engineio.Server { return s.eio }
