package alerts

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"

	"edgetail/event"
)

// evaluate is the rule's evaluator: it taps each source once it has
// started, after the key where the rule stood (or from now), takes what
// the taps hold when they signal, and every SaveEvery moves the saved
// positions on (a tap whose filter matched nothing is read then, costing
// nothing before). It returns when ctx is done, after a last take and
// save.
func (r *rule) evaluate(ctx context.Context) {
	ready := make(chan Source, len(r.srcs))
	for _, s := range r.srcs {
		r.wg.Go(func() {
			select {
			case <-s.Started():
				ready <- s
			case <-ctx.Done():
			}
		})
	}
	taps := make(map[string]Tap, len(r.srcs))
	defer func() {
		for _, t := range taps {
			t.Close()
		}
	}()
	save := time.NewTicker(r.e.o.SaveEvery)
	defer save.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []*event.Event
	for {
		select {
		case <-ctx.Done():
			r.takeAll(taps, buf)
			r.save(nil)
			return
		case s := <-ready:
			r.mu.Lock()
			key := r.st.pos[s.Name()]
			r.mu.Unlock()
			t := s.Tap(key, &r.cfg.Filter, r.notify)
			taps[s.Name()] = t
			if key == nil {
				r.mu.Lock()
				r.setPos(s.Name(), t.Through())
				r.mu.Unlock()
			}
			buf = r.takeAll(taps, buf)
		case <-r.notify:
			buf = r.takeAll(taps, buf)
		case <-save.C:
			buf = r.takeAll(taps, buf)
			r.tick()
			r.mu.Lock()
			due := r.st.dirty || r.st.moved && time.Since(r.st.saved) >= positionsEvery*r.e.o.SaveEvery
			r.mu.Unlock()
			if due {
				r.save(nil)
			}
		case <-timer.C:
			r.tick()
		}
		r.mu.Lock()
		next := r.st.gs.next()
		r.mu.Unlock()
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
	}
}

// takeAll takes from every tap and evaluates what they hold; a
// notification made is saved before the deliverer can send it.
func (r *rule) takeAll(taps map[string]Tap, buf []*event.Event) []*event.Event {
	var fresh []*pending
	for name, t := range taps {
		evs, missed, ended := t.Take(buf[:0])
		now := time.Now()
		r.mu.Lock()
		if missed != 0 {
			r.gap(name, missed)
		}
		for _, e := range evs {
			fresh = r.evaluateEvent(e, now, fresh)
		}
		r.setPos(name, t.Through())
		r.mu.Unlock()
		clear(evs)
		buf = evs[:0]
		if ended {
			t.Close()
			delete(taps, name)
		}
	}
	r.enqueue(fresh)
	return buf
}

// gap notes events a tap could not read; r.mu held.
func (r *rule) gap(source string, missed int64) {
	if missed < 0 || r.st.missed < 0 {
		r.st.missed = -1
	} else {
		r.st.missed += missed
	}
	r.log.Warn("events of a source could not be evaluated (gone from disk or the journal)",
		zap.String("source", source), zap.Int64("missed", missed))
}

// setPos moves a source's position; r.mu held.
func (r *rule) setPos(source string, key []byte) {
	if key == nil || bytes.Equal(r.st.pos[source], key) {
		return
	}
	r.st.pos[source] = bytes.Clone(key)
	r.st.moved = true
}

// positionsEvery is how many SaveEvery pass between saves of positions
// alone.
const positionsEvery = 5

// evaluateEvent runs one matching event through its group; r.mu held.
func (r *rule) evaluateEvent(e *event.Event, now time.Time, fresh []*pending) []*pending {
	r.ctr.matches.Add(1)
	var key []byte
	switch r.cfg.GroupBy {
	case GroupBySource:
		key = []byte(e.Source)
	case GroupByRule:
		key = []byte(r.cfg.Name)
	default:
		r.pat = Pattern(r.pat[:0], e.Line)
		key = r.pat
	}
	t := e.Time
	if t.IsZero() {
		t = now
	}
	id := string(e.Key)
	if e.Key == nil {
		id = strconv.FormatUint(e.ID, 10)
	}
	ev := eventRef{Source: e.Source, Level: e.Level.String(), Line: cutLine(e.Line), ID: id, Time: t}
	var fs [2]firing
	forgotten := r.st.gs.forgotten
	for _, f := range r.st.gs.match(key, ev, now, fs[:0]) {
		fresh = append(fresh, r.notification(f, now))
	}
	if d := r.st.gs.forgotten - forgotten; d > 0 {
		r.ctr.forgotten.Add(d)
	}
	r.st.dirty = true
	return fresh
}

// tick ends the cooldowns due, with their roll-ups.
func (r *rule) tick() {
	r.mu.Lock()
	now := time.Now()
	var fresh []*pending
	for _, f := range r.st.gs.tick(now, nil) {
		fresh = append(fresh, r.notification(f, now))
		r.st.dirty = true
	}
	r.mu.Unlock()
	r.enqueue(fresh)
}

// notification makes the notification of a firing; r.mu held.
func (r *rule) notification(f firing, now time.Time) *pending {
	n := Notification{Rule: r.cfg.Name, Host: r.e.o.Host, Source: f.ev.Source, Group: f.group, Level: f.ev.Level,
		Count: f.count, Suppressed: f.suppressed, First: f.first, Last: f.ev.Time, Line: f.ev.Line, ID: f.ev.ID,
		Kind: f.kind}
	if n.First.IsZero() {
		n.First = n.Last
	}
	n.URL = link(r.e.o.BaseURL, n.Source, n.First, n.Last)
	r.ctr.made.Add(1)
	return &pending{N: n, Created: now, Key: r.cfg.Name + "-" + strconv.FormatInt(now.UnixNano(), 36) + "-" + strconv.FormatUint(r.ctr.made.Load(), 36)}
}

// enqueue saves the state with the fresh notifications in its outbox,
// then hands them to the deliverer: once sent, a notification is in the
// state file, so a restart after kill -9 neither sends it again (the
// positions are past its event) nor loses it (the outbox holds it until
// it is delivered).
func (r *rule) enqueue(fresh []*pending) {
	if len(fresh) == 0 {
		return
	}
	r.save(fresh)
	r.mu.Lock()
	for _, p := range fresh {
		r.pushLocked(p)
	}
	r.mu.Unlock()
	select {
	case r.wakeOut <- struct{}{}:
	default:
	}
}

// pushLocked adds a notification to the bounded outbox, dropping the
// oldest not being sent when it is full; r.mu held.
func (r *rule) pushLocked(p *pending) {
	if len(r.st.out) >= r.e.o.QueueSize {
		i := 0
		if r.st.out[0].inflight {
			i = 1
		}
		if i < len(r.st.out) {
			r.recordLocked(r.st.out[i], resultDropped)
			r.st.out = append(r.st.out[:i], r.st.out[i+1:]...)
			r.st.dropped++
			r.ctr.dropped.Add(1)
		}
	}
	r.st.out = append(r.st.out, p)
	r.recordLocked(p, resultPending)
}

// The results of a notification.
const (
	resultPending = "pending"
	resultSent    = "sent"
	resultFailed  = "failed"
	resultDropped = "dropped"
)

// recordLocked notes a notification's result among the rule's recent
// ones; r.mu held.
func (r *rule) recordLocked(p *pending, result string) {
	for i := range r.st.recent {
		if rc := &r.st.recent[i]; rc.key == p.Key {
			rc.Result = result
			return
		}
	}
	if result != resultPending {
		return
	}
	r.st.recent = append(r.st.recent, Recent{key: p.Key, Kind: p.N.Kind, Group: p.N.Group, Source: p.N.Source, Count: p.N.Count,
		Suppressed: p.N.Suppressed, Line: cutString(p.N.Line, 300), At: p.Created, Result: result})
	if len(r.st.recent) > maxRecent {
		r.st.recent = append(r.st.recent[:0], r.st.recent[len(r.st.recent)-maxRecent:]...)
	}
}
