package hostmetrics

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

// TestRealProc samples this machine's own /proc, /sys and statfs.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	s := New(Options{})
	first, err := s.Sample()
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if len(first.Errors) > 0 {
		t.Logf("errors on this host: %q", first.Errors)
	}

	// mem.total is MemTotal in bytes, read here independently.
	wantTotal := memTotalKB(t) * 1024
	if first.Mem == nil || first.Mem.Total != wantTotal {
		t.Errorf("mem = %+v, want total %d", first.Mem, wantTotal)
	}
	if first.Mem != nil && (first.Mem.Available > first.Mem.Total || first.Mem.Used+first.Mem.Available != first.Mem.Total) {
		t.Errorf("mem inconsistent: %+v", first.Mem)
	}

	if first.CPU == nil || len(first.CPU.Cores) == 0 {
		t.Fatalf("cpu = %+v", first.CPU)
	}
	checkCPU(t, first.CPU.Total)
	for _, c := range first.CPU.Cores {
		checkCPU(t, c)
	}
	if findFS(first.FS, "/") == nil {
		t.Errorf("/ not in fs: %+v (errors %q)", first.FS, first.Errors)
	}
	if root := findFS(first.FS, "/"); root != nil && (root.Total == 0 || root.UsedPercent < 0 || root.UsedPercent > 100) {
		t.Errorf("/ = %+v", *root)
	}
	if first.Uptime == nil || *first.Uptime <= 0 || first.Load == nil || first.Procs == nil || first.Procs.Total == 0 {
		t.Errorf("uptime %v load %+v procs %+v", first.Uptime, first.Load, first.Procs)
	}
	if lo := findNet(first.Net, "lo"); lo == nil || lo.RxBytesPerS != 0 {
		t.Fatalf("lo on first sample = %+v, want present with rate 0", lo)
	}

	const payload = 8 << 20
	pushLoopback(t, payload)

	second, err := s.Sample()
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	lo := findNet(second.Net, "lo")
	secs := second.Time.Sub(first.Time).Seconds()
	// Every byte sent crosses lo once as tx and once as rx; allow slack
	// only for the rounding of the rate and the wall/monotonic clocks.
	if lo == nil || lo.RxBytesPerS*secs < payload*0.9 {
		t.Errorf("lo = %+v over %.3fs, want at least %d bytes received", lo, secs, payload)
	}
	checkCPU(t, second.CPU.Total)
	for _, c := range second.CPU.Cores {
		checkCPU(t, c)
	}
	for _, d := range second.Disk {
		if d.UtilPercent < 0 || d.UtilPercent > 100 || d.ReadBytesPerS < 0 || d.WriteBytesPerS < 0 {
			t.Errorf("disk %+v", d)
		}
	}
}

// memTotalKB reads MemTotal from /proc/meminfo without our parser.
func memTotalKB(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(rest, "%d kB", &kb); err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// pushLoopback sends n bytes over a TCP connection on 127.0.0.1 and returns
// once the receiver has read them all.
func pushLoopback(t *testing.T, n int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		received <- m
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if m := <-received; m < int64(n) {
		t.Fatalf("receiver got %d bytes, want %d", m, n)
	}
}

// TestPrintRealSample logs one real sample's JSON with -v, as an example for
// SCHEMA.md readers.
func TestPrintRealSample(t *testing.T) {
	s := New(Options{})
	if _, err := s.Sample(); err != nil {
		t.Skip(err)
	}
	smp, err := s.Sample()
	if err != nil {
		t.Skip(err)
	}
	b, err := json.MarshalIndent(smp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
}
