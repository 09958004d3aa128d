package auth

import "errors"

// Kind classifies an authentication error.
type Kind uint8

// Kinds of Error. Every kind but KindForbidden is an HTTP 401.
const (
	KindMissing    Kind = iota + 1 // no token where one is required
	KindMalformed                  // not a JWT (three base64url parts of JSON)
	KindSignature                  // wrong signature, or an algorithm the server does not take
	KindUnknownKey                 // a kid neither the keys nor the JWKS know
	KindExpired                    // exp is in the past
	KindClaims                     // nbf in the future, wrong iss or aud, a bad subs/pubs pattern, a refresh for another sub
	KindForbidden                  // the token is fine but does not grant the topic
)

// Error is a refused token, or a refused operation, in words for a client.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Status is the HTTP status of the error: 403 for KindForbidden, else 401.
func (e *Error) Status() int {
	if e.Kind == KindForbidden {
		return 403
	}
	return 401
}

// StatusOf returns the HTTP status of err: Error's, else 401.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status()
	}
	return 401
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// Errors shared by every refusal of their kind.
var (
	ErrMissing = &Error{KindMissing, "authentication required: send a token (Authorization: Bearer, ?token=, or the cookie)"}
	ErrExpired = &Error{KindExpired, "token expired"}
)
