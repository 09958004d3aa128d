package oprate

import "testing"

func TestBucket(t *testing.T) {
	l := &Limit{Rate: 10, Burst: 3, Strikes: 4}
	var b Bucket
	now := int64(1e9)
	want := []Verdict{Allow, Allow, Allow, Refuse, Refuse, Refuse, Close}
	for i, w := range want {
		if v := b.On(l, now); v != w {
			t.Fatalf("op %d at once: %v, want %v", i, v, w)
		}
	}
	// 100 ms later one token is back, and an allowed operation clears the
	// strikes.
	now += 1e8
	if v := b.On(l, now); v != Allow {
		t.Fatalf("after a refill: %v", v)
	}
	if v := b.On(l, now); v != Refuse {
		t.Fatalf("empty again: %v", v)
	}
	// A full second refills to the burst, not beyond.
	now += 5e9
	for i := range 3 {
		if v := b.On(l, now); v != Allow {
			t.Fatalf("burst op %d: %v", i, v)
		}
	}
	if v := b.On(l, now); v != Refuse {
		t.Fatalf("past the burst: %v", v)
	}
	var off Bucket
	for range 1000 {
		if off.On(&Limit{}, now) != Allow {
			t.Fatal("a zero Limit refused")
		}
	}
}

func BenchmarkBucket(b *testing.B) {
	l := &Limit{Rate: 1e9, Burst: 1e9}
	var bk Bucket
	b.ReportAllocs()
	for i := int64(1); b.Loop(); i++ {
		bk.On(l, i)
	}
}
