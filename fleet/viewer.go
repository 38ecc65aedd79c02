package fleet

import (
	"net/http"
	"sync"
	"time"

	"edgetail/queue"
	"edgetail/sse"
)

// viewer is one open stream of the hub. Its view pushes events into a
// bounded queue and never waits for it: past client_buffer events the rest
// are counted, and the viewer is sent event: gap with that count where they
// would have been, as on an agent.
type viewer struct {
	notify chan struct{}

	mu    sync.Mutex
	q     queue.Bounded[*hevent] // the agent's streams' queue
	ended bool
}

func newViewer(max int) *viewer {
	return &viewer{notify: make(chan struct{}, 1), q: queue.New[*hevent](max)}
}

func (w *viewer) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// push queues events; called with the view's lock held.
func (w *viewer) push(evs []*hevent) {
	w.mu.Lock()
	news := w.q.Push(evs...)
	w.mu.Unlock()
	if news {
		w.wake()
	}
}

func (w *viewer) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.q.Len()
}

func (w *viewer) take(dst []*hevent) ([]*hevent, int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dst, d := w.q.Take(dst)
	return dst, d, w.ended
}

func (w *viewer) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	w.wake()
}

// flushWindow is the least time between two writes to one viewer.
const flushWindow = 5 * time.Millisecond

// pump writes a viewer's stream until the client goes, the view ends, or
// the hub closes: one select loop, a deadline per write, a flush per batch.
func (h *Hub) pump(rw http.ResponseWriter, done <-chan struct{}, w *viewer, head []byte, backlog []*hevent) string {
	rc := http.NewResponseController(rw)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		if _, err := rw.Write(b); err != nil {
			return err
		}
		h.sentBytes.Add(uint64(len(b)))
		return nil
	}
	buf := head
	for _, e := range backlog {
		buf = append(buf, e.frame...)
	}
	h.sent.Add(uint64(len(backlog)))
	if err := write(buf); err != nil {
		return "write: " + err.Error()
	}
	if err := rc.Flush(); err != nil {
		return "write: " + err.Error()
	}
	hb := time.NewTicker(h.opts.Heartbeat)
	defer hb.Stop()
	var batch []*hevent
	var coalesce *time.Timer
	last := time.Now()
	for {
		beat := false
		select {
		case <-done:
			return "client went away"
		case <-h.done:
			return "hub stopping"
		case <-hb.C:
			beat = true
		case <-w.notify:
			// A viewer that wrote less than flushWindow ago waits out the
			// rest, so that what arrives meanwhile goes in the same write:
			// at fleet rates, a write per line per viewer is most of the
			// hub's cost.
			if wait := flushWindow - time.Since(last); wait > 0 && w.len() < w.q.Max()/4 {
				if coalesce == nil {
					coalesce = time.NewTimer(wait)
					defer coalesce.Stop()
				} else {
					coalesce.Reset(wait)
				}
				select {
				case <-done:
					return "client went away"
				case <-h.done:
					return "hub stopping"
				case <-coalesce.C:
				}
			}
		}
		var dropped int64
		var ended bool
		batch, dropped, ended = w.take(batch[:0])
		buf = buf[:0]
		for i, e := range batch {
			buf = append(buf, e.frame...)
			batch[i] = nil
		}
		h.sent.Add(uint64(len(batch)))
		if dropped > 0 {
			h.dropped.Add(uint64(dropped))
			buf = sse.AppendGap(buf, dropped, "")
		}
		if beat {
			buf = append(buf, sse.Heartbeat...)
		}
		if len(buf) > 0 {
			if err := write(buf); err != nil {
				return "write: " + err.Error()
			}
			if err := rc.Flush(); err != nil {
				return "write: " + err.Error()
			}
			last = time.Now()
		}
		if ended {
			return "view ended"
		}
		if cap(buf) > 256<<10 {
			buf = nil
		}
	}
}
