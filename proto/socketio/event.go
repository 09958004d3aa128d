package socketio

import (
	"encoding/json"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/wsframe"
)

// Event is an event from a client, as Config.OnEvent sees it.
type Event struct {
	// Name is the event name.
	Name string
	// Args are the arguments after the name, as raw JSON; a binary
	// attachment appears as {"_placeholder":true,"num":N}.
	Args []json.RawMessage
	// Attachments are the binary attachments, by num. They may be kept.
	Attachments [][]byte

	so    *Socket
	id    uint64
	hasID bool
}

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasID }

// Ack acknowledges the event with args and attachments (referenced from
// args by placeholders); it does nothing when the client asked for no ack.
func (e *Event) Ack(args []json.RawMessage, atts [][]byte) {
	if !e.hasID {
		return
	}
	typ := TypeAck
	if len(atts) > 0 {
		typ = TypeBinaryAck
	}
	e.so.sendPacket(typ, e.id, true, args, atts)
}

// EmitRaw sends the event name with raw JSON args and attachments
// (referenced from args by placeholders), without an ack.
func (so *Socket) EmitRaw(name string, args []json.RawMessage, atts [][]byte) {
	n, _ := json.Marshal(name)
	all := make([]json.RawMessage, 0, len(args)+1)
	all = append(all, n)
	all = append(all, args...)
	typ := TypeEvent
	if len(atts) > 0 {
		typ = TypeBinaryEvent
	}
	so.sendPacket(typ, 0, false, all, atts)
}

// sendPacket sends a packet whose data is the array args, followed by its
// attachments, as one Prepared: the text frame, then a binary frame each.
func (so *Socket) sendPacket(typ byte, id uint64, hasID bool, args []json.RawMessage, atts [][]byte) {
	t := appendHead(make([]byte, 0, 64), typ, len(atts), so.nsp, id, hasID)
	t = append(t, '[')
	for i, a := range args {
		if i > 0 {
			t = append(t, ',')
		}
		t = append(t, a...)
	}
	t = append(t, ']')
	if len(atts) == 0 {
		so.sendText(t)
		return
	}
	p := wsframe.AcquirePrepared()
	p.B = engineio.AppendFrameHeader(p.B, ws.OpText, len(t))
	p.B = append(p.B, t...)
	for _, a := range atts {
		p.B = engineio.AppendFrameHeader(p.B, ws.OpBinary, len(a))
		p.B = append(p.B, a...)
	}
	p.SealRaw()
	_ = so.cl.sess.Send(p)
}
