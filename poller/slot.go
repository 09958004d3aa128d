package poller

import "github.com/c1mhq/c1m/wsframe"

// Slot is a conflation slot: one per (connection, topic) for subscriptions that
// want only the newest value when the connection falls behind. Its fields are
// guarded by the lock of the connection that owns it; users outside the transport
// only allocate a zero Slot and pass it to SendSlot. A transport implementation
// (poller.Conn, or a test fake) keeps at most one queue entry per Slot.
type Slot struct {
	// Frame is the pending frame not yet taken by the writer; nil when empty.
	Frame *wsframe.Prepared
	// Queued reports that the slot holds a place in the connection's queue.
	Queued bool
}
