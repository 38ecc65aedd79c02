package queue

import (
	"slices"
	"testing"
)

// The bound holds: what does not fit is counted, not queued, and the count
// is handed to the reader once, after the items queued before it.
func TestBoundedDropsAndCounts(t *testing.T) {
	q := New[int](3)
	if !q.Push(1, 2) || q.Len() != 2 {
		t.Fatalf("push: len %d", q.Len())
	}
	if !q.Push(3, 4, 5) {
		t.Fatal("a push with drops is news for the reader")
	}
	got, dropped := q.Take(nil)
	if !slices.Equal(got, []int{1, 2, 3}) || dropped != 2 {
		t.Fatalf("take: %v dropped %d", got, dropped)
	}
	if got, dropped := q.Take(nil); len(got) != 0 || dropped != 0 || q.Pending() {
		t.Fatalf("second take: %v dropped %d", got, dropped)
	}
	if q.Push() {
		t.Fatal("an empty push is no news")
	}
}

// The ring wraps, grows lazily up to its bound, and is given back when the
// reader keeps up.
func TestBoundedWrapsGrowsAndShrinks(t *testing.T) {
	q := New[int](100)
	var want []int
	for i := range 10 {
		q.Push(i)
		want = append(want, i)
	}
	got, _ := q.Take(nil)
	if !slices.Equal(got, want) {
		t.Fatalf("first take: %v", got)
	}
	q.Push(10, 11, 12)
	got, _ = q.Take(got[:0])
	if !slices.Equal(got, []int{10, 11, 12}) {
		t.Fatalf("after wrap: %v", got)
	}
	for i := range 100 {
		q.Push(i)
	}
	if q.Cap() != 100 || q.Len() != 100 {
		t.Fatalf("grown to %d holding %d, want 100", q.Cap(), q.Len())
	}
	q.Take(nil)
	q.Push(1)
	q.Take(nil)
	if q.Cap() != 0 {
		t.Fatalf("a reader that keeps up still holds a ring of %d", q.Cap())
	}
	q.Push(1, 2)
	q.Discard()
	if q.Pending() {
		t.Fatal("discard left something")
	}
}
