package server

import "github.com/prometheus/client_golang/prometheus"

// descRefused counts the connections and requests refused before they
// became clients, by reason: the server's capacity (--max-conns) or its
// shutdown (503), and the per-address limits (429).
var descRefused = prometheus.NewDesc("c1m_refused_total",
	"Connections refused before an upgrade or stream, by reason: capacity (503 past --max-conns or while shutting down), conns_per_ip and connect_rate_per_ip (429).",
	[]string{"reason"}, nil)

var (
	descAuthRefused = prometheus.NewDesc("c1m_auth_refused_total",
		"Tokens or operations refused by --auth, by kind: missing, malformed, bad_signature, unknown_kid, expired, bad_claims, forbidden.",
		[]string{"kind"}, nil)
	descAuthExpired   = prometheus.NewDesc("c1m_auth_expired_total", "Connections closed because their token expired (4401).", nil, nil)
	descAuthRefreshed = prometheus.NewDesc("c1m_auth_refreshed_total", "Tokens replaced by a refresh operation.", nil, nil)
	descAuthUsers     = prometheus.NewDesc("c1m_auth_users", "Distinct users (token sub) connected now.", nil, nil)
)

// limitDescs are the metrics of collectLimits.
var limitDescs = []*prometheus.Desc{descRefused, descAuthRefused, descAuthExpired, descAuthRefreshed, descAuthUsers}

// collectLimits adds the refusal counters: capacity and per-address
// limits, and with --auth the token refusals by kind.
func (s *Server) collectLimits(ch chan<- prometheus.Metric) {
	ps := s.poller.Stats()
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"capacity", ps.Refused503}, {"conns_per_ip", ps.RefusedIPConns}, {"connect_rate_per_ip", ps.RefusedIPRate}} {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(r.n), r.reason)
	}
	as := s.auth.Stats()
	if as == nil {
		return
	}
	for kind, n := range as.RefusedBy {
		ch <- prometheus.MustNewConstMetric(descAuthRefused, prometheus.CounterValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(descAuthExpired, prometheus.CounterValue, float64(as.Expired))
	ch <- prometheus.MustNewConstMetric(descAuthRefreshed, prometheus.CounterValue, float64(as.Refreshed))
	ch <- prometheus.MustNewConstMetric(descAuthUsers, prometheus.GaugeValue, float64(as.Users))
}
