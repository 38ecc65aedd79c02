package stream

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/queue"
)

// client is one open stream. The hub pushes events into its queue under the
// hub lock and never blocks on it: when the queue is full, events are counted
// as dropped and the client is sent a gap event with that count, in the place
// where they would have been.
type client struct {
	// Immutable after subscribe.
	req     *query.Request
	merged  bool
	ip      string
	sources []*Source
	groups  []*group

	notify chan struct{} // capacity 1: "look at the queue"

	mu    sync.Mutex
	q     queue.Bounded[*event.Event]
	ended bool // the source went away or the hub closed
	// track says the client is a tap that follows how far the source's
	// commits have gone (TapFiltered): through is then the key of the
	// last event committed when the queue last took a push, so that the
	// queue holds every event of the group up to it.
	track   bool
	through []byte

	// Direct writes (direct.go), guarded by mu. conn is set while the
	// stream's taken-over connection may be written by producers.
	conn    directConn
	writing bool   // a writer holds the connection
	pending []byte // what a direct write left unwritten, chunk-framed
	failed  error  // a direct write's error
	cond    sync.Cond

	heartbeat atomic.Bool

	// reader is the taken-over connection whose read the stream's
	// goroutine waits in (see connWait); nil otherwise.
	reader atomic.Pointer[readConn]

	// The merged stream's position, owned by the client's writer (set at
	// subscribe, before it runs): see mergedID.
	lastG uint64
	keys  [][]byte // per source of sources
	idBuf []byte
}

func newClient(max int) *client {
	c := &client{notify: make(chan struct{}, 1), q: queue.New[*event.Event](max)}
	c.cond.L = &c.mu
	return c
}

// On a taken-over connection it also ends the read the stream's goroutine
// waits in, but only when the notification was not already pending: a
// pending one was sent after the goroutine last looked (it clears the
// deadline, then looks), so that sender has already ended the read.
func (c *client) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
		return
	}
	if r := c.reader.Load(); r != nil {
		_ = r.SetReadDeadline(aLongTimeAgo)
	}
}

// readConn is a taken-over connection, behind a pointer for atomic use.
type readConn struct{ net.Conn }

// aLongTimeAgo is a read deadline that has passed: setting it ends a read
// that is waiting at once.
var aLongTimeAgo = time.Unix(1, 0)

// push queues events. Called with the hub lock held. It reports whether the
// client can be written directly by the caller after its commit; otherwise
// it has woken the client's goroutine.
func (c *client) push(events []*event.Event) bool {
	if len(events) == 0 {
		return false
	}
	c.mu.Lock()
	wake := c.q.Push(events...)
	direct := c.conn != nil && !c.writing && len(c.pending) == 0
	c.mu.Unlock()
	if !wake {
		return false
	}
	if direct {
		return true
	}
	c.wake()
	return false
}

// pushTracked is push for a tracking tap: the events of a commit and the
// key of its last event, under one lock, so that a Take sees both or
// neither. It wakes the reader only for events, never for the key alone:
// a rule whose filter matches nothing costs its reader no wake-up.
func (c *client) pushTracked(events []*event.Event, through []byte) {
	c.mu.Lock()
	wake := c.q.Push(events...)
	if through != nil {
		c.through = through
	}
	c.mu.Unlock()
	if wake && len(events) > 0 {
		c.wake()
	}
}

// takeThrough is take for a tracking tap, with the key its queue is
// complete up to (nil: no commit since the tap joined).
func (c *client) takeThrough(dst []*event.Event) ([]*event.Event, int64, bool, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst, d := c.takeLocked(dst)
	return dst, d, c.ended, c.through
}

// take moves the queued events into dst and returns them with the count
// dropped since the last take (those come after the returned events).
func (c *client) take(dst []*event.Event) ([]*event.Event, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst, d := c.takeLocked(dst)
	return dst, d, c.ended
}

// takeLocked is take with c.mu held.
func (c *client) takeLocked(dst []*event.Event) ([]*event.Event, int64) { return c.q.Take(dst) }

// discard empties the queue and forgets its drops.
func (c *client) discard() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.q.Discard()
}

// end marks the stream for closing; the handler returns once it has written
// what was queued.
func (c *client) end() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	c.wake()
}
