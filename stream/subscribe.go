package stream

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"edgetail/event"
	"edgetail/query"
	"edgetail/queue"
)

// rejectReason says why a stream request was refused, for /metrics.
type rejectReason int

const (
	rejectBadRequest rejectReason = iota
	rejectNotFound
	rejectCapAgent
	rejectCapSource
	rejectCapIP
	rejectRateIP
	rejectClosed
	rejectCapHistory
	numRejectReasons
)

func (r rejectReason) String() string {
	return [...]string{"bad_request", "not_found", "cap_agent", "cap_source", "cap_ip", "rate_ip", "shutting_down", "cap_history"}[r]
}

// refusal is a request answered before any stream starts. A refusal by a
// cap names the limit and its config key, so that an operator who raised
// one cap can tell that another refused the stream.
type refusal struct {
	status int
	reason rejectReason
	msg    string
}

// gap is an event: gap frame owed to a client before its backlog.
type gap struct {
	missed int64
	source string // set on the merged stream
}

// subscription is what a new stream starts with.
type subscription struct {
	c       *client
	gaps    []gap
	backlog []*event.Event
	// past are reads of sources' pasts to send after the backlog and
	// before the live queue; slot is true while they hold a history slot.
	past []pastRead
	slot bool
}

// pastRead is one source's read of its past for a client.
type pastRead struct {
	src  *Source
	past Past // the source's Past, taken under the hub lock
	q    PastQuery
}

// subscribe checks the caps, registers the client, and collects its backlog
// in one critical section, so that no event falls between the history it is
// sent and the live events it is queued.
func (h *Hub) subscribe(req *query.Request, names []string, merged bool, ip string) (*subscription, *refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil, &refusal{http.StatusServiceUnavailable, rejectClosed, "shutting down"}
	default:
	}
	srcs := make([]*Source, len(names))
	for i, n := range names {
		s, ok := h.sources[n]
		if !ok {
			return nil, &refusal{http.StatusNotFound, rejectNotFound, fmt.Sprintf("unknown source %q", n)}
		}
		srcs[i] = s
	}
	if req.Filter.JournalOnly() {
		for _, s := range srcs {
			if s.kind != KindJournal {
				return nil, &refusal{http.StatusBadRequest, rejectBadRequest,
					fmt.Sprintf("unit= and identifier= narrow journal sources; %q is not one", s.name)}
			}
		}
	}
	if len(h.clients) >= h.opts.MaxClients {
		return nil, &refusal{http.StatusServiceUnavailable, rejectCapAgent,
			fmt.Sprintf("limit stream.max_clients reached: the agent serves its maximum of %d streams", h.opts.MaxClients)}
	}
	for _, s := range srcs {
		if s.nclients >= h.opts.MaxClientsPerSource {
			return nil, &refusal{http.StatusServiceUnavailable, rejectCapSource,
				fmt.Sprintf("limit stream.max_clients_per_source reached: source %q serves its maximum of %d streams", s.name, h.opts.MaxClientsPerSource)}
		}
	}
	if h.opts.ConnectRatePerIP > 0 && !h.rates.allow(ip, h.opts.ConnectRatePerIP, time.Now()) {
		return nil, &refusal{http.StatusTooManyRequests, rejectRateIP,
			fmt.Sprintf("limit stream.connect_rate_per_ip reached: client %s opens streams faster than %g per second; retry later", ip, h.opts.ConnectRatePerIP)}
	}
	if h.perIP[ip] >= h.opts.MaxClientsPerIP {
		return nil, &refusal{http.StatusTooManyRequests, rejectCapIP,
			fmt.Sprintf("limit stream.max_clients_per_ip reached: client %s has its maximum of %d streams open", ip, h.opts.MaxClientsPerIP)}
	}

	c := newClient(h.opts.ClientBuffer)
	if req.Download {
		c.q = queue.New[*event.Event](0) // a download reads the past only: nothing is queued for it
	}
	c.req, c.merged, c.ip, c.sources = req, merged, ip, srcs
	sub := &subscription{c: c}
	if merged {
		// Until the client is sent a line of a source, its id says where
		// that source stood when it subscribed.
		c.keys = make([][]byte, len(srcs))
		for i, s := range srcs {
			c.keys[i] = bytes.Clone(s.through())
		}
		sub.gaps, sub.backlog, sub.past = h.backlogMerged(req, srcs, c)
		settleKeys(c, sub)
	} else {
		sub.gaps, sub.backlog, sub.past = backlogSingle(req, srcs[0])
	}
	if len(sub.past) > 0 {
		// History reads are bounded apart from streams: they cost disk
		// and CPU, and a burst of them must not slow the live streams.
		select {
		case h.histSem <- struct{}{}:
			sub.slot = true
		default:
			return nil, &refusal{http.StatusServiceUnavailable, rejectCapHistory,
				fmt.Sprintf("the agent runs its maximum of %d history reads (stream.max_history_reads)", cap(h.histSem))}
		}
	}
	if req.Fields != nil {
		for i, e := range sub.backlog {
			if e.Kind == event.KindMetric {
				sub.backlog[i] = projectFields(e, req.Fields)
			}
		}
	}

	key := req.Filter.Key()
	if req.Fields != nil {
		key += "\x00fields=" + strings.Join(req.Fields, ",")
	}
	for _, s := range srcs {
		g := s.joinLocked(key, &req.Filter, req.Fields, c)
		c.groups = append(c.groups, g)
		s.nclients++
		s.watchers.Store(int64(s.nclients))
	}
	h.clients[c] = struct{}{}
	h.nclients.Store(int64(len(h.clients)))
	h.perIP[ip]++
	return sub, nil
}

// joinLocked adds c to the source's group of filter key, making the group
// when it is the first; hub.mu held.
func (s *Source) joinLocked(key string, f *query.Filter, fields []string, c *client) *group {
	g := s.groups[key]
	if g == nil {
		g = &group{key: key, filter: f, fields: fields}
		s.groups[key] = g
		s.refreshSnap()
	}
	g.clients = append(g.clients, c)
	return g
}

// leaveLocked takes c out of g, and g out of the source when it was the
// last; hub.mu held.
func (s *Source) leaveLocked(g *group, c *client) {
	for j, gc := range g.clients {
		if gc == c {
			last := len(g.clients) - 1
			g.clients[j] = g.clients[last]
			g.clients[last] = nil
			g.clients = g.clients[:last]
			break
		}
	}
	if len(g.clients) == 0 && s.groups[g.key] == g {
		delete(s.groups, g.key)
		s.refreshSnap()
	}
}

// unsubscribe releases everything subscribe took.
func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range c.sources {
		s.leaveLocked(c.groups[i], c)
		s.nclients--
		s.watchers.Store(int64(s.nclients))
	}
	delete(h.clients, c)
	h.nclients.Store(int64(len(h.clients)))
	if h.perIP[c.ip]--; h.perIP[c.ip] <= 0 {
		delete(h.perIP, c.ip)
	}
}

// backlogSingle finds what a single-source stream sends before live events:
// everything after Last-Event-ID when one was given, else the last Tail
// matching events, else the window asked for; and what must first be read
// from the source's past. hub.mu held.
func backlogSingle(req *query.Request, s *Source) ([]gap, []*event.Event, []pastRead) {
	r := s.ring
	if req.LastID == "" {
		if p := pastOf(req, s, nil); p != nil {
			return nil, nil, p
		}
		if req.Window() {
			return nil, inWindow(req, lastMatching(req, []*ring{r}, r.n)), nil
		}
		return nil, lastMatching(req, []*ring{r}, req.Tail), nil
	}
	if isDurableKey(req.LastID) {
		return resumeKey(req, s, []byte(req.LastID), "")
	}
	last := s.lastID.Load()
	id, err := strconv.ParseUint(req.LastID, 10, 64)
	if err != nil || id <= s.base || id > last {
		// Unparsable, from an earlier run, or from the future: unknown.
		return []gap{{missed: -1}}, matchingFrom(req, r, 0), nil
	}
	firstHeld := last + 1
	if o := r.oldest(); o != nil {
		firstHeld = o.ID
	}
	var gaps []gap
	if id+1 < firstHeld {
		gaps = []gap{{missed: int64(firstHeld - id - 1)}}
	}
	return gaps, matchingFrom(req, r, r.indexAfterID(id)), nil
}

// resumeKey resumes after a durable key: from the ring when it still holds
// the line, else from the source's past, else after a gap of unknown size
// (naming gapSource on the merged stream). hub.mu held.
func resumeKey(req *query.Request, s *Source, key []byte, gapSource string) ([]gap, []*event.Event, []pastRead) {
	r := s.ring
	if i := r.findKey(string(key)); i >= 0 {
		return nil, matchingFrom(req, r, i), nil
	}
	if canResume(s, key) {
		return nil, nil, pastOf(req, s, key)
	}
	return []gap{{missed: -1, source: gapSource}}, matchingFrom(req, r, 0), nil
}

// pastOf returns the read of the past a request needs, if any: a resume
// after a key, a window, a download, or an explicit tail= the ring cannot
// fill. hub.mu held.
func pastOf(req *query.Request, s *Source, after []byte) []pastRead {
	if s.past == nil {
		return nil
	}
	q := PastQuery{After: after, Since: req.Since, Until: req.Until, Through: bytes.Clone(s.through()), NoKeys: req.Download}
	f := &req.Filter
	if f.Key() != "" {
		q.Match = f.MatchLine
		q.Contains = f.Needle()
	}
	switch {
	case after != nil:
	case req.Window() || req.Download:
		q.Tail = req.Tail
	case req.TailSet && req.Tail > 0:
		if ringHolds(req, s.ring, req.Tail) {
			return nil
		}
		q.Tail = req.Tail
	default:
		return nil
	}
	return []pastRead{{src: s, past: s.past, q: q}}
}

// inWindow keeps the events whose time is in the request's window: the
// window of a source without a past, from its replay buffer.
func inWindow(req *query.Request, es []*event.Event) []*event.Event {
	out := es[:0]
	for _, e := range es {
		if (req.Since.IsZero() || !e.Time.Before(req.Since)) && (req.Until.IsZero() || !e.Time.After(req.Until)) {
			out = append(out, e)
		}
	}
	if req.TailSet && len(out) > req.Tail {
		out = out[len(out)-req.Tail:]
	}
	return out
}

// backlogMerged is backlogSingle for the merged stream, whose ids are the
// hub's commit order (G) and the sources' keys (see mergedID). A window is
// read from each source's past in turn. hub.mu held.
func (h *Hub) backlogMerged(req *query.Request, srcs []*Source, c *client) ([]gap, []*event.Event, []pastRead) {
	rings := make([]*ring, len(srcs))
	for i, s := range srcs {
		rings[i] = s.ring
	}
	if req.LastID == "" {
		if req.Window() {
			var out []*event.Event
			var past []pastRead
			for i, s := range srcs {
				if p := pastOf(req, s, nil); p != nil {
					past = append(past, p...)
					continue
				}
				out = append(out, inWindow(req, lastMatching(req, rings[i:i+1], rings[i].n))...)
			}
			sortByG(out)
			return nil, out, past
		}
		return nil, lastMatching(req, rings, req.Tail), nil
	}
	g, keys, ok := parseMergedID(req.LastID, srcs)
	known := ok && g > h.gBase && g <= h.g
	if known {
		c.lastG = g
	}
	var gaps []gap
	var out []*event.Event
	var past []pastRead
	for i, r := range rings {
		s := srcs[i]
		if keys != nil && keys[i] != nil {
			// The id says where this source stood: resume right after
			// that line, from the ring or from the source's past.
			c.keys[i] = keys[i]
			gs, es, ps := resumeKey(req, s, keys[i], s.name)
			gaps, out, past = append(gaps, gs...), append(out, es...), append(past, ps...)
			continue
		}
		from := 0
		switch {
		case !known:
			gaps = append(gaps, gap{missed: -1, source: s.name})
		case r.evictedG > g:
			// Some of this source's events after g are gone; how many is
			// not known, since G counts every source.
			gaps = append(gaps, gap{missed: -1, source: s.name})
		default:
			from = r.indexAfterG(g)
		}
		out = append(out, matchingFrom(req, r, from)...)
	}
	sortByG(out)
	return gaps, out, past
}

// settleKeys makes a merged client's starting keys safe to resume from
// before it has been sent everything owed: a source with backlog starts
// just before its first backlog event, and a source whose past is to be
// read starts at the read's resume point (nil: unknown). hub.mu held.
func settleKeys(c *client, sub *subscription) {
	seen := make([]bool, len(c.sources))
	for _, e := range sub.backlog {
		for i, s := range c.sources {
			if s.name == e.Source && !seen[i] {
				seen[i] = true
				c.keys[i] = bytes.Clone(s.ring.keyBefore(e))
			}
		}
	}
	for _, pr := range sub.past {
		for i, s := range c.sources {
			if s == pr.src {
				c.keys[i] = bytes.Clone(pr.q.After)
			}
		}
	}
}

// matchingFrom returns the matching events from index i on.
func matchingFrom(req *query.Request, r *ring, i int) []*event.Event {
	out := make([]*event.Event, 0, max(r.n-i, 0))
	for ; i < r.n; i++ {
		if e := r.at(i); matches(&req.Filter, e) {
			out = append(out, e)
		}
	}
	return out
}

// lastMatching returns the newest n matching events across rings, oldest
// first.
func lastMatching(req *query.Request, rings []*ring, n int) []*event.Event {
	if n <= 0 {
		return nil
	}
	size := 0
	for _, r := range rings {
		size += min(r.n, n)
	}
	out := make([]*event.Event, 0, size)
	for _, r := range rings {
		got := 0
		for i := r.n - 1; i >= 0 && got < n; i-- {
			if e := r.at(i); matches(&req.Filter, e) {
				out = append(out, e)
				got++
			}
		}
	}
	if len(rings) == 1 {
		// One ring was walked newest first: reversing is all the
		// ordering it needs (sorting two million events is not free).
		slices.Reverse(out)
		return out
	}
	sortByG(out)
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// ringHolds reports whether the ring holds n matching events, without
// collecting them.
func ringHolds(req *query.Request, r *ring, n int) bool {
	if r.n < n {
		return false
	}
	got := 0
	for i := r.n - 1; i >= 0 && got < n; i-- {
		if matches(&req.Filter, r.at(i)) {
			got++
		}
	}
	return got >= n
}

func sortByG(es []*event.Event) {
	sort.Slice(es, func(i, j int) bool { return es[i].G < es[j].G })
}
