package hostmetrics

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestFixtureFirstSample(t *testing.T) {
	f := newFixture(t, Options{})
	smp := f.sample(0)

	if errs := nonFSErrors(smp.Errors); len(errs) != 0 {
		t.Fatalf("unexpected errors: %q", errs)
	}
	// First sample: CPU split since boot (user 1000 of 10000 jiffies...).
	want := CPUTimes{Percent: 18, User: 10, Nice: 1, System: 5, IRQ: 0.5, SoftIRQ: 0.5, IOWait: 2, Steal: 1, Idle: 80}
	if smp.CPU.Total != want {
		t.Errorf("cpu total = %+v, want %+v", smp.CPU.Total, want)
	}
	if len(smp.CPU.Cores) != 2 || smp.CPU.Cores[1].CPU != "cpu1" {
		t.Errorf("cores = %+v", smp.CPU.Cores)
	}
	wantMem := MemStats{Total: 8000000 * 1024, Available: 5000000 * 1024, Used: 3000000 * 1024,
		Free: 2000000 * 1024, Buffers: 100000 * 1024, Cached: 2500000 * 1024, UsedPercent: 37.5}
	if *smp.Mem != wantMem {
		t.Errorf("mem = %+v, want %+v", *smp.Mem, wantMem)
	}
	if want := (SwapStats{Total: 1000000 * 1024, Free: 750000 * 1024, Used: 250000 * 1024}); *smp.Swap != want {
		t.Errorf("swap = %+v, want %+v", *smp.Swap, want)
	}
	if want := (LoadStats{1.5, 0.75, 0.25}); *smp.Load != want {
		t.Errorf("load = %+v", *smp.Load)
	}
	if want := (ProcStats{Total: 321, Running: 3, Blocked: 1}); *smp.Procs != want {
		t.Errorf("procs = %+v", *smp.Procs)
	}
	if *smp.Uptime != 12345.67 {
		t.Errorf("uptime = %v", *smp.Uptime)
	}
	// sda1 is a partition (not in sys/block), sdc never did I/O, loop0 is a
	// loop device: only sda and sdb remain, with rate 0 on a first sample.
	var devs []string
	for _, d := range smp.Disk {
		devs = append(devs, d.Device)
		if d != (DiskStats{Device: d.Device}) {
			t.Errorf("first-sample disk rates not 0: %+v", d)
		}
	}
	if !slices.Equal(devs, []string{"sda", "sdb"}) {
		t.Errorf("disks = %v, want [sda sdb]", devs)
	}
	eth0 := findNet(smp.Net, "eth0")
	if eth0 == nil || eth0.RxBytesPerS != 0 || eth0.RxErrors != 3 || eth0.RxDrops != 7 || eth0.TxErrors != 1 || eth0.TxDrops != 2 {
		t.Errorf("eth0 = %+v", eth0)
	}
	// Pseudo filesystems and mounts inside /proc and /sys are skipped; the
	// fixture's fake mount points fail statfs and are reported as errors.
	for _, fs := range smp.FS {
		if fs.Mount != "/" {
			t.Errorf("unexpected fs %+v", fs)
		}
	}
	if findFS(smp.FS, "/") == nil {
		t.Errorf("/ missing from fs: %+v", smp.FS)
	}
	for _, m := range []string{"/nonexistent/hostmetrics-fixture", "/nonexistent/with space"} {
		if !slices.ContainsFunc(smp.Errors, func(e string) bool { return strings.HasPrefix(e, "statfs "+m+":") }) {
			t.Errorf("no statfs error for %q in %q", m, smp.Errors)
		}
	}
	if len(smp.Errors) != 2 {
		t.Errorf("errors = %q, want only the two statfs ones", smp.Errors)
	}
}

func TestFixtureRates(t *testing.T) {
	f := newFixture(t, Options{})
	f.sample(0)
	f.overlay("next")
	smp := f.sample(2 * time.Second)

	// Deltas: user 300, system 100, idle 500, iowait 50, steal 50 of 1000.
	want := CPUTimes{Percent: 45, User: 30, System: 10, IOWait: 5, Steal: 5, Idle: 50}
	if smp.CPU.Total != want {
		t.Errorf("cpu total = %+v, want %+v", smp.CPU.Total, want)
	}
	want.CPU = "cpu0"
	if smp.CPU.Cores[0] != want {
		t.Errorf("cpu0 = %+v, want %+v", smp.CPU.Cores[0], want)
	}
	sda := findDisk(smp.Disk, "sda")
	wantDisk := DiskStats{Device: "sda", ReadBytesPerS: 4000 * 512 / 2, WriteBytesPerS: 2000 * 512 / 2,
		ReadsPerS: 100, WritesPerS: 50, UtilPercent: 50}
	if sda == nil || *sda != wantDisk {
		t.Errorf("sda = %+v, want %+v", sda, wantDisk)
	}
	if sdb := findDisk(smp.Disk, "sdb"); sdb == nil || *sdb != (DiskStats{Device: "sdb"}) {
		t.Errorf("idle sdb = %+v", sdb)
	}
	eth0 := findNet(smp.Net, "eth0")
	wantNet := NetStats{Iface: "eth0", RxBytesPerS: 1e6, TxBytesPerS: 1e5, RxPacketsPerS: 500, TxPacketsPerS: 200,
		RxErrors: 4, TxErrors: 1, RxDrops: 7, TxDrops: 2}
	if eth0 == nil || *eth0 != wantNet {
		t.Errorf("eth0 = %+v, want %+v", eth0, wantNet)
	}
	if lo := findNet(smp.Net, "lo"); lo == nil || lo.RxBytesPerS != 10000 {
		t.Errorf("lo = %+v", lo)
	}
}

func TestFixtureCounterReset(t *testing.T) {
	f := newFixture(t, Options{})
	f.sample(0)
	f.overlay("reset")
	smp := f.sample(2 * time.Second)

	// Every counter went down: rates are 0, never negative or huge.
	if sda := findDisk(smp.Disk, "sda"); sda == nil || *sda != (DiskStats{Device: "sda"}) {
		t.Errorf("sda after reset = %+v, want zero rates", sda)
	}
	eth0 := findNet(smp.Net, "eth0")
	if eth0 == nil || eth0.RxBytesPerS != 0 || eth0.TxBytesPerS != 0 || eth0.RxPacketsPerS != 0 || eth0.TxPacketsPerS != 0 {
		t.Errorf("eth0 after reset = %+v, want zero rates", eth0)
	}
	// CPU counters all went down: the split since the reset is reported.
	checkCPU(t, smp.CPU.Total)
	for _, c := range smp.CPU.Cores {
		checkCPU(t, c)
	}
	// The reset values are the new baseline: the next sample has real rates.
	f.overlay("next")
	smp = f.sample(2 * time.Second)
	if eth0 := findNet(smp.Net, "eth0"); eth0 == nil || eth0.RxBytesPerS != (7000000-500)/2.0 {
		t.Errorf("eth0 after recovery = %+v", eth0)
	}
}

func TestFixtureDeviceVanishes(t *testing.T) {
	f := newFixture(t, Options{})
	f.sample(0)
	f.overlay("vanish")
	smp := f.sample(2 * time.Second)
	if d := findDisk(smp.Disk, "sdb"); d != nil {
		t.Errorf("vanished sdb still reported: %+v", d)
	}
	if n := findNet(smp.Net, "eth1"); n != nil {
		t.Errorf("vanished eth1 still reported: %+v", n)
	}
	if sda := findDisk(smp.Disk, "sda"); sda == nil || sda.ReadsPerS != 100 {
		t.Errorf("sda = %+v", sda)
	}
	// They come back with their old counters: new devices, rate 0, and
	// the interfaces that stayed keep being computed.
	f.overlay("base")
	smp = f.sample(2 * time.Second)
	if d := findDisk(smp.Disk, "sdb"); d == nil || *d != (DiskStats{Device: "sdb"}) {
		t.Errorf("reappeared sdb = %+v, want rate 0", d)
	}
	if n := findNet(smp.Net, "eth1"); n == nil || n.RxBytesPerS != 0 {
		t.Errorf("reappeared eth1 = %+v, want rate 0", n)
	}
}

func TestFixtureMalformed(t *testing.T) {
	f := newFixture(t, Options{})
	f.overlay("malformed")
	smp := f.sample(0)

	errs := nonFSErrors(smp.Errors)
	memPath := filepath.Join(f.root, "proc", "meminfo")
	diskPath := filepath.Join(f.root, "proc", "diskstats")
	if !slices.ContainsFunc(errs, func(e string) bool {
		return strings.HasPrefix(e, "read "+memPath+": line 1: MemTotal:")
	}) {
		t.Errorf("no meminfo error naming the file and line: %q", errs)
	}
	if !slices.ContainsFunc(errs, func(e string) bool {
		return strings.HasPrefix(e, "read "+diskPath+": line 2: sdb: field 5:")
	}) {
		t.Errorf("no diskstats error naming the file and line: %q", errs)
	}
	if len(errs) != 2 {
		t.Errorf("errors = %q, want exactly the two parse errors", errs)
	}
	// MemTotal is unusable, so mem and swap are null...
	if smp.Mem != nil || smp.Swap != nil {
		t.Errorf("mem = %+v swap = %+v, want nil", smp.Mem, smp.Swap)
	}
	// ...and everything else is still there, including the good disk line.
	if smp.CPU == nil || smp.Load == nil || smp.Uptime == nil || smp.Procs == nil || len(smp.Net) != 3 {
		t.Errorf("other parts missing: %+v", smp)
	}
	if findDisk(smp.Disk, "sda") == nil || findDisk(smp.Disk, "sdb") != nil {
		t.Errorf("disks = %+v, want sda only", smp.Disk)
	}
}

func TestFixtureMissingFiles(t *testing.T) {
	f := newFixture(t, Options{})
	f.remove("proc/net/dev")
	f.remove("proc/stat")
	smp := f.sample(0)
	if smp.Net != nil || smp.CPU != nil {
		t.Errorf("net = %+v cpu = %+v, want nil", smp.Net, smp.CPU)
	}
	if smp.Procs == nil || smp.Procs.Total != 321 || smp.Procs.Running != 3 {
		t.Errorf("procs from loadavg alone = %+v", smp.Procs)
	}
	want := "read " + filepath.Join(f.root, "proc", "net", "dev") + ": no such file or directory"
	if !slices.Contains(smp.Errors, want) {
		t.Errorf("errors = %q, want %q", smp.Errors, want)
	}
}

func TestNothingReadable(t *testing.T) {
	s := New(Options{ProcRoot: filepath.Join(t.TempDir(), "absent")})
	smp, err := s.Sample()
	if err == nil {
		t.Fatal("Sample with no /proc: want an error")
	}
	if smp == nil || len(smp.Errors) != 7 {
		t.Fatalf("sample = %+v, want 7 errors (one per file)", smp)
	}
}

// TestStatfsTimeout simulates a hung network mount: statfs blocks until the
// test releases it. This uses a stand-in statfs because a really hung NFS
// mount cannot be produced in a test.
func TestStatfsTimeout(t *testing.T) {
	f := newFixture(t, Options{StatfsTimeout: 50 * time.Millisecond})
	release := make(chan struct{})
	var mu sync.Mutex
	calls := map[string]int{}
	f.s.statfs = func(path string) (fsUsage, error) {
		mu.Lock()
		calls[path]++
		mu.Unlock()
		if path == "/nonexistent/hostmetrics-fixture" {
			<-release
			return fsUsage{}, errors.New("gone")
		}
		return fsUsage{total: 100, free: 40, avail: 30}, nil
	}

	start := time.Now()
	smp := f.sample(0)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("sample took %v despite a 50ms statfs timeout", d)
	}
	hung := "statfs /nonexistent/hostmetrics-fixture: no answer within 50ms"
	if !slices.Contains(smp.Errors, hung) {
		t.Errorf("errors = %q, want %q", smp.Errors, hung)
	}
	if root := findFS(smp.FS, "/"); root == nil || root.Used != 60 || root.UsedPercent != 66.67 {
		t.Errorf("/ = %+v", root)
	}

	// While it is still stuck, no second call is started for that mount.
	smp = f.sample(time.Second)
	if !slices.Contains(smp.Errors, "statfs /nonexistent/hostmetrics-fixture: previous call still blocked") {
		t.Errorf("errors = %q", smp.Errors)
	}
	mu.Lock()
	if n := calls["/nonexistent/hostmetrics-fixture"]; n != 1 {
		t.Errorf("%d statfs calls on the hung mount, want 1", n)
	}
	mu.Unlock()

	// Once it returns, the next sample tries again.
	close(release)
	time.Sleep(20 * time.Millisecond)
	smp = f.sample(time.Second)
	if !slices.Contains(smp.Errors, "statfs /nonexistent/hostmetrics-fixture: gone") {
		t.Errorf("errors = %q", smp.Errors)
	}
}

func TestErrorsLoggedOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := newFixture(t, Options{Logger: zap.New(core)})
	f.overlay("malformed")
	var n int
	for i := 0; i < 4; i++ {
		n = len(f.sample(time.Second).Errors)
	}
	if got := logs.FilterLevelExact(zapcore.WarnLevel).Len(); got != n {
		t.Errorf("%d warnings after 4 samples with %d distinct errors, want %d", got, n, n)
	}
	// Fixing the file logs the recovery once.
	f.overlay("base")
	f.sample(time.Second)
	f.sample(time.Second)
	if got := logs.FilterMessage("host metrics: error cleared").Len(); got != 2 {
		t.Errorf("%d 'cleared' logs, want 2 (meminfo, diskstats)", got)
	}
}

func TestRunPublishesJSON(t *testing.T) {
	f := newFixture(t, Options{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []byte, 10)
	done := make(chan error, 1)
	go func() {
		done <- f.s.Run(ctx, func(ts time.Time, b []byte) {
			if ts.IsZero() {
				t.Error("zero time")
			}
			select {
			case got <- b:
			default:
			}
		})
	}()
	for i := 0; i < 3; i++ {
		select {
		case b := <-got:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("sample is not JSON: %v\n%s", err, b)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := []string{"cpu", "disk", "errors", "fs", "load", "mem", "net", "procs", "swap", "time", "uptime"}
			if !slices.Equal(keys, want) {
				t.Errorf("top-level keys = %v, want %v", keys, want)
			}
			var ts string
			if err := json.Unmarshal(m["time"], &ts); err != nil {
				t.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("time %q: %v", ts, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no sample published")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
