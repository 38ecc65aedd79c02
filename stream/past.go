package stream

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Past reads a source's lines from where they are kept, oldest first. A
// producer whose lines carry durable keys (Line.Key) gives one to its source
// with SetPast, so that a resume the replay buffer cannot answer (an id from
// an earlier run, or older than the buffer) is read back from the origin.
type Past interface {
	ReadPast(ctx context.Context, q PastQuery, emit func(PastItem) error) error
}

// PastQuery says what to read.
type PastQuery struct {
	After   []byte    // resume right after the line with this key; nil: from Since (or Tail)
	Since   time.Time // zero: unbounded
	Until   time.Time // zero: unbounded
	Through []byte    // stop after the line with this key: the last line committed when the
	// client subscribed, so that past and live meet with no gap and no
	// duplicate; nil: stop where following started (see SetStartKey)
	Tail  int              // > 0 with After == nil and Since zero: only the last Tail matching lines
	Match func(*Line) bool // the stream's filter (level detection included); nil: all
}

// PastItem is a run of lines, optionally after a gap.
type PastItem struct {
	Missed int64 // > 0 exact count, -1 unknown: an `event: gap` comes before Lines; 0 none
	Lines  []Line
}

// JournalFields are the fields a journal entry adds to the JSON form of its
// event.
type JournalFields struct {
	Unit       string // _SYSTEMD_UNIT; "" when the entry has none
	Identifier string // SYSLOG_IDENTIFIER
	PID        int    // _PID; 0 when absent
	Priority   int    // PRIORITY 0-7; -1 when absent
	Boot       string // _BOOT_ID
	Cursor     string // __CURSOR exactly
}

func (j *JournalFields) appendJSON(b []byte) []byte {
	if j.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, safeBytes(j.Unit))
	}
	b = append(b, `,"identifier":`...)
	b = appendJSONString(b, safeBytes(j.Identifier))
	if j.PID > 0 {
		b = append(b, `,"pid":`...)
		b = appendInt(b, j.PID)
	}
	if j.Priority >= 0 {
		b = append(b, `,"priority":`...)
		b = appendInt(b, j.Priority)
	}
	b = append(b, `,"boot":`...)
	b = appendJSONString(b, safeBytes(j.Boot))
	b = append(b, `,"cursor":`...)
	return appendJSONString(b, safeBytes(j.Cursor))
}

func safeBytes(s string) []byte {
	if needsSanitizing([]byte(s)) {
		return appendSafe(nil, []byte(s))
	}
	return []byte(s)
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// SetPast gives the source its producer's reader of the past; nil: none
// (the replay buffer only).
func (s *Source) SetPast(p Past) {
	s.hub.mu.Lock()
	s.past = p
	s.hub.mu.Unlock()
}

// SetStartKey records the key of the last line before following began: the
// Through of a past read while nothing was committed yet.
func (s *Source) SetStartKey(key []byte) {
	s.hub.mu.Lock()
	s.startKey = bytes.Clone(key)
	s.hub.mu.Unlock()
}

// LastKey returns the durable key of the source's last committed event (nil
// when it has none), so that a producer started again (a reload) resumes
// where the previous one stopped.
func (s *Source) LastKey() []byte {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return bytes.Clone(s.lastKey)
}

// isDurableKey tells a producer's key from an in-run id (digits) and a
// merged-stream id ("m").
func isDurableKey(id string) bool {
	if id == "" || id[0] == mergedPrefix[0] || (id[0] >= '0' && id[0] <= '9') {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// indexAfterKey returns the index of the event after the one with key, and
// whether that event is held. The newest events are the likeliest resume
// points, so the search runs from the newest.
func (r *ring) indexAfterKey(key []byte) (int, bool) {
	for i := r.n - 1; i >= 0; i-- {
		if bytes.Equal(r.at(i).Key, key) {
			return i + 1, true
		}
	}
	return 0, false
}

// maxPastReads bounds the past reads running at once in a hub: each holds
// a child process or open files and a buffer.
const maxPastReads = 8

// errPastEnded stops a past read when its client has gone.
var errPastEnded = errors.New("stream ended")

// writePast streams a past read to a client: each item's gap, then its
// lines encoded like live events (carrying their keys) and run through the
// client's filter, written like backlog and flushed per item.
func (h *Hub) writePast(ctx context.Context, sw *streamWriter, sub *subscription) string {
	select {
	case h.pastSem <- struct{}{}:
	case <-ctx.Done():
		return "client went away"
	case <-h.done:
		return "agent stopping"
	}
	defer func() { <-h.pastSem }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	src, req := sub.c.sources[0], sub.c.req
	var werr error
	err := sub.pastReader.ReadPast(ctx, *sub.past, func(it PastItem) error {
		if it.Missed != 0 {
			sw.write(appendGap(nil, it.Missed, ""), 0)
		}
		if len(it.Lines) > 0 {
			events := src.encode(it.Lines, false)
			for i := range events {
				if e := &events[i]; req.Filter.Match(e) {
					sw.write(e.frame(req.Format, false), 1)
				}
			}
		}
		if werr = sw.flush(); werr != nil {
			return errPastEnded
		}
		return ctx.Err()
	})
	switch {
	case werr != nil:
		return "write: " + werr.Error()
	case ctx.Err() != nil:
		return "client went away"
	case err != nil:
		// The past could not be read: say that lines may be missing
		// rather than end the stream.
		h.log.Warn("read past", zap.String("source", src.name), zap.Error(err))
		sw.write(appendGap(nil, -1, ""), 0)
		if werr := sw.flush(); werr != nil {
			return "write: " + werr.Error()
		}
	}
	return ""
}
