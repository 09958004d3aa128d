package wsframe

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// MaxHeaderSize is the largest server frame header (unmasked, 64-bit length).
const MaxHeaderSize = 10

// maxControlPayload is the largest control frame payload (RFC 6455 5.5).
const maxControlPayload = 125

// serverHeaderSize returns the size of an unmasked header for n payload bytes.
func serverHeaderSize(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// putServerHeader writes the header of a final, unmasked frame with opcode op
// and n payload bytes to b, which has exactly serverHeaderSize(n) bytes.
func putServerHeader(b []byte, op ws.OpCode, n int) {
	b[0] = bitFin | byte(op)&maskOp
	switch len(b) {
	case 2:
		b[1] = byte(n)
	case 4:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
}

// appendControl appends a complete control frame; payloads over 125 bytes are
// truncated to 125 to keep the frame valid.
func appendControl(dst []byte, op ws.OpCode, payload []byte) []byte {
	if len(payload) > maxControlPayload {
		payload = payload[:maxControlPayload]
	}
	dst = append(dst, bitFin|byte(op), byte(len(payload)))
	return append(dst, payload...)
}

// AppendPong appends a complete pong frame with payload to dst.
// A payload over 125 bytes (never produced by Parser.OnPing) is truncated.
func AppendPong(dst, payload []byte) []byte { return appendControl(dst, ws.OpPong, payload) }

// AppendPing appends a complete ping frame with payload to dst.
// A payload over 125 bytes is truncated.
func AppendPing(dst, payload []byte) []byte { return appendControl(dst, ws.OpPing, payload) }
