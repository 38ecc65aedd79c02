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

// fakeHolder says a fixed due time and counts releases.
type fakeHolder struct {
	chanSink
	due      time.Time
	released int
}

func (f *fakeHolder) Due() time.Time { return f.due }
func (f *fakeHolder) Release(context.Context, time.Time) error {
	f.released++
	f.due = time.Time{}
	return nil
}

// TestReleaserTransitions: one test per transition of the release timer.
// A sink that holds nothing leaves it inert; check arms it for a due time
// and moves it only to an earlier one; fire releases and re-arms for what
// is still held, or disarms.
func TestReleaserTransitions(t *testing.T) {
	if r := newReleaser(chanSink(nil)); r.h != nil || r.c() != nil {
		t.Fatal("a plain sink got a timer")
	}
	f := &fakeHolder{}
	r := newReleaser(f)
	defer r.stop()
	r.check() // nothing held: stays unarmed
	if r.c() != nil {
		t.Fatal("armed with nothing held")
	}
	now := time.Now()
	f.due = now.Add(time.Hour)
	r.check()
	if !r.armed.Equal(f.due) || r.c() == nil {
		t.Fatalf("armed for %v, want %v", r.armed, f.due)
	}
	f.due = now.Add(2 * time.Hour) // later: the timer is left alone
	r.check()
	if !r.armed.Equal(now.Add(time.Hour)) {
		t.Fatalf("moved to a later time: %v", r.armed)
	}
	f.due = now.Add(time.Minute) // sooner: moved
	r.check()
	if !r.armed.Equal(now.Add(time.Minute)) {
		t.Fatalf("not moved to a sooner time: %v", r.armed)
	}
	if !r.fire(context.Background(), now) || f.released != 1 || r.c() != nil {
		t.Fatalf("fire: released %d, armed %v", f.released, r.armed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r.fire(ctx, now) {
		t.Fatal("fire went on after ctx ended")
	}
}
