package tailer

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// holdSink holds every line it is handed until wait has passed since the
// last one, like a multiline source's open event.
type holdSink struct {
	wait time.Duration

	mu       sync.Mutex // the test reads what the tailer's goroutine writes
	held     []Line
	last     time.Time
	released []Line
	at       []time.Time // when each release happened
	releases int
}

var _ Holder = (*holdSink)(nil)

func (h *holdSink) Publish(_ context.Context, b Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, b.Lines...)
	h.last = time.Now()
	return nil
}

func (h *holdSink) Patience() time.Duration { return time.Millisecond }

func (h *holdSink) Due() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		return time.Time{}
	}
	return h.last.Add(h.wait)
}

func (h *holdSink) Release(_ context.Context, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releases++
	if len(h.held) == 0 || now.Before(h.last.Add(h.wait)) {
		return nil
	}
	h.released = append(h.released, h.held...)
	h.held = nil
	h.at = append(h.at, now)
	return nil
}

func (h *holdSink) snapshot() (released int, releases int, at []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.released), h.releases, append([]time.Time(nil), h.at...)
}

// TestHolderReleasedAfterWait: lines a sink holds are released by the
// engine's one timer once wait has passed since the last, not before and
// well within wait + 100 ms; a burst of writes closer than wait costs one
// release, not a timer per line. Both engines.
func TestHolderReleasedAfterWait(t *testing.T) {
	for _, eng := range []Engine{EngineNative, EnginePoll} {
		t.Run(string(eng), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			appendFile(t, path, "")
			h := &holdSink{wait: 150 * time.Millisecond}
			tl, err := New(Options{Globs: []string{path}, Engine: eng, PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- tl.Run(ctx, h) }()
			defer func() {
				cancel()
				if err := <-errc; err != nil {
					t.Error(err)
				}
			}()
			<-tl.Started()
			time.Sleep(100 * time.Millisecond) // the poll engine's tail opens
			var lastWrite time.Time
			for i := 1; i <= 20; i++ {
				appendFile(t, path, lineN(i))
				lastWrite = time.Now()
				time.Sleep(10 * time.Millisecond)
			}
			waitFor(t, 3*time.Second, "the release", func() bool { n, _, _ := h.snapshot(); return n == 20 })
			n, releases, at := h.snapshot()
			if n != 20 || len(at) != 1 {
				t.Fatalf("%d lines in %d releases", n, len(at))
			}
			if d := at[0].Sub(lastWrite); d < h.wait-20*time.Millisecond || d > h.wait+100*time.Millisecond {
				t.Errorf("released %v after the last write, want about %v", d, h.wait)
			}
			// The timer fired at most a few times: when first due, and
			// again for the due time the later lines moved.
			if releases > 5 {
				t.Errorf("%d calls of Release for one burst", releases)
			}
			t.Logf("%s: released %v after the last write, %d calls of Release", eng, at[0].Sub(lastWrite), releases)
		})
	}
}
