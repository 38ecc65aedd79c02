package history

import (
	"fmt"
	"math"
	"os"
	"time"

	"edgetail/multiline"
)

// chain reads one followed file's history: its siblings oldest first, then
// the file itself, one file open at a time, yielding the lines of the
// window that match.
type chain struct {
	q     *Query
	clock Clock
	files []File
	// counting makes the chain count its matching lines (in count)
	// instead of returning them: the first pass of tail=.
	counting bool
	count    int64

	i      int // the next file to open
	cur    *fileRead
	buf    []byte
	probe  []byte
	last   time.Time // time of the last timed line read, for lines without one
	done   bool
	find   *finder // the query's Needle, nil without one
	gaps   []Item  // to hand out before the next line
	stopAt bool    // the window's end was passed: no later file can be in it

	// ev is the open event of a read grouped into events (q.Group).
	ev event
}

// event is the open event of a grouped read: its lines' text, copied out
// of the read buffer, joined by "\n".
type event struct {
	g     multiline.Group
	text  []byte
	spare []byte // the text of the event handed out last, reused next
	n     int    // lines; 0: none open
	first int    // length of the first line, whose time is the event's
	end   int64  // offset just after its last line
	cut   int    // its last line's full length when it was cut
}

// fileRead is the file a chain is reading.
type fileRead struct {
	f         *File
	o         *opened
	sc        *scanner
	inWindow  bool  // a line at or after Since was seen
	first     bool  // no line of the file was looked at yet
	parseFrom int64 // from this offset on, every line's time is read (Until)
	partial   bool  // the first line is a fragment (read began mid-line)
	want      int64 // the content size the read expected (plain files)
}

// Line is a line read from disk. Text aliases a read buffer: it is valid
// only until the emit callback returns.
type Line struct {
	File     string
	Dev, Ino uint64
	End      int64 // offset just after the line's newline in the file's content
	Text     []byte
	Time     time.Time
	Cut      int // the (last) line's full length when Text holds only its start
	// Lines and Partial are set on the events of a grouped read: see
	// event.Line.
	Lines   int
	Partial bool
}

// next returns the next line of the chain, or a gap, or ok == false at the
// end.
func (c *chain) next() (l Line, gap *Item, ok bool) {
	for {
		if len(c.gaps) > 0 {
			g := c.gaps[0]
			c.gaps = c.gaps[1:]
			return Line{}, &g, true
		}
		if c.done {
			return Line{}, nil, false
		}
		if c.cur == nil {
			if c.i >= len(c.files) || c.stopAt {
				c.done = true
				continue
			}
			f := &c.files[c.i]
			c.i++
			c.open(f)
			continue
		}
		if fr := c.cur; c.find != nil && fr.inWindow && !fr.partial && !fr.first {
			fr.sc.skip(c.find, fr.parseFrom)
		}
		text, end, cut, lok := c.cur.sc.next()
		if !lok {
			if c.ev.n == 0 {
				c.closeCur()
				continue
			}
		} else if c.cur.partial {
			c.cur.partial = false
			continue
		}
		var l Line
		var keep, stop bool
		if c.q.Group == nil {
			l, keep, stop = c.consider(text, text, end, cut)
		} else {
			// An event is considered once it is complete: at its file's
			// next event, or at the file's end (lok false).
			ev, partial, ok := c.group(text, end, cut, lok)
			if !ok {
				continue
			}
			l, keep, stop = c.consider(ev.text, ev.text[:ev.first], ev.end, ev.cut)
			l.Lines, l.Partial = ev.n, partial
		}
		if stop {
			c.stopAt = true
			c.closeCur()
			continue
		}
		if keep {
			return l, nil, true
		}
	}
}

// group adds a line to the file's open event (lok false: the file ended)
// and returns the event it completed, if any: valid until the next one.
func (c *chain) group(text []byte, end int64, cut int, lok bool) (done event, partial, ok bool) {
	e := &c.ev
	ended := !lok
	if lok {
		ended, partial = e.g.Step(text)
	}
	if ended && e.n > 0 {
		done = *e
		e.text, e.spare = e.spare[:0], e.text
		e.n = 0
		ok = true
	}
	if !lok {
		e.g.Close()
		return done, false, ok
	}
	if e.n > 0 {
		if e.cut > 0 { // a cut line inside the event: say so, as live
			e.text = multiline.AppendLineCut(e.text, e.cut)
		}
		e.text = append(e.text, '\n')
	} else {
		e.first = len(text)
	}
	e.text = append(e.text, text...)
	e.n++
	e.end, e.cut = end, cut
	return done, partial, ok
}

// consider applies the window and the filter to one line, or event (text
// its lines, first the first line, whose time is the event's).
func (c *chain) consider(text, head []byte, end int64, cut int) (Line, bool, bool) {
	q, fr := c.q, c.cur
	parsed := false
	var t time.Time
	parse := func() {
		if parsed {
			return
		}
		parsed = true
		if pt, ok := ParseTime(head, c.clock); ok {
			c.last = pt
			t = pt
			return
		}
		if c.find != nil && fr.inWindow {
			if pt, ok := fr.sc.lookBack(c.clock); ok && pt.After(c.last) {
				c.last = pt
			}
		}
		if c.last.IsZero() {
			t = fr.f.ModTime
		} else {
			t = c.last
		}
	}
	if !fr.inWindow && !q.Since.IsZero() {
		parse()
		if t.Before(q.Since) {
			return Line{}, false, false
		}
	}
	fr.inWindow = true
	// Lines are in time order, so the window ends at the first line after
	// Until. Only the region seekPast left, a file's first line, and the
	// lines that match need their time read: a matching line after Until
	// ends the read too.
	first := fr.first
	fr.first = false
	if !q.Until.IsZero() && (end > fr.parseFrom || first) {
		parse()
		if t.After(q.Until) {
			return Line{}, false, true
		}
	}
	if q.Match != nil && !q.Match(text) {
		return Line{}, false, false
	}
	parse()
	if !q.Until.IsZero() && t.After(q.Until) {
		return Line{}, false, true
	}
	if c.counting {
		c.count++
		return Line{}, false, false
	}
	return Line{File: fr.f.Path, Dev: fr.f.Dev, Ino: fr.f.Ino, End: end, Text: text, Time: t, Cut: cut}, true, false
}

// open starts reading a file, or skips it when its range or its times put
// it out of the window.
func (c *chain) open(f *File) {
	q := c.q
	rg := Range{From: 0, To: -1}
	if q.Range != nil {
		rg = q.Range(f)
	}
	if rg.Skip {
		return
	}
	if rg.Missed != 0 {
		c.gaps = append(c.gaps, Item{Missed: rg.Missed, Reason: f.Path + ": lines gone"})
	}
	from, to := rg.From, rg.To
	if f.Compression == Plain {
		if to < 0 || to > f.Size {
			to = f.Size
		}
		if from >= to {
			return
		}
	}
	// A compressed file's last line is no later than its modification
	// time: skip it whole when that is before the window.
	if f.Compression != Plain && !q.Since.IsZero() && f.ModTime.Before(q.Since) {
		return
	}
	fr := &fileRead{f: f, parseFrom: math.MaxInt64, want: to, first: true}
	if f.Compression == Plain {
		var ok bool
		if from, ok = c.seek(f, fr, from, to); !ok {
			return
		}
	}
	readFrom := from
	if f.Compression == Plain && from > rg.From {
		readFrom = from - 1 // see whether from starts a line
		fr.partial = true
	}
	o, err := openAt(f, readFrom, to)
	if err != nil {
		c.gaps = append(c.gaps, Item{Missed: -1, Reason: err.Error()})
		return
	}
	if c.buf == nil {
		c.buf = make([]byte, chunkSize)
	}
	fr.o = o
	fr.sc = newScanner(o.r, readFrom, c.q.MaxLineBytes, c.buf)
	c.cur = fr
	if q.Group != nil {
		// Grouping is per file: a trace never spans two.
		c.ev.g = q.Group.NewGroup()
		c.ev.n = 0
		c.ev.text = c.ev.text[:0]
	}
}

// seek uses the order of a plain file's lines: skip it when it ends before
// Since or starts after Until, else start near the window's first line.
func (c *chain) seek(f *File, fr *fileRead, from, to int64) (int64, bool) {
	q := c.q
	if q.Since.IsZero() && q.Until.IsZero() {
		return from, true
	}
	fd, err := os.Open(f.Path)
	if err != nil {
		c.gaps = append(c.gaps, Item{Missed: -1, Reason: err.Error()})
		return 0, false
	}
	defer fd.Close()
	if c.probe == nil {
		c.probe = make([]byte, probeSize)
	}
	p := &prober{fd: fd, clock: c.clock, buf: c.probe}
	if !q.Since.IsZero() {
		if t, ok := p.lastTime(from, to); ok && t.Before(q.Since) {
			return 0, false
		}
	}
	if !q.Until.IsZero() {
		if t, ok := p.timeAt(from, from, to); ok && t.After(q.Until) {
			c.stopAt = true
			return 0, false
		}
	}
	start := from
	if !q.Since.IsZero() {
		start = p.seekAfter(from, to, q.Since)
	}
	if !q.Until.IsZero() {
		fr.parseFrom = p.seekPast(start, to, q.Until)
	}
	return start, true
}

func (c *chain) closeCur() {
	fr := c.cur
	if fr == nil {
		return
	}
	c.cur = nil
	sc := fr.sc
	if sc.err != nil {
		c.gaps = append(c.gaps, Item{Missed: -1, Reason: fmt.Sprintf("read %s: %v", fr.f.Path, sc.err)})
	} else if fr.f.Compression == Plain && fr.want >= 0 && sc.off < fr.want && !c.stopAt {
		// The file shrank under the read (truncated, copytruncate).
		c.gaps = append(c.gaps, Item{Missed: -1, Reason: fr.f.Path + " shrank while it was read"})
	}
	fr.o.close()
}

func (c *chain) close() {
	if c.cur != nil {
		c.cur.o.close()
		c.cur = nil
	}
}
