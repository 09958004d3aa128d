package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/c1mhq/c1m/cluster"
	"github.com/c1mhq/c1m/server"
)

// natsNode is a real nats-server with JetStream, embedded, on a fixed port
// (so that it can be stopped and started again at the same address) and a
// store directory that outlives restarts.
type natsNode struct {
	t    testing.TB
	port int
	dir  string
	srv  *natsserver.Server
}

func startNATS(t testing.TB) *natsNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &natsNode{t: t, port: port, dir: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) start() {
	n.t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server did not start")
	}
	n.srv = s
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// node is one c1m server of the cluster.
type node struct {
	srv  *server.Server
	addr string
	stop func()
}

func startNode(t testing.TB, nats *natsNode, name string, mod ...func(*server.Config)) *node {
	t.Helper()
	cfg := server.Config{
		Addr:          "127.0.0.1:0",
		NodeName:      name,
		ClientPublish: true,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cluster:       cluster.Config{URLs: []string{nats.url()}, ConnectTimeout: 5 * time.Second},
	}
	cfg.Hub.HistorySize = 20000
	for _, f := range mod {
		f(&cfg)
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	s.Start()
	n := &node{srv: s, addr: s.Addr().String()}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}
	t.Cleanup(n.stop)
	waitFor(t, 10*time.Second, name+" ready", func() bool { return n.ready() == 200 })
	return n
}

func (n *node) ready() int {
	r, err := http.Get("http://" + n.addr + "/readyz")
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publish posts one JSON message through node's /publish and returns the
// status and the seq.
func (n *node) publish(t testing.TB, topic, data string) (int, uint64) {
	t.Helper()
	r, err := http.Post("http://"+n.addr+"/publish?topic="+topic, "application/json", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v struct{ Seq uint64 }
	_ = json.NewDecoder(r.Body).Decode(&v)
	return r.StatusCode, v.Seq
}

// wsClient is a native-protocol client (gorilla/websocket).
type wsClient struct {
	t  testing.TB
	ws *websocket.Conn
}

type frame struct {
	Op     string          `json:"op"`
	ID     json.RawMessage `json:"id"`
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Snap   bool            `json:"snap"`
	Data   json.RawMessage `json:"data"`
	Topics map[string]struct {
		Epoch     string `json:"epoch"`
		Seq       uint64 `json:"seq"`
		Recovered *bool  `json:"recovered"`
	} `json:"topics"`
}

func dialWS(t testing.TB, addr string) *wsClient {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, ws: c}
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (c *wsClient) read(d time.Duration) (frame, error) {
	c.ws.SetReadDeadline(time.Now().Add(d))
	_, m, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(m, &f); err != nil {
		c.t.Fatalf("invalid JSON %q: %v", m, err)
	}
	return f, nil
}

// sub subscribes and returns the frames before the ok (snapshots,
// recovered messages) and the ok.
func (c *wsClient) sub(id int, topics []string, since string) ([]frame, frame) {
	c.t.Helper()
	b, _ := json.Marshal(topics)
	c.send(fmt.Sprintf(`{"op":"sub","id":%d,"topics":%s%s}`, id, b, since))
	var before []frame
	for {
		f, err := c.read(10 * time.Second)
		if err != nil {
			c.t.Fatalf("sub %v: %v", topics, err)
		}
		if f.Op == "msg" {
			before = append(before, f)
			continue
		}
		if f.Op != "ok" || string(f.ID) != fmt.Sprint(id) {
			c.t.Fatalf("sub %v: want ok %d, got %+v", topics, id, f)
		}
		return before, f
	}
}
