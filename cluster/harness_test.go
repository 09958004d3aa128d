package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/c1mhq/c1m/cluster"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/testutil"
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

func hubConfig() hub.Config {
	return hub.Config{HistorySize: 20000}
}

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
		Logger:        testLogger(name),
		Cluster:       cluster.Config{URLs: []string{nats.url()}, ConnectTimeout: 5 * time.Second},
	}
	cfg.Hub = hubConfig()
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
	testutil.WaitFor(t, 10*time.Second, name+" ready", func() bool { return n.ready() == 200 })
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

// TestMain doubles as a c1m node process: with C1M_TEST_NODE_NATS set, the
// test binary runs one node on that NATS server, prints its address and
// serves until it is killed (the kill test needs a node that dies without
// closing anything).
func TestMain(m *testing.M) {
	if url := os.Getenv("C1M_TEST_NODE_NATS"); url != "" {
		s, err := server.New(server.Config{
			Addr: "127.0.0.1:0", NodeName: os.Getenv("C1M_TEST_NODE_NAME"),
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Hub:     hubConfig(),
			Cluster: cluster.Config{URLs: []string{url}, ConnectTimeout: 5 * time.Second},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		s.Start()
		fmt.Println(s.Addr().String())
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig // SIGTERM drains, as cmd/c1m does
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childNode is a node in a process of its own.
type childNode struct {
	addr string
	cmd  *exec.Cmd
}

func startChild(t testing.TB, nats *natsNode, name string) *childNode {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "C1M_TEST_NODE_NATS="+nats.url(), "C1M_TEST_NODE_NAME="+name)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childNode{cmd: cmd}
	t.Cleanup(c.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child node %s: %v", name, err)
	}
	c.addr = strings.TrimSpace(line)
	n := &node{addr: c.addr}
	testutil.WaitFor(t, 10*time.Second, name+" ready", func() bool { return n.ready() == 200 })
	return c
}

// term drains the node (SIGTERM) and waits for it to exit.
func (c *childNode) term() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		_ = c.cmd.Wait()
	}
}

// kill ends the node with SIGKILL: its sockets close without a close frame.
func (c *childNode) kill() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
}

type statsReply struct {
	Node string `json:"node"`
	NATS struct {
		Connected      bool   `json:"connected"`
		Epoch          string `json:"epoch"`
		Subscriptions  int    `json:"subscriptions"`
		PublishRetries uint64 `json:"publish_retries"`
		GapFills       uint64 `json:"gap_fills"`
		GapsFilled     uint64 `json:"gaps_filled"`
		Unrecoverable  uint64 `json:"gaps_unrecoverable"`
		Reconnects     uint64 `json:"reconnects"`
		MsgsIn         uint64 `json:"msgs_in"`
	} `json:"nats"`
}

func (n *node) stats(t testing.TB) statsReply {
	t.Helper()
	r, err := http.Get("http://" + n.addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var s statsReply
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func epochOf(t testing.TB, n *node) string { return n.stats(t).NATS.Epoch }

// testLogger discards logs unless C1M_DEBUG is set.
func testLogger(name string) *slog.Logger {
	if os.Getenv("C1M_DEBUG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}
