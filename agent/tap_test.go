package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A tap started after the durable key of a line of an earlier run of the
// agent reads, from the file on disk, the lines written while the agent
// was down (more than its replay buffer holds), then the live ones: each
// once, in order, with no gap. This is what the fleet publisher resumes by.
func TestTapResumesFromDiskAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	os.WriteFile(path, nil, 0o644)
	cfg, err := ParseConfig(fmt.Appendf(nil, `state_dir: %s
stream: {replay_lines: 3}
sources:
  - name: app
    files: [%s]
`, filepath.Join(dir, "state"), path), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	committed := func(a *Agent, n uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			for _, st := range a.hub.Stats() {
				if st.Name == "app" && st.Lines >= n {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d lines never committed", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write := func(prefix string, n int) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			fmt.Fprintf(f, "%s %d\n", prefix, i)
		}
		f.Close()
	}
	stop := func(cancel context.CancelFunc, done <-chan error) {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	a1, _, done1 := serveAgent(ctx1, t, cfg)
	write("before", 5)
	committed(a1, 5)
	key := a1.hub.Lookup("app").LastKey()
	if key == nil {
		t.Fatal("file lines have no durable key")
	}
	stop(cancel1, done1)

	write("down", 20) // the replay buffer holds 3
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	a2, _, done2 := serveAgent(ctx2, t, cfg)
	tp := a2.hub.Lookup("app").TapKey(key, 0)
	write("live", 4)
	var got []string
	deadline := time.After(20 * time.Second)
	for len(got) < 24 {
		evs, missed, ended := tp.Take(nil)
		if missed != 0 || ended {
			t.Fatalf("missed %d ended %v after %q", missed, ended, got)
		}
		for _, e := range evs {
			got = append(got, string(e.Line))
			if e.Key == nil {
				t.Fatalf("line %q has no durable key", e.Line)
			}
		}
		if len(evs) == 0 {
			select {
			case <-tp.Notify():
			case <-deadline:
				t.Fatalf("got %d of 24 lines: %q", len(got), got)
			}
		}
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("down %d", i))
	}
	for i := range 4 {
		want = append(want, fmt.Sprintf("live %d", i))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	tp.Close()
	stop(cancel2, done2)
}
