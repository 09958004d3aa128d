package loadgen

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// This file is the load generator's minimal client side of RFC 6455: the
// upgrade request and response check, masked client frames, and a resumable
// parser for unmasked server frames. It implements only what the benchmark
// needs (no extensions, no UTF-8 validation).

// Opcodes used by the load generator.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// ProtocolError is a violation of RFC 6455 or of the upgrade exchange by the server.
type ProtocolError string

func (e ProtocolError) Error() string { return "websocket: " + string(e) }

// Protocol errors reported by ParseFrame and CheckUpgradeResponse.
const (
	ErrMaskedServerFrame ProtocolError = "server frame is masked"
	ErrReservedBits      ProtocolError = "reserved bits set without extension"
	ErrControlTooLong    ProtocolError = "control frame payload longer than 125 bytes"
	ErrFrameTooLarge     ProtocolError = "frame larger than the configured maximum"
	ErrBadStatus         ProtocolError = "upgrade response status is not 101"
	ErrBadAccept         ProtocolError = "upgrade response has a wrong Sec-WebSocket-Accept"
	ErrHeaderTooLarge    ProtocolError = "upgrade response header too large"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(wsGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// AppendUpgradeRequest appends an HTTP/1.1 upgrade request for path on host
// with the given 24-character base64 key.
func AppendUpgradeRequest(dst []byte, host, path, key string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n\r\n"...)
	return dst
}

// CheckUpgradeResponse looks for a complete upgrade response at the start of
// buf. It returns n == 0 and a nil error when the header is not complete yet;
// otherwise n is the length of the header (bytes after it are frames). The
// response must be 101 with Sec-WebSocket-Accept equal to accept.
func CheckUpgradeResponse(buf []byte, accept string) (n int, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > 8192 {
			return 0, ErrHeaderTooLarge
		}
		return 0, nil
	}
	head := buf[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return end + 4, ErrBadStatus
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(value)) != accept {
				return end + 4, ErrBadAccept
			}
			return end + 4, nil
		}
	}
	return end + 4, ErrBadAccept
}

// AppendFrame appends one final, masked client frame carrying payload.
func AppendFrame(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// Frame is one parsed server frame. Payload points into the buffer given to
// ParseFrame and is only valid until that buffer is reused.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// ParseFrame parses one unmasked server frame at the start of buf. It returns
// n == 0 and a nil error when buf holds only part of a frame; the caller keeps
// the bytes and calls again with more. Frames longer than maxLen fail with
// ErrFrameTooLarge.
func ParseFrame(buf []byte, maxLen int) (f Frame, n int, err error) {
	if len(buf) < 2 {
		return f, 0, nil
	}
	b0, b1 := buf[0], buf[1]
	if b0&0x70 != 0 {
		return f, 0, ErrReservedBits
	}
	if b1&0x80 != 0 {
		return f, 0, ErrMaskedServerFrame
	}
	f.Fin = b0&0x80 != 0
	f.Op = b0 & 0x0F
	hl := 2
	plen := uint64(b1 & 0x7F)
	switch plen {
	case 126:
		if len(buf) < 4 {
			return f, 0, nil
		}
		plen = uint64(binary.BigEndian.Uint16(buf[2:]))
		hl = 4
	case 127:
		if len(buf) < 10 {
			return f, 0, nil
		}
		plen = binary.BigEndian.Uint64(buf[2:])
		hl = 10
	}
	if f.Op >= OpClose && (plen > 125 || !f.Fin) {
		return f, 0, ErrControlTooLong
	}
	if plen > uint64(maxLen) {
		return f, 0, ErrFrameTooLarge
	}
	total := hl + int(plen)
	if len(buf) < total {
		return f, 0, nil
	}
	f.Payload = buf[hl:total]
	return f, total, nil
}

// Message kinds returned by ScanMessage.
const (
	KindOther = iota // anything else (including ok replies without a matching id)
	KindMsg          // {"op":"msg",...} with seq and ts
	KindSnap         // {"op":"msg",...,"snap":true}
	KindOK           // {"op":"ok","id":N}
)

// ScanMessage classifies one server text message of the bench protocol
// without decoding it: for KindMsg and KindSnap it returns seq and ts; for
// KindOK it returns the id in seq. It allocates nothing. Keys are looked for
// before the first "data" key only (every server puts data last, and the
// payload can be long); without a "data" key the whole message is searched.
// It assumes the data does not itself contain the keys "op", "seq", "ts",
// "id" or "snap" (the load generator's payloads never do).
func ScanMessage(p []byte) (kind int, seq uint64, ts int64) {
	if i := bytes.Index(p, []byte(`"data"`)); i > 0 {
		p = p[:i]
	}
	op := stringValue(p, `"op"`)
	switch string(op) {
	case "msg":
		s, ok1 := intValue(p, `"seq"`)
		t, ok2 := intValue(p, `"ts"`)
		if !ok1 || !ok2 {
			return KindOther, 0, 0
		}
		if v := rawValue(p, `"snap"`); bytes.HasPrefix(v, []byte("true")) {
			return KindSnap, uint64(s), t
		}
		return KindMsg, uint64(s), t
	case "ok":
		id, ok := intValue(p, `"id"`)
		if !ok {
			return KindOther, 0, 0
		}
		return KindOK, uint64(id), 0
	}
	return KindOther, 0, 0
}

// rawValue returns the bytes after `key:` (whitespace skipped), or nil.
func rawValue(p []byte, key string) []byte {
	for off := 0; ; {
		i := bytes.Index(p[off:], []byte(key))
		if i < 0 {
			return nil
		}
		j := off + i + len(key)
		for j < len(p) && (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r') {
			j++
		}
		if j < len(p) && p[j] == ':' {
			j++
			for j < len(p) && (p[j] == ' ' || p[j] == '\t' || p[j] == '\n' || p[j] == '\r') {
				j++
			}
			return p[j:]
		}
		off = j // the key text appeared as a value; keep looking
	}
}

func stringValue(p []byte, key string) []byte {
	v := rawValue(p, key)
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	end := bytes.IndexByte(v[1:], '"')
	if end < 0 {
		return nil
	}
	return v[1 : 1+end]
}

func intValue(p []byte, key string) (int64, bool) {
	v := rawValue(p, key)
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	var n uint64
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		if i == 19 {
			return 0, false // more digits than an int64 holds
		}
		n = n*10 + uint64(v[i]-'0')
	}
	if i == 0 || n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// errClosed reports a close frame received from the server.
var errClosed = errors.New("websocket: closed by server")
