package sockjs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in     string
		single bool
		want   []string
		err    error
	}{
		{`[]`, false, nil, nil},
		{` [ "a" , "b" ] `, false, []string{"a", "b"}, nil},
		{`["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]`, false, []string{"\"\\/\b\f\n\r\t\u00e9\U0001F600"}, nil},
		{`["é"]`, false, []string{"é"}, nil},
		{`"x"`, true, []string{"x"}, nil},
		{`"x"`, false, nil, ErrBrokenJSON},
		{``, false, nil, ErrPayloadExpected},
		{" \n", true, nil, ErrPayloadExpected},
		{`[`, false, nil, ErrBrokenJSON},
		{`["a",]`, false, nil, ErrBrokenJSON},
		{`["a" "b"]`, false, nil, ErrBrokenJSON},
		{`[null]`, false, nil, ErrBrokenJSON},
		{`["a"]]`, false, nil, ErrBrokenJSON},
		{"[\"a\x01\"]", false, nil, ErrBrokenJSON},
		{`["\x"]`, false, nil, ErrBrokenJSON},
		{`["\u12"]`, false, nil, ErrBrokenJSON},
		{`["\udc00"]`, false, nil, ErrBrokenJSON},
		{`["\ud800x"]`, false, nil, ErrBrokenJSON},
		{"[\"\xc3\"]", false, nil, ErrBrokenJSON},
	} {
		var d Decoded
		err := d.Decode([]byte(c.in), c.single)
		if err != c.err {
			t.Errorf("%q: err %v, want %v", c.in, err, c.err)
			continue
		}
		var got []string
		for i := 0; i < d.Len(); i++ {
			got = append(got, string(d.Msg(i)))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	var d Decoded
	in := []byte(`["{\"op\":\"sub\",\"topics\":[\"md.AAPL\"]}","x"]`)
	_ = d.Decode(in, false)
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(in, false) }); n != 0 {
		t.Errorf("%.1f allocations per decode with a reused Decoded", n)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\", "\x00\x1f\x7f", "\n\r\t", "é€😀", "\u2028\u2029\ufeff\u200c", "</script>"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%q: %s decodes to %q (%v)", s, b, back, err)
		}
		if bytes.ContainsAny(b, "\u2028\u2029") {
			t.Errorf("%q: %s keeps a line separator", s, b)
		}
	}
	// Invalid UTF-8 becomes Latin-1 escapes: valid JSON, valid UTF-8.
	b := appendJSONString(nil, "a\xffb")
	if string(b) != `"a\u00ffb"` {
		t.Errorf("invalid UTF-8: %s", b)
	}
	js := appendJSString(nil, []byte(`a["</script>&"]`))
	if bytes.ContainsAny(js, "<>&") {
		t.Errorf("JS string %s keeps HTML characters", js)
	}
	var back string
	if err := json.Unmarshal(js, &back); err != nil || back != `a["</script>&"]` {
		t.Errorf("JS string %s decodes to %q (%v)", js, back, err)
	}
}

// FuzzDecode checks the client message decoder against encoding/json: what
// it accepts, encoding/json accepts with the same strings; valid UTF-8
// JSON arrays of strings without surrogate escapes it accepts too; and what
// it decodes survives the round trip through appendJSONString.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `"x"`, `[]`, `["\u00e9\ud83d\ude00"]`, `["a",1]`, ` [ "\n" ] `, `["\"\\"]`, `[`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, single bool) {
		var d Decoded
		err := d.Decode(data, single)
		var arr []string
		jerr := json.Unmarshal(data, &arr)
		if jerr != nil && single {
			var one string
			if json.Unmarshal(data, &one) == nil && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(`"`)) {
				arr, jerr = []string{one}, nil
			}
		}
		if err == nil {
			if jerr != nil {
				t.Fatalf("%q: accepted, encoding/json says %v", data, jerr)
			}
			if len(arr) != d.Len() {
				t.Fatalf("%q: %d messages, encoding/json %d", data, d.Len(), len(arr))
			}
			for i := range arr {
				if string(d.Msg(i)) != arr[i] {
					t.Fatalf("%q: message %d %q, encoding/json %q", data, i, d.Msg(i), arr[i])
				}
				var back string
				if e := json.Unmarshal(appendJSONString(nil, d.Msg(i)), &back); e != nil || back != arr[i] {
					t.Fatalf("%q: round trip of %q gives %q (%v)", data, arr[i], back, e)
				}
			}
			return
		}
		null := bytes.Equal(bytes.TrimSpace(data), []byte("null"))
		if jerr == nil && !null && utf8.Valid(data) && !bytes.Contains(bytes.ToLower(data), []byte(`\ud`)) {
			t.Fatalf("%q: refused (%v), encoding/json accepts %q", data, err, arr)
		}
	})
}
