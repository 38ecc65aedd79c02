// Package hostmetrics samples the host's CPU, memory, swap, load, disk I/O,
// filesystem usage, network traffic, uptime and task counts from /proc,
// /sys and statfs(2), and encodes each sample as one JSON object (see
// Sample and SCHEMA.md).
//
// Rates (bytes/s, packets/s, CPU percent) are computed from counter deltas
// between two consecutive samples of the same Sampler, over the real time
// elapsed between them. Parsing is kept apart from I/O: every parser takes
// an io.Reader, so it can be tested and fuzzed without a /proc.
//
// A Sampler never lets one bad source spoil a sample: a file that cannot be
// read or parsed leaves its part null and adds a message to Sample.Errors,
// and a statfs that hangs (dead NFS server) is abandoned after
// Options.StatfsTimeout.
package hostmetrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults for zero Options fields.
const (
	DefaultInterval      = 2 * time.Second
	DefaultStatfsTimeout = time.Second
)

// Options configures a Sampler. The zero value samples the real host every
// two seconds.
type Options struct {
	// Interval between samples in Run; 0 (or negative) means 2s.
	Interval time.Duration
	// ProcRoot is where procfs is mounted; "" means "/proc". Tests point it
	// at fixture trees.
	ProcRoot string
	// SysRoot is where sysfs is mounted; "" means "/sys". It is used to tell
	// whole disks from partitions.
	SysRoot string
	// StatfsTimeout bounds the time one sample waits for statfs of all
	// mounts together; 0 (or negative) means 1s. A stuck network mount
	// cannot hang a sample.
	StatfsTimeout time.Duration
	// Logger receives problems with the host's files; nil means zap.NewNop().
	// A repeated error is logged once when it first appears (and once when
	// it clears), not every interval.
	Logger *zap.Logger
}

// Sampler reads the host and remembers the previous counters so that each
// sample can report rates. It is safe for concurrent use; samples are taken
// one at a time.
type Sampler struct {
	opts   Options
	log    *zap.Logger
	now    func() time.Time              // tests replace it to get exact rates
	statfs func(string) (fsUsage, error) // tests replace it to simulate a hung mount

	mu        sync.Mutex
	cpuPrev   cpuState
	disk      rateState[diskCounters]
	net       rateState[netCounters]
	fsPending map[string]*statfsCall
	logged    map[string]bool
}

// New returns a Sampler for opts, with defaults filled in. It starts nothing
// and reads nothing.
func New(opts Options) *Sampler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.SysRoot == "" {
		opts.SysRoot = "/sys"
	}
	if opts.StatfsTimeout <= 0 {
		opts.StatfsTimeout = DefaultStatfsTimeout
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Sampler{
		opts:      opts,
		log:       log,
		now:       time.Now,
		statfs:    realStatfs,
		fsPending: make(map[string]*statfsCall),
		logged:    make(map[string]bool),
	}
}

// Sample reads the host now. Rates are computed against the previous call's
// counters; on the first call they are 0 and CPU percentages are averages
// since boot. A file that cannot be read or parsed adds an entry to
// Sample.Errors and leaves only its own part empty. The returned error is
// non-nil only when nothing at all could be read; the Sample is returned
// even then, with its Errors saying why.
func (s *Sampler) Sample() (*Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sample(context.Background())
}

// Run samples immediately and then every Interval until ctx is done, and
// calls publish with each sample's time and JSON encoding. publish is called
// from Run's goroutine, one call at a time; the byte slice is not reused
// and may be kept. A sample in which nothing could be read is still
// published (its errors field says why). Run returns nil when ctx is done,
// after waiting up to StatfsTimeout for statfs calls still in flight; a
// statfs stuck in the kernel beyond that cannot be waited for (see
// SCHEMA.md, limitations).
func (s *Sampler) Run(ctx context.Context, publish func(t time.Time, sampleJSON []byte)) error {
	if publish == nil {
		return errors.New("hostmetrics: Run: publish is nil")
	}
	defer func() {
		s.mu.Lock()
		s.waitPending(s.opts.StatfsTimeout)
		s.mu.Unlock()
	}()
	ticker := time.NewTicker(s.opts.Interval)
	defer ticker.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		s.publishOnce(ctx, publish)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// publishOnce takes one sample and publishes it unless ctx ended meanwhile
// (a sample cut short by cancellation would carry spurious statfs errors).
func (s *Sampler) publishOnce(ctx context.Context, publish func(time.Time, []byte)) {
	s.mu.Lock()
	smp, _ := s.sample(ctx) // the error is already logged and in smp.Errors
	s.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	b, err := json.Marshal(smp)
	if err != nil {
		// Cannot happen with these types; say so loudly if it ever does.
		s.log.Error("encode host metrics sample", zap.Error(err))
		return
	}
	publish(smp.Time, b)
}

// sample does the work of Sample; s.mu must be held.
func (s *Sampler) sample(ctx context.Context) (*Sample, error) {
	now := s.now()
	smp := &Sample{Time: now.UTC()}
	var errs []error
	filled := 0
	proc := func(name string) string { return filepath.Join(s.opts.ProcRoot, name) }
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	st, err := readWith(proc("stat"), parseProcStat)
	note(err)
	if st.hasTotal || len(st.cores) > 0 {
		smp.CPU, s.cpuPrev = buildCPU(st, s.cpuPrev)
		filled++
	} else {
		s.cpuPrev = nil
	}

	memPath := proc("meminfo")
	mi, err := readWith(memPath, parseMeminfo)
	mem, swap, derr := buildMem(mi)
	if err != nil {
		note(err) // it explains derr too, if any
	} else if derr != nil {
		note(fmt.Errorf("read %s: %w", memPath, derr))
	}
	if mem != nil {
		smp.Mem, smp.Swap = mem, swap
		filled++
	}

	la, laErr := readWith(proc("loadavg"), parseLoadavg)
	note(laErr)
	if laErr == nil {
		smp.Load = &la.load
		filled++
	}
	smp.Procs = buildProcs(st, la, laErr == nil)

	up, err := readWith(proc("uptime"), parseUptime)
	note(err)
	if err == nil {
		smp.Uptime = &up
		filled++
	}

	dc, err := readWith(proc("diskstats"), parseDiskstats)
	note(err)
	if err == nil || len(dc) > 0 {
		var next map[string]diskCounters
		smp.Disk, next = buildDisk(dc, wholeDisks(s.opts.SysRoot), &s.disk, elapsed(s.disk.at, now))
		s.disk = rateState[diskCounters]{at: now, prev: next}
		filled++
	} else {
		s.disk = rateState[diskCounters]{}
	}

	nc, err := readWith(proc("net/dev"), parseNetDev)
	note(err)
	if err == nil || len(nc) > 0 {
		var next map[string]netCounters
		smp.Net, next = buildNet(nc, &s.net, elapsed(s.net.at, now))
		s.net = rateState[netCounters]{at: now, prev: next}
		filled++
	} else {
		s.net = rateState[netCounters]{}
	}

	mounts, err := readWith(proc("self/mounts"), parseMounts)
	note(err)
	if err == nil || len(mounts) > 0 {
		var fsErrs []error
		smp.FS, fsErrs = s.collectFS(ctx, mounts)
		errs = append(errs, fsErrs...)
		filled++
	}

	if len(errs) > 0 {
		smp.Errors = make([]string, len(errs))
		for i, e := range errs {
			smp.Errors[i] = e.Error()
		}
	}
	// A sample cut short by cancellation has spurious statfs errors; do not
	// log them at shutdown.
	if ctx.Err() == nil {
		s.logErrors(smp.Errors)
	}
	if filled == 0 {
		return smp, fmt.Errorf("hostmetrics: nothing could be read under %s: %s", s.opts.ProcRoot, smp.Errors[0])
	}
	return smp, nil
}

// buildProcs merges task counts: procs_running/procs_blocked from /proc/stat
// are instantaneous, loadavg's running count is the fallback, and the total
// only exists in loadavg. nil when neither file had them.
func buildProcs(st procStat, la loadavg, haveLoad bool) *ProcStats {
	if !haveLoad && !st.hasRunning && !st.hasBlocked {
		return nil
	}
	p := &ProcStats{}
	if haveLoad {
		p.Total, p.Running = la.total, la.running
	}
	if st.hasRunning {
		p.Running = st.running
	}
	if st.hasBlocked {
		p.Blocked = st.blocked
	}
	return p
}

// elapsed is the time since the previous reading in seconds, or 0 when
// there was none (the caller then reports rate 0).
func elapsed(prev, now time.Time) float64 {
	if prev.IsZero() {
		return 0
	}
	return now.Sub(prev).Seconds()
}

// logErrors logs each distinct message once, when it first appears, and
// once more when it stops appearing, so a permanently broken mount does not
// write a warning every two seconds. The set only holds current messages,
// so it stays bounded.
func (s *Sampler) logErrors(msgs []string) {
	current := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		current[m] = true
		if !s.logged[m] {
			s.logged[m] = true
			s.log.Warn("host metrics: cannot read part of the sample", zap.String("error", m))
		}
	}
	for m := range s.logged {
		if !current[m] {
			delete(s.logged, m)
			s.log.Info("host metrics: error cleared", zap.String("error", m))
		}
	}
}
