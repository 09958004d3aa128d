package poller

import (
	"errors"
	"sync/atomic"
)

// CloseReason says why a connection ended. Every close is counted by reason.
type CloseReason uint8

// Close reasons.
const (
	ReasonPeerClose         CloseReason = iota // the peer sent a close frame; HTTP: the response was the last the client asked for
	ReasonPeerGone                             // the peer hung up without a close frame (HTTP: before its response ended)
	ReasonProtocolError                        // 1002 sent; HTTP: a malformed request (400, 501, 505, 417)
	ReasonInvalidPayload                       // 1007 sent
	ReasonMessageTooBig                        // 1009 sent; HTTP: 413, or too much input behind a held request or stream
	ReasonSlowConsumer                         // queue bound exceeded under SlowDisconnect (1008; HTTP: closed)
	ReasonWriteTimeout                         // the kernel took nothing for WriteTimeout
	ReasonWriteError                           // a write failed (reset by peer, ...)
	ReasonIdleTimeout                          // no bytes from the peer for IdleTimeout (HTTP: no next request)
	ReasonHandshakeTimeout                     // the request head (HTTP: head and body) did not complete in time
	ReasonHandshakeRejected                    // the upgrade or HTTP request was refused with an HTTP error (431, 503, ...)
	ReasonShutdown                             // server shutdown (1001; HTTP: stream ended, held request 503)
	ReasonServer                               // closed by the application (Conn.Close; HTTP: EndStream of a close-delimited stream)
	ReasonOpRate                               // 1008 sent: the client kept asking for operations past its rate (internal/oprate)
	ReasonTLSHandshake                         // the TLS handshake failed (not TLS, no common version or cipher, a bad record); a plain HTTP request got 400
	numReasons
)

var reasonNames = [numReasons]string{
	"peer_close", "peer_gone", "protocol_error", "invalid_payload", "message_too_big",
	"slow_consumer", "write_timeout", "write_error", "idle_timeout", "handshake_timeout",
	"handshake_rejected", "shutdown", "server", "op_rate", "tls_handshake",
}

func (r CloseReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Errors returned by Send and SendSlot. The frame's reference is consumed in
// every case.
var (
	ErrClosed       = errors.New("poller: connection closed")
	ErrSlowConsumer = errors.New("poller: slow consumer")
)

// Stats are the server's counters. Read them with Server.Stats.
type Stats struct {
	Conns       int64  `json:"conns"`     // upgraded WebSocket connections open now
	TCPConns    int64  `json:"tcp_conns"` // TCP connections open now (including handshakes and HTTP)
	Accepted    uint64 `json:"accepted"`
	Upgraded    uint64 `json:"upgraded"`
	Rejected    uint64 `json:"rejected"`     // upgrades and reactor HTTP requests refused with an HTTP error other than 503
	Refused503  uint64 `json:"refused_503"`  // upgrades and reactor HTTP requests refused because of the connection limit or shutdown
	Backlogged  int64  `json:"backlogged"`   // connections whose write-back goroutine is running now
	QueuedBytes int64  `json:"queued_bytes"` // bytes queued on all connections now
	Dropped     uint64 `json:"dropped"`      // frames dropped under SlowDrop
	FramesOut   uint64 `json:"frames_out"`   // frames written
	Writes      uint64 `json:"writes"`       // writev calls (FramesOut/Writes is the coalescing factor)
	MessagesIn  uint64 `json:"messages_in"`
	// DeflateConns counts upgrades that negotiated permessage-deflate;
	// DeflateSent the compressed frames queued (each a reference to a frame
	// compressed once, shared by every deflate connection that sent it) and
	// DeflateSaved the bytes they saved on the wire against the
	// uncompressed frames.
	DeflateConns uint64            `json:"deflate_conns"`
	DeflateSent  uint64            `json:"deflate_sent"`
	DeflateSaved uint64            `json:"deflate_saved_bytes"`
	Streams      int64             `json:"streams"`       // reactor HTTP streams open now (StartStream until EndStream or close)
	HeldRequests int64             `json:"held_requests"` // reactor HTTP requests dispatched and not answered yet
	HTTPRequests uint64            `json:"http_requests"` // reactor HTTP requests dispatched to an HTTPHandler
	Closes       map[string]uint64 `json:"closes"`
	MaxConns     int               `json:"max_conns"`
	// RefusedIPConns and RefusedIPRate count the connections answered 429
	// for Config.MaxConnsPerIP and ConnectRatePerIP; TrackedIPs is the
	// client addresses those limits track now.
	RefusedIPConns uint64 `json:"refused_ip_conns"`
	RefusedIPRate  uint64 `json:"refused_ip_rate"`
	TrackedIPs     int    `json:"tracked_ips"`
	RlimitNofile   uint64 `json:"rlimit_nofile"`

	// TLS listener (ListenTLS). TLSConns is the TLS connections open now;
	// TLSHandshakes the handshakes completed (TLSResumed of them with
	// session resumption; TLS13 and TLS12 by version);
	// TLSHandshakeErrors those that failed (close reason tls_handshake, or
	// the peer left) and TLSHandshakeTimeouts the connections closed by
	// HandshakeTimeout before their handshake completed. TLSHandshaking is
	// the handshakes running or queued now, on TLSHandshakeWorkers
	// goroutines.
	TLSConns             int64  `json:"tls_conns"`
	TLSHandshakes        uint64 `json:"tls_handshakes"`
	TLSResumed           uint64 `json:"tls_resumed"`
	TLS13                uint64 `json:"tls13"`
	TLS12                uint64 `json:"tls12"`
	TLSHandshakeErrors   uint64 `json:"tls_handshake_errors"`
	TLSHandshakeTimeouts uint64 `json:"tls_handshake_timeouts"`
	TLSHandshaking       int64  `json:"tls_handshaking"`
	TLSHandshakeWorkers  int    `json:"tls_handshake_workers"`
	// TLSTrims counts the times the sweeper dropped crypto/tls's input
	// buffers of a silent TLS connection (about 3.5 KB each).
	TLSTrims uint64 `json:"tls_trims"`
}

type counters struct {
	conns, tcpConns, backlogged, queuedBytes atomic.Int64
	streams, held                            atomic.Int64
	httpRequests                             atomic.Uint64
	accepted, upgraded, rejected, refused503 atomic.Uint64
	dropped, framesOut, writes, messagesIn   atomic.Uint64
	deflateConns, deflateSent, deflateSaved  atomic.Uint64
	refusedIPConns, refusedIPRate            atomic.Uint64
	tlsConns, tlsHandshaking                 atomic.Int64
	tlsHandshakes, tlsResumed, tls13, tls12  atomic.Uint64
	tlsHandshakeErrors, tlsHandshakeTimeouts atomic.Uint64
	tlsTrims                                 atomic.Uint64
	closes                                   [numReasons]atomic.Uint64
}
