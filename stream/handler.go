package stream

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"

	"go.uber.org/zap"
)

// Handler serves GET /stream/{source} and the merged GET /stream?sources=a,b.
// It is a plain http.Handler so that tests need only net/http; the agent
// mounts it on gin.
func (h *Hub) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/stream")
		switch {
		case rest == "" || rest == "/":
			h.serve(w, r, "", true)
		case rest[0] == '/' && !strings.Contains(rest[1:], "/"):
			h.serve(w, r, rest[1:], false)
		default:
			h.refuse(w, &refusal{http.StatusNotFound, rejectNotFound, "no such stream"})
		}
	})
}

func (h *Hub) refuse(w http.ResponseWriter, ref *refusal) {
	h.rejected[ref.reason].Add(1)
	hd := w.Header()
	if ref.status == http.StatusServiceUnavailable || ref.status == http.StatusTooManyRequests {
		hd.Set("Retry-After", strconv.Itoa(max(1, int(h.opts.Retry/time.Second))))
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(ref.status)
	_, _ = w.Write([]byte(query.OneLine(ref.msg) + "\n"))
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, name string, merged bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.refuse(w, &refusal{http.StatusMethodNotAllowed, rejectBadRequest, "streams answer GET only"})
		return
	}
	req, err := query.ParseRequest(r.URL.Query(), max(h.opts.ReplayLines, MaxHistoryTail))
	if err != nil {
		h.refuse(w, &refusal{http.StatusBadRequest, rejectBadRequest, err.Error()})
		return
	}
	names := []string{name}
	if merged {
		if len(req.Sources) == 0 {
			h.refuse(w, &refusal{http.StatusBadRequest, rejectBadRequest, "the merged stream needs sources=a,b"})
			return
		}
		names = req.Sources
		if req.Format == query.FormatText && r.URL.Query().Get("format") == "" {
			// Every merged event must say its source; JSON does.
			req.Format = query.FormatJSON
		}
	} else if req.Sources != nil {
		h.refuse(w, &refusal{http.StatusBadRequest, rejectBadRequest, "sources= belongs to /stream, not /stream/{source}"})
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		req.LastID = id
	}
	ip := h.opts.ClientIP(r)
	sub, ref := h.subscribe(req, names, merged, ip)
	if ref != nil {
		h.refuse(w, ref)
		return
	}

	// No h.log.With here: a derived logger lives as long as the stream,
	// and an idle stream should hold as little as it can.
	// Behind a trusted proxy, client is the address it forwarded for and
	// proxy the peer that connected.
	proxy := zap.Skip()
	if peer := remoteIP(r); peer != ip {
		proxy = zap.String("proxy", peer)
	}
	h.log.Info("stream opened", zap.Strings("sources", names), zap.String("client", ip), proxy,
		zap.Stringer("filter", &req.Filter), zap.Int("backlog", len(sub.backlog)))
	start := time.Now()
	closed := func(why string) {
		h.releaseSlot(sub)
		h.unsubscribe(sub.c)
		h.log.Info("stream closed", zap.Strings("sources", names), zap.String("client", ip),
			zap.String("why", why), zap.Duration("after", time.Since(start)))
	}

	rc := http.NewResponseController(w)
	hs := httpSink{w: w, rc: rc}
	if why := h.writeHead(w, hs, sub); why != "" {
		closed(why)
		return
	}
	if len(sub.past) > 0 {
		if why := h.sendPast(r.Context(), hs, sub); why != "" {
			closed(why)
			return
		}
	}
	if !req.Until.IsZero() {
		// The window is complete: end the response, so curl exits 0.
		closed("window sent")
		return
	}
	if conn := h.hijack(w, r); conn != nil {
		// net/http's goroutines, buffers and the handler's stack go away;
		// one small goroutine, which also notices the peer leave (see
		// connWait), carries the stream on. The hub waits for it in Run.
		go func() {
			defer h.streams.Done()
			closed(h.pumpConn(conn, sub))
		}()
		return
	}
	gone := r.Context().Done()
	closed(h.loop(hs, gone, chanWait(h, gone, sub.c), sub))
}

// writeHead sends the headers, the retry: frame, owed gaps and the backlog.
func (h *Hub) writeHead(w http.ResponseWriter, sk sink, sub *subscription) string {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache, no-transform")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	c := sub.c
	sw := &streamWriter{sk: sk, timeout: h.opts.WriteTimeout, hub: h}
	head := sse.AppendRetry(nil, h.opts.Retry)
	for _, g := range sub.gaps {
		head = sse.AppendGap(head, g.missed, g.source)
	}
	sw.write(head, 0)
	for _, e := range sub.backlog {
		c.writeEvent(sw, e)
	}
	sub.backlog = nil
	if err := sw.flush(); err != nil {
		return "write: " + err.Error()
	}
	return ""
}

// hijack takes an HTTP/1.1 connection over from net/http once the headers
// and backlog are out, so an idle stream costs a fraction of what net/http
// keeps per connection (two goroutines, read and write buffers, the
// handler's stack). HTTP/2 streams cannot be hijacked and stay as they are.
func (h *Hub) hijack(w http.ResponseWriter, r *http.Request) net.Conn {
	if h.opts.NoHijack || r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil
	}
	// Count the stream before taking the connection, under the lock Close
	// closes the hub with: a stream is either counted before Run waits, or
	// sees the hub closed and stays with net/http (and ends at once).
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		return nil
	default:
		h.streams.Add(1)
	}
	h.mu.Unlock()
	// Go to net/http's own writer: a wrapper's Hijack may refuse once a
	// body was written (gin's does), while net/http's flushes and hands
	// the connection over, which is what is wanted here.
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.streams.Done()
		h.log.Debug("stream stays with net/http", zap.Error(err))
		return nil
	}
	return conn
}

// pumpConn runs the stream on a hijacked connection, continuing the chunked
// body net/http began, and ends it cleanly.
func (h *Hub) pumpConn(conn net.Conn, sub *subscription) string {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			sub.c.mu.Lock()
			sub.c.conn = raw
			sub.c.mu.Unlock()
		}
	}
	sub.c.reader.Store(&readConn{conn})
	wait := connWait(h, conn, sub.c)
	why := h.loop(&chunkedConn{conn: conn}, nil, wait, sub)
	sub.c.reader.Store(nil)
	sub.c.detach()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte("0\r\n\r\n"))
	_ = conn.Close()
	return why
}

// loop writes the stream until the client goes, the source goes, or the hub
// closes: one select loop, a write deadline per write, a flush per batch.
//
// wait blocks until the client has something to do, or says why the stream
// ends; clientGone, if not nil, also ends the coalescing wait below.
func (h *Hub) loop(sk sink, clientGone <-chan struct{}, wait func() string, sub *subscription) string {
	c := sub.c
	sw := &streamWriter{sk: sk, timeout: h.opts.WriteTimeout, hub: h}
	var batch []*event.Event
	var coalesce *time.Timer // made on first use: an idle client never needs it
	last := time.Now()       // of the last flush
	for {
		if why := wait(); why != "" {
			return why
		}
		// Coalesce: a client that flushed less than a window ago waits out
		// the rest of it, so that what arrives meanwhile goes out in the
		// same write. The window grows with the number of clients, since
		// each write costs a syscall per client: a lone client is never
		// delayed, a hundred clients at 1,000 lines/s write about 400 times
		// a second each instead of 1,000.
		if wait := h.flushWindow() - time.Since(last); wait > 0 {
			if coalesce == nil {
				coalesce = time.NewTimer(wait)
			} else {
				coalesce.Reset(wait)
			}
			select {
			case <-clientGone:
				return "client went away"
			case <-h.done:
				return "agent stopping"
			case <-coalesce.C:
			}
		}
		// On a taken-over connection, producers may be writing directly:
		// take the connection first, and send what they left unwritten.
		cc, direct := sk.(*chunkedConn)
		if direct {
			rest, err := c.acquire()
			if err == nil && len(rest) > 0 {
				err = cc.writeRaw(rest, h.opts.WriteTimeout)
			}
			if err != nil {
				c.yield()
				return "write: " + err.Error()
			}
		}
		var dropped int64
		var ended bool
		batch, dropped, ended = c.take(batch[:0])
		var oldest time.Time
		if len(batch) > 0 {
			oldest = batch[0].Read
		}
		for i, e := range batch {
			c.writeEvent(sw, e)
			batch[i] = nil
		}
		var tb [64]byte
		if tail := c.appendTail(tb[:0], h, dropped); len(tail) > 0 {
			sw.write(tail, 0)
		}
		err := sw.flush()
		if direct {
			c.yield()
		}
		if err != nil {
			return "write: " + err.Error()
		}
		last = time.Now()
		if !oldest.IsZero() {
			h.opts.Observer.Delivered(time.Since(oldest))
		}
		if ended {
			return "source removed"
		}
		if cap(batch) > 4*1024 {
			batch = nil // do not keep a burst's buffer on an idle client
		}
	}
}

// chanWait waits for a client's notification, the hub closing or the
// client going away (net/http's request context).
func chanWait(h *Hub, clientGone <-chan struct{}, c *client) func() string {
	return func() string {
		select {
		case <-clientGone:
			return "client went away"
		case <-h.done:
			return "agent stopping"
		case <-c.notify:
			return ""
		}
	}
}

// connWait is chanWait for a taken-over connection, without a second
// goroutine: the stream's goroutine itself waits in a read of the
// connection, which returns when the peer goes away (a client sends nothing
// after its request), and c.wake (and Hub.Close) interrupt the read by
// moving its deadline to the past. An idle stream so costs one goroutine
// instead of two. The deadline is cleared before the notification is
// looked at, so a wake-up that comes in between still ends the next read.
func connWait(h *Hub, conn net.Conn, c *client) func() string {
	var b [64]byte // what a client sends after its request is read and ignored
	return func() string {
		for {
			_ = conn.SetReadDeadline(time.Time{})
			select {
			case <-h.done:
				return "agent stopping"
			case <-c.notify:
				return ""
			default:
			}
			if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return "client went away"
			}
		}
	}
}

// sink is where a stream's bytes go: the ResponseWriter while net/http
// holds the connection, or the hijacked connection.
type sink interface {
	Write([]byte) (int, error)
	Flush() error
	SetWriteDeadline(time.Time) error
}

type httpSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s httpSink) Write(b []byte) (int, error)        { return s.w.Write(b) }
func (s httpSink) Flush() error                       { return s.rc.Flush() }
func (s httpSink) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }

// chunkedConn writes HTTP/1.1 chunks on a hijacked connection: size line,
// data and CRLF in one writev.
type chunkedConn struct {
	conn net.Conn
	hdr  [18]byte
	bufs [3][]byte
}

var crlf = []byte("\r\n")

func (c *chunkedConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	h := strconv.AppendInt(c.hdr[:0], int64(len(p)), 16)
	h = append(h, '\r', '\n')
	c.bufs = [3][]byte{h, p, crlf}
	b := net.Buffers(c.bufs[:])
	if _, err := b.WriteTo(c.conn); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeRaw writes bytes that are already chunk-framed (what a direct write
// left), within the write timeout.
func (c *chunkedConn) writeRaw(b []byte, timeout time.Duration) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.conn.Write(b)
	return err
}

func (c *chunkedConn) Flush() error                       { return nil }
func (c *chunkedConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Flush coalescing: with n clients connected, a client flushes at most once
// per n×coalescePerClient, capped at coalesceMax; under coalesceMin clients
// it never waits.
const (
	coalesceMin       = 8
	coalescePerClient = 25 * time.Microsecond
	coalesceMax       = 2500 * time.Microsecond
)

func (h *Hub) flushWindow() time.Duration {
	n := h.nclients.Load()
	if n < coalesceMin {
		return 0
	}
	return min(time.Duration(n)*coalescePerClient, coalesceMax)
}

// streamWriter gathers a batch's frames in one buffer, taken from a pool
// only while there is something to send, and hands it to the connection in
// writes of up to writeChunk bytes: one write and one flush per batch
// instead of one per frame through net/http's layers. It remembers the
// first write error, so a batch can be checked once: through gin, Flush
// reports nothing and a dead peer shows up only on a later Write.
type streamWriter struct {
	sk      sink
	timeout time.Duration
	hub     *Hub
	err     error
	buf     *[]byte
	armed   time.Time // when the write deadline was last set
	bytes   uint64    // since the last flush, added to the hub's totals then
	events  uint64
}

const writeChunk = 64 << 10

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4<<10); return &b }}

func (s *streamWriter) write(b []byte, events uint64) {
	if s.err != nil {
		return
	}
	if s.buf == nil {
		s.buf = writeBufs.Get().(*[]byte)
	}
	*s.buf = append(*s.buf, b...)
	s.bytes += uint64(len(b))
	s.events += events
	if len(*s.buf) >= writeChunk {
		s.send()
	}
}

// send writes the gathered bytes. The deadline is set again only when a
// tenth of the timeout has passed since it was last set (a timer update per
// batch showed up in profiles), so a client that cannot take a write is
// dropped after between 90 % and 100 % of the timeout.
func (s *streamWriter) send() {
	if s.buf == nil || len(*s.buf) == 0 || s.err != nil {
		return
	}
	if now := time.Now(); now.Sub(s.armed) > s.timeout/10 {
		_ = s.sk.SetWriteDeadline(now.Add(s.timeout))
		s.armed = now
	}
	_, s.err = s.sk.Write(*s.buf)
	*s.buf = (*s.buf)[:0]
}

func (s *streamWriter) flush() error {
	s.send()
	if s.buf != nil {
		if cap(*s.buf) <= 4*writeChunk {
			writeBufs.Put(s.buf)
		}
		s.buf = nil
	}
	s.hub.sentB.Add(s.bytes)
	s.hub.sent.Add(s.events)
	s.bytes, s.events = 0, 0
	if s.err != nil {
		return s.err
	}
	s.err = s.sk.Flush()
	return s.err
}
