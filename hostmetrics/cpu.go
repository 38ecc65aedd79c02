package hostmetrics

import (
	"fmt"
	"io"
	"strings"
)

// CPU states in the order of a /proc/stat "cpu" line. guest and guest_nice
// follow them in the file but are left out on purpose: the kernel already
// counts guest time inside user and nice, so adding them would count it twice.
const (
	stUser = iota
	stNice
	stSystem
	stIdle
	stIOWait
	stIRQ
	stSoftIRQ
	stSteal
	numCPUStates
)

// minCPUFields is the fewest states a cpu line may have: Linux 2.4 printed
// only user, nice, system and idle. Missing later states count as 0.
const minCPUFields = 4

// cpuTimes holds the jiffy counters of one cpu line.
type cpuTimes [numCPUStates]uint64

// namedCPU is one per-core line ("cpu0", "cpu1", ...).
type namedCPU struct {
	name  string
	times cpuTimes
}

// procStat is what we use from /proc/stat.
type procStat struct {
	total      cpuTimes
	hasTotal   bool
	cores      []namedCPU
	running    uint64
	blocked    uint64
	hasRunning bool
	hasBlocked bool
}

// parseProcStat parses /proc/stat. A malformed line is skipped and reported
// in the returned error while the rest of the file is still returned.
func parseProcStat(r io.Reader) (procStat, error) {
	var st procStat
	var bad lineErrors
	sc := newScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		key, rest, _ := strings.Cut(text, " ")
		switch {
		case key == "cpu":
			t, err := parseCPUFields(rest)
			if err != nil {
				bad.addf(line, "cpu: %v", err)
				continue
			}
			st.total, st.hasTotal = t, true
		case strings.HasPrefix(key, "cpu") && isDigits(key[3:]):
			t, err := parseCPUFields(rest)
			if err != nil {
				bad.addf(line, "%s: %v", key, err)
				continue
			}
			st.cores = append(st.cores, namedCPU{name: key, times: t})
		case key == "procs_running" || key == "procs_blocked":
			n, err := parseUint(strings.TrimSpace(rest))
			if err != nil {
				bad.addf(line, "%s: %v", key, err)
				continue
			}
			if key == "procs_running" {
				st.running, st.hasRunning = n, true
			} else {
				st.blocked, st.hasBlocked = n, true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if !st.hasTotal && bad.n == 0 {
		return st, fmt.Errorf("no cpu line")
	}
	return st, bad.err()
}

// parseCPUFields parses the counters after the "cpuN" label.
func parseCPUFields(s string) (cpuTimes, error) {
	var t cpuTimes
	fields := strings.Fields(s)
	if len(fields) < minCPUFields {
		return t, fmt.Errorf("%d fields, want at least %d", len(fields), minCPUFields)
	}
	for i := 0; i < numCPUStates && i < len(fields); i++ {
		v, err := parseUint(fields[i])
		if err != nil {
			return t, fmt.Errorf("field %d: %w", i+1, err)
		}
		t[i] = v
	}
	return t, nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cpuPercent computes the time split between prev and cur. Each state's
// delta is clamped at 0 before summing: iowait is known to go backwards on
// NO_HZ kernels, and a clamped delta keeps every share in [0,100] with the
// shares still summing to 100. When there is no previous reading, or nothing
// advanced (counters reset, or two samples within one jiffy), the split since
// boot is reported instead of an all-zero row that would not sum to 100.
func cpuPercent(name string, prev *cpuTimes, cur cpuTimes) CPUTimes {
	// Sums are taken in float64: uint64 counters from a corrupt file could
	// overflow an integer sum and produce shares above 100.
	var d [numCPUStates]float64
	var sum float64
	if prev != nil {
		for i := range cur {
			if cur[i] >= prev[i] {
				d[i] = float64(cur[i] - prev[i])
				sum += d[i]
			}
		}
	}
	if sum == 0 {
		for i, v := range cur {
			d[i] = float64(v)
			sum += d[i]
		}
	}
	out := CPUTimes{CPU: name}
	if sum == 0 {
		return out
	}
	pct := func(i int) float64 { return round2(d[i] * 100 / sum) }
	out.User = pct(stUser)
	out.Nice = pct(stNice)
	out.System = pct(stSystem)
	out.IRQ = pct(stIRQ)
	out.SoftIRQ = pct(stSoftIRQ)
	out.IOWait = pct(stIOWait)
	out.Steal = pct(stSteal)
	out.Idle = pct(stIdle)
	busy := (sum - d[stIdle] - d[stIOWait]) * 100 / sum
	out.Percent = round2(max(0, min(busy, 100)))
	return out
}

// cpuState is the previous /proc/stat reading, keyed by line label ("cpu"
// for the total). It is replaced wholesale each sample, so a core that went
// offline is dropped and one that came online starts from its boot split.
type cpuState map[string]cpuTimes

// buildCPU turns a parsed /proc/stat into CPUStats and the next state.
func buildCPU(st procStat, prev cpuState) (*CPUStats, cpuState) {
	next := make(cpuState, len(st.cores)+1)
	lookup := func(name string) *cpuTimes {
		if t, ok := prev[name]; ok {
			return &t
		}
		return nil
	}
	out := &CPUStats{Cores: make([]CPUTimes, 0, len(st.cores))}
	if st.hasTotal {
		out.Total = cpuPercent("", lookup("cpu"), st.total)
		next["cpu"] = st.total
	}
	for _, c := range st.cores {
		out.Cores = append(out.Cores, cpuPercent(c.name, lookup(c.name), c.times))
		next[c.name] = c.times
	}
	return out, next
}
