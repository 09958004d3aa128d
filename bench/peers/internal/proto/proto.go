// Package proto is the bench protocol shared by the peer servers: client
// operations on /ws, the message each publish becomes, and the /publish and
// /stats HTTP endpoints. A peer only provides the WebSocket side and a
// Fanout that delivers one encoded message to a topic's subscribers.
//
// Server is safe for concurrent use.
package proto

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fanout delivers msg, one encoded text message, to every subscriber of
// topic. msg is shared by all subscribers and must not be modified; it stays
// valid forever (it is never reused).
type Fanout func(topic string, msg []byte)

// Op is one client request on /ws.
type Op struct {
	Op     string   `json:"op"`
	ID     int64    `json:"id"`
	Topics []string `json:"topics"`
}

// ParseOp decodes a client request.
func ParseOp(b []byte) (Op, error) {
	var op Op
	err := json.Unmarshal(b, &op)
	return op, err
}

// OKReply is the reply to request id.
func OKReply(id int64) []byte {
	b := strconv.AppendInt([]byte(`{"op":"ok","id":`), id, 10)
	return append(b, '}')
}

// Server holds per-topic sequence numbers and the connection count.
type Server struct {
	Fanout Fanout
	Conns  atomic.Int64

	mu     sync.Mutex
	topics map[string]*topic
}

type topic struct {
	mu  sync.Mutex // held while a message is numbered and fanned out, so seqs arrive in order
	seq uint64
}

func (s *Server) topic(name string) *topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics == nil {
		s.topics = map[string]*topic{}
	}
	t := s.topics[name]
	if t == nil {
		t = &topic{}
		s.topics[name] = t
	}
	return t
}

// Publish numbers data and fans it out; it returns the seq.
func (s *Server) Publish(name string, data json.RawMessage) uint64 {
	t := s.topic(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	msg := make([]byte, 0, len(data)+len(name)+80)
	msg = append(msg, `{"op":"msg","topic":`...)
	tb, _ := json.Marshal(name)
	msg = append(msg, tb...)
	msg = append(msg, `,"seq":`...)
	msg = strconv.AppendUint(msg, t.seq, 10)
	msg = append(msg, `,"ts":`...)
	msg = strconv.AppendInt(msg, time.Now().UnixNano(), 10)
	msg = append(msg, `,"data":`...)
	msg = append(msg, data...)
	msg = append(msg, '}')
	s.Fanout(name, msg)
	return t.seq
}

var errBadBody = errors.New("body must be JSON data (with ?topic=) or an array of {topic,data}")

// HandlePublish serves POST /publish?topic=T (body: JSON data) and POST
// /publish (body: [{"topic":..,"data":..},...]).
func (s *Server) HandlePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil || !json.Valid(body) {
		http.Error(w, errBadBody.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if t := r.URL.Query().Get("topic"); t != "" {
		seq := s.Publish(t, body)
		w.WriteHeader(http.StatusAccepted)
		w.Write(strconv.AppendUint([]byte(`{"seq":`), seq, 10))
		w.Write([]byte("}"))
		return
	}
	var batch []struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, errBadBody.Error(), http.StatusBadRequest)
		return
	}
	out := []byte(`{"seqs":[`)
	for i, m := range batch {
		if m.Topic == "" || len(m.Data) == 0 {
			http.Error(w, errBadBody.Error(), http.StatusBadRequest)
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, s.Publish(m.Topic, m.Data), 10)
	}
	w.WriteHeader(http.StatusAccepted)
	w.Write(append(out, "]}"...))
}

// HandleStats serves GET /stats; ?gc=1 runs a garbage collection first so
// heap numbers count live memory only.
func (s *Server) HandleStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"pid":        os.Getpid(),
		"conns":      s.Conns.Load(),
		"goroutines": runtime.NumGoroutine(),
		"heap_alloc": ms.HeapAlloc,
		"heap_inuse": ms.HeapInuse,
		"heap_sys":   ms.HeapSys,
	})
}
