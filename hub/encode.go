package hub

import (
	"encoding/binary"
	"strconv"
)

// Binary frame kinds (byte 0 of a binary delivery, docs/PROTOCOL.md).
const (
	binaryKindMsg  byte = 1 // live or recovered message
	binaryKindSnap byte = 2 // last value sent on subscribe
)

// appendJSONMsg appends the text delivery
//
//	{"op":"msg","topic":T,"seq":N,"ts":TS[,"snap":true],"data":DATA}
//
// to b. topic is a validated topic, so it needs no JSON escaping; data is a
// JSON value copied byte for byte and always ends the object (the snapshot
// builder relies on that: data is the frame's bytes before the final '}').
func appendJSONMsg(b []byte, topic string, seq uint64, ts int64, snap bool, data []byte) []byte {
	b = append(b, `{"op":"msg","topic":"`...)
	b = append(b, topic...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	if snap {
		b = append(b, `,"snap":true`...)
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// appendBinaryMsg appends the binary delivery
//
//	kind(1) | uvarint len(topic) | topic | seq uint64 BE | ts int64 BE | data
//
// to b. data always ends the payload.
func appendBinaryMsg(b []byte, kind byte, topic string, seq uint64, ts int64, data []byte) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(topic)))
	b = append(b, topic...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return append(b, data...)
}
