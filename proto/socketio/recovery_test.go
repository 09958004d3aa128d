package socketio_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/internal/testutil"
	"github.com/c1mhq/c1m/proto/engineio"
	"github.com/c1mhq/c1m/proto/socketio"
)

// delivery is a "msg" event as a recovering client sees it.
type delivery struct {
	Topic  string
	Seq    uint64
	Snap   bool
	Offset string
}

func parseDelivery(t *testing.T, pkt string) delivery {
	t.Helper()
	if !strings.HasPrefix(pkt, `42["msg",`) {
		t.Fatalf("not a delivery: %q", pkt)
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(pkt[2:]), &args); err != nil || len(args) != 3 {
		t.Fatalf("delivery %q: %v (%d args, want 3: name, delivery, offset)", pkt, err, len(args))
	}
	var m struct {
		Topic string
		Seq   uint64
		Snap  bool
	}
	var d delivery
	if json.Unmarshal(args[1], &m) != nil || json.Unmarshal(args[2], &d.Offset) != nil {
		t.Fatalf("delivery %q", pkt)
	}
	d.Topic, d.Seq, d.Snap = m.Topic, m.Seq, m.Snap
	return d
}

// connectAnswer reads the CONNECT answer: sid and pid.
func connectAnswer(t *testing.T, c *client) (sid, pid string) {
	t.Helper()
	pkt := c.expectPrefix(`40{`)
	var a struct{ SID, PID string }
	if err := json.Unmarshal([]byte(pkt[2:]), &a); err != nil || a.SID == "" {
		t.Fatalf("CONNECT answer %q", pkt)
	}
	return a.SID, a.PID
}

// cut ends the client's session as a lost transport does: a WebSocket is
// closed without a close frame; a polling client sends the close packet.
func cut(t *testing.T, c *client) {
	t.Helper()
	if c.ws != nil {
		c.ws.Close()
		return
	}
	c.send("1")
}

func topicPrefix(sid string) string {
	return "rc." + strings.NewReplacer("-", "x", "_", "y").Replace(sid[:6])
}

// TestRecoveryExact: a client cut after receiving part of what was queued
// reconnects with its pid and last offset, gets the same sid and pid back
// (recovered), then exactly the deliveries it did not get, on every topic
// (two exact, one through a wildcard), and the live stream; twice in a row.
func TestRecoveryExact(t *testing.T) {
	r := newRig(t, socketio.Config{Recovery: time.Minute}, engineio.Config{})
	srv := r.eio.Config().Handler.(*socketio.Server)
	epoch := r.hub.Epoch()
	transports(t, r, func(t *testing.T, c *client) {
		pre := topicPrefix(c.sid)
		ta, tb, tw := pre+".a", pre+".b", pre+".w.x"
		r.publish(t, ta, "0")
		r.publish(t, tw, "0")
		c.send("40")
		sid, pid := connectAnswer(t, c)
		if pid == "" {
			t.Fatal("no pid in the CONNECT answer")
		}
		c.send(`420["subscribe",["` + ta + `","` + tb + `","` + pre + `.w.*"]]`)
		got := map[string][]uint64{}
		var last string
		take := func(c *client, n int) {
			t.Helper()
			for i := 0; i < n; {
				pkt := c.next()
				if strings.HasPrefix(pkt, "430") {
					continue
				}
				d := parseDelivery(t, pkt)
				if want := epoch + "/" + d.Topic + "=" + strconv.FormatUint(d.Seq, 10); d.Offset != want {
					t.Fatalf("offset %q, want %q", d.Offset, want)
				}
				got[d.Topic] = append(got[d.Topic], d.Seq)
				last = d.Offset
				i++
			}
		}
		take(c, 2) // the snapshots of ta and tw
		pub := func(n int) {
			for i := 0; i < n; i++ {
				for _, tp := range []string{ta, tb, tw} {
					r.publish(t, tp, strconv.Itoa(i))
				}
			}
		}
		for round := 0; round < 2; round++ {
			pub(10)     // 30 queued
			take(c, 13) // some received, the rest lost with the transport
			cut(t, c)
			testutil.WaitFor(t, 5*time.Second, "the state kept", func() bool { return socketio.Records(srv) == 1 })
			pub(5) // published while disconnected
			if c.ws != nil {
				c = r.websocket(t)
			} else {
				c = r.polling(t)
			}
			c.send(`40{"pid":"` + pid + `","offset":"` + last + `"}`)
			if s2, p2 := connectAnswer(t, c); s2 != sid || p2 != pid {
				t.Fatalf("round %d: CONNECT answer sid %q pid %q, want %q %q (recovered)", round, s2, p2, sid, pid)
			}
			if socketio.Records(srv) != 0 || socketio.RecordBytes(srv) != 0 {
				t.Fatal("the record outlived its recovery")
			}
			// Everything published so far, exactly once, in order per topic.
			want := uint64(1 + 15*(round+1)) // ta and tw had a value first
			for len(got[ta]) == 0 || got[ta][len(got[ta])-1] < want || got[tw][len(got[tw])-1] < want || got[tb][len(got[tb])-1] < want-1 {
				take(c, 1)
			}
			for tp, seqs := range got {
				first := uint64(1)
				for i, s := range seqs {
					if s != first+uint64(i) {
						t.Fatalf("round %d: %s got %v: not exactly once in order", round, tp, seqs)
					}
				}
			}
		}
		// Live deliveries continue.
		r.publish(t, tb, "31")
		take(c, 1)
		if s := got[tb]; s[len(s)-1] != 31 {
			t.Fatalf("live: %s got %v", tb, s)
		}
	})
}

// TestRecoveryRefused: the client gets a new pid (not recovered) and no
// subscriptions when the history no longer covers the gap, when the state
// expired, when the offset is not one the server remembers (too many
// deliveries queued after it), and for an unknown pid (a restart).
func TestRecoveryRefused(t *testing.T) {
	cases := []struct {
		name   string
		hcfg   hub.Config
		cfg    socketio.Config
		before int // publishes queued before the cut
		after  int // publishes while disconnected
		pid    func(pid string) string
	}{
		{name: "history gone", hcfg: hub.Config{HistorySize: 4}, cfg: socketio.Config{Recovery: time.Minute}, before: 2, after: 10},
		{name: "offset forgotten", cfg: socketio.Config{Recovery: time.Minute, RecoveryLog: 4}, before: 20, after: 1},
		{name: "expired", cfg: socketio.Config{Recovery: 200 * time.Millisecond}, before: 2, after: 1},
		{name: "memory bound", cfg: socketio.Config{Recovery: time.Minute, RecoveryMaxBytes: 1}, before: 2, after: 1},
		{name: "unknown pid", cfg: socketio.Config{Recovery: time.Minute}, before: 2, after: 1, pid: func(string) string { return "restarted" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigHub(t, tc.hcfg, tc.cfg, engineio.Config{})
			srv := r.eio.Config().Handler.(*socketio.Server)
			transports(t, r, func(t *testing.T, c *client) {
				topic := topicPrefix(c.sid) + ".t"
				c.send("40")
				sid, pid := connectAnswer(t, c)
				c.send(`420["subscribe","` + topic + `"]`)
				c.expectPrefix(`430[{"op":"ok"`)
				for i := 0; i < tc.before; i++ {
					r.publish(t, topic, strconv.Itoa(i))
				}
				d := parseDelivery(t, c.next()) // only the first is received
				kept := socketio.Records(srv)
				sessions := r.eio.Sessions()
				cut(t, c)
				if tc.name == "memory bound" {
					testutil.WaitFor(t, 5*time.Second, "the session closed", func() bool { return r.eio.Sessions() == sessions-1 })
					if n := socketio.Records(srv); n != 0 {
						t.Fatalf("%d records kept past the memory bound", n)
					}
				} else {
					testutil.WaitFor(t, 5*time.Second, "the state kept", func() bool { return socketio.Records(srv) == kept+1 })
				}
				if tc.name == "expired" {
					testutil.WaitFor(t, 5*time.Second, "the state dropped", func() bool { return socketio.Records(srv) == 0 })
				}
				for i := 0; i < tc.after; i++ {
					r.publish(t, topic, strconv.Itoa(i))
				}
				subs := r.hub.Stats().Subscriptions
				if c.ws != nil {
					c = r.websocket(t)
				} else {
					c = r.polling(t)
				}
				usePid := pid
				if tc.pid != nil {
					usePid = tc.pid(pid)
				}
				c.send(fmt.Sprintf(`40{"pid":%q,"offset":%q}`, usePid, d.Offset))
				s2, p2 := connectAnswer(t, c)
				if s2 == sid || p2 == pid || p2 == "" {
					t.Fatalf("CONNECT answer sid %q pid %q: want a new sid and pid (not recovered)", s2, p2)
				}
				if n := r.hub.Stats().Subscriptions; n != subs {
					t.Fatalf("%d subscriptions after a refused recovery, want %d (none restored)", n, subs)
				}
				// The client subscribes again and gets the last value.
				c.send(`421["subscribe","` + topic + `"]`)
				if d := parseDelivery(t, c.next()); !d.Snap {
					t.Fatalf("after resubscribing: %+v, want the snapshot", d)
				}
			})
		})
	}
}

// TestRecoveryOffMeansNoOffsets: without Recovery, deliveries have no
// offset argument and the CONNECT answer no pid.
func TestRecoveryOffMeansNoOffsets(t *testing.T) {
	r := newRig(t, socketio.Config{}, engineio.Config{})
	c := r.websocket(t)
	c.send(`40{"pid":"x","offset":"y"}`)
	if pkt := c.expectPrefix(`40{"sid":"`); strings.Contains(pkt, "pid") {
		t.Fatalf("CONNECT answer %q has a pid", pkt)
	}
}

// TestRecoveryBinaryOffset: a binary delivery carries its offset after the
// delivery object too, in namespace /md as in /.
func TestRecoveryBinaryOffset(t *testing.T) {
	r := newRig(t, socketio.Config{Recovery: time.Minute, Namespaces: []string{"/", "/md"}}, engineio.Config{})
	epoch := r.hub.Epoch()
	c := r.websocket(t)
	topic := topicPrefix(c.sid) + ".bin"
	c.send("40/md,")
	c.expectPrefix(`40/md,{"sid":"`)
	c.send(`42/md,1["subscribe","` + topic + `"]`)
	c.expectPrefix(`43/md,1[{"op":"ok"`)
	if _, err := r.hub.PublishBinary(topic, []byte{0, 1, 2}, 7); err != nil {
		t.Fatal(err)
	}
	c.expect(`451-/md,["msg",{"op":"msg","topic":"` + topic + `","seq":1,"ts":7,"binary":true,"data":{"_placeholder":true,"num":0}},"` + epoch + "/" + topic + `=1"]`)
	c.expect("bAAEC")
}

// TestRecoveryTakesOver: a CONNECT with the pid of a socket whose
// connection the server still has (a polling client between requests, a
// half-open TCP connection) ends that socket and recovers its state.
func TestRecoveryTakesOver(t *testing.T) {
	r := newRig(t, socketio.Config{Recovery: time.Minute}, engineio.Config{})
	old := r.websocket(t)
	topic := topicPrefix(old.sid) + ".to"
	old.send("40")
	sid, pid := connectAnswer(t, old)
	old.send(`420["subscribe","` + topic + `"]`)
	old.expectPrefix(`430[{"op":"ok"`)
	for i := 1; i <= 5; i++ {
		r.publish(t, topic, strconv.Itoa(i))
	}
	parseDelivery(t, old.next())
	d := parseDelivery(t, old.next()) // got 1 and 2; 3..5 are queued
	c := r.websocket(t)
	c.send(`40{"pid":"` + pid + `","offset":"` + d.Offset + `"}`)
	if s2, p2 := connectAnswer(t, c); s2 != sid || p2 != pid {
		t.Fatalf("CONNECT answer sid %q pid %q, want %q %q (recovered)", s2, p2, sid, pid)
	}
	for want := uint64(3); want <= 5; want++ {
		if d := parseDelivery(t, c.next()); d.Seq != want {
			t.Fatalf("got seq %d, want %d", d.Seq, want)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "the old session closed", func() bool { return r.eio.Sessions() == 1 })
}
