package stream

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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
	numRejectReasons
)

func (r rejectReason) String() string {
	return [...]string{"bad_request", "not_found", "cap_agent", "cap_source", "cap_ip", "rate_ip", "shutting_down"}[r]
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
	backlog []*Event
}

// subscribe checks the caps, registers the client, and collects its backlog
// in one critical section, so that no event falls between the history it is
// sent and the live events it is queued.
func (h *Hub) subscribe(req *Request, names []string, merged bool, ip string) (*subscription, *refusal) {
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
	c.req, c.merged, c.ip, c.sources = req, merged, ip, srcs
	sub := &subscription{c: c}
	if merged {
		sub.gaps, sub.backlog = h.backlogMerged(req, srcs)
	} else {
		sub.gaps, sub.backlog = backlogSingle(req, srcs[0])
	}
	if req.Fields != nil {
		for i, e := range sub.backlog {
			if e.Kind == KindMetric {
				sub.backlog[i] = projectFields(e, req.Fields)
			}
		}
	}

	key := req.Filter.Key()
	if req.Fields != nil {
		key += "\x00fields=" + strings.Join(req.Fields, ",")
	}
	for _, s := range srcs {
		g := s.groups[key]
		if g == nil {
			g = &group{key: key, filter: &req.Filter, fields: req.Fields}
			s.groups[key] = g
			s.refreshSnap()
		}
		g.clients = append(g.clients, c)
		c.groups = append(c.groups, g)
		s.nclients++
		s.watchers.Store(int64(s.nclients))
	}
	h.clients[c] = struct{}{}
	h.nclients.Store(int64(len(h.clients)))
	h.perIP[ip]++
	return sub, nil
}

// unsubscribe releases everything subscribe took.
func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range c.sources {
		g := c.groups[i]
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
// matching events. hub.mu held.
func backlogSingle(req *Request, s *Source) ([]gap, []*Event) {
	r := s.ring
	if req.LastID == "" {
		return nil, lastMatching(req, []*ring{r}, req.Tail)
	}
	last := s.lastID.Load()
	id, err := strconv.ParseUint(req.LastID, 10, 64)
	if err != nil || id <= s.base || id > last {
		// Unparsable, from an earlier run, or from the future: unknown.
		return []gap{{missed: -1}}, matchingFrom(req, r, 0)
	}
	firstHeld := last + 1
	if o := r.oldest(); o != nil {
		firstHeld = o.ID
	}
	var gaps []gap
	if id+1 < firstHeld {
		gaps = []gap{{missed: int64(firstHeld - id - 1)}}
	}
	return gaps, matchingFrom(req, r, r.indexAfterID(id))
}

// backlogMerged is backlogSingle for the merged stream, whose ids are the
// hub's commit order (G). hub.mu held.
func (h *Hub) backlogMerged(req *Request, srcs []*Source) ([]gap, []*Event) {
	rings := make([]*ring, len(srcs))
	for i, s := range srcs {
		rings[i] = s.ring
	}
	if req.LastID == "" {
		return nil, lastMatching(req, rings, req.Tail)
	}
	g, err := strconv.ParseUint(strings.TrimPrefix(req.LastID, mergedPrefix), 10, 64)
	known := err == nil && strings.HasPrefix(req.LastID, mergedPrefix) && g > h.gBase && g <= h.g
	var gaps []gap
	var out []*Event
	for i, r := range rings {
		from := 0
		switch {
		case !known:
			gaps = append(gaps, gap{missed: -1, source: srcs[i].name})
		case r.evictedG > g:
			// Some of this source's events after g are gone; how many is
			// not known, since G counts every source.
			gaps = append(gaps, gap{missed: -1, source: srcs[i].name})
		default:
			from = r.indexAfterG(g)
		}
		out = append(out, matchingFrom(req, r, from)...)
	}
	sortByG(out)
	return gaps, out
}

// matchingFrom returns the matching events from index i on.
func matchingFrom(req *Request, r *ring, i int) []*Event {
	out := make([]*Event, 0, max(r.n-i, 0))
	for ; i < r.n; i++ {
		if e := r.at(i); req.Filter.Match(e) {
			out = append(out, e)
		}
	}
	return out
}

// lastMatching returns the newest n matching events across rings, oldest
// first.
func lastMatching(req *Request, rings []*ring, n int) []*Event {
	if n <= 0 {
		return nil
	}
	var out []*Event
	for _, r := range rings {
		got := 0
		for i := r.n - 1; i >= 0 && got < n; i-- {
			if e := r.at(i); req.Filter.Match(e) {
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

func sortByG(es []*Event) {
	sort.Slice(es, func(i, j int) bool { return es[i].G < es[j].G })
}
