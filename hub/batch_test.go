package hub

import (
	"errors"
	"testing"
)

// TestPublishBatchBinary: binary items are published as PublishBinary
// would, in order with the JSON ones; one bad JSON item publishes nothing.
func TestPublishBatchBinary(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	f := newFake(true)
	if _, err := h.Subscribe(f, "b.>", SubOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PublishBatch([]Message{
		{Topic: "b.x", Data: []byte{0, 0xff}, Binary: true},
		{Topic: "b.x", Data: []byte("not json")},
	}); !errors.Is(err, ErrBadData) {
		t.Fatalf("bad JSON item: %v", err)
	}
	seqs, err := h.PublishBatch([]Message{
		{Topic: "b.x", Data: []byte{0, 0xff}, Binary: true},
		{Topic: "b.x", Data: []byte(`{"a":1}`)},
	})
	if err != nil || len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("seqs %v, err %v (the refused batch must not have moved seq)", seqs, err)
	}
	got := f.waitFor(t, "two deliveries", func(d []delivery) bool { return len(d) == 2 })
	if !got[0].Binary || got[0].Data != "\x00\xff" || got[1].Binary || got[1].Data != `{"a":1}` {
		t.Fatalf("deliveries %+v", got)
	}
}
