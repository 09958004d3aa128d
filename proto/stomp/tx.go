package stomp

import (
	"strconv"

	"github.com/c1mhq/c1m/hub"
)

// tx is an open transaction: its SENDs and ACKs/NACKs wait for COMMIT.
// The SENDs are published all or nothing (hub.PublishBatch), in order,
// then the acknowledgements are applied in order.
type tx struct {
	sends []hub.Message
	acks  []txAck
	bytes int
}

// txAck is a transactional ACK or NACK.
type txAck struct {
	sub *subscription
	pos msgPos
}

// txBudget bounds the bytes of all open transactions of a session.
func (s *session) txBudget() int { return max(4<<20, 2*s.h.cfg.MaxPublishBytes) }

// tx returns the open transaction named id.
func (s *session) tx(id []byte) (*tx, *refusal) {
	t := s.txs[string(id)]
	if t == nil {
		return nil, refuse("unknown transaction", "transaction "+strconv.Quote(string(id))+" was not begun on this connection (or was committed or aborted)")
	}
	return t, nil
}

// txAdd accounts for one more frame of n body bytes in t.
func (s *session) txAdd(t *tx, n int) *refusal {
	if len(t.sends)+len(t.acks) >= s.h.cfg.MaxTxFrames {
		return refuse("transaction too large", "at most "+itoa(s.h.cfg.MaxTxFrames)+" frames per transaction")
	}
	if s.txBytes+n > s.txBudget() {
		return refuse("transaction too large", "the open transactions of a connection may hold at most "+itoa(s.txBudget())+" bytes of SEND bodies")
	}
	t.bytes += n
	s.txBytes += n
	return nil
}

// transaction handles BEGIN, COMMIT and ABORT.
func (s *session) transaction(f *Frame) *refusal {
	id, ok := f.Get("transaction")
	if !ok || len(id) == 0 {
		return refuse("missing header", f.Command.String()+" needs a transaction header")
	}
	if f.Command == CmdBegin {
		if s.txs[string(id)] != nil {
			return refuse("duplicate transaction", "transaction "+strconv.Quote(string(id))+" is already open")
		}
		if len(s.txs) >= s.h.cfg.MaxTx {
			return refuse("too many transactions", "at most "+itoa(s.h.cfg.MaxTx)+" open transactions per connection")
		}
		if s.txs == nil {
			s.txs = make(map[string]*tx)
		}
		s.txs[string(id)] = &tx{}
		return nil
	}
	t, r := s.tx(id)
	if r != nil {
		return r
	}
	delete(s.txs, string(id))
	s.txBytes -= t.bytes
	if f.Command == CmdAbort {
		return nil
	}
	for _, a := range t.acks {
		if !a.sub.pending(a.pos) && s.subs.get(a.sub.id) == a.sub {
			return refuse("unknown message", "COMMIT of "+strconv.Quote(string(id))+": an ACK of "+a.pos.topic+"/"+strconv.FormatUint(a.pos.seq, 10)+" names a message no longer unacknowledged")
		}
	}
	if len(t.sends) > 0 {
		if _, err := s.h.cfg.Hub.PublishBatch(t.sends); err != nil {
			return publishRefusal("transaction "+string(id), err)
		}
	}
	for _, a := range t.acks {
		a.sub.ack(a.pos, a.sub.mode == ackClient)
	}
	return nil
}
