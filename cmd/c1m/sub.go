package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/c1mhq/c1m/client"
)

// Exit codes of c1m sub and c1m pub.
const (
	exitOK        = 0
	exitIO        = 1 // writing the output or reading the input failed
	exitBadInput  = 2 // bad flags, arguments or data: nothing was sent
	exitConnFail  = 3 // could not connect, or the connection failed with an outcome unknown
	exitRefused   = 4 // the server refused (an err reply, an HTTP error, a refused upgrade)
	exitCodesHelp = `Exit codes:
  0  done (--count reached, all published, or interrupted)
  1  writing the output or reading the input failed
  2  bad input: flags, arguments, --since or DATA (nothing was sent)
  3  connection failure: the server could not be reached, or the connection
     failed before the server answered
  4  refused by the server: an error reply (malformed topic, missing token,
     publishing disabled, too large, ...) or a refused connection
`
)

// defaultURL is --url's default: $C1M_URL, else the local server.
func defaultURL() string {
	if u := os.Getenv("C1M_URL"); u != "" {
		return u
	}
	return "http://localhost:8080"
}

// tlsFlags adds --ca and --insecure to fs; the returned function builds
// the TLS configuration for https and wss URLs (nil: the system's).
func tlsFlags(fs *flag.FlagSet) func() (*tls.Config, error) {
	ca := fs.String("ca", os.Getenv("C1M_CA"), "PEM file of the CAs that sign the server's certificate, for https/wss URLs (env C1M_CA; default: the system's)")
	insecure := fs.Bool("insecure", false, "do not verify the server's TLS certificate (testing only)")
	return func() (*tls.Config, error) {
		if *ca == "" && !*insecure {
			return nil, nil
		}
		cfg := &tls.Config{InsecureSkipVerify: *insecure}
		if *ca != "" {
			pem, err := os.ReadFile(*ca)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificate", *ca)
			}
		}
		return cfg, nil
	}
}

// exitFor maps a client error to an exit code.
func exitFor(err error) int {
	var e *client.Error
	var he *client.HTTPError
	var hs *client.HandshakeError
	switch {
	case errors.As(err, &e) || errors.As(err, &he) || errors.As(err, &hs):
		return exitRefused
	}
	return exitConnFail
}

func runSub(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m sub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL(), "server URL (http, https, ws or wss; the WebSocket is <url>/ws) (env C1M_URL)")
	asJSON := fs.Bool("json", false, "print JSON lines: {\"topic\",\"seq\",\"ts\",\"snap\",\"data\"} (binary data base64 with \"binary\":true)")
	since := fs.String("since", "", "resume from positions: EPOCH/TOPIC=SEQ,TOPIC=SEQ,... (as printed on exit) or the protocol's JSON map")
	count := fs.Int("count", 0, "exit after this many deliveries (snapshots count; 0 = run until interrupted)")
	conflate := fs.Bool("conflate", false, "ask for conflation: only the newest value of a topic when falling behind")
	maxRate := fs.Float64("max-rate", 0, "at most this many deliveries per second per topic (implies conflation; 0 = unlimited)")
	token := fs.String("token", os.Getenv("C1M_TOKEN"), "bearer token sent on the upgrade (env C1M_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long the first connection and subscription may take")
	quiet := fs.Bool("quiet", false, "do not report connection events on standard error")
	tlsConfig := tlsFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `c1m sub: print the deliveries of topics and patterns, one per line

Usage: c1m sub [flags] PATTERN...

PATTERN is a topic (md.AAPL.quote) or a pattern: * matches one token
(md.*.quote), a final > one or more (md.>). Each topic's last value comes
first (marked snap), then every update. The readable line is
  TIME TOPIC seq=SEQ [snap] DATA
with the publish time in UTC. c1m sub reconnects by itself and resumes every
topic exactly where it was; what it cannot resume (a restarted server) and
any gap are reported on standard error. On exit it prints the --since that
resumes from where it stopped.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+exitCodesHelp)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitBadInput
	}
	patterns := fs.Args()
	if len(patterns) == 0 {
		fmt.Fprintln(stderr, "c1m sub: no PATTERN: name at least one topic or pattern (see c1m sub --help)")
		return exitBadInput
	}
	if *count < 0 || *maxRate < 0 {
		fmt.Fprintln(stderr, "c1m sub: --count and --max-rate must be >= 0")
		return exitBadInput
	}
	positions, err := parseSince(*since)
	if err != nil {
		fmt.Fprintln(stderr, "c1m sub: --since:", err)
		return exitBadInput
	}
	if _, err := client.WebSocketURL(*url); err != nil {
		fmt.Fprintln(stderr, "c1m sub: --url:", strings.TrimPrefix(err.Error(), "c1m: "))
		return exitBadInput
	}
	tc, err := tlsConfig()
	if err != nil {
		fmt.Fprintln(stderr, "c1m sub: --ca:", err)
		return exitBadInput
	}

	out := bufio.NewWriterSize(stdout, 64<<10)
	done := make(chan int, 1)
	finish := func(code int) {
		select {
		case done <- code:
		default:
		}
	}
	n := 0
	printed := map[string]uint64{} // the resume hint names what was printed
	var line []byte
	handler := func(m *client.Message) {
		if *count > 0 && n >= *count {
			return
		}
		n++
		printed[m.Topic] = m.Seq
		line = formatMessage(line[:0], m, *asJSON)
		if _, err := out.Write(line); err != nil {
			finish(exitIO)
			return
		}
		if err := out.Flush(); err != nil {
			finish(exitIO)
			return
		}
		if *count > 0 && n == *count {
			finish(exitOK)
		}
	}
	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "c1m sub: "+format+"\n", a...)
		}
	}
	opts := client.Options{Token: *token, TLSConfig: tc, OnEvent: func(e client.Event) {
		switch e.Kind {
		case client.EventConnected:
			if e.Reconnect {
				say("reconnected to %s", e.URL)
			}
		case client.EventDisconnected:
			say("disconnected (%v); reconnecting", strings.TrimPrefix(e.Err.Error(), "c1m: "))
		case client.EventReconnectFailed:
			say("reconnect attempt %d failed: %v", e.Attempt, strings.TrimPrefix(e.Err.Error(), "c1m: "))
		case client.EventResumed:
			if e.Recovered {
				say("resumed %s from seq %d: nothing lost", e.Topic, e.PrevSeq)
			} else {
				say("could not resume %s from seq %d of epoch %s (now epoch %s, seq %d): messages may be missing; its snapshot replaces it", e.Topic, e.PrevSeq, e.PrevEpoch, e.Epoch, e.Seq)
			}
		case client.EventGap:
			why := "missed"
			if e.Conflated {
				why = "conflated away"
			}
			say("gap in %s: seq %d to %d %s", e.Topic, e.From, e.To, why)
		case client.EventSubscribeFailed:
			say("subscribing again to %v refused: %v", e.Patterns, strings.TrimPrefix(e.Err.Error(), "c1m: "))
		case client.EventError:
			say("%v", strings.TrimPrefix(e.Err.Error(), "c1m: "))
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := client.Dial(ctx, *url, opts)
	if err != nil {
		fmt.Fprintln(stderr, "c1m sub:", strings.TrimPrefix(err.Error(), "c1m: "))
		return exitFor(err)
	}
	defer c.Close()
	so := client.SubOptions{Handler: handler, MaxRate: *maxRate, Since: positions}
	if *conflate {
		so.Conflate = conflate
	}
	if _, err := c.Subscribe(ctx, patterns, so); err != nil {
		fmt.Fprintln(stderr, "c1m sub:", strings.TrimPrefix(err.Error(), "c1m: "))
		if errors.Is(err, context.DeadlineExceeded) {
			return exitConnFail
		}
		return exitFor(err)
	}
	cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	code := exitOK
	select {
	case code = <-done:
	case <-sig:
	case <-c.Done():
		err := c.Err()
		fmt.Fprintln(stderr, "c1m sub:", strings.TrimPrefix(err.Error(), "c1m: "))
		code = exitFor(err)
	}
	c.Close() // the handler has returned for good: printed is ours
	out.Flush()
	pos := c.Positions()
	for t, p := range pos {
		if seq, ok := printed[t]; ok {
			pos[t] = client.Position{Epoch: p.Epoch, Seq: seq}
		} else {
			delete(pos, t)
		}
	}
	if s := formatSince(pos); s != "" && !*quiet {
		fmt.Fprintf(stderr, "c1m sub: to resume: --since '%s'\n", s)
	}
	return code
}

// formatMessage appends m's output line.
func formatMessage(b []byte, m *client.Message, asJSON bool) []byte {
	if asJSON {
		b = append(b, `{"topic":`...)
		b = strconv.AppendQuote(b, m.Topic)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, m.Seq, 10)
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, m.TS, 10)
		if m.Snapshot {
			b = append(b, `,"snap":true`...)
		}
		if m.Binary {
			b = append(b, `,"binary":true,"data":"`...)
			b = base64.StdEncoding.AppendEncode(b, m.Data)
			b = append(b, '"')
		} else {
			b = append(b, `,"data":`...)
			b = appendCompact(b, m.Data)
		}
		return append(b, "}\n"...)
	}
	b = m.Time().UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, m.Topic...)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, m.Seq, 10)
	if m.Snapshot {
		b = append(b, " snap"...)
	}
	b = append(b, ' ')
	if m.Binary {
		b = append(b, "base64:"...)
		b = base64.StdEncoding.AppendEncode(b, m.Data)
	} else {
		b = appendCompact(b, m.Data)
	}
	return append(b, '\n')
}

// appendCompact appends JSON data on one line.
func appendCompact(b, data []byte) []byte {
	if bytes.ContainsAny(data, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, data) == nil {
			return append(b, buf.Bytes()...)
		}
	}
	return append(b, data...)
}

// parseSince parses --since: EPOCH/TOPIC=SEQ,TOPIC=SEQ or a JSON map of
// topics to {"epoch","seq"}.
func parseSince(s string) (map[string]client.Position, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[string]client.Position{}
	if strings.HasPrefix(s, "{") {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("not a JSON map of topics to {\"epoch\":...,\"seq\":N}: %v", err)
		}
		return out, nil
	}
	epoch, rest, ok := strings.Cut(s, "/")
	if !ok || epoch == "" || rest == "" {
		return nil, fmt.Errorf("%q: want EPOCH/TOPIC=SEQ,TOPIC=SEQ,...", s)
	}
	for _, item := range strings.Split(rest, ",") {
		topic, seq, ok := strings.Cut(item, "=")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok || topic == "" || err != nil {
			return nil, fmt.Errorf("%q: want TOPIC=SEQ with SEQ a number", item)
		}
		out[topic] = client.Position{Epoch: epoch, Seq: n}
	}
	return out, nil
}

// formatSince is parseSince's first form for the positions of the most
// common epoch (after a reconnection, all of them).
func formatSince(pos map[string]client.Position) string {
	count := map[string]int{}
	best := ""
	for _, p := range pos {
		count[p.Epoch]++
		if count[p.Epoch] > count[best] || count[p.Epoch] == count[best] && p.Epoch < best {
			best = p.Epoch
		}
	}
	if best == "" {
		return ""
	}
	var items []string
	for t, p := range pos {
		if p.Epoch == best {
			items = append(items, t+"="+strconv.FormatUint(p.Seq, 10))
		}
	}
	sort.Strings(items)
	return best + "/" + strings.Join(items, ",")
}
