package feed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

type quote struct {
	Sym string   `json:"sym"`
	Bid *float64 `json:"bid"`
	Ask *float64 `json:"ask"`
	Bsz *int64   `json:"bsz"`
	Asz *int64   `json:"asz"`
}

type trade struct {
	Sym  string   `json:"sym"`
	Px   *float64 `json:"px"`
	Qty  *int64   `json:"qty"`
	Side string   `json:"side"`
}

// decodeStrict decodes data into v and fails on unknown fields.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("invalid payload %s: %v", data, err)
	}
}

// TestMarketMessages checks every generated message against the schema and the
// market invariants: bid < ask, positive sizes, trades at or inside the last
// quote of their symbol, exact two-decimal prices.
func TestMarketMessages(t *testing.T) {
	m, err := NewMarket(Config{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	type book struct{ bid, ask float64 }
	last := map[string]book{}
	var quotes, trades int
	for i := 0; i < 20000; i++ {
		topic, data := m.Next()
		parts := strings.Split(topic, ".")
		if len(parts) != 3 || parts[0] != "md" {
			t.Fatalf("bad topic %q", topic)
		}
		sym := parts[1]
		if strings.Count(string(data), ".") > 2 {
			t.Fatalf("too many decimals in %s", data)
		}
		switch parts[2] {
		case "quote":
			quotes++
			var q quote
			decodeStrict(t, data, &q)
			if q.Sym != sym || q.Bid == nil || q.Ask == nil || q.Bsz == nil || q.Asz == nil {
				t.Fatalf("incomplete quote %s on %s", data, topic)
			}
			if !(*q.Bid > 0 && *q.Bid < *q.Ask) || *q.Bsz <= 0 || *q.Asz <= 0 {
				t.Fatalf("crossed or empty quote %s", data)
			}
			if !twoDecimals(*q.Bid) || !twoDecimals(*q.Ask) {
				t.Fatalf("price not in cents: %s", data)
			}
			last[sym] = book{*q.Bid, *q.Ask}
		case "trade":
			trades++
			var tr trade
			decodeStrict(t, data, &tr)
			if tr.Sym != sym || tr.Px == nil || tr.Qty == nil || *tr.Qty <= 0 {
				t.Fatalf("incomplete trade %s on %s", data, topic)
			}
			if tr.Side != "B" && tr.Side != "S" {
				t.Fatalf("bad side in %s", data)
			}
			bk, ok := last[sym]
			if ok && (*tr.Px < bk.bid-1e-9 || *tr.Px > bk.ask+1e-9) {
				t.Fatalf("trade %s outside quote %v", data, bk)
			}
		default:
			t.Fatalf("bad topic kind %q", topic)
		}
	}
	if trades < 4000 || quotes < 14000 {
		t.Fatalf("mix quotes=%d trades=%d, want about 3:1", quotes, trades)
	}
	if len(last) != len(DefaultSymbols) {
		t.Fatalf("quoted %d symbols, want %d", len(last), len(DefaultSymbols))
	}
}

func twoDecimals(f float64) bool {
	c := f * 100
	return math.Abs(c-math.Round(c)) < 1e-6
}

func TestMarketDeterministic(t *testing.T) {
	a, _ := NewMarket(Config{Seed: 42})
	b, _ := NewMarket(Config{Seed: 42})
	c, _ := NewMarket(Config{Seed: 43})
	differs := false
	for i := 0; i < 1000; i++ {
		ta, da := a.Next()
		sa := string(da)
		tb, db := b.Next()
		if ta != tb || sa != string(db) {
			t.Fatalf("message %d differs with the same seed: %s %s vs %s %s", i, ta, sa, tb, db)
		}
		tc, dc := c.Next()
		if tc != ta || string(dc) != sa {
			differs = true
		}
	}
	if !differs {
		t.Fatal("different seeds produced the same stream")
	}
}

func TestPricesWalk(t *testing.T) {
	m, _ := NewMarket(Config{Symbols: []string{"AAPL"}, Seed: 3})
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		topic, data := m.Next()
		if topic == "md.AAPL.quote" {
			var q quote
			decodeStrict(t, data, &q)
			seen[string(data[:strings.Index(string(data), `,"bsz"`)])] = true
			if *q.Bid < 100 || *q.Bid > 300 {
				t.Fatalf("AAPL wandered implausibly far: %s", data)
			}
		}
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct quotes in 1500: prices do not move", len(seen))
	}
}

func TestSymbols(t *testing.T) {
	m, err := NewMarket(Config{Count: 23, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	syms := m.Symbols()
	if len(syms) != 23 || syms[0] != "AAPL" || syms[20] != "SYM0020" || syms[22] != "SYM0022" {
		t.Fatalf("symbols = %v", syms)
	}
	m, err = NewMarket(Config{Count: 3, Seed: 1})
	if err != nil || len(m.Symbols()) != 3 {
		t.Fatalf("count 3: %v %v", m.Symbols(), err)
	}
	m, err = NewMarket(Config{Symbols: []string{"ZZZ", "AAPL"}, Seed: 1})
	if err != nil || strings.Join(m.Symbols(), ",") != "ZZZ,AAPL" {
		t.Fatalf("explicit symbols: %v %v", m, err)
	}
}

func TestBadConfig(t *testing.T) {
	noop := func(string, []byte) error { return nil }
	for _, tc := range []struct {
		cfg  Config
		want error
	}{
		{Config{Symbols: []string{"md.X"}}, ErrBadSymbol},
		{Config{Symbols: []string{"A*"}}, ErrBadSymbol},
		{Config{Symbols: []string{""}}, ErrBadSymbol},
		{Config{Symbols: []string{"aapl"}}, ErrBadSymbol},
		{Config{Symbols: []string{"A", "A"}}, ErrBadSymbol},
		{Config{Symbols: []string{}}, ErrBadSymbol},
		{Config{Count: -1}, ErrBadSymbol},
		{Config{Rate: -1}, ErrBadRate},
		{Config{Rate: math.NaN()}, ErrBadRate},
		{Config{Rate: math.Inf(1)}, ErrBadRate},
	} {
		err := Run(context.Background(), tc.cfg, noop)
		if !errors.Is(err, tc.want) {
			t.Errorf("Run(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
	}
}

// TestRunPacing runs the feed for ten (fake) seconds at several rates and
// checks the count of published messages.
func TestRunPacing(t *testing.T) {
	for _, rate := range []float64{5, 200, 5000} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var n int
			var maxPerTick, cur int
			var lastTick time.Time
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, Config{Rate: rate, Seed: 1}, func(topic string, data []byte) error {
					now := time.Now()
					if now != lastTick {
						lastTick, cur = now, 0
					}
					cur++
					maxPerTick = max(maxPerTick, cur)
					n++
					return nil
				})
			}()
			time.Sleep(10 * time.Second) // fake time inside the bubble
			synctest.Wait()
			got := n
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v after cancel", err)
			}
			want := int(rate * 10)
			if got < want-int(rate/50)-1 || got > want {
				t.Errorf("rate %v: published %d in 10s, want about %d", rate, got, want)
			}
			// At 5000/s the ticker runs at 100Hz: about 50 per tick, batched.
			if rate == 5000 && (maxPerTick < 40 || maxPerTick > 60) {
				t.Errorf("rate %v: max batch %d, want about 50", rate, maxPerTick)
			}
			if rate <= 100 && maxPerTick != 1 {
				t.Errorf("rate %v: max batch %d, want 1", rate, maxPerTick)
			}
		})
	}
}

// TestRunDropsBacklog checks that a stalled publisher does not cause a burst.
func TestRunDropsBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var n int
		stalled := false
		batch := 0
		var batchAt time.Time
		maxBatch := 0
		go Run(ctx, Config{Rate: 1000, Seed: 1}, func(string, []byte) error {
			if !stalled {
				stalled = true
				time.Sleep(2 * time.Second)
			}
			if now := time.Now(); now != batchAt {
				batchAt, batch = now, 0
			}
			batch++
			maxBatch = max(maxBatch, batch)
			n++
			return nil
		})
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if maxBatch > 40 {
			t.Fatalf("burst of %d after a stall, want at most 4 ticks' worth (40)", maxBatch)
		}
		if n < 900 || n > 1100 {
			t.Fatalf("published %d in the second after the stall, want about 1000", n)
		}
	})
}

func TestRunPublishError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		calls := 0
		err := Run(context.Background(), Config{Rate: 100, Seed: 1}, func(topic string, data []byte) error {
			calls++
			if calls == 3 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "md.") {
			t.Fatalf("Run = %v, want wrapped boom naming the topic", err)
		}
		if calls != 3 {
			t.Fatalf("publish called %d times after the error", calls)
		}
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, Config{}, func(string, []byte) error { return nil }) }()
		time.Sleep(time.Second)
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		default:
			t.Fatal("Run still running after cancel")
		}
	})
}

func BenchmarkMarketNext(b *testing.B) {
	m, _ := NewMarket(Config{Seed: 1})
	b.ReportAllocs()
	var n int
	for b.Loop() {
		_, data := m.Next()
		n += len(data)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}

// BenchmarkRunPublish measures the per-message cost of the Run loop without
// pacing overhead by running at a rate the machine cannot reach.
func BenchmarkRunPublish(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	n := 0
	b.ResetTimer()
	_ = Run(ctx, Config{Rate: 1e9, Seed: 1}, func(string, []byte) error {
		n++
		if n >= b.N {
			cancel()
			return errors.New("done")
		}
		return nil
	})
}
