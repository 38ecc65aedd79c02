package filesource

import (
	"testing"
	"time"

	"edgetail/event"
	"edgetail/history"
)

func TestOwnTime(t *testing.T) {
	c := history.Clock{Now: time.Now(), Loc: time.UTC}
	read := time.Now()
	for _, tc := range []struct {
		text   string
		want   time.Time
		noTime bool
	}{
		{"2026-12-01T10:00:00.5Z INFO x", time.Date(2026, 12, 1, 10, 0, 0, 5e8, time.UTC), false},
		{`{"time":"2026-12-01T10:00:00Z","msg":"y"}`, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), false},
		// An event of several lines: the first line's time, never a later one's.
		{"no time here\n2026-12-01T10:00:00Z later", read, true},
		{"\tat com.example.Foo(Foo.java:1)", read, true},
	} {
		l := event.Line{Text: []byte(tc.text), Time: read}
		ownTime(&l, c)
		if !l.Time.Equal(tc.want) || l.NoTime != tc.noTime {
			t.Errorf("%q: %s %v, want %s %v", tc.text, l.Time, l.NoTime, tc.want, tc.noTime)
		}
		if !tc.noTime && !l.Read.Equal(read) {
			t.Errorf("%q: read time %s lost", tc.text, l.Read)
		}
	}
}

// BenchmarkOwnTime is what reading a live line's own time costs the
// producer, per line.
func BenchmarkOwnTime(b *testing.B) {
	c := history.Clock{Now: time.Now()}
	text := []byte("2026-12-01T10:00:00.123Z INFO request 12345 served path=/x/77 abcdefghijabcdefghijabcdefghijabcdefghij")
	now := time.Now()
	for b.Loop() {
		l := event.Line{Text: text, Time: now}
		ownTime(&l, c)
	}
}
