package stomp

import (
	"strconv"
	"strings"

	"github.com/c1mhq/c1m/hub"
)

// Destination prefixes. /queue/ means the same broadcast topic as /topic/,
// as Spring's simple broker treats it.
const (
	prefixTopic = "/topic/"
	prefixQueue = "/queue/"
)

// Destination kinds in a format variant.
const (
	kindTopic = 't'
	kindQueue = 'q'
)

// Ack modes in a format variant.
const (
	ackAuto       = 'a'
	ackClient     = 'c'
	ackIndividual = 'i'
)

// parseDestination splits a destination into its kind and c1m topic or
// pattern (wild allows '*' and '>'). The error is the ERROR frame's body.
func parseDestination(d string, wild bool) (kind byte, pattern string, err *refusal) {
	switch {
	case strings.HasPrefix(d, prefixTopic):
		kind, pattern = kindTopic, d[len(prefixTopic):]
	case strings.HasPrefix(d, prefixQueue):
		kind, pattern = kindQueue, d[len(prefixQueue):]
	default:
		return 0, "", refuse("bad destination", "destination "+strconv.Quote(d)+" is not served here: use /topic/<topic> or /queue/<topic> (c1m topics are dot-separated tokens, with * and > as wildcards when subscribing)")
	}
	if why := hub.CheckTopic(pattern, wild); why != "" {
		what := "topic"
		if wild {
			what = "topic or pattern"
		}
		return 0, "", refuse("bad destination", "destination "+strconv.Quote(d)+" does not name a valid c1m "+what+": "+why)
	}
	return kind, pattern, nil
}

// parseAckMode parses a SUBSCRIBE's ack header ("" is auto).
func parseAckMode(v string) (byte, *refusal) {
	switch v {
	case "", "auto":
		return ackAuto, nil
	case "client":
		return ackClient, nil
	case "client-individual":
		return ackIndividual, nil
	}
	return 0, refuse("bad ack mode", "ack header "+strconv.Quote(v)+" must be auto, client or client-individual")
}

// parseMsgID parses "<topic>/<seq>" (a message-id), returning the rest after
// a further '/' (an ack id's subscription) when rest is wanted.
func parseMsgID(s string, wantRest bool) (topic string, seq uint64, rest string, ok bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return "", 0, "", false
	}
	topic, s = s[:i], s[i+1:]
	num := s
	if wantRest {
		j := strings.IndexByte(s, '/')
		if j < 0 {
			return "", 0, "", false
		}
		num, rest = s[:j], s[j+1:]
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq == 0 {
		return "", 0, "", false
	}
	return topic, seq, rest, true
}

// parseSince parses an x-c1m-since header: "<epoch>:<seq>" for an exact
// destination, or "<epoch>:<topic>=<seq>[,<topic>=<seq>...]" for any
// (a wildcard subscription names the position of each topic it saw).
func parseSince(v, pattern string) (map[string]hub.Position, *refusal) {
	bad := func() (map[string]hub.Position, *refusal) {
		return nil, refuse("bad x-c1m-since", "x-c1m-since "+strconv.Quote(v)+" must be <epoch>:<seq> for a topic, or <epoch>:<topic>=<seq>,... for a pattern")
	}
	i := strings.IndexByte(v, ':')
	if i <= 0 {
		return bad()
	}
	epoch, rest := v[:i], v[i+1:]
	if seq, err := strconv.ParseUint(rest, 10, 64); err == nil {
		if hub.CheckTopic(pattern, false) != "" {
			return bad() // a bare seq needs an exact destination
		}
		return map[string]hub.Position{pattern: {Epoch: epoch, Seq: seq}}, nil
	}
	since := make(map[string]hub.Position)
	for item := range strings.SplitSeq(rest, ",") {
		j := strings.LastIndexByte(item, '=')
		if j <= 0 {
			return bad()
		}
		seq, err := strconv.ParseUint(item[j+1:], 10, 64)
		if err != nil || hub.CheckTopic(item[:j], false) != "" || len(since) >= maxSinceTopics {
			return bad()
		}
		since[item[:j]] = hub.Position{Epoch: epoch, Seq: seq}
	}
	return since, nil
}

// maxSinceTopics bounds the positions one x-c1m-since header names.
const maxSinceTopics = 256
