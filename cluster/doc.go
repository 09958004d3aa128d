// Package cluster runs c1m as one node of many on NATS JetStream: every node
// shares one topic space, one seq per topic and one history, whichever node
// a publisher or subscriber uses. A Node is the hub's Broker (hub.Broker).
//
// # Subjects and the stream
//
// A topic T is stored on the subject <prefix>T (prefix "c1m." by default) in
// one stream (default "C1M") over <prefix>>, which keeps at most
// --history-size messages per subject (MaxMsgsPerSubject) and nothing older
// than its MaxAge. The stream republishes every message it stores to
// _live.<prefix>T (RePublish), with the stream's own headers: Nats-Sequence
// (its stream sequence) and Nats-Last-Sequence (the stream sequence of the
// subject's previous message). Nodes receive live messages only from those
// republished subjects, so they see exactly what the stream stored, in the
// stream's order, and nothing it refused.
//
// # One seq per topic
//
// The c1m seq travels in the C1m-Seq header (with C1m-Ts, the publish time,
// and C1m-Bin for binary data). A publish is an optimistic compare-and-set:
// the publishing node sends seq+1 with Nats-Expected-Last-Subject-Sequence
// set to the stream sequence of the topic's latest message, both taken from
// its cache. The stream stores the message only if no other message reached
// the subject in between; otherwise it answers "wrong last sequence", the
// node reloads the topic's latest message with a direct get and retries
// (counted as publish_retries). Publishes to one topic are serialised per
// node (a lock per topic), so the cost of a publish is one JetStream round
// trip when one node publishes a topic, plus one direct get and one more
// round trip per conflict when several do at the same moment. A topic's
// first message (or its first after the stream dropped all of its messages)
// takes the stream's last sequence plus one, so a topic's seq never goes
// back within an epoch.
//
// The epoch is the stream's creation time: every node of the cluster has the
// same, and it survives restarts of every node and of NATS (file storage).
//
// # Interest, order and gaps
//
// A node subscribes on NATS only to the patterns its clients hold, counted
// per pattern; a pattern covered by a wildcard the node already holds (md.>
// covers md.AAPL.quote) adds no NATS subscription. Before a first
// subscription to a pattern is registered in the hub, the node brings the
// pattern's topics up to date from the stream (their latest messages, by
// direct get), so snapshots are current; for each topic a client resumes
// from a position older than the node's history, it loads the missing
// messages from the stream (hub.Backfill), once per topic whatever the
// number of clients. Live messages are applied in seq order (hub.Apply); a
// message more than one ahead of its topic (the node missed some: a NATS
// reconnect, a slow subscription that dropped messages) makes the node fetch
// the messages in between from the stream first, so clients never see the
// gap (gaps_filled). Only messages the stream no longer holds are skipped
// (gaps_unrecoverable).
//
// # Failures
//
// While NATS is unreachable the node is not ready (Ready, /readyz), refuses
// publishes and new subscriptions with hub.ErrUnavailable (503), and keeps
// its clients connected: when NATS is back, nats.go restores the
// subscriptions and the node brings every pattern it holds up to date from
// the stream, so its clients receive what they missed, in order, with no
// gap. A node whose stream was deleted and created again (a new epoch) stays
// unready and logs that it must be restarted.
//
// # Goroutine safety
//
// Node methods are safe for concurrent use. NATS delivers each subscription
// on its own goroutine (nats.go); a gap fill blocks only that subscription,
// whose backlog nats.go bounds (slow consumers are counted, and their gaps
// filled later).
package cluster
