package poller

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

type nopHandler struct{}

func (nopHandler) OnOpen(*Conn)                       {}
func (nopHandler) OnMessage(*Conn, ws.OpCode, []byte) {}
func (nopHandler) OnClose(*Conn, CloseReason)         {}

// TestBarrierTrimApplies pins the netpoll layout the trim depends on: if a
// netpoll upgrade changes it, the trim switches itself off and this test says
// so (the idle-connection memory goal then needs a new look).
func TestBarrierTrimApplies(t *testing.T) {
	s, err := New(Config{Handler: nopHandler{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(t.Context())
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Accepted == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !trimState.ok.Load() {
		t.Fatal("netpoll's connection layout changed: the per-connection barrier is no longer trimmed")
	}
}
