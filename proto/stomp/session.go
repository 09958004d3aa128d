package stomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/oprate"
	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// Session states.
const (
	stNew       = iota // waiting for CONNECT
	stConnected        // CONNECTED sent
	stDone             // ERROR or DISCONNECT handled, or the connection closed
)

// session is one STOMP connection. Its frames are handled on the poller's
// read goroutine for the connection (never concurrently); the sweeper reads
// state, opened, lastRecv, hbSend and hbRecv and owns lastBeat.
type session struct {
	h *Handler
	c poller.Peer
	p Parser

	state    atomic.Uint32
	opened   int64 // unix ns
	lastRecv atomic.Int64
	hbSend   int64 // negotiated ns between our heart-beats; 0 none (set before stConnected)
	hbRecv   int64 // negotiated ns the client promised; 0 none
	lastBeat int64 // sweeper only

	version byte // '0', '1' or '2' (STOMP 1.x)
	counted bool // in Stats.Sessions
	grant   Grant
	auth    *auth.Session // Config.Auth's session; nil with auth off
	subs    subIndex
	txs     map[string]*tx
	txBytes int
	ops     oprate.Bucket // Config.Ops
}

// sweep results.
const (
	sweepNone = iota
	sweepBeat
	sweepLost
	sweepLate
)

// sweepState tells the sweeper what s needs at time now (unix ns). A
// session it closes is done at once, so that it is closed and counted once.
func (s *session) sweepState(now int64) int {
	switch s.state.Load() {
	case stNew:
		if now-s.opened > int64(s.h.cfg.ConnectTimeout) && s.state.CompareAndSwap(stNew, stDone) {
			return sweepLate
		}
	case stConnected:
		if s.hbRecv > 0 && now-s.lastRecv.Load() > 2*s.hbRecv && s.state.CompareAndSwap(stConnected, stDone) {
			return sweepLost
		}
		if s.hbSend > 0 && now-s.lastBeat >= s.hbSend {
			s.lastBeat = now
			return sweepBeat
		}
	}
	return sweepNone
}

// refusal is a protocol error answered with an ERROR frame (message header
// Message, body Detail) after which the connection closes with Code.
type refusal struct {
	Message, Detail string
	Code            wsframe.StatusCode
	receipt         string
	versions        bool // add the version header (no common version)
}

func (r *refusal) Error() string { return r.Message + ": " + r.Detail }

func refuse(message, detail string) *refusal {
	return &refusal{Message: message, Detail: detail, Code: wsframe.StatusProtocolError}
}

// onData parses one WebSocket message.
func (s *session) onData(data []byte) {
	s.lastRecv.Store(time.Now().UnixNano())
	if s.state.Load() == stDone {
		return
	}
	err := s.p.Feed(data, s.onFrame, nil)
	if err == nil {
		return
	}
	var r *refusal
	var pe *Error
	switch {
	case errors.As(err, &r):
	case errors.As(err, &pe):
		r = refuse(pe.Kind.String(), pe.Msg)
		if pe.Kind == ErrFrameTooLarge {
			r.Code = wsframe.StatusMessageTooBig
		}
	default:
		r = refuse("internal error", err.Error())
	}
	s.fail(r)
}

// errStop ends parsing after DISCONNECT.
var errStop = errors.New("stomp: session ended")

// onFrame handles one frame; a *refusal stops the parser.
func (s *session) onFrame(f *Frame) error {
	if s.state.Load() == stDone {
		return errStop
	}
	receipt, hasReceipt := f.Get("receipt")
	var r *refusal
	if s.state.Load() == stNew && f.Command != CmdConnect && f.Command != CmdStomp {
		r = refuse("not connected", "the first frame must be CONNECT or STOMP, not "+f.Command.String())
	} else if r = s.overRate(f.Command); r == nil {
		switch f.Command {
		case CmdConnect, CmdStomp:
			r = s.connect(f)
		case CmdSubscribe:
			r = s.subscribe(f, receipt, hasReceipt)
			hasReceipt = false // subscribe sends its own RECEIPT
		case CmdUnsubscribe:
			r = s.unsubscribe(f)
		case CmdSend:
			r = s.send(f)
		case CmdAck, CmdNack:
			r = s.ack(f)
		case CmdBegin, CmdCommit, CmdAbort:
			r = s.transaction(f)
		case CmdDisconnect:
			if hasReceipt {
				s.receipt(receipt, nil)
			}
			s.state.Store(stDone)
			s.c.CloseWith(wsframe.StatusNormalClosure, "", poller.ReasonPeerClose)
			return errStop
		default:
			r = refuse("unexpected frame", f.Command.String()+" is a server frame; a client may not send it")
		}
	}
	if r != nil {
		if hasReceipt || f.Command == CmdSubscribe {
			if v, ok := f.Get("receipt"); ok {
				r.receipt = string(v)
			}
		}
		return r
	}
	if hasReceipt && f.Command != CmdConnect && f.Command != CmdStomp {
		s.receipt(receipt, nil)
	}
	return nil
}

// overRate charges an operation to the session's Config.Ops bucket and
// refuses it past the rate.
func (s *session) overRate(cmd Command) *refusal {
	lim := &s.h.cfg.Ops
	if lim.Rate <= 0 {
		return nil
	}
	switch cmd {
	case CmdSubscribe, CmdUnsubscribe, CmdSend, CmdBegin, CmdCommit, CmdAbort:
	default:
		return nil
	}
	if s.ops.On(lim, time.Now().UnixNano()) == oprate.Allow {
		return nil
	}
	return refuse("too many operations", "at most "+strconv.FormatFloat(lim.Rate, 'f', -1, 64)+
		" SUBSCRIBE, UNSUBSCRIBE, SEND or transaction frames per second on a connection")
}

// header returns f's header name as a string (allocated), "" if absent.
func header(f *Frame, name string) string {
	v, _ := f.Get(name)
	return string(v)
}

// required returns f's header name or a refusal naming it.
func required(f *Frame, name string) (string, *refusal) {
	v, ok := f.Get(name)
	if !ok || len(v) == 0 {
		return "", refuse("missing header", f.Command.String()+" needs a "+name+" header")
	}
	return string(v), nil
}

// connect handles CONNECT and STOMP.
func (s *session) connect(f *Frame) *refusal {
	if s.state.Load() != stNew {
		return refuse("already connected", "CONNECT may be sent once per connection")
	}
	s.version = 0
	if av, ok := f.Get("accept-version"); !ok {
		s.version = '0'
	} else {
		for v := range strings.SplitSeq(string(av), ",") {
			switch strings.TrimSpace(v) {
			case "1.0":
				s.version = max(s.version, '0')
			case "1.1":
				s.version = max(s.version, '1')
			case "1.2":
				s.version = max(s.version, '2')
			}
		}
	}
	if s.version == 0 {
		r := refuse("unsupported version", "no common protocol version: the client accepts "+strconv.Quote(header(f, "accept-version"))+", this server speaks 1.0, 1.1 and 1.2")
		r.versions = true
		return r
	}
	cx, cy, ok := parseHeartBeat(header(f, "heart-beat"))
	if !ok {
		return refuse("bad heart-beat", "heart-beat "+strconv.Quote(header(f, "heart-beat"))+" must be two non-negative integers, \"cx,cy\"")
	}
	info := ConnectInfo{Login: header(f, "login"), Passcode: header(f, "passcode"), Host: header(f, "host"), Authorization: header(f, "authorization")}
	if info.Authorization == "" {
		info.Authorization = s.c.Authorization()
	}
	s.grant = Grant{Publish: true}
	if hook := s.h.cfg.Connect; hook != nil {
		g, err := hook(s.c, &info)
		if err != nil {
			r := refuse("authentication failed", err.Error())
			r.Code = wsframe.StatusPolicyViolation
			return r
		}
		s.grant = g
	}
	if r := s.authenticate(f, &info); r != nil {
		return r
	}
	sx, sy := ms(s.h.cfg.HeartBeatSend), ms(s.h.cfg.HeartBeatRecv)
	if sx > 0 && cy > 0 {
		s.hbSend = max(sx, cy) * int64(time.Millisecond)
	}
	if sy > 0 && cx > 0 {
		s.hbRecv = max(sy, cx) * int64(time.Millisecond)
	}
	b := make([]byte, 0, 128)
	b = AppendCommand(b, CmdConnected)
	b = AppendHeaderRaw(b, "version", "1."+string(s.version))
	b = append(b, "session:"...)
	b = strconv.AppendUint(b, sessionIDs.Add(1), 36)
	b = append(b, '\n')
	b = AppendHeaderRaw(b, "server", s.h.cfg.Server)
	b = append(b, "heart-beat:"...)
	b = strconv.AppendInt(b, sx, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, sy, 10)
	b = append(b, '\n')
	b = AppendBody(b, nil)
	s.lastBeat = time.Now().UnixNano()
	s.state.Store(stConnected)
	s.counted = true
	s.h.stats.sessions.Add(1)
	s.sendFrame(b)
	s.auth.Watch(s.expire)
	if s.h.debug() {
		s.h.log.Debug("stomp connected", "remote", remote(s.c), "version", "1."+string(s.version), "login", info.Login, "sub", s.auth.Sub(), "heart_beat_ms", [2]int64{s.hbSend / 1e6, s.hbRecv / 1e6})
	}
	return nil
}

var sessionIDs atomic.Uint64

// ms returns d in milliseconds, 0 when d is not positive.
func ms(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(int64(d/time.Millisecond), 1)
}

// parseHeartBeat parses "cx,cy"; an absent header is "0,0".
func parseHeartBeat(v string) (cx, cy int64, ok bool) {
	if v == "" {
		return 0, 0, true
	}
	a, b, found := strings.Cut(v, ",")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || x < 0 || y < 0 {
		return 0, 0, false
	}
	return x, y, true
}

// subscribe handles SUBSCRIBE and sends its RECEIPT when asked, with the
// subscription's position: x-c1m-epoch, x-c1m-seq (exact destinations),
// and with x-c1m-since, x-c1m-recovered (true when every named topic was
// recovered exactly) and x-c1m-unrecovered (the topics that were not).
func (s *session) subscribe(f *Frame, receipt []byte, hasReceipt bool) *refusal {
	id, ok := f.Get("id")
	if !ok || len(id) == 0 {
		if s.version != '0' {
			return refuse("missing header", "SUBSCRIBE needs an id header")
		}
		id, ok = f.Get("destination") // STOMP 1.0: the destination names it
		if !ok {
			return refuse("missing header", "SUBSCRIBE needs a destination header")
		}
	}
	if s.subs.get(string(id)) != nil {
		return refuse("duplicate subscription", "subscription id "+strconv.Quote(string(id))+" is already in use on this connection")
	}
	if s.subs.len() >= s.h.cfg.MaxSubs {
		return refuse("too many subscriptions", "at most "+itoa(s.h.cfg.MaxSubs)+" subscriptions per connection")
	}
	dest, r := required(f, "destination")
	if r != nil {
		return r
	}
	kind, pattern, r := parseDestination(dest, true)
	if r != nil {
		return r
	}
	if r := s.permit(pattern, false); r != nil {
		return r
	}
	mode, r := parseAckMode(header(f, "ack"))
	if r != nil {
		return r
	}
	sub := &subscription{s: s, id: string(id), pattern: pattern, mode: mode, limit: s.h.cfg.MaxUnacked}
	opt := hub.SubOptions{Format: hub.FormatFor(s.c, s.h.format), Variant: sub.variant(kind)}
	if v, ok := f.Get("prefetch-count"); ok {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			return refuse("bad prefetch-count", "prefetch-count "+strconv.Quote(string(v))+" must be a non-negative integer")
		}
		if n > 0 && n < sub.limit {
			sub.limit = n
		}
	}
	if v, ok := f.Get("x-c1m-conflate"); ok {
		c, err := strconv.ParseBool(string(v))
		if err != nil {
			return refuse("bad x-c1m-conflate", "x-c1m-conflate must be true or false")
		}
		opt.Conflate = &c
	}
	if v, ok := f.Get("x-c1m-max-rate"); ok {
		r, err := strconv.ParseFloat(string(v), 64)
		if err != nil || r < 0 || r > 1e6 {
			return refuse("bad x-c1m-max-rate", "x-c1m-max-rate must be a number of messages per second between 0 and 1e6")
		}
		opt.MaxRate = r
	}
	if v, ok := f.Get("x-c1m-since"); ok {
		since, r := parseSince(string(v), pattern)
		if r != nil {
			return r
		}
		opt.Since = since
	}
	sub.conflate = opt.MaxRate > 0 || (opt.Conflate != nil && *opt.Conflate)
	s.subs.add(sub)
	states, err := s.h.cfg.Hub.Subscribe(sub, pattern, opt)
	if err == nil {
		s.h.stats.subs.Add(1) // after Subscribe: a count of n means n took effect
	} else {
		s.subs.remove(sub.id)
		if errors.Is(err, hub.ErrUnavailable) {
			return refuse("cluster unavailable", "subscribe to "+strconv.Quote(dest)+": the cluster is unavailable (NATS unreachable): reconnect and retry")
		}
		return refuse("subscribe failed", "subscribe to "+strconv.Quote(dest)+": "+err.Error())
	}
	if s.h.debug() {
		s.h.log.Debug("stomp subscribe", "remote", remote(s.c), "id", sub.id, "pattern", pattern, "ack", string(mode), "prefetch", sub.limit)
	}
	if !hasReceipt {
		return nil
	}
	var b []byte
	b = AppendHeaderRaw(b, "x-c1m-epoch", s.h.cfg.Hub.Epoch())
	if st, ok := states[pattern]; ok {
		b = AppendHeaderUint(b, "x-c1m-seq", st.Seq)
	}
	if opt.Since != nil {
		var lost []string
		for t, st := range states {
			if st.Recovered != nil && !*st.Recovered {
				lost = append(lost, t)
			}
		}
		b = AppendHeaderRaw(b, "x-c1m-recovered", strconv.FormatBool(len(lost) == 0))
		if len(lost) > 0 {
			b = AppendHeader(b, "x-c1m-unrecovered", strings.Join(lost, ","))
		}
	}
	s.receipt(receipt, b)
	return nil
}

// unsubscribe handles UNSUBSCRIBE; an unknown id is not an error (the
// subscription may have been dropped already).
func (s *session) unsubscribe(f *Frame) *refusal {
	id, ok := f.Get("id")
	if !ok && s.version == '0' {
		id, ok = f.Get("destination")
	}
	if !ok || len(id) == 0 {
		return refuse("missing header", "UNSUBSCRIBE needs an id header")
	}
	if sub := s.subs.get(string(id)); sub != nil {
		s.drop(sub)
	}
	return nil
}

// drop ends sub.
func (s *session) drop(sub *subscription) {
	s.subs.remove(sub.id)
	s.h.cfg.Hub.UnsubscribeAll(sub)
	sub.close()
	s.h.stats.subs.Add(-1)
}

// send handles SEND: a publish, or a part of a transaction.
func (s *session) send(f *Frame) *refusal {
	dest, r := required(f, "destination")
	if r != nil {
		return r
	}
	if dest == RefreshDestination && s.h.cfg.Auth != nil {
		return s.refresh(f)
	}
	_, topic, r := parseDestination(dest, false)
	if r != nil {
		return r
	}
	if !s.h.cfg.ClientPublish {
		r := refuse("publish refused", "this server does not accept SEND: client publishing is off (--client-publish)")
		r.Code = wsframe.StatusPolicyViolation
		return r
	}
	if !s.grant.Publish {
		r := refuse("publish refused", "this session may not publish to "+strconv.Quote(dest))
		r.Code = wsframe.StatusPolicyViolation
		return r
	}
	if r := s.permit(topic, true); r != nil {
		return r
	}
	if len(f.Body) > s.h.cfg.MaxPublishBytes {
		r := refuse("message too large", "the body is "+itoa(len(f.Body))+" bytes, over the "+itoa(s.h.cfg.MaxPublishBytes)+"-byte limit")
		r.Code = wsframe.StatusMessageTooBig
		return r
	}
	binary := !isJSON(f)
	if txid, ok := f.Get("transaction"); ok {
		t, r := s.tx(txid)
		if r != nil {
			return r
		}
		if r := s.txAdd(t, len(f.Body)); r != nil {
			return r
		}
		t.sends = append(t.sends, hub.Message{Topic: topic, Data: bytes.Clone(f.Body), Binary: binary})
		return nil
	}
	var err error
	if binary {
		_, err = s.h.cfg.Hub.PublishBinary(topic, f.Body, 0)
	} else {
		_, err = s.h.cfg.Hub.Publish(topic, f.Body, 0)
	}
	if err != nil {
		return publishRefusal(dest, err)
	}
	return nil
}

// isJSON reports whether a SEND's body is published as JSON: it is valid
// JSON and its content-type, if any, is application/json. Anything else is
// published as binary data (its bytes reach STOMP subscribers unchanged).
func isJSON(f *Frame) bool {
	if ct, ok := f.Get("content-type"); ok && !bytes.HasPrefix(ct, []byte("application/json")) {
		return false
	}
	return json.Valid(f.Body)
}

func publishRefusal(dest string, err error) *refusal {
	if errors.Is(err, hub.ErrUnavailable) {
		return refuse("cluster unavailable", "publish to "+strconv.Quote(dest)+": the cluster is unavailable (NATS unreachable): reconnect and retry")
	}
	if errors.Is(err, hub.ErrTooManyTopics) {
		return refuse("too many topics", "publish to "+strconv.Quote(dest)+": the server holds as many topics as it may (--max-topics)")
	}
	return refuse("publish failed", "publish to "+strconv.Quote(dest)+": "+err.Error())
}

// ack handles ACK and NACK. On a broadcast topic there is nothing to
// redeliver: NACK, like ACK, only frees the message's place in the
// prefetch window.
func (s *session) ack(f *Frame) *refusal {
	var sub *subscription
	var pos msgPos
	var id string
	switch s.version {
	case '2':
		v, r := required(f, "id")
		if r != nil {
			return r
		}
		id = v
		topic, seq, subID, ok := parseMsgID(v, true)
		if !ok {
			return refuse("unknown message", f.Command.String()+" id "+strconv.Quote(v)+" is not the ack header of a MESSAGE sent on this connection")
		}
		sub, pos = s.subs.get(subID), msgPos{topic, seq}
	default:
		v, r := required(f, "message-id")
		if r != nil {
			return r
		}
		id = v
		topic, seq, _, ok := parseMsgID(v, false)
		if !ok {
			return refuse("unknown message", f.Command.String()+" message-id "+strconv.Quote(v)+" is not the message-id of a MESSAGE sent on this connection")
		}
		pos = msgPos{topic, seq}
		if sid, ok := f.Get("subscription"); ok {
			sub = s.subs.get(string(sid))
		} else {
			for _, c := range s.subs.all() { // STOMP 1.0: the message names it
				if c.mode != ackAuto && c.pending(pos) {
					sub = c
					break
				}
			}
		}
	}
	if sub == nil || sub.mode == ackAuto {
		return refuse("unknown message", f.Command.String()+" "+strconv.Quote(id)+" names no subscription of this connection with ack client or client-individual")
	}
	if txid, ok := f.Get("transaction"); ok {
		t, r := s.tx(txid)
		if r != nil {
			return r
		}
		if !sub.pending(pos) {
			return unknownAck(f.Command, id)
		}
		if r := s.txAdd(t, 0); r != nil {
			return r
		}
		t.acks = append(t.acks, txAck{sub: sub, pos: pos})
		return nil
	}
	if !sub.ack(pos, sub.mode == ackClient) {
		return unknownAck(f.Command, id)
	}
	return nil
}

func unknownAck(cmd Command, id string) *refusal {
	return refuse("unknown message", cmd.String()+" "+strconv.Quote(id)+" names no unacknowledged message (already acknowledged, or never sent)")
}

// receipt sends a RECEIPT for id with extra header lines.
func (s *session) receipt(id []byte, extra []byte) {
	b := make([]byte, 0, 32+len(id)+len(extra))
	b = AppendCommand(b, CmdReceipt)
	b = AppendHeaderBytes(b, "receipt-id", id)
	b = append(b, extra...)
	s.sendFrame(AppendBody(b, nil))
}

// sendFrame queues one frame b in a text message.
func (s *session) sendFrame(b []byte) {
	_ = s.c.Send(wsframe.NewPrepared(ws.OpText, b))
}

// fail sends r as an ERROR frame and closes the connection after it.
func (s *session) fail(r *refusal) {
	if s.state.Swap(stDone) == stDone {
		return
	}
	s.h.stats.errors.Add(1)
	b := make([]byte, 0, 96+len(r.Detail))
	b = AppendCommand(b, CmdError)
	b = AppendHeader(b, "message", r.Message)
	if r.receipt != "" {
		b = AppendHeader(b, "receipt-id", r.receipt)
	}
	if r.versions {
		b = AppendHeaderRaw(b, "version", "1.0,1.1,1.2")
	}
	b = append(b, "content-type:text/plain\ncontent-length:"...)
	b = strconv.AppendInt(b, int64(len(r.Detail)), 10)
	b = append(b, '\n')
	s.sendFrame(AppendBody(b, []byte(r.Detail)))
	if s.h.debug() {
		s.h.log.Debug("stomp error", "remote", remote(s.c), "message", r.Message, "detail", r.Detail)
	}
	reason := poller.ReasonProtocolError
	if r.Code == wsframe.StatusMessageTooBig {
		reason = poller.ReasonMessageTooBig
	}
	if r.Code == CloseAuth {
		reason = poller.ReasonServer // the token expired: not the client's error
	}
	s.c.CloseWith(r.Code, truncate(r.Message, 120), reason)
}

// truncate bounds a close reason (at most 123 bytes in a close frame).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// end releases everything once the connection closed.
func (s *session) end() {
	s.state.Store(stDone)
	s.auth.Stop()
	if s.counted {
		s.h.stats.sessions.Add(-1)
	}
	for _, sub := range s.subs.all() {
		s.drop(sub)
	}
	s.txs = nil
	s.p.Reset()
}

// remote returns the peer address of c as text.
func remote(c poller.Peer) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
