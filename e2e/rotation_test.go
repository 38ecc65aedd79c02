package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writer appends numbered lines at a steady rate and rotates the file the
// way the named strategy does.
type writer struct {
	t        *testing.T
	path     string
	rate     int // lines per second
	total    int
	every    int // rotate after this many lines
	strategy string
}

func (w *writer) run() {
	f, err := os.OpenFile(w.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	defer func() { f.Close() }()
	start := time.Now()
	for i := range w.total {
		// Pace by the clock, not by sleeping a fixed time per line, so
		// the rate holds whatever a write costs.
		if due := start.Add(time.Duration(i) * time.Second / time.Duration(w.rate)); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
		if i > 0 && i%w.every == 0 {
			f = w.rotate(f, i)
		}
		if _, err := fmt.Fprintf(f, "seq=%d t=%d\n", i, time.Now().UnixNano()); err != nil {
			w.t.Error(err)
			return
		}
	}
}

func (w *writer) rotate(f *os.File, i int) *os.File {
	switch w.strategy {
	case "rename":
		// logrotate's default: rename, then the application reopens a
		// moment later, writing a few lines to the renamed file first.
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			w.t.Error(err)
		}
		return w.reopenAfter(f, 2*time.Millisecond)
	case "delete":
		if err := os.Remove(w.path); err != nil {
			w.t.Error(err)
		}
		return w.reopenAfter(f, 0)
	case "copytruncate":
		data, err := os.ReadFile(w.path)
		if err != nil {
			w.t.Error(err)
		}
		if err := os.WriteFile(w.path+".1", data, 0o644); err != nil {
			w.t.Error(err)
		}
		if err := os.Truncate(w.path, 0); err != nil {
			w.t.Error(err)
		}
	}
	return f
}

func (w *writer) reopenAfter(f *os.File, d time.Duration) *os.File {
	time.Sleep(d)
	f.Close()
	nf, err := os.OpenFile(w.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	return nf
}

// collect reads seq numbers from the stream until total distinct ones
// arrived or nothing came for quiet.
func collect(t *testing.T, c *client, total int, quiet time.Duration) (seqs []int) {
	t.Helper()
	seen := map[int]bool{}
	for len(seen) < total {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return seqs
			}
			if ev.Type != "" {
				t.Errorf("unexpected %s event: %s", ev.Type, ev.Data)
				continue
			}
			s, ok := strings.CutPrefix(ev.Data, "seq=")
			if !ok {
				t.Errorf("unexpected line %q", ev.Data)
				continue
			}
			n, _ := strconv.Atoi(strings.Fields(s)[0])
			seqs = append(seqs, n)
			seen[n] = true
		case <-time.After(quiet):
			return seqs
		}
	}
	return seqs
}

// check counts lost and repeated numbers.
func check(seqs []int, total int) (lost, repeated, reordered int) {
	count := make([]int, total)
	prev := -1
	for _, s := range seqs {
		if s < 0 || s >= total {
			continue
		}
		count[s]++
		if s < prev {
			reordered++
		}
		prev = s
	}
	for _, c := range count {
		switch {
		case c == 0:
			lost++
		case c > 1:
			repeated += c - 1
		}
	}
	return
}

func TestRotationUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		strategy, engine string
		rate             int
		exact            bool
	}{
		{"rename", "native", 1000, true},
		{"rename", "native", 5000, true},
		{"delete", "native", 1000, true},
		{"copytruncate", "native", 1000, false},
		{"rename", "poll", 1000, false},
	} {
		t.Run(fmt.Sprintf("%s-%s-%d", tc.strategy, tc.engine, tc.rate), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			a := start(t, fmt.Sprintf("sources:\n  - name: app\n    engine: %s\n    files: [%s]\n", tc.engine, path))
			c := a.open("/stream/app?tail=0")
			total := tc.rate * 3
			w := &writer{t: t, path: path, rate: tc.rate, total: total, every: 2000, strategy: tc.strategy}
			if tc.rate < 2000 {
				w.every = 500
			}
			go w.run()
			seqs := collect(t, c, total, 5*time.Second)
			lost, repeated, reordered := check(seqs, total)
			t.Logf("%s/%s at %d lines/s, rotating every %d: %d lines, %d lost, %d repeated, %d out of order",
				tc.strategy, tc.engine, tc.rate, w.every, total, lost, repeated, reordered)
			if repeated > 0 {
				t.Errorf("%d lines repeated", repeated)
			}
			if tc.exact && (lost > 0 || reordered > 0) {
				t.Errorf("%d lost, %d out of order; want none", lost, reordered)
			}
			// copytruncate can lose what nobody read before the truncate;
			// the poll engine (nxadm/tail) loses what was written between
			// its last poll and a rename. Both are documented; the bound
			// catches a regression.
			// Poll: at most what is written in one poll (100 ms) per rotation,
			// a third of the lines here; seen 148-915 on a busy machine.
			if bound := total / 100; tc.engine == "poll" && lost > total/2 || tc.engine != "poll" && !tc.exact && lost > bound {
				t.Errorf("%d of %d lost: beyond the documented bound", lost, total)
			}
		})
	}
}

func TestTruncateDeleteRecreateAndNewFiles(t *testing.T) {
	dir := t.TempDir()
	a1 := filepath.Join(dir, "a.log")
	appendLines(t, a1, "old a")
	a := start(t, fmt.Sprintf("sources:\n  - name: app\n    files: [%s/*.log]\n    exclude: [\"skip-*\"]\n", dir))
	c := a.open("/stream/app?tail=0")
	expect := func(want string) {
		t.Helper()
		for {
			ev := c.next(t)
			if ev.Data == want {
				return
			}
			t.Fatalf("got %q, want %q", ev.Data, want)
		}
	}
	appendLines(t, a1, "a appended")
	expect("a appended")

	if err := os.Truncate(a1, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, a1, "after truncate")
	expect("after truncate")

	if err := os.Remove(a1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deletion noticed", func() bool {
		return strings.Contains(sourcesJSON(t, a), `"missing"`) || !strings.Contains(sourcesJSON(t, a), "a.log")
	})
	appendLines(t, a1, "recreated")
	expect("recreated")

	appendLines(t, filepath.Join(dir, "skip-me.log"), "excluded")
	appendLines(t, filepath.Join(dir, "b.log"), "new file b")
	expect("new file b")

	sub := filepath.Join(dir, "b.log.1")
	appendLines(t, sub, "not matching the glob")
	appendLines(t, a1, "still following a")
	expect("still following a")
}

func sourcesJSON(t *testing.T, a *agent) string {
	t.Helper()
	resp := a.get("/api/sources")
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
