package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Logging: debug lines for connections (poller), subscriptions, protocol
// errors and refusals; an info summary every Config.LogSummary. Debug call
// sites check debug() first, so a disabled level allocates nothing.

func (s *Server) debug() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }

// refused logs at debug level an HTTP request refused with status.
func (s *Server) refused(r *http.Request, status int) {
	if s.debug() {
		s.log.Debug("request refused", "status", status, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	}
}

// summarize logs one info line every interval until ctx is done: connections,
// deliveries and publishes per second, and closes by reason over the interval.
func (s *Server) summarize(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	prevAt := time.Now()
	prevHub := s.hub.Stats()
	prevCloses := s.poller.Stats().Closes
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ps := s.poller.Stats()
			hs := s.hub.Stats()
			secs := now.Sub(prevAt).Seconds()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			s.log.Info("summary",
				"conns", ps.Conns,
				"tcp_conns", ps.TCPConns,
				"topics", hs.Topics,
				"subscriptions", hs.Subscriptions,
				"published_per_s", rate(hs.Published-prevHub.Published, secs),
				"deliveries_per_s", rate(hs.Deliveries-prevHub.Deliveries, secs),
				"queued_bytes", ps.QueuedBytes,
				"heap_bytes", ms.HeapAlloc,
				"closes", closesDelta(ps.Closes, prevCloses),
			)
			prevAt, prevHub, prevCloses = now, hs, ps.Closes
		}
	}
}

func rate(n uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(int64(float64(n)/secs*10)) / 10
}

// closesDelta formats the closes since prev as "reason=n ..." ("none" if none).
func closesDelta(now, prev map[string]uint64) string {
	var parts []string
	for r, n := range now {
		if d := n - prev[r]; d > 0 {
			parts = append(parts, r+"="+strconv.FormatUint(d, 10))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
