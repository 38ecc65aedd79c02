package stream

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Kind tells log lines from metric samples.
type Kind uint8

// The kinds of event.
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
	// the sample's JSON. It aliases Frame.
	Line []byte
	// Frame is the complete SSE event for a single-source text stream.
	Frame []byte

	// alt holds the other encodings, made on first use: most events are
	// only ever sent as Frame, and a replay buffer holds many events.
	alt atomic.Pointer[altFrames]
}

// altFrames are an event's encodings other than Frame, each built once.
type altFrames struct {
	once [3]sync.Once
	b    [3][]byte
}

// The altFrames slots.
const (
	altJSON       = iota // single-source stream, format=json
	altMergedText        // merged stream, format=text
	altMergedJSON        // merged stream, format=json
)

func (e *Event) alternate(slot int, build func() []byte) []byte {
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

// size is what the event costs the replay buffer's byte budget.
func (e *Event) size() int { return len(e.Frame) + 160 }

// frame returns the bytes to write for a stream of the given shape. The text
// frame of a single-source stream is built with the batch; the others are
// built on first use and then shared.
func (e *Event) frame(f Format, merged bool) []byte {
	if merged {
		slot := altMergedText
		if f == FormatJSON {
			slot = altMergedJSON
		}
		return e.alternate(slot, func() []byte { return e.buildMerged(f) })
	}
	if f == FormatText || e.Kind == KindMetric {
		return e.Frame
	}
	return e.alternate(altJSON, func() []byte {
		b := make([]byte, 0, len(e.Line)+len(e.File)+len(e.Source)+120)
		b = e.appendID(b)
		b = append(b, "data: "...)
		b = e.appendJSON(b)
		return append(b, '\n', '\n')
	})
}

// mergedPrefix marks ids of the merged stream, so that an id of a single
// source sent to the merged stream (or the reverse) is seen as unknown rather
// than misread.
const mergedPrefix = "m"

func (e *Event) buildMerged(f Format) []byte {
	// No id: line here. A merged id says where each source of the stream
	// stands, which depends on the client's set of sources: the client's
	// writer puts it before the shared frame (see client.mergedID).
	b := make([]byte, 0, len(e.Line)+len(e.File)+len(e.Source)+140)
	if e.Kind == KindMetric {
		// Say the source inside the sample: {"source":"host",...}.
		b = append(b, "event: metric\ndata: {\"source\":"...)
		b = appendJSONString(b, []byte(e.Source))
		if len(e.Line) > 2 {
			b = append(b, ',')
		}
		b = append(b, e.Line[1:]...)
		return append(b, '\n', '\n')
	}
	b = append(b, "data: "...)
	if f == FormatJSON {
		b = e.appendJSON(b)
	} else {
		b = append(b, '[')
		b = append(b, e.Source...)
		b = append(b, ']', ' ')
		b = append(b, e.Line...)
	}
	return append(b, '\n', '\n')
}

// appendJSON appends {"id","source","file","time","level","line"}.
func (e *Event) appendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	if e.Key != nil {
		b = append(b, e.Key...)
	} else {
		b = strconv.AppendUint(b, e.ID, 10)
	}
	b = append(b, `","source":`...)
	b = appendJSONString(b, []byte(e.Source))
	b = append(b, `,"file":`...)
	b = appendJSONString(b, []byte(e.File))
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.Level.String()...)
	b = append(b, `","line":`...)
	b = appendJSONString(b, e.Line)
	if e.Journal != nil {
		b = e.Journal.appendJSON(b)
	}
	return append(b, '}')
}

// appendID appends the event's id: field: its durable key when it has
// one, else its in-run number.
func (e *Event) appendID(b []byte) []byte {
	if e.Key == nil {
		return appendIDField(b, "", e.ID)
	}
	b = append(b, "id: "...)
	b = append(b, e.Key...)
	return append(b, '\n')
}
