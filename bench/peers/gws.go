package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/c1mhq/c1m/bench/peers/internal/proto"
	"github.com/lxzan/gws"
)

// The gws peer follows gws's README: an Upgrader on net/http with the read
// loop in its own goroutine, and one gws.Broadcaster per published message
// (the frame is encoded once and queued asynchronously on each connection).

const sessTopics = "topics"

type gwsHandler struct {
	gws.BuiltinEventHandler
	srv  *proto.Server
	subs *topicSet[*gws.Conn]
	log  *slog.Logger
}

func (h *gwsHandler) OnClose(c *gws.Conn, err error) {
	if v, ok := c.Session().Load(sessTopics); ok {
		h.subs.removeAll(c, v.([]string))
	}
	h.srv.Conns.Add(-1)
}

func (h *gwsHandler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	op, err := proto.ParseOp(m.Bytes())
	if err != nil {
		c.WriteClose(1003, []byte("bad request"))
		return
	}
	switch op.Op {
	case "sub":
		var mine []string
		if v, ok := c.Session().Load(sessTopics); ok {
			mine = v.([]string)
		}
		for _, t := range op.Topics {
			h.subs.add(t, c)
			mine = append(mine, t)
		}
		c.Session().Store(sessTopics, mine)
		_ = c.WriteMessage(gws.OpcodeText, proto.OKReply(op.ID))
	case "ping":
		_ = c.WriteMessage(gws.OpcodeText, proto.OKReply(op.ID))
	}
}

type gwsEcho struct {
	gws.BuiltinEventHandler
	srv *proto.Server
}

func (h *gwsEcho) OnClose(*gws.Conn, error) { h.srv.Conns.Add(-1) }
func (h *gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func runGWS(ctx context.Context, addr string, log *slog.Logger) error {
	subs := &topicSet[*gws.Conn]{}
	srv := &proto.Server{Fanout: func(topic string, msg []byte) {
		b := gws.NewBroadcaster(gws.OpcodeText, msg)
		defer b.Close()
		subs.each(topic, func(c *gws.Conn) { _ = b.Broadcast(c) })
	}}
	opt := &gws.ServerOption{Recovery: gws.Recovery}
	wsUp := gws.NewUpgrader(&gwsHandler{srv: srv, subs: subs, log: log}, opt)
	echoUp := gws.NewUpgrader(&gwsEcho{srv: srv}, opt)
	upgrade := func(up *gws.Upgrader) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			srv.Conns.Add(1)
			go c.ReadLoop()
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", upgrade(wsUp))
	mux.HandleFunc("/echo", upgrade(echoUp))
	mux.HandleFunc("/publish", srv.HandlePublish)
	mux.HandleFunc("/stats", srv.HandleStats)
	return serveHTTP(ctx, addr, mux)
}
