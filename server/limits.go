package server

import "github.com/prometheus/client_golang/prometheus"

// descRefused counts the connections and requests refused before they
// became clients, by reason: the server's capacity (--max-conns) or its
// shutdown (503), and the per-address limits (429).
var descRefused = prometheus.NewDesc("c1m_refused_total",
	"Connections refused before an upgrade or stream, by reason: capacity (503 past --max-conns or while shutting down), conns_per_ip and connect_rate_per_ip (429).",
	[]string{"reason"}, nil)

// collectLimits adds the refusal counters.
func (s *Server) collectLimits(ch chan<- prometheus.Metric) {
	ps := s.poller.Stats()
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"capacity", ps.Refused503}, {"conns_per_ip", ps.RefusedIPConns}, {"connect_rate_per_ip", ps.RefusedIPRate}} {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(r.n), r.reason)
	}
}
