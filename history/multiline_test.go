package history

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/multiline"
)

// traceLines is a file of n Java traces, trace i at t0 + i minutes with
// three frames, and the events they are, joined.
func traceLines(from, n int) (lines, events []string) {
	for i := from; i < from+n; i++ {
		ev := []string{
			fmt.Sprintf("%s ERROR request %d failed", t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), i),
			fmt.Sprintf("java.lang.IllegalStateException: state %d", i),
			fmt.Sprintf("\tat a.B.c%d(B.java:1)", i), "\tat a.B.d(B.java:2)", "\t... 42 more",
		}
		lines = append(lines, ev...)
		events = append(events, strings.Join(ev, "\n"))
	}
	return lines, events
}

// TestGroupedReadOverRotatedSiblings: a read of a multiline source's past
// groups each file (the compressed and plain siblings and the followed
// file) into events: since=/until= by an event's first line, q= on any of
// its lines returns the whole event, tail= counts events, and a trace never
// joins lines of two files.
func TestGroupedReadOverRotatedSiblings(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "app.log")
	var all []string
	for i, f := range []struct {
		suffix string
		c      Compression
	}{{".2.gz", Gzip}, {".1", Plain}, {"", Plain}} {
		lines, evs := traceLines(i*4, 4)
		if i > 0 {
			// The file starts with the end of a trace: its own event.
			lines = append([]string{"\tat orphan.frame(X.java:1)"}, lines...)
			evs = append([]string{"\tat orphan.frame(X.java:1)"}, evs...)
		}
		all = append(all, evs...)
		writeFile(t, base+f.suffix, content(lines), f.c)
	}
	r, err := multiline.Compile(multiline.Config{Preset: "java"})
	if err != nil {
		t.Fatal(err)
	}
	read := func(q Query) []Line {
		t.Helper()
		q.Files, q.Group, q.Loc = []string{base}, r, time.UTC
		var out []Line
		err := Read(context.Background(), q, func(it Item) error {
			for _, l := range it.Lines {
				l.Text = []byte(string(l.Text))
				out = append(out, l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	texts := func(ls []Line) []string {
		var s []string
		for _, l := range ls {
			s = append(s, string(l.Text))
		}
		return s
	}
	got := read(Query{})
	if fmt.Sprint(texts(got)) != fmt.Sprint(all) {
		t.Fatalf("whole read:\n%q\nwant\n%q", texts(got), all)
	}
	for _, l := range got {
		if l.Lines != strings.Count(string(l.Text), "\n")+1 {
			t.Errorf("%q: Lines %d", l.Text, l.Lines)
		}
	}
	// The event of trace 5 (in app.log.1), by the text of its third line.
	if g := texts(read(Query{Match: func(b []byte) bool { return strings.Contains(string(b), "c5(") }})); len(g) != 1 || !strings.HasPrefix(g[0], t0.Add(5*time.Minute).Format(time.RFC3339)) {
		t.Errorf("q= on a frame: %q", g)
	}
	// since/until: traces 3..6 by their first line's time (the orphan
	// frame takes the time of the last timed line before it).
	g := texts(read(Query{Since: t0.Add(3 * time.Minute), Until: t0.Add(6*time.Minute + time.Second)}))
	if len(g) != 5 || !strings.Contains(g[0], "request 3 failed") || !strings.Contains(g[4], "request 6 failed") {
		t.Errorf("window: %q", g)
	}
	// tail=2: the last two events, whole.
	if g := texts(read(Query{Tail: 2})); fmt.Sprint(g) != fmt.Sprint(all[len(all)-2:]) {
		t.Errorf("tail=2: %q", g)
	}
	// A read from an event's end (a resume) starts at the next event.
	var after int64
	for _, l := range got {
		if strings.Contains(string(l.Text), "request 9 failed") {
			after = l.End
		}
	}
	rest := texts(read(Query{Range: func(f *File) Range {
		if f.Current {
			return Range{From: after, To: -1}
		}
		return Range{Skip: true}
	}}))
	if len(rest) != 2 || !strings.Contains(rest[0], "request 10 failed") {
		t.Errorf("after trace 9: %q", rest)
	}
}
