package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/c1mhq/c1m/internal/certs"
	"github.com/c1mhq/c1m/poller"
)

// DefaultTLSAddr is the TLS listen address when TLSConfig.Addr is empty.
const DefaultTLSAddr = ":8443"

// DefaultTLSReloadInterval is how often the certificate files are checked
// when TLSConfig.ReloadInterval is zero.
const DefaultTLSReloadInterval = 10 * time.Second

// TLSConfig configures the TLS listener (wss:// and https://), which
// serves everything the plain listener does, side by side with it. It is
// on when CertFile is set.
type TLSConfig struct {
	// Addr is the TLS listen address. Empty: ":8443".
	Addr string
	// CertFile and KeyFile are the PEM certificate (chain) and key.
	CertFile, KeyFile string
	// HandshakeWorkers bounds the TLS handshakes running at once (more
	// wait in a queue). Zero: the poller's default, 1024.
	HandshakeWorkers int
	// ReloadInterval is how often the files' stat is checked; a change
	// loads the new pair for new connections. Zero: 10 s; negative: off
	// (ReloadTLS, SIGHUP in c1m, still reloads).
	ReloadInterval time.Duration
}

// errNoTLS is ReloadTLS's error without a TLS listener.
var errNoTLS = errors.New("tls is off: no certificate configured")

// tlsServerConfig is the crypto/tls configuration of the listener: the
// certificate from the reloader at every handshake, TLS 1.2 and up, ALPN
// http/1.1 and http/1.0 (curl --http1.0 offers only the latter; nginx
// takes both), and full-size records from the start (deliveries are
// written in bulk; the small first records of dynamic sizing would only
// add overhead).
func tlsServerConfig(r *certs.Reloader) *tls.Config {
	return &tls.Config{
		MinVersion:                  tls.VersionTLS12,
		NextProtos:                  []string{"http/1.1", "http/1.0"},
		GetCertificate:              r.GetCertificate,
		DynamicRecordSizingDisabled: true,
	}
}

// openTLS loads the certificate; listenTLS binds the listener. Both do
// nothing without TLS.CertFile.
func (s *Server) openTLS() error {
	t := &s.cfg.TLS
	if t.CertFile == "" && t.KeyFile == "" {
		return nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return errors.New("tls: a certificate needs its key and a key its certificate (set both files)")
	}
	if t.Addr == "" {
		t.Addr = DefaultTLSAddr
	}
	if t.ReloadInterval == 0 {
		t.ReloadInterval = DefaultTLSReloadInterval
	}
	r, err := certs.New(t.CertFile, t.KeyFile, s.log)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	s.certs = r
	return nil
}

func (s *Server) listenTLS(p *poller.Server) error {
	if s.certs == nil {
		return nil
	}
	if err := p.ListenTLS(s.cfg.TLS.Addr, tlsServerConfig(s.certs)); err != nil {
		return fmt.Errorf("tls listener %s: %w", s.cfg.TLS.Addr, err)
	}
	return nil
}

// startTLS watches the certificate files until ctx ends.
func (s *Server) startTLS(ctx context.Context) {
	if s.certs == nil {
		return
	}
	s.log.Info("serving tls", "url", s.TLSURL()+"/", "cert_serial", s.certs.Serial(), "cert_not_after", s.certs.NotAfter(),
		"reload_interval", s.cfg.TLS.ReloadInterval.String())
	if s.cfg.TLS.ReloadInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.certs.Watch(ctx, s.cfg.TLS.ReloadInterval)
		}()
	}
}

// TLSAddr returns the TLS listener's address, nil without TLS.
func (s *Server) TLSAddr() net.Addr {
	if s.certs == nil {
		return nil
	}
	return s.poller.TLSAddr()
}

// TLSURL returns "https://host:port" of the TLS listener ("" without TLS);
// an unspecified host becomes localhost, as in URL.
func (s *Server) TLSURL() string {
	a := s.TLSAddr()
	if a == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "https://" + a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// ReloadTLS loads the certificate files again (c1m does on SIGHUP): new
// connections get the new pair, open ones keep theirs. A pair that does not
// load leaves the current one in place and is returned as the error.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return errNoTLS
	}
	return s.certs.Reload()
}

// TLSStats is the "tls" object of GET /stats.
type TLSStats struct {
	Addr              string      `json:"addr"`
	Cert              certs.Stats `json:"cert"` // the certificate served now, and its reloads
	Conns             int64       `json:"conns"`
	Handshaking       int64       `json:"handshaking"` // running or queued for a worker
	Handshakes        uint64      `json:"handshakes"`
	Resumed           uint64      `json:"resumed"`
	HandshakeErrors   uint64      `json:"handshake_errors"`
	HandshakeTimeouts uint64      `json:"handshake_timeouts"`
	TLS13             uint64      `json:"tls13"`
	TLS12             uint64      `json:"tls12"`
}

// tlsStats returns the TLS listener's stats, nil without TLS.
func (s *Server) tlsStats(ps poller.Stats) *TLSStats {
	if s.certs == nil {
		return nil
	}
	st := &TLSStats{Cert: s.certs.Stats(), Conns: ps.TLSConns, Handshaking: ps.TLSHandshaking, Handshakes: ps.TLSHandshakes,
		Resumed: ps.TLSResumed, HandshakeErrors: ps.TLSHandshakeErrors, HandshakeTimeouts: ps.TLSHandshakeTimeouts,
		TLS13: ps.TLS13, TLS12: ps.TLS12}
	if a := s.TLSAddr(); a != nil {
		st.Addr = a.String()
	}
	return st
}

var (
	descTLSConns = prometheus.NewDesc("c1m_tls_connections", "Open TCP connections on the TLS listener (handshaking, HTTP and WebSocket).", nil, nil)
	descTLSHS    = prometheus.NewDesc("c1m_tls_handshakes_total",
		"TLS handshakes by result: ok, error (bad hello, protocol error; closed with reason tls_handshake) and timeout (not done within --handshake-timeout).",
		[]string{"result"}, nil)
	descTLSResumed   = prometheus.NewDesc("c1m_tls_resumed_total", "TLS handshakes completed with session resumption (no certificate signature).", nil, nil)
	descTLSShaking   = prometheus.NewDesc("c1m_tls_handshaking", "TLS handshakes running or queued for a worker now (--tls-handshake-workers run at once).", nil, nil)
	descTLSByVersion = prometheus.NewDesc("c1m_tls_handshakes_by_version_total", "Completed TLS handshakes by protocol version.", []string{"version"}, nil)
	descTLSReloads   = prometheus.NewDesc("c1m_tls_cert_reloads_total",
		"Certificate reloads (SIGHUP or a change of the files) by result: ok, or error (the current certificate stays).", []string{"result"}, nil)
	descTLSNotAfter = prometheus.NewDesc("c1m_tls_cert_not_after_seconds", "End of the served certificate's validity, Unix seconds.", nil, nil)
)

// tlsDescs are the metrics of collectTLS.
var tlsDescs = []*prometheus.Desc{descTLSConns, descTLSHS, descTLSResumed, descTLSShaking, descTLSByVersion, descTLSReloads, descTLSNotAfter}

// collectTLS adds the TLS listener's metrics; none without TLS.
func (s *Server) collectTLS(ch chan<- prometheus.Metric, ps poller.Stats) {
	if s.certs == nil {
		return
	}
	ct := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	g(descTLSConns, float64(ps.TLSConns))
	ct(descTLSHS, float64(ps.TLSHandshakes), "ok")
	ct(descTLSHS, float64(ps.TLSHandshakeErrors), "error")
	ct(descTLSHS, float64(ps.TLSHandshakeTimeouts), "timeout")
	ct(descTLSResumed, float64(ps.TLSResumed))
	g(descTLSShaking, float64(ps.TLSHandshaking))
	ct(descTLSByVersion, float64(ps.TLS13), "1.3")
	ct(descTLSByVersion, float64(ps.TLS12), "1.2")
	ct(descTLSReloads, float64(s.certs.Reloads()), "ok")
	ct(descTLSReloads, float64(s.certs.ReloadErrors()), "error")
	g(descTLSNotAfter, float64(s.certs.NotAfter().Unix()))
}
