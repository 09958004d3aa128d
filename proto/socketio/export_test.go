package socketio

// Records returns how many disconnected sockets s keeps for recovery.
func Records(s *Server) int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return len(s.records)
}

// RecordBytes returns the bytes counted for the records s keeps.
func RecordBytes(s *Server) int64 {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.recBytes
}
