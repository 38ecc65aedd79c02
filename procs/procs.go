// Package procs sizes the Go runtime's number of processors (GOMAXPROCS) to
// the agent's load.
//
// An agent following files with a few viewers does a few hundred small
// pieces of work a second. With more than one processor, each of them wakes
// a second OS thread that spins looking for work and sleeps again, and the
// runtime's network poller is woken through an eventfd whenever a timer is
// reset: measured at 1,000 lines/s with one viewer, that doubled the system
// calls and cost more CPU than the work itself. One processor does that work
// without any of it. Many viewers, or a read of the past, are real parallel
// work, and so is a process that keeps one CPU nearly saturated: then the
// runtime gets its default back until the load has been low for a while.
package procs

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Governor switches between one processor and the runtime's default.
type Governor struct {
	// Busy reports whether the load needs more than one processor. The
	// governor also counts the process busy when it used more than
	// Saturated of one CPU over the last interval, whatever Busy says:
	// a few clients of very busy sources are parallel work too.
	Busy func() bool
	// Saturated is that share of one CPU [0.7].
	Saturated float64
	// Every is how often Busy is asked [1s].
	Every time.Duration
	// Settle is how long Busy must stay false before going back to one
	// processor [10s], so that a load coming and going does not flap.
	Settle time.Duration
	Log    *zap.Logger
}

// Run governs until ctx is done, then gives the runtime its default back.
// It does nothing when the operator set GOMAXPROCS or the machine (or its
// CPU quota) gives the process a single processor anyway.
func (g *Governor) Run(ctx context.Context) error {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) <= 1 {
		return nil
	}
	every, settle := g.Every, g.Settle
	if every <= 0 {
		every = time.Second
	}
	if settle <= 0 {
		settle = 10 * time.Second
	}
	log := g.Log
	if log == nil {
		log = zap.NewNop()
	}
	saturated := g.Saturated
	if saturated <= 0 {
		saturated = 0.7
	}
	var cpu cpuMeter
	cpu.share(time.Now())
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.GOMAXPROCS(1)
	one := true
	var quiet time.Time // since when Busy has been false; zero: busy
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Now()
		switch {
		case cpu.share(now) > saturated || g.Busy():
			quiet = time.Time{}
			if one {
				runtime.SetDefaultGOMAXPROCS()
				one = false
				log.Debug("load needs more than one CPU", zap.Int("procs", runtime.GOMAXPROCS(0)))
			}
		case quiet.IsZero():
			quiet = now
		case !one && now.Sub(quiet) >= settle:
			runtime.GOMAXPROCS(1)
			one = true
			log.Debug("load is light: one CPU")
		}
	}
}

// cpuMeter measures the process's CPU time (user and system, every thread)
// between calls, as a share of one CPU.
type cpuMeter struct {
	last    time.Time
	lastCPU time.Duration
}

func (m *cpuMeter) share(now time.Time) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	wall := now.Sub(m.last)
	share := 0.0
	if !m.last.IsZero() && wall > 0 {
		share = float64(used-m.lastCPU) / float64(wall)
	}
	m.last, m.lastCPU = now, used
	return share
}
