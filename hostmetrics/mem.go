package hostmetrics

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// meminfo maps /proc/meminfo keys to values, converted to bytes for lines
// with a "kB" unit (the kernel's kB is KiB) and left as is for counts such
// as HugePages_Total.
type meminfo map[string]uint64

// parseMeminfo parses /proc/meminfo. Malformed lines are skipped and
// reported in the error; the good lines are still returned.
func parseMeminfo(r io.Reader) (meminfo, error) {
	m := make(meminfo, 64)
	var bad lineErrors
	sc := newScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		key, rest, ok := strings.Cut(text, ":")
		if !ok || key == "" {
			bad.addf(line, "no colon in %q", truncate(text))
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			bad.addf(line, "%s: want a value and an optional unit, got %q", key, truncate(rest))
			continue
		}
		v, err := parseUint(fields[0])
		if err != nil {
			bad.addf(line, "%s: %v", key, err)
			continue
		}
		if len(fields) == 2 {
			if fields[1] != "kB" {
				bad.addf(line, "%s: unknown unit %q", key, truncate(fields[1]))
				continue
			}
			if v > (1<<64-1)/1024 {
				bad.addf(line, "%s: value overflows", key)
				continue
			}
			v *= 1024
		}
		m[key] = v
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	return m, bad.err()
}

// truncate keeps error messages short when a file holds garbage.
func truncate(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// buildMem derives MemStats and SwapStats from meminfo. MemTotal and MemFree
// are required; MemAvailable (Linux 3.14+) falls back to
// MemFree + Buffers + Cached on older kernels. Swap is reported when both
// swap lines exist (all zeros when there is no swap).
func buildMem(m meminfo) (*MemStats, *SwapStats, error) {
	total, ok1 := m["MemTotal"]
	free, ok2 := m["MemFree"]
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("MemTotal or MemFree missing")
	}
	mem := &MemStats{
		Total:   total,
		Free:    free,
		Buffers: m["Buffers"],
		Cached:  m["Cached"],
	}
	avail, ok := m["MemAvailable"]
	if !ok {
		avail = free + mem.Buffers + mem.Cached
	}
	mem.Available = min(avail, total)
	mem.Used = total - mem.Available
	if total > 0 {
		mem.UsedPercent = round2(float64(mem.Used) * 100 / float64(total))
	}
	var swap *SwapStats
	st, ok1 := m["SwapTotal"]
	sf, ok2 := m["SwapFree"]
	if ok1 && ok2 {
		sf = min(sf, st)
		swap = &SwapStats{Total: st, Free: sf, Used: st - sf}
	}
	return mem, swap, nil
}

// loadavg is /proc/loadavg: "0.63 0.29 0.11 2/82 5261".
type loadavg struct {
	load    LoadStats
	running uint64
	total   uint64
}

// parseLoadavg parses /proc/loadavg.
func parseLoadavg(r io.Reader) (loadavg, error) {
	var la loadavg
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return la, err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 4 {
		return la, fmt.Errorf("%d fields, want at least 4", len(fields))
	}
	var loads [3]float64
	for i := range loads {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || v < 0 {
			return la, fmt.Errorf("field %d: bad load average %q", i+1, truncate(fields[i]))
		}
		loads[i] = v
	}
	la.load = LoadStats{Load1: loads[0], Load5: loads[1], Load15: loads[2]}
	run, tot, ok := strings.Cut(fields[3], "/")
	if !ok {
		return la, fmt.Errorf("field 4: want running/total, got %q", truncate(fields[3]))
	}
	if la.running, err = parseUint(run); err != nil {
		return la, fmt.Errorf("field 4: %w", err)
	}
	if la.total, err = parseUint(tot); err != nil {
		return la, fmt.Errorf("field 4: %w", err)
	}
	return la, nil
}

// parseUptime parses /proc/uptime and returns the first number, seconds
// since boot.
func parseUptime(r io.Reader) (float64, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || v < 0 || v != v {
		return 0, fmt.Errorf("bad uptime %q", truncate(fields[0]))
	}
	return v, nil
}
