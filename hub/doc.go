// Package hub routes published market-data messages to subscribed connections.
//
// A Hub holds topics (dot-separated tokens such as "md.AAPL") in a fixed array
// of shards, each with its own lock, so publishes to different topics proceed in
// parallel and no goroutine serialises all broadcasts. A publish encodes its
// WebSocket frame once into a pooled wsframe.Prepared and hands the same frame,
// by reference, to every subscriber: nothing is copied or re-encoded per
// subscriber, and a publish allocates nothing in steady state.
//
// Subscribers of other wire formats (SSE, STOMP, Socket.IO, ...) name a
// Format, and optionally a variant of it, in SubOptions. A publish is then
// encoded once per (Format, variant) that its subscribers use, lazily, and
// each encoding is shared by reference like the native frame. The native
// frame is always made: it is the last value and the history, from which
// snapshots and recovered messages are re-encoded for other formats (those
// are per subscriber anyway).
//
// Subscriptions use NATS-style patterns: '*' matches exactly one token and '>'
// (last token only) matches one or more trailing tokens. Exact subscriptions
// live on their topic; wildcard subscriptions live in a token trie (sublist.go)
// whose match result each topic caches until the trie's generation changes. A
// connection receives each message once, however many of its patterns match.
//
// Every topic keeps its last value and a bounded history ring of recent frames,
// so a subscriber gets a snapshot, or the exact messages it missed (recovery),
// before live updates, with no gap and no duplicate. Subscriptions may conflate
// (one pending frame per topic per connection, poller.Slot) and rate-limit
// (at most MaxRate deliveries per second per topic, latest value wins).
//
// Topics do not live for ever (see Hub): one that nobody publishes to or
// subscribes to any more, with no history left, is reclaimed after
// LastValueTTL; one that only subscriptions created goes with them. Only
// topics that hold data count against MaxTopics, so subscribers cannot
// exhaust the table, and seq never goes back within an epoch.
//
// # Goroutine safety
//
// Every Hub method is safe for concurrent use. Subscriber implementations must
// be safe for concurrent use, must never block, and must never call back into
// the Hub from Send or SendSlot: the hub calls them with locks held.
// A Hub runs one background goroutine (rate-limited deliveries, history
// expiry and topic reclamation); Close stops it.
//
// # Buffer lifetimes
//
// Publish and PublishBinary copy data into the frame before they return; the
// caller may reuse data afterwards. Every frame handed to Send or SendSlot
// carries one reference that the Subscriber owns and must Release exactly once
// (Send consumes it even when it fails). The hub owns the references of the
// last value, its snapshot frame, history frames and rate-limited pending
// frames; it releases them when they are replaced or evicted and on Close.
//
// # Lock order
//
// Locks are taken in this order and never in reverse:
//
//	conn.mu          (per Subscriber: serialises its Subscribe/Unsubscribe calls)
//	formatKeys.mu    (numbers (Format, variant) pairs; taken alone in Subscribe)
//	shard.mu         (topic name -> *topic map, seq floor; held for map access,
//	                  and by reclamation around the topic's lock)
//	topic.mu         (seq, last value, history, targets, dead; held while enqueueing)
//	sublist.mu       (wildcard trie; read-locked to rebuild a topic's cache)
//	topicTree.mu     (trie of existing topics; walked by wildcard Subscribe)
//	subscription.mu  (conflation slots, rate-limit state, priming)
//	rateTimer.mu     (min-heap of pending rate-limited deliveries)
//	the Subscriber's own lock, inside Send/SendSlot
//
// Publish and Subscribe look a topic up under shard.mu, release it, then lock
// the topic; reclamation takes shard.mu then topic.mu, re-checks that the
// topic is idle, marks it dead and removes it from the shard map and the
// topic tree. So every path that locks a topic it looked up checks dead and,
// if set, looks the name up again (a publish or exact Subscribe then creates
// the topic anew; a wildcard Subscribe skips it).
//
// Format.Encode runs with topic.mu (and maybe subscription.mu) held: it must
// not call the Hub. No hub lock is held during I/O: Send and SendSlot only
// enqueue.
package hub
