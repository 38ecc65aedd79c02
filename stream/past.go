package stream

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"edgetail/event"
	"edgetail/sse"
)

// Past reads a source's lines from where they are kept, oldest first.
type Past interface {
	ReadPast(ctx context.Context, q PastQuery, emit func(PastItem) error) error
}

// KeyChecker is what a Past may also implement to say whether it can
// resume after a key; a Past without it is asked to resume after any key.
// A key it does not know (from another table, or garbled) is treated like
// an unknown in-run id: a gap of unknown size, then the replay buffer.
type KeyChecker interface {
	KnowsKey(key []byte) bool
}

// PastQuery says what to read.
type PastQuery struct {
	After []byte    // resume right after the line with this key; nil: from Since (or Tail)
	Since time.Time // zero: unbounded
	Until time.Time // zero: unbounded
	// Through stops after the line with this key: the last line committed
	// when the client subscribed, so that past and live meet with no gap
	// and no duplicate; nil: stop where following started (see SetStartKey).
	Through []byte
	// Tail > 0 with After == nil: only the last Tail matching lines (of the
	// window, when Since or Until is set).
	Tail  int
	Match func(*event.Line) bool // the stream's filter (level detection included); nil: all
	// Contains is lower-case text every line Match keeps contains, in any
	// ASCII case (the q= filter), so that a reader may skip in bulk the
	// lines without it; nil: none. An edgetail addition to the shared hook.
	Contains []byte
	// NoKeys says the reader does not need the lines' keys (a download):
	// a Past may leave event.Line.Key nil.
	NoKeys bool
}

// PastItem is a run of lines, optionally after a gap.
type PastItem struct {
	Missed int64 // > 0 exact count, -1 unknown: an `event: gap` comes before Lines; 0 none
	Lines  []event.Line
}

// appendJournalJSON appends the fields a journal entry adds to its JSON
// event.
func appendJournalJSON(b []byte, j *event.JournalFields) []byte {
	if j.Unit != "" {
		b = append(b, `,"unit":`...)
		b = sse.AppendJSONString(b, sse.SafeBytes(j.Unit))
	}
	b = append(b, `,"identifier":`...)
	b = sse.AppendJSONString(b, sse.SafeBytes(j.Identifier))
	if j.PID > 0 {
		b = append(b, `,"pid":`...)
		b = appendInt(b, j.PID)
	}
	if j.Priority >= 0 {
		b = append(b, `,"priority":`...)
		b = appendInt(b, j.Priority)
	}
	b = append(b, `,"boot":`...)
	b = sse.AppendJSONString(b, sse.SafeBytes(j.Boot))
	b = append(b, `,"cursor":`...)
	return sse.AppendJSONString(b, sse.SafeBytes(j.Cursor))
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// SetPast sets the producer's reader of the source's past; nil: none (the
// replay buffer only).
func (s *Source) SetPast(p Past) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.past = p
}

// SetStartKey sets the key of the last line before following began: the
// Through of a read of the past while nothing has been committed yet.
func (s *Source) SetStartKey(key []byte) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.startKey = bytes.Clone(key)
}

// through is where a read of the past stops for a client subscribing now.
// hub.mu held.
func (s *Source) through() []byte {
	if s.lastKey != nil {
		return s.lastKey
	}
	return s.startKey
}

// findKey returns the ring index just after the event with this key, or
// -1. hub.mu held. The ring is searched from its newest event: a resuming
// client usually left a moment ago.
func (r *ring) findKey(key string) int {
	for i := r.n - 1; i >= 0; i-- {
		if string(r.at(i).Key) == key {
			return i + 1
		}
	}
	return -1
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

// keyBefore returns the key of the event before e in the ring, nil when e
// is the oldest held (or not held). hub.mu held.
func (r *ring) keyBefore(e *event.Event) []byte {
	for i := r.n - 1; i > 0; i-- {
		if r.at(i) == e {
			return r.at(i - 1).Key
		}
	}
	return nil
}
