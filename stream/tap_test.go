package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"edgetail/event"
)

// drainTap takes everything the tap holds now, oldest first, and the
// missed counts it reported.
func drainTap(tp *Tap) (ids []uint64, missed []int64) {
	for {
		evs, m, _ := tp.Take(nil)
		if m != 0 {
			missed = append(missed, m)
		}
		if len(evs) == 0 && m == 0 {
			return ids, missed
		}
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
	}
}

func tapLines(t *testing.T, s *Source, from, n int) {
	t.Helper()
	ls := make([]event.Line, n)
	for i := range ls {
		ls[i] = event.Line{Text: []byte(fmt.Sprintf("line %d", from+i)), Time: time.Now()}
	}
	if err := s.Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
}

func TestTapResumesFromTheReplayBuffer(t *testing.T) {
	h := New(Options{ReplayLines: 100})
	s := h.Source("app", KindFile)
	tapLines(t, s, 0, 10)
	base := s.lastID.Load() - 10
	// Resume after the 4th line: lines 5..10 come from the buffer, then
	// live ones, each once.
	tp := s.Tap(base+4, 8)
	defer tp.Close()
	tapLines(t, s, 10, 5)
	ids, missed := drainTap(tp)
	if len(missed) != 0 {
		t.Fatalf("missed %v, want none", missed)
	}
	if len(ids) != 11 || ids[0] != base+5 || ids[10] != base+15 {
		t.Fatalf("ids %v, want %d..%d", ids, base+5, base+15)
	}
}

func TestTapOverflowReadsAgainFromTheBufferAndCountsEvictions(t *testing.T) {
	h := New(Options{ReplayLines: 50})
	s := h.Source("app", KindFile)
	tp := s.Tap(0, 4)
	defer tp.Close()
	tapLines(t, s, 0, 30) // queue of 4 overflows; all 30 are in the buffer
	ids, missed := drainTap(tp)
	if len(missed) != 0 || len(ids) != 30 {
		t.Fatalf("got %d ids, missed %v; want 30 and none", len(ids), missed)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("ids not contiguous: %v", ids)
		}
	}
	// Now 120 lines while nobody reads: the queue keeps 4, the buffer the
	// last 50, so exactly 120-4-50 = 66 are gone.
	tapLines(t, s, 30, 120)
	ids2, missed2 := drainTap(tp)
	if len(missed2) != 1 || missed2[0] != 66 {
		t.Fatalf("missed %v, want [66]", missed2)
	}
	if len(ids2) != 54 || ids2[0] != ids[29]+1 || ids2[53] != ids[29]+120 {
		t.Fatalf("got %d ids from %d to %d", len(ids2), ids2[0], ids2[len(ids2)-1])
	}
}

func TestTapOfAnUnknownIDReportsUnknownMissed(t *testing.T) {
	h := New(Options{})
	s := h.Source("app", KindFile)
	tapLines(t, s, 0, 3)
	tp := s.Tap(12345, 0) // an id of an earlier run
	defer tp.Close()
	tapLines(t, s, 3, 2)
	ids, missed := drainTap(tp)
	if len(missed) != 1 || missed[0] != -1 || len(ids) != 2 {
		t.Fatalf("ids %v missed %v, want 2 live ids after missed -1", ids, missed)
	}
}

// tapText takes from the tap until it has handed out n events (waiting on
// Notify while a read of the past runs in the background) and returns
// their lines and the missed counts it reported.
func tapText(t *testing.T, tp *Tap, n int) (lines []string, missed []int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(lines) < n {
		evs, m, ended := tp.Take(nil)
		if m != 0 {
			missed = append(missed, m)
		}
		for _, e := range evs {
			lines = append(lines, string(e.Line))
		}
		if ended {
			t.Fatalf("tap ended after %d of %d events", len(lines), n)
		}
		if len(evs) == 0 && m == 0 {
			select {
			case <-tp.Notify():
			case <-deadline:
				t.Fatalf("got %d of %d events: %v", len(lines), n, lines)
			}
		}
	}
	return lines, missed
}

func wantLines(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d lines, want %d..%d: %v", len(got), from, to-1, got)
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", from+i); l != want {
			t.Fatalf("line %d is %q, want %q (all: %v)", i, l, want, got)
		}
	}
}

// keyedSource is a source whose past holds every line it was sent, keyed
// like a journal's.
func keyedSource(t *testing.T, replay int) (*Source, func(from, to int)) {
	h := New(Options{ReplayLines: replay})
	s := h.Source("j", KindJournal)
	p := &slicePast{}
	s.SetPast(p)
	return s, func(from, to int) {
		var ls []event.Line
		for i := from; i < to; i++ {
			p.add(keyed(i))
			ls = append(ls, keyed(i))
		}
		if err := s.Publish(context.Background(), ls); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTapKeyResumesFromThePastThenLive(t *testing.T) {
	s, publish := keyedSource(t, 5)
	publish(0, 20)
	// k0003 is long out of the replay buffer (5 lines): lines 4..19 come
	// from the past, through the last line committed now, then the live
	// ones, each once and in order.
	tp := s.TapKey([]byte("k0003"), 8)
	defer tp.Close()
	publish(20, 25)
	lines, missed := tapText(t, tp, 21)
	if len(missed) != 0 {
		t.Fatalf("missed %v, want none", missed)
	}
	wantLines(t, lines, 4, 25)
	if k := string(tp.LastKey()); k != "k0024" {
		t.Fatalf("last key %q", k)
	}
	// Held by the buffer: no read of the past.
	tp2 := s.TapKey([]byte("k0022"), 8)
	defer tp2.Close()
	if tp2.rd != nil {
		t.Fatal("a key in the replay buffer started a read of the past")
	}
	lines, _ = tapText(t, tp2, 2)
	wantLines(t, lines, 23, 25)
}

func TestTapOverflowReadsThePastWhenTheBufferNoLongerHoldsIt(t *testing.T) {
	s, publish := keyedSource(t, 5)
	publish(0, 3)
	tp := s.TapKey([]byte("k0002"), 4)
	defer tp.Close()
	// 40 lines while nobody reads: the queue keeps 4, the buffer the last
	// 5; the rest is read back from the past instead of reported missed.
	publish(3, 43)
	lines, missed := tapText(t, tp, 40)
	if len(missed) != 0 {
		t.Fatalf("missed %v, want none", missed)
	}
	wantLines(t, lines, 3, 43)
	publish(43, 45)
	lines, _ = tapText(t, tp, 2)
	wantLines(t, lines, 43, 45)
}

func TestTapKeyUnknownReportsUnknownMissed(t *testing.T) {
	h := New(Options{})
	s := h.Source("app", KindFile) // no past
	tapLines(t, s, 0, 3)
	tp := s.TapKey([]byte("f-of-another-run"), 0)
	defer tp.Close()
	tapLines(t, s, 3, 2)
	lines, missed := tapText(t, tp, 2)
	if len(missed) != 1 || missed[0] != -1 {
		t.Fatalf("missed %v, want [-1]", missed)
	}
	wantLines(t, lines, 3, 5)
}
