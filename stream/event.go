package stream

import (
	"strconv"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"
)

// The slots of an event's other encodings (event.Event.Encoding).
const (
	altJSON       = iota // single-source stream, format=json
	altMergedText        // merged stream, format=text
	altMergedJSON        // merged stream, format=json
)

// size is what the event costs the replay buffer's byte budget.
func size(e *event.Event) int {
	if e.Lines > 1 {
		return len(e.Frame) + len(e.Line) + 160
	}
	return len(e.Frame) + 160
}

// frame returns the bytes to write for a stream of the given shape. The text
// frame of a single-source stream is built with the batch; the others are
// built on first use and then shared.
func frame(e *event.Event, f query.Format, merged bool) []byte {
	if merged {
		slot := altMergedText
		if f == query.FormatJSON {
			slot = altMergedJSON
		}
		return e.Encoding(slot, func() []byte { return buildMerged(e, f) })
	}
	if f == query.FormatText || e.Kind == event.KindMetric {
		return e.Frame
	}
	return e.Encoding(altJSON, func() []byte {
		b := make([]byte, 0, len(e.Line)+len(e.File)+len(e.Source)+120)
		b = appendID(b, e)
		b = append(b, "data: "...)
		b = appendJSON(b, e)
		return append(b, '\n', '\n')
	})
}

// mergedPrefix marks ids of the merged stream, so that an id of a single
// source sent to the merged stream (or the reverse) is seen as unknown rather
// than misread.
const mergedPrefix = "m"

func buildMerged(e *event.Event, f query.Format) []byte {
	// No id: line here. A merged id says where each source of the stream
	// stands, which depends on the client's set of sources: the client's
	// writer puts it before the shared frame (see client.mergedID).
	b := make([]byte, 0, len(e.Line)+len(e.File)+len(e.Source)+140)
	if e.Kind == event.KindMetric {
		// Say the source inside the sample: {"source":"host",...}.
		b = append(b, "event: metric\ndata: {\"source\":"...)
		b = sse.AppendJSONString(b, []byte(e.Source))
		if len(e.Line) > 2 {
			b = append(b, ',')
		}
		b = append(b, e.Line[1:]...)
		return append(b, '\n', '\n')
	}
	if f == query.FormatJSON {
		b = append(b, "data: "...)
		b = appendJSON(b, e)
		return append(b, '\n', '\n')
	}
	if e.Lines > 1 {
		// One data: field per line, the first prefixed.
		b = sse.AppendData(b, "["+e.Source+"] ", e.Line, nil)
		return append(b, '\n')
	}
	b = append(b, "data: ["...)
	b = append(b, e.Source...)
	b = append(b, ']', ' ')
	b = append(b, e.Line...)
	return append(b, '\n', '\n')
}

// appendJSON appends {"id","source","file","time","level","line","lines"}:
// line is the event's lines joined by "\n", lines their number.
func appendJSON(b []byte, e *event.Event) []byte {
	b = append(b, `{"id":"`...)
	if e.Key != nil {
		b = append(b, e.Key...)
	} else {
		b = strconv.AppendUint(b, e.ID, 10)
	}
	b = append(b, `","source":`...)
	b = sse.AppendJSONString(b, []byte(e.Source))
	b = append(b, `,"file":`...)
	b = sse.AppendJSONString(b, []byte(e.File))
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.Level.String()...)
	b = append(b, `","line":`...)
	b = sse.AppendJSONString(b, e.Line)
	b = append(b, `,"lines":`...)
	b = strconv.AppendInt(b, int64(max(e.Lines, 1)), 10)
	if e.Journal != nil {
		b = appendJournalJSON(b, e.Journal)
	}
	return append(b, '}')
}

// appendID appends the event's id: field: its durable key when it has
// one, else its in-run number.
func appendID(b []byte, e *event.Event) []byte {
	if e.Key == nil {
		return sse.AppendID(b, "", e.ID)
	}
	b = append(b, "id: "...)
	b = append(b, e.Key...)
	return append(b, '\n')
}

// matches reports whether e passes f. Metric samples pass every line
// filter: they have no text to match.
func matches(f *query.Filter, e *event.Event) bool {
	if e.Kind != event.KindLine {
		return true
	}
	return f.Match(e.Line, e.Level, e.Journal)
}
