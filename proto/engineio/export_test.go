package engineio

// HeldGET reports whether s has a GET held.
func HeldGET(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get != nil
}
