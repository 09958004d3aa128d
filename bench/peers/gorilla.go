package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/c1mhq/c1m/bench/peers/internal/proto"
	"github.com/gorilla/websocket"
)

// The gorilla peer follows gorilla/websocket's chat example: one hub
// goroutine owns the subscriptions and is fed by channels; every client has a
// read goroutine and a write goroutine draining a buffered send channel; a
// client whose channel is full is dropped by the hub.

const gorillaSendQueue = 256 // messages, as in the chat example

type gClient struct {
	conn *websocket.Conn
	send chan []byte
}

type gSub struct {
	c      *gClient
	topics []string // none: a ping
	id     int64
}

type gPub struct {
	topic string
	msg   []byte
}

type gHub struct {
	subs       map[string]map[*gClient]bool
	subscribe  chan gSub
	unregister chan *gClient
	broadcast  chan gPub
}

func (h *gHub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-h.subscribe:
			for _, t := range s.topics {
				if h.subs[t] == nil {
					h.subs[t] = map[*gClient]bool{}
				}
				h.subs[t][s.c] = true
			}
			h.deliver(s.c, proto.OKReply(s.id))
		case c := <-h.unregister:
			for _, set := range h.subs {
				delete(set, c)
			}
		case p := <-h.broadcast:
			for c := range h.subs[p.topic] {
				if !h.deliver(c, p.msg) {
					delete(h.subs[p.topic], c)
				}
			}
		}
	}
}

// deliver queues msg or drops the client when its queue is full.
func (h *gHub) deliver(c *gClient, msg []byte) bool {
	select {
	case c.send <- msg:
		return true
	default:
		c.conn.Close() // the read goroutine notices and unregisters
		return false
	}
}

func runGorilla(ctx context.Context, addr string, log *slog.Logger) error {
	hub := &gHub{
		subs:       map[string]map[*gClient]bool{},
		subscribe:  make(chan gSub),
		unregister: make(chan *gClient),
		broadcast:  make(chan gPub, 1024),
	}
	srv := &proto.Server{Fanout: func(topic string, msg []byte) { hub.broadcast <- gPub{topic, msg} }}
	go hub.run(ctx)
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		srv.Conns.Add(1)
		c := &gClient{conn: conn, send: make(chan []byte, gorillaSendQueue)}
		go c.writePump()
		go c.readPump(hub, srv)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		srv.Conns.Add(1)
		go func() {
			defer srv.Conns.Add(-1)
			defer conn.Close()
			for {
				mt, p, err := conn.ReadMessage()
				if err != nil || conn.WriteMessage(mt, p) != nil {
					return
				}
			}
		}()
	})
	mux.HandleFunc("/publish", srv.HandlePublish)
	mux.HandleFunc("/stats", srv.HandleStats)
	return serveHTTP(ctx, addr, mux)
}

func (c *gClient) readPump(hub *gHub, srv *proto.Server) {
	defer func() {
		hub.unregister <- c
		close(c.send)
		c.conn.Close()
		srv.Conns.Add(-1)
	}()
	for {
		_, p, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		op, err := proto.ParseOp(p)
		if err != nil {
			return
		}
		switch op.Op {
		case "sub":
			hub.subscribe <- gSub{c, op.Topics, op.ID}
		case "ping":
			hub.subscribe <- gSub{c, nil, op.ID} // answered in order through the hub
		}
	}
}

func (c *gClient) writePump() {
	for msg := range c.send {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			c.conn.Close()
			for range c.send { // drain until the read goroutine closes it
			}
			return
		}
	}
}

// serveHTTP runs a net/http server until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
