// Package loadgen is c1m's load generator: it opens and holds WebSocket
// client connections at scale, publishes over HTTP, measures latency,
// throughput and the server's memory and CPU, and writes one JSON Result per
// measurement.
//
// Layout: wsproto.go is the minimal client side of RFC 6455; loop.go drives
// connections with epoll from one goroutine; pool.go spreads connections over
// worker processes (the executable re-run with C1MBENCH_WORKER=1) so that no
// process exceeds its open-file limit; publisher.go posts to /publish;
// serverstat.go samples /stats and /proc; scenario.go and hold.go are the
// scenarios; report.go checks completeness and writes report.md and plot data;
// hist.go is the histogram.
//
// Goroutine safety: a Loop belongs to the goroutine running Loop.Run (use
// Loop.Do from others); Pool and Publisher are safe for concurrent use; a
// Histogram is not. Buffers: Frame.Payload and the slices returned by the
// scanners point into the caller's buffer and are valid until it is reused;
// nothing in this package retains a caller's slice.
package loadgen
