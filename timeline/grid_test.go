package timeline

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"edgetail/event"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestGridRules(t *testing.T) {
	for _, c := range []struct {
		since, until string
		step         time.Duration
		start        string
		n            int
		wantStep     time.Duration
	}{
		// The contract's example: an hour at 1m is 60 buckets.
		{"2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z", time.Minute, "2026-12-07T09:00:00Z", 60, time.Minute},
		// since rounded down to the step; until's bucket is the last.
		{"2026-12-07T09:00:30Z", "2026-12-07T10:00:10Z", time.Minute, "2026-12-07T09:00:00Z", 61, time.Minute},
		{"2026-12-07T09:00:00Z", "2026-12-07T09:00:00Z", time.Minute, "2026-12-07T09:00:00Z", 1, time.Minute},
		{"2026-12-07T09:00:00Z", "2026-12-07T09:59:59.5Z", time.Minute, "2026-12-07T09:00:00Z", 60, time.Minute},
		// Days are UTC days, whatever the zone of since.
		{"2026-12-07T01:00:00+02:00", "2026-12-09T00:00:00Z", 24 * time.Hour, "2026-12-06T00:00:00Z", 3, 24 * time.Hour},
		// Default steps: the smallest giving at most 120 buckets.
		{"2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z", 0, "2026-12-07T09:00:00Z", 60, time.Minute},
		{"2026-12-07T09:00:00Z", "2026-12-07T09:02:00Z", 0, "2026-12-07T09:00:00Z", 120, time.Second},
		{"2026-12-07T09:00:00Z", "2026-12-07T09:02:01Z", 0, "2026-12-07T09:00:00Z", 13, 10 * time.Second},
		{"2026-12-07T09:00:00Z", "2026-12-10T09:00:00Z", 0, "2026-12-07T09:00:00Z", 72, time.Hour},
		{"2026-12-07T09:00:00Z", "2026-12-14T09:00:00Z", 0, "2026-12-07T06:00:00Z", 29, 6 * time.Hour},
		{"2026-12-07T09:40:00Z", "2026-12-08T09:00:00Z", 0, "2026-12-07T09:30:00Z", 94, 15 * time.Minute},
		{"2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z", 0, "2026-01-01T00:00:00Z", 112, 3 * 24 * time.Hour},
	} {
		g, err := NewGrid(ts(c.since), ts(c.until), c.step)
		if err != nil {
			t.Fatalf("%s..%s %v: %v", c.since, c.until, c.step, err)
		}
		if !g.Start.Equal(ts(c.start)) || g.N != c.n || g.Step != c.wantStep {
			t.Errorf("%s..%s %v: start %s n %d step %v, want %s %d %v", c.since, c.until, c.step, g.Start, g.N, g.Step, c.start, c.n, c.wantStep)
		}
		if got := DefaultStep(ts(c.since), ts(c.until)); c.step == 0 && got != c.wantStep {
			t.Errorf("default step %v", got)
		}
	}
}

func TestGridRefusals(t *testing.T) {
	s, u := ts("2026-12-07T00:00:00Z"), ts("2026-12-08T00:00:00Z")
	for _, step := range []time.Duration{time.Millisecond, 1500 * time.Millisecond, -time.Second, 8 * time.Second} {
		if _, err := NewGrid(s, u, step); !errors.Is(err, ErrStep) {
			t.Errorf("step %v: %v", step, err)
		}
	}
	if _, err := NewGrid(s, u, 9*time.Second); err != nil {
		t.Errorf("9600 buckets: %v", err)
	}
	if _, err := NewGrid(u, s, time.Minute); err == nil {
		t.Error("until before since accepted")
	}
	for _, bad := range []string{"", "0", "0s", "-1m", "1ms", "1.5s", "abc", "1x", "0d", "-1d", "1.5d"} {
		if _, err := ParseStep(bad); err == nil {
			t.Errorf("step %q accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"1s": time.Second, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "7d": 7 * 24 * time.Hour} {
		if got, err := ParseStep(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for d, want := range map[time.Duration]string{time.Second: "1s", 90 * time.Second: "90s", 15 * time.Minute: "15m", 6 * time.Hour: "6h", 48 * time.Hour: "2d"} {
		if got := FormatStep(d); got != want {
			t.Errorf("%v: %q", d, got)
		}
	}
}

func TestBucketsAndJSON(t *testing.T) {
	g, err := NewGrid(ts("2026-12-07T09:00:30Z"), ts("2026-12-07T09:03:00Z"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCounts(g)
	for _, e := range []struct {
		at string
		lv event.Level
		in bool
	}{
		{"2026-12-07T09:00:29Z", event.LevelError, false}, // before since, in the first bucket's span
		{"2026-12-07T09:00:30Z", event.LevelError, true},
		{"2026-12-07T09:01:59.999Z", event.LevelWarn, true},
		{"2026-12-07T09:02:00Z", event.LevelUnknown, true},
		{"2026-12-07T09:03:00Z", event.LevelInfo, true}, // at until, on a boundary: the last bucket
		{"2026-12-07T09:03:00.001Z", event.LevelInfo, false},
	} {
		if got := c.Add(ts(e.at), e.lv); got != e.in {
			t.Errorf("%s: counted %v", e.at, got)
		}
	}
	var out struct {
		Since, Until, Step string
		Buckets            []struct {
			Time   string
			Count  uint64
			Levels map[string]uint64
		}
	}
	b := append(c.AppendJSON([]byte{'{'}), '}')
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if out.Since != "2026-12-07T09:00:30Z" || out.Step != "1m" || len(out.Buckets) != 3 {
		t.Fatalf("%s", b)
	}
	want := []struct {
		time  string
		count uint64
		lv    map[string]uint64
	}{
		{"2026-12-07T09:00:00Z", 1, map[string]uint64{"error": 1, "warn": 0, "info": 0, "debug": 0, "none": 0}},
		{"2026-12-07T09:01:00Z", 1, map[string]uint64{"error": 0, "warn": 1, "info": 0, "debug": 0, "none": 0}},
		{"2026-12-07T09:02:00Z", 2, map[string]uint64{"error": 0, "warn": 0, "info": 1, "debug": 0, "none": 1}},
	}
	for i, w := range want {
		bk := out.Buckets[i]
		if bk.Time != w.time || bk.Count != w.count || len(bk.Levels) != 5 {
			t.Errorf("bucket %d: %+v", i, bk)
		}
		for k, v := range w.lv {
			if bk.Levels[k] != v {
				t.Errorf("bucket %d %s: %d", i, k, bk.Levels[k])
			}
		}
	}
}
