// Command sioharness serves c1m's Socket.IO with the WebSocket transport on
// a second listener, so that test/node/socketio-websocket.test.js can run the
// official socket.io-client over WebSocket and through the polling ->
// WebSocket upgrade (pointing its websocket transport at the second port
// with transportOptions) until c1m's reactor can route the upgrades and the
// plain requests of /socket.io/ on one listener.
//
// It prints "listening http=PORT ws=PORT" on stderr and serves until killed:
// /socket.io/ long-polling and POST /publish?topic=T (a JSON body) on http,
// /socket.io/ WebSocket on ws.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/proto/socketio"
	"github.com/c1mhq/c1m/wsframe"
)

func main() {
	pingInterval := flag.Duration("ping-interval", 25*time.Second, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SIOHARNESS_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h := hub.New(hub.Config{})
	defer h.Close()
	sio := socketio.New(socketio.Config{
		Hub:           h,
		Errors:        native.New(native.Config{Hub: h}),
		Namespaces:    []string{"/", "/md"},
		ClientPublish: true,
		Logger:        log,
	})
	eio := engineio.New(engineio.Config{Handler: sio, WebSocket: true, PingInterval: *pingInterval, PingTimeout: *pingTimeout, Logger: log})
	defer eio.Close()
	const path = "/socket.io/"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seq, err := h.Publish(r.URL.Query().Get("topic"), body, 0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"seq":%d}`, seq)
	})
	wsh := eio.WebSocket()
	start := func(pc poller.Config) *poller.Server {
		pc.Logger = log
		p, err := poller.New(pc)
		if err == nil {
			err = p.Listen("127.0.0.1:0")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sioharness:", err)
			os.Exit(1)
		}
		go func() { _ = p.Serve() }()
		return p
	}
	a := start(poller.Config{
		Handler: wsh,
		Routes:  func(string) poller.Handler { return nil },
		HTTPRoutes: func(method, p string) poller.HTTPHandler {
			if strings.HasPrefix(p, path) {
				return eio.Polling()
			}
			return nil
		},
		HTTP: mux,
	})
	b := start(poller.Config{
		Handler:  wsh,
		Routes:   func(string) poller.Handler { return wsh },
		Upgrader: wsframe.Upgrader{Route: func(p string) bool { return strings.HasPrefix(p, path) }},
	})
	port := func(p *poller.Server) string {
		s := p.Addr().String()
		return s[strings.LastIndexByte(s, ':')+1:]
	}
	fmt.Fprintf(os.Stderr, "listening http=%s ws=%s\n", port(a), port(b))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Shutdown(ctx)
	_ = b.Shutdown(ctx)
}
