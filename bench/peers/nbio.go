package main

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"sync"

	"github.com/c1mhq/c1m/bench/peers/internal/proto"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// The nbio peer runs nbhttp in non-blocking mode (IOModNonBlocking): all
// connections are served by nbio's poller goroutines, and a broadcast is a
// WriteMessage per subscriber, which never blocks: nbio keeps what the socket
// does not take in its own per-connection buffer.

func runNbio(ctx context.Context, addr string, log *slog.Logger) error {
	subs := &topicSet[*websocket.Conn]{}
	srv := &proto.Server{Fanout: func(topic string, msg []byte) {
		subs.each(topic, func(c *websocket.Conn) { _ = c.WriteMessage(websocket.TextMessage, msg) })
	}}
	var mine sync.Map // *websocket.Conn -> []string, touched only from the conn's own callbacks

	wsUp := websocket.NewUpgrader()
	wsUp.KeepaliveTime = 0 // no idle read deadline: every server in the bench keeps idle connections
	wsUp.OnMessage(func(c *websocket.Conn, _ websocket.MessageType, data []byte) {
		op, err := proto.ParseOp(data)
		if err != nil {
			c.Close()
			return
		}
		switch op.Op {
		case "sub":
			var ts []string
			if v, ok := mine.Load(c); ok {
				ts = v.([]string)
			}
			for _, t := range op.Topics {
				subs.add(t, c)
				ts = append(ts, t)
			}
			mine.Store(c, ts)
			_ = c.WriteMessage(websocket.TextMessage, proto.OKReply(op.ID))
		case "ping":
			_ = c.WriteMessage(websocket.TextMessage, proto.OKReply(op.ID))
		}
	})
	wsUp.OnClose(func(c *websocket.Conn, _ error) {
		if v, ok := mine.LoadAndDelete(c); ok {
			subs.removeAll(c, v.([]string))
		}
		srv.Conns.Add(-1)
	})
	echoUp := websocket.NewUpgrader()
	echoUp.KeepaliveTime = 0
	echoUp.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) { _ = c.WriteMessage(mt, data) })
	echoUp.OnClose(func(*websocket.Conn, error) { srv.Conns.Add(-1) })

	upgrade := func(up *websocket.Upgrader) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, err := up.Upgrade(w, r, nil); err != nil {
				return
			}
			srv.Conns.Add(1)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", upgrade(wsUp))
	mux.HandleFunc("/echo", upgrade(echoUp))
	mux.HandleFunc("/publish", srv.HandlePublish)
	mux.HandleFunc("/stats", srv.HandleStats)

	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{addr},
		Handler:                 mux,
		IOMod:                   nbhttp.IOModNonBlocking,
		MaxLoad:                 1 << 20,
		NPoller:                 runtime.GOMAXPROCS(0),
		ReleaseWebsocketPayload: true,
		MaxWriteBufferSize:      4 << 20, // close a subscriber that has 4 MiB unsent
	})
	if err := engine.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return engine.Shutdown(context.Background())
}
