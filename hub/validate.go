package hub

// maxTopicLen is the longest topic or pattern accepted, in bytes.
const maxTopicLen = 256

// topicChar marks the bytes allowed inside a token: [A-Za-z0-9_:-].
var topicChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'], t['-'], t[':'] = true, true, true
	return t
}()

// checkTopic validates s as a topic (allowWild false) or a subscription
// pattern (allowWild true) and reports whether it contains wildcards.
// It does not allocate.
func checkTopic(s string, allowWild bool) (wild bool, err error) {
	if len(s) == 0 || len(s) > maxTopicLen {
		return false, ErrBadTopic
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		tok := s[start:i]
		switch {
		case len(tok) == 0:
			return false, ErrBadTopic
		case tok == "*":
			if !allowWild {
				return false, ErrBadTopic
			}
			wild = true
		case tok == ">":
			if !allowWild || i != len(s) {
				return false, ErrBadTopic
			}
			wild = true
		default:
			for j := 0; j < len(tok); j++ {
				if !topicChar[tok[j]] {
					return false, ErrBadTopic
				}
			}
		}
		start = i + 1
	}
	return wild, nil
}

// nextToken splits s at its first '.': tok is the first token, rest what
// follows the dot, more whether there was a dot.
func nextToken(s string) (tok, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
