package loadgen

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is what the load generator needs for a STOMP broker that has no
// bench protocol (RabbitMQ's Web-STOMP plugin, -proto stomp): a publisher
// that SENDs to /topic/TOPIC over its own STOMP connection, and server
// samples from /proc alone.
//
// RabbitMQ stamps no publish time on a message, so the publisher puts
// {"ts":<unix ns>,"seq":N,"p":"xxx..."} (exactly the payload size) in each
// SEND's body, stamped when the frames are built, as for Centrifugo: the
// latency includes the publisher's connection to the broker, where c1m's
// starts at its own publish.

// STOMPPublisher publishes over one STOMP-over-WebSocket connection. Its
// methods are safe for concurrent use; frames go out in call order.
type STOMPPublisher struct {
	mu    sync.Mutex
	conn  net.Conn
	out   []byte
	frame []byte
	data  []byte

	errMu sync.Mutex
	err   error // the first ERROR frame or read error
	done  chan struct{}
}

// DialSTOMPPublisher connects to a STOMP server over WebSocket at
// ws://addr/path and waits for CONNECTED.
func DialSTOMPPublisher(ctx context.Context, addr, path, host string) (*STOMPPublisher, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stomp publisher: %w", err)
	}
	fail := func(err error) (*STOMPPublisher, error) {
		conn.Close()
		return nil, fmt.Errorf("stomp publisher: %w", err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	if _, err := conn.Write(AppendSTOMPUpgradeRequest(nil, addr, path, key)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	var buf []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return fail(err)
		}
		buf = append(buf, b)
		if n, err := CheckUpgradeResponse(buf, AcceptKey(key)); err != nil {
			return fail(fmt.Errorf("%w: %.200q", err, buf))
		} else if n > 0 {
			break
		}
	}
	p := &STOMPPublisher{conn: conn, done: make(chan struct{})}
	p.write(AppendSTOMPConnect(nil, host))
	for {
		f, err := readWSFrame(br)
		if err != nil {
			return fail(err)
		}
		if f.Op == OpClose {
			return fail(errClosed)
		}
		sf, n, err := ParseSTOMPFrame(f.Payload, maxFrame)
		if err != nil {
			return fail(err)
		}
		if n > 0 && sf.Kind == KindSTOMPError {
			return fail(fmt.Errorf("ERROR frame: %.300q", f.Payload))
		}
		if n > 0 && sf.Kind == KindSTOMPConnected {
			break
		}
	}
	conn.SetDeadline(time.Time{})
	go p.read(br)
	return p, nil
}

// readWSFrame reads one whole server frame, byte by byte from br (a
// publisher receives next to nothing: CONNECTED, maybe an ERROR).
func readWSFrame(br *bufio.Reader) (Frame, error) {
	var buf []byte
	for {
		f, n, err := ParseFrame(buf, maxFrame)
		if err != nil {
			return f, err
		}
		if n > 0 {
			return f, nil
		}
		b, err := br.ReadByte()
		if err != nil {
			return f, err
		}
		buf = append(buf, b)
	}
}

// read consumes what the broker sends the publisher (nothing but an ERROR
// frame before it closes, or pings) and records the first error.
func (p *STOMPPublisher) read(br *bufio.Reader) {
	defer close(p.done)
	for {
		f, err := readWSFrame(br)
		if err != nil {
			p.setErr(err)
			return
		}
		switch f.Op {
		case OpPing:
			p.mu.Lock()
			p.out = AppendFrame(p.out[:0], OpPong, f.Payload, [4]byte{1, 2, 3, 4})
			_, err := p.conn.Write(p.out)
			p.mu.Unlock()
			if err != nil {
				p.setErr(err)
				return
			}
		case OpClose:
			p.setErr(errClosed)
			return
		case OpText, OpBinary:
			if sf, n, _ := ParseSTOMPFrame(f.Payload, maxFrame); n > 0 && sf.Kind == KindSTOMPError {
				p.setErr(fmt.Errorf("stomp publisher: ERROR frame: %.300q", f.Payload))
				return
			}
		}
	}
}

func (p *STOMPPublisher) setErr(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *STOMPPublisher) firstErr() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

func (p *STOMPPublisher) write(frame []byte) error {
	var mask [4]byte
	rand.Read(mask[:])
	p.out = AppendFrame(p.out[:0], OpText, frame, mask)
	_, err := p.conn.Write(p.out)
	return err
}

// Send publishes n messages to /topic/TOPIC, one SEND frame per WebSocket
// message, in one write: bodies of size bytes stamped with seqs first.. and
// ts. It returns once the broker took the bytes (RabbitMQ's flow control
// stops reading from a publisher it cannot keep up with).
func (p *STOMPPublisher) Send(topic string, n, size int, first uint64, ts int64) error {
	if err := p.firstErr(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var mask [4]byte
	rand.Read(mask[:])
	p.out = p.out[:0]
	for i := range n {
		p.data = appendCentrifugoData(p.data[:0], size, first+uint64(i), ts)
		p.frame = AppendSTOMPSend(p.frame[:0], topic, p.data)
		p.out = AppendFrame(p.out, OpText, p.frame, mask)
	}
	p.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := p.conn.Write(p.out); err != nil {
		return fmt.Errorf("stomp publisher: %w", err)
	}
	return nil
}

// Close closes the connection.
func (p *STOMPPublisher) Close() {
	p.conn.Close()
	<-p.done
}

// brokerStats samples a server without /stats from /proc: the process
// listening on the port and its descendants (RabbitMQ: beam.smp and its port
// programs) for CPU and RSS, ESTABLISHED sockets on the port for connections.
// It knows no heap figures (they stay 0; the scenario drops them).
type brokerStats struct {
	port int
	own  atomic.Int64 // the load generator's connections that are not clients (its publisher's)
	mu   sync.Mutex
	pid  int
}

func (s *brokerStats) Conns(context.Context) (int64, error) {
	n, err := establishedOn(s.port)
	return max(n-s.own.Load(), 0), err
}

func (s *brokerStats) Sample(ctx context.Context) (ServerSample, error) {
	var v ServerSample
	s.mu.Lock()
	var err error
	if s.pid == 0 {
		s.pid, err = listenerPid(s.port)
	}
	v.Pid = s.pid
	s.mu.Unlock()
	if err != nil {
		return v, err
	}
	if err := fillProc(&v); err != nil {
		return v, err
	}
	for _, pid := range descendants(v.Pid) {
		if t, err := procCPUTicks(pid); err == nil {
			v.CPUTicks += t
		}
		if r, err := procStatusKB(pid, "VmRSS:"); err == nil {
			v.RSS += r
		}
	}
	v.Conns, err = s.Conns(ctx)
	return v, err
}

// descendants lists the processes whose parent chain leads to pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		fs := strings.Fields(string(b[i+1:]))
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if len(fs) > 1 {
			parent[p], _ = strconv.Atoi(fs[1])
		}
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// establishedOn counts ESTABLISHED TCP sockets whose local port is port
// (the server's ends of its connections), IPv4 and IPv6.
func establishedOn(port int) (int64, error) {
	var n int64
	read := false
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		read = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "01" { // 01: ESTABLISHED
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 32); err == nil && int(p) == port {
				n++
			}
		}
	}
	if !read {
		return 0, errors.New("no /proc/net/tcp")
	}
	return n, nil
}

// publisher is the scenario's publisher of size-byte messages to n
// subscribers: HTTP for the bench protocol and Centrifugo, STOMP SEND over
// the run's one publisher connection for a STOMP broker.
func (r *runner) publisher(ctx context.Context, size, n int) (*Publisher, error) {
	pub := &Publisher{Client: r.http, BaseURL: r.cfg.URL, Topic: r.cfg.Topic, Size: size, Proto: r.cfg.Proto, APIKey: r.cfg.APIKey, Subs: n}
	if r.cfg.Proto != ProtoSTOMP {
		return pub, nil
	}
	if r.spub == nil {
		sp, err := DialSTOMPPublisher(ctx, r.addr, r.cfg.STOMPPath, r.cfg.STOMPHost)
		if err != nil {
			return nil, err
		}
		r.spub = sp
		if bs, ok := r.stats.(*brokerStats); ok {
			bs.own.Add(1) // not a client: the connection counts leave it out
		}
	}
	pub.STOMP = r.spub
	return pub, nil
}

// stompProbe checks that every STOMP subscription is live before a
// measurement: a STOMP client is ready once it has sent SUBSCRIBE (which
// the server does not answer), so one message is published and must reach
// all n subscribers within 2 s; up to 5 tries, each after a reset, so that
// late copies of an earlier probe count as stale. The measurement resets the
// counters again before it publishes.
func (r *runner) stompProbe(ctx context.Context, p *Pool, n int) error {
	pub, err := r.publisher(ctx, 64, n)
	if err != nil {
		return err
	}
	var got uint64
	for try := 0; try < 5; try++ {
		if err := p.ResetRecv(); err != nil {
			return err
		}
		if err := pub.post(ctx, 1); err != nil {
			return fmt.Errorf("probe publish: %w", err)
		}
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			if got, err = p.Deliveries(); err != nil {
				return err
			}
			if got >= uint64(n) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("probe: a message published after every STOMP client subscribed reached %d of %d within 2 s, 5 times", got, n)
}

// quiesce waits until the broker uses at most a tenth of a core over half a
// second (up to 60 s, and at most a quarter of what is left of ctx): closed
// subscribers' queues, with what they still held, are deleted in the
// background, which the next measurement must not count.
func (s *brokerStats) quiesce(ctx context.Context, log *slog.Logger) error {
	start := time.Now()
	limit := 60 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl)/4)
	}
	prev, err := s.Sample(ctx)
	if err != nil {
		return err
	}
	for time.Since(start) < limit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		cur, err := s.Sample(ctx)
		if err != nil {
			return err
		}
		if cur.CPUTicks-prev.CPUTicks <= ClockTicks/20 {
			if d := time.Since(start); d > time.Second {
				log.Info("broker quiet", "after", d.Round(100*time.Millisecond))
			}
			return nil
		}
		prev = cur
	}
	log.Warn("broker still busy; measuring anyway", "waited", time.Since(start).Round(100*time.Millisecond))
	return nil
}
