package socketio

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/native"
	"github.com/c1mhq/c1m/wsframe"
)

// Socket is one namespace of one Engine.IO session: the hub.Subscriber of
// its subscriptions. Safe for concurrent use.
type Socket struct {
	srv   *Server
	cl    *client
	nsp   string
	id    string
	grant Grant
	auth  json.RawMessage // the CONNECT payload, nil if none
	sess  *auth.Session   // Config.Auth's session; nil with auth off

	// rec: connection state recovery is on (Config.Recovery): deliveries
	// are tracked under mu. pid is the private session id.
	rec bool
	pid string

	mu     sync.Mutex
	ops    oprate.Bucket // Config.Ops (mu)
	gone   bool
	nextID uint64
	acks   map[uint64]func(args []json.RawMessage)
	// Recovery (rec only).
	tr      *tracker // nil once persisted
	subs    subSpecs // the subscriptions
	holding bool     // restoring: deliveries wait in held
	held    []*wsframe.Prepared
}

// ID returns the socket id sent in the CONNECT answer.
func (so *Socket) ID() string { return so.id }

// Auth returns the CONNECT payload, nil when the client sent none.
func (so *Socket) Auth() json.RawMessage { return so.auth }

// Namespace returns the socket's namespace.
func (so *Socket) Namespace() string { return so.nsp }

// Send implements hub.Subscriber. With recovery, the delivery is tracked
// and queued under mu, so that the tracker's order is the queue's.
func (so *Socket) Send(p *wsframe.Prepared) error {
	if !so.rec {
		return so.cl.sess.Send(p)
	}
	so.mu.Lock()
	if so.holding {
		so.held = append(so.held, p)
		so.mu.Unlock()
		return nil
	}
	if so.tr != nil && p.Topic != "" {
		so.tr.push(p.Topic, p.Seq)
	}
	err := so.cl.sess.Send(p)
	so.mu.Unlock()
	return err
}

// SendSlot implements hub.Subscriber. A conflated delivery may be replaced
// before it is sent, so a socket that gets one is not recoverable.
func (so *Socket) SendSlot(s *poller.Slot, p *wsframe.Prepared) error {
	if !so.rec {
		return so.cl.sess.SendSlot(s, p)
	}
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.tr != nil {
		so.tr.inexact = true
	}
	if so.holding {
		so.held = append(so.held, p)
		return nil
	}
	return so.cl.sess.SendSlot(s, p)
}

// sendText sends b, an Engine.IO message packet's text, as one frame.
func (so *Socket) sendText(b []byte) {
	_ = so.cl.sess.Send(wsframe.NewPrepared(ws.OpText, b))
}

// Emit sends the event name with args (each marshalled to JSON); when ack
// is not nil the client's acknowledgement calls it with the arguments as
// raw JSON. Acks pending when the socket leaves are dropped.
func (so *Socket) Emit(ack func(args []json.RawMessage), name string, args ...any) error {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.emitLocked(ack, name, args, nil)
}

// emitLocked is Emit with so.mu held; registered, when set, is called with
// the ack id once the ack is registered (not when the socket is gone).
func (so *Socket) emitLocked(ack func(args []json.RawMessage), name string, args []any, registered func(id uint64)) error {
	arr := make([]any, 0, len(args)+1)
	arr = append(arr, name)
	arr = append(arr, args...)
	j, err := json.Marshal(arr)
	if err != nil {
		return err
	}
	var id uint64
	if ack != nil {
		if so.gone {
			return nil
		}
		so.nextID++
		id = so.nextID
		if so.acks == nil {
			so.acks = make(map[uint64]func([]json.RawMessage))
		}
		so.acks[id] = ack
		if registered != nil {
			registered(id)
		}
	}
	b := appendHead(make([]byte, 0, 16+len(so.nsp)+len(j)), TypeEvent, 0, so.nsp, id, ack != nil)
	so.sendText(append(b, j...))
	return nil
}

// ErrAckTimeout is what EmitTimeout's callback gets when the client did not
// acknowledge in time; ErrSocketGone is what EmitTimeout returns for a
// socket that has left.
var (
	ErrAckTimeout = errors.New("socketio: operation has timed out")
	ErrSocketGone = errors.New("socketio: the socket has left")
)

// EmitTimeout sends the event name with args and waits at most timeout for
// the client's acknowledgement, like the reference server's
// socket.timeout(ms).emit(name, ...args, cb): ack is called exactly once,
// with the client's arguments, or with ErrAckTimeout when the client did
// not answer in time (also when the socket left meanwhile). A socket that
// has already left gets nothing: EmitTimeout returns ErrSocketGone and ack
// is not called. ack runs on a
// timer goroutine or on the goroutine that read the acknowledgement; it
// must not block.
func (so *Socket) EmitTimeout(timeout time.Duration, ack func(args []json.RawMessage, err error), name string, args ...any) error {
	var once sync.Once
	done := func(a []json.RawMessage, err error) { once.Do(func() { ack(a, err) }) }
	var t *time.Timer
	so.mu.Lock() // the timer must not fire before its id is known
	defer so.mu.Unlock()
	err := so.emitLocked(func(a []json.RawMessage) {
		t.Stop()
		done(a, nil)
	}, name, args, func(id uint64) {
		t = time.AfterFunc(timeout, func() {
			so.mu.Lock()
			delete(so.acks, id)
			so.mu.Unlock()
			done(nil, ErrAckTimeout)
		})
	})
	if err == nil && t == nil {
		return ErrSocketGone
	}
	return err
}

// Disconnect makes the server leave the namespace: the client gets
// DISCONNECT ("io server disconnect"); the Engine.IO session stays open.
func (so *Socket) Disconnect() {
	cl := so.cl
	cl.mu.Lock()
	if !cl.sockets.remove(so) {
		cl.mu.Unlock()
		return
	}
	cl.mu.Unlock()
	so.sendText(appendHead(nil, TypeDisconnect, 0, so.nsp, 0, false))
	so.srv.leave(so, false)
}

// ack answers the client's event id with the JSON value v (one argument).
func (so *Socket) ack(id uint64, v []byte) {
	b := appendHead(make([]byte, 0, 16+len(so.nsp)+len(v)), TypeAck, 0, so.nsp, id, true)
	b = append(b, '[')
	b = append(b, v...)
	b = append(b, ']')
	so.sendText(b)
}

// onPacket handles a packet for this socket.
func (so *Socket) onPacket(p *packet, atts [][]byte) {
	switch p.typ {
	case TypeEvent, TypeBinaryEvent:
		var args []json.RawMessage
		if p.data != nil {
			if json.Unmarshal(p.data, &args) != nil {
				return
			}
		}
		so.onEvent(p, args, atts)
	case TypeAck, TypeBinaryAck:
		if !p.hasID {
			return
		}
		so.mu.Lock()
		fn := so.acks[p.id]
		delete(so.acks, p.id)
		so.mu.Unlock()
		if fn == nil {
			return // an ack never asked for: ignored, as the reference does
		}
		var args []json.RawMessage
		_ = json.Unmarshal(p.data, &args)
		fn(args)
	case TypeDisconnect:
		cl := so.cl
		cl.mu.Lock()
		cl.sockets.remove(so)
		cl.mu.Unlock()
		so.srv.leave(so, false)
	}
}

// onEvent handles an event from the client.
func (so *Socket) onEvent(p *packet, args []json.RawMessage, atts [][]byte) {
	if len(args) == 0 {
		return
	}
	var name string
	if json.Unmarshal(args[0], &name) != nil {
		return // a numeric event name: nobody listens to it
	}
	if h := so.srv.cfg.OnEvent; h != nil {
		e := &Event{Name: name, Args: args[1:], Attachments: atts, so: so, id: p.id, hasID: p.hasID}
		if h(so, e) {
			return
		}
	}
	var reply []byte
	if lim := &so.srv.cfg.Ops; lim.Rate > 0 && (name == "subscribe" || name == "unsubscribe" || name == "publish" || name == "refresh") {
		so.mu.Lock()
		v := so.ops.On(lim, time.Now().UnixNano())
		so.mu.Unlock()
		switch v {
		case oprate.Close:
			so.Disconnect()
			return
		case oprate.Refuse:
			reply = errReply(&native.ProtocolError{Code: native.CodeTooManySubs, Msg: "too many operations: at most " +
				strconv.FormatFloat(lim.Rate, 'f', -1, 64) + " per second on a socket"})
			name = "" // answered below
		}
	}
	switch name {
	case "":
	case "subscribe":
		reply = so.subscribe(args[1:])
	case "unsubscribe":
		reply = so.unsubscribe(args[1:])
	case "publish":
		reply = so.publish(args[1:], atts)
	case "refresh":
		if so.srv.cfg.Auth == nil {
			return // auth off: nobody listens to it
		}
		reply = so.refresh(args[1:])
	default:
		return // no listener: the reference neither answers nor acks
	}
	if p.hasID {
		so.ack(p.id, reply)
	}
}
