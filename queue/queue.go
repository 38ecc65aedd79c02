// Package queue is the bounded queue between a committer and one slow
// reader, shared by the agent's streams and the hub's viewers: the
// committer never waits, what does not fit is counted, and the reader is
// told how many it missed (an `event: gap`) in their place.
package queue

// Bounded is a ring of at most max items that grows lazily and gives its
// memory back when its reader keeps up, so that thousands of quiet readers
// cost little. It is not safe for concurrent use: its owner guards it with
// the lock that guards the rest of the reader's state.
type Bounded[T any] struct {
	q       []T
	head, n int
	max     int
	dropped int64
}

// New returns an empty queue of at most bound items (0: every item is dropped).
func New[T any](bound int) Bounded[T] { return Bounded[T]{max: max(bound, 0)} }

// Push appends items, counting those past the bound as dropped. It reports
// whether there is news for the reader: an item added or a drop to report.
func (b *Bounded[T]) Push(items ...T) bool {
	added := false
	for _, it := range items {
		if b.n == b.max {
			b.dropped++
			continue
		}
		if b.n == len(b.q) {
			b.grow()
		}
		b.q[(b.head+b.n)%len(b.q)] = it
		b.n++
		added = true
	}
	return added || b.dropped > 0
}

func (b *Bounded[T]) grow() {
	size := min(max(2*len(b.q), 16), b.max)
	nq := make([]T, size)
	for i := 0; i < b.n; i++ {
		nq[i] = b.q[(b.head+i)%len(b.q)]
	}
	b.q, b.head = nq, 0
}

// Take moves the queued items into dst and returns them with the count
// dropped since the last Take (those came after the returned items).
func (b *Bounded[T]) Take(dst []T) ([]T, int64) {
	var zero T
	for i := 0; i < b.n; i++ {
		j := (b.head + i) % len(b.q)
		dst = append(dst, b.q[j])
		b.q[j] = zero
	}
	took := b.n
	b.head, b.n = 0, 0
	d := b.dropped
	b.dropped = 0
	// A reader that keeps up gives its ring back.
	if took <= 16 && len(b.q) > 16 {
		b.q = nil
	}
	return dst, d
}

// Discard empties the queue and forgets its drops.
func (b *Bounded[T]) Discard() {
	clear(b.q)
	b.head, b.n, b.dropped = 0, 0, 0
}

// Len is how many items are queued.
func (b *Bounded[T]) Len() int { return b.n }

// Cap is the ring's current size (at most the bound).
func (b *Bounded[T]) Cap() int { return len(b.q) }

// Max is the bound.
func (b *Bounded[T]) Max() int { return b.max }

// Pending reports whether a Take would return anything: items or drops.
func (b *Bounded[T]) Pending() bool { return b.n > 0 || b.dropped > 0 }
