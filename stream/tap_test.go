package stream

import (
	"context"
	"fmt"
	"testing"
	"time"
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
	ls := make([]Line, n)
	for i := range ls {
		ls[i] = Line{Text: []byte(fmt.Sprintf("line %d", from+i)), Time: time.Now()}
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
