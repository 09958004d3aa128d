package auth

import "testing"

func TestCovers(t *testing.T) {
	cases := []struct {
		p, q string
		want bool
	}{
		{"md.>", "md.*.quote", true},
		{"md.>", "md.x.>", true},
		{"md.>", "md.x", true},
		{"md.>", "md.>", true},
		{"md.>", "md", false}, // '>' needs at least one token
		{"md.>", ">", false},
		{"md.*", "md.x", true},
		{"md.*", "md.*", true},
		{"md.*", "md.>", false}, // md.> also matches md.x.y
		{"md.*", "md.x.y", false},
		{"md.*", "md", false},
		{"*.>", ">", false}, // > also matches a one-token topic
		{">", ">", true},
		{">", "a", true},
		{">", "a.*.>", true},
		{"*", "*", true},
		{"*", ">", false},
		{"a.b", "a.b", true},
		{"a.b", "a.*", false},
		{"a.b", "a.c", false},
		{"a.b", "a", false},
		{"a", "a.b", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.*.c", true},
		{"a.*.c", "a.*.*", false},
		{"a.*.>", "a.b.c.d", true},
		{"a.*.>", "a.b", false},
		{"orders.*", "orders.new", true},
	}
	for _, c := range cases {
		if got := Covers(c.p, c.q); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

func TestPermsGrants(t *testing.T) {
	ps, err := ParsePerms("subs", []string{"md.*.quote", "news.>"})
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"md.AAPL.quote": true, "md.*.quote": true, "md.AAPL.trade": false, "md.>": false,
		"news.x": true, "news.>": true, "news": false, ">": false,
	} {
		if got := ps.Grants(topic); got != want {
			t.Errorf("Grants(%q) = %v, want %v", topic, got, want)
		}
	}
	if (Perms)(nil).Grants("a") {
		t.Error("empty Perms grant")
	}
}

func TestParsePermsRejects(t *testing.T) {
	for _, p := range []string{"", "a..b", "a.>.b", "a b", "md.x*", ".a"} {
		if _, err := ParsePerms("subs", []string{"ok", p}); err == nil || !IsKind(err, KindClaims) {
			t.Errorf("ParsePerms(%q): err %v, want a claims error", p, err)
		}
	}
}

func TestGrantsAllocatesNothing(t *testing.T) {
	ps := Perms{"md.*.quote", "news.>", "orders.*"}
	n := testing.AllocsPerRun(1000, func() {
		_ = ps.Grants("orders.new")
		_ = ps.Grants("md.*.trade")
	})
	if n != 0 {
		t.Fatalf("Grants allocates %v times", n)
	}
}

func BenchmarkGrants(b *testing.B) {
	ps := Perms{"md.*.quote", "news.>", "orders.*", "fx.>"}
	for b.Loop() {
		_ = ps.Grants("fx.EURUSD.quote")
	}
}
