package procs

import (
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitProcs waits until GOMAXPROCS is want; a governor ticking every few
// milliseconds gets there long before the deadline, which only stops a
// broken one from hanging the test.
func waitProcs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS is %d, want %d", runtime.GOMAXPROCS(0), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGovernorFollowsTheLoad(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs a runtime default of 2 or more processors and GOMAXPROCS unset")
	}
	def := runtime.GOMAXPROCS(0)
	var busy atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	g := &Governor{Busy: busy.Load, Every: 2 * time.Millisecond, Settle: 20 * time.Millisecond}
	go func() { done <- g.Run(ctx) }()

	waitProcs(t, 1) // at rest: one
	busy.Store(true)
	waitProcs(t, def) // busy: the default
	busy.Store(false)
	waitProcs(t, 1) // quiet for Settle: one again
	busy.Store(true)
	waitProcs(t, def)
	busy.Store(false)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Fatalf("after Run: GOMAXPROCS %d, want the default %d back", got, def)
	}
}

// A process that keeps a CPU busy gets the default too, though Busy says
// no: here a goroutine spins until the governor has raised the processors.
func TestGovernorCountsASaturatedCPU(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs a runtime default of 2 or more processors and GOMAXPROCS unset")
	}
	def := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	g := &Governor{Busy: func() bool { return false }, Every: 20 * time.Millisecond, Settle: 20 * time.Millisecond}
	go func() { done <- g.Run(ctx) }()
	waitProcs(t, 1)
	var stop atomic.Bool
	spun := make(chan struct{})
	go func() {
		defer close(spun)
		for !stop.Load() {
		}
	}()
	waitProcs(t, def)
	stop.Store(true)
	<-spun
	waitProcs(t, 1) // idle again for Settle
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestGovernorLeavesAnOperatorsSetting(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs 2 or more processors")
	}
	t.Setenv("GOMAXPROCS", "2")
	before := runtime.GOMAXPROCS(0)
	g := &Governor{Busy: func() bool { return false }, Every: time.Millisecond}
	if err := g.Run(context.Background()); err != nil { // returns at once
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS changed from %d to %d although the operator set it", before, got)
	}
}
