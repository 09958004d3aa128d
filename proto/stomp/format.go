package stomp

import (
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/wsframe"
)

// format is the hub.Format of STOMP MESSAGE frames. A MESSAGE differs
// between subscribers only in its subscription header and, for client acks,
// its ack header, so the variant is
//
//	<ack mode><destination kind><subscription id>
//
// with the ack mode 'a' (auto), 'c' (client) or 'i' (client-individual) and
// the kind 't' (/topic/) or 'q' (/queue/). @stomp/stompjs numbers its
// subscriptions sub-0, sub-1, ..., so most clients share a variant and a
// publish is encoded once for all of them. The frame is
//
//	MESSAGE
//	subscription:<id>
//	message-id:<topic>/<seq>
//	destination:/topic/<topic>
//	ack:<topic>/<seq>/<id>            (client and client-individual only)
//	content-type:application/json     (application/octet-stream for binary data)
//	content-length:<n>
//	x-c1m-epoch:<epoch>
//	x-c1m-seq:<seq>
//	x-c1m-ts:<publish time, unix ns>
//	x-c1m-snap:true                   (the last value sent on subscribe only)
//
//	<data>NUL
//
// in a text WebSocket frame, or a binary one when the data is not valid
// UTF-8. Topics and epochs need no escaping.
type format struct{ epoch string }

func (f *format) Encode(p *wsframe.Prepared, m *hub.Msg, variant string) {
	mode, kind, id := variant[0], variant[1], variant[2:]
	b := append(p.B, "MESSAGE\nsubscription:"...)
	b = AppendEscaped(b, id)
	b = append(b, "\nmessage-id:"...)
	b = appendMsgID(b, m.Topic, m.Seq)
	b = append(b, "\ndestination:"...)
	if kind == kindQueue {
		b = append(b, prefixQueue...)
	} else {
		b = append(b, prefixTopic...)
	}
	b = append(b, m.Topic...)
	if mode != ackAuto {
		b = append(b, "\nack:"...)
		b = appendMsgID(b, m.Topic, m.Seq)
		b = append(b, '/')
		b = AppendEscaped(b, id)
	}
	if m.Binary {
		b = append(b, "\ncontent-type:application/octet-stream\ncontent-length:"...)
	} else {
		b = append(b, "\ncontent-type:application/json\ncontent-length:"...)
	}
	b = strconv.AppendInt(b, int64(len(m.Data)), 10)
	b = append(b, "\nx-c1m-epoch:"...)
	b = append(b, f.epoch...)
	b = append(b, "\nx-c1m-seq:"...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, "\nx-c1m-ts:"...)
	b = strconv.AppendInt(b, m.TS, 10)
	if m.Snap {
		b = append(b, "\nx-c1m-snap:true"...)
	}
	b = append(b, "\n\n"...)
	b = append(b, m.Data...)
	p.B = append(b, 0)
	if m.Binary && !utf8.Valid(m.Data) {
		p.Seal(ws.OpBinary)
		return
	}
	p.Seal(ws.OpText)
}

// appendMsgID appends a message id, "<topic>/<seq>": unique within an
// epoch, and the same for every subscriber.
func appendMsgID(b []byte, topic string, seq uint64) []byte {
	b = append(b, topic...)
	b = append(b, '/')
	return strconv.AppendUint(b, seq, 10)
}
