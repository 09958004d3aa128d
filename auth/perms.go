package auth

import "strconv"

// Perms is a list of topic patterns (NATS style, as the hub's: '*' is
// exactly one token, '>' one or more trailing tokens). It grants a topic or
// a pattern when one of its patterns covers it. The zero value grants
// nothing. A Perms is immutable and safe for concurrent use; checking it
// allocates nothing.
type Perms []string

// ParsePerms checks every pattern (with the hub's syntax of a
// subscription pattern) and returns them as Perms; what names the claim in the error
// ("subs", "pubs").
func ParsePerms(what string, patterns []string) (Perms, error) {
	for i, p := range patterns {
		if why := checkPattern(p); why != "" {
			return nil, &Error{Kind: KindClaims, Msg: what + "[" + strconv.Itoa(i) + "] " + strconv.Quote(p) + " is not a topic pattern: " + why}
		}
	}
	return Perms(patterns), nil
}

// Grants reports whether one of the patterns covers target: a topic, or a
// pattern whose every possible match one pattern covers (Covers).
func (ps Perms) Grants(target string) bool {
	for _, p := range ps {
		if Covers(p, target) {
			return true
		}
	}
	return false
}

// Covers reports whether pattern p covers q: every topic q can match, p
// matches too. q may be a concrete topic (then Covers is p's match) or a
// pattern: "md.>" covers "md.*.quote" and "md.x.>", "md.*" covers "md.x"
// and "md.*" but not "md.>" (which also matches md.x.y), and "*.>" does
// not cover ">" (which also matches a one-token topic). Both are expected
// valid (hub.CheckTopic); an invalid one may give either answer. It
// allocates nothing.
func Covers(p, q string) bool {
	for {
		pt, prest, pmore := cut(p)
		qt, qrest, qmore := cut(q)
		switch {
		case pt == ">":
			// One or more tokens: q has at least one here, and whatever
			// q's rest matches is more tokens.
			return qt != ""
		case qt == ">":
			return false // q matches any number of tokens, p a fixed count here
		case pt == "*":
			if qt == "" {
				return false
			}
		case pt != qt: // a literal covers only itself ('*' in q included)
			return false
		}
		if !pmore || !qmore {
			return pmore == qmore
		}
		p, q = prest, qrest
	}
}

// cut splits s at its first dot: the token, the rest, and whether there
// was a dot.
func cut(s string) (tok, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// checkPattern reports why p is not a subscription pattern in the hub's
// syntax (hub.CheckTopic, which this package does not import so that it
// stays below every protocol): "" when it is one.
func checkPattern(p string) string {
	if p == "" || len(p) > 256 {
		return "empty or longer than 256 bytes"
	}
	for rest, more := p, true; more; {
		var tok string
		tok, rest, more = cut(rest)
		switch {
		case tok == "":
			return "empty token"
		case tok == ">":
			if more {
				return "> must be the last token"
			}
		case tok == "*":
		default:
			for i := 0; i < len(tok); i++ {
				c := tok[i]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':') {
					return "character " + strconv.QuoteRune(rune(c)) + " (tokens take letters, digits, _ : -, or are * or >)"
				}
			}
		}
	}
	return ""
}
