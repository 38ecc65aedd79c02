package stream

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"edgetail/event"
	"edgetail/query"

	"go.uber.org/zap"
)

// Tap is an in-process reader of one source, for consumers inside the
// agent (the fleet publisher): it reads like an HTTP client that sent
// Last-Event-ID, through the same bounded queue, so it never holds up the
// source or other clients. Unlike an HTTP client it resumes itself when its
// queue overflows: it reads again from the replay buffer right after the
// last event it handed out, or, when the buffer no longer holds that far
// back and the source's past knows the last event's durable key, from the
// past (disk, the journal); it reports as missed only what neither holds,
// with the exact count where known.
type Tap struct {
	src *Source
	c   *client
	g   *group

	// Owned by the reader (Take).
	last    uint64         // id of the last live event handed out (or passed by a read of the past)
	lastKey []byte         // durable key of the last event handed out; nil: none, or it had none
	backlog []*event.Event // from the replay buffer, handed out before the queue
	missed  int64          // owed before the next events: >0 exact, -1 unknown
	closed  bool
	rd      *tapRead // a read of the past handed out before the queue; nil: none

	// A filtered tap (TapFiltered) reads only the events that pass f,
	// and tracks how far through the source it has read.
	f           *query.Filter // nil: every event
	through     []byte        // see Through
	backThrough []byte        // through once backlog is handed out
}

// tapRead is a Tap's read of the source's past: the shared reader of
// history.go in a goroutine the Tap owns (Close joins it).
type tapRead struct {
	f       *feed
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	begin   chan struct{} // closed by the first Take: only then is a slot taken
	started bool
}

// Tap starts reading the source right after the event with id after, which
// must be an id this source gave out in this run (or its LastID before the
// first event); after == 0 starts with the next event committed (no
// history). An id of an earlier run, or one
// the source never gave, is reported as missed -1 by the first Take, and
// reading starts with the next event. The queue holds up to buffer events
// (<= 0: the hub's client_buffer).
func (s *Source) Tap(after uint64, buffer int) *Tap {
	t := s.newTap(buffer)
	h := s.hub
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
		t.lastKey = s.lastKey
	case after < s.base || after > last:
		t.missed = -1
		t.last = last
	default:
		t.last = after
		if i := s.ring.indexAfterID(after); i > 0 && s.ring.at(i-1).ID == after {
			t.lastKey = s.ring.at(i - 1).Key
		}
		t.resumeLocked()
	}
	t.registerLocked()
	return t
}

// TapKey starts reading the source right after the event with the durable
// key key, which may be of an earlier run (a key of a file source names a
// position on disk): from the replay buffer when it holds that event, else
// from the source's past when it knows the key, through the last event
// committed now, then live, with no gap and no duplicate at the seam. The
// past is read in the background one chunk at a time, as Take asks for it,
// and counts against the hub's history reads (MaxHistoryReads), waiting for
// a slot rather than failing. A key neither knows is reported as missed -1
// by the first Take, and reading starts with the next event.
func (s *Source) TapKey(key []byte, buffer int) *Tap {
	t := s.newTap(buffer)
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.removed {
		t.c.ended = true
		return t
	}
	t.last = s.lastID.Load()
	t.lastKey = s.lastKey
	t.seekKeyLocked(s, key)
	t.registerLocked()
	return t
}

// seekKeyLocked places the tap right after key: in the replay buffer, else
// in the source's past; when neither knows the key it reports false and
// the tap starts with a gap of unknown size. hub.mu held.
func (t *Tap) seekKeyLocked(s *Source, key []byte) bool {
	r := s.ring
	switch i := r.findKey(string(key)); {
	case i > 0:
		t.last = r.at(i - 1).ID
		t.lastKey = r.at(i - 1).Key
		t.resumeLocked()
	case canResume(s, key):
		t.startReadLocked(key)
	default:
		t.missed = -1
		return false
	}
	return true
}

// TapOptions configure a filtered tap (TapFiltered). Every zero value
// means the default in brackets.
type TapOptions struct {
	// Filter keeps the events that pass it [every event]. The tap joins
	// the source's group of that filter, so a filter that a client or
	// another tap uses already runs once per line for all of them.
	Filter *query.Filter
	Buffer int // events queued before the tap reads again from the buffer or the past [client_buffer]
	// Notify, when set, is signalled in place of the tap's own channel,
	// so that one reader may wait on the taps of several sources.
	Notify chan struct{}
}

// TapFiltered is TapKey (after key; nil: from the next event committed)
// for a reader that wants only the events passing o.Filter, whether in
// the replay buffer, the past or live, and that keeps its place across
// restarts: Through says how far through the source it has read, matching
// events or not. A commit with no matching event costs the reader no
// wake-up; only its Through moves.
func (s *Source) TapFiltered(key []byte, o TapOptions) *Tap {
	t := s.newTap(o.Buffer)
	t.f = o.Filter
	t.c.track = true
	if o.Notify != nil {
		t.c.notify = o.Notify
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.removed {
		t.c.ended = true
		return t
	}
	t.last = s.lastID.Load()
	t.lastKey = s.lastKey
	t.through = bytes.Clone(s.through())
	if key != nil {
		t.through = bytes.Clone(key)
		if !t.seekKeyLocked(s, key) {
			t.through = bytes.Clone(s.through())
		}
	}
	t.registerLocked()
	return t
}

// Through returns the durable key of the newest event of the source that
// Take has read past: every event up to it that passes the tap's filter
// has been handed out, so a reader that saves it and later calls
// TapFiltered with it misses nothing and repeats nothing. nil: not known
// (nothing committed with a key yet). Only a filtered tap tracks it.
func (t *Tap) Through() []byte { return t.through }

func (s *Source) newTap(buffer int) *Tap {
	if buffer <= 0 {
		buffer = s.hub.opts.ClientBuffer
	}
	return &Tap{src: s, c: newClient(buffer)}
}

// registerLocked adds the tap to the source's unfiltered group; hub.mu held.
func (t *Tap) registerLocked() {
	if t.f != nil {
		t.g = t.src.joinLocked(t.f.Key(), t.f, nil, t.c)
		return
	}
	t.g = t.src.joinLocked("", &query.Filter{}, nil, t.c)
}

// passes reports whether e is for the tap: it passes the tap's filter.
func (t *Tap) passes(e *event.Event) bool { return t.f == nil || matches(t.f, e) }

// canResume reports whether the source's past can resume right after key.
// hub.mu held.
func canResume(s *Source, key []byte) bool {
	if s.past == nil || len(key) == 0 {
		return false
	}
	kc, ok := s.past.(KeyChecker)
	return !ok || kc.KnowsKey(key)
}

// resumeLocked takes what comes after t.last: from the replay buffer while
// it holds all of it; else from the past after t.lastKey when it knows the
// key; else from the buffer, counting what it no longer holds. hub.mu held.
func (t *Tap) resumeLocked() {
	s := t.src
	r := s.ring
	firstHeld := s.lastID.Load() + 1
	if o := r.oldest(); o != nil {
		firstHeld = o.ID
	}
	if t.last+1 < firstHeld && canResume(s, t.lastKey) {
		t.startReadLocked(t.lastKey)
		return
	}
	if t.last+1 < firstHeld {
		n := int64(firstHeld - t.last - 1)
		t.missed = addMissed(t.missed, n)
		t.last = firstHeld - 1
	}
	for i := r.indexAfterID(t.last); i < r.n; i++ {
		if e := r.at(i); t.passes(e) {
			t.backlog = append(t.backlog, e)
		}
	}
	if t.c.track {
		// Events this filter skips are read past too: once the backlog
		// is handed out, the tap stands at the last event committed.
		t.backThrough = bytes.Clone(s.through())
		if len(t.backlog) == 0 && t.backThrough != nil {
			t.through = t.backThrough
		}
	}
}

// startReadLocked starts reading the past after key, through the last
// event committed now: what is committed from here on reaches the queue.
// hub.mu held.
func (t *Tap) startReadLocked(key []byte) {
	s := t.src
	h := s.hub
	t.last = s.lastID.Load()
	q := PastQuery{After: bytes.Clone(key), Through: bytes.Clone(s.through())}
	if t.f != nil && t.f.Key() != "" {
		q.Match = t.f.MatchLine
		q.Contains = t.f.Needle()
	}
	f := newFeed(pastRead{src: s, past: s.past, q: q})
	ctx, cancel := context.WithCancel(context.Background())
	rd := &tapRead{f: f, cancel: cancel, begin: make(chan struct{})}
	wake := t.c.wake
	rd.wg.Go(func() {
		defer cancel()
		// A slot of the history reads, like an HTTP client's read: the
		// reads of disk stay bounded whoever asks for them. Taken once
		// the consumer asks for lines (a publisher waiting for NATS holds
		// none).
		select {
		case <-rd.begin:
		case <-ctx.Done():
		}
		select {
		case h.histSem <- struct{}{}:
			defer func() { <-h.histSem }()
			f.read(ctx, wake)
		case <-ctx.Done():
			f.err = ctx.Err()
			close(f.items)
			wake()
		}
	})
	rd.wg.Go(func() {
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	})
	t.rd = rd
}

// addMissed adds n missed events to m; an unknown count stays unknown.
func addMissed(m, n int64) int64 {
	if m < 0 || n < 0 {
		return -1
	}
	return m + n
}

// Notify receives a value when there may be something to Take.
func (t *Tap) Notify() <-chan struct{} { return t.c.notify }

// Take appends the next events to dst, oldest first. missed > 0 says that
// many events were lost right before the returned ones (-1: an unknown
// number); ended says the source was removed or the hub closed, after the
// returned events. Events read from the past carry their Key and no ID
// (0): they were numbered in the run that first read them.
func (t *Tap) Take(dst []*event.Event) (events []*event.Event, missed int64, ended bool) {
	if t.closed {
		return dst, 0, true
	}
	missed, t.missed = t.missed, 0
	if len(t.backlog) > 0 {
		dst = append(dst, t.backlog...)
		clear(t.backlog)
		t.backlog = t.backlog[:0]
		e := dst[len(dst)-1]
		t.last, t.lastKey = e.ID, e.Key
		if t.backThrough != nil {
			t.through, t.backThrough = t.backThrough, nil
		} else if e.Key != nil {
			t.through = e.Key
		}
		t.c.wake() // the queue may hold more
		return dst, missed, false
	}
	if rd := t.rd; rd != nil {
		var done bool
		dst, missed, done = t.takePast(rd, dst, missed)
		if !done {
			return dst, missed, false
		}
	}
	n := len(dst)
	var dropped int64
	var through []byte
	if t.c.track {
		dst, dropped, ended, through = t.c.takeThrough(dst)
	} else {
		dst, dropped, ended = t.c.take(dst)
	}
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
		e := dst[len(dst)-1]
		t.last, t.lastKey = e.ID, e.Key
		if e.Key != nil {
			t.through = e.Key
		}
	}
	if dropped == 0 && through != nil {
		// Nothing lost: every event of the filter up to the last commit
		// is handed out.
		t.through = through
	}
	if dropped > 0 && !ended {
		// The queue overflowed: what it dropped may still be in the replay
		// buffer or the past. Read on from there, under the lock commit
		// pushes under, so that nothing falls between them and the queue.
		h := t.src.hub
		h.mu.Lock()
		t.c.discard()
		t.resumeLocked()
		h.mu.Unlock()
		t.c.wake()
	}
	return dst, missed, ended
}

// takePast hands out the next item of the read of the past, if one is
// ready; done says the read is over and the queue comes next.
func (t *Tap) takePast(rd *tapRead, dst []*event.Event, missed int64) ([]*event.Event, int64, bool) {
	if !rd.started {
		rd.started = true
		close(rd.begin)
	}
	select {
	case it, ok := <-rd.f.items:
		if ok {
			if it.Missed != 0 {
				missed = addMissed(missed, it.Missed)
			}
			if len(it.Lines) > 0 {
				// The events own their keys (encode copies them into
				// their frames), so the reader may reuse its buffers.
				evs := t.src.encode(it.Lines, false)
				for i := range evs {
					dst = append(dst, &evs[i])
				}
				t.lastKey = evs[len(evs)-1].Key
				if t.c.track && t.lastKey != nil {
					t.through = t.lastKey
				}
			}
			rd.f.ack <- struct{}{}
			return dst, missed, false
		}
	default:
		return dst, missed, false
	}
	// The read is over.
	t.rd = nil
	rd.cancel()
	rd.wg.Wait()
	if err := rd.f.err; err != nil && !errors.Is(err, context.Canceled) {
		// The read failed: say so, and go on live.
		t.src.hub.log.Warn("reading the past failed", zap.String("source", t.src.name), zap.Error(err))
		missed = addMissed(missed, -1)
	} else if t.c.track && rd.f.pr.q.Through != nil {
		// Read through the last event committed when it began: the
		// lines the filter skipped are read past too.
		t.through = rd.f.pr.q.Through
	}
	return dst, missed, true
}

// Last returns the id of the last event Take handed out.
func (t *Tap) Last() uint64 { return t.last }

// LastKey returns the durable key of the last event Take handed out; nil
// when it had none.
func (t *Tap) LastKey() []byte { return t.lastKey }

// Close stops the tap, and its read of the past if one runs; Take returns
// ended from then on.
func (t *Tap) Close() {
	if t.closed {
		return
	}
	t.closed = true
	if rd := t.rd; rd != nil {
		t.rd = nil
		rd.cancel()
		rd.wg.Wait()
	}
	h := t.src.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.g != nil {
		t.src.leaveLocked(t.g, t.c)
	}
}
