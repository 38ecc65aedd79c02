package alerts

import (
	"fmt"
	"strings"
	"testing"
)

func TestPatternMasks(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"timeout after 1500 ms talking to 10.0.0.7:5432", "timeout after <num> ms talking to <ip>:<num>"},
		{`request 550e8400-e29b-41d4-a716-446655440000 failed: user "bob" not found`, `request <uuid> failed: user "<str>" not found`},
		{`level=error msg="lookup db-3: no such host 0x7f3a" trace=9f86d081884c7d65`, `level=error msg="lookup db-<num>: no such host <hex>" trace=<hex>`},
		{"2026-12-01T10:00:00.123Z ERROR [main] boom", "<num>-<num>-<num>T<num>:<num>:<num>.<num>Z ERROR [main] boom"},
		{"conn from fe80::1ff:fe23:4567:890a reset", "conn from <ip> reset"},
		{"conn from 2001:db8::1 reset", "conn from <ip> reset"},
		{"at 10:00:00 version 1.2.3", "at <num>:<num>:<num> version <num>.<num>.<num>"},
		{"req_8f3a2b1c done by user42", "req_<hex> done by user<num>"},
		{"token aZ3kF9qPx7mQ expired", "token <id> expired"},
		{"can't open 'cfg.yaml': denied", "can't open '<str>': denied"},
		{`{"level":"error","msg":"db 7 down","user":"bob","n":3}`, `{"level":"<str>","msg":"db <num> down","user":"<str>","n":<num>}`},
		{"cafe added to deadbeef", "cafe added to deadbeef"},
		{"sha b09b96b and e2e", "sha <hex> and <hex>"},
		{"first line 12\nsecond line", "first line <num>"},
		{`unterminated "quote 12`, `unterminated "quote <num>`},
		{"", ""},
	} {
		if got := string(Pattern(nil, []byte(c.in))); got != c.want {
			t.Errorf("Pattern(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// One error with varying numbers, UUIDs, addresses and ids is one
// pattern; two different errors are two.
func TestPatternGroupsOneErrorAsOne(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		line := fmt.Sprintf(`2026-12-01T10:%02d:%02dZ ERROR request %08x-%04x-4%03x-a%03x-%012x from 10.%d.%d.%d took %dms: "user%d" not allowed`,
			i%60, i%60, i*7919, i%65536, i%4096, i%4096, i*104729, i%256, i%200, i%100, i*3, i)
		seen[string(Pattern(nil, []byte(line)))] = true
	}
	if len(seen) != 1 {
		t.Fatalf("%d patterns: %v", len(seen), seen)
	}
	a := Pattern(nil, []byte("ERROR disk 3 full"))
	b := Pattern(nil, []byte("ERROR socket 3 closed"))
	if string(a) == string(b) {
		t.Fatalf("two errors share %q", a)
	}
}

func TestPatternBounded(t *testing.T) {
	long := strings.Repeat("word ", 1000) + "é"
	if p := Pattern(nil, []byte(long)); len(p) > patternMax {
		t.Fatalf("pattern of %d bytes", len(p))
	}
	multi := strings.Repeat("é", 600)
	p := Pattern(nil, []byte(multi))
	if !strings.HasPrefix(multi, string(p)) || len(p) > patternMax || len(p)%2 != 0 {
		t.Fatalf("cut inside a rune: %d bytes", len(p))
	}
}

func BenchmarkPattern(b *testing.B) {
	line := []byte(`2026-12-01T10:00:00Z ERROR request 550e8400-e29b-41d4-a716-446655440000 from 10.0.0.7 took 1500ms: "bob" not allowed`)
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = Pattern(dst[:0], line)
	}
}
