package poller

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gobwas/ws"
)

// Debug logging of connection events. Every call site checks debug() first,
// so that a disabled level costs one Enabled call and allocates nothing.

func (s *Server) debug() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// remote returns the peer address as text ("" once netpoll dropped it).
func (c *Conn) remote() string {
	if c.nc == nil {
		return ""
	}
	if a := c.nc.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

func (c *Conn) logOpen() {
	c.srv.log.Debug("ws open", "remote", c.remote(), "path", c.hs.Path, "protocol", c.hs.Protocol)
}

func (c *Conn) logClose(reason CloseReason, upgraded bool) {
	msg := "ws close"
	if !upgraded {
		msg = "closed before upgrade"
	}
	c.srv.log.Debug(msg, "remote", c.remote(), "path", c.hs.Path, "reason", reason.String())
}

// logRefused logs an upgrade refused with an HTTP status.
func (c *Conn) logRefused(err error) {
	status := 0
	var rej *ws.ConnectionRejectedError
	if errors.As(err, &rej) {
		status = rej.StatusCode()
	}
	c.srv.log.Debug("upgrade refused", "remote", c.remote(), "status", status, "err", err.Error())
}
