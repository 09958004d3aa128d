package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/c1mhq/c1m/client"
)

func runPub(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m pub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultURL(), "server URL (http, https, ws or wss) (env C1M_URL)")
	token := fs.String("token", os.Getenv("C1M_TOKEN"), "publish token, sent as Authorization: Bearer (the server's --publish-token) (env C1M_TOKEN)")
	overWS := fs.Bool("ws", false, "publish over the WebSocket (op pub; the server needs --client-publish) instead of POST /publish")
	binary := fs.Bool("binary", false, "publish DATA (or each line) as bytes, not JSON")
	rate := fs.Float64("rate", 0, "with standard input: at most this many messages per second (0 = as fast as the server answers)")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the connection and for each answer")
	tlsConfig := tlsFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `c1m pub: publish to a topic

Usage: c1m pub [flags] TOPIC [DATA]

DATA is any JSON value ('{"bid":1}', 42, '"text"'), or bytes with --binary.
Without DATA, every non-empty line of standard input is one message. Each
publish waits for the server's answer and prints it:
  TOPIC seq=N   (HTTP: the seq the message got)
  TOPIC ok      (WebSocket: the server's ok)
The first refusal or failure stops c1m pub.

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
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "c1m pub: "+format+"\n", a...)
		return exitBadInput
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return bad("want TOPIC and at most one DATA, got %d arguments (see c1m pub --help; quote DATA that has spaces)", fs.NArg())
	}
	topic := fs.Arg(0)
	if *rate < 0 {
		return bad("--rate must be >= 0")
	}
	if _, err := client.HTTPURL(*url); err != nil {
		return bad("--url: %s", strings.TrimPrefix(err.Error(), "c1m: "))
	}
	tc, err := tlsConfig()
	if err != nil {
		return bad("--ca: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc}}
	check := func(what string, data []byte) bool {
		if !*binary && !json.Valid(data) {
			bad("%s is not JSON: quote text as '\"text\"', or use --binary", what)
			return false
		}
		return true
	}
	var next func() ([]byte, string, bool, error) // data, what, ok, error
	if fs.NArg() == 2 {
		data := []byte(fs.Arg(1))
		if !check("DATA", data) {
			return exitBadInput
		}
		sent := false
		next = func() ([]byte, string, bool, error) {
			if sent {
				return nil, "", false, nil
			}
			sent = true
			return data, "DATA", true, nil
		}
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		line := 0
		next = func() ([]byte, string, bool, error) {
			for sc.Scan() {
				line++
				if b := sc.Bytes(); len(strings.TrimSpace(string(b))) > 0 {
					return b, "line " + strconv.Itoa(line), true, nil
				}
			}
			return nil, "", false, sc.Err()
		}
	}

	var c *client.Client
	if *overWS {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		var err error
		c, err = client.Dial(ctx, *url, client.Options{Token: *token, TLSConfig: tc, PublishBuffer: -1})
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "c1m pub:", strings.TrimPrefix(err.Error(), "c1m: "))
			return exitFor(err)
		}
		defer c.Close()
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	start := time.Now()
	for n := 0; ; n++ {
		data, what, ok, err := next()
		if err != nil {
			fmt.Fprintln(stderr, "c1m pub: reading standard input:", err)
			return exitIO
		}
		if !ok {
			return exitOK
		}
		if !check(what, data) {
			return exitBadInput
		}
		if *rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(n) / *rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		var answer string
		if c != nil {
			if *binary {
				err = c.PublishBinary(ctx, topic, data)
			} else {
				err = c.Publish(ctx, topic, data)
			}
			answer = topic + " ok"
		} else {
			var seq uint64
			seq, err = client.PublishHTTP(ctx, hc, *url, *token, topic, data, *binary)
			answer = topic + " seq=" + strconv.FormatUint(seq, 10)
		}
		cancel()
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "c1m: ")
			if errors.Is(err, context.DeadlineExceeded) {
				msg = "no answer within --timeout " + timeout.String() + " (the message may or may not be published)"
			}
			out.Flush()
			fmt.Fprintf(stderr, "c1m pub: %s: %s\n", what, msg)
			return exitFor(err)
		}
		fmt.Fprintln(out, answer)
		if err := out.Flush(); err != nil {
			return exitIO
		}
	}
}
