package history

import (
	"context"
	"sort"
	"time"

	"edgetail/event"
	"edgetail/timeline"
)

// CountQuery says what Count counts: the lines of Query's files (its
// filter, needle and ranges; its window is the counts' own).
type CountQuery struct {
	Query
	// Level is the level an event of this text is given (the stream
	// hub's rule); nil: event.DetectLevel.
	Level func(text []byte) event.Level
	// MinLevel, with Match nil, counts only the lines at this level or
	// above (the level= filter alone); LevelUnknown: every line.
	MinLevel event.Level
	// Index, when set, answers the whole minutes of a count whose only
	// filter is MinLevel and whose step is a whole number of minutes.
	Index *Index
}

// Count adds to c the lines of the query's files whose time is in c's
// window, each in its bucket by its own time and level. It reads the files
// as a read of the past does (the same reader, seek and needle skip), but
// hands nothing over; with an index, the whole minutes of the window come
// from it and only the window's partial first and last minutes are read.
// It returns the reasons of lines it could not count (a sibling that cannot
// be read) beside an error that ended it (ctx).
func Count(ctx context.Context, q CountQuery, c *timeline.Counts) ([]string, error) {
	q.Since, q.Until, q.Tail = c.Since, c.Until, 0
	if q.Group != nil {
		q.Needle = nil // as Read: a skip could land inside an event
	}
	if q.MaxLineBytes <= 0 {
		q.MaxLineBytes = 64 << 10
	}
	if q.Level == nil {
		q.Level = event.DetectLevel
	}
	clock := Clock{Now: q.Now, Loc: q.Loc}
	if clock.Now.IsZero() {
		clock.Now = time.Now()
	}
	var problems []string
	plans := make([][]File, 0, len(q.Files))
	for _, p := range q.Files {
		files, gaps := Plan(p)
		for _, g := range gaps {
			problems = append(problems, g.Reason)
		}
		plans = append(plans, files)
	}
	plans = dedupe(plans)
	k := &counter{q: &q, clock: clock, c: c}
	k.lo = ceilMinute(q.Since)
	k.hi = floorMinute(q.Until)
	var err error
	if q.Index != nil && q.Match == nil && len(q.Needle) == 0 && c.Step%time.Minute == 0 && k.lo.Before(k.hi) {
		err = k.indexed(ctx, plans)
	} else {
		for _, files := range plans {
			if err = k.scan(ctx, &q.Query, files, time.Time{}, nil); err != nil {
				break
			}
		}
	}
	return append(problems, k.problems...), err
}

// counter is one Count.
type counter struct {
	q     *CountQuery
	clock Clock
	c     *timeline.Counts
	// lo and hi bound the window's whole minutes: [lo, hi) is read from
	// the index, [Since, lo) and [hi, Until] from the files.
	lo, hi   time.Time
	problems []string
}

func ceilMinute(t time.Time) time.Time {
	f := floorMinute(t)
	if f.Equal(t) {
		return f
	}
	return f.Add(time.Minute)
}

func floorMinute(t time.Time) time.Time {
	u := t.Unix()
	m := u / 60
	if u%60 < 0 {
		m--
	}
	return time.Unix(m*60, 0).UTC()
}

// keep reports whether a line of level lv is counted: Match (applied by
// the reader) or MinLevel.
func (k *counter) keep(lv event.Level) bool {
	return k.q.Match != nil || k.q.MinLevel == event.LevelUnknown || lv >= k.q.MinLevel
}

// scan counts the lines a chain over files reads with query rq; only,
// when set, says which of them (by time) are counted.
// A read of one file alone starts after last, the time of the line before
// it (zero: none).
func (k *counter) scan(ctx context.Context, rq *Query, files []File, last time.Time, only func(l *Line, lead bool) bool) error {
	ch := &chain{q: rq, clock: k.clock, files: files, find: newFinder(rq.Needle), last: last}
	defer ch.close()
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		l, g, ok := ch.next()
		if !ok {
			return nil
		}
		if g != nil {
			k.problems = append(k.problems, g.Reason)
			continue
		}
		if only != nil && !only(&l, ch.lead) {
			continue
		}
		if lv := k.q.Level(l.Text); k.keep(lv) {
			k.c.Add(l.Time, lv)
		}
	}
}

// indexed counts with the index: per file, its index brought up to date,
// the window's whole minutes from it, the partial minutes at both ends
// read from the file (only when the index says it has lines there).
func (k *counter) indexed(ctx context.Context, plans [][]File) error {
	q := k.q
	for _, files := range plans {
		var prevLast int64 // the previous file's last timed line, for the next one's lead
		for i := range files {
			f := &files[i]
			rg := Range{From: 0, To: -1}
			if q.Range != nil {
				rg = q.Range(f)
			}
			if rg.Skip {
				continue
			}
			if f.Compression != Plain && f.ModTime.Before(q.Since) {
				continue // its last line is older than the window
			}
			fi, tail, err := q.Index.ensure(ctx, &q.Query, k.clock, f, rg.To, q.Level)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				k.problems = append(k.problems, err.Error())
			}
			if fi == nil || fi.overflow || err != nil {
				// No index: read the file's part of the window.
				if err := k.scan(ctx, &Query{Since: q.Since, Until: q.Until, MaxLineBytes: q.MaxLineBytes, Group: q.Group,
					Range: func(*File) Range { return rg }}, []File{*f}, lastBefore(prevLast, q.Since), nil); err != nil {
					return err
				}
				continue
			}
			k.fromIndex(fi, f, prevLast)
			for _, t := range tail {
				if k.keep(t.lv) {
					k.c.Add(t.t, t.lv)
				}
			}
			if err := k.edges(ctx, fi, f); err != nil {
				return err
			}
			if fi.last != 0 {
				prevLast = fi.last
			}
		}
	}
	return nil
}

// fromIndex adds the index's whole minutes of the window, the lines
// stamped exactly at an until that falls on a minute, and the file's lead
// lines wherever their time puts them.
func (k *counter) fromIndex(fi *fileIndex, f *File, prevLast int64) {
	c := k.c
	lo, hi := k.lo.Unix()/60, k.hi.Unix()/60
	atUntil := k.hi.Equal(c.Until)
	from := sort.Search(len(fi.mins), func(i int) bool { return fi.mins[i].m >= lo })
	for i := from; i < len(fi.mins) && fi.mins[i].m <= hi; i++ {
		mc := &fi.mins[i]
		if mc.m == hi {
			if atUntil {
				b := c.Bucket(c.Until)
				for lv := range timeline.Levels {
					if mc.z[lv] != 0 && k.keep(event.Level(lv)) {
						c.AddBucket(b, event.Level(lv), uint64(mc.z[lv]))
					}
				}
			}
			break
		}
		b := c.Bucket(time.Unix(mc.m*60, 0))
		for lv := range timeline.Levels {
			if mc.n[lv] != 0 && k.keep(event.Level(lv)) {
				c.AddBucket(b, event.Level(lv), uint64(mc.n[lv]))
			}
		}
	}
	at := f.ModTime
	if prevLast != 0 {
		at = time.Unix(0, prevLast)
	}
	if b := c.Bucket(at); b >= 0 {
		for lv, n := range fi.lead {
			if n != 0 && k.keep(event.Level(lv)) {
				c.AddBucket(b, event.Level(lv), n)
			}
		}
	}
}

// lastBefore is the time of the line before a file read alone (with no
// index): the previous sibling's last timed line, or, for the first file,
// a time before the window.
func lastBefore(prevLast int64, since time.Time) time.Time {
	if prevLast != 0 {
		return time.Unix(0, prevLast)
	}
	return since.Add(-time.Nanosecond)
}

// has reports whether the index holds lines in minute m.
func (fi *fileIndex) has(m int64) bool {
	i := sort.Search(len(fi.mins), func(i int) bool { return fi.mins[i].m >= m })
	return i < len(fi.mins) && fi.mins[i].m == m
}

// edges reads the window's partial first and last minutes from the file,
// when the index says it has lines in them: the part of the file the index
// covers, so that its unended last line (counted apart) is not counted
// twice, and leaving out its lead lines (counted from the index).
func (k *counter) edges(ctx context.Context, fi *fileIndex, f *File) error {
	q := k.q
	type span struct{ a, b time.Time }
	var spans []span
	if q.Since.Before(k.lo) && fi.has(floorMinute(q.Since).Unix()/60) {
		spans = append(spans, span{q.Since, k.lo.Add(-time.Nanosecond)})
	}
	if k.hi.Before(q.Until) && fi.has(k.hi.Unix()/60) {
		spans = append(spans, span{k.hi, q.Until})
	}
	if len(spans) == 0 {
		return nil
	}
	rg := Range{From: 0, To: fi.end}
	if fi.complete {
		rg.To = -1
	}
	notLead := func(_ *Line, lead bool) bool { return !lead }
	if f.Compression != Plain && len(spans) == 2 {
		// One pass over a compressed file, which cannot seek: the lines
		// of the window outside its whole minutes.
		rq := &Query{Since: q.Since, Until: q.Until, MaxLineBytes: q.MaxLineBytes, Group: q.Group, Range: func(*File) Range { return rg }}
		return k.scan(ctx, rq, []File{*f}, time.Time{}, func(l *Line, lead bool) bool {
			return !lead && (l.Time.Before(k.lo) || !l.Time.Before(k.hi))
		})
	}
	for _, s := range spans {
		rq := &Query{Since: s.a, Until: s.b, MaxLineBytes: q.MaxLineBytes, Group: q.Group, Range: func(*File) Range { return rg }}
		if err := k.scan(ctx, rq, []File{*f}, time.Time{}, notLead); err != nil {
			return err
		}
	}
	return nil
}

// tailLine is the unended last line of a plain file: counted, but kept
// out of the index until its newline comes.
type tailLine struct {
	t  time.Time
	lv event.Level
}
