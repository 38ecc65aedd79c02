package stream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"

	"go.uber.org/zap"
)

// MaxHistoryTail bounds tail= when the source can read its past from disk.
const MaxHistoryTail = 1_000_000

// releaseSlot gives a subscription's history slot back, once.
func (h *Hub) releaseSlot(sub *subscription) {
	if sub.slot {
		sub.slot = false
		<-h.histSem
	}
}

var errHubClosed = errors.New("agent stopping")

// sendPast streams the subscription's reads of the past, before its live
// queue: each line encoded as an event carrying its key, through the
// client's filter, written like backlog. It stops when the client leaves,
// the hub closes or a write fails, and gives the history slot back when
// done. It runs in the handler's goroutine, outside the hub lock and the
// worker pool, so live streams never wait for it.
func (h *Hub) sendPast(ctx context.Context, sk sink, sub *subscription) string {
	defer h.releaseSlot(sub)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(h.ctx, func() { cancel(errHubClosed) })
	defer stop()
	c := sub.c
	sw := &streamWriter{sk: sk, timeout: h.opts.WriteTimeout, hub: h}
	if len(sub.past) > 1 {
		return h.sendPastMerged(ctx, sw, c, sub.past)
	}
	for _, pr := range sub.past {
		src := pr.src
		name := ""
		if c.merged {
			name = src.name
		}
		err := pr.past.ReadPast(ctx, pr.q, func(it PastItem) error {
			if it.Missed != 0 {
				sw.write(sse.AppendGap(nil, it.Missed, name), 0)
			}
			if len(it.Lines) > 0 {
				events := src.encode(it.Lines, false)
				for i := range events {
					if e := &events[i]; matches(&c.req.Filter, e) {
						c.writeEvent(sw, e)
					}
				}
			}
			return sw.flush()
		})
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				if errors.Is(cause, errHubClosed) {
					return "agent stopping"
				}
				return "client went away"
			}
			if sw.err != nil {
				return "write: " + sw.err.Error()
			}
			// The read failed, not the stream: say so, and go live.
			h.log.Warn("reading the past failed", zap.String("source", src.name), zap.Error(err))
			sw.write(sse.AppendGap(nil, -1, name), 0)
		}
	}
	if err := sw.flush(); err != nil {
		return "write: " + err.Error()
	}
	return ""
}

// feed is one source's read of the past running in a goroutine of its
// own, for a merged stream (beside the other sources' reads) or a Tap: its
// reader hands an item over and waits until the consumer has used it (the
// lines alias the reader's buffers), so that a read holds one item at a
// time however much it reads.
type feed struct {
	pr    pastRead
	items chan PastItem // capacity 1: the reader never waits to hand over
	ack   chan struct{} // capacity 1: the consumer never waits to give back
	err   error         // the read's error; set before items is closed
	cur   PastItem
	i     int
	open  bool
}

func newFeed(pr pastRead) *feed {
	return &feed{pr: pr, items: make(chan PastItem, 1), ack: make(chan struct{}, 1), open: true}
}

// read runs the read of the past, handing each item over and waiting for
// its acknowledgement; it closes items when the read is over. ready, when
// set, is called after each hand-over and at the end: a consumer that polls
// (a Tap) is told there is something to take.
func (f *feed) read(ctx context.Context, ready func()) {
	defer func() {
		close(f.items)
		if ready != nil {
			ready()
		}
	}()
	f.err = f.pr.past.ReadPast(ctx, f.pr.q, func(it PastItem) error {
		select {
		case f.items <- it:
		case <-ctx.Done():
			return ctx.Err()
		}
		if ready != nil {
			ready()
		}
		select {
		case <-f.ack:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// sendPastMerged sends the pasts of a merged stream's sources merged by
// time, oldest first, each source's read in a goroutine of its own that
// this function starts and joins.
func (h *Hub) sendPastMerged(ctx context.Context, sw *streamWriter, c *client, reads []pastRead) string {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	feeds := make([]*feed, len(reads))
	for i, pr := range reads {
		f := newFeed(pr)
		feeds[i] = f
		wg.Go(func() { f.read(ctx, nil) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// next makes f.cur hold a line, writing the gaps it meets; false once
	// the source's read is over.
	next := func(f *feed) bool {
		for f.open && f.i >= len(f.cur.Lines) {
			if f.cur.Lines != nil || f.cur.Missed != 0 {
				f.cur = PastItem{}
				select {
				case f.ack <- struct{}{}:
				case <-ctx.Done():
					return false
				}
			}
			it, ok := <-f.items
			if !ok {
				f.open = false
				return false
			}
			f.cur, f.i = it, 0
			if it.Missed != 0 {
				sw.write(sse.AppendGap(nil, it.Missed, f.pr.src.name), 0)
				if it.Lines == nil {
					f.cur.Lines = []event.Line{} // an item to acknowledge
				}
			}
		}
		return f.open
	}
	live := make([]*feed, 0, len(feeds))
	for _, f := range feeds {
		if next(f) {
			live = append(live, f)
		}
	}
	n := 0
	for len(live) > 0 && ctx.Err() == nil {
		best := 0
		for j := 1; j < len(live); j++ {
			if live[j].cur.Lines[live[j].i].Time.Before(live[best].cur.Lines[live[best].i].Time) {
				best = j
			}
		}
		f := live[best]
		ev := f.pr.src.encode(f.cur.Lines[f.i:f.i+1], false)
		f.i++
		if e := &ev[0]; matches(&c.req.Filter, e) {
			c.writeEvent(sw, e)
		}
		if n++; n%512 == 0 {
			if err := sw.flush(); err != nil {
				return "write: " + err.Error()
			}
		}
		if !next(f) {
			live = append(live[:best], live[best+1:]...)
		}
	}
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		cancel()
		wg.Wait()
		if errors.Is(context.Cause(ctx), errHubClosed) {
			return "agent stopping"
		}
		return "client went away"
	}
	cancel()
	wg.Wait()
	for _, f := range feeds {
		if f.err != nil && !errors.Is(f.err, context.Canceled) {
			h.log.Warn("reading the past failed", zap.String("source", f.pr.src.name), zap.Error(f.err))
			sw.write(sse.AppendGap(nil, -1, f.pr.src.name), 0)
		}
	}
	if err := sw.flush(); err != nil {
		return "write: " + err.Error()
	}
	return ""
}

// Download serves GET /download/{source}: the lines of the source's past
// that match since=, until=, q=, re=, not= and level= (and tail=), as plain
// text, each line ending with "\n", streamed in bounded memory. It counts
// against the stream caps and the history reads cap.
func (h *Hub) Download() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/download/")
		if name == "" || strings.Contains(name, "/") {
			h.refuse(w, &refusal{http.StatusNotFound, rejectNotFound, "no such source"})
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			h.refuse(w, &refusal{http.StatusMethodNotAllowed, rejectBadRequest, "downloads answer GET only"})
			return
		}
		req, err := query.ParseRequest(r.URL.Query(), MaxHistoryTail)
		if err != nil {
			h.refuse(w, &refusal{http.StatusBadRequest, rejectBadRequest, err.Error()})
			return
		}
		if req.Sources != nil || req.LastID != "" || req.Format != query.FormatText {
			h.refuse(w, &refusal{http.StatusBadRequest, rejectBadRequest, "a download takes since, until, q, re, not, level and tail"})
			return
		}
		if !req.TailSet {
			req.Tail = 0
		}
		req.Download = true
		h.mu.Lock()
		s := h.sources[name]
		hasPast := s != nil && s.past != nil
		h.mu.Unlock()
		if s != nil && !hasPast {
			h.refuse(w, &refusal{http.StatusNotFound, rejectNotFound, "source " + name + " keeps no history on disk"})
			return
		}
		sub, ref := h.subscribe(req, []string{name}, false, h.opts.ClientIP(r))
		if ref != nil {
			h.refuse(w, ref)
			return
		}
		defer h.unsubscribe(sub.c)
		defer h.releaseSlot(sub)
		hd := w.Header()
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("Content-Disposition", `attachment; filename="`+name+`.log"`)
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		sw := &streamWriter{sk: httpSink{w: w, rc: http.NewResponseController(w)}, timeout: h.opts.WriteTimeout, hub: h}
		for _, pr := range sub.past {
			err := pr.past.ReadPast(r.Context(), pr.q, func(it PastItem) error {
				for i := range it.Lines {
					sw.write(it.Lines[i].Text, 1)
					sw.write(newline, 0)
				}
				return sw.flush()
			})
			if err != nil && r.Context().Err() == nil && sw.err == nil {
				h.log.Warn("download: reading the past failed", zap.String("source", name), zap.Error(err))
			}
		}
		_ = sw.flush()
	})
}

var newline = []byte("\n")
