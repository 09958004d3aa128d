package socketio

import (
	"strconv"
	"sync"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// EventMsg is the event that carries a delivery.
const EventMsg = "msg"

// format is the hub.Format of Socket.IO deliveries; the variant is the
// namespace. A text delivery is one WebSocket text frame holding the
// Engine.IO message of the event
//
//	42[/nsp,]["msg",{"op":"msg","topic":T,"seq":N,"ts":TS[,"snap":true],"data":DATA}]
//
// (the native delivery object, byte for byte); a binary one is the text
// frame of a BINARY_EVENT whose data is the placeholder of attachment 0,
// followed by a binary frame with the data.
//
// With recovery on (epoch set), the event has one more argument, the offset
// "<epoch>/<topic>=<seq>" of the message (the same for every socket).
type format struct{ epoch string }

// Format is the Socket.IO format without recovery offsets.
var Format hub.Format = format{}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (f format) Encode(p *wsframe.Prepared, m *hub.Msg, nsp string) {
	if !m.Binary {
		p.B = appendHead(p.B, TypeEvent, 0, nsp, 0, false)
		p.B = appendDelivery(p.B, m)
		p.B = f.appendOffset(p.B, m)
		p.B = append(p.B, ']')
		p.Seal(ws.OpText)
		return
	}
	sp := scratchPool.Get().(*[]byte)
	t := appendHead((*sp)[:0], TypeBinaryEvent, 1, nsp, 0, false)
	t = appendDelivery(t, m)
	t = f.appendOffset(t, m)
	t = append(t, ']')
	p.B = engineio.AppendFrameHeader(p.B, ws.OpText, len(t))
	p.B = append(p.B, t...)
	p.B = engineio.AppendFrameHeader(p.B, ws.OpBinary, len(m.Data))
	p.B = append(p.B, m.Data...)
	p.SealRaw()
	*sp = t[:0]
	scratchPool.Put(sp)
}

// appendDelivery appends `["msg",` and the native delivery object (binary
// data as the placeholder of attachment 0), without the closing bracket.
func appendDelivery(b []byte, m *hub.Msg) []byte {
	b = append(b, `["msg",`...)
	b = native.AppendDeliveryHead(b, m)
	if m.Binary {
		return append(b, `,"binary":true,"data":{"_placeholder":true,"num":0}}`...)
	}
	b = append(b, `,"data":`...)
	b = append(b, m.Data...)
	return append(b, '}')
}

// appendOffset appends the offset argument when recovery is on. Topics and
// epochs need no JSON escaping.
func (f format) appendOffset(b []byte, m *hub.Msg) []byte {
	if f.epoch == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, f.epoch...)
	b = append(b, '/')
	b = append(b, m.Topic...)
	b = append(b, '=')
	b = strconv.AppendUint(b, m.Seq, 10)
	return append(b, '"')
}
