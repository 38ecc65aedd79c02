package multiline

import (
	"strconv"
	"time"

	"edgetail/event"
)

// Pending is one file's open event: its Group and its lines, which it
// holds without copying (T is the caller's line type; its text must not
// change while it is held, which the tailer promises of the lines it hands
// over).
type Pending[T any] struct {
	g     Group
	items []T
	// Last is when the open event last grew: it is due at Last + Wait.
	Last time.Time
}

// NewPending returns the open-event holder of a new file.
func NewPending[T any](r *Rules) *Pending[T] { return &Pending[T]{g: r.NewGroup()} }

// Emit receives a complete event: its lines in order (valid only during
// the call) and whether it was cut at MaxLines or MaxBytes.
type Emit[T any] func(lines []T, cut bool)

// Add takes the file's next line, read at now, and emits the event it
// completes, if any, before holding it.
func (p *Pending[T]) Add(it T, text []byte, now time.Time, emit Emit[T]) {
	ended, cut := p.g.Step(text)
	if ended && len(p.items) > 0 {
		emit(p.items, cut)
		clear(p.items) // drop the references to the lines' texts
		p.items = p.items[:0]
	}
	p.items = append(p.items, it)
	p.Last = now
}

// Flush emits the open event, if any, as complete.
func (p *Pending[T]) Flush(emit Emit[T]) {
	p.g.Close()
	if len(p.items) == 0 {
		return
	}
	emit(p.items, false)
	clear(p.items)
	p.items = p.items[:0]
	if cap(p.items) > 64 { // a long trace's slice is not kept
		p.items = nil
	}
}

// LastLine returns the open event's last line (ok false: none open).
func (p *Pending[T]) LastLine() (it T, ok bool) {
	if len(p.items) == 0 {
		return it, false
	}
	return p.items[len(p.items)-1], true
}

// Held is how many lines the open event has.
func (p *Pending[T]) Held() int { return len(p.items) }

// Due is when the open event is complete if no line comes (zero: none
// open).
func (p *Pending[T]) Due(wait time.Duration) time.Time {
	if len(p.items) == 0 {
		return time.Time{}
	}
	return p.Last.Add(wait)
}

// CutMarker ends the last line of an event cut at MaxLines or MaxBytes:
// its next lines follow as the next event. (A line cut at max_line_bytes
// ends with the stream's own marker, " [edgetail: line cut, N bytes]".)
const CutMarker = " [edgetail: event cut, continued in the next event]"

// lineCutMarker is the stream's marker of a line longer than
// max_line_bytes, written here for a cut line inside an event (the
// stream writes it after the event's last line only).
const lineCutMarker = " [edgetail: line cut, "

// Join appends the event's lines to dst, joined by "\n", and returns the
// event.Line of the whole: Text aliases dst's new bytes (the caller keeps
// dst unchanged until the line is used); File, Key-less, Time of the first
// line (an event's time is its first line's), Cut of the last line, Lines
// and Partial set. A line cut at max_line_bytes inside the event carries
// the cut marker in the text; the last line's cut is left to the stream,
// as for single lines. lines must hold at least one line.
// line tells Join where a caller's line type keeps its event.Line.
func Join[T any](dst []byte, lines []T, line func(*T) *event.Line, partial bool) (event.Line, []byte) {
	first := line(&lines[0])
	if len(lines) == 1 {
		l := *first
		l.Partial = partial
		return l, dst
	}
	start := len(dst)
	for i := range lines {
		li := line(&lines[i])
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, li.Text...)
		if c := li.Cut; c > 0 && i < len(lines)-1 {
			dst = append(dst, lineCutMarker...)
			dst = strconv.AppendInt(dst, int64(c), 10)
			dst = append(dst, " bytes]"...)
		}
	}
	last := line(&lines[len(lines)-1])
	l := event.Line{
		File:    last.File,
		Text:    dst[start:len(dst):len(dst)],
		Time:    first.Time,
		Cut:     last.Cut,
		Lines:   len(lines),
		Partial: partial,
		Level:   first.Level,
		Journal: first.Journal,
	}
	return l, dst
}

// AppendLineCut appends the marker of a line cut at max_line_bytes (full
// its length), as an event's inner line carries it.
func AppendLineCut(dst []byte, full int) []byte {
	dst = append(dst, lineCutMarker...)
	dst = strconv.AppendInt(dst, int64(full), 10)
	return append(dst, " bytes]"...)
}
