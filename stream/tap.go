package stream

// Tap is an in-process reader of one source, for consumers inside the
// agent (the fleet publisher): it reads like an HTTP client that sent
// Last-Event-ID, through the same bounded queue, so it never holds up the
// source or other clients. Unlike an HTTP client it resumes itself when its
// queue overflows: it reads again from the replay buffer right after the
// last event it handed out, and reports as missed only what the buffer no
// longer holds, with the exact count.
type Tap struct {
	src *Source
	c   *client
	g   *group

	// Owned by the reader (Take).
	last    uint64   // id of the last event handed out; 0 before the first
	backlog []*Event // from the replay buffer, handed out before the queue
	missed  int64    // owed before the next events: >0 exact, -1 unknown
	closed  bool
}

// Tap starts reading the source right after the event with id after, which
// must be an id this source gave out in this run (or its LastID before the
// first event); after == 0 starts with the next event committed (no
// history). An id of an earlier run, or one
// the source never gave, is reported as missed -1 by the first Take, and
// reading starts with the next event. The queue holds up to buffer events
// (<= 0: the hub's client_buffer).
func (s *Source) Tap(after uint64, buffer int) *Tap {
	h := s.hub
	if buffer <= 0 {
		buffer = h.opts.ClientBuffer
	}
	t := &Tap{src: s, c: newClient(buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.removed {
		t.c.ended = true
		return t
	}
	last := s.lastID.Load()
	switch {
	case after == 0:
		t.last = last
	case after < s.base || after > last:
		t.missed = -1
		t.last = last
	default:
		t.last = after
		t.fillLocked()
	}
	g := s.groups[""]
	if g == nil {
		g = &group{key: "", filter: &Filter{}}
		s.groups[""] = g
		s.refreshSnap()
	}
	g.clients = append(g.clients, t.c)
	t.g = g
	return t
}

// fillLocked takes the events after t.last from the replay buffer and
// counts those it no longer holds; hub.mu held.
func (t *Tap) fillLocked() {
	s := t.src
	r := s.ring
	firstHeld := s.lastID.Load() + 1
	if o := r.oldest(); o != nil {
		firstHeld = o.ID
	}
	if t.last+1 < firstHeld {
		n := int64(firstHeld - t.last - 1)
		if t.missed >= 0 {
			t.missed += n
		}
		t.last = firstHeld - 1
	}
	for i := r.indexAfterID(t.last); i < r.n; i++ {
		t.backlog = append(t.backlog, r.at(i))
	}
}

// Notify receives a value when there may be something to Take.
func (t *Tap) Notify() <-chan struct{} { return t.c.notify }

// Take appends the next events to dst, oldest first. missed > 0 says that
// many events were lost right before the returned ones (-1: an unknown
// number); ended says the source was removed or the hub closed, after the
// returned events.
func (t *Tap) Take(dst []*Event) (events []*Event, missed int64, ended bool) {
	if t.closed {
		return dst, 0, true
	}
	missed, t.missed = t.missed, 0
	if len(t.backlog) > 0 {
		dst = append(dst, t.backlog...)
		clear(t.backlog)
		t.backlog = t.backlog[:0]
		t.last = dst[len(dst)-1].ID
		t.c.wake() // the queue may hold more
		return dst, missed, false
	}
	n := len(dst)
	dst, dropped, ended := t.c.take(dst)
	// Events queued before the tap caught up with its backlog repeat ids
	// already handed out: skip them.
	keep := dst[:n]
	for _, e := range dst[n:] {
		if e.ID > t.last {
			keep = append(keep, e)
		}
	}
	clear(dst[len(keep):])
	dst = keep
	if len(dst) > n {
		t.last = dst[len(dst)-1].ID
	}
	if dropped > 0 && !ended {
		// The queue overflowed: what it dropped may still be in the replay
		// buffer. Read on from there, under the lock commit pushes under,
		// so that nothing falls between the buffer and the queue.
		h := t.src.hub
		h.mu.Lock()
		t.c.mu.Lock()
		for i := 0; i < t.c.n; i++ {
			t.c.q[(t.c.head+i)%len(t.c.q)] = nil
		}
		t.c.head, t.c.n, t.c.dropped = 0, 0, 0
		t.c.mu.Unlock()
		t.fillLocked()
		h.mu.Unlock()
		t.c.wake()
	}
	return dst, missed, ended
}

// Last returns the id of the last event Take handed out.
func (t *Tap) Last() uint64 { return t.last }

// Close stops the tap; Take returns ended from then on.
func (t *Tap) Close() {
	if t.closed {
		return
	}
	t.closed = true
	h := t.src.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	g := t.g
	if g == nil {
		return
	}
	for j, gc := range g.clients {
		if gc == t.c {
			last := len(g.clients) - 1
			g.clients[j] = g.clients[last]
			g.clients[last] = nil
			g.clients = g.clients[:last]
			break
		}
	}
	if len(g.clients) == 0 && t.src.groups[g.key] == g {
		delete(t.src.groups, g.key)
		t.src.refreshSnap()
	}
}
