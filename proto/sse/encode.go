package sse

import (
	"encoding/base64"
	"strconv"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/wsframe"
)

// format is the hub.Format of SSE deliveries. Its variants say how a
// delivery is framed on the wire:
//
//	"c"  chunked (HTTP/1.1), the event left open for the stream's id trailer
//	"r"  raw (HTTP/1.0, close-delimited), left open
//	"ct", "rt"  the same, terminated by the blank line (conflating streams,
//	            which send no ids)
//
// The event's data is the native protocol's delivery object, byte for byte
// the same JSON; binary data is base64 with "binary":true.
type format struct{}

// Format is the one SSE format value the hub sees.
var Format hub.Format = format{}

// variant returns the variant for a stream.
func variant(chunked, terminated bool) string {
	switch {
	case chunked && terminated:
		return "ct"
	case chunked:
		return "c"
	case terminated:
		return "rt"
	}
	return "r"
}

func (format) Encode(p *wsframe.Prepared, m *hub.Msg, v string) {
	p.B = appendEvent(p.B, m)
	if len(v) == 2 { // terminated
		p.B = append(p.B, '\n')
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
	b = append(b, `data: {"op":"msg","topic":"`...)
	b = append(b, m.Topic...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, m.TS, 10)
	if m.Snap {
		b = append(b, `,"snap":true`...)
	}
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
