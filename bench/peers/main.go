// Command peers runs one of the peer WebSocket servers c1m is benchmarked
// against. Every peer speaks the bench protocol (see internal/proto) on one
// port: /ws (sub, ping), /echo, /publish, /stats.
//
//	peers --server gorilla|gws|nbio --addr 127.0.0.1:9001
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	server := flag.String("server", "gorilla", "gorilla, gws or nbio")
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("peer", *server)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := map[string]func(context.Context, string, *slog.Logger) error{
		"gorilla": runGorilla,
		"gws":     runGWS,
		"nbio":    runNbio,
	}[*server]
	if run == nil {
		fmt.Fprintf(os.Stderr, "peers: unknown --server %q\n", *server)
		os.Exit(2)
	}
	log.Info("listening", "addr", *addr)
	if err := run(ctx, *addr, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}
