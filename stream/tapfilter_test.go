package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"edgetail/event"
	"edgetail/query"
)

// filterOf compiles a filter of q= text.
func filterOf(t *testing.T, q string) *query.Filter {
	t.Helper()
	f := &query.Filter{Q: q}
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
	return f
}

// publishKeyed commits lines from..to-1 of a keyed source, each "line N"
// or, when odd(N), "line N boom".
func publishKeyed(t *testing.T, s *Source, p *slicePast, from, to int, boom func(int) bool) {
	t.Helper()
	var ls []event.Line
	for i := from; i < to; i++ {
		l := keyed(i)
		if boom(i) {
			l.Text = []byte(fmt.Sprintf("line %d boom", i))
		}
		p.add(l)
		ls = append(ls, l)
	}
	if err := s.Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
}

func every(n int) func(int) bool { return func(i int) bool { return i%n == 0 } }

// A filtered tap gets only the events that pass its filter, shares the
// group of a client with the same filter, and its Through moves with
// every commit, matching or not, without a wake-up for the commits that
// hold nothing for it.
func TestTapFilteredTakesMatchesAndTracksThrough(t *testing.T) {
	h := New(Options{ReplayLines: 100})
	s := h.Source("j", KindJournal)
	p := &slicePast{}
	s.SetPast(p)
	publishKeyed(t, s, p, 0, 3, every(100))
	notify := make(chan struct{}, 1)
	tp := s.TapFiltered(nil, TapOptions{Filter: filterOf(t, "boom"), Notify: notify})
	defer tp.Close()
	if got := string(tp.Through()); got != "k0002" {
		t.Fatalf("through at start %q, want k0002", got)
	}
	publishKeyed(t, s, p, 3, 10, every(100)) // nothing for the tap
	select {
	case <-notify:
		t.Fatal("a commit with no match woke the tap")
	default:
	}
	evs, missed, _ := tp.Take(nil)
	if len(evs) != 0 || missed != 0 || string(tp.Through()) != "k0009" {
		t.Fatalf("took %d, missed %d, through %q; want none and k0009", len(evs), missed, tp.Through())
	}
	publishKeyed(t, s, p, 10, 20, every(5))
	select {
	case <-notify:
	case <-time.After(time.Second):
		t.Fatal("a match did not wake the tap")
	}
	evs, _, _ = tp.Take(nil)
	if len(evs) != 2 || string(evs[0].Line) != "line 10 boom" || string(evs[1].Line) != "line 15 boom" {
		t.Fatalf("took %v", lineTexts(evs))
	}
	if got := string(tp.Through()); got != "k0019" {
		t.Fatalf("through %q, want k0019", got)
	}
	h.mu.Lock()
	groups := len(s.groups)
	h.mu.Unlock()
	if groups != 1 {
		t.Fatalf("%d groups", groups)
	}
}

// Resumed after a key, a filtered tap reads the matches after it from the
// replay buffer or, when the buffer no longer holds it, from the past, and
// stands at the last event committed once it has read them.
func TestTapFilteredResumesAfterAKey(t *testing.T) {
	for _, replay := range []int{100, 5} {
		t.Run(fmt.Sprint("replay", replay), func(t *testing.T) {
			h := New(Options{ReplayLines: replay})
			s := h.Source("j", KindJournal)
			p := &slicePast{}
			s.SetPast(p)
			publishKeyed(t, s, p, 0, 30, every(4))
			tp := s.TapFiltered([]byte("k0009"), TapOptions{Filter: filterOf(t, "boom"), Buffer: 4})
			defer tp.Close()
			lines, missed := tapText(t, tp, 5) // 12 16 20 24 28
			if len(missed) != 0 || lines[0] != "line 12 boom" || lines[4] != "line 28 boom" {
				t.Fatalf("lines %v missed %v", lines, missed)
			}
			deadline := time.Now().Add(5 * time.Second)
			for string(tp.Through()) != "k0029" {
				if time.Now().After(deadline) {
					t.Fatalf("through %q, want k0029", tp.Through())
				}
				tp.Take(nil)
				time.Sleep(time.Millisecond)
			}
			// Past the queue's bound: read again, still only matches.
			publishKeyed(t, s, p, 30, 60, every(2))
			lines, missed = tapText(t, tp, 15)
			if len(missed) != 0 || lines[0] != "line 30 boom" || lines[14] != "line 58 boom" {
				t.Fatalf("after overflow: lines %v missed %v", lines, missed)
			}
			for string(tp.Through()) != "k0059" {
				if time.Now().After(deadline) {
					t.Fatalf("through %q, want k0059", tp.Through())
				}
				tp.Take(nil)
				time.Sleep(time.Millisecond)
			}
		})
	}
}

func lineTexts(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Line))
	}
	return out
}

// A batch whose lines hold a filter's literal nowhere is ruled out by one
// search of its lines; one that holds it, in any case, anywhere, still
// matches line by line, whichever byte of the literal the search has come
// to look for (it moves on when lines hold a byte too often).
func TestMatchGroupsRulesOutBatchesWithoutTheLiteral(t *testing.T) {
	h := New(Options{})
	s := h.Source("app", KindFile)
	for _, f := range []*query.Filter{{Q: "Panic:"}, {Re: "segfault at [0-9a-f]+"}, {Q: "refused", Level: event.LevelWarn}} {
		if err := f.Compile(); err != nil {
			t.Fatal(err)
		}
		g := &group{key: f.Key(), filter: f}
		for batch := range 40 {
			lines := make([]event.Line, 100)
			want := -1
			for i := range lines {
				lines[i] = event.Line{Text: []byte(fmt.Sprintf(`%d level=info msg="bench line" pad=xxxx`, i)), Key: []byte(fmt.Sprintf("fk%d:0.%d", batch, i))}
			}
			if batch%3 == 0 {
				want = batch % 100
				lines[want].Text = []byte(fmt.Sprintf("WARN x PANIC: segfault at 7f REFUSED %d", batch))
			}
			events := s.encode(lines, true)
			m := s.matchGroups([]*group{g}, events)[g]
			for i, ok := range m {
				if ok != (i == want) {
					t.Fatalf("filter %s, batch %d: line %d matched %v (the line holding the literal: %d)", f, batch, i, ok, want)
				}
			}
		}
	}
}
