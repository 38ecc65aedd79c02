package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

const clkTck = 100 // USER_HZ on Linux

var pageSize = uint64(os.Getpagesize())

// procSample is the CPU time and resident memory of a process and all its
// descendants (websocketd forks one tail per client).
type procSample struct {
	at    time.Time
	ticks uint64 // utime+stime of the tree, plus the reaped children of the root
	rss   uint64 // bytes, summed over the tree (shared pages count once per process)
	procs int
}

type statFields struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
	rss                          uint64
}

func readStat(pid int) (statFields, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return statFields{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return statFields{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state).
	if len(f) < 22 {
		return statFields{}, false
	}
	n := func(k int) uint64 { v, _ := strconv.ParseUint(string(f[k-3]), 10, 64); return v }
	return statFields{ppid: int(n(4)), utime: n(14), stime: n(15), cutime: n(16), cstime: n(17), rss: n(24)}, true
}

// sampleTree reads the root; when tree is set, it also scans /proc for its
// descendants.
func sampleTree(root int, tree bool) procSample {
	s := procSample{at: time.Now()}
	st, ok := readStat(root)
	if !ok {
		return s
	}
	s.ticks = st.utime + st.stime + st.cutime + st.cstime
	s.rss = st.rss * pageSize
	s.procs = 1
	if !tree {
		return s
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	parent := map[int]statFields{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if f, ok := readStat(pid); ok {
			parent[pid] = f
		}
	}
	in := map[int]bool{root: true}
	for changed := true; changed; {
		changed = false
		for pid, f := range parent {
			if !in[pid] && in[f.ppid] {
				in[pid] = true
				changed = true
				s.ticks += f.utime + f.stime
				s.rss += f.rss * pageSize
				s.procs++
			}
		}
	}
	return s
}

// cpuPercent is the tree's CPU over the wall time between two samples;
// 100 % is one core.
func cpuPercent(a, b procSample) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(b.ticks-a.ticks) / clkTck / wall * 100
}

// peakRSS samples a process tree until stopped and keeps the largest RSS.
type peakRSS struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func watchRSS(pid int, tree bool, every time.Duration) *peakRSS {
	p := &peakRSS{stop: make(chan struct{})}
	p.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			p.peak = max(p.peak, sampleTree(pid, tree).rss)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

func (p *peakRSS) end() uint64 {
	close(p.stop)
	p.done.Wait()
	return p.peak
}
