package native

import (
	"strconv"

	"github.com/c1mhq/c1m/hub"
)

// AppendDeliveryHead appends the native delivery object of m without its
// data: {"op":"msg","topic":T,"seq":N,"ts":TS[,"snap":true] and no closing
// brace. Protocols that carry the same object in other framings (SSE,
// Socket.IO) append the data their way, then '}'. Topics need no JSON
// escaping (hub.CheckTopic).
func AppendDeliveryHead(b []byte, m *hub.Msg) []byte {
	b = append(b, `{"op":"msg","topic":"`...)
	b = append(b, m.Topic...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, m.TS, 10)
	if m.Snap {
		b = append(b, `,"snap":true`...)
	}
	return b
}
