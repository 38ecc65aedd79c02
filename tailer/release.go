package tailer

import (
	"context"
	"time"
)

// releaser is the one timer of a source whose sink holds lines back (a
// Holder): armed for the earliest time the sink says its held lines are
// due, moved only when that time comes sooner than armed, and fired into
// Release. A sink that is not a Holder leaves it inert: no timer, nothing
// per batch.
type releaser struct {
	h     Holder // nil: the sink holds nothing
	t     *time.Timer
	armed time.Time // when t fires; zero: not armed
}

func newReleaser(out Sink) *releaser {
	r := &releaser{}
	if h, ok := out.(Holder); ok {
		r.h = h
		r.t = time.NewTimer(time.Hour)
		r.t.Stop()
	}
	return r
}

// c is the timer's channel while it is armed, else nil (a select case that
// never fires).
func (r *releaser) c() <-chan time.Time {
	if r.armed.IsZero() {
		return nil
	}
	return r.t.C
}

// check arms the timer after a batch was handed over, when the sink now
// holds lines due before the timer would fire. Lines that keep coming only
// move the due time later: the timer is left alone then, and fire re-arms
// it for the time Due says when it goes off.
func (r *releaser) check() {
	if r.h == nil {
		return
	}
	d := r.h.Due()
	if d.IsZero() || (!r.armed.IsZero() && !d.Before(r.armed)) {
		return
	}
	r.t.Reset(time.Until(d))
	r.armed = d
}

// fire is the timer's expiry: release what is due, then arm for what is
// still held. It reports false once ctx is done.
func (r *releaser) fire(ctx context.Context, now time.Time) bool {
	r.armed = time.Time{}
	if r.h.Release(ctx, now) != nil || ctx.Err() != nil {
		return false
	}
	r.check()
	return true
}

// stop stops the timer.
func (r *releaser) stop() {
	if r.t != nil {
		r.t.Stop()
	}
}
