package sse

import (
	"encoding/base64"
	"strconv"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// Format is the hub.Format of SSE deliveries (one per hub: it knows the
// hub's epoch). Its variants say how a delivery is framed on the wire:
//
//	"c" chunked (HTTP/1.1) or "r" raw (HTTP/1.0, close-delimited), then
//	"o" open: the event waits for the stream's own id trailer (streams of
//	    several topics, whose ids name every topic's position);
//	"t" terminated by the blank line, no id (conflating streams);
//	"i" with the id and the blank line: a stream of one exact topic, whose
//	    position after a message is that message's seq, the same for every
//	    such stream, so the whole event is encoded once per publish.
//
// The event's data is the native protocol's delivery object, byte for byte
// the same JSON; binary data is base64 with "binary":true.
type Format struct {
	epoch string
}

// NewFormat returns the SSE format for a hub of the given epoch.
func NewFormat(epoch string) *Format { return &Format{epoch: epoch} }

// Stream framings (the second byte of a variant).
const (
	open       = 'o'
	terminated = 't'
	withID     = 'i'
)

// variant returns the variant for a stream.
func variant(chunked bool, ending byte) string {
	if chunked {
		return string([]byte{'c', ending})
	}
	return string([]byte{'r', ending})
}

// Encode implements hub.Format.
func (f *Format) Encode(p *wsframe.Prepared, m *hub.Msg, v string) {
	p.B = appendEvent(p.B, m)
	switch v[1] {
	case terminated:
		p.B = append(p.B, '\n')
	case withID:
		p.B = append(p.B, "id: "...)
		p.B = append(p.B, f.epoch...)
		p.B = append(p.B, '/')
		p.B = append(p.B, m.Topic...)
		p.B = append(p.B, '=')
		p.B = strconv.AppendUint(p.B, m.Seq, 10)
		p.B = append(p.B, "\n\n"...)
	}
	seal(p, v[0] == 'c')
}

func seal(p *wsframe.Prepared, chunked bool) {
	if chunked {
		p.SealChunk()
	} else {
		p.SealRaw()
	}
}

// appendEvent appends "data: {delivery}\n". Topics need no JSON escaping
// (hub.CheckTopic); data is one JSON value, copied, or base64 for binary.
func appendEvent(b []byte, m *hub.Msg) []byte {
	b = append(b, "data: "...)
	b = native.AppendDeliveryHead(b, m)
	if m.Binary {
		b = append(b, `,"binary":true,"data":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Data)
		b = append(b, `"}`...)
	} else {
		b = append(b, `,"data":`...)
		b = appendOneLine(b, m.Data)
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendOneLine copies a JSON value, turning the line breaks that JSON
// allows between tokens into spaces: an SSE data line must not break. Line
// breaks inside JSON strings are always escaped, so this never changes a
// value.
func appendOneLine(b, data []byte) []byte {
	start := len(b)
	b = append(b, data...)
	for i := start; i < len(b); i++ {
		if b[i] == '\n' || b[i] == '\r' {
			b[i] = ' '
		}
	}
	return b
}
