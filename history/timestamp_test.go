package history

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := Clock{Now: now, Loc: time.UTC}
	cases := []struct {
		line string
		want string // RFC 3339 in UTC, "" for none
	}{
		{"2026-12-01T10:00:00Z info started", "2026-12-01T10:00:00Z"},
		{"2026-12-01T10:00:00.250+02:00 x", "2026-12-01T08:00:00.25Z"},
		{"2026-12-01 10:00:00,125 INFO root", "2026-12-01T10:00:00.125Z"},
		{"2026-12-01T10:00:00+0100 x", "2026-12-01T09:00:00Z"},
		{"[2026-12-01T10:00:00Z] x", "2026-12-01T10:00:00Z"},
		{"level=info ts=2026-12-01T10:00:05Z msg=hi", "2026-12-01T10:00:05Z"},
		{"Dec  1 10:00:00 host sshd[1]: x", "2026-12-01T10:00:00Z"},
		{"Nov 30 23:59:59 host x", "2026-11-30T23:59:59Z"},
		{"Dec 31 23:00:00 host x", "2025-12-31T23:00:00Z"}, // a year later would be the future
		{`127.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1`, "2026-12-01T10:00:00Z"},
		{`1.2.3.4 - - [01/Dec/2026:11:00:00 +0100] "GET /"`, "2026-12-01T10:00:00Z"},
		{`{"level":"info","time":"2026-12-01T10:00:00Z","msg":"x"}`, "2026-12-01T10:00:00Z"},
		{`{"ts":1796119200.5,"msg":"x"}`, "2026-12-01T10:00:00.5Z"},
		{`{"timestamp": 1796119200000}`, "2026-12-01T10:00:00Z"},
		{`{"@timestamp":"2026-12-01T10:00:00.000Z"}`, "2026-12-01T10:00:00Z"},
		{"no time here", ""},
		{"2026-13-01T10:00:00Z bad month", ""},
		{"12345-12-01T10:00:00Z", ""},
		{"Foo  1 10:00:00", ""},
		{"", ""},
	}
	for _, tc := range cases {
		got, ok := ParseTime([]byte(tc.line), c)
		if tc.want == "" {
			if ok {
				t.Errorf("%q: got %v, want none", tc.line, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tc.want)
		if !ok || !got.Equal(want) {
			t.Errorf("%q: got %v %v, want %v", tc.line, got, ok, want)
		}
	}
}

// FuzzParseTime checks that no input makes the parser panic or read past
// the line, and that a time it finds is a real one.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2026-12-01T10:00:00Z x", "Dec  1 10:00:00 h x", "[01/Dec/2026:10:00:00 +0000]",
		`{"time":"2026-12-01T10:00:00Z"}`, `{"ts":17961192}`, "2026-12-01 10:00:00.1", "[", "{", "Dec",
	} {
		f.Add([]byte(s))
	}
	c := Clock{Now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Loc: time.UTC}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := ParseTime(b, c)
		if ok && got.IsZero() {
			t.Fatalf("%q: ok with a zero time", b)
		}
	})
}

func BenchmarkParseTime(b *testing.B) {
	line := []byte("2026-12-01T10:00:00.123Z info request served path=/x status=200")
	c := Clock{Now: time.Now(), Loc: time.UTC}
	for b.Loop() {
		ParseTime(line, c)
	}
}
