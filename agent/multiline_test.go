package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/stream"
)

// TestMultilineConfigProblems: `edgetail check` names a bad start
// expression, start with preset, an unknown preset and bad bounds, each
// at its own line.
func TestMultilineConfigProblems(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{"sources:\n  - name: a\n    files: [/a]\n    multiline:\n      start: '^(x'\n", []string{"t.yaml:5: sources[0].multiline.start: bad regular expression"}},
		{"sources:\n  - name: a\n    files: [/a]\n    multiline:\n      preset: java\n      start: '^x'\n", []string{"t.yaml:6: sources[0].multiline.start: start and preset are exclusive"}},
		{"sources:\n  - name: a\n    files: [/a]\n    multiline:\n      preset: cobol\n", []string{"t.yaml:5: sources[0].multiline.preset: unknown preset \"cobol\""}},
		{"sources:\n  - name: a\n    files: [/a]\n    multiline: {max_lines: 5}\n", []string{"t.yaml:4: sources[0].multiline: set preset"}},
		{"sources:\n  - name: a\n    files: [/a]\n    multiline:\n      preset: go\n      max_lines: -1\n      max_bytes: lots\n      wait: -1s\n",
			[]string{"t.yaml:6: sources[0].multiline.max_lines", "t.yaml:7: sources[0].multiline.max_bytes", "t.yaml:8: sources[0].multiline.wait"}},
		{"sources:\n  - name: j\n    journal: {}\n    multiline: {preset: java}\n", []string{"t.yaml:4: sources[0].multiline: multiline groups the lines of files"}},
		{"sources:\n  - name: a\n    files: [/a]\n    multiline: {preset: java, colour: red}\n", []string{"t.yaml:4:", "colour"}},
	} {
		_, err := ParseConfig([]byte(c.yaml), "t.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: got %v, want a ConfigError", c.yaml, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", c.yaml, err, w)
			}
		}
	}
	cfg, err := ParseConfig([]byte("sources:\n  - name: a\n    files: [/a]\n    multiline: {preset: java, max_bytes: 1MiB, wait: 50ms, max_lines: 9}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := cfg.Sources[0].Multiline.rules()
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Config(); c.MaxBytes != 1<<20 || c.Wait != 50*time.Millisecond || c.MaxLines != 9 {
		t.Fatalf("rules %+v", c)
	}
}

// takeN reads n events from a tap.
func takeN(t *testing.T, tp *stream.Tap, n int) []*event.Event {
	t.Helper()
	var got []*event.Event
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		evs, missed, ended := tp.Take(nil)
		if missed != 0 || ended {
			t.Fatalf("missed %d, ended %v after %d events", missed, ended, len(got))
		}
		got = append(got, evs...)
		if len(evs) == 0 {
			select {
			case <-tp.Notify():
			case <-deadline:
				var s []string
				for _, e := range got {
					s = append(s, string(e.Line))
				}
				t.Fatalf("got %d of %d events: %q", len(got), n, s)
			}
		}
	}
	return got
}

// traceOf is a Java trace of name, lines long with its log line.
func traceOf(name string, frames int) []string {
	l := []string{"2026-12-01 10:00:00 ERROR " + name + " failed", "java.lang.IllegalStateException: " + name}
	for i := range frames {
		l = append(l, fmt.Sprintf("\tat %s.f%d(X.java:%d)", name, i, i))
	}
	return l
}

// TestMultilineSourceGroupsPerFileAndResumes: two files of one source
// writing traces interleaved, line by line, give one event per trace that
// never mixes the files, each keyed; after a restart, a tap after an
// event's key reads the traces written while the agent was down from
// disk, grouped the same way, then the live ones: each once, in order.
func TestMultilineSourceGroupsPerFileAndResumes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	os.WriteFile(a, nil, 0o644)
	os.WriteFile(b, nil, 0o644)
	cfg, err := ParseConfig(fmt.Appendf(nil, `state_dir: %s
stream: {replay_lines: 3}
sources:
  - name: app
    files: [%s]
    multiline: {preset: java, wait: 100ms}
`, filepath.Join(dir, "state"), filepath.Join(dir, "*.log")), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	appendTo := func(path string, lines ...string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		f.Close()
	}
	interleave := func(n int, prefix string) (want []string) {
		for i := range n {
			ta, tb := traceOf(fmt.Sprintf("%sa%d", prefix, i), 3), traceOf(fmt.Sprintf("%sb%d", prefix, i), 4)
			for j := range max(len(ta), len(tb)) {
				if j < len(ta) {
					appendTo(a, ta[j])
				}
				if j < len(tb) {
					appendTo(b, tb[j])
				}
				time.Sleep(2 * time.Millisecond)
			}
			want = append(want, strings.Join(ta, "\n"), strings.Join(tb, "\n"))
		}
		return want
	}
	check := func(got []*event.Event, want []string) {
		t.Helper()
		seen := map[string]int{}
		for _, e := range got {
			seen[string(e.Line)]++
			if e.Key == nil || e.Lines != strings.Count(string(e.Line), "\n")+1 {
				t.Errorf("event %q: key %q, lines %d", e.Line, e.Key, e.Lines)
			}
			if e.Level != event.LevelError {
				t.Errorf("event %q: level %v", e.Line, e.Level)
			}
		}
		for _, w := range want {
			if seen[w] != 1 {
				t.Errorf("trace %q seen %d times", w, seen[w])
			}
		}
		if len(got) != len(want) {
			var s []string
			for _, e := range got {
				s = append(s, string(e.Line))
			}
			t.Fatalf("%d events, want %d: %q", len(got), len(want), s)
		}
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	a1, _, done1 := serveAgent(ctx1, t, cfg)
	src := a1.hub.Lookup("app")
	tp := src.Tap(src.LastID(), 0)
	want := interleave(3, "live")
	got := takeN(t, tp, len(want))
	check(got, want)
	// Per file, the traces come in their order.
	var resumeAfter []byte
	for _, e := range got {
		if strings.Contains(string(e.Line), "livea0 failed") {
			resumeAfter = e.Key
		}
	}
	tp.Close()
	cancel1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}

	down := interleave(2, "down")
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	a2, _, done2 := serveAgent(ctx2, t, cfg)
	tp2 := a2.hub.Lookup("app").TapKey(resumeAfter, 0)
	// After livea0: livea1, livea2 of a; every b trace whose lines were
	// committed after livea0's (b's offset in the key is where b stood).
	got2 := takeN(t, tp2, 2)
	var texts []string
	for _, e := range got2 {
		texts = append(texts, string(e.Line))
	}
	if !strings.Contains(strings.Join(texts, "|"), "livea1 failed") {
		t.Errorf("resume after livea0 did not continue with livea1: %q", texts)
	}
	// Everything after, through the traces written while down and one
	// live, comes once and grouped.
	live := interleave(1, "again")
	all := append(got2, takeUntil(t, tp2, "againb0 failed")...)
	seen := map[string]int{}
	for _, e := range all {
		seen[string(e.Line)]++
	}
	for _, w := range append(append([]string{want[2], want[4]}, down...), live...) {
		if seen[w] != 1 {
			t.Errorf("after the restart, trace %q seen %d times", w, seen[w])
		}
	}
	if seen[want[0]] != 0 {
		t.Errorf("the resume point's own event came again")
	}
	tp2.Close()
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
}

// takeUntil reads a tap until an event holds s.
func takeUntil(t *testing.T, tp *stream.Tap, s string) []*event.Event {
	t.Helper()
	var got []*event.Event
	deadline := time.After(20 * time.Second)
	for {
		evs, missed, ended := tp.Take(nil)
		if missed != 0 || ended {
			t.Fatalf("missed %d, ended %v", missed, ended)
		}
		got = append(got, evs...)
		for _, e := range evs {
			if strings.Contains(string(e.Line), s) {
				return got
			}
		}
		if len(evs) == 0 {
			select {
			case <-tp.Notify():
			case <-deadline:
				t.Fatalf("no event with %q", s)
			}
		}
	}
}
