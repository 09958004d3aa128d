package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/c1mhq/c1m/cluster"
)

// openCluster joins the NATS cluster when cfg.Cluster names servers: the
// node becomes the hub's Broker and gives it the cluster's epoch. Without
// URLs the server runs alone (the hub's own memory engine).
func (s *Server) openCluster() error {
	cc := s.cfg.Cluster
	if len(cc.URLs) == 0 {
		return nil
	}
	if cc.Name == "" {
		cc.Name = s.cfg.NodeName
	}
	if cc.HistorySize == 0 {
		cc.HistorySize = s.cfg.Hub.HistorySize
	}
	if cc.MaxAge == 0 {
		// The stream keeps a topic's messages as long as a single node
		// keeps its last value (and at least its history).
		ttl, hist := s.cfg.Hub.LastValueTTL, s.cfg.Hub.HistoryTTL
		if ttl == 0 {
			ttl = 24 * time.Hour
		}
		if ttl > 0 {
			cc.MaxAge = max(ttl, hist)
		}
	}
	if cc.Logger == nil {
		cc.Logger = s.log
	}
	n, err := cluster.Open(context.Background(), cc)
	if err != nil {
		return err
	}
	s.node = n
	s.cfg.Hub.Epoch = n.Epoch()
	s.cfg.Hub.Broker = n
	return nil
}

// handleReady answers /readyz: 200 when the server takes clients and, in a
// cluster, reaches NATS; 503 with the reason otherwise (draining, NATS
// unreachable). /healthz stays the liveness check: it fails only when the
// process cannot answer at all.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: draining\n"))
		return
	}
	if s.node != nil {
		if err := s.node.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// clusterStats is /stats' "nats" (nil when the server runs alone).
func (s *Server) clusterStats() *cluster.Stats {
	if s.node == nil {
		return nil
	}
	st := s.node.Stats()
	return &st
}

var (
	descNATSConnected = prometheus.NewDesc("c1m_nats_connected", "1 when the node is connected to NATS (cluster mode), else 0.", nil, nil)
	descNATSSubs      = prometheus.NewDesc("c1m_nats_subscriptions", "NATS subscriptions the node holds for its clients' patterns.", nil, nil)
	descNATSIn        = prometheus.NewDesc("c1m_nats_msgs_in_total", "Live messages received from NATS.", nil, nil)
	descNATSOut       = prometheus.NewDesc("c1m_nats_msgs_out_total", "Messages published to the JetStream stream.", nil, nil)
	descNATSRetries   = prometheus.NewDesc("c1m_nats_publish_retries_total", "Publishes retried after a per-topic seq conflict with another node.", nil, nil)
	descNATSPubErrs   = prometheus.NewDesc("c1m_nats_publish_errors_total", "Publishes refused because NATS was unreachable or failed.", nil, nil)
	descNATSGapFills  = prometheus.NewDesc("c1m_nats_gap_fills_total", "Gaps in a topic's seq noticed on live messages and filled from JetStream.", nil, nil)
	descNATSFilled    = prometheus.NewDesc("c1m_nats_gaps_filled_total", "Messages fetched from JetStream to fill gaps.", nil, nil)
	descNATSLost      = prometheus.NewDesc("c1m_nats_gaps_unrecoverable_total", "Gaps JetStream no longer held (clients see the seq jump).", nil, nil)
	descNATSBackfill  = prometheus.NewDesc("c1m_nats_backfilled_total", "History messages loaded from JetStream to recover resuming clients.", nil, nil)
	descNATSSlow      = prometheus.NewDesc("c1m_nats_slow_consumer_events_total", "NATS slow-consumer events on the node's subscriptions.", nil, nil)
	descNATSDropped   = prometheus.NewDesc("c1m_nats_dropped_msgs", "Messages nats.go dropped on the node's current subscriptions (slow consumer).", nil, nil)
	descNATSReconn    = prometheus.NewDesc("c1m_nats_reconnects_total", "Reconnections to NATS.", nil, nil)
)

var clusterDescs = []*prometheus.Desc{descNATSConnected, descNATSSubs, descNATSIn, descNATSOut, descNATSRetries,
	descNATSPubErrs, descNATSGapFills, descNATSFilled, descNATSLost, descNATSBackfill, descNATSSlow, descNATSDropped, descNATSReconn}

// collectCluster adds the cluster metrics (nothing when the server runs
// alone).
func (s *Server) collectCluster(ch chan<- prometheus.Metric) {
	st := s.clusterStats()
	if st == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	ct := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	conn := 0.0
	if st.Connected {
		conn = 1
	}
	g(descNATSConnected, conn)
	g(descNATSSubs, float64(st.Subscriptions))
	ct(descNATSIn, st.MsgsIn)
	ct(descNATSOut, st.MsgsOut)
	ct(descNATSRetries, st.PublishRetry)
	ct(descNATSPubErrs, st.PublishErrors)
	ct(descNATSGapFills, st.GapFills)
	ct(descNATSFilled, st.GapsFilled)
	ct(descNATSLost, st.Unrecoverable)
	ct(descNATSBackfill, st.Backfilled)
	ct(descNATSSlow, st.SlowConsumer)
	g(descNATSDropped, float64(st.Dropped))
	ct(descNATSReconn, st.Reconnects)
}
