package engineio

// Echo is a Handler that sends every message back as it came, text or
// binary: the server the Engine.IO protocol's test suite is written
// against.
type Echo struct{}

// OnOpen implements Handler.
func (Echo) OnOpen(*Session) {}

// OnMessage implements Handler: the message goes back.
func (Echo) OnMessage(s *Session, data []byte, binary bool) {
	if binary {
		_ = s.SendBinary(data)
	} else {
		_ = s.SendMessage(data)
	}
}

// OnClose implements Handler.
func (Echo) OnClose(*Session, string) {}
