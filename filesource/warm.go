package filesource

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"
)

// How the count index is kept warm: once the source has started, then
// after each rotation (looked for every warmCheck) and every warmEvery,
// which also indexes what the followed files gained meanwhile, so that a
// count reads little of them.
const (
	warmDelay = time.Second
	warmCheck = time.Minute
	warmEvery = 10 * time.Minute
)

// keepWarm keeps the source's count index up to date until ctx is done,
// one warm-up at a time across sources (slots, when set).
func (s *Source) keepWarm(ctx context.Context, p *filePast) {
	select {
	case <-s.t.Started():
	case <-ctx.Done():
		return
	}
	timer := time.NewTimer(warmDelay)
	defer timer.Stop()
	var rotations uint64
	var files string
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(warmCheck)
		r, f := s.t.Stats().Rotations, strings.Join(p.paths(), "\x00")
		if !last.IsZero() && r == rotations && f == files && time.Since(last) < warmEvery {
			continue
		}
		if s.o.WarmSlots != nil {
			select {
			case s.o.WarmSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		start := time.Now()
		err := p.warm(ctx, s.o.Stream.LastKey())
		if s.o.WarmSlots != nil {
			<-s.o.WarmSlots
		}
		if ctx.Err() != nil {
			return
		}
		rotations, files, last = r, f, time.Now()
		if err != nil {
			s.log.Warn("count index: some files could not be indexed", zap.Error(err))
		} else if d := time.Since(start); d > time.Second {
			s.log.Info("count index up to date", zap.Duration("took", d))
		} else {
			s.log.Debug("count index up to date", zap.Duration("took", d))
		}
	}
}
