package hub

// Message is one item of a batch publish: data is one JSON value, or raw
// bytes published as by PublishBinary when Binary is set.
type Message struct {
	Topic  string
	Data   []byte // one JSON value, or any bytes when Binary
	Binary bool
}

// PublishBatch publishes msgs in order, all or nothing: every topic and every
// data is checked, and every topic that does not exist yet is created,
// before the first message is published, so a batch that fails for any of
// those reasons has published nothing and moved no seq. It returns the seq of
// each message.
//
// Errors: ErrBadTopic, ErrBadData, ErrTooManyTopics (nothing published), and
// ErrClosed (which may come after part of the batch if the hub closes
// meanwhile). With a Broker, the batch is checked as a whole but published
// message by message: a broker error (ErrUnavailable) may come after part of
// it, and the seqs returned are those published.
func (h *Hub) PublishBatch(msgs []Message) ([]uint64, error) {
	for _, m := range msgs {
		if _, err := checkTopic(m.Topic, false); err != nil {
			return nil, err
		}
		if !m.Binary && !validJSON(m.Data) {
			return nil, ErrBadData
		}
	}
	if h.closed.Load() {
		return nil, ErrClosed
	}
	for _, m := range msgs {
		if h.broker != nil {
			break // the cluster holds the topics; none is created here
		}
		if _, err := h.topic(m.Topic, true); err != nil {
			return nil, err
		}
	}
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		seq, err := h.publishTo(m.Topic, m.Data, 0, m.Binary)
		if err != nil {
			return seqs[:i], err
		}
		seqs[i] = seq
	}
	return seqs, nil
}
