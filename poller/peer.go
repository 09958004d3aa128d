package poller

import (
	"net"

	"github.com/c1mhq/c1m/wsframe"
)

// Peer is a client connection as a protocol handler sees it: a WebSocket
// connection (*Conn), or a connection another protocol emulates over HTTP
// (a SockJS session), so that one protocol handler serves both. Frames
// given to Send and SendSlot are WebSocket frames (sealed with
// wsframe.Prepared.Seal); a Peer that is not a WebSocket carries their
// payloads in its own framing. The methods have the semantics of Conn's
// and are safe for concurrent use. A Peer is comparable (a pointer): it is
// the hub's key for its subscriptions.
type Peer interface {
	Send(p *wsframe.Prepared) error
	SendSlot(s *Slot, p *wsframe.Prepared) error
	CloseWith(code wsframe.StatusCode, text string, reason CloseReason)
	// Authorization and Query are those of the request that opened the
	// connection.
	Authorization() string
	Query() string
	RemoteAddr() net.Addr
	Value() any
	SetValue(v any)
}

var _ Peer = (*Conn)(nil)
