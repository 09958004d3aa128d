package stomp_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/c1mhq/c1m/poller"
	"github.com/c1mhq/c1m/proto/stomp"
)

func TestConnectNegotiation(t *testing.T) {
	r := newRig(t, stomp.Config{HeartBeatSend: 5 * time.Second, HeartBeatRecv: 7 * time.Second})
	c := r.dial(t)
	f := c.connect("accept-version:1.0,1.1,1.2", "heart-beat:1000,2000")
	if f.h["version"] != "1.2" || f.h["server"] != "c1m" || f.h["session"] == "" || f.h["heart-beat"] != "5000,7000" {
		t.Fatalf("CONNECTED %v", f.h)
	}
	// STOMP frame, 1.1 only, no heart-beat header.
	c = r.dial(t)
	c.send("STOMP\naccept-version:1.1\nhost:x\n\n\x00")
	if f := c.expect("CONNECTED"); f.h["version"] != "1.1" {
		t.Fatalf("version %q", f.h["version"])
	}
	// No accept-version: STOMP 1.0.
	c = r.dial(t)
	c.send("CONNECT\n\n\x00")
	if f := c.expect("CONNECTED"); f.h["version"] != "1.0" {
		t.Fatalf("version %q", f.h["version"])
	}
	// No common version.
	c = r.dial(t)
	c.send("CONNECT\naccept-version:2.0,3.1\nreceipt:r\n\n\x00")
	f = c.expectError("unsupported version")
	if f.h["version"] != "1.0,1.1,1.2" || !strings.Contains(f.body, "2.0,3.1") {
		t.Fatalf("ERROR %v %q", f.h, f.body)
	}
	// CONNECT headers are not unescaped: a backslash in a passcode is literal.
	infos := make(chan stomp.ConnectInfo, 1)
	r2 := newRig(t, stomp.Config{Connect: func(_ poller.Peer, info *stomp.ConnectInfo) (stomp.Grant, error) {
		infos <- *info
		return stomp.Grant{}, nil
	}})
	c = r2.dial(t)
	c.connect(`login:a\cb`, `passcode:p\nq`)
	if got := <-infos; got.Login != `a\cb` || got.Passcode != `p\nq` || got.Host != "test" {
		t.Fatalf("ConnectInfo %+v", got)
	}
}

func TestConnectRefused(t *testing.T) {
	r := newRig(t, stomp.Config{Connect: func(_ poller.Peer, info *stomp.ConnectInfo) (stomp.Grant, error) {
		if info.Passcode != "secret" {
			return stomp.Grant{}, fmt.Errorf("bad login %q", info.Login)
		}
		return stomp.Grant{Publish: true}, nil
	}})
	c := r.dial(t)
	c.send("CONNECT\naccept-version:1.2\nlogin:bob\npasscode:nope\n\n\x00")
	if f := c.expectError("authentication failed"); f.body != `bad login "bob"` {
		t.Fatalf("body %q", f.body)
	}
	if code, _ := c.waitClose(); code != 1008 {
		t.Fatalf("close %d", code)
	}
	c = r.dial(t)
	c.connect("login:bob", "passcode:secret")
}

// TestSubscribeSnapshotLive: the last value first (x-c1m-snap), then live
// messages, with every MESSAGE header; the RECEIPT carries the position.
func TestSubscribeSnapshotLive(t *testing.T) {
	r := newRig(t, stomp.Config{})
	if _, err := r.hub.Publish("md.AAPL.quote", []byte(`{"bid":1}`), 0); err != nil {
		t.Fatal(err)
	}
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:s\\c1", "destination:/topic/md.*.quote", "receipt:r1"))
	snap := c.expect("MESSAGE")
	want := map[string]string{
		"subscription": "s:1", "message-id": "md.AAPL.quote/1", "destination": "/topic/md.AAPL.quote",
		"content-type": "application/json", "content-length": "9", "x-c1m-epoch": r.hub.Epoch(),
		"x-c1m-seq": "1", "x-c1m-snap": "true",
	}
	for k, v := range want {
		if snap.h[k] != v {
			t.Fatalf("snapshot header %s=%q, want %q (%v)", k, snap.h[k], v, snap.h)
		}
	}
	if _, ok := snap.h["ack"]; ok || snap.body != `{"bid":1}` || snap.binary {
		t.Fatalf("snapshot %v %q binary=%v", snap.h, snap.body, snap.binary)
	}
	if rc := c.expect("RECEIPT"); rc.h["receipt-id"] != "r1" || rc.h["x-c1m-epoch"] != r.hub.Epoch() {
		t.Fatalf("RECEIPT %v", rc.h)
	}
	if _, err := r.hub.Publish("md.MSFT.quote", []byte(`[2]`), 0); err != nil {
		t.Fatal(err)
	}
	live := c.expect("MESSAGE")
	if live.h["destination"] != "/topic/md.MSFT.quote" || live.h["x-c1m-seq"] != "1" || live.body != "[2]" || live.h["x-c1m-snap"] != "" {
		t.Fatalf("live %v %q", live.h, live.body)
	}
	ts, err := strconv.ParseInt(live.h["x-c1m-ts"], 10, 64)
	if err != nil || time.Since(time.Unix(0, ts)) > time.Minute {
		t.Fatalf("x-c1m-ts %q", live.h["x-c1m-ts"])
	}
	// /queue/ is the same topic, named as subscribed.
	c.send(frameText("SUBSCRIBE", "", "id:q", "destination:/queue/md.MSFT.quote"))
	if q := c.expect("MESSAGE"); q.h["destination"] != "/queue/md.MSFT.quote" || q.h["subscription"] != "q" || q.h["x-c1m-snap"] != "true" {
		t.Fatalf("queue snapshot %v", q.h)
	}
	// Two subscriptions matching one topic: a MESSAGE each.
	if _, err := r.hub.Publish("md.MSFT.quote", []byte(`3`), 0); err != nil {
		t.Fatal(err)
	}
	subs := map[string]bool{}
	for range 2 {
		subs[c.expect("MESSAGE").h["subscription"]] = true
	}
	if !subs["s:1"] || !subs["q"] {
		t.Fatalf("subscriptions %v", subs)
	}
	// UNSUBSCRIBE with a receipt: nothing more for it.
	c.send(frameText("UNSUBSCRIBE", "", "id:s\\c1"), frameText("UNSUBSCRIBE", "", "id:q", "receipt:u"))
	c.expect("RECEIPT")
	if _, err := r.hub.Publish("md.MSFT.quote", []byte(`4`), 0); err != nil {
		t.Fatal(err)
	}
	c.send(frameText("SUBSCRIBE", "", "id:z", "destination:/topic/z", "receipt:z"))
	if f := c.next(); f.cmd != "RECEIPT" || f.h["receipt-id"] != "z" {
		t.Fatalf("after UNSUBSCRIBE got %s %v", f.cmd, f.h)
	}
}

// TestBinaryBodies: binary publishes that are not UTF-8 go in binary
// messages; frames are accepted in binary messages; SEND bodies that are
// not JSON are published as binary, with NUL octets via content-length.
func TestBinaryBodies(t *testing.T) {
	r := newRig(t, stomp.Config{ClientPublish: true})
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:0", "destination:/topic/b.>"))
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte("SEND\ndestination:/topic/b.x\ncontent-length:3\n\n\x00\xff\x00\x00")); err != nil {
		t.Fatal(err)
	}
	f := c.expect("MESSAGE")
	if !f.binary || f.body != "\x00\xff\x00" || f.h["content-type"] != "application/octet-stream" || f.h["content-length"] != "3" {
		t.Fatalf("binary MESSAGE binary=%v %v %q", f.binary, f.h, f.body)
	}
	c.send(frameText("SEND", "plain text", "destination:/topic/b.y", "content-type:text/plain"))
	if f := c.expect("MESSAGE"); f.binary || f.body != "plain text" || f.h["content-type"] != "application/octet-stream" {
		t.Fatalf("text MESSAGE binary=%v %v %q", f.binary, f.h, f.body)
	}
	c.send(frameText("SEND", `{"a":[1]}`, "destination:/topic/b.z", "receipt:s"))
	if f := c.expect("MESSAGE"); f.body != `{"a":[1]}` || f.h["content-type"] != "application/json" {
		t.Fatalf("JSON MESSAGE %v %q", f.h, f.body)
	}
	c.expect("RECEIPT")
}

// TestPublishRefused: SEND needs client publishing, and the session's grant.
func TestPublishRefused(t *testing.T) {
	r := newRig(t, stomp.Config{})
	c := r.dial(t)
	c.connect()
	c.send(frameText("SEND", "1", "destination:/topic/a", "receipt:x"))
	if f := c.expectError("publish refused"); f.h["receipt-id"] != "x" {
		t.Fatalf("ERROR %v", f.h)
	}
	r = newRig(t, stomp.Config{ClientPublish: true, Connect: func(poller.Peer, *stomp.ConnectInfo) (stomp.Grant, error) {
		return stomp.Grant{}, nil
	}})
	c = r.dial(t)
	c.connect()
	c.send(frameText("SEND", "1", "destination:/topic/a"))
	c.expectError("publish refused")
}

// TestClientAcks: prefetch-count bounds what is in flight; client-individual
// acks one message, client acks cumulatively, NACK frees a slot too.
func TestClientAcks(t *testing.T) {
	r := newRig(t, stomp.Config{})
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:i", "destination:/topic/k.i", "ack:client-individual", "prefetch-count:2", "receipt:r"))
	c.expect("RECEIPT")
	for i := 1; i <= 5; i++ {
		if _, err := r.hub.Publish("k.i", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	m1, m2 := c.expect("MESSAGE"), c.expect("MESSAGE")
	if m1.body != "1" || m2.body != "2" || m1.h["ack"] != "k.i/1/i" {
		t.Fatalf("first two: %v %q, %v %q", m1.h, m1.body, m2.h, m2.body)
	}
	// Nothing more until an ack: a RECEIPT comes first.
	c.send(frameText("SUBSCRIBE", "", "id:other", "destination:/topic/none", "receipt:probe"))
	if f := c.next(); f.cmd != "RECEIPT" {
		t.Fatalf("prefetch exceeded: %s %q", f.cmd, f.body)
	}
	c.send(frameText("ACK", "", "id:"+m2.h["ack"]))
	if m := c.expect("MESSAGE"); m.body != "3" {
		t.Fatalf("after ACK 2: %q", m.body)
	}
	c.send(frameText("NACK", "", "id:"+m1.h["ack"]))
	if m := c.expect("MESSAGE"); m.body != "4" {
		t.Fatalf("after NACK 1: %q", m.body)
	}
	// An id already acknowledged.
	c.send(frameText("ACK", "", "id:"+m2.h["ack"], "receipt:bad"))
	if f := c.expectError("unknown message"); f.h["receipt-id"] != "bad" {
		t.Fatalf("ERROR %v", f.h)
	}

	// client: cumulative.
	c = r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:c", "destination:/topic/k.c", "ack:client", "prefetch-count:3", "receipt:r"))
	c.expect("RECEIPT")
	for i := 1; i <= 6; i++ {
		if _, err := r.hub.Publish("k.c", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	var last frame
	for i := 1; i <= 3; i++ {
		last = c.expect("MESSAGE")
	}
	c.send(frameText("ACK", "", "id:"+last.h["ack"]))
	for i := 4; i <= 6; i++ {
		if m := c.expect("MESSAGE"); m.body != strconv.Itoa(i) {
			t.Fatalf("after cumulative ACK: %q, want %d", m.body, i)
		}
	}
	// ACK on an auto subscription, and a malformed id.
	c.send(frameText("SUBSCRIBE", "", "id:auto", "destination:/topic/k.c"))
	snap := c.expect("MESSAGE")
	c.send(frameText("ACK", "", "id:"+snap.h["message-id"]+"/auto"))
	c.expectError("unknown message")
}

// TestSlowSubscriber: past MaxPending the connection closes with 1008
// (or, with SlowDrop, the oldest waiting message goes).
func TestSlowSubscriber(t *testing.T) {
	r := newRig(t, stomp.Config{MaxPending: 3})
	c := r.dial(t)
	c.connect()
	bystander := r.dial(t)
	bystander.connect()
	bystander.send(frameText("SUBSCRIBE", "", "id:b", "destination:/topic/slow", "receipt:b"))
	bystander.expect("RECEIPT")
	c.send(frameText("SUBSCRIBE", "", "id:s", "destination:/topic/slow", "ack:client", "prefetch-count:1", "receipt:r"))
	c.expect("RECEIPT")
	for i := 1; i <= 5; i++ {
		if _, err := r.hub.Publish("slow", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if code, text := c.waitClose(); code != 1008 || !strings.Contains(text, "slow consumer") {
		t.Fatalf("close %d %q", code, text)
	}
	for i := 1; i <= 5; i++ {
		if m := bystander.expect("MESSAGE"); m.body != strconv.Itoa(i) {
			t.Fatalf("bystander got %q", m.body)
		}
	}
	if st := r.h.Stats(); st.SlowConsumers != 1 {
		t.Fatalf("stats %+v", st)
	}

	r = newRig(t, stomp.Config{MaxPending: 2, SlowPolicy: poller.SlowDrop})
	c = r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:s", "destination:/topic/slow", "ack:client-individual", "prefetch-count:1", "receipt:r"))
	c.expect("RECEIPT")
	for i := 1; i <= 5; i++ {
		if _, err := r.hub.Publish("slow", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	m := c.expect("MESSAGE") // 1 in flight; 2, 3 dropped; 4, 5 wait
	for _, want := range []string{"4", "5"} {
		c.send(frameText("ACK", "", "id:"+m.h["ack"]))
		if m = c.expect("MESSAGE"); m.body != want {
			t.Fatalf("after drops got %q, want %s", m.body, want)
		}
	}
	if st := r.h.Stats(); st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConflatedClientAcks: with conflation, what waits behind the prefetch
// window keeps only the latest message per topic.
func TestConflatedClientAcks(t *testing.T) {
	r := newRig(t, stomp.Config{})
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:s", "destination:/topic/cf.*", "ack:client-individual", "prefetch-count:1", "x-c1m-conflate:true", "receipt:r"))
	c.expect("RECEIPT")
	for i := 1; i <= 5; i++ {
		for _, topic := range []string{"cf.a", "cf.b"} {
			if _, err := r.hub.Publish(topic, []byte(strconv.Itoa(i)), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	for range 3 {
		m := c.expect("MESSAGE")
		got = append(got, m.h["destination"][len("/topic/"):]+"="+m.body)
		c.send(frameText("ACK", "", "id:"+m.h["ack"]))
	}
	if strings.Join(got, " ") != "cf.a=1 cf.b=5 cf.a=5" {
		t.Fatalf("conflated deliveries %v", got)
	}
}

// TestTransactions: SENDs and ACKs wait for COMMIT; ABORT drops them.
func TestTransactions(t *testing.T) {
	r := newRig(t, stomp.Config{ClientPublish: true})
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:s", "destination:/topic/tx.*", "ack:client-individual", "prefetch-count:1", "receipt:r"))
	c.expect("RECEIPT")
	c.send(frameText("BEGIN", "", "transaction:t1"),
		frameText("SEND", "1", "destination:/topic/tx.a", "transaction:t1"),
		frameText("SEND", "\x01", "destination:/topic/tx.b", "transaction:t1", "content-type:application/octet-stream"),
		frameText("BEGIN", "", "transaction:t2"),
		frameText("SEND", "99", "destination:/topic/tx.a", "transaction:t2"),
		frameText("ABORT", "", "transaction:t2", "receipt:aborted"))
	if f := c.next(); f.cmd != "RECEIPT" { // a MESSAGE first would be a publish before COMMIT
		t.Fatalf("before COMMIT got %s %v %q", f.cmd, f.h, f.body)
	}
	c.send(frameText("COMMIT", "", "transaction:t1", "receipt:c"))
	m := c.expect("MESSAGE")
	if m.body != "1" {
		t.Fatalf("first %q", m.body)
	}
	c.expect("RECEIPT")
	// A transactional ACK takes effect at COMMIT.
	c.send(frameText("BEGIN", "", "transaction:t3"), frameText("ACK", "", "id:"+m.h["ack"], "transaction:t3"), frameText("COMMIT", "", "transaction:t3"))
	if m := c.expect("MESSAGE"); m.body != "\x01" || m.h["destination"] != "/topic/tx.b" {
		t.Fatalf("second %v %q", m.h, m.body)
	}
	for _, bad := range []struct{ frames, message string }{
		{frameText("COMMIT", "", "transaction:nope"), "unknown transaction"},
		{frameText("BEGIN", "", "transaction:a") + frameText("BEGIN", "", "transaction:a"), "duplicate transaction"},
		{frameText("SEND", "1", "destination:/topic/tx.a", "transaction:nope"), "unknown transaction"},
		{frameText("BEGIN", ""), "missing header"},
	} {
		c := r.dial(t)
		c.connect()
		c.send(bad.frames)
		c.expectError(bad.message)
	}
}

// TestRecovery: a resubscription with x-c1m-since gets exactly what it
// missed, and the RECEIPT says recovered; an unknown epoch says not.
func TestRecovery(t *testing.T) {
	r := newRig(t, stomp.Config{})
	for i := 1; i <= 10; i++ {
		if _, err := r.hub.Publish("rc.a", []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := r.dial(t)
	c.connect()
	c.send(frameText("SUBSCRIBE", "", "id:s", "destination:/topic/rc.a", "x-c1m-since:"+r.hub.Epoch()+":6", "receipt:r"))
	for i := 7; i <= 10; i++ {
		if m := c.expect("MESSAGE"); m.body != strconv.Itoa(i) || m.h["x-c1m-snap"] != "" {
			t.Fatalf("recovered %v %q, want %d", m.h, m.body, i)
		}
	}
	if rc := c.expect("RECEIPT"); rc.h["x-c1m-recovered"] != "true" || rc.h["x-c1m-seq"] != "10" {
		t.Fatalf("RECEIPT %v", rc.h)
	}
	c.send(frameText("SUBSCRIBE", "", "id:w", "destination:/topic/rc.>", "x-c1m-since:OTHEREPOCH:rc.a=3", "receipt:w"))
	c.expect("MESSAGE") // the snapshot: recovery was impossible
	if rc := c.expect("RECEIPT"); rc.h["x-c1m-recovered"] != "false" || rc.h["x-c1m-unrecovered"] != "rc.a" {
		t.Fatalf("RECEIPT %v", rc.h)
	}
}

// TestMalformed: each bad input gets an ERROR naming it, and closes only
// its own connection.
func TestMalformed(t *testing.T) {
	r := newRig(t, stomp.Config{ClientPublish: true, MaxPublishBytes: 100, Limits: stomp.Limits{MaxFrameBytes: 66 << 10, MaxHeaders: 8, MaxHeaderBytes: 200}})
	bystander := r.dial(t)
	bystander.connect()
	bystander.send(frameText("SUBSCRIBE", "", "id:b", "destination:/topic/m", "receipt:b"))
	bystander.expect("RECEIPT")
	many := make([]string, 9)
	for i := range many {
		many[i] = fmt.Sprintf("h%d:v", i)
	}
	for _, tc := range []struct {
		name, input, message string
		connect              bool
	}{
		{"before CONNECT", frameText("SUBSCRIBE", "", "id:a", "destination:/topic/a"), "not connected", false},
		{"second CONNECT", frameText("CONNECT", "", "accept-version:1.2"), "already connected", true},
		{"unknown command", frameText("FOO", ""), "unknown command", true},
		{"lower-case command", frameText("send", ""), "unknown command", true},
		{"server frame", frameText("MESSAGE", ""), "unexpected frame", true},
		{"missing NUL", "SEND\ndestination:/topic/a\ncontent-length:1\n\nxy\x00", "missing NUL", true},
		{"bad content-length", "SEND\ndestination:/topic/a\ncontent-length:x\n\n\x00", "bad content-length", true},
		{"bad escape", frameText("SUBSCRIBE", "", "id:a\\tb", "destination:/topic/a"), "bad escape", true},
		{"header without colon", frameText("SUBSCRIBE", "", "id"), "bad header", true},
		{"missing id", frameText("SUBSCRIBE", "", "destination:/topic/a"), "missing header", true},
		{"missing destination", frameText("SUBSCRIBE", "", "id:a"), "missing header", true},
		{"SEND without destination", frameText("SEND", "1"), "missing header", true},
		{"duplicate id", frameText("SUBSCRIBE", "", "id:a", "destination:/topic/a") + frameText("SUBSCRIBE", "", "id:a", "destination:/topic/b"), "duplicate subscription", true},
		{"bad prefix", frameText("SUBSCRIBE", "", "id:a", "destination:/exchange/a"), "bad destination", true},
		{"bad pattern", frameText("SUBSCRIBE", "", "id:a", "destination:/topic/a..b"), "bad destination", true},
		{"wildcard SEND", frameText("SEND", "1", "destination:/topic/a.*"), "bad destination", true},
		{"bad ack mode", frameText("SUBSCRIBE", "", "id:a", "destination:/topic/a", "ack:sometimes"), "bad ack mode", true},
		{"ACK unknown", frameText("ACK", "", "id:a/1/x"), "unknown message", true},
		{"ACK garbage", frameText("ACK", "", "id:garbage"), "unknown message", true},
		{"ACK without id", frameText("ACK", ""), "missing header", true},
		{"bad since", frameText("SUBSCRIBE", "", "id:a", "destination:/topic/a", "x-c1m-since:nonsense"), "bad x-c1m-since", true},
		{"bad heart-beat", "CONNECT\naccept-version:1.2\nheart-beat:x\n\n\x00", "bad heart-beat", false},
		{"too large", frameText("SEND", strings.Repeat("x", 70<<10), "destination:/topic/a"), "frame too large", true},
		{"publish too large", frameText("SEND", strings.Repeat("1", 200), "destination:/topic/a"), "message too large", true},
		{"too many headers", frameText("SEND", "1", many...), "too many headers", true},
		{"header too long", frameText("SEND", "1", "destination:/topic/"+strings.Repeat("a", 300)), "header too long", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := r.dial(t)
			if tc.connect {
				c.connect()
			}
			c.send(tc.input)
			f := c.expect("ERROR")
			if tc.message != "" && f.h["message"] != tc.message {
				t.Fatalf("ERROR message %q (%q), want %q", f.h["message"], f.body, tc.message)
			}
			if f.body == "" || f.h["content-length"] != strconv.Itoa(len(f.body)) {
				t.Fatalf("ERROR without its detail: %v %q", f.h, f.body)
			}
			if code, _ := c.waitClose(); code == 0 {
				t.Fatal("no close frame")
			}
		})
	}
	if _, err := r.hub.Publish("m", []byte("42"), 0); err != nil {
		t.Fatal(err)
	}
	if m := bystander.expect("MESSAGE"); m.body != "42" {
		t.Fatalf("bystander %q", m.body)
	}
}

// TestSplitFrames: the same stream split at every byte boundary, and one
// byte per message, gives the same frames.
func TestSplitFrames(t *testing.T) {
	r := newRig(t, stomp.Config{ClientPublish: true})
	stream := "CONNECT\naccept-version:1.2\nhost:h\n\n\x00\n" +
		frameText("SUBSCRIBE", "", "id:a\\cb", "destination:/topic/sp.x", "receipt:r") + "\r\n\n" +
		"SEND\ndestination:/topic/sp.x\ncontent-length:4\n\n\"\x00\"\"\x00" +
		frameText("DISCONNECT", "", "receipt:bye")
	check := func(t *testing.T, c *client) {
		t.Helper()
		c.expect("CONNECTED")
		c.expect("RECEIPT")
		if m := c.expect("MESSAGE"); m.body != "\"\x00\"\"" || m.h["subscription"] != "a:b" {
			t.Fatalf("MESSAGE %v %q", m.h, m.body)
		}
		if f := c.expect("RECEIPT"); f.h["receipt-id"] != "bye" {
			t.Fatalf("RECEIPT %v", f.h)
		}
		if code, _ := c.waitClose(); code != 1000 {
			t.Fatalf("close %d after DISCONNECT", code)
		}
	}
	for i := 1; i <= len(stream); i++ { // len(stream): one byte per message
		topic := "sp.x" + strconv.Itoa(i) // a fresh topic: no snapshot
		s := strings.ReplaceAll(stream, "sp.x", topic)
		c := r.dial(t)
		if i < len(stream) {
			c.send(s[:i], s[i:])
		} else {
			for j := range len(s) {
				c.send(s[j : j+1])
			}
		}
		check(t, c)
	}
}

// TestHeartBeats: the server sends EOLs at the negotiated rate and closes a
// client that falls silent for twice its interval.
func TestHeartBeats(t *testing.T) {
	r := newRig(t, stomp.Config{HeartBeatSend: 30 * time.Millisecond, HeartBeatRecv: 40 * time.Millisecond})
	c := r.dial(t)
	f := c.connect("heart-beat:40,30")
	if f.h["heart-beat"] != "30,40" {
		t.Fatalf("heart-beat %q", f.h["heart-beat"])
	}
	// The client keeps beating: the server keeps beating too, and keeps it.
	deadline := time.Now().Add(5 * time.Second)
	for c.beats.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d heart-beats in 5s", c.beats.Load())
		}
		c.send("\n")
		time.Sleep(20 * time.Millisecond) // the client's heart-beat period
	}
	select {
	case <-c.closed:
		t.Fatal("closed while beating")
	default:
	}
	// Silence: closed with 1008 after about 80ms.
	start := time.Now()
	code, text := c.waitClose()
	if code != 1008 || !strings.Contains(text, "heart-beat") {
		t.Fatalf("close %d %q", code, text)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Fatalf("closed after %v, before twice the interval", el)
	}
	if st := r.h.Stats(); st.HeartbeatLost != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Without a client heart-beat, silence is fine.
	c = r.dial(t)
	c.connect("heart-beat:0,0")
	c.send(frameText("SUBSCRIBE", "", "id:a", "destination:/topic/hb", "receipt:r"))
	c.expect("RECEIPT")
	if c.beats.Load() != 0 {
		t.Fatal("heart-beats to a client that wants none")
	}
}

// TestConnectTimeout: no CONNECT in time closes the connection.
func TestConnectTimeout(t *testing.T) {
	r := newRig(t, stomp.Config{ConnectTimeout: 50 * time.Millisecond})
	c := r.dial(t)
	if code, text := c.waitClose(); code != 1008 || !strings.Contains(text, "CONNECT") {
		t.Fatalf("close %d %q", code, text)
	}
}

// TestManySubscriptions: past the few a session keeps in a list, ids are
// still found for ACK, UNSUBSCRIBE and duplicates, and MaxSubs holds.
func TestManySubscriptions(t *testing.T) {
	r := newRig(t, stomp.Config{MaxSubs: 12})
	c := r.dial(t)
	c.connect()
	for i := range 12 {
		c.send(frameText("SUBSCRIBE", "", "id:s"+strconv.Itoa(i), "destination:/topic/many."+strconv.Itoa(i), "ack:client-individual"))
	}
	c.send(frameText("UNSUBSCRIBE", "", "id:s3"), frameText("UNSUBSCRIBE", "", "id:s10", "receipt:u"))
	c.expect("RECEIPT")
	for _, i := range []int{3, 10, 11} {
		if _, err := r.hub.Publish("many."+strconv.Itoa(i), []byte(strconv.Itoa(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	m := c.expect("MESSAGE")
	if m.h["subscription"] != "s11" {
		t.Fatalf("MESSAGE for %q", m.h["subscription"])
	}
	c.send(frameText("ACK", "", "id:"+m.h["ack"], "receipt:a"))
	c.expect("RECEIPT")
	c.send(frameText("SUBSCRIBE", "", "id:s3", "destination:/topic/many.3", "receipt:again"))
	if f := c.expect("MESSAGE"); f.h["subscription"] != "s3" || f.h["x-c1m-snap"] != "true" {
		t.Fatalf("resubscribed %v", f.h)
	}
	c.expect("RECEIPT")
	c.send(frameText("SUBSCRIBE", "", "id:s4", "destination:/topic/x"))
	c.expectError("duplicate subscription")
	c = r.dial(t)
	c.connect()
	for i := range 13 {
		c.send(frameText("SUBSCRIBE", "", "id:s"+strconv.Itoa(i), "destination:/topic/many.x"))
	}
	c.expectError("too many subscriptions")
}
