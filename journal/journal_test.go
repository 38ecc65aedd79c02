package journal_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"edgetail/journal"
	"edgetail/journal/journaltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// follower runs a Journal and hands what it emits to a channel.
type follower struct {
	got  chan journal.Entry
	stop func()
}

func follow(t *testing.T, o journal.Options) *follower {
	t.Helper()
	j, err := journal.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{got: make(chan journal.Entry, 100000)}
	done := make(chan error, 1)
	go func() {
		done <- j.Run(ctx, func(es []journal.Entry) error {
			for _, e := range es {
				f.got <- e
			}
			return nil
		})
	}()
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(f.stop)
	return f
}

func (f *follower) next(t *testing.T) journal.Entry {
	t.Helper()
	select {
	case e := <-f.got:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no entry within 20s")
	}
	return journal.Entry{}
}

// nextOurs skips journald's own entries.
func (f *follower) nextOurs(t *testing.T) journal.Entry {
	t.Helper()
	for {
		if e := f.next(t); e.Identifier == "test" {
			return e
		}
	}
}

func TestFollowPrefillLiveAndChildKilled(t *testing.T) {
	jd := journaltest.Start(t)
	for i := range 3 {
		jd.Log(t, "test", 6, fmt.Sprintf("before-%d", i))
	}
	jd.WaitMessage(t, "before-2")
	f := follow(t, journal.Options{Directory: jd.Dir, Prefill: 2, Identifiers: []string{"test"}})
	for _, want := range []string{"before-1", "before-2"} {
		if e := f.nextOurs(t); string(e.Message) != want {
			t.Fatalf("got %q, want %q", e.Message, want)
		}
	}
	jd.Log(t, "test", 3, "live-0")
	e := f.nextOurs(t)
	if string(e.Message) != "live-0" || e.Priority != 3 || e.PID != os.Getpid() || e.Boot == "" || e.Cursor == "" {
		t.Fatalf("live entry %+v", e)
	}
	// Kill journalctl: the next one resumes right after live-0.
	var kids []int
	deadline := time.Now().Add(20 * time.Second)
	for kids = journaltest.Children(os.Getpid(), "journalctl"); len(kids) == 0; kids = journaltest.Children(os.Getpid(), "journalctl") {
		if time.Now().After(deadline) {
			t.Fatal("no journalctl child")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	for i := range 50 {
		jd.Log(t, "test", 6, fmt.Sprintf("after-%d", i))
	}
	for i := range 50 {
		if e := f.nextOurs(t); string(e.Message) != fmt.Sprintf("after-%d", i) {
			t.Fatalf("after the kill got %q, want after-%d", e.Message, i)
		}
	}
	select {
	case e := <-f.got:
		t.Fatalf("extra entry %q", e.Message)
	default:
	}
}

func TestResumeAfterAndReadPast(t *testing.T) {
	jd := journaltest.Start(t)
	for i := range 5 {
		jd.Log(t, "test", 6, fmt.Sprintf("m-%d", i))
	}
	m1 := jd.WaitMessage(t, "m-1")
	m3 := jd.WaitMessage(t, "m-3")
	jd.WaitMessage(t, "m-4")
	j, err := journal.New(journal.Options{Directory: jd.Dir, Identifiers: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = j.ReadPast(context.Background(), journal.Query{After: m1.Cursor, Through: m3.Cursor}, func(missed bool, es []journal.Entry) error {
		if missed {
			t.Error("missed on a cursor still there")
		}
		for _, e := range es {
			got = append(got, string(e.Message))
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[m-2 m-3]" {
		t.Fatalf("ReadPast: %v %v", got, err)
	}

	// A time window: m-1 to m-3 by their own timestamps, and the last 2.
	got = nil
	err = j.ReadPast(context.Background(), journal.Query{Since: m1.Time, Until: m3.Time}, func(_ bool, es []journal.Entry) error {
		for _, e := range es {
			got = append(got, string(e.Message))
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[m-1 m-2 m-3]" {
		t.Fatalf("since/until: %v %v", got, err)
	}
	got = nil
	err = j.ReadPast(context.Background(), journal.Query{Tail: 2}, func(_ bool, es []journal.Entry) error {
		for _, e := range es {
			got = append(got, string(e.Message))
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[m-3 m-4]" {
		t.Fatalf("tail: %v %v", got, err)
	}

	// Resume a follower after m-3.
	f := follow(t, journal.Options{Directory: jd.Dir, After: m3.Cursor, Identifiers: []string{"test"}})
	if e := f.next(t); string(e.Message) != "m-4" {
		t.Fatalf("resumed at %q", e.Message)
	}
	f.stop()

	// Vacuum m-0..m-4 away: a read after m-1 says missed, then starts at
	// the oldest left.
	jd.Rotate(t)
	jd.Log(t, "test", 6, "n-0")
	jd.WaitMessage(t, "n-0")
	jd.Vacuum(t)
	got = nil
	var missed []bool
	err = j.ReadPast(context.Background(), journal.Query{After: m1.Cursor}, func(m bool, es []journal.Entry) error {
		missed = append(missed, m)
		for _, e := range es {
			got = append(got, string(e.Message))
		}
		return nil
	})
	if err != nil || len(missed) == 0 || !missed[0] || len(got) == 0 || got[0] != "n-0" {
		t.Fatalf("after vacuum: missed %v, got %v, err %v", missed, got, err)
	}
}

func TestMissingDirectoryIsAnError(t *testing.T) {
	if _, err := os.Stat("/usr/bin/journalctl"); err != nil {
		t.Skip("no journalctl")
	}
	j, err := journal.New(journal.Options{Directory: "/nonexistent/journal", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx, func([]journal.Entry) error { return nil }) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, msg := j.Status(); st == journal.StateError && msg != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no error state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
