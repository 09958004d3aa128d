package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
)

var (
	msgPrefix = []byte(`{"op":"msg","topic":"`)
	seqKey    = []byte(`,"seq":`)
	tsKey     = []byte(`,"ts":`)
	snapKey   = []byte(`,"snap":true`)
	dataKey   = []byte(`,"data":`)
)

// parseMsg parses a text delivery written in the server's fixed key order
// (op, topic, seq, ts, snap, data: docs/PROTOCOL.md) without allocating.
// ok is false for anything else, which then goes through encoding/json.
func parseMsg(b []byte) (topic []byte, seq uint64, ts int64, snap bool, data []byte, ok bool) {
	if !bytes.HasPrefix(b, msgPrefix) {
		return
	}
	b = b[len(msgPrefix):]
	i := bytes.IndexByte(b, '"')
	if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return
	}
	topic, b = b[:i], b[i+1:]
	if !bytes.HasPrefix(b, seqKey) {
		return
	}
	b = b[len(seqKey):]
	var n int
	if seq, n = parseUint(b); n == 0 {
		return
	}
	b = b[n:]
	if !bytes.HasPrefix(b, tsKey) {
		return
	}
	b = b[len(tsKey):]
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, n := parseUint(b)
	if n == 0 {
		return
	}
	ts = int64(u)
	if neg {
		ts = -ts
	}
	b = b[n:]
	if bytes.HasPrefix(b, snapKey) {
		snap = true
		b = b[len(snapKey):]
	}
	if !bytes.HasPrefix(b, dataKey) || len(b) < len(dataKey)+2 || b[len(b)-1] != '}' {
		return
	}
	return topic, seq, ts, snap, b[len(dataKey) : len(b)-1], true
}

func parseUint(b []byte) (uint64, int) {
	var v uint64
	i := 0
	for ; i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + uint64(b[i]-'0')
	}
	return v, i
}

// errBadFrame reports a frame the client cannot decode.
var errBadFrame = errors.New("c1m: undecodable frame from the server")

// parseBinary parses a binary delivery: kind (1 message, 2 snapshot),
// uvarint topic length, topic, seq and ts big endian, payload.
func parseBinary(b []byte) (topic []byte, seq uint64, ts int64, snap bool, data []byte, err error) {
	if len(b) < 2 || (b[0] != 1 && b[0] != 2) {
		return nil, 0, 0, false, nil, errBadFrame
	}
	snap = b[0] == 2
	l, v := binary.Uvarint(b[1:])
	if v <= 0 || l > 1024 || uint64(len(b)-1-v) < l+16 {
		return nil, 0, 0, false, nil, errBadFrame
	}
	p := b[1+v:]
	topic = p[:l]
	p = p[l:]
	return topic, binary.BigEndian.Uint64(p), int64(binary.BigEndian.Uint64(p[8:])), snap, p[16:], nil
}

// reply is any text frame that parseMsg did not take: ok and err replies,
// and deliveries in another form.
type reply struct {
	Op     string                `json:"op"`
	ID     *uint64               `json:"id"`
	Epoch  string                `json:"epoch"`
	Topics map[string]topicReply `json:"topics"`
	Code   int                   `json:"code"`
	Msg    string                `json:"msg"`
	Topic  string                `json:"topic"`
	Seq    uint64                `json:"seq"`
	TS     int64                 `json:"ts"`
	Snap   bool                  `json:"snap"`
	Data   json.RawMessage       `json:"data"`
}

type topicReply struct {
	Epoch     string `json:"epoch"`
	Seq       uint64 `json:"seq"`
	Recovered *bool  `json:"recovered"`
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }
