package loadgen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// The TLS reference server is Go's standard stack, net/http over
// crypto/tls (a goroutine per connection), serving what tls_handshake needs:
// GET /healthz on the TLS listener, /stats (pid, conns, goroutines, heap) on
// the plain one. Run pinned like c1m, it tells what a full handshake costs
// Go's crypto/tls on this machine, so c1m's handshake CPU can be read as
// crypto/tls's own plus whatever its reactor transport adds.

// RunTLSRefServer serves until ctx ends: plain HTTP on addr, HTTPS on
// tlsAddr with the certificate and key files.
func RunTLSRefServer(ctx context.Context, addr, tlsAddr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(map[string]any{"pid": os.Getpid(), "conns": conns.Load(), "goroutines": runtime.NumGoroutine(),
			"heap_alloc": ms.HeapAlloc, "heap_inuse": ms.HeapInuse, "heap_sys": ms.HeapSys})
	})
	track := func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	plain := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	secure := &http.Server{Addr: tlsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnState: track,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	errs := make(chan error, 2)
	go func() { errs <- plain.ListenAndServe() }()
	go func() { errs <- secure.ListenAndServeTLS("", "") }()
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	plain.Shutdown(sctx)
	secure.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
