package sse

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/c1mhq/c1m/hub"
	"github.com/c1mhq/c1m/wsframe"
)

func encode(m hub.Msg, v string) string {
	p := wsframe.AcquirePrepared()
	defer p.Release()
	NewFormat("E").Encode(p, &m, v)
	return string(p.Bytes())
}

func TestEncodeVariants(t *testing.T) {
	m := hub.Msg{Topic: "md.A", Seq: 7, TS: 42, Data: []byte(`{"bid":1}`)}
	const ev = "data: {\"op\":\"msg\",\"topic\":\"md.A\",\"seq\":7,\"ts\":42,\"data\":{\"bid\":1}}\n"
	const id = "id: E/md.A=7\n\n"
	for v, want := range map[string]string{
		"ro": ev,
		"rt": ev + "\n",
		"ri": ev + id,
		"co": strconv.FormatInt(int64(len(ev)), 16) + "\r\n" + ev + "\r\n",
		"ct": strconv.FormatInt(int64(len(ev)+1), 16) + "\r\n" + ev + "\n\r\n",
		"ci": strconv.FormatInt(int64(len(ev+id)), 16) + "\r\n" + ev + id + "\r\n",
	} {
		if got := encode(m, v); got != want {
			t.Errorf("variant %q:\n got %q\nwant %q", v, got, want)
		}
	}
}

func TestEncodeSnapBinaryAndLineBreaks(t *testing.T) {
	got := encode(hub.Msg{Topic: "b.A", Seq: 1, TS: 2, Snap: true, Binary: true, Data: []byte{0, 1, 0xff}}, "ro")
	if got != "data: {\"op\":\"msg\",\"topic\":\"b.A\",\"seq\":1,\"ts\":2,\"snap\":true,\"binary\":true,\"data\":\"AAH/\"}\n" {
		t.Fatalf("binary: %q", got)
	}
	got = encode(hub.Msg{Topic: "j.A", Seq: 1, Data: []byte("{\n \"a\": \"x\\ny\",\r\n \"b\": [1,\n2]\n}")}, "ro")
	line := strings.TrimSuffix(strings.TrimPrefix(got, "data: "), "\n")
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("data line breaks: %q", got)
	}
	var v struct {
		Data struct {
			A string
			B []int
		}
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil || v.Data.A != "x\ny" || len(v.Data.B) != 2 {
		t.Fatalf("decoded %+v, %v from %q", v, err, line)
	}
}
