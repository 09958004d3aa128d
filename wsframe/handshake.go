package wsframe

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/gobwas/ws"

	"github.com/c1mhq/c1m/internal/httplex"
)

// ErrHeadTooLarge is returned by RequestHeadLen when b holds more than max bytes
// without the end of an HTTP request head. The caller answers 431 and closes.
var ErrHeadTooLarge = errors.New("wsframe: request head too large")

var crlfcrlf = []byte("\r\n\r\n")

// RequestHeadLen returns the length of the HTTP request head at the start of b,
// including the final CRLFCRLF, or 0 if b does not hold a complete head yet.
// It does not allocate. A complete head longer than max is ErrHeadTooLarge too.
func RequestHeadLen(b []byte, max int) (int, error) {
	if i := bytes.Index(b, crlfcrlf); i >= 0 {
		if n := i + len(crlfcrlf); n <= max {
			return n, nil
		}
		return 0, ErrHeadTooLarge
	}
	if len(b) > max {
		return 0, ErrHeadTooLarge
	}
	return 0, nil
}

// IsUpgradeRequest reports whether the complete request head in head asks for a
// WebSocket upgrade (an Upgrade header containing the token "websocket",
// case-insensitive) and returns the request path (without the query). It does not
// allocate apart from the returned path string. A head whose request line is
// malformed gives "", false; the path is raw (not percent-decoded). A request
// that asks for the upgrade may still not be a complete one: see
// UpgradeRequest.
func IsUpgradeRequest(head []byte) (path string, upgrade bool) {
	path, upgrade, _ = UpgradeRequest(head)
	return path, upgrade
}

// UpgradeRequest is IsUpgradeRequest that also reports whether the request
// is a complete upgrade request as far as method and headers go: a GET with
// "Connection: upgrade" besides "Upgrade: websocket". A server that serves
// plain HTTP on the same path (SockJS, Engine.IO) answers an incomplete one
// there, as its reference server does, rather than with the upgrader's
// refusal.
func UpgradeRequest(head []byte) (path string, offered, complete bool) {
	line, rest, ok := httplex.CutLine(head)
	if !ok {
		return "", false, false
	}
	method, target, _, _, ok := httplex.ParseRequestLine(line)
	if !ok {
		return "", false, false
	}
	p, _ := httplex.SplitTarget(target)
	conn := false
	for {
		line, rest, ok = httplex.CutLine(rest)
		if !ok || len(line) == 0 {
			break
		}
		name, value, ok := httplex.ParseHeaderLine(line)
		switch {
		case !ok:
		case bytes.EqualFold(name, []byte("Upgrade")):
			offered = offered || httplex.HasToken(value, "websocket")
		case bytes.EqualFold(name, []byte("Connection")):
			conn = conn || httplex.HasToken(value, "upgrade")
		}
	}
	return string(p), offered, offered && conn && string(method) == "GET"
}

// Upgrader upgrades complete HTTP request heads to WebSocket with gobwas/ws, without
// copying the head. Safe for concurrent use once configured; do not change fields
// after first use. The zero value accepts every path and origin and selects no
// subprotocol.
type Upgrader struct {
	// Route reports whether path is a WebSocket endpoint. A request for any other
	// path gets 404. Nil accepts every path.
	Route func(path string) bool
	// Origins is the allow-list of Origin header values ("https://example.com",
	// "*" for any). Empty allows every origin. A request whose Origin is not listed
	// gets 403. Requests without an Origin header (non-browser clients) are allowed.
	// Values are compared case-insensitively.
	Origins []string
	// Protocols lists supported subprotocols in server preference order; the first
	// one the client offers is selected. Empty selects none.
	Protocols []string
	// ProtocolsFor, when set, gives the subprotocols of each path instead of
	// Protocols (e.g. STOMP's v12.stomp only on /stomp). It must return a
	// list it keeps unchanged; nil selects none.
	ProtocolsFor func(path string) []string
	// Check, when set, is called with the path and raw query of a request
	// for a WebSocket route, before any other check of the head's headers
	// by gobwas; a non-nil error (made by Reject or RejectWith) refuses the
	// upgrade with its status and body. It lets a protocol answer a bad
	// request the way its reference server does, before upgrading.
	Check func(path, query string) error
	// Deflate negotiates permessage-deflate (RFC 7692) with clients that
	// offer it: the first acceptable offer is accepted, with no context
	// takeover in either direction (Handshake.Deflate says which mode).
	Deflate bool
	// Admit is called before the 101 is written; a non-nil error rejects the
	// upgrade. Return an error made by Reject to choose the HTTP status
	// (e.g. Reject(503, "connection limit reached")).
	Admit func() error
	// Authorize, when set, is called for a request to a WebSocket route
	// once its headers are read, before Admit, with the path, the raw
	// query and the Authorization and Cookie header values ("" when
	// absent). A non-nil error refuses the upgrade: made by Reject or
	// RejectWith it chooses the response (e.g. 401 with WWW-Authenticate),
	// any other is a 401 with its text. Otherwise its value is kept in
	// Handshake.Auth. The Cookie header is read only when Authorize is set.
	Authorize func(path, query, authorization, cookie string) (any, error)
}

// Reject returns an error that makes Upgrader.Upgrade answer with the given HTTP
// status and reason. The error is a *ws.ConnectionRejectedError; a 426 also
// carries "Sec-WebSocket-Version: 13".
func Reject(status int, reason string) error {
	if status == http.StatusUpgradeRequired {
		return ws.RejectConnectionError(
			ws.RejectionStatus(status),
			ws.RejectionHeader(ws.HandshakeHeaderString("Sec-WebSocket-Version: 13\r\n")),
			ws.RejectionReason(reason),
		)
	}
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

// RejectRetry is Reject with a Retry-After header (seconds, or an HTTP
// date): for 503s that say when to come back.
func RejectRetry(status int, retryAfter, reason string) error {
	return ws.RejectConnectionError(
		ws.RejectionStatus(status),
		ws.RejectionHeader(ws.HandshakeHeaderString("Retry-After: "+retryAfter+"\r\n")),
		ws.RejectionReason(reason),
	)
}

// RejectWith returns an error that makes Upgrader.Upgrade answer, from
// Check, with exactly the given status, header lines ("Key: Value\r\n",
// e.g. "Content-Type: application/json\r\n"; nil for none) and body.
// Upgrade then returns a *ws.ConnectionRejectedError with that status.
func RejectWith(status int, header, body string) error {
	return &customReject{status: status, header: header, body: body}
}

// customReject is a refusal whose response Upgrade writes itself (gobwas
// would add its own Content-Type).
type customReject struct {
	status       int
	header, body string
}

func (e *customReject) Error() string { return e.body }

// write writes the response of e to w.
func (e *customReject) write(w io.Writer) error {
	b := make([]byte, 0, 96+len(e.header)+len(e.body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(e.status)...)
	b = append(b, "\r\n"...)
	b = append(b, e.header...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(e.body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, e.body...)
	_, err := w.Write(b)
	return err
}

// Handshake describes an accepted upgrade.
type Handshake struct {
	Path     string // request path, without the query
	Query    string // raw query, without '?'
	Protocol string // selected subprotocol, "" if none
	// Authorization is the Authorization header's value, "" if none. It is
	// kept (one string per connection that sent it) for handlers that
	// authenticate the connection, e.g. a publish token.
	Authorization string
	// Auth is what Upgrader.Authorize returned (nil without it).
	Auth any
	// Deflate is the permessage-deflate mode agreed (DeflateOff when none):
	// the Parser inflates the client's compressed messages
	// (ParserConfig.Deflate) and the connection sends Prepared.Deflated.
	Deflate DeflateMode
}

// Rejections made once: the hot refusals allocate nothing.
var (
	errNotFound  = Reject(http.StatusNotFound, "handshake error: unknown WebSocket endpoint")
	errForbidden = Reject(http.StatusForbidden, "handshake error: origin not allowed")
	// errNoVersion differs from ws.ErrHandshakeBadSecVersion (400): c1m
	// answers a missing version like a wrong one, with 426 and the version it
	// speaks.
	errNoVersion = Reject(http.StatusUpgradeRequired, `handshake error: missing "Sec-WebSocket-Version" header`)
)

// admitError is returned by Upgrade when Admit failed with an error not made
// by Reject: the client got 503 with the error text, and errors.Is/As see both
// the rejection and Admit's error.
type admitError struct {
	rej   error // *ws.ConnectionRejectedError with 503
	cause error
}

func (e *admitError) Error() string   { return "wsframe: upgrade not admitted: " + e.cause.Error() }
func (e *admitError) Unwrap() []error { return []error{e.rej, e.cause} }

// Upgrade parses head (a complete request head as measured by RequestHeadLen),
// checks it strictly and writes either the 101 Switching Protocols response or an
// HTTP error response to w:
//
//	malformed request line or headers -> 400 with a reason
//	wrong or missing Sec-WebSocket-Version -> 426 with "Sec-WebSocket-Version: 13"
//	missing or malformed Sec-WebSocket-Key -> 400
//	missing Upgrade/Connection headers (a plain GET) -> 400
//	path not accepted by Route -> 404
//	origin not allowed -> 403
//	Admit error -> its status (Reject) or 503
//
// gobwas/ws also answers 405 to a method other than GET and 505 to an HTTP
// version other than 1.1. A refusal error has a *ws.ConnectionRejectedError in
// its chain (errors.As) giving the status sent.
//
// It returns a non-nil error exactly when the upgrade was refused; the caller then
// flushes w and closes the connection. head is only read during the call.
// A write error of w is returned as is.
func (u *Upgrader) Upgrade(head []byte, w io.Writer) (Handshake, error) {
	st := upgradeStates.Get().(*upgradeState)
	defer st.release()
	st.u, st.head, st.w = u, head, w
	st.info.wantDeflate = u.Deflate

	if reason := scanHead(head, &st.info); reason != "" {
		if err := writeHTTPError(w, http.StatusBadRequest, reason); err != nil {
			return Handshake{}, err
		}
		return Handshake{}, Reject(http.StatusBadRequest, reason)
	}
	hs, err := st.wsu.Upgrade(st)
	if err != nil {
		if cr := st.custom; cr != nil {
			if werr := cr.write(w); werr != nil {
				return Handshake{}, werr
			}
			return Handshake{}, err
		}
		if st.written == 0 {
			// gobwas gave up without answering (a request line it cannot
			// parse, a head cut short): answer 400 ourselves.
			reason := "malformed HTTP request"
			if werr := writeHTTPError(w, http.StatusBadRequest, reason); werr != nil {
				return Handshake{}, werr
			}
			return Handshake{}, Reject(http.StatusBadRequest, reason)
		}
		if st.admitErr != nil {
			return Handshake{}, &admitError{rej: err, cause: st.admitErr}
		}
		return Handshake{}, err
	}
	_ = hs // the protocol is written by st.WriteTo, not by gobwas
	out := Handshake{Path: st.path, Query: st.query, Authorization: st.auth, Auth: st.authz, Deflate: st.info.deflate.mode}
	if st.proto >= 0 {
		out.Protocol = st.protos[st.proto]
	}
	return out, nil
}

// upgradeState is the per-call state of Upgrade. It is pooled together with a
// ws.Upgrader whose callbacks are bound to it once, so that an Upgrade
// allocates no closures. It is also the connection gobwas reads the head from
// and writes the response to.
type upgradeState struct {
	wsu ws.Upgrader

	u       *Upgrader
	head    []byte
	r       int // read offset in head
	w       io.Writer
	written int

	info     headInfo
	path     string
	query    string
	auth     string
	cookie   string        // only with Authorize
	authz    any           // Authorize's value
	custom   *customReject // Check refused with RejectWith
	protos   []string      // the path's subprotocols (Protocols or ProtocolsFor)
	proto    int           // index in protos of the selected subprotocol, -1 none
	admitErr error
}

var upgradeStates = sync.Pool{New: func() any { return newUpgradeState() }}

func newUpgradeState() *upgradeState {
	st := &upgradeState{proto: -1}
	st.wsu = ws.Upgrader{
		OnRequest:       st.onRequest,
		OnHeader:        st.onHeader,
		ProtocolCustom:  st.selectProtocol,
		OnBeforeUpgrade: st.beforeUpgrade,
	}
	return st
}

func (st *upgradeState) release() {
	wsu := st.wsu
	*st = upgradeState{wsu: wsu, proto: -1}
	upgradeStates.Put(st)
}

// Read gives gobwas the head, and nothing after it.
func (st *upgradeState) Read(p []byte) (int, error) {
	if st.r >= len(st.head) {
		return 0, io.EOF
	}
	n := copy(p, st.head[st.r:])
	st.r += n
	return n, nil
}

// Write passes the response to the caller's writer and counts it; a
// response gobwas writes for a customReject is dropped.
func (st *upgradeState) Write(p []byte) (int, error) {
	if st.custom != nil {
		return len(p), nil
	}
	n, err := st.w.Write(p)
	st.written += n
	return n, err
}

// onRequest routes the request target; it runs after gobwas checked the
// method (GET) and the version (HTTP/1.1).
func (st *upgradeState) onRequest(uri []byte) error {
	path, query := httplex.SplitTarget(uri)
	st.path = string(path)
	st.protos = st.u.Protocols
	if f := st.u.ProtocolsFor; f != nil {
		st.protos = f(st.path)
	}
	if len(query) > 0 {
		st.query = string(query)
	}
	if route := st.u.Route; route != nil && !route(st.path) {
		return errNotFound
	}
	if !st.info.hasVersion && st.info.hasUpgrade {
		return errNoVersion
	}
	if check := st.u.Check; check != nil {
		err := check(st.path, st.query)
		var cr *customReject
		if errors.As(err, &cr) {
			// gobwas answers with its own head: discard it, Upgrade writes
			// cr's response instead.
			st.custom = cr
			return Reject(cr.status, cr.body)
		}
		return err
	}
	return nil
}

// onHeader sees the headers gobwas does not handle itself; Origin is checked
// against the allow-list and Authorization is kept.
func (st *upgradeState) onHeader(key, value []byte) error {
	if httplex.EqualFold(key, "Authorization") {
		st.auth = string(value)
		return nil
	}
	if st.u.Authorize != nil && httplex.EqualFold(key, "Cookie") {
		if st.cookie != "" { // several Cookie fields: one list
			st.cookie += "; " + string(value)
		} else {
			st.cookie = string(value)
		}
		return nil
	}
	if string(key) != "Origin" || len(st.u.Origins) == 0 {
		return nil
	}
	for _, o := range st.u.Origins {
		if o == "*" || httplex.EqualFold(value, o) {
			return nil
		}
	}
	return errForbidden
}

// selectProtocol sees every Sec-WebSocket-Protocol header and keeps the offer
// the server prefers. It returns "" so that gobwas keeps calling it for later
// headers; the selection is written by WriteTo.
func (st *upgradeState) selectProtocol(v []byte) (string, bool) {
	for len(v) > 0 {
		var e []byte
		e, v = httplex.NextListElement(v)
		if len(e) == 0 {
			continue
		}
		if !httplex.IsToken(e) {
			return "", false
		}
		for i, p := range st.protos {
			if (st.proto < 0 || i < st.proto) && string(e) == p {
				st.proto = i
				break
			}
		}
	}
	return "", true
}

// beforeUpgrade runs when gobwas accepted the request: the key must decode to
// 16 bytes, then Admit decides.
func (st *upgradeState) beforeUpgrade() (ws.HandshakeHeader, error) {
	var nonce [18]byte
	if n, err := base64.StdEncoding.Decode(nonce[:], st.info.key); err != nil || n != 16 {
		return nil, ws.ErrHandshakeBadSecKey
	}
	if authz := st.u.Authorize; authz != nil {
		v, err := authz(st.path, st.query, st.auth, st.cookie)
		if err != nil {
			var cr *customReject
			if errors.As(err, &cr) {
				st.custom = cr // Upgrade writes cr's response
				return nil, Reject(cr.status, cr.body)
			}
			var rej *ws.ConnectionRejectedError
			if errors.As(err, &rej) {
				return nil, rej
			}
			return nil, Reject(http.StatusUnauthorized, err.Error())
		}
		st.authz = v
	}
	if admit := st.u.Admit; admit != nil {
		if err := admit(); err != nil {
			var rej *ws.ConnectionRejectedError
			if errors.As(err, &rej) {
				return nil, rej
			}
			st.admitErr = err
			return nil, Reject(http.StatusServiceUnavailable, err.Error())
		}
	}
	if st.proto >= 0 || st.info.deflate.mode != DeflateOff {
		return st, nil
	}
	return nil, nil
}

// WriteTo writes the Sec-WebSocket-Protocol and Sec-WebSocket-Extensions
// headers of the 101 response. gobwas passes its *bufio.Writer, so
// io.WriteString copies without allocating.
func (st *upgradeState) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if st.proto >= 0 {
		for _, s := range [...]string{"Sec-WebSocket-Protocol: ", st.protos[st.proto], "\r\n"} {
			n, err := io.WriteString(w, s)
			total += int64(n)
			if err != nil {
				return total, err
			}
		}
	}
	if st.info.deflate.mode != DeflateOff {
		n, err := writeDeflateResponse(w, st.info.deflate)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// writeHTTPError writes an error response in the same form as gobwas/ws.
func writeHTTPError(w io.Writer, status int, reason string) error {
	var b [256]byte
	r := append(b[:0], "HTTP/1.1 "...)
	r = strconv.AppendInt(r, int64(status), 10)
	r = append(r, ' ')
	r = append(r, http.StatusText(status)...)
	r = append(r, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(reason)), 10)
	r = append(r, "\r\n\r\n"...)
	r = append(r, reason...)
	_, err := w.Write(r)
	return err
}
