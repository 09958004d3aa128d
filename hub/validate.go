package hub

import "strconv"

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

// CheckTopic reports why s is not a valid publish topic (wildcard false) or
// subscription pattern (wildcard true), in words for a client: "" when it is
// valid. It is for error paths; Publish and Subscribe check by themselves.
func CheckTopic(s string, wildcard bool) string {
	if _, err := checkTopic(s, wildcard); err == nil {
		return ""
	}
	switch {
	case len(s) == 0:
		return "empty"
	case len(s) > maxTopicLen:
		return "longer than " + strconv.Itoa(maxTopicLen) + " bytes"
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		tok := s[start:i]
		switch {
		case len(tok) == 0:
			return "empty token at byte " + strconv.Itoa(start) + " (tokens are separated by single dots)"
		case tok == "*" || tok == ">":
			if !wildcard {
				return "wildcard " + tok + " in a publish topic (only subscriptions take * and >)"
			}
			if tok == ">" && i != len(s) {
				return "> must be the last token"
			}
		default:
			for j := 0; j < len(tok); j++ {
				c := tok[j]
				if c == '*' || c == '>' {
					return "wildcard " + string(c) + " inside a token (it must be a whole token)"
				}
				if !topicChar[c] {
					return "character " + quoteByte(c) + " at byte " + strconv.Itoa(start+j) + " (tokens take letters, digits, _ : -)"
				}
			}
		}
		start = i + 1
	}
	return "invalid"
}

// quoteByte shows c as 'c' when printable ASCII, else as its hex value.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(c) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}
