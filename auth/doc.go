// Package auth authenticates c1m connections with JWTs and holds their
// per-topic permissions.
//
// A token is verified once per connection, when it opens (the WebSocket
// upgrade, the SSE request, Socket.IO's CONNECT, STOMP's CONNECT) or when
// the client refreshes it; never per message. Verification (Verifier) takes
// HS256, RS256 and ES256 keys from configuration (keys.go) and RS256/ES256
// keys from a JWKS URL, fetched, cached and fetched again on an unknown
// key id (jwks.go). The claims c1m reads are sub, exp and its permission
// lists subs and pubs (claims.go): topic patterns a connection may
// subscribe to and publish to (perms.go: a pattern-covers-pattern check, so
// a wildcard subscription is allowed only when the token's patterns cover
// everything it can match). Tokens come from an Authorization header, a
// token query parameter or a cookie (source.go), or from a protocol's own
// CONNECT.
//
// An Authenticator (authenticator.go) puts it together with the mode
// (--auth=off|optional|required): it turns a token into a Session, the
// state of one connection (session.go): who it is, what it may do, and the
// timer that ends it when its token expires unless it was refreshed.
// A nil *Authenticator is auth off: everything is allowed. Every type here
// is safe for concurrent use.
package auth
