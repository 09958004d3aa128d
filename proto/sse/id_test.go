package sse

import (
	"strconv"
	"testing"

	"github.com/c1mhq/c1m/hub"
)

func TestIDRoundTrip(t *testing.T) {
	var ps positions
	ps.epoch = "k3v9"
	if got := string(ps.appendID(nil)); got != "k3v9/" {
		t.Fatalf("empty: %q", got)
	}
	ps.set("md.AAPL.quote", 7)
	ps.set("md.MSFT.trade", 3)
	ps.set("md.AAPL.quote", 9)
	ps.set("md.AAPL.quote", 8) // never goes back
	id := string(ps.appendID(nil))
	if id != "k3v9/md.AAPL.quote=9,md.MSFT.trade=3" {
		t.Fatalf("id %q", id)
	}
	since, ok := parseID(id)
	want := map[string]hub.Position{"md.AAPL.quote": {Epoch: "k3v9", Seq: 9}, "md.MSFT.trade": {Epoch: "k3v9", Seq: 3}}
	if !ok || len(since) != len(want) || since["md.AAPL.quote"] != want["md.AAPL.quote"] || since["md.MSFT.trade"] != want["md.MSFT.trade"] {
		t.Fatalf("parse %q: %v %v", id, since, ok)
	}
	if s, ok := parseID("k3v9/"); !ok || len(s) != 0 {
		t.Fatalf("empty id: %v %v", s, ok)
	}
}

func TestIDBound(t *testing.T) {
	ps := positions{epoch: "e"}
	for i := range MaxTracked {
		if !ps.set("t."+strconv.Itoa(i), 1) {
			t.Fatalf("topic %d refused", i)
		}
	}
	if ps.set("t.extra", 1) {
		t.Fatal("topic past MaxTracked accepted")
	}
	if !ps.set("t.0", 2) {
		t.Fatal("a tracked topic must keep updating")
	}
}

func TestParseIDRejectsForeignIDs(t *testing.T) {
	for _, id := range []string{"", "42", "/a=1", "e/a", "e/a=x", "e/a..b=1", "e/a=1,", "e/a=-1"} {
		if _, ok := parseID(id); ok {
			t.Errorf("%q accepted", id)
		}
	}
}
