package event

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind tells log lines from metric samples.
type Kind uint8

// The kinds of
const (
	KindLine   Kind = iota // a log line: written with no event: field
	KindMetric             // a metrics sample: event: metric, data is JSON
)

// Event is one line or sample, encoded once and shared, read-only, by every
// client and by the replay buffer.
type Event struct {
	ID     uint64 // strictly increasing within the source
	G      uint64 // agent-wide commit order, the id of the merged stream
	Kind   Kind
	Level  Level
	Source string
	File   string
	Time   time.Time
	// Key is the durable id sent in `id:` instead of ID; nil: ID is sent.
	Key []byte
	// Journal holds a journal entry's own fields; nil for other sources.
	Journal *JournalFields
	// Line is the sanitized line (valid UTF-8, no CR/LF) or, for a metric,
	// the sample's JSON. It aliases Frame. For an event of several lines
	// (Lines > 1) it is the sanitized lines joined by "\n", beside Frame
	// (whose data: fields hold one line each).
	Line []byte
	// Lines is how many lines Line holds (1 for a single line; 0 for a
	// metric sample).
	Lines int
	// Frame is the complete SSE event for a single-source text stream.
	Frame []byte

	// alt holds the other encodings (Encoding), made on first use.
	alt atomic.Pointer[altFrames]
}

// Encodings is how many other encodings an event can hold: the stream hub
// numbers them (its JSON and merged forms).
const Encodings = 3

// altFrames are an event's encodings other than Frame, each built once.
type altFrames struct {
	once [Encodings]sync.Once
	b    [Encodings][]byte
}

// Encoding returns the event's encoding in slot (0 <= slot < Encodings),
// calling build to make it on first use only: most events are only ever
// sent as Frame, and a replay buffer holds many events.
func (e *Event) Encoding(slot int, build func() []byte) []byte {
	a := e.alt.Load()
	if a == nil {
		a = new(altFrames)
		if !e.alt.CompareAndSwap(nil, a) {
			a = e.alt.Load()
		}
	}
	a.once[slot].Do(func() { a.b[slot] = build() })
	return a.b[slot]
}
