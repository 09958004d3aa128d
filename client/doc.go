// Package client is a Go client for c1m's native protocol (docs/PROTOCOL.md):
// subscribe to topics and patterns, receive deliveries, publish with an
// acknowledgement, and stay connected across network failures and server
// restarts without ever losing a message silently.
//
//	c, err := client.Dial(ctx, "http://localhost:8080", client.Options{
//		OnEvent: func(e client.Event) { log.Println(e.Kind, e.Topic, e.Err) },
//	})
//	if err != nil { ... }
//	defer c.Close()
//	_, err = c.Subscribe(ctx, []string{"md.AAPL.quote", "md.*.trade"}, client.SubOptions{
//		Handler: func(m *client.Message) { fmt.Println(m.Topic, m.Seq, string(m.Data)) },
//	})
//	err = c.Publish(ctx, "md.AAPL.quote", []byte(`{"bid":189.1}`)) // needs --client-publish
//
// # Reconnection and recovery
//
// When the connection ends (a network failure, the server's close 1001 or
// 1008, a dead peer found by the keepalive) the client reports
// EventDisconnected and reconnects with exponential backoff and full jitter
// (Options.MinBackoff, MaxBackoff). On the new connection it subscribes
// every Subscription again, each topic it has received resuming from its
// position (epoch and last seq, the protocol's "since"): the server sends
// exactly the missed messages, or, when it cannot (a restart changed the
// epoch, the history no longer covers the gap), the topic's snapshot. Every
// resumed topic gets an EventResumed with Recovered true or false; a seq
// that jumps outside a resume gets an EventGap; a delivery whose seq is not
// new is dropped (Stats.Duplicates, never expected). A topic a wildcard
// pattern starts to match while disconnected begins with its snapshot, as
// on a first subscribe.
//
// # Publishing
//
// Publish and PublishBinary wait for the server's acknowledgement. While
// disconnected, publishes wait in a bounded buffer (Options.PublishBuffer,
// 1024 by default) and are written in order after the resubscription;
// past the bound Publish fails at once with ErrBufferFull and queues
// nothing. A publish whose connection failed after it was written returns
// a *ConnectionLostError: it may or may not have been published, and it is
// never sent twice. PublishHTTP publishes over POST /publish instead.
//
// # Errors
//
// An err reply is an *Error: errors.Is(err, client.ErrBadTopic) tests its
// code (ErrBadRequest 400, ErrUnauthorized 401, ErrForbidden 403,
// ErrUnknownOp 404, ErrTooLarge 413, ErrBadTopic 422, ErrTooManySubs 429,
// ErrInternal 500, ErrUnavailable 503, ErrTooManyTopics 507). The end of a
// connection is a *CloseError (ErrGoingAway 1001, ErrProtocolError 1002,
// ErrAbnormalClosure 1006, ErrInvalidUTF8 1007, ErrSlowConsumer 1008,
// ErrMessageTooBig 1009, ErrTokenExpired 4401). A refused upgrade is a
// *HandshakeError with the HTTP status, a refused HTTP publish an
// *HTTPError.
//
// # Tokens
//
// Options.Token goes as "Authorization: Bearer" on every upgrade: the
// server's --publish-token, or a JWT under --auth. Refresh replaces a JWT
// before it expires, on the connection and for the next ones; a connection
// whose token expired ends with ErrTokenExpired, and if the server then
// refuses the old token the client ends (Err is a *HandshakeError 401).
//
// # Goroutines and buffers
//
// A Client's methods are safe for concurrent use. Each client runs one
// goroutine that reads the connection and reconnects, plus short-lived
// ones per connection (writing the subscriptions and buffered publishes
// again) and per reconnection attempt, and a timer for the keepalive:
// never one per subscription. Options.TLSConfig applies to wss:// URLs.
// Handlers and OnEvent run on the reading goroutine, one call at a time,
// in the order of the wire. A Handler's *Message and its Data point into
// the client's read buffer and are valid only until the Handler returns:
// copy what you keep (SubOptions.Chan receives copies). A Handler must not
// wait for the client's own calls (their replies come through the same
// goroutine) and should be quick: a slow one delays every subscription
// and, past the server's queue bound, gets the connection closed (1008) and
// resumed. Publish does not retain data after it returns.
package client
