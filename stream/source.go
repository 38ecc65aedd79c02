package stream

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"
	"edgetail/timeline"
)

// Source is one named stream: its replay buffer, its filter groups, and the
// ids of its events. Its producer feeds it from one goroutine (Publish or
// PublishMetric), which keeps ids and order without a lock; everything
// shared with clients is guarded by the hub's lock.
type Source struct {
	hub  *Hub
	name string
	kind SourceKind
	base uint64 // ids of this source are above it: ids of an earlier run are below
	seq  uint64 // owned by the producer goroutine

	// Guarded by hub.mu.
	ring     *ring
	groups   map[string]*group
	nclients int
	removed  bool
	past     Past   // the producer's reader of its past; nil: the ring only
	startKey []byte // key of the last line before following began
	lastKey  []byte // key of the last committed event; nil when it had none

	direct   directWriter      // owned by the producer goroutine
	sel      []*event.Event    // commit's scratch, hub.mu held
	spans    []frameSpan       // encode's scratch, producer-owned
	matchM   map[*group][]bool // matchGroups' scratch, producer-owned
	matchB   []bool
	text     []byte                   // matchGroups' scratch: the batch's lines, one after the other
	snap     atomic.Pointer[[]*group] // groups as of the last change, read by workers
	watchers atomic.Int64             // nclients, read by the producer without the lock
	lines    atomic.Uint64
	lastID   atomic.Uint64
	levels   [timeline.Levels]atomic.Uint64 // events committed per level
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// group is the clients of one source that share a filter (and, for
// metrics, a field selection).
type group struct {
	key     string
	filter  *query.Filter
	fields  []string // metrics: keep only these top-level fields (nil: all)
	clients []*client
}

// selectEvents lists the events of a batch the group's clients get: those
// that match, projected to the group's fields. It runs once per group, not
// once per client. m == nil means all match.
func (g *group) selectEvents(out []*event.Event, events []event.Event, m []bool) []*event.Event {
	for i := range events {
		if m != nil && !m[i] {
			continue
		}
		out = append(out, g.project(&events[i]))
	}
	return out
}

func (g *group) project(e *event.Event) *event.Event {
	if g.fields == nil || e.Kind != event.KindMetric {
		return e
	}
	return projectFields(e, g.fields)
}

func formatID(id uint64) string { return strconv.FormatUint(id, 10) }

// Publish encodes, filters and sends lines, in batches of at most
// BatchMaxLines. The per-line work runs in one of the hub's worker slots; the
// commit (ring and fan-out) runs under the hub lock. Callers must not call
// Publish concurrently for one source. It returns an error only when ctx is
// done.
func (s *Source) Publish(ctx context.Context, lines []event.Line) error {
	max := s.hub.opts.BatchMaxLines
	for len(lines) > max {
		if err := s.publish(ctx, lines[:max]); err != nil {
			return err
		}
		lines = lines[max:]
	}
	if len(lines) == 0 {
		return nil
	}
	return s.publish(ctx, lines)
}

// Patience is how long the producer of a busy source may hold back a read to
// gather more lines into one batch. With no client, nobody waits for the
// lines: batches are as large as BatchMaxWait allows, which is what makes a
// source at rest cheap. With clients it bounds the latency batching adds to
// a viewer (2 ms, and 10 µs more per client up to 3 ms) while it still turns
// 1,000 lines/s into a few hundred batches a second; since every batch costs
// one write(2) per client, more clients earn a slightly longer window.
func (s *Source) Patience() time.Duration {
	bound := s.hub.opts.BatchMaxWait
	n := s.watchers.Load()
	if n == 0 {
		return bound
	}
	w := viewerPatience + time.Duration(n)*viewerPatiencePerClient
	return min(w, viewerPatienceMax, bound)
}

// The batching window of a source with clients.
const (
	viewerPatience          = 2 * time.Millisecond
	viewerPatiencePerClient = 10 * time.Microsecond
	viewerPatienceMax       = 3 * time.Millisecond
)

func (s *Source) publish(ctx context.Context, lines []event.Line) error {
	select {
	case s.hub.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	events := s.encode(lines, true)
	s.hub.opts.Observer.Batch(len(events))
	s.countLevels(events)
	var groups []*group
	if p := s.snap.Load(); p != nil {
		groups = *p
	}
	matches := s.matchGroups(groups, events)
	<-s.hub.sem
	s.commit(events, matches)
	s.direct.flush(s.hub)
	return nil
}

// cutMarker ends a line that was longer than max_line_bytes.
const cutMarker = " [edgetail: line cut, "

// partialMarker ends an event cut at its source's max_lines or max_bytes
// (multiline.CutMarker: the stream does not import the grouper).
const partialMarker = " [edgetail: event cut, continued in the next event]"

// encode makes the events of a batch. number says whether they take the
// source's next in-run ids: lines read back from the past do not, as they
// were numbered (or keyed) when they were first sent.
func (s *Source) encode(lines []event.Line, number bool) []event.Event {
	events := make([]event.Event, len(lines))
	total := 0
	for i := range lines {
		total += len(lines[i].Text) + len(lines[i].Key) + 48
		if n := lines[i].Lines; n > 1 {
			// The data: fields, and the joined text beside the frame.
			total += len(lines[i].Text) + n*len("data: ")
		}
	}
	buf := make([]byte, 0, total)
	var spans []frameSpan
	if number {
		// The producer's scratch. Lines read from the past are encoded
		// by their reader's goroutine, which must not share it.
		spans = slices.Grow(s.spans[:0], len(lines))[:len(lines)]
		s.spans = spans
	} else {
		spans = make([]frameSpan, len(lines))
	}
	for i := range lines {
		l := &lines[i]
		e := &events[i]
		if number {
			s.seq++
			e.ID = s.base + s.seq
		}
		e.Kind = event.KindLine
		e.Key = l.Key
		e.Journal = l.Journal
		e.Source = s.name
		e.File = l.File
		e.Time, e.NoTime, e.Read = l.Time, l.NoTime, l.Read
		if e.Read.IsZero() {
			e.Read = l.Time
		}
		e.Lines = 1
		start := len(buf)
		buf = appendID(buf, e)
		if l.Lines > 1 {
			spans[i] = s.encodeLines(&buf, l, start)
			e.Lines = l.Lines
			continue
		}
		buf = append(buf, "data: "...)
		ls := len(buf)
		if sse.NeedsSanitizing(l.Text) {
			buf = sse.AppendSafe(buf, l.Text)
		} else {
			buf = append(buf, l.Text...)
		}
		buf = appendMarkers(buf, l)
		le := len(buf)
		buf = append(buf, '\n', '\n')
		spans[i] = frameSpan{start, ls, le, le + 2}
	}
	for i := range events {
		sp := spans[i]
		events[i].Frame = buf[sp.start:sp.frameEnd:sp.frameEnd]
		events[i].Line = buf[sp.line:sp.end:sp.end]
		if k := lines[i].Key; k != nil {
			// The key as written in the frame's "id: " line: the event
			// owns it, so producers may reuse their key buffers.
			ks, ke := sp.start+len("id: "), sp.start+len("id: ")+len(k)
			events[i].Key = buf[ks:ke:ke]
		}
		if lv := lines[i].Level; lv != event.LevelUnknown {
			events[i].Level = lv
		} else if lines[i].Lines > 1 {
			events[i].Level = event.DetectLevel(event.FirstLine(events[i].Line))
		} else {
			events[i].Level = event.DetectLevel(events[i].Line)
		}
	}
	return events
}

// countLevels adds a batch's events to the source's counts per level: one
// atomic add per level present, not per event.
func (s *Source) countLevels(events []event.Event) {
	var per [timeline.Levels]uint64
	for i := range events {
		per[events[i].Level]++
	}
	for lv, n := range per {
		if n != 0 {
			s.levels[lv].Add(n)
		}
	}
}

// encodeLines writes an event of several lines: one data: field per line,
// each sanitized, then the lines joined by "\n" after the frame, for
// filters and the other encodings. The frame starts at start.
func (s *Source) encodeLines(buf *[]byte, l *event.Line, start int) frameSpan {
	b := *buf
	var mark [128]byte
	b = sse.AppendData(b, "", l.Text, appendMarkers(mark[:0], l))
	b = append(b, '\n')
	fe := len(b)
	ls := len(b)
	b = sse.AppendSafeLines(b, l.Text)
	b = appendMarkers(b, l)
	*buf = b
	return frameSpan{start, ls, len(b), fe}
}

// appendMarkers appends what says a line or event is not whole: the line
// cut marker (its full length) and the event cut marker.
func appendMarkers(b []byte, l *event.Line) []byte {
	if l.Cut > 0 {
		b = append(b, cutMarker...)
		b = strconv.AppendInt(b, int64(l.Cut), 10)
		b = append(b, " bytes]"...)
	}
	if l.Partial {
		b = append(b, partialMarker...)
	}
	return b
}

// frameSpan is where one event's frame and line sit in a batch's buffer:
// the frame is [start, frameEnd), the line [line, end) (inside the frame
// for a single line, after it for several).
type frameSpan struct{ start, line, end, frameEnd int }

// PublishMetric sends one sample, already encoded as a JSON object.
func (s *Source) PublishMetric(t time.Time, sample []byte) {
	s.seq++
	events := make([]event.Event, 1)
	e := &events[0]
	e.ID, e.Kind, e.Source, e.Time, e.Read = s.base+s.seq, event.KindMetric, s.name, t, t
	e.Frame, e.Line = metricFrame(e.ID, sample)
	s.commit(events, nil)
	s.direct.flush(s.hub)
}

// matchGroups runs each distinct filter once over the batch. Groups with no
// filter match everything and get no entry. The map and the selections
// are the producer's scratch, valid until its next batch: a source whose
// only readers are rules' taps runs their filters on every batch, and
// should not allocate for it. A filter that requires a literal the
// batch's lines hold nowhere matches none of them: one search of the
// lines, one after the other, tells (query.Filter.Absent), rather than a
// search per line; so does a level no line reaches.
func (s *Source) matchGroups(groups []*group, events []event.Event) map[*group][]bool {
	need := 0
	for _, g := range groups {
		if g.key != "" {
			need += len(events)
		}
	}
	if need == 0 {
		return nil
	}
	if s.matchM == nil {
		s.matchM = make(map[*group][]bool, len(groups))
	}
	clear(s.matchM)
	if cap(s.matchB) < need {
		s.matchB = make([]bool, need)
	}
	buf := s.matchB[:need]
	var text []byte // the lines, made for the first filter with a literal
	for _, g := range groups {
		if g.key == "" {
			continue
		}
		m := buf[:len(events):len(events)]
		buf = buf[len(events):]
		none := noneAtLevel(g.filter.Level, events)
		if !none && g.filter.HasLiteral() {
			if text == nil {
				text = s.lineText(events)
			}
			none = g.filter.Absent(text)
		}
		if none {
			clear(m)
		} else {
			for i := range events {
				m[i] = matches(g.filter, &events[i])
			}
		}
		s.matchM[g] = m
	}
	return s.matchM
}

// lineText returns the batch's lines one after the other, each ending with a
// newline, in the producer's scratch. A frame's id (a durable key of
// letters, digits and punctuation) would put most bytes in every batch.
func (s *Source) lineText(events []event.Event) []byte {
	b := s.text[:0]
	for i := range events {
		b = append(b, events[i].Line...)
		b = append(b, '\n')
	}
	if cap(b) <= 1<<20 {
		s.text = b
	}
	return b
}

// noneAtLevel reports whether no line of the batch is at lv or above:
// the levels are known, so this is the cheapest test a filter with a
// level has, before any search of the text. Metric samples pass level
// filters (see matches), so a batch with one is never "none".
func noneAtLevel(lv event.Level, events []event.Event) bool {
	if lv == event.LevelUnknown {
		return false
	}
	for i := range events {
		if e := &events[i]; e.Kind != event.KindLine || e.Level >= lv {
			return false
		}
	}
	return true
}

func matchGroup(g *group, events []event.Event) []bool {
	m := make([]bool, len(events))
	for i := range events {
		m[i] = matches(g.filter, &events[i])
	}
	return m
}

func (s *Source) commit(events []event.Event, matches map[*group][]bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range events {
		h.g++
		events[i].G = h.g
		s.ring.push(&events[i], h.opts.ReplayLines)
	}
	s.lines.Add(uint64(len(events)))
	last := &events[len(events)-1]
	s.lastID.Store(last.ID)
	s.lastKey = last.Key
	if s.removed {
		return
	}
	for _, g := range s.groups {
		m, ok := matches[g]
		if !ok && g.key != "" {
			// A group created after the worker took its snapshot.
			m = matchGroup(g, events)
		}
		if len(g.clients) == 0 {
			continue
		}
		// Clients copy the pointers into their queues: the selection is
		// scratch, reused by the next group and batch.
		sel := g.selectEvents(s.sel[:0], events, m)
		s.sel = sel
		for _, c := range g.clients {
			if c.track {
				c.pushTracked(sel, last.Key)
				continue
			}
			if c.push(sel) {
				s.direct.clients = append(s.direct.clients, c)
			}
		}
	}
	clear(s.sel)
}

// refreshSnap publishes the current groups to the workers; hub.mu held.
func (s *Source) refreshSnap() {
	gs := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	s.snap.Store(&gs)
}

// LastID returns the id of the source's newest event, or, before its first
// one, the id just below it: a Tap from there misses nothing.
func (s *Source) LastID() uint64 { return s.lastID.Load() }
