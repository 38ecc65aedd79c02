package stream

import (
	"sync"
	"sync/atomic"
)

// client is one open stream. The hub pushes events into its queue under the
// hub lock and never blocks on it: when the queue is full, events are counted
// as dropped and the client is sent a gap event with that count, in the place
// where they would have been.
type client struct {
	// Immutable after subscribe.
	req     *Request
	merged  bool
	ip      string
	sources []*Source
	groups  []*group

	notify chan struct{} // capacity 1: "look at the queue"

	mu      sync.Mutex
	q       []*Event // ring; grows lazily up to max
	head, n int
	max     int
	dropped int64
	ended   bool // the source went away or the hub closed

	heartbeat atomic.Bool
}

func newClient(max int) *client {
	return &client{notify: make(chan struct{}, 1), max: max}
}

func (c *client) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// push queues events. Called with the hub lock held.
func (c *client) push(events []*Event) {
	if len(events) == 0 {
		return
	}
	c.mu.Lock()
	added := false
	for _, e := range events {
		if c.n == c.max {
			c.dropped++
			continue
		}
		if c.n == len(c.q) {
			c.grow()
		}
		c.q[(c.head+c.n)%len(c.q)] = e
		c.n++
		added = true
	}
	wake := added || c.dropped > 0 // read under the lock: take resets it
	c.mu.Unlock()
	if wake {
		c.wake()
	}
}

func (c *client) grow() {
	size := min(max(2*len(c.q), 16), c.max)
	nq := make([]*Event, size)
	for i := 0; i < c.n; i++ {
		nq[i] = c.q[(c.head+i)%len(c.q)]
	}
	c.q, c.head = nq, 0
}

// take moves the queued events into dst and returns them with the count
// dropped since the last take (those come after the returned events).
func (c *client) take(dst []*Event) ([]*Event, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < c.n; i++ {
		j := (c.head + i) % len(c.q)
		dst = append(dst, c.q[j])
		c.q[j] = nil
	}
	c.head, c.n = 0, 0
	d := c.dropped
	c.dropped = 0
	// An idle client gives its queue back, so that thousands of quiet
	// connections cost little memory.
	if len(dst) <= 16 && len(c.q) > 16 {
		c.q = nil
	}
	return dst, d, c.ended
}

// end marks the stream for closing; the handler returns once it has written
// what was queued.
func (c *client) end() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	c.wake()
}
