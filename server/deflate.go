package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// DefaultDeflateThreshold is the smallest payload sent compressed when
// DeflateConfig.Threshold is zero. Without context takeover (the price of
// compressing a broadcast once for everyone) a message is compressed on its
// own: a 135-byte quote of the demo feed saves only 19%, a 600-byte book
// update about 70%. Below 256 bytes the saving rarely pays for the
// client's inflate (Node's ws inflates one small message in about 0.4 ms on
// a loaded machine, 8x its uncompressed cost); --deflate-threshold 0
// compresses them all.
const DefaultDeflateThreshold = 256

// DeflateConfig configures permessage-deflate (RFC 7692) on every
// WebSocket endpoint (/ws, /echo, Socket.IO, STOMP, SockJS's websocket
// transport). It is on unless Off: a client that offers it gets it.
type DeflateConfig struct {
	// Off declines every offer: clients fall back to uncompressed frames.
	Off bool
	// Threshold is the smallest payload, in bytes, sent compressed; smaller
	// frames go out uncompressed (RSV1 clear) also on deflate connections.
	// Zero means DefaultDeflateThreshold; negative compresses every frame
	// that gets smaller.
	Threshold int
}

// deflatePoller sets the reactor's permessage-deflate settings from cfg.
func deflatePoller(cfg DeflateConfig, pc *poller.Config) {
	pc.Upgrader.Deflate = !cfg.Off
	switch {
	case cfg.Threshold == 0:
		pc.DeflateThreshold = DefaultDeflateThreshold
	case cfg.Threshold < 0:
		pc.DeflateThreshold = 0
	default:
		pc.DeflateThreshold = cfg.Threshold
	}
}

var (
	descDeflateConns = prometheus.NewDesc("c1m_deflate_connections_total", "WebSocket upgrades that negotiated permessage-deflate.", nil, nil)
	descDeflateComp  = prometheus.NewDesc("c1m_deflate_compressed_total", "Frames compressed: once per broadcast and wire format, shared by every deflate connection.", nil, nil)
	descDeflateIn    = prometheus.NewDesc("c1m_deflate_compressed_in_bytes_total", "Payload bytes given to the compressor.", nil, nil)
	descDeflateOut   = prometheus.NewDesc("c1m_deflate_compressed_out_bytes_total", "Payload bytes the compressor produced.", nil, nil)
	descDeflateSkip  = prometheus.NewDesc("c1m_deflate_incompressible_total", "Frames sent uncompressed because compressing did not make them smaller.", nil, nil)
	descDeflateSent  = prometheus.NewDesc("c1m_deflate_sent_frames_total", "Compressed frames queued to connections.", nil, nil)
	descDeflateSaved = prometheus.NewDesc("c1m_deflate_saved_bytes_total", "Bytes saved on the wire by compressed frames against their uncompressed form.", nil, nil)
	descInflated     = prometheus.NewDesc("c1m_deflate_inflated_total", "Compressed client messages inflated.", nil, nil)
	descInflateErrs  = prometheus.NewDesc("c1m_deflate_inflate_errors_total", "Compressed client messages refused: invalid deflate data (1007) or too big once inflated (1009).", nil, nil)
)

var deflateDescs = []*prometheus.Desc{descDeflateConns, descDeflateComp, descDeflateIn, descDeflateOut,
	descDeflateSkip, descDeflateSent, descDeflateSaved, descInflated, descInflateErrs}

// collectDeflate adds the permessage-deflate metrics.
func (s *Server) collectDeflate(ch chan<- prometheus.Metric, ps poller.Stats) {
	ds := wsframe.ReadDeflateStats()
	ct := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ct(descDeflateConns, ps.DeflateConns)
	ct(descDeflateComp, ds.Compressed)
	ct(descDeflateIn, ds.CompressedIn)
	ct(descDeflateOut, ds.CompressedOut)
	ct(descDeflateSkip, ds.Incompressible)
	ct(descDeflateSent, ps.DeflateSent)
	ct(descDeflateSaved, ps.DeflateSaved)
	ct(descInflated, ds.Inflated)
	ct(descInflateErrs, ds.InflateErrors)
}
