// Package timeline is the shape of a count over time (GET /api/counts): a
// grid of time buckets over a window, and the counts of events per bucket
// and level, with the rules of the contract (buckets from since rounded
// down to the step in UTC, empty ones included, the default step, the
// 10,000-bucket bound) and their JSON form. It is a leaf: the readers that
// count (history, the stream hub) and the agent share it.
package timeline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxBuckets bounds an explicit step: a window cut into more buckets is
// refused.
const MaxBuckets = 10000

// DefaultBuckets is what the default step aims at: the smallest of Steps
// that gives at most this many buckets.
const DefaultBuckets = 120

// DefaultWindow is the window when since= is not given: this long before
// until.
const DefaultWindow = time.Hour

// Steps are the default steps, smallest first.
var Steps = []time.Duration{
	time.Second, 10 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute,
	time.Hour, 6 * time.Hour, 24 * time.Hour,
}

// Grid is a window cut into buckets: bucket i holds the events with
// Start+i*Step <= time < Start+(i+1)*Step that are in the window
// (Since <= time <= Until, both ends included like a stream's). An event
// at exactly Until when Until falls on a bucket boundary is counted in the
// last bucket, so that the buckets add up to what a since/until stream
// sends.
type Grid struct {
	Since, Until time.Time
	Start        time.Time // Since rounded down to Step, in UTC
	Step         time.Duration
	N            int // buckets
}

// ErrStep is the reason of every refused step.
var ErrStep = errors.New("bad step")

// NewGrid cuts [since, until] into buckets of step; a zero step picks the
// default (DefaultStep). An explicit step must be a whole number of
// seconds, at least 1s, and give at most MaxBuckets buckets.
func NewGrid(since, until time.Time, step time.Duration) (Grid, error) {
	if until.Before(since) {
		return Grid{}, fmt.Errorf("until %s is before since %s", until.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
	}
	if step == 0 {
		step = DefaultStep(since, until)
	} else {
		if step < time.Second || step%time.Second != 0 {
			return Grid{}, fmt.Errorf("%w: %s is not a whole number of seconds of at least 1s", ErrStep, FormatStep(step))
		}
	}
	g := Grid{Since: since.UTC(), Until: until.UTC(), Step: step}
	g.Start = floorTo(g.Since, step)
	n := buckets(g.Start, g.Until, step)
	if n > MaxBuckets {
		return Grid{}, fmt.Errorf("%w: %s cuts this window into %d buckets, more than %d", ErrStep, FormatStep(step), n, MaxBuckets)
	}
	g.N = int(n)
	return g, nil
}

// buckets is how many steps from start cover until (at least one).
func buckets(start, until time.Time, step time.Duration) int64 {
	secs := until.Unix() - start.Unix() // start is whole seconds
	s := int64(step / time.Second)
	n := secs / s
	if secs%s != 0 || until.Nanosecond() != 0 {
		n++
	}
	return max(n, 1)
}

// floorTo rounds t down to a multiple of step since the Unix epoch (UTC).
func floorTo(t time.Time, step time.Duration) time.Time {
	s := int64(step / time.Second)
	u := t.Unix()
	q := u / s
	if u%s < 0 {
		q--
	}
	return time.Unix(q*s, 0).UTC()
}

// DefaultStep is the smallest of Steps that cuts [since, until] into at
// most DefaultBuckets buckets; past 120 days, a whole number of days.
func DefaultStep(since, until time.Time) time.Duration {
	for _, s := range Steps {
		if buckets(floorTo(since, s), until, s) <= DefaultBuckets {
			return s
		}
	}
	day := 24 * time.Hour
	days := int64(until.Sub(since)/day)/DefaultBuckets + 1
	for buckets(floorTo(since, time.Duration(days)*day), until, time.Duration(days)*day) > DefaultBuckets {
		days++
	}
	return time.Duration(days) * day
}

// Bucket returns the bucket of an event at t, or -1 when t is outside the
// window.
func (g *Grid) Bucket(t time.Time) int {
	if t.Before(g.Since) || t.After(g.Until) {
		return -1
	}
	return min(int(t.Sub(g.Start)/g.Step), g.N-1)
}

// BucketTime is the start of bucket i.
func (g *Grid) BucketTime(i int) time.Time { return g.Start.Add(time.Duration(i) * g.Step) }

// ParseStep reads step=: a Go duration (90s, 1m, 2h, 1h30m) or a number
// of days (1d, 7d).
func ParseStep(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 36500 {
			return 0, fmt.Errorf("%w: %q is not a duration (1s, 10s, 1m, 5m, 1h, 1d)", ErrStep, oneLine(s))
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a duration (1s, 10s, 1m, 5m, 1h, 1d)", ErrStep, oneLine(s))
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%w: %q is not a whole number of seconds of at least 1s", ErrStep, oneLine(s))
	}
	return d, nil
}

// FormatStep writes a step in its shortest form: 1d, 6h, 15m, 90s.
func FormatStep(d time.Duration) string {
	switch {
	case d <= 0 || d%time.Second != 0:
		return d.String()
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// oneLine keeps a request's own text to one line in a reason.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
