package engineio

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/gobwas/ws"
)

// payloadNaive splits a polling payload the obvious way: the oracle of
// splitPayload.
func payloadNaive(body []byte) ([]packet, bool) {
	if len(body) == 0 {
		return nil, false
	}
	var out []packet
	for _, one := range bytes.Split(body, []byte{Separator}) {
		if len(one) == 0 {
			return nil, false
		}
		if one[0] == 'b' {
			d, err := base64.StdEncoding.DecodeString(string(one[1:]))
			if err != nil {
				return nil, false
			}
			out = append(out, packet{typ: TypeMessage, data: d, binary: true})
			continue
		}
		if one[0] < '0' || one[0] > '6' {
			return nil, false
		}
		out = append(out, packet{typ: one[0], data: append([]byte(nil), one[1:]...)})
	}
	return out, true
}

func FuzzSplitPayload(f *testing.F) {
	for _, s := range []string{"", "4hello", "4a\x1e4b", "bAAEC", "b!!", "2\x1e", "\x1e", "6", "9x", "4\x1eb\x1e3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, ok := payloadNaive(body)
		var got []packet
		err := splitPayload(body, func(p packet) error {
			p.data = append([]byte(nil), p.data...)
			got = append(got, p)
			return nil
		})
		if (err == nil) != ok {
			t.Fatalf("%q: err %v, naive ok %v", body, err, ok)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d packets, want %d", body, len(got), len(want))
		}
		for i := range got {
			if got[i].typ != want[i].typ || got[i].binary != want[i].binary || !bytes.Equal(got[i].data, want[i].data) {
				t.Fatalf("%q: packet %d = %+v, want %+v", body, i, got[i], want[i])
			}
		}
	})
}

// TestAppendPayload: frames of every header size unwrap into the polling
// payload form.
func TestAppendPayload(t *testing.T) {
	var frames []byte
	var want []string
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		text := append([]byte{'4'}, bytes.Repeat([]byte{'x'}, n)...)
		frames = AppendFrameHeader(frames, ws.OpText, len(text))
		frames = append(frames, text...)
		want = append(want, string(text))
		bin := bytes.Repeat([]byte{0xff}, n)
		frames = AppendFrameHeader(frames, ws.OpBinary, len(bin))
		frames = append(frames, bin...)
		want = append(want, "b"+base64.StdEncoding.EncodeToString(bin))
	}
	got, _ := appendPayload(nil, frames, true)
	if w := bytes.Join(toBytes(want), []byte{Separator}); !bytes.Equal(got, w) {
		t.Fatalf("payload differs (%d bytes, want %d)", len(got), len(w))
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
