package tailer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLinesSayWhereTheyEnd checks that every line, prefilled or followed,
// names its file by device and inode and ends at the offset just after its
// newline: what a reader of the file on disk needs to continue after it.
func TestLinesSayWhereTheyEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, c := start(t, Options{Globs: []string{path}, Prefill: 10, Engine: EngineNative})
	appendFile(t, path, "three\nfour\r\n")
	waitFor(t, 10*time.Second, "live lines", func() bool { return c.count() >= 2 })
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	c.mu.Lock()
	all := append(append([]Line(nil), c.history...), c.lines...)
	c.mu.Unlock()
	want := []int64{4, 8, 14, 20}
	if len(all) != len(want) {
		t.Fatalf("got %d lines", len(all))
	}
	for i, l := range all {
		if l.End != want[i] || l.Ino != uint64(st.Ino) || l.Dev != uint64(st.Dev) { //nolint:unconvert
			t.Errorf("line %q: end %d dev %d ino %d, want %d %d %d", l.Text, l.End, l.Dev, l.Ino, want[i], st.Dev, st.Ino)
		}
	}
}
