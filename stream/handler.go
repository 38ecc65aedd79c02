package stream

import (
	"net/http"
	"strconv"
	"strings"
	"time"

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
	_, _ = w.Write([]byte(oneLine(ref.msg) + "\n"))
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, name string, merged bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.refuse(w, &refusal{http.StatusMethodNotAllowed, rejectBadRequest, "streams answer GET only"})
		return
	}
	req, err := ParseRequest(r.URL.Query(), h.opts.ReplayLines)
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
		if req.Format == FormatText && r.URL.Query().Get("format") == "" {
			// Every merged event must say its source; JSON does.
			req.Format = FormatJSON
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
	defer h.unsubscribe(sub.c)

	log := h.log.With(zap.Strings("sources", names), zap.String("client", ip))
	log.Info("stream opened", zap.String("filter", req.Filter.Key()), zap.Int("backlog", len(sub.backlog)))
	start := time.Now()
	why := h.pump(w, r, sub)
	log.Info("stream closed", zap.String("why", why), zap.Duration("after", time.Since(start)))
}

// pump writes the stream until the client goes, the source goes, or the hub
// closes: one select loop, a write deadline per write, a flush per batch.
func (h *Hub) pump(w http.ResponseWriter, r *http.Request, sub *subscription) string {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache, no-transform")
	hd.Set("X-Accel-Buffering", "no")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	c := sub.c
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), timeout: h.opts.WriteTimeout, hub: h}
	head := appendRetry(nil, h.opts.Retry)
	for _, g := range sub.gaps {
		head = appendGap(head, g.missed, g.source)
	}
	sw.write(head, 0)
	for _, e := range sub.backlog {
		sw.write(e.frame(c.req.Format, c.merged), 1)
	}
	sub.backlog = nil
	if err := sw.flush(); err != nil {
		return "write: " + err.Error()
	}

	var batch []*Event
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return "client went away"
		case <-h.done:
			return "agent stopping"
		case <-c.notify:
		}
		var dropped int64
		var ended bool
		batch, dropped, ended = c.take(batch[:0])
		var oldest time.Time
		if len(batch) > 0 {
			oldest = batch[0].Time
		}
		for i, e := range batch {
			sw.write(e.frame(c.req.Format, c.merged), 1)
			batch[i] = nil
		}
		if dropped > 0 {
			h.dropped.Add(uint64(dropped))
			sw.write(appendGap(nil, dropped, ""), 0)
		}
		if c.heartbeat.Swap(false) {
			sw.write(heartbeatFrame, 0)
		}
		if err := sw.flush(); err != nil {
			return "write: " + err.Error()
		}
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

// streamWriter remembers the first write error, so a batch of writes can be
// checked once: through gin, Flush reports nothing and a dead peer shows up
// only on a later Write.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	hub     *Hub
	err     error
	armed   bool
	bytes   uint64 // since the last flush, added to the hub's totals then
	events  uint64
}

func (s *streamWriter) write(b []byte, events uint64) {
	if s.err != nil {
		return
	}
	if !s.armed {
		// One deadline per batch: a client that cannot take a batch
		// within the timeout is dropped and may resume.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
		s.armed = true
	}
	n, err := s.w.Write(b)
	s.bytes += uint64(n)
	s.events += events
	s.err = err
}

func (s *streamWriter) flush() error {
	s.armed = false
	s.hub.sentB.Add(s.bytes)
	s.hub.sent.Add(s.events)
	s.bytes, s.events = 0, 0
	if s.err != nil {
		return s.err
	}
	s.err = s.rc.Flush()
	return s.err
}
