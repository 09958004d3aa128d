// Package feed simulates a market-data feed for the c1m demo: per symbol a
// random-walk mid price, with quotes published on "md.<SYM>.quote" and trades on
// "md.<SYM>.trade" at a configured total rate.
//
// Payloads are small JSON objects appended with strconv (no fmt, no
// encoding/json), so generating a message does not allocate in steady state:
//
//	{"sym":"AAPL","bid":189.12,"ask":189.14,"bsz":300,"asz":500}
//	{"sym":"AAPL","px":189.13,"qty":100,"side":"B"}
//
// Goroutine safety: a Market is not safe for concurrent use; Run owns its Market
// and calls publish from a single goroutine, one call at a time.
//
// Buffer lifetime: the data slice passed to publish (and returned by
// Market.Next) is only valid until the callback returns (until the next call to
// Next); the callee must copy it if it keeps it. hub.Publish copies it into the
// encoded frame, so it can be passed directly.
package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// DefaultRate is the total message rate used when Config.Rate is zero.
const DefaultRate = 200

// tradeEvery makes one message in tradeEvery a trade; the rest are quotes.
const tradeEvery = 4

// Errors returned by Run and NewMarket for an invalid Config.
var (
	ErrBadSymbol = errors.New("feed: bad symbol")
	ErrBadRate   = errors.New("feed: bad rate")
)

// Config configures the simulated market. The zero value is valid: the default
// symbols at DefaultRate messages per second with a time-based seed.
type Config struct {
	// Symbols lists the instruments. Nil means the first Count entries of
	// DefaultSymbols (all of them when Count is zero); when Count exceeds the
	// default list, synthetic symbols "SYM0020", "SYM0021", ... are added.
	// A symbol is 1-16 characters of [A-Z0-9_-] (no '.', '*' or '>', which are
	// topic syntax).
	Symbols []string
	// Count is the number of symbols when Symbols is nil. Zero means all of
	// DefaultSymbols.
	Count int
	// Rate is the total number of messages per second over all symbols.
	// Zero means DefaultRate. Negative, NaN or infinite rates are an error.
	Rate float64
	// Seed makes the market deterministic. Zero means seeded from the clock.
	Seed int64
}

// Instrument is a default symbol with a plausible starting price.
type Instrument struct {
	Sym   string
	Price float64
}

// DefaultSymbols are well-known tickers with starting prices in dollars.
var DefaultSymbols = []Instrument{
	{"AAPL", 189.50}, {"MSFT", 415.20}, {"NVDA", 121.40}, {"AMZN", 182.30},
	{"GOOGL", 171.10}, {"META", 502.70}, {"TSLA", 241.60}, {"AVGO", 160.90},
	{"JPM", 198.40}, {"V", 276.10}, {"WMT", 68.30}, {"XOM", 113.80},
	{"UNH", 521.90}, {"MA", 458.60}, {"JNJ", 152.20}, {"PG", 166.70},
	{"HD", 348.10}, {"COST", 812.50}, {"NFLX", 648.30}, {"AMD", 158.70},
}

// symbol is the per-instrument state. Prices are kept in cents so that the
// encoded prices are exact.
type symbol struct {
	quoteTopic string
	tradeTopic string
	prefix     string  // `{"sym":"AAPL",`
	mid        float64 // dollars, random walk
	vol        float64 // per-update log-return standard deviation
	bid, ask   int64   // cents; last published quote
	bsz, asz   int64
}

// Market generates the simulated messages. Create it with NewMarket.
type Market struct {
	rng  *rand.Rand
	syms []symbol
	buf  []byte
	n    uint64
}

// NewMarket returns a Market for cfg (Rate is ignored).
func NewMarket(cfg Config) (*Market, error) {
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>32^0x9e3779b97f4a7c15))
	insts, err := instruments(cfg, rng)
	if err != nil {
		return nil, err
	}
	m := &Market{rng: rng, syms: make([]symbol, len(insts)), buf: make([]byte, 0, 128)}
	for i, in := range insts {
		s := &m.syms[i]
		s.quoteTopic = "md." + in.Sym + ".quote"
		s.tradeTopic = "md." + in.Sym + ".trade"
		s.prefix = `{"sym":"` + in.Sym + `",`
		s.mid = in.Price
		s.vol = 0.0002 + rng.Float64()*0.0004
		m.requote(s)
	}
	return m, nil
}

// instruments resolves the symbol list of cfg.
func instruments(cfg Config, rng *rand.Rand) ([]Instrument, error) {
	if cfg.Symbols != nil {
		if len(cfg.Symbols) == 0 {
			return nil, fmt.Errorf("%w: empty symbol list", ErrBadSymbol)
		}
		out := make([]Instrument, 0, len(cfg.Symbols))
		known := make(map[string]float64, len(DefaultSymbols))
		for _, in := range DefaultSymbols {
			known[in.Sym] = in.Price
		}
		seen := make(map[string]bool, len(cfg.Symbols))
		for _, sym := range cfg.Symbols {
			if !validSymbol(sym) {
				return nil, fmt.Errorf("%w: %q", ErrBadSymbol, sym)
			}
			if seen[sym] {
				return nil, fmt.Errorf("%w: duplicate %q", ErrBadSymbol, sym)
			}
			seen[sym] = true
			px, ok := known[sym]
			if !ok {
				px = randomPrice(rng)
			}
			out = append(out, Instrument{sym, px})
		}
		return out, nil
	}
	n := cfg.Count
	if n < 0 {
		return nil, fmt.Errorf("%w: negative count %d", ErrBadSymbol, n)
	}
	if n == 0 {
		n = len(DefaultSymbols)
	}
	out := make([]Instrument, 0, n)
	for i := 0; i < n; i++ {
		if i < len(DefaultSymbols) {
			out = append(out, DefaultSymbols[i])
			continue
		}
		out = append(out, Instrument{syntheticSymbol(i), randomPrice(rng)})
	}
	return out, nil
}

func syntheticSymbol(i int) string {
	b := []byte("SYM")
	s := strconv.Itoa(i)
	for j := len(s); j < 4; j++ {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

// randomPrice returns a log-uniform price between $10 and $1000.
func randomPrice(rng *rand.Rand) float64 {
	return math.Round(math.Exp(math.Log(10)+rng.Float64()*math.Log(100))*100) / 100
}

func validSymbol(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Symbols returns the market's symbols in order.
func (m *Market) Symbols() []string {
	out := make([]string, len(m.syms))
	for i := range m.syms {
		s := &m.syms[i]
		out[i] = s.quoteTopic[len("md.") : len(s.quoteTopic)-len(".quote")]
	}
	return out
}

// requote moves the mid price one random-walk step and derives a new quote.
func (m *Market) requote(s *symbol) {
	s.mid *= math.Exp(s.vol * m.rng.NormFloat64())
	if s.mid < 0.05 {
		s.mid = 0.05
	}
	spread := int64(1 + m.rng.IntN(3)) // cents
	if s.mid > 300 {
		spread += int64(m.rng.IntN(4))
	}
	mid := int64(math.Round(s.mid * 100))
	s.bid = mid - spread/2
	if s.bid < 1 {
		s.bid = 1
	}
	s.ask = s.bid + spread
	s.bsz = lotSize(m.rng)
	s.asz = lotSize(m.rng)
}

// lotSize returns 100-2000 shares in round lots, skewed to small sizes.
func lotSize(rng *rand.Rand) int64 {
	lots := 1 + rng.IntN(5)
	if rng.IntN(4) == 0 {
		lots += rng.IntN(16)
	}
	return int64(lots) * 100
}

// Next generates the next message. The returned data is only valid until the
// next call to Next. Quotes and trades are mixed about 3:1; symbols are picked
// uniformly at random.
func (m *Market) Next() (topic string, data []byte) {
	s := &m.syms[m.rng.IntN(len(m.syms))]
	m.n++
	b := append(m.buf[:0], s.prefix...)
	if m.n%tradeEvery != 0 {
		m.requote(s)
		b = append(b, `"bid":`...)
		b = appendCents(b, s.bid)
		b = append(b, `,"ask":`...)
		b = appendCents(b, s.ask)
		b = append(b, `,"bsz":`...)
		b = strconv.AppendInt(b, s.bsz, 10)
		b = append(b, `,"asz":`...)
		b = strconv.AppendInt(b, s.asz, 10)
		b = append(b, '}')
		m.buf = b
		return s.quoteTopic, b
	}
	// A trade hits the bid or lifts the offer of the last quote, sometimes
	// inside the spread.
	px, side := s.ask, byte('B')
	if m.rng.IntN(2) == 0 {
		px, side = s.bid, 'S'
	}
	if s.ask-s.bid > 1 && m.rng.IntN(4) == 0 {
		px = s.bid + 1 + m.rng.Int64N(s.ask-s.bid-1)
	}
	qty := int64(1+m.rng.IntN(10)) * 100
	if m.rng.IntN(10) == 0 {
		qty = int64(1 + m.rng.IntN(99)) // odd lot
	}
	b = append(b, `"px":`...)
	b = appendCents(b, px)
	b = append(b, `,"qty":`...)
	b = strconv.AppendInt(b, qty, 10)
	b = append(b, `,"side":"`...)
	b = append(b, side, '"', '}')
	m.buf = b
	return s.tradeTopic, b
}

// appendCents appends c cents as a decimal dollar amount with two decimals.
func appendCents(b []byte, c int64) []byte {
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	f := c % 100
	return append(b, '.', byte('0'+f/10), byte('0'+f%10))
}

// Run publishes the simulated market at cfg.Rate messages per second until ctx
// is done, then returns nil. It returns an error for an invalid cfg or, wrapped,
// the first error returned by publish.
//
// Pacing: a ticker fires every 1/Rate (at most every 10ms); each tick publishes
// the messages owed since the start, so high rates are sent in batches. If
// publishing falls behind by more than four ticks' worth (e.g. a stalled
// callback), the backlog is dropped rather than sent as a burst.
func Run(ctx context.Context, cfg Config, publish func(topic string, data []byte) error) error {
	rate := cfg.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return fmt.Errorf("%w: %v", ErrBadRate, cfg.Rate)
	}
	m, err := NewMarket(cfg)
	if err != nil {
		return err
	}
	tick := 10 * time.Millisecond
	if iv := time.Duration(float64(time.Second) / rate); iv > tick {
		tick = iv
	}
	maxBatch := int64(math.Ceil(rate * tick.Seconds() * 4))
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int64(rate*now.Sub(start).Seconds()) - sent
			if due > maxBatch {
				sent += due - maxBatch
				due = maxBatch
			}
			for i := int64(0); i < due; i++ {
				if i&63 == 63 && ctx.Err() != nil {
					return nil
				}
				topic, data := m.Next()
				if err := publish(topic, data); err != nil {
					return fmt.Errorf("feed: publish %s: %w", topic, err)
				}
				sent++
			}
		}
	}
}
