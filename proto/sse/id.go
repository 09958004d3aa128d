package sse

import (
	"strconv"
	"strings"

	"github.com/c1mhq/c1m/hub"
)

// MaxTracked bounds the topics whose position an event id carries. A stream
// that receives more distinct topics (through wildcards) tracks the first
// MaxTracked; the others resume with recovered:false and their snapshot.
const MaxTracked = 64

// positions is a stream's place in each of its topics: the seq of the last
// delivery queued, per topic, in the order the topics first appeared.
type positions struct {
	epoch  string
	topics []string
	seqs   []uint64
}

// set records seq for topic; it reports false when the topic is new and
// MaxTracked topics are already tracked.
func (ps *positions) set(topic string, seq uint64) bool {
	for i, t := range ps.topics {
		if t == topic {
			if seq > ps.seqs[i] {
				ps.seqs[i] = seq
			}
			return true
		}
	}
	if len(ps.topics) >= MaxTracked {
		return false
	}
	ps.topics = append(ps.topics, topic)
	ps.seqs = append(ps.seqs, seq)
	return true
}

// appendID appends the event id: the epoch, '/', then topic=seq pairs
// separated by ','. Topics never contain '/', '=', ',' or line breaks.
func (ps *positions) appendID(b []byte) []byte {
	b = append(b, ps.epoch...)
	b = append(b, '/')
	for i, t := range ps.topics {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
		b = append(b, '=')
		b = strconv.AppendUint(b, ps.seqs[i], 10)
	}
	return b
}

// parseID reads an event id made by appendID into a Since map. ok is false
// for an id that is not one of ours (a client may send anything).
func parseID(id string) (since map[string]hub.Position, ok bool) {
	epoch, pairs, found := strings.Cut(id, "/")
	if !found || epoch == "" {
		return nil, false
	}
	since = make(map[string]hub.Position)
	if pairs == "" {
		return since, true
	}
	for _, p := range strings.Split(pairs, ",") {
		topic, seq, found := strings.Cut(p, "=")
		if !found || hub.CheckTopic(topic, false) != "" {
			return nil, false
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return nil, false
		}
		since[topic] = hub.Position{Epoch: epoch, Seq: n}
		if len(since) > MaxTracked {
			return nil, false
		}
	}
	return since, true
}
