package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/c1mhq/c1m/auth"
	"github.com/c1mhq/c1m/server"
)

// The admin listener serves pprof, metrics, stats, the connection listing
// and the operator page; the public listener serves none of them.
func TestAdminListener(t *testing.T) {
	s, addr := start(t, server.Config{AdminAddr: "127.0.0.1:0"})
	admin := "http://" + s.AdminAddr().String()
	for range 3 {
		dial(t, addr)
	}
	get := func(url string) (int, string) {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	var cl server.Connections
	waitFor(t, 5*time.Second, "3 connections listed", func() bool {
		_, body := get(admin + "/connections")
		if err := json.Unmarshal([]byte(body), &cl); err != nil {
			t.Fatalf("/connections: %v: %s", err, body)
		}
		return cl.Total == 3
	})
	if cl.IPs != 1 || len(cl.ByIP) != 1 || cl.ByIP[0] != (server.IPCount{IP: "127.0.0.1", Conns: 3}) ||
		cl.ByPath["/ws"] != 3 || len(cl.ByUser) != 0 {
		t.Fatalf("listing %+v", cl)
	}
	checks := []struct{ path, want string }{
		{"/metrics", "c1m_connections 3"},
		{"/stats", `"conns":3`},
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/cmdline", ""},
		{"/", `id="c-conns"`},
		{"/admin.js", "c1mCharts"},
		{"/readyz", "ready"},
	}
	for _, c := range checks {
		st, body := get(admin + c.path)
		if st != 200 || !strings.Contains(body, c.want) {
			t.Errorf("admin %s: %d %.200q, want 200 with %q", c.path, st, body, c.want)
		}
	}
	if st, _ := get(admin + "/connections?top=0"); st != 400 {
		t.Errorf("top=0: %d, want 400", st)
	}
	for _, p := range []string{"/connections", "/debug/pprof/", "/admin.js"} {
		if st, _ := get("http://" + addr + p); st != 404 {
			t.Errorf("public listener %s: %d, want 404", p, st)
		}
	}
}

// With authentication, the listing counts native connections per user.
func TestAdminListingByUser(t *testing.T) {
	cfg := authCfg(auth.ModeOptional)
	cfg.AdminAddr = "127.0.0.1:0"
	s, addr := start(t, cfg)
	dialToken(t, addr, token(t, "alice", time.Hour, []string{">"}, nil))
	dialToken(t, addr, token(t, "alice", time.Hour, []string{">"}, nil))
	dialToken(t, addr, token(t, "bob", time.Hour, []string{">"}, nil))
	dial(t, addr) // anonymous
	want := []server.UserCount{{User: "alice", Conns: 2}, {User: "bob", Conns: 1}}
	var cl server.Connections
	waitFor(t, 5*time.Second, "4 connections listed", func() bool {
		r, err := http.Get("http://" + s.AdminAddr().String() + "/connections")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		cl = server.Connections{}
		if err := json.NewDecoder(r.Body).Decode(&cl); err != nil {
			t.Fatal(err)
		}
		return cl.Total == 4
	})
	if len(cl.ByUser) != 2 || cl.ByUser[0] != want[0] || cl.ByUser[1] != want[1] {
		t.Fatalf("by user %+v, want %+v", cl.ByUser, want)
	}
}
