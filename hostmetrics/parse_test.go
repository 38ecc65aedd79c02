package hostmetrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseProcStatOldKernel(t *testing.T) {
	// Linux 2.4 printed four states only; the rest count as 0.
	st, err := parseProcStat(strings.NewReader("cpu 1 2 3 4\ncpu0 1 2 3 4\n"))
	if err != nil || !st.hasTotal || st.total != (cpuTimes{1, 2, 3, 4}) || len(st.cores) != 1 {
		t.Fatalf("st = %+v, err = %v", st, err)
	}
}

func TestParseProcStatBadLines(t *testing.T) {
	in := "cpu 1 2 3 4 5 6 7 8\ncpu0 1 2 x 4\ncpu1 1 2\nprocs_running -1\n"
	st, err := parseProcStat(strings.NewReader(in))
	if !st.hasTotal || len(st.cores) != 0 || st.hasRunning {
		t.Errorf("st = %+v", st)
	}
	want := `line 2: cpu0: field 3: strconv.ParseUint: parsing "x": invalid syntax; line 3: cpu1: 2 fields, want at least 4; line 4: procs_running: strconv.ParseUint: parsing "-1": invalid syntax`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	if _, err := parseProcStat(strings.NewReader("intr 1\n")); err == nil {
		t.Error("no cpu line: want an error")
	}
}

func TestLineErrorsCapped(t *testing.T) {
	in := strings.Repeat("garbage\n", 10)
	_, err := parseMeminfo(strings.NewReader(in))
	if err == nil || !strings.HasSuffix(err.Error(), "; and 7 more malformed lines") {
		t.Errorf("err = %v", err)
	}
}

func TestCPUPercentIOWaitBackwards(t *testing.T) {
	// iowait going backwards (NO_HZ kernels) must not push a share out of
	// [0,100] or break the sum.
	prev := cpuTimes{100, 0, 100, 1000, 500, 0, 0, 0}
	cur := cpuTimes{200, 0, 200, 1200, 400, 0, 0, 0}
	got := cpuPercent("cpu", &prev, cur)
	want := CPUTimes{CPU: "cpu", Percent: 50, User: 25, System: 25, Idle: 50}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if z := cpuPercent("cpu", nil, cpuTimes{}); z != (CPUTimes{CPU: "cpu"}) {
		t.Errorf("all-zero counters: %+v", z)
	}
}

func TestParseMeminfoUnits(t *testing.T) {
	m, err := parseMeminfo(strings.NewReader("MemTotal: 2 kB\nHugePages_Total: 5\nWeird: 3 MB\n"))
	if m["MemTotal"] != 2048 || m["HugePages_Total"] != 5 {
		t.Errorf("m = %v", m)
	}
	if err == nil || !strings.Contains(err.Error(), `line 3: Weird: unknown unit "MB"`) {
		t.Errorf("err = %v", err)
	}
	// Old kernels have no MemAvailable: estimate it, never exceed total.
	mem, swap, err := buildMem(meminfo{"MemTotal": 100, "MemFree": 50, "Buffers": 10, "Cached": 20})
	if err != nil || mem.Available != 80 || mem.Used != 20 || swap != nil {
		t.Errorf("mem = %+v swap = %+v err = %v", mem, swap, err)
	}
}

func TestParseLoadavgAndUptime(t *testing.T) {
	la, err := parseLoadavg(strings.NewReader("0.63 0.29 0.11 2/82 5261\n"))
	if err != nil || la.load != (LoadStats{0.63, 0.29, 0.11}) || la.running != 2 || la.total != 82 {
		t.Errorf("la = %+v err = %v", la, err)
	}
	for _, bad := range []string{"", "1 2 3", "1 2 x 1/2", "1 2 3 12"} {
		if _, err := parseLoadavg(strings.NewReader(bad)); err == nil {
			t.Errorf("parseLoadavg(%q): want error", bad)
		}
	}
	if up, err := parseUptime(strings.NewReader("468.96 831.18\n")); err != nil || up != 468.96 {
		t.Errorf("up = %v err = %v", up, err)
	}
	if _, err := parseUptime(strings.NewReader("NaN 1")); err == nil {
		t.Error("NaN uptime: want error")
	}
}

func TestParseNetDevOldFormat(t *testing.T) {
	// Old kernels glue the first counter to the colon.
	in := "  eth0:123456 7 0 0 0 0 0 0 89 10 0 0 0 0 0 0\nbroken line\n"
	nc, err := parseNetDev(strings.NewReader(in))
	if len(nc) != 1 || nc[0].iface != "eth0" || nc[0].v[ndRxBytes] != 123456 || nc[0].v[ndTxPackets] != 10 {
		t.Errorf("nc = %+v", nc)
	}
	if err == nil || !strings.Contains(err.Error(), "line 2: no colon") {
		t.Errorf("err = %v", err)
	}
}

func TestParseMountsEscapesAndOvermount(t *testing.T) {
	in := `/dev/a /mnt/my\040disk ext4 rw 0 0
/dev/b /data ext4 rw 0 0
tmpfs /data tmpfs rw 0 0
odd \999x xfs rw 0 0
`
	ms, err := parseMounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mountEntry{
		{"/dev/a", "/mnt/my disk", "ext4"},
		{"tmpfs", "/data", "tmpfs"},
		{"odd", `\999x`, "xfs"},
	}
	if len(ms) != len(want) {
		t.Fatalf("ms = %+v", ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("ms[%d] = %+v, want %+v", i, ms[i], want[i])
		}
	}
	if unescapeMount(`a\134b\011c\`) != "a\\b\tc\\" {
		t.Errorf("unescape = %q", unescapeMount(`a\134b\011c\`))
	}
}

func TestFSStatsClamps(t *testing.T) {
	fs := fsStats(mountEntry{mount: "/x"}, fsUsage{total: 100, free: 150, avail: 200})
	if fs.Used != 0 || fs.Free != 100 || fs.Avail != 100 || fs.UsedPercent != 0 {
		t.Errorf("fs = %+v", fs)
	}
	fs = fsStats(mountEntry{mount: "/y"}, fsUsage{total: 1000, free: 100, avail: 50})
	if fs.Used != 900 || fs.UsedPercent != 94.74 {
		t.Errorf("fs = %+v", fs)
	}
}

func TestRate(t *testing.T) {
	cases := []struct {
		prev, cur uint64
		secs      float64
		want      float64
	}{
		{100, 300, 2, 100},
		{300, 100, 2, 0}, // reset
		{math.MaxUint64 - 5, 10, 2, 0},
		{100, 300, 0, 0},
		{100, 300, -1, 0},
	}
	for _, c := range cases {
		if got := rate(c.prev, c.cur, c.secs); got != c.want {
			t.Errorf("rate(%d, %d, %v) = %v, want %v", c.prev, c.cur, c.secs, got, c.want)
		}
	}
}

// seedFiles adds every fixture copy of a /proc file to a fuzz corpus.
func seedFiles(f *testing.F, rel string) {
	matches, _ := filepath.Glob(filepath.Join("testdata", "*", "proc", rel))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

func FuzzParseProcStat(f *testing.F) {
	seedFiles(f, "stat")
	f.Add("cpu 1 2 3 4\n")
	f.Add("cpu 18446744073709551615 18446744073709551615 18446744073709551615 18446744073709551615 1 1 1 1\n")
	f.Add("cpu0 1 2 x 4\ncpu\n")
	f.Add("procs_running\nprocs_blocked 7\n")
	f.Fuzz(func(t *testing.T, in string) {
		st, _ := parseProcStat(strings.NewReader(in))
		cpu, next := buildCPU(st, nil)
		again, _ := buildCPU(st, next)
		for _, c := range append(append(cpu.Cores, cpu.Total), again.Cores...) {
			parts := []float64{c.User, c.Nice, c.System, c.IRQ, c.SoftIRQ, c.IOWait, c.Steal, c.Idle}
			sum := 0.0
			for _, p := range append(parts, c.Percent) {
				if p < 0 || p > 100 || math.IsNaN(p) {
					t.Fatalf("share %v out of range in %+v", p, c)
				}
			}
			for _, p := range parts {
				sum += p
			}
			if sum != 0 && (sum < 99 || sum > 101) {
				t.Fatalf("shares sum to %v in %+v", sum, c)
			}
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	seedFiles(f, "net/dev")
	f.Add("eth0:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n")
	f.Add("a:b:1\n:\n|\n")
	f.Fuzz(func(t *testing.T, in string) {
		nc, err := parseNetDev(strings.NewReader(in))
		for _, c := range nc {
			if c.iface == "" || strings.ContainsAny(c.iface, " \t\n") {
				t.Fatalf("bad iface name %q", c.iface)
			}
		}
		if err != nil && len(err.Error()) > 1000 {
			t.Fatalf("error message too long: %d bytes", len(err.Error()))
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	seedFiles(f, "meminfo")
	f.Add("MemTotal: 18446744073709551615 kB\nMemFree: 1 kB\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, _ := parseMeminfo(strings.NewReader(in))
		mem, swap, err := buildMem(m)
		if err != nil {
			return
		}
		if mem.Used+mem.Available != mem.Total || mem.UsedPercent < 0 || mem.UsedPercent > 100 {
			t.Fatalf("mem = %+v", mem)
		}
		if swap != nil && swap.Used+swap.Free != swap.Total {
			t.Fatalf("swap = %+v", swap)
		}
	})
}
