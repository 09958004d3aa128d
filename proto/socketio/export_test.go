package socketio

// Records returns how many disconnected sockets s keeps for recovery.
func Records(s *Server) int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return len(s.records)
}
