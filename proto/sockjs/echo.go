package sockjs

import (
	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Echo is a Protocol that sends every message back: the /echo service of
// the SockJS test suite's server.
type Echo struct{}

// Open implements Protocol.
func (Echo) Open(poller.Peer) {}

// Message implements Protocol: the message goes back.
func (Echo) Message(c poller.Peer, data []byte) {
	_ = c.Send(wsframe.NewPrepared(ws.OpText, data))
}

// Closed implements Protocol.
func (Echo) Closed(poller.Peer) {}

// Closer is a Protocol that closes every session at once with
// c[3000,"Go away!"]: the /close service of the SockJS test suite's
// server.
type Closer struct{}

// Open implements Protocol.
func (Closer) Open(c poller.Peer) {
	c.CloseWith(wsframe.StatusCode(CodeGoAway), textGoAway, poller.ReasonServer)
}

// Message implements Protocol.
func (Closer) Message(poller.Peer, []byte) {}

// Closed implements Protocol.
func (Closer) Closed(poller.Peer) {}
