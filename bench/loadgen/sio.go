package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// This file is the load generator's client side of Socket.IO v5 over
// Engine.IO v4, the protocol of the socketio and idle_sio scenarios (c1m's
// /socket.io/ and Node's own socket.io server in bench/peers/node-socketio):
//
//   - WebSocket transport, directly: GET PATH?EIO=4&transport=websocket with an
//     upgrade; every text frame is one Engine.IO packet.
//   - Polling transport: one keep-alive TCP connection per client carrying one
//     request at a time: the handshake GET, then a POST whenever the client
//     has packets to send (CONNECT, subscribe, pongs) and otherwise a GET,
//     which the server holds until it has packets; the body of a GET answer is
//     packets separated by 0x1e.
//
// A client opens (the server's open packet 0{"sid":..}), sends CONNECT to
// "/" (40), and after the server's 40{"sid":..} emits
// 421["subscribe","TOPIC"] when it has a topic: it is ready at the ack 431[..]
// (without a topic, at the CONNECT reply). Server pings (2) are answered with
// pongs (3). Deliveries are events 42["msg",{"op":"msg",...,"seq":N,"ts":T,...}],
// scanned in place for seq and ts like the bench protocol's messages.

// Socket.IO transports (DialSpec.SIO, Config.SIOTransport).
const (
	SIOWebSocket = "websocket"
	SIOPolling   = "polling"
)

// DefaultSIOPath is the Socket.IO endpoint of c1m and of the reference server.
const DefaultSIOPath = "/socket.io/"

// Engine.IO / Socket.IO packet kinds returned by ScanSIO, beyond KindMsg and
// KindSnap (deliveries) and KindOther (anything the client ignores).
const (
	KindEIOOpen    = iota + 20 // 0{...}: the handshake; SIOSid has the sid
	KindEIOClose               // 1: the server closes the session
	KindEIOPing                // 2: answer with 3
	KindSIOConnect             // 40{...}: connected to "/"
	KindSIOAck                 // 43N[...]: the ack of id N (in seq)
	KindSIOError               // 41 (disconnect) or 44 (connect_error) for "/"
)

// ScanSIO classifies one Engine.IO packet (a WebSocket text frame, or one
// packet of a polling payload) without decoding it. A delivery,
// 42["msg",{...}] in the main namespace, is KindMsg (KindSnap for a snapshot)
// with the seq and ts of its object, as ScanMessage finds them. It allocates
// nothing. Packets of other namespaces (4x/ns,...) are KindOther.
func ScanSIO(p []byte) (kind int, seq uint64, ts int64) {
	if len(p) == 0 {
		return KindOther, 0, 0
	}
	switch p[0] {
	case '0':
		return KindEIOOpen, 0, 0
	case '1':
		return KindEIOClose, 0, 0
	case '2':
		if len(p) == 1 {
			return KindEIOPing, 0, 0
		}
		return KindOther, 0, 0 // 2probe: not used by a direct client
	case '4':
	default:
		return KindOther, 0, 0 // pong, upgrade, noop, binary
	}
	if len(p) < 2 {
		return KindOther, 0, 0
	}
	sio, rest := p[1], p[2:]
	if len(rest) > 0 && rest[0] == '/' {
		return KindOther, 0, 0 // another namespace
	}
	switch sio {
	case '0':
		return KindSIOConnect, 0, 0
	case '1', '4':
		return KindSIOError, 0, 0
	case '2':
		// An event with an optional ack id: 42["msg",{...}] or 42N[...].
		for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			rest = rest[1:]
		}
		if !bytes.HasPrefix(rest, []byte(`["msg",`)) {
			return KindOther, 0, 0
		}
		k, s, t := ScanMessage(rest[7:])
		if k == KindMsg || k == KindSnap {
			return k, s, t
		}
	case '3':
		id, n := uint64(0), 0
		for ; n < len(rest) && n < 19 && rest[n] >= '0' && rest[n] <= '9'; n++ {
			id = id*10 + uint64(rest[n]-'0')
		}
		if n > 0 && n < len(rest) && rest[n] == '[' {
			return KindSIOAck, id, 0
		}
	}
	return KindOther, 0, 0
}

// SIOSid is the sid of an open packet 0{"sid":"..",...}, or nil.
func SIOSid(p []byte) []byte {
	if len(p) == 0 || p[0] != '0' {
		return nil
	}
	return stringValue(p[1:], `"sid"`)
}

// AppendSIOSubscribe appends the packet that emits subscribe with topic and
// asks for ack id 1: 421["subscribe","TOPIC"].
func AppendSIOSubscribe(dst []byte, topic string) []byte {
	dst = append(dst, `421["subscribe",`...)
	dst = strconv.AppendQuote(dst, topic)
	return append(dst, ']')
}

// sioWSPath is the request of a direct WebSocket client at the Socket.IO path.
func sioWSPath(base string) string {
	return base + sep(base) + "EIO=4&transport=websocket"
}

func sep(path string) string {
	if bytes.IndexByte([]byte(path), '?') >= 0 {
		return "&"
	}
	return "?"
}

// AppendPollRequest appends one polling request on host at the Socket.IO
// path: the handshake GET when sid is empty, a GET of the session's packets
// when body is nil, else a POST of body (packets separated by 0x1e).
func AppendPollRequest(dst []byte, host, path, sid string, body []byte) []byte {
	if body == nil {
		dst = append(dst, "GET "...)
	} else {
		dst = append(dst, "POST "...)
	}
	dst = append(dst, path...)
	dst = append(dst, sep(path)...)
	dst = append(dst, "EIO=4&transport=polling"...)
	if sid != "" {
		dst = append(dst, "&sid="...)
		dst = append(dst, sid...) // sids are URL-safe (base64url alphabet)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	if body != nil {
		dst = append(dst, "\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
	}
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// PollError is a polling response the client cannot use.
type PollError string

func (e PollError) Error() string { return "engine.io polling: " + string(e) }

// Errors of ParsePollResponse.
const (
	ErrPollStatus      PollError = "response status is not 200"
	ErrPollNoLength    PollError = "response has no Content-Length (chunked polling answers are not supported)"
	ErrPollBadLength   PollError = "malformed Content-Length"
	ErrPollBodyTooLong PollError = "response body longer than the configured maximum"
)

// ParsePollResponse looks for one complete HTTP/1.1 response (header and
// Content-Length body) at the start of buf. It returns n == 0 and a nil error
// while the response is incomplete; otherwise n is its length and body points
// into buf. A response that is not 200 is an error carrying the status line.
func ParsePollResponse(buf []byte, maxBody int) (body []byte, n int, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 8192 {
			return nil, 0, ErrHeaderTooLarge
		}
		return nil, 0, nil
	}
	line, rest, _ := bytes.Cut(buf[:end], []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(line, []byte("HTTP/1.0 200")) {
		return nil, 0, PollError(string(ErrPollStatus) + ": " + string(line[:min(len(line), 100)]))
	}
	length := -1
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			continue
		}
		v, perr := strconv.Atoi(string(bytes.TrimSpace(value)))
		if perr != nil || v < 0 {
			return nil, 0, ErrPollBadLength
		}
		length = v
	}
	if length < 0 {
		return nil, 0, ErrPollNoLength
	}
	if length > maxBody {
		return nil, 0, ErrPollBodyTooLong
	}
	total := end + 4 + length
	if len(buf) < total {
		return nil, 0, nil
	}
	return buf[end+4 : total], total, nil
}

// NextPollPacket splits the first packet off a polling payload (packets are
// separated by the record separator 0x1e).
func NextPollPacket(payload []byte) (packet, rest []byte) {
	if i := bytes.IndexByte(payload, 0x1e); i >= 0 {
		return payload[:i], payload[i+1:]
	}
	return payload, nil
}

// sioState is the Socket.IO side of one client connection.
type sioState struct {
	polling   bool
	connected bool   // the server answered CONNECT
	topic     string // subscribe to it after CONNECT ("" for none)
	host      string
	path      string // the Socket.IO path (polling requests add the query)
	sid       string // polling: the session id
	queue     []byte // polling: packets to POST, 0x1e-separated
	posting   bool   // polling: the request in flight is a POST
}

// sioPacket handles one Engine.IO packet received by a Socket.IO client.
func (l *Loop) sioPacket(c *clientConn, p []byte, now int64) {
	kind, seq, ts := ScanSIO(p)
	switch kind {
	case KindMsg:
		l.deliver(c, seq, ts, now)
	case KindSnap:
		l.rx.Snaps++
	case KindEIOPing:
		l.sioSend(c, sioPong)
	case KindEIOOpen:
		if c.sio.polling {
			sid := SIOSid(p)
			if len(sid) == 0 {
				l.closeConn(c, fmt.Errorf("engine.io open packet without sid: %.200s", p))
				return
			}
			c.sio.sid = string(sid)
		}
		l.sioSend(c, sioConnect)
	case KindSIOConnect:
		if c.state != stSubscribing || c.sio.connected {
			return
		}
		c.sio.connected = true
		if c.sio.topic == "" {
			l.subHist.Record(now - c.start)
			l.opened(c)
			return
		}
		l.scratch = AppendSIOSubscribe(l.scratch[:0], c.sio.topic)
		l.sioSend(c, l.scratch)
	case KindSIOAck:
		if c.state == stSubscribing && c.sio.connected && seq == 1 {
			l.subHist.Record(now - c.start)
			l.opened(c)
		}
	case KindEIOClose, KindSIOError:
		l.closeConn(c, fmt.Errorf("socket.io: closed by server: %.200s", p))
	}
}

var (
	sioPong    = []byte("3")
	sioConnect = []byte("40")
)

// sioSend sends one packet: a text frame over WebSocket; over polling it is
// queued for the next POST (a request goes out when the one in flight is
// answered: see consumePoll).
func (l *Loop) sioSend(c *clientConn, p []byte) {
	if !c.sio.polling {
		l.send(c, OpText, p)
		return
	}
	if len(c.sio.queue) > 0 {
		c.sio.queue = append(c.sio.queue, 0x1e)
	}
	c.sio.queue = append(c.sio.queue, p...)
}

// consumePoll parses the polling answers in data (one request is in flight
// at a time, so each answer is to the request sent last) and sends the next
// request after each: a POST of the queued packets if any, else a GET.
func (l *Loop) consumePoll(c *clientConn, data []byte, now int64) int {
	used := 0
	for used < len(data) && c.state != stClosed {
		body, n, err := ParsePollResponse(data[used:], maxFrame)
		if err != nil {
			l.closeConn(c, err)
			return used
		}
		if n == 0 {
			break
		}
		used += n
		if c.state == stHandshaking {
			l.upHist.Record(now - c.start)
			c.state = stSubscribing
		}
		if c.sio.posting {
			c.sio.posting = false // the answer to a POST is "ok"
		} else {
			for p := body; len(p) > 0 && c.state != stClosed; {
				var pkt []byte
				pkt, p = NextPollPacket(p)
				l.sioPacket(c, pkt, now)
			}
		}
		if c.state == stClosed {
			return used
		}
		if c.sio.sid == "" {
			l.closeConn(c, errors.New("engine.io polling: no open packet in the handshake answer"))
			return used
		}
		var body2 []byte
		if len(c.sio.queue) > 0 {
			body2 = c.sio.queue
			c.sio.posting = true
		}
		c.out = AppendPollRequest(c.out, c.sio.host, c.sio.path, c.sio.sid, body2)
		c.sio.queue = c.sio.queue[:0]
		if !l.flush(c) {
			return used
		}
	}
	return used
}
