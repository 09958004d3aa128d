package engineio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"

	"github.com/gobwas/ws"
)

// Packet types of Engine.IO v4, as their text form starts.
const (
	TypeOpen    byte = '0'
	TypeClose   byte = '1'
	TypePing    byte = '2'
	TypePong    byte = '3'
	TypeMessage byte = '4'
	TypeUpgrade byte = '5'
	TypeNoop    byte = '6'
)

// Separator separates the packets of a polling payload.
const Separator = 0x1e

// errParse is the error of a payload or packet that does not decode.
var errParse = errors.New("engineio: parse error")

// AppendFrameHeader appends the header of a final, unmasked server WebSocket
// frame with opcode op and n payload bytes. Socket.IO builds a frame of
// several packets (an event and its binary attachments) with it.
func AppendFrameHeader(b []byte, op ws.OpCode, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}

// nextFrame splits the first server frame (as AppendFrameHeader and
// wsframe.Prepared.Seal write them: unmasked, final) off b. ok is false when b
// holds no complete frame.
func nextFrame(b []byte) (op ws.OpCode, payload, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	op = ws.OpCode(b[0] & 0x0f)
	n, h := int(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, nil, false
		}
		n, h = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, nil, false
		}
		n, h = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b)-h < n {
		return 0, nil, nil, false
	}
	return op, b[h : h+n], b[h+n:], true
}

// appendPayload appends the polling form of the packets in frames (complete
// WebSocket frames): text packets as they are, binary messages as "b" and
// base64, each after a separator unless it is the first of the payload
// (first). It returns the extended b and whether it appended anything.
func appendPayload(b, frames []byte, first bool) ([]byte, bool) {
	for {
		op, payload, rest, ok := nextFrame(frames)
		if !ok {
			return b, first
		}
		if !first {
			b = append(b, Separator)
		}
		first = false
		if op == ws.OpBinary {
			b = append(b, 'b')
			b = base64.StdEncoding.AppendEncode(b, payload)
		} else {
			b = append(b, payload...)
		}
		frames = rest
	}
}

// packet is one decoded client packet. data points into the input.
type packet struct {
	typ    byte // TypeMessage for a binary message
	data   []byte
	binary bool
}

// decodePacket decodes the text form of one packet (WebSocket text frame, or
// one packet of a polling payload, where binary is "b" and base64). It
// returns errParse for an empty packet, an unknown type or bad base64;
// decoded base64 is appended to scratch, whose new value is returned.
func decodePacket(b []byte, polling bool, scratch []byte) (packet, []byte, error) {
	if len(b) == 0 {
		return packet{}, scratch, errParse
	}
	if polling && b[0] == 'b' {
		start := len(scratch)
		out, err := base64.StdEncoding.AppendDecode(scratch, b[1:])
		if err != nil {
			return packet{}, scratch, errParse
		}
		return packet{typ: TypeMessage, data: out[start:], binary: true}, out, nil
	}
	if b[0] < TypeOpen || b[0] > TypeNoop {
		return packet{}, scratch, errParse
	}
	return packet{typ: b[0], data: b[1:]}, scratch, nil
}

// splitPayload calls fn for each packet of a polling payload, in order, and
// stops at the first error (of decoding or of fn). An empty payload is a
// parse error. A packet's data is valid only during fn.
func splitPayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return errParse
	}
	var scratch []byte
	for {
		one, rest, more := bytes.Cut(body, sep)
		p, s, err := decodePacket(one, true, scratch[:0])
		if err != nil {
			return err
		}
		scratch = s
		if err := fn(p); err != nil {
			return err
		}
		if !more {
			return nil
		}
		body = rest
	}
}

var sep = []byte{Separator}
