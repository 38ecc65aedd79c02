package stream

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"edgetail/event"
)

// Direct writes. A stream whose connection was taken over (HTTP/1.1) is
// written by the producer that committed its events, right after the
// commit, with one non-blocking write(2) per client: no wake-up of the
// client's goroutine, no timer, no scheduler hand-off per client per batch.
// The client's goroutine stays for what cannot be done without waiting: the
// rest of a write the socket could not take at once (with the write
// deadline), heartbeats, the end of the stream. Exactly one writer holds a
// client's connection at a time (client.writing), so bytes never interleave
// and the order per client holds.

// directConn is a taken-over connection's file descriptor (a
// syscall.RawConn). Direct writes go through Control, not Write: RawConn.Write
// first checks the connection's write deadline, which the client's own
// goroutine arms for its writes and which has long passed when lines come a
// while after its last heartbeat, so a direct write would fail with a
// timeout and end a healthy stream. client.writing already gives a direct
// write the connection to itself.
type directConn interface {
	Control(f func(fd uintptr)) error
}

// chunkRoom is the room kept before a chunk's data for its size line.
const chunkRoom = 18

// directWriter is a producer's scratch space for its direct writes; it is
// owned by the producer goroutine (one per source).
type directWriter struct {
	clients []*client // to write after the commit
	buf     []byte
	events  []*event.Event
	peer    *directWriter // scratch of the goroutine that takes half of many clients
}

// splitAt is the number of clients from which a flush writes them from two
// goroutines: each write(2) to a loopback peer costs the sender the
// receiver's path too, and with a thousand viewers one goroutine alone
// makes the last of them wait for the other 999 writes.
const splitAt = 128

// flush writes to each collected client what it has queued, or hands it to
// the client's goroutine when a direct write is not possible now.
func (d *directWriter) flush(h *Hub) {
	cs := d.clients
	if len(cs) >= splitAt && runtime.GOMAXPROCS(0) > 1 {
		if d.peer == nil {
			d.peer = &directWriter{}
		}
		half := len(cs) / 2
		var wg sync.WaitGroup
		wg.Go(func() { d.peer.writeAll(h, cs[half:]) })
		d.writeAll(h, cs[:half])
		wg.Wait()
	} else {
		d.writeAll(h, cs)
	}
	d.clients = cs[:0]
}

// writeAll writes each client and lets go of it.
func (d *directWriter) writeAll(h *Hub, cs []*client) {
	for i, c := range cs {
		d.write(h, c)
		cs[i] = nil
	}
	if cap(d.buf) > 4*writeChunk {
		d.buf = nil
	}
}

func (d *directWriter) write(h *Hub, c *client) {
	c.mu.Lock()
	if c.writing || c.conn == nil || c.ended || len(c.pending) > 0 || c.failed != nil {
		c.mu.Unlock()
		c.wake()
		return
	}
	c.writing = true
	var dropped int64
	d.events, dropped = c.takeLocked(d.events[:0])
	c.mu.Unlock()

	b := append(d.buf[:0], make([]byte, chunkRoom)...)
	var oldest time.Time
	if len(d.events) > 0 {
		oldest = d.events[0].Read
	}
	for i, e := range d.events {
		// Holding c.writing makes this goroutine the client's writer for
		// now, which the merged id (the client's own) needs.
		b = c.appendEvent(b, e)
		d.events[i] = nil
	}
	b = c.appendTail(b, h, dropped)
	data := len(b) - chunkRoom
	if data == 0 {
		d.buf = b
		c.release(nil, nil)
		return
	}
	var hdr [chunkRoom]byte
	size := strconv.AppendInt(hdr[:0], int64(data), 16)
	size = append(size, '\r', '\n')
	start := chunkRoom - len(size)
	copy(b[start:], size)
	b = append(b, '\r', '\n')
	d.buf = b
	out := b[start:]

	n, err := writeNow(c.conn, out)
	h.sentB.Add(uint64(data))
	h.sent.Add(uint64(len(d.events)))
	var rest []byte
	if err == nil && n < len(out) {
		rest = out[n:]
	}
	c.release(rest, err)
	if !oldest.IsZero() && n == len(out) {
		h.opts.Observer.Delivered(time.Since(oldest))
	}
}

// writeNow is one non-blocking write(2): it takes what the socket buffer
// can hold and never waits for room. Since the socket is non-blocking the
// call cannot block, so it skips the runtime's system-call bookkeeping
// (RawSyscall): an ordinary Syscall wakes the runtime's sysmon thread from
// its sleep on every batch, which then polls every 20 µs for a while, and
// at a few hundred batches a second that cost more than the writes.
func writeNow(conn directConn, b []byte) (int, error) {
	var n int
	var werr error
	err := conn.Control(func(fd uintptr) {
		for {
			n, werr = rawWrite(fd, b)
			if !errors.Is(werr, syscall.EINTR) {
				return
			}
		}
	})
	if errors.Is(werr, syscall.EAGAIN) {
		return 0, nil
	}
	if n < 0 {
		n = 0
	}
	if err != nil {
		return n, err
	}
	return n, werr
}

func rawWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// release gives the connection back after a direct write: what the socket
// did not take, or the error, is left to the client's goroutine.
func (c *client) release(rest []byte, err error) {
	c.mu.Lock()
	c.writing = false
	if len(rest) > 0 {
		c.pending = append(c.pending[:0], rest...)
	}
	if err != nil {
		c.failed = err
	}
	wake := len(c.pending) > 0 || c.failed != nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if wake {
		c.wake()
	}
}

// acquire makes the client's goroutine the connection's writer, waiting for
// a direct write in progress (it never blocks: it only takes what the socket
// holds). It returns the bytes a direct write left and its error.
func (c *client) acquire() ([]byte, error) {
	c.mu.Lock()
	for c.writing {
		c.cond.Wait()
	}
	c.writing = true
	rest := c.pending
	c.pending = nil
	err := c.failed
	c.mu.Unlock()
	return rest, err
}

// yield ends the goroutine's turn as the connection's writer.
func (c *client) yield() {
	c.mu.Lock()
	c.writing = false
	c.cond.Broadcast()
	c.mu.Unlock()
}

// detach stops direct writes for good (the stream is ending), once any in
// progress has finished.
func (c *client) detach() {
	c.mu.Lock()
	for c.writing {
		c.cond.Wait()
	}
	c.conn = nil
	c.mu.Unlock()
}
