package poller

import (
	"io"
	"log/slog"
	"testing"
)

// The debug lines of opens and closes sit on every connection's path: with
// the level disabled they must cost no allocation.
func TestDisabledDebugLogAllocatesNothing(t *testing.T) {
	logAll := func(c *Conn) {
		if c.srv.debug() {
			c.logOpen()
		}
		if c.srv.debug() {
			c.logClose(ReasonPeerGone, true)
		}
	}
	for _, tc := range []struct {
		level slog.Level
		zero  bool
	}{{slog.LevelInfo, true}, {slog.LevelDebug, false}} {
		s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: tc.level}))}
		c := &Conn{srv: s}
		n := testing.AllocsPerRun(200, func() { logAll(c) })
		if (n == 0) != tc.zero {
			t.Errorf("level %v: %.1f allocs per open+close log, want zero: %v", tc.level, n, tc.zero)
		}
	}
}
