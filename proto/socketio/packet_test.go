package socketio

import (
	"encoding/json"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want packet
		ok   bool
	}{
		{"0", packet{typ: '0', nsp: "/"}, true},
		{"0/admin,", packet{typ: '0', nsp: "/admin"}, true},
		{"0/admin", packet{typ: '0', nsp: "/admin"}, true},
		{`0{"token":"x"}`, packet{typ: '0', nsp: "/", data: []byte(`{"token":"x"}`)}, true},
		{`2["a",1]`, packet{typ: '2', nsp: "/", data: []byte(`["a",1]`)}, true},
		{`2/md,12["a"]`, packet{typ: '2', nsp: "/md", id: 12, hasID: true, data: []byte(`["a"]`)}, true},
		{`212[7]`, packet{typ: '2', nsp: "/", id: 12, hasID: true, data: []byte(`[7]`)}, true},
		{`30[]`, packet{typ: '3', nsp: "/", hasID: true, data: []byte(`[]`)}, true},
		{`51-["a",{"_placeholder":true,"num":0}]`, packet{typ: '5', attachments: 1, nsp: "/", data: []byte(`["a",{"_placeholder":true,"num":0}]`)}, true},
		{`61-/x,3[{"_placeholder":true,"num":0}]`, packet{typ: '6', attachments: 1, nsp: "/x", id: 3, hasID: true, data: []byte(`[{"_placeholder":true,"num":0}]`)}, true},
		{"1", packet{typ: '1', nsp: "/"}, true},
		{"", packet{}, false},
		{"7", packet{}, false},
		{`2"a"`, packet{}, false},
		{`2[]`, packet{}, false},
		{`2["disconnect"]`, packet{}, false},
		{`2[null]`, packet{}, false},
		{`2["a"`, packet{}, false},
		{`1{}`, packet{}, false},
		{`0[]`, packet{}, false},
		{`3{}`, packet{}, false},
		{`5["a"]`, packet{}, false},
		{`5-["a"]`, packet{}, false},
		{`565-["a"]`, packet{}, false},
		{`299999999999999999999999[]`, packet{}, false},
	} {
		got, err := decode([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (got.typ != tc.want.typ || got.attachments != tc.want.attachments || got.nsp != tc.want.nsp ||
			got.id != tc.want.id || got.hasID != tc.want.hasID || string(got.data) != string(tc.want.data)) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzDecode: decode never panics, and what it accepts re-encodes to an
// equivalent packet.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"0", "0/a,", `2/md,12["a",1]`, `51-["a",{"_placeholder":true,"num":0}]`, `3[]`, `4{"message":"x"}`, "1/x,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decode(b)
		if err != nil {
			return
		}
		if !json.Valid(p.data) && p.data != nil {
			t.Fatalf("%q: accepted invalid JSON", b)
		}
		re := appendHead(nil, p.typ, p.attachments, p.nsp, p.id, p.hasID)[1:]
		re = append(re, p.data...)
		q, err := decode(re)
		if err != nil || q.typ != p.typ || q.nsp != p.nsp || q.id != p.id || q.hasID != p.hasID || q.attachments != p.attachments || string(q.data) != string(p.data) {
			t.Fatalf("%q re-encoded as %q: %+v vs %+v (%v)", b, re, p, q, err)
		}
	})
}
