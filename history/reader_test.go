package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// logLines makes lines n..n+count-1, line i at t0 + i seconds; every
// seventh line has no time of its own.
func logLines(n, count int) []string {
	out := make([]string, 0, count)
	for i := n; i < n+count; i++ {
		if i%7 == 3 {
			out = append(out, fmt.Sprintf("  continuation of %d", i-1))
			continue
		}
		lvl := "info"
		if i%10 == 0 {
			lvl = "error"
		}
		out = append(out, fmt.Sprintf("%s %s line %d", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), lvl, i))
	}
	return out
}

func content(lines []string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func writeFile(t testing.TB, path string, data []byte, c Compression) {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case Gzip:
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
	case Zstd:
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
	default:
		buf.Write(data)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rotated writes app.log.3.zst, app.log.2.gz, app.log.1 and app.log with
// per lines each, in time order, and returns the current file's path and
// every line.
func rotated(t testing.TB, dir string, per int) (string, []string) {
	base := filepath.Join(dir, "app.log")
	var all []string
	for i, f := range []struct {
		suffix string
		c      Compression
	}{{".3.zst", Zstd}, {".2.gz", Gzip}, {".1", Plain}, {"", Plain}} {
		lines := logLines(i*per, per)
		all = append(all, lines...)
		writeFile(t, base+f.suffix, content(lines), f.c)
	}
	return base, all
}

func readAll(t testing.TB, q Query) ([]string, []Item) {
	t.Helper()
	var lines []string
	var gaps []Item
	err := Read(context.Background(), q, func(it Item) error {
		if it.Missed != 0 {
			gaps = append(gaps, it)
		}
		for _, l := range it.Lines {
			lines = append(lines, string(l.Text))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, gaps
}

// window is what a read of [since, until] must return: a line without a
// time belongs with the line before it.
func window(all []string, since, until time.Time, match func(string) bool) []string {
	var out []string
	var last time.Time
	for _, l := range all {
		if tm, ok := ParseTime([]byte(l), Clock{Loc: time.UTC}); ok {
			last = tm
		}
		if (!since.IsZero() && last.Before(since)) || (!until.IsZero() && last.After(until)) {
			continue
		}
		if match != nil && !match(l) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func same(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d (first got %q)", len(got), len(want), first(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func TestReadRotatedWindow(t *testing.T) {
	path, all := rotated(t, t.TempDir(), 1000)
	for _, tc := range []struct{ since, until time.Duration }{
		{0, 0},
		{500 * time.Second, 2500 * time.Second},
		{1999 * time.Second, 2000 * time.Second},
		{3100 * time.Second, 0},
		{0, 10 * time.Second},
		{5000 * time.Second, 0},
	} {
		var since, until time.Time
		if tc.since > 0 {
			since = t0.Add(tc.since)
		}
		if tc.until > 0 {
			until = t0.Add(tc.until)
		}
		got, gaps := readAll(t, Query{Files: []string{path}, Since: since, Until: until, Loc: time.UTC})
		if len(gaps) > 0 {
			t.Fatalf("gaps: %+v", gaps)
		}
		same(t, got, window(all, since, until, nil))
		match := func(b []byte) bool { return bytes.Contains(bytes.ToLower(b), []byte("line 1")) }
		got, _ = readAll(t, Query{Files: []string{path}, Since: since, Until: until, Match: match, Needle: []byte("line 1"), Loc: time.UTC})
		same(t, got, window(all, since, until, func(l string) bool { return strings.Contains(l, "line 1") }))
	}
}

func TestReadSeeksLargeFile(t *testing.T) {
	dir := t.TempDir()
	all := logLines(0, 200000)
	path := filepath.Join(dir, "big.log")
	writeFile(t, path, content(all), Plain)
	for _, s := range []int{0, 1, 77777, 123456, 199999} {
		since, until := t0.Add(time.Duration(s)*time.Second), t0.Add(time.Duration(s+3000)*time.Second)
		match := func(b []byte) bool { return bytes.Contains(b, []byte("error")) }
		got, _ := readAll(t, Query{Files: []string{path}, Since: since, Until: until, Match: match, Loc: time.UTC})
		same(t, got, window(all, since, until, func(l string) bool { return strings.Contains(l, "error") }))
		got, _ = readAll(t, Query{Files: []string{path}, Since: since, Until: until, Match: match, Needle: []byte("error"), Loc: time.UTC})
		same(t, got, window(all, since, until, func(l string) bool { return strings.Contains(l, "error") }))
	}
}

func TestReadCorruptSiblingIsAGap(t *testing.T) {
	dir := t.TempDir()
	path, all := rotated(t, dir, 100)
	gz, _ := os.ReadFile(path + ".2.gz")
	os.WriteFile(path+".2.gz", gz[:len(gz)/2], 0o644)
	got, gaps := readAll(t, Query{Files: []string{path}, Loc: time.UTC})
	if len(gaps) != 1 || gaps[0].Missed != -1 {
		t.Fatalf("gaps %+v, want one unknown", gaps)
	}
	// The zst file, whatever the torn gzip gave, then .1 and the file.
	if got[0] != all[0] || got[len(got)-1] != all[len(all)-1] {
		t.Fatalf("first %q last %q", got[0], got[len(got)-1])
	}
	tail := all[200:]
	same(t, got[len(got)-len(tail):], tail)
}

func TestReadMergesFilesByTime(t *testing.T) {
	dir := t.TempDir()
	var a, b, want []string
	for i := 0; i < 3000; i++ {
		l := fmt.Sprintf("%s n=%d", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
		want = append(want, l)
		if i%3 == 0 {
			a = append(a, l)
		} else {
			b = append(b, l)
		}
	}
	writeFile(t, filepath.Join(dir, "a.log.1"), content(a[:500]), Plain)
	writeFile(t, filepath.Join(dir, "a.log"), content(a[500:]), Plain)
	writeFile(t, filepath.Join(dir, "b.log"), content(b), Plain)
	got, _ := readAll(t, Query{Files: []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}, Loc: time.UTC})
	same(t, got, want)
	got, _ = readAll(t, Query{Files: []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}, Tail: 10, Loc: time.UTC})
	same(t, got, want[len(want)-10:])
}

func TestReadTail(t *testing.T) {
	path, all := rotated(t, t.TempDir(), 300)
	match := func(b []byte) bool { return bytes.Contains(b, []byte(" error ")) }
	want := window(all, time.Time{}, time.Time{}, func(l string) bool { return strings.Contains(l, " error ") })
	for _, n := range []int{1, 25, 50, 119, 1000} {
		got, _ := readAll(t, Query{Files: []string{path}, Tail: n, Match: match, Loc: time.UTC})
		same(t, got, want[max(len(want)-n, 0):])
		got, _ = readAll(t, Query{Files: []string{path}, Tail: n, Match: match, Needle: []byte(" error "), Loc: time.UTC})
		same(t, got, want[max(len(want)-n, 0):])
	}
}

func TestReadRange(t *testing.T) {
	path, all := rotated(t, t.TempDir(), 100)
	cur, _ := os.ReadFile(path)
	from := int64(bytes.IndexByte(cur, '\n') + 1)
	var sawEnd int64
	got, gaps := readAll(t, Query{Files: []string{path}, Range: func(f *File) Range {
		switch {
		case !f.Current && f.Compression != Plain:
			return Range{Skip: true}
		case !f.Current:
			return Range{From: 0, To: -1, Missed: 5}
		}
		return Range{From: from, To: int64(len(cur)) - 1}
	}})
	_ = sawEnd
	if len(gaps) != 1 || gaps[0].Missed != 5 {
		t.Fatalf("gaps %+v", gaps)
	}
	same(t, got, append(append([]string{}, all[200:300]...), all[301:]...))
}

func TestSiblingsOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"app.log", "app.log.1", "app.log.10.gz", "app.log.2.gz", "app.log-20261130.gz",
		"app.log-20261201", "app.log.bak", "app.logger", "other.log.1", "app.log.3.zst"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	sibs, err := Siblings(filepath.Join(dir, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sibs {
		got = append(got, filepath.Base(s.Path))
	}
	same(t, got, []string{"app.log-20261130.gz", "app.log-20261201", "app.log.10.gz", "app.log.3.zst", "app.log.2.gz", "app.log.1"})
}

func TestReadSyslogAndCommonLog(t *testing.T) {
	dir := t.TempDir()
	sys := []string{"Dec  1 09:59:59 h a", "Dec  1 10:00:00 h b", "Dec  1 10:00:01 h c", "Dec  1 10:00:02 h d"}
	clf := []string{`1 - - [01/Dec/2026:09:59:59 +0000] "GET /a"`, `1 - - [01/Dec/2026:10:00:00 +0000] "GET /b"`, `1 - - [01/Dec/2026:10:00:02 +0000] "GET /c"`}
	writeFile(t, filepath.Join(dir, "syslog"), content(sys), Plain)
	writeFile(t, filepath.Join(dir, "access.log"), content(clf), Plain)
	q := Query{Since: t0, Until: t0.Add(time.Second), Now: t0.Add(time.Hour), Loc: time.UTC}
	q.Files = []string{filepath.Join(dir, "syslog")}
	got, _ := readAll(t, q)
	same(t, got, sys[1:3])
	q.Files = []string{filepath.Join(dir, "access.log")}
	got, _ = readAll(t, q)
	same(t, got, clf[1:2])
}

func TestReadStopsWithContext(t *testing.T) {
	path, _ := rotated(t, t.TempDir(), 5000)
	ctx, cancel := context.WithCancel(context.Background())
	items := 0
	err := Read(ctx, Query{Files: []string{path}, MaxBatch: 10}, func(Item) error {
		items++
		cancel()
		return nil
	})
	if err == nil || items != 1 {
		t.Fatalf("err %v after %d items", err, items)
	}
}

// A file that shrinks under the read (copytruncate) is a gap, and the read
// goes on; an unreadable sibling is a gap too.
func TestReadShrunkAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	path, all := rotated(t, dir, 100)
	got, gaps := readAll(t, Query{Files: []string{path}, Range: func(f *File) Range {
		if f.Path == path+".1" {
			os.Truncate(f.Path, 10) // between the plan and the read
		}
		return Range{From: 0, To: -1}
	}})
	if len(gaps) != 1 || gaps[0].Missed != -1 {
		t.Fatalf("shrunk: gaps %+v", gaps)
	}
	same(t, got[len(got)-100:], all[300:])
	if os.Geteuid() == 0 {
		t.Skip("root reads a file of mode 000")
	}
	os.Chmod(path+".2.gz", 0)
	got, gaps = readAll(t, Query{Files: []string{path}})
	if len(gaps) != 2 {
		t.Fatalf("unreadable: gaps %+v", gaps)
	}
	same(t, got[len(got)-100:], all[300:])
}

// A matching line without a time of its own takes the time of the line
// before it, even when the lines around it were skipped by the needle.
func TestReadUntimedLineTakesPreviousTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, content(logLines(0, 5000)), Plain)
	n := 0
	err := Read(context.Background(), Query{Files: []string{path}, Since: t0.Add(100 * time.Second), Needle: []byte("continuation"),
		Match: func(b []byte) bool { return bytes.Contains(b, []byte("continuation")) }, Loc: time.UTC}, func(it Item) error {
		for _, l := range it.Lines {
			var prev int
			fmt.Sscanf(strings.TrimSpace(string(l.Text)), "continuation of %d", &prev)
			if want := t0.Add(time.Duration(prev) * time.Second); !l.Time.Equal(want) {
				t.Fatalf("%q: time %v, want %v", l.Text, l.Time, want)
			}
			n++
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("%d lines, %v", n, err)
	}
}
