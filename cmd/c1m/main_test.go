package main

import (
	"bytes"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHelpListsEveryFlagWithItsEnvironmentVariable(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	help := out.String()
	names := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1)
	if len(names) < 25 {
		t.Fatalf("help lists %d flags:\n%s", len(names), help)
	}
	for _, n := range names {
		if !strings.Contains(help, "(env "+envName(n[1])+")") {
			t.Errorf("flag --%s does not name %s", n[1], envName(n[1]))
		}
	}
	for _, want := range []string{"addr", "max-conns", "slow-policy", "publish-token", "demo", "history-size", "conflate",
		"sockjs-off", "sockjs-heartbeat", "sockjs-disconnect-delay", "sockjs-response-limit", "sockjs-cookie-needed", "sockjs-client-url"} {
		if !strings.Contains(help, "  -"+want) {
			t.Errorf("help does not list --%s", want)
		}
	}
}

func TestEnvironmentFallbackAndFlagPrecedence(t *testing.T) {
	t.Setenv("C1M_ADDR", "127.0.0.1:9999")
	t.Setenv("C1M_MAX_CONNS", "42")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	addr := e.str("addr", ":8080", "")
	maxConns := e.integer("max-conns", 0, "")
	if err := fs.Parse([]string{"--max-conns", "7"}); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:9999" {
		t.Errorf("addr = %q, want the environment's", *addr)
	}
	if *maxConns != 7 {
		t.Errorf("max-conns = %d, want the flag's 7", *maxConns)
	}
}

func TestBadInputExitsWithUsageError(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--slow-policy", "maybe"}, &out); code != 2 || !strings.Contains(out.String(), "slow consumer policy") {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
	t.Setenv("C1M_MAX_CONNS", "lots")
	out.Reset()
	if code := run(nil, &out); code != 2 || !strings.Contains(out.String(), "C1M_MAX_CONNS") {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
}

func TestStrayArgumentsAreRefused(t *testing.T) {
	var out bytes.Buffer
	// "-demo false" looks like a flag with a value but parses as -demo plus
	// the stray argument "false": refuse it rather than start with the demo.
	if code := run([]string{"-demo", "false"}, &out); code != 2 || !strings.Contains(out.String(), `unexpected argument "false"`) {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
}

func TestParseHeartBeat(t *testing.T) {
	for _, tc := range []struct {
		in         string
		send, recv time.Duration
		ok         bool
	}{
		{"10s,10s", 10 * time.Second, 10 * time.Second, true},
		{"0,5s", -1, 5 * time.Second, true},
		{" 250ms , 0 ", 250 * time.Millisecond, -1, true},
		{"10s", 0, 0, false},
		{"x,1s", 0, 0, false},
		{"-1s,1s", 0, 0, false},
	} {
		send, recv, err := parseHeartBeat(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (send != tc.send || recv != tc.recv)) {
			t.Errorf("parseHeartBeat(%q) = %v, %v, %v", tc.in, send, recv, err)
		}
	}
}
