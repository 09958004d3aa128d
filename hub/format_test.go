package hub

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/c1mhq/c1m/wsframe"
	"github.com/gobwas/ws"
)

// tagFormat is a test Format: a native-looking JSON text frame with an extra
// "fmt":"name/variant" field (binary data hex-encoded as a JSON string). It
// counts its Encode calls.
type tagFormat struct {
	name    string
	encodes atomic.Int64
}

func (f *tagFormat) Encode(p *wsframe.Prepared, m *Msg, variant string) {
	f.encodes.Add(1)
	p.B = append(p.B, `{"op":"msg","topic":"`...)
	p.B = append(p.B, m.Topic...)
	p.B = append(p.B, `","seq":`...)
	p.B = strconv.AppendUint(p.B, m.Seq, 10)
	p.B = append(p.B, `,"ts":`...)
	p.B = strconv.AppendInt(p.B, m.TS, 10)
	if m.Snap {
		p.B = append(p.B, `,"snap":true`...)
	}
	p.B = append(p.B, `,"fmt":"`...)
	p.B = append(p.B, f.name+"/"+variant...)
	p.B = append(p.B, `","data":`...)
	if m.Binary {
		p.B = strconv.AppendQuote(p.B, hex.EncodeToString(m.Data))
	} else {
		p.B = append(p.B, m.Data...)
	}
	p.B = append(p.B, '}')
	p.Seal(ws.OpText)
}

func TestFormatsMixedOnOneTopic(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	a, b := &tagFormat{name: "A"}, &tagFormat{name: "B"}
	type kind struct {
		f       Format
		variant string
		tag     string
	}
	kinds := []kind{{nil, "", ""}, {a, "", "A/"}, {a, "x", "A/x"}, {b, "", "B/"}}
	var subs [][]*fakeSub
	for _, k := range kinds {
		var group []*fakeSub
		for range 3 { // several subscribers per format and variant share one encoding
			f := newFake(true)
			if _, err := h.Subscribe(f, "fm.A", SubOptions{Format: k.f, Variant: k.variant}); err != nil {
				t.Fatal(err)
			}
			group = append(group, f)
		}
		// and one through a wildcard
		f := newFake(true)
		if _, err := h.Subscribe(f, "fm.*", SubOptions{Format: k.f, Variant: k.variant}); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, append(group, f))
	}
	for i := 1; i <= 4; i++ {
		var err error
		if i%2 == 0 {
			_, err = h.PublishBinary("fm.A", []byte{byte(i)}, int64(i))
		} else {
			_, err = h.Publish("fm.A", []byte(strconv.Itoa(i)), int64(i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for ki, k := range kinds {
		for _, f := range subs[ki] {
			got := f.deliveries(t)
			if len(got) != 4 {
				t.Fatalf("format %q: %d deliveries, want 4: %+v", k.tag, len(got), got)
			}
			for i, d := range got {
				seq := uint64(i + 1)
				want := strconv.Itoa(i + 1)
				if seq%2 == 0 {
					want = `"0` + want + `"` // hex in a test format
					if k.f == nil {
						want = string([]byte{byte(seq)})
					}
				}
				if d.Seq != seq || d.Fmt != k.tag || d.Data != want || d.Topic != "fm.A" {
					t.Errorf("format %q delivery %d: %+v, want seq %d data %q", k.tag, i, d, seq, want)
				}
			}
		}
	}
	// Once per publish per (format, variant), however many subscribers.
	if n := a.encodes.Load(); n != 8 {
		t.Errorf("format A encoded %d times for 4 publishes and 2 variants, want 8", n)
	}
	if n := b.encodes.Load(); n != 4 {
		t.Errorf("format B encoded %d times for 4 publishes, want 4", n)
	}
	h.Close()
	pool.check(t)
}

func TestFormatSnapshotRecoveryConflation(t *testing.T) {
	pool := startPool()
	h := New(Config{})
	a := &tagFormat{name: "A"}
	for i := 1; i <= 5; i++ {
		if _, err := h.Publish("fr.A", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshot in the subscriber's format, exact and wildcard.
	for _, pattern := range []string{"fr.A", "fr.>"} {
		f := newFake(true)
		if _, err := h.Subscribe(f, pattern, SubOptions{Format: a}); err != nil {
			t.Fatal(err)
		}
		got := f.deliveries(t)
		if len(got) != 1 || !got[0].Snap || got[0].Seq != 5 || got[0].Fmt != "A/" || got[0].Data != "5" {
			t.Fatalf("%s: snapshot %+v", pattern, got)
		}
		h.UnsubscribeAll(f)
	}
	// Recovery in the subscriber's format.
	f := newFake(true)
	since := map[string]Position{"fr.A": {Epoch: h.Epoch(), Seq: 2}}
	st, err := h.Subscribe(f, "fr.A", SubOptions{Format: a, Variant: "v", Since: since})
	if err != nil || st["fr.A"].Recovered == nil || !*st["fr.A"].Recovered {
		t.Fatalf("recovery: %+v %v", st, err)
	}
	got := f.deliveries(t)
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 || got[0].Fmt != "A/v" || got[0].Snap {
		t.Fatalf("recovered %+v", got)
	}
	h.UnsubscribeAll(f)
	// Conflation: a reader that does not drain ends on the latest value, in
	// its format.
	yes := true
	slow := newFake(false)
	if _, err := h.Subscribe(slow, "fr.A", SubOptions{Format: a, Conflate: &yes}); err != nil {
		t.Fatal(err)
	}
	for i := 6; i <= 20; i++ {
		if _, err := h.Publish("fr.A", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	slow.drain()
	got = slow.deliveries(t)
	if last := got[len(got)-1]; len(got) > 3 || last.Seq != 20 || last.Fmt != "A/" {
		t.Fatalf("conflated: %+v", got)
	}
	// maxRate: held back frames go out later, in the format.
	lim := newFake(true)
	if _, err := h.Subscribe(lim, "fr.A", SubOptions{Format: a, MaxRate: 1000}); err != nil {
		t.Fatal(err)
	}
	for i := 21; i <= 30; i++ {
		if _, err := h.Publish("fr.A", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	lim.waitFor(t, "the latest value through the rate limit", func(d []delivery) bool {
		return len(d) > 0 && d[len(d)-1].Seq == 30 && d[len(d)-1].Fmt == "A/"
	})
	h.Close()
	slow.close()
	lim.close()
	pool.check(t)
}

// Every delivery's Prepared says which message it carries.
func TestPreparedCarriesTopicAndSeq(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	var mu sync.Mutex
	var seen []string
	rec := &recorder{fn: func(p *wsframe.Prepared) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s#%d", p.Topic, p.Seq))
		mu.Unlock()
	}}
	h.Publish("pc.A", []byte("1"), 0)
	if _, err := h.Subscribe(rec, "pc.A", SubOptions{Format: &tagFormat{name: "A"}}); err != nil {
		t.Fatal(err)
	}
	h.Publish("pc.A", []byte("2"), 0)
	rec2 := &recorder{fn: rec.fn}
	if _, err := h.Subscribe(rec2, "pc.>", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	h.Publish("pc.A", []byte("3"), 0)
	mu.Lock()
	defer mu.Unlock()
	want := "[pc.A#1 pc.A#2 pc.A#2 pc.A#3 pc.A#3]"
	if fmt.Sprint(seen) != want {
		t.Fatalf("seen %v, want %s", seen, want)
	}
}

// recorder hands every frame to fn and releases it.
type recorder struct {
	releaser
	fn func(*wsframe.Prepared)
}

func (r *recorder) Send(p *wsframe.Prepared) error { r.fn(p); p.Release(); return nil }

// wrapSub is a Subscriber that wraps formats (as a SockJS session does):
// FormatFor gives it its wrapping of the protocol's format.
type wrapSub struct {
	*fakeSub
	w *tagFormat
}

func (s wrapSub) Wrap(f Format) Format {
	if f != NativeFormat {
		panic("wrapSub: only the native format is wrapped here")
	}
	return s.w
}

// TestFormatFor: a plain subscriber keeps its protocol's format (nil:
// native); a Wrapper gets its wrapping, encoded once for all such
// subscribers.
func TestFormatFor(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	w := &tagFormat{name: "W"}
	plain := newFake(true)
	if FormatFor(plain, nil) != nil {
		t.Fatal("a plain subscriber must keep the native format")
	}
	subs := []wrapSub{{newFake(true), w}, {newFake(true), w}}
	for _, s := range subs {
		if _, err := h.Subscribe(s, "w.x", SubOptions{Format: FormatFor(s, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(plain, "w.x", SubOptions{Format: FormatFor(plain, nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish("w.x", []byte(`1`), 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if d := s.waitFor(t, "wrapped delivery", func(d []delivery) bool { return len(d) == 1 }); d[0].Fmt != "W/" {
			t.Fatalf("delivery %+v", d[0])
		}
	}
	if d := plain.waitFor(t, "native delivery", func(d []delivery) bool { return len(d) == 1 }); d[0].Fmt != "" {
		t.Fatalf("plain delivery %+v", d[0])
	}
	if n := w.encodes.Load(); n != 1 {
		t.Fatalf("wrapped format encoded %d times for one publish", n)
	}
}
