package tailer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nxadm/tail/watch.(*InotifyTracker).run"),
		goleak.IgnoreTopFunction("github.com/fsnotify/fsnotify.(*inotify).readEvents"),
	)
}

// collector drains a Tailer's output like the real caller would.
type collector struct {
	mu      sync.Mutex
	lines   []Line
	history []Line
}

func (c *collector) snapshot() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.lines...)
}

func (c *collector) texts() []string {
	var res []string
	for _, l := range c.snapshot() {
		res = append(res, string(l.Text))
	}
	return res
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// hasText reports whether a live line with this text was received.
func (c *collector) hasText(s string) bool {
	for _, l := range c.snapshot() {
		if string(l.Text) == s {
			return true
		}
	}
	return false
}

// start runs a Tailer until the test ends and waits for Started.
func start(t testing.TB, opts Options) (*Tailer, *collector) {
	t.Helper()
	tl, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch, 4)
	c := &collector{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-out:
				c.mu.Lock()
				if b.History {
					c.history = append(c.history, b.Lines...)
				} else {
					c.lines = append(c.lines, b.Lines...)
				}
				c.mu.Unlock()
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- tl.Run(ctx, chanSink(out)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		wg.Wait()
	})
	select {
	case <-tl.Started():
	case err := <-errc:
		t.Fatalf("Run returned before start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not started")
	}
	return tl, c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) bool {
	t.Helper()
	if eventually(d, cond) {
		return true
	}
	t.Errorf("timed out waiting for %s", what)
	return false
}

// eventually is waitFor without failing, for figures that are only recorded.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// status returns the FileStatus of path (zero if unknown).
func status(tl *Tailer, path string) FileStatus {
	for _, s := range tl.Files() {
		if s.Path == path {
			return s
		}
	}
	return FileStatus{}
}

// numbers parses numbered lines and reports lost, repeated and out-of-order
// counts against 1..n.
func numbers(lines []Line, n int) (lost, repeated, disorder int) {
	seen := make([]int, n+1)
	last := map[string]int{}
	for _, l := range lines {
		v, err := strconv.Atoi(string(l.Text))
		if err != nil || v < 1 || v > n {
			repeated++ // garbage counts as a bad line
			continue
		}
		seen[v]++
		if v < last[l.File] {
			disorder++
		}
		last[l.File] = v
	}
	for i := 1; i <= n; i++ {
		switch {
		case seen[i] == 0:
			lost++
		case seen[i] > 1:
			repeated += seen[i] - 1
		}
	}
	return
}

func lineN(i int) string { return fmt.Sprintf("%d\n", i) }

func dirGlob(dir string) string { return filepath.Join(dir, "*.log") }

// chanSink hands batches to a channel, as a consumer in another goroutine
// would see them. Its patience is a millisecond, so the tests also run the
// coalescing path.
type chanSink chan Batch

func (c chanSink) Publish(ctx context.Context, b Batch) error {
	select {
	case c <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (chanSink) Patience() time.Duration { return time.Millisecond }
