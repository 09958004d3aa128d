package server_test

// Market-data measurements (issue #5): memory per topic for the last value
// and history, and deliveries per second to healthy subscribers while 10% of
// the subscribers stop reading, with and without conflation.
//
//	go test ./server/ -run '^$' -bench MarketdataMemory -benchtime 1x
//	go test ./server/ -run '^$' -bench MarketdataSlow -benchtime 10000x

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/server"
)

// mdPayload100 is a 100-byte JSON quote.
var mdPayload100 = func() []byte {
	p := `{"bid":189.10,"ask":189.12,"bsz":300,"asz":500,"pad":"`
	p += strings.Repeat("x", 100-len(p)-2) + `"}`
	return []byte(p)
}()

// mdPayload1K is a 1,000-byte JSON value.
var mdPayload1K = []byte(`{"pad":"` + strings.Repeat("y", 1000-10) + `"}`)

// BenchmarkMarketdataMemoryPerTopic fills 10,000 topics (2,000 for the
// 256-deep history) with 100-byte messages and reports the live heap per
// topic after GC, and the history's own count of frame bytes per topic.
// One op is one fill; run with -benchtime 1x.
func BenchmarkMarketdataMemoryPerTopic(b *testing.B) {
	if len(mdPayload100) != 100 {
		b.Fatalf("payload is %d bytes", len(mdPayload100))
	}
	for _, c := range []struct{ hist, topics int }{{-1, 10000}, {16, 10000}, {256, 2000}} {
		b.Run("history="+strconv.Itoa(c.hist), func(b *testing.B) {
			b.ReportAllocs()
			perTopic := max(c.hist, 1)
			var ms0, ms1 runtime.MemStats
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.GC()
				runtime.GC() // empty the frame pools too
				runtime.ReadMemStats(&ms0)
				b.StartTimer()
				h := hub.New(hub.Config{HistorySize: c.hist, HistoryMaxBytes: 1 << 40, MaxTopics: c.topics})
				t0 := time.Now()
				for k := 0; k < c.topics; k++ {
					name := "md.T" + strconv.Itoa(k) + ".quote"
					for j := 0; j < perTopic; j++ {
						if _, err := h.Publish(name, mdPayload100, 0); err != nil {
							b.Fatal(err)
						}
					}
				}
				fill := time.Since(t0)
				b.StopTimer()
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				st := h.Stats()
				if st.Topics != c.topics || st.Published != uint64(c.topics*perTopic) {
					b.Fatalf("stats %+v", st)
				}
				n := float64(c.topics)
				b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/n, "heapB/topic")
				b.ReportMetric(float64(st.HistoryBytes)/n, "histB/topic")
				b.ReportMetric(float64(st.HistoryFrames)/n, "histFrames/topic")
				b.ReportMetric(float64(fill.Nanoseconds())/float64(st.Published), "ns/publish")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(st.Published), "allocs/publish")
				// Steady state: one more publish per topic replaces a retained
				// frame, whose buffer goes back to the pool.
				names := make([]string, c.topics)
				for k := range names {
					names[k] = "md.T" + strconv.Itoa(k) + ".quote"
				}
				runtime.ReadMemStats(&ms0)
				for _, name := range names {
					if _, err := h.Publish(name, mdPayload100, 0); err != nil {
						b.Fatal(err)
					}
				}
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "steady-allocs/publish")
				h.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkMarketdataSlowConsumers: 200 subscribers each on the same 20
// topics; 20 of them (10%) do not read during the run. One op is one
// publish, round robin over the topics: either 100 bytes back to back
// ("unpaced": everyone falls behind), or 1,000 bytes paced by a millisecond
// ticker, 2 per tick ("paced-1KB": at most 2,000/s, whatever the ticker
// achieves is reported as publishes/s; the healthy readers keep up, and the
// slow ones overflow their kernel buffers within 10,000 publishes). The clock stops when every healthy
// subscriber has the last seq of every topic (or was closed). deliveries/s
// counts frames the healthy subscribers received; after the clock, the slow
// ones read what was kept for them, to count those closed (slow-closed). The
// queue bound is 256 KiB per connection. The readers run in this process,
// on the same two cores as the server.
func BenchmarkMarketdataSlowConsumers(b *testing.B) {
	for _, c := range []struct {
		name     string
		conflate bool
		policy   poller.SlowPolicy
		perTick  int // publishes per millisecond tick; 0: back to back
	}{
		{"unpaced/conflate/disconnect", true, poller.SlowDisconnect, 0},
		{"unpaced/conflate/drop", true, poller.SlowDrop, 0},
		{"unpaced/plain/drop", false, poller.SlowDrop, 0},
		{"unpaced/plain/disconnect", false, poller.SlowDisconnect, 0},
		{"paced-1KB/conflate/disconnect", true, poller.SlowDisconnect, 2},
		{"paced-1KB/plain/drop", false, poller.SlowDrop, 2},
		{"paced-1KB/plain/disconnect", false, poller.SlowDisconnect, 2},
	} {
		b.Run(c.name, func(b *testing.B) { benchSlowConsumers(b, c.conflate, c.policy, c.perTick) })
	}
}

func benchSlowConsumers(b *testing.B, conflate bool, policy poller.SlowPolicy, perTick int) {
	const nsubs, ntopics, slowEvery = 200, 20, 10
	cfg := server.Config{}
	cfg.Poller.MaxQueueBytes = 256 << 10
	cfg.Poller.SlowPolicy = policy
	cfg.Poller.WriteTimeout = 5 * time.Minute // the slow ones stall for the whole run
	s, addr := start(b, cfg)
	h := s.Hub()
	payload := mdPayload100
	if perTick > 0 {
		payload = mdPayload1K
	}
	topics := make([]string, ntopics)
	for i := range topics {
		topics[i] = fmt.Sprintf("md.B.%02d", i)
	}
	sub := `{"op":"sub","id":1,"topics":["` + strings.Join(topics, `","`) + `"],"conflate":` + strconv.FormatBool(conflate) + `}`
	clients := make([]*rawWS, nsubs)
	for i := range clients {
		c, err := rawDial(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.conn.Close()
		if err := c.sendText(sub); err != nil {
			b.Fatal(err)
		}
		if _, p, err := c.next(); err != nil || !strings.HasPrefix(string(p), `{"op":"ok","id":1`) {
			b.Fatalf("sub: %q %v", p, err)
		}
		clients[i] = c
	}
	// final[j] is the seq of topic j's last publish in this run.
	var final [ntopics]uint64
	for j := range final {
		final[j] = uint64(b.N / ntopics)
		if j < b.N%ntopics {
			final[j]++
		}
	}
	var received, closed, disorder atomic.Int64
	var wg sync.WaitGroup
	healthy := 0
	for i, c := range clients {
		if i%slowEvery == 0 {
			continue // never reads during the run
		}
		healthy++
		wg.Add(1)
		go func(c *rawWS) {
			defer wg.Done()
			n, ok, err := c.follow(&final)
			received.Add(n)
			switch {
			case err != nil:
				disorder.Add(1)
			case !ok:
				closed.Add(1)
			}
		}(c)
	}
	stop := make(chan struct{})
	var maxQueued atomic.Int64
	go func() { // sample the server's queued bytes while the run lasts
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if q := s.Poller().Stats().QueuedBytes; q > maxQueued.Load() {
				maxQueued.Store(q)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	st0 := s.Poller().Stats()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	var tick *time.Ticker
	if perTick > 0 {
		tick = time.NewTicker(time.Millisecond)
		defer tick.Stop()
	}
	for i := 0; i < b.N; i++ {
		if tick != nil && i%perTick == 0 {
			<-tick.C
		}
		if _, err := h.Publish(topics[i%ntopics], payload, 0); err != nil {
			b.Fatal(err)
		}
	}
	pubTime := time.Since(t0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		b.Fatalf("healthy subscribers did not finish: %d frames received", received.Load())
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	close(stop)
	st := s.Poller().Stats()
	if disorder.Load() != 0 {
		b.Fatalf("%d healthy subscribers saw a seq go back or a bad frame", disorder.Load())
	}
	// Now the slow ones read what the server kept for them: the close frame
	// (slow consumer) or every topic's last seq.
	slowClosed := 0
	for i := 0; i < nsubs; i += slowEvery {
		_, ok, err := clients[i].follow(&final)
		if err != nil {
			b.Fatalf("slow subscriber %d: %v", i, err)
		}
		if !ok {
			slowClosed++
		}
	}
	r := float64(received.Load())
	b.ReportMetric(r/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(100*r/float64(b.N*healthy), "healthy-recv-%")
	b.ReportMetric(float64(closed.Load()), "healthy-closed")
	b.ReportMetric(float64(slowClosed), "slow-closed")
	b.ReportMetric(float64(st.Dropped-st0.Dropped)/float64(b.N), "dropped/op")
	b.ReportMetric(float64(maxQueued.Load()), "max-queued-B")
	b.ReportMetric(float64(st.QueuedBytes), "end-queued-B")
	b.ReportMetric(float64(pubTime.Nanoseconds())/float64(b.N), "publish-ns")
	b.ReportMetric(float64(b.N)/pubTime.Seconds(), "publishes/s")
	// Staleness: from the last publish until every healthy subscriber that
	// stayed connected has every topic's last value.
	b.ReportMetric(float64((elapsed-pubTime).Microseconds())/1000, "drain-ms")
}

// follow reads deliveries until every topic j has reached final[j] (ok) or
// the connection closes (!ok). It returns the number of deliveries; err
// reports a seq that went back or a frame it cannot parse.
func (w *rawWS) follow(final *[20]uint64) (n int64, ok bool, err error) {
	var last [20]uint64
	pending := 0
	for j := range final {
		if final[j] > 0 {
			pending++
		}
	}
	for pending > 0 {
		w.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		op, p, rerr := w.next()
		if rerr != nil || op == 0x8 {
			return n, false, nil
		}
		j, seq, good := parseBenchMsg(p)
		if !good || seq <= last[j] {
			return n, false, fmt.Errorf("after seq %d of topic %d: %q", last[j], j, p)
		}
		last[j] = seq
		n++
		if seq == final[j] {
			pending--
		}
	}
	return n, true, nil
}

// parseBenchMsg reads topic index and seq from {"op":"msg","topic":"md.B.NN","seq":S,...}
// without allocating.
func parseBenchMsg(p []byte) (int, uint64, bool) {
	const pre = `{"op":"msg","topic":"md.B.`
	if len(p) < len(pre)+10 || string(p[:len(pre)]) != pre {
		return 0, 0, false
	}
	p = p[len(pre):]
	j := int(p[0]-'0')*10 + int(p[1]-'0')
	p = p[2:]
	const mid = `","seq":`
	if j < 0 || j >= 20 || string(p[:len(mid)]) != mid {
		return 0, 0, false
	}
	var seq uint64
	for _, ch := range p[len(mid):] {
		if ch < '0' || ch > '9' {
			return j, seq, seq > 0
		}
		seq = seq*10 + uint64(ch-'0')
	}
	return 0, 0, false
}

// rawWS is a minimal client-side WebSocket (RFC 6455) that reads into one
// reused buffer, so the benchmark's readers add no allocations of their own.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	hd   [8]byte // header scratch: a local array would escape through io.ReadFull
}

func rawDial(addr string) (*rawWS, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 64<<10)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	return &rawWS{conn: c, br: br, buf: make([]byte, 0, 4096)}, nil
}

// sendText writes one masked text frame (payload < 65536 bytes).
func (w *rawWS) sendText(s string) error {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f := []byte{0x81}
	if len(s) < 126 {
		f = append(f, 0x80|byte(len(s)))
	} else {
		f = append(f, 0x80|126, byte(len(s)>>8), byte(len(s)))
	}
	f = append(f, mask[:]...)
	for i := 0; i < len(s); i++ {
		f = append(f, s[i]^mask[i&3])
	}
	_, err := w.conn.Write(f)
	return err
}

// next reads one unfragmented frame; the payload is valid until the next call.
func (w *rawWS) next() (op byte, payload []byte, err error) {
	hd := w.hd[:2]
	if _, err = io.ReadFull(w.br, hd); err != nil {
		return 0, nil, err
	}
	b0, b1 := hd[0], hd[1]
	if b0&0x80 == 0 || b1&0x80 != 0 {
		return 0, nil, errors.New("fragmented or masked server frame")
	}
	n := uint64(b1 & 0x7f)
	switch n {
	case 126:
		if _, err = io.ReadFull(w.br, w.hd[2:4]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(w.hd[2:4]))
	case 127:
		if _, err = io.ReadFull(w.br, w.hd[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(w.hd[:])
	}
	if n > 16<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	if uint64(cap(w.buf)) < n {
		w.buf = make([]byte, n)
	}
	w.buf = w.buf[:n]
	if _, err = io.ReadFull(w.br, w.buf); err != nil {
		return 0, nil, err
	}
	return b0 & 0x0f, w.buf, nil
}
