package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/sse"
	"edgetail/timeline"

	"go.uber.org/zap"
)

// Counter is what a Past may also implement: counting its events per time
// bucket and level without handing them over (a file source, with its
// count index). A Past without it is counted by reading it.
type Counter interface {
	CountPast(ctx context.Context, q CountQuery) (problems []string, err error)
}

// CountQuery says what a Counter counts.
type CountQuery struct {
	// Counts holds the window and its buckets; the events are added to it.
	Counts *timeline.Counts
	// Through is where the count stops, as PastQuery.Through: the last
	// event committed when the count began (nil: the files' ends).
	Through []byte
	// Match is the stream filter, level included (nil: none but
	// MinLevel); Contains its q= text, as in PastQuery.
	Match    func(*event.Line) bool
	Contains []byte
	// MinLevel, with Match nil, is the level= filter alone: only events at
	// this level or above count (LevelUnknown: all).
	MinLevel event.Level
}

// Levels gives lines the level the hub gives their events when it encodes
// them: the producer's when it has one, else the one read from the line as
// it is sent (sanitized). Its zero value is ready; it is not safe for
// concurrent use (it keeps a scratch buffer).
type Levels struct{ buf []byte }

// Of returns the level of an event of this text whose producer gave it lv
// (LevelUnknown: none): an event of several lines has its first line's.
func (l *Levels) Of(text []byte, lv event.Level) event.Level {
	if lv != event.LevelUnknown {
		return lv
	}
	text = event.FirstLine(text)
	if sse.NeedsSanitizing(text) {
		l.buf = sse.AppendSafe(l.buf[:0], text)
		text = l.buf
	}
	return event.DetectLevel(text)
}

// countParams are the parameters GET /api/counts takes.
var countParams = map[string]bool{"sources": true, "since": true, "until": true, "step": true,
	"q": true, "re": true, "not": true, "level": true, "unit": true, "identifier": true, "token": true}

// countSource is one source of a count, as the hub held it when the count
// began.
type countSource struct {
	s       *Source
	past    Past
	through []byte
	ring    []*event.Event // a source without a past: its replay buffer
}

// ServeCounts answers GET /api/counts: how many events of the sources
// matched the filters per time bucket and level, over disk and the replay
// buffer (see timeline). allowed says which sources the request's token
// grants (nil: all); without sources= every log source it grants is
// counted. A count holds a history read slot.
func (h *Hub) ServeCounts(w http.ResponseWriter, r *http.Request, allowed func(string) bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.refuse(w, &refusal{http.StatusMethodNotAllowed, rejectBadRequest, "counts answer GET only"})
		return
	}
	req, grid, ref := parseCounts(r.URL.Query(), time.Now())
	if ref != nil {
		h.refuse(w, ref)
		return
	}
	srcs, g, ref := h.countSources(req, allowed)
	if ref != nil {
		h.refuse(w, ref)
		return
	}
	defer func() { <-h.histSem }()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(h.ctx, cancel)
	defer stop()

	c := timeline.NewCounts(grid)
	f := &req.Filter
	var problems []string
	for _, cs := range srcs {
		p, err := h.countSource(ctx, cs, f, c)
		for _, s := range p {
			problems = append(problems, cs.s.name+": "+s)
		}
		if err != nil {
			if ctx.Err() != nil {
				return // the client went away, or the agent stops
			}
			h.log.Warn("counting failed", zap.String("source", cs.s.name), zap.Error(err))
			problems = append(problems, cs.s.name+": "+err.Error())
		}
	}
	b := append(make([]byte, 0, 256+grid.N*120), '{')
	b = c.AppendJSON(b)
	b = append(b, `,"sources":[`...)
	for i, cs := range srcs {
		if i > 0 {
			b = append(b, ',')
		}
		b = sse.AppendJSONString(b, []byte(cs.s.name))
	}
	b = append(b, `],"through":"`...)
	b = append(b, mergedPrefix...)
	b = strconv.AppendUint(b, g, 10)
	b = append(b, '"')
	if len(problems) > 0 {
		b = append(b, `,"problems":[`...)
		for i, p := range problems {
			if i > 0 {
				b = append(b, ',')
			}
			b = sse.AppendJSONString(b, sse.SafeBytes(p))
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// parseCounts validates a count request: the stream filters, since= and
// until= (defaults: an hour back from now) and step=.
func parseCounts(v url.Values, now time.Time) (*query.Request, timeline.Grid, *refusal) {
	bad := func(msg string) (*query.Request, timeline.Grid, *refusal) {
		return nil, timeline.Grid{}, &refusal{http.StatusBadRequest, rejectBadRequest, msg}
	}
	rest := url.Values{}
	for k, vals := range v {
		if !countParams[k] {
			return bad(fmt.Sprintf("unknown parameter %q (a count takes sources, since, until, step, q, re, not, level, unit and identifier)", k))
		}
		if k != "step" {
			rest[k] = vals
		}
	}
	req, err := query.ParseRequest(rest, 0)
	if err != nil {
		return bad(err.Error())
	}
	if req.Until.IsZero() {
		req.Until = now
	}
	if req.Since.IsZero() {
		req.Since = req.Until.Add(-timeline.DefaultWindow)
	}
	var step time.Duration
	if s := v.Get("step"); s != "" || v.Has("step") {
		if step, err = timeline.ParseStep(s); err != nil {
			return bad(err.Error())
		}
	}
	grid, err := timeline.NewGrid(req.Since, req.Until, step)
	if err != nil {
		return bad(err.Error())
	}
	return req, grid, nil
}

// countSources picks the sources of a count, takes a history read slot,
// and notes under the hub lock where each stands: the events committed so
// far are counted, those after (the returned G) are not.
func (h *Hub) countSources(req *query.Request, allowed func(string) bool) ([]countSource, uint64, *refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var picked []*Source
	if req.Sources == nil {
		for _, s := range h.sources {
			if s.kind == KindMetrics || (allowed != nil && !allowed(s.name)) || (req.Filter.JournalOnly() && s.kind != KindJournal) {
				continue
			}
			picked = append(picked, s)
		}
		slices.SortFunc(picked, func(a, b *Source) int { return strings.Compare(a.name, b.name) })
	} else {
		for _, n := range req.Sources {
			s, ok := h.sources[n]
			switch {
			case !ok:
				return nil, 0, &refusal{http.StatusNotFound, rejectNotFound, fmt.Sprintf("unknown source %q", n)}
			case allowed != nil && !allowed(n):
				return nil, 0, &refusal{http.StatusForbidden, rejectBadRequest, fmt.Sprintf("this token does not grant source %q", n)}
			case s.kind == KindMetrics:
				return nil, 0, &refusal{http.StatusBadRequest, rejectBadRequest, fmt.Sprintf("%q is a metrics source: it has no events to count", n)}
			case req.Filter.JournalOnly() && s.kind != KindJournal:
				return nil, 0, &refusal{http.StatusBadRequest, rejectBadRequest,
					fmt.Sprintf("unit= and identifier= narrow journal sources; %q is not one", n)}
			}
			picked = append(picked, s)
		}
	}
	select {
	case h.histSem <- struct{}{}:
	default:
		return nil, 0, &refusal{http.StatusServiceUnavailable, rejectCapHistory,
			fmt.Sprintf("the agent runs its maximum of %d history reads (stream.max_history_reads)", cap(h.histSem))}
	}
	out := make([]countSource, len(picked))
	for i, s := range picked {
		cs := countSource{s: s, past: s.past}
		if s.past == nil {
			cs.ring = make([]*event.Event, s.ring.n)
			for j := range cs.ring {
				cs.ring[j] = s.ring.at(j)
			}
		} else if t := s.through(); t != nil {
			cs.through = append([]byte(nil), t...)
		}
		out[i] = cs
	}
	return out, h.g, nil
}

// countSource counts one source into c: through its Counter, else by
// reading its past, else from its replay buffer as held.
func (h *Hub) countSource(ctx context.Context, cs countSource, f *query.Filter, c *timeline.Counts) ([]string, error) {
	q := CountQuery{Counts: c, Through: cs.through}
	if f.Key() != "" {
		if f.Q == "" && f.Re == "" && f.Not == "" && !f.JournalOnly() {
			q.MinLevel = f.Level // level= alone
		} else {
			q.Match, q.Contains = f.MatchLine, f.Needle()
		}
	}
	if cs.past == nil {
		for _, e := range cs.ring {
			if e.Kind == event.KindLine && matches(f, e) {
				c.Add(e.Time, e.Level)
			}
		}
		return nil, nil
	}
	if ct, ok := cs.past.(Counter); ok {
		return ct.CountPast(ctx, q)
	}
	var lv Levels
	var problems []string
	pq := PastQuery{Since: c.Since, Until: c.Until, Through: cs.through, Match: f.MatchLine, Contains: f.Needle(), NoKeys: true}
	if f.Key() == "" {
		pq.Match = nil
	}
	err := cs.past.ReadPast(ctx, pq, func(it PastItem) error {
		if it.Missed != 0 {
			problems = append(problems, missedText(it.Missed))
		}
		for i := range it.Lines {
			l := &it.Lines[i]
			c.Add(l.Time, lv.Of(l.Text, l.Level))
		}
		return nil
	})
	return problems, err
}

func missedText(n int64) string {
	if n < 0 {
		return "some lines could not be read"
	}
	return strconv.FormatInt(n, 10) + " lines could not be read"
}

// LevelCounts returns the events committed to the source so far, by level
// (indexed by event.Level): edgetail_events_total.
func (s *Source) LevelCounts() [timeline.Levels]uint64 {
	var out [timeline.Levels]uint64
	for i := range out {
		out[i] = s.levels[i].Load()
	}
	return out
}

// Kind returns the source's kind.
func (s *Source) Kind() SourceKind { return s.kind }
