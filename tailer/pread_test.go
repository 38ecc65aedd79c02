package tailer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The raw read is only for filesystems where a read of just-written data
// cannot wait: a temp dir (ext4 or tmpfs) is one, /proc is not on the list.
func TestLocalFS(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(p, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !localFS(int(f.Fd())) {
		t.Errorf("%s: not taken for a local filesystem", p)
	}
	g, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	defer g.Close()
	if localFS(int(g.Fd())) {
		t.Error("/proc taken for a local filesystem")
	}
}

// A file read through the raw call reads what was appended (the kernel
// supports RWF_NOWAIT here: an EOPNOTSUPP would fail the test), and an error
// (a closed descriptor) comes back as an error, not as data.
func TestNowaitPread(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(p, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	b := make([]byte, 16)
	if _, err := nowaitPread(fd, b, 0); errors.Is(err, errNoNowait) {
		t.Skip(err)
	}
	if n, err := nowaitPread(fd, b, 4); err != nil || string(b[:n]) != "two\n" {
		t.Fatalf("nowaitPread at 4 = %q, %v", b[:n], err)
	}
	if n, err := nowaitPread(fd, b, 8); err != nil || n != 0 {
		t.Fatalf("nowaitPread at the end = %d, %v", n, err)
	}
	f.Close()
	if n, err := nowaitPread(fd, b, 0); err == nil || n != -1 {
		t.Fatalf("nowaitPread on a closed descriptor = %d, %v; want -1 and an error", n, err)
	}
}
