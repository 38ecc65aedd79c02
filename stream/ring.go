package stream

import (
	"sort"

	"edgetail/event"
)

// ring is a source's replay buffer: the newest events, bounded both by count
// and by bytes so that long lines cannot make it grow without bound. It is
// guarded by the hub's lock.
type ring struct {
	buf      []*event.Event
	head     int // index of the oldest event
	n        int
	bytes    int
	maxBytes int
	// evictedG is the G of the newest event evicted, to tell whether a
	// merged-stream resume point has fallen out of the buffer.
	evictedG uint64
	evicted  uint64 // events evicted so far
}

func newRing(maxLines, maxBytes int) *ring {
	return &ring{buf: make([]*event.Event, 0, min(maxLines, 1024)), maxBytes: maxBytes}
}

// capacity grows the backing slice lazily, so an idle source costs little.
func (r *ring) push(e *event.Event, maxLines int) {
	for r.n > 0 && (r.n >= maxLines || r.bytes+size(e) > r.maxBytes) {
		r.evictOldest()
	}
	if maxLines <= 0 {
		return
	}
	if r.n == len(r.buf) && len(r.buf) < maxLines {
		r.grow(maxLines)
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	r.bytes += size(e)
}

func (r *ring) grow(maxLines int) {
	size := min(max(2*len(r.buf), 64), maxLines)
	nb := make([]*event.Event, size)
	for i := 0; i < r.n; i++ {
		nb[i] = r.at(i)
	}
	r.buf, r.head = nb, 0
}

func (r *ring) evictOldest() {
	e := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.bytes -= size(e)
	r.evictedG = e.G
	r.evicted++
}

// at returns the i-th oldest event.
func (r *ring) at(i int) *event.Event { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) oldest() *event.Event {
	if r.n == 0 {
		return nil
	}
	return r.at(0)
}

// indexAfterID returns the index of the first event with an id above id;
// ids of one source are contiguous, so this is arithmetic.
func (r *ring) indexAfterID(id uint64) int {
	o := r.oldest()
	if o == nil || id < o.ID {
		return 0
	}
	return min(int(id-o.ID)+1, r.n)
}

// indexAfterG returns the index of the first event with G above g.
func (r *ring) indexAfterG(g uint64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).G > g })
}
