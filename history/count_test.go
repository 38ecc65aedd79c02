package history

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/timeline"
)

// refCount counts lines the way the contract says, by brute force: each
// line at its own time or the time of the timed line before it, by the
// level it is given.
func refCount(t *testing.T, all []string, g timeline.Grid, minLevel event.Level, match func(string) bool) *timeline.Counts {
	t.Helper()
	c := timeline.NewCounts(g)
	var last time.Time
	for _, l := range all {
		if pt, ok := ParseTime([]byte(l), Clock{Now: time.Now(), Loc: time.UTC}); ok {
			last = pt
		}
		lv := event.DetectLevel([]byte(l))
		if match != nil && !match(l) || match == nil && minLevel != event.LevelUnknown && lv < minLevel {
			continue
		}
		c.Add(last, lv)
	}
	return c
}

func sameCounts(t *testing.T, what string, got, want *timeline.Counts) {
	t.Helper()
	if got.N != want.N {
		t.Fatalf("%s: %d buckets, want %d", what, got.N, want.N)
	}
	for i := 0; i < got.N; i++ {
		for lv := range timeline.Levels {
			if g, w := got.At(i, event.Level(lv)), want.At(i, event.Level(lv)); g != w {
				t.Fatalf("%s: bucket %d (%s) %s: %d, want %d (total %d, want %d)", what, i, got.BucketTime(i).Format(time.RFC3339),
					timeline.LevelName(event.Level(lv)), g, w, got.Total(), want.Total())
			}
		}
	}
}

func count(t *testing.T, q CountQuery, g timeline.Grid) *timeline.Counts {
	t.Helper()
	c := timeline.NewCounts(g)
	q.Loc = time.UTC
	problems, err := Count(context.Background(), q, c)
	if err != nil || len(problems) > 0 {
		t.Fatalf("count: %v %q", err, problems)
	}
	return c
}

// Counts with and without the index equal the brute-force count for random
// windows (whole minutes, partial ones, inside one file, across siblings),
// steps and level filters, over zstd, gzip and plain siblings whose lines
// partly have no time of their own.
func TestCountMatchesEveryLine(t *testing.T) {
	dir := t.TempDir()
	path, all := rotated(t, dir, 500)
	ix, err := NewIndex(filepath.Join(dir, "index"), "")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	steps := []time.Duration{time.Second, 10 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 90 * time.Second}
	span := int64(2000 * time.Second)
	for i := range 60 {
		a := t0.Add(time.Duration(r.Int64N(span+int64(2*time.Minute))) - time.Minute)
		b := a.Add(time.Duration(r.Int64N(span)))
		if i%5 == 0 { // whole minutes
			a, b = floorMinute(a), floorMinute(b)
		}
		g, err := timeline.NewGrid(a, b, steps[i%len(steps)])
		if err != nil {
			t.Fatal(err)
		}
		minLevel := []event.Level{event.LevelUnknown, event.LevelInfo, event.LevelError}[i%3]
		want := refCount(t, all, g, minLevel, nil)
		what := fmt.Sprintf("%s..%s step %v level %v", a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano), g.Step, minLevel)
		sameCounts(t, what+" indexed", count(t, CountQuery{Query: Query{Files: []string{path}}, MinLevel: minLevel, Index: ix}, g), want)
		sameCounts(t, what+" read", count(t, CountQuery{Query: Query{Files: []string{path}}, MinLevel: minLevel}, g), want)
	}
	// q= reads (the needle skip) and a regular filter.
	g, _ := timeline.NewGrid(t0.Add(-time.Minute), t0.Add(time.Hour), time.Minute)
	for _, needle := range []string{"error", "line 1", "continuation"} {
		match := func(s string) bool { return strings.Contains(strings.ToLower(s), needle) }
		got := count(t, CountQuery{Query: Query{Files: []string{path}, Needle: []byte(needle),
			Match: func(b []byte) bool { return match(string(b)) }}, Index: ix}, g)
		// q= skips lines in bulk, and a matching line without a time of
		// its own takes the time of the nearest timed line before it
		// still in the read buffer: here, its predecessor.
		sameCounts(t, "q="+needle, got, refCount(t, all, g, 0, match))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "index"))
	if len(ents) != 4 {
		t.Errorf("%d index files, want one per log file", len(ents))
	}
}

// The index follows a file that grows (an unended last line is counted but
// kept out of it), survives rotation and compression under new names, and
// is made again when a file is rewritten.
func TestCountIndexFollowsGrowthAndRotation(t *testing.T) {
	dir := t.TempDir()
	path, all := rotated(t, dir, 200)
	ix, _ := NewIndex(filepath.Join(dir, "index"), "")
	g, _ := timeline.NewGrid(t0.Add(-time.Minute), t0.Add(2*time.Hour), time.Minute)
	q := CountQuery{Query: Query{Files: []string{path}}, Index: ix}
	sameCounts(t, "first", count(t, q, g), refCount(t, all, g, 0, nil))

	// Growth, with an unended last line.
	more := logLines(800, 100)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(strings.Join(more, "\n"))
	f.Close()
	all = append(all, more...)
	sameCounts(t, "grown, unended", count(t, q, g), refCount(t, all, g, 0, nil))
	sameCounts(t, "again", count(t, q, g), refCount(t, all, g, 0, nil))
	f, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(" (ended)\n")
	f.Close()
	all[len(all)-1] += " (ended)"
	sameCounts(t, "ended", count(t, q, g), refCount(t, all, g, 0, nil))

	// Rotation: app.log.1 -> .2.gz, app.log -> .1, a new app.log.
	data, _ := os.ReadFile(path + ".1")
	writeFile(t, path+".2.gz", data, Gzip) // over the old .2.gz
	os.Remove(path + ".1")
	os.Rename(path, path+".1")
	newer := logLines(900, 50)
	writeFile(t, path, content(newer), Plain)
	all = append(append(logLines(0, 200), logLines(400, 400)...), more...)
	all[len(all)-1] += " (ended)"
	all = append(all, newer...)
	// The zstd sibling is app.log.3.zst: lines 0-199 still; lines
	// 200-399 (the old .2.gz) are gone.
	before := countingReads(t, q, g)
	sameCounts(t, "rotated", before, refCount(t, all, g, 0, nil))
	ents, _ := os.ReadDir(filepath.Join(dir, "index"))
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	// The old .2.gz's index stays until it is pruned (an hour).
	if len(names) != 5 {
		t.Errorf("index files %v", names)
	}
	if err := ix.Warm(context.Background(), q); err != nil {
		t.Fatal(err)
	}

	// Rewritten from scratch with the same first bytes: made again.
	writeFile(t, path, content(newer[:10]), Plain)
	all = all[:len(all)-40]
	sameCounts(t, "rewritten", count(t, q, g), refCount(t, all, g, 0, nil))
}

// countingReads counts, checking that the gzip sibling made from an
// indexed plain file was not read again (its index is complete).
func countingReads(t *testing.T, q CountQuery, g timeline.Grid) *timeline.Counts {
	t.Helper()
	c := count(t, q, g)
	files, _ := Plan(q.Files[0])
	for _, f := range files {
		if f.Compression == Gzip {
			fp, n, _ := identify(&f)
			fi := q.Index.load((&fileIndex{fp: fp, fpLen: n}).name())
			if fi == nil || !fi.complete {
				t.Errorf("%s: index %v", f.Path, fi)
			}
		}
	}
	return c
}

// An index that does not decode (torn, another tag, garbage) is made again.
func TestIndexEncodingRoundTripAndDamage(t *testing.T) {
	fi := &fileIndex{fp: 42, fpLen: 256, end: 12345, last: t0.UnixNano(), lead: [timeline.Levels]uint64{1, 0, 3}}
	for m := int64(0); m < 100; m++ {
		mc := minuteCounts{m: t0.Unix()/60 + m*m}
		mc.n[m%5] = uint32(m + 1)
		mc.z[(m+1)%5] = uint32(m)
		fi.mins = append(fi.mins, mc)
	}
	b := fi.encode("tag")
	got, err := decodeIndex(b, "tag")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(fi) || fmt.Sprint(got.mins) != fmt.Sprint(fi.mins) || got.lead != fi.lead || got.last != fi.last {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := decodeIndex(b, "other"); err == nil {
		t.Error("another tag decoded")
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], bytes.Replace(b, []byte{0x2a}, []byte{0x2b}, 1), []byte("junk")} {
		if _, err := decodeIndex(bad, "tag"); err == nil {
			t.Errorf("%d bytes of damage decoded", len(bad))
		}
	}
}

// Lines without a time at the start of each file (a trace cut by the
// rotation) take the time of the previous file's last timed line, the
// oldest file's its modification time: counts with and without the index
// agree with a read of the past, and such a line no longer ends a read
// (its time says nothing of the window).
func TestCountLeadLinesAsARead(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "app.log")
	for i, suffix := range []string{".2", ".1", ""} {
		lines := append([]string{"\tat cut.by.Rotation(A.java:1)", "\t... 3 more"}, logLines(i*300, 300)...)
		writeFile(t, base+suffix, content(lines), Plain)
	}
	mtime := t0.Add(100 * time.Second) // the oldest file's lead lines fall inside the data
	os.Chtimes(base+".2", mtime, mtime)
	ix, _ := NewIndex("", "")
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 40 {
		a := t0.Add(time.Duration(r.Int64N(int64(900*time.Second))) - time.Minute)
		b := a.Add(time.Duration(r.Int64N(int64(900 * time.Second))))
		g, err := timeline.NewGrid(a, b, []time.Duration{time.Minute, 10 * time.Second, 5 * time.Minute}[i%3])
		if err != nil {
			t.Fatal(err)
		}
		want := timeline.NewCounts(g)
		err = Read(context.Background(), Query{Files: []string{base}, Since: a, Until: b, Loc: time.UTC}, func(it Item) error {
			for _, l := range it.Lines {
				if !want.Add(l.Time, event.DetectLevel(l.Text)) {
					t.Fatalf("the read sent a line at %s outside %s..%s: %q", l.Time, a, b, l.Text)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("%s..%s step %v", a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano), g.Step)
		sameCounts(t, what+" indexed", count(t, CountQuery{Query: Query{Files: []string{base}}, Index: ix}, g), want)
		sameCounts(t, what+" read", count(t, CountQuery{Query: Query{Files: []string{base}}}, g), want)
	}
	// The oldest file's lead lines, at its modification time, are read.
	g, _ := timeline.NewGrid(t0, t0.Add(5*time.Minute), time.Minute)
	c := count(t, CountQuery{Query: Query{Files: []string{base}}, Index: ix}, g)
	if n := c.At(1, event.LevelUnknown); n < 2 {
		t.Errorf("the lead lines at %s are not counted: %d lines without a level in that minute", mtime, n)
	}
}
