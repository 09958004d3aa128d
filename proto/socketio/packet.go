package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Packet types of Socket.IO v5.
const (
	TypeConnect      byte = '0'
	TypeDisconnect   byte = '1'
	TypeEvent        byte = '2'
	TypeAck          byte = '3'
	TypeConnectError byte = '4'
	TypeBinaryEvent  byte = '5'
	TypeBinaryAck    byte = '6'
)

// errPacket is a packet the reference parser refuses: the connection
// closes.
var errPacket = errors.New("socketio: invalid packet")

// packet is a decoded packet head; data points into the input.
type packet struct {
	typ         byte
	attachments int
	nsp         string
	id          uint64
	hasID       bool
	data        []byte // the JSON payload, nil when absent
}

// maxAttachments bounds the binary attachments of one packet.
const maxAttachments = 64

// decode parses a packet's text form as socket.io-parser's decoder does:
// type, attachment count and '-' (binary types), namespace and ',' (when it
// starts with '/'), ack id (digits), JSON payload. It checks that the
// payload is valid JSON of the type the packet type requires.
func decode(b []byte) (packet, error) {
	var p packet
	if len(b) == 0 || b[0] < TypeConnect || b[0] > TypeBinaryAck {
		return p, errPacket
	}
	p.typ = b[0]
	i := 1
	if p.typ == TypeBinaryEvent || p.typ == TypeBinaryAck {
		j := bytes.IndexByte(b[i:], '-')
		if j <= 0 || j > 3 {
			return p, errPacket
		}
		n, err := strconv.Atoi(string(b[i : i+j]))
		if err != nil || n < 0 || n > maxAttachments {
			return p, errPacket
		}
		p.attachments = n
		i += j + 1
	}
	p.nsp = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.nsp = string(b[i:])
			i = len(b)
		} else {
			p.nsp = string(b[i : i+j])
			i += j + 1
		}
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		id, err := strconv.ParseUint(string(b[start:i]), 10, 64)
		if err != nil {
			return p, errPacket
		}
		p.id, p.hasID = id, true
	}
	if i < len(b) {
		p.data = b[i:]
		if !json.Valid(p.data) {
			return p, errPacket
		}
	}
	if !payloadValid(p.typ, p.data) {
		return p, errPacket
	}
	return p, nil
}

// payloadValid is socket.io-parser's isPayloadValid.
func payloadValid(typ byte, data []byte) bool {
	kind := byte(0)
	if len(data) > 0 {
		kind = firstByte(data)
	}
	switch typ {
	case TypeConnect:
		return kind == 0 || kind == '{'
	case TypeDisconnect:
		return kind == 0
	case TypeConnectError:
		return kind == '"' || kind == '{'
	case TypeEvent, TypeBinaryEvent:
		if kind != '[' {
			return false
		}
		var first json.RawMessage
		if err := firstElem(data, &first); err != nil {
			return false
		}
		switch firstByte(first) {
		case '"':
			var name string
			if json.Unmarshal(first, &name) != nil {
				return false
			}
			return !reserved[name]
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return true
		}
		return false
	case TypeAck, TypeBinaryAck:
		return kind == '['
	}
	return false
}

// reserved are the event names a client may not emit.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

// firstElem decodes the first element of a JSON array.
func firstElem(data []byte, out *json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return err
	}
	if !dec.More() {
		return errPacket
	}
	return dec.Decode(out)
}

// appendHead appends the head of a packet: the Engine.IO message type, the
// Socket.IO type, the attachment count for binary types, the namespace
// unless it is "/", and the ack id when hasID.
func appendHead(b []byte, typ byte, attachments int, nsp string, id uint64, hasID bool) []byte {
	b = append(b, '4', typ)
	if typ == TypeBinaryEvent || typ == TypeBinaryAck {
		b = strconv.AppendInt(b, int64(attachments), 10)
		b = append(b, '-')
	}
	if nsp != "/" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	if hasID {
		b = strconv.AppendUint(b, id, 10)
	}
	return b
}

// placeholder is how an attachment appears in a binary packet's JSON.
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         *int `json:"num"`
}

// attachment returns the attachment raw names ({"_placeholder":true,
// "num":N}), if raw is one.
func attachment(raw json.RawMessage, atts [][]byte) ([]byte, bool) {
	if firstByte(raw) != '{' {
		return nil, false
	}
	var ph placeholder
	if json.Unmarshal(raw, &ph) != nil || !ph.Placeholder || ph.Num == nil || *ph.Num < 0 || *ph.Num >= len(atts) {
		return nil, false
	}
	return atts[*ph.Num], true
}
