package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/c1mhq/c1m/hub"
)

// fetchTimeout bounds one read from the stream.
const fetchTimeout = 10 * time.Second

// fetchBatch is the most messages one batched direct get asks for.
const fetchBatch = 1024

var errNotFound = errors.New("cluster: no message")

// directReq is JetStream's direct get request ($JS.API.DIRECT.GET.<stream>).
type directReq struct {
	Seq       uint64   `json:"seq,omitempty"`
	LastFor   string   `json:"last_by_subj,omitempty"`
	NextFor   string   `json:"next_by_subj,omitempty"`
	Batch     int      `json:"batch,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
	UpToSeq   uint64   `json:"up_to_seq,omitempty"`
}

// decode turns a stored or republished message into a hub.Remote. subject
// is the message's stored subject (prefix + topic).
// ref is the stream sequence when known, else it is read from the
// Nats-Sequence header.
func (n *Node) decode(subject string, h nats.Header, data []byte, ref uint64) (hub.Remote, error) {
	topic, ok := strings.CutPrefix(subject, n.prefix)
	if !ok {
		return hub.Remote{}, fmt.Errorf("cluster: subject %q is not under %q", subject, n.prefix)
	}
	seq, err1 := strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	ts, err2 := strconv.ParseInt(h.Get(hdrTS), 10, 64)
	var err3 error
	if ref == 0 {
		ref, err3 = strconv.ParseUint(h.Get(hdrNatsSeq), 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || seq == 0 {
		return hub.Remote{}, fmt.Errorf("cluster: message on %q without valid c1m headers: %v", subject, err)
	}
	return hub.Remote{Topic: topic, Seq: seq, TS: ts, Data: data, Binary: h.Get(hdrBin) == "1", Ref: ref}, nil
}

// direct runs one direct get and calls each for every message it returns.
// A batch request ends with an EOB status; a single one with its message.
// errNotFound when the stream has no matching message.
func (n *Node) direct(ctx context.Context, req directReq, each func(hub.Remote) error) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	if err := n.nc.PublishRequest("$JS.API.DIRECT.GET."+n.cfg.Stream, inbox, body); err != nil {
		return err
	}
	batch := req.Batch > 0 || len(req.MultiLast) > 0
	for first := true; ; first = false {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of batch
			return nil
		case "404":
			if first {
				return errNotFound
			}
			return nil
		case "413":
			return errTooMany
		default:
			return fmt.Errorf("cluster: direct get: status %s %s", status, m.Header.Get("Description"))
		}
		r, err := n.decode(m.Header.Get(jetstream.SubjectHeader), m.Header, m.Data, 0)
		if err != nil {
			n.log.Warn("skipping a stored message", "err", err)
		} else if err := each(r); err != nil {
			return err
		}
		if !batch {
			return nil
		}
	}
}

var errTooMany = errors.New("cluster: too many subjects for one multi-last get")

// lastMsg returns the latest stored message of subject, or errNotFound.
// One answer: a plain request on the connection's shared reply
// subscription (no subscription of its own, unlike batches).
func (n *Node) lastMsg(ctx context.Context, subject string) (*hub.Remote, error) {
	body, err := json.Marshal(directReq{LastFor: subject})
	if err != nil {
		return nil, err
	}
	m, err := n.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+n.cfg.Stream, body)
	if err != nil {
		return nil, err
	}
	switch status := m.Header.Get("Status"); status {
	case "":
	case "404":
		return nil, errNotFound
	default:
		return nil, fmt.Errorf("cluster: direct get: status %s %s", status, m.Header.Get("Description"))
	}
	r, err := n.decode(m.Header.Get(jetstream.SubjectHeader), m.Header, m.Data, 0)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// rangeOf calls each for the messages of subject with stream sequences from
// from to upTo (0: the stream's end), in order, in batches.
func (n *Node) rangeOf(ctx context.Context, subject string, from, upTo uint64, each func(hub.Remote) error) error {
	for {
		got, next := 0, from
		err := n.direct(ctx, directReq{Seq: from, NextFor: subject, Batch: fetchBatch, UpToSeq: upTo}, func(r hub.Remote) error {
			got++
			next = r.Ref + 1
			return each(r)
		})
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil || got < fetchBatch {
			return err
		}
		from = next
	}
}

// lastPerSubject calls each with the latest message of every subject the
// pattern matches. Past the server's limit of subjects per multi-last get
// it reads them through an ordered consumer delivering the last message
// per subject.
func (n *Node) lastPerSubject(ctx context.Context, pattern string, each func(hub.Remote) error) error {
	err := n.direct(ctx, directReq{MultiLast: []string{pattern}}, each)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if !errors.Is(err, errTooMany) {
		return err
	}
	s, err := n.js.Stream(ctx, n.cfg.Stream)
	if err != nil {
		return err
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pattern},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	for {
		batch, err := c.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		pending, got := uint64(0), 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			r, err := n.decode(m.Subject(), m.Headers(), m.Data(), md.Sequence.Stream)
			if err != nil {
				continue
			}
			if err := each(r); err != nil {
				return err
			}
		}
		if batch.Error() != nil || pending == 0 || got == 0 {
			return batch.Error()
		}
	}
}
