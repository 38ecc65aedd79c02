package timeline

import (
	"strconv"
	"time"

	"edgetail/event"
)

// Levels is the number of level classes counted: event.Level's values,
// LevelUnknown ("none") included.
const Levels = int(event.LevelError) + 1

// Counts are the events of a grid's window per bucket and level. Its
// zero value is not usable: make one with NewCounts. It is not safe for
// concurrent use.
type Counts struct {
	Grid
	cells []uint64 // N*Levels, bucket-major
}

// NewCounts returns empty counts over g.
func NewCounts(g Grid) *Counts {
	return &Counts{Grid: g, cells: make([]uint64, g.N*Levels)}
}

// Add counts one event at t of level lv; it reports false (and counts
// nothing) when t is outside the window.
func (c *Counts) Add(t time.Time, lv event.Level) bool {
	i := c.Bucket(t)
	if i < 0 {
		return false
	}
	c.cells[i*Levels+int(lv)]++
	return true
}

// AddBucket counts n events of level lv in bucket i.
func (c *Counts) AddBucket(i int, lv event.Level, n uint64) {
	c.cells[i*Levels+int(lv)] += n
}

// At returns the count of bucket i at level lv.
func (c *Counts) At(i int, lv event.Level) uint64 { return c.cells[i*Levels+int(lv)] }

// Total is every event counted.
func (c *Counts) Total() uint64 {
	var n uint64
	for _, v := range c.cells {
		n += v
	}
	return n
}

// jsonLevels is the order of the levels object, most severe first.
var jsonLevels = [...]event.Level{event.LevelError, event.LevelWarn, event.LevelInfo, event.LevelDebug, event.LevelUnknown}

// LevelName is a level's key in the levels object: its name, "none" for
// events without one.
func LevelName(lv event.Level) string {
	if lv == event.LevelUnknown {
		return "none"
	}
	return lv.String()
}

// AppendJSON appends the answer's common fields, without the braces:
// "since", "until", "step" and "buckets", each bucket
// {"time","count","levels":{"error","warn","info","debug","none"}}.
func (c *Counts) AppendJSON(b []byte) []byte {
	b = append(b, `"since":"`...)
	b = c.Since.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","until":"`...)
	b = c.Until.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","step":"`...)
	b = append(b, FormatStep(c.Step)...)
	b = append(b, `","buckets":[`...)
	for i := 0; i < c.N; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		row := c.cells[i*Levels : (i+1)*Levels]
		var total uint64
		for _, v := range row {
			total += v
		}
		b = append(b, `{"time":"`...)
		b = c.BucketTime(i).AppendFormat(b, time.RFC3339)
		b = append(b, `","count":`...)
		b = strconv.AppendUint(b, total, 10)
		b = append(b, `,"levels":{`...)
		for j, lv := range jsonLevels {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, LevelName(lv)...)
			b = append(b, `":`...)
			b = strconv.AppendUint(b, row[lv], 10)
		}
		b = append(b, "}}"...)
	}
	return append(b, ']')
}
