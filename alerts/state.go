package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// A rule's state file, state_dir/alerts/RULE.json: where each source was
// evaluated to, the groups counting or firing, and the notifications not
// yet delivered. It is written whole (a temporary file, then a rename; no
// fsync: it is to outlive the process, kill -9 included, not the machine)
// in batches: at once when a notification is made, before it can be sent,
// and after a delivery; within SaveEvery of a change of the groups; and
// while only the positions move (a rule that matches nothing), every
// 5 × SaveEvery. A position saved late is no loss: the next run reads
// again, from there, events that notified nothing. Its size is bounded by the rule's bounds: MaxGroups
// groups (with at most Threshold times and one line each) and QueueSize
// notifications.

const stateVersion = 1

type savedState struct {
	Version   int               `json:"version"`
	Rule      string            `json:"rule"`
	Grouping  string            `json:"grouping"`
	Positions map[string]string `json:"positions"`
	Groups    []savedGroup      `json:"groups,omitempty"`
	Outbox    []*pending        `json:"outbox,omitempty"`
	Dropped   int64             `json:"dropped,omitempty"`
}

type savedGroup struct {
	Key        string      `json:"key"`
	Hits       []time.Time `json:"hits,omitempty"`
	Until      time.Time   `json:"until,omitzero"`
	Suppressed int64       `json:"suppressed,omitempty"`
	SupFirst   time.Time   `json:"sup_first,omitzero"`
	Last       *eventRef   `json:"last,omitempty"` // only when it owes a roll-up
	Seen       time.Time   `json:"seen"`
}

// statePath is the rule's state file; "" when the engine keeps none.
func (e *Engine) statePath(name string) string {
	if e.o.StateDir == "" {
		return ""
	}
	return filepath.Join(e.o.StateDir, "alerts", name+".json")
}

// loadState reads the rule's state file into st: positions and the
// outbox always, groups only when the rule groups as it did. A missing
// file is a first start; an unreadable one is logged and ignored.
func (r *rule) loadState(st *ruleState) {
	p := r.e.statePath(r.cfg.Name)
	if p == "" {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cannot read the rule's state: it starts from now", zap.Error(err))
		}
		return
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil || s.Version != stateVersion || s.Rule != r.cfg.Name {
		r.log.Warn("the rule's state file does not fit: it starts from now", zap.String("path", p))
		return
	}
	for src, k := range s.Positions {
		st.pos[src] = []byte(k)
	}
	for _, p := range s.Outbox {
		if p != nil && len(st.out) < r.e.o.QueueSize {
			st.out = append(st.out, p)
		}
	}
	st.dropped = s.Dropped
	if s.Grouping != r.cfg.grouping() {
		r.log.Info("the rule groups differently now: its groups start afresh")
		return
	}
	for _, sg := range s.Groups {
		g := &group{key: sg.Key, hits: sg.Hits, until: sg.Until, suppressed: sg.Suppressed, supFirst: sg.SupFirst, seen: sg.Seen}
		if sg.Last != nil {
			g.last = *sg.Last
		}
		if len(g.hits) > st.gs.threshold {
			g.hits = g.hits[len(g.hits)-st.gs.threshold:]
		}
		g.elem = st.gs.lru.PushBack(g)
		st.gs.m[g.key] = g
	}
	st.gs.bound(nil)
}

// save writes the state file with extra (notifications not yet in the
// outbox) as part of the outbox. Called by either goroutine of the rule.
func (r *rule) save(extra []*pending) {
	p := r.e.statePath(r.cfg.Name)
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	r.st.dirty, r.st.moved, r.st.saved = false, false, time.Now()
	if p == "" {
		r.mu.Unlock()
		return
	}
	b := r.marshalLocked(extra)
	r.mu.Unlock()
	err := r.e.writeState(p, b)
	if err != nil {
		r.ctr.saveErrors.Add(1)
	}
	// Said once when saving starts failing, and once when it works again
	// (saveMu held): not on every save, every few seconds.
	switch {
	case err != nil && !r.saveFailing:
		r.log.Warn("cannot save the rule's state: a restart would evaluate again what it evaluated since", zap.Error(err))
	case err == nil && r.saveFailing:
		r.log.Info("the rule's state is saved again")
	}
	r.saveFailing = err != nil
}

// marshalLocked encodes the state; r.mu held.
func (r *rule) marshalLocked(extra []*pending) []byte {
	s := savedState{Version: stateVersion, Rule: r.cfg.Name, Grouping: r.cfg.grouping(),
		Positions: make(map[string]string, len(r.st.pos)), Dropped: r.st.dropped}
	for src, k := range r.st.pos {
		s.Positions[src] = string(k)
	}
	for _, g := range r.st.gs.m {
		sg := savedGroup{Key: g.key, Hits: g.hits, Until: g.until, Suppressed: g.suppressed, SupFirst: g.supFirst, Seen: g.seen}
		if g.suppressed > 0 {
			last := g.last
			sg.Last = &last
		}
		s.Groups = append(s.Groups, sg)
	}
	s.Outbox = append(append(s.Outbox, r.st.out...), extra...)
	b, _ := json.Marshal(s)
	return b
}

// writeState replaces path with b: a temporary file, then a rename.
func (e *Engine) writeState(path string, b []byte) error {
	if !e.dirMade.Load() {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		e.dirMade.Store(true)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// removeState deletes a removed rule's state: added again later, it
// starts from then, not from where it once stood.
func (e *Engine) removeState(name string) {
	if p := e.statePath(name); p != "" {
		_ = os.Remove(p)
	}
}
