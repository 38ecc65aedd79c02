package hostmetrics

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: Run and
// the statfs timeout path both start goroutines that must end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// copyTree copies the files under src into dst, overwriting existing ones.
// Fixture scenarios are a base tree plus overlays copied over it between
// two samples, which is how counters change "on the host".
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// fixture is a writable copy of testdata/base with a controllable clock.
type fixture struct {
	t    *testing.T
	root string
	now  time.Time
	s    *Sampler
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{t: t, root: t.TempDir(), now: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	copyTree(t, filepath.Join("testdata", "base"), f.root)
	opts.ProcRoot = filepath.Join(f.root, "proc")
	opts.SysRoot = filepath.Join(f.root, "sys")
	f.s = New(opts)
	f.s.now = func() time.Time { return f.now }
	return f
}

// overlay copies testdata/<name> over the fixture tree.
func (f *fixture) overlay(name string) {
	f.t.Helper()
	copyTree(f.t, filepath.Join("testdata", name), f.root)
}

// remove deletes a file of the fixture tree, e.g. "proc/diskstats".
func (f *fixture) remove(rel string) {
	f.t.Helper()
	if err := os.Remove(filepath.Join(f.root, rel)); err != nil {
		f.t.Fatal(err)
	}
}

// sample advances the clock by d and samples.
func (f *fixture) sample(d time.Duration) *Sample {
	f.t.Helper()
	f.now = f.now.Add(d)
	smp, err := f.s.Sample()
	if err != nil {
		f.t.Fatalf("Sample: %v", err)
	}
	return smp
}

// nonFSErrors drops statfs errors: the fixture's mount points are not real
// paths on this machine, and most tests are about other files.
func nonFSErrors(errs []string) []string {
	var out []string
	for _, e := range errs {
		if !strings.HasPrefix(e, "statfs ") {
			out = append(out, e)
		}
	}
	return out
}

func findDisk(ds []DiskStats, name string) *DiskStats {
	for i := range ds {
		if ds[i].Device == name {
			return &ds[i]
		}
	}
	return nil
}

func findNet(ns []NetStats, name string) *NetStats {
	for i := range ns {
		if ns[i].Iface == name {
			return &ns[i]
		}
	}
	return nil
}

func findFS(fss []FSStats, mount string) *FSStats {
	for i := range fss {
		if fss[i].Mount == mount {
			return &fss[i]
		}
	}
	return nil
}

// checkCPU asserts every share is in [0,100] and the states sum to 100.
func checkCPU(t *testing.T, c CPUTimes) {
	t.Helper()
	parts := []float64{c.User, c.Nice, c.System, c.IRQ, c.SoftIRQ, c.IOWait, c.Steal, c.Idle}
	sum := 0.0
	for _, p := range append(parts, c.Percent) {
		if p < 0 || p > 100 {
			t.Errorf("%s: share %v out of [0,100]: %+v", c.CPU, p, c)
		}
	}
	for _, p := range parts {
		sum += p
	}
	if sum < 99 || sum > 101 {
		t.Errorf("%s: states sum to %v, want 100±1: %+v", c.CPU, sum, c)
	}
}
