package cluster

// DropLive makes the node ignore its next k live messages, as if its NATS
// subscription had lost them.
func (n *Node) DropLive(k int64) { n.dropLive.Store(k) }
