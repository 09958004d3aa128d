package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"
)

// Publish publishes data (any JSON value, sent byte for byte) to topic over
// the WebSocket and waits for the server's ok: nil means the server
// published it. The server must run with --client-publish (else 403) and,
// with --publish-token, the client must have Options.Token (else 401).
//
// While disconnected the publish waits in a buffer of Options.PublishBuffer
// messages and is written, in order, once the next connection has
// subscribed again; past the bound Publish fails at once with
// ErrBufferFull. If ctx ends while the publish is still buffered it is
// dropped from the buffer (never sent) and ctx.Err() returned; if it ends
// after the publish was written, the outcome is unknown. A connection lost
// between writing and the ok gives a *ConnectionLostError (outcome
// unknown; the client never resends, so nothing is published twice).
// data is not retained after Publish returns.
func (c *Client) Publish(ctx context.Context, topic string, data []byte) error {
	if !json.Valid(data) {
		return &Error{Code: 400, Msg: "data is not valid JSON (use PublishBinary for bytes)"}
	}
	return c.publish(ctx, &call{kind: callPub, topic: topic, data: bytes.TrimSpace(data)})
}

// PublishBinary publishes payload as a binary message (subscribers get
// Message.Binary) and waits for its acknowledgement: a ping written right
// after it, whose ok comes after any err for the publish. Otherwise as
// Publish.
func (c *Client) PublishBinary(ctx context.Context, topic string, payload []byte) error {
	return c.publish(ctx, &call{kind: callBin, topic: topic, data: payload})
}

func (c *Client) publish(ctx context.Context, p *call) error {
	p.done = make(chan error, 1)
	c.writeMu.Lock()
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		c.writeMu.Unlock()
		return err
	}
	if !c.ready {
		var err error
		switch {
		case c.opts.PublishBuffer < 0:
			err = ErrNotBuffered
		case len(c.pubQ) >= c.opts.PublishBuffer:
			err = ErrBufferFull
		default:
			p.data = bytes.Clone(p.data)
			c.pubQ = append(c.pubQ, p)
		}
		c.mu.Unlock()
		c.writeMu.Unlock()
		if err != nil {
			return err
		}
	} else {
		c.registerPubLocked(p)
		conn := c.conn
		c.mu.Unlock()
		_ = c.writePubLocked(conn, p) // a failure ends the connection: p gets a ConnectionLostError
		c.writeMu.Unlock()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		for i, q := range c.pubQ {
			if q == p {
				c.pubQ = append(c.pubQ[:i], c.pubQ[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// HTTPURL turns a server URL into its HTTP base URL (ws becomes http, wss
// https; the path /ws, if any, is dropped).
func HTTPURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("c1m: bad URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "http"
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("c1m: bad URL %q: the scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("c1m: bad URL %q: no host", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/ws"), "/")
	u.RawQuery = ""
	return u, nil
}

// PublishHTTP publishes one message with POST /publish?topic=T, the
// server's HTTP publish, and returns its seq. data must be JSON unless
// binary (sent as application/octet-stream). token, when set, goes as
// "Authorization: Bearer" (the server's --publish-token). A refusal is an
// *HTTPError (errors.Is(err, ErrUnauthorized) and the like work for 401,
// 413, 503 and 507); hc nil means http.DefaultClient.
func PublishHTTP(ctx context.Context, hc *http.Client, serverURL, token, topic string, data []byte, binary bool) (uint64, error) {
	u, err := HTTPURL(serverURL)
	if err != nil {
		return 0, err
	}
	u.Path += "/publish"
	u.RawQuery = url.Values{"topic": {topic}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	if binary {
		req.Header.Set("Content-Type", "application/octet-stream")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("c1m: POST %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Seq   uint64 `json:"seq"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode/100 != 2 {
		msg := out.Error
		if msg == "" {
			msg = strings.TrimSpace(string(body))
		}
		return 0, &HTTPError{Status: resp.StatusCode, Msg: msg}
	}
	return out.Seq, nil
}

// Refresh replaces the connection's token before it expires (the server's
// --auth: a token with exp ends the connection with close 4401, ErrTokenExpired,
// unless refreshed). The new token also goes on every later connection.
// A refused token is an *Error (401; 400 with --auth=off) and changes
// nothing on the server. While disconnected it only stores the token for
// the next connection.
func (c *Client) Refresh(ctx context.Context, token string) error {
	p := &call{kind: callRefresh, done: make(chan error, 1)}
	c.writeMu.Lock()
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		c.writeMu.Unlock()
		return err
	}
	old := c.header.Get("Authorization")
	c.header.Set("Authorization", "Bearer "+token)
	if c.conn == nil {
		c.mu.Unlock()
		c.writeMu.Unlock()
		return nil
	}
	conn := c.conn
	id := c.registerLocked(p)
	c.mu.Unlock()
	b, _ := json.Marshal(struct {
		Op    string `json:"op"`
		ID    uint64 `json:"id"`
		Token string `json:"token"`
	}{"refresh", id, token})
	_ = c.writeLocked(conn, websocket.TextMessage, b)
	c.writeMu.Unlock()
	var err error
	select {
	case err = <-p.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) { // refused: keep presenting the old token
			c.mu.Lock()
			if c.header.Get("Authorization") == "Bearer "+token {
				if old == "" {
					c.header.Del("Authorization")
				} else {
					c.header.Set("Authorization", old)
				}
			}
			c.mu.Unlock()
		}
	}
	return err
}
