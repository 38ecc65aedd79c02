package stream

import (
	"encoding/json"
	"slices"

	"edgetail/event"
	"edgetail/sse"
)

// projectFields returns a copy of a metric event that keeps only the named
// top-level fields of its sample, and "time", without which a chart cannot
// place the point. A sample that is not a JSON object is passed unchanged.
func projectFields(e *event.Event, fields []string) *event.Event {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(e.Line, &obj); err != nil {
		return e
	}
	for k := range obj {
		if k != "time" && !slices.Contains(fields, k) {
			delete(obj, k)
		}
	}
	sample, err := json.Marshal(obj)
	if err != nil {
		return e
	}
	p := &event.Event{ID: e.ID, G: e.G, Kind: e.Kind, Source: e.Source, Time: e.Time, Read: e.Read}
	p.Frame, p.Line = metricFrame(p.ID, sample)
	return p
}

// metricFrame encodes a sample as "id: N\nevent: metric\ndata: {...}\n\n"
// and returns the frame and the data within it.
func metricFrame(id uint64, sample []byte) (frame, data []byte) {
	b := make([]byte, 0, len(sample)+48)
	b = sse.AppendID(b, "", id)
	b = append(b, "event: metric\ndata: "...)
	ls := len(b)
	b = sse.AppendSafe(b, sample)
	le := len(b)
	b = append(b, '\n', '\n')
	return b, b[ls:le:le]
}
