package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go/jetstream"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"
)

// pos is a place in the fleet view: a JetStream sequence and the index of a
// line in that message. whole marks the message as a whole (an id "j<seq>"
// of a one-line message, or a gap marker): everything in it is at or before.
type pos struct {
	seq uint64
	idx int
}

const whole = int(^uint(0) >> 1)

func (a pos) after(b pos) bool { return a.seq > b.seq || a.seq == b.seq && a.idx > b.idx }

// parseID reads "j<seq>" or "j<seq>.<index>".
func parseID(s string) (pos, bool) {
	rest, ok := strings.CutPrefix(s, "j")
	if !ok {
		return pos{}, false
	}
	seqS, idxS, partial := strings.Cut(rest, ".")
	seq, err := strconv.ParseUint(seqS, 10, 64)
	if err != nil || seq == 0 {
		return pos{}, false
	}
	p := pos{seq: seq, idx: whole}
	if partial {
		i, err := strconv.Atoi(idxS)
		if err != nil || i < 0 {
			return pos{}, false
		}
		p.idx = i
	}
	return p, true
}

// hevent is one event of a view, encoded once for the view's format and
// shared by every viewer of it.
type hevent struct {
	at    pos
	frame []byte
	size  int
}

// viewSpec is what a view selects; views with equal keys are shared.
type viewSpec struct {
	hosts, sources   []string // request globs (nil: all)
	grantH, grantS   []string // the token's globs (nil: all)
	filter           query.Filter
	format           query.Format
	subjects         []string // the consumer's filter
	key              string
	replay, maxBytes int
}

// seen is what a view last showed of one host's source.
type seen struct {
	n      uint64 // in-run id of the newest line
	lastID string // agent id of the last line
}

// view is one ordered consumer and the viewers that share it: its events
// are filtered and encoded once, kept in a bounded ring for viewers that
// join or resume later, and queued to each viewer without blocking.
type view struct {
	hub  *Hub
	spec viewSpec

	mu       sync.Mutex
	floor    pos // events at or before it are not the view's
	evicted  pos // newest event dropped from the ring
	ring     []*hevent
	head, n  int
	bytes    int
	viewers  map[*viewer]struct{}
	dedup    map[string]seen // host+source -> what was last shown, against re-sent lines
	caught   chan struct{}   // closed once the consumer has caught up
	caughtOK bool
	stopped  bool
	scratch  []byte // lineEvent's

	cc jetstream.ConsumeContext
}

func newView(h *Hub, spec viewSpec, floor pos) *view {
	return &view{hub: h, spec: spec, floor: floor, viewers: make(map[*viewer]struct{}),
		dedup: make(map[string]seen), caught: make(chan struct{}),
		ring: make([]*hevent, 0, 64)}
}

// start creates the view's ordered consumer from the sequence after floor
// (floor's own message when floor is inside it).
func (v *view) start(ctx context.Context, js jetstream.JetStream) error {
	first := v.floor.seq + 1
	if v.floor.idx != whole {
		first = v.floor.seq
	}
	if first == 0 {
		first = 1
	}
	cons, err := js.OrderedConsumer(ctx, v.hub.opts.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    v.spec.subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       first,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	// Heartbeats every 2s: a consumer whose server died is noticed and
	// recreated on another one within seconds, not after the 30s default.
	cc, err := cons.Consume(v.handle, jetstream.PullMaxMessages(512),
		jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(2*time.Second))
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.cc = cc
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		v.markCaughtLocked()
	}
	v.mu.Unlock()
	return nil
}

func (v *view) markCaughtLocked() {
	if !v.caughtOK {
		v.caughtOK = true
		close(v.caught)
	}
}

// stop ends the consumer and every viewer of the view.
func (v *view) stop() {
	v.mu.Lock()
	v.stopped = true
	cc := v.cc
	for w := range v.viewers {
		w.end()
	}
	v.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

// handle runs on the client library's goroutine for each message, in
// stream order.
func (v *view) handle(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	seq := meta.Sequence.Stream
	// Under the lock: the dedup table is the view's, and after a consumer
	// reset the library may still be finishing a callback of the old one.
	v.mu.Lock()
	defer v.mu.Unlock()
	evs := v.decode(m, seq)
	for _, e := range evs {
		v.pushLocked(e)
	}
	if len(evs) > 0 {
		for w := range v.viewers {
			w.push(evs)
		}
	}
	if meta.NumPending == 0 {
		v.markCaughtLocked()
	}
}

// decode turns one message into the view's events (v.mu held): the lines that pass
// the filters, or a gap marker. Lines at or before the view's floor (a
// resume inside a message) and lines a re-send repeated are skipped.
func (v *view) decode(m jetstream.Msg, seq uint64) []*hevent {
	host, source, level, ok := namesOf(m)
	if !ok {
		v.hub.badMessages.Add(1)
		return nil
	}
	sp := &v.spec
	if !matchAny(sp.hosts, host) || !matchAny(sp.grantH, host) || !matchAny(sp.sources, source) || !matchAny(sp.grantS, source) {
		return nil
	}
	v.hub.messages.Add(1)
	if level == levelGap {
		if !(pos{seq, whole}).after(v.floor) {
			return nil
		}
		var g gapBody
		if err := json.Unmarshal(m.Data(), &g); err != nil {
			return nil
		}
		return []*hevent{gapEvent(seq, host, source, g.Missed)}
	}
	recs, err := decodeLines(m.Data())
	if err != nil {
		v.hub.badMessages.Add(1)
	}
	one := len(recs) == 1
	key := host + "\x00" + source
	sn := v.dedup[key]
	if len(recs) > 0 && sn.lastID != "" && recs[len(recs)-1].ID == sn.lastID {
		// The message before this source's last ended with the same line:
		// an agent that crashed sent it again after JetStream's
		// duplicate window. (A line's durable key names one line.)
		v.hub.duplicates.Add(uint64(len(recs)))
		return nil
	}
	defer func() { v.dedup[key] = sn }()
	var out []*hevent
	for i := range recs {
		r := &recs[i]
		at := pos{seq, i}
		if one {
			at.idx = whole
		}
		if !at.after(v.floor) {
			continue
		}
		n := r.N
		if n == 0 {
			n, _ = strconv.ParseUint(r.ID, 10, 64)
		}
		if n != 0 {
			if n <= sn.n {
				v.hub.duplicates.Add(1)
				continue
			}
			sn.n = n
		}
		sn.lastID = r.ID
		lv, _ := event.ParseLevel(r.Level)
		if !sp.filter.Match([]byte(r.Line), lv, nil) {
			continue
		}
		out = append(out, lineEvent(at, host, source, r, sp.format, &v.scratch))
	}
	return out
}

// namesOf reads a message's host, source and level token. The names come
// from the headers and must be what the subject says in mapped form: NATS
// permissions can hold an agent to its own host's subjects, so a header
// naming another host is refused rather than believed.
func namesOf(m jetstream.Msg) (host, source, level string, ok bool) {
	h := m.Headers()
	host, source = h.Get(hdrHost), h.Get(hdrSource)
	parts := strings.Split(m.Subject(), ".")
	if len(parts) != 4 || parts[1] != token(host) || parts[2] != token(source) {
		return "", "", "", false
	}
	return host, source, parts[3], true
}

// pushLocked adds an event to the ring; v.mu held.
func (v *view) pushLocked(e *hevent) {
	for v.n > 0 && (v.n >= v.spec.replay || v.bytes+e.size > v.spec.maxBytes) {
		old := v.ring[v.head]
		v.ring[v.head] = nil
		v.head = (v.head + 1) % len(v.ring)
		v.n--
		v.bytes -= old.size
		v.evicted = old.at
	}
	if v.spec.replay <= 0 {
		v.evicted = e.at
		return
	}
	if v.n == len(v.ring) {
		size := min(max(2*len(v.ring), 64), v.spec.replay)
		nr := make([]*hevent, size)
		for i := 0; i < v.n; i++ {
			nr[i] = v.ring[(v.head+i)%len(v.ring)]
		}
		v.ring, v.head = nr, 0
	}
	v.ring[(v.head+v.n)%len(v.ring)] = e
	v.n++
	v.bytes += e.size
}

func (v *view) at(i int) *hevent { return v.ring[(v.head+i)%len(v.ring)] }

// covers reports whether the view can serve everything after p; v.mu held.
func (v *view) coversLocked(p pos) bool {
	return !v.floor.after(p) && !v.evicted.after(p)
}

// afterLocked returns the held events after p; v.mu held.
func (v *view) afterLocked(p pos) []*hevent {
	var out []*hevent
	for i := 0; i < v.n; i++ {
		if e := v.at(i); e.at.after(p) {
			out = append(out, e)
		}
	}
	return out
}

// lastLocked returns the newest n held events, oldest first; v.mu held.
func (v *view) lastLocked(n int) []*hevent {
	n = min(n, v.n)
	out := make([]*hevent, 0, n)
	for i := v.n - n; i < v.n; i++ {
		out = append(out, v.at(i))
	}
	return out
}

// idOf is the SSE id of a position.
func appendPosID(b []byte, p pos) []byte {
	b = append(b, "id: j"...)
	b = strconv.AppendUint(b, p.seq, 10)
	if p.idx != whole {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(p.idx), 10)
	}
	return append(b, '\n')
}

var newline = []byte{'\n'}

// lineEvent encodes one event: JSON {"host","source","id","time","level",
// "file","line","lines"}, or text "[host/source] line" (one data: field per
// line of an event of several, the first prefixed). scratch is the caller's
// buffer for sanitizing a field before it is quoted (v.mu held), so that a
// line costs one allocation, its frame, in every view.
func lineEvent(at pos, host, source string, r *record, f query.Format, scratch *[]byte) *hevent {
	b := make([]byte, 0, len(r.Line)+len(host)+len(source)+len(r.File)+160)
	b = appendPosID(b, at)
	b = append(b, "data: "...)
	line := unsafe.Slice(unsafe.StringData(r.Line), len(r.Line)) // only read
	if f == query.FormatText {
		// One data: field per line of the event, the first prefixed.
		b = append(b, '[')
		b = sse.AppendSafeString(b, host)
		b = append(b, '/')
		b = sse.AppendSafeString(b, source)
		b = append(b, "] "...)
		b = sse.AppendDataLines(b, line)
	} else {
		field := func(b []byte, name, s string) []byte {
			b = append(b, name...)
			*scratch = sse.AppendSafeString((*scratch)[:0], s)
			return sse.AppendJSONString(b, *scratch)
		}
		b = field(b, `{"host":`, host)
		b = field(b, `,"source":`, source)
		b = field(b, `,"id":`, r.ID)
		b = field(b, `,"time":`, r.Time)
		b = field(b, `,"level":`, r.Level)
		b = field(b, `,"file":`, r.File)
		b = append(b, `,"line":`...)
		*scratch = sse.AppendSafeLines((*scratch)[:0], line)
		b = sse.AppendJSONString(b, *scratch)
		b = append(b, `,"lines":`...)
		b = strconv.AppendInt(b, int64(1+bytes.Count(*scratch, newline)), 10)
		b = append(b, '}')
	}
	b = append(b, '\n', '\n')
	return &hevent{at: at, frame: b, size: len(b) + 64}
}

// gapEvent encodes an agent's gap marker as event: gap.
func gapEvent(seq uint64, host, source string, missed int64) *hevent {
	b := appendPosID(nil, pos{seq, whole})
	b = append(b, "event: gap\ndata: {\"missed\":"...)
	b = strconv.AppendInt(b, missed, 10)
	b = append(b, `,"host":`...)
	b = sse.AppendJSONString(b, sse.AppendSafe(nil, []byte(host)))
	b = append(b, `,"source":`...)
	b = sse.AppendJSONString(b, sse.AppendSafe(nil, []byte(source)))
	b = append(b, "}\n\n"...)
	return &hevent{at: pos{seq, whole}, frame: b, size: len(b) + 64}
}
