package loadgen

import (
	"bytes"
	"fmt"
	"strconv"
)

// This file is the load generator's client side of STOMP 1.2 over WebSocket,
// the protocol of the stomp and idle_stomp scenarios (c1m's /stomp and
// RabbitMQ's Web-STOMP plugin at /ws):
//
//   - the upgrade offers Sec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp;
//   - the client sends CONNECT (accept-version:1.2, host, heart-beat:0,0) and,
//     at the server's CONNECTED, SUBSCRIBE to /topic/TOPIC (id sub-0,
//     ack:auto); it is ready then (STOMP answers a SUBSCRIBE only when it
//     asks for a receipt, and the frame is kept minimal: the stomp scenario
//     checks that every subscription is live with a probe publish instead);
//   - every MESSAGE frame is a delivery. A WebSocket message may carry
//     several frames, and a frame may be split across messages (the parser
//     keeps the tail); EOLs between frames are heart-beats.
//
// A MESSAGE's seq and publish time come from c1m's headers x-c1m-seq and
// x-c1m-ts (unix ns, taken by the server at publish, like the bench
// protocol's seq and ts); a broker without them (RabbitMQ) gets them from the
// body, {"ts":..,"seq":..,"p":"xxx"}, which the load generator's STOMP
// publisher stamps when it builds the SEND frame (as for Centrifugo). Frames
// are parsed in place: command line, headers until the blank line, the body
// by content-length (else up to the NUL), then the NUL.

// STOMP endpoints: c1m's, and RabbitMQ Web-STOMP's (port 15674 by default).
const (
	DefaultSTOMPPath = "/stomp"
	RabbitSTOMPPath  = "/ws"
)

// STOMPSubprotocols is the Sec-WebSocket-Protocol the client offers.
const STOMPSubprotocols = "v12.stomp, v11.stomp, v10.stomp"

// ProtoSTOMP is a server reached only through STOMP (RabbitMQ Web-STOMP):
// publishing with STOMP SEND, samples from /proc (see stomp_broker.go).
const ProtoSTOMP = "stomp"

// STOMP frame kinds returned by ParseSTOMPFrame, beyond KindMsg (a MESSAGE
// with seq and publish time), KindSnap (a MESSAGE without them) and
// KindOther (any other frame).
const (
	KindSTOMPConnected = iota + 30 // CONNECTED
	KindSTOMPReceipt               // RECEIPT
	KindSTOMPError                 // ERROR: the server closes the connection
	KindSTOMPHeartbeat             // one or more EOLs between frames
)

// STOMPError is a frame the client cannot parse.
type STOMPError string

func (e STOMPError) Error() string { return "stomp: " + string(e) }

// Errors of ParseSTOMPFrame.
const (
	ErrSTOMPNoNUL         STOMPError = "frame body (by content-length) not followed by NUL"
	ErrSTOMPBadLength     STOMPError = "malformed content-length"
	ErrSTOMPFrameTooLarge STOMPError = "frame larger than the configured maximum"
	ErrSTOMPBadHeader     STOMPError = "header line without ':'"
)

// STOMPFrame is what the load generator reads from one server frame. Body
// points into the buffer given to ParseSTOMPFrame.
type STOMPFrame struct {
	Kind int
	Seq  uint64 // KindMsg: x-c1m-seq, or the body's "seq"
	Ts   int64  // KindMsg: x-c1m-ts, or the body's "ts" (publish time, unix ns)
	Body []byte
	Head []byte // the command line and headers (for error messages)
}

// ParseSTOMPFrame parses one frame (or a run of heart-beat EOLs) at the start
// of buf. It returns n == 0 and a nil error while the frame is incomplete;
// otherwise n is the bytes it used (the frame through its NUL). A frame that
// would exceed maxLen is an error. It allocates nothing.
func ParseSTOMPFrame(buf []byte, maxLen int) (f STOMPFrame, n int, err error) {
	// Heart-beats: EOL is "\n" or "\r\n".
	for n < len(buf) {
		if buf[n] == '\n' {
			n++
		} else if buf[n] == '\r' && n+1 < len(buf) && buf[n+1] == '\n' {
			n += 2
		} else {
			break
		}
	}
	if n > 0 {
		f.Kind = KindSTOMPHeartbeat
		return f, n, nil
	}
	incomplete := func() (STOMPFrame, int, error) {
		if len(buf) > maxLen {
			return STOMPFrame{}, 0, ErrSTOMPFrameTooLarge
		}
		return STOMPFrame{}, 0, nil
	}
	// Command line.
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		return incomplete()
	}
	cmd := trimCR(buf[:eol])
	pos := eol + 1
	length := -1
	var seq, ts int64
	haveSeq, haveTs := false, false
	for {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			return incomplete()
		}
		line := trimCR(buf[pos : pos+i])
		pos += i + 1
		if len(line) == 0 {
			break // the blank line: the body follows
		}
		c := bytes.IndexByte(line, ':')
		if c < 0 {
			return STOMPFrame{}, 0, ErrSTOMPBadHeader
		}
		name, value := line[:c], line[c+1:]
		// STOMP 1.2: of repeated headers, the first one counts.
		switch string(name) { // no allocation: the compiler compares in place
		case "content-length":
			if length < 0 {
				v, ok := parseDigits(value)
				if !ok {
					return STOMPFrame{}, 0, ErrSTOMPBadLength
				}
				length = int(v)
			}
		case "x-c1m-seq":
			if !haveSeq {
				seq, haveSeq = parseDigits(value)
			}
		case "x-c1m-ts":
			if !haveTs {
				ts, haveTs = parseDigits(value)
			}
		}
	}
	head := buf[:pos]
	var body []byte
	if length >= 0 {
		if length > maxLen {
			return STOMPFrame{}, 0, ErrSTOMPFrameTooLarge
		}
		if len(buf) < pos+length+1 {
			return incomplete()
		}
		if buf[pos+length] != 0 {
			return STOMPFrame{}, 0, ErrSTOMPNoNUL
		}
		body = buf[pos : pos+length]
		n = pos + length + 1
	} else {
		z := bytes.IndexByte(buf[pos:], 0)
		if z < 0 {
			return incomplete()
		}
		body = buf[pos : pos+z]
		n = pos + z + 1
	}
	f = STOMPFrame{Kind: KindOther, Body: body, Head: head}
	switch string(cmd) {
	case "MESSAGE":
		if !haveSeq || !haveTs {
			// A broker's MESSAGE: the publisher's stamp in the body.
			if seq, haveSeq = intValue(body, `"seq"`); haveSeq {
				ts, haveTs = intValue(body, `"ts"`)
			}
		}
		if haveSeq && haveTs && seq >= 0 {
			f.Kind, f.Seq, f.Ts = KindMsg, uint64(seq), ts
		} else {
			f.Kind = KindSnap
		}
	case "CONNECTED":
		f.Kind = KindSTOMPConnected
	case "RECEIPT":
		f.Kind = KindSTOMPReceipt
	case "ERROR":
		f.Kind = KindSTOMPError
	}
	return f, n, nil
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// parseDigits reads a non-negative decimal header value that fits an int64.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0') // 19 digits fit a uint64
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// AppendSTOMPUpgradeRequest is AppendUpgradeRequest offering the STOMP
// subprotocols.
func AppendSTOMPUpgradeRequest(dst []byte, host, path, key string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "...)
	dst = append(dst, STOMPSubprotocols...)
	return append(dst, "\r\n\r\n"...)
}

// AppendSTOMPConnect appends the CONNECT frame for virtual host host, with no
// heart-beats.
func AppendSTOMPConnect(dst []byte, host string) []byte {
	dst = append(dst, "CONNECT\naccept-version:1.2\nhost:"...)
	dst = append(dst, host...)
	return append(dst, "\nheart-beat:0,0\n\n\x00"...)
}

// AppendSTOMPSubscribe appends the SUBSCRIBE frame of subscription sub-0 to
// /topic/TOPIC with automatic acknowledgement.
func AppendSTOMPSubscribe(dst []byte, topic string) []byte {
	dst = append(dst, "SUBSCRIBE\nid:sub-0\ndestination:/topic/"...)
	dst = append(dst, topic...)
	return append(dst, "\nack:auto\n\n\x00"...)
}

// AppendSTOMPSend appends a SEND frame of body to /topic/TOPIC.
func AppendSTOMPSend(dst []byte, topic string, body []byte) []byte {
	dst = append(dst, "SEND\ndestination:/topic/"...)
	dst = append(dst, topic...)
	dst = append(dst, "\ncontent-type:application/json\ncontent-length:"...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\n\n"...)
	dst = append(dst, body...)
	return append(dst, 0)
}

// stompState is the STOMP side of one client connection.
type stompState struct {
	host      string // CONNECT's host header
	topic     string // subscribe to it at CONNECTED ("" for none)
	connected bool
	partial   []byte // the start of a frame whose end is in a later WebSocket message
}

// stompMessage handles one WebSocket message received by a STOMP client: the
// frames in it, after the tail of an earlier message if one was left.
func (l *Loop) stompMessage(c *clientConn, p []byte, now int64) {
	st := c.stomp
	if len(st.partial) > 0 {
		st.partial = append(st.partial, p...)
		p = st.partial
	}
	for len(p) > 0 && c.state != stClosed {
		f, n, err := ParseSTOMPFrame(p, maxFrame)
		if err != nil {
			l.closeConn(c, err)
			return
		}
		if n == 0 {
			break
		}
		p = p[n:]
		l.stompFrame(c, &f, now)
	}
	if c.state == stClosed {
		return
	}
	if len(p) == 0 {
		st.partial = st.partial[:0:0]
	} else {
		st.partial = append(st.partial[:0], p...) // p may be st.partial's tail: append moves it down
	}
}

func (l *Loop) stompFrame(c *clientConn, f *STOMPFrame, now int64) {
	switch f.Kind {
	case KindMsg:
		l.deliver(c, f.Seq, f.Ts, now)
	case KindSnap:
		l.rx.Snaps++
	case KindSTOMPConnected:
		st := c.stomp
		if c.state != stSubscribing || st.connected {
			return
		}
		st.connected = true
		if st.topic != "" {
			l.scratch = AppendSTOMPSubscribe(l.scratch[:0], st.topic)
			l.send(c, OpText, l.scratch)
			if c.state == stClosed {
				return
			}
		}
		l.subHist.Record(now - c.start)
		l.opened(c)
	case KindSTOMPError:
		l.closeConn(c, fmt.Errorf("stomp ERROR from server: %.300q", append(f.Head[:len(f.Head):len(f.Head)], f.Body...)))
	}
}
