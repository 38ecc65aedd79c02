package filesource

import (
	"time"

	"edgetail/event"
	"edgetail/multiline"
	"edgetail/tailer"
)

// grouping turns a multiline source's lines into events in the tailer's
// goroutine, before they are keyed and committed: each file (by device
// and inode, which a rename keeps; by path for the poll engine, whose
// lines have neither) has its open event, held without copying its lines
// (the tailer never touches a batch's text after handing it over). An
// event is complete when its file's next event starts, when it reaches
// max_lines or max_bytes, or, through the tailer's one release timer
// (tailer.Holder), after wait with no new line.
type grouping struct {
	rules *multiline.Rules
	wait  time.Duration
	files map[fileKey]*multiline.Pending[tailer.Line]

	// The file of the previous line: lines come in runs of one file.
	lastK fileKey
	lastP *multiline.Pending[tailer.Line]

	out  []tailer.Line // the events completed by this call, in order
	join []byte        // their joined texts; reused once they are published
	emit multiline.Emit[tailer.Line]
}

type fileKey struct {
	dev, ino uint64
	path     string // only when dev and ino are unknown
}

func newGrouping(r *multiline.Rules) *grouping {
	g := &grouping{rules: r, wait: r.Wait(), files: make(map[fileKey]*multiline.Pending[tailer.Line])}
	g.emit = g.complete
	return g
}

func keyOf(l *tailer.Line) fileKey {
	if l.Dev == 0 && l.Ino == 0 {
		return fileKey{path: l.File}
	}
	return fileKey{dev: l.Dev, ino: l.Ino}
}

func eventLine(l *tailer.Line) *event.Line { return &l.Line }

// complete appends a completed event to out: a line of its own as it is,
// several joined into one line that keeps the last one's position (its
// key is the event's: resuming after it continues after the whole event).
func (g *grouping) complete(lines []tailer.Line, cut bool) {
	last := &lines[len(lines)-1]
	if len(lines) == 1 && !cut {
		g.out = append(g.out, *last)
		return
	}
	var l event.Line
	l, g.join = multiline.Join(g.join, lines, eventLine, cut)
	g.out = append(g.out, tailer.Line{Line: l, Dev: last.Dev, Ino: last.Ino, End: last.End})
}

// add takes a batch's lines, read at now.
func (g *grouping) add(lines []tailer.Line, now time.Time) {
	for i := range lines {
		l := &lines[i]
		k := keyOf(l)
		p := g.lastP
		if p == nil || k != g.lastK {
			p = g.files[k]
			if p == nil {
				p = multiline.NewPending[tailer.Line](g.rules)
				g.files[k] = p
			}
			g.lastK, g.lastP = k, p
		}
		if last, ok := p.LastLine(); ok && l.End > 0 && l.End < last.End {
			// The file was truncated (copytruncate) under its open
			// event: what follows is not its continuation.
			p.Flush(g.emit)
		}
		p.Add(*l, l.Text, now, g.emit)
	}
}

// due is when the first open event is complete if no line comes.
func (g *grouping) due() time.Time {
	var d time.Time
	for _, p := range g.files {
		if t := p.Due(g.wait); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// release completes the open events whose wait has passed at now, and
// forgets the files with nothing open (a rotated file read to its end).
func (g *grouping) release(now time.Time) {
	for k, p := range g.files {
		if t := p.Due(g.wait); !t.IsZero() && !t.After(now) {
			p.Flush(g.emit)
		}
		if p.Held() == 0 && now.Sub(p.Last) > time.Minute {
			delete(g.files, k)
			if g.lastP == p {
				g.lastP = nil
			}
		}
	}
}

// published resets the events handed over: their texts may be reused.
func (g *grouping) published() {
	clear(g.out)
	g.out = g.out[:0]
	g.join = g.join[:0]
	if cap(g.join) > 1<<20 {
		g.join = nil
	}
}
