package alerts

import (
	"container/list"
	"time"
)

// A rule's groups are a state machine per group, in one place:
//
//	quiet ──match──▶ counting ──threshold reached in window──▶ firing
//	  ▲                 │ (fewer than threshold in window)       │ cooldown ends:
//	  └──window passes──┘                                        │  suppressed > 0: roll-up, firing again
//	  └────────────────────────────────── none suppressed ───────┘
//
// A quiet group is no group at all: only counting and firing ones are
// held, at most maxGroups of them; past that the least recently matched is
// forgotten (and counted), after its roll-up if it owes one.

// groups holds a rule's groups. It is owned by the rule's evaluator.
type groups struct {
	threshold int
	window    time.Duration
	cooldown  time.Duration
	max       int

	m         map[string]*group
	lru       *list.List // of *group, most recently matched first
	forgotten uint64     // groups dropped for the bound
}

// group is one group: the events of a rule that share a pattern (or a
// source, or the rule).
type group struct {
	key  string
	hits []time.Time // event times of the matches in the window, oldest first; at most threshold
	// Firing: until when further matches are counted, not sent; zero when
	// counting.
	until      time.Time
	suppressed int64     // matches counted since the last notification
	supFirst   time.Time // event times of the first and last of them
	last       eventRef  // the last match: what a roll-up shows
	seen       time.Time // wall-clock time of the last match
	elem       *list.Element
}

// eventRef is what a notification says of an event.
type eventRef struct {
	Source string    `json:"source"`
	Level  string    `json:"level"`
	Line   string    `json:"line"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
}

// firing is a notification owed by a group: its first (kind alert), a
// roll-up at the end of a cooldown, or a roll-up owed by a group
// forgotten for the bound.
type firing struct {
	kind       string // kindAlert or kindRollup
	group      string
	count      int64
	suppressed int64
	first      time.Time
	ev         eventRef // the event it reports: time is its last
}

// The kinds of notification.
const (
	kindAlert  = "alert"
	kindRollup = "rollup"
	kindTest   = "test"
)

func newGroups(threshold int, window, cooldown time.Duration, max int) *groups {
	return &groups{threshold: threshold, window: window, cooldown: cooldown, max: max,
		m: make(map[string]*group), lru: list.New()}
}

// match takes one matching event of the group key at wall-clock now and
// returns the notifications it makes: the group's first when it reaches
// the threshold, and a forgotten group's roll-up when the bound drops one.
func (gs *groups) match(key []byte, ev eventRef, now time.Time, out []firing) []firing {
	g := gs.m[string(key)]
	if g == nil {
		g = &group{key: string(key)}
		g.elem = gs.lru.PushFront(g)
		gs.m[g.key] = g
		out = gs.bound(out)
	} else {
		gs.lru.MoveToFront(g.elem)
	}
	g.last, g.seen = ev, now
	if !g.until.IsZero() {
		return append(out, g.suppress(ev)...)
	}
	return g.count(gs, ev, now, out)
}

// suppress is the transition firing -> firing: the match is counted for
// the roll-up.
func (g *group) suppress(ev eventRef) []firing {
	if g.suppressed == 0 {
		g.supFirst = ev.Time
	}
	g.suppressed++
	return nil
}

// count is the transition counting -> counting, or -> firing when the
// match brings the window's matches to the threshold.
func (g *group) count(gs *groups, ev eventRef, now time.Time, out []firing) []firing {
	g.hits = append(g.hits, ev.Time)
	g.pruneHits(gs.window, ev.Time)
	if len(g.hits) > gs.threshold {
		g.hits = g.hits[len(g.hits)-gs.threshold:]
	}
	if len(g.hits) < gs.threshold {
		return out
	}
	f := firing{kind: kindAlert, group: g.key, count: int64(len(g.hits)), first: g.hits[0], ev: ev}
	g.hits = g.hits[:0]
	g.until = now.Add(gs.cooldown)
	return append(out, f)
}

// pruneHits drops the hits older than the window before t.
func (g *group) pruneHits(window time.Duration, t time.Time) {
	from := t.Add(-window)
	i := 0
	for i < len(g.hits) && g.hits[i].Before(from) {
		i++
	}
	if i > 0 {
		g.hits = append(g.hits[:0], g.hits[i:]...)
	}
}

// tick is the passing of time: a firing group whose cooldown has ended
// sends its roll-up and fires again, or, with nothing suppressed, counts
// again; a counting group whose matches are all out of the window is
// quiet, and goes (by the wall clock: the window of its matches'
// own times is kept by count).
func (gs *groups) tick(now time.Time, out []firing) []firing {
	for key, g := range gs.m {
		switch {
		case !g.until.IsZero() && !now.Before(g.until):
			if g.suppressed > 0 {
				out = append(out, g.rollup())
				g.until = now.Add(gs.cooldown)
				continue
			}
			g.until = time.Time{}
			fallthrough
		case g.until.IsZero():
			if len(g.hits) == 0 || now.Sub(g.seen) >= gs.window {
				gs.lru.Remove(g.elem)
				delete(gs.m, key)
			}
		}
	}
	return out
}

// rollup is the roll-up of what the group suppressed, which it then
// forgets.
func (g *group) rollup() firing {
	f := firing{kind: kindRollup, group: g.key, count: g.suppressed, suppressed: g.suppressed, first: g.supFirst, ev: g.last}
	g.suppressed, g.supFirst = 0, time.Time{}
	return f
}

// bound forgets the least recently matched groups past the bound, with
// the roll-ups they owe.
func (gs *groups) bound(out []firing) []firing {
	for len(gs.m) > gs.max {
		old := gs.lru.Back().Value.(*group)
		gs.lru.Remove(old.elem)
		delete(gs.m, old.key)
		gs.forgotten++
		if old.suppressed > 0 {
			out = append(out, old.rollup())
		}
	}
	return out
}

// next returns when tick has something to do: the earliest end of a
// cooldown, or of a counting group's window; zero when nothing waits.
func (gs *groups) next() time.Time {
	var t time.Time
	for _, g := range gs.m {
		at := g.until
		if at.IsZero() {
			at = g.seen.Add(gs.window) // a counting group goes quiet then
		}
		if !at.IsZero() && (t.IsZero() || at.Before(t)) {
			t = at
		}
	}
	return t
}

// firingCount is how many groups are firing now.
func (gs *groups) firingCount() int {
	n := 0
	for _, g := range gs.m {
		if !g.until.IsZero() {
			n++
		}
	}
	return n
}
