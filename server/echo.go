package server

import (
	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/wsframe"
)

// echo answers every message with the same opcode and payload (/echo).
type echo struct{}

func (echo) OnOpen(*poller.Conn)                      {}
func (echo) OnClose(*poller.Conn, poller.CloseReason) {}
func (echo) OnMessage(c *poller.Conn, op ws.OpCode, data []byte) {
	_ = c.Send(wsframe.NewPrepared(op, data))
}
